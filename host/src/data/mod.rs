//! Data files: the embedded samples and [`read_data`], the one way to read them.
//!
//! A data reference is either `builtin:<name>`, one of the sample files compiled into the binary
//! (so the default config runs with no files at all), or a path; a relative path resolves against
//! the working directory the caller passes in, never against the process's current directory
//! behind its back. This is what the `read_data` host service answers to plugins, and what the
//! pipeline's stages use for `prompt.categories_path` and friends.
//!
//! This module owns finding and reading the text, and the sample files under `samples/`. It does
//! not parse them: the category table is parsed by `plugin_api::concepts`, the profiles by their
//! loaders. It never writes. It does not decide that an empty file is an error, because some
//! callers accept one; those that do not use [`read_nonempty`].
//!
//! Only regular files are read: a FIFO would block the reader until a writer appears and a device
//! such as `/dev/zero` never ends, so the file's type is checked before it is opened and again on
//! the open handle (the path may be swapped in between), and the open itself does not block. A
//! file larger than the size cap ([`DEFAULT_MAX_FILE_BYTES`], or the `max_file_bytes` argument of
//! [`read_data_with_limit`]) is refused, and reading stops one byte past the cap, so a file that
//! grows while it is read never grows the host's memory past it.

pub mod profile;

use crate::config::DEFAULT_MAX_FILE_BYTES;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The prefix that marks a reference to an embedded sample file.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The embedded sample files, by name, in the order they are listed to users.
const BUILTINS: &[(&str, &str)] = &[
    (
        "category_list_v1.csv",
        include_str!("samples/category_list_v1.csv"),
    ),
    (
        "user_profile_v4.csv",
        include_str!("samples/user_profile_v4.csv"),
    ),
    (
        "user_profile_v5_like_dislike.csv",
        include_str!("samples/user_profile_v5_like_dislike.csv"),
    ),
    (
        "user_profile_v5_love_like_dislike_hate.csv",
        include_str!("samples/user_profile_v5_love_like_dislike_hate.csv"),
    ),
    (
        "user_profile_v5_abstraction.csv",
        include_str!("samples/user_profile_v5_abstraction.csv"),
    ),
];

/// Why a data reference could not be read. Every message names the reference as it was given.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The reference was empty or only whitespace.
    #[error("data reference is empty\n\nuse `builtin:<name>` or a path to a file")]
    EmptyReference,

    /// `builtin:<name>` with a name that is not embedded.
    #[error(
        "unknown built-in data `{reference}`\n\navailable: {}",
        available_list()
    )]
    UnknownBuiltin {
        /// The reference as given, prefix included.
        reference: String,
    },

    /// The path does not exist.
    #[error("data file `{reference}` does not exist{}", resolved_note(.reference, .path))]
    NotFound {
        /// The reference as given.
        reference: String,
        /// The path that was looked up (relative references joined to the working directory).
        path: PathBuf,
    },

    /// The path names a directory.
    #[error("data file `{reference}` is a directory, expected a file{}", resolved_note(.reference, .path))]
    IsDirectory {
        /// The reference as given.
        reference: String,
        /// The path that was looked up.
        path: PathBuf,
    },

    /// The path names something other than a regular file or directory (a FIFO, a socket, a
    /// device): reading it could block or never end, so it is not opened for reading.
    #[error("data file `{reference}` is {kind}, expected a regular file{}", resolved_note(.reference, .path))]
    NotRegularFile {
        /// The reference as given.
        reference: String,
        /// The path that was looked up.
        path: PathBuf,
        /// What it is ("a FIFO", "a character device", ...).
        kind: &'static str,
    },

    /// The file is larger than the size cap.
    #[error(
        "data file `{reference}` is larger than the limit of {max_file_bytes} bytes (`data.max_file_bytes`){}",
        resolved_note(.reference, .path)
    )]
    TooLarge {
        /// The reference as given.
        reference: String,
        /// The path that was looked up.
        path: PathBuf,
        /// The cap that was applied.
        max_file_bytes: u64,
    },

    /// The file exists but could not be read (permissions, I/O error).
    #[error("failed to read data file `{reference}`{}", resolved_note(.reference, .path))]
    Unreadable {
        /// The reference as given.
        reference: String,
        /// The path that was looked up.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The file is not UTF-8 text.
    #[error("data file `{reference}` is not valid UTF-8{}", resolved_note(.reference, .path))]
    NotUtf8 {
        /// The reference as given.
        reference: String,
        /// The path that was looked up.
        path: PathBuf,
        /// Where the first invalid byte sequence is.
        #[source]
        source: std::string::FromUtf8Error,
    },

    /// The file holds nothing but whitespace (only from [`read_nonempty`]).
    #[error("`{reference}` is empty")]
    Empty {
        /// The reference as given.
        reference: String,
    },
}

/// The names of the embedded sample files (without the `builtin:` prefix), in listing order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(name, _)| *name)
}

/// The text of the embedded sample file `name` (without the `builtin:` prefix), if there is one.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, text)| *text)
}

/// Reads the text a data reference names, with the default size cap
/// ([`DEFAULT_MAX_FILE_BYTES`]).
///
/// `builtin:<name>` answers the embedded sample file; anything else is a path, and a relative
/// path is resolved against `cwd`. The text is returned as it is (it may be empty).
///
/// # Errors
///
/// Those of [`read_data_with_limit`].
pub fn read_data(reference: &str, cwd: &Path) -> Result<String, DataError> {
    read_data_with_limit(reference, cwd, DEFAULT_MAX_FILE_BYTES)
}

/// Like [`read_data`], refusing a file larger than `max_file_bytes` (embedded samples are not
/// capped: they are part of the binary).
///
/// # Errors
///
/// [`DataError`] when the reference is empty, names an unknown built-in, does not exist, is a
/// directory or anything else but a regular file, is larger than `max_file_bytes`, cannot be
/// read, or is not UTF-8.
pub fn read_data_with_limit(
    reference: &str,
    cwd: &Path,
    max_file_bytes: u64,
) -> Result<String, DataError> {
    if reference.trim().is_empty() {
        return Err(DataError::EmptyReference);
    }
    if let Some(name) = reference.strip_prefix(BUILTIN_PREFIX) {
        return builtin(name)
            .map(str::to_owned)
            .ok_or_else(|| DataError::UnknownBuiltin {
                reference: reference.to_owned(),
            });
    }
    let path = cwd.join(reference);
    // Look before opening: opening a FIFO blocks, and a directory deserves its own message (reading
    // one fails with an OS-specific error that does not say "directory" everywhere).
    let meta = fs::metadata(&path).map_err(|source| io_error(reference, &path, source))?;
    check_regular(reference, &path, &meta, max_file_bytes)?;
    // The file may vanish between the two calls; that is still "does not exist".
    let file = open_nonblocking(&path).map_err(|source| io_error(reference, &path, source))?;
    // The path may have been swapped for a FIFO or a device since it was looked at: check what was
    // actually opened.
    let meta = file
        .metadata()
        .map_err(|source| io_error(reference, &path, source))?;
    check_regular(reference, &path, &meta, max_file_bytes)?;
    // One byte past the cap tells "exactly at the cap" from "grew past it while being read".
    let mut bytes = Vec::new();
    file.take(max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| io_error(reference, &path, source))?;
    if bytes.len() as u64 > max_file_bytes {
        return Err(too_large(reference, &path, max_file_bytes));
    }
    String::from_utf8(bytes).map_err(|source| DataError::NotUtf8 {
        reference: reference.to_owned(),
        path,
        source,
    })
}

/// Refuses anything but a regular file of at most `max_file_bytes`.
fn check_regular(
    reference: &str,
    path: &Path,
    meta: &fs::Metadata,
    max_file_bytes: u64,
) -> Result<(), DataError> {
    match crate::file_kind::not_regular(meta.file_type()) {
        None if meta.len() > max_file_bytes => Err(too_large(reference, path, max_file_bytes)),
        None => Ok(()),
        Some(_) if meta.is_dir() => Err(DataError::IsDirectory {
            reference: reference.to_owned(),
            path: path.to_owned(),
        }),
        Some(kind) => Err(DataError::NotRegularFile {
            reference: reference.to_owned(),
            path: path.to_owned(),
            kind,
        }),
    }
}

fn too_large(reference: &str, path: &Path, max_file_bytes: u64) -> DataError {
    DataError::TooLarge {
        reference: reference.to_owned(),
        path: path.to_owned(),
        max_file_bytes,
    }
}

/// Opens `path` for reading without blocking on a FIFO (`O_NONBLOCK`, which changes nothing for
/// a regular file) should the path have become one since it was looked at.
fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Like [`read_data`], but a file that is empty or only whitespace is an error.
///
/// # Errors
///
/// Those of [`read_data`], and [`DataError::Empty`].
pub fn read_nonempty(reference: &str, cwd: &Path) -> Result<String, DataError> {
    read_nonempty_with_limit(reference, cwd, DEFAULT_MAX_FILE_BYTES)
}

/// Like [`read_data_with_limit`], but a file that is empty or only whitespace is an error.
///
/// # Errors
///
/// Those of [`read_data_with_limit`], and [`DataError::Empty`].
pub fn read_nonempty_with_limit(
    reference: &str,
    cwd: &Path,
    max_file_bytes: u64,
) -> Result<String, DataError> {
    let text = read_data_with_limit(reference, cwd, max_file_bytes)?;
    if text.trim().is_empty() {
        return Err(DataError::Empty {
            reference: reference.to_owned(),
        });
    }
    Ok(text)
}

fn io_error(reference: &str, path: &Path, source: io::Error) -> DataError {
    let reference = reference.to_owned();
    let path = path.to_owned();
    if source.kind() == io::ErrorKind::NotFound {
        DataError::NotFound { reference, path }
    } else {
        DataError::Unreadable {
            reference,
            path,
            source,
        }
    }
}

/// Says where a relative reference was looked for; an absolute one already says it.
fn resolved_note(reference: &str, path: &Path) -> String {
    if Path::new(reference).is_absolute() {
        String::new()
    } else {
        format!(" (looked for `{}`)", path.display())
    }
}

fn available_list() -> String {
    builtin_names()
        .map(|name| format!("`{BUILTIN_PREFIX}{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("create a temporary directory")
    }

    #[test]
    fn builtin_returns_the_embedded_text() {
        let dir = tmp();
        for name in builtin_names() {
            let text = read_data(&format!("builtin:{name}"), dir.path()).unwrap();
            assert_eq!(Some(text.as_str()), builtin(name));
            assert!(!text.trim().is_empty(), "{name} is empty");
        }
        assert_eq!(builtin_names().count(), 5);
    }

    #[test]
    fn unknown_builtin_lists_the_available_names() {
        let err = read_data("builtin:nope.csv", Path::new("/")).unwrap_err();
        assert!(matches!(err, DataError::UnknownBuiltin { .. }));
        let msg = err.to_string();
        assert!(msg.starts_with("unknown built-in data `builtin:nope.csv`\n\navailable: "));
        for name in builtin_names() {
            assert!(msg.contains(&format!("`builtin:{name}`")), "{msg}");
        }
        // An empty name is just another unknown one.
        assert!(matches!(
            read_data("builtin:", Path::new("/")),
            Err(DataError::UnknownBuiltin { .. })
        ));
    }

    #[test]
    fn relative_paths_resolve_against_cwd() {
        let dir = tmp();
        fs::create_dir(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("data/cats.csv"), "a,b\n1,2\n").unwrap();
        assert_eq!(
            read_data("data/cats.csv", dir.path()).unwrap(),
            "a,b\n1,2\n"
        );
    }

    #[test]
    fn absolute_paths_ignore_cwd() {
        let dir = tmp();
        let file = dir.path().join("p.csv");
        fs::write(&file, "x").unwrap();
        let elsewhere = tmp();
        let reference = file.to_str().unwrap();
        assert_eq!(read_data(reference, elsewhere.path()).unwrap(), "x");
    }

    #[test]
    fn missing_file_names_reference_and_resolved_path() {
        let dir = tmp();
        let err = read_data("missing.csv", dir.path()).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }));
        let expected = format!(
            "data file `missing.csv` does not exist (looked for `{}`)",
            dir.path().join("missing.csv").display()
        );
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn missing_absolute_file_is_named_once() {
        let dir = tmp();
        let path = dir.path().join("gone.csv");
        let reference = path.to_str().unwrap();
        let err = read_data(reference, Path::new("/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("data file `{reference}` does not exist")
        );
    }

    #[test]
    fn directory_is_not_a_file() {
        let dir = tmp();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let err = read_data("sub", dir.path()).unwrap_err();
        assert!(matches!(err, DataError::IsDirectory { .. }));
        assert!(err
            .to_string()
            .starts_with("data file `sub` is a directory, expected a file"));
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_file_carries_the_io_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp();
        let file = dir.path().join("locked.csv");
        fs::write(&file, "secret-ish").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads anything; the permission trick proves nothing there.
        if fs::read(&file).is_ok() {
            return;
        }
        let err = read_data("locked.csv", dir.path()).unwrap_err();
        assert!(matches!(err, DataError::Unreadable { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("failed to read data file `locked.csv`"));
        assert!(err.source().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tmp();
        crate::file_kind::make_fifo(&dir.path().join("pipe.csv"));
        // Were the FIFO opened for reading, this would block until a writer came along.
        let err = read_data("pipe.csv", dir.path()).unwrap_err();
        assert!(matches!(err, DataError::NotRegularFile { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "data file `pipe.csv` is a FIFO, expected a regular file (looked for `{}`)",
                dir.path().join("pipe.csv").display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_reading_it() {
        // `/dev/zero` never ends: reading it would grow memory until the host dies.
        let err = read_data("/dev/zero", Path::new("/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file `/dev/zero` is a character device, expected a regular file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_regular_file_is_read() {
        let dir = tmp();
        fs::write(dir.path().join("real.csv"), "x\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.csv"), dir.path().join("link.csv"))
            .unwrap();
        assert_eq!(read_data("link.csv", dir.path()).unwrap(), "x\n");
    }

    #[test]
    fn files_over_the_cap_are_refused() {
        let dir = tmp();
        fs::write(dir.path().join("ten.csv"), "0123456789").unwrap();
        assert_eq!(
            read_data_with_limit("ten.csv", dir.path(), 10).unwrap(),
            "0123456789",
            "exactly at the cap is fine"
        );
        let err = read_data_with_limit("ten.csv", dir.path(), 9).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TooLarge {
                    max_file_bytes: 9,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with("data file `ten.csv` is larger than the limit of 9 bytes"));
        assert!(matches!(
            read_nonempty_with_limit("ten.csv", dir.path(), 9),
            Err(DataError::TooLarge { .. })
        ));
        // Embedded samples are part of the binary, not capped.
        assert!(read_data_with_limit("builtin:category_list_v1.csv", dir.path(), 1).is_ok());
        assert_eq!(DEFAULT_MAX_FILE_BYTES, 64 * 1024 * 1024);
    }

    #[test]
    fn non_utf8_is_an_error() {
        let dir = tmp();
        fs::write(dir.path().join("latin1.csv"), b"caf\xe9\n").unwrap();
        let err = read_data("latin1.csv", dir.path()).unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { .. }));
        assert!(err
            .to_string()
            .starts_with("data file `latin1.csv` is not valid UTF-8"));
        assert!(err.source().is_some());
    }

    #[test]
    fn empty_reference_is_an_error() {
        for reference in ["", "   "] {
            let err = read_data(reference, Path::new("/")).unwrap_err();
            assert!(matches!(err, DataError::EmptyReference));
        }
    }

    #[test]
    fn read_data_accepts_empty_files_read_nonempty_does_not() {
        let dir = tmp();
        fs::write(dir.path().join("empty.csv"), "").unwrap();
        fs::write(dir.path().join("blank.csv"), " \n\t\n").unwrap();
        assert_eq!(read_data("empty.csv", dir.path()).unwrap(), "");
        for name in ["empty.csv", "blank.csv"] {
            let err = read_nonempty(name, dir.path()).unwrap_err();
            assert_eq!(err.to_string(), format!("`{name}` is empty"));
        }
        fs::write(dir.path().join("full.csv"), "x\n").unwrap();
        assert_eq!(read_nonempty("full.csv", dir.path()).unwrap(), "x\n");
        // Other errors pass through unchanged.
        assert!(matches!(
            read_nonempty("nope.csv", dir.path()),
            Err(DataError::NotFound { .. })
        ));
    }

    /// Parses an embedded CSV and checks its header; returns its rows.
    fn csv_rows(name: &str, header: &[&str]) -> Vec<Vec<String>> {
        let text = builtin(name).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let got: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(got, header, "{name}");
        reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    #[test]
    fn category_sample_fills_every_cell() {
        let header = [
            "Subject Matter",
            "Narrative",
            "Mood",
            "Composition",
            "Perspective",
            "Style",
            "Time Period_Context",
            "Color Scheme",
        ];
        let rows = csv_rows("category_list_v1.csv", &header);
        assert!(rows.len() >= 12, "{} rows", rows.len());
        for row in &rows {
            assert_eq!(row.len(), 8);
            assert!(row.iter().all(|cell| !cell.trim().is_empty()), "{row:?}");
        }
    }

    #[test]
    fn profile_samples_have_their_formats() {
        let rows = csv_rows("user_profile_v4.csv", &["Likes", "Dislikes", "Notes"]);
        assert!(rows.len() >= 8);

        let rows = csv_rows(
            "user_profile_v5_like_dislike.csv",
            &["category", "item", "notes"],
        );
        assert!(rows.len() >= 10);
        assert!(rows.iter().all(|r| r[0] == "like" || r[0] == "dislike"));
        assert!(rows.iter().all(|r| !r[1].is_empty()));

        let rows = csv_rows(
            "user_profile_v5_love_like_dislike_hate.csv",
            &["category", "item", "notes"],
        );
        assert!(rows.len() >= 12);
        for category in ["love", "like", "dislike", "hate"] {
            assert!(rows.iter().any(|r| r[0] == category), "no {category}");
        }

        let rows = csv_rows(
            "user_profile_v5_abstraction.csv",
            &["generator_profile_hints"],
        );
        assert_eq!(rows.len(), 1);
        assert!(rows[0][0].len() > 200);
        assert!(!rows[0][0].contains('\n'), "one paragraph");
    }
}

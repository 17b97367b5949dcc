//! Every file the runner writes, and how: atomically (temp file in the same directory, sync,
//! rename) for documents, synced per record for the append-only records, flushed per line and
//! synced on demand for logs. Files are created with the process umask, like any other tool's.
//!
//! This module owns the *writing*; where each file is (`layout`) and the records' formats
//! (`formats`, `plan_files`) are its submodules; what goes into the plan documents is built by
//! the runner.

pub mod formats;
pub mod index;
pub mod layout;
mod log_file;
pub mod plan_files;
pub mod plugin_artifacts;
pub mod run_files;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use log_file::LogFile;

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("failed to create directory `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to encode `{}` as JSON", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Creates `dir` and its parents.
pub fn create_dir_all(dir: &Path) -> Result<(), ArtifactError> {
    fs::create_dir_all(dir).map_err(|source| ArtifactError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Opens `path` for appending, creating it. A symbolic link is refused (`O_NOFOLLOW`): an
/// append never writes through a link planted inside an output directory.
pub fn open_append(path: &Path) -> Result<File, ArtifactError> {
    if let Some(dir) = path.parent() {
        create_dir_all(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Appends `bytes` to an append-mode `file` in one write, then syncs it. A write that fails
/// part-way (a full disk) is cut back off, so a record file never holds half a record; appends
/// of this process are serialised for that (they are small), the syncs are not.
pub fn append_synced(file: &File, path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    static APPENDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let error = |source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    };
    {
        let _one_at_a_time = APPENDS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = file.metadata().map_err(error)?.len();
        let mut writer = file;
        if let Err(source) = writer.write_all(bytes) {
            let _ = file.set_len(before);
            return Err(error(source));
        }
    }
    file.sync_data().map_err(error)
}

/// The name prefix of this program's temp files. A crash mid-write leaves one behind; only
/// files with this prefix are ever removed by [`remove_stale_temp_files`].
pub const TEMP_PREFIX: &str = ".image-project-tmp-";

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let temp = stage_atomic(path, bytes)?;
    commit_atomic(temp, path)
}

/// The buffered writer [`write_atomic_with`] hands out. Concrete, so that `std::io::copy` from a
/// file into it can copy inside the kernel (`copy_file_range` on Linux).
pub type AtomicWriter<'a> = std::io::BufWriter<&'a mut File>;

/// Like [`write_atomic_deferred`], with the content written by `write`, so that a large file need
/// not be assembled in memory first. The caller syncs the directory ([`sync_dir`]).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut AtomicWriter<'_>) -> std::io::Result<()>,
) -> Result<(), ArtifactError> {
    let staged = stage_with(path, |out| {
        write(out).map_err(|source| ArtifactError::Write {
            path: path.to_owned(),
            source,
        })
    })?;
    commit_atomic_unsynced_dir(staged, path)
}

/// A file written and synced under a temp name, not yet in place: [`commit_atomic`] renames it.
/// Dropping it removes the temp file. Staging several files first lets a caller commit them
/// in an order of its choosing, with nothing half-written.
pub struct StagedFile {
    temp: tempfile::NamedTempFile,
}

/// Writes `bytes` to a synced temp file next to `path`.
pub fn stage_atomic(path: &Path, bytes: &[u8]) -> Result<StagedFile, ArtifactError> {
    stage_with(path, |writer| {
        writer
            .write_all(bytes)
            .map_err(|source| ArtifactError::Write {
                path: path.to_owned(),
                source,
            })
    })
}

/// Writes `value` as indented JSON to a synced temp file next to `path`, streaming: a large
/// document is never held in memory as text.
pub fn stage_json<T: Serialize>(path: &Path, value: &T) -> Result<StagedFile, ArtifactError> {
    stage_with(path, |writer| {
        serde_json::to_writer_pretty(&mut *writer, value).map_err(|source| {
            ArtifactError::Encode {
                path: path.to_owned(),
                source,
            }
        })?;
        writer
            .write_all(b"\n")
            .map_err(|source| ArtifactError::Write {
                path: path.to_owned(),
                source,
            })
    })
}

/// A synced temp file next to `path`, its content written by `write`.
fn stage_with(
    path: &Path,
    write: impl FnOnce(&mut AtomicWriter<'_>) -> Result<(), ArtifactError>,
) -> Result<StagedFile, ArtifactError> {
    let error = |source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = parent_dir(path);
    create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The mode passed to open(2) is masked by the umask, as for any other created file.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(dir).map_err(error)?;
    {
        let mut writer = std::io::BufWriter::with_capacity(1 << 16, temp.as_file_mut());
        write(&mut writer)?;
        writer.flush().map_err(error)?;
    }
    temp.as_file().sync_all().map_err(error)?;
    Ok(StagedFile { temp })
}

/// Renames a staged file into `path` and syncs the directory entry.
pub fn commit_atomic(staged: StagedFile, path: &Path) -> Result<(), ArtifactError> {
    commit_atomic_unsynced_dir(staged, path)?;
    // The rename is durable only once the directory entry is synced.
    sync_dir(parent_dir(path));
    Ok(())
}

/// Writes `bytes` to `path` atomically like [`write_atomic`], leaving the directory entry to a
/// later [`sync_dir`]: a run writes several files into one directory and syncs it once.
pub fn write_atomic_deferred(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    commit_atomic_unsynced_dir(stage_atomic(path, bytes)?, path)
}

/// [`write_json`], leaving the directory entry to a later [`sync_dir`].
pub fn write_json_deferred<T: Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    commit_atomic_unsynced_dir(stage_json(path, value)?, path)
}

/// Renames a staged file into `path`, leaving the directory entry to a later sync.
pub fn commit_atomic_unsynced_dir(staged: StagedFile, path: &Path) -> Result<(), ArtifactError> {
    staged
        .temp
        .persist(path)
        .map_err(|persist| ArtifactError::Write {
            path: path.to_owned(),
            source: persist.error,
        })?;
    Ok(())
}

/// Syncs a directory's entries (renames and new files in it), best-effort: a file system that
/// cannot sync a directory has nothing more to offer.
pub fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Removes this program's temp files left in `dir` by a write that never finished. Returns how
/// many were removed. Call it only while holding the directory's lock.
pub fn remove_stale_temp_files(dir: &Path) -> Result<usize, ArtifactError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(ArtifactError::Write {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let is_ours = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if is_ours && is_file {
            fs::remove_file(entry.path()).map_err(|source| ArtifactError::Write {
                path: entry.path(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `value` as JSON (2-space indent, trailing newline) atomically. Lists of runs inside
/// it are best given as [`Rows`] or with [`one_line_each`]: one run per line.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    commit_atomic(stage_json(path, value)?, path)
}

/// A list serialized lazily, one line per item: each item is built by `1` from one element of
/// `0` as it is written. The documents of an experiment are small headers over long lists of
/// runs: one run per line keeps a file of 100,000 runs a third of its fully indented size,
/// greppable, and never held in memory whole.
pub struct Rows<'a, T, F>(pub &'a [T], pub F);

impl<'a, T, F, E> Serialize for Rows<'a, T, F>
where
    F: Fn(&'a T) -> E,
    E: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|item| OneLine((self.1)(item))))
    }
}

/// For `#[serde(serialize_with = "one_line_each")]` on a list field: one line per item.
pub fn one_line_each<T: Serialize, S: serde::Serializer>(
    items: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(items.iter().map(OneLine))
}

/// A value written compactly, as one raw fragment, inside an indented document.
struct OneLine<E>(E);

impl<E: Serialize> Serialize for OneLine<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::value::to_raw_value(&self.0)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_one_per_line_inside_an_indented_document() {
        let numbers = [1, 2];
        let document = serde_json::json!({"id": "x"});
        #[derive(Serialize)]
        struct Document<'a, R: Serialize> {
            header: &'a serde_json::Value,
            runs: R,
        }
        let value = Document {
            header: &document,
            runs: Rows(
                &numbers,
                |n: &i32| serde_json::json!({"n": n, "tags": ["a", "b"]}),
            ),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_json(&path, &value).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\n  \"header\": {\n    \"id\": \"x\"\n  },\n  \"runs\": [\n    {\"n\":1,\"tags\":[\"a\",\"b\"]},\n    {\"n\":2,\"tags\":[\"a\",\"b\"]}\n  ]\n}\n"
        );
    }

    #[test]
    fn write_json_replaces_the_file_and_ends_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/plan.json");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        write_json(&path, &serde_json::json!({"b": [1, 2]})).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\n  \"b\": [\n    1,\n    2\n  ]\n}\n");
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp files are left behind");
    }
}

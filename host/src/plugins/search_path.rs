//! The plugin search path: which directories are scanned, in which order (highest precedence
//! first), and which files in them are candidate libraries.
//!
//! A name with the library extension is not enough: only a regular file (or a symbolic link to
//! one) is handed to the loader. A FIFO named `x.so` would block `dlopen` until a writer came
//! along, and a socket, device or directory is no library either, so those are reported as
//! [`Candidate::Skipped`] without ever being opened (their type comes from `stat`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::PluginError;

/// The environment variable holding extra plugin directories (a platform path list).
pub const PLUGIN_PATH_ENV: &str = "IMAGE_PROJECT_PLUGIN_PATH";

/// Where a search directory came from; explicit ones must exist, default ones may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDirOrigin {
    Flag,
    Env,
    WorkingDir,
    Executable,
}

impl SearchDirOrigin {
    fn is_default(self) -> bool {
        matches!(
            self,
            SearchDirOrigin::WorkingDir | SearchDirOrigin::Executable
        )
    }
}

/// One directory of the search path (canonical path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDir {
    pub path: PathBuf,
    pub origin: SearchDirOrigin,
}

/// The inputs that shape the search path.
#[derive(Debug, Clone, Default)]
pub struct PluginDirOptions {
    /// `--plugin-dir`, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// `--no-default-plugin-dirs`: skip `./plugins` and the executable's directory.
    pub no_default_dirs: bool,
    /// The value of `IMAGE_PROJECT_PLUGIN_PATH`.
    pub env_path: Option<OsString>,
    /// The working directory.
    pub cwd: PathBuf,
    /// The directory of the running executable.
    pub exe_dir: Option<PathBuf>,
}

/// The directories to scan, highest precedence first, deduplicated by canonical path.
pub fn search_dirs(options: &PluginDirOptions) -> Result<Vec<SearchDir>, PluginError> {
    let mut candidates: Vec<(PathBuf, SearchDirOrigin)> = Vec::new();
    for dir in &options.plugin_dirs {
        candidates.push((options.cwd.join(dir), SearchDirOrigin::Flag));
    }
    if let Some(list) = &options.env_path {
        for dir in std::env::split_paths(list).filter(|dir| !dir.as_os_str().is_empty()) {
            candidates.push((options.cwd.join(dir), SearchDirOrigin::Env));
        }
    }
    if !options.no_default_dirs {
        candidates.push((options.cwd.join("plugins"), SearchDirOrigin::WorkingDir));
        if let Some(exe_dir) = &options.exe_dir {
            candidates.push((exe_dir.clone(), SearchDirOrigin::Executable));
        }
    }

    let mut dirs: Vec<SearchDir> = Vec::new();
    for (path, origin) in candidates {
        let canonical = match path.canonicalize() {
            Ok(canonical) => canonical,
            Err(_) if origin.is_default() => continue,
            Err(_) => return Err(PluginError::MissingDir { path }),
        };
        if !canonical.is_dir() {
            if origin.is_default() {
                continue;
            }
            return Err(PluginError::NotADir { path });
        }
        if dirs.iter().all(|seen| seen.path != canonical) {
            dirs.push(SearchDir {
                path: canonical,
                origin,
            });
        }
    }
    Ok(dirs)
}

/// An entry of a plugin directory whose name has the platform's library extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// A regular file, or a symbolic link to one: for the loader.
    Library(PathBuf),
    /// Anything else, never opened; `reason` is one line.
    Skipped { path: PathBuf, reason: String },
}

/// The entries with the library extension directly inside `dir` (not recursive: cargo's `deps/`
/// beside the binary holds proc-macro libraries), sorted by file name.
pub fn library_files(dir: &Path) -> Result<Vec<Candidate>, PluginError> {
    let read_error = |source| PluginError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|error| read_error(error.into()))?;
        let is_library = entry.path().extension().and_then(|ext| ext.to_str())
            == Some(std::env::consts::DLL_EXTENSION);
        if is_library {
            files.push(classify(entry.into_path()));
        }
    }
    Ok(files)
}

/// Looks at what `path` is (following symbolic links) without opening it.
fn classify(path: PathBuf) -> Candidate {
    match std::fs::metadata(&path) {
        Ok(meta) => match crate::file_kind::not_regular(meta.file_type()) {
            None => Candidate::Library(path),
            Some(kind) => Candidate::Skipped {
                path,
                reason: format!("not a regular file ({kind}); skipped without opening it"),
            },
        },
        Err(error) => Candidate::Skipped {
            path,
            reason: format!("cannot be inspected: {error}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(cwd: &Path) -> PluginDirOptions {
        PluginDirOptions {
            cwd: cwd.to_owned(),
            ..PluginDirOptions::default()
        }
    }

    #[test]
    fn flag_then_env_then_defaults_deduplicated() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["a", "b", "plugins", "exe"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        let mut options = options(root.path());
        options.plugin_dirs = vec!["a".into(), "plugins".into()];
        options.env_path = Some(std::env::join_paths(["b", "a"]).unwrap());
        options.exe_dir = Some(root.path().join("exe"));
        let dirs = search_dirs(&options).unwrap();
        let names: Vec<(String, SearchDirOrigin)> = dirs
            .iter()
            .map(|dir| {
                (
                    dir.path.file_name().unwrap().to_string_lossy().into_owned(),
                    dir.origin,
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".into(), SearchDirOrigin::Flag),
                ("plugins".into(), SearchDirOrigin::Flag),
                ("b".into(), SearchDirOrigin::Env),
                ("exe".into(), SearchDirOrigin::Executable),
            ]
        );
    }

    #[test]
    fn missing_explicit_dir_is_an_error_missing_default_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        assert!(search_dirs(&options(root.path())).unwrap().is_empty());
        let mut explicit = options(root.path());
        explicit.plugin_dirs = vec!["nope".into()];
        let error = search_dirs(&explicit).unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
    }

    #[test]
    fn no_default_dirs_keeps_only_explicit_ones() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("plugins")).unwrap();
        let mut options = options(root.path());
        options.no_default_dirs = true;
        assert!(search_dirs(&options).unwrap().is_empty());
    }

    #[test]
    fn only_libraries_one_level_deep() {
        let root = tempfile::tempdir().unwrap();
        let ext = std::env::consts::DLL_EXTENSION;
        std::fs::write(root.path().join(format!("b.{ext}")), "").unwrap();
        std::fs::write(root.path().join(format!("a.{ext}")), "").unwrap();
        std::fs::write(root.path().join("notes.txt"), "").unwrap();
        std::fs::create_dir(root.path().join("deps")).unwrap();
        std::fs::write(root.path().join(format!("deps/c.{ext}")), "").unwrap();
        let files = library_files(root.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|candidate| match candidate {
                Candidate::Library(path) => {
                    path.file_name().unwrap().to_string_lossy().into_owned()
                }
                Candidate::Skipped { path, reason } => panic!("{}: {reason}", path.display()),
            })
            .collect();
        assert_eq!(names, vec![format!("a.{ext}"), format!("b.{ext}")]);
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_libraries_and_the_rest_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let ext = std::env::consts::DLL_EXTENSION;
        let path = |name: &str| root.path().join(format!("{name}.{ext}"));
        std::fs::write(path("real"), "").unwrap();
        std::os::unix::fs::symlink(path("real"), path("link")).unwrap();
        std::os::unix::fs::symlink(root.path().join("nowhere"), path("dangling")).unwrap();
        crate::file_kind::make_fifo(&path("fifo"));
        std::fs::create_dir(path("dir")).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(path("socket")).unwrap();
        let files = library_files(root.path()).unwrap();
        drop(listener);
        let skipped = |name: &str, reason: &str| Candidate::Skipped {
            path: path(name),
            reason: reason.to_owned(),
        };
        assert_eq!(files.len(), 6, "{files:?}");
        assert!(
            matches!(&files[0], Candidate::Skipped { path: p, reason } if *p == path("dangling")
            && reason.starts_with("cannot be inspected: ")),
            "{files:?}"
        );
        assert_eq!(
            files[1..],
            [
                skipped(
                    "dir",
                    "not a regular file (a directory); skipped without opening it"
                ),
                skipped(
                    "fifo",
                    "not a regular file (a FIFO); skipped without opening it"
                ),
                Candidate::Library(path("link")),
                Candidate::Library(path("real")),
                skipped(
                    "socket",
                    "not a regular file (a socket); skipped without opening it"
                ),
            ]
        );
    }
}

//! Every file the runner writes, and how: atomically (temp file in the same directory, sync,
//! rename) for documents, flushed and synced per record for append-only logs.
//!
//! This module owns the *writing*; what goes into the plan documents is built by the runner.

pub mod index;
mod log_file;
pub mod plan_files;
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

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// The buffered writer [`write_atomic_with`] hands out. Concrete, so that `std::io::copy` from a
/// file into it can copy inside the kernel (`copy_file_range` on Linux).
pub type AtomicWriter<'a> = std::io::BufWriter<&'a mut File>;

/// Like [`write_atomic`], with the content written by `write`, so that a large file need not be
/// assembled in memory first.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut AtomicWriter<'_>) -> std::io::Result<()>,
) -> Result<(), ArtifactError> {
    let error = |source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, temp.as_file_mut());
        write(&mut out).map_err(error)?;
        out.flush().map_err(error)?;
    }
    temp.as_file().sync_all().map_err(error)?;
    temp.persist(path).map_err(|persist| error(persist.error))?;
    // The rename is durable only once the directory entry is synced.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes `value` as JSON (2-space indent, trailing newline) atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| ArtifactError::Encode {
        path: path.to_owned(),
        source,
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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

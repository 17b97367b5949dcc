//! The files one pipeline run writes besides its transcript: the append-only runs index
//! (`runs_index.jsonl`), the titles manifest and the generations CSV. Appends are flushed and
//! synced per record; the CSVs are checked against their header before anything is appended.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{create_dir_all, ArtifactError};

/// Appends one JSON line to `path` (created with its directory), flushed and synced.
pub fn append_json_line<T: Serialize>(path: &Path, record: &T) -> Result<(), ArtifactError> {
    let mut line = serde_json::to_string(record).map_err(|source| ArtifactError::Encode {
        path: path.to_owned(),
        source,
    })?;
    line.push('\n');
    append(path, line.as_bytes())
}

fn append(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    if let Some(dir) = path.parent() {
        create_dir_all(dir)?;
    }
    let error = |source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_data().map_err(error)
}

/// The columns of the titles manifest.
pub const TITLES_HEADER: [&str; 12] = [
    "seq",
    "title",
    "generation_id",
    "image_prompt",
    "image_path",
    "created_at",
    "model",
    "size",
    "quality",
    "seed",
    "title_source",
    "title_raw",
];

/// The columns of the generations CSV.
pub const GENERATIONS_HEADER: [&str; 6] = [
    "generation_id",
    "selected_concepts",
    "final_image_prompt",
    "image_path",
    "created_at",
    "seed",
];

/// A CSV file this module appends to is not what it expects.
#[derive(Debug, thiserror::Error)]
pub enum CsvFileError {
    #[error("`{}` has an unexpected header\n\nexpected: {expected}\nfound:    {found}", path.display())]
    Header {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("`{}` is not valid CSV", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("timed out waiting for the lock `{}` (remove it if no other run is writing)", path.display())]
    Locked { path: PathBuf },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

/// The rows of a CSV with the given header (empty when the file does not exist).
pub fn read_rows(path: &Path, header: &[&str]) -> Result<Vec<csv::StringRecord>, CsvFileError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let csv_error = |source| CsvFileError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let found = reader.headers().map_err(csv_error)?.clone();
    // A byte-order mark written by a spreadsheet is not part of the first column's name.
    let found_names: Vec<&str> = found
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}'))
        .collect();
    if found_names != header {
        return Err(CsvFileError::Header {
            path: path.to_owned(),
            expected: header.join(","),
            found: found_names.join(","),
        });
    }
    reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(csv_error)
}

/// Appends one row, writing the header first when the file is new or empty.
pub fn append_row(path: &Path, header: &[&str], row: &[String]) -> Result<(), CsvFileError> {
    read_rows(path, header)?;
    let is_new = fs::metadata(path)
        .map(|meta| meta.len() == 0)
        .unwrap_or(true);
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let encode = |source| CsvFileError::Csv {
        path: path.to_owned(),
        source,
    };
    if is_new {
        writer.write_record(header).map_err(encode)?;
    }
    writer.write_record(row).map_err(encode)?;
    let bytes = writer
        .into_inner()
        .map_err(|error| encode(error.into_error().into()))?;
    append(path, &bytes)?;
    Ok(())
}

/// An exclusive lock next to a shared file (`<file>.lock`), held until dropped, so two processes
/// appending to one manifest never hand out the same sequence number.
pub struct FileLock {
    path: PathBuf,
}

impl FileLock {
    /// Waits up to `timeout` for the lock.
    pub fn acquire(target: &Path, timeout: Duration) -> Result<FileLock, CsvFileError> {
        let mut path = target.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            create_dir_all(dir)?;
        }
        let started = Instant::now();
        loop {
            match File::options().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(FileLock { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    if started.elapsed() > timeout {
                        return Err(CsvFileError::Locked { path });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(source) => return Err(ArtifactError::Write { path, source }.into()),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_rows_under_one_header_and_refuses_another_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g/generations.csv");
        let row = |id: &str| {
            GENERATIONS_HEADER
                .iter()
                .map(|c| format!("{c}-{id}"))
                .collect::<Vec<_>>()
        };
        append_row(&path, &GENERATIONS_HEADER, &row("1")).unwrap();
        append_row(&path, &GENERATIONS_HEADER, &row("2")).unwrap();
        let rows = read_rows(&path, &GENERATIONS_HEADER).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][0], "generation_id-2");
        let error = append_row(&path, &TITLES_HEADER, &row("3"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unexpected header"), "{error}");
    }

    #[test]
    fn json_lines_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs_index.jsonl");
        append_json_line(&path, &serde_json::json!({"a": 1})).unwrap();
        append_json_line(&path, &serde_json::json!({"b": 2})).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("titles_manifest.csv");
        let lock = FileLock::acquire(&target, Duration::from_millis(10)).unwrap();
        assert!(FileLock::acquire(&target, Duration::from_millis(60)).is_err());
        drop(lock);
        FileLock::acquire(&target, Duration::from_millis(10)).unwrap();
    }
}

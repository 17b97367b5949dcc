//! Appending the records one pipeline run writes besides its transcript: a JSON line (the runs
//! index) and CSV rows (the titles manifest, the generations CSV), each a serde struct of
//! `formats`; reading CSV rows back by column name. Appends are flushed and synced per record;
//! the CSVs are checked against their header before anything is appended.
//! Writers of one CSV take its OS lock ([`FileLock`]); rows of runs about to be executed again
//! are removed first ([`remove_rows_of`]), so a resumed run never leaves its row twice.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
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
    super::append_synced(&super::open_append(path)?, path, bytes)
}

/// The CSVs' columns are declared with their row types.
pub use super::formats::{GENERATIONS_HEADER, TITLES_HEADER};

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
    #[error("cannot lock `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

/// The rows of a CSV with the given header, each read as a `T` by column name (empty when the
/// file does not exist or is empty). `T` may name only the columns it needs.
pub fn read_rows<T: DeserializeOwned>(
    path: &Path,
    header: &[&str],
) -> Result<Vec<T>, CsvFileError> {
    let Some(reader) = checked_reader(path, header)? else {
        return Ok(Vec::new());
    };
    reader
        .into_deserialize()
        .collect::<Result<_, _>>()
        .map_err(|source| CsvFileError::Csv {
            path: path.to_owned(),
            source,
        })
}

/// The rows of a CSV with the given header, as they are (to rewrite them unchanged).
fn read_records(path: &Path, header: &[&str]) -> Result<Vec<csv::StringRecord>, CsvFileError> {
    let Some(reader) = checked_reader(path, header)? else {
        return Ok(Vec::new());
    };
    reader
        .into_records()
        .collect::<Result<_, _>>()
        .map_err(|source| CsvFileError::Csv {
            path: path.to_owned(),
            source,
        })
}

/// A reader past the header of the CSV at `path`, checked against `header`; `None` when the file
/// does not exist or is empty.
fn checked_reader(path: &Path, header: &[&str]) -> Result<Option<csv::Reader<File>>, CsvFileError> {
    let csv_error = |source| CsvFileError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut reader = match csv::Reader::from_path(path) {
        Ok(reader) => reader,
        Err(error) if matches!(error.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
            return Ok(None)
        }
        Err(error) => return Err(csv_error(error)),
    };
    let found = reader.headers().map_err(csv_error)?;
    // A byte-order mark written by a spreadsheet is not part of the first column's name.
    let found_names: Vec<&str> = found
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}'))
        .collect();
    if found_names.is_empty() || found_names == [""] {
        return Ok(None);
    }
    if found_names != header {
        return Err(CsvFileError::Header {
            path: path.to_owned(),
            expected: header.join(","),
            found: found_names.join(","),
        });
    }
    // Rows are read by these names (a byte-order mark is not part of the first one).
    reader.set_headers(csv::StringRecord::from(header.to_vec()));
    Ok(Some(reader))
}

/// Removes the rows whose `generation_id` column is one of `ids` (the file is rewritten
/// atomically, and only when it holds such a row). Returns how many rows were removed.
pub fn remove_rows_of(
    path: &Path,
    header: &[&str],
    ids: &HashSet<&str>,
) -> Result<usize, CsvFileError> {
    let Some(column) = header.iter().position(|name| *name == "generation_id") else {
        return Ok(0);
    };
    let rows = read_records(path, header)?;
    let kept: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|row| !row.get(column).is_some_and(|id| ids.contains(id)))
        .collect();
    let removed = rows.len() - kept.len();
    if removed == 0 {
        return Ok(0);
    }
    let encode = |source| CsvFileError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).map_err(encode)?;
    for row in kept {
        writer.write_record(row).map_err(encode)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| encode(error.into_error().into()))?;
    super::write_atomic(path, &bytes)?;
    Ok(removed)
}

/// Appends one row (a struct whose fields are the columns of `header`, in order), writing the
/// header first when the file is new or empty.
pub fn append_row<T: Serialize>(path: &Path, header: &[&str], row: &T) -> Result<(), CsvFileError> {
    checked_reader(path, header)?;
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
    writer.serialize(row).map_err(encode)?;
    let bytes = writer
        .into_inner()
        .map_err(|error| encode(error.into_error().into()))?;
    append(path, &bytes)?;
    Ok(())
}

/// An exclusive OS lock on a file next to a shared file (`<file>.lock`), held until dropped, so
/// two writers never hand out the same sequence number or interleave a header. The kernel
/// releases it when the process dies, so a crash never leaves the file locked; the lock file
/// itself stays and is harmless.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for the lock.
    pub fn acquire(target: &Path) -> Result<FileLock, CsvFileError> {
        let mut path = target.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            create_dir_all(dir)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ArtifactError::Write {
                path: path.clone(),
                source,
            })?;
        file.lock()
            .map_err(|source| CsvFileError::Lock { path, source })?;
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::super::formats::{GenerationsRow, PromptSeen};
    use super::super::layout::{ExperimentLayout, RUNS_INDEX_FILE};
    use super::*;

    fn row(id: &str) -> GenerationsRow {
        GenerationsRow {
            generation_id: id.to_owned(),
            selected_concepts: "[\"a, b\"]".to_owned(),
            final_image_prompt: format!("prompt of {id}"),
            image_path: format!("/x/{id}.png"),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            seed: 7,
        }
    }

    #[test]
    fn appends_rows_under_one_header_and_refuses_another_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g").join("generations.csv");
        append_row(&path, &GENERATIONS_HEADER, &row("1")).unwrap();
        append_row(&path, &GENERATIONS_HEADER, &row("2")).unwrap();
        let rows: Vec<GenerationsRow> = read_rows(&path, &GENERATIONS_HEADER).unwrap();
        assert_eq!(rows, [row("1"), row("2")]);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(GENERATIONS_HEADER.join(",").as_str())
        );
        let error = append_row(&path, &TITLES_HEADER, &row("3"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unexpected header"), "{error}");
    }

    #[test]
    fn rows_are_read_by_column_name_past_a_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("generations.csv");
        fs::write(
            &path,
            format!(
                "\u{feff}{}\nA1_x,[],hello,,t,3\n",
                GENERATIONS_HEADER.join(",")
            ),
        )
        .unwrap();
        let rows: Vec<PromptSeen> = read_rows(&path, &GENERATIONS_HEADER).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].final_image_prompt, "hello");
    }

    #[test]
    fn json_lines_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUNS_INDEX_FILE);
        append_json_line(&path, &serde_json::json!({"a": 1})).unwrap();
        append_json_line(&path, &serde_json::json!({"b": 2})).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = ExperimentLayout::new(dir.path()).titles_manifest();
        let lock = FileLock::acquire(&target).unwrap();
        let mut lock_file = target.into_os_string();
        lock_file.push(".lock");
        let other = File::options().write(true).open(&lock_file).unwrap();
        assert!(other.try_lock().is_err(), "held while the lock lives");
        drop(lock);
        other.try_lock().unwrap();
    }

    #[test]
    fn rows_of_given_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = ExperimentLayout::new(dir.path()).generations_csv();
        for id in ["A1_x", "B1_x", "A2_x"] {
            append_row(&path, &GENERATIONS_HEADER, &row(id)).unwrap();
        }
        let ids: HashSet<&str> = ["B1_x", "C9_x"].into_iter().collect();
        assert_eq!(remove_rows_of(&path, &GENERATIONS_HEADER, &ids).unwrap(), 1);
        let left: Vec<GenerationsRow> = read_rows(&path, &GENERATIONS_HEADER).unwrap();
        assert_eq!(left, [row("A1_x"), row("A2_x")]);
        assert_eq!(remove_rows_of(&path, &GENERATIONS_HEADER, &ids).unwrap(), 0);
    }
}

//! Append-only logs (`experiment.log`, each run's oplog): one line per event (`<UTC time> | <LEVEL> | <message>`), appended, flushed
//! and synced per record so a crash never loses what was already reported.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plugin_api::LogLevel;

use super::{create_dir_all, ArtifactError};
use crate::clock::Timestamp;

/// An append-only log file. Shared between threads.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    /// Opens (or creates) the log for appending.
    pub fn open(path: &Path) -> Result<LogFile, ArtifactError> {
        if let Some(dir) = path.parent() {
            create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ArtifactError::Write {
                path: path.to_owned(),
                source,
            })?;
        Ok(LogFile {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record.
    pub fn record(&self, level: LogLevel, message: &str) -> Result<(), ArtifactError> {
        let line = format!(
            "{} | {} | {}\n",
            Timestamp::now().iso(),
            level.as_str().to_uppercase(),
            message.replace('\n', "\n    ")
        );
        // A poisoned lock only means another thread panicked mid-write; the file is still usable.
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data())
            .map_err(|source| ArtifactError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiment.log");
        let log = LogFile::open(&path).unwrap();
        log.record(LogLevel::Info, "first").unwrap();
        drop(log);
        let log = LogFile::open(&path).unwrap();
        log.record(LogLevel::Warn, "second\nline").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with(" | INFO | first"), "{}", lines[0]);
        assert!(lines[1].ends_with(" | WARN | second"), "{}", lines[1]);
        assert_eq!(lines[2], "    line");
    }
}

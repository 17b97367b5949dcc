//! Append-only logs (`experiment.log`, each run's oplog): one line per event
//! (`<UTC time> | <LEVEL> | <message>`), handed to the OS per line so a crash of the process loses
//! nothing already reported, and synced to disk on demand ([`LogFile::sync`]: once per run for an
//! oplog, at checkpoints for the experiment log). The durable records of an experiment are its
//! `results.jsonl` lines, not its logs, so logs do not pay for one disk sync per line.
//!
//! A log can start *pending*: lines are kept in memory until [`LogFile::attach`] creates the file,
//! so the runner can log while it plans and still write nothing before it owns the directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plugin_api::LogLevel;

use super::{open_append, ArtifactError};
use crate::clock::Timestamp;

/// An append-only log file. Shared between threads.
pub struct LogFile {
    path: PathBuf,
    sink: Mutex<Sink>,
}

enum Sink {
    /// Not created yet: the lines recorded so far.
    Pending(Vec<u8>),
    Open(File),
}

impl LogFile {
    /// Opens (or creates) the log for appending.
    pub fn open(path: &Path) -> Result<LogFile, ArtifactError> {
        Ok(LogFile {
            path: path.to_owned(),
            sink: Mutex::new(Sink::Open(open_append(path)?)),
        })
    }

    /// A log that keeps its lines in memory until [`LogFile::attach`]; dropped unattached, it
    /// writes nothing.
    pub fn pending(path: &Path) -> LogFile {
        LogFile {
            path: path.to_owned(),
            sink: Mutex::new(Sink::Pending(Vec::new())),
        }
    }

    /// Creates (or opens) the file of a pending log and writes the lines kept so far. A log that
    /// is open already stays as it is.
    pub fn attach(&self) -> Result<(), ArtifactError> {
        let mut sink = self.lock();
        if let Sink::Pending(buffered) = &*sink {
            let mut file = open_append(&self.path)?;
            file.write_all(buffered)
                .map_err(|source| self.error(source))?;
            *sink = Sink::Open(file);
        }
        Ok(())
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
        match &mut *self.lock() {
            Sink::Pending(buffered) => {
                buffered.extend_from_slice(line.as_bytes());
                Ok(())
            }
            // An unbuffered `File`: each write is one write(2), in the OS before this returns.
            Sink::Open(file) => file
                .write_all(line.as_bytes())
                .map_err(|source| self.error(source)),
        }
    }

    /// Syncs what was recorded to disk (nothing to do while pending).
    pub fn sync(&self) -> Result<(), ArtifactError> {
        match &*self.lock() {
            Sink::Pending(_) => Ok(()),
            Sink::Open(file) => file.sync_data().map_err(|source| self.error(source)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sink> {
        // A poisoned lock only means another thread panicked mid-write; the file is still usable.
        self.sink
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, source: std::io::Error) -> ArtifactError {
        ArtifactError::Write {
            path: self.path.clone(),
            source,
        }
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
        log.sync().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with(" | INFO | first"), "{}", lines[0]);
        assert!(lines[1].ends_with(" | WARN | second"), "{}", lines[1]);
        assert_eq!(lines[2], "    line");
    }

    #[test]
    fn a_pending_log_writes_nothing_until_attached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/experiment.log");
        let log = LogFile::pending(&path);
        log.record(LogLevel::Info, "planned").unwrap();
        assert!(!path.exists() && !path.parent().unwrap().exists());
        log.attach().unwrap();
        log.record(LogLevel::Info, "written").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("| INFO | planned\n") && text.contains("| INFO | written\n"));
        drop(LogFile::pending(&dir.path().join("never/experiment.log")));
        assert!(!dir.path().join("never").exists());
    }
}

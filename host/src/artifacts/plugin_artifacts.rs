//! Writing a plugin's own artifacts (the `write_artifact` service): the host's checks of the
//! request (the name rule of `plugin_api::check_artifact_name`, checked again here since a
//! plugin may skip plugin-api's; the size cap; exactly one of `text` and `base64`) and the
//! atomic write to `<experiment>/plugin/<name>`, never through a symbolic link.
//!
//! It does not own where the directory is (`layout`), which hooks may write, nor where a written
//! artifact is recorded (`runner`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use plugin_api::services::{
    check_artifact_name, check_artifact_size, WriteArtifactRequest, WrittenArtifact,
};

use super::layout::{ExperimentLayout, PLUGIN_ARTIFACTS_DIR};
use super::ArtifactError;

/// Why a plugin artifact was refused or not written.
#[derive(Debug, thiserror::Error)]
pub enum PluginArtifactError {
    #[error("{0}")]
    Name(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("artifact `{name}` must give exactly one of `text` and `base64`")]
    Contents { name: String },
    #[error("artifact `{name}`: `base64` does not decode: {reason}")]
    Base64 { name: String, reason: String },
    #[error("artifact `{name}`: `{}` is a symbolic link; refusing to write through it", path.display())]
    Symlink { name: String, path: PathBuf },
    #[error(transparent)]
    Write(#[from] ArtifactError),
}

/// Checks a name and a size against the rules plugins are told: the name stays below
/// `plugin/`, the contents are at most [`plugin_api::MAX_ARTIFACT_BYTES`].
pub fn check(name: &str, bytes: u64) -> Result<(), PluginArtifactError> {
    check_artifact_name(name).map_err(PluginArtifactError::Name)?;
    check_size(name, bytes)
}

fn check_size(name: &str, bytes: u64) -> Result<(), PluginArtifactError> {
    check_artifact_size(name, bytes).map_err(PluginArtifactError::TooLarge)
}

/// The request's contents as bytes, checked: one of `text` and `base64` (too long a `base64` is
/// refused before decoding). The name and the decoded size are [`write`]'s to check.
pub fn contents(request: &WriteArtifactRequest) -> Result<Vec<u8>, PluginArtifactError> {
    let name = &request.name;
    let bytes = match (&request.text, &request.base64) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(encoded)) => {
            // Four characters carry three bytes: refuse before decoding what cannot fit.
            let decoded_at_least = (encoded.len() as u64 / 4) * 3;
            check_size(name, decoded_at_least.saturating_sub(2))?;
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|error| PluginArtifactError::Base64 {
                    name: name.clone(),
                    reason: error.to_string(),
                })?
        }
        _ => return Err(PluginArtifactError::Contents { name: name.clone() }),
    };
    Ok(bytes)
}

/// Writes `bytes` to `<experiment_dir>/plugin/<name>` atomically (a temp file in the same
/// directory, synced, renamed), creating the directories. An existing file of that name is
/// replaced. Refuses to write when the name is invalid or a part of the path is a link.
pub fn write(
    experiment_dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<WrittenArtifact, PluginArtifactError> {
    check(name, bytes.len() as u64)?;
    let mut path = ExperimentLayout::new(experiment_dir).plugin_artifacts_dir();
    refuse_link(name, &path)?;
    for part in name.split('/') {
        path.push(part);
        refuse_link(name, &path)?;
    }
    super::write_atomic(&path, bytes)?;
    Ok(WrittenArtifact {
        path: shown_path(name),
        bytes: bytes.len() as u64,
    })
}

/// `plugin/<name>`: an artifact's path relative to the experiment directory, as recorded.
pub fn shown_path(name: &str) -> String {
    format!("{PLUGIN_ARTIFACTS_DIR}/{name}")
}

/// The artifact name in a recorded path, when the path is `plugin/<valid name>` ([`shown_path`]
/// read back); `None` for anything else a record may hold.
pub fn name_of(path: &str) -> Option<&str> {
    let (dir, name) = path.split_once('/')?;
    (dir == PLUGIN_ARTIFACTS_DIR && check_artifact_name(name).is_ok()).then_some(name)
}

/// Removes the temp files an interrupted artifact write left anywhere under `plugin/` (links
/// not followed). Returns how many were removed. Call it only while holding the directory's
/// lock.
pub fn remove_stale_temp_files(experiment_dir: &Path) -> Result<usize, ArtifactError> {
    fn visit(dir: &Path) -> Result<usize, ArtifactError> {
        let mut removed = super::remove_stale_temp_files(dir)?;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    removed += visit(&entry.path())?;
                }
            }
        }
        Ok(removed)
    }
    visit(&ExperimentLayout::new(experiment_dir).plugin_artifacts_dir())
}

fn refuse_link(name: &str, path: &Path) -> Result<(), PluginArtifactError> {
    if crate::file_kind::is_symlink(path) {
        return Err(PluginArtifactError::Symlink {
            name: name.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::MAX_ARTIFACT_BYTES;

    #[test]
    fn a_recorded_path_reads_back_to_its_name_only_under_plugin() {
        assert_eq!(name_of(&shown_path("plots/a.csv")), Some("plots/a.csv"));
        for other in [
            "plugin/../x",
            "logs/a.csv",
            "plugin",
            "plugin/.hidden",
            "/plugin/a",
        ] {
            assert_eq!(name_of(other), None, "{other}");
        }
    }

    fn request(name: &str, text: Option<&str>, base64: Option<&str>) -> WriteArtifactRequest {
        WriteArtifactRequest {
            name: name.to_owned(),
            text: text.map(str::to_owned),
            base64: base64.map(str::to_owned),
        }
    }

    #[test]
    fn names_that_would_leave_or_hide_in_the_directory_are_refused() {
        for bad in ["../x", "a//b", ".hidden", "a/../b", "/abs", "a\\b", ""] {
            let error = check(bad, 1).unwrap_err();
            assert!(matches!(error, PluginArtifactError::Name(_)), "{bad}");
            assert!(error.to_string().contains("artifact name"), "{error}");
        }
        check("plots/scores-1.csv", 1).unwrap();
    }

    #[test]
    fn the_size_limit_is_inclusive() {
        check("a", MAX_ARTIFACT_BYTES).unwrap();
        let error = check("a", MAX_ARTIFACT_BYTES + 1).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("limit is {MAX_ARTIFACT_BYTES}")),
            "{error}"
        );
    }

    #[test]
    fn contents_come_from_exactly_one_of_text_and_base64() {
        assert_eq!(contents(&request("a", Some("hi"), None)).unwrap(), b"hi");
        assert_eq!(contents(&request("a", None, Some("aGk="))).unwrap(), b"hi");
        for neither_or_both in [
            request("a", None, None),
            request("a", Some("x"), Some("eA==")),
        ] {
            let error = contents(&neither_or_both).unwrap_err();
            assert!(
                matches!(error, PluginArtifactError::Contents { .. }),
                "{error}"
            );
        }
        let error = contents(&request("a", None, Some("not base64!"))).unwrap_err();
        assert!(
            matches!(error, PluginArtifactError::Base64 { .. }),
            "{error}"
        );
        let huge = "A".repeat((MAX_ARTIFACT_BYTES as usize / 3 + 2) * 4);
        let error = contents(&request("a", None, Some(&huge))).unwrap_err();
        assert!(
            matches!(error, PluginArtifactError::TooLarge { .. }),
            "{error}"
        );
    }

    #[test]
    fn an_artifact_is_written_below_plugin_and_replaced_by_a_later_write() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), "tables/x.csv", b"a,b\n").unwrap();
        assert_eq!(written.path, "plugin/tables/x.csv");
        assert_eq!(written.bytes, 4);
        write(dir.path(), "tables/x.csv", b"c\n").unwrap();
        let path = dir.path().join("plugin/tables/x.csv");
        assert_eq!(std::fs::read(&path).unwrap(), b"c\n");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn temp_files_left_anywhere_under_plugin_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/b/kept.txt", b"x").unwrap();
        let temp = format!("{}x", super::super::TEMP_PREFIX);
        for stale in [format!("plugin/{temp}"), format!("plugin/a/b/{temp}")] {
            std::fs::write(dir.path().join(stale), b"half").unwrap();
        }
        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 2);
        assert!(dir.path().join("plugin/a/b/kept.txt").is_file());
        assert_eq!(
            remove_stale_temp_files(tempfile::tempdir().unwrap().path()).unwrap(),
            0
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_inside_the_plugin_directory_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugin")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("plugin/out")).unwrap();
        let error = write(dir.path(), "out/x.txt", b"x").unwrap_err();
        assert!(
            matches!(error, PluginArtifactError::Symlink { .. }),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}

//! The index cache, `<index dir>/.cache/`: what a refresh keeps so that the next one re-reads only
//! what changed. It owns the cache's manifest and what it keeps of each group (the stamps
//! themselves, and when one can be trusted, are [`super::stamp`]'s); [`super::refresh`] decides
//! what to reuse, and a
//! group's data file is [`super::group_file`]'s.
//!
//! - `index-cache.json` ([`CacheManifest`]): the format version, a hash of the index code that
//!   wrote it, the store it describes, the kept directory listings of the walk, and one
//!   [`GroupEntry`] per cached group: the stamps of its source files, and its experiment
//!   summaries, counts and warnings.
//! - `group-<16 hex>.bin`: a group's rows, already rendered (its format is
//!   [`super::group_file`]'s). The name is a hash of the group's stamps, so an unchanged group
//!   keeps its file and is never rewritten.
//! - `scan-mark`: touched when a refresh starts; its mtime is the file system's own "now".
//!
//! A stamp is trusted only when its mtime and ctime are older than the scan mark (git's "racily
//! clean" rule): a file changed in the same clock tick as it was read could otherwise keep its
//! stamp. Files of an experiment that finished a moment ago are therefore read again by the next
//! refresh, once.
//!
//! Everything here is a cache: a manifest of another version or code is ignored, and one that
//! cannot be read or parsed (or a group file whose length or layout does not match its entry)
//! is ignored with a warning in `warnings.index_cache_errors`; what it covered is then read
//! from the sources again. Damage that keeps a group file's layout intact (a flipped byte in a
//! line) is not detected: checksumming 80 MB on every refresh would cost more than the rest.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{CACHE_MANIFEST_FILE, GROUP_FILE_PREFIX, GROUP_FILE_SUFFIX};
use super::report::{IndexCounts, IndexWarnings};
use super::stamp::Stamp;
use super::summary::ExperimentSummary;
use super::walk::Listings;
use crate::artifacts::{write_atomic_deferred, ArtifactError};

/// Bump when the manifest, a group file, or what the index computes from its sources changes:
/// a cache of another version is ignored.
pub(super) const CACHE_VERSION: u32 = 1;

/// `[(path, text)]` of the source files named, relative to this file.
macro_rules! named_sources {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_str!($path))),*]
    };
}

/// The source of everything that decides what the cached rows say: a cache written by a build
/// whose index code differs in any way (comments included) is ignored, so a change to how rows
/// are computed or rendered never meets rows of the old code. `CACHE_VERSION` is still bumped for
/// format changes, so the reason shows in history. Every file of this folder is listed (a test
/// checks it), and the two beside it that say what the index reads: formats and file names.
const INDEX_SOURCES: [(&str, &str); 23] = named_sources![
    "assemble.rs",
    "cache.rs",
    "columns.rs",
    "combined.rs",
    "document.rs",
    "experiment_registry.rs",
    "files.rs",
    "group_file.rs",
    "image_registry.rs",
    "mod.rs",
    "plan.rs",
    "refresh.rs",
    "refresh/tests.rs",
    "report.rs",
    "run_registry.rs",
    "sources.rs",
    "stamp.rs",
    "store.rs",
    "summary.rs",
    "tests.rs",
    "walk.rs",
    "../formats.rs",
    "../layout.rs",
];

/// The hash of [`INDEX_SOURCES`]' texts, as 16 hex digits.
pub(super) fn code_hash() -> String {
    let texts = INDEX_SOURCES.map(|(_, text)| text);
    format!("{:016x}", plugin_api::hash::stable_hash_parts(&texts))
}

/// A cache file could not be read or did not match what the manifest says.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is malformed: {what}", path.display())]
    Malformed { path: PathBuf, what: String },
}

/// The stamps of one unit's source files (path below the store, stamp) in walk order, and per
/// plan the presence of the files its summary points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UnitStamp {
    pub dir: String,
    pub files: Vec<(String, Stamp)>,
    pub side_files: Vec<Vec<bool>>,
}

/// `index-cache.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CacheManifest {
    pub version: u32,
    /// [`code_hash`] of the build that wrote it.
    pub code: String,
    /// The store (canonical, and as given): every path the index writes is shown relative to it.
    pub store_root: String,
    pub store_given: String,
    pub listings: Listings,
    pub groups: Vec<GroupEntry>,
}

/// One cached group: units whose generation ids are disjoint from every other group's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct GroupEntry {
    pub data_file: String,
    /// The data file's length and the offsets of its four sections (ids, then the experiment,
    /// image and run registries' rows), so one registry's rows are read without the others.
    pub data_len: u64,
    pub sections: [u64; 4],
    pub units: Vec<UnitStamp>,
    pub experiments: Vec<ExperimentSummary>,
    pub counts: IndexCounts,
    pub warnings: IndexWarnings,
}

/// What loading the manifest gave.
pub(super) enum Loaded {
    Manifest(CacheManifest),
    /// None yet, or of another version or store: rebuild quietly.
    Stale,
    /// Unreadable or malformed: rebuild, and say so.
    Corrupt(String),
}

/// Reads `index-cache.json` from `cache_dir`.
pub(super) fn load(cache_dir: &Path, store_root: &str, store_given: &str) -> Loaded {
    let path = cache_dir.join(CACHE_MANIFEST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Loaded::Stale,
        Err(error) => return Loaded::Corrupt(format!("failed to read the cache: {error}")),
    };
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    match serde_json::from_str::<Version>(&text) {
        Ok(Version { version }) if version == CACHE_VERSION => {}
        Ok(_) => return Loaded::Stale,
        Err(error) => return Loaded::Corrupt(format!("the cache is malformed: {error}")),
    }
    match serde_json::from_str::<CacheManifest>(&text) {
        Ok(manifest)
            if manifest.store_root == store_root
                && manifest.store_given == store_given
                && manifest.code == code_hash() =>
        {
            Loaded::Manifest(manifest)
        }
        Ok(_) => Loaded::Stale,
        Err(error) => Loaded::Corrupt(format!("the cache is malformed: {error}")),
    }
}

/// Writes `index-cache.json` atomically, then removes group files it does not name.
pub(super) fn save(cache_dir: &Path, manifest: &CacheManifest) -> Result<(), ArtifactError> {
    let path = cache_dir.join(CACHE_MANIFEST_FILE);
    let text = serde_json::to_vec(manifest).map_err(|source| ArtifactError::Encode {
        path: path.clone(),
        source,
    })?;
    write_atomic_deferred(&path, &text)?;
    let named: std::collections::BTreeSet<&str> = manifest
        .groups
        .iter()
        .map(|group| group.data_file.as_str())
        .collect();
    if let Ok(entries) = fs::read_dir(cache_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(GROUP_FILE_PREFIX) && !named.contains(name.as_ref()) {
                // A stale group file only costs disk space, and a concurrent refresh may have
                // removed it first: failing to remove it is not worth a warning.
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The data file name of a group with these unit stamps.
pub(super) fn group_file_name(units: &[UnitStamp]) -> String {
    let text = serde_json::to_string(units).unwrap_or_default();
    let hash = plugin_api::hash::stable_hash_parts(&[&CACHE_VERSION.to_string(), &text]);
    format!("{GROUP_FILE_PREFIX}{hash:016x}{GROUP_FILE_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The `.rs` files below `dir`, as paths relative to `root` with `/` separators.
    fn rust_files(root: &Path, dir: &Path, into: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(root, &path, into);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let relative = path.strip_prefix(root).unwrap();
                into.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn the_code_hash_covers_every_file_of_the_index() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/artifacts/index");
        let mut on_disk = BTreeSet::new();
        rust_files(&dir, &dir, &mut on_disk);
        let listed: BTreeSet<String> = INDEX_SOURCES
            .iter()
            .map(|(path, _)| path.to_string())
            .filter(|path| !path.starts_with("../"))
            .collect();
        assert_eq!(listed, on_disk);
    }
}

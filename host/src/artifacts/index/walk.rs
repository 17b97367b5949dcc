//! Listing one artifacts store: which files the index reads ([`Found`], picked by name anywhere
//! under the store) in the order a depth-first walk with entries sorted by name meets them, and
//! the walk's errors. Symbolic links are not followed.
//!
//! A refresh may pass the listings it kept last time ([`Listing`], keyed by the directory's path
//! below the store). A directory whose stamp did not change is not read again: creating,
//! removing or renaming an entry changes the directory's mtime, so its entries are the same. This
//! is what keeps a refresh from re-reading a `logs/` directory of 300,000 transcripts. Only the
//! kept entries are remembered (subdirectories and files the index reads), so a listing stays
//! small whatever the directory holds.
//!
//! This module does not read files, and does not decide which stamps can be trusted
//! ([`super::cache`] does).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{
    GENERATIONS_FILES, PLAN_FILE, PLUGIN_ARTIFACTS_DIR, RUNS_INDEX_FILE, TITLES_MANIFEST_FILE,
};
use super::report::{warning, IndexWarning};
use super::stamp::{Stamp, Trust};
use super::store::Store;

/// The files of interest in one store (or part of it), in walk order.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub plans: Vec<PathBuf>,
    pub runs_indexes: Vec<PathBuf>,
    pub manifests: Vec<PathBuf>,
    pub generations: Vec<PathBuf>,
}

impl Found {
    /// Plans, runs indexes, manifests, generations CSVs.
    pub(super) fn lists(&self) -> [&Vec<PathBuf>; 4] {
        [
            &self.plans,
            &self.runs_indexes,
            &self.manifests,
            &self.generations,
        ]
    }

    pub(super) fn lists_mut(&mut self) -> [&mut Vec<PathBuf>; 4] {
        [
            &mut self.plans,
            &mut self.runs_indexes,
            &mut self.manifests,
            &mut self.generations,
        ]
    }

    pub(super) fn len(&self) -> usize {
        self.plans.len() + self.runs_indexes.len() + self.manifests.len() + self.generations.len()
    }

    /// Appends `other`'s files; [`Found::sort`] then restores walk order.
    pub(super) fn extend(&mut self, other: &Found) {
        self.plans.extend_from_slice(&other.plans);
        self.runs_indexes.extend_from_slice(&other.runs_indexes);
        self.manifests.extend_from_slice(&other.manifests);
        self.generations.extend_from_slice(&other.generations);
    }

    /// Walk order: a sorted depth-first walk meets paths in the order of their components.
    pub(super) fn sort(&mut self) {
        for list in self.lists_mut() {
            list.sort();
        }
    }
}

/// What a kept directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum EntryKind {
    Dir,
    Plan,
    RunsIndex,
    Manifest,
    Generations,
}

impl EntryKind {
    /// The kind of a file the index reads, by its name.
    fn of_file(name: &str) -> Option<EntryKind> {
        match name {
            PLAN_FILE => Some(EntryKind::Plan),
            RUNS_INDEX_FILE => Some(EntryKind::RunsIndex),
            TITLES_MANIFEST_FILE => Some(EntryKind::Manifest),
            name if GENERATIONS_FILES.contains(&name) => Some(EntryKind::Generations),
            _ => None,
        }
    }
}

/// The kept entries of one directory, sorted by name, and the directory's stamp when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Listing {
    pub stamp: Stamp,
    pub entries: Vec<(String, EntryKind)>,
}

/// Listings by directory: the path below the store with `/` separators (`""` for the store).
pub(super) type Listings = BTreeMap<String, Listing>;

/// What a walk found.
#[derive(Default)]
pub(super) struct Walked {
    pub found: Found,
    pub walk_errors: Vec<IndexWarning>,
    /// Listings worth keeping for the next walk: read now or reused, with a trusted stamp.
    pub listings: Listings,
    /// Directories listed with `read_dir` (the others came from the kept listings).
    pub dirs_read: usize,
}

/// Walks `store`, reusing `kept` listings whose directory stamp is unchanged and trusted.
pub(super) fn walk(store: &Store, kept: Option<&Listings>, trust: &Trust) -> Walked {
    let mut walked = Walked::default();
    let mut walker = Walker {
        store,
        kept,
        trust,
        walked: &mut walked,
    };
    // The root itself is followed if it is a link, like `WalkDir`.
    match fs::metadata(&store.root) {
        Ok(metadata) => walker.visit(&store.root, Some(""), Stamp::of(&metadata)),
        Err(error) => walker.error(&store.root, &error),
    }
    walked
}

struct Walker<'a> {
    store: &'a Store,
    kept: Option<&'a Listings>,
    trust: &'a Trust,
    walked: &'a mut Walked,
}

impl Walker<'_> {
    /// The message matches `walkdir`'s, which the index used before listings were kept.
    fn error(&mut self, path: &Path, error: &std::io::Error) {
        let message = format!("IO error for operation on {}: {error}", path.display());
        self.walked
            .walk_errors
            .push(warning(self.store.show(path), None, &message));
    }

    /// Visits `dir`; `key` is its listing key, or `None` below a name that is not UTF-8 (such
    /// listings are never kept).
    fn visit(&mut self, dir: &Path, key: Option<&str>, stamp: Stamp) {
        let trusted = self.trust.trusts(&stamp);
        let reused = key
            .and_then(|key| self.kept?.get(key))
            .filter(|listing| trusted && listing.stamp == stamp)
            .map(|listing| {
                let entries = listing.entries.iter();
                entries
                    .map(|(name, kind)| (OsString::from(name), *kind))
                    .collect()
            });
        let entries: Vec<(OsString, EntryKind)> = match reused {
            Some(entries) => entries,
            None => match self.read(dir) {
                Some(entries) => entries,
                None => return,
            },
        };
        if let (Some(key), true) = (key, trusted) {
            let names: Option<Vec<(String, EntryKind)>> = entries
                .iter()
                .map(|(name, kind)| Some((name.to_str()?.to_owned(), *kind)))
                .collect();
            if let Some(entries) = names {
                let listing = Listing { stamp, entries };
                self.walked.listings.insert(key.to_owned(), listing);
            }
        }
        for (name, kind) in entries {
            let path = dir.join(&name);
            let found = &mut self.walked.found;
            match kind {
                EntryKind::Dir => {
                    // A kept listing names its subdirectories; their own stamps decide the rest.
                    match fs::symlink_metadata(&path) {
                        Ok(metadata) if metadata.is_dir() => {
                            let child = match (key, name.to_str()) {
                                (Some(key), Some(name)) => Some(join_key(key, name)),
                                _ => None,
                            };
                            self.visit(&path, child.as_deref(), Stamp::of(&metadata));
                        }
                        Ok(_) => {}
                        Err(error) => self.error(&path, &error),
                    }
                }
                EntryKind::Plan => found.plans.push(path),
                EntryKind::RunsIndex => found.runs_indexes.push(path),
                EntryKind::Manifest => found.manifests.push(path),
                EntryKind::Generations => found.generations.push(path),
            }
        }
    }

    /// Reads `dir`: its subdirectories and the files the index reads, sorted by name.
    fn read(&mut self, dir: &Path) -> Option<Vec<(OsString, EntryKind)>> {
        self.walked.dirs_read += 1;
        let reader = match fs::read_dir(dir) {
            Ok(reader) => reader,
            Err(error) => {
                self.error(dir, &error);
                return None;
            }
        };
        let mut kept: Vec<(OsString, EntryKind)> = Vec::new();
        for entry in reader {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    self.error(dir, &error);
                    continue;
                }
            };
            let file_type = match entry.file_type() {
                Ok(file_type) => file_type,
                Err(error) => {
                    self.error(&entry.path(), &error);
                    continue;
                }
            };
            let name = entry.file_name();
            let kind = if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_file() {
                match EntryKind::of_file(&name.to_string_lossy()) {
                    Some(kind) => kind,
                    None => continue,
                }
            } else {
                continue;
            };
            kept.push((name, kind));
        }
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        // Next to a plan, `plugin/` holds the plugin's own files, listed with the experiment
        // (`summary`), never read as records: a plugin may name a file like one.
        if kept.iter().any(|(_, kind)| *kind == EntryKind::Plan) {
            kept.retain(|(name, kind)| !(*kind == EntryKind::Dir && name == PLUGIN_ARTIFACTS_DIR));
        }
        Some(kept)
    }
}

fn join_key(key: &str, name: &str) -> String {
    if key.is_empty() {
        name.to_owned()
    } else {
        format!("{key}/{name}")
    }
}

/// The path of `path` below the store with `/` separators, if it is inside and UTF-8.
pub(super) fn key_of(store: &Store, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(&store.root).ok()?;
    let parts: Option<Vec<&str>> = rest
        .components()
        .map(|part| part.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

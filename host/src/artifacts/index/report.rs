//! What an index says about itself: its counts, its warnings (each naming a file) and the report
//! an update returns; and how the counts and warnings of parts of a store (the groups of a
//! refresh) or of several stores (a combined index) add up.
//!
//! Not here: where the counts come from ([`super::assemble`]) or how they are written
//! ([`super::document`]).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What an index update found and wrote.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub counts: IndexCounts,
    pub warnings: IndexWarnings,
    /// Absolute paths, registries first and `experiments_index.json` last (the order written).
    pub files_written: Vec<PathBuf>,
}

/// Counts of an index. A combined index sums the stores' counts, except the registry counts
/// (`images_titled`, `runs_in_run_registry`), which are taken after removing repeated ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexCounts {
    pub stores: usize,
    pub experiments: usize,
    /// Rows of `experiment_registry.csv`.
    pub experiment_runs_planned: usize,
    /// Planned runs with a runs-index record.
    pub experiment_runs_executed: usize,
    pub manifest_files: usize,
    /// Rows of `image_registry.csv`.
    pub images_titled: usize,
    pub run_index_files: usize,
    /// Distinct generation ids with a runs-index record.
    pub run_index_entries: usize,
    pub generation_csv_files: usize,
    /// Distinct generation ids in generations CSVs.
    pub generation_csv_rows: usize,
    /// Rows of `run_registry.csv`.
    pub runs_in_run_registry: usize,
}

/// Everything the index skipped or doubted, by kind; each entry names a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexWarnings {
    /// Directories the walk could not read.
    pub walk_errors: Vec<IndexWarning>,
    pub experiment_plan_errors: Vec<IndexWarning>,
    pub runs_index_errors: Vec<IndexWarning>,
    pub titles_manifest_errors: Vec<IndexWarning>,
    pub titles_manifest_duplicate_generation_ids: Vec<IndexWarning>,
    pub generation_csv_errors: Vec<IndexWarning>,
    /// The index cache could not be used (unreadable or malformed) and was rebuilt.
    #[serde(default)]
    pub index_cache_errors: Vec<IndexWarning>,
}

impl IndexWarnings {
    /// Every warning with its kind (the field name), kind by kind.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &IndexWarning)> {
        self.kinds()
            .into_iter()
            .flat_map(|(kind, list)| list.iter().map(move |warning| (kind, warning)))
    }

    pub fn len(&self) -> usize {
        self.kinds().iter().map(|(_, list)| list.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kinds(&self) -> [(&'static str, &Vec<IndexWarning>); 7] {
        [
            ("walk_errors", &self.walk_errors),
            ("experiment_plan_errors", &self.experiment_plan_errors),
            ("runs_index_errors", &self.runs_index_errors),
            ("titles_manifest_errors", &self.titles_manifest_errors),
            (
                "titles_manifest_duplicate_generation_ids",
                &self.titles_manifest_duplicate_generation_ids,
            ),
            ("generation_csv_errors", &self.generation_csv_errors),
            ("index_cache_errors", &self.index_cache_errors),
        ]
    }

    fn kinds_mut(&mut self) -> [&mut Vec<IndexWarning>; 7] {
        [
            &mut self.walk_errors,
            &mut self.experiment_plan_errors,
            &mut self.runs_index_errors,
            &mut self.titles_manifest_errors,
            &mut self.titles_manifest_duplicate_generation_ids,
            &mut self.generation_csv_errors,
            &mut self.index_cache_errors,
        ]
    }

    /// Appends `other`'s warnings, each labelled with `store`.
    pub(super) fn absorb(&mut self, other: &IndexWarnings, store: &str) {
        for (mine, (_, theirs)) in self.kinds_mut().into_iter().zip(other.kinds()) {
            mine.extend(theirs.iter().map(|warning| IndexWarning {
                store: Some(store.to_owned()),
                ..warning.clone()
            }));
        }
    }
}

/// One warning: the file (as written in the index), the line when known, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexWarning {
    /// The store's label, in a combined index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// One line.
    pub message: String,
}

impl fmt::Display for IndexWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(store) = &self.store {
            write!(f, "[{store}] ")?;
        }
        write!(f, "{}", self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A warning about `path` (at `line`), its message on one line.
pub(super) fn warning(path: String, line: Option<u64>, message: &dyn fmt::Display) -> IndexWarning {
    IndexWarning {
        store: None,
        path,
        line,
        message: message
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Merges warnings of id-disjoint parts: each list is in walk order of the file it names, so a
/// stable sort by that path (component by component, as the walk orders them) interleaves them
/// as one pass over the whole store would.
fn merge_by_path(lists: Vec<&[IndexWarning]>) -> Vec<IndexWarning> {
    let mut merged: Vec<IndexWarning> = lists.into_iter().flatten().cloned().collect();
    merged.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    merged
}

impl IndexWarnings {
    /// The warnings of id-disjoint parts of one store, as indexing the store at once gives them.
    pub(super) fn merged<'a>(parts: impl Iterator<Item = &'a IndexWarnings>) -> IndexWarnings {
        let parts: Vec<&IndexWarnings> = parts.collect();
        let mut merged = IndexWarnings::default();
        for (kind, mine) in merged.kinds_mut().into_iter().enumerate() {
            let lists = parts
                .iter()
                .map(|part| part.kinds()[kind].1.as_slice())
                .collect();
            *mine = merge_by_path(lists);
        }
        merged
    }
}

impl IndexCounts {
    /// Adds the counts of an id-disjoint part (everything but `stores`).
    pub(super) fn add(&mut self, other: &IndexCounts) {
        self.experiments += other.experiments;
        self.experiment_runs_planned += other.experiment_runs_planned;
        self.experiment_runs_executed += other.experiment_runs_executed;
        self.manifest_files += other.manifest_files;
        self.images_titled += other.images_titled;
        self.run_index_files += other.run_index_files;
        self.run_index_entries += other.run_index_entries;
        self.generation_csv_files += other.generation_csv_files;
        self.generation_csv_rows += other.generation_csv_rows;
        self.runs_in_run_registry += other.runs_in_run_registry;
    }
}

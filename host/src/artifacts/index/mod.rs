//! The artifacts index: a rebuildable, query-friendly summary of an artifacts store (a directory
//! named `_artifacts`), or of several stores combined. It reads what runs and experiments wrote,
//! never changes it, and writes only into its output directory (reference §2.16, DESIGN §4 step 12):
//! - `experiments_index.json`: one summary per experiment, plus counts, warnings and registries;
//! - `experiment_registry.csv`: one row per planned run;
//! - `image_registry.csv`: one row per titled image (generation id);
//! - `run_registry.csv`: one row per generation id found in any source.
//!
//! The steps of [`update_index`], per store:
//! 1. walk the store (sorted by name, links not followed) and pick files by name:
//!    `experiment_plan.json`, `runs_index.jsonl`, `titles_manifest.csv`, `generations.csv` and
//!    `generations_v2.csv` (same header);
//! 2. runs indexes: one record per generation id, the *latest* (greatest `created_at`, then the
//!    last seen), so a run that failed and then succeeded on resume reports success;
//! 3. titles manifests: the latest row per generation id (a re-run overwrites the image, so the
//!    latest row describes the file on disk); repeated ids are warnings;
//! 4. generations CSVs: the most complete row per generation id (ties: the later one);
//! 5. experiment plans: variants, labels (from the first run of each variant, in plan order,
//!    that has a record), counts; then the three registries.
//!
//! With one store the four files go to the output directory, built through [`refresh`]: the store
//! is indexed in id-disjoint groups, cached in `<output dir>/.cache/` ([`cache`]), so that the
//! runner's refresh after each experiment ([`update_store`]) re-reads only the sources that
//! changed; `index-artifacts` ([`update_index`]) ignores the cache and writes a fresh one. With
//! several stores, each store is indexed at once and one combined index (with `store` and
//! `store_root`) is written instead, without a cache. [`walk`] lists the stores.
//!
//! A file that cannot be read or parsed becomes a warning naming it (`warnings.<kind>`); only a
//! missing root or a failed write stops the index. Paths are written relative to the store's
//! parent (`_artifacts/experiments/...`) when they lie inside the store, else absolute, always
//! with `/` separators. Relative paths found in records are taken relative to the store's parent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan_files::{PAIRS_FILE, PLAN_FULL_FILE};
use super::run_files::GENERATIONS_HEADER;
use super::{write_atomic_deferred, write_json_deferred, ArtifactError};
use crate::clock::Timestamp;
use crate::cost::UsageTotals;

mod cache;
mod refresh;
mod walk;

pub use cache::CacheError;
pub use refresh::RefreshStats;

/// The name of an artifacts store directory.
pub const STORE_DIR_NAME: &str = "_artifacts";
/// The index of one store goes to `<store>/index`.
pub const INDEX_DIR: &str = "index";
/// A combined index goes by default to `_artifacts/index_combined`.
pub const COMBINED_INDEX_DIR: &str = "index_combined";

/// The files the index writes.
pub const EXPERIMENTS_INDEX_FILE: &str = "experiments_index.json";
pub const EXPERIMENT_REGISTRY_FILE: &str = "experiment_registry.csv";
pub const IMAGE_REGISTRY_FILE: &str = "image_registry.csv";
pub const RUN_REGISTRY_FILE: &str = "run_registry.csv";

/// The files the index reads.
const RUNS_INDEX_FILE: &str = "runs_index.jsonl";
const TITLES_MANIFEST_FILE: &str = "titles_manifest.csv";
const GENERATIONS_FILES: [&str; 2] = ["generations.csv", "generations_v2.csv"];
const RESULTS_FILE: &str = "experiment_results.json";
const RESULTS_LINES_FILE: &str = "results.jsonl";

/// Columns of `experiment_registry.csv` (a combined index puts `store, store_root` first).
pub const EXPERIMENT_REGISTRY_COLUMNS: [&str; 19] = [
    "experiment_id",
    "experiment_dir",
    "run_id",
    "generation_id",
    "variant_key",
    "run",
    "seed",
    "run_mode",
    "status",
    "created_at",
    "title_seq",
    "title",
    "image_id",
    "image_label",
    "image_path",
    "transcript_path",
    "final_prompt_path",
    "oplog_path",
    "titles_manifest_path",
];

/// Columns of `image_registry.csv`.
pub const IMAGE_REGISTRY_COLUMNS: [&str; 21] = [
    "generation_id",
    "title_seq",
    "title",
    "image_id",
    "image_label",
    "image_path",
    "created_at",
    "seed",
    "model",
    "size",
    "quality",
    "manifest_path",
    "experiment_id",
    "experiment_dir",
    "experiment_run_id",
    "variant_key",
    "planned_plan",
    "planned_variant_name",
    "run_mode",
    "status",
    "transcript_path",
];

/// Columns of `run_registry.csv`.
pub const RUN_REGISTRY_COLUMNS: [&str; 34] = [
    "generation_id",
    "created_at",
    "seed",
    "status",
    "phase",
    "run_mode",
    "experiment_id",
    "experiment_variant",
    "experiment_notes",
    "experiment_tags",
    "experiment_run_id",
    "variant_key",
    "run",
    "planned_plan",
    "planned_variant_name",
    "title_seq",
    "title",
    "image_id",
    "image_label",
    "image_path",
    "transcript_path",
    "final_prompt_path",
    "oplog_path",
    "titles_manifest_path",
    "generations_source_path",
    "selected_concepts",
    "final_image_prompt",
    "calls",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "cost_usd",
];

/// Columns a combined index puts before each registry's own.
pub const STORE_COLUMNS: [&str; 2] = ["store", "store_root"];

/// The index could not be built or written. Unreadable or malformed inputs are warnings instead.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no artifacts root given")]
    NoRoots,
    #[error("artifacts root `{}` does not exist", path.display())]
    RootMissing { path: PathBuf },
    #[error("artifacts root `{}` is not a directory", path.display())]
    RootNotDirectory { path: PathBuf },
    #[error("failed to read artifacts root `{}`", path.display())]
    RootUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("artifacts root `{}` is given twice (also as `{}`)", path.display(), first.display())]
    DuplicateRoot { path: PathBuf, first: PathBuf },
    #[error("failed to encode `{}` as CSV", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error(transparent)]
    Write(#[from] ArtifactError),
    /// A cache file broke while being read (the refresh then rebuilds without the cache).
    #[error(transparent)]
    Cache(#[from] CacheError),
}

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
    fn absorb(&mut self, other: &IndexWarnings, store: &str) {
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

/// The store an experiment output root belongs to: its nearest ancestor (itself included) named
/// `_artifacts` (ASCII case ignored). Purely lexical: give it an absolute path.
pub fn store_of(output_root: &Path) -> Option<PathBuf> {
    output_root
        .ancestors()
        .find(|dir| {
            dir.file_name()
                .is_some_and(|name| name.eq_ignore_ascii_case(STORE_DIR_NAME))
        })
        .map(Path::to_path_buf)
}

/// Refreshes the index of one store in `<artifacts_root>/index`, re-reading only the sources that
/// changed since the last refresh (the runner calls this after every experiment).
pub fn update_store(artifacts_root: &Path) -> Result<IndexReport, IndexError> {
    refresh_store(artifacts_root).map(|(report, _)| report)
}

/// [`update_store`], also saying what it reused and read.
pub fn refresh_store(artifacts_root: &Path) -> Result<(IndexReport, RefreshStats), IndexError> {
    let store = Store::open(artifacts_root)?;
    let output_dir = store.given.join(INDEX_DIR);
    let refreshed = refresh::refresh(&store, &output_dir, refresh::CacheUse::Reuse)?;
    sync_index_dirs(&output_dir);
    Ok(refreshed)
}

/// The index's files are written atomically with their directory entries synced once, here, for
/// the whole refresh (the index is a view that can always be rebuilt).
fn sync_index_dirs(output_dir: &Path) {
    super::sync_dir(&output_dir.join(cache::CACHE_DIR));
    super::sync_dir(output_dir);
}

/// Indexes every root from scratch and writes the index (combined when there are several roots)
/// into `output_dir`; the index of one root also gets a fresh cache. Relative paths are taken
/// relative to the working directory.
pub fn update_index(roots: &[PathBuf], output_dir: &Path) -> Result<IndexReport, IndexError> {
    if roots.is_empty() {
        return Err(IndexError::NoRoots);
    }
    let mut stores: Vec<Store> = Vec::with_capacity(roots.len());
    for given in roots {
        let store = Store::open(given)?;
        if let Some(first) = stores.iter().find(|other| other.root == store.root) {
            return Err(IndexError::DuplicateRoot {
                path: given.clone(),
                first: first.given.clone(),
            });
        }
        stores.push(store);
    }
    let output_dir = absolute(output_dir);
    let report = if let [store] = stores.as_slice() {
        refresh::refresh(store, &output_dir, refresh::CacheUse::Rebuild)
            .map(|(report, _)| report)?
    } else {
        label_stores(&mut stores);
        let indexes: Vec<StoreIndex> = stores.iter().map(index_store).collect();
        write_combined(&stores, &indexes, &output_dir)?
    };
    sync_index_dirs(&output_dir);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Stores and paths

/// One artifacts root being indexed.
struct Store {
    /// As given, made absolute and lexically normalised.
    given: PathBuf,
    /// Canonical.
    root: PathBuf,
    /// Short name in a combined index.
    label: String,
}

impl Store {
    fn open(given: &Path) -> Result<Store, IndexError> {
        let given = absolute(given);
        let metadata = match fs::metadata(&given) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(IndexError::RootMissing { path: given })
            }
            Err(source) => {
                return Err(IndexError::RootUnreadable {
                    path: given,
                    source,
                })
            }
        };
        if !metadata.is_dir() {
            return Err(IndexError::RootNotDirectory { path: given });
        }
        let root = fs::canonicalize(&given).map_err(|source| IndexError::RootUnreadable {
            path: given.clone(),
            source,
        })?;
        Ok(Store {
            given,
            root,
            label: String::new(),
        })
    }

    /// A path found inside the store, or recorded by a run, as the index writes it.
    fn show(&self, path: &Path) -> String {
        for root in [&self.root, &self.given] {
            if let Ok(rest) = path.strip_prefix(root) {
                return relative_to_parent(root, rest);
            }
        }
        if let Ok(canonical) = fs::canonicalize(path) {
            if let Ok(rest) = canonical.strip_prefix(&self.root) {
                return relative_to_parent(&self.root, rest);
            }
        }
        posix(path)
    }

    /// A path recorded in a runs index or a CSV (blank: none).
    fn show_recorded(&self, raw: Option<&str>) -> Option<String> {
        let raw = raw.map(str::trim).filter(|raw| !raw.is_empty())?;
        let path = Path::new(raw);
        let path = if path.is_absolute() {
            normalize(path)
        } else {
            normalize(&self.root.parent().unwrap_or(&self.root).join(path))
        };
        Some(self.show(&path))
    }

    /// The root as written in a combined index (absolute).
    fn root_text(&self) -> String {
        posix(&self.root)
    }
}

/// Labels are the root's name, or its parent's when the root is just `_artifacts`; repeats get
/// `_<position>`.
fn label_stores(stores: &mut [Store]) {
    let mut used = BTreeSet::new();
    for (position, store) in stores.iter_mut().enumerate() {
        let name = |path: &Path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        };
        let mut label = match name(&store.root) {
            Some(own) if own.eq_ignore_ascii_case(STORE_DIR_NAME) => {
                store.root.parent().and_then(name).unwrap_or(own)
            }
            Some(own) => own,
            None => posix(&store.root),
        };
        if used.contains(&label) {
            label = format!("{label}_{}", position + 1);
        }
        used.insert(label.clone());
        store.label = label;
    }
}

/// `path` made absolute against the working directory and lexically normalised.
fn absolute(path: &Path) -> PathBuf {
    normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Removes `.` and resolves `..` without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `<root name>/<rest>` with `/` separators.
fn relative_to_parent(root: &Path, rest: &Path) -> String {
    let mut parts: Vec<String> = root
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .into_iter()
        .collect();
    parts.extend(
        rest.components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

fn posix(path: &Path) -> String {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '\\' {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading one store

/// The files of interest in one store (or part of it), in walk order.
#[derive(Debug, Default)]
struct Found {
    plans: Vec<PathBuf>,
    runs_indexes: Vec<PathBuf>,
    manifests: Vec<PathBuf>,
    generations: Vec<PathBuf>,
}

impl Found {
    /// Plans, runs indexes, manifests, generations CSVs.
    fn lists(&self) -> [&Vec<PathBuf>; 4] {
        [
            &self.plans,
            &self.runs_indexes,
            &self.manifests,
            &self.generations,
        ]
    }

    fn lists_mut(&mut self) -> [&mut Vec<PathBuf>; 4] {
        [
            &mut self.plans,
            &mut self.runs_indexes,
            &mut self.manifests,
            &mut self.generations,
        ]
    }

    fn len(&self) -> usize {
        self.plans.len() + self.runs_indexes.len() + self.manifests.len() + self.generations.len()
    }

    /// Appends `other`'s files; [`Found::sort`] then restores walk order.
    fn extend(&mut self, other: &Found) {
        self.plans.extend_from_slice(&other.plans);
        self.runs_indexes.extend_from_slice(&other.runs_indexes);
        self.manifests.extend_from_slice(&other.manifests);
        self.generations.extend_from_slice(&other.generations);
    }

    /// Walk order: a sorted depth-first walk meets paths in the order of their components.
    fn sort(&mut self) {
        for list in self.lists_mut() {
            list.sort();
        }
    }
}

fn warning(path: String, line: Option<u64>, message: &dyn fmt::Display) -> IndexWarning {
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

/// A non-blank string, trimmed.
fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// A non-negative integer, from a JSON number or a string of digits.
fn int(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && *float >= 0.0 && *float < 2f64.powi(64))
                .map(|float| float as u64)
        }),
        Value::String(text) => int_text(text),
        _ => None,
    }
}

fn int_text(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

fn nonblank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Orders records of one generation id: later `created_at`, then later in the walk, wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Recency {
    created_at: String,
    seen: u64,
}

/// The kept runs-index record of one generation id.
#[derive(Debug, Clone)]
struct RunRecord {
    recency: Recency,
    created_at: Option<String>,
    seed: Option<u64>,
    status: Option<String>,
    phase: Option<String>,
    run_mode: Option<String>,
    experiment_id: Option<String>,
    variant: Option<String>,
    notes: Option<String>,
    tags: Vec<String>,
    transcript: Option<String>,
    oplog: Option<String>,
    final_prompt: Option<String>,
    image: Option<String>,
    /// The pipeline's `usage` and `cost_usd` (absent in records written before they were).
    usage: Option<UsageTotals>,
    cost_usd: Option<f64>,
}

impl RunRecord {
    fn parse(object: &serde_json::Map<String, Value>, store: &Store, seen: u64) -> RunRecord {
        let experiment = object.get("experiment").and_then(Value::as_object);
        let label = |key: &str| text(experiment.and_then(|experiment| experiment.get(key)));
        let tags = experiment
            .and_then(|experiment| experiment.get("tags"))
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(|tag| text(Some(tag))).collect())
            .unwrap_or_default();
        let artifacts = object.get("artifacts").and_then(Value::as_object);
        let artifact = |key: &str| {
            store.show_recorded(
                artifacts
                    .and_then(|artifacts| artifacts.get(key))
                    .and_then(Value::as_str),
            )
        };
        let created_at = text(object.get("created_at"));
        RunRecord {
            recency: Recency {
                created_at: created_at.clone().unwrap_or_default(),
                seen,
            },
            created_at,
            seed: int(object.get("seed")),
            status: text(object.get("status")),
            phase: text(object.get("phase")),
            run_mode: text(object.get("run_mode")),
            experiment_id: label("id"),
            variant: label("variant"),
            notes: label("notes"),
            tags,
            transcript: artifact("transcript"),
            oplog: artifact("oplog"),
            final_prompt: artifact("final_prompt"),
            image: artifact("image"),
            usage: object
                .get("usage")
                .and_then(|usage| UsageTotals::deserialize(usage).ok()),
            cost_usd: object.get("cost_usd").and_then(Value::as_f64),
        }
    }
}

/// The kept titles-manifest row of one generation id.
#[derive(Debug, Clone)]
struct ManifestRow {
    recency: Recency,
    manifest_path: String,
    title_seq: Option<u64>,
    title: Option<String>,
    generation_id: String,
    image_path: Option<String>,
    created_at: Option<String>,
    model: Option<String>,
    size: Option<String>,
    quality: Option<String>,
    seed: Option<u64>,
}

/// The kept generations-CSV row of one generation id.
#[derive(Debug, Clone)]
struct GenerationRow {
    seen: u64,
    source: String,
    selected_concepts: Option<String>,
    final_image_prompt: Option<String>,
    image_path: Option<String>,
    created_at: Option<String>,
    seed: Option<u64>,
}

impl GenerationRow {
    fn completeness(&self) -> usize {
        [
            &self.created_at,
            &self.image_path,
            &self.final_image_prompt,
            &self.selected_concepts,
        ]
        .iter()
        .filter(|field| field.is_some())
        .count()
            + usize::from(self.seed.is_some())
    }
}

/// What the runs indexes, manifests and generations CSVs of one store say, by generation id.
#[derive(Default)]
struct Sources {
    runs: BTreeMap<String, RunRecord>,
    manifests: BTreeMap<String, ManifestRow>,
    generations: BTreeMap<String, GenerationRow>,
}

/// A counter over everything read in one store, for "later in the walk".
struct Seen(u64);

impl Seen {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn read_runs_index(
    path: &Path,
    store: &Store,
    sources: &mut Sources,
    seen: &mut Seen,
    warnings: &mut IndexWarnings,
) {
    let shown = store.show(path);
    let content = match fs::read_to_string(path) {
        Ok(content) => content,
        Err(error) => {
            return warnings
                .runs_index_errors
                .push(warning(shown, None, &error))
        }
    };
    for (number, line) in (1_u64..).zip(content.lines()) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |message: &dyn fmt::Display| warning(shown.clone(), Some(number), message);
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                warnings
                    .runs_index_errors
                    .push(at(&"expected a JSON object"));
                continue;
            }
            Err(error) => {
                warnings.runs_index_errors.push(at(&error));
                continue;
            }
        };
        let Some(generation_id) = text(object.get("generation_id")) else {
            warnings
                .runs_index_errors
                .push(at(&"the record has no `generation_id`"));
            continue;
        };
        let record = RunRecord::parse(&object, store, seen.next());
        match sources.runs.get(&generation_id) {
            Some(kept) if kept.recency > record.recency => {}
            _ => {
                sources.runs.insert(generation_id, record);
            }
        }
    }
}

/// A CSV file's header and a reader positioned at its first record.
type CsvFile = (Vec<String>, csv::Reader<std::io::Cursor<Vec<u8>>>);

/// Reads a CSV's header (byte-order mark removed) and records; `None` for an empty file.
fn read_csv(path: &Path) -> Result<Option<CsvFile>, String> {
    let bytes = fs::read(path).map_err(|error| error.to_string())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::Cursor::new(bytes));
    let header = reader.headers().map_err(|error| error.to_string())?;
    let header = header
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    Ok(Some((header, reader)))
}

fn csv_line(record: &csv::StringRecord) -> Option<u64> {
    record.position().map(csv::Position::line)
}

fn read_manifest(
    path: &Path,
    store: &Store,
    sources: &mut Sources,
    seen: &mut Seen,
    warnings: &mut IndexWarnings,
) {
    let shown = store.show(path);
    let (header, mut reader) = match read_csv(path) {
        Ok(Some(csv)) => csv,
        Ok(None) => return,
        Err(message) => {
            return warnings
                .titles_manifest_errors
                .push(warning(shown, None, &message))
        }
    };
    let column = |name: &str| header.iter().position(|found| found == name);
    let Some(id_column) = column("generation_id") else {
        let message = format!("no `generation_id` column (header `{}`)", header.join(","));
        return warnings
            .titles_manifest_errors
            .push(warning(shown, Some(1), &message));
    };
    let columns = [
        "seq",
        "title",
        "image_path",
        "created_at",
        "model",
        "size",
        "quality",
        "seed",
    ]
    .map(column);
    let duplicates = &mut warnings.titles_manifest_duplicate_generation_ids;
    for_each_row(
        &mut reader,
        &shown,
        id_column,
        &mut warnings.titles_manifest_errors,
        |generation_id, record| {
            let field = |index: Option<usize>| nonblank(index.and_then(|index| record.get(index)));
            let [seq, title, image_path, created_at, model, size, quality, seed] =
                columns.map(field);
            let row = ManifestRow {
                recency: Recency {
                    created_at: created_at.clone().unwrap_or_default(),
                    seen: seen.next(),
                },
                manifest_path: shown.clone(),
                title_seq: seq.as_deref().and_then(int_text),
                title,
                generation_id: generation_id.clone(),
                image_path: store.show_recorded(image_path.as_deref()),
                created_at,
                model,
                size,
                quality,
                seed: seed.as_deref().and_then(int_text),
            };
            if let Some(kept) = sources.manifests.get(&generation_id) {
                let message = format!(
                "generation id `{generation_id}` has several manifest rows (also in `{}`); the latest is used",
                kept.manifest_path
            );
                duplicates.push(warning(shown.clone(), csv_line(record), &message));
                if kept.recency > row.recency {
                    return;
                }
            }
            sources.manifests.insert(generation_id, row);
        },
    );
}

/// Calls `each` with every row of a CSV that has a `generation_id` (in column `id_column`); a row
/// that cannot be read or has no id becomes a warning in `errors`, and an I/O error ends the file.
fn for_each_row(
    reader: &mut csv::Reader<std::io::Cursor<Vec<u8>>>,
    shown: &str,
    id_column: usize,
    errors: &mut Vec<IndexWarning>,
    mut each: impl FnMut(String, &csv::StringRecord),
) {
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(csv::Position::line);
                let fatal = matches!(error.kind(), csv::ErrorKind::Io(_));
                errors.push(warning(shown.to_owned(), line, &error));
                if fatal {
                    break;
                }
                continue;
            }
        };
        match nonblank(record.get(id_column)) {
            Some(generation_id) => each(generation_id, &record),
            None => errors.push(warning(
                shown.to_owned(),
                csv_line(&record),
                &"the row has no `generation_id`",
            )),
        }
    }
}

/// `Created At` and `created_at` match: lowercase, runs of other characters become one `_`.
fn normalize_header(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

fn read_generations(
    path: &Path,
    store: &Store,
    sources: &mut Sources,
    seen: &mut Seen,
    warnings: &mut IndexWarnings,
) {
    let shown = store.show(path);
    let (header, mut reader) = match read_csv(path) {
        Ok(Some(csv)) => csv,
        Ok(None) => return,
        Err(message) => {
            return warnings
                .generation_csv_errors
                .push(warning(shown, None, &message))
        }
    };
    let normalized: Vec<String> = header.iter().map(|name| normalize_header(name)).collect();
    let columns: Vec<Option<usize>> = GENERATIONS_HEADER
        .iter()
        .map(|name| normalized.iter().position(|found| found == name))
        .collect();
    if columns.iter().any(Option::is_none) {
        let message = format!(
            "unexpected header `{}` (expected `{}`; a legacy generations CSV is not read)",
            header.join(","),
            GENERATIONS_HEADER.join(",")
        );
        return warnings
            .generation_csv_errors
            .push(warning(shown, Some(1), &message));
    }
    let columns: Vec<usize> = columns.into_iter().flatten().collect();
    for_each_row(
        &mut reader,
        &shown,
        columns[0],
        &mut warnings.generation_csv_errors,
        |generation_id, record| {
            let field = |position: usize| nonblank(record.get(columns[position]));
            let row = GenerationRow {
                seen: seen.next(),
                source: shown.clone(),
                selected_concepts: field(1),
                final_image_prompt: field(2),
                image_path: store.show_recorded(field(3).as_deref()),
                created_at: field(4),
                seed: field(5).as_deref().and_then(int_text),
            };
            match sources.generations.get(&generation_id) {
                Some(kept) if (kept.completeness(), kept.seen) > (row.completeness(), row.seen) => {
                }
                _ => {
                    sources.generations.insert(generation_id, row);
                }
            }
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Experiments and registries

/// One planned run, as the registries need it. The fields every run of a plan shares are shared
/// (a plan of 200,000 runs holds them once).
#[derive(Debug, Clone)]
struct Planned {
    experiment_id: Arc<str>,
    experiment_dir: Arc<str>,
    plan_path: Arc<str>,
    run_id: Option<String>,
    variant_key: String,
    run: Option<u64>,
    seed: Option<u64>,
    plan: Option<String>,
    variant_name: Option<String>,
    run_mode: Option<Arc<str>>,
}

/// A plan name or variant name: one when the variant agrees, else all of them (sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn of(names: BTreeSet<String>) -> Option<OneOrMany> {
        match names.len() {
            0 => None,
            1 => names.into_iter().next().map(OneOrMany::One),
            _ => Some(OneOrMany::Many(names.into_iter().collect())),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VariantSummary {
    key: String,
    planned_plan: Option<OneOrMany>,
    planned_variant_name: Option<OneOrMany>,
    /// Labels from the first run of the variant, in plan order, that has a runs-index record.
    experiment_variant: Option<String>,
    notes: Option<String>,
    tags: Vec<String>,
    planned_runs: usize,
    executed_runs: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExperimentSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_root: Option<String>,
    schema_version: u32,
    experiment_id: String,
    experiment_name: Option<String>,
    experiment_dir: String,
    plan_path: String,
    plan_full_path: Option<String>,
    results_path: Option<String>,
    results_jsonl_path: Option<String>,
    pairs_path: Option<String>,
    runs_index_path: Option<String>,
    titles_manifest_path: Option<String>,
    run_mode: Option<String>,
    base_seed: Option<u64>,
    variant_keys: Vec<String>,
    variants: Vec<VariantSummary>,
    planned_runs: usize,
    /// Planned generation ids with a runs-index record (retries count once).
    executed_runs: usize,
    /// Planned generation ids whose latest record says `success`.
    succeeded_runs: usize,
    /// Planned generation ids with a titles-manifest row.
    images: usize,
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn image_id(seq: Option<u64>) -> String {
    seq.map(|seq| format!("#{seq:03}")).unwrap_or_default()
}

fn image_label(seq: Option<u64>, title: &Option<String>) -> String {
    match (seq, title) {
        (Some(seq), Some(title)) => format!("#{seq:03} - {title}"),
        (Some(seq), None) => format!("#{seq:03}"),
        (None, Some(title)) => title.clone(),
        (None, None) => String::new(),
    }
}

fn collapse(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|text| !text.is_empty())
}

/// One row of `experiment_registry.csv`.
#[derive(Debug, Clone)]
struct ExperimentRow {
    planned: Planned,
    generation_id: String,
    status: String,
    created_at: Option<String>,
    title_seq: Option<u64>,
    title: Option<String>,
    image_path: Option<String>,
    transcript_path: Option<String>,
    final_prompt_path: Option<String>,
    oplog_path: Option<String>,
    titles_manifest_path: Option<String>,
}

impl ExperimentRow {
    fn cells(&self) -> Vec<String> {
        let planned = &self.planned;
        vec![
            planned.experiment_id.to_string(),
            planned.experiment_dir.to_string(),
            opt(&planned.run_id),
            self.generation_id.clone(),
            planned.variant_key.clone(),
            opt(&planned.run),
            opt(&planned.seed),
            opt(&planned.run_mode),
            self.status.clone(),
            opt(&self.created_at),
            opt(&self.title_seq),
            opt(&self.title),
            image_id(self.title_seq),
            image_label(self.title_seq, &self.title),
            opt(&self.image_path),
            opt(&self.transcript_path),
            opt(&self.final_prompt_path),
            opt(&self.oplog_path),
            opt(&self.titles_manifest_path),
        ]
    }

    fn sort_key(&self) -> (&str, &str, u64, &str) {
        let planned = &self.planned;
        (
            &planned.experiment_dir,
            &planned.variant_key,
            planned.run.unwrap_or(0),
            &self.generation_id,
        )
    }
}

/// One row of `image_registry.csv`.
#[derive(Debug, Clone)]
struct ImageRow {
    manifest: ManifestRow,
    seed: Option<u64>,
    planned: Option<Planned>,
    experiment_id: Option<String>,
    run_mode: Option<String>,
    status: Option<String>,
    transcript_path: Option<String>,
}

impl ImageRow {
    fn cells(&self) -> Vec<String> {
        let row = &self.manifest;
        let planned = self.planned.as_ref();
        vec![
            row.generation_id.clone(),
            opt(&row.title_seq),
            opt(&row.title),
            image_id(row.title_seq),
            image_label(row.title_seq, &row.title),
            opt(&row.image_path),
            opt(&row.created_at),
            opt(&self.seed),
            opt(&row.model),
            opt(&row.size),
            opt(&row.quality),
            row.manifest_path.clone(),
            opt(&self.experiment_id),
            planned
                .map(|planned| planned.experiment_dir.to_string())
                .unwrap_or_default(),
            planned
                .map(|planned| opt(&planned.run_id))
                .unwrap_or_default(),
            planned
                .map(|planned| planned.variant_key.clone())
                .unwrap_or_default(),
            planned
                .map(|planned| opt(&planned.plan))
                .unwrap_or_default(),
            planned
                .map(|planned| opt(&planned.variant_name))
                .unwrap_or_default(),
            opt(&self.run_mode),
            opt(&self.status),
            opt(&self.transcript_path),
        ]
    }

    fn sort_key(&self) -> (&str, &str, u64, &str) {
        let row = &self.manifest;
        (
            row.created_at.as_deref().unwrap_or(""),
            &row.manifest_path,
            row.title_seq.unwrap_or(0),
            &row.generation_id,
        )
    }
}

/// What the run registry shows of a run's plan: not all of [`Planned`], whose experiment-wide
/// fields the row has already, since a registry of 200,000 planned runs holds one per row.
#[derive(Debug, Clone)]
struct PlannedLabels {
    run_id: Option<String>,
    variant_key: String,
    run: Option<u64>,
    plan: Option<String>,
    variant_name: Option<String>,
}

impl PlannedLabels {
    fn of(planned: &Planned) -> PlannedLabels {
        PlannedLabels {
            run_id: planned.run_id.clone(),
            variant_key: planned.variant_key.clone(),
            run: planned.run,
            plan: planned.plan.clone(),
            variant_name: planned.variant_name.clone(),
        }
    }
}

/// One row of `run_registry.csv`.
#[derive(Debug, Clone)]
struct RunRow {
    generation_id: String,
    created_at: Option<String>,
    seed: Option<u64>,
    status: Option<String>,
    phase: Option<String>,
    run_mode: Option<String>,
    experiment_id: Option<String>,
    experiment_variant: Option<String>,
    experiment_notes: Option<String>,
    experiment_tags: Vec<String>,
    planned: Option<PlannedLabels>,
    /// Boxed, and absent for a run that was only planned: most rows of a large dry run.
    files: Option<Box<RunFiles>>,
}

/// What a run left behind: its title, files, generation record, usage and cost.
#[derive(Debug, Clone, Default)]
struct RunFiles {
    title_seq: Option<u64>,
    title: Option<String>,
    image_path: Option<String>,
    transcript_path: Option<String>,
    final_prompt_path: Option<String>,
    oplog_path: Option<String>,
    titles_manifest_path: Option<String>,
    generations_source_path: Option<String>,
    selected_concepts: Option<String>,
    final_image_prompt: Option<String>,
    usage: Option<UsageTotals>,
    cost_usd: Option<f64>,
}

impl RunRow {
    fn cells(&self) -> Vec<String> {
        let planned = self.planned.as_ref();
        let nothing = RunFiles::default();
        let files = self.files.as_deref().unwrap_or(&nothing);
        let mut cells = vec![
            self.generation_id.clone(),
            opt(&self.created_at),
            opt(&self.seed),
            opt(&self.status),
            opt(&self.phase),
            opt(&self.run_mode),
            opt(&self.experiment_id),
            opt(&self.experiment_variant),
            opt(&self.experiment_notes),
            self.experiment_tags.join("|"),
            planned
                .map(|planned| opt(&planned.run_id))
                .unwrap_or_default(),
            planned
                .map(|planned| planned.variant_key.clone())
                .unwrap_or_default(),
            planned.map(|planned| opt(&planned.run)).unwrap_or_default(),
            planned
                .map(|planned| opt(&planned.plan))
                .unwrap_or_default(),
            planned
                .map(|planned| opt(&planned.variant_name))
                .unwrap_or_default(),
            opt(&files.title_seq),
            opt(&files.title),
            image_id(files.title_seq),
            image_label(files.title_seq, &files.title),
            opt(&files.image_path),
            opt(&files.transcript_path),
            opt(&files.final_prompt_path),
            opt(&files.oplog_path),
            opt(&files.titles_manifest_path),
            opt(&files.generations_source_path),
            opt(&files.selected_concepts),
            opt(&files.final_image_prompt),
        ];
        let usage = files.usage.as_ref();
        let count = |get: fn(&UsageTotals) -> u64| usage.map(|u| get(u).to_string());
        cells.extend(
            [
                count(|u| u.calls),
                count(|u| u.input_tokens),
                count(|u| u.cached_input_tokens),
                count(|u| u.output_tokens),
                count(|u| u.reasoning_tokens),
                count(|u| u.images),
                files.cost_usd.map(|usd| usd.to_string()),
            ]
            .map(|cell| cell.unwrap_or_default()),
        );
        cells
    }

    fn sort_key(&self) -> (&str, &str) {
        (
            self.created_at.as_deref().unwrap_or(""),
            &self.generation_id,
        )
    }
}

/// Everything one store contributes to an index.
struct StoreIndex {
    experiments: Vec<ExperimentSummary>,
    experiment_rows: Vec<ExperimentRow>,
    image_rows: Vec<ImageRow>,
    run_rows: Vec<RunRow>,
    counts: IndexCounts,
    warnings: IndexWarnings,
}

/// Indexes a whole store at once (for a combined index).
fn index_store(store: &Store) -> StoreIndex {
    let walked = walk::walk(store, None, &cache::Trust::nothing());
    let mut index = index_files(store, &walked.found);
    index.warnings.walk_errors = walked.walk_errors;
    index
}

/// Indexes `found`: the whole store, or files that share no generation id with the rest of it
/// (see [`refresh`]). Walk errors are the caller's.
fn index_files(store: &Store, found: &Found) -> StoreIndex {
    let mut warnings = IndexWarnings::default();
    let mut sources = Sources::default();
    let mut seen = Seen(0);
    for path in &found.runs_indexes {
        read_runs_index(path, store, &mut sources, &mut seen, &mut warnings);
    }
    for path in &found.manifests {
        read_manifest(path, store, &mut sources, &mut seen, &mut warnings);
    }
    for path in &found.generations {
        read_generations(path, store, &mut sources, &mut seen, &mut warnings);
    }

    // Experiments, in walk order; the first plan of a generation id wins.
    let mut experiments = Vec::new();
    let mut experiment_rows: Vec<ExperimentRow> = Vec::new();
    // Each generation id's first planned row, by position in `experiment_rows` before sorting
    // (a plan of 200,000 runs is indexed without a second copy of its runs).
    let mut first_row_of_id: BTreeMap<String, usize> = BTreeMap::new();
    for path in &found.plans {
        let Some((summary, runs)) = read_plan(path, store, &sources, &mut warnings) else {
            continue;
        };
        for run in runs {
            if let Some(&first) = first_row_of_id.get(&run.generation_id) {
                let message = format!(
                    "generation id `{}` is also planned in `{}`",
                    run.generation_id, experiment_rows[first].planned.plan_path
                );
                warnings.experiment_plan_errors.push(warning(
                    run.planned.plan_path.to_string(),
                    None,
                    &message,
                ));
            } else {
                first_row_of_id.insert(run.generation_id.clone(), experiment_rows.len());
            }
            experiment_rows.push(experiment_row(run, &sources));
        }
        experiments.push(summary);
    }
    experiments.sort_by(|a, b| b.experiment_dir.cmp(&a.experiment_dir));
    let planned_by_id = |id: &str| {
        first_row_of_id
            .get(id)
            .map(|&row| &experiment_rows[row].planned)
    };

    let mut image_rows: Vec<ImageRow> = sources
        .manifests
        .values()
        .map(|manifest| {
            let planned = planned_by_id(&manifest.generation_id).cloned();
            let record = sources.runs.get(&manifest.generation_id);
            ImageRow {
                seed: manifest
                    .seed
                    .or_else(|| record.and_then(|record| record.seed))
                    .or_else(|| planned.as_ref().and_then(|planned| planned.seed)),
                experiment_id: planned
                    .as_ref()
                    .map(|planned| planned.experiment_id.to_string())
                    .or_else(|| record.and_then(|record| record.experiment_id.clone())),
                run_mode: record
                    .and_then(|record| record.run_mode.clone())
                    .or_else(|| {
                        planned
                            .as_ref()
                            .and_then(|planned| planned.run_mode.as_deref().map(str::to_owned))
                    }),
                status: record.and_then(|record| record.status.clone()),
                transcript_path: record.and_then(|record| record.transcript.clone()),
                planned,
                manifest: manifest.clone(),
            }
        })
        .collect();
    // Every sort key ends with the generation id, which is unique per list (experiment rows
    // share one only for an id planned twice in one plan, rows alike but for that), so an
    // unstable sort gives the stable order without a buffer of half the rows.
    image_rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    let ids: BTreeSet<&String> = sources
        .runs
        .keys()
        .chain(sources.manifests.keys())
        .chain(sources.generations.keys())
        .chain(first_row_of_id.keys())
        .collect();
    let mut run_rows: Vec<RunRow> = ids
        .into_iter()
        .map(|id| run_row(id, planned_by_id(id), &sources))
        .collect();
    run_rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    drop(first_row_of_id);
    experiment_rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    let counts = IndexCounts {
        stores: 1,
        experiments: experiments.len(),
        experiment_runs_planned: experiment_rows.len(),
        experiment_runs_executed: experiments
            .iter()
            .map(|experiment| experiment.executed_runs)
            .sum(),
        manifest_files: found.manifests.len(),
        images_titled: image_rows.len(),
        run_index_files: found.runs_indexes.len(),
        run_index_entries: sources.runs.len(),
        generation_csv_files: found.generations.len(),
        generation_csv_rows: sources.generations.len(),
        runs_in_run_registry: run_rows.len(),
    };
    StoreIndex {
        experiments,
        experiment_rows,
        image_rows,
        run_rows,
        counts,
        warnings,
    }
}

/// A planned run and its generation id.
#[derive(Debug, Clone)]
struct PlannedRun {
    generation_id: String,
    planned: Planned,
}

/// The fields of `experiment_plan.json` the index reads. Everything else is skipped while the
/// file is parsed, so a plan of 200,000 runs is never held as a JSON tree; each field is read
/// leniently (a wrong type becomes a missing value or a warning, as for the other sources).
#[derive(serde::Deserialize)]
struct PlanFields {
    experiment_id: Option<Value>,
    experiment_name: Option<Value>,
    run_mode: Option<Value>,
    base_seed: Option<Value>,
    #[serde(default)]
    planned_runs: PlannedRunsField,
}

/// `planned_runs`: a list of entries (`None` for an entry that is not an object), or not.
#[derive(Default)]
enum PlannedRunsField {
    #[default]
    Missing,
    NotAList,
    List(Vec<Option<PlanEntry>>),
}

/// The fields of one planned run the index reads.
#[derive(serde::Deserialize)]
struct PlanEntry {
    generation_id: Option<Value>,
    run: Option<Value>,
    variant: Option<Value>,
    seed: Option<Value>,
    plan: Option<Value>,
    variant_name: Option<Value>,
}

impl<'de> serde::Deserialize<'de> for PlannedRunsField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// An entry, or `None` for anything that is not an object.
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum EntryOrOther {
            Entry(Box<PlanEntry>),
            Other(serde::de::IgnoredAny),
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PlannedRunsField;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a list of planned runs")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PlannedRunsField, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<EntryOrOther>()? {
                    entries.push(match entry {
                        EntryOrOther::Entry(entry) => Some(*entry),
                        EntryOrOther::Other(_) => None,
                    });
                }
                Ok(PlannedRunsField::List(entries))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PlannedRunsField, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_bool<E>(self, _: bool) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_i64<E>(self, _: i64) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_u64<E>(self, _: u64) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_f64<E>(self, _: f64) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_str<E>(self, _: &str) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_unit<E>(self) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Reads one `experiment_plan.json`: its summary and its planned runs, in plan order.
fn read_plan(
    path: &Path,
    store: &Store,
    sources: &Sources,
    warnings: &mut IndexWarnings,
) -> Option<(ExperimentSummary, Vec<PlannedRun>)> {
    let shown = store.show(path);
    let plan = match fs::File::open(path)
        .map_err(|error| error.to_string())
        .and_then(|file| {
            let reader = std::io::BufReader::with_capacity(1 << 16, file);
            serde_json::from_reader::<_, PlanFields>(reader).map_err(|error| error.to_string())
        }) {
        Ok(plan) => plan,
        Err(message) => {
            warnings
                .experiment_plan_errors
                .push(warning(shown, None, &message));
            return None;
        }
    };
    let dir = path.parent().unwrap_or(&store.root);
    let experiment_dir = store.show(dir);
    let experiment_id = text(plan.experiment_id.as_ref()).unwrap_or_else(|| {
        dir.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let run_mode = text(plan.run_mode.as_ref());

    let entries: &[Option<PlanEntry>] = match &plan.planned_runs {
        PlannedRunsField::List(entries) => entries,
        PlannedRunsField::Missing | PlannedRunsField::NotAList => {
            let message =
                "`planned_runs` is missing or not a list; the experiment is indexed without runs";
            warnings
                .experiment_plan_errors
                .push(warning(shown.clone(), None, &message));
            &[]
        }
    };
    let shared_experiment_id: Arc<str> = experiment_id.as_str().into();
    let shared_experiment_dir: Arc<str> = experiment_dir.as_str().into();
    let shared_plan_path: Arc<str> = shown.as_str().into();
    let shared_run_mode: Option<Arc<str>> = run_mode.as_deref().map(Arc::from);
    let mut runs: Vec<PlannedRun> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some((entry, generation_id)) = entry
            .as_ref()
            .and_then(|entry| Some((entry, text(entry.generation_id.as_ref())?)))
        else {
            let message = format!("`planned_runs[{index}]` has no `generation_id`; skipped");
            warnings
                .experiment_plan_errors
                .push(warning(shown.clone(), None, &message));
            continue;
        };
        let run = int(entry.run.as_ref());
        let variant_key =
            text(entry.variant.as_ref()).unwrap_or_else(|| variant_of_id(&generation_id));
        runs.push(PlannedRun {
            planned: Planned {
                experiment_id: Arc::clone(&shared_experiment_id),
                experiment_dir: Arc::clone(&shared_experiment_dir),
                plan_path: Arc::clone(&shared_plan_path),
                run_id: run.map(|run| format!("{variant_key}{run}")),
                variant_key,
                run,
                seed: int(entry.seed.as_ref()),
                plan: text(entry.plan.as_ref()),
                variant_name: text(entry.variant_name.as_ref()),
                run_mode: shared_run_mode.clone(),
            },
            generation_id,
        });
    }

    let mut variant_keys: Vec<String> = Vec::new();
    for run in &runs {
        if !variant_keys.contains(&run.planned.variant_key) {
            variant_keys.push(run.planned.variant_key.clone());
        }
    }
    let variants = variant_keys
        .iter()
        .map(|key| {
            let of_variant: Vec<&PlannedRun> = runs
                .iter()
                .filter(|run| &run.planned.variant_key == key)
                .collect();
            let exemplar = of_variant
                .iter()
                .find_map(|run| sources.runs.get(&run.generation_id));
            VariantSummary {
                key: key.clone(),
                planned_plan: OneOrMany::of(
                    of_variant
                        .iter()
                        .filter_map(|run| run.planned.plan.clone())
                        .collect(),
                ),
                planned_variant_name: OneOrMany::of(
                    of_variant
                        .iter()
                        .filter_map(|run| run.planned.variant_name.clone())
                        .collect(),
                ),
                experiment_variant: exemplar.and_then(|record| record.variant.clone()),
                notes: exemplar.and_then(|record| record.notes.clone()),
                tags: exemplar
                    .map(|record| record.tags.clone())
                    .unwrap_or_default(),
                planned_runs: of_variant.len(),
                executed_runs: of_variant
                    .iter()
                    .filter(|run| sources.runs.contains_key(&run.generation_id))
                    .count(),
            }
        })
        .collect();

    let present = side_files(dir);
    let existing = |which: usize| present[which].then(|| store.show(&dir.join(SIDE_FILES[which])));
    let ids: BTreeSet<&str> = runs.iter().map(|run| run.generation_id.as_str()).collect();
    let summary = ExperimentSummary {
        store: None,
        store_root: None,
        schema_version: 1,
        experiment_id,
        experiment_name: text(plan.experiment_name.as_ref()),
        experiment_dir,
        plan_path: shown,
        plan_full_path: existing(0),
        results_path: existing(1),
        results_jsonl_path: existing(2),
        pairs_path: existing(3),
        runs_index_path: existing(4),
        titles_manifest_path: existing(5),
        run_mode,
        base_seed: int(plan.base_seed.as_ref()),
        variant_keys,
        variants,
        planned_runs: runs.len(),
        executed_runs: ids
            .iter()
            .filter(|id| sources.runs.contains_key(**id))
            .count(),
        succeeded_runs: ids
            .iter()
            .filter(|id| {
                sources
                    .runs
                    .get(**id)
                    .is_some_and(|record| record.status.as_deref() == Some("success"))
            })
            .count(),
        images: ids
            .iter()
            .filter(|id| sources.manifests.contains_key(**id))
            .count(),
    };
    Some((summary, runs))
}

/// Files next to a plan that its summary points to when they exist, in the summary's order
/// (`plan_full_path`, `results_path`, `results_jsonl_path`, `pairs_path`, `runs_index_path`,
/// `titles_manifest_path`).
const SIDE_FILES: [&str; 6] = [
    PLAN_FULL_FILE,
    RESULTS_FILE,
    RESULTS_LINES_FILE,
    PAIRS_FILE,
    "logs/runs_index.jsonl",
    "generated/titles_manifest.csv",
];

/// Which of [`SIDE_FILES`] exist next to a plan in `dir` (the cache compares them too).
fn side_files(dir: &Path) -> [bool; 6] {
    SIDE_FILES.map(|relative| dir.join(relative).is_file())
}

/// The variant of a generation id `<variant><run>_<hex>` when the plan does not say.
fn variant_of_id(generation_id: &str) -> String {
    let head = generation_id.split('_').next().unwrap_or(generation_id);
    let variant = head.trim_end_matches(|c: char| c.is_ascii_digit());
    if variant.is_empty() { head } else { variant }.to_owned()
}

fn experiment_row(run: PlannedRun, sources: &Sources) -> ExperimentRow {
    let PlannedRun {
        generation_id,
        planned,
    } = run;
    let record = sources.runs.get(&generation_id);
    let manifest = sources.manifests.get(&generation_id);
    ExperimentRow {
        status: record
            .and_then(|record| record.status.clone())
            .unwrap_or_else(|| "planned".to_owned()),
        created_at: record
            .and_then(|record| record.created_at.clone())
            .or_else(|| manifest.and_then(|manifest| manifest.created_at.clone())),
        title_seq: manifest.and_then(|manifest| manifest.title_seq),
        title: manifest.and_then(|manifest| manifest.title.clone()),
        image_path: manifest
            .and_then(|manifest| manifest.image_path.clone())
            .or_else(|| record.and_then(|record| record.image.clone())),
        transcript_path: record.and_then(|record| record.transcript.clone()),
        final_prompt_path: record.and_then(|record| record.final_prompt.clone()),
        oplog_path: record.and_then(|record| record.oplog.clone()),
        titles_manifest_path: manifest.map(|manifest| manifest.manifest_path.clone()),
        generation_id,
        planned,
    }
}

fn run_row(generation_id: &str, planned: Option<&Planned>, sources: &Sources) -> RunRow {
    let record = sources.runs.get(generation_id);
    let manifest = sources.manifests.get(generation_id);
    let generated = sources.generations.get(generation_id);
    RunRow {
        generation_id: generation_id.to_owned(),
        created_at: record
            .and_then(|record| record.created_at.clone())
            .or_else(|| manifest.and_then(|manifest| manifest.created_at.clone()))
            .or_else(|| generated.and_then(|generated| generated.created_at.clone())),
        seed: record
            .and_then(|record| record.seed)
            .or_else(|| generated.and_then(|generated| generated.seed))
            .or_else(|| planned.and_then(|planned| planned.seed))
            .or_else(|| manifest.and_then(|manifest| manifest.seed)),
        status: record
            .and_then(|record| record.status.clone())
            .or_else(|| planned.map(|_| "planned".to_owned())),
        phase: record.and_then(|record| record.phase.clone()),
        run_mode: record
            .and_then(|record| record.run_mode.clone())
            .or_else(|| planned.and_then(|planned| planned.run_mode.as_deref().map(str::to_owned))),
        experiment_id: planned
            .map(|planned| planned.experiment_id.to_string())
            .or_else(|| record.and_then(|record| record.experiment_id.clone())),
        experiment_variant: record.and_then(|record| record.variant.clone()),
        experiment_notes: record.and_then(|record| record.notes.clone()),
        experiment_tags: record.map(|record| record.tags.clone()).unwrap_or_default(),
        planned: planned.map(PlannedLabels::of),
        files: (record.is_some() || manifest.is_some() || generated.is_some())
            .then(|| Box::new(run_files(record, manifest, generated))),
    }
}

/// The files part of [`run_row`], from the records that mention the run.
fn run_files(
    record: Option<&RunRecord>,
    manifest: Option<&ManifestRow>,
    generated: Option<&GenerationRow>,
) -> RunFiles {
    RunFiles {
        title_seq: manifest.and_then(|manifest| manifest.title_seq),
        title: manifest.and_then(|manifest| manifest.title.clone()),
        image_path: manifest
            .and_then(|manifest| manifest.image_path.clone())
            .or_else(|| record.and_then(|record| record.image.clone()))
            .or_else(|| generated.and_then(|generated| generated.image_path.clone())),
        transcript_path: record.and_then(|record| record.transcript.clone()),
        final_prompt_path: record.and_then(|record| record.final_prompt.clone()),
        oplog_path: record.and_then(|record| record.oplog.clone()),
        titles_manifest_path: manifest.map(|manifest| manifest.manifest_path.clone()),
        generations_source_path: generated.map(|generated| generated.source.clone()),
        selected_concepts: collapse(
            &generated.and_then(|generated| generated.selected_concepts.clone()),
        ),
        final_image_prompt: collapse(
            &generated.and_then(|generated| generated.final_image_prompt.clone()),
        ),
        usage: record.and_then(|record| record.usage),
        cost_usd: record.and_then(|record| record.cost_usd),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

#[derive(Debug, Serialize)]
struct Registries {
    experiment_registry_csv: String,
    image_registry_csv: String,
    run_registry_csv: String,
}

#[derive(Debug, Serialize)]
struct SingleIndex<'a> {
    schema_version: u32,
    kind: &'static str,
    generated_at: String,
    artifacts_root: String,
    output_dir: String,
    experiments: &'a [ExperimentSummary],
    counts: &'a IndexCounts,
    warnings: &'a IndexWarnings,
    registries: Registries,
}

#[derive(Debug, Serialize)]
struct StoreEntry<'a> {
    store: &'a str,
    store_root: String,
    counts: &'a IndexCounts,
}

#[derive(Debug, Serialize)]
struct CombinedIndex<'a> {
    schema_version: u32,
    kind: &'static str,
    generated_at: String,
    output_dir: String,
    stores: Vec<StoreEntry<'a>>,
    experiments: Vec<ExperimentSummary>,
    counts: &'a IndexCounts,
    warnings: &'a IndexWarnings,
    registries: Registries,
}

/// Encodes a header and rows as CSV, then writes the file atomically.
fn write_csv(
    path: &Path,
    columns: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<(), IndexError> {
    let csv_error = |source| IndexError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(columns).map_err(csv_error)?;
    for row in rows {
        writer.write_record(&row).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv_error(error.into_error().into()))?;
    write_atomic_deferred(path, &bytes)?;
    Ok(())
}

fn registry_paths(output_dir: &Path) -> [PathBuf; 3] {
    [
        EXPERIMENT_REGISTRY_FILE,
        IMAGE_REGISTRY_FILE,
        RUN_REGISTRY_FILE,
    ]
    .map(|name| output_dir.join(name))
}

/// Writes `experiments_index.json` of one store, after its registries (see [`refresh`]).
fn write_document(
    store: &Store,
    output_dir: &Path,
    experiments: &[ExperimentSummary],
    counts: &IndexCounts,
    warnings: &IndexWarnings,
) -> Result<IndexReport, IndexError> {
    let [experiment_csv, image_csv, run_csv] = registry_paths(output_dir);
    let json_path = output_dir.join(EXPERIMENTS_INDEX_FILE);
    let document = SingleIndex {
        schema_version: 1,
        kind: "artifacts_index",
        generated_at: Timestamp::now().iso().to_owned(),
        artifacts_root: store.show(&store.root),
        output_dir: store.show(output_dir),
        experiments,
        counts,
        warnings,
        registries: Registries {
            experiment_registry_csv: store.show(&experiment_csv),
            image_registry_csv: store.show(&image_csv),
            run_registry_csv: store.show(&run_csv),
        },
    };
    write_json_deferred(&json_path, &document)?;
    Ok(IndexReport {
        counts: counts.clone(),
        warnings: warnings.clone(),
        files_written: vec![experiment_csv, image_csv, run_csv, json_path],
    })
}

/// Keeps one row per generation id across stores: the one with more cells filled in, then the
/// earlier store.
fn dedupe<R>(
    rows: Vec<(usize, &R)>,
    id: impl Fn(&R) -> &str,
    cells: impl Fn(&R) -> Vec<String>,
) -> Vec<(usize, &R)> {
    let mut kept: BTreeMap<&str, (usize, &R, usize)> = BTreeMap::new();
    for (store, row) in rows {
        let score = cells(row).iter().filter(|cell| !cell.is_empty()).count();
        match kept.get(id(row)) {
            Some((_, _, best)) if *best >= score => {}
            _ => {
                kept.insert(id(row), (store, row, score));
            }
        }
    }
    kept.into_values()
        .map(|(store, row, _)| (store, row))
        .collect()
}

fn write_combined(
    stores: &[Store],
    indexes: &[StoreIndex],
    output_dir: &Path,
) -> Result<IndexReport, IndexError> {
    let with_store = |store: usize, cells: Vec<String>| {
        let mut row = vec![stores[store].label.clone(), stores[store].root_text()];
        row.extend(cells);
        row
    };
    let columns =
        |own: &[&'static str]| STORE_COLUMNS.iter().chain(own).copied().collect::<Vec<_>>();

    let mut experiment_rows: Vec<(usize, &ExperimentRow)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(store, index)| index.experiment_rows.iter().map(move |row| (store, row)))
        .collect();
    experiment_rows.sort_by(|a, b| (a.1.sort_key(), a.0).cmp(&(b.1.sort_key(), b.0)));
    let image_rows: Vec<(usize, &ImageRow)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(store, index)| index.image_rows.iter().map(move |row| (store, row)))
        .collect();
    let mut image_rows = dedupe(
        image_rows,
        |row| &row.manifest.generation_id,
        ImageRow::cells,
    );
    image_rows.sort_by(|a, b| (a.1.sort_key(), a.0).cmp(&(b.1.sort_key(), b.0)));
    let run_rows: Vec<(usize, &RunRow)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(store, index)| index.run_rows.iter().map(move |row| (store, row)))
        .collect();
    let mut run_rows = dedupe(run_rows, |row| &row.generation_id, RunRow::cells);
    run_rows.sort_by(|a, b| (a.1.sort_key(), a.0).cmp(&(b.1.sort_key(), b.0)));

    let [experiment_csv, image_csv, run_csv] = registry_paths(output_dir);
    write_csv(
        &experiment_csv,
        &columns(&EXPERIMENT_REGISTRY_COLUMNS),
        experiment_rows
            .iter()
            .map(|(store, row)| with_store(*store, row.cells())),
    )?;
    write_csv(
        &image_csv,
        &columns(&IMAGE_REGISTRY_COLUMNS),
        image_rows
            .iter()
            .map(|(store, row)| with_store(*store, row.cells())),
    )?;
    write_csv(
        &run_csv,
        &columns(&RUN_REGISTRY_COLUMNS),
        run_rows
            .iter()
            .map(|(store, row)| with_store(*store, row.cells())),
    )?;

    let mut counts = IndexCounts::default();
    let mut warnings = IndexWarnings::default();
    let mut experiments = Vec::new();
    for (store, index) in stores.iter().zip(indexes) {
        let own = &index.counts;
        counts.stores += 1;
        counts.experiments += own.experiments;
        counts.experiment_runs_planned += own.experiment_runs_planned;
        counts.experiment_runs_executed += own.experiment_runs_executed;
        counts.manifest_files += own.manifest_files;
        counts.run_index_files += own.run_index_files;
        counts.run_index_entries += own.run_index_entries;
        counts.generation_csv_files += own.generation_csv_files;
        counts.generation_csv_rows += own.generation_csv_rows;
        warnings.absorb(&index.warnings, &store.label);
        experiments.extend(
            index
                .experiments
                .iter()
                .map(|experiment| ExperimentSummary {
                    store: Some(store.label.clone()),
                    store_root: Some(store.root_text()),
                    ..experiment.clone()
                }),
        );
    }
    counts.images_titled = image_rows.len();
    counts.runs_in_run_registry = run_rows.len();

    let json_path = output_dir.join(EXPERIMENTS_INDEX_FILE);
    let document = CombinedIndex {
        schema_version: 1,
        kind: "combined_artifacts_index",
        generated_at: Timestamp::now().iso().to_owned(),
        output_dir: posix(output_dir),
        stores: stores
            .iter()
            .zip(indexes)
            .map(|(store, index)| StoreEntry {
                store: &store.label,
                store_root: store.root_text(),
                counts: &index.counts,
            })
            .collect(),
        experiments,
        counts: &counts,
        warnings: &warnings,
        registries: Registries {
            experiment_registry_csv: posix(&experiment_csv),
            image_registry_csv: posix(&image_csv),
            run_registry_csv: posix(&run_csv),
        },
    };
    write_json_deferred(&json_path, &document)?;
    Ok(IndexReport {
        counts,
        warnings,
        files_written: vec![experiment_csv, image_csv, run_csv, json_path],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes `text` at `root/relative`, creating directories.
    pub(super) fn put(root: &Path, relative: &str, text: &str) -> PathBuf {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    pub(super) fn lines(values: &[Value]) -> String {
        values.iter().map(|value| format!("{value}\n")).collect()
    }

    /// A parsed CSV: header and rows as maps.
    fn read_registry(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|record| {
                header
                    .iter()
                    .cloned()
                    .zip(record.unwrap().iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        (header, rows)
    }

    fn run_line(
        root: &Path,
        id: &str,
        created_at: &str,
        status: &str,
        image: bool,
        variant: &str,
        tags: &[&str],
    ) -> Value {
        let logs = root.join("experiments/exp1/logs");
        let mut line = json!({
            "schema_version": 1,
            "generation_id": id,
            "created_at": created_at,
            "seed": 7,
            "status": status,
            "phase": if status == "success" { "complete" } else { "image_pipeline" },
            "run_mode": "full",
            "experiment": {"id": "exp1", "variant": variant, "notes": format!("notes of {variant}"), "tags": tags},
            "prompt_pipeline": {"plan": "standard", "stages": ["a", "b"]},
            "artifacts": {
                "transcript": logs.join(format!("{id}_transcript.json")),
                "oplog": logs.join(format!("{id}_oplog.log")),
                "final_prompt": logs.join(format!("{id}_final_prompt.txt")),
                "image": if image { json!(root.join(format!("experiments/exp1/generated/{id}_image.png"))) } else { Value::Null },
            },
            "error": if status == "success" { Value::Null } else { json!({"type": "backend", "message": "boom"}) },
        });
        // A failed record stands for one written before usage was recorded.
        if status == "success" {
            line["usage"] = json!({"calls": 4, "input_tokens": 1200, "cached_input_tokens": 100,
                "output_tokens": 300, "reasoning_tokens": 20, "images": 1, "calls_without_usage": 0});
            line["cost_usd"] = json!(0.2046);
        }
        line
    }

    /// `<dir>/_artifacts` with one experiment (A1 failed then succeeded, B2 succeeded, A2 and B1
    /// never ran), one `generate` run, a malformed runs-index line, a repeated manifest row and a
    /// legacy generations CSV.
    pub(super) fn store(dir: &Path, outside: &Path) -> PathBuf {
        let root = dir.join("_artifacts");
        let planned = |variant: &str, name: &str, plan: &str, run: u32, id: &str| {
            json!({"variant": variant, "variant_name": name, "plan": plan, "run": run, "generation_id": id,
                   "seed": 100 + run, "tags": ["ab"], "notes": null})
        };
        let plan = json!({
            "schema_version": 1,
            "kind": "experiment_plan",
            "generated_at": "2026-01-01T00:00:00Z",
            "base_seed": 42,
            "experiment_name": "ab_demo",
            "experiment_id": "exp1",
            "run_mode": "full",
            "experiment_meta": {"base_seed": 42},
            "planned_runs": [
                planned("A", "baseline", "standard", 1, "A1_aaaa"),
                planned("B", "refined", "refine", 1, "B1_bbbb"),
                planned("A", "baseline", "standard", 2, "A2_cccc"),
                planned("B", "refined", "refine_v2", 2, "B2_dddd"),
            ],
        });
        put(
            &root,
            "experiments/exp1/experiment_plan.json",
            &serde_json::to_string_pretty(&plan).unwrap(),
        );
        put(&root, "experiments/exp1/experiment_plan_full.json", "{}");
        let runs = format!(
            "{}{{not json\n\n{}",
            lines(&[
                run_line(
                    &root,
                    "A1_aaaa",
                    "2026-01-01T00:00:01Z",
                    "error",
                    false,
                    "A_first",
                    &["ab", "try:1"]
                ),
                run_line(
                    &root,
                    "B2_dddd",
                    "2026-01-01T00:00:02Z",
                    "success",
                    true,
                    "B_refined",
                    &["ab", "run:2"]
                ),
            ]),
            lines(&[run_line(
                &root,
                "A1_aaaa",
                "2026-01-01T00:00:03Z",
                "success",
                true,
                "A_baseline",
                &["ab", "run:1"]
            )]),
        );
        put(&root, "experiments/exp1/logs/runs_index.jsonl", &runs);
        let image = |id: &str| {
            root.join(format!("experiments/exp1/generated/{id}_image.png"))
                .display()
                .to_string()
        };
        let mut manifest = csv::Writer::from_writer(Vec::new());
        manifest
            .write_record(super::super::run_files::TITLES_HEADER)
            .unwrap();
        for (seq, title, id, created_at) in [
            ("1", "Old Title", "A1_aaaa", "2026-01-01T00:00:01Z"),
            ("2", "Blue Hour", "B2_dddd", "2026-01-01T00:00:02Z"),
            ("3", "Quiet Harbor", "A1_aaaa", "2026-01-01T00:00:03Z"),
        ] {
            manifest
                .write_record([
                    seq,
                    title,
                    id,
                    "a very long prompt",
                    &image(id),
                    created_at,
                    "offline-image",
                    "1024x1024",
                    "high",
                    "7",
                    "model",
                    "raw",
                ])
                .unwrap();
        }
        put(
            &root,
            "experiments/exp1/generated/titles_manifest.csv",
            &String::from_utf8(manifest.into_inner().unwrap()).unwrap(),
        );
        let mut generations = csv::Writer::from_writer(Vec::new());
        generations.write_record(GENERATIONS_HEADER).unwrap();
        generations
            .write_record([
                "A1_aaaa",
                "[\"fox\", \"moon\"]",
                "A fox\n  under   the moon",
                &image("A1_aaaa"),
                "2026-01-01T00:00:03Z",
                "7",
            ])
            .unwrap();
        generations
            .write_record([
                "B2_dddd",
                "[]",
                "Blue hour",
                &image("B2_dddd"),
                "2026-01-01T00:00:02Z",
                "7",
            ])
            .unwrap();
        put(
            &root,
            "experiments/exp1/logs/generations.csv",
            &String::from_utf8(generations.into_inner().unwrap()).unwrap(),
        );
        put(
            &root,
            "legacy/generations.csv",
            "ID,Description Prompt,Generation Prompt,Image URL\n1,a,b,c\n",
        );

        // A `generate` run whose image lies outside the store.
        let outside_image = outside.join("elsewhere/G_image.png");
        let generate = json!({
            "schema_version": 1, "generation_id": "20260102_000000_0123abcd", "created_at": "2026-01-02T00:00:00Z",
            "seed": 9, "status": "success", "phase": "complete", "run_mode": "prompt_only", "experiment": null,
            "artifacts": {"transcript": root.join("logs/20260102_000000_0123abcd_transcript.json"),
                          "oplog": "_artifacts/logs/20260102_000000_0123abcd_oplog.log",
                          "final_prompt": null, "image": outside_image},
        });
        put(&root, "logs/runs_index.jsonl", &lines(&[generate]));
        root
    }

    fn header(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|column| column.to_string()).collect()
    }

    #[test]
    fn indexes_one_store() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = store(dir.path(), outside.path());
        let report = update_store(&root).unwrap();
        let out = root.join("index");

        assert_eq!(
            report.counts,
            IndexCounts {
                stores: 1,
                experiments: 1,
                experiment_runs_planned: 4,
                experiment_runs_executed: 2,
                manifest_files: 1,
                images_titled: 2,
                run_index_files: 2,
                run_index_entries: 3,
                generation_csv_files: 2,
                generation_csv_rows: 2,
                runs_in_run_registry: 5,
            }
        );
        assert_eq!(
            report.files_written,
            [
                "experiment_registry.csv",
                "image_registry.csv",
                "run_registry.csv",
                "experiments_index.json"
            ]
            .map(|name| out.join(name))
        );

        // Warnings name the file and line; nothing else was wrong.
        let warnings = &report.warnings;
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert_eq!(warnings.runs_index_errors.len(), 1);
        let bad_line = &warnings.runs_index_errors[0];
        assert_eq!(
            bad_line.path,
            "_artifacts/experiments/exp1/logs/runs_index.jsonl"
        );
        assert_eq!(bad_line.line, Some(3));
        assert!(
            bad_line.message.contains("key must be a string"),
            "{bad_line}"
        );
        assert_eq!(warnings.generation_csv_errors.len(), 1);
        let legacy = &warnings.generation_csv_errors[0];
        assert_eq!(legacy.path, "_artifacts/legacy/generations.csv");
        assert!(
            legacy
                .message
                .contains("unexpected header `ID,Description Prompt,Generation Prompt,Image URL`"),
            "{legacy}"
        );
        let duplicate = &warnings.titles_manifest_duplicate_generation_ids[0];
        assert_eq!(duplicate.line, Some(4));
        assert!(duplicate.message.contains("`A1_aaaa`"), "{duplicate}");
        assert_eq!(
            duplicate.to_string(),
            "_artifacts/experiments/exp1/generated/titles_manifest.csv:4: generation id `A1_aaaa` has several manifest rows \
             (also in `_artifacts/experiments/exp1/generated/titles_manifest.csv`); the latest is used"
        );

        // The experiment registry, exactly: the latest record wins (A1 succeeded on retry), the
        // latest manifest row too; never-run runs are `planned`.
        let experiment_csv = fs::read_to_string(out.join(EXPERIMENT_REGISTRY_FILE)).unwrap();
        let exp = "_artifacts/experiments/exp1";
        let expected = format!(
            "{}\n\
             exp1,{exp},A1,A1_aaaa,A,1,101,full,success,2026-01-01T00:00:03Z,3,Quiet Harbor,#003,#003 - Quiet Harbor,{exp}/generated/A1_aaaa_image.png,{exp}/logs/A1_aaaa_transcript.json,{exp}/logs/A1_aaaa_final_prompt.txt,{exp}/logs/A1_aaaa_oplog.log,{exp}/generated/titles_manifest.csv\n\
             exp1,{exp},A2,A2_cccc,A,2,102,full,planned,,,,,,,,,,\n\
             exp1,{exp},B1,B1_bbbb,B,1,101,full,planned,,,,,,,,,,\n\
             exp1,{exp},B2,B2_dddd,B,2,102,full,success,2026-01-01T00:00:02Z,2,Blue Hour,#002,#002 - Blue Hour,{exp}/generated/B2_dddd_image.png,{exp}/logs/B2_dddd_transcript.json,{exp}/logs/B2_dddd_final_prompt.txt,{exp}/logs/B2_dddd_oplog.log,{exp}/generated/titles_manifest.csv\n",
            EXPERIMENT_REGISTRY_COLUMNS.join(",")
        );
        assert_eq!(experiment_csv, expected);

        // The image registry: one row per generation id, oldest first.
        let (columns, images) = read_registry(&out.join(IMAGE_REGISTRY_FILE));
        assert_eq!(columns, header(&IMAGE_REGISTRY_COLUMNS));
        let ids: Vec<&str> = images
            .iter()
            .map(|row| row["generation_id"].as_str())
            .collect();
        assert_eq!(ids, ["B2_dddd", "A1_aaaa"]);
        let a1 = &images[1];
        assert_eq!(a1["image_label"], "#003 - Quiet Harbor");
        assert_eq!(a1["status"], "success");
        assert_eq!(a1["experiment_run_id"], "A1");
        assert_eq!(a1["planned_variant_name"], "baseline");
        assert_eq!(a1["model"], "offline-image");
        assert_eq!(
            a1["manifest_path"],
            format!("{exp}/generated/titles_manifest.csv")
        );

        // The run registry: every id from every source, planned-only ones first.
        let (columns, runs) = read_registry(&out.join(RUN_REGISTRY_FILE));
        assert_eq!(columns, header(&RUN_REGISTRY_COLUMNS));
        let ids: Vec<&str> = runs
            .iter()
            .map(|row| row["generation_id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "A2_cccc",
                "B1_bbbb",
                "B2_dddd",
                "A1_aaaa",
                "20260102_000000_0123abcd"
            ]
        );
        let a1 = &runs[3];
        assert_eq!(a1["status"], "success");
        assert_eq!(a1["phase"], "complete");
        assert_eq!(a1["experiment_variant"], "A_baseline");
        assert_eq!(a1["experiment_tags"], "ab|run:1");
        assert_eq!(a1["final_image_prompt"], "A fox under the moon");
        assert_eq!(a1["selected_concepts"], "[\"fox\", \"moon\"]");
        assert_eq!(
            a1["generations_source_path"],
            format!("{exp}/logs/generations.csv")
        );
        for (column, value) in [
            ("calls", "4"),
            ("input_tokens", "1200"),
            ("cached_input_tokens", "100"),
            ("output_tokens", "300"),
            ("reasoning_tokens", "20"),
            ("images", "1"),
            ("cost_usd", "0.2046"),
        ] {
            assert_eq!(a1[column], value, "{column}");
            assert_eq!(runs[0][column], "", "a planned run has no usage: {column}");
        }
        assert_eq!(runs[0]["status"], "planned");
        assert_eq!(runs[0]["run_mode"], "full");
        let generated = &runs[4];
        assert_eq!(generated["experiment_id"], "");
        assert_eq!(generated["run_mode"], "prompt_only");
        assert_eq!(
            generated["transcript_path"],
            "_artifacts/logs/20260102_000000_0123abcd_transcript.json"
        );
        assert_eq!(
            generated["oplog_path"], "_artifacts/logs/20260102_000000_0123abcd_oplog.log",
            "relative to the store's parent"
        );
        let outside_image = fs::canonicalize(outside.path())
            .unwrap()
            .join("elsewhere/G_image.png");
        assert_eq!(
            generated["image_path"],
            outside_image.display().to_string(),
            "outside the store: absolute"
        );

        // The experiments index.
        let document: Value =
            serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
                .unwrap();
        assert_eq!(document["kind"], "artifacts_index");
        assert_eq!(document["artifacts_root"], "_artifacts");
        assert_eq!(document["output_dir"], "_artifacts/index");
        assert_eq!(
            document["registries"]["run_registry_csv"],
            "_artifacts/index/run_registry.csv"
        );
        assert_eq!(
            document["counts"],
            serde_json::to_value(&report.counts).unwrap()
        );
        assert_eq!(document["warnings"]["runs_index_errors"][0]["line"], 3);
        let experiment = &document["experiments"][0];
        assert_eq!(experiment["experiment_id"], "exp1");
        assert_eq!(experiment["experiment_dir"], exp);
        assert_eq!(experiment["base_seed"], 42);
        assert_eq!(
            experiment["plan_full_path"],
            format!("{exp}/experiment_plan_full.json")
        );
        assert_eq!(experiment["results_path"], Value::Null);
        assert_eq!(
            experiment["runs_index_path"],
            format!("{exp}/logs/runs_index.jsonl")
        );
        assert_eq!(
            (
                &experiment["planned_runs"],
                &experiment["executed_runs"],
                &experiment["succeeded_runs"],
                &experiment["images"]
            ),
            (&json!(4), &json!(2), &json!(2), &json!(2))
        );
        assert_eq!(experiment["variant_keys"], json!(["A", "B"]));
        assert_eq!(
            experiment["variants"],
            json!([
                {"key": "A", "planned_plan": "standard", "planned_variant_name": "baseline",
                 "experiment_variant": "A_baseline", "notes": "notes of A_baseline", "tags": ["ab", "run:1"],
                 "planned_runs": 2, "executed_runs": 1},
                {"key": "B", "planned_plan": ["refine", "refine_v2"], "planned_variant_name": "refined",
                 "experiment_variant": "B_refined", "notes": "notes of B_refined", "tags": ["ab", "run:2"],
                 "planned_runs": 2, "executed_runs": 1},
            ])
        );

        // Rebuilding gives the same registries.
        update_store(&root).unwrap();
        assert_eq!(
            fs::read_to_string(out.join(EXPERIMENT_REGISTRY_FILE)).unwrap(),
            expected
        );
    }

    #[test]
    fn bad_plans_are_warnings_and_the_rest_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("_artifacts");
        put(
            &root,
            "experiments/broken/experiment_plan.json",
            "{\"planned_runs\": [",
        );
        put(&root, "experiments/dry/experiment_plan.json", &json!({"run_mode": "prompt_only", "planned_runs": [{"variant": "A", "run": 1}, {"generation_id": "B3_x", "run": 3}]}).to_string());
        let report = update_store(&root).unwrap();
        let messages: Vec<String> = report
            .warnings
            .experiment_plan_errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(
            messages[0].starts_with(
                "_artifacts/experiments/broken/experiment_plan.json: EOF while parsing"
            ),
            "{}",
            messages[0]
        );
        assert_eq!(messages[1], "_artifacts/experiments/dry/experiment_plan.json: `planned_runs[0]` has no `generation_id`; skipped");
        let (_, rows) = read_registry(&root.join("index").join(EXPERIMENT_REGISTRY_FILE));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0]["experiment_id"], "dry",
            "the directory name stands in for a missing id"
        );
        assert_eq!(rows[0]["variant_key"], "B", "taken from the generation id");
        assert_eq!(rows[0]["run_id"], "B3");
        assert_eq!(rows[0]["status"], "planned");
    }

    #[test]
    fn combines_several_stores() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let first = store(&one.path().join("alpha"), two.path());
        let second = two.path().join("beta/_artifacts");
        put(
            &second,
            "logs/runs_index.jsonl",
            &lines(&[
                json!({"generation_id": "G2", "created_at": "2026-02-01T00:00:00Z", "status": "error", "seed": 3}),
            ]),
        );
        let out = two.path().join("combined");
        let report = update_index(&[first.clone(), second.clone()], &out).unwrap();
        assert_eq!(report.counts.stores, 2);
        assert_eq!(report.counts.experiments, 1);
        assert_eq!(report.counts.runs_in_run_registry, 6);
        assert_eq!(report.warnings.len(), 3);
        assert!(report
            .warnings
            .iter()
            .all(|(_, warning)| warning.store.as_deref() == Some("alpha")));

        let (columns, runs) = read_registry(&out.join(RUN_REGISTRY_FILE));
        assert_eq!(columns[..3], ["store", "store_root", "generation_id"]);
        assert_eq!(columns.len(), 2 + RUN_REGISTRY_COLUMNS.len());
        let last = runs.last().unwrap();
        assert_eq!(last["generation_id"], "G2");
        assert_eq!(last["store"], "beta");
        assert_eq!(
            last["store_root"],
            fs::canonicalize(&second).unwrap().display().to_string()
        );
        let a1 = runs
            .iter()
            .find(|row| row["generation_id"] == "A1_aaaa")
            .unwrap();
        assert_eq!(a1["store"], "alpha");
        assert_eq!(
            a1["transcript_path"],
            "_artifacts/experiments/exp1/logs/A1_aaaa_transcript.json"
        );
        let (columns, _) = read_registry(&out.join(EXPERIMENT_REGISTRY_FILE));
        assert_eq!(columns[..3], ["store", "store_root", "experiment_id"]);

        let document: Value =
            serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
                .unwrap();
        assert_eq!(document["kind"], "combined_artifacts_index");
        assert_eq!(document["stores"].as_array().unwrap().len(), 2);
        assert_eq!(document["stores"][1]["counts"]["run_index_entries"], 1);
        assert_eq!(document["experiments"][0]["store"], "alpha");
        assert_eq!(document["experiments"][0]["base_seed"], 42);
        assert_eq!(
            document["warnings"]["generation_csv_errors"][0]["store"],
            "alpha"
        );

        // The same store twice is an error; two stores with one name get distinct labels.
        let error = update_index(&[first.clone(), first.join("../_artifacts")], &out).unwrap_err();
        assert!(matches!(error, IndexError::DuplicateRoot { .. }), "{error}");
        let twin = one.path().join("gamma/alpha/_artifacts");
        fs::create_dir_all(&twin).unwrap();
        update_index(&[first, twin], &out).unwrap();
        let document: Value =
            serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
                .unwrap();
        assert_eq!(document["stores"][1]["store"], "alpha_2");
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope/_artifacts");
        let error = update_store(&missing).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("artifacts root `{}` does not exist", missing.display())
        );
        assert!(matches!(
            update_index(&[], dir.path()),
            Err(IndexError::NoRoots)
        ));
        let file = put(dir.path(), "file", "");
        assert!(matches!(
            update_store(&file),
            Err(IndexError::RootNotDirectory { .. })
        ));
    }

    #[test]
    fn the_store_is_the_nearest_artifacts_ancestor() {
        let cases = [
            ("/w/_artifacts/experiments/exp1", Some("/w/_artifacts")),
            (
                "/w/_artifacts/a/_artifacts/exp",
                Some("/w/_artifacts/a/_artifacts"),
            ),
            ("/w/_Artifacts/exp", Some("/w/_Artifacts")),
            ("/w/_artifacts", Some("/w/_artifacts")),
            ("/w/artifacts/exp", None),
            ("/w/_artifacts_old/exp", None),
        ];
        for (output_root, expected) in cases {
            assert_eq!(
                store_of(Path::new(output_root)),
                expected.map(PathBuf::from),
                "{output_root}"
            );
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(normalize_header(" Created At "), "created_at");
        assert_eq!(normalize_header("Generation-ID"), "generation_id");
        assert_eq!(variant_of_id("AB12_deadbeef"), "AB");
        assert_eq!(variant_of_id("12_x"), "12");
        assert_eq!(int(Some(&json!("12"))), Some(12));
        assert_eq!(int(Some(&json!(3.0))), Some(3));
        assert_eq!(int(Some(&json!(-1))), None);
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(image_label(Some(7), &None), "#007");
        assert_eq!(collapse(&Some(" a \n\t b ".into())), Some("a b".into()));
    }
}

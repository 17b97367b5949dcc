//! Every file and directory name the index uses, in one place: the names the runner writes come
//! from [`crate::artifacts::layout`] (re-exported here under the names the index uses), and the
//! index's own are spelled here: where the index goes, the four files it writes, the legacy
//! generations CSV it also reads, and the files of its cache. Nothing else in the index spells a
//! file name.
//!
//! Not here: the formats of those files (their readers and writers are the other modules).

/// The name of an artifacts store directory.
pub use crate::artifacts::layout::STORE_DIR as STORE_DIR_NAME;
pub(super) use crate::artifacts::layout::{
    GENERATED_DIR, GENERATIONS_FILE, LOGS_DIR, PAIRS_FILE, PLAN_FILE, PLAN_FULL_FILE,
    PLUGIN_ARTIFACTS_DIR, RESULTS_FILE, RESULTS_LOG_FILE, RUNS_INDEX_FILE, TITLES_MANIFEST_FILE,
};

/// The index of one store goes to `<store>/index`.
pub const INDEX_DIR: &str = "index";
/// A combined index goes by default to `_artifacts/index_combined`.
pub const COMBINED_INDEX_DIR: &str = "index_combined";

/// The files the index writes.
pub const EXPERIMENTS_INDEX_FILE: &str = "experiments_index.json";
pub const EXPERIMENT_REGISTRY_FILE: &str = "experiment_registry.csv";
pub const IMAGE_REGISTRY_FILE: &str = "image_registry.csv";
pub const RUN_REGISTRY_FILE: &str = "run_registry.csv";

/// The generations CSVs the index reads: the runner's, and the older name with the same header.
pub(super) const GENERATIONS_FILES: [&str; 2] = [GENERATIONS_FILE, "generations_v2.csv"];

/// The directories of an experiment (or of the store's top) that a run writes its records into;
/// their files belong to the unit of the directory above them (see `refresh`).
pub(super) const RUN_SUBDIRS: [&str; 2] = [LOGS_DIR, GENERATED_DIR];

/// Files next to a plan that its summary points to when they exist (as path components below
/// the plan's directory), in the summary's order (`plan_full_path`, `results_path`,
/// `results_jsonl_path`, `pairs_path`, `runs_index_path`, `titles_manifest_path`).
pub(super) const SIDE_FILES: [&[&str]; 6] = [
    &[PLAN_FULL_FILE],
    &[RESULTS_FILE],
    &[RESULTS_LOG_FILE],
    &[PAIRS_FILE],
    &[LOGS_DIR, RUNS_INDEX_FILE],
    &[GENERATED_DIR, TITLES_MANIFEST_FILE],
];

/// The cache directory inside the index output directory, and its files.
pub(super) const CACHE_DIR: &str = ".cache";
pub(super) const CACHE_MANIFEST_FILE: &str = "index-cache.json";
pub(super) const SCAN_MARK_FILE: &str = "scan-mark";
/// A cached group's data file is `group-<16 hex>.bin`.
pub(super) const GROUP_FILE_PREFIX: &str = "group-";
pub(super) const GROUP_FILE_SUFFIX: &str = ".bin";

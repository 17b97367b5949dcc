//! Every file and directory name the index uses, in one place: the store's name, where the index
//! goes, the four files it writes, the files it reads, the files next to a plan that a summary
//! points to, and the files of its cache. The names the runner also writes (`runs_index.jsonl`,
//! the plan files, ...) are the runner's: they are spelled here only until one layout module
//! owns them all, and nothing else in the index spells a file name.
//!
//! Not here: the formats of those files (their readers and writers are the other modules).

pub(super) use crate::artifacts::plan_files::{PAIRS_FILE, PLAN_FILE, PLAN_FULL_FILE};

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

/// The files the index reads (besides [`PLAN_FILE`]).
pub(super) const RUNS_INDEX_FILE: &str = "runs_index.jsonl";
pub(super) const TITLES_MANIFEST_FILE: &str = "titles_manifest.csv";
pub(super) const GENERATIONS_FILES: [&str; 2] = ["generations.csv", "generations_v2.csv"];
const RESULTS_FILE: &str = "experiment_results.json";
const RESULTS_LINES_FILE: &str = "results.jsonl";

/// The directories of an experiment (or of the store's top) that a run writes its records into;
/// their files belong to the unit of the directory above them (see `refresh`).
pub(super) const RUN_SUBDIRS: [&str; 2] = ["logs", "generated"];

/// Files next to a plan that its summary points to when they exist, in the summary's order
/// (`plan_full_path`, `results_path`, `results_jsonl_path`, `pairs_path`, `runs_index_path`,
/// `titles_manifest_path`).
pub(super) const SIDE_FILES: [&str; 6] = [
    PLAN_FULL_FILE,
    RESULTS_FILE,
    RESULTS_LINES_FILE,
    PAIRS_FILE,
    "logs/runs_index.jsonl",
    "generated/titles_manifest.csv",
];

/// The cache directory inside the index output directory, and its files.
pub(super) const CACHE_DIR: &str = ".cache";
pub(super) const CACHE_MANIFEST_FILE: &str = "index-cache.json";
pub(super) const SCAN_MARK_FILE: &str = "scan-mark";
/// A cached group's data file is `group-<16 hex>.bin`.
pub(super) const GROUP_FILE_PREFIX: &str = "group-";
pub(super) const GROUP_FILE_SUFFIX: &str = ".bin";

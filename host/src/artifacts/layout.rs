//! Where things are on disk: every file and directory name the host writes or reads in an
//! experiment directory, each spelled once here, and the paths built from them and from ids
//! ([`ExperimentLayout`] for an experiment directory, [`RunFiles`] for one run's files).
//! Ids become path components, so the rule for a safe id ([`is_safe_id`]) lives here too.
//!
//! It does not own what goes into the files (`artifacts::formats`, `artifacts::plan_files`) nor
//! how they are written (`artifacts`). The artifacts index reads these names through
//! `artifacts::index::files`, which adds only the index's own outputs.

use std::path::{Path, PathBuf};

/// The store every default path of the config is under.
pub const STORE_DIR: &str = "_artifacts";
/// Under the store: one directory per experiment (the default output roots).
pub const EXPERIMENTS_DIR: &str = "experiments";

/// Per-run logs and records: transcripts, oplogs, final prompts, the runs index, the generations
/// CSV of an experiment.
pub const LOGS_DIR: &str = "logs";
/// Images and their titles manifest.
pub const GENERATED_DIR: &str = "generated";
/// The files plugins write through the `write_artifact` service (`plugin/<name>`); plugin-api
/// names it, as plugins and the host must agree on it.
pub const PLUGIN_ARTIFACTS_DIR: &str = plugin_api::services::ARTIFACT_DIR;

/// `experiment_plan.json`: the plan's header and labels; its presence marks a committed plan.
pub const PLAN_FILE: &str = "experiment_plan.json";
/// `experiment_plan_full.json`: the base config, overlays and preflight results.
pub const PLAN_FULL_FILE: &str = "experiment_plan_full.json";
/// `pairs.json`: the A/B pairs and their sides' errors.
pub const PAIRS_FILE: &str = "pairs.json";
/// `experiment.log`: the runner's log.
pub const LOG_FILE: &str = "experiment.log";
/// `results.jsonl`: one result entry per finished run, the durable record.
pub const RESULTS_LOG_FILE: &str = "results.jsonl";
/// `experiment_results.json`: the latest entry per run and the summary.
pub const RESULTS_FILE: &str = "experiment_results.json";
/// `report.html`: the readable page of an experiment.
pub const REPORT_FILE: &str = "report.html";
/// The comparison page `experiments report` writes (in the working directory) without `--out`.
pub const COMPARISON_FILE: &str = "experiments_comparison.html";
/// The experiment directory's lock file; only its OS lock matters, the file itself may stay.
pub const LOCK_FILE: &str = ".lock";
/// `runs_index.jsonl` in a run's log directory: one line per run.
pub const RUNS_INDEX_FILE: &str = "runs_index.jsonl";
/// The generations CSV an experiment's runs append to (in its logs directory).
pub const GENERATIONS_FILE: &str = "generations.csv";
/// The titles manifest an experiment's runs append to (in its generated directory).
pub const TITLES_MANIFEST_FILE: &str = "titles_manifest.csv";

/// Suffixes of one run's files, after its generation id.
const TRANSCRIPT_SUFFIX: &str = "_transcript.json";
const OPLOG_SUFFIX: &str = "_oplog.log";
const FINAL_PROMPT_SUFFIX: &str = "_final_prompt.txt";
const IMAGE_SUFFIX: &str = "_image.png";

/// Ids (experiment and generation ids) become directory and file names: `[A-Za-z0-9_.-]+`, not
/// `.` alone, without `..`.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && !id.contains("..")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `<cwd>/_artifacts/experiments`: where experiments go by default (and where `experiments
/// report` looks for the newest one).
pub fn default_experiments_root(cwd: &Path) -> PathBuf {
    cwd.join(STORE_DIR).join(EXPERIMENTS_DIR)
}

/// The files of one experiment directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentLayout {
    root: PathBuf,
}

impl ExperimentLayout {
    pub fn new(root: impl Into<PathBuf>) -> ExperimentLayout {
        ExperimentLayout { root: root.into() }
    }

    /// The experiment directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn plan(&self) -> PathBuf {
        self.root.join(PLAN_FILE)
    }

    pub fn plan_full(&self) -> PathBuf {
        self.root.join(PLAN_FULL_FILE)
    }

    pub fn pairs(&self) -> PathBuf {
        self.root.join(PAIRS_FILE)
    }

    pub fn log(&self) -> PathBuf {
        self.root.join(LOG_FILE)
    }

    pub fn results_log(&self) -> PathBuf {
        self.root.join(RESULTS_LOG_FILE)
    }

    pub fn results(&self) -> PathBuf {
        self.root.join(RESULTS_FILE)
    }

    pub fn report(&self) -> PathBuf {
        self.root.join(REPORT_FILE)
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join(LOGS_DIR)
    }

    pub fn generated_dir(&self) -> PathBuf {
        self.root.join(GENERATED_DIR)
    }

    /// Where the plugin's own artifacts go ([`PLUGIN_ARTIFACTS_DIR`]).
    pub fn plugin_artifacts_dir(&self) -> PathBuf {
        self.root.join(PLUGIN_ARTIFACTS_DIR)
    }

    /// The runs index the experiment's runs append to.
    pub fn runs_index(&self) -> PathBuf {
        self.logs_dir().join(RUNS_INDEX_FILE)
    }

    pub fn generations_csv(&self) -> PathBuf {
        self.logs_dir().join(GENERATIONS_FILE)
    }

    pub fn titles_manifest(&self) -> PathBuf {
        self.generated_dir().join(TITLES_MANIFEST_FILE)
    }

    /// Run `generation_id`'s transcript.
    pub fn transcript(&self, generation_id: &str) -> PathBuf {
        self.run(generation_id).transcript
    }

    /// Run `generation_id`'s image.
    pub fn image(&self, generation_id: &str) -> PathBuf {
        self.run(generation_id).image
    }

    /// The files of run `generation_id` of this experiment.
    pub fn run(&self, generation_id: &str) -> RunFiles {
        RunFiles::new(&self.logs_dir(), &self.generated_dir(), generation_id)
    }

    /// The directories where an interrupted atomic write can leave a temp file.
    pub fn written_dirs(&self) -> [PathBuf; 3] {
        [self.root.clone(), self.logs_dir(), self.generated_dir()]
    }

    /// The names the runner writes directly in the directory (a symbolic link at any of them is
    /// refused).
    pub fn written_names() -> [&'static str; 11] {
        [
            LOGS_DIR,
            GENERATED_DIR,
            PLUGIN_ARTIFACTS_DIR,
            LOG_FILE,
            PLAN_FILE,
            PLAN_FULL_FILE,
            PAIRS_FILE,
            RESULTS_LOG_FILE,
            RESULTS_FILE,
            REPORT_FILE,
            LOCK_FILE,
        ]
    }
}

/// The files one run writes: in its log directory (`image.log_path`) and its image directory
/// (`image.generation_path`), named after its generation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    pub transcript: PathBuf,
    pub oplog: PathBuf,
    pub final_prompt: PathBuf,
    pub image: PathBuf,
    /// Shared by every run writing to the same log directory.
    pub runs_index: PathBuf,
}

impl RunFiles {
    pub fn new(log_dir: &Path, generated_dir: &Path, generation_id: &str) -> RunFiles {
        let named = |dir: &Path, suffix: &str| dir.join(format!("{generation_id}{suffix}"));
        RunFiles {
            transcript: named(log_dir, TRANSCRIPT_SUFFIX),
            oplog: named(log_dir, OPLOG_SUFFIX),
            final_prompt: named(log_dir, FINAL_PROMPT_SUFFIX),
            image: named(generated_dir, IMAGE_SUFFIX),
            runs_index: log_dir.join(RUNS_INDEX_FILE),
        }
    }

    /// The run's own files by role (`transcript`, `oplog`, `final_prompt`, `image`): every one
    /// but the runs index, which the run shares.
    pub fn by_role(&self) -> [(&'static str, &Path); 4] {
        [
            ("transcript", &self.transcript),
            ("oplog", &self.oplog),
            ("final_prompt", &self.final_prompt),
            ("image", &self.image),
        ]
    }
}

/// A path as the records spell it: `/` between parts on every platform.
pub fn posix(path: &Path) -> String {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '\\' {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_ids_must_be_safe_directory_names() {
        for ok in ["3x3_20261128_101500", "a.b-c_d"] {
            assert!(is_safe_id(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a..b", "a/b", "a b", "ä"] {
            assert!(!is_safe_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_runs_files_are_named_after_its_id_in_the_experiments_directories() {
        let layout = ExperimentLayout::new("/x/exp");
        let run = layout.run("A1_ab");
        assert_eq!(
            run.transcript,
            Path::new("/x/exp/logs/A1_ab_transcript.json")
        );
        assert_eq!(run.oplog, Path::new("/x/exp/logs/A1_ab_oplog.log"));
        assert_eq!(
            run.final_prompt,
            Path::new("/x/exp/logs/A1_ab_final_prompt.txt")
        );
        assert_eq!(run.image, Path::new("/x/exp/generated/A1_ab_image.png"));
        let roles: Vec<&str> = run.by_role().iter().map(|(role, _)| *role).collect();
        assert_eq!(roles, ["transcript", "oplog", "final_prompt", "image"]);
        assert_eq!(run.by_role()[3].1, run.image);
        assert_eq!(layout.plugin_artifacts_dir(), Path::new("/x/exp/plugin"));
        assert_eq!(run.runs_index, layout.runs_index());
        assert_eq!(
            layout.runs_index(),
            Path::new("/x/exp/logs/runs_index.jsonl")
        );
        assert_eq!(
            layout.generations_csv(),
            Path::new("/x/exp/logs/generations.csv")
        );
        assert_eq!(
            layout.titles_manifest(),
            Path::new("/x/exp/generated/titles_manifest.csv")
        );
    }
}

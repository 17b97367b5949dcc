//! What a report reads from an experiment directory, and only that: the result entries' shown
//! fields (usage and cost included) and the summary (`experiment_results.json`), the plan's header (`experiment_plan.json`),
//! the base config for the digest (`experiment_plan_full.json`), the pairs (`pairs.json`),
//! whether it was resumed (`experiment.log`) and, one run at a time, a run's transcript. Fields
//! the page does not show are skipped while parsing, so a report of many runs stays small in
//! memory. A missing optional file is recorded as missing (the page says so), never guessed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::artifacts::layout::ExperimentLayout;

use super::ReportError;

/// `experiment_results.json`, the fields shown.
#[derive(Debug, Deserialize)]
pub struct Results {
    #[serde(default)]
    pub experiment_id: Value,
    #[serde(default)]
    pub updated_at: Value,
    #[serde(default)]
    pub summary: Value,
    #[serde(default)]
    pub summary_metrics: Value,
    #[serde(default)]
    pub summary_error: Value,
    #[serde(default)]
    pub results: Vec<Entry>,
    /// The files the summary analysis wrote (`plugin/<name>`).
    #[serde(default)]
    pub plugin_artifacts: Vec<String>,
}

impl Results {
    /// `summary.metrics`, or `summary_metrics` beside a summary that is not an object.
    pub fn metrics(&self) -> &Value {
        match self.summary.get("metrics") {
            Some(metrics) => metrics,
            None => &self.summary_metrics,
        }
    }

    /// `summary.usage` (`Null` when the summary has none).
    pub fn usage(&self) -> &Value {
        &self.summary["usage"]
    }
}

/// One result entry, the fields shown.
#[derive(Debug, Deserialize)]
pub struct Entry {
    #[serde(default)]
    pub generation_id: String,
    #[serde(default)]
    pub variant: String,
    #[serde(default)]
    pub variant_name: Value,
    #[serde(default)]
    pub run: Value,
    #[serde(default)]
    pub seed: Value,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub image_path: Option<String>,
    #[serde(default)]
    pub final_prompt: Option<String>,
    #[serde(default)]
    pub error: Value,
    #[serde(default)]
    pub analysis_error: Value,
    #[serde(default)]
    pub finished_at: Value,
    #[serde(default)]
    pub duration_s: Value,
    /// `{calls, input_tokens, …}`; absent in entries written before usage was recorded.
    #[serde(default)]
    pub usage: Value,
    #[serde(default)]
    pub cost_usd: Value,
    /// The files the run's hooks wrote (`plugin/<name>`).
    #[serde(default)]
    pub plugin_artifacts: Vec<String>,
}

impl Entry {
    pub fn ok(&self) -> bool {
        self.status == "success"
    }
}

/// The header fields of `experiment_plan.json`.
#[derive(Debug, Default, Deserialize)]
pub struct PlanHead {
    #[serde(default)]
    pub generated_at: Value,
    #[serde(default)]
    pub base_seed: Value,
    #[serde(default)]
    pub experiment_name: Value,
    #[serde(default)]
    pub run_mode: Value,
    #[serde(default)]
    pub plugin: Value,
    #[serde(default)]
    pub config_meta: Value,
    #[serde(default)]
    pub runner: Value,
}

#[derive(Deserialize)]
struct PlanFullHead {
    #[serde(default)]
    base_config: Value,
}

/// One pair of `pairs.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct PairIds {
    pub run_index: Value,
    pub a_generation_id: String,
    pub b_generation_id: String,
}

/// One treatment's pairs with the control (`arms` of `pairs.json`, more than one treatment).
#[derive(Debug, Clone, Deserialize)]
pub struct ArmIds {
    pub control: String,
    pub treatment: String,
    pub pairs: Vec<PairIds>,
}

#[derive(Deserialize)]
struct PairsFile {
    pairs: Vec<PairIds>,
    #[serde(default)]
    arms: Vec<ArmIds>,
}

/// Everything the page of one experiment needs except the transcripts.
#[derive(Debug)]
pub struct Experiment {
    pub dir: PathBuf,
    pub results: Results,
    /// `None` when `experiment_plan.json` is missing (a results file copied on its own).
    pub plan: Option<PlanHead>,
    /// `fnv1a64:<16 hex>` of the config the experiment ran with, when the full plan is there:
    /// see [`config_digest`].
    pub config_digest: Option<String>,
    /// `None` for an unpaired plan.
    pub pairs: Option<Vec<PairIds>>,
    /// Every treatment's pairs when there is more than one treatment, else empty.
    pub arms: Vec<ArmIds>,
    /// `experiment.log` says `--resume` ran at least once.
    pub resumed: Option<bool>,
}

impl Experiment {
    /// Reads an experiment directory; `experiment_results.json` must be there.
    pub fn load(dir: &Path) -> Result<Experiment, ReportError> {
        let results_path = ExperimentLayout::new(dir).results();
        if !results_path.is_file() {
            return Err(ReportError::NotAnExperiment {
                path: dir.to_owned(),
            });
        }
        // Canonical, so links from a page elsewhere are computed between two canonical paths.
        let dir = &dir.canonicalize().map_err(|source| ReportError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let layout = ExperimentLayout::new(dir);
        let results: Results = read_json(&layout.results())?;
        let plan = read_optional::<PlanHead>(&layout.plan())?;
        let overrides = plan
            .as_ref()
            .map_or(&Value::Null, |plan| &plan.runner["standard_overrides"]);
        let config_digest = read_optional::<PlanFullHead>(&layout.plan_full())?
            .filter(|full| !full.base_config.is_null())
            .map(|full| config_digest(full.base_config, overrides));
        let (pairs, arms) = match read_optional::<PairsFile>(&layout.pairs())? {
            Some(file) => (Some(file.pairs), file.arms),
            None => (None, Vec::new()),
        };
        let log_path = layout.log();
        let resumed = match std::fs::read_to_string(&log_path) {
            // The runner logs this line each time `--resume` takes over the directory.
            Ok(log) => Some(log.contains("| resuming experiment `")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ReportError::Read {
                    path: log_path,
                    source,
                })
            }
        };
        Ok(Experiment {
            dir: dir.to_owned(),
            results,
            plan,
            config_digest,
            pairs,
            arms,
            resumed,
        })
    }

    /// The run's transcript file (the runner points `image.log_path` at `<dir>/logs`).
    pub fn transcript_path(&self, generation_id: &str) -> PathBuf {
        ExperimentLayout::new(&self.dir).transcript(generation_id)
    }

    /// The run's image inside the directory (`generated/<file name of image_path>`), when the
    /// entry names one and it is there; the stored path is absolute and goes stale when the
    /// directory moves, so the file name is what identifies it.
    pub fn image_file(&self, entry: &Entry) -> Option<PathBuf> {
        let name = Path::new(entry.image_path.as_deref()?).file_name()?;
        let path = ExperimentLayout::new(&self.dir).generated_dir().join(name);
        path.is_file().then_some(path)
    }
}

/// `fnv1a64:<16 hex>` (`plugin_api::hash::stable_hash64`) of the compact JSON of `base_config`
/// without the keys of the runner's standard overrides (output paths, experiment id, the pinned
/// date, the run mode): those differ between any two experiments, so without them the same
/// config layers give the same digest and a comparison can tell "same config" at a glance.
pub fn config_digest(mut base_config: Value, standard_overrides: &Value) -> String {
    fn strip(config: &mut Value, overrides: &Value) {
        let (Some(config), Some(overrides)) = (config.as_object_mut(), overrides.as_object())
        else {
            return;
        };
        for (key, value) in overrides {
            match config.get_mut(key) {
                Some(inner) if value.is_object() && inner.is_object() => strip(inner, value),
                Some(_) => {
                    config.remove(key);
                }
                None => {}
            }
        }
    }
    strip(&mut base_config, standard_overrides);
    let text = base_config.to_string();
    format!(
        "fnv1a64:{:016x}",
        plugin_api::hash::stable_hash64(text.as_bytes())
    )
}

/// The shown fields of one transcript.
#[derive(Debug, Deserialize)]
pub struct Transcript {
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub backends: Value,
}

/// One step record, the fields shown.
#[derive(Debug, Deserialize)]
pub struct Step {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub created_at: Value,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub response: Option<String>,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub provider: Value,
    #[serde(default)]
    pub attempts: Value,
}

/// A run's transcript: `Ok(None)` when the file does not exist (a run that failed before its
/// pipeline started writes none).
pub fn read_transcript(path: &Path) -> Result<Option<Transcript>, ReportError> {
    read_optional(path)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let file = std::fs::File::open(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, file)).map_err(|source| {
        ReportError::Parse {
            path: path.to_owned(),
            source,
        }
    })
}

fn read_optional<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ReportError> {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_json(path).map(Some),
    }
}

//! `--resume` (DESIGN §4 step 10): the stored full plan is the source of truth. This module reads
//! it back into runs, and owns the experiment directory's exclusive lock (taken by every run of
//! the runner, so two processes never execute one experiment at once).

use std::fs::File;
use std::path::{Path, PathBuf};

use plugin_api::{Pairing, PlannedRun, RunMode};
use serde_json::{Map, Value};

use crate::artifacts::plan_files::PLAN_FULL_FILE;

use super::plan::RESERVED_RUN_FIELDS;
use super::{pairs, PreparedRun, RunnerError};

/// What a resumed experiment continues from.
pub struct StoredExperiment {
    pub experiment_id: String,
    pub base_seed: u64,
    pub run_mode: RunMode,
    pub runs: Vec<PreparedRun>,
    pub pairing: Option<Pairing>,
}

/// Preflight's fields of a stored full-plan entry; with the planned-run fields, not `meta`.
const PREFLIGHT_FIELDS: &[&str] = &["config_error", "prompt_pipeline"];

/// Reads `<out>/experiment_plan_full.json` of experiment `name`.
pub fn load(out: &Path, name: &str) -> Result<StoredExperiment, RunnerError> {
    let path = out.join(PLAN_FULL_FILE);
    let error = |message: String| RunnerError::Resume {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            error("the file does not exist: is this an experiment directory?".to_owned())
        }
        _ => error(format!("cannot read it: {e}")),
    })?;
    let plan: Value =
        serde_json::from_str(&text).map_err(|e| error(format!("not valid JSON: {e}")))?;
    let stored_name = plan
        .get("experiment_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if stored_name != name {
        return Err(error(format!(
            "it belongs to experiment `{stored_name}`, not `{name}`"
        )));
    }
    let field = |key: &str| {
        plan.get(key)
            .ok_or_else(|| error(format!("`{key}` is missing")))
    };
    let experiment_id = field("experiment_id")?
        .as_str()
        .ok_or_else(|| error("`experiment_id` is not a string".into()))?
        .to_owned();
    let base_seed = field("base_seed")?
        .as_u64()
        .ok_or_else(|| error("`base_seed` is not an integer".into()))?;
    let run_mode = field("run_mode")?
        .as_str()
        .and_then(RunMode::parse)
        .ok_or_else(|| error("`run_mode` is not `full` or `prompt_only`".into()))?;
    let pairing: Option<Pairing> = match plan.get("pairing") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value(value.clone()).map_err(|e| error(format!("`pairing`: {e}")))?,
        ),
    };
    let entries = field("planned_runs_full")?
        .as_array()
        .ok_or_else(|| error("`planned_runs_full` is not an array".into()))?;
    let runs = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            stored_run(entry)
                .map_err(|message| error(format!("planned_runs_full[{index}]: {message}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if runs.is_empty() {
        return Err(error("it has no planned runs".to_owned()));
    }
    Ok(StoredExperiment {
        experiment_id,
        base_seed,
        run_mode,
        runs,
        pairing,
    })
}

fn stored_run(entry: &Value) -> Result<PreparedRun, String> {
    let object = entry.as_object().ok_or("not an object")?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let variant = text("variant").ok_or("`variant` is missing")?;
    let generation_id = text("generation_id").ok_or("`generation_id` is missing")?;
    let run = object
        .get("run")
        .and_then(Value::as_u64)
        .and_then(|run| u32::try_from(run).ok())
        .ok_or("`run` is missing")?;
    let config = object
        .get("config")
        .filter(|config| config.is_object())
        .cloned()
        .ok_or("`config` is missing")?;
    let tags = object
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| tag.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let meta: Map<String, Value> = object
        .iter()
        .filter(|(key, _)| {
            !RESERVED_RUN_FIELDS.contains(&key.as_str())
                && !PREFLIGHT_FIELDS.contains(&key.as_str())
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Ok(PreparedRun {
        planned: PlannedRun {
            variant,
            variant_name: text("variant_name"),
            run,
            seed: object.get("seed").and_then(Value::as_u64),
            overlay: Value::Null,
            tags,
            notes: text("notes"),
            meta,
        },
        generation_id,
        config,
    })
}

/// The pairs of a stored A/B plan.
pub fn stored_pairs(
    name: &str,
    stored: &StoredExperiment,
) -> Result<Option<Vec<super::Pair>>, RunnerError> {
    match &stored.pairing {
        Some(pairing) => Ok(Some(pairs(name, pairing, &stored.runs)?)),
        None => Ok(None),
    }
}

/// Holds the experiment directory's lock until dropped.
pub struct DirLock {
    _file: File,
}

/// Takes the exclusive lock of an experiment directory, or says who holds it.
pub fn lock_dir(out: &Path) -> Result<DirLock, RunnerError> {
    let path: PathBuf = out.join(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunnerError::Resume {
            path: path.clone(),
            message: format!("cannot create the lock file: {e}"),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunnerError::Locked {
            path: out.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(RunnerError::Resume {
            path,
            message: format!("cannot lock it: {e}"),
        }),
    }
}

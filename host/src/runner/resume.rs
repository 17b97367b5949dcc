//! `--resume` (DESIGN §4 step 10): the stored full plan is the source of truth. This module takes
//! the directory's lock, reads the plan back into runs through the plan-entry types of
//! `artifacts::formats` (schema 2, runs by reference, and schema 1, a merged config per run;
//! errors name the file and the field), applies `--config`/`--set` given with `--resume`, runs
//! preflight again, and owns the experiment directory's exclusive lock (taken by every runner
//! before it writes in the directory, and held to the end).

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use plugin_api::{LogLevel, Pairing, PlannedRun, RunMode};
use serde_json::{Map, Value};

use crate::artifacts::formats::{FullPlanRunEntry, PlannedRunEntry};
use crate::artifacts::layout::{ExperimentLayout, PLAN_FILE};
use crate::artifacts::plan_files::{StoredPlan, StoredSummary};
use crate::artifacts::{self, LogFile};
use crate::config;
use crate::plugins::LoadedExperiment;

use super::context::PlanAbout;
use super::location::{absolute, check_no_symlinks, lock_dir};
use super::overrides::owned_overrides;
use super::plan::{owned_keys_set, PlanBase, RESERVED_RUN_FIELDS};
use super::preflight::check_preflight;
use super::{pairs, preflight, Planned, PreparedRun, RunOptions, RunnerError};

/// What a resumed experiment continues from.
pub struct StoredExperiment {
    pub experiment_id: String,
    pub base_seed: u64,
    pub run_mode: RunMode,
    pub runs: Vec<PreparedRun>,
    pub pairing: Option<Pairing>,
    /// The flags and the plan's `meta`, as the plan recorded them.
    pub args: Map<String, Value>,
    pub experiment_meta: Map<String, Value>,
}

/// Reads the stored plan of experiment `name` in `out`: `experiment_plan_full.json` and, for a
/// full plan of schema 2, the labels in `experiment_plan.json`.
pub fn load(out: &Path, name: &str) -> Result<StoredExperiment, RunnerError> {
    let layout = ExperimentLayout::new(out);
    let path = layout.plan_full();
    let error = |message: String| RunnerError::Resume {
        path: path.clone(),
        message,
    };
    if !layout.plan().exists() {
        let message = if path.exists() {
            format!("its plan was never committed (`{PLAN_FILE}` is missing: the runner stopped while writing it)\n\nstart the experiment afresh with the same `--output-root`")
        } else {
            "the directory holds no experiment plan: is this an experiment directory?".to_owned()
        };
        return Err(error(message));
    }
    let plan: StoredPlan = read_document(&path)?;
    if plan.experiment_name != name {
        return Err(error(format!(
            "it belongs to experiment `{}`, not `{name}`",
            plan.experiment_name
        )));
    }
    let run_mode = RunMode::parse(&plan.run_mode)
        .ok_or_else(|| error("`run_mode` is not `full` or `prompt_only`".into()))?;
    if plan.planned_runs_full.is_empty() {
        return Err(error("it has no planned runs".to_owned()));
    }
    let owned = owned_overrides(&plan.runner.standard_overrides);
    let runs = if plan.schema_version >= 2 {
        let base_config = plan
            .base_config
            .ok_or_else(|| error("`base_config` is missing".to_owned()))?;
        let base = Arc::new(PlanBase {
            config: base_config,
            owned,
            resume_overlay: Value::Object(Map::new()),
        });
        let summary: StoredSummary = read_document(&layout.plan())?;
        if summary.planned_runs.len() != plan.planned_runs_full.len() {
            return Err(error(format!(
                "it plans {} runs, but `{PLAN_FILE}` {}",
                plan.planned_runs_full.len(),
                summary.planned_runs.len()
            )));
        }
        let overlays: Vec<Arc<Value>> = plan.overlays.into_iter().map(Arc::new).collect();
        summary
            .planned_runs
            .into_iter()
            .zip(&plan.planned_runs_full)
            .enumerate()
            .map(|(index, (labels, entry))| {
                let at = |message: String| error(format!("planned_runs_full[{index}]: {message}"));
                let reference: FullPlanRunEntry =
                    serde_json::from_str(entry.get()).map_err(|e| at(e.to_string()))?;
                if reference.generation_id != labels.generation_id {
                    return Err(at(format!(
                        "`{}` does not match run {index} of `{PLAN_FILE}` (`{}`)",
                        reference.generation_id, labels.generation_id
                    )));
                }
                let overlay = overlays.get(reference.overlay).ok_or_else(|| {
                    at(format!(
                        "`overlay` {} is not an index of `overlays`",
                        reference.overlay
                    ))
                })?;
                Ok(prepared(labels, Arc::clone(overlay), &base))
            })
            .collect::<Result<Vec<_>, RunnerError>>()?
    } else {
        // Schema 1: each full-plan entry holds its labels and its whole config.
        let base = Arc::new(PlanBase {
            config: Value::Object(Map::new()),
            owned,
            resume_overlay: Value::Object(Map::new()),
        });
        plan.planned_runs_full
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let at = |message: String| error(format!("planned_runs_full[{index}]: {message}"));
                let mut labels: PlannedRunEntry =
                    serde_json::from_str(entry.get()).map_err(|e| at(e.to_string()))?;
                let config = labels
                    .meta
                    .to_mut()
                    .remove("config")
                    .filter(Value::is_object)
                    .ok_or_else(|| at("`config` is missing or not a table".to_owned()))?;
                Ok(prepared(labels, Arc::new(config), &base))
            })
            .collect::<Result<Vec<_>, RunnerError>>()?
    };
    Ok(StoredExperiment {
        experiment_id: plan.experiment_id,
        base_seed: plan.base_seed,
        run_mode,
        runs,
        pairing: plan.pairing,
        args: plan.experiment_args,
        experiment_meta: plan.experiment_meta,
    })
}

/// Takes the lock of a stored experiment, reads it back (step 10) and re-runs preflight on it.
pub(super) fn resume_planned(
    experiment: &LoadedExperiment,
    options: &RunOptions,
) -> Result<Planned, RunnerError> {
    let name = experiment.name();
    let output_root = match &options.output_root {
        Some(root) => absolute(&options.cwd.join(root)),
        None => {
            return Err(RunnerError::Resume {
                path: options.cwd.clone(),
                message: "`--resume` needs `--output-root` pointing at the experiment directory"
                    .to_owned(),
            })
        }
    };
    if !output_root.is_dir() {
        return Err(RunnerError::Resume {
            path: output_root,
            message: "it is not a directory".to_owned(),
        });
    }
    let lock = lock_dir(&output_root)?;
    check_no_symlinks(&output_root)?;
    let mut stored = load(&output_root, name)?;
    let layout = ExperimentLayout::new(&output_root);
    let log = Arc::new(LogFile::open(&layout.log())?);
    log.record(
        LogLevel::Info,
        &format!("resuming experiment `{name}` id `{}`", stored.experiment_id),
    )?;
    let mut removed = 0;
    for dir in layout.written_dirs() {
        removed += artifacts::remove_stale_temp_files(&dir)?;
    }
    removed += artifacts::plugin_artifacts::remove_stale_temp_files(&output_root)?;
    if removed > 0 {
        log.record(
            LogLevel::Info,
            &format!("removed {removed} temp files left by an interrupted write"),
        )?;
    }
    let mut changes = Vec::new();
    if !options.config.files.is_empty() || !options.config.sets.is_empty() {
        let overlay = config::load_overlay(&options.config)?;
        changes = apply_overlay(&mut stored, overlay)?;
        log.record(
            LogLevel::Info,
            &format!(
                "`--config`/`--set` merged onto every stored run config:\n{}",
                changes.join("\n")
            ),
        )?;
    }
    let env = |name: &str| std::env::var(name).ok();
    let preflight = preflight::check(
        &stored.runs,
        &options.cwd,
        &env,
        &experiment.stage_registry(),
    );
    check_preflight(&stored.runs, &preflight.verdicts, &log, &output_root)?;
    let pairs = stored_pairs(name, &stored)?;
    Ok(Planned {
        experiment_id: stored.experiment_id,
        output_root,
        base_seed: stored.base_seed,
        run_mode: stored.run_mode,
        runs: stored.runs,
        pairs,
        about: PlanAbout {
            experiment_name: name.to_owned(),
            args: stored.args,
            experiment_meta: stored.experiment_meta,
            pairing: stored.pairing,
        },
        log,
        files: Vec::new(),
        config_changes: changes,
        context: Default::default(),
        _lock: lock,
    })
}

/// Parses a stored JSON document; errors name the file and the path inside it.
fn read_document<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunnerError> {
    let error = |message: String| RunnerError::Resume {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| error(format!("`{}`: {}", e.path(), e.inner())))
}

fn prepared(labels: PlannedRunEntry, overlay: Arc<Value>, base: &Arc<PlanBase>) -> PreparedRun {
    // Preflight fields of a schema-1 entry are among the flattened fields: they are not `meta`.
    let meta: Map<String, Value> = labels
        .meta
        .into_owned()
        .into_iter()
        .filter(|(key, _)| !RESERVED_RUN_FIELDS.contains(&key.as_str()))
        .collect();
    PreparedRun {
        planned: PlannedRun {
            variant: labels.variant.into_owned(),
            variant_name: labels.variant_name.map(Cow::into_owned),
            run: labels.run,
            seed: labels.seed,
            overlay: Value::Null,
            tags: labels.tags.into_owned(),
            notes: labels.notes.map(Cow::into_owned),
            meta,
        },
        generation_id: labels.generation_id.into_owned(),
        overlay,
        base: Arc::clone(base),
    }
}

/// Merges `--config`/`--set` given with `--resume` onto every stored run, after its overlay.
/// A change to a key the runner owns (mode, paths, labels, seed) is refused. Returns the changes
/// as `key: old -> new` lines, the old value taken from the first run.
pub fn apply_overlay(
    stored: &mut StoredExperiment,
    overlay: Value,
) -> Result<Vec<String>, RunnerError> {
    let Some(first) = stored.runs.first() else {
        return Ok(Vec::new());
    };
    for run in &stored.runs {
        if let Some((key, _, _)) = owned_keys_set(&overlay, &run.owned()).into_iter().next() {
            return Err(RunnerError::ResumeOwnedKey { key });
        }
    }
    let before = first.config().map_err(RunnerError::ResumeOverlay)?;
    let mut changes = Vec::new();
    leaves(&overlay, "", &mut |key, value| {
        let pointer: String = key.split('.').map(|part| format!("/{part}")).collect();
        let old = before
            .pointer(&pointer)
            .map_or_else(|| "(unset)".to_owned(), Value::to_string);
        changes.push(format!("  {key}: {old} -> {value}"));
    });
    let base = Arc::new(PlanBase {
        resume_overlay: overlay,
        ..PlanBase::clone(&first.base)
    });
    for run in &mut stored.runs {
        run.base = Arc::clone(&base);
        run.config().map_err(RunnerError::ResumeOverlay)?;
    }
    Ok(changes)
}

/// Calls `visit` with the dotted key and value of every leaf of a table.
fn leaves(tree: &Value, prefix: &str, visit: &mut dyn FnMut(&str, &Value)) {
    let Value::Object(table) = tree else { return };
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(_) => leaves(value, &dotted, visit),
            _ => visit(&dotted, value),
        }
    }
}

/// The pairs of a stored paired plan, from its stored pairing (every treatment, checked again).
pub fn stored_pairs(
    name: &str,
    stored: &StoredExperiment,
) -> Result<Option<super::PlanPairs>, RunnerError> {
    match &stored.pairing {
        Some(pairing) => Ok(Some(pairs(name, pairing, &stored.runs)?)),
        None => Ok(None),
    }
}

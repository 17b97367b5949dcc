//! The canonical experiment runner. It owns the order of events, not the file formats
//! (`artifacts`) nor the plugins' content (`plugins`).
//!
//! The steps (DESIGN §4):
//! 1. load the config layers and take out `experiment_runners`, checking the plugin's table;
//! 2. (the CLI resolved the plugin and parsed its flags);
//! 3. settle the experiment id, the output directory and the base seed;
//! 4. apply the standard overrides every run gets;
//! 5. ask the plugin for its plan, validate it, merge each overlay, assign generation ids;
//! 6. preflight: compile every run's config, read each data file once, check key variables;
//! 7. write `experiment.log`, the two plan files and, for A/B, `pairs.json`.
//!
//! Plan files are written also when preflight fails (then the command fails with exit 2).
//! `--dry-run` stops after step 7; executing runs arrives with the runner issue.

mod plan;
mod preflight;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_api::{LogLevel, PlanRequest, RunMode};
use serde_json::{json, Map, Value};

use crate::artifacts::plan_files::{
    write_plan_files, PairEntry, PairsDocument, PlanDocument, PluginRecord, RunnerFlags,
    RunnerRecord, LOG_FILE, PAIRS_FILE, PLAN_FILE, PLAN_FULL_FILE,
};
use crate::artifacts::{self, ArtifactError, LogFile};
use crate::clock::Timestamp;
use crate::config::{self, ConfigError, ConfigRequest};
use crate::plugins::{HostServices, LoadedExperiment};

pub use plan::{experiment_variant, pairs, prepare_runs, runs_per_variant, Pair, PlanError, PreparedRun};

/// Everything `experiments run` asks of the runner, already parsed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: ConfigRequest,
    /// Plugin flag values keyed by snake_case name (defaults filled in).
    pub args: Map<String, Value>,
    /// `--mode`; `None` means the plugin's default.
    pub run_mode: Option<RunMode>,
    pub output_root: Option<PathBuf>,
    pub experiment_id: Option<String>,
    pub seed: Option<u64>,
    pub jobs: Option<u64>,
    pub dry_run: bool,
    pub cwd: PathBuf,
}

/// What a planned experiment looks like, for the command's summary.
#[derive(Debug, Clone)]
pub struct PlannedExperiment {
    pub experiment_id: String,
    pub output_root: PathBuf,
    pub base_seed: u64,
    pub run_mode: RunMode,
    pub runs_per_variant: Vec<(String, usize)>,
    pub files: Vec<PathBuf>,
}

/// Why an experiment could not be planned or run. Every variant is a usage, config, plugin or
/// plan error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid experiment id `{0}` (expected letters, digits, `_`, `.` and `-`, without `..`)")]
    InvalidExperimentId(String),
    #[error("`{}` already holds an experiment plan\n\nchoose another `--output-root`, or continue that experiment with `--resume` once runs can execute", path.display())]
    OutputRootTaken { path: PathBuf },
    #[error("experiment `{experiment}` (`{}`) failed to plan", library.display())]
    PluginCall {
        experiment: String,
        library: PathBuf,
        #[source]
        source: plugin_api::loader::CallError,
    },
    #[error("the config clashes with the runner's standard overrides")]
    StandardOverrides(#[source] plugin_api::merge::MergeError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("preflight failed for {failed} of {total} planned runs; nothing was executed\n\n{details}\n\nsee `planned_runs_full[*].config_error` in `{}`", plan_full.display())]
    Preflight {
        failed: usize,
        total: usize,
        details: String,
        plan_full: PathBuf,
    },
    #[error("running experiments is not available yet in this version of image-project\n\nuse `--dry-run` to plan the experiment and write its plan files")]
    ExecutionNotAvailable,
}

/// Plans an experiment and writes its plan files (steps 1–7).
pub fn plan_experiment(
    experiment: &LoadedExperiment,
    options: &RunOptions,
) -> Result<PlannedExperiment, RunnerError> {
    if !options.dry_run {
        return Err(RunnerError::ExecutionNotAvailable);
    }
    let started = Timestamp::now();
    let name = experiment.name();

    // 1. Config.
    let loaded = config::load(&options.config)?;
    let mut base_config = loaded.tree;
    let mut runners = config::take_experiment_runners(&mut base_config)?;
    let runner_config = match runners.remove(name) {
        Some(Value::Object(table)) => table,
        _ => Map::new(),
    };
    config::check_runner_keys(name, &runner_config, &experiment.descriptor.runner_keys)?;

    // 3. Id, output directory, base seed.
    let run_mode = options.run_mode.unwrap_or(experiment.descriptor.default_run_mode);
    let (experiment_id, output_root) = settle_location(name, options, &started)?;
    let base_seed = options.seed.unwrap_or_else(crate::clock::fresh_seed);
    let log = Arc::new(LogFile::open(&output_root.join(LOG_FILE))?);
    log.record(LogLevel::Info, &format!("experiment `{name}` id `{experiment_id}`"))?;
    log.record(LogLevel::Info, &format!("output root `{}`", output_root.display()))?;
    log.record(LogLevel::Info, &format!("base seed {base_seed}; run mode {run_mode}"))?;
    log.record(LogLevel::Info, &format!("config: {}", serde_json::to_string(&loaded.meta).unwrap_or_default()))?;
    if !runner_config.is_empty() {
        log.record(
            LogLevel::Info,
            &format!("runner config `experiment_runners.{name}` ({} keys)", runner_config.len()),
        )?;
    }

    // 4. Standard overrides.
    let overrides = standard_overrides(run_mode, &output_root, &experiment_id, &started);
    plugin_api::merge::deep_merge(&mut base_config, &overrides).map_err(RunnerError::StandardOverrides)?;

    // 5. Plan.
    let services = HostServices::with_log(options.cwd.clone(), Arc::clone(&log));
    let request = PlanRequest {
        base_config: base_config.clone(),
        runner_config,
        args: options.args.clone(),
        run_mode,
        experiment_id: experiment_id.clone(),
        base_seed,
    };
    let plan = experiment.library.plan(&request, &services).map_err(|source| {
        let _ = log.record(LogLevel::Error, &format!("plan failed: {source}"));
        RunnerError::PluginCall {
            experiment: name.to_owned(),
            library: experiment.path.clone(),
            source,
        }
    })?;
    let runs = prepare_runs(name, &experiment_id, &plan, &base_config)?;
    let pairs = match &plan.pairing {
        Some(pairing) => Some(pairs(name, pairing, &runs)?),
        None => None,
    };
    let runs_per_variant = runs_per_variant(&runs);

    // 6. Preflight.
    let env = |name: &str| std::env::var(name).ok();
    let preflight = preflight::check(&runs, &options.cwd, &env);
    log.record(LogLevel::Info, &format!("planned {} runs: {}", runs.len(), describe_counts(&runs_per_variant)))?;

    // 7. Plan files.
    let jobs = options.jobs.or_else(|| base_config.pointer("/backend/text/max_concurrency").and_then(Value::as_u64));
    let summary = PlanDocument {
        schema_version: 1,
        kind: "experiment_plan",
        generated_at: Timestamp::now().iso().to_owned(),
        base_seed,
        experiment_name: name.to_owned(),
        experiment_id: experiment_id.clone(),
        output_root: output_root.display().to_string(),
        run_mode: run_mode.to_string(),
        config_meta: serde_json::to_value(&loaded.meta).unwrap_or(Value::Null),
        plugin: PluginRecord {
            name: name.to_owned(),
            summary: experiment.descriptor.summary.clone(),
            library: experiment.path.display().to_string(),
            interface_version: experiment.library.interface_version().to_owned(),
        },
        runner: RunnerRecord {
            standard_overrides: overrides,
            flags: RunnerFlags {
                dry_run: options.dry_run,
                resume: false,
                continue_on_error: false,
                jobs,
            },
        },
        experiment_args: options.args.clone(),
        experiment_meta: plan.meta.clone(),
        planned_runs: runs.iter().map(plan::planned_run_entry).collect(),
        generation_defaults: None,
        planned_runs_full: None,
    };
    let full = PlanDocument {
        kind: "experiment_plan_full",
        generated_at: Timestamp::now().iso().to_owned(),
        generation_defaults: Some(generation_defaults(&base_config)),
        planned_runs_full: Some(
            runs.iter()
                .zip(&preflight)
                .map(|(run, verdict)| {
                    let mut entry = plan::planned_run_entry(run);
                    entry.insert("config".into(), run.config.clone());
                    let (key, value) = verdict.plan_fields();
                    entry.insert(key.into(), value);
                    entry
                })
                .collect(),
        ),
        ..summary.clone()
    };
    write_plan_files(&output_root, &summary, &full)?;
    let mut files = vec![output_root.join(LOG_FILE), output_root.join(PLAN_FILE), output_root.join(PLAN_FULL_FILE)];
    if let Some(pairs) = pairs {
        let document = PairsDocument {
            schema_version: 1,
            experiment_id: experiment_id.clone(),
            created_at: Timestamp::now().iso().to_owned(),
            pairs: pairs
                .into_iter()
                .map(|pair| PairEntry {
                    run_index: pair.run_index,
                    a_generation_id: pair.a_generation_id,
                    b_generation_id: pair.b_generation_id,
                    metadata: json!({"mode": run_mode.as_str()}),
                })
                .collect(),
        };
        artifacts::write_json(&output_root.join(PAIRS_FILE), &document)?;
        files.push(output_root.join(PAIRS_FILE));
    }
    let failures: Vec<String> = runs
        .iter()
        .zip(&preflight)
        .filter_map(|(run, verdict)| match verdict {
            preflight::Preflight::Failed { kind, message } => {
                Some(format!("  {} ({kind}): {}", run.generation_id, message.replace('\n', "\n    ")))
            }
            preflight::Preflight::Passed { .. } => None,
        })
        .collect();
    if !failures.is_empty() {
        log.record(LogLevel::Error, &format!("preflight failed for {} planned runs:\n{}", failures.len(), failures.join("\n")))?;
        return Err(RunnerError::Preflight {
            failed: failures.len(),
            total: runs.len(),
            details: failures.join("\n"),
            plan_full: output_root.join(PLAN_FULL_FILE),
        });
    }
    log.record(LogLevel::Info, "preflight passed for every planned run")?;
    log.record(LogLevel::Info, "dry run: plan files written; no runs executed")?;

    Ok(PlannedExperiment {
        experiment_id,
        output_root,
        base_seed,
        run_mode,
        runs_per_variant,
        files,
    })
}

/// The experiment id and the absolute output directory (created, and not holding another plan).
fn settle_location(
    name: &str,
    options: &RunOptions,
    started: &Timestamp,
) -> Result<(String, PathBuf), RunnerError> {
    if let Some(id) = &options.experiment_id {
        if !is_safe_id(id) {
            return Err(RunnerError::InvalidExperimentId(id.clone()));
        }
    }
    let (experiment_id, output_root) = match (&options.experiment_id, &options.output_root) {
        (id, Some(root)) => (
            id.clone().unwrap_or_else(|| format!("{name}_{}", started.compact())),
            options.cwd.join(root),
        ),
        (Some(id), None) => (id.clone(), default_root(&options.cwd).join(id)),
        (None, None) => {
            // Two experiments started in the same second get distinct directories.
            let stem = format!("{name}_{}", started.compact());
            let root = default_root(&options.cwd);
            let id = (1..)
                .map(|n| if n == 1 { stem.clone() } else { format!("{stem}_{n}") })
                .find(|id| !root.join(id).exists())
                .unwrap_or(stem);
            (id.clone(), root.join(id))
        }
    };
    if output_root.join(PLAN_FULL_FILE).exists() || output_root.join(PLAN_FILE).exists() {
        return Err(RunnerError::OutputRootTaken { path: output_root });
    }
    artifacts::create_dir_all(&output_root)?;
    let output_root = output_root.canonicalize().unwrap_or(output_root);
    Ok((experiment_id, output_root))
}

fn default_root(cwd: &Path) -> PathBuf {
    cwd.join("_artifacts").join("experiments")
}

/// Experiment ids become directory names: `[A-Za-z0-9_.-]+` without `..`.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && !id.contains("..")
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The overlay every run gets, whatever the plugin plans (DESIGN §4 step 4).
fn standard_overrides(mode: RunMode, out: &Path, experiment_id: &str, started: &Timestamp) -> Value {
    let path = |relative: &str| out.join(relative).display().to_string();
    json!({
        "run": {"mode": mode.as_str()},
        "image": {"log_path": path("logs"), "generation_path": path("generated")},
        "prompt": {
            "generations_path": path("logs/generations.csv"),
            "titles_manifest_path": path("generated/titles_manifest.csv"),
        },
        "experiment": {"id": experiment_id},
        "context": {"today": started.date()},
    })
}

/// `generation_defaults` of the full plan: the models and image settings runs will use.
fn generation_defaults(config: &Value) -> Value {
    let get = |pointer: &str| config.pointer(pointer).cloned().unwrap_or(Value::Null);
    json!({
        "text_provider": get("/backend/text/provider"),
        "text_model": get("/backend/text/model"),
        "text_reasoning_effort": get("/backend/text/reasoning_effort"),
        "image_provider": get("/backend/image/provider"),
        "image_model": get("/backend/image/model"),
        "image_size": get("/backend/image/size"),
        "image_quality": get("/backend/image/quality"),
        "image_moderation": get("/backend/image/moderation"),
    })
}

/// `A: 3, B: 3` for logs and summaries.
pub fn describe_counts(counts: &[(String, usize)]) -> String {
    counts
        .iter()
        .map(|(variant, count)| format!("{variant}: {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_ids_must_be_safe_directory_names() {
        for ok in ["3x3_20261128_101500", "a.b-c_d"] {
            assert!(is_safe_id(ok), "{ok}");
        }
        for bad in ["", "..", "a..b", "a/b", "a b", "ä"] {
            assert!(!is_safe_id(bad), "{bad}");
        }
    }
}

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
//! 8. execute the runs with `--jobs` workers, recording each as it finishes (`execute`, `results`);
//! 9. stop dispatching after a failure (unless `--continue-on-error`) or a Ctrl-C;
//! 10. (`--resume`: steps 1–7 are replaced by reading the stored full plan, `resume`);
//! 11. analyse each run as it finishes, then the whole experiment;
//! 12. update the artifacts index, best-effort.
//!
//! Plan files are written also when preflight fails (then the command fails with exit 2).
//! `--dry-run` stops after step 7.

mod execute;
mod plan;
mod preflight;
mod results;
mod resume;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use plugin_api::{AnalyzeRequest, LogLevel, PlanRequest, RunMode};
use serde_json::{json, Map, Value};

use crate::artifacts::plan_files::{
    write_plan_files, PlanDocument, PluginRecord, RunnerFlags, RunnerRecord, LOG_FILE, PAIRS_FILE,
    PLAN_FILE, PLAN_FULL_FILE,
};
use crate::artifacts::{self, ArtifactError, LogFile};
use crate::clock::Timestamp;
use crate::config::{self, ConfigError, ConfigRequest};
use crate::generation::Backends;
use crate::plugins::{HostServices, LoadedExperiment};

pub use execute::{ExecutionReport, RunEvent};
pub use plan::{
    experiment_variant, pairs, prepare_runs, runs_per_variant, Pair, PlanError, PreparedRun,
};
pub use results::{RESULTS_FILE, RESULTS_LOG_FILE};

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
    pub resume: bool,
    pub continue_on_error: bool,
    pub cwd: PathBuf,
}

/// A planned (or resumed) experiment, ready to execute.
struct Planned {
    experiment_id: String,
    output_root: PathBuf,
    base_seed: u64,
    run_mode: RunMode,
    runs: Vec<PreparedRun>,
    pairs: Option<Vec<Pair>>,
    log: Arc<LogFile>,
    files: Vec<PathBuf>,
}

/// What happened, for the command's summary.
#[derive(Debug, Clone)]
pub struct ExperimentReport {
    pub experiment_id: String,
    pub output_root: PathBuf,
    pub base_seed: u64,
    pub run_mode: RunMode,
    pub runs_per_variant: Vec<(String, usize)>,
    pub dry_run: bool,
    /// Runs already done before this session (resume).
    pub already_done: usize,
    pub execution: Option<ExecutionReport>,
    /// Per variant: (variant, succeeded, failed) over the stored results.
    pub tallies: Vec<(String, usize, usize)>,
    /// The plugin's summary analysis.
    pub summary: Option<Value>,
    pub summary_failed: bool,
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

impl ExperimentReport {
    /// Every run succeeded and every analysis too (exit 0), or not (exit 1).
    pub fn all_good(&self) -> bool {
        let failed_runs = self.tallies.iter().any(|(_, _, failed)| *failed > 0);
        let execution_ok = self.execution.as_ref().is_none_or(|execution| {
            execution.failed == 0
                && execution.analysis_failures == 0
                && execution.skipped.is_empty()
                && !execution.interrupted
        });
        !failed_runs && execution_ok && !self.summary_failed
    }
}

/// Why an experiment could not be planned or run. Every variant is a usage, config, plugin or
/// plan error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "invalid experiment id `{0}` (expected letters, digits, `_`, `.` and `-`, without `..`)"
    )]
    InvalidExperimentId(String),
    #[error("`{}` already holds an experiment plan\n\nchoose another `--output-root`, or continue that experiment with `--resume --output-root`", path.display())]
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
    #[error("cannot resume from `{}`: {message}", path.display())]
    Resume { path: PathBuf, message: String },
    #[error("cannot read the generation history `{}`: {message}", path.display())]
    History { path: PathBuf, message: String },
    #[error("`{}` is locked by another image-project process running this experiment", path.display())]
    Locked { path: PathBuf },
    #[error("`--config`/`--set` given with `--resume` do not merge onto the stored run configs")]
    ResumeOverlay(#[source] plugin_api::merge::MergeError),
    #[error(transparent)]
    Backend(#[from] crate::backends::BackendError),
}

/// Plans a new experiment and writes its plan files (steps 1–7).
fn plan_new(experiment: &LoadedExperiment, options: &RunOptions) -> Result<Planned, RunnerError> {
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
    let run_mode = options
        .run_mode
        .unwrap_or(experiment.descriptor.default_run_mode);
    let (experiment_id, output_root) = settle_location(name, options, &started)?;
    let base_seed = options.seed.unwrap_or_else(crate::clock::fresh_seed);
    let log = Arc::new(LogFile::open(&output_root.join(LOG_FILE))?);
    log.record(
        LogLevel::Info,
        &format!("experiment `{name}` id `{experiment_id}`"),
    )?;
    log.record(
        LogLevel::Info,
        &format!("output root `{}`", output_root.display()),
    )?;
    log.record(
        LogLevel::Info,
        &format!("base seed {base_seed}; run mode {run_mode}"),
    )?;
    log.record(
        LogLevel::Info,
        &format!(
            "config: {}",
            serde_json::to_string(&loaded.meta).unwrap_or_default()
        ),
    )?;
    if !runner_config.is_empty() {
        log.record(
            LogLevel::Info,
            &format!(
                "runner config `experiment_runners.{name}` ({} keys)",
                runner_config.len()
            ),
        )?;
    }

    // 4. Standard overrides.
    let overrides = standard_overrides(run_mode, &output_root, &experiment_id, &started);
    plugin_api::merge::deep_merge(&mut base_config, &overrides)
        .map_err(RunnerError::StandardOverrides)?;

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
    let plan = experiment
        .library
        .plan(&request, &services)
        .map_err(|source| {
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
    log.record(
        LogLevel::Info,
        &format!(
            "planned {} runs: {}",
            runs.len(),
            describe_counts(&runs_per_variant)
        ),
    )?;

    // 7. Plan files.
    let jobs = options.jobs.or_else(|| {
        base_config
            .pointer("/backend/text/max_concurrency")
            .and_then(Value::as_u64)
    });
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
                continue_on_error: options.continue_on_error,
                jobs,
            },
        },
        experiment_args: options.args.clone(),
        experiment_meta: plan.meta.clone(),
        pairing: plan.pairing.clone(),
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
    let mut files = vec![
        output_root.join(LOG_FILE),
        output_root.join(PLAN_FILE),
        output_root.join(PLAN_FULL_FILE),
    ];
    if let Some(pairs) = &pairs {
        let document = results::pairs_document(&experiment_id, run_mode.as_str(), pairs, |_| None);
        artifacts::write_json(&output_root.join(PAIRS_FILE), &document)?;
        files.push(output_root.join(PAIRS_FILE));
    }
    check_preflight(&runs, &preflight, &log, &output_root)?;
    Ok(Planned {
        experiment_id,
        output_root,
        base_seed,
        run_mode,
        runs,
        pairs,
        log,
        files,
    })
}

/// Fails with every run's preflight error, if any run failed preflight.
fn check_preflight(
    runs: &[PreparedRun],
    preflight: &[preflight::Preflight],
    log: &LogFile,
    output_root: &Path,
) -> Result<(), RunnerError> {
    let failures: Vec<String> = runs
        .iter()
        .zip(preflight)
        .filter_map(|(run, verdict)| match verdict {
            preflight::Preflight::Failed { kind, message } => Some(format!(
                "  {} ({kind}): {}",
                run.generation_id,
                message.replace('\n', "\n    ")
            )),
            preflight::Preflight::Passed { .. } => None,
        })
        .collect();
    if !failures.is_empty() {
        log.record(
            LogLevel::Error,
            &format!(
                "preflight failed for {} planned runs:\n{}",
                failures.len(),
                failures.join("\n")
            ),
        )?;
        return Err(RunnerError::Preflight {
            failed: failures.len(),
            total: runs.len(),
            details: failures.join("\n"),
            plan_full: output_root.join(PLAN_FULL_FILE),
        });
    }
    log.record(LogLevel::Info, "preflight passed for every planned run")?;
    Ok(())
}

/// Reads a stored experiment back (step 10) and re-runs preflight on it.
fn resume_planned(
    experiment: &LoadedExperiment,
    options: &RunOptions,
) -> Result<Planned, RunnerError> {
    let name = experiment.name();
    let output_root = match &options.output_root {
        Some(root) => options.cwd.join(root),
        None => {
            return Err(RunnerError::Resume {
                path: options.cwd.clone(),
                message: "`--resume` needs `--output-root` pointing at the experiment directory"
                    .to_owned(),
            })
        }
    };
    let mut stored = resume::load(&output_root, name)?;
    let log = Arc::new(LogFile::open(&output_root.join(LOG_FILE))?);
    log.record(
        LogLevel::Info,
        &format!("resuming experiment `{name}` id `{}`", stored.experiment_id),
    )?;
    if !options.config.files.is_empty() || !options.config.sets.is_empty() {
        let overlay = config::load_overlay(&options.config)?;
        for run in &mut stored.runs {
            plugin_api::merge::deep_merge(&mut run.config, &overlay)
                .map_err(RunnerError::ResumeOverlay)?;
        }
        log.record(
            LogLevel::Info,
            &format!(
                "merged onto every stored run config: {}",
                serde_json::to_string(&overlay).unwrap_or_default()
            ),
        )?;
    }
    let env = |name: &str| std::env::var(name).ok();
    let preflight = preflight::check(&stored.runs, &options.cwd, &env);
    check_preflight(&stored.runs, &preflight, &log, &output_root)?;
    let pairs = resume::stored_pairs(name, &stored)?;
    Ok(Planned {
        experiment_id: stored.experiment_id,
        output_root,
        base_seed: stored.base_seed,
        run_mode: stored.run_mode,
        runs: stored.runs,
        pairs,
        log,
        files: Vec::new(),
    })
}

/// Plans (or resumes) an experiment, executes it unless `--dry-run`, and reports.
pub fn run_experiment(
    experiment: &LoadedExperiment,
    options: &RunOptions,
    interrupt: &AtomicBool,
    events: &(dyn Fn(RunEvent) + Sync),
) -> Result<ExperimentReport, RunnerError> {
    let planned = if options.resume {
        resume_planned(experiment, options)?
    } else {
        plan_new(experiment, options)?
    };
    let mut report = ExperimentReport {
        experiment_id: planned.experiment_id.clone(),
        output_root: planned.output_root.clone(),
        base_seed: planned.base_seed,
        run_mode: planned.run_mode,
        runs_per_variant: runs_per_variant(&planned.runs),
        dry_run: options.dry_run,
        already_done: 0,
        execution: None,
        tallies: Vec::new(),
        summary: None,
        summary_failed: false,
        files: planned.files.clone(),
        warnings: Vec::new(),
    };
    let log = Arc::clone(&planned.log);
    if options.dry_run {
        log.record(
            LogLevel::Info,
            "dry run: plan files written; no runs executed",
        )?;
        update_index(&planned.output_root, &log, &mut report);
        return Ok(report);
    }

    // 8–9. Execute.
    let _lock = resume::lock_dir(&planned.output_root)?;
    let plan_order: Vec<String> = planned
        .runs
        .iter()
        .map(|run| run.generation_id.clone())
        .collect();
    let store = results::ResultsStore::open(
        &planned.output_root,
        &planned.experiment_id,
        planned.run_mode.as_str(),
        plan_order,
        planned.pairs.clone(),
    )?;
    if !store.unreadable_lines.is_empty() {
        report.warnings.push(format!(
            "`{}`: lines {:?} do not parse and were ignored",
            planned.output_root.join(RESULTS_LOG_FILE).display(),
            store.unreadable_lines
        ));
    }
    let done = store.done();
    let to_run: Vec<usize> = (0..planned.runs.len())
        .filter(|&i| !done.contains(&planned.runs[i].generation_id))
        .collect();
    report.already_done = planned.runs.len() - to_run.len();
    if report.already_done > 0 {
        log.record(
            LogLevel::Info,
            &format!(
                "{} of {} runs already done; executing {}",
                report.already_done,
                planned.runs.len(),
                to_run.len()
            ),
        )?;
    }
    let backends = build_backends(&planned.runs, &to_run)?;
    let jobs = options
        .jobs
        .or_else(|| {
            planned
                .runs
                .first()
                .and_then(|run| run.config.pointer("/backend/text/max_concurrency"))
                .and_then(Value::as_u64)
        })
        .unwrap_or(1)
        .max(1) as usize;
    log.record(
        LogLevel::Info,
        &format!("executing {} runs with {jobs} workers", to_run.len()),
    )?;
    let store = std::sync::Mutex::new(store);
    let lookup = |run: &PreparedRun| {
        let key = backend_key(run);
        backends
            .iter()
            .find(|(known, _)| *known == key)
            .map(|(_, built)| built.clone())
            .unwrap_or_else(|| backends[0].1.clone())
    };
    // A run's history is the snapshot taken now, so `--jobs` never changes what a seed produces.
    let history_path = planned
        .runs
        .first()
        .and_then(|run| run.config.pointer("/prompt/generations_path"))
        .and_then(Value::as_str)
        .map(|path| options.cwd.join(path));
    let recent_prompts = match history_path {
        Some(path) => crate::generation::recent_prompts(&path)
            .map_err(|message| RunnerError::History { path, message })?,
        None => Vec::new(),
    };
    let execution = execute::Execution {
        experiment,
        recent_prompts,
        runs: &planned.runs,
        to_run,
        jobs,
        continue_on_error: options.continue_on_error,
        cwd: &options.cwd,
        log: Arc::clone(&log),
        backends: &lookup,
        interrupt,
        events,
    };
    let executed = execute::execute(&execution, &store)?;
    let mut store = store
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    // 11. The experiment's summary analysis, over every stored result.
    let services = HostServices::with_log(options.cwd.clone(), Arc::clone(&log));
    let entries = store.entries();
    match experiment.library.analyze(
        &AnalyzeRequest::Summary {
            results: entries.clone(),
        },
        &services,
    ) {
        Ok(summary) => {
            store.set_summary(summary.clone(), None)?;
            report.summary = summary;
        }
        Err(error) => {
            log.record(
                LogLevel::Error,
                &format!("summary analysis failed: {error}"),
            )?;
            store.set_summary(None, Some(execute::hook_error(&error)))?;
            report.summary_failed = true;
        }
    }
    report.tallies = tallies(&planned.runs, &entries);
    report.execution = Some(executed);
    report.files.extend([
        planned.output_root.join(RESULTS_LOG_FILE),
        planned.output_root.join(RESULTS_FILE),
    ]);
    log.record(
        LogLevel::Info,
        &format!("finished: {}", describe_tallies(&report.tallies)),
    )?;
    update_index(&planned.output_root, &log, &mut report);
    Ok(report)
}

/// Step 12: refreshes the index of the `_artifacts` store holding the experiment, best-effort:
/// a failure is a warning, never a failed experiment.
fn update_index(output_root: &Path, log: &LogFile, report: &mut ExperimentReport) {
    let Some(store) = crate::artifacts::index::store_of(output_root) else {
        let warning = format!(
            "the artifacts index was not updated: `{}` is not inside an `_artifacts` directory",
            output_root.display()
        );
        let _ = log.record(LogLevel::Warn, &warning);
        report.warnings.push(warning);
        return;
    };
    match crate::artifacts::index::update_store(&store) {
        Ok(index) => {
            let _ = log.record(
                LogLevel::Info,
                &format!(
                    "artifacts index updated: {}",
                    serde_json::to_string(&index.counts).unwrap_or_default()
                ),
            );
        }
        Err(error) => {
            let warning = format!(
                "the artifacts index was not updated: {}",
                crate::generation::error_chain(&error)
            );
            let _ = log.record(LogLevel::Warn, &warning);
            report.warnings.push(warning);
        }
    }
}

/// The backends every run to execute needs, built once per distinct `backend` table so one
/// concurrency bound covers all workers. A missing key variable fails here, before any call.
fn build_backends(
    runs: &[PreparedRun],
    to_run: &[usize],
) -> Result<Vec<(String, Backends)>, RunnerError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut built: Vec<(String, Backends)> = Vec::new();
    for &position in to_run.iter().chain(std::iter::once(&0)) {
        let Some(run) = runs.get(position) else {
            continue;
        };
        let key = backend_key(run);
        if built.iter().any(|(known, _)| *known == key) {
            continue;
        }
        let config = config::parse_run_config(&run.config)?;
        built.push((key, Backends::from_config(&config, &env)?));
    }
    Ok(built)
}

fn backend_key(run: &PreparedRun) -> String {
    run.config
        .get("backend")
        .map(Value::to_string)
        .unwrap_or_default()
}

/// (variant, succeeded, failed) per variant, in plan order, over the stored results.
fn tallies(runs: &[PreparedRun], entries: &[Value]) -> Vec<(String, usize, usize)> {
    let mut tallies: Vec<(String, usize, usize)> = Vec::new();
    for run in runs {
        if !tallies
            .iter()
            .any(|(variant, _, _)| *variant == run.planned.variant)
        {
            tallies.push((run.planned.variant.clone(), 0, 0));
        }
    }
    for entry in entries {
        let variant = entry
            .get("variant")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let success = entry.get("status").and_then(Value::as_str) == Some("success");
        if let Some(tally) = tallies.iter_mut().find(|(known, _, _)| known == variant) {
            if success {
                tally.1 += 1;
            } else {
                tally.2 += 1;
            }
        }
    }
    tallies
}

/// `A: 3 ok, B: 2 ok 1 failed` for logs and summaries.
pub fn describe_tallies(tallies: &[(String, usize, usize)]) -> String {
    tallies
        .iter()
        .map(|(variant, ok, failed)| {
            if *failed > 0 {
                format!("{variant}: {ok} ok, {failed} failed")
            } else {
                format!("{variant}: {ok} ok")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
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
            id.clone()
                .unwrap_or_else(|| format!("{name}_{}", started.compact())),
            options.cwd.join(root),
        ),
        (Some(id), None) => (id.clone(), default_root(&options.cwd).join(id)),
        (None, None) => {
            // Two experiments started in the same second get distinct directories.
            let stem = format!("{name}_{}", started.compact());
            let root = default_root(&options.cwd);
            let id = (1..)
                .map(|n| {
                    if n == 1 {
                        stem.clone()
                    } else {
                        format!("{stem}_{n}")
                    }
                })
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
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The overlay every run gets, whatever the plugin plans (DESIGN §4 step 4).
fn standard_overrides(
    mode: RunMode,
    out: &Path,
    experiment_id: &str,
    started: &Timestamp,
) -> Value {
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

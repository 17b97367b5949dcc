//! The canonical experiment runner. It owns the order of events, not the file formats
//! (`artifacts`) nor the plugins' content (`plugins`).
//!
//! The steps (DESIGN §4):
//! 0. under a budget (`--max-cost`), rehearse a new experiment first (`estimate`) and refuse it
//!    when the estimate is above the budget (`budget`);
//! 1. load the config layers and take out `experiment_runners`, checking the plugin's table;
//! 2. (the CLI resolved the plugin and parsed its flags);
//! 3. settle the experiment id, the output directory and the base seed;
//! 4. apply the standard overrides every run gets;
//! 5. ask the plugin for its plan, validate it, keep each overlay, assign generation ids;
//! 6. preflight: compile every run's config, read each data file once, check key variables;
//! 7. create the output directory and take its lock, then commit `experiment.log`, `pairs.json`
//!    and the two plan files (`artifacts::plan_files`).
//!
//! 8. execute the runs with `--jobs` workers, recording each as it finishes (`execute`, `results`);
//! 9. stop dispatching after a failure (unless `--continue-on-error`), a Ctrl-C, or before a run
//!    would pass the budget;
//! 10. (`--resume`: take the lock, then read the stored full plan instead of steps 1–7, `resume`);
//! 11. analyse each run as it finishes, then the whole experiment; sum what the runs used and
//!     cost (`spend`);
//! 12. update the artifacts index, best-effort.
//!
//! Nothing is written before step 7 (a usage, config or plan error leaves no directory behind),
//! and the lock is held from step 7 to the end, so a second runner on the same directory is
//! refused before it writes a byte. Plan files are written also when preflight fails (then the
//! command fails with exit 2). `--dry-run` stops after step 7. Once runs have executed, an I/O
//! error no longer fails the command as a usage error: it is reported, with exit code 1.

mod budget;
pub mod estimate;
mod execute;
mod plan;
mod preflight;
mod results;
mod resume;
mod services;
pub mod spend;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use plugin_api::{LogLevel, PlanRequest, RunMode};
use serde_json::{json, Map, Value};

use crate::artifacts::plan_files::{
    commit_plan_files, plan_committed, remove_uncommitted_plan, FullPlanDocument, PlanDocument,
    PlanHeader, PluginRecord, RunnerFlags, RunnerRecord, LOG_FILE, PAIRS_FILE, PLAN_FILE,
    PLAN_FULL_FILE, PLAN_FULL_SCHEMA,
};
use crate::artifacts::{self, ArtifactError, LogFile, Rows, GENERATED_DIR, LOGS_DIR};
use crate::clock::Timestamp;
use crate::config::{self, ConfigError, ConfigRequest};
use crate::generation::Backends;
use crate::metrics;
use crate::plugins::LoadedExperiment;

pub use execute::{ExecutionReport, RunEvent};
pub use plan::{
    experiment_variant, owned_key_changed, pairs, runs_per_variant, Pair, PlanBase, PlanError,
    PreparedRun,
};
pub use results::{RESULTS_FILE, RESULTS_LOG_FILE};
pub use services::{HostServices, RunContext};

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
    /// `--max-cost`: over `budget.max_cost_usd`.
    pub max_cost_usd: Option<f64>,
    /// A rehearsal for `--estimate` (offline, in a scratch directory): no budget applies.
    pub rehearsal: bool,
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
    /// `--resume`: what `--config`/`--set` changed, one `key: old -> new` line each.
    config_changes: Vec<String>,
    /// The experiment directory's lock, held until the experiment ends.
    _lock: resume::DirLock,
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
    /// The plugin's summary analysis, with the runner's `metrics` in it (see `place_metrics`).
    pub summary: Option<Value>,
    pub summary_failed: bool,
    /// Why the summary analysis failed (first line).
    pub summary_error: Option<String>,
    /// The runner's metrics (also in `summary`), for the terminal table.
    pub metrics: Option<metrics::MetricsSummary>,
    /// The summary's `variant_metrics`, checked, for the terminal table.
    pub figures: metrics::Ordered<metrics::VariantFigure>,
    /// The summary's top-level scalar fields, for the terminal.
    pub summary_fields: Vec<(String, String)>,
    /// Every stored run whose latest entry failed, in plan order.
    pub failures: Vec<metrics::Failure>,
    /// What the stored runs used and cost (also `summary.usage`).
    pub spend: Option<spend::SpendSummary>,
    /// The budget, when one applied, and where it stands.
    pub budget: Option<budget::BudgetStatus>,
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
    /// `--resume`: what `--config`/`--set` changed in the stored run configs.
    pub config_changes: Vec<String>,
    /// An error that stopped the runner after runs had executed (a record could not be written,
    /// say): the command fails with exit 1, not as a usage error.
    pub stopped_by: Option<String>,
}

impl ExperimentReport {
    /// Every run succeeded and every analysis too (exit 0), or not (exit 1).
    pub fn all_good(&self) -> bool {
        if self.stopped_by.is_some() {
            return false;
        }
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
        "invalid experiment id `{0}` (expected letters, digits, `_`, `.` and `-`, not `.` alone and without `..`)"
    )]
    InvalidExperimentId(String),
    #[error("`{}` is a symbolic link inside the experiment directory; refusing to write through it", path.display())]
    SymlinkInOutput { path: PathBuf },
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
    #[error("`--config`/`--set` given with `--resume` change `{key}`, which the runner owns in a stored experiment\n\nstart a new experiment to change it")]
    ResumeOwnedKey { key: String },
    #[error(transparent)]
    Backend(#[from] crate::backends::BackendError),
    /// `--estimate` could not rehearse the experiment.
    #[error("cannot rehearse the experiment for `--estimate`: {0}")]
    Rehearsal(String),
    /// `--max-cost`: the estimate is above the budget, or its cost is unknown.
    #[error("{message}")]
    OverBudget {
        message: String,
        estimate: Box<estimate::Estimate>,
    },
}

/// Plans a new experiment and commits its plan files (steps 1–7).
fn plan_new(experiment: &LoadedExperiment, options: &RunOptions) -> Result<Planned, RunnerError> {
    let started = Timestamp::now();
    let name = experiment.name();

    // 1. Config.
    let loaded = config::load(&options.config)?;
    if !options.dry_run {
        crate::backends::tokens::start_loading(&loaded.tree);
    }
    let mut base_config = loaded.tree;
    let mut runners = config::take_experiment_runners(&mut base_config)?;
    let runner_config = match runners.remove(name) {
        Some(Value::Object(table)) => table,
        _ => Map::new(),
    };
    config::check_runner_keys(name, &runner_config, &experiment.descriptor.runner_keys)?;

    // 3. Id, output directory (not created yet), base seed.
    let run_mode = options
        .run_mode
        .unwrap_or(experiment.descriptor.default_run_mode);
    let location = settle_location(name, options, &started)?;
    let output_root = location.output_root.clone();
    let experiment_id = location.experiment_id.clone();
    let base_seed = options.seed.unwrap_or_else(crate::clock::fresh_seed);
    // Kept in memory until the directory is ours (step 7).
    let log = Arc::new(LogFile::pending(&output_root.join(LOG_FILE)));
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
    let services = HostServices::with_log(options.cwd.clone(), Arc::clone(&log))
        .with_file_limit(file_limit(&base_config));
    let request = PlanRequest {
        base_config: base_config.clone(),
        runner_config,
        args: options.args.clone(),
        run_mode,
        experiment_id: experiment_id.clone(),
        base_seed,
    };
    let base = Arc::new(PlanBase {
        config: base_config,
        owned: owned_overrides(&overrides),
        resume_overlay: Value::Object(Map::new()),
    });
    // The runs are prepared as the plugin's answer is read, never all held as JSON values.
    let mut preparer = plan::RunPreparer::new(name, &experiment_id, Arc::clone(&base));
    let mut invalid = None;
    let answer = experiment
        .library
        .plan_each(&request, &services, &mut |run| match preparer.add(run) {
            Ok(()) => true,
            Err(error) => {
                invalid = Some(error);
                false
            }
        });
    drop(request);
    if let Some(error) = invalid {
        return Err(error.into());
    }
    let plan = answer.map_err(|source| RunnerError::PluginCall {
        experiment: name.to_owned(),
        library: experiment.path.clone(),
        source,
    })?;
    let runs = preparer.finish()?;
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

    // 7. The directory, its lock, then the plan files.
    let lock = claim_location(&location)?;
    log.attach()?;
    let jobs = options.jobs.or_else(|| {
        base.config
            .pointer("/backend/text/max_concurrency")
            .and_then(Value::as_u64)
    });
    let header = PlanHeader {
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
    };
    let summary = PlanDocument {
        schema_version: 1,
        kind: "experiment_plan",
        header: &header,
        planned_runs: Rows(&runs, plan::planned_run_entry),
    };
    // Each distinct overlay once; runs refer to theirs by index.
    let mut overlays: Vec<&Value> = Vec::new();
    let mut overlay_index: std::collections::HashMap<*const Value, usize> =
        std::collections::HashMap::new();
    let full_entries: Vec<(&str, usize, &preflight::Preflight)> = runs
        .iter()
        .zip(&preflight.verdicts)
        .map(|(run, verdict)| {
            let index = *overlay_index
                .entry(Arc::as_ptr(&run.overlay))
                .or_insert_with(|| {
                    overlays.push(&run.overlay);
                    overlays.len() - 1
                });
            (run.generation_id.as_str(), index, verdict)
        })
        .collect();
    let full = FullPlanDocument {
        schema_version: PLAN_FULL_SCHEMA,
        kind: "experiment_plan_full",
        header: &header,
        generation_defaults: generation_defaults(&base.config),
        base_config: &base.config,
        overlays: &overlays,
        prompt_pipelines: &preflight.prompt_pipelines,
        planned_runs_full: Rows(
            &full_entries,
            |(generation_id, overlay, verdict): &(&str, usize, &preflight::Preflight)| {
                let mut entry = Map::new();
                entry.insert("generation_id".into(), json!(generation_id));
                entry.insert("overlay".into(), json!(overlay));
                let (key, value) = verdict.plan_fields();
                entry.insert(key.into(), value);
                entry
            },
        ),
    };
    let pairs_document = pairs
        .as_ref()
        .map(|pairs| results::pairs_document(&experiment_id, run_mode.as_str(), pairs, |_| None));
    commit_plan_files(&output_root, &summary, &full, pairs_document.as_ref())?;
    drop(full_entries);
    let mut files = vec![
        output_root.join(LOG_FILE),
        output_root.join(PLAN_FILE),
        output_root.join(PLAN_FULL_FILE),
    ];
    if pairs.is_some() {
        files.push(output_root.join(PAIRS_FILE));
    }
    check_preflight(&runs, &preflight.verdicts, &log, &output_root)?;
    Ok(Planned {
        experiment_id,
        output_root,
        base_seed,
        run_mode,
        runs,
        pairs,
        log,
        files,
        config_changes: Vec::new(),
        _lock: lock,
    })
}

/// Fails with every run's preflight error, if any run failed preflight: one line per distinct
/// error, with how many runs it hit and the first of them.
fn check_preflight(
    runs: &[PreparedRun],
    verdicts: &[preflight::Preflight],
    log: &LogFile,
    output_root: &Path,
) -> Result<(), RunnerError> {
    const SHOWN_IDS: usize = 3;
    let mut groups: Vec<((&str, &str), Vec<&str>)> = Vec::new();
    let mut failed = 0;
    for (run, verdict) in runs.iter().zip(verdicts) {
        let preflight::Preflight::Failed { kind, message } = verdict else {
            continue;
        };
        failed += 1;
        let key = (*kind, message.as_str());
        match groups.iter_mut().find(|(known, _)| *known == key) {
            Some((_, ids)) => ids.push(&run.generation_id),
            None => groups.push((key, vec![&run.generation_id])),
        }
    }
    if groups.is_empty() {
        log.record(LogLevel::Info, "preflight passed for every planned run")?;
        return Ok(());
    }
    let details = groups
        .iter()
        .map(|((kind, message), ids)| {
            let mut shown = ids[..ids.len().min(SHOWN_IDS)].join(", ");
            if ids.len() > SHOWN_IDS {
                shown.push_str(", ...");
            }
            let runs = if ids.len() == 1 { "run" } else { "runs" };
            format!(
                "  {} {runs} ({shown}), {kind}: {}",
                ids.len(),
                message.replace('\n', "\n    ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    log.record(
        LogLevel::Error,
        &format!("preflight failed for {failed} planned runs:\n{details}"),
    )?;
    Err(RunnerError::Preflight {
        failed,
        total: runs.len(),
        details,
        plan_full: output_root.join(PLAN_FULL_FILE),
    })
}

/// Takes the lock of a stored experiment, reads it back (step 10) and re-runs preflight on it.
fn resume_planned(
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
    let lock = resume::lock_dir(&output_root)?;
    check_no_symlinks(&output_root)?;
    let mut stored = resume::load(&output_root, name)?;
    let log = Arc::new(LogFile::open(&output_root.join(LOG_FILE))?);
    log.record(
        LogLevel::Info,
        &format!("resuming experiment `{name}` id `{}`", stored.experiment_id),
    )?;
    let mut removed = 0;
    for dir in [
        output_root.clone(),
        output_root.join(LOGS_DIR),
        output_root.join(GENERATED_DIR),
    ] {
        removed += artifacts::remove_stale_temp_files(&dir)?;
    }
    if removed > 0 {
        log.record(
            LogLevel::Info,
            &format!("removed {removed} temp files left by an interrupted write"),
        )?;
    }
    let mut changes = Vec::new();
    if !options.config.files.is_empty() || !options.config.sets.is_empty() {
        let overlay = config::load_overlay(&options.config)?;
        changes = resume::apply_overlay(&mut stored, overlay)?;
        log.record(
            LogLevel::Info,
            &format!(
                "`--config`/`--set` merged onto every stored run config:\n{}",
                changes.join("\n")
            ),
        )?;
    }
    let env = |name: &str| std::env::var(name).ok();
    let preflight = preflight::check(&stored.runs, &options.cwd, &env);
    check_preflight(&stored.runs, &preflight.verdicts, &log, &output_root)?;
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
        config_changes: changes,
        _lock: lock,
    })
}

/// Plans (or resumes) an experiment, executes it unless `--dry-run`, and reports.
pub fn run_experiment(
    experiment: &LoadedExperiment,
    options: &RunOptions,
    interrupt: &AtomicBool,
    events: &(dyn Fn(RunEvent) + Sync),
) -> Result<ExperimentReport, RunnerError> {
    // A new experiment with a budget is rehearsed first; the real run then plans the very
    // runs the rehearsal estimated (its base seed).
    let mut new_budget = None;
    let fixed_seed;
    let options = match budget_of_new(experiment, options)? {
        Some((max_usd, estimates, seed)) => {
            new_budget = Some((max_usd, estimates));
            fixed_seed = RunOptions {
                seed: Some(seed),
                ..options.clone()
            };
            &fixed_seed
        }
        None => options,
    };
    let mut planned = if options.resume {
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
        summary_error: None,
        metrics: None,
        figures: metrics::Ordered::default(),
        summary_fields: Vec::new(),
        failures: Vec::new(),
        spend: None,
        budget: None,
        files: planned.files.clone(),
        warnings: Vec::new(),
        config_changes: planned.config_changes.clone(),
        stopped_by: None,
    };
    let log = Arc::clone(&planned.log);
    if options.dry_run {
        log.record(
            LogLevel::Info,
            "dry run: plan files written; no runs executed",
        )?;
        log.sync()?;
        // The index of a large plan takes memory of its own; the prepared runs are done with.
        drop(std::mem::take(&mut planned.runs));
        report
            .warnings
            .extend(update_index(&planned.output_root, &log));
        return Ok(report);
    }

    // 8–9. Execute.
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
    let first_config = planned
        .runs
        .first()
        .map(PreparedRun::config)
        .transpose()
        .map_err(RunnerError::ResumeOverlay)?
        .unwrap_or(Value::Null);
    let history_path = first_config
        .pointer("/prompt/generations_path")
        .and_then(Value::as_str)
        .map(|path| options.cwd.join(path));
    let manifest_path = first_config
        .pointer("/prompt/titles_manifest_path")
        .and_then(Value::as_str)
        .map(|path| options.cwd.join(path));
    // Rows of runs about to run again go, so a re-run never leaves its rows twice.
    remove_rows_of_runs(
        &planned.runs,
        &to_run,
        history_path.as_deref(),
        manifest_path.as_deref(),
        &log,
    )?;
    // Rate changes the backends make (a burst of 429s, a provider asking to slow down) go to the
    // experiment log, once per change, and so does every HTTP retry.
    let notices = {
        let log = Arc::clone(&log);
        crate::backends::Notices::new(move |line| {
            let _ = log.record(LogLevel::Warn, line);
        })
    };
    let backends = build_backends(&planned.runs, &to_run, &options.cwd, &notices)?;
    let budget = match new_budget {
        Some((max_usd, estimates)) => Some(budget::Budget::new(max_usd, 0.0, estimates)),
        None if options.resume && !options.rehearsal => budget_limit(options, &first_config)
            .map(|max_usd| budget::from_store(max_usd, &planned.output_root, &planned.runs, &log)),
        None => None,
    };
    if let Some(budget) = &budget {
        let status = budget.status();
        log.record(
            LogLevel::Info,
            &format!(
                "budget: at most {:.4} USD; {:.4} USD spent before this session",
                status.max_usd, status.spent_usd
            ),
        )?;
    }
    let jobs = options
        .jobs
        .or_else(|| {
            first_config
                .pointer("/backend/text/max_concurrency")
                .and_then(Value::as_u64)
        })
        .unwrap_or(1)
        .max(1) as usize;
    log.record(
        LogLevel::Info,
        &format!("executing {} runs with {jobs} workers", to_run.len()),
    )?;
    let store = std::sync::Mutex::new(store);
    // Every run to execute had its backends built above, by the same key.
    let lookup = |config: &Value| {
        let key = backend_key(config);
        backends
            .iter()
            .find(|(known, _)| *known == key)
            .map(|(_, built)| built.clone())
            .unwrap_or_else(|| backends[0].1.clone())
    };
    // A run's history is the snapshot taken now, so `--jobs` never changes what a seed produces.
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
        budget: budget.as_ref(),
    };
    // From here on runs execute: an I/O error stops the runner with exit code 1.
    let executed = match execute::execute(&execution, &store) {
        Ok(executed) => executed,
        Err(error) => {
            let message = crate::errors::error_chain(&error);
            let _ = log.record(LogLevel::Error, &format!("stopped: {message}"));
            report.stopped_by = Some(message);
            execute::ExecutionReport::default()
        }
    };
    // The backends are done with. In a large experiment what they held (the offline
    // vocabulary, 33 MB) goes before the summary analysis, whose memory grows with the runs;
    // freeing it costs some 30 ms of CPU, not worth it before a small summary and a quick exit.
    drop(execution);
    drop(backends);
    let large = planned.runs.len() >= LARGE_EXPERIMENT_RUNS;
    if large {
        crate::backends::tokens::release_unused();
        return_freed_memory();
    }
    if let Some(budget) = &budget {
        let status = budget.status();
        if status.stopped {
            let _ = log.record(
                LogLevel::Warn,
                &format!(
                    "budget: dispatch stopped: {:.4} USD spent, and the next run would pass the budget of {:.4} USD",
                    status.spent_usd, status.max_usd
                ),
            );
        }
        report.budget = Some(status);
    }
    if let Some(error) = &executed.view_error {
        report
            .warnings
            .push(format!("a checkpoint of the results views failed: {error}"));
    }
    let mut store = store
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    // 11. The experiment's summary analysis, over every stored result (without `outputs`).
    let services = HostServices::with_log(options.cwd.clone(), Arc::clone(&log))
        .with_file_limit(file_limit(&first_config));
    let entries = store.raw_entries();
    let summary_entries: Vec<_> = entries.iter().map(results::SummaryEntry).collect();
    let summary = match experiment
        .library
        .analyze_summary(&summary_entries, &services)
    {
        Ok(summary) => summary,
        Err(error) => {
            let _ = log.record(
                LogLevel::Error,
                &format!("summary analysis failed: {error}"),
            );
            let stored = execute::hook_error(&error);
            report.summary_error = Some(metrics::failure_reason(&stored));
            report.summary_failed = true;
            store.set_summary(None, Some(stored));
            None
        }
    };
    // The runner's own reading of the entries: metrics by name and the failed runs.
    let pairing = pairing_of(&planned);
    let pair_ids: Option<Vec<(&str, &str)>> = pairing.as_ref().map(|(_, _, pairs)| {
        pairs
            .iter()
            .map(|pair| (pair.a_generation_id.as_str(), pair.b_generation_id.as_str()))
            .collect()
    });
    let digest = metrics::digest(
        entries.iter().map(results::Raw::text),
        summary.as_ref(),
        pairing
            .as_ref()
            .zip(pair_ids.as_deref())
            .map(|((a, b, _), pairs)| metrics::PairedVariants { a, b, pairs }),
        planned.base_seed,
    );
    drop(entries);
    // The summary's values are gone; the report is written on a thread of its own.
    if large {
        return_freed_memory();
    }
    for warning in &digest.warnings {
        let _ = log.record(LogLevel::Warn, &format!("metrics: {warning}"));
        report.warnings.push(format!("metrics: {warning}"));
    }
    report.failures = digest.failures;
    report.figures = digest.figures;
    report.summary_fields = digest.summary_fields;
    let (summary, summary_metrics) = place_metrics(summary, digest.metrics.as_ref(), &mut report);
    let spend = spend::digest(&store.raw_entries());
    for reason in &spend.cost_missing {
        let warning = format!("cost unknown (`cost_usd: null`): {reason}");
        let _ = log.record(LogLevel::Warn, &warning);
        report.warnings.push(warning);
    }
    let summary = place_usage(summary, &spend, &mut report);
    report.spend = Some(spend);
    let error = store.summary_error().cloned();
    store.set_summary(summary.clone(), error);
    store.set_summary_metrics(summary_metrics);
    report.summary = summary;
    report.metrics = digest.metrics;
    if let Err(error) = store.write_views() {
        let message = crate::errors::error_chain(&error);
        let _ = log.record(LogLevel::Error, &format!("stopped: {message}"));
        report.stopped_by.get_or_insert(message);
    }
    report.tallies = tallies(&planned.runs, &store);
    report.execution = Some(executed);
    report.files.extend([
        planned.output_root.join(RESULTS_LOG_FILE),
        planned.output_root.join(RESULTS_FILE),
    ]);
    let _ = log.record(
        LogLevel::Info,
        &format!("finished: {}", describe_tallies(&report.tallies)),
    );
    // 12. The readable page, from the view just written, and the index, side by side: neither
    // reads what the other writes. A failure of either is a warning (the records and the view
    // stand; `experiments report` and `index-artifacts` write them again).
    let write_page = report.stopped_by.is_none();
    let (page, index_warning) = std::thread::scope(|scope| {
        let page =
            write_page.then(|| scope.spawn(|| crate::report::write_report(&planned.output_root)));
        let index_warning = update_index(&planned.output_root, &log);
        (page.map(|writer| writer.join()), index_warning)
    });
    let page_warning = match page {
        None => None,
        Some(Ok(Ok(path))) => {
            report.files.push(path);
            None
        }
        Some(Ok(Err(error))) => Some(crate::errors::error_chain(&error)),
        Some(Err(_)) => Some("its writer panicked".to_owned()),
    };
    if let Some(reason) = page_warning {
        let warning = format!("`{}` was not written: {reason}", crate::report::REPORT_FILE);
        let _ = log.record(LogLevel::Warn, &warning);
        report.warnings.push(warning);
    }
    report.warnings.extend(index_warning);
    if let Err(error) = log.sync() {
        report.warnings.push(crate::errors::error_chain(&error));
    }
    Ok(report)
}

/// The budget in force: `--max-cost`, else `budget.max_cost_usd` of `config`.
fn budget_limit(options: &RunOptions, config: &Value) -> Option<f64> {
    options.max_cost_usd.or_else(|| {
        config
            .pointer("/budget/max_cost_usd")
            .and_then(Value::as_f64)
    })
}

/// A new experiment under a budget: rehearsed, and refused when the estimate is above the
/// budget (or unknown). Returns the budget, each run's estimate by plan position and the base
/// seed the rehearsal planned with; `None` without a budget, on resume and in a rehearsal.
fn budget_of_new(
    experiment: &LoadedExperiment,
    options: &RunOptions,
) -> Result<Option<(f64, Vec<f64>, u64)>, RunnerError> {
    if options.resume || options.rehearsal || options.dry_run {
        return Ok(None);
    }
    let mut base = config::load(&options.config)?.tree;
    config::take_experiment_runners(&mut base)?;
    let Some(max_usd) = budget_limit(options, &base) else {
        return Ok(None);
    };
    let estimate = estimate::estimate(experiment, options)?;
    match budget::check_estimate(&estimate, max_usd) {
        Ok(estimates) => Ok(Some((max_usd, estimates, estimate.base_seed))),
        Err(message) => Err(RunnerError::OverBudget {
            message,
            estimate: Box::new(estimate),
        }),
    }
}

/// The plan's pairing as `(a, b, pairs)`, the variant names read from the first pair's runs.
fn pairing_of(planned: &Planned) -> Option<(String, String, Vec<Pair>)> {
    let pairs = planned.pairs.as_ref()?;
    let first = pairs.first()?;
    let variant_of = |id: &str| {
        planned
            .runs
            .iter()
            .find(|run| run.generation_id == id)
            .map(|run| run.planned.variant.clone())
    };
    Some((
        variant_of(&first.a_generation_id)?,
        variant_of(&first.b_generation_id)?,
        pairs.clone(),
    ))
}

/// Where `summary.metrics` goes: into the plugin's summary when it is an object (a plugin key
/// `metrics` is replaced, with a warning), as `{"metrics": ...}` when there is no summary, and
/// beside a summary that is not an object (`summary_metrics` in `experiment_results.json`).
/// Returns the summary and the `summary_metrics` value.
fn place_metrics(
    summary: Option<Value>,
    metrics: Option<&metrics::MetricsSummary>,
    report: &mut ExperimentReport,
) -> (Option<Value>, Option<Value>) {
    let Some(metrics) = metrics else {
        return (summary, None);
    };
    let value = serde_json::to_value(metrics).unwrap_or(Value::Null);
    match summary {
        Some(Value::Object(mut table)) => {
            if table.contains_key("metrics") {
                report.warnings.push(
                    "the summary analysis has its own `metrics` key; `summary.metrics` holds the runner's".to_owned(),
                );
            }
            table.insert("metrics".into(), value);
            (Some(Value::Object(table)), None)
        }
        None => (Some(json!({ "metrics": value })), None),
        Some(other) => (Some(other), Some(value)),
    }
}

/// `summary.usage`: into the summary when it is an object (a plugin key `usage` is replaced,
/// with a warning, as for `metrics`), as `{"usage": ...}` when there is none. A summary that is
/// not an object is left as the plugin wrote it: the usage is then in `--json` and the terminal
/// table only.
fn place_usage(
    summary: Option<Value>,
    spend: &spend::SpendSummary,
    report: &mut ExperimentReport,
) -> Option<Value> {
    let value = serde_json::to_value(spend).unwrap_or(Value::Null);
    match summary {
        Some(Value::Object(mut table)) => {
            if table.contains_key("usage") {
                report.warnings.push(
                    "the summary analysis has its own `usage` key; `summary.usage` holds the runner's".to_owned(),
                );
            }
            table.insert("usage".into(), value);
            Some(Value::Object(table))
        }
        None => Some(json!({ "usage": value })),
        other => other,
    }
}

/// Removes the titles-manifest and generations rows of the runs about to execute (left by an
/// earlier attempt that did not finish), so each run has at most one row.
fn remove_rows_of_runs(
    runs: &[PreparedRun],
    to_run: &[usize],
    generations: Option<&Path>,
    manifest: Option<&Path>,
    log: &LogFile,
) -> Result<(), RunnerError> {
    use crate::artifacts::run_files::{remove_rows_of, GENERATIONS_HEADER, TITLES_HEADER};
    let ids: std::collections::HashSet<&str> = to_run
        .iter()
        .map(|&position| runs[position].generation_id.as_str())
        .collect();
    for (path, header) in [
        (generations, &GENERATIONS_HEADER[..]),
        (manifest, &TITLES_HEADER[..]),
    ] {
        let Some(path) = path else { continue };
        let removed = remove_rows_of(path, header, &ids).map_err(|error| RunnerError::History {
            path: path.to_owned(),
            message: crate::errors::error_chain(&error),
        })?;
        if removed > 0 {
            log.record(
                LogLevel::Info,
                &format!(
                    "removed {removed} rows of runs that will run again from `{}`",
                    path.display()
                ),
            )?;
        }
    }
    Ok(())
}

/// The effective config of every run stored in the experiment directory `out`, by generation
/// id, in plan order: the full plan's base config and each run's overlay, merged as for
/// execution (a plan of schema 1 holds them already merged).
pub fn stored_run_configs(
    out: &Path,
    experiment: &str,
) -> Result<Vec<(String, Value)>, RunnerError> {
    let stored = resume::load(out, experiment)?;
    stored
        .runs
        .iter()
        .map(|run| {
            run.config()
                .map(|config| (run.generation_id.clone(), config))
                .map_err(|clash| RunnerError::Resume {
                    path: out.join(PLAN_FULL_FILE),
                    message: format!("`{}`: {clash}", run.generation_id),
                })
        })
        .collect()
}

/// From this many planned runs an experiment frees what its backends held and returns freed
/// memory to the system between its end phases (see `return_freed_memory`).
const LARGE_EXPERIMENT_RUNS: usize = 500;

/// Gives memory freed in bulk back to the system. glibc keeps freed chunks in the arena of the
/// thread that allocated them, where other threads' allocations cannot reuse them: the offline
/// vocabulary is loaded on a thread of its own, and the report is written on one while the index
/// is refreshed. `malloc_trim` returns the free pages of every arena, so a large experiment's
/// peak is that of its largest phase, not the sum of its phases.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Step 12: refreshes the index of the `_artifacts` store holding the experiment, best-effort:
/// a failure is a warning (returned, and in `experiment.log`), never a failed experiment.
fn update_index(output_root: &Path, log: &LogFile) -> Option<String> {
    let Some(store) = crate::artifacts::index::store_of(output_root) else {
        let warning = format!(
            "the artifacts index was not updated: `{}` is not inside an `_artifacts` directory",
            output_root.display()
        );
        let _ = log.record(LogLevel::Warn, &warning);
        return Some(warning);
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
            None
        }
        Err(error) => {
            let warning = format!(
                "the artifacts index was not updated: {}",
                crate::errors::error_chain(&error)
            );
            let _ = log.record(LogLevel::Warn, &warning);
            Some(warning)
        }
    }
}

/// The backends every run to execute needs, built once per distinct `backend` table so one
/// concurrency bound covers all workers. A missing key variable or an unusable response cache
/// fails here, before any call.
fn build_backends(
    runs: &[PreparedRun],
    to_run: &[usize],
    cwd: &Path,
    notices: &crate::backends::Notices,
) -> Result<Vec<(String, Backends)>, RunnerError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut built: Vec<(String, Backends)> = Vec::new();
    for &position in to_run.iter().chain(std::iter::once(&0)) {
        let Some(run) = runs.get(position) else {
            continue;
        };
        let config = run.config().map_err(RunnerError::ResumeOverlay)?;
        let key = backend_key(&config);
        if built.iter().any(|(known, _)| *known == key) {
            continue;
        }
        let config = config::parse_run_config(&config)?;
        built.push((
            key,
            Backends::from_config_with_notices(&config, &env, cwd, notices)?,
        ));
    }
    Ok(built)
}

/// A run config's `backend` and `cache` tables, as text: runs with equal tables share their
/// backends (the cache is part of the text backend).
fn backend_key(config: &Value) -> String {
    ["backend", "cache"]
        .iter()
        .map(|section| {
            config
                .get(section)
                .map(Value::to_string)
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// (variant, succeeded, failed) per variant, in plan order, over the stored results.
fn tallies(runs: &[PreparedRun], store: &results::ResultsStore) -> Vec<(String, usize, usize)> {
    let mut tallies: Vec<(String, usize, usize)> = Vec::new();
    for run in runs {
        let position = match tallies
            .iter()
            .position(|(variant, _, _)| *variant == run.planned.variant)
        {
            Some(position) => position,
            None => {
                tallies.push((run.planned.variant.clone(), 0, 0));
                tallies.len() - 1
            }
        };
        match store.succeeded(&run.generation_id) {
            Some(true) => tallies[position].1 += 1,
            Some(false) => tallies[position].2 += 1,
            None => {}
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

/// Where a new experiment goes.
struct Location {
    experiment_id: String,
    /// Absolute; not created until [`claim_location`].
    output_root: PathBuf,
}

/// The experiment id and the absolute output directory. Creates nothing.
fn settle_location(
    name: &str,
    options: &RunOptions,
    started: &Timestamp,
) -> Result<Location, RunnerError> {
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
    let output_root = absolute(&output_root);
    // Checked again under the lock; this early check only saves planning a doomed experiment.
    if plan_committed(&output_root) {
        return Err(RunnerError::OutputRootTaken { path: output_root });
    }
    Ok(Location {
        experiment_id,
        output_root,
    })
}

/// Creates the output directory and takes its lock; then, under the lock, refuses a directory
/// that holds a committed plan and clears what an interrupted start left behind.
fn claim_location(location: &Location) -> Result<resume::DirLock, RunnerError> {
    let root = &location.output_root;
    artifacts::create_dir_all(root)?;
    let lock = resume::lock_dir(root)?;
    check_no_symlinks(root)?;
    if plan_committed(root) {
        return Err(RunnerError::OutputRootTaken { path: root.clone() });
    }
    remove_uncommitted_plan(root)?;
    for dir in [root.clone(), root.join(LOGS_DIR), root.join(GENERATED_DIR)] {
        artifacts::remove_stale_temp_files(&dir)?;
    }
    Ok(lock)
}

/// Refuses an experiment directory where a name the runner writes is a symbolic link: files
/// would land wherever it points.
fn check_no_symlinks(root: &Path) -> Result<(), RunnerError> {
    let names = [
        LOGS_DIR,
        GENERATED_DIR,
        LOG_FILE,
        PLAN_FILE,
        PLAN_FULL_FILE,
        PAIRS_FILE,
        RESULTS_LOG_FILE,
        RESULTS_FILE,
        crate::report::REPORT_FILE,
        resume::LOCK_FILE,
    ];
    for name in names {
        let path = root.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(RunnerError::SymlinkInOutput { path });
        }
    }
    Ok(())
}

/// `path` made absolute: its longest existing ancestor canonicalized, the rest appended with
/// `.` and `..` resolved lexically.
fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut existing = path;
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(canonical) = existing.canonicalize() {
            break canonical;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break existing.to_path_buf(),
        }
    };
    let mut absolute = base;
    for name in rest.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::ParentDir) => {
                absolute.pop();
            }
            Some(Component::CurDir) => {}
            _ => absolute.push(name),
        }
    }
    absolute
}

/// `<cwd>/_artifacts/experiments`: where experiments go by default (and where `experiments
/// report` looks for the newest one).
pub fn default_root(cwd: &Path) -> PathBuf {
    cwd.join("_artifacts").join("experiments")
}

/// Experiment ids become directory names: `[A-Za-z0-9_.-]+`, not `.` alone, without `..`.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && !id.contains("..")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `data.max_file_bytes` of a config tree (checked when the config loaded).
pub(super) fn file_limit(config: &Value) -> u64 {
    config
        .pointer("/data/max_file_bytes")
        .and_then(Value::as_u64)
        .unwrap_or(crate::config::DEFAULT_MAX_FILE_BYTES)
}

/// The overlay every run gets, whatever the plugin plans (DESIGN §4 step 4).
fn standard_overrides(
    mode: RunMode,
    out: &Path,
    experiment_id: &str,
    started: &Timestamp,
) -> Value {
    let path = |relative: &Path| out.join(relative).display().to_string();
    json!({
        "run": {"mode": mode.as_str()},
        "image": {"log_path": path(Path::new(LOGS_DIR)), "generation_path": path(Path::new(GENERATED_DIR))},
        "prompt": {
            "generations_path": path(&Path::new(LOGS_DIR).join("generations.csv")),
            "titles_manifest_path": path(&Path::new(GENERATED_DIR).join("titles_manifest.csv")),
        },
        "experiment": {"id": experiment_id},
        "context": {"today": started.date()},
    })
}

/// The standard overrides the runner owns in every run: all but `context.today`, a default a
/// plan may change.
fn owned_overrides(standard: &Value) -> Value {
    let mut owned = standard.clone();
    if let Some(table) = owned.as_object_mut() {
        table.remove("context");
    }
    owned
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
        for bad in ["", ".", "..", "a..b", "a/b", "a b", "ä"] {
            assert!(!is_safe_id(bad), "{bad}");
        }
    }
}

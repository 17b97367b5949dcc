//! The canonical experiment runner. It owns the order of events, not the file formats
//! (`artifacts`) nor the plugins' content (`plugins`).
//!
//! The steps (DESIGN §4):
//! 0. under a budget (`--max-cost`), rehearse a new experiment first (`estimate`) and refuse it
//!    when the estimate is above the budget (`budget`);
//! 1. load the config layers and take out `experiment_runners`, checking the plugin's table;
//! 2. (the CLI resolved the plugin and parsed its flags);
//! 3. settle the experiment id, the output directory and the base seed (`location`);
//! 4. apply the standard overrides every run gets (`overrides`);
//! 5. ask the plugin for its plan, validate it, keep each overlay, assign generation ids (`plan`);
//! 6. preflight: compile every run's config, read each data file once, check key variables;
//! 7. create the output directory and take its lock, then commit `experiment.log`, `pairs.json`
//!    and the two plan files (`artifacts::plan_files`). Steps 1–7 are `commit::plan_new`.
//!
//! 8. execute the runs with `--jobs` workers, recording each as it finishes (`execute`, `results`);
//! 9. stop dispatching after a failure (unless `--continue-on-error`), a Ctrl-C, or before a run
//!    would pass the budget;
//! 10. (`--resume`: take the lock, then read the stored full plan instead of steps 1–7, `resume`);
//! 11. analyse each run as it finishes, then the whole experiment; sum what the runs used and
//!     cost (`spend`); write the views a last time (`end`);
//! 12. write `report.html` and update the artifacts index, best-effort (`end`).
//!
//! Nothing is written before step 7 (a usage, config or plan error leaves no directory behind),
//! and the lock is held from step 7 to the end, so a second runner on the same directory is
//! refused before it writes a byte. Plan files are written also when preflight fails (then the
//! command fails with exit 2). `--dry-run` stops after step 7. Once runs have executed, an I/O
//! error no longer fails the command as a usage error: it is reported, with exit code 1.

mod budget;
mod commit;
mod context;
mod end;
pub mod estimate;
mod execute;
mod location;
mod overrides;
mod pairs;
mod plan;
mod preflight;
mod results;
mod resume;
mod services;
pub mod spend;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use plugin_api::{LogLevel, RunMode};
use serde_json::{Map, Value};

use crate::artifacts::layout::ExperimentLayout;
use crate::artifacts::{ArtifactError, LogFile};
use crate::config::{self, ConfigError, ConfigRequest};
use crate::generation::Backends;
use crate::metrics;
use crate::plugins::LoadedExperiment;

use commit::plan_new;
use end::{return_freed_memory, update_index, LARGE_EXPERIMENT_RUNS};
use overrides::file_limit;
use resume::resume_planned;

pub use end::describe_tallies;
pub use execute::{ExecutionReport, RunEvent};
pub use pairs::{pairs, Pair, PlanPairs};
pub use plan::{
    experiment_variant, owned_key_changed, runs_per_variant, PlanBase, PlanError, PreparedRun,
};
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
    pairs: Option<PlanPairs>,
    /// The plugin's name, the flags, the plan's `meta` and pairing, as the plan files record them.
    about: context::PlanAbout,
    /// The `analysis_context` answer, built on the first call of the session.
    context: context::ContextCache,
    log: Arc<LogFile>,
    files: Vec<PathBuf>,
    /// `--resume`: what `--config`/`--set` changed, one `key: old -> new` line each.
    config_changes: Vec<String>,
    /// The experiment directory's lock, held until the experiment ends.
    _lock: location::DirLock,
}

impl Planned {
    /// The experiment as its hooks' services see it.
    fn facts(&self) -> context::ExperimentFacts<'_> {
        context::ExperimentFacts {
            about: &self.about,
            experiment_id: &self.experiment_id,
            run_mode: self.run_mode,
            base_seed: self.base_seed,
            experiment_dir: &self.output_root,
            runs: &self.runs,
            pairs: self.pairs.as_ref().map(|pairs| pairs.pairs.as_slice()),
            cache: &self.context,
        }
    }
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
    if let Some(warning) = planned.pairs.as_ref().and_then(PlanPairs::unpaired_warning) {
        log.record(LogLevel::Warn, &warning)?;
        report.warnings.push(warning);
    }
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
            "stored result lines that do not parse were ignored:\n  {}",
            store.unreadable_lines.join("\n  ")
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
        facts: planned.facts(),
        stages: Arc::new(experiment.stage_registry()),
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
    let store = store
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    // 11–12. The summary, the views, the page and the index.
    end::finish(
        experiment,
        options,
        &planned,
        store,
        executed,
        file_limit(&first_config),
        &mut report,
    );
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
                    path: ExperimentLayout::new(out).plan_full(),
                    message: format!("`{}`: {clash}", run.generation_id),
                })
        })
        .collect()
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

/// `A: 3, B: 3` for logs and summaries.
pub fn describe_counts(counts: &[(String, usize)]) -> String {
    counts
        .iter()
        .map(|(variant, count)| format!("{variant}: {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

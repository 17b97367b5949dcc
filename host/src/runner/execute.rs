//! Executing the planned runs (DESIGN §4 steps 8, 9 and 11): `--jobs` workers take runs in plan
//! order (the two runs of an A/B pair are next to each other), each run goes through the plugin's
//! `run` hook and, when it succeeded, its `analyze` hook (a run whose plugin called `run_pipeline`
//! against the once-per-run rule fails); every finished run is recorded at once
//! by its worker (its synced `results.jsonl` line), while one more thread rewrites the views
//! (`results::Checkpointer`), so no worker ever waits on a view being written.
//!
//! Determinism: a run's inputs are its own config and its plan position (the title sequence
//! number), never another run's results, so `--jobs` changes timing, not artifacts.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use plugin_api::loader::CallError;
use plugin_api::{AnalyzeRequest, LogLevel, RunRequest, RunSpec, RunStatus};
use serde_json::{json, Value};

use super::services::{HostServices, RunContext};
use crate::artifacts::formats::{EntryOutputs, OutcomeFields, ResultEntry, Timing};
use crate::artifacts::layout::RunFiles;
use crate::artifacts::{ArtifactError, LogFile};
use crate::clock::Timestamp;
use crate::cost::{Cost, Prices, RunUsage, UsageTotals};
use crate::generation::{Backends, TitleSlot};
use crate::plugins::LoadedExperiment;
use crate::stages::Registry;

use super::budget::Budget;
use super::context::ExperimentFacts;
use super::results::{lock, Checkpointer, ResultsStore};
use super::PreparedRun;

/// What the runner tells its caller while runs execute (the CLI draws progress from it).
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// Execution starts: `to_run` of `total` planned runs (the rest are already done).
    Started { total: usize, to_run: usize },
    /// One run finished.
    Finished {
        generation_id: String,
        variant: String,
        run: u32,
        status: RunStatus,
        analysis_failed: bool,
        duration_s: f64,
        /// A failed run's reason: the first line of its error message.
        reason: Option<String>,
    },
}

/// How execution went.
#[derive(Debug, Clone, Default)]
pub struct ExecutionReport {
    pub attempted: usize,
    pub failed: usize,
    pub analysis_failures: usize,
    /// Runs never attempted because dispatch stopped.
    pub skipped: Vec<String>,
    pub interrupted: bool,
    /// Why a view (`experiment_results.json`, `pairs.json`) could not be rewritten during
    /// execution; the records in `results.jsonl` are unaffected.
    pub view_error: Option<String>,
}

/// Everything the workers share.
pub struct Execution<'a> {
    pub experiment: &'a LoadedExperiment,
    /// Every planned run, in plan order (positions give title sequence numbers).
    pub runs: &'a [PreparedRun],
    /// Positions in `runs` to execute, in plan order.
    pub to_run: Vec<usize>,
    pub jobs: usize,
    pub continue_on_error: bool,
    pub cwd: &'a Path,
    pub log: Arc<LogFile>,
    /// The shared backends of a run, by its effective config.
    pub backends: &'a (dyn Fn(&Value) -> Backends + Sync),
    /// The novelty history every run sees: the generations CSV as it was when execution started.
    pub recent_prompts: Vec<String>,
    pub interrupt: &'a AtomicBool,
    pub events: &'a (dyn Fn(RunEvent) + Sync),
    /// `--max-cost`: a run starts only while the budget holds it.
    pub budget: Option<&'a Budget>,
    /// The experiment, for the services of the runs' hooks.
    pub facts: ExperimentFacts<'a>,
    /// The stage kinds the runs' pipelines compile with (built-in and the plugin's declared
    /// ones), built once for every run.
    pub stages: Arc<Registry>,
}

/// Executes the runs; results are recorded in `store` as each finishes.
pub fn execute(
    execution: &Execution<'_>,
    store: &Mutex<ResultsStore>,
) -> Result<ExecutionReport, ArtifactError> {
    let next = AtomicUsize::new(0);
    let halt = AtomicBool::new(false);
    let report = Mutex::new(ExecutionReport::default());
    let write_error: Mutex<Option<ArtifactError>> = Mutex::new(None);
    (execution.events)(RunEvent::Started {
        total: execution.runs.len(),
        to_run: execution.to_run.len(),
    });

    let appender = lock(store).appender();
    let checkpointer = Checkpointer::new();
    let view_error = std::thread::scope(|scope| {
        let views = scope.spawn(|| checkpointer.run(store, &execution.log));
        let workers: Vec<_> = (0..execution.jobs.max(1))
            .map(|_| {
                scope.spawn(|| loop {
                    if halt.load(Ordering::SeqCst) || execution.interrupt.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(position) = dispatch(execution, &next) else {
                        break;
                    };
                    let run = &execution.runs[position];
                    let (entry, status, analysis_failed, duration_s) =
                        execute_one(execution, run, position);
                    let reason = (status == RunStatus::Error).then(|| {
                        crate::metrics::failure_reason(entry.error.as_ref().unwrap_or(&Value::Null))
                    });
                    if let Some(budget) = execution.budget {
                        if let Some(warning) = budget.finished(position, entry.cost_usd) {
                            let _ = execution.log.record(
                                LogLevel::Warn,
                                &format!("budget: `{}`: {warning}", run.generation_id),
                            );
                        }
                    }
                    let recorded = appender
                        .append(&entry)
                        .and_then(|()| lock(store).remember(&entry));
                    {
                        let mut report = lock(&report);
                        report.attempted += 1;
                        if status == RunStatus::Error {
                            report.failed += 1;
                            if !execution.continue_on_error {
                                halt.store(true, Ordering::SeqCst);
                            }
                        }
                        if analysis_failed {
                            report.analysis_failures += 1;
                        }
                    }
                    if let Err(error) = recorded {
                        // The record is what resume trusts: stop rather than run on without it.
                        halt.store(true, Ordering::SeqCst);
                        lock(&write_error).get_or_insert(error);
                    }
                    (execution.events)(RunEvent::Finished {
                        generation_id: run.generation_id.clone(),
                        variant: run.planned.variant.clone(),
                        run: run.planned.run,
                        status,
                        analysis_failed,
                        duration_s,
                        reason,
                    });
                })
            })
            .collect();
        for worker in workers {
            // A worker's panic is a host bug; the runs it finished are recorded.
            let _ = worker.join();
        }
        checkpointer.stop();
        views.join().ok().flatten()
    });

    if let Some(error) = lock(&write_error).take() {
        return Err(error);
    }
    let mut report = report
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    report.interrupted = execution.interrupt.load(Ordering::SeqCst);
    report.view_error = view_error.map(|error| crate::errors::error_chain(&error));
    let dispatched = next.load(Ordering::SeqCst).min(execution.to_run.len());
    report.skipped = execution.to_run[dispatched..]
        .iter()
        .map(|&position| execution.runs[position].generation_id.clone())
        .collect();
    if !report.skipped.is_empty() {
        lock(store).mark_skipped(report.skipped.clone());
        let _ = execution.log.record(
            LogLevel::Warn,
            &format!(
                "{} runs skipped: {}",
                report.skipped.len(),
                report.skipped.join(", ")
            ),
        );
    }
    Ok(report)
}

/// The plan position of the next run to start, or `None` when there is none or the budget
/// does not hold it.
fn dispatch(execution: &Execution<'_>, next: &AtomicUsize) -> Option<usize> {
    match execution.budget {
        Some(budget) => budget.dispatch(next, &execution.to_run),
        None => {
            let slot = next.fetch_add(1, Ordering::SeqCst);
            execution.to_run.get(slot).copied()
        }
    }
}

/// The run spec the plugin's hooks receive.
pub fn run_spec(run: &PreparedRun, config: Value) -> RunSpec {
    RunSpec {
        variant: run.planned.variant.clone(),
        variant_name: run.planned.variant_name.clone(),
        run: run.planned.run,
        seed: run.planned.seed,
        generation_id: run.generation_id.clone(),
        config,
        tags: run.planned.tags.clone(),
        notes: run.planned.notes.clone(),
        meta: run.planned.meta.clone(),
    }
}

/// Runs one planned run through the plugin and builds its result entry.
fn execute_one(
    execution: &Execution<'_>,
    run: &PreparedRun,
    position: usize,
) -> (ResultEntry, RunStatus, bool, f64) {
    let log = &execution.log;
    let _ = log.record(
        LogLevel::Info,
        &format!(
            "running {}{} `{}` seed {}",
            run.planned.variant,
            run.planned.run,
            run.generation_id,
            run.planned.seed.unwrap_or_default()
        ),
    );
    let started_at = Timestamp::now();
    let clock = Instant::now();
    let mut entry = ResultEntry {
        variant: run.planned.variant.clone(),
        variant_name: run.planned.variant_name.clone(),
        run: run.planned.run,
        generation_id: run.generation_id.clone(),
        seed: run.planned.seed,
        status: RunStatus::Error,
        outcome: None,
        error: None,
        analysis: None,
        analysis_error: None,
        analysis_calls: Vec::new(),
        plugin_artifacts: Vec::new(),
        usage: UsageTotals::default(),
        cost_usd: None,
        saved_cost_usd: None,
        cost_missing: Vec::new(),
        timing: None,
    };
    let config = match run.config() {
        Ok(config) => config,
        // Checked when the run was planned (or resumed); kept as a failed run, never a panic.
        Err(clash) => {
            entry.error = Some(
                json!({"type": "ConfigError", "message": format!("the run's config does not merge: {clash}")}),
            );
            // No call was made: nothing used, nothing spent.
            record_spend(&mut entry, &RunUsage::default(), &Ok(Prices::default()));
            return (entry, RunStatus::Error, false, 0.0);
        }
    };
    // The run's config passed preflight (or resume), so this is its own `[pricing]`; should it
    // not parse, the cost says so instead of guessing.
    let parsed = crate::config::parse_run_config(&config);
    let prices = parsed
        .as_ref()
        .map(|parsed| Prices::new(&parsed.pricing))
        .map_err(|error| {
            format!("the run's config does not parse, so its prices are unknown: {error}")
        });
    let transcript = parsed.as_ref().ok().map(|parsed| {
        let log_dir = execution.cwd.join(&parsed.image.log_path);
        RunFiles::new(
            &log_dir,
            &execution.cwd.join(&parsed.image.generation_path),
            &run.generation_id,
        )
        .transcript
    });
    let spec = run_spec(run, config);
    let services = HostServices::for_run(
        execution.cwd.to_owned(),
        Arc::clone(log),
        RunContext {
            generation_id: run.generation_id.clone(),
            seed: run.planned.seed.unwrap_or_default(),
            backends: (execution.backends)(&spec.config),
            title_slot: Some(TitleSlot {
                seq: position as u64 + 1,
                avoid: Vec::new(),
            }),
            recent_prompts: Some(execution.recent_prompts.clone()),
            owned: run.owned(),
            transcript,
            stages: Arc::clone(&execution.stages),
        },
        execution.facts,
    )
    .with_file_limit(super::file_limit(&spec.config));
    let library = &execution.experiment.library;

    let mut analysis_failed = false;
    let ran = library.run(&RunRequest { spec: spec.clone() }, &services);
    // The hook's calls are recorded whether it succeeded or not: a failed run is audited too.
    if let Err(error) = services.write_run_calls() {
        let _ = log.record(
            LogLevel::Error,
            &format!(
                "{}: the `chat` calls of the run could not be recorded: {error}",
                run.generation_id
            ),
        );
    }
    match ran {
        Ok(outcome) => {
            entry.status = outcome.status;
            entry.outcome = Some(OutcomeFields {
                image_path: outcome.image_path.clone(),
                final_prompt: outcome.final_prompt.clone(),
                outputs: EntryOutputs {
                    prompt_pipeline: outcome
                        .outputs
                        .get("prompt_pipeline")
                        .cloned()
                        .unwrap_or(Value::Null),
                },
            });
            entry.error = outcome
                .error
                .as_ref()
                .map(|error| serde_json::to_value(error).unwrap_or(Value::Null));
            if outcome.status == RunStatus::Success {
                services.enter_analyze();
                let analyzed = library.analyze(&AnalyzeRequest::Run { spec, outcome }, &services);
                entry.analysis_calls = services.take_analysis_calls();
                match analyzed {
                    Ok(analysis) => entry.analysis = analysis,
                    Err(error) => {
                        analysis_failed = true;
                        let _ = log.record(
                            LogLevel::Error,
                            &format!("{}: analysis failed: {error}", run.generation_id),
                        );
                        entry.analysis_error = Some(hook_error(&error));
                    }
                }
            }
        }
        Err(error) => {
            // The reason goes to the log with the run's `finished` line below.
            entry.error = Some(hook_error(&error));
        }
    };
    entry.plugin_artifacts = services.take_plugin_artifacts();
    if let Some(rule) = services.refused_pipeline() {
        fail_for_broken_rule(&mut entry, &rule);
    }
    let status = entry.status;
    record_spend(&mut entry, &services.usage(), &prices);
    let duration_s = (clock.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    entry.timing = Some(Timing {
        started_at: started_at.iso().to_owned(),
        finished_at: Timestamp::now().iso().to_owned(),
        duration_s,
    });
    let line = if status == RunStatus::Success {
        format!(
            "finished `{}`: success in {duration_s:.3} s",
            run.generation_id
        )
    } else {
        // The whole reason, every line of it: the terminal and `--json` show its first line.
        let error = entry.error.as_ref().unwrap_or(&Value::Null);
        format!(
            "finished `{}`: error in {duration_s:.3} s: {}",
            run.generation_id,
            crate::metrics::failure_message(error)
        )
    };
    let level = if status == RunStatus::Success {
        LogLevel::Info
    } else {
        LogLevel::Error
    };
    let _ = log.record(level, &line);
    (entry, status, analysis_failed, duration_s)
}

/// A run whose plugin called `run_pipeline` against the once-per-run rule fails, even when the
/// plugin swallowed the refusal or made the call from `analyze`: the rule's message becomes the
/// run's error unless the hook error that ended the run already carries it.
fn fail_for_broken_rule(entry: &mut ResultEntry, rule: &str) {
    entry.status = RunStatus::Error;
    let carried = entry
        .error
        .as_ref()
        .is_some_and(|error| crate::metrics::failure_message(error).contains(rule));
    if !carried {
        entry.error = Some(json!({"type": "PluginError", "message": rule}));
    }
}

/// The run's `usage` totals and `cost_usd` (with `cost_missing` when the cost is unknown) into
/// its entry, and `saved_cost_usd`: what its cache hits would have cost (null when unknown).
fn record_spend(entry: &mut ResultEntry, usage: &RunUsage, prices: &Result<Prices, String>) {
    let (cost, saved) = match prices {
        Ok(prices) => (usage.cost(prices), usage.saved_cost(prices).usd),
        Err(reason) => (
            Cost {
                usd: None,
                missing: vec![reason.clone()],
            },
            None,
        ),
    };
    entry.usage = usage.totals();
    entry.cost_usd = cost.usd;
    entry.saved_cost_usd = saved;
    entry.cost_missing = cost.missing;
}

/// `{type, message}` for a failed hook call.
pub fn hook_error(error: &CallError) -> Value {
    let kind = match error {
        CallError::Panicked { .. } => "PluginPanic",
        CallError::Failed { .. } => "PluginError",
        CallError::BadInput { .. } | CallError::MalformedOutput { .. } => "PluginProtocolError",
        CallError::UnknownHook { .. } => "PluginUnknownHook",
    };
    json!({"type": kind, "message": error.to_string()})
}

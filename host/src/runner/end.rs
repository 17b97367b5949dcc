//! The end phase of an experiment (DESIGN §4 steps 11–12): the plugin's summary analysis over
//! every stored result, the runner's metrics and spend placed into the summary, the views written
//! a last time, the tallies, then `report.html` and the artifacts index side by side. It does not
//! own the metrics (`metrics`), the views' format (`results`) nor the page (`report`).

use std::path::Path;
use std::sync::Arc;

use plugin_api::LogLevel;
use serde_json::{json, Value};

use super::services::HostServices;
use crate::artifacts::layout::{ExperimentLayout, REPORT_FILE};
use crate::artifacts::LogFile;
use crate::plugins::LoadedExperiment;

use super::results::{ResultsStore, SummaryEntry};
use crate::metrics;

use super::{
    execute, spend, ExecutionReport, ExperimentReport, PlanPairs, Planned, PreparedRun, RunOptions,
};

/// Steps 11 and 12, once the runs are over: the summary analysis, the runner's metrics and
/// spend, the views, the tallies, then the page and the index. Every failure here lands in
/// `report` (`stopped_by` or a warning): the runs' records stand whatever happens.
pub(super) fn finish(
    experiment: &LoadedExperiment,
    options: &RunOptions,
    planned: &Planned,
    mut store: ResultsStore,
    executed: ExecutionReport,
    file_limit: u64,
    report: &mut ExperimentReport,
) {
    let log = &planned.log;
    // 11. The experiment's summary analysis, over every stored result (without `outputs`).
    let services = HostServices::for_summary(options.cwd.clone(), Arc::clone(log), planned.facts())
        .with_file_limit(file_limit);
    let entries = store.raw_entries();
    let summary_entries: Vec<_> = entries.iter().map(SummaryEntry).collect();
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
    store.set_plugin_artifacts(services.take_plugin_artifacts());
    drop(services);
    // The runner's own reading of the entries: metrics by name and the failed runs.
    let arm_ids: Vec<(&str, Vec<(&str, &str)>)> = planned
        .pairs
        .iter()
        .flat_map(PlanPairs::arms)
        .map(|(treatment, pairs)| {
            let ids = pairs
                .iter()
                .map(|pair| (pair.a_generation_id.as_str(), pair.b_generation_id.as_str()))
                .collect();
            (treatment, ids)
        })
        .collect();
    let control = planned
        .pairs
        .as_ref()
        .map_or("", |pairs| pairs.control.as_str());
    let arms: Vec<metrics::PairedVariants> = arm_ids
        .iter()
        .map(|(treatment, ids)| metrics::PairedVariants {
            a: control,
            b: treatment,
            pairs: ids,
        })
        .collect();
    let digest = metrics::digest(
        entries.iter().map(super::results::Raw::text),
        summary.as_ref(),
        &arms,
        planned.base_seed,
    );
    drop(entries);
    // The summary's values are gone; the report is written on a thread of its own.
    if planned.runs.len() >= LARGE_EXPERIMENT_RUNS {
        return_freed_memory();
    }
    for warning in &digest.warnings {
        let _ = log.record(LogLevel::Warn, &format!("metrics: {warning}"));
        report.warnings.push(format!("metrics: {warning}"));
    }
    report.failures = digest.failures;
    report.figures = digest.figures;
    report.summary_fields = digest.summary_fields;
    let (summary, summary_metrics) = place_metrics(summary, digest.metrics.as_ref(), report);
    let spend = spend::digest(&store.raw_entries());
    for reason in &spend.cost_missing {
        let warning = format!("cost unknown (`cost_usd: null`): {reason}");
        let _ = log.record(LogLevel::Warn, &warning);
        report.warnings.push(warning);
    }
    let summary = place_usage(summary, &spend, report);
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
    let layout = ExperimentLayout::new(&planned.output_root);
    report
        .files
        .extend([layout.results_log(), layout.results()]);
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
        let index_warning = update_index(&planned.output_root, log);
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
        let warning = format!("`{}` was not written: {reason}", REPORT_FILE);
        let _ = log.record(LogLevel::Warn, &warning);
        report.warnings.push(warning);
    }
    report.warnings.extend(index_warning);
    if let Err(error) = log.sync() {
        report.warnings.push(crate::errors::error_chain(&error));
    }
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

/// From this many planned runs an experiment frees what its backends held and returns freed
/// memory to the system between its end phases (see `return_freed_memory`).
pub(super) const LARGE_EXPERIMENT_RUNS: usize = 500;

/// Gives memory freed in bulk back to the system. glibc keeps freed chunks in the arena of the
/// thread that allocated them, where other threads' allocations cannot reuse them: the offline
/// vocabulary is loaded on a thread of its own, and the report is written on one while the index
/// is refreshed. `malloc_trim` returns the free pages of every arena, so a large experiment's
/// peak is that of its largest phase, not the sum of its phases.
pub(super) fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Step 12: refreshes the index of the `_artifacts` store holding the experiment, best-effort:
/// a failure is a warning (returned, and in `experiment.log`), never a failed experiment.
pub(super) fn update_index(output_root: &Path, log: &LogFile) -> Option<String> {
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

/// (variant, succeeded, failed) per variant, in plan order, over the stored results.
fn tallies(runs: &[PreparedRun], store: &ResultsStore) -> Vec<(String, usize, usize)> {
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

//! `experiments run <name> --estimate`: what the experiment would use, cost and take, before
//! anything is spent. The experiment is planned, preflighted and run in full, exactly as
//! `experiments run` would, but against the offline backends at zero latency and inside a
//! temporary directory that is removed afterwards: no network, nothing left behind, and the
//! call count is the real offline run's by construction (it is one).
//!
//! Tokens are counted as offline runs count them (`crate::backends::tokens`): input tokens are
//! those of the prompts the real run would send, given offline answers; output tokens are the
//! offline answers', an estimate of a real model's. Costs use the configured models' prices.
//!
//! The wall time: each run takes its `sequential_calls` times `backend.text.latency_hint_ms`
//! plus its images times `backend.image.latency_hint_ms`; runs go to `--jobs` workers in plan
//! order, each to the first free worker. Concurrent text calls are bounded by
//! `backend.text.max_concurrency`, so the estimate is never below all text calls at that bound.

use std::sync::atomic::AtomicBool;

use plugin_api::RunMode;
use serde::{Deserialize, Serialize};

use super::spend::SpendSummary;
use super::{run_experiment, RunOptions, RunnerError};
use crate::artifacts::formats::StoredSpend;
use crate::artifacts::layout::ExperimentLayout;
use crate::config::{self, ConfigRequest};
use crate::metrics::Ordered;
use crate::plugins::LoadedExperiment;

/// The offline backends the rehearsal runs against, with the configured model names kept (they
/// choose the vocabulary and the prices).
const REHEARSAL_SETS: [&str; 3] = [
    "backend.text.provider=\"offline\"",
    "backend.text.offline_latency_ms=0",
    "backend.image.provider=\"offline\"",
];

/// What `--estimate` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub experiment: String,
    pub base_seed: u64,
    pub run_mode: RunMode,
    /// Planned runs per variant, in plan order.
    pub runs_per_variant: Ordered<usize>,
    /// Calls, tokens, images and cost per variant and in total, as `summary.usage`.
    pub usage: SpendSummary,
    pub wall_time: WallTime,
    /// The date of the built-in price table the costs start from (`[pricing]` goes over it).
    pub builtin_prices_written: &'static str,
    /// Rehearsed runs that failed (their counts stop where they failed).
    pub failed_runs: usize,
    /// Each run's cost, in plan order (what `--max-cost` holds a run's estimate at).
    #[serde(skip)]
    pub run_costs: Vec<Option<f64>>,
}

/// The expected wall time and what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WallTime {
    pub seconds: f64,
    pub jobs: usize,
    pub max_concurrency: u64,
    pub text_latency_hint_ms: u64,
    pub image_latency_hint_ms: u64,
    /// The longest run: its sequential calls and images at the hints.
    pub longest_run_seconds: f64,
    /// `workers` when the runs on `jobs` workers set the time, `max_concurrency` when the bound
    /// on concurrent text calls does.
    pub bound_by: &'static str,
}

/// The results view of the rehearsal: its `results`, in plan order.
#[derive(Deserialize)]
struct RehearsedView {
    results: Vec<StoredSpend>,
}

/// Rehearses the experiment `options` describe and reports what it would use, cost and take.
pub fn estimate(
    experiment: &LoadedExperiment,
    options: &RunOptions,
) -> Result<Estimate, RunnerError> {
    let scratch = tempfile::Builder::new()
        .prefix("image-project-estimate-")
        .tempdir()
        .map_err(|error| RunnerError::Rehearsal(format!("no temporary directory: {error}")))?;
    let mut sets = options.config.sets.clone();
    sets.extend(REHEARSAL_SETS.map(str::to_owned));
    let rehearsal = RunOptions {
        config: ConfigRequest {
            sets,
            ..options.config.clone()
        },
        args: options.args.clone(),
        run_mode: options.run_mode,
        output_root: Some(scratch.path().join("experiment")),
        experiment_id: options.experiment_id.clone(),
        seed: options.seed,
        jobs: options.jobs,
        dry_run: false,
        resume: false,
        // Every run is rehearsed, so a failing one does not hide the cost of the others.
        continue_on_error: true,
        cwd: options.cwd.clone(),
        // The rehearsal spends nothing: no budget applies to it.
        max_cost_usd: None,
        rehearsal: true,
    };
    let never = AtomicBool::new(false);
    let report = run_experiment(experiment, &rehearsal, &never, &|_| {})?;
    let view_path = ExperimentLayout::new(&report.output_root).results();
    let view: RehearsedView = std::fs::read_to_string(&view_path)
        .map_err(|error| error.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|error| error.to_string()))
        .map_err(|error| {
            RunnerError::Rehearsal(format!("its results cannot be read back: {error}"))
        })?;

    let planned: usize = report.runs_per_variant.iter().map(|(_, runs)| runs).sum();
    if view.results.len() != planned {
        // Each run's estimate is read by plan position: every run must have been rehearsed.
        return Err(RunnerError::Rehearsal(format!(
            "{} of {planned} planned runs were rehearsed{}",
            view.results.len(),
            report
                .stopped_by
                .map(|why| format!(": {why}"))
                .unwrap_or_default()
        )));
    }

    // The hints and bounds of the real run: the config as given, without the rehearsal's sets.
    let mut tree = config::load(&options.config)?.tree;
    config::take_experiment_runners(&mut tree)?;
    let real = config::parse_run_config(&tree)?;
    let jobs = options
        .jobs
        .unwrap_or(u64::from(real.backend.text.max_concurrency))
        .max(1) as usize;
    let durations: Vec<(f64, u64)> = view
        .results
        .iter()
        .map(|run| {
            let ms = run.usage.sequential_calls * real.backend.text.latency_hint_ms
                + run.usage.images * real.backend.image.latency_hint_ms;
            (ms as f64 / 1000.0, run.usage.calls)
        })
        .collect();
    let wall_time = wall_time(
        &durations,
        jobs,
        u64::from(real.backend.text.max_concurrency),
        real.backend.text.latency_hint_ms,
        real.backend.image.latency_hint_ms,
    );
    Ok(Estimate {
        experiment: experiment.name().to_owned(),
        base_seed: report.base_seed,
        run_mode: report.run_mode,
        runs_per_variant: Ordered(report.runs_per_variant),
        usage: report.spend.unwrap_or_default(),
        wall_time,
        builtin_prices_written: crate::cost::builtin_written(),
        failed_runs: view
            .results
            .iter()
            .filter(|run| run.status != "success")
            .count(),
        run_costs: view.results.iter().map(|run| run.cost_usd).collect(),
    })
}

/// The wall time of runs taking `runs[i].0` seconds (with `runs[i].1` text calls) in plan order
/// on `jobs` workers, each run to the first free worker, and at least all text calls at
/// `max_concurrency` concurrent calls of `text_ms` each.
fn wall_time(
    runs: &[(f64, u64)],
    jobs: usize,
    max_concurrency: u64,
    text_ms: u64,
    image_ms: u64,
) -> WallTime {
    let mut free_at = vec![0.0_f64; jobs.max(1)];
    for (seconds, _) in runs {
        // The earliest free worker takes the next run (ties: the first).
        let (slot, _) = free_at
            .iter()
            .enumerate()
            .fold((0, f64::INFINITY), |best, (slot, at)| {
                if *at < best.1 {
                    (slot, *at)
                } else {
                    best
                }
            });
        free_at[slot] += seconds;
    }
    let workers = free_at.iter().copied().fold(0.0, f64::max);
    let calls: u64 = runs.iter().map(|(_, calls)| calls).sum();
    let concurrency = calls as f64 * text_ms as f64 / 1000.0 / max_concurrency.max(1) as f64;
    WallTime {
        seconds: round_ms(workers.max(concurrency)),
        jobs: jobs.max(1),
        max_concurrency,
        text_latency_hint_ms: text_ms,
        image_latency_hint_ms: image_ms,
        longest_run_seconds: round_ms(runs.iter().map(|(s, _)| *s).fold(0.0, f64::max)),
        bound_by: if concurrency > workers {
            "max_concurrency"
        } else {
            "workers"
        },
    }
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_go_to_the_first_free_worker_in_plan_order() {
        // Two workers: 10 and 4 start; 3 goes after 4 (free at 4), 5 after 3 (free at 7).
        let runs = [(10.0, 1), (4.0, 1), (3.0, 1), (5.0, 1)];
        let time = wall_time(&runs, 2, 100, 1000, 0);
        assert_eq!(time.seconds, 12.0);
        assert_eq!(time.longest_run_seconds, 10.0);
        assert_eq!(time.bound_by, "workers");
        assert_eq!(wall_time(&runs, 1, 100, 1000, 0).seconds, 22.0);
    }

    #[test]
    fn the_concurrency_bound_sets_a_floor() {
        // 40 calls of 2 s at 4 concurrent calls take 20 s, more than one 8 s run per worker.
        let runs = [(8.0, 20), (8.0, 20)];
        let time = wall_time(&runs, 8, 4, 2000, 0);
        assert_eq!((time.seconds, time.bound_by), (20.0, "max_concurrency"));
    }
}

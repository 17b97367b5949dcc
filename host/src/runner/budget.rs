//! `--max-cost USD` and `budget.max_cost_usd`: an experiment that stops before it spends more.
//!
//! 1. Before anything is planned for real, a new experiment is rehearsed (`--estimate`): an
//!    estimate above the budget, or a cost the rehearsal cannot know (a model without a price),
//!    is an error (exit 2) and nothing is created. The real run then uses the rehearsal's base
//!    seed, so it plans the very runs that were estimated, and each run's estimated cost is the
//!    rehearsal's cost of the run at its plan position.
//! 2. While runs execute, a run is dispatched only when the cost spent so far, plus the
//!    estimates of the runs in flight, plus its own estimate stays within the budget; otherwise
//!    dispatch stops as on Ctrl-C: finished runs are recorded, the rest are skipped, exit 1.
//! 3. The spent cost is the `cost_usd` of every line of `results.jsonl` (every attempt, earlier
//!    sessions included), so `--resume --max-cost <higher>` counts what was already spent. A
//!    resumed run's estimate is the mean cost of the stored runs of its variant (of all stored
//!    runs when its variant has none; 0 when no run has a cost yet, so only the spent cost holds
//!    it back).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use plugin_api::LogLevel;

use super::estimate::Estimate;
use super::PreparedRun;
use crate::artifacts::formats::StoredSpend;
use crate::artifacts::layout::ExperimentLayout;
use crate::artifacts::LogFile;
use crate::cost::round_usd;

/// The budget of one execution and what counts against it.
#[derive(Debug)]
pub struct Budget {
    pub max_usd: f64,
    /// The estimated cost of each planned run, by plan position.
    estimates: Vec<f64>,
    state: Mutex<Spending>,
}

#[derive(Debug, Default)]
struct Spending {
    spent: f64,
    in_flight: f64,
    stopped: bool,
}

/// Where a budget stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetStatus {
    pub max_usd: f64,
    pub spent_usd: f64,
    /// Dispatch stopped because the next run would have passed the budget.
    pub stopped: bool,
}

impl Budget {
    /// A budget of `max_usd` with `spent` already spent and the estimated cost of each planned
    /// run by plan position.
    pub fn new(max_usd: f64, spent: f64, estimates: Vec<f64>) -> Budget {
        Budget {
            max_usd,
            estimates,
            state: Mutex::new(Spending {
                spent,
                ..Spending::default()
            }),
        }
    }

    fn spending(&self) -> std::sync::MutexGuard<'_, Spending> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn estimate(&self, position: usize) -> f64 {
        self.estimates.get(position).copied().unwrap_or(0.0)
    }

    /// Claims the next run of `to_run` (its index in `next`) when the budget holds it, and
    /// returns its plan position; its estimate is then held until it finishes. The check and
    /// the claim happen under one lock, so two workers never both fit into what is left. Once a
    /// run may not start, none may (dispatch is in plan order).
    pub fn dispatch(&self, next: &AtomicUsize, to_run: &[usize]) -> Option<usize> {
        let mut spending = self.spending();
        let slot = next.load(Ordering::SeqCst);
        let position = *to_run.get(slot)?;
        let estimate = self.estimate(position);
        if spending.stopped || spending.spent + spending.in_flight + estimate > self.max_usd {
            spending.stopped = true;
            return None;
        }
        spending.in_flight += estimate;
        next.store(slot + 1, Ordering::SeqCst);
        Some(position)
    }

    /// The run at `position` finished having cost `cost` (`None`: unknown, so its estimate is
    /// counted instead, and the returned warning says so).
    pub fn finished(&self, position: usize, cost: Option<f64>) -> Option<String> {
        let estimate = self.estimate(position);
        let mut spending = self.spending();
        spending.in_flight = (spending.in_flight - estimate).max(0.0);
        spending.spent = round_usd(spending.spent + cost.unwrap_or(estimate));
        cost.is_none().then(|| {
            format!("a run's cost is unknown; its estimate ({estimate:.4} USD) counts against the budget")
        })
    }

    pub fn status(&self) -> BudgetStatus {
        let spending = self.spending();
        BudgetStatus {
            max_usd: self.max_usd,
            spent_usd: spending.spent,
            stopped: spending.stopped,
        }
    }
}

/// Checks a new experiment's estimate against `max_usd`: the estimated cost of each run by
/// plan position, or why the experiment may not start.
pub fn check_estimate(estimate: &Estimate, max_usd: f64) -> Result<Vec<f64>, String> {
    let Some(total) = estimate.usage.total.cost_usd else {
        return Err(format!(
            "the estimate's cost is unknown, so the budget cannot be held to: {}\n\ngive the models a price in `[pricing]`",
            estimate.usage.cost_missing.join("; ")
        ));
    };
    if total > max_usd {
        return Err(format!(
            "the estimated cost, {total:.4} USD, is above the budget of {max_usd:.4} USD; nothing was run\n\nraise `--max-cost` (or `budget.max_cost_usd`), or plan fewer runs"
        ));
    }
    Ok(estimate
        .run_costs
        .iter()
        .map(|cost| cost.unwrap_or(0.0))
        .collect())
}

/// The budget of a resumed experiment: what every stored attempt cost, and each planned run's
/// estimate from the stored costs of its variant. Lines without a cost are logged.
pub fn from_store(max_usd: f64, out: &Path, runs: &[PreparedRun], log: &LogFile) -> Budget {
    let text =
        std::fs::read_to_string(ExperimentLayout::new(out).results_log()).unwrap_or_default();
    let mut spent = 0.0;
    let mut unknown = 0;
    let mut known: Vec<(String, f64)> = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        // Lines that do not parse were reported when the store opened.
        let Ok(stored) = serde_json::from_str::<StoredSpend>(line) else {
            continue;
        };
        match stored.cost_usd {
            Some(cost) => {
                spent += cost;
                let variant = runs
                    .iter()
                    .find(|run| run.generation_id == stored.generation_id)
                    .map(|run| run.planned.variant.clone())
                    .unwrap_or_default();
                known.push((variant, cost));
            }
            None => unknown += 1,
        }
    }
    if unknown > 0 {
        let _ = log.record(
            LogLevel::Warn,
            &format!("budget: {unknown} stored attempts have no cost; they count as 0 spent"),
        );
    }
    let mean = |costs: Vec<f64>| {
        (!costs.is_empty()).then(|| costs.iter().sum::<f64>() / costs.len() as f64)
    };
    let overall = mean(known.iter().map(|(_, cost)| *cost).collect());
    let estimates = runs
        .iter()
        .map(|run| {
            let of_variant = known
                .iter()
                .filter(|(variant, _)| *variant == run.planned.variant)
                .map(|(_, cost)| *cost)
                .collect();
            mean(of_variant).or(overall).unwrap_or(0.0)
        })
        .collect();
    Budget::new(max_usd, round_usd(spent), estimates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_start_while_spent_plus_in_flight_plus_their_estimate_fit() {
        let budget = Budget::new(1.0, 0.2, vec![0.3, 0.3, 0.3]);
        let next = AtomicUsize::new(0);
        let to_run = [0, 1, 2];
        assert_eq!(budget.dispatch(&next, &to_run), Some(0));
        assert_eq!(budget.dispatch(&next, &to_run), Some(1));
        // 0.2 spent + 0.6 in flight + 0.3 > 1.0.
        assert_eq!(budget.dispatch(&next, &to_run), None);
        assert!(budget.status().stopped);
        assert_eq!(
            next.load(Ordering::SeqCst),
            2,
            "the run that did not fit stays unclaimed"
        );
        assert_eq!(budget.finished(0, Some(0.25)), None);
        assert_eq!(
            budget.dispatch(&next, &to_run),
            None,
            "once stopped, dispatch stays stopped"
        );
        assert!(budget.finished(1, None).is_some());
        let status = budget.status();
        assert_eq!(status.spent_usd, 0.75);
    }
}

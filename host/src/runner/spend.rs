//! What the stored runs used and cost, per variant and for the whole experiment: `summary.usage`
//! in `experiment_results.json`, the terminal table and `--json`. It reads each entry's `usage`
//! and `cost_usd` (written by `execute`), so a resumed experiment counts every stored run, the
//! ones of earlier sessions included, and failed runs too (their calls were paid for).
//!
//! A cost is a sum of known costs or `null`: one run without a cost makes its variant's and the
//! experiment's cost `null`, and `cost_missing` says why (each reason once, in plan order).

use serde::{Deserialize, Serialize};

use super::results::Raw;
use crate::cost::{round_usd, UsageTotals};
use crate::metrics::Ordered;

/// The usage and cost of a set of runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spend {
    pub runs: usize,
    pub usage: UsageTotals,
    /// The sum of the runs' costs; `None` when a run has none.
    pub cost_usd: Option<f64>,
    /// Runs whose entry has no cost (`cost_usd: null`, or no `usage` at all: an entry written
    /// before usage was recorded).
    pub runs_without_cost: usize,
    /// What the runs' cache hits would have cost: the sum of their `saved_cost_usd` (0 for an
    /// entry without one, written before the cache existed); `None` when a run's is unknown.
    pub saved_cost_usd: Option<f64>,
}

/// `summary.usage`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SpendSummary {
    pub variants: Ordered<Spend>,
    pub total: Spend,
    /// Why a cost is `null`: the distinct reasons of the runs, in plan order.
    pub cost_missing: Vec<String>,
}

/// The fields of a stored entry read here.
#[derive(Deserialize)]
struct StoredEntry {
    #[serde(default)]
    variant: String,
    #[serde(default)]
    usage: Option<UsageTotals>,
    #[serde(default)]
    cost_usd: Option<f64>,
    #[serde(default)]
    cost_missing: Vec<String>,
    /// Absent (an entry from before the cache): nothing saved; null: unknown.
    #[serde(default = "nothing_saved")]
    saved_cost_usd: Option<f64>,
}

fn nothing_saved() -> Option<f64> {
    Some(0.0)
}

/// Why an entry without `usage` has no cost.
const NOT_RECORDED: &str = "runs recorded before usage was recorded";

impl Spend {
    fn add(&mut self, usage: Option<&UsageTotals>, cost: Option<f64>, saved: Option<f64>) {
        let first = self.runs == 0;
        self.saved_cost_usd = match (first, self.saved_cost_usd, saved) {
            (true, _, Some(saved)) => Some(saved),
            (false, Some(sum), Some(saved)) => Some(round_usd(sum + saved)),
            _ => None,
        };
        self.runs += 1;
        if let Some(usage) = usage {
            self.usage.add(usage);
        }
        self.cost_usd = match (first, self.cost_usd, cost) {
            (true, _, Some(cost)) => Some(cost),
            (false, Some(sum), Some(cost)) => Some(round_usd(sum + cost)),
            _ => None,
        };
        if cost.is_none() {
            self.runs_without_cost += 1;
        }
    }
}

/// The usage and cost of the stored entries (plan order), by variant and in total. An entry
/// that does not parse is counted as a run without a cost; `metrics::digest` reports it.
pub fn digest(entries: &[Raw]) -> SpendSummary {
    let mut summary = SpendSummary::default();
    for raw in entries {
        let entry = serde_json::from_str::<StoredEntry>(raw.text()).unwrap_or(StoredEntry {
            variant: String::new(),
            usage: None,
            cost_usd: None,
            cost_missing: vec!["a stored result entry does not parse".to_owned()],
            saved_cost_usd: None,
        });
        let cost = entry.usage.and(entry.cost_usd);
        let mut reasons = entry.cost_missing;
        if entry.usage.is_none() && reasons.is_empty() {
            reasons.push(NOT_RECORDED.to_owned());
        }
        for reason in reasons {
            if !summary.cost_missing.contains(&reason) {
                summary.cost_missing.push(reason);
            }
        }
        let slot = match summary
            .variants
            .0
            .iter()
            .position(|(v, _)| *v == entry.variant)
        {
            Some(slot) => slot,
            None => {
                summary
                    .variants
                    .0
                    .push((entry.variant.clone(), Spend::default()));
                summary.variants.0.len() - 1
            }
        };
        let saved = entry.saved_cost_usd;
        summary.variants.0[slot]
            .1
            .add(entry.usage.as_ref(), cost, saved);
        summary.total.add(entry.usage.as_ref(), cost, saved);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn raw(variant: &str, calls: u64, cost: Option<f64>, missing: &[&str]) -> Raw {
        let mut entry = json!({
            "variant": variant,
            "usage": {"calls": calls, "input_tokens": 10 * calls, "cached_input_tokens": 0,
                      "output_tokens": calls, "reasoning_tokens": 0, "images": 1,
                      "calls_without_usage": 0},
            "cost_usd": cost,
        });
        if !missing.is_empty() {
            entry["cost_missing"] = json!(missing);
        }
        Raw::from_value(&entry).expect("raw")
    }

    #[test]
    fn sums_by_variant_and_in_total() {
        let summary = digest(&[
            raw("A", 3, Some(0.1), &[]),
            raw("B", 2, Some(0.2), &[]),
            raw("A", 1, Some(0.2), &[]),
        ]);
        let a = summary.variants.get("A").expect("A");
        assert_eq!((a.runs, a.usage.calls, a.usage.input_tokens), (2, 4, 40));
        assert_eq!(a.cost_usd, Some(0.3));
        assert_eq!(summary.total.cost_usd, Some(0.5));
        assert_eq!(summary.total.usage.images, 3);
        assert!(summary.cost_missing.is_empty());
    }

    #[test]
    fn one_run_without_a_cost_makes_the_sum_unknown_and_says_why() {
        let old = Raw::from_value(&json!({"variant": "B"})).expect("raw");
        let summary = digest(&[
            raw("A", 1, Some(0.1), &[]),
            raw("A", 1, None, &["no price for text model `m`"]),
            raw("B", 1, Some(0.1), &[]),
            old,
        ]);
        let a = summary.variants.get("A").expect("A");
        assert_eq!((a.cost_usd, a.runs_without_cost), (None, 1));
        let b = summary.variants.get("B").expect("B");
        assert_eq!(
            (b.cost_usd, b.runs_without_cost, b.usage.calls),
            (None, 1, 1)
        );
        assert_eq!(summary.total.runs_without_cost, 2);
        assert_eq!(
            summary.cost_missing,
            ["no price for text model `m`", NOT_RECORDED]
        );
    }

    #[test]
    fn saved_cost_sums_hits_and_older_entries_saved_nothing() {
        let mut with_saving = json!({"variant": "A", "usage": {"calls": 1, "cache_hits": 3},
                                     "cost_usd": 0.1, "saved_cost_usd": 0.25});
        let hit = Raw::from_value(&with_saving).expect("raw");
        let summary = digest(&[raw("A", 1, Some(0.1), &[]), hit]);
        assert_eq!(summary.total.saved_cost_usd, Some(0.25));
        assert_eq!(summary.total.usage.cache_hits, 3);
        with_saving["saved_cost_usd"] = Value::Null;
        let unknown = digest(&[Raw::from_value(&with_saving).expect("raw")]);
        assert_eq!(unknown.total.saved_cost_usd, None);
    }
}

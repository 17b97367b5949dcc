//! The pairs of a paired plan, derived from the plan's runs and its [`Pairing`]: one control and
//! one or more treatments, each treatment paired with the control at every run index. It owns the
//! pairing's rules (no treatment equal to the control or listed twice, every named variant
//! planned, every run index with every side, and with more than one treatment every planned
//! variant paired) and the order of the pairs. It does not own `pairs.json` (`runner::results`
//! builds the view, `artifacts::plan_files` its format) nor the paired metrics (`metrics`).

use std::collections::{BTreeMap, HashMap, HashSet};

use plugin_api::Pairing;

use super::plan::{PlanError, PreparedRun};
use crate::errors::quoted;

/// One pair: the control's run and a treatment's run at one run index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub run_index: u32,
    /// The treatment variant this pair compares with the control.
    pub treatment: String,
    /// The control's run.
    pub a_generation_id: String,
    /// The treatment's run.
    pub b_generation_id: String,
}

/// Every pair of a paired plan, arm by arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPairs {
    pub control: String,
    /// In the pairing's order: `b`, then `more_treatments`.
    pub treatments: Vec<String>,
    /// Every treatment's pairs, in the order of `treatments`, each by run index. Every arm has
    /// one pair per run index of the control, so the arms are equal slices.
    pub pairs: Vec<Pair>,
    /// Planned variants in no pairing, in plan order: a plan with one treatment may have them
    /// (1.0 allowed it); they run but are in no pair.
    pub unpaired: Vec<String>,
}

impl PlanPairs {
    /// More than one treatment: `pairs.json` and `summary.metrics` then list every arm.
    pub fn has_more_arms(&self) -> bool {
        self.treatments.len() > 1
    }

    /// Each treatment with its pairs, in the pairing's order.
    pub fn arms(&self) -> impl Iterator<Item = (&str, &[Pair])> {
        self.treatments.iter().map(String::as_str).zip(
            self.pairs
                .chunk_by(|one, next| one.treatment == next.treatment),
        )
    }

    /// The warning for planned variants in no pairing (allowed with one treatment, as in 1.0),
    /// so that they are not left out of the comparison silently.
    pub fn unpaired_warning(&self) -> Option<String> {
        let (subject, verb, them) = match self.unpaired.len() {
            0 => return None,
            1 => ("variant", "is", "it"),
            _ => ("variants", "are", "them"),
        };
        Some(format!(
            "{subject} {} {verb} in no pairing: the plan pairs only the control `{}` with {}; \
             `pairs.json` and the paired metrics leave {them} out",
            quoted(&self.unpaired),
            self.control,
            quoted(&self.treatments),
        ))
    }

    /// The first treatment's pairs: 1.0's `a`–`b` pairs.
    pub fn first_arm(&self) -> &[Pair] {
        self.arms().next().map_or(&[], |(_, pairs)| pairs)
    }
}

/// The pairs of a paired plan, checked: see the module comment for the rules. Linear in the run
/// count (plus the sort of the run indexes).
pub fn pairs(
    experiment: &str,
    pairing: &Pairing,
    runs: &[PreparedRun],
) -> Result<PlanPairs, PlanError> {
    let error = |problem: String| PlanError {
        experiment: experiment.to_owned(),
        problem,
    };
    let control = pairing.control();
    let treatments: Vec<&str> = pairing.treatments().collect();
    for (position, treatment) in treatments.iter().enumerate() {
        if *treatment == control {
            return Err(error(format!(
                "the pairing names `{control}` as both the control and a treatment"
            )));
        }
        if treatments[..position].contains(treatment) {
            return Err(error(format!(
                "the pairing lists the treatment `{treatment}` twice"
            )));
        }
    }
    // Side 0 is the control, side i the i-th treatment.
    let sides: Vec<&str> = std::iter::once(control)
        .chain(treatments.iter().copied())
        .collect();
    let side_of: HashMap<&str, usize> = sides
        .iter()
        .enumerate()
        .map(|(side, variant)| (*variant, side))
        .collect();
    let mut by_index: BTreeMap<u32, Vec<Option<&str>>> = BTreeMap::new();
    let mut planned_runs = vec![0usize; sides.len()];
    let mut unpaired: Vec<String> = Vec::new();
    let mut seen_unpaired: HashSet<&str> = HashSet::new();
    for run in runs {
        let variant = run.planned.variant.as_str();
        match side_of.get(variant) {
            Some(&side) => {
                by_index
                    .entry(run.planned.run)
                    .or_insert_with(|| vec![None; sides.len()])[side] = Some(&run.generation_id);
                planned_runs[side] += 1;
            }
            None => {
                if seen_unpaired.insert(variant) {
                    unpaired.push(variant.to_owned());
                }
            }
        }
    }
    if let Some(side) = planned_runs.iter().position(|count| *count == 0) {
        return Err(error(format!(
            "the pairing names `{}`, but the plan has no run of it",
            sides[side]
        )));
    }
    if !pairing.more_treatments.is_empty() && !unpaired.is_empty() {
        return Err(error(format!(
            "the pairing of the control `{control}` with the treatments {} leaves out {}: a \
             plan with more than one treatment must pair every variant it plans",
            quoted(&treatments),
            quoted(&unpaired)
        )));
    }
    for (run_index, ids) in &by_index {
        if let Some(side) = ids.iter().position(Option::is_none) {
            let present: Vec<&str> = sides
                .iter()
                .zip(ids)
                .filter(|(_, id)| id.is_some())
                .map(|(variant, _)| *variant)
                .collect();
            return Err(error(format!(
                "a paired plan needs the control `{control}` and each treatment ({}) at every \
                 run index, but run {run_index} has {} and no `{}`",
                quoted(&treatments),
                quoted(&present),
                sides[side]
            )));
        }
    }
    let mut pairs = Vec::with_capacity(by_index.len() * treatments.len());
    for (position, treatment) in treatments.iter().enumerate() {
        pairs.extend(by_index.iter().filter_map(|(run_index, ids)| {
            Some(Pair {
                run_index: *run_index,
                treatment: (*treatment).to_owned(),
                a_generation_id: ids[0]?.to_owned(),
                b_generation_id: ids[position + 1]?.to_owned(),
            })
        }));
    }
    Ok(PlanPairs {
        control: control.to_owned(),
        treatments: treatments.iter().map(|t| (*t).to_owned()).collect(),
        pairs,
        unpaired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::plan::tests::{base, prepare, run};
    use serde_json::json;

    fn prepared(variants: &[(&str, u32)]) -> Vec<PreparedRun> {
        let runs = variants
            .iter()
            .map(|(variant, index)| run(variant, *index, u64::from(*index)))
            .collect();
        prepare("e", runs, &base(json!({}))).unwrap()
    }

    #[test]
    fn pairs_need_both_sides() {
        let pairing = Pairing::new("A", "B");
        let runs = prepared(&[("A", 1), ("B", 1), ("A", 2)]);
        let error = pairs("demo", &pairing, &runs).unwrap_err().to_string();
        assert!(error.contains("run 2 has `A` and no `B`"), "{error}");
        let pairs = pairs("demo", &pairing, &runs[..2]).unwrap();
        assert_eq!(pairs.pairs.len(), 1);
        assert_eq!(pairs.pairs[0].a_generation_id, runs[0].generation_id);
        assert_eq!(pairs.pairs[0].treatment, "B");
        assert!(!pairs.has_more_arms());
    }

    #[test]
    fn every_treatment_is_paired_with_the_control_arm_by_arm() {
        let pairing = Pairing::new("A", "B").and("C");
        let runs = prepared(&[("A", 1), ("B", 1), ("C", 1), ("C", 2), ("B", 2), ("A", 2)]);
        let pairs = pairs("demo", &pairing, &runs).unwrap();
        assert!(pairs.has_more_arms());
        type Ids<'a> = Vec<(u32, &'a str, &'a str)>;
        let arms: Vec<(&str, Ids)> = pairs
            .arms()
            .map(|(treatment, arm)| {
                let ids = arm
                    .iter()
                    .map(|p| {
                        (
                            p.run_index,
                            p.a_generation_id.as_str(),
                            p.b_generation_id.as_str(),
                        )
                    })
                    .collect();
                (treatment, ids)
            })
            .collect();
        let id = |i: usize| runs[i].generation_id.as_str();
        assert_eq!(
            arms,
            vec![
                ("B", vec![(1, id(0), id(1)), (2, id(5), id(4))]),
                ("C", vec![(1, id(0), id(2)), (2, id(5), id(3))]),
            ]
        );
        assert_eq!(pairs.first_arm(), &pairs.pairs[..2]);
        assert!(pairs.pairs[2..].iter().all(|pair| pair.treatment == "C"));
    }

    #[test]
    fn a_pairing_that_does_not_fit_the_plan_is_refused() {
        let three = prepared(&[("A", 1), ("B", 1), ("C", 1)]);
        let cases = [
            (
                Pairing::new("A", "A"),
                "names `A` as both the control and a treatment",
            ),
            (
                Pairing::new("A", "B").and("B"),
                "lists the treatment `B` twice",
            ),
            (
                Pairing::new("A", "B").and("D"),
                "names `D`, but the plan has no run of it",
            ),
            (
                Pairing::new("D", "B"),
                "names `D`, but the plan has no run of it",
            ),
        ];
        for (pairing, expected) in cases {
            let error = pairs("demo", &pairing, &three).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        let four = prepared(&[("A", 1), ("B", 1), ("C", 1), ("D", 1)]);
        let error = pairs("demo", &Pairing::new("A", "B").and("C"), &four)
            .unwrap_err()
            .to_string();
        assert!(error.contains("leaves out `D`"), "{error}");
        let gap = prepared(&[("A", 1), ("B", 1), ("C", 1), ("A", 2), ("B", 2)]);
        let error = pairs("demo", &Pairing::new("A", "B").and("C"), &gap)
            .unwrap_err()
            .to_string();
        assert!(error.contains("run 2 has `A`, `B` and no `C`"), "{error}");
    }

    #[test]
    fn one_treatment_leaves_other_variants_unpaired() {
        let runs = prepared(&[("A", 1), ("C", 1), ("B", 1), ("C", 2), ("D", 1)]);
        let pairs = pairs("demo", &Pairing::new("A", "B"), &runs).unwrap();
        assert_eq!(pairs.pairs.len(), 1);
        assert_eq!(pairs.unpaired, ["C", "D"]);
    }
}

//! Turning a plugin's plan into runs the runner can execute: validation (non-empty, unique
//! (variant, run), safe names, seeds present), the merged config of each run, its generation id
//! and its labels. Also the A/B pairs, which are derived from the plan.

use std::collections::BTreeMap;

use plugin_api::hash::short_hex;
use plugin_api::merge::deep_merge;
use plugin_api::{Pairing, Plan, PlannedRun};
use serde_json::{json, Map, Value};

/// A plan the plugin returned that the runner cannot execute.
#[derive(Debug, thiserror::Error)]
#[error("invalid plan from experiment `{experiment}`: {problem}")]
pub struct PlanError {
    pub experiment: String,
    pub problem: String,
}

/// One run ready to execute.
#[derive(Debug, Clone)]
pub struct PreparedRun {
    pub planned: PlannedRun,
    pub generation_id: String,
    /// The fully merged config, labels included.
    pub config: Value,
}

impl PreparedRun {
    /// `prompt.plan` of the run's config, if set.
    pub fn plan_name(&self) -> Option<&str> {
        self.config.pointer("/prompt/plan").and_then(Value::as_str)
    }
}

/// Fields of a planned-run entry that a plugin's `meta` may not reuse.
pub(super) const RESERVED_RUN_FIELDS: &[&str] = &[
    "variant",
    "variant_name",
    "plan",
    "run",
    "generation_id",
    "seed",
    "tags",
    "notes",
    "config",
];

/// Validates the plan and prepares each run, in plan order.
pub fn prepare_runs(
    experiment: &str,
    experiment_id: &str,
    plan: &Plan,
    base_config: &Value,
) -> Result<Vec<PreparedRun>, PlanError> {
    let error = |problem: String| PlanError {
        experiment: experiment.to_owned(),
        problem,
    };
    if plan.runs.is_empty() {
        return Err(error("the plan has no runs".to_owned()));
    }
    let mut seen: Vec<(&str, u32)> = Vec::new();
    let mut prepared = Vec::with_capacity(plan.runs.len());
    for (index, run) in plan.runs.iter().enumerate() {
        let at = |problem: String| error(format!("runs[{index}]: {problem}"));
        check_run(run).map_err(at)?;
        if seen.contains(&(run.variant.as_str(), run.run)) {
            return Err(at(format!(
                "variant `{}` run {} is planned twice",
                run.variant, run.run
            )));
        }
        seen.push((&run.variant, run.run));
        let seed = run
            .seed
            .ok_or_else(|| at("the run has no seed".to_owned()))?;

        let mut config = base_config.clone();
        deep_merge(&mut config, &run.overlay).map_err(|clash| {
            at(format!(
                "its overlay does not merge onto the config: {clash}"
            ))
        })?;
        let labels = json!({"experiment": {
            "variant": experiment_variant(run),
            "notes": run.notes,
            "tags": run.tags,
        }});
        let labels = strip_nulls(labels);
        deep_merge(&mut config, &labels)
            .map_err(|clash| at(format!("its labels do not merge onto the config: {clash}")))?;

        let generation_id = format!(
            "{}{}_{}",
            run.variant,
            run.run,
            short_hex(&[
                experiment_id,
                &run.variant,
                &run.run.to_string(),
                &seed.to_string()
            ])
        );
        prepared.push(PreparedRun {
            planned: run.clone(),
            generation_id,
            config,
        });
    }
    Ok(prepared)
}

/// `experiment.variant`: the variant key, joined with its human name when there is one.
pub fn experiment_variant(run: &PlannedRun) -> String {
    match &run.variant_name {
        Some(name) => format!("{}_{}", run.variant, name),
        None => run.variant.clone(),
    }
}

fn check_run(run: &PlannedRun) -> Result<(), String> {
    let safe = !run.variant.is_empty()
        && run
            .variant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !safe {
        return Err(format!(
            "variant `{}` is not a safe name (expected letters, digits, `_` and `-`)",
            run.variant
        ));
    }
    if run
        .variant_name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        return Err("`variant_name` is blank (leave it out instead)".to_owned());
    }
    if run.run == 0 {
        return Err("`run` must be 1 or more".to_owned());
    }
    if !(run.overlay.is_object() || run.overlay.is_null()) {
        return Err("`overlay` must be a table".to_owned());
    }
    if run.tags.iter().any(|tag| tag.trim().is_empty()) {
        return Err("a tag is blank".to_owned());
    }
    if let Some(key) = run
        .meta
        .keys()
        .find(|key| RESERVED_RUN_FIELDS.contains(&key.as_str()))
    {
        return Err(format!(
            "`meta.{key}` would overwrite a planned-run field of the same name"
        ));
    }
    Ok(())
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key, strip_nulls(value)))
                .collect(),
        ),
        other => other,
    }
}

/// Runs per variant, in the order variants first appear in the plan.
pub fn runs_per_variant(runs: &[PreparedRun]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for run in runs {
        match counts
            .iter_mut()
            .find(|(variant, _)| *variant == run.planned.variant)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((run.planned.variant.clone(), 1)),
        }
    }
    counts
}

/// One A/B pair: the two generation ids at a run index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub run_index: u32,
    pub a_generation_id: String,
    pub b_generation_id: String,
}

/// The pairs of an A/B plan: every run index must have both variants; other variants are ignored.
pub fn pairs(
    experiment: &str,
    pairing: &Pairing,
    runs: &[PreparedRun],
) -> Result<Vec<Pair>, PlanError> {
    let error = |problem: String| PlanError {
        experiment: experiment.to_owned(),
        problem,
    };
    if pairing.a == pairing.b {
        return Err(error(format!(
            "the pairing names `{}` for both sides",
            pairing.a
        )));
    }
    let mut by_index: BTreeMap<u32, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for run in runs {
        let slot = by_index.entry(run.planned.run).or_default();
        if run.planned.variant == pairing.a {
            slot.0 = Some(&run.generation_id);
        } else if run.planned.variant == pairing.b {
            slot.1 = Some(&run.generation_id);
        }
    }
    by_index
        .into_iter()
        .filter(|(_, (a, b))| a.is_some() || b.is_some())
        .map(|(run_index, ids)| match ids {
            (Some(a), Some(b)) => Ok(Pair {
                run_index,
                a_generation_id: a.to_owned(),
                b_generation_id: b.to_owned(),
            }),
            _ => Err(error(format!(
                "an A/B plan needs both `{}` and `{}` at every run index, but run {run_index} has only one",
                pairing.a, pairing.b
            ))),
        })
        .collect()
}

/// The planned-run entry of the plan files: the run's fields, then its flattened `meta`.
pub fn planned_run_entry(run: &PreparedRun) -> Map<String, Value> {
    let planned = &run.planned;
    let mut entry = Map::new();
    entry.insert("variant".into(), json!(planned.variant));
    entry.insert("variant_name".into(), json!(planned.variant_name));
    entry.insert("plan".into(), json!(run.plan_name()));
    entry.insert("run".into(), json!(planned.run));
    entry.insert("generation_id".into(), json!(run.generation_id));
    entry.insert("seed".into(), json!(planned.seed));
    entry.insert("tags".into(), json!(planned.tags));
    entry.insert("notes".into(), json!(planned.notes));
    for (key, value) in &planned.meta {
        entry.insert(key.clone(), value.clone());
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(variant: &str, index: u32, seed: u64) -> PlannedRun {
        PlannedRun {
            variant: variant.into(),
            variant_name: Some("demo".into()),
            run: index,
            seed: Some(seed),
            overlay: json!({"prompt": {"random_seed": seed}}),
            tags: vec!["ab".into(), format!("run:{index}")],
            notes: Some("a note".into()),
            meta: Map::new(),
        }
    }

    fn plan(runs: Vec<PlannedRun>) -> Plan {
        Plan {
            runs,
            ..Plan::default()
        }
    }

    #[test]
    fn merges_overlays_labels_and_assigns_stable_ids() {
        let base =
            json!({"prompt": {"plan": "custom", "random_seed": 0}, "experiment": {"id": "x"}});
        let runs = prepare_runs(
            "demo",
            "exp1",
            &plan(vec![run("A", 1, 7), run("B", 1, 7)]),
            &base,
        )
        .unwrap();
        assert_eq!(runs[0].config["prompt"]["random_seed"], 7);
        assert_eq!(runs[0].config["experiment"]["variant"], "A_demo");
        assert_eq!(runs[0].config["experiment"]["id"], "x");
        assert_eq!(runs[0].config["experiment"]["tags"], json!(["ab", "run:1"]));
        assert!(runs[0].generation_id.starts_with("A1_"));
        assert_eq!(runs[0].generation_id.len(), "A1_".len() + 8);
        assert_ne!(runs[0].generation_id[3..], runs[1].generation_id[3..]);
        let again = prepare_runs("demo", "exp1", &plan(vec![run("A", 1, 7)]), &base).unwrap();
        assert_eq!(again[0].generation_id, runs[0].generation_id);
        let other_id = prepare_runs("demo", "exp2", &plan(vec![run("A", 1, 7)]), &base).unwrap();
        assert_ne!(other_id[0].generation_id, runs[0].generation_id);
    }

    #[test]
    fn rejects_invalid_plans() {
        let base = json!({});
        let mut no_seed = run("A", 1, 1);
        no_seed.seed = None;
        let mut traversal = run("..", 1, 1);
        traversal.variant_name = None;
        let mut reserved_meta = run("A", 1, 1);
        reserved_meta
            .meta
            .insert("generation_id".into(), json!("x"));
        let cases = [
            (vec![], "no runs"),
            (vec![run("A", 1, 1), run("A", 1, 2)], "planned twice"),
            (vec![run("A/B", 1, 1)], "not a safe name"),
            (vec![traversal], "not a safe name"),
            (vec![run("A", 0, 1)], "1 or more"),
            (vec![no_seed], "no seed"),
            (vec![reserved_meta], "meta.generation_id"),
        ];
        for (runs, expected) in cases {
            let error = prepare_runs("demo", "e", &plan(runs), &base)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn pairs_need_both_sides() {
        let base = json!({});
        let pairing = Pairing {
            a: "A".into(),
            b: "B".into(),
        };
        let runs = prepare_runs(
            "demo",
            "e",
            &plan(vec![run("A", 1, 1), run("B", 1, 1), run("A", 2, 2)]),
            &base,
        )
        .unwrap();
        let error = pairs("demo", &pairing, &runs).unwrap_err().to_string();
        assert!(error.contains("run 2 has only one"), "{error}");
        let pairs = pairs("demo", &pairing, &runs[..2]).unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].a_generation_id, runs[0].generation_id);
    }
}

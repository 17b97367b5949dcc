//! Turning a plugin's plan into runs the runner can execute: validation (non-empty, unique
//! (variant, run), safe names, seeds present and at most 2^53 - 1, no runner-owned key in an
//! overlay), each run's config by reference (the shared base plus the run's overlay), its
//! generation id and its labels. The pairs of a paired plan are `runner::pairs`.
//!
//! A run's effective config is `base ⊕ overlay ⊕ runner-owned keys` ([`PreparedRun::config`]):
//! the base is the loaded config with the standard overrides (DESIGN §4 step 4), shared by every
//! run; the overlay is what the plugin planned for the run (identical overlays are stored once);
//! the runner-owned keys (mode, paths, experiment id, labels, `prompt.random_seed`) come last, so
//! no overlay can move a run's files or relabel it. An overlay that sets an owned key to another
//! value is a plan error, not silently overridden.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use plugin_api::hash::short_hex;
use plugin_api::merge::{deep_merge, MergeError};
use plugin_api::PlannedRun;
use serde_json::{json, Value};

use crate::artifacts::formats::PlannedRunEntry;

/// The largest planned seed: a run's seed is written to the plan, its results and the runs index.
pub use plugin_api::seed::MAX_SEED as MAX_PLANNED_SEED;

/// A plan the plugin returned that the runner cannot execute.
#[derive(Debug, thiserror::Error)]
#[error("invalid plan from experiment `{experiment}`: {problem}")]
pub struct PlanError {
    pub experiment: String,
    pub problem: String,
}

/// What every run of one experiment shares.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanBase {
    /// The loaded config with the standard overrides applied.
    pub config: Value,
    /// The standard overrides the runner owns in every run: `run.mode`, the four paths,
    /// `experiment.id` (not `context.today`, which a plan may change).
    pub owned: Value,
    /// `--config`/`--set` given with `--resume`: merged after each run's overlay.
    pub resume_overlay: Value,
}

/// One run ready to execute.
#[derive(Debug, Clone)]
pub struct PreparedRun {
    /// The plugin's run, labels and seed. Its `overlay` is moved into [`PreparedRun::overlay`].
    pub planned: PlannedRun,
    pub generation_id: String,
    /// The plugin's overlay without `prompt.random_seed` (the runner sets it from the seed);
    /// runs with identical overlays share one value.
    pub overlay: Arc<Value>,
    pub base: Arc<PlanBase>,
}

impl PreparedRun {
    /// `prompt.plan` of the run's config, if set.
    pub fn plan_name(&self) -> Option<&str> {
        self.overlay
            .pointer("/prompt/plan")
            .or_else(|| self.base.resume_overlay.pointer("/prompt/plan"))
            .or_else(|| self.base.config.pointer("/prompt/plan"))
            .and_then(Value::as_str)
    }

    /// The keys the runner owns in this run, as a config tree: the standard overrides, the
    /// seed and the labels.
    pub fn owned(&self) -> Value {
        owned_keys(&self.base.owned, &self.planned)
    }

    /// The run's effective config: base, overlay, resume overlay, then the runner-owned keys.
    pub fn config(&self) -> Result<Value, MergeError> {
        let mut config = self.base.config.clone();
        deep_merge(&mut config, &self.overlay)?;
        deep_merge(&mut config, &self.base.resume_overlay)?;
        deep_merge(&mut config, &self.owned())?;
        Ok(config)
    }
}

/// The runner-owned keys of one run.
fn owned_keys(standard: &Value, run: &PlannedRun) -> Value {
    let mut owned = standard.clone();
    let labels = strip_nulls(json!({
        "prompt": {"random_seed": run.seed},
        "experiment": {
            "variant": experiment_variant(run),
            "notes": run.notes,
            "tags": run.tags,
        }
    }));
    // Both trees hold only tables and leaves the runner builds; they cannot clash.
    let _ = deep_merge(&mut owned, &labels);
    owned
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
    "overlay",
    "prompt_pipeline",
    "config_error",
];

/// Prepares runs one at a time, as a plan is read: each is validated and keeps only what it
/// needs (identical overlays are stored once), so memory follows the runs, not their JSON.
pub struct RunPreparer<'a> {
    experiment: &'a str,
    experiment_id: &'a str,
    base: Arc<PlanBase>,
    seen: HashSet<(String, u32)>,
    /// Each distinct overlay, by its JSON text; its merge onto the base was checked once.
    overlays: HashMap<String, Arc<Value>>,
    prepared: Vec<PreparedRun>,
}

impl<'a> RunPreparer<'a> {
    pub fn new(experiment: &'a str, experiment_id: &'a str, base: Arc<PlanBase>) -> Self {
        RunPreparer {
            experiment,
            experiment_id,
            base,
            seen: HashSet::new(),
            overlays: HashMap::new(),
            prepared: Vec::new(),
        }
    }

    /// Validates one run (the next in plan order) and keeps it.
    pub fn add(&mut self, mut run: PlannedRun) -> Result<(), PlanError> {
        let index = self.prepared.len();
        let experiment = self.experiment;
        let at = |problem: String| PlanError {
            experiment: experiment.to_owned(),
            problem: format!("runs[{index}]: {problem}"),
        };
        check_run(&run).map_err(at)?;
        if !self.seen.insert((run.variant.clone(), run.run)) {
            return Err(at(format!(
                "variant `{}` run {} is planned twice",
                run.variant, run.run
            )));
        }
        let seed = run
            .seed
            .ok_or_else(|| at("the run has no seed".to_owned()))?;
        if seed > MAX_PLANNED_SEED {
            return Err(at(format!(
                "variant `{}` run {} has seed {seed}, above the largest seed a plan may hold, 2^53 - 1 ({MAX_PLANNED_SEED}): a larger one does not survive a JSON reader exactly",
                run.variant, run.run
            )));
        }

        let mut overlay = std::mem::take(&mut run.overlay);
        if overlay.is_null() {
            overlay = json!({});
        }
        let owned = owned_keys(&self.base.owned, &run);
        if let Some((key, planned, owned_value)) = owned_keys_set(&overlay, &owned)
            .into_iter()
            .find(|(_, planned, owned_value)| planned != owned_value)
        {
            return Err(at(format!(
                "its overlay sets `{key}` to {planned}, but the runner owns that key (it is {owned_value})"
            )));
        }
        // The seed is the planned `seed`; the overlay may repeat it (checked above), not change it.
        if let Some(prompt) = overlay.get_mut("prompt").and_then(Value::as_object_mut) {
            prompt.remove("random_seed");
        }
        let text = overlay.to_string();
        let overlay = match self.overlays.get(&text) {
            Some(known) => Arc::clone(known),
            None => {
                // Runs sharing an overlay differ only in owned leaves of one shape: one check
                // covers them all.
                let mut config = self.base.config.clone();
                deep_merge(&mut config, &overlay).map_err(|clash| {
                    at(format!(
                        "its overlay does not merge onto the config: {clash}"
                    ))
                })?;
                deep_merge(&mut config, &owned).map_err(|clash| {
                    at(format!(
                        "its overlay clashes with the keys the runner owns: {clash}"
                    ))
                })?;
                let overlay = Arc::new(overlay);
                self.overlays.insert(text, Arc::clone(&overlay));
                overlay
            }
        };

        let generation_id = format!(
            "{}{}_{}",
            run.variant,
            run.run,
            short_hex(&[
                self.experiment_id,
                &run.variant,
                &run.run.to_string(),
                &seed.to_string()
            ])
        );
        self.prepared.push(PreparedRun {
            planned: run,
            generation_id,
            overlay,
            base: Arc::clone(&self.base),
        });
        Ok(())
    }

    /// The prepared runs, in plan order; a plan without runs is an error.
    pub fn finish(self) -> Result<Vec<PreparedRun>, PlanError> {
        if self.prepared.is_empty() {
            return Err(PlanError {
                experiment: self.experiment.to_owned(),
                problem: "the plan has no runs".to_owned(),
            });
        }
        Ok(self.prepared)
    }
}

/// Every leaf of `owned` that `overlay` sets: (dotted key, the overlay's value, the owned value).
pub fn owned_keys_set(overlay: &Value, owned: &Value) -> Vec<(String, Value, Value)> {
    fn walk(overlay: &Value, owned: &Value, prefix: &str, found: &mut Vec<(String, Value, Value)>) {
        let (Value::Object(overlay), Value::Object(owned)) = (overlay, owned) else {
            return;
        };
        for (key, owned_value) in owned {
            let Some(value) = overlay.get(key) else {
                continue;
            };
            let dotted = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if owned_value.is_object() && value.is_object() {
                walk(value, owned_value, &dotted, found);
            } else {
                found.push((dotted, value.clone(), owned_value.clone()));
            }
        }
    }
    let mut found = Vec::new();
    walk(overlay, owned, "", &mut found);
    found
}

/// The first runner-owned key that `config` does not hold with its owned value: (dotted key,
/// the config's value, if any). A config handed to `run_pipeline` must keep every owned key.
pub fn owned_key_changed(config: &Value, owned: &Value) -> Option<(String, Option<Value>)> {
    let Value::Object(owned) = owned else {
        return None;
    };
    for (key, owned_value) in owned {
        let value = config.get(key);
        let changed = match (value, owned_value) {
            (Some(value @ Value::Object(_)), Value::Object(_)) => {
                owned_key_changed(value, owned_value)
                    .map(|(inner, found)| (format!("{key}.{inner}"), found))
            }
            (Some(value), _) if value == owned_value => None,
            (value, _) => Some((key.clone(), value.cloned())),
        };
        if changed.is_some() {
            return changed;
        }
    }
    None
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

/// The planned-run entry of the plan files: the run's fields, then its flattened `meta`.
pub fn planned_run_entry(run: &PreparedRun) -> PlannedRunEntry<'_> {
    let planned = &run.planned;
    PlannedRunEntry {
        variant: Cow::Borrowed(&planned.variant),
        variant_name: planned.variant_name.as_deref().map(Cow::Borrowed),
        plan: run.plan_name().map(Cow::Borrowed),
        run: planned.run,
        generation_id: Cow::Borrowed(&run.generation_id),
        seed: planned.seed,
        tags: Cow::Borrowed(&planned.tags),
        notes: planned.notes.as_deref().map(Cow::Borrowed),
        meta: Cow::Borrowed(&planned.meta),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use plugin_api::Plan;
    use serde_json::Map;

    /// Validates the plan and prepares each run, in plan order. Takes the plan's runs.
    fn prepare_runs(
        experiment: &str,
        experiment_id: &str,
        plan: &mut Plan,
        base: Arc<PlanBase>,
    ) -> Result<Vec<PreparedRun>, PlanError> {
        let mut preparer = RunPreparer::new(experiment, experiment_id, base);
        for run in std::mem::take(&mut plan.runs) {
            preparer.add(run)?;
        }
        preparer.finish()
    }

    pub(in crate::runner) fn run(variant: &str, index: u32, seed: u64) -> PlannedRun {
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

    pub(in crate::runner) fn base(config: Value) -> Arc<PlanBase> {
        Arc::new(PlanBase {
            config,
            owned: json!({"experiment": {"id": "x"}, "image": {"log_path": "/out/logs"}}),
            resume_overlay: json!({}),
        })
    }

    pub(in crate::runner) fn prepare(
        id: &str,
        runs: Vec<PlannedRun>,
        base: &Arc<PlanBase>,
    ) -> Result<Vec<PreparedRun>, PlanError> {
        prepare_runs("demo", id, &mut plan(runs), Arc::clone(base))
    }

    #[test]
    fn merges_overlays_labels_and_assigns_stable_ids() {
        let base = base(json!({"prompt": {"plan": "custom", "random_seed": 0}}));
        let runs = prepare("exp1", vec![run("A", 1, 7), run("B", 1, 7)], &base).unwrap();
        let config = runs[0].config().unwrap();
        assert_eq!(config["prompt"]["random_seed"], 7);
        assert_eq!(config["experiment"]["variant"], "A_demo");
        assert_eq!(config["experiment"]["id"], "x");
        assert_eq!(config["experiment"]["tags"], json!(["ab", "run:1"]));
        assert_eq!(runs[0].plan_name(), Some("custom"));
        assert!(runs[0].generation_id.starts_with("A1_"));
        assert_eq!(runs[0].generation_id.len(), "A1_".len() + 8);
        assert_ne!(runs[0].generation_id[3..], runs[1].generation_id[3..]);
        assert!(
            Arc::ptr_eq(&runs[0].overlay, &runs[1].overlay),
            "identical overlays are shared"
        );
        let again = prepare("exp1", vec![run("A", 1, 7)], &base).unwrap();
        assert_eq!(again[0].generation_id, runs[0].generation_id);
        let other_id = prepare("exp2", vec![run("A", 1, 7)], &base).unwrap();
        assert_ne!(other_id[0].generation_id, runs[0].generation_id);
    }

    #[test]
    fn a_config_must_keep_every_owned_key() {
        let owned = json!({"image": {"log_path": "/out/logs"}, "run": {"mode": "full"}});
        let config =
            json!({"image": {"log_path": "/out/logs", "size": "1x1"}, "run": {"mode": "full"}});
        assert_eq!(owned_key_changed(&config, &owned), None);
        let moved = json!({"image": {"log_path": "/tmp"}, "run": {"mode": "full"}});
        assert_eq!(
            owned_key_changed(&moved, &owned),
            Some(("image.log_path".to_owned(), Some(json!("/tmp"))))
        );
        let dropped = json!({"image": {"log_path": "/out/logs"}});
        assert_eq!(
            owned_key_changed(&dropped, &owned),
            Some(("run".to_owned(), None))
        );
    }

    #[test]
    fn overlays_cannot_change_what_the_runner_owns() {
        let base = base(json!({"prompt": {"plan": "custom"}}));
        let mut escape = run("A", 1, 7);
        escape.overlay = json!({"image": {"log_path": "/tmp/elsewhere"}});
        let error = prepare("e", vec![escape], &base).unwrap_err().to_string();
        assert!(
            error.contains("`image.log_path`") && error.contains("runner owns"),
            "{error}"
        );
        let mut relabel = run("A", 1, 7);
        relabel.overlay = json!({"experiment": {"variant": "B_other"}});
        let error = prepare("e", vec![relabel], &base).unwrap_err().to_string();
        assert!(error.contains("`experiment.variant`"), "{error}");
        let mut reseed = run("A", 1, 7);
        reseed.overlay = json!({"prompt": {"random_seed": 8}});
        let error = prepare("e", vec![reseed], &base).unwrap_err().to_string();
        assert!(error.contains("`prompt.random_seed`"), "{error}");
        let mut same = run("A", 1, 7);
        same.overlay = json!({"image": {"log_path": "/out/logs"}, "prompt": {"random_seed": 7}});
        prepare("e", vec![same], &base).unwrap();
    }

    #[test]
    fn the_largest_json_safe_seed_is_planned() {
        let base = base(json!({}));
        let runs = prepare("e", vec![run("A", 1, MAX_PLANNED_SEED)], &base).unwrap();
        assert_eq!(runs[0].planned.seed, Some(MAX_PLANNED_SEED));
    }

    #[test]
    fn rejects_invalid_plans() {
        let base = base(json!({}));
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
            (vec![run("A", 1, MAX_PLANNED_SEED + 1)], "2^53 - 1"),
            (vec![run("A", 1, u64::MAX)], "variant `A` run 1 has seed"),
            (vec![reserved_meta], "meta.generation_id"),
        ];
        for (runs, expected) in cases {
            let error = prepare("e", runs, &base).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}

//! What is read back from the stored result entries at the end of an experiment (DESIGN §4 step
//! 11): the metrics the plugin reported per run, aggregated per variant and per A/B pair into
//! `summary.metrics`, and the failed runs with their reasons; and the readers of a stored summary
//! that the runner, the report and the CLI share ([`summary_fields`], [`variant_figures`],
//! [`failure_reason`]). It sits below all three: it takes the entries' JSON texts and the pairs'
//! generation ids, never the runner's types.
//!
//! The convention (no ABI change): a run's analysis may hold `metrics: {name: number | bool}`;
//! the summary analysis may declare `metric_info: {name: {label, direction, unit?}}` with
//! `direction` one of `higher`, `lower`, `none`. Per variant a number metric gets n, mean and a
//! 95% percentile-bootstrap interval; a bool metric is a rate with a Wilson interval. When the
//! plan pairs variants, each metric gets, for each treatment, the paired difference treatment −
//! control (B − A, C − A, ...) with a bootstrap interval and an exact two-sided sign test
//! (McNemar's exact test for bools); a winner is named only when the interval excludes 0 and the
//! metric has a direction.
//!
//! Every generator comes from `plugin_api::seed::derive_rng(base_seed, "metrics.<name>.<variant>")`
//! (`"metrics.<name>.paired.<a>.<b>"` for a pair), so the same base seed gives byte-identical
//! output. A malformed value is a warning naming the run and the metric, never dropped silently.
//! The maths is in `crate::stats`; where the result goes in the document is the runner's call.

use std::collections::HashMap;

use plugin_api::seed::derive_rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::stats;

/// A failed run, as the terminal summary and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub generation_id: String,
    pub variant: String,
    /// The first line of the error message (or the error type when there is no message).
    pub reason: String,
}

/// The first line of [`failure_message`], for the terminal and `--json`.
pub fn failure_reason(error: &Value) -> String {
    let message = failure_message(error);
    match message.lines().next() {
        Some(first) => first.trim_end().to_owned(),
        None => message,
    }
}

/// A stored error object's whole `message`, trimmed (its `type` when the message is empty), for
/// `experiment.log`, which keeps every line of it.
pub fn failure_message(error: &Value) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    match (
        message.is_empty(),
        error.get("type").and_then(Value::as_str),
    ) {
        (false, _) => message.to_owned(),
        (true, Some(kind)) => kind.to_owned(),
        (true, None) => "failed without an error message".to_owned(),
    }
}

/// A map whose keys keep the order they were added in (metric and variant order is part of the
/// byte-identical output).
#[derive(Debug, Clone)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<T> Ordered<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0
            .iter()
            .find(|(known, _)| known == key)
            .map(|(_, v)| v)
    }
}

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Higher,
    Lower,
    None,
}

/// A metric's declared (or default) description.
#[derive(Debug, Clone, Serialize)]
pub struct MetricInfo {
    pub label: String,
    pub direction: Direction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A metric's kind, fixed by the first value seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Numbers: mean and bootstrap interval.
    Number,
    /// Booleans: rate of `true` and Wilson interval.
    Rate,
}

/// One metric of one variant.
#[derive(Debug, Clone, Serialize)]
pub struct VariantMetric {
    pub kind: Kind,
    /// Runs that reported the metric.
    pub n: usize,
    /// The mean (numbers) or the fraction `true` (rates); `null` when `n` is 0.
    pub mean: Option<f64>,
    /// The 95% interval's bounds; `null` when `n` is 0.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// One variant: its counts and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct VariantMetrics {
    pub runs: usize,
    pub ok: usize,
    pub failed: usize,
    pub metrics: Ordered<VariantMetric>,
}

/// One metric's paired difference B − A.
#[derive(Debug, Clone, Serialize)]
pub struct PairedMetric {
    pub kind: Kind,
    /// Pairs where both runs succeeded and reported the metric.
    pub n_pairs: usize,
    pub mean_difference: f64,
    /// The 95% interval of the mean difference.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Pairs with B − A > 0, < 0 and = 0.
    pub positive: usize,
    pub negative: usize,
    pub ties: usize,
    /// `sign` (numbers) or `mcnemar` (booleans): both exact, two-sided, ties dropped.
    pub test: &'static str,
    pub p_value: f64,
    /// The interval excludes 0.
    pub significant: bool,
    /// The better variant, named only when `significant` and the metric has a direction.
    pub winner: Option<String>,
}

/// The paired comparison of one treatment (`b`) with the control (`a`).
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub a: String,
    pub b: String,
    pub metrics: Ordered<PairedMetric>,
}

/// How the numbers were computed (recorded so a reader need not guess).
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub confidence: f64,
    pub resamples: usize,
    pub interval: &'static str,
    pub rate_interval: &'static str,
    pub paired_test: &'static str,
    pub seed_labels: &'static str,
}

/// `summary.metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsSummary {
    pub method: Method,
    /// Every metric seen or declared, declared ones first, with the label and direction used.
    pub info: Ordered<MetricInfo>,
    pub variants: Ordered<VariantMetrics>,
    /// The control against the first treatment (`B − A`; 1.0's only comparison).
    pub paired: Option<Paired>,
    /// Every treatment against the control (`B − A`, `C − A`, ...), only when there is more than
    /// one treatment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paired_arms: Vec<Paired>,
}

impl MetricsSummary {
    /// Every paired comparison, the first treatment first: `paired_arms`, or `paired` alone.
    pub fn comparisons(&self) -> &[Paired] {
        if self.paired_arms.is_empty() {
            self.paired.as_slice()
        } else {
            &self.paired_arms
        }
    }
}

/// A figure the plugin computed over all runs of each variant (`summary.variant_metrics`), such
/// as the diversity of a variant's prompts: one value per variant, so no interval.
#[derive(Debug, Clone)]
pub struct VariantFigure {
    pub label: String,
    pub unit: Option<String>,
    /// Per variant, in the summary's order; `None` where the plugin had no value (`null`).
    pub values: Ordered<Option<f64>>,
}

/// What [`digest`] read from the stored entries.
#[derive(Debug, Default)]
pub struct Digest {
    /// `None` when no run reported metrics and the summary declared none.
    pub metrics: Option<MetricsSummary>,
    /// The summary's `variant_metrics`, checked (shown as rows of the metrics table).
    pub figures: Ordered<VariantFigure>,
    /// The summary's top-level text, number and bool fields, as `(key, value)` in its order
    /// (shown as a key/value block under the table).
    pub summary_fields: Vec<(String, String)>,
    pub failures: Vec<Failure>,
    /// Malformed metrics and metric declarations, each naming the run and the metric.
    pub warnings: Vec<String>,
}

/// The parts of a stored result entry this module reads; the rest is skipped unparsed.
#[derive(Deserialize)]
struct StoredEntry {
    generation_id: String,
    #[serde(default)]
    variant: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    analysis: Option<Value>,
}

/// A metric value of one run.
#[derive(Debug, Clone, Copy)]
enum Sample {
    Number(f64),
    Bool(bool),
}

impl Sample {
    fn as_f64(self) -> f64 {
        match self {
            Sample::Number(x) => x,
            Sample::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// One arm of a paired plan: the control (`a`), one treatment (`b`) and each pair's generation
/// ids, the control's run first.
#[derive(Debug, Clone, Copy)]
pub struct PairedVariants<'a> {
    pub a: &'a str,
    pub b: &'a str,
    pub pairs: &'a [(&'a str, &'a str)],
}

/// Reads the stored entries (plan order) and builds the metrics and the failure list.
///
/// `entries` are the stored entries' JSON texts; `summary` is the plugin's summary analysis (for
/// `metric_info`); `arms` the plan's arms when it pairs variants (empty otherwise), the first
/// treatment first.
pub fn digest<'e>(
    entries: impl IntoIterator<Item = &'e str>,
    summary: Option<&Value>,
    arms: &[PairedVariants<'_>],
    base_seed: u64,
) -> Digest {
    let mut digest = Digest::default();
    digest.figures = variant_figures(summary, &mut digest.warnings);
    digest.summary_fields = summary_fields(summary);
    let mut info: Ordered<MetricInfo> = declared_info(summary, &mut digest.warnings);
    let declared = !info.0.is_empty();
    let mut kinds: HashMap<String, Kind> = HashMap::new();
    // Per variant: counts, and per metric the samples in plan order.
    let mut variants: Ordered<(usize, usize, usize, Ordered<Vec<f64>>)> = Ordered::default();
    // Per generation id: the run's samples, for pairing.
    let mut by_id: HashMap<String, Vec<(String, Sample)>> = HashMap::new();
    let mut any_metrics = false;

    for text in entries {
        let entry: StoredEntry = match serde_json::from_str(text) {
            Ok(entry) => entry,
            Err(error) => {
                digest
                    .warnings
                    .push(format!("a stored result entry does not parse: {error}"));
                continue;
            }
        };
        let slot = match variants.0.iter().position(|(v, _)| *v == entry.variant) {
            Some(slot) => slot,
            None => {
                variants
                    .0
                    .push((entry.variant.clone(), (0, 0, 0, Ordered::default())));
                variants.0.len() - 1
            }
        };
        let counts = &mut variants.0[slot].1;
        counts.0 += 1;
        if entry.status != "success" {
            counts.2 += 1;
            digest.failures.push(Failure {
                generation_id: entry.generation_id.clone(),
                variant: entry.variant.clone(),
                reason: failure_reason(entry.error.as_ref().unwrap_or(&Value::Null)),
            });
            continue;
        }
        counts.1 += 1;
        let Some(metrics) = entry.analysis.as_ref().and_then(|a| a.get("metrics")) else {
            continue;
        };
        let Some(metrics) = metrics.as_object() else {
            digest.warnings.push(format!(
                "run `{}`: `analysis.metrics` is not an object; its metrics are ignored",
                entry.generation_id
            ));
            continue;
        };
        any_metrics = true;
        let samples = read_samples(&entry.generation_id, metrics, &mut kinds, &mut digest);
        for (name, sample) in &samples {
            if info.get(name).is_none() {
                info.0.push((name.clone(), default_info(name)));
            }
            let per_metric = &mut counts.3;
            match per_metric.0.iter_mut().find(|(known, _)| known == name) {
                Some((_, values)) => values.push(sample.as_f64()),
                None => per_metric.0.push((name.clone(), vec![sample.as_f64()])),
            }
        }
        by_id.insert(entry.generation_id, samples);
    }
    if !any_metrics && !declared {
        return digest;
    }

    let variants = Ordered(
        variants
            .0
            .into_iter()
            .map(|(variant, (runs, ok, failed, samples))| {
                let metrics = info
                    .0
                    .iter()
                    .map(|(name, _)| {
                        let values = samples.get(name).map(Vec::as_slice).unwrap_or(&[]);
                        let kind = kinds.get(name).copied().unwrap_or(Kind::Number);
                        let metric = variant_metric(kind, values, base_seed, name, &variant);
                        (name.clone(), metric)
                    })
                    .collect();
                (
                    variant,
                    VariantMetrics {
                        runs,
                        ok,
                        failed,
                        metrics: Ordered(metrics),
                    },
                )
            })
            .collect(),
    );
    let mut paired_arms: Vec<Paired> = arms
        .iter()
        .map(|p| paired(p.a, p.b, p.pairs, &info, &kinds, &by_id, base_seed))
        .collect();
    // `paired` is the first comparison; `paired_arms` lists them all only when there are two or
    // more (so a two-arm summary keeps 1.0's shape).
    let paired = if paired_arms.len() < 2 {
        paired_arms.pop()
    } else {
        paired_arms.first().cloned()
    };
    digest.metrics = Some(MetricsSummary {
        method: Method {
            confidence: 0.95,
            resamples: stats::RESAMPLES,
            interval: "percentile bootstrap of the mean",
            rate_interval: "Wilson score",
            paired_test: "exact two-sided sign test (numbers), McNemar's exact test (booleans)",
            seed_labels: "metrics.<name>.<variant>, metrics.<name>.paired.<a>.<b>",
        },
        info,
        variants,
        paired,
        paired_arms,
    });
    digest
}

/// The run's metric values, in the order it reported them; a value that is not a number or a
/// bool, or whose kind differs from the metric's first value, is a warning.
fn read_samples(
    generation_id: &str,
    metrics: &Map<String, Value>,
    kinds: &mut HashMap<String, Kind>,
    digest: &mut Digest,
) -> Vec<(String, Sample)> {
    let mut samples = Vec::new();
    for (name, value) in metrics {
        let sample = match value {
            Value::Bool(b) => Sample::Bool(*b),
            Value::Number(number) => match number.as_f64() {
                Some(x) if x.is_finite() => Sample::Number(x),
                _ => {
                    digest.warnings.push(format!(
                        "run `{generation_id}`: metric `{name}` is not a finite number; ignored"
                    ));
                    continue;
                }
            },
            other => {
                digest.warnings.push(format!(
                    "run `{generation_id}`: metric `{name}` is {}, not a number or a bool; ignored",
                    json_kind(other)
                ));
                continue;
            }
        };
        let kind = match sample {
            Sample::Number(_) => Kind::Number,
            Sample::Bool(_) => Kind::Rate,
        };
        let known = *kinds.entry(name.clone()).or_insert(kind);
        if known != kind {
            digest.warnings.push(format!(
                "run `{generation_id}`: metric `{name}` is a {} here but a {} in earlier runs; ignored",
                kind_word(kind),
                kind_word(known)
            ));
            continue;
        }
        samples.push((name.clone(), sample));
    }
    samples
}

fn variant_metric(
    kind: Kind,
    values: &[f64],
    base_seed: u64,
    name: &str,
    variant: &str,
) -> VariantMetric {
    let mean = stats::mean(values);
    let ci = match kind {
        Kind::Rate => {
            let successes = values.iter().filter(|x| **x > 0.5).count() as u64;
            stats::wilson(successes, values.len() as u64)
        }
        Kind::Number => {
            let mut rng = derive_rng(base_seed, &format!("metrics.{name}.{variant}"));
            stats::bootstrap_mean_ci(values, &mut rng)
        }
    };
    VariantMetric {
        kind,
        n: values.len(),
        mean,
        ci_low: ci.map(|(low, _)| low),
        ci_high: ci.map(|(_, high)| high),
    }
}

fn paired(
    a: &str,
    b: &str,
    pairs: &[(&str, &str)],
    info: &Ordered<MetricInfo>,
    kinds: &HashMap<String, Kind>,
    by_id: &HashMap<String, Vec<(String, Sample)>>,
    base_seed: u64,
) -> Paired {
    let value = |id: &str, name: &str| -> Option<f64> {
        by_id
            .get(id)?
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, sample)| sample.as_f64())
    };
    let mut metrics = Vec::new();
    for (name, metric_info) in &info.0 {
        let differences: Vec<f64> = pairs
            .iter()
            .filter_map(|&(a_id, b_id)| Some(value(b_id, name)? - value(a_id, name)?))
            .collect();
        if differences.is_empty() {
            continue;
        }
        let kind = kinds.get(name).copied().unwrap_or(Kind::Number);
        let mut rng = derive_rng(base_seed, &format!("metrics.{name}.paired.{a}.{b}"));
        let (Some(mean_difference), Some((lo, hi))) = (
            stats::mean(&differences),
            stats::bootstrap_mean_ci(&differences, &mut rng),
        ) else {
            continue;
        };
        let positive = differences.iter().filter(|d| **d > 0.0).count();
        let negative = differences.iter().filter(|d| **d < 0.0).count();
        let significant = lo > 0.0 || hi < 0.0;
        let winner = match (significant, metric_info.direction) {
            (false, _) | (true, Direction::None) => None,
            (true, Direction::Higher) => Some(if lo > 0.0 { b } else { a }),
            (true, Direction::Lower) => Some(if hi < 0.0 { b } else { a }),
        };
        metrics.push((
            name.clone(),
            PairedMetric {
                kind,
                n_pairs: differences.len(),
                mean_difference,
                ci_low: lo,
                ci_high: hi,
                positive,
                negative,
                ties: differences.len() - positive - negative,
                test: match kind {
                    Kind::Number => "sign",
                    Kind::Rate => "mcnemar",
                },
                p_value: stats::binomial_two_sided(positive as u64, (positive + negative) as u64),
                significant,
                winner: winner.map(str::to_owned),
            },
        ));
    }
    Paired {
        a: a.to_owned(),
        b: b.to_owned(),
        metrics: Ordered(metrics),
    }
}

/// `metric_info` of the summary analysis, each entry checked; a malformed one is a warning and
/// gets the defaults.
fn declared_info(summary: Option<&Value>, warnings: &mut Vec<String>) -> Ordered<MetricInfo> {
    let mut info = Ordered::default();
    let Some(declared) = summary.and_then(|summary| summary.get("metric_info")) else {
        return info;
    };
    let Some(declared) = declared.as_object() else {
        warnings.push("the summary's `metric_info` is not an object; ignored".to_owned());
        return info;
    };
    for (name, entry) in declared {
        let mut metric = default_info(name);
        match entry.get("label") {
            Some(Value::String(label)) => metric.label = label.clone(),
            None => {}
            Some(_) => warnings.push(format!(
                "`metric_info.{name}.label` is not a string; the name is used"
            )),
        }
        match entry.get("direction").map(|d| d.as_str()) {
            Some(Some("higher")) => metric.direction = Direction::Higher,
            Some(Some("lower")) => metric.direction = Direction::Lower,
            Some(Some("none")) | None => {}
            Some(_) => warnings.push(format!(
                "`metric_info.{name}.direction` is not `higher`, `lower` or `none`; `none` is used"
            )),
        }
        match entry.get("unit") {
            Some(Value::String(unit)) => metric.unit = Some(unit.clone()),
            None | Some(Value::Null) => {}
            Some(_) => warnings.push(format!(
                "`metric_info.{name}.unit` is not a string; ignored"
            )),
        }
        if !entry.is_object() {
            warnings.push(format!(
                "`metric_info.{name}` is not an object; defaults are used"
            ));
        }
        info.0.push((name.clone(), metric));
    }
    info
}

/// `summary.variant_metrics: {name: {label?, unit?, values: {variant: number | null}}}`, each
/// entry checked; a malformed entry or value is a warning and left out, never guessed.
pub fn variant_figures(
    summary: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Ordered<VariantFigure> {
    let mut figures = Ordered::default();
    let Some(declared) = summary.and_then(|summary| summary.get("variant_metrics")) else {
        return figures;
    };
    let Some(declared) = declared.as_object() else {
        warnings.push("the summary's `variant_metrics` is not an object; ignored".to_owned());
        return figures;
    };
    for (name, entry) in declared {
        let Some(values) = entry.get("values").and_then(Value::as_object) else {
            warnings.push(format!(
                "`variant_metrics.{name}` has no `values` object; ignored"
            ));
            continue;
        };
        let mut checked = Vec::new();
        for (variant, value) in values {
            match value {
                Value::Null => checked.push((variant.clone(), None)),
                Value::Number(number) => match number.as_f64() {
                    Some(x) if x.is_finite() => checked.push((variant.clone(), Some(x))),
                    _ => warnings.push(format!(
                        "`variant_metrics.{name}.values.{variant}` is not a finite number; ignored"
                    )),
                },
                other => warnings.push(format!(
                    "`variant_metrics.{name}.values.{variant}` is {}, not a number or null; ignored",
                    json_kind(other)
                )),
            }
        }
        let mut text = |key: &str| match entry.get(key) {
            Some(Value::String(text)) => Some(text.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                warnings.push(format!(
                    "`variant_metrics.{name}.{key}` is not a string; ignored"
                ));
                None
            }
        };
        let label = text("label").unwrap_or_else(|| name.clone());
        let unit = text("unit");
        figures.0.push((
            name.clone(),
            VariantFigure {
                label,
                unit,
                values: Ordered(checked),
            },
        ));
    }
    figures
}

/// The summary's top-level text, number and bool fields, in its order. Objects, arrays and
/// nulls are left to `experiment_results.json`: the terminal shows only what fits on a line.
pub fn summary_fields(summary: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Object(summary)) = summary else {
        return Vec::new();
    };
    summary
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => return None,
            };
            Some((key.clone(), text))
        })
        .collect()
}

fn default_info(name: &str) -> MetricInfo {
    MetricInfo {
        label: name.to_owned(),
        direction: Direction::None,
        unit: None,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Number => "number",
        Kind::Rate => "bool",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(entry: Value) -> String {
        entry.to_string()
    }

    /// The entries' texts, as the runner hands them over.
    fn texts(entries: &[String]) -> impl Iterator<Item = &str> {
        entries.iter().map(String::as_str)
    }

    fn run(id: &str, variant: &str, metrics: Value) -> String {
        raw(
            json!({"generation_id": id, "variant": variant, "status": "success",
            "outputs": {"prompt_pipeline": {"big": [1, 2, 3]}},
            "analysis": {"metrics": metrics}}),
        )
    }

    fn pairs(n: usize) -> Vec<(String, String)> {
        (1..=n)
            .map(|i| (format!("A{i}"), format!("B{i}")))
            .collect()
    }

    fn pair_ids(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
        pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    /// Ten pairs: `words` is 1 higher in B in 9 of them; `ok` is true in 7 of 10 A runs and all B.
    fn ten_pairs() -> Vec<String> {
        let mut entries = Vec::new();
        for i in 1..=10 {
            entries.push(run(
                &format!("A{i}"),
                "A",
                json!({"words": i, "ok": i <= 7}),
            ));
            let words = if i == 10 { 9 } else { i + 1 };
            entries.push(run(
                &format!("B{i}"),
                "B",
                json!({"words": words, "ok": true}),
            ));
        }
        entries
    }

    #[test]
    fn a_failure_has_its_whole_message_for_the_log_and_its_first_line_elsewhere() {
        let error =
            json!({"type": "step", "message": "\n  step `x` failed: HTTP 401\n\nCaused by: key\n"});
        assert_eq!(
            failure_message(&error),
            "step `x` failed: HTTP 401\n\nCaused by: key"
        );
        assert_eq!(failure_reason(&error), "step `x` failed: HTTP 401");
        let bare = json!({"type": "PluginError", "message": " "});
        assert_eq!(failure_message(&bare), "PluginError");
        assert_eq!(failure_reason(&bare), "PluginError");
        assert_eq!(
            failure_reason(&Value::Null),
            "failed without an error message"
        );
    }

    #[test]
    fn variant_figures_and_scalar_summary_fields_are_read_in_order() {
        let summary = json!({
            "longest_set": "B",
            "runs_compared": 4,
            "complete": true,
            "most_diverse_set": null,
            "sets": {"A": {"diversity": 0.5}},
            "variant_metrics": {
                "diversity": {"label": "prompt diversity", "unit": "Jaccard distance",
                              "values": {"A": 0.5, "B": null}},
                "bare": {"values": {"A": 1}},
            },
        });
        let digest = digest(texts(&ten_pairs()), Some(&summary), &[], 7);
        assert!(digest.warnings.is_empty(), "{:?}", digest.warnings);
        let fields: Vec<(&str, &str)> = digest
            .summary_fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("longest_set", "B"),
                ("runs_compared", "4"),
                ("complete", "true")
            ]
        );
        let diversity = digest.figures.get("diversity").unwrap();
        assert_eq!(diversity.label, "prompt diversity");
        assert_eq!(diversity.unit.as_deref(), Some("Jaccard distance"));
        assert_eq!(
            diversity.values.0,
            [("A".to_owned(), Some(0.5)), ("B".to_owned(), None)]
        );
        // Without a label the name is shown.
        assert_eq!(digest.figures.get("bare").unwrap().label, "bare");
    }

    #[test]
    fn malformed_variant_figures_are_warnings_and_left_out() {
        let summary = json!({"variant_metrics": {
            "no_values": {"label": "x"},
            "bad": {"label": 3, "values": {"A": "high", "B": 0.25}},
        }});
        let digest = digest(texts(&ten_pairs()), Some(&summary), &[], 7);
        let warnings = digest.warnings.join("\n");
        assert!(
            warnings.contains("`variant_metrics.no_values` has no `values` object"),
            "{warnings}"
        );
        assert!(
            warnings.contains("`variant_metrics.bad.values.A` is a string"),
            "{warnings}"
        );
        assert!(
            warnings.contains("`variant_metrics.bad.label` is not a string"),
            "{warnings}"
        );
        let bad = digest.figures.get("bad").unwrap();
        assert_eq!(
            (bad.label.as_str(), &bad.values.0),
            ("bad", &vec![("B".to_owned(), Some(0.25))])
        );
        assert!(digest.figures.get("no_values").is_none());
        let not_object = super::digest(
            texts(&ten_pairs()),
            Some(&json!({"variant_metrics": []})),
            &[],
            7,
        );
        assert!(not_object.warnings[0].contains("`variant_metrics` is not an object"));
    }

    #[test]
    fn variants_get_means_rates_and_intervals() {
        let summary = json!({"metric_info": {"ok": {"label": "prompt ok", "direction": "higher"}}});
        let digest = digest(texts(&ten_pairs()), Some(&summary), &[], 7);
        assert!(digest.warnings.is_empty(), "{:?}", digest.warnings);
        let metrics = digest.metrics.unwrap();
        // Declared first, then in order of appearance.
        let names: Vec<&str> = metrics.info.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ok", "words"]);
        let a = metrics.variants.get("A").unwrap();
        assert_eq!((a.runs, a.ok, a.failed), (10, 10, 0));
        let ok = a.metrics.get("ok").unwrap();
        assert_eq!((ok.kind, ok.n, ok.mean), (Kind::Rate, 10, Some(0.7)));
        let (low, high) = (ok.ci_low.unwrap(), ok.ci_high.unwrap());
        assert!((low - 0.396_778).abs() < 1e-6 && (high - 0.892_209).abs() < 1e-6);
        let words = a.metrics.get("words").unwrap();
        assert_eq!(words.mean, Some(5.5));
        let (low, high) = (words.ci_low.unwrap(), words.ci_high.unwrap());
        assert!(low < 5.5 && high > 5.5, "{low} {high}");
    }

    #[test]
    fn paired_differences_test_and_name_a_winner_only_when_significant() {
        let summary = json!({"metric_info": {
            "ok": {"label": "prompt ok", "direction": "higher"},
            "words": {"label": "words", "direction": "lower", "unit": "words"}}});
        let plan_pairs = pairs(10);
        let digest = digest(
            texts(&ten_pairs()),
            Some(&summary),
            &[PairedVariants {
                a: "A",
                b: "B",
                pairs: &pair_ids(&plan_pairs),
            }],
            7,
        );
        let paired = digest.metrics.unwrap().paired.unwrap();
        let words = paired.metrics.get("words").unwrap();
        assert_eq!((words.positive, words.negative, words.ties), (9, 1, 0));
        assert_eq!(words.p_value, 0.021_484_375);
        assert_eq!(words.test, "sign");
        assert!((words.mean_difference - 0.8).abs() < 1e-12);
        assert!(words.significant, "{} {}", words.ci_low, words.ci_high);
        // Lower is better and B is higher: A wins.
        assert_eq!(words.winner.as_deref(), Some("A"));
        let ok = paired.metrics.get("ok").unwrap();
        // Three discordant pairs, all favouring B: McNemar p = 2 / 8.
        assert_eq!((ok.positive, ok.negative, ok.ties), (3, 0, 7));
        assert_eq!(ok.test, "mcnemar");
        assert_eq!(ok.p_value, 0.25);
        // 3 of 10 resampled: the interval may or may not reach 0, but a winner needs it not to.
        assert_eq!(ok.winner.is_some(), ok.significant);
    }

    #[test]
    fn each_treatment_is_compared_with_the_control() {
        // C is B with every `words` one higher again.
        let mut entries = ten_pairs();
        for i in 1..=10 {
            let words = if i == 10 { 10 } else { i + 2 };
            entries.push(run(
                &format!("C{i}"),
                "C",
                json!({"words": words, "ok": i % 2 == 0}),
            ));
        }
        let b_pairs = pairs(10);
        let c_pairs: Vec<(String, String)> = (1..=10)
            .map(|i| (format!("A{i}"), format!("C{i}")))
            .collect();
        let (b_ids, c_ids) = (pair_ids(&b_pairs), pair_ids(&c_pairs));
        let arm = |b, pairs| PairedVariants { a: "A", b, pairs };
        let json = |arms: &[PairedVariants]| {
            let digest = digest(texts(&entries), None, arms, 7);
            serde_json::to_value(digest.metrics.unwrap()).unwrap()
        };
        let three = json(&[arm("B", &b_ids), arm("C", &c_ids)]);
        let only_b = json(&[arm("B", &b_ids)]);
        let only_c = json(&[arm("C", &c_ids)]);
        assert!(only_b.get("paired_arms").is_none(), "{only_b}");
        assert_eq!(three["paired"], only_b["paired"]);
        assert_eq!(
            three["paired_arms"],
            json!([only_b["paired"], only_c["paired"]])
        );
        let c_words = &three["paired_arms"][1]["metrics"]["words"];
        assert_eq!(three["paired_arms"][1]["b"], "C");
        assert!((c_words["mean_difference"].as_f64().unwrap() - 1.8).abs() < 1e-12);
        assert_eq!(
            (&c_words["positive"], &c_words["ties"]),
            (&json!(9), &json!(1))
        );
    }

    #[test]
    fn same_seed_gives_byte_identical_output() {
        let plan_pairs = pairs(10);
        let text = |seed| {
            let digest = digest(
                texts(&ten_pairs()),
                None,
                &[PairedVariants {
                    a: "A",
                    b: "B",
                    pairs: &pair_ids(&plan_pairs),
                }],
                seed,
            );
            serde_json::to_string(&digest.metrics).unwrap()
        };
        assert_eq!(text(3), text(3));
        assert_ne!(text(3), text(4));
    }

    #[test]
    fn malformed_values_are_warnings_naming_run_and_metric() {
        let entries = vec![
            run("A1", "A", json!({"words": 3, "label": "x"})),
            run("A2", "A", json!({"words": true})),
            raw(
                json!({"generation_id": "A3", "variant": "A", "status": "success", "analysis": {"metrics": [1]}}),
            ),
        ];
        let summary = json!({"metric_info": {"words": {"direction": "up"}}});
        let digest = digest(texts(&entries), Some(&summary), &[], 1);
        let warnings = digest.warnings.join("\n");
        assert!(
            warnings.contains("metric_info.words.direction"),
            "{warnings}"
        );
        assert!(
            warnings.contains("run `A1`: metric `label` is a string"),
            "{warnings}"
        );
        assert!(
            warnings.contains("run `A2`: metric `words` is a bool here but a number"),
            "{warnings}"
        );
        assert!(
            warnings.contains("run `A3`: `analysis.metrics` is not an object"),
            "{warnings}"
        );
        let metrics = digest.metrics.unwrap();
        assert_eq!(
            metrics
                .variants
                .get("A")
                .unwrap()
                .metrics
                .get("words")
                .unwrap()
                .n,
            1
        );
    }

    #[test]
    fn failures_carry_the_first_line_of_the_message_and_no_metrics_means_none() {
        let entries = vec![
            raw(
                json!({"generation_id": "A1", "variant": "A", "status": "error",
                "error": {"type": "PluginError", "message": "\nthe backend answered 500\ndetails"}}),
            ),
            raw(
                json!({"generation_id": "B1", "variant": "B", "status": "error", "error": {"type": "Skipped"}}),
            ),
            raw(json!({"generation_id": "B2", "variant": "B", "status": "success"})),
        ];
        let digest = digest(texts(&entries), None, &[], 1);
        assert!(digest.metrics.is_none());
        let reasons: Vec<(&str, &str)> = digest
            .failures
            .iter()
            .map(|f| (f.generation_id.as_str(), f.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [("A1", "the backend answered 500"), ("B1", "Skipped")]
        );
    }
}

//! The metrics table per variant and the paired differences (each treatment against the
//! control), as `summary.metrics` holds them; the comparison page reuses the label and verdict
//! of a metric.

use std::fmt::Write as _;

use serde_json::Value;

use super::html::{escape, interval, text};
use crate::metrics::{summary_fields, variant_figures};

/// The metrics per variant, the plugin's per-variant figures and scalar summary fields (as the
/// terminal shows them, read by the same functions) and, for a paired plan, the paired
/// differences.
pub fn render(html: &mut String, metrics: &Value, summary: &Value) {
    let empty = serde_json::Map::new();
    let variants = metrics["variants"].as_object().unwrap_or(&empty);
    let names: Vec<&String> = metrics["info"]
        .as_object()
        .unwrap_or(&empty)
        .keys()
        .collect();
    html.push_str(
        "<h2>Metrics per variant</h2>\n<p class=\"note\">mean [95% interval]; rates are the \
         fraction of runs where the check held.</p>\n<table class=\"metrics\" id=\"metrics\">\
         <thead><tr><th>metric</th>",
    );
    for variant in variants.keys() {
        let _ = write!(html, "<th>{}</th>", escape(variant));
    }
    html.push_str("</tr></thead><tbody>\n");
    for count in ["runs", "ok", "failed"] {
        let _ = write!(html, "<tr><td>{count}</td>");
        for stats in variants.values() {
            let _ = write!(html, "<td class=\"num\">{}</td>", stats[count]);
        }
        html.push_str("</tr>\n");
    }
    for name in &names {
        metric_row(html, &metric_label(metrics, name), name, variants.values());
    }
    // Malformed figures were warnings when the experiment ran; the page leaves them out too.
    let figures = variant_figures(Some(summary), &mut Vec::new());
    for (_, figure) in &figures.0 {
        let mut label = escape(&figure.label);
        if let Some(unit) = &figure.unit {
            let _ = write!(label, " ({})", escape(unit));
        }
        let _ = write!(html, "<tr><td>{label}</td>");
        for variant in variants.keys() {
            let value = match figure.values.get(variant) {
                Some(Some(value)) => format!("{value:.2}"),
                _ => "-".to_owned(),
            };
            let _ = write!(html, "<td class=\"num\">{value}</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
    let fields = summary_fields(Some(summary));
    if !fields.is_empty() {
        html.push_str("<table class=\"summary-fields\" id=\"summary-fields\"><tbody>\n");
        for (key, value) in &fields {
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(&key.replace('_', " ")),
                escape(value)
            );
        }
        html.push_str("</tbody></table>\n");
    }
    for (position, paired) in comparisons(metrics).into_iter().enumerate() {
        render_paired(html, metrics, paired, position);
    }
}

/// Every paired comparison of `summary.metrics`, the first treatment first: `paired_arms`
/// lists every treatment against the control when there is more than one, else `paired`.
pub(super) fn comparisons(metrics: &Value) -> Vec<&Value> {
    match metrics["paired_arms"].as_array() {
        Some(arms) => arms.iter().collect(),
        None => vec![&metrics["paired"]],
    }
}

/// One treatment against the control; the first table's id is `paired`, the next ones
/// `paired-<treatment>`.
fn render_paired(html: &mut String, metrics: &Value, paired: &Value, position: usize) {
    let Some(pairs) = paired["metrics"].as_object() else {
        return;
    };
    let id = match position {
        0 => "paired".to_owned(),
        _ => format!("paired-{}", escape(&text(&paired["b"]))),
    };
    let _ = write!(
        html,
        "<h2>Paired difference {} &minus; {}</h2>\n<table class=\"paired\" id=\"{id}\"><thead>\
         <tr><th>metric</th><th>pairs</th><th>mean difference [95% interval]</th><th>p</th>\
         <th>verdict</th></tr></thead><tbody>\n",
        escape(&text(&paired["b"])),
        escape(&text(&paired["a"]))
    );
    for (name, metric) in pairs {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            metric_label(metrics, name),
            metric["n_pairs"],
            interval(metric, "mean_difference", true),
            metric["p_value"]
                .as_f64()
                .map_or("-".to_owned(), |p| format!("{p:.3}")),
            verdict(metric),
        );
    }
    html.push_str("</tbody></table>\n");
}

/// `B better`, `differs (no preferred direction)` or `no significant difference`.
pub fn verdict(metric: &Value) -> String {
    match metric["winner"].as_str() {
        Some(winner) => format!("<span class=\"win\">{} better</span>", escape(winner)),
        None if metric["significant"] == true => "differs (no preferred direction)".to_owned(),
        None => "no significant difference".to_owned(),
    }
}

/// A metric's label with its unit, escaped.
/// One row of a metrics table: `label` (already escaped), then the metric `name` of each
/// variant's stats as `mean [lo, hi]`.
pub fn metric_row<'a>(
    html: &mut String,
    label: &str,
    name: &str,
    variants: impl Iterator<Item = &'a Value>,
) {
    let _ = write!(html, "<tr><td>{label}</td>");
    for stats in variants {
        let _ = write!(
            html,
            "<td class=\"num\">{}</td>",
            interval(&stats["metrics"][name], "mean", false)
        );
    }
    html.push_str("</tr>\n");
}

pub fn metric_label(metrics: &Value, name: &str) -> String {
    let info = &metrics["info"][name];
    let mut label = info["label"].as_str().unwrap_or(name).to_owned();
    if let Some(unit) = info["unit"].as_str() {
        let _ = write!(label, " ({unit})");
    }
    escape(&label)
}

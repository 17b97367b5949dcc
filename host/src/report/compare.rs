//! The comparison page of several experiments: one column per experiment (and variant) for the
//! same metrics, matched by metric name, so runs of one experiment under two configs, seeds or
//! models read side by side, then what each variant and experiment used and cost. Only
//! `summary.metrics`, `summary.usage` and the plan headers are read; each experiment's own page
//! has the runs.

use std::fmt::Write as _;

use serde_json::Value;

use super::html::{escape, interval, text};
use super::metrics_table::{comparisons, metric_label, metric_row, verdict};
use super::source::Experiment;
use super::usage_table::{cost_cell, cost_missing, count, COUNTS};
use super::Links;
use crate::artifacts::layout::ExperimentLayout;

/// The whole page.
pub fn render(experiments: &[Experiment], links: &Links) -> String {
    let mut html =
        super::html::open_page(&format!("comparison of {} experiments", experiments.len()));
    let _ = writeln!(
        html,
        "<h1>Comparison of {} experiments</h1>\n<p class=\"note\">metrics are matched by name; \
         mean [95% interval]; &minus; where an experiment has no such metric.</p>",
        experiments.len()
    );
    render_heads(&mut html, experiments, links);
    render_metrics(&mut html, experiments);
    render_paired(&mut html, experiments);
    render_usage(&mut html, experiments);
    super::html::close_page(&mut html);
    html
}

fn render_heads(html: &mut String, experiments: &[Experiment], links: &Links) {
    html.push_str("<table class=\"experiments\" id=\"experiments\"><thead><tr><th></th>");
    for experiment in experiments {
        let id = escape(&text(&experiment.results.experiment_id));
        let report = ExperimentLayout::new(&experiment.dir).report();
        let _ = if report.is_file() {
            write!(
                html,
                "<th><a href=\"{}\">{id}</a></th>",
                links.href(&report)
            )
        } else {
            write!(html, "<th>{id}</th>")
        };
    }
    html.push_str("</tr></thead><tbody>\n");
    let rows: [(&str, &Cell); 7] = [
        ("experiment", &|e| plan_field(e, |p| &p.experiment_name)),
        ("directory", &|e| e.dir.display().to_string()),
        ("base seed", &|e| plan_field(e, |p| &p.base_seed)),
        ("run mode", &|e| plan_field(e, |p| &p.run_mode)),
        ("started", &|e| plan_field(e, |p| &p.generated_at)),
        ("config digest", &|e| {
            e.config_digest.clone().unwrap_or_default()
        }),
        ("runs (ok / failed)", &|e| {
            let runs = &e.results.results;
            let ok = runs.iter().filter(|entry| entry.ok()).count();
            format!("{} ({ok} / {})", runs.len(), runs.len() - ok)
        }),
    ];
    for (name, value) in rows {
        let _ = write!(html, "<tr><th>{name}</th>");
        for experiment in experiments {
            let _ = write!(html, "<td>{}</td>", escape(&value(experiment)));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
}

/// One row of the experiments table: what it shows of an experiment.
type Cell = dyn Fn(&Experiment) -> String;

fn plan_field(
    experiment: &Experiment,
    field: impl Fn(&super::source::PlanHead) -> &Value,
) -> String {
    experiment
        .plan
        .as_ref()
        .map(|plan| text(field(plan)))
        .unwrap_or_default()
}

/// Metric names in order of first appearance across the experiments, each with the experiment
/// whose `info` labels it first.
fn metric_names(experiments: &[Experiment]) -> Vec<(String, usize)> {
    let mut names: Vec<(String, usize)> = Vec::new();
    for (position, experiment) in experiments.iter().enumerate() {
        if let Some(info) = experiment.results.metrics()["info"].as_object() {
            for name in info.keys() {
                if !names.iter().any(|(known, _)| known == name) {
                    names.push((name.clone(), position));
                }
            }
        }
    }
    names
}

fn render_metrics(html: &mut String, experiments: &[Experiment]) {
    let empty = serde_json::Map::new();
    let columns: Vec<(usize, &String, &Value)> = experiments
        .iter()
        .enumerate()
        .flat_map(|(position, experiment)| {
            experiment.results.metrics()["variants"]
                .as_object()
                .unwrap_or(&empty)
                .iter()
                .map(move |(variant, stats)| (position, variant, stats))
        })
        .collect();
    html.push_str(
        "<h2>Metrics per variant</h2>\n<table class=\"metrics\" id=\"metrics\"><thead><tr>\
         <th>metric</th>",
    );
    for (position, variant, _) in &columns {
        let _ = write!(
            html,
            "<th>{}<br>{}</th>",
            escape(&text(&experiments[*position].results.experiment_id)),
            escape(variant)
        );
    }
    html.push_str("</tr></thead><tbody>\n");
    for count in ["runs", "ok", "failed"] {
        let _ = write!(html, "<tr><td>{count}</td>");
        for (_, _, stats) in &columns {
            let _ = write!(html, "<td class=\"num\">{}</td>", stats[count]);
        }
        html.push_str("</tr>\n");
    }
    for (name, labelled_by) in metric_names(experiments) {
        let label = metric_label(experiments[labelled_by].results.metrics(), &name);
        metric_row(
            html,
            &label,
            &name,
            columns.iter().map(|(_, _, stats)| *stats),
        );
    }
    html.push_str("</tbody></table>\n");
}

fn render_paired(html: &mut String, experiments: &[Experiment]) {
    // A column per comparison: each treatment against its experiment's control.
    let paired: Vec<(usize, &Value)> = experiments
        .iter()
        .enumerate()
        .flat_map(|(position, experiment)| {
            comparisons(experiment.results.metrics())
                .into_iter()
                .map(move |block| (position, block))
        })
        .filter(|(_, paired)| paired["metrics"].is_object())
        .collect();
    if paired.is_empty() {
        return;
    }
    html.push_str(
        "<h2>Paired differences</h2>\n<table class=\"paired\" id=\"paired\"><thead><tr>\
         <th>metric</th>",
    );
    for (position, block) in &paired {
        let _ = write!(
            html,
            "<th>{}<br>{} &minus; {}</th>",
            escape(&text(&experiments[*position].results.experiment_id)),
            escape(&text(&block["b"])),
            escape(&text(&block["a"]))
        );
    }
    html.push_str("</tr></thead><tbody>\n");
    for (name, labelled_by) in metric_names(experiments) {
        if !paired
            .iter()
            .any(|(_, block)| block["metrics"].get(&name).is_some())
        {
            continue;
        }
        let _ = write!(
            html,
            "<tr><td>{}</td>",
            metric_label(experiments[labelled_by].results.metrics(), &name)
        );
        for (_, block) in &paired {
            let metric = &block["metrics"][name.as_str()];
            if metric.is_null() {
                html.push_str("<td class=\"num\">-</td>");
                continue;
            }
            let _ = write!(
                html,
                "<td class=\"num\">{} p = {}<br>{}</td>",
                interval(metric, "mean_difference", true),
                metric["p_value"]
                    .as_f64()
                    .map_or("-".to_owned(), |p| format!("{p:.3}")),
                verdict(metric)
            );
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
}

/// `summary.usage` side by side: a column per variant and one for the total of each experiment
/// that recorded usage, then why a cost is unknown.
fn render_usage(html: &mut String, experiments: &[Experiment]) {
    let mut columns: Vec<(usize, String, &Value)> = Vec::new();
    let mut unrecorded = Vec::new();
    for (position, experiment) in experiments.iter().enumerate() {
        let usage = experiment.results.usage();
        let (Some(variants), Some(total)) = (usage["variants"].as_object(), usage.get("total"))
        else {
            unrecorded.push(position);
            continue;
        };
        for (variant, spend) in variants {
            columns.push((position, escape(variant), spend));
        }
        columns.push((position, "<strong>total</strong>".to_owned(), total));
    }
    html.push_str("<h2 id=\"usage\">Usage and cost</h2>\n");
    if !columns.is_empty() {
        html.push_str("<table class=\"usage\" id=\"usage-table\"><thead><tr><th></th>");
        for (position, label, _) in &columns {
            let _ = write!(
                html,
                "<th>{}<br>{label}</th>",
                escape(&text(&experiments[*position].results.experiment_id))
            );
        }
        html.push_str("</tr></thead><tbody>\n<tr><td>runs</td>");
        for (_, _, spend) in &columns {
            let _ = write!(html, "<td class=\"num\">{}</td>", count(&spend["runs"]));
        }
        html.push_str("</tr>\n");
        for (key, label) in COUNTS {
            let _ = write!(html, "<tr><td>{label}</td>");
            for (_, _, spend) in &columns {
                let _ = write!(
                    html,
                    "<td class=\"num\">{}</td>",
                    count(&spend["usage"][key])
                );
            }
            html.push_str("</tr>\n");
        }
        html.push_str("<tr><td>cost USD</td>");
        for (_, _, spend) in &columns {
            html.push_str(&cost_cell(&spend["cost_usd"]));
        }
        html.push_str("</tr>\n</tbody></table>\n");
    }
    for experiment in experiments {
        let id = escape(&text(&experiment.results.experiment_id));
        cost_missing(html, &format!("{id}: "), experiment.results.usage());
    }
    for position in unrecorded {
        let _ = writeln!(
            html,
            "<p class=\"note\">{}: usage not recorded (no <code>summary.usage</code>)</p>",
            escape(&text(&experiments[position].results.experiment_id))
        );
    }
}

//! `report.html`: a self-contained page (inline CSS, no script, no external resource) of one
//! experiment, rendered from `experiment_results.json` alone so `experiments report DIR` can
//! regenerate it: the metrics per variant, the paired differences, the failed runs and every
//! run's final prompt. Every text from a plugin or a model is HTML-escaped.
//!
//! It owns the page's content; the atomic write is `artifacts::write_atomic`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::artifacts::{self, ArtifactError};

use super::results::RESULTS_FILE;

pub const REPORT_FILE: &str = "report.html";

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid JSON", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Write(#[from] ArtifactError),
}

/// The fields of `experiment_results.json` the page shows. The rest (each entry's compiled-plan
/// metadata, most of the file) is skipped while parsing, so a report of many runs stays small
/// in memory.
#[derive(serde::Deserialize, serde::Serialize)]
struct ReportSource {
    #[serde(default)]
    experiment_id: Value,
    #[serde(default)]
    updated_at: Value,
    #[serde(default)]
    summary: Value,
    #[serde(default)]
    summary_metrics: Value,
    #[serde(default)]
    summary_error: Value,
    #[serde(default)]
    results: Vec<ReportEntry>,
}

/// The fields of one result entry the page shows.
#[derive(serde::Deserialize, serde::Serialize)]
struct ReportEntry {
    #[serde(default)]
    generation_id: Value,
    #[serde(default)]
    variant: Value,
    #[serde(default)]
    status: Value,
    #[serde(default)]
    final_prompt: Value,
    #[serde(default)]
    error: Value,
}

/// Reads `<dir>/experiment_results.json` and writes `<dir>/report.html` atomically; returns its
/// path.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    let source = dir.join(RESULTS_FILE);
    let file = std::fs::File::open(&source).map_err(|error| ReportError::Read {
        path: source.clone(),
        source: error,
    })?;
    let read: ReportSource =
        serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, file)).map_err(
            |error| ReportError::Parse {
                path: source.clone(),
                source: error,
            },
        )?;
    let document = serde_json::to_value(read).map_err(|error| ReportError::Parse {
        path: source.clone(),
        source: error,
    })?;
    let path = dir.join(REPORT_FILE);
    artifacts::write_atomic(&path, render(&document).as_bytes())?;
    Ok(path)
}

/// `text` with `& < > " '` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;\
text-align:left;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;\
font-variant-numeric:tabular-nums}.win{color:#075;font-weight:600}.fail{color:#a00}\
.prompt{max-width:60rem;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.85rem}";

/// The page for one `experiment_results.json` document.
pub fn render(document: &Value) -> String {
    let id = text(&document["experiment_id"]);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{id}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{id}</h1>\n<p>updated {}</p>\n",
        text(&document["updated_at"]),
        id = escape(&id),
    );
    let summary = &document["summary"];
    let metrics = if summary.get("metrics").is_some() {
        &summary["metrics"]
    } else {
        &document["summary_metrics"]
    };
    if let Some(error) = document.get("summary_error").filter(|e| !e.is_null()) {
        let _ = writeln!(
            html,
            "<p class=\"fail\">summary analysis failed: {}</p>",
            escape(&text(&error["message"]))
        );
    }
    if metrics.is_object() {
        render_metrics(&mut html, metrics);
    }
    render_runs(
        &mut html,
        document["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    html.push_str("</body></html>\n");
    html
}

fn render_metrics(html: &mut String, metrics: &Value) {
    let label = |name: &str| -> String {
        let info = &metrics["info"][name];
        let mut label = info["label"].as_str().unwrap_or(name).to_owned();
        if let Some(unit) = info["unit"].as_str() {
            label.push_str(&format!(" ({unit})"));
        }
        escape(&label)
    };
    let empty = serde_json::Map::new();
    let variants = metrics["variants"].as_object().unwrap_or(&empty);
    let names: Vec<&String> = metrics["info"]
        .as_object()
        .unwrap_or(&empty)
        .keys()
        .collect();
    html.push_str("<h2>Metrics per variant</h2>\n<p>mean [95% interval]; rates are the fraction of runs where the check held.</p>\n<table><tr><th>metric</th>");
    for variant in variants.keys() {
        let _ = write!(html, "<th>{}</th>", escape(variant));
    }
    html.push_str("</tr>\n");
    for count in ["runs", "ok", "failed"] {
        let _ = write!(html, "<tr><td>{count}</td>");
        for stats in variants.values() {
            let _ = write!(html, "<td class=\"num\">{}</td>", stats[count]);
        }
        html.push_str("</tr>\n");
    }
    for name in &names {
        let _ = write!(html, "<tr><td>{}</td>", label(name));
        for stats in variants.values() {
            let metric = &stats["metrics"][name.as_str()];
            let _ = write!(
                html,
                "<td class=\"num\">{}</td>",
                interval(&metric["mean"], &metric["ci"], false)
            );
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    let paired = &metrics["paired"];
    let Some(pairs) = paired["metrics"].as_object() else {
        return;
    };
    let _ = write!(
        html,
        "<h2>Paired difference {} &minus; {}</h2>\n<table><tr><th>metric</th><th>pairs</th>\
         <th>mean difference [95% interval]</th><th>p</th><th>verdict</th></tr>\n",
        escape(&text(&paired["b"])),
        escape(&text(&paired["a"]))
    );
    for (name, metric) in pairs {
        let verdict = match metric["winner"].as_str() {
            Some(winner) => format!("<span class=\"win\">{} better</span>", escape(winner)),
            None if metric["significant"] == true => "differs (no preferred direction)".to_owned(),
            None => "no significant difference".to_owned(),
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{verdict}</td></tr>",
            label(name),
            metric["n_pairs"],
            interval(&metric["mean_difference"], &metric["ci"], true),
            metric["p_value"].as_f64().map_or("-".to_owned(), |p| format!("{p:.3}")),
        );
    }
    html.push_str("</table>\n");
}

fn render_runs(html: &mut String, results: &[Value]) {
    html.push_str("<h2>Runs</h2>\n<table><tr><th>run</th><th>variant</th><th>status</th><th>final prompt or error</th></tr>\n");
    for entry in results {
        let failed = entry["status"] != "success";
        let body = if failed {
            format!(
                "<span class=\"fail\">{}</span>",
                escape(&text(&entry["error"]["message"]))
            )
        } else {
            escape(&text(&entry["final_prompt"]))
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td{}>{}</td><td class=\"prompt\">{body}</td></tr>",
            escape(&text(&entry["generation_id"])),
            escape(&text(&entry["variant"])),
            if failed { " class=\"fail\"" } else { "" },
            escape(&text(&entry["status"])),
        );
    }
    html.push_str("</table>\n");
}

/// `mean [lo, hi]` with two decimals (signed for differences), `-` when absent.
fn interval(mean: &Value, ci: &Value, signed: bool) -> String {
    let number = |value: &Value| value.as_f64();
    match (number(mean), number(&ci[0]), number(&ci[1])) {
        (Some(m), Some(lo), Some(hi)) if signed => format!("{m:+.2} [{lo:+.2}, {hi:+.2}]"),
        (Some(m), Some(lo), Some(hi)) => format!("{m:.2} [{lo:.2}, {hi:.2}]"),
        _ => "-".to_owned(),
    }
}

/// A string value as is, anything else as its JSON text (`null` as empty).
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_text_is_escaped_and_the_page_is_self_contained() {
        let document = json!({
            "experiment_id": "exp<1>",
            "updated_at": "now",
            "results": [
                {"generation_id": "A1_x", "variant": "A", "status": "success",
                 "final_prompt": "<script>alert('x')</script> & more"},
                {"generation_id": "B1_x", "variant": "B", "status": "error",
                 "error": {"type": "PluginError", "message": "<b>boom</b>"}},
            ],
            "summary": {"metrics": {
                "info": {"ok": {"label": "ok <check>", "direction": "higher"}},
                "variants": {"A": {"runs": 1, "ok": 1, "failed": 0,
                    "metrics": {"ok": {"kind": "rate", "n": 1, "mean": 1.0, "ci": [0.2, 1.0]}}}},
                "paired": {"a": "A", "b": "B", "metrics": {"ok": {"n_pairs": 3,
                    "mean_difference": 0.5, "ci": [0.1, 0.9], "p_value": 0.25,
                    "significant": true, "winner": "B"}}}}},
        });
        let html = render(&document);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(html.contains("ok &lt;check&gt;"));
        assert!(html.contains("1.00 [0.20, 1.00]"));
        assert!(html.contains("+0.50 [+0.10, +0.90]"));
        assert!(html.contains("B better"));
        assert!(!html.contains("http"), "no external resource");
        assert_eq!(render(&document), html, "deterministic");
    }

    #[test]
    fn write_report_reads_the_results_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            write_report(dir.path()),
            Err(ReportError::Read { .. })
        ));
        std::fs::write(
            dir.path().join(RESULTS_FILE),
            r#"{"experiment_id": "e", "results": []}"#,
        )
        .unwrap();
        let path = write_report(dir.path()).unwrap();
        let html = std::fs::read_to_string(path).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<h1>e</h1>"));
    }
}

//! What the runs used and cost, as `summary.usage` holds it (the runner's `spend` digest): a
//! table per variant and the total, and the cells the run list and the comparison page share.
//! A cost the summary records as `null` is shown as "unknown" with the reasons the summary
//! gives, never as 0.

use std::fmt::Write as _;

use serde_json::Value;

use super::html::{escape, text};

/// The usage counts shown, as `(key in usage, column label)`, in the terminal table's order.
pub const COUNTS: [(&str, &str); 6] = [
    ("calls", "calls"),
    ("input_tokens", "input tokens"),
    ("cached_input_tokens", "cached input tokens"),
    ("output_tokens", "output tokens"),
    ("reasoning_tokens", "reasoning tokens"),
    ("images", "images"),
];

/// The usage table of `summary.usage`, or a note when the summary has none (an experiment
/// written before usage was recorded).
pub fn render(html: &mut String, usage: &Value) {
    html.push_str("<h2 id=\"usage\">Usage and cost</h2>\n");
    let (Some(variants), Some(total)) = (usage["variants"].as_object(), usage.get("total")) else {
        html.push_str(
            "<p class=\"note\">not recorded: the results have no <code>summary.usage</code> \
             (written before usage was recorded)</p>\n",
        );
        return;
    };
    html.push_str(
        "<p class=\"note\">every stored run, failed ones too (their calls were paid for); cost \
         in USD at the prices the runs were recorded with.</p>\n<table class=\"usage\" \
         id=\"usage-table\"><thead><tr><th>variant</th><th>runs</th>",
    );
    for (_, label) in COUNTS {
        let _ = write!(html, "<th>{label}</th>");
    }
    html.push_str("<th>cost USD</th></tr></thead><tbody>\n");
    for (variant, spend) in variants {
        row(html, &escape(variant), spend);
    }
    row(html, "<strong>total</strong>", total);
    html.push_str("</tbody></table>\n");
    cost_missing(html, "", usage);
    let without = total["usage"]["calls_without_usage"].as_u64().unwrap_or(0);
    if without > 0 {
        let _ = writeln!(
            html,
            "<p class=\"note\">{without} call(s) were answered without <code>usage</code>: their \
             tokens are not in the counts above.</p>"
        );
    }
}

/// Why a cost of `usage` (a `summary.usage`) is unknown, as a list after `prefix` (HTML, e.g.
/// the experiment's id on the comparison page); nothing when every cost is known.
pub fn cost_missing(html: &mut String, prefix: &str, usage: &Value) {
    let Some(reasons) = usage["cost_missing"]
        .as_array()
        .filter(|reasons| !reasons.is_empty())
    else {
        return;
    };
    let _ = write!(
        html,
        "<p class=\"note\">{prefix}a cost is unknown because:</p>\n<ul class=\"missing\">"
    );
    for reason in reasons {
        let _ = write!(html, "<li>{}</li>", escape(&text(reason)));
    }
    html.push_str("</ul>\n");
}

/// One row: `label` (already HTML), then a `Spend` (`{runs, usage, cost_usd}`) as cells.
fn row(html: &mut String, label: &str, spend: &Value) {
    let _ = write!(
        html,
        "<tr><td>{label}</td><td class=\"num\">{}</td>",
        count(&spend["runs"])
    );
    for (key, _) in COUNTS {
        let _ = write!(
            html,
            "<td class=\"num\">{}</td>",
            count(&spend["usage"][key])
        );
    }
    let _ = writeln!(html, "{}</tr>", cost_cell(&spend["cost_usd"]));
}

/// A count as recorded, `-` when absent.
pub fn count(value: &Value) -> String {
    value.as_u64().map_or("-".to_owned(), |n| n.to_string())
}

/// A `<td>` of a `cost_usd`: four decimals, as the terminal table shows it; `unknown` for
/// `null` or an absent cost (the reasons are listed with the usage table).
pub fn cost_cell(cost: &Value) -> String {
    match cost.as_f64() {
        Some(usd) => format!("<td class=\"num\">{usd:.4}</td>"),
        None => "<td class=\"num note\">unknown</td>".to_owned(),
    }
}

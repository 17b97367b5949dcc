//! The page of one experiment, in reading order: the header, the metrics and paired
//! differences, the usage and cost, the failed runs, then either every A/B pair side by side (a paired plan) or the
//! grid of variants × runs (any other plan, e.g. the sets × seeds of `3x3`), a sortable list of
//! the runs, and per run its transcript collapsed in `<details>`.
//!
//! The metrics tables are `metrics_table`'s, the usage table `usage_table`'s, the drill-downs
//! `drill_down`'s.
//!
//! Size: the drill-downs of the first [`RUNS_PER_PAGE`] runs are on the page itself, those of
//! later runs on further pages of that many runs each, linked from the page. Transcript texts
//! are cut (`drill_down`), grid prompts at [`GRID_PROMPT_LIMIT`] characters; final prompts in
//! the pairs are shown whole (the diff needs them) and not again in the drill-down. About 1 KB
//! per transcript step and 1 KB per run besides.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::diff::word_diff;
use super::html::{escape, shortened, text};
use super::source::{Entry, Experiment};
use super::{drill_down, metrics_table, usage_table, Links};
use crate::artifacts::plugin_artifacts;

/// Characters of a final prompt shown in a grid cell when there is no image.
pub const GRID_PROMPT_LIMIT: usize = 280;

/// Runs whose transcripts one page holds: the report's own page has the first ones, each
/// further page (`<stem>_transcripts_<n>.html`) the next ones, so no page grows past about
/// this many runs' drill-downs.
pub const RUNS_PER_PAGE: usize = 100;

/// The report: its own page and the further transcript pages, numbered from 2.
pub struct Rendered {
    pub main: String,
    pub transcript_pages: Vec<(usize, String)>,
}

/// Where a run's drill-down is: on this page, or on the transcript page that holds it.
struct Anchors<'a> {
    links: &'a Links,
    page_of: HashMap<&'a str, usize>,
}

impl Anchors<'_> {
    fn run_href(&self, id: &str) -> String {
        match self.page_of.get(id) {
            Some(&page) if page > 1 => format!(
                "{}#run-{}",
                self.links.transcripts_page_href(page),
                escape(id)
            ),
            _ => format!("#run-{}", escape(id)),
        }
    }
}

/// The page of results' entry `position` (0-based, plan order).
fn page_of(position: usize) -> usize {
    position / RUNS_PER_PAGE + 1
}

/// The whole report.
pub fn render(experiment: &Experiment, links: &Links) -> Rendered {
    let results = &experiment.results;
    let anchors = Anchors {
        links,
        page_of: results
            .results
            .iter()
            .enumerate()
            .map(|(position, entry)| (entry.generation_id.as_str(), page_of(position)))
            .collect(),
    };
    let mut body = String::new();
    if !results.summary_error.is_null() {
        let _ = writeln!(
            body,
            "<p class=\"fail\">summary analysis failed: {}</p>",
            escape(&text(&results.summary_error["message"]))
        );
    }
    let metrics = results.metrics();
    if metrics.is_object() {
        metrics_table::render(&mut body, metrics, &results.summary);
    } else {
        body.push_str(
            "<h2>Metrics per variant</h2>\n<p class=\"note\">no run reported metrics</p>\n",
        );
    }
    usage_table::render(&mut body, results.usage());
    render_failures(&mut body, &results.results, &anchors);
    match &experiment.pairs {
        Some(_) if !experiment.arms.is_empty() => {
            for arm in &experiment.arms {
                let sides = Some((arm.control.as_str(), arm.treatment.as_str()));
                render_pairs(&mut body, experiment, &arm.pairs, sides, &anchors);
            }
        }
        Some(pairs) => render_pairs(&mut body, experiment, pairs, None, &anchors),
        None => render_grid(&mut body, experiment, &anchors),
    }
    render_run_list(&mut body, &results.results, &anchors);
    render_plugin_artifacts(&mut body, experiment, links);
    let id = text(&results.experiment_id);
    let (backends, transcript_pages) = render_transcripts(&mut body, experiment, links, &id);
    let mut html = super::html::open_page(&format!("{id} report"));
    let _ = writeln!(html, "<h1>{}</h1>", escape(&id));
    render_header(&mut html, experiment, &backends);
    html.push_str(&body);
    super::html::close_page(&mut html);
    Rendered {
        main: html,
        transcript_pages,
    }
}

/// The transcripts section: the drill-downs of the first [`RUNS_PER_PAGE`] runs into `body`
/// with links to the further pages, which it returns with the backends the transcripts name.
fn render_transcripts(
    body: &mut String,
    experiment: &Experiment,
    links: &Links,
    id: &str,
) -> (Vec<String>, Vec<(usize, String)>) {
    let results = &experiment.results;
    let pages = results.results.len().div_ceil(RUNS_PER_PAGE).max(1);
    let _ = writeln!(
        body,
        "<h2 id=\"transcripts\">Transcripts</h2>\n<p class=\"note\">each step's path, prompt, \
         answer, finish time and attempts; texts over {} characters are cut here \
         and whole in the linked transcript file. Steps record when they finished, to the \
         second; the run's wall time is in its summary line.</p>",
        drill_down::STEP_TEXT_LIMIT
    );
    if pages > 1 {
        body.push_str("<p>transcript pages:");
        for page in 1..=pages {
            let first = (page - 1) * RUNS_PER_PAGE + 1;
            let last = (page * RUNS_PER_PAGE).min(results.results.len());
            let _ = if page == 1 {
                write!(body, " runs {first}&ndash;{last} (below)")
            } else {
                write!(
                    body,
                    ", <a href=\"{}\">runs {first}&ndash;{last}</a>",
                    links.transcripts_page_href(page)
                )
            };
        }
        body.push_str("</p>\n");
    }
    let mut backends = Vec::new();
    let mut transcript_pages = Vec::new();
    let paired = drill_down::paired_runs(experiment);
    for (page, chunk) in results.results.chunks(RUNS_PER_PAGE).enumerate() {
        let page = page + 1;
        if page == 1 {
            drill_down::render(body, experiment, chunk, &paired, links, &mut backends);
            continue;
        }
        let mut html = super::html::open_page(&format!("{id} transcripts, page {page}"));
        let first = (page - 1) * RUNS_PER_PAGE + 1;
        let _ = writeln!(
            html,
            "<h1>{} &mdash; transcripts of runs {first}&ndash;{}</h1>\n<p><a href=\"{}\">back to \
             the report</a></p>",
            escape(id),
            first + chunk.len() - 1,
            links.main_page_href()
        );
        drill_down::render(&mut html, experiment, chunk, &paired, links, &mut backends);
        super::html::close_page(&mut html);
        transcript_pages.push((page, html));
    }

    (backends, transcript_pages)
}

fn render_header(html: &mut String, experiment: &Experiment, backends: &[String]) {
    let missing = "<span class=\"note\">not recorded</span>".to_owned();
    let plan = experiment.plan.as_ref();
    let field = |value: Option<&Value>| match value.map(text) {
        Some(value) if !value.is_empty() => escape(&value),
        _ => missing.clone(),
    };
    let results = &experiment.results.results;
    let ended = results
        .iter()
        .filter_map(|entry| entry.finished_at.as_str())
        .max()
        .map(str::to_owned);
    let rows: Vec<(&str, String)> = vec![
        (
            "experiment id",
            field(Some(&experiment.results.experiment_id)),
        ),
        ("experiment", field(plan.map(|p| &p.experiment_name))),
        ("plugin library", field(plan.map(|p| &p.plugin["library"]))),
        (
            "plugin interface version",
            field(plan.map(|p| &p.plugin["interface_version"])),
        ),
        ("base seed", field(plan.map(|p| &p.base_seed))),
        ("run mode", field(plan.map(|p| &p.run_mode))),
        (
            "backends and models",
            if backends.is_empty() {
                "<span class=\"note\">no transcript read</span>".to_owned()
            } else {
                escape(&backends.join("; "))
            },
        ),
        ("config layers", field(plan.map(|p| &p.config_meta))),
        (
            "config digest",
            match &experiment.config_digest {
                Some(digest) => format!(
                    "<code>{}</code> <span class=\"note\">(FNV-1a 64 of the base config in \
                     experiment_plan_full.json without the runner&#39;s per-experiment keys)</span>",
                    escape(digest)
                ),
                None => missing.clone(),
            },
        ),
        ("started", field(plan.map(|p| &p.generated_at))),
        (
            "last run finished",
            ended.map_or_else(|| missing.clone(), |end| escape(&end)),
        ),
        (
            "results updated",
            field(Some(&experiment.results.updated_at)),
        ),
        (
            "resumed",
            match experiment.resumed {
                Some(true) => "yes".to_owned(),
                Some(false) => "no".to_owned(),
                None => missing.clone(),
            },
        ),
    ];
    html.push_str("<dl class=\"head\" id=\"header\">\n");
    for (name, value) in rows {
        let _ = writeln!(html, "<dt>{name}</dt><dd>{value}</dd>");
    }
    html.push_str("</dl>\n");
}

fn render_failures(html: &mut String, results: &[Entry], anchors: &Anchors) {
    let failed: Vec<&Entry> = results
        .iter()
        .filter(|entry| !entry.ok() || !entry.analysis_error.is_null())
        .collect();
    let _ = writeln!(html, "<h2 id=\"failures\">Failures ({})</h2>", failed.len());
    if failed.is_empty() {
        html.push_str("<p class=\"note\">every run succeeded and was analysed</p>\n");
        return;
    }
    html.push_str(
        "<table class=\"failures\"><thead><tr><th>run</th><th>variant</th><th>what failed</th>\
         <th>reason</th></tr></thead><tbody>\n",
    );
    for entry in failed {
        let (what, error) = if entry.ok() {
            ("analysis", &entry.analysis_error)
        } else {
            ("run", &entry.error)
        };
        let mut place = text(&error["type"]);
        for key in ["phase", "step"] {
            if let Some(value) = error[key].as_str() {
                let _ = write!(place, ", {key} {value}");
            }
        }
        let message = text(&error["message"]);
        let reason = crate::metrics::failure_reason(error);
        let full = if message.trim() != reason {
            format!(
                "<details><summary>full message</summary><pre>{}</pre></details>",
                escape(&message)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            html,
            "<tr><td><a href=\"{}\">{id}</a></td><td>{}</td><td>{what}: {}</td>\
             <td class=\"fail\">{}{full}</td></tr>",
            anchors.run_href(&entry.generation_id),
            escape(&entry.variant),
            escape(&place),
            escape(&reason),
            id = escape(&entry.generation_id),
        );
    }
    html.push_str("</tbody></table>\n");
}

/// The pairs side by side. `arm` is `(control, treatment)` when the plan has more than one
/// treatment: the table is then titled, its columns and its rows' ids named after them; with one
/// treatment the columns are `A` and `B`, as `pairs.json`'s sides.
fn render_pairs(
    html: &mut String,
    experiment: &Experiment,
    pairs: &[super::source::PairIds],
    arm: Option<(&str, &str)>,
    anchors: &Anchors,
) {
    let find = |id: &str| {
        experiment
            .results
            .results
            .iter()
            .find(|entry| entry.generation_id == id)
    };
    let (a, b, id, row_id, title) = match arm {
        None => (
            "A".to_owned(),
            "B".to_owned(),
            "pairs".to_owned(),
            "pair".to_owned(),
            "Pairs".to_owned(),
        ),
        Some((control, treatment)) => {
            let (a, b) = (escape(control), escape(treatment));
            let title = format!("Pairs {b} with {a}");
            (
                a,
                b.clone(),
                format!("pairs-{b}"),
                format!("pair-{b}"),
                title,
            )
        }
    };
    let _ = writeln!(
        html,
        "<h2 id=\"{id}\">{title} ({})</h2>\n<p class=\"note\">each pair shares a seed; in the \
         final prompts, <del>struck</del> words are {a}'s that {b} lacks, <ins>marked</ins> words \
         are {b}'s that {a} lacks.</p>\n<table class=\"pairs\"><thead><tr><th>pair</th>\
         <th>{a}</th><th>{b}</th></tr></thead><tbody>",
        pairs.len()
    );
    for pair in pairs {
        let a = find(&pair.a_generation_id);
        let b = find(&pair.b_generation_id);
        let (a_text, b_text) = match (prompt(a), prompt(b)) {
            (Some(a), Some(b)) => {
                let (a, b) = word_diff(a, b);
                (Some(a), Some(b))
            }
            (a, b) => (a.map(escape), b.map(escape)),
        };
        let index = text(&pair.run_index);
        let _ = write!(
            html,
            "<tr class=\"pair\" id=\"{row_id}-{}\"><td class=\"num\">{}</td>",
            escape(&index),
            escape(&index)
        );
        for (id, entry, shown) in [
            (&pair.a_generation_id, a, a_text),
            (&pair.b_generation_id, b, b_text),
        ] {
            html.push_str("<td>");
            run_cell(html, experiment, id, entry, shown, anchors);
            html.push_str("</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
}

/// One side of a pair: the id, the image (full mode), the marked final prompt or the error.
fn run_cell(
    html: &mut String,
    experiment: &Experiment,
    id: &str,
    entry: Option<&Entry>,
    prompt_html: Option<String>,
    anchors: &Anchors,
) {
    let _ = write!(
        html,
        "<a href=\"{}\">{}</a>",
        anchors.run_href(id),
        escape(id)
    );
    let Some(entry) = entry else {
        html.push_str(" <span class=\"note\">not run</span>");
        return;
    };
    image(html, experiment, entry, anchors.links);
    match prompt_html {
        Some(prompt) => {
            let _ = write!(html, "<div class=\"prompt\">{prompt}</div>");
        }
        None if entry.ok() => html.push_str(" <span class=\"note\">no final prompt</span>"),
        None => {
            let _ = write!(
                html,
                "<div class=\"fail\">{}</div>",
                escape(&crate::metrics::failure_reason(&entry.error))
            );
        }
    }
}

/// The run's image as `<img>` by relative path, or a note when the entry names an image that is
/// not in the directory.
fn image(html: &mut String, experiment: &Experiment, entry: &Entry, links: &Links) {
    let Some(named) = entry.image_path.as_deref() else {
        return;
    };
    match experiment.image_file(entry) {
        Some(path) => {
            let src = links.href(&path);
            let _ = write!(
                html,
                "<a href=\"{src}\"><img src=\"{src}\" alt=\"image of {id}\" loading=\"lazy\"></a>",
                id = escape(&entry.generation_id)
            );
        }
        None => {
            let _ = write!(
                html,
                "<div class=\"note\">image not found in the directory (recorded as {})</div>",
                escape(named)
            );
        }
    }
}

/// Variants as rows, runs (in plan order, by run number) as columns.
fn render_grid(html: &mut String, experiment: &Experiment, anchors: &Anchors) {
    let results = &experiment.results.results;
    let mut variants: Vec<(&str, String)> = Vec::new();
    let mut runs: Vec<String> = Vec::new();
    for entry in results {
        if !variants.iter().any(|(v, _)| *v == entry.variant) {
            variants.push((&entry.variant, text(&entry.variant_name)));
        }
        let run = text(&entry.run);
        if !runs.contains(&run) {
            runs.push(run);
        }
    }
    let _ = write!(
        html,
        "<h2 id=\"grid\">Variants &times; runs</h2>\n<p class=\"note\">one row per variant (set), \
         one column per run number (the runs of one column share their seed-derived inputs where \
         the plan says so)</p>\n<table class=\"grid\"><thead><tr><th>variant</th>"
    );
    for run in &runs {
        let _ = write!(html, "<th>run {}</th>", escape(run));
    }
    html.push_str("</tr></thead><tbody>\n");
    for (variant, name) in &variants {
        let _ = write!(
            html,
            "<tr><th>{}<br><span class=\"note\">{}</span></th>",
            escape(variant),
            escape(name)
        );
        for run in &runs {
            let entry = results
                .iter()
                .find(|entry| entry.variant == *variant && text(&entry.run) == *run);
            let Some(entry) = entry else {
                html.push_str("<td class=\"note\">not run</td>");
                continue;
            };
            let _ = write!(
                html,
                "<td class=\"cell\"><a href=\"{}\">{id}</a> seed {}",
                anchors.run_href(&entry.generation_id),
                escape(&text(&entry.seed)),
                id = escape(&entry.generation_id),
            );
            if entry.image_path.is_some() {
                image(html, experiment, entry, anchors.links);
            } else if let (true, Some(prompt)) = (entry.ok(), entry.final_prompt.as_deref()) {
                let (shown, cut) = shortened(prompt, GRID_PROMPT_LIMIT);
                let more = if cut > 0 {
                    format!("<span class=\"note\"> … {cut} more characters</span>")
                } else {
                    String::new()
                };
                let _ = write!(html, "<div class=\"prompt\">{shown}{more}</div>");
            }
            if !entry.ok() {
                let _ = write!(
                    html,
                    "<div class=\"fail\">{}</div>",
                    escape(&crate::metrics::failure_reason(&entry.error))
                );
            }
            html.push_str("</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
}

fn render_run_list(html: &mut String, results: &[Entry], anchors: &Anchors) {
    let _ = writeln!(
        html,
        "<h2 id=\"runs\">Runs ({})</h2>\n<p class=\"note\">click a column to sort (with \
         JavaScript); the transcripts follow below. Calls and tokens are the run&#39;s text \
         calls; cost in USD, unknown when the run&#39;s cost is (see the usage table).</p>\n\
         <table class=\"sortable\"><thead><tr><th>run</th><th>variant</th><th>#</th>\
         <th>seed</th><th>status</th><th>seconds</th><th>final prompt chars</th><th>calls</th>\
         <th>input tokens</th><th>output tokens</th><th>cost USD</th></tr></thead><tbody>",
        results.len()
    );
    for entry in results {
        let chars = entry
            .final_prompt
            .as_deref()
            .map_or(String::new(), |prompt| prompt.chars().count().to_string());
        let _ = writeln!(
            html,
            "<tr><td><a href=\"{}\">{id}</a></td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td{}>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{chars}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td>{}</tr>",
            anchors.run_href(&entry.generation_id),
            escape(&entry.variant),
            escape(&text(&entry.run)),
            escape(&text(&entry.seed)),
            if entry.ok() { "" } else { " class=\"fail\"" },
            escape(&entry.status),
            escape(&text(&entry.duration_s)),
            usage_table::count(&entry.usage["calls"]),
            usage_table::count(&entry.usage["input_tokens"]),
            usage_table::count(&entry.usage["output_tokens"]),
            usage_table::cost_cell(&entry.cost_usd),
            id = escape(&entry.generation_id),
        );
    }
    html.push_str("</tbody></table>\n");
}

/// "Plugin artifacts": every file the plugin wrote through `write_artifact`, linked by relative
/// path, with the run that wrote it (or the summary); nothing when it wrote none. A recorded
/// path that is not `plugin/<valid name>` is shown, not linked.
fn render_plugin_artifacts(html: &mut String, experiment: &Experiment, links: &Links) {
    let results = &experiment.results;
    let by_runs = results.results.iter().flat_map(|entry| {
        let writer = format!("run {}", entry.generation_id);
        entry
            .plugin_artifacts
            .iter()
            .map(move |path| (path, writer.clone()))
    });
    let by_summary = results
        .plugin_artifacts
        .iter()
        .map(|path| (path, "the summary".to_owned()));
    let listed: Vec<(&String, String)> = by_runs.chain(by_summary).collect();
    if listed.is_empty() {
        return;
    }
    let _ = writeln!(
        html,
        "<h2 id=\"plugin-artifacts\">Plugin artifacts ({})</h2>\n<ul>",
        listed.len()
    );
    for (path, writer) in listed {
        let shown = if plugin_artifacts::name_of(path).is_some() {
            let href = links.href(&experiment.dir.join(path));
            format!("<a href=\"{href}\">{}</a>", escape(path))
        } else {
            escape(path)
        };
        let _ = writeln!(
            html,
            "<li>{shown} <span class=\"note\">({})</span></li>",
            escape(&writer)
        );
    }
    html.push_str("</ul>\n");
}

/// The final prompt of a run that succeeded.
fn prompt(entry: Option<&Entry>) -> Option<&str> {
    entry
        .filter(|entry| entry.ok())
        .and_then(|entry| entry.final_prompt.as_deref())
}

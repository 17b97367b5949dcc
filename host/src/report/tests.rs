//! The pages on synthesized experiment directories: structure (pairs, grid, drill-down),
//! escaping of plugin and model text, links, the comparison page, and the size of a report of
//! 1,000 runs.

use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::artifacts::layout::ExperimentLayout;

fn layout(dir: &Path) -> ExperimentLayout {
    ExperimentLayout::new(dir)
}

const HOSTILE: &str = "<script>alert('x')</script> & \"more\"";
const HOSTILE_ESCAPED: &str =
    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;";

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn entry(dir: &Path, id: &str, variant: &str, run: u32, prompt: &str, image: bool) -> Value {
    let image_path = image.then(|| {
        // Recorded absolute, under a directory that no longer exists: the report finds the image
        // by file name in `generated/`.
        let image = layout(dir).image(id);
        std::fs::create_dir_all(image.parent().unwrap()).unwrap();
        std::fs::write(&image, b"\x89PNG").unwrap();
        let name = image.file_name().unwrap().to_string_lossy();
        format!("/moved/away/generated/{name}")
    });
    json!({"generation_id": id, "variant": variant, "variant_name": format!("{variant}_name"),
        "run": run, "seed": run, "status": "success", "image_path": image_path,
        "final_prompt": prompt, "outputs": {"prompt_pipeline": {"big": [1, 2, 3]}},
        "error": null, "finished_at": "2026-12-02T10:00:05Z", "duration_s": 0.25,
        "usage": {"calls": 17, "input_tokens": 12345, "cached_input_tokens": 0,
            "output_tokens": 2345, "reasoning_tokens": 0, "images": u64::from(image),
            "calls_without_usage": 0, "sequential_calls": 9},
        "cost_usd": 0.0391})
}

/// `summary.usage` of two variants: A's cost unknown (a hostile reason), B's known.
fn usage_summary() -> Value {
    let spend = |runs: u64, cost: Value| {
        json!({"runs": runs, "usage": {"calls": 34 * runs, "input_tokens": 1000 * runs,
            "cached_input_tokens": 7, "output_tokens": 200 * runs, "reasoning_tokens": 3,
            "images": runs, "calls_without_usage": 0, "sequential_calls": 5},
            "cost_usd": cost, "runs_without_cost": u64::from(cost.is_null())})
    };
    json!({"variants": {"A": spend(2, Value::Null), "B": spend(2, json!(0.0782))},
        "total": spend(4, Value::Null),
        "cost_missing": [format!("no price for the text model `{HOSTILE}`")]})
}

fn transcript(dir: &Path, id: &str, answer: &str) {
    write_json(
        &layout(dir).transcript(id),
        &json!({"generation_id": id, "steps": [
            {"type": "action", "name": "action", "path": "pipeline/ab.random_token/action",
             "created_at": "2026-12-02T10:00:01Z", "result": "RV-1-123456"},
            {"type": "chat", "name": "draft", "path": "pipeline/ab.scene_draft/draft",
             "prompt": "Sketch a scene", "response": answer, "params": {"model": "gpt-5.2"},
             "provider": "offline", "attempts": 2, "created_at": "2026-12-02T10:00:02Z"}],
            "backends": {"text": {"provider": "offline", "model": "gpt-5.2"},
                         "image": {"provider": "offline", "model": "gpt-image-1.5"}}}),
    );
}

fn plan(dir: &Path, name: &str, mode: &str) {
    write_json(
        &layout(dir).plan(),
        &json!({"generated_at": "2026-12-02T10:00:00Z", "base_seed": 7,
            "experiment_name": name, "run_mode": mode, "config_meta": {"mode": "default"},
            "plugin": {"name": name, "library": "/lib/libexp.so", "interface_version": "1.0.0"},
            "planned_runs": []}),
    );
    write_json(
        &layout(dir).plan_full(),
        &json!({"base_config": {"run": {"mode": mode}}, "planned_runs_full": [{"big": 1}]}),
    );
    std::fs::write(
        layout(dir).log(),
        "2026-12-02T10:00:00Z | INFO | experiment `x` id `x`\n",
    )
    .unwrap();
}

fn metrics() -> Value {
    json!({
        "info": {"ok": {"label": "ok <check>", "direction": "higher"}},
        "variants": {"A": {"runs": 2, "ok": 1, "failed": 1,
            "metrics": {"ok": {"kind": "rate", "n": 1, "mean": 1.0, "ci_low": 0.2, "ci_high": 1.0}}},
            "B": {"runs": 2, "ok": 2, "failed": 0,
            "metrics": {"ok": {"kind": "rate", "n": 2, "mean": 0.5, "ci_low": 0.1, "ci_high": 0.9}}}},
        "paired": {"a": "A", "b": "B", "metrics": {"ok": {"n_pairs": 3,
            "mean_difference": 0.5, "ci_low": 0.1, "ci_high": 0.9, "p_value": 0.25,
            "significant": true, "winner": "B"}}}})
}

/// An A/B experiment of two pairs in full mode: pair 1 both ok (A's prompt is hostile), pair 2
/// with A failed.
fn ab_dir() -> tempfile::TempDir {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    plan(dir, "ab_demo", "full");
    let mut failed = entry(dir, "A2_x", "A", 2, "", false);
    failed["status"] = json!("error");
    failed["final_prompt"] = Value::Null;
    failed["cost_usd"] = Value::Null;
    failed["error"] = json!({"type": "BackendError", "phase": "pipeline",
        "message": "the backend answered <401>\nbody: denied"});
    write_json(
        &layout(dir).results(),
        &json!({"experiment_id": "ab<1>", "updated_at": "2026-12-02T10:00:09Z",
            "summary": {"metrics": metrics(), "usage": usage_summary()},
            "results": [
                entry(dir, "A1_x", "A", 1, &format!("a red fox at dawn {HOSTILE}"), true),
                entry(dir, "B1_x", "B", 1, "a small red fox at dusk", true),
                failed,
                entry(dir, "B2_x", "B", 2, "a heron", true)]}),
    );
    write_json(
        &layout(dir).pairs(),
        &json!({"pairs": [
            {"run_index": 1, "a_generation_id": "A1_x", "b_generation_id": "B1_x"},
            {"run_index": 2, "a_generation_id": "A2_x", "b_generation_id": "B2_x"}]}),
    );
    transcript(dir, "A1_x", HOSTILE);
    transcript(dir, "B1_x", &"long answer ".repeat(100));
    transcript(dir, "B2_x", "ok");
    temp
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

#[test]
fn ab_page_shows_header_metrics_pairs_failures_and_drill_downs() {
    let temp = ab_dir();
    let path = write_report(temp.path()).unwrap();
    assert_eq!(path, layout(temp.path()).report());
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Header.
    for needle in [
        "<h1>ab&lt;1&gt;</h1>",
        "<dd>ab_demo</dd>",
        "<dd>/lib/libexp.so</dd>",
        "<dd>1.0.0</dd>",
        "<dd>7</dd>",
        "<dd>full</dd>",
        "text: offline gpt-5.2; image: offline gpt-image-1.5",
        "fnv1a64:",
        "<dt>resumed</dt><dd>no</dd>",
        "<dd>2026-12-02T10:00:00Z</dd>",
        "<dd>2026-12-02T10:00:05Z</dd>",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    // Metrics and paired differences.
    assert!(html.contains("id=\"metrics\""));
    assert!(html.contains("ok &lt;check&gt;"));
    assert!(html.contains("1.00 [0.20, 1.00]"));
    assert!(html.contains("+0.50 [+0.10, +0.90]"));
    assert!(html.contains("B better"));
    // Every pair, side by side, with the word diff and the images by relative path.
    assert_eq!(count(&html, "<tr class=\"pair\""), 2);
    assert!(html.contains("<del>dawn</del>"), "{html}");
    assert!(html.contains("<ins>small</ins>"), "{html}");
    assert_eq!(count(&html, "<img "), 3);
    assert!(html.contains("src=\"generated/A1_x_image.png\""));
    // The failure with its reason, in the pair and in the failures table.
    assert!(html.contains("<h2 id=\"failures\">Failures (1)</h2>"));
    assert!(html.contains("the backend answered &lt;401&gt;"));
    assert!(html.contains("BackendError, phase pipeline"));
    // A drill-down per run, collapsed; the long answer cut with a link to the transcript.
    assert_eq!(count(&html, "<details class=\"run\""), 4);
    assert!(html.contains("pipeline/ab.scene_draft/draft"));
    assert!(html.contains("attempts 2"));
    assert!(html.contains("RV-1-123456"));
    assert!(html.contains("<a class=\"note\" href=\"logs/B1_x_transcript.json\">… "));
    assert!(html.contains("no transcript (the run wrote none)"));
    assert!(!html.contains("http"), "no external resource");
    assert_eq!(write_report(temp.path()).map(|_| ()).ok(), Some(()));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        html,
        "the same directory gives the same bytes"
    );
}

#[test]
fn plugin_and_model_text_is_escaped_everywhere() {
    let temp = ab_dir();
    let html = std::fs::read_to_string(write_report(temp.path()).unwrap()).unwrap();
    // The only script is the page's own sorting script.
    assert_eq!(count(&html, "<script"), 1, "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    // In the pair (inside the diff marks) and in the drill-down (the answer).
    assert!(html.contains("<del>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</del>"));
    assert!(
        html.contains(&format!("<pre>{HOSTILE_ESCAPED}</pre>")),
        "{html}"
    );
}

#[test]
fn usage_and_cost_per_variant_and_per_run_with_unknown_costs_explained() {
    let temp = ab_dir();
    let html = std::fs::read_to_string(write_report(temp.path()).unwrap()).unwrap();
    let table = &html[html.find("id=\"usage-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains(
        "<tr><td>B</td><td class=\"num\">2</td><td class=\"num\">68</td>\
         <td class=\"num\">2000</td><td class=\"num\">7</td><td class=\"num\">400</td>\
         <td class=\"num\">3</td><td class=\"num\">2</td><td class=\"num\">0.0782</td></tr>"
    ));
    // A null cost is unknown, never 0, here and in the total, and the page says why (escaped).
    assert_eq!(count(table, "<td class=\"num note\">unknown</td>"), 2);
    assert!(table.contains("<tr><td><strong>total</strong></td><td class=\"num\">4</td>"));
    assert!(html.contains(&format!(
        "<li>no price for the text model `{HOSTILE_ESCAPED}`</li>"
    )));
    assert!(!html.contains("<script>alert"));
    // The run list: calls, tokens and cost of each run; the failed run's cost is unknown.
    assert!(html.contains(
        "<td class=\"num\">17</td><td class=\"num\">12345</td><td class=\"num\">2345</td>\
         <td class=\"num\">0.0391</td></tr>"
    ));
    assert_eq!(count(&html, "<td class=\"num\">0.0391</td>"), 3);
    assert_eq!(count(&html, "<td class=\"num note\">unknown</td>"), 3);
}

#[test]
fn results_without_usage_say_so() {
    let temp = tempfile::tempdir().unwrap();
    let mut old = entry(temp.path(), "A1_x", "A", 1, "p", false);
    old.as_object_mut().unwrap().remove("usage");
    old.as_object_mut().unwrap().remove("cost_usd");
    write_json(
        &layout(temp.path()).results(),
        &json!({"experiment_id": "old", "results": [old]}),
    );
    let html = std::fs::read_to_string(write_report(temp.path()).unwrap()).unwrap();
    assert!(html.contains("not recorded: the results have no <code>summary.usage</code>"));
    assert!(html.contains(
        "<td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td>\
         <td class=\"num note\">unknown</td></tr>"
    ));
}

#[test]
fn unpaired_plans_get_a_grid_of_variants_by_runs() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    plan(dir, "3x3", "prompt_only");
    let mut results = Vec::new();
    for variant in ["A", "B", "C"] {
        for run in 1..=3 {
            let id = format!("{variant}{run}_x");
            let prompt = if run == 3 {
                "word ".repeat(200)
            } else {
                HOSTILE.to_owned()
            };
            results.push(entry(dir, &id, variant, run, &prompt, variant == "C"));
        }
    }
    // A run that succeeded but whose analysis failed is listed with the failures.
    results[1]["analysis_error"] = json!({"type": "PluginError", "message": "analyze <panicked>"});
    write_json(
        &layout(dir).results(),
        &json!({"experiment_id": "3x3_demo", "results": results}),
    );
    let html = std::fs::read_to_string(write_report(dir).unwrap()).unwrap();
    assert!(html.contains("<table class=\"grid\">"));
    assert!(!html.contains("class=\"pair\""));
    assert_eq!(count(&html, "<td class=\"cell\">"), 9);
    assert_eq!(count(&html, "<th>run "), 3);
    assert!(html.contains("<th>B<br><span class=\"note\">B_name</span></th>"));
    // Images for the set that has them, prompts (shortened) for the others.
    assert_eq!(count(&html, "<img "), 3);
    assert!(html.contains(&format!("… {} more characters", 1000 - GRID_PROMPT_LIMIT)));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("no run reported metrics"));
    assert!(html.contains("<h2 id=\"failures\">Failures (1)</h2>"));
    assert!(html.contains("analysis: PluginError") && html.contains("analyze &lt;panicked&gt;"));
    assert_eq!(count(&html, "<details class=\"run\""), 9);
}

#[test]
fn a_plugins_per_variant_figures_and_summary_fields_are_rows_as_on_the_terminal() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    plan(dir, "3x3", "prompt_only");
    let results: Vec<_> = ["A", "B"]
        .iter()
        .map(|variant| entry(dir, &format!("{variant}1_x"), variant, 1, "a prompt", false))
        .collect();
    let summary = json!({
        "variant_metrics": {"diversity": {"label": "diversity <of prompts>", "unit": "Jaccard",
            "values": {"A": 0.756, "B": null}}},
        "most_diverse_set": "A <script>",
        "sets": {"A": {"runs": 1}},
        "metrics": {"info": {}, "variants": {"A": {"runs": 1, "ok": 1, "failed": 0, "metrics": {}},
            "B": {"runs": 1, "ok": 1, "failed": 0, "metrics": {}}}, "paired": null},
    });
    write_json(
        &layout(dir).results(),
        &json!({"experiment_id": "3x3_demo", "summary": summary, "results": results}),
    );
    let html = std::fs::read_to_string(write_report(dir).unwrap()).unwrap();
    assert!(html.contains(
        "<tr><td>diversity &lt;of prompts&gt; (Jaccard)</td><td class=\"num\">0.76</td>\
         <td class=\"num\">-</td></tr>"
    ));
    assert!(html.contains("<tr><th>most diverse set</th><td>A &lt;script&gt;</td></tr>"));
    // Objects stay in experiment_results.json, as on the terminal.
    assert!(!html.contains("<th>sets</th>"));
}

#[test]
fn a_directory_without_results_is_named_in_the_error() {
    let temp = tempfile::tempdir().unwrap();
    let error = write_report(temp.path()).unwrap_err();
    assert!(matches!(error, ReportError::NotAnExperiment { .. }));
    assert!(error
        .to_string()
        .contains(&temp.path().display().to_string()));
    std::fs::write(layout(temp.path()).results(), "{").unwrap();
    assert!(matches!(
        write_report(temp.path()),
        Err(ReportError::Parse { .. })
    ));
}

#[test]
fn a_page_elsewhere_links_files_relative_to_itself() {
    let temp = ab_dir();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = elsewhere.path().join("page.html");
    write_report_to(temp.path(), &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    let dir = temp.path().canonicalize().unwrap();
    let page_dir = elsewhere.path().canonicalize().unwrap();
    let expected = Links::new(&page_dir, "page.html").href(&layout(&dir).image("A1_x"));
    assert!(expected.starts_with("../"), "{expected}");
    assert!(html.contains(&format!("src=\"{expected}\"")), "{html}");
}

#[test]
fn the_config_digest_leaves_out_the_per_experiment_keys() {
    let overrides = json!({"run": {"mode": "full"}, "image": {"log_path": "/a/logs"},
        "experiment": {"id": "a"}});
    let config = |id: &str, temperature: f64| {
        json!({"run": {"mode": "full"}, "image": {"log_path": format!("/{id}/logs"), "size": 1},
            "experiment": {"id": id}, "backend": {"temperature": temperature}})
    };
    let digest = |config| source::config_digest(config, &overrides);
    assert_eq!(digest(config("a", 0.5)), digest(config("b", 0.5)));
    assert_ne!(digest(config("a", 0.5)), digest(config("a", 0.7)));
    assert!(digest(config("a", 0.5)).starts_with("fnv1a64:"));
}

#[test]
fn hrefs_climb_and_percent_encode() {
    let links = Links::new(Path::new("/a/b/page dir"), "my report.html");
    assert_eq!(
        links.transcripts_page_href(2),
        "my%20report_transcripts_2.html"
    );
    assert_eq!(links.main_page_href(), "my%20report.html");
    assert_eq!(
        links.href(Path::new("/a/b/exp #1/generated/x.png")),
        "../exp%20%231/generated/x.png"
    );
    assert_eq!(links.href(Path::new("/a/b/page dir/x.png")), "x.png");
}

#[test]
fn newest_experiment_is_the_one_whose_results_were_written_last() {
    let root = tempfile::tempdir().unwrap();
    assert!(matches!(
        newest_experiment(root.path()),
        Err(ReportError::NoExperiments { .. })
    ));
    for (name, age_s) in [("old", 100), ("new", 10), ("dry_run", 0)] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if name == "dry_run" {
            continue;
        }
        let file = std::fs::File::create(layout(&dir).results()).unwrap();
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_s);
        file.set_modified(when).unwrap();
    }
    assert_eq!(
        newest_experiment(root.path()).unwrap(),
        root.path().join("new")
    );
}

#[test]
fn comparison_lines_up_metrics_by_name_across_experiments() {
    let first = ab_dir();
    let second = tempfile::tempdir().unwrap();
    plan(second.path(), "ab_demo", "prompt_only");
    let mut other = metrics();
    other["variants"]["A"]["metrics"]["ok"]["mean"] = json!(0.25);
    write_json(
        &layout(second.path()).results(),
        &json!({"experiment_id": "second", "summary": {"metrics": other}, "results": []}),
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("cmp.html");
    write_comparison(&[first.path().to_owned(), second.path().to_owned()], &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("Comparison of 2 experiments"));
    assert!(html.contains("<th>ab&lt;1&gt;<br>A</th>") && html.contains("<th>second<br>B</th>"));
    assert!(html.contains("1.00 [0.20, 1.00]") && html.contains("0.25 [0.20, 1.00]"));
    assert_eq!(count(&html, "B better"), 2);
    assert!(!html.contains("class=\"pair\""), "metrics only");
    // Usage side by side: the first experiment's variants and total; the second recorded none.
    let usage = &html[html.find("id=\"usage-table\"").unwrap()..];
    assert!(
        usage.contains("<th>ab&lt;1&gt;<br>B</th><th>ab&lt;1&gt;<br><strong>total</strong></th>")
    );
    assert!(usage.contains(
        "<tr><td>calls</td><td class=\"num\">68</td><td class=\"num\">68</td>\
         <td class=\"num\">136</td></tr>"
    ));
    assert!(usage.contains(
        "<tr><td>cost USD</td><td class=\"num note\">unknown</td><td class=\"num\">0.0782</td>\
         <td class=\"num note\">unknown</td></tr>"
    ));
    assert!(html.contains(&format!(
        "ab&lt;1&gt;: a cost is unknown because:</p>\n<ul class=\"missing\">\
         <li>no price for the text model `{HOSTILE_ESCAPED}`</li>"
    )));
    assert!(html.contains("second: usage not recorded"));
}

/// 1,000 runs (500 pairs) with realistic sizes: 520-character final prompts, four-step
/// transcripts with 1,900-character prompts and 500-character answers. The report's page holds
/// the first 100 drill-downs, nine transcript pages the rest. Bounds: 1.5 MB for the page,
/// 5.5 MB for all pages together.
#[test]
fn a_report_of_1000_runs_is_paginated_and_stays_small() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    plan(dir, "ab_demo", "prompt_only");
    let prompt = |i: usize| {
        format!(
            "SUBJECT=a keeper {i} | {}",
            "SETTING=a quiet harbour ".repeat(20)
        )
    };
    let mut results = Vec::new();
    let mut pairs = Vec::new();
    for i in 1..=500 {
        for variant in ["A", "B"] {
            let id = format!("{variant}{i}_x");
            results.push(entry(
                dir,
                &id,
                variant,
                i as u32,
                &prompt(i + variant.len()),
                false,
            ));
            write_json(
                &layout(dir).transcript(&id),
                &json!({"steps": (0..4).map(|step| json!({"type": "chat",
                    "path": format!("pipeline/stage_{step}/draft"),
                    "prompt": "p".repeat(1900), "response": "r ".repeat(250),
                    "params": {"model": "m"}, "provider": "offline", "attempts": 1,
                    "created_at": "2026-12-02T10:00:02Z"})).collect::<Vec<_>>()}),
            );
        }
        pairs.push(json!({"run_index": i, "a_generation_id": format!("A{i}_x"),
            "b_generation_id": format!("B{i}_x")}));
    }
    write_json(
        &layout(dir).results(),
        &json!({"experiment_id": "big", "summary": {"metrics": metrics()}, "results": results}),
    );
    write_json(&layout(dir).pairs(), &json!({"pairs": pairs}));
    // A page left by an earlier, longer report goes.
    std::fs::write(dir.join("report_transcripts_11.html"), "stale").unwrap();
    let html = std::fs::read_to_string(write_report(dir).unwrap()).unwrap();
    assert_eq!(count(&html, "<tr class=\"pair\""), 500);
    assert_eq!(count(&html, "<details class=\"run\""), RUNS_PER_PAGE);
    // Run 101 (A51) is on page 2, and every page links back.
    assert!(html.contains("<a href=\"report_transcripts_2.html#run-A51_x\">A51_x</a>"));
    assert!(html.contains("<a href=\"report_transcripts_10.html\">runs 901&ndash;1000</a>"));
    let mut total = html.len();
    let mut drill_downs = RUNS_PER_PAGE;
    for page in 2..=10 {
        let text =
            std::fs::read_to_string(dir.join(format!("report_transcripts_{page}.html"))).unwrap();
        assert!(text.contains("<a href=\"report.html\">back to the report</a>"));
        drill_downs += count(&text, "<details class=\"run\"");
        total += text.len();
    }
    assert!(text_page_count(dir) == 9 && drill_downs == 1000);
    assert!(html.len() < 1_500_000, "page: {} bytes", html.len());
    assert!(total < 5_500_000, "all pages: {total} bytes");
}

fn text_page_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("report_transcripts_") && name.ends_with(".html")
        })
        .count()
}

#[test]
fn plugin_artifacts_are_linked_by_relative_path_only_when_they_are_plugin_names() {
    let temp = ab_dir();
    let dir = temp.path();
    let without = std::fs::read_to_string(write_report(dir).unwrap()).unwrap();
    assert!(
        !without.contains("Plugin artifacts"),
        "no list without artifacts"
    );
    let mut results: Value =
        serde_json::from_str(&std::fs::read_to_string(layout(dir).results()).unwrap()).unwrap();
    results["results"][0]["plugin_artifacts"] = json!(["plugin/runs/A1 x.txt", "plugin/a.txt"]);
    results["results"][1]["plugin_artifacts"] = json!(["../escape.txt", "plugin/../b.txt"]);
    results["plugin_artifacts"] = json!(["plugin/summary/runs.csv"]);
    write_json(&layout(dir).results(), &results);
    let html = std::fs::read_to_string(write_report(dir).unwrap()).unwrap();
    assert!(
        html.contains("<h2 id=\"plugin-artifacts\">Plugin artifacts (5)</h2>"),
        "{html}"
    );
    for linked in ["plugin/a.txt", "plugin/summary/runs.csv"] {
        assert!(
            html.contains(&format!("<li><a href=\"{linked}\">{linked}</a>")),
            "{linked}"
        );
    }
    assert!(html.contains("(run A1_x)") && html.contains("(the summary)"));
    // Not names a plugin could have written: shown, never linked.
    for shown in ["plugin/runs/A1 x.txt", "../escape.txt", "plugin/../b.txt"] {
        assert!(html.contains(&format!("<li>{shown} ")), "{shown}");
        assert!(!html.contains(&format!("href=\"{shown}\"")), "{shown}");
    }
}

//! `experiments run` executing runs (DESIGN §4 steps 8, 9 and 11): the A/B experiments offline with
//! no config, the files every experiment writes (results, pairs, transcripts, the runs index) and
//! the labels in them, `--jobs` never changing what a seed produces, and failures: a plugin
//! panicking in `run` or `analyze` (fixture `fault_panic`), dispatch stopping at the first failure
//! without `--continue-on-error`, and a run failing in the pipeline against a loopback stub of an
//! OpenAI-compatible server that answers HTTP 500. Resuming belongs to `resume`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::{pretty, read_json, run, with_fixture, Run, Sandbox, FAULT_PANIC};

/// A sandbox with the four fresh workspace plugins in `plugin-dir`.
pub fn with_plugins() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    (sandbox, plugins)
}

/// The lines of a JSON-lines file, each parsed (a line that does not parse fails the test).
pub fn read_jsonl(path: &Path, output: &dyn std::fmt::Display) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read `{}`: {error}{output}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "`{}` does not end with a newline:\n{text}{output}",
        path.display()
    );
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| {
                panic!(
                    "a line of `{}` is not JSON ({error}): {line}{output}",
                    path.display()
                )
            })
        })
        .collect()
}

/// A string field of a JSON object, or a failure naming it.
pub fn text<'a>(value: &'a Value, key: &str, output: &dyn std::fmt::Display) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in\n{}{output}", pretty(value)))
}

/// `results` of `experiment_results.json`.
pub fn results_of(out: &Path, output: &dyn std::fmt::Display) -> Vec<Value> {
    let document = read_json(&out.join("experiment_results.json"));
    document["results"]
        .as_array()
        .unwrap_or_else(|| panic!("`results` is not an array:\n{}{output}", pretty(&document)))
        .clone()
}

/// The generation ids of `experiment_plan.json`, in plan order.
pub fn planned_ids(out: &Path, output: &dyn std::fmt::Display) -> Vec<String> {
    let plan = read_json(&out.join("experiment_plan.json"));
    plan["planned_runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no `planned_runs`:\n{}{output}", pretty(&plan)))
        .iter()
        .map(|run| text(run, "generation_id", output).to_owned())
        .collect()
}

/// `experiment_id` of `experiment_plan.json`.
pub fn experiment_id_of(out: &Path) -> String {
    let plan = read_json(&out.join("experiment_plan.json"));
    plan["experiment_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no `experiment_id`:\n{}", pretty(&plan)))
        .to_owned()
}

/// The two A/B experiments and the `experiment.variant` labels of their variants A and B.
const AB_LABELS: [(&str, &str, &str); 2] = [
    (
        "ab_refinement_block",
        "A_no_refinement_block",
        "B_with_refinement_block",
    ),
    (
        "ab_scenespec_json_intermediary",
        "A_prose_refine",
        "B_scenespec_json",
    ),
];

/// Checks the `experiment` block of a transcript or an index line against its planned run.
fn check_labels(
    record: &Value,
    what: &str,
    planned: &Value,
    experiment_id: &str,
    label: &str,
    output: &Run,
) {
    let context = format!(
        "{what}\n--- record\n{}\n--- planned run\n{}{output}",
        pretty(record),
        pretty(planned)
    );
    assert_eq!(
        record["generation_id"], planned["generation_id"],
        "generation_id of {context}"
    );
    let labels = &record["experiment"];
    assert_eq!(labels["id"], experiment_id, "experiment.id of {context}");
    assert_eq!(labels["variant"], label, "experiment.variant of {context}");
    assert!(
        labels["notes"]
            .as_str()
            .is_some_and(|notes| !notes.is_empty()),
        "experiment.notes of {context}"
    );
    assert_eq!(
        labels["notes"], planned["notes"],
        "experiment.notes of {context}"
    );
    assert!(
        labels["tags"]
            .as_array()
            .is_some_and(|tags| !tags.is_empty() && tags.iter().all(Value::is_string)),
        "experiment.tags of {context}"
    );
    assert_eq!(
        labels["tags"], planned["tags"],
        "experiment.tags of {context}"
    );
}

#[test]
fn ab_experiments_run_offline_with_no_config_and_record_every_run() {
    let (sandbox, plugins) = with_plugins();
    for (experiment, label_a, label_b) in AB_LABELS {
        let out_name = format!("out-{experiment}");
        let output = run(&mut sandbox.experiments(
            &plugins,
            &[
                "run",
                experiment,
                "--runs",
                "3",
                "--seed",
                "1",
                "--json",
                "--output-root",
                &out_name,
            ],
        ));
        output.assert_code(0);
        let out = sandbox.path().join(&out_name);

        // The `--json` summary.
        let report = output.json();
        let report_context = format!("\n--- report\n{}{output}", pretty(&report));
        assert_eq!(report["ok"], true, "ok{report_context}");
        assert_eq!(
            report["output_root"],
            out.display().to_string(),
            "output_root{report_context}"
        );
        let execution = &report["execution"];
        assert_eq!(execution["attempted"], 6, "attempted{report_context}");
        assert_eq!(execution["failed"], 0, "failed{report_context}");
        assert_eq!(execution["analysis_failures"], 0, "{report_context}");
        assert_eq!(
            execution["skipped"],
            serde_json::json!([]),
            "{report_context}"
        );
        assert_eq!(execution["interrupted"], false, "{report_context}");
        for variant in ["A", "B"] {
            assert_eq!(
                report["results"][variant],
                serde_json::json!({"succeeded": 3, "failed": 0}),
                "results.{variant}{report_context}"
            );
        }
        let experiment_id = text(&report, "experiment_id", &output).to_owned();
        assert_eq!(experiment_id, experiment_id_of(&out), "{output}");

        // The plan, in plan order.
        let plan = read_json(&out.join("experiment_plan.json"));
        let planned: Vec<Value> = plan["planned_runs"]
            .as_array()
            .unwrap_or_else(|| panic!("no planned_runs:\n{}{output}", pretty(&plan)))
            .clone();
        assert_eq!(planned.len(), 6, "{}{output}", pretty(&plan));
        let ids: Vec<String> = planned
            .iter()
            .map(|run| text(run, "generation_id", &output).to_owned())
            .collect();
        let label_of = |variant: &str| if variant == "A" { label_a } else { label_b };

        // experiment_results.json: one success per planned run, in plan order, analysed.
        let document = read_json(&out.join("experiment_results.json"));
        let results = results_of(&out, &output);
        let result_ids: Vec<&str> = results
            .iter()
            .map(|entry| text(entry, "generation_id", &output))
            .collect();
        assert_eq!(result_ids, ids, "results in plan order{output}");
        for (entry, planned) in results.iter().zip(&planned) {
            let context = format!("\n--- result\n{}{output}", pretty(entry));
            let id = text(entry, "generation_id", &output);
            for key in ["variant", "variant_name", "run", "seed"] {
                assert_eq!(entry[key], planned[key], "{key}{context}");
            }
            assert_eq!(entry["status"], "success", "status{context}");
            assert!(entry["error"].is_null(), "error{context}");
            assert!(
                entry.get("analysis_error").is_none(),
                "analysis_error{context}"
            );
            for key in ["started_at", "finished_at"] {
                assert!(entry[key].is_string(), "{key}{context}");
            }
            assert!(entry["duration_s"].is_number(), "duration_s{context}");
            assert!(
                entry["outputs"]["prompt_pipeline"].is_object(),
                "outputs.prompt_pipeline{context}"
            );
            let final_prompt = text(entry, "final_prompt", &output);
            assert!(!final_prompt.trim().is_empty(), "final_prompt{context}");
            let prompt_file = out.join("logs").join(format!("{id}_final_prompt.txt"));
            let written = std::fs::read_to_string(&prompt_file).unwrap_or_else(|error| {
                panic!("read `{}`: {error}{context}", prompt_file.display())
            });
            assert_eq!(written.trim_end(), final_prompt.trim_end(), "{context}");
            assert!(
                out.join("logs").join(format!("{id}_oplog.log")).is_file(),
                "oplog{context}"
            );

            let analysis = &entry["analysis"];
            assert_eq!(
                analysis["final_prompt"]["ok"], true,
                "analysis.final_prompt.ok{context}"
            );
            assert_eq!(
                analysis["final_prompt"]["token_ok"], true,
                "analysis.final_prompt.token_ok{context}"
            );
            let scenespec_b =
                experiment == "ab_scenespec_json_intermediary" && entry["variant"] == "B";
            if scenespec_b {
                assert_eq!(
                    analysis["scenespec_json"]["ok"], true,
                    "analysis.scenespec_json.ok{context}"
                );
            } else {
                assert!(
                    analysis.get("scenespec_json").is_some_and(Value::is_null),
                    "analysis.scenespec_json is null{context}"
                );
            }

            // The run's transcript carries its labels.
            let transcript = read_json(&out.join("logs").join(format!("{id}_transcript.json")));
            let variant = text(planned, "variant", &output);
            check_labels(
                &transcript,
                "transcript",
                planned,
                &experiment_id,
                label_of(variant),
                &output,
            );
        }
        let summary_context = format!("\n--- document\n{}{output}", pretty(&document));
        for variant in ["A", "B"] {
            let stats = &document["summary"]["variants"][variant];
            assert_eq!(
                stats["runs"], 3,
                "summary.variants.{variant}.runs{summary_context}"
            );
            assert_eq!(
                stats["ok"], 3,
                "summary.variants.{variant}.ok{summary_context}"
            );
            for key in ["final_prompt_ok_rate", "token_ok_rate"] {
                assert_eq!(
                    stats[key].as_f64(),
                    Some(1.0),
                    "{variant}.{key}{summary_context}"
                );
            }
            assert!(stats["mean_word_counts"].is_object(), "{summary_context}");
            assert!(stats["cliche_count"].is_u64(), "{summary_context}");
        }
        assert_eq!(report["summary"], document["summary"], "{summary_context}");
        // The runner's metrics: per variant and paired, deterministic from the base seed.
        let metrics = &document["summary"]["metrics"];
        for variant in ["A", "B"] {
            let prompt_ok = &metrics["variants"][variant]["metrics"]["final_prompt_ok"];
            assert_eq!(prompt_ok["kind"], "rate", "{summary_context}");
            assert_eq!(prompt_ok["n"], 3, "{summary_context}");
            assert_eq!(prompt_ok["mean"].as_f64(), Some(1.0), "{summary_context}");
            assert!(
                prompt_ok["ci_low"].is_number() && prompt_ok["ci_high"].is_number(),
                "{summary_context}"
            );
        }
        let paired = &metrics["paired"];
        assert_eq!(
            (&paired["a"], &paired["b"]),
            (&serde_json::json!("A"), &serde_json::json!("B"))
        );
        assert_eq!(
            paired["metrics"]["final_prompt_ok"]["winner"],
            Value::Null,
            "equal rates name no winner{summary_context}"
        );
        assert_eq!(
            paired["metrics"]["final_prompt_chars"]["n_pairs"], 3,
            "{summary_context}"
        );
        assert_eq!(
            report["failures"],
            serde_json::json!([]),
            "{report_context}"
        );
        assert_eq!(report["summary_error"], Value::Null, "{report_context}");

        // results.jsonl: one line per run.
        let lines = read_jsonl(&out.join("results.jsonl"), &output);
        let line_ids: BTreeSet<&str> = lines
            .iter()
            .map(|line| text(line, "generation_id", &output))
            .collect();
        assert_eq!(lines.len(), 6, "{output}");
        assert_eq!(
            line_ids,
            ids.iter().map(String::as_str).collect(),
            "{output}"
        );

        // pairs.json: three pairs, no errors.
        let pairs = read_json(&out.join("pairs.json"));
        let pairs_context = format!("\n--- pairs.json\n{}{output}", pretty(&pairs));
        assert_eq!(
            pairs["experiment_id"],
            experiment_id.as_str(),
            "{pairs_context}"
        );
        let entries = pairs["pairs"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 3, "{pairs_context}");
        for (index, pair) in entries.iter().enumerate() {
            assert_eq!(pair["run_index"], index + 1, "{pairs_context}");
            assert_eq!(
                pair["a_generation_id"],
                ids[2 * index].as_str(),
                "{pairs_context}"
            );
            assert_eq!(
                pair["b_generation_id"],
                ids[2 * index + 1].as_str(),
                "{pairs_context}"
            );
            for key in ["a_error", "b_error"] {
                assert!(
                    pair.get(key).is_none_or(Value::is_null),
                    "{key}{pairs_context}"
                );
            }
        }

        // runs_index.jsonl: one line per run, labelled.
        let index = read_jsonl(&out.join("logs/runs_index.jsonl"), &output);
        assert_eq!(index.len(), 6, "{output}");
        let mut seen = BTreeSet::new();
        for line in &index {
            let id = text(line, "generation_id", &output);
            assert!(seen.insert(id.to_owned()), "`{id}` indexed twice{output}");
            let planned = planned
                .iter()
                .find(|run| run["generation_id"] == id)
                .unwrap_or_else(|| panic!("`{id}` is not planned{output}"));
            assert_eq!(line["status"], "success", "{}{output}", pretty(line));
            let variant = text(planned, "variant", &output);
            check_labels(
                line,
                "index line",
                planned,
                &experiment_id,
                label_of(variant),
                &output,
            );
        }
    }
}

/// Drops the keys whose values are timestamps or durations and replaces `root` in every string.
fn normalise(value: &mut Value, root: &str, volatile: &[&str]) {
    match value {
        Value::Object(map) => {
            for key in volatile {
                map.remove(*key);
            }
            for child in map.values_mut() {
                normalise(child, root, volatile);
            }
        }
        Value::Array(items) => {
            for item in items {
                normalise(item, root, volatile);
            }
        }
        Value::String(text) => *text = text.replace(root, "<ROOT>"),
        _ => {}
    }
}

#[test]
fn jobs_never_change_what_a_seed_produces() {
    let (sandbox, plugins) = with_plugins();
    let experiment = "ab_scenespec_json_intermediary";
    let mut roots = Vec::new();
    for jobs in ["1", "4"] {
        let out_name = format!("out-jobs-{jobs}");
        let output = run(&mut sandbox.experiments(
            &plugins,
            &[
                "run",
                experiment,
                "--runs",
                "3",
                "--seed",
                "1",
                "--jobs",
                jobs,
                "--experiment-id",
                "same_id",
                "--output-root",
                &out_name,
            ],
        ));
        output.assert_code(0);
        roots.push((sandbox.path().join(out_name), output));
    }
    let (out1, output1) = &roots[0];
    let (out4, output4) = &roots[1];
    let both = format!("{output1}{output4}");

    let results = |out: &Path| {
        let mut document = read_json(&out.join("experiment_results.json"));
        normalise(
            &mut document,
            &out.display().to_string(),
            &["started_at", "finished_at", "duration_s", "updated_at"],
        );
        document["results"].clone()
    };
    let (results1, results4) = (results(out1), results(out4));
    assert_eq!(results1.as_array().map(Vec::len), Some(6), "{both}");
    assert_eq!(
        results1,
        results4,
        "--jobs 1 and --jobs 4 give different results\n--- jobs 1\n{}\n--- jobs 4\n{}{both}",
        pretty(&results1),
        pretty(&results4)
    );

    let ids = planned_ids(out1, &both);
    assert_eq!(ids, planned_ids(out4, &both), "{both}");
    for id in &ids {
        let transcript = |out: &Path| {
            let mut transcript = read_json(&out.join("logs").join(format!("{id}_transcript.json")));
            normalise(&mut transcript, &out.display().to_string(), &["created_at"]);
            transcript
        };
        let (transcript1, transcript4) = (transcript(out1), transcript(out4));
        assert_eq!(
            transcript1,
            transcript4,
            "transcripts of `{id}` differ\n--- jobs 1\n{}\n--- jobs 4\n{}{both}",
            pretty(&transcript1),
            pretty(&transcript4)
        );
    }
}

/// `--json` execution block of a report, for assertions.
fn execution_of(output: &Run) -> Value {
    let report = output.json();
    assert!(
        report["execution"].is_object(),
        "no execution block{output}"
    );
    report["execution"].clone()
}

/// Checks that `error` is a `PluginPanic` of `fault_panic` in `hook`.
fn assert_plugin_panic(error: &Value, hook: &str, context: &str) {
    assert_eq!(error["type"], "PluginPanic", "error.type{context}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`fault_panic`") && message.contains(&format!("`{hook}`")),
        "the message names the plugin and the hook `{hook}`{context}"
    );
}

#[test]
fn a_panic_in_run_with_continue_on_error_records_every_run_as_an_error() {
    // `--panic-in run` applies to every run of the fixture (its flag is per experiment, not per
    // run), so every run fails; what matters is that each is recorded and the host survives.
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_PANIC,
            "--panic-in",
            "run",
            "--continue-on-error",
            "--seed",
            "1",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    // Exactly 1: a signal (an abort through the FFI) would be `None`.
    output.assert_code(1);
    let out = sandbox.path().join("out");
    let ids = planned_ids(&out, &output);
    assert_eq!(ids.len(), 2, "the fixture plans two runs{output}");

    let execution = execution_of(&output);
    let context = format!("\n--- execution\n{}{output}", pretty(&execution));
    assert_eq!(execution["attempted"], 2, "{context}");
    assert_eq!(execution["failed"], 2, "{context}");
    assert_eq!(execution["skipped"], serde_json::json!([]), "{context}");
    assert_eq!(
        output.json()["results"]["A"],
        serde_json::json!({"succeeded": 0, "failed": 2}),
        "{output}"
    );

    let results = results_of(&out, &output);
    let result_ids: Vec<&str> = results
        .iter()
        .map(|entry| text(entry, "generation_id", &output))
        .collect();
    assert_eq!(result_ids, ids, "{output}");
    for entry in &results {
        let context = format!("\n--- result\n{}{output}", pretty(entry));
        assert_eq!(entry["status"], "error", "{context}");
        assert_plugin_panic(&entry["error"], "run", &context);
        assert!(
            entry.get("analysis").is_none(),
            "a failed run is not analysed{context}"
        );
    }
    let lines = read_jsonl(&out.join("results.jsonl"), &output);
    assert_eq!(lines.len(), 2, "{output}");
    // `--json` lists each failed run with the first line of its error.
    let failures = output.json()["failures"].clone();
    let failed_ids: Vec<&str> = failures
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|f| f["generation_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(failed_ids, ids, "{output}");
    for failure in failures.as_array().into_iter().flatten() {
        assert_eq!(failure["variant"], "A", "{output}");
        let reason = failure["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("`fault_panic`") && !reason.contains('\n'),
            "{output}"
        );
    }
}

#[test]
fn failed_runs_show_their_reason_in_progress_and_in_the_summary() {
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_PANIC,
            "--panic-in",
            "run",
            "--continue-on-error",
            "--seed",
            "1",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(1);
    let ids = planned_ids(&sandbox.path().join("out"), &output);
    // Progress (stderr is not a terminal): one line per run, the failure's reason after it.
    for id in &ids {
        assert!(
            output
                .stderr
                .lines()
                .any(|line| line.contains(&format!("{id} error ("))
                    && line.contains("): ")
                    && line.contains("`fault_panic`")),
            "no progress line with a reason for {id}{output}"
        );
    }
    // The summary: a "failed runs" block, one line per run with its reason; no raw JSON.
    let block: Vec<&str> = output
        .stdout
        .lines()
        .skip_while(|line| *line != "failed runs")
        .skip(1)
        .collect();
    assert_eq!(block.len(), ids.len(), "{output}");
    for (line, id) in block.iter().zip(&ids) {
        assert!(line.trim_start().starts_with(id.as_str()), "{output}");
        assert!(line.contains("`fault_panic`"), "{output}");
    }
    assert!(!output.stdout.contains("summary:"), "{output}");
}

#[test]
fn ab_text_summary_shows_the_metrics_table_and_paired_lines() {
    let (sandbox, plugins) = with_plugins();
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--runs",
            "2",
            "--seed",
            "3",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    let stdout = &output.stdout;
    let header = stdout
        .lines()
        .find(|line| line.starts_with("metric "))
        .unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["metric", "A", "B"],
        "{output}"
    );
    let prompt_ok = stdout
        .lines()
        .find(|line| line.starts_with("final prompt ok "))
        .unwrap_or_default();
    assert_eq!(
        prompt_ok
            .split("  ")
            .filter(|cell| !cell.trim().is_empty())
            .count(),
        3,
        "a label and `mean [lo, hi]` per variant{output}"
    );
    assert!(prompt_ok.contains("1.00 ["), "{output}");
    assert!(stdout.contains("B - A, paired (2 pairs"), "{output}");
    assert!(stdout.contains("no significant difference"), "{output}");
    assert!(!stdout.contains("failed runs"), "{output}");

    // The runner wrote report.html; `experiments report DIR` writes the same bytes again.
    let report = sandbox.path().join("out").join("report.html");
    let written = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(written.starts_with("<!DOCTYPE html>"), "{output}");
    assert!(
        written.contains("Paired difference B &minus; A"),
        "{output}"
    );
    std::fs::remove_file(&report).unwrap_or_default();
    let again = run(sandbox.cmd().args(["experiments", "report", "out"]));
    again.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(&report).unwrap_or_default(),
        written,
        "{again}"
    );
}

#[test]
fn matrix_summary_compares_the_sets_on_the_terminal_and_in_the_results() {
    let (sandbox, plugins) = with_plugins();
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "3x3",
            "--runs-per-set",
            "2",
            "--mode",
            "prompt_only",
            "--seed",
            "1",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    let row = |label: &str| -> Vec<String> {
        output
            .stdout
            .lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_default()
            .strip_prefix(label)
            .unwrap_or_default()
            .split("  ")
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
            .map(str::to_owned)
            .collect()
    };
    // Offline: A and B take 11 model requests each (hints, 8 idea cards, judge, final prompt), C 2.
    assert_eq!(
        row("chat steps "),
        [
            "11.00 [11.00, 11.00]",
            "11.00 [11.00, 11.00]",
            "2.00 [2.00, 2.00]"
        ],
        "{output}"
    );
    assert_eq!(row("selected idea score (0-100) ")[2], "-", "{output}");
    assert_eq!(
        row("final prompt diversity (mean Jaccard distance) ").len(),
        3,
        "{output}"
    );
    let document = read_json(&sandbox.path().join("out/experiment_results.json"));
    let summary = &document["summary"];
    for set in ["A", "B", "C"] {
        let figures = &summary["sets"][set];
        assert_eq!(figures["runs"], 2, "{}", pretty(summary));
        assert!(figures["diversity"].is_f64(), "{}", pretty(summary));
        assert_eq!(
            summary["variant_metrics"]["final_prompt_diversity"]["values"][set],
            figures["diversity"],
        );
    }
    let longest = summary["longest_set"].as_str().unwrap_or_default();
    let most_diverse = summary["most_diverse_set"].as_str().unwrap_or_default();
    assert!(
        output
            .stdout
            .contains(&format!("  longest set       {longest}\n")),
        "{output}"
    );
    assert!(
        output
            .stdout
            .contains(&format!("  most diverse set  {most_diverse}\n")),
        "{output}"
    );
    let a1 = &document["results"][0];
    assert_eq!(
        a1["analysis"]["metrics"]["chat_steps"],
        11,
        "{}",
        pretty(a1)
    );
    assert_eq!(
        a1["analysis"]["metrics"]["model_calls"],
        11,
        "{}",
        pretty(a1)
    );
    assert!(
        a1["analysis"]["selected_idea"].is_string(),
        "{}",
        pretty(a1)
    );
}

#[test]
fn a_panic_in_analyze_keeps_the_run_a_success_with_an_analysis_error() {
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_PANIC,
            "--panic-in",
            "analyze",
            "--seed",
            "1",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(1);
    let out = sandbox.path().join("out");
    let execution = execution_of(&output);
    let context = format!("\n--- execution\n{}{output}", pretty(&execution));
    assert_eq!(execution["attempted"], 2, "{context}");
    assert_eq!(execution["failed"], 0, "{context}");
    assert_eq!(execution["analysis_failures"], 2, "{context}");
    assert_eq!(output.json()["ok"], false, "{output}");

    let results = results_of(&out, &output);
    assert_eq!(results.len(), 2, "{output}");
    for entry in &results {
        let context = format!("\n--- result\n{}{output}", pretty(entry));
        assert_eq!(entry["status"], "success", "{context}");
        assert!(entry["error"].is_null(), "{context}");
        assert!(entry.get("analysis").is_none(), "{context}");
        assert_plugin_panic(&entry["analysis_error"], "analyze", &context);
    }
}

#[test]
fn without_continue_on_error_a_failed_run_stops_dispatch() {
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_PANIC,
            "--panic-in",
            "run",
            "--jobs",
            "1",
            "--seed",
            "1",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(1);
    let out = sandbox.path().join("out");
    let ids = planned_ids(&out, &output);
    assert_eq!(ids.len(), 2, "{output}");

    let execution = execution_of(&output);
    let context = format!("\n--- execution\n{}{output}", pretty(&execution));
    assert_eq!(execution["attempted"], 1, "{context}");
    assert_eq!(execution["failed"], 1, "{context}");
    assert_eq!(
        execution["skipped"],
        serde_json::json!([ids[1]]),
        "{context}"
    );
    assert_eq!(execution["interrupted"], false, "{context}");

    let results = results_of(&out, &output);
    assert_eq!(results.len(), 1, "exactly one result{output}");
    assert_eq!(results[0]["generation_id"], ids[0].as_str(), "{output}");
    assert_plugin_panic(&results[0]["error"], "run", &format!("{output}"));
    assert_eq!(
        read_jsonl(&out.join("results.jsonl"), &output).len(),
        1,
        "{output}"
    );
}

/// A loopback HTTP server answering every request with one canned answer (by default HTTP 500
/// with `Retry-After: 0`, so a retry does not wait), each connection on a thread of its own,
/// counting requests and keeping their bodies.
pub struct Stub {
    pub base_url: String,
    pub requests: Arc<AtomicUsize>,
    /// The body of every request read, in the order they arrived.
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    fn start() -> Stub {
        Stub::answering(answer_500)
    }

    pub fn answering(answer: fn(TcpStream)) -> Stub {
        Stub::numbering(move |stream, _| answer(stream))
    }

    /// A stub whose `answer` also gets the request's number (0 for the first).
    pub fn numbering(answer: impl Fn(TcpStream, usize) + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("an address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let kept = Arc::clone(&bodies);
        let answer = Arc::new(answer);
        // Detached: it ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                let kept = Arc::clone(&kept);
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    if let Some(body) = read_request(&stream) {
                        kept.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(String::from_utf8_lossy(&body).into_owned());
                        answer(stream, seen.fetch_add(1, Ordering::SeqCst));
                    }
                });
            }
        });
        Stub {
            base_url,
            requests,
            bodies,
        }
    }

    /// The bodies of the requests read so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request (head and body) so the client sees an answer, not a reset.
/// Reads one HTTP request; its body, or `None` when it did not arrive whole.
fn read_request(stream: &TcpStream) -> Option<Vec<u8>> {
    // A bound on a misbehaving client, not a timing assertion.
    if stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .is_err()
    {
        return None;
    }
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() && !first {
            break;
        }
        first = false;
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok().map(|()| body)
}

fn answer_500(stream: TcpStream) {
    let body = r#"{"error":{"message":"stub: internal error","type":"server_error"}}"#;
    answer_with(stream, "500 Internal Server Error\r\nRetry-After: 0", body);
}

fn answer_401(stream: TcpStream) {
    let body = r#"{"error":{"message":"stub: invalid api key","type":"invalid_request_error"}}"#;
    answer_with(stream, "401 Unauthorized", body);
}

/// Writes `HTTP/1.1 <status and extra header lines>` with a JSON `body`, then closes.
pub fn answer_with(mut stream: TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_run_failing_in_the_pipeline_stops_dispatch_and_marks_pairs() {
    let stub = Stub::start();
    let (sandbox, plugins) = with_plugins();
    let var = "IMAGE_PROJECT_E2E_EXECUTE_STUB_KEY";
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let key_env = format!("backend.text.api_key_env=\"{var}\"");
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "ab_refinement_block",
                "--runs",
                "2",
                "--jobs",
                "1",
                "--seed",
                "1",
                "--set",
                "backend.text.provider=\"openai\"",
                "--set",
                &base_url,
                "--set",
                "backend.text.max_retries=0",
                "--set",
                &key_env,
                "--json",
                "--output-root",
                "out",
            ],
        )
        .env(var, "sk-e2e-execute-stub"));
    output.assert_code(1);
    let out = sandbox.path().join("out");
    let ids = planned_ids(&out, &output);
    assert_eq!(ids.len(), 4, "{output}");
    assert_eq!(
        stub.requests.load(Ordering::SeqCst),
        1,
        "one model call: the first run fails at its first chat step, nothing else runs{output}"
    );

    let execution = execution_of(&output);
    let context = format!("\n--- execution\n{}{output}", pretty(&execution));
    assert_eq!(execution["attempted"], 1, "{context}");
    assert_eq!(execution["failed"], 1, "{context}");
    assert_eq!(
        execution["skipped"],
        serde_json::json!(ids[1..]),
        "{context}"
    );

    let results = results_of(&out, &output);
    assert_eq!(results.len(), 1, "{output}");
    let first = &results[0];
    let result_context = format!("\n--- result\n{}{output}", pretty(first));
    assert_eq!(first["generation_id"], ids[0].as_str(), "{result_context}");
    assert_eq!(first["status"], "error", "{result_context}");
    let error = &first["error"];
    assert!(
        error["type"].as_str().is_some_and(|kind| !kind.is_empty()),
        "error.type{result_context}"
    );
    assert_eq!(error["phase"], "pipeline", "error.phase{result_context}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| message.contains("500")),
        "error.message names the HTTP status{result_context}"
    );

    let pairs = read_json(&out.join("pairs.json"));
    let pairs_context = format!("\n--- pairs.json\n{}{output}", pretty(&pairs));
    let entries = pairs["pairs"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{pairs_context}");
    assert_eq!(
        entries[0]["a_generation_id"],
        ids[0].as_str(),
        "{pairs_context}"
    );
    assert_eq!(
        entries[0]["a_error"], *error,
        "pair 1 a_error is the run's error{pairs_context}"
    );
    for (pair, side) in [(0, "b_error"), (1, "a_error"), (1, "b_error")] {
        assert_eq!(
            entries[pair][side]["type"],
            "Skipped",
            "pair {} {side}{pairs_context}",
            pair + 1
        );
    }
}

#[test]
fn every_http_retry_is_a_line_of_the_experiment_log() {
    let stub = Stub::start();
    let (sandbox, plugins) = with_plugins();
    let var = "IMAGE_PROJECT_E2E_EXECUTE_RETRY_KEY";
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let key_env = format!("backend.text.api_key_env=\"{var}\"");
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "ab_refinement_block",
                "--runs",
                "1",
                "--jobs",
                "1",
                "--seed",
                "1",
                "--set",
                "backend.text.provider=\"openai\"",
                "--set",
                &base_url,
                "--set",
                "backend.text.max_retries=1",
                "--set",
                &key_env,
                "--output-root",
                "out",
            ],
        )
        .env(var, "sk-e2e-execute-retry"));
    output.assert_code(1);
    assert_eq!(
        stub.requests.load(Ordering::SeqCst),
        2,
        "the first chat step is tried twice, then the run fails{output}"
    );
    let out = sandbox.path().join("out");
    let ids = planned_ids(&out, &output);
    let log = std::fs::read_to_string(out.join("experiment.log")).unwrap_or_default();
    let retries: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("retrying in"))
        .collect();
    let expected = format!(
        " | WARN | text backend `{}`: run `{}` step `pipeline/ab.scene_draft/draft`: attempt 1 of 2 failed (HTTP 500); retrying in 0.00 s",
        stub.base_url, ids[0]
    );
    assert_eq!(
        retries.len(),
        1,
        "one retry, one line\n--- experiment.log\n{log}{output}"
    );
    assert!(
        retries[0].ends_with(&expected),
        "expected a line ending in\n{expected}\n--- experiment.log\n{log}{output}"
    );
}

/// Issue 9: against a server refusing the key, the reason of every failed run is on the console
/// (progress lines and the text summary's failed runs), in `experiment.log` and in `--json`.
#[test]
fn http_401_reasons_reach_the_console_the_log_and_json() {
    let stub = Stub::answering(answer_401);
    let (sandbox, plugins) = with_plugins();
    let var = "IMAGE_PROJECT_E2E_EXECUTE_401_KEY";
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let key_env = format!("backend.text.api_key_env=\"{var}\"");
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "ab_scenespec_json_intermediary",
                "--runs",
                "2",
                "--seed",
                "1",
                "--continue-on-error",
                "--set",
                "backend.text.provider=\"openai\"",
                "--set",
                &base_url,
                "--set",
                &key_env,
                "--json",
                "--output-root",
                "out",
            ],
        )
        .env(var, "sk-e2e-execute-401"));
    output.assert_code(1);
    let out = sandbox.path().join("out");
    let ids = planned_ids(&out, &output);
    assert_eq!(ids.len(), 4, "{output}");
    let reason = "answered HTTP 401 after 1 attempt: stub: invalid api key";
    let log = std::fs::read_to_string(out.join("experiment.log")).unwrap_or_default();
    let failures = output.json()["failures"].clone();
    let context = format!(
        "\n--- failures\n{}\n--- experiment.log\n{log}{output}",
        pretty(&failures)
    );
    assert_eq!(failures.as_array().map(Vec::len), Some(4), "{context}");
    // `--json` keeps stderr quiet (no progress lines): the reasons are in the document.
    for id in &ids {
        assert!(
            log.lines().any(|line| line.contains(" | ERROR | ")
                && line.contains(&format!("finished `{id}`: error in "))
                && line.ends_with(reason)),
            "no log line with the reason for {id}{context}"
        );
        let failure = failures
            .as_array()
            .and_then(|all| all.iter().find(|f| f["generation_id"] == id.as_str()));
        let failure = failure.unwrap_or_else(|| panic!("no failure for {id}{context}"));
        assert_eq!(failure["variant"], &id[..1], "{context}");
        assert!(
            failure["reason"]
                .as_str()
                .is_some_and(|text| text.ends_with(reason)),
            "{context}"
        );
    }

    // The text output of the same experiment (resumed: the failed runs run again): a progress
    // line per run and the failed-runs block, each with the reason.
    let again = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "ab_scenespec_json_intermediary",
                "--resume",
                "--continue-on-error",
                "--output-root",
                "out",
            ],
        )
        .env(var, "sk-e2e-execute-401"));
    again.assert_code(1);
    for id in &ids {
        assert!(
            again
                .stderr
                .lines()
                .any(|line| line.contains(&format!("{id} error ("))
                    && line.contains("answered HTTP 401")),
            "no progress line with the reason for {id}{again}"
        );
    }
    let block: Vec<&str> = again
        .stdout
        .lines()
        .skip_while(|line| *line != "failed runs")
        .skip(1)
        .collect();
    assert_eq!(block.len(), 4, "{again}");
    for line in block {
        assert!(line.ends_with(reason), "{again}");
    }
}

//! The host services a plugin's analysis and artifacts rely on, through the real binary and the
//! `context_artifacts` fixture: `analysis_context` (what the summary reads matches the plan
//! files, also when resumed), `run_transcript` (the run's transcript in `analyze`; a missing
//! one is an analysis error naming its path), and `write_artifact` (files
//! under `plugin/`, recorded in `results.jsonl` and `experiment_results.json`, listed by the
//! artifacts index, linked from `report.html`); and the refusals of each rule (bad names, an
//! oversize artifact, a call from the wrong hook), which write nothing outside `plugin/`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::execute::{read_jsonl, results_of};
use crate::util::{pretty, read_json, run, with_fixture, Run, Sandbox, CONTEXT_ARTIFACTS};

/// The experiment id every run here uses, under the sandbox's `_artifacts` store.
const ID: &str = "ctx";

/// `experiments run context_artifacts --seed 7 --json --runs 2 --label bold` (then `extra`)
/// into `_artifacts/experiments/ctx`, with `CONTEXT_ARTIFACTS=<rule>` when given; returns the
/// output, the experiment directory and the sandbox (alive while they are read).
fn run_fixture(rule: Option<&str>, extra: &[&str]) -> (Run, PathBuf, Sandbox) {
    let (sandbox, plugins) = with_fixture(CONTEXT_ARTIFACTS);
    let mut args = vec![
        "run",
        CONTEXT_ARTIFACTS,
        "--seed",
        "7",
        "--json",
        "--experiment-id",
        ID,
        "--runs",
        "2",
        "--label",
        "bold",
    ];
    args.extend(extra);
    let mut cmd = sandbox.experiments(&plugins, &args);
    if let Some(rule) = rule {
        cmd.env("CONTEXT_ARTIFACTS", rule);
    }
    let output = run(&mut cmd);
    let out = sandbox.path().join("_artifacts/experiments").join(ID);
    (output, out, sandbox)
}

/// Every file below `dir`, relative to it, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    fn visit(root: &Path, dir: &Path, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                visit(root, &path, found);
            } else if let Ok(relative) = path.strip_prefix(root) {
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut found = Vec::new();
    visit(dir, dir, &mut found);
    found.sort();
    found
}

#[test]
fn artifacts_are_written_recorded_indexed_and_linked_and_the_context_matches_the_plan() {
    // Four workers: the runs write their artifacts at the same time.
    let (output, out, sandbox) = run_fixture(None, &["--jobs", "4"]);
    output.assert_code(0);
    let plan = read_json(&out.join("experiment_plan.json"));
    let planned = plan["planned_runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(planned.len(), 4, "{output}");

    // Each run's artifact: written twice, the later text kept, recorded once.
    let log = read_jsonl(&out.join("results.jsonl"), &output);
    assert_eq!(log.len(), 4, "{output}");
    for entry in &log {
        let id = entry["generation_id"].as_str().unwrap_or_default();
        let recorded = format!("plugin/runs/{id}.txt");
        let context = format!("\n--- entry\n{}{output}", pretty(entry));
        assert_eq!(
            entry["plugin_artifacts"],
            serde_json::json!([recorded]),
            "{context}"
        );
        let text = std::fs::read_to_string(out.join(&recorded)).unwrap_or_default();
        assert_eq!(text, format!("run {id} of 4 planned runs\n"), "{context}");
        // The run's analysis read its own transcript.
        assert_eq!(
            entry["analysis"]["transcript_generation_id"], id,
            "{context}"
        );
        assert!(
            entry["analysis"]["transcript_steps"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "{context}"
        );
    }
    // `experiment_results.json` keeps them in plan order, `results.jsonl` in finishing order.
    let recorded = |entries: &[Value]| {
        let mut lists: Vec<String> = entries
            .iter()
            .map(|entry| entry["plugin_artifacts"].to_string())
            .collect();
        lists.sort();
        lists
    };
    assert_eq!(
        recorded(&results_of(&out, &output)),
        recorded(&log),
        "{output}"
    );

    // The summary's artifact and what it read of the context.
    let results = read_json(&out.join("experiment_results.json"));
    assert_eq!(
        results["plugin_artifacts"],
        serde_json::json!(["plugin/summary/runs.csv"]),
        "{output}"
    );
    let mut expected_csv = String::from("variant,run,generation_id,transcript\n");
    for run in &planned {
        let id = run["generation_id"].as_str().unwrap_or_default();
        expected_csv.push_str(&format!(
            "{},{},{id},logs/{id}_transcript.json\n",
            run["variant"].as_str().unwrap_or_default(),
            run["run"]
        ));
    }
    let csv = std::fs::read_to_string(out.join("plugin/summary/runs.csv")).unwrap_or_default();
    assert_eq!(csv, expected_csv, "{output}");
    for run in &planned {
        let id = run["generation_id"].as_str().unwrap_or_default();
        assert!(
            out.join(format!("logs/{id}_transcript.json")).is_file(),
            "{output}"
        );
    }
    let context = &results["summary"]["context"];
    let shown = format!("\n--- context\n{}{output}", pretty(context));
    for (field, recorded) in [
        ("experiment_name", "experiment_name"),
        ("experiment_id", "experiment_id"),
        ("run_mode", "run_mode"),
        ("base_seed", "base_seed"),
        ("args", "experiment_args"),
        ("experiment_meta", "experiment_meta"),
        ("pairing", "pairing"),
    ] {
        assert_eq!(context[field], plan[recorded], "`{field}`{shown}");
    }
    assert_eq!(context["args"]["label"], "bold", "{shown}");
    assert_eq!(context["runs"], 4, "{shown}");
    let canonical = out.canonicalize().unwrap_or_default();
    assert_eq!(
        context["experiment_dir"],
        canonical.display().to_string(),
        "{shown}"
    );
    assert_eq!(
        context["run_meta"],
        Value::Array(
            planned
                .iter()
                .map(|run| serde_json::json!({"arm": run["arm"], "index": run["index"]}))
                .collect()
        ),
        "{shown}"
    );
    let pairs = read_json(&out.join("pairs.json"));
    let pairs = pairs["pairs"].as_array().cloned().unwrap_or_default();
    let context_pairs = context["pairs"].as_array().cloned().unwrap_or_default();
    assert_eq!(context_pairs.len(), pairs.len(), "{shown}");
    for (mine, stored) in context_pairs.iter().zip(&pairs) {
        for field in ["run_index", "a_generation_id", "b_generation_id"] {
            assert_eq!(mine[field], stored[field], "{field}{shown}");
        }
        assert_eq!(mine["treatment"], "B", "{shown}");
    }
    let first = planned.first().cloned().unwrap_or_default();
    let id = first["generation_id"].as_str().unwrap_or_default();
    assert_eq!(
        context["run_artifacts"],
        serde_json::json!({
            "transcript": format!("logs/{id}_transcript.json"),
            "oplog": format!("logs/{id}_oplog.log"),
            "final_prompt": format!("logs/{id}_final_prompt.txt"),
            "image": format!("generated/{id}_image.png"),
        }),
        "{shown}"
    );

    // Listed by the index refreshed after the experiment, linked from the report.
    let index = read_json(
        &sandbox
            .path()
            .join("_artifacts/index/experiments_index.json"),
    );
    let experiment = index["experiments"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["experiment_id"] == ID))
        .cloned()
        .unwrap_or_default();
    let listed: Vec<(String, String)> = experiment["plugin_artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|file| {
            (
                file["path"].as_str().unwrap_or_default().to_owned(),
                file["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String)> = log
        .iter()
        .map(|entry| {
            let id = entry["generation_id"].as_str().unwrap_or_default();
            format!("_artifacts/experiments/{ID}/plugin/runs/{id}.txt")
        })
        .chain([format!(
            "_artifacts/experiments/{ID}/plugin/summary/runs.csv"
        )])
        .map(|path| (path, "plugin_artifact".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(
        listed,
        expected,
        "\n--- index\n{}{output}",
        pretty(&experiment)
    );
    let page = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    assert!(page.contains("Plugin artifacts (5)"), "{output}");
    assert!(
        page.contains("<a href=\"plugin/summary/runs.csv\">plugin/summary/runs.csv</a>"),
        "{output}"
    );
    assert!(
        page.contains(&format!("<a href=\"plugin/runs/{id}.txt\">")),
        "{output}"
    );
}

/// Runs with `CONTEXT_ARTIFACTS=<rule>`: every run fails with an error holding all of `needles`,
/// and nothing is written under the experiment's `plugin/` nor outside the store.
fn assert_refused(rule: &str, needles: &[&str]) {
    let (output, out, sandbox) = run_fixture(Some(rule), &[]);
    output.assert_code(1);
    let log = read_jsonl(&out.join("results.jsonl"), &output);
    assert!(!log.is_empty(), "{output}");
    for entry in &log {
        let context = format!("\n--- entry\n{}{output}", pretty(entry));
        assert_eq!(entry["status"], "error", "{context}");
        let message = entry["error"]["message"].as_str().unwrap_or_default();
        for needle in needles {
            assert!(message.contains(needle), "`{needle}` missing{context}");
        }
        assert!(entry.get("plugin_artifacts").is_none(), "{context}");
    }
    assert_eq!(
        files_below(&out.join("plugin")),
        Vec::<String>::new(),
        "{output}"
    );
    let outside: Vec<String> = files_below(&sandbox.path())
        .into_iter()
        .filter(|path| !path.starts_with("_artifacts/") && !path.starts_with("plugin-dir/"))
        .collect();
    assert_eq!(outside, Vec::<String>::new(), "{output}");
}

#[test]
fn artifact_names_that_would_leave_or_hide_in_plugin_are_refused() {
    for name in ["../x", "a//b", ".hidden"] {
        assert_refused(
            &format!("name:{name}"),
            &[
                "`write_artifact` refused",
                &format!("artifact name `{name}`"),
            ],
        );
    }
}

#[test]
fn an_artifact_over_the_limit_is_refused() {
    let limit = plugin_api::services::MAX_ARTIFACT_BYTES;
    assert_refused(
        "oversize",
        &["`write_artifact` refused", &format!("the limit is {limit}")],
    );
}

#[test]
fn the_transcript_is_refused_in_the_run_hook_naming_the_rule() {
    assert_refused(
        "transcript-in-run",
        &[
            "`run_transcript` may be called from the `analyze` hook of a run",
            "came from `run`",
        ],
    );
}

#[test]
fn the_context_is_refused_in_plan_naming_the_rule() {
    let (output, out, _sandbox) = run_fixture(Some("context-in-plan"), &[]);
    output.assert_code(2);
    output.assert_stderr_has(&[
        "`analysis_context` may be called from the `run` and `analyze` hooks",
        "came from `plan`",
    ]);
    assert!(
        !out.exists(),
        "a plan error writes no experiment directory{output}"
    );
}

#[test]
fn a_resumed_experiment_s_context_is_the_stored_plan_s() {
    let (planned, out, sandbox) = run_fixture(None, &["--dry-run"]);
    planned.assert_code(0);
    let plugins = sandbox.path().join("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            CONTEXT_ARTIFACTS,
            "--resume",
            "--json",
            "--output-root",
            &out.display().to_string(),
        ],
    ));
    output.assert_code(0);
    let plan = read_json(&out.join("experiment_plan.json"));
    let context = read_json(&out.join("experiment_results.json"))["summary"]["context"].clone();
    let shown = format!("\n--- context\n{}{output}", pretty(&context));
    assert_eq!(context["args"], plan["experiment_args"], "{shown}");
    assert_eq!(context["args"]["label"], "bold", "{shown}");
    assert_eq!(
        context["experiment_meta"], plan["experiment_meta"],
        "{shown}"
    );
    assert_eq!(context["pairing"], plan["pairing"], "{shown}");
    assert_eq!(context["runs"], 4, "{shown}");
}

#[test]
fn a_missing_transcript_fails_the_analysis_naming_its_path() {
    let (output, out, _sandbox) = run_fixture(Some("no-pipeline"), &[]);
    output.assert_code(1);
    let log = read_jsonl(&out.join("results.jsonl"), &output);
    assert_eq!(log.len(), 4, "{output}");
    for entry in &log {
        let id = entry["generation_id"].as_str().unwrap_or_default();
        let context = format!("\n--- entry\n{}{output}", pretty(entry));
        assert_eq!(entry["status"], "success", "{context}");
        let message = entry["analysis_error"]["message"]
            .as_str()
            .unwrap_or_default();
        let path = out.join(format!("logs/{id}_transcript.json"));
        assert!(
            message.contains(&format!("cannot read the transcript `{}`", path.display())),
            "{context}"
        );
    }
}

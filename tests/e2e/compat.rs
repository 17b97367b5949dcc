//! plugin-api compatibility (DESIGN §3: growth by name and optional fields, never by layout).
//! `legacy_v1_0`, a real experiment built against plugin-api 1.0.0's own sources, must load,
//! list, describe and run offline under this host as under a 1.0 host. `api_v1_1` uses what 1.1
//! added to descriptors: its `float`, required and ranged flags are checked by the host before
//! `plan` (exit 2 naming the flag), `describe` and `--help` show them, and asking for an interface
//! minor this host does not speak refuses the plugin at load time in one line.

use std::path::Path;

use serde_json::Value;

use crate::execute::{read_jsonl, results_of};
use crate::util::{
    full_plan_runs, pretty, read_json, run, with_fixture, Run, Sandbox, API_V1_1,
    INTERFACE_VERSION, LEGACY_V1_0,
};

/// The one entry of `list --json`'s `experiments`, asserting there is exactly one and no error.
fn listed_alone(output: &Run) -> Value {
    let document = output.json();
    assert_eq!(document["errors"], serde_json::json!([]), "{output}");
    let experiments = document["experiments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(experiments.len(), 1, "{output}");
    experiments[0].clone()
}

#[test]
fn a_plugin_built_against_1_0_0_lists_and_describes_as_before() {
    let (sandbox, plugins) = with_fixture(LEGACY_V1_0);
    let output = run(&mut sandbox.experiments(&plugins, &["list", "--json"]));
    output.assert_code(0);
    let listed = listed_alone(&output);
    assert_eq!(listed["name"], LEGACY_V1_0, "{output}");
    assert_eq!(listed["interface_version"], "1.0.0", "{output}");
    assert_eq!(listed["panic_strategy"], "unwind", "{output}");
    assert_eq!(listed["warnings"], serde_json::json!([]), "{output}");

    let output = run(&mut sandbox.experiments(&plugins, &["describe", LEGACY_V1_0, "--json"]));
    output.assert_code(0);
    let described = output.json();
    let args = described["args"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = args.iter().filter_map(|arg| arg["name"].as_str()).collect();
    assert_eq!(names, ["runs", "order"], "{output}");
    assert_eq!(args[0]["kind"], "int", "{output}");
    assert_eq!(args[0]["default"], 2, "{output}");
    assert_eq!(
        args[1]["choices"],
        serde_json::json!(["ab", "ba"]),
        "{output}"
    );
    // The fields 1.1 added read as their defaults from a 1.0 descriptor.
    for arg in &args {
        assert_eq!(arg["required"], false, "{output}");
        assert_eq!(arg["min"], Value::Null, "{output}");
        assert_eq!(arg["choice_help"], serde_json::json!({}), "{output}");
    }
    assert_eq!(described["requires_interface"], Value::Null, "{output}");

    let output = run(&mut sandbox.experiments(&plugins, &["describe", LEGACY_V1_0]));
    output.assert_code(0);
    for needle in [
        "interface version: 1.0.0",
        "--runs (int, default 2)",
        "--order (choice",
    ] {
        assert!(output.stdout.contains(needle), "{needle:?} missing{output}");
    }
}

/// Runs `legacy_v1_0` offline with seed 11 into `out`; returns the finished command.
fn run_legacy(sandbox: &Sandbox, plugins: &Path, out: &str) -> Run {
    run(&mut sandbox.experiments(
        plugins,
        &["run", LEGACY_V1_0, "--seed", "11", "--output-root", out],
    ))
}

#[test]
fn a_plugin_built_against_1_0_0_runs_offline_with_its_plan_run_hook_and_analyses() {
    let (sandbox, plugins) = with_fixture(LEGACY_V1_0);
    let output = run_legacy(&sandbox, &plugins, "out");
    output.assert_code(0);
    let out = sandbox.path().join("out");

    // The plan: two pairs of A and B, the pairing, the plugin's own meta and its 1.0.0 record.
    let plan = read_json(&out.join("experiment_plan.json"));
    assert_eq!(plan["plugin"]["interface_version"], "1.0.0", "{output}");
    assert_eq!(
        plan["experiment_meta"]["built_against"], "1.0.0",
        "{output}"
    );
    let runs = full_plan_runs(&out);
    let labels: Vec<String> = runs
        .iter()
        .map(|run| format!("{}{}", run["variant"].as_str().unwrap_or("?"), run["run"]))
        .collect();
    assert_eq!(labels, ["A1", "B1", "A2", "B2"], "{output}");
    for run in &runs {
        let sequence = run["config"]["prompt"]["stages"]["sequence"].to_string();
        let with_block = sequence.contains("ab.scene_refine_with_block");
        assert_eq!(with_block, run["variant"] == "B", "{}{output}", pretty(run));
    }
    let pairs = read_json(&out.join("pairs.json"));
    assert!(!pairs.is_null(), "{output}");

    // Every run went through `run_pipeline` (the plugin's own `run`, which logs a line) and was
    // analysed with the outcome the host returned to it.
    let results = results_of(&out, &output);
    assert_eq!(results.len(), 4, "{output}");
    for result in &results {
        assert_eq!(result["status"], "success", "{}{output}", pretty(result));
        let prompt = result["final_prompt"].as_str().unwrap_or_default();
        let words = prompt.split_whitespace().count();
        assert!(words > 0, "{}{output}", pretty(result));
        assert_eq!(
            result["analysis"]["metrics"]["prompt_words"],
            words,
            "{}{output}",
            pretty(result)
        );
    }
    let log = std::fs::read_to_string(out.join("experiment.log")).unwrap_or_default();
    assert_eq!(log.matches("legacy_v1_0 runs ").count(), 4, "{log}{output}");

    // The summary analysis, and the runner's metrics from the run analyses.
    let summary = &read_json(&out.join("experiment_results.json"))["summary"];
    assert_eq!(summary["analysed_runs"], 4, "{}{output}", pretty(summary));
    let mean = |variant: &str| {
        summary["metrics"]["variants"][variant]["metrics"]["prompt_words"]["mean"]
            .as_f64()
            .unwrap_or_else(|| panic!("no mean for {variant}:\n{}{output}", pretty(summary)))
    };
    let longer = if mean("B") > mean("A") { "B" } else { "A" };
    assert_eq!(
        summary["longer_prompts"],
        longer,
        "{}{output}",
        pretty(summary)
    );
    assert_eq!(
        summary["metrics"]["paired"]["metrics"]["prompt_words"]["n_pairs"],
        2,
        "{}{output}",
        pretty(summary)
    );
    let lines = read_jsonl(&out.join("results.jsonl"), &output);
    assert_eq!(lines.len(), 4, "{output}");

    // The same seed gives the same prompts again.
    let again = run_legacy(&sandbox, &plugins, "again");
    again.assert_code(0);
    let prompts = |dir: &str, output: &Run| -> Vec<Value> {
        results_of(&sandbox.path().join(dir), output)
            .iter()
            .map(|result| result["final_prompt"].clone())
            .collect()
    };
    assert_eq!(prompts("out", &output), prompts("again", &again), "{again}");
}

/// `run api_v1_1 --dry-run` with `flags`, into `out`.
fn plan_api_v1_1(sandbox: &Sandbox, plugins: &Path, flags: &[&str]) -> Run {
    let mut args = vec![
        "run",
        API_V1_1,
        "--dry-run",
        "--seed",
        "5",
        "--output-root",
        "out",
    ];
    args.extend_from_slice(flags);
    run(&mut sandbox.experiments(plugins, &args))
}

#[test]
fn float_required_and_ranged_flags_are_checked_before_plan() {
    let (sandbox, plugins) = with_fixture(API_V1_1);
    let cases: [(&[&str], &str); 5] = [
        (&[], "missing `--rate`: experiment `api_v1_1` requires it (expected a number from 0.0 to 1.0)"),
        (&["--rate", "1.5"], "invalid value 1.5 for `--rate`: expected a number from 0.0 to 1.0"),
        (&["--rate", "-0.1"], "invalid value -0.1 for `--rate`"),
        (&["--rate", "0.5", "--runs", "0"], "invalid value 0 for `--runs`: expected an integer from 1 to 4"),
        (&["--rate", "nan"], "'--rate <X>': expected a finite number"),
    ];
    for (flags, expected) in cases {
        let output = plan_api_v1_1(&sandbox, &plugins, flags);
        output.assert_code(2).assert_stderr_has(&[expected]);
        // The host refused it, not the plan (which would say so in its own words).
        assert!(!output.stderr.contains("plan received"), "{output}");
        assert!(!sandbox.path().join("out").exists(), "{output}");
    }

    let output = plan_api_v1_1(
        &sandbox,
        &plugins,
        &["--rate", "0.25", "--runs", "3", "--style", "loud"],
    );
    output.assert_code(0);
    let plan = read_json(&sandbox.path().join("out/experiment_plan.json"));
    assert_eq!(plan["experiment_args"]["rate"], 0.25, "{output}");
    let runs = plan["planned_runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 3, "{output}");
    assert_eq!(runs[0]["tags"], serde_json::json!(["loud"]), "{output}");
}

#[test]
fn describe_and_help_show_the_flag_fields_added_in_1_1() {
    let (sandbox, plugins) = with_fixture(API_V1_1);
    let output = run(&mut sandbox.experiments(&plugins, &["describe", API_V1_1, "--json"]));
    output.assert_code(0);
    let described = output.json();
    assert_eq!(described["requires_interface"], "1.1", "{output}");
    let rate = &described["args"][0];
    assert_eq!(rate["kind"], "float", "{output}");
    assert_eq!(rate["required"], true, "{output}");
    assert_eq!(
        (rate["min"].as_f64(), rate["max"].as_f64()),
        (Some(0.0), Some(1.0)),
        "{output}"
    );
    assert_eq!(
        described["args"][2]["choice_help"]["loud"], "the same, tagged loud",
        "{output}"
    );

    let output = run(&mut sandbox.experiments(&plugins, &["describe", API_V1_1]));
    output.assert_code(0);
    for needle in [
        "requires:          plugin-api 1.1",
        "--rate (float, required, min 0.0, max 1.0)",
        "--runs (int, min 1, max 4, default 2)",
        "plain: the default pipeline",
    ] {
        assert!(output.stdout.contains(needle), "{needle:?} missing{output}");
    }

    let output = run(&mut sandbox.experiments(&plugins, &["run", API_V1_1, "--help"]));
    output.assert_code(0);
    for needle in [
        "--rate <X>",
        "[required]",
        "[min: 1]",
        "[max: 4]",
        "the same, tagged loud",
    ] {
        assert!(output.stdout.contains(needle), "{needle:?} missing{output}");
    }
}

#[test]
fn a_plugin_asking_for_a_newer_interface_minor_is_refused_in_one_line() {
    let (sandbox, plugins) = with_fixture(API_V1_1);
    let output = run(sandbox
        .experiments(&plugins, &["list", "--json"])
        .env("API_V1_1_REQUIRES", "1.99"));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(document["experiments"], serde_json::json!([]), "{output}");
    let reason = document["errors"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("needs plugin-api 1.99")
            && reason.contains(&format!("speaks plugin-api {INTERFACE_VERSION}")),
        "the reason names both versions{output}"
    );
    assert!(!reason.contains('\n'), "{output}");

    let output = run(sandbox
        .experiments(&plugins, &["run", API_V1_1, "--rate", "0.5", "--dry-run"])
        .env("API_V1_1_REQUIRES", "1.99"));
    output
        .assert_code(2)
        .assert_stderr_has(&["experiment `api_v1_1` failed to load", reason]);

    // The minor this host speaks loads.
    let output = run(sandbox
        .experiments(&plugins, &["list", "--json"])
        .env("API_V1_1_REQUIRES", "1.1"));
    output.assert_code(0);
    assert_eq!(listed_alone(&output)["name"], API_V1_1, "{output}");
}

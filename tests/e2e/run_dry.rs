//! `experiments run <NAME> --dry-run` with the real plugins: the plan files each experiment writes
//! with its defaults and no config file (DESIGN §4 steps 3–7), where they go, the preflight result
//! of every run (step 6), and determinism (same seed and id, different output roots: identical
//! plans but for timestamps and paths).
//!
//! Until the stage catalogue lands, the plans of `3x3` and `profile_v5_3x3` name prompt plans that
//! do not exist yet: their dry runs fail preflight (exit 2) but still write both plan files, with a
//! `config_error` on every run. The A/B experiments compile and pass.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::util::{
    full_plan_runs, library_file_name, pretty, read_json, run, Run, Sandbox, EXPERIMENTS,
    INTERFACE_VERSION,
};

/// Planned runs with default flags, and whether the experiment is an A/B test (writes pairs).
const DEFAULT_PLANS: [(&str, usize, bool); 4] = [
    ("3x3", 9, false),
    ("profile_v5_3x3", 9, false),
    ("ab_refinement_block", 10, true),
    ("ab_scenespec_json_intermediary", 10, true),
];

/// The experiments whose every run passes preflight with the default config.
const PASSING: [&str; 4] = [
    "3x3",
    "ab_refinement_block",
    "ab_scenespec_json_intermediary",
    "profile_v5_3x3",
];

/// The experiments whose runs name prompt plans that are not implemented yet, and those plans.
const UNIMPLEMENTED: [(&str, &[&str]); 0] = [];

/// The exit code of a default dry run of `experiment`: 0, or 2 when its preflight fails.
fn expected_code(experiment: &str) -> i32 {
    if PASSING.contains(&experiment) {
        0
    } else {
        2
    }
}

/// Pairs an A/B experiment plans by default (`--runs 5`).
const DEFAULT_PAIRS: usize = 5;

fn crate_of(experiment: &str) -> &'static str {
    EXPERIMENTS
        .iter()
        .find(|(name, _)| *name == experiment)
        .map(|(_, crate_name)| *crate_name)
        .unwrap_or_else(|| panic!("unknown experiment `{experiment}`"))
}

/// `^[A-Za-z0-9_-]+[0-9]+_[0-9a-f]{8}$`, without a regex engine.
fn is_generation_id(id: &str) -> bool {
    let Some((head, hex)) = id.rsplit_once('_') else {
        return false;
    };
    let hex_ok = hex.len() == 8
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let head_ok = head.len() >= 2
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && head.ends_with(|c: char| c.is_ascii_digit());
    hex_ok && head_ok
}

/// Dry-runs `experiment` into `<sandbox>/<out>` with `extra` flags and `--json`; asserts exit 0.
fn dry_run(
    sandbox: &Sandbox,
    plugins: &Path,
    experiment: &str,
    out: &str,
    extra: &[&str],
) -> (Run, PathBuf) {
    dry_run_code(sandbox, plugins, experiment, out, extra, 0)
}

/// [`dry_run`] asserting the exit code `code` instead.
fn dry_run_code(
    sandbox: &Sandbox,
    plugins: &Path,
    experiment: &str,
    out: &str,
    extra: &[&str],
    code: i32,
) -> (Run, PathBuf) {
    let mut args = vec![
        "run",
        experiment,
        "--dry-run",
        "--json",
        "--output-root",
        out,
    ];
    args.extend_from_slice(extra);
    let output = run(&mut sandbox.experiments(plugins, &args));
    output.assert_code(code);
    (output, sandbox.path().join(out))
}

fn object<'a>(value: &'a Value, what: &str) -> &'a Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {}", pretty(value)))
}

fn array<'a>(value: &'a Value, what: &str) -> &'a Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {}", pretty(value)))
}

/// Checks one experiment's plan files against DESIGN §4; returns the summary plan. The plan files
/// are written whether or not preflight passed; the `--json` summary only when it did (exit 0).
/// Every run of the full plan carries exactly one preflight result, `prompt_pipeline` when it
/// passed or `config_error {type, message}` when it failed, and the exit code agrees with them.
fn check_plan_files(experiment: &str, runs: usize, ab: bool, out: &Path, output: &Run) -> Value {
    let plan = read_json(&out.join("experiment_plan.json"));
    let full = read_json(&out.join("experiment_plan_full.json"));
    let context = |what: &str| format!("{experiment}: {what}{output}");

    // The command's own summary agrees with the files.
    if output.code == Some(0) {
        let summary = output.json();
        assert_eq!(
            summary["planned_runs"],
            runs,
            "{}",
            context("stdout planned_runs")
        );
        assert_eq!(
            summary["base_seed"],
            plan["base_seed"],
            "{}",
            context("stdout base_seed")
        );
        assert_eq!(
            Path::new(summary["output_root"].as_str().unwrap_or_default()),
            out,
            "{}",
            context("output_root")
        );
    }

    for document in [&plan, &full] {
        assert!(
            document["base_seed"]
                .as_u64()
                .is_some_and(|seed| seed < 1 << 53),
            "{}",
            context("base_seed")
        );
        assert_eq!(
            document["experiment_name"],
            experiment,
            "{}",
            context("experiment_name")
        );
        let plugin = object(&document["plugin"], "plugin");
        assert_eq!(plugin["name"], experiment, "{}", context("plugin.name"));
        assert_eq!(
            plugin["interface_version"],
            INTERFACE_VERSION,
            "{}",
            context("plugin.interface_version")
        );
        assert_eq!(
            crate::util::file_name_of(&plugin["library"]),
            library_file_name(crate_of(experiment)),
            "{}",
            context("plugin.library")
        );
        let config_meta = object(&document["config_meta"], "config_meta");
        for key in ["mode", "paths", "env_var"] {
            assert!(
                config_meta.contains_key(key),
                "{}",
                context(&format!("config_meta.{key}"))
            );
        }
        let flags = object(&document["runner"]["flags"], "runner.flags");
        assert_eq!(
            flags["dry_run"],
            true,
            "{}",
            context("runner.flags.dry_run")
        );
        assert_eq!(flags["resume"], false, "{}", context("runner.flags.resume"));
        assert_eq!(
            flags["continue_on_error"],
            false,
            "{}",
            context("runner.flags.continue_on_error")
        );
        assert!(
            flags.contains_key("jobs"),
            "{}",
            context("runner.flags.jobs")
        );
    }

    let experiment_id = plan["experiment_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", context("experiment_id")));
    let planned = array(&plan["planned_runs"], "planned_runs");
    assert_eq!(planned.len(), runs, "{}", context("planned_runs"));
    let mut ids: Vec<&str> = Vec::new();
    for entry in planned {
        let id = entry["generation_id"].as_str().unwrap_or_default();
        assert!(
            is_generation_id(id),
            "{}",
            context(&format!("generation id `{id}`"))
        );
        let variant = entry["variant"].as_str().unwrap_or_default();
        let run = entry["run"].as_u64().unwrap_or_default();
        assert!(
            id.starts_with(&format!("{variant}{run}_")),
            "{}",
            context(&format!("generation id `{id}`"))
        );
        assert!(
            entry["seed"].is_u64(),
            "{}",
            context(&format!("seed of `{id}`"))
        );
        assert!(
            !ids.contains(&id),
            "{}",
            context(&format!("generation id `{id}` twice"))
        );
        ids.push(id);
    }

    let full_runs = full_plan_runs(out);
    assert_eq!(full_runs.len(), runs, "{}", context("planned_runs_full"));
    for (entry, id) in full_runs.iter().zip(&ids) {
        assert_eq!(
            entry["generation_id"],
            *id,
            "{}",
            context("full plan order")
        );
        let config = object(&entry["config"], "a run's config");
        let labels = object(&config["experiment"], "a run's experiment table");
        assert_eq!(labels["id"], experiment_id, "{}", context("experiment.id"));
        let variant = entry["variant"].as_str().unwrap_or_default();
        let label = labels["variant"].as_str().unwrap_or_default();
        assert!(
            label == variant || label.starts_with(&format!("{variant}_")),
            "{}",
            context(&format!(
                "experiment.variant `{label}` of variant `{variant}`"
            ))
        );
        assert_eq!(
            labels["tags"],
            entry["tags"],
            "{}",
            context("experiment.tags")
        );
        assert_eq!(
            config["run"]["mode"],
            plan["run_mode"],
            "{}",
            context("run.mode")
        );
        assert_eq!(
            Path::new(config["image"]["log_path"].as_str().unwrap_or_default()),
            out.join("logs"),
            "{}",
            context("image.log_path")
        );
        assert_eq!(
            Path::new(
                config["image"]["generation_path"]
                    .as_str()
                    .unwrap_or_default()
            ),
            out.join("generated"),
            "{}",
            context("image.generation_path")
        );
        let passed = entry.get("prompt_pipeline").is_some();
        let failed = entry.get("config_error").is_some();
        assert!(
            passed != failed,
            "{}",
            context(&format!(
                "`{id}` carries exactly one of prompt_pipeline and config_error: {}",
                pretty(entry)
            ))
        );
    }
    let all_passed = full_runs
        .iter()
        .all(|entry| entry.get("prompt_pipeline").is_some());
    assert_eq!(
        output.code,
        Some(if all_passed { 0 } else { 2 }),
        "{}",
        context("the exit code follows the preflight results")
    );

    let pairs_path = out.join("pairs.json");
    if ab {
        let pairs = read_json(&pairs_path);
        assert_eq!(
            pairs["experiment_id"],
            experiment_id,
            "{}",
            context("pairs.experiment_id")
        );
        let pairs = array(&pairs["pairs"], "pairs");
        assert_eq!(pairs.len(), DEFAULT_PAIRS, "{}", context("pairs"));
        for pair in pairs {
            let index = pair["run_index"].as_u64();
            let side = |key: &str| {
                let id = pair[key].as_str().unwrap_or_default();
                planned
                    .iter()
                    .find(|entry| entry["generation_id"] == id)
                    .unwrap_or_else(|| {
                        panic!("{}", context(&format!("pair id `{id}` is not planned")))
                    })
            };
            let (a, b) = (side("a_generation_id"), side("b_generation_id"));
            assert_eq!(a["run"].as_u64(), index, "{}", context("pair run index"));
            assert_eq!(b["run"].as_u64(), index, "{}", context("pair run index"));
            assert_ne!(a["variant"], b["variant"], "{}", context("pair variants"));
        }
    } else {
        assert!(
            !pairs_path.exists(),
            "{}",
            context("pairs.json is only for A/B experiments")
        );
    }
    assert!(
        out.join("experiment.log").is_file(),
        "{}",
        context("experiment.log")
    );
    plan
}

/// The runs of the full plan in `out`.
fn full_runs(out: &Path) -> Vec<Value> {
    full_plan_runs(out)
}

/// Every run passed preflight: its `prompt_pipeline` describes the compiled plan of its config.
fn check_prompt_pipelines(experiment: &str, out: &Path, output: &Run) {
    for entry in full_runs(out) {
        let id = entry["generation_id"].as_str().unwrap_or_default();
        let context =
            |what: &str| format!("{experiment} `{id}`: {what}\n{}{output}", pretty(&entry));
        assert!(
            entry.get("config_error").is_none(),
            "{}",
            context("config_error")
        );
        let pipeline = object(&entry["prompt_pipeline"], "prompt_pipeline");
        let capture = pipeline
            .get("capture_stage")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}", context("prompt_pipeline.capture_stage")));
        let prompt = &entry["config"]["prompt"];
        let stages = array(&pipeline["resolved_stages"], "resolved_stages");
        if prompt["plan"] == "custom" {
            // The A/B experiments name their capture stage and list their stages.
            assert_eq!(
                prompt["output"]["capture_stage"],
                capture,
                "{}",
                context("capture_stage of the run's config")
            );
            assert_eq!(
                Some(stages),
                prompt["stages"]["sequence"].as_array(),
                "{}",
                context("resolved_stages are the run's `prompt.stages.sequence`")
            );
        }
        assert_eq!(
            stages.last().and_then(Value::as_str),
            Some(capture),
            "{}",
            context("the capture stage is the last stage")
        );
    }
}

/// Every run failed preflight because its prompt plan (one of `plans`) is not implemented yet.
fn check_unimplemented(experiment: &str, plans: &[&str], out: &Path, output: &Run) {
    let runs = full_runs(out);
    output.assert_stderr_has(&[
        &format!(
            "preflight failed for {n} of {n} planned runs",
            n = runs.len()
        ),
        "not implemented yet",
        "experiment_plan_full.json",
    ]);
    for plan in plans {
        output.assert_stderr_has(&[&format!("prompt plan `{plan}`")]);
    }
    let mut seen: Vec<&str> = Vec::new();
    for entry in &runs {
        let id = entry["generation_id"].as_str().unwrap_or_default();
        let context =
            |what: &str| format!("{experiment} `{id}`: {what}\n{}{output}", pretty(entry));
        output.assert_stderr_has(&[id]);
        assert!(
            entry.get("prompt_pipeline").is_none(),
            "{}",
            context("prompt_pipeline")
        );
        let error = object(&entry["config_error"], "config_error");
        assert!(
            error.get("type").is_some_and(Value::is_string),
            "{}",
            context("config_error.type")
        );
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}", context("config_error.message")));
        let plan = entry["config"]["prompt"]["plan"]
            .as_str()
            .unwrap_or_default();
        assert!(
            plans.contains(&plan),
            "{}",
            context(&format!("plan `{plan}`"))
        );
        assert!(
            message.contains(&format!("prompt plan `{plan}`"))
                && message.contains("not implemented yet"),
            "{}",
            context("config_error.message names the plan and says it is not implemented yet")
        );
        if !seen.contains(&plan) {
            seen.push(plan);
        }
    }
    for plan in plans {
        assert!(
            seen.contains(plan),
            "{experiment}: no run uses plan `{plan}`{output}"
        );
    }
}

#[test]
fn every_experiment_dry_runs_with_defaults_and_no_config() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    for (experiment, runs, ab) in DEFAULT_PLANS {
        let (output, out) = dry_run_code(
            &sandbox,
            &plugins,
            experiment,
            &format!("out-{experiment}"),
            &[],
            expected_code(experiment),
        );
        check_plan_files(experiment, runs, ab, &out, &output);
        match UNIMPLEMENTED.iter().find(|(name, _)| *name == experiment) {
            Some((_, plans)) => check_unimplemented(experiment, plans, &out, &output),
            None => check_prompt_pipelines(experiment, &out, &output),
        }
    }
}

#[test]
fn mode_prompt_only_is_spelled_as_in_the_config() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let (output, out) = dry_run(
        &sandbox,
        &plugins,
        "ab_refinement_block",
        "out",
        &["--mode", "prompt_only"],
    );
    let plan = read_json(&out.join("experiment_plan.json"));
    assert_eq!(plan["run_mode"], "prompt_only", "{output}");
    assert!(
        !output.stderr.contains("--mode not given"),
        "`--mode` was given{output}"
    );
    for entry in full_runs(&out) {
        assert_eq!(entry["config"]["run"]["mode"], "prompt_only", "{output}");
    }
    // An experiment whose default is `full`: its plan records the mode asked for.
    let (output, out) = dry_run_code(
        &sandbox,
        &plugins,
        "3x3",
        "out-3x3",
        &["--mode", "prompt_only"],
        0,
    );
    let plan = read_json(&out.join("experiment_plan.json"));
    assert_eq!(plan["run_mode"], "prompt_only", "{output}");
    for entry in full_runs(&out) {
        assert_eq!(entry["config"]["run"]["mode"], "prompt_only", "{output}");
    }
}

#[test]
fn dry_run_flags_reach_the_plan() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let (output, out) = dry_run(
        &sandbox,
        &plugins,
        "ab_refinement_block",
        "out",
        &[
            "--runs",
            "2",
            "--seed",
            "7",
            "--experiment-id",
            "exp_7",
            "--mode",
            "full",
        ],
    );
    let plan = read_json(&out.join("experiment_plan.json"));
    assert_eq!(plan["base_seed"], 7, "{output}");
    assert_eq!(plan["experiment_id"], "exp_7", "{output}");
    assert_eq!(plan["run_mode"], "full", "{output}");
    assert_eq!(
        array(&plan["planned_runs"], "planned_runs").len(),
        4,
        "{output}"
    );
    assert_eq!(
        array(&read_json(&out.join("pairs.json"))["pairs"], "pairs").len(),
        2,
        "{output}"
    );
}

#[test]
fn dry_run_without_output_root_writes_under_artifacts_experiments() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", "ab_refinement_block", "--dry-run", "--json"],
    ));
    output.assert_code(0);
    let summary = output.json();
    let id = summary["experiment_id"].as_str().unwrap_or_default();
    // `<name>_<UTC YYYYMMDD_HHMMSS>`
    let stamp = id
        .strip_prefix("ab_refinement_block_")
        .unwrap_or_else(|| panic!("default id `{id}`{output}"));
    let shape_ok = stamp.len() == 15
        && stamp
            .char_indices()
            .all(|(i, c)| if i == 8 { c == '_' } else { c.is_ascii_digit() });
    assert!(shape_ok, "default id `{id}`{output}");
    let out = sandbox
        .path()
        .join("_artifacts")
        .join("experiments")
        .join(id);
    assert_eq!(
        Path::new(summary["output_root"].as_str().unwrap_or_default()),
        out,
        "{output}"
    );
    check_plan_files("ab_refinement_block", 10, true, &out, &output);
}

#[test]
fn dry_run_refuses_an_output_root_that_already_holds_a_plan() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    dry_run(
        &sandbox,
        &plugins,
        "ab_refinement_block",
        "out",
        &["--seed", "1"],
    );
    let before = std::fs::read(sandbox.path().join("out/experiment_plan.json")).unwrap();
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--output-root",
            "out",
            "--seed",
            "2",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["out", "already holds an experiment plan"]);
    let after = std::fs::read(sandbox.path().join("out/experiment_plan.json")).unwrap();
    assert_eq!(before, after, "the first plan is untouched{output}");
}

#[test]
fn dry_run_refuses_an_unsafe_experiment_id() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    for id in ["../escape", "a/b", ".."] {
        let output = run(&mut sandbox.experiments(
            &plugins,
            &[
                "run",
                "ab_refinement_block",
                "--dry-run",
                "--experiment-id",
                id,
            ],
        ));
        output.assert_code(2).assert_stderr_has(&[id]);
    }
    assert!(!sandbox.path().join("_artifacts").exists());
    assert!(!sandbox.path().parent().unwrap().join("escape").exists());
}

/// Replaces `root` in every string, drops the timestamps, and pins `context.today` (the
/// experiment's start date, which differs only if the two runs straddle midnight UTC).
fn normalise(value: &mut Value, root: &str) {
    match value {
        Value::String(text) if text.contains(root) => *text = text.replace(root, "<OUT>"),
        Value::Array(items) => items.iter_mut().for_each(|item| normalise(item, root)),
        Value::Object(map) => {
            map.remove("generated_at");
            map.remove("created_at");
            if let Some(today) = map.get_mut("today") {
                *today = Value::String("<TODAY>".into());
            }
            map.values_mut().for_each(|item| normalise(item, root));
        }
        _ => {}
    }
}

#[test]
fn same_seed_and_id_give_identical_plans_in_different_output_roots() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let same = ["--seed", "42", "--experiment-id", "same"];
    for (experiment, _, ab) in DEFAULT_PLANS {
        // Also the plans that fail preflight: their plan files, errors included, are deterministic.
        let (first_output, first) = dry_run_code(
            &sandbox,
            &plugins,
            experiment,
            &format!("{experiment}-one"),
            &same,
            expected_code(experiment),
        );
        let (second_output, second) = dry_run_code(
            &sandbox,
            &plugins,
            experiment,
            &format!("{experiment}-two"),
            &same,
            expected_code(experiment),
        );
        let mut files = vec!["experiment_plan.json", "experiment_plan_full.json"];
        if ab {
            files.push("pairs.json");
        }
        for file in files {
            let mut a = read_json(&first.join(file));
            let mut b = read_json(&second.join(file));
            if file != "pairs.json" {
                assert!(
                    a.to_string().contains(first.to_str().unwrap()),
                    "{file} records its output root"
                );
            }
            normalise(&mut a, first.to_str().unwrap());
            normalise(&mut b, second.to_str().unwrap());
            assert!(
                a == b,
                "{experiment}: {file} differs\n--- first\n{}\n--- second\n{}{first_output}{second_output}",
                pretty(&a),
                pretty(&b)
            );
        }
    }
}

#[test]
fn another_seed_gives_other_seeds_and_generation_ids() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    for (experiment, _, _) in DEFAULT_PLANS {
        let (_, first) = dry_run_code(
            &sandbox,
            &plugins,
            experiment,
            &format!("{experiment}-42"),
            &["--seed", "42", "--experiment-id", "same"],
            expected_code(experiment),
        );
        let (_, second) = dry_run_code(
            &sandbox,
            &plugins,
            experiment,
            &format!("{experiment}-43"),
            &["--seed", "43", "--experiment-id", "same"],
            expected_code(experiment),
        );
        let ids = |out: &Path| -> Vec<Value> {
            array(
                &read_json(&out.join("experiment_plan.json"))["planned_runs"],
                "planned_runs",
            )
            .iter()
            .map(|entry| entry["generation_id"].clone())
            .collect()
        };
        let (a, b) = (ids(&first), ids(&second));
        assert!(
            a.iter().all(|id| !b.contains(id)),
            "{experiment}: {a:?} vs {b:?}"
        );
    }
}

/// The full plan stores runs by reference (issue 14): for every experiment, each run's config
/// rebuilt by the host from `base_config` and its overlay is exactly the merge the runner made
/// when it stored whole configs: the loaded config with the standard overrides, then the
/// experiment's overlay with the run's seed, then its labels.
#[test]
fn runs_by_reference_rebuild_the_merged_config_of_every_experiment() {
    use plugin_api::merge::deep_merge;
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    for (experiment, _, _) in DEFAULT_PLANS {
        let (output, out) = dry_run_code(
            &sandbox,
            &plugins,
            experiment,
            &format!("by-ref-{experiment}"),
            &["--seed", "9"],
            0,
        );
        let full = read_json(&out.join("experiment_plan_full.json"));
        let summary = read_json(&out.join("experiment_plan.json"));
        let rebuilt = full_plan_runs(&out);
        let labels = summary["planned_runs"].as_array().expect("planned_runs");
        for ((reference, labels), rebuilt) in full["planned_runs_full"]
            .as_array()
            .expect("planned_runs_full")
            .iter()
            .zip(labels)
            .zip(&rebuilt)
        {
            let mut merged = full["base_config"].clone();
            let overlay =
                &full["overlays"][reference["overlay"].as_u64().expect("an index") as usize];
            deep_merge(&mut merged, overlay).expect("the overlay merges");
            deep_merge(
                &mut merged,
                &serde_json::json!({"prompt": {"random_seed": labels["seed"]}}),
            )
            .expect("the seed merges");
            let variant = match labels["variant_name"].as_str() {
                Some(name) => format!("{}_{name}", labels["variant"].as_str().unwrap_or_default()),
                None => labels["variant"].as_str().unwrap_or_default().to_owned(),
            };
            let mut experiment_labels =
                serde_json::json!({"variant": variant, "tags": labels["tags"]});
            if !labels["notes"].is_null() {
                experiment_labels["notes"] = labels["notes"].clone();
            }
            deep_merge(
                &mut merged,
                &serde_json::json!({"experiment": experiment_labels}),
            )
            .expect("the labels merge");
            assert_eq!(
                rebuilt["config"], merged,
                "{experiment} `{}`: the rebuilt config{output}",
                labels["generation_id"]
            );
        }
    }
}

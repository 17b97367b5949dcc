//! `experiments run` as a command line: `run <NAME> --help` showing runner and plugin flags,
//! misspelt flags, unknown experiment names, and `run` without `--dry-run`. Nothing here checks
//! the plan files; that is `run_dry`.

use crate::describe::assert_unknown_experiment;
use crate::util::{run, Sandbox};

#[test]
fn run_help_lists_runner_flags_and_the_plugins_flags() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(&plugins, &["run", "ab_refinement_block", "--help"]));
    output.assert_code(0);
    for flag in [
        "--dry-run",
        "--seed",
        "--output-root",
        "--config",
        "--set",
        "--runs",
        "--data",
    ] {
        assert!(
            output.stdout.contains(flag),
            "`{flag}` missing from the help{output}"
        );
    }
}

#[test]
fn run_with_a_misspelt_plugin_flag_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", "ab_refinement_block", "--dry-run", "--rnus", "3"],
    ));
    output.assert_code(2).assert_stderr_has(&["--rnus"]);
    assert!(
        !sandbox.path().join("_artifacts").exists(),
        "nothing is planned{output}"
    );
}

#[test]
fn run_with_a_bad_choice_value_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", "ab_refinement_block", "--dry-run", "--data", "bogus"],
    ));
    output.assert_code(2).assert_stderr_has(&["bogus"]);
}

#[test]
fn run_of_an_unknown_name_suggests_the_closest_and_lists_the_rest() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output =
        run(&mut sandbox.experiments(&plugins, &["run", "ab_refinment_block", "--dry-run"]));
    assert_unknown_experiment(&output, "ab_refinment_block", "ab_refinement_block");
    assert!(
        !sandbox.path().join("_artifacts").exists(),
        "nothing is planned{output}"
    );
}

#[test]
fn run_without_a_name_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.cmd().args([
        "experiments",
        "run",
        "--dry-run",
        "--no-default-plugin-dirs",
    ]));
    output.assert_code(2);
}

#[test]
fn run_without_dry_run_executes_every_planned_run() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--output-root",
            "out",
            "--seed",
            "1",
            "--runs",
            "2",
        ],
    ));
    output.assert_code(0);
    let results = std::fs::read_to_string(sandbox.path().join("out/results.jsonl")).unwrap();
    let statuses: Vec<String> = results
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(statuses, vec!["success"; 4], "{output}");
}

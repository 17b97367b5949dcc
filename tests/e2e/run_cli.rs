//! `experiments run` as a command line: `run <NAME> --help` showing runner and plugin flags,
//! misspelt flags, unknown experiment names and names whose library failed to load, and `run`
//! without `--dry-run`. Nothing here checks the plan files; that is `run_dry`.

use crate::describe::assert_unknown_experiment;
use crate::util::{
    copy_into, fixture, library_file_name, run, Sandbox, FAULT_ABORT, FAULT_MALFORMED,
};

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

// Issue 10 ("the runner's guarantees"), item 5: `run <name>` and `describe <name>` report why the
// library defining `<name>` did not load, instead of only "no experiment named".

#[test]
fn run_and_describe_of_a_refused_experiment_name_its_load_errors() {
    // Two libraries of one experiment in one directory: both are refused after their descriptors
    // were read, so the name is known.
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    let original = library_file_name(FAULT_MALFORMED);
    let copy = library_file_name("fault_malformed_copy");
    copy_into(&fixture(FAULT_MALFORMED), &plugins, &original);
    copy_into(&fixture(FAULT_MALFORMED), &plugins, &copy);
    for command in ["run", "describe"] {
        let output = run(&mut sandbox.experiments(&plugins, &[command, FAULT_MALFORMED]));
        output.assert_code(2).assert_stderr_has(&[
            "experiment `fault_malformed` failed to load",
            &original,
            &copy,
            "also defined by",
        ]);
        assert!(!output.stderr.contains("no experiment named"), "{output}");
    }
}

#[test]
fn run_of_a_name_not_found_lists_the_files_that_failed_to_load() {
    // An abort-built plugin is refused before its descriptor is read, so nothing says which
    // experiment it defines: the error lists it as a candidate.
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    copy_into(
        &fixture(FAULT_ABORT),
        &plugins,
        &library_file_name(FAULT_ABORT),
    );
    let output = run(&mut sandbox.experiments(&plugins, &["run", FAULT_ABORT, "--dry-run"]));
    output.assert_code(2).assert_stderr_has(&[
        "no experiment named `fault_abort`",
        "these files failed to load; one of them may define it:",
        &library_file_name(FAULT_ABORT),
        "built with `panic = \"abort\"`",
    ]);
}

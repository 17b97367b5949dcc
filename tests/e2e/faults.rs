//! Plugins that misbehave while an experiment is planned (the fault fixtures of
//! `tests/fixtures/`): a hook that panics, a plan that is not JSON, plans the runner must refuse.
//! Every one is a clean exit 2 naming the plugin and the problem, never an abort. Faults at load
//! time (`experiments list`) belong to `list`.

use crate::util::{run, with_fixture, Run, FAULT_MALFORMED, FAULT_PANIC};

#[test]
fn a_panic_in_plan_is_exit_2_naming_plugin_and_hook() {
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_PANIC,
            "--dry-run",
            "--panic-in",
            "plan",
            "--output-root",
            "out",
        ],
    ));
    // `Some(2)`: a plain exit, not a signal (an unwinding panic through the FFI would abort).
    output
        .assert_code(2)
        .assert_stderr_has(&["`fault_panic`", "`plan`", "panicked"]);
    assert!(
        !sandbox.path().join("out/experiment_plan.json").exists(),
        "{output}"
    );
}

#[test]
fn a_panic_in_plan_chosen_by_the_environment_is_exit_2() {
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(sandbox
        .experiments(
            &plugins,
            &["run", FAULT_PANIC, "--dry-run", "--output-root", "out"],
        )
        .env("FAULT_PANIC_HOOK", "plan"));
    output
        .assert_code(2)
        .assert_stderr_has(&["`fault_panic`", "`plan`", "panicked"]);
}

#[test]
fn fault_panic_dry_runs_when_no_hook_panics() {
    let (sandbox, plugins) = with_fixture(FAULT_PANIC);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_PANIC,
            "--dry-run",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    assert_eq!(output.json()["planned_runs"], 2, "{output}");
}

/// Dry-runs `fault_malformed --fault <fault>`.
fn malformed(fault: &str) -> Run {
    let (sandbox, plugins) = with_fixture(FAULT_MALFORMED);
    run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_MALFORMED,
            "--dry-run",
            "--fault",
            fault,
            "--output-root",
            "out",
        ],
    ))
}

#[test]
fn malformed_plan_json_is_exit_2_naming_the_hook() {
    let output = malformed("malformed-json");
    output
        .assert_code(2)
        .assert_stderr_has(&["`fault_malformed`", "`plan`", "malformed"]);
}

#[test]
fn an_empty_plan_is_refused() {
    let output = malformed("empty-plan");
    output
        .assert_code(2)
        .assert_stderr_has(&["`fault_malformed`"]);
    assert!(
        output.stderr.contains("no runs") || output.stderr.contains("empty"),
        "{output}"
    );
}

#[test]
fn a_run_planned_twice_is_refused() {
    malformed("duplicate-run")
        .assert_code(2)
        .assert_stderr_has(&["`fault_malformed`", "planned twice"]);
}

#[test]
fn a_variant_with_a_slash_is_refused() {
    malformed("slash-variant")
        .assert_code(2)
        .assert_stderr_has(&["`A/B`", "not a safe name"]);
}

#[test]
fn a_dotdot_variant_is_refused() {
    malformed("dotdot-variant")
        .assert_code(2)
        .assert_stderr_has(&["`..`", "not a safe name"]);
}

#[test]
fn a_run_without_a_seed_is_refused() {
    malformed("missing-seed")
        .assert_code(2)
        .assert_stderr_has(&["`fault_malformed`", "no seed"]);
}

#[test]
fn fault_malformed_without_a_fault_plans_one_run() {
    let (sandbox, plugins) = with_fixture(FAULT_MALFORMED);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            FAULT_MALFORMED,
            "--dry-run",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    assert_eq!(output.json()["planned_runs"], 1, "{output}");
}

//! Config and data errors on `experiments run --dry-run`: bad `--set` values, secrets in config
//! files, unknown `experiment_runners` keys, and data paths a plugin cannot read. Each is exit 2
//! with a message naming the key or path, and no secret value is ever printed or written.

use std::time::Duration;

use crate::util::{full_plan_runs, read_json, run, Sandbox};

#[test]
fn set_with_a_bare_word_suggests_quoting() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--set",
            "run.mode=full",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["run.mode", "\"full\""]);
    assert!(
        output.stderr.contains("quote"),
        "the remedy is to quote the value{output}"
    );
    assert!(!sandbox.path().join("_artifacts").exists(), "{output}");
}

#[test]
fn set_with_a_quoted_string_is_accepted() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--json",
            "--output-root",
            "out",
            "--set",
            "run.mode=\"full\"",
            "--set",
            "backend.text.model=\"e2e-model\"",
        ],
    ));
    output.assert_code(0);
    // (`run.mode` is then a standard override of the runner, DESIGN §4 step 4; a key the runner
    // leaves alone reaches every run.)
    let full = read_json(&sandbox.path().join("out/experiment_plan_full.json"));
    let runs = full_plan_runs(&sandbox.path().join("out"));
    assert_eq!(runs.len(), 10, "{output}");
    for entry in runs {
        assert_eq!(
            entry["config"]["backend"]["text"]["model"], "e2e-model",
            "{output}"
        );
    }
    assert_eq!(
        full["generation_defaults"]["text_model"], "e2e-model",
        "{output}"
    );
}

#[test]
fn a_secret_in_a_config_file_is_refused_without_printing_it() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let secret = "sk-e2e-do-not-print-4242";
    sandbox.write(
        "secret.toml",
        &format!("[backend.text]\napi_key = \"{secret}\"\n"),
    );
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--config",
            "secret.toml",
            "--output-root",
            "out",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["api_key", "api_key_env"]);
    assert!(
        !output.stderr.contains(secret) && !output.stdout.contains(secret),
        "the value is printed{output}"
    );
    for path in sandbox.files() {
        if let Ok(text) = std::fs::read_to_string(&path) {
            assert!(
                path.ends_with("secret.toml") || !text.contains(secret),
                "`{}` holds the secret{output}",
                path.display()
            );
        }
    }
}

#[test]
fn an_unknown_experiment_runners_key_is_refused() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    sandbox.write(
        "runners.toml",
        "[experiment_runners.ab_refinement_block]\nfoo = 1\n",
    );
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--config",
            "runners.toml",
            "--output-root",
            "out",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["experiment_runners.ab_refinement_block.foo"]);
    assert!(
        !sandbox.path().join("out/experiment_plan.json").exists(),
        "{output}"
    );
}

#[test]
fn an_unknown_config_section_is_refused_with_a_suggestion() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--set",
            "rnu.mode=\"full\"",
        ],
    ));
    output.assert_code(2).assert_stderr_has(&["`rnu`", "`run`"]);
    assert!(!sandbox.path().join("_artifacts").exists(), "{output}");
}

// DESIGN §6: every unknown key is refused at load, named with its dotted key and the layer.
#[test]
fn an_unknown_config_key_is_refused_with_its_dotted_name() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--set",
            "run.moed=\"full\"",
        ],
    ));
    output.assert_code(2).assert_stderr_has(&[
        "run.moed",
        "--set run.moed",
        "did you mean `run.mode`?",
    ]);
    assert!(!sandbox.path().join("_artifacts").exists(), "{output}");
}

#[test]
fn a_missing_config_file_is_refused_naming_it() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--dry-run",
            "--config",
            "nope.toml",
        ],
    ));
    output.assert_code(2).assert_stderr_has(&["nope.toml"]);
}

#[test]
fn profile_v5_with_a_missing_profile_file_names_the_path() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "profile_v5_3x3",
            "--dry-run",
            "--profile-like-dislike-path",
            "missing.csv",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(2).assert_stderr_has(&["missing.csv"]);
    assert!(
        !sandbox.path().join("out/experiment_plan.json").exists(),
        "{output}"
    );
}

#[test]
fn profile_v5_with_an_empty_profile_path_in_config_names_the_key() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    sandbox.write(
        "profile.toml",
        "[experiment_runners.profile_v5_3x3]\nprofile_like_dislike_path = \"\"\n",
    );
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "profile_v5_3x3",
            "--dry-run",
            "--config",
            "profile.toml",
            "--output-root",
            "out",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["profile_like_dislike_path"]);
    // A planning error, not a preflight one: no plan is written.
    assert!(
        !sandbox.path().join("out/experiment_plan.json").exists(),
        "{output}"
    );
}

// The profile file is read while planning (a missing one fails there, before any plan file);
// the plans of profile_v5_3x3 then fail preflight until their prompt plans exist, but the plan
// files are written, with the file the runs will use.
#[test]
fn profile_v5_reads_a_profile_file_relative_to_the_working_directory() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let sample =
        crate::util::repo_root().join("host/src/data/samples/user_profile_v5_like_dislike.csv");
    let text = std::fs::read_to_string(&sample)
        .unwrap_or_else(|error| panic!("`{}`: {error}", sample.display()));
    sandbox.write("data/profile.csv", &text);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "profile_v5_3x3",
            "--dry-run",
            "--json",
            "--profile-like-dislike-path",
            "data/profile.csv",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    let plan = read_json(&sandbox.path().join("out/experiment_plan.json"));
    assert_eq!(
        plan["planned_runs"].as_array().map(Vec::len),
        Some(9),
        "{output}"
    );
    assert_eq!(
        plan["experiment_meta"]["profiles"]["like_dislike"], "data/profile.csv",
        "{output}"
    );
    let runs = full_plan_runs(&sandbox.path().join("out"));
    assert!(
        runs.iter()
            .any(|entry| entry["config"]["prompt"]["profile_path"] == "data/profile.csv"),
        "some run uses the profile file{output}"
    );
    for entry in runs {
        assert!(
            entry.get("config_error").is_none(),
            "every run passes preflight{output}"
        );
    }
}

// Issue 10 ("the runner's guarantees"), items 3 and 7: data files are checked before they are
// trusted.

/// `3x3 --dry-run` with `prompt.profile_path` set to `profile`.
fn dry_run_with_profile(sandbox: &Sandbox, profile: &str) -> crate::util::Run {
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let set = format!("prompt.profile_path=\"{profile}\"");
    run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "3x3",
                "--dry-run",
                "--set",
                &set,
                "--output-root",
                "out",
            ],
        )
        // A FIFO that were opened would block the run forever: fail instead.
        .timeout(Duration::from_secs(60)))
}

#[test]
fn a_v5_profile_without_its_item_column_fails_preflight_naming_file_format_and_column() {
    let sandbox = Sandbox::new();
    // Read as a v4 profile, this would have been two independent lists.
    sandbox.write(
        "bad.csv",
        "category,notes\nlike,warm light\ndislike,clutter\n",
    );
    let output = dry_run_with_profile(&sandbox, "bad.csv");
    output.assert_code(2).assert_stderr_has(&[
        "`bad.csv` (`prompt.profile_path`)",
        "profile read as v5",
        "no `item` column",
    ]);
}

#[cfg(unix)]
#[test]
fn a_fifo_as_a_data_path_fails_preflight_without_blocking() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path().join("pipe.csv");
    crate::util::mkfifo(&fifo);
    let output = dry_run_with_profile(&sandbox, "pipe.csv");
    output
        .assert_code(2)
        .assert_stderr_has(&["data file `pipe.csv` is a FIFO, expected a regular file"]);
}

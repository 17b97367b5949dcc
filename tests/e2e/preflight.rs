//! Preflight of `experiments run --dry-run` (DESIGN §4 step 6, §5): every run's config is compiled
//! before any model call. Bad stage configs fail every run they reach, recorded per run as
//! `config_error` in the full plan, named on stderr with each generation id, exit 2, with the plan
//! files written and no run executed; a valid stage config reaches the run's config and plan.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{full_plan_runs, pretty, run, Run, Sandbox};

const EXPERIMENT: &str = "ab_scenespec_json_intermediary";
const RUNS: usize = 10;

/// Dry-runs [`EXPERIMENT`] with the config file `config` (TOML text) into `<sandbox>/out`.
fn dry_run_with(sandbox: &Sandbox, config: &str) -> (Run, PathBuf) {
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    sandbox.write("stages.toml", config);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            EXPERIMENT,
            "--dry-run",
            "--json",
            "--config",
            "stages.toml",
            "--output-root",
            "out",
        ],
    ));
    (output, sandbox.path().join("out"))
}

/// The runs of the full plan, checked to number [`RUNS`].
fn full_runs(out: &Path, output: &Run) -> Vec<Value> {
    let runs = full_plan_runs(out);
    assert_eq!(runs.len(), RUNS, "{output}");
    runs
}

/// Files under `dir`, recursively (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Preflight failed for every run with a message holding every one of `needles`; nothing ran.
fn assert_every_run_fails(out: &Path, output: &Run, needles: &[&str]) {
    output.assert_code(2).assert_stderr_has(&[
        &format!("preflight failed for {RUNS} of {RUNS} planned runs"),
        "experiment_plan_full.json",
    ]);
    output.assert_stderr_has(needles);
    assert!(
        out.join("experiment_plan.json").is_file() && out.join("pairs.json").is_file(),
        "the plan files are written{output}"
    );
    let runs = full_runs(out, output);
    // One line per distinct error (here one), with its count and the first runs it hit.
    let first = runs[0]["generation_id"].as_str().unwrap_or_default();
    output.assert_stderr_has(&[&format!("  {RUNS} runs ({first}, ")]);
    let grouped = output
        .stderr
        .lines()
        .filter(|line| line.starts_with("  ") && line.contains(" runs ("))
        .count();
    assert_eq!(grouped, 1, "one line per distinct error{output}");
    for entry in runs {
        let id = entry["generation_id"].as_str().unwrap_or_default();
        let context = format!("`{id}`\n{}{output}", pretty(&entry));
        assert!(entry.get("prompt_pipeline").is_none(), "{context}");
        let error = &entry["config_error"];
        assert!(error["type"].is_string(), "config_error.type {context}");
        let message = error["message"].as_str().unwrap_or_default();
        for needle in needles {
            assert!(
                message.contains(needle),
                "config_error.message lacks {needle:?} {context}"
            );
        }
    }
    // No run started: no transcript, no index line, no image.
    let written: Vec<PathBuf> = files_under(&out.join("logs"))
        .into_iter()
        .chain(files_under(&out.join("generated")))
        .collect();
    assert!(written.is_empty(), "runs wrote {written:?}{output}");
    assert!(!out.join("results.jsonl").exists(), "{output}");
}

#[test]
fn a_stage_config_for_an_unknown_stage_fails_preflight_for_every_run() {
    let sandbox = Sandbox::new();
    let (output, out) = dry_run_with(
        &sandbox,
        "[prompt.stage_configs.defaults.\"ab.no_such_stage\"]\ntemperature = 0.5\n",
    );
    assert_every_run_fails(
        &out,
        &output,
        &["ab.no_such_stage", "prompt.stage_configs.defaults"],
    );
}

#[test]
fn an_unknown_stage_knob_fails_preflight_naming_knob_and_stage() {
    let sandbox = Sandbox::new();
    let (output, out) = dry_run_with(
        &sandbox,
        "[prompt.stage_configs.defaults.\"ab.scene_draft\"]\ntemprature = 0.5\n",
    );
    assert_every_run_fails(&out, &output, &["temprature", "ab.scene_draft"]);
}

#[test]
fn a_valid_stage_override_passes_and_reaches_every_run() {
    let sandbox = Sandbox::new();
    let (output, out) = dry_run_with(
        &sandbox,
        "[prompt.stage_configs.defaults.\"ab.scene_draft\"]\ntemperature = 0.3\n",
    );
    output.assert_code(0);
    assert_eq!(output.json()["planned_runs"], RUNS, "{output}");
    for entry in full_runs(&out, &output) {
        let context = format!("\n{}{output}", pretty(&entry));
        assert!(entry.get("config_error").is_none(), "{context}");
        assert_eq!(
            entry["config"]["prompt"]["stage_configs"]["defaults"]["ab.scene_draft"]["temperature"],
            0.3,
            "the run's config{context}"
        );
        assert_eq!(
            entry["prompt_pipeline"]["stage_configs_effective"]["ab.scene_draft"]["temperature"],
            0.3,
            "the compiled plan{context}"
        );
    }
}

#[test]
fn an_unset_key_variable_fails_preflight_naming_it() {
    let sandbox = Sandbox::new();
    let var = "IMAGE_PROJECT_TEST_NO_SUCH_KEY";
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    sandbox.write(
        "openai.toml",
        &format!("[backend.text]\nprovider = \"openai\"\napi_key_env = \"{var}\"\n"),
    );
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                EXPERIMENT,
                "--dry-run",
                "--config",
                "openai.toml",
                "--output-root",
                "out",
            ],
        )
        .env_remove(var));
    assert_every_run_fails(&sandbox.path().join("out"), &output, &[var]);
}

//! Stages a plugin declares as data (plugin-api 1.1), through the real binary and the
//! `declared_stage` fixture: `stages list --plugin-dir` shows them under the plugin's family (text
//! and JSON); an offline run executes them after the A/B prompt (a transcript step each, their
//! outputs written in their shapes); a broken declaration is refused at load time naming the
//! plugin and the stage; another plugin's runs cannot name them.

use std::path::Path;

use serde_json::Value;

use crate::execute::results_of;
use crate::util::{
    copy_into, fixture, library_file_name, pretty, run, with_fixture, Run, Sandbox, DECLARED_STAGE,
    MISBEHAVING_CALLS,
};

/// `image-project stages list --no-default-plugin-dirs --plugin-dir <plugins> <extra>`.
fn stages_list(sandbox: &Sandbox, plugins: &Path, extra: &[&str]) -> Run {
    let mut cmd = sandbox.cmd();
    cmd.args(["stages", "list", "--no-default-plugin-dirs", "--plugin-dir"])
        .arg(plugins)
        .args(extra);
    run(&mut cmd)
}

#[test]
fn stages_list_shows_a_plugins_declared_stages_under_its_family() {
    let (sandbox, plugins) = with_fixture(DECLARED_STAGE);
    let output = stages_list(&sandbox, &plugins, &[]);
    output.assert_code(0);
    let text = &output.stdout;
    let family = text
        .find("\ndeclared_stage (declared by the plugin in ")
        .unwrap_or_else(|| panic!("no family line for the plugin{output}"));
    assert!(
        text.find("\n  ab.scene_draft (chat)")
            .is_some_and(|at| at < family),
        "the built-in stages come first{output}"
    );
    let critique = &text[family..];
    for line in [
        "\n  declared_stage.critique (chat)\n    One line on what the final prompt lacks\n",
        "\n    requires  image_prompt\n    provides  critique\n    captures  none\n    response  line\n    config    temperature = 0.3\n",
        "\n  declared_stage.tags (chat)\n",
        "\n    requires  image_prompt, critique\n    provides  declared_stage.tags\n    captures  none\n    response  json_object\n    config    temperature = 0.7\n",
    ] {
        assert!(critique.contains(line), "missing {line:?}{output}");
    }

    let output = stages_list(&sandbox, &plugins, &["--json"]);
    output.assert_code(0);
    let document = output.json();
    let stages = document["stages"].as_array().cloned().unwrap_or_default();
    let critique = stages
        .iter()
        .find(|stage| stage["id"] == "declared_stage.critique")
        .unwrap_or_else(|| panic!("no declared_stage.critique{output}"));
    assert_eq!(critique["plugin"], DECLARED_STAGE, "{output}");
    assert_eq!(critique["kind"], "chat", "{output}");
    assert_eq!(critique["response"], "line", "{output}");
    assert_eq!(critique["requires"], serde_json::json!(["image_prompt"]));
    assert_eq!(critique["provides"], serde_json::json!(["critique"]));
    assert_eq!(
        critique["config"],
        serde_json::json!([{"key": "temperature", "default": 0.3}])
    );
    let builtin = stages
        .iter()
        .find(|stage| stage["id"] == "ab.scene_draft")
        .unwrap_or_else(|| panic!("no ab.scene_draft{output}"));
    assert!(
        builtin.get("plugin").is_none() && builtin.get("response").is_none(),
        "built-in stages keep their fields{output}"
    );
    assert_eq!(document["errors"], serde_json::json!([]), "{output}");
}

#[test]
fn stages_list_markdown_stays_built_in_only() {
    let (sandbox, plugins) = with_fixture(DECLARED_STAGE);
    let with_plugin = stages_list(&sandbox, &plugins, &["--markdown"]);
    with_plugin.assert_code(0);
    assert!(
        !with_plugin.stdout.contains("declared_stage"),
        "{with_plugin}"
    );
    let without =
        run(sandbox
            .cmd()
            .args(["stages", "list", "--markdown", "--no-default-plugin-dirs"]));
    assert_eq!(with_plugin.stdout, without.stdout);
}

#[test]
fn an_offline_run_executes_the_declared_stages_in_their_shapes() {
    let (sandbox, plugins) = with_fixture(DECLARED_STAGE);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            DECLARED_STAGE,
            "--seed",
            "3",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let results = results_of(&out, &output);
    assert_eq!(results.len(), 1, "{output}");
    let generation_id = results[0]["generation_id"].as_str().unwrap_or_default();
    let path = out.join(format!("logs/{generation_id}_transcript.json"));
    let transcript: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("`{}`: {error}{output}", path.display())),
    )
    .expect("a JSON transcript");
    let context = format!("\n--- transcript\n{}{output}", pretty(&transcript));
    let steps = transcript["steps"].as_array().cloned().unwrap_or_default();
    let step = |path: &str| {
        steps
            .iter()
            .find(|step| step["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("no step `{path}`{context}"))
    };
    let outputs = &transcript["outputs"];
    let final_prompt = transcript["final_image_prompt"]
        .as_str()
        .unwrap_or_default();
    assert!(!final_prompt.is_empty(), "{context}");
    assert_eq!(outputs["image_prompt"], final_prompt, "{context}");

    let critique = step("pipeline/declared_stage.critique/draft");
    assert_eq!(
        critique["prompt"],
        format!("Name the one thing this image prompt lacks, in one line:\n{final_prompt}"),
        "the template sees the final prompt{context}"
    );
    assert_eq!(critique["params"]["temperature"], 0.3, "{context}");
    let line = outputs["critique"].as_str().unwrap_or_default();
    assert!(
        !line.is_empty() && !line.contains('\n'),
        "one line{context}"
    );
    assert_eq!(critique["response"].as_str().map(str::trim), Some(line));

    let tags = step("pipeline/declared_stage.tags/draft");
    assert!(
        tags["prompt"]
            .as_str()
            .is_some_and(|prompt| prompt.ends_with(&format!("Critique: {line}"))),
        "{context}"
    );
    let stored = outputs["declared_stage.tags"].as_str().unwrap_or_default();
    let object: Value = serde_json::from_str(stored)
        .unwrap_or_else(|error| panic!("the stored answer is JSON ({error}){context}"));
    assert!(object.is_object(), "a JSON object{context}");
    assert_eq!(
        transcript["outputs"]["prompt_pipeline"]["capture_stage"], "ab.final_prompt_format",
        "{context}"
    );
}

#[test]
fn a_broken_declaration_is_refused_at_load_naming_the_plugin_and_the_stage() {
    let (sandbox, plugins) = with_fixture(DECLARED_STAGE);
    for (breakage, stage, expected) in [
        (
            "undeclared-variable",
            "critique",
            "the template uses `mood`, not in `reads` (expected only the variables of `reads`: image_prompt)",
        ),
        (
            "bad-name",
            "Critique!",
            "invalid name (expected lowercase letters, digits and `_`)",
        ),
        (
            "unknown-knob",
            "critique",
            "unknown knob `top_p` (expected only `temperature`)",
        ),
    ] {
        let reason = format!("plugin `declared_stage`, declared stage `{stage}`: {expected}");
        let output = run(sandbox
            .experiments(&plugins, &["list", "--json"])
            .env("DECLARED_STAGE", breakage));
        output.assert_code(0);
        let errors = output.json()["errors"].clone();
        assert_eq!(errors[0]["reason"], reason, "{breakage}{output}");
        assert_eq!(errors[0]["experiment"], DECLARED_STAGE, "{breakage}{output}");

        let output = run(sandbox
            .experiments(&plugins, &["run", DECLARED_STAGE, "--dry-run"])
            .env("DECLARED_STAGE", breakage));
        output
            .assert_code(2)
            .assert_stderr_has(&["experiment `declared_stage` failed to load", &reason]);

        let listed = run(sandbox
            .cmd()
            .args(["stages", "list", "--no-default-plugin-dirs", "--plugin-dir"])
            .arg(&plugins)
            .env("DECLARED_STAGE", breakage));
        assert!(
            listed.stdout.contains("files that failed to load:")
                && listed.stdout.contains(&reason)
                && !listed.stdout.contains("declared_stage.critique"),
            "{breakage}{listed}"
        );
    }
}

#[test]
fn another_plugins_runs_cannot_name_a_declared_stage() {
    let (sandbox, plugins) = with_fixture(DECLARED_STAGE);
    copy_into(
        &fixture(MISBEHAVING_CALLS),
        &plugins,
        &library_file_name(MISBEHAVING_CALLS),
    );
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            MISBEHAVING_CALLS,
            "--dry-run",
            "--set",
            r#"prompt.stages.sequence=["ab.random_token", "ab.scene_draft", "declared_stage.critique"]"#,
        ],
    ));
    output.assert_code(2).assert_stderr_has(&[
        "unknown stage kind `declared_stage.critique` (available: ab.final_prompt_format",
    ]);
    assert!(
        !output.stderr.contains("available: declared_stage")
            && !output.stderr.contains(", declared_stage."),
        "the declared stages are not available to another plugin{output}"
    );
}

#[test]
fn describe_names_the_declared_stages_in_text_and_json() {
    let (sandbox, plugins) = with_fixture(DECLARED_STAGE);
    let describe = |extra: &[&str]| {
        let mut cmd = sandbox.cmd();
        cmd.args(["experiments", "describe", DECLARED_STAGE])
            .args(["--no-default-plugin-dirs", "--plugin-dir"])
            .arg(&plugins)
            .args(extra);
        run(&mut cmd)
    };
    let output = describe(&[]);
    output.assert_code(0);
    assert!(
        output.stdout.contains(
            "\n  declared_stage.critique (line): reads image_prompt, writes critique\n      One line on what the final prompt lacks\n"
        ),
        "{output}"
    );
    assert!(
        output
            .stdout
            .contains("\n  declared_stage.tags (json_object): reads image_prompt, critique, writes declared_stage.tags\n"),
        "{output}"
    );
    let output = describe(&["--json"]);
    output.assert_code(0);
    let names: Vec<Value> = output.json()["stages"]
        .as_array()
        .map(|stages| stages.iter().map(|stage| stage["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["critique", "tags"], "{output}");
}

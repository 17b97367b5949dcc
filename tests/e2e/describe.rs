//! `experiments describe <NAME>`: the text and JSON description of an experiment, and unknown
//! names (exit 2, the available names and a did-you-mean suggestion).

use serde_json::{json, Value};

use crate::util::{library_file_name, pretty, run, Sandbox, EXPERIMENTS, INTERFACE_VERSION};

/// The flag called `name` in a describe document.
fn flag<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["args"]
        .as_array()
        .and_then(|args| args.iter().find(|arg| arg["name"] == name))
        .unwrap_or_else(|| panic!("no flag `{name}` in:\n{}", pretty(document)))
}

#[test]
fn describe_json_lists_the_ab_flags_with_kinds_and_defaults() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output =
        run(&mut sandbox.experiments(&plugins, &["describe", "ab_refinement_block", "--json"]));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(document["name"], "ab_refinement_block", "{output}");
    assert_eq!(document["interface_version"], INTERFACE_VERSION, "{output}");
    assert_eq!(
        crate::util::file_name_of(&document["library"]),
        library_file_name("exp_ab_refinement_block"),
        "{output}"
    );
    assert!(
        document["summary"]
            .as_str()
            .is_some_and(|summary| !summary.is_empty()),
        "{output}"
    );

    let runs = flag(&document, "runs");
    assert_eq!(runs["kind"], "int", "{output}");
    assert_eq!(runs["default"], 5, "{output}");

    let data = flag(&document, "data");
    assert_eq!(data["kind"], "choice", "{output}");
    assert_eq!(data["default"], "config", "{output}");
    assert_eq!(data["choices"], json!(["sample", "config"]), "{output}");
}

#[test]
fn describe_text_shows_summary_flags_and_how_to_run() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(&plugins, &["describe", "ab_refinement_block"]));
    output.assert_code(0);
    let line = |prefix: &str| {
        output
            .stdout
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}{output}"))
            .to_owned()
    };
    assert!(line("name:").ends_with("ab_refinement_block"), "{output}");
    let runs = line("--runs ");
    assert!(
        runs.contains("int") && runs.contains("default 5"),
        "{output}"
    );
    let data = line("--data ");
    assert!(
        data.contains("choice") && data.contains("config") && data.contains("sample|config"),
        "{output}"
    );
    assert!(
        output
            .stdout
            .contains("experiments run ab_refinement_block"),
        "{output}"
    );
}

#[test]
fn describe_json_of_profile_v5_lists_its_runner_keys() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(&plugins, &["describe", "profile_v5_3x3", "--json"]));
    output.assert_code(0);
    let document = output.json();
    let keys = document["runner_keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for key in [
        "profile_like_dislike_path",
        "profile_love_like_dislike_hate_path",
    ] {
        assert!(
            keys.contains(&json!(key)),
            "runner key `{key}` missing{output}"
        );
    }
}

/// What an unknown-name error must say: exit 2, the suggestion, every available name.
pub fn assert_unknown_experiment(output: &crate::util::Run, misspelt: &str, suggestion: &str) {
    output.assert_code(2);
    output.assert_stderr_has(&[&format!("`{misspelt}`"), &format!("`{suggestion}`")]);
    for (name, _) in EXPERIMENTS {
        assert!(
            output.stderr.contains(name),
            "available names list `{name}`{output}"
        );
    }
    assert!(output.stdout.is_empty(), "{output}");
}

#[test]
fn describe_of_an_unknown_name_suggests_the_closest_and_lists_the_rest() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(&plugins, &["describe", "ab_refinment_block"]));
    assert_unknown_experiment(&output, "ab_refinment_block", "ab_refinement_block");
}

#[test]
fn describe_json_of_an_unknown_name_is_still_exit_2() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output =
        run(&mut sandbox.experiments(&plugins, &["describe", "ab_refinment_block", "--json"]));
    assert_unknown_experiment(&output, "ab_refinment_block", "ab_refinement_block");
}

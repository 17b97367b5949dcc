//! `experiments list`: the default search path, the `--plugin-dir` flags, shadowing, and the
//! report of every file that failed to load (fault fixtures, a non-plugin library, a junk file, a
//! FIFO, an abort-built plugin), and how a plugin's own text is shown.

use std::collections::BTreeSet;
use std::env::consts::DLL_EXTENSION;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    copy_into, file_name_of, fixture, library_file_name, pretty, run, Run, Sandbox, EXPERIMENTS,
    FAULT_ABORT, FAULT_MALFORMED, FAULT_PANIC, FAULT_V2, INTERFACE_VERSION, NOT_A_PLUGIN,
};

fn names(document: &Value) -> Vec<String> {
    document["experiments"]
        .as_array()
        .unwrap_or_else(|| panic!("no `experiments` array:\n{}", pretty(document)))
        .iter()
        .map(|experiment| experiment["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn errors(document: &Value) -> &Vec<Value> {
    document["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no `errors` array:\n{}", pretty(document)))
}

fn four_names() -> Vec<String> {
    EXPERIMENTS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// The one error reported for the file called `file_name`.
fn error_for<'a>(errors: &'a [Value], file_name: &str, output: &Run) -> &'a Value {
    let matching: Vec<&Value> = errors
        .iter()
        .filter(|error| file_name_of(&error["path"]) == file_name)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one error for `{file_name}`{output}"
    );
    matching[0]
}

fn reason(error: &Value) -> &str {
    error["reason"].as_str().unwrap_or_default()
}

/// Asserts that `document` lists exactly the four workspace experiments, loaded from `dir`, with
/// no errors, and returns their `shadowed` lists.
fn assert_four_from(document: &Value, dir: &Path, output: &Run) -> Vec<Value> {
    assert_eq!(names(document), four_names(), "{output}");
    assert!(errors(document).is_empty(), "{output}");
    let experiments = document["experiments"].as_array().unwrap();
    for (experiment, (_, crate_name)) in experiments.iter().zip(EXPERIMENTS) {
        assert_eq!(
            experiment["interface_version"], INTERFACE_VERSION,
            "{output}"
        );
        assert_eq!(
            Path::new(experiment["library"].as_str().unwrap_or_default()),
            dir.join(library_file_name(crate_name)),
            "{output}"
        );
    }
    experiments
        .iter()
        .map(|experiment| experiment["shadowed"].clone())
        .collect()
}

// The literal check of the default search path as cargo leaves it: the binary's own directory,
// `target/<profile>/`. `cargo test` builds the plugin cdylibs only into `target/<profile>/deps/`
// (it copies a library up next to the binary only for packages built as roots, e.g. by
// `cargo build --workspace`), and a copy there can be stale; so this runs on request, after a
// build: `cargo build --workspace && cargo test -p image-project --test e2e -- --ignored`.
#[test]
#[ignore = "needs `cargo build --workspace` first: `cargo test` leaves the plugins in deps/ only"]
fn list_json_with_default_dirs_finds_the_four_workspace_experiments() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.cmd().args(["experiments", "list", "--json"]));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(names(&document), four_names(), "{output}");
    assert!(errors(&document).is_empty(), "{output}");
    for experiment in document["experiments"].as_array().unwrap() {
        assert_eq!(
            experiment["interface_version"], INTERFACE_VERSION,
            "{output}"
        );
    }
}

#[test]
fn list_json_with_default_dirs_finds_the_plugins_next_to_the_executable() {
    let sandbox = Sandbox::new();
    let bin = sandbox.fresh_plugin_dir("bin");
    let exe = sandbox.copy_binary("bin");
    let output = run(sandbox
        .cmd_for(&exe)
        .args(["experiments", "list", "--json"]));
    output.assert_code(0);
    let shadowed = assert_four_from(&output.json(), &bin, &output);
    assert!(
        shadowed.iter().all(|list| list == &serde_json::json!([])),
        "{output}"
    );
}

#[test]
fn list_json_with_default_dirs_prefers_dot_plugins_over_the_executables_dir() {
    let sandbox = Sandbox::new();
    let bin = sandbox.fresh_plugin_dir("bin");
    let exe = sandbox.copy_binary("bin");
    let dot_plugins = sandbox.fresh_plugin_dir("plugins");
    let output = run(sandbox
        .cmd_for(&exe)
        .args(["experiments", "list", "--json"]));
    output.assert_code(0);
    let shadowed = assert_four_from(&output.json(), &dot_plugins, &output);
    for (list, (_, crate_name)) in shadowed.iter().zip(EXPERIMENTS) {
        assert_eq!(
            list,
            &serde_json::json!([bin.join(library_file_name(crate_name))]),
            "{output}"
        );
    }
}

#[test]
fn no_default_plugin_dirs_skips_dot_plugins_and_the_executables_dir() {
    let sandbox = Sandbox::new();
    sandbox.fresh_plugin_dir("bin");
    let exe = sandbox.copy_binary("bin");
    sandbox.fresh_plugin_dir("plugins");
    let output = run(sandbox.cmd_for(&exe).args([
        "experiments",
        "list",
        "--json",
        "--no-default-plugin-dirs",
    ]));
    output.assert_code(0);
    let document = output.json();
    assert!(names(&document).is_empty(), "{output}");
    assert!(errors(&document).is_empty(), "{output}");
}

#[test]
fn the_plugin_path_variable_is_searched_before_the_default_dirs() {
    let sandbox = Sandbox::new();
    let from_env = sandbox.fresh_plugin_dir("from-env");
    let dot_plugins = sandbox.fresh_plugin_dir("plugins");
    let exe = sandbox.copy_binary("bin");
    let output = run(sandbox
        .cmd_for(&exe)
        .args(["experiments", "list", "--json"])
        .env("IMAGE_PROJECT_PLUGIN_PATH", &from_env));
    output.assert_code(0);
    let shadowed = assert_four_from(&output.json(), &from_env, &output);
    for (list, (_, crate_name)) in shadowed.iter().zip(EXPERIMENTS) {
        assert_eq!(
            list,
            &serde_json::json!([dot_plugins.join(library_file_name(crate_name))]),
            "{output}"
        );
    }
}

#[test]
fn list_json_with_an_explicit_plugin_dir_reports_interface_and_library() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(&plugins, &["list", "--json"]));
    output.assert_code(0);
    let shadowed = assert_four_from(&output.json(), &plugins, &output);
    assert!(
        shadowed.iter().all(|list| list == &serde_json::json!([])),
        "{output}"
    );
}

#[test]
fn list_reports_each_bad_file_once_and_still_lists_the_good_plugins() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    for crate_name in [FAULT_MALFORMED, FAULT_V2, NOT_A_PLUGIN, FAULT_PANIC] {
        copy_into(
            &fixture(crate_name),
            &plugins,
            &library_file_name(crate_name),
        );
    }
    let junk = format!("junk.{DLL_EXTENSION}");
    sandbox.write(
        &format!("plugin-dir/{junk}"),
        "this is a text file, not a library\n",
    );

    let output = run(sandbox
        .experiments(&plugins, &["list", "--json"])
        .env("FAULT_PANIC_HOOK", "descriptor"));
    output.assert_code(0);
    let document = output.json();

    let mut expected = four_names();
    expected.push(FAULT_MALFORMED.to_owned());
    let listed: BTreeSet<String> = names(&document).into_iter().collect();
    assert_eq!(
        listed,
        expected.into_iter().collect::<BTreeSet<_>>(),
        "{output}"
    );
    assert_eq!(
        names(&document).len(),
        5,
        "each experiment listed once{output}"
    );

    let errors = errors(&document);
    assert_eq!(errors.len(), 4, "one error per bad file{output}");

    let v2 = reason(error_for(errors, &library_file_name(FAULT_V2), &output));
    assert!(
        v2.contains("2.0.0") && v2.contains(INTERFACE_VERSION),
        "fault_v2 reason names both versions{output}"
    );
    assert!(!v2.contains('\n'), "fault_v2 reason is one line{output}");

    let not_a_plugin = reason(error_for(errors, &library_file_name(NOT_A_PLUGIN), &output));
    assert!(
        not_a_plugin.contains("not an image-project plugin"),
        "{output}"
    );

    let junk_reason = reason(error_for(errors, &junk, &output));
    assert!(junk_reason.contains("not a loadable library"), "{output}");

    let panic = reason(error_for(errors, &library_file_name(FAULT_PANIC), &output));
    assert!(
        panic.contains("`fault_panic`") && panic.contains("`descriptor`"),
        "{output}"
    );

    for error in errors {
        assert!(
            !reason(error).contains('\n'),
            "every reason is one line{output}"
        );
    }
}

#[test]
fn list_text_shows_the_experiments_then_the_failures() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    copy_into(
        &fixture(NOT_A_PLUGIN),
        &plugins,
        &library_file_name(NOT_A_PLUGIN),
    );
    let output = run(&mut sandbox.experiments(&plugins, &["list"]));
    output.assert_code(0);
    for (name, _) in EXPERIMENTS {
        assert!(
            output.stdout.lines().any(|line| line.starts_with(name)),
            "`{name}` listed{output}"
        );
    }
    let failures = output
        .stdout
        .find("failed to load")
        .unwrap_or_else(|| panic!("no failure section{output}"));
    let bad_line = output.stdout[failures..]
        .lines()
        .find(|line| line.contains(&library_file_name(NOT_A_PLUGIN)))
        .unwrap_or_else(|| panic!("`not_a_plugin` missing from the failures{output}"));
    assert!(bad_line.contains("not an image-project plugin"), "{output}");
}

#[test]
fn an_earlier_plugin_dir_shadows_a_later_one() {
    let sandbox = Sandbox::new();
    let first = sandbox.mkdir("first");
    let second = sandbox.mkdir("second");
    let file_name = library_file_name("exp_3x3");
    let winner = copy_into(&crate::util::fresh_plugin("exp_3x3"), &first, &file_name);
    let loser = copy_into(&crate::util::fresh_plugin("exp_3x3"), &second, &file_name);

    let output = run(sandbox
        .cmd()
        .args([
            "experiments",
            "list",
            "--json",
            "--no-default-plugin-dirs",
            "--plugin-dir",
        ])
        .arg(&first)
        .arg("--plugin-dir")
        .arg(&second));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(names(&document), vec!["3x3".to_owned()], "{output}");
    assert!(errors(&document).is_empty(), "{output}");
    let experiment = &document["experiments"][0];
    assert_eq!(
        Path::new(experiment["library"].as_str().unwrap_or_default()),
        winner,
        "{output}"
    );
    assert_eq!(
        experiment["shadowed"],
        serde_json::json!([loser]),
        "{output}"
    );
}

#[test]
fn two_libraries_of_one_experiment_in_one_dir_are_both_refused() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    let fresh = crate::util::fresh_plugin("exp_3x3");
    let original = library_file_name("exp_3x3");
    let copy = library_file_name("exp_3x3_copy");
    copy_into(&fresh, &plugins, &original);
    copy_into(&fresh, &plugins, &copy);
    copy_into(
        &crate::util::fresh_plugin("exp_ab_refinement_block"),
        &plugins,
        &library_file_name("exp_ab_refinement_block"),
    );

    let output = run(&mut sandbox.experiments(&plugins, &["list", "--json"]));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(
        names(&document),
        vec!["ab_refinement_block".to_owned()],
        "3x3 is not listed{output}"
    );
    let errors = errors(&document);
    assert_eq!(errors.len(), 2, "{output}");
    for (file_name, other) in [(&original, &copy), (&copy, &original)] {
        let error = error_for(errors, file_name, &output);
        let text = reason(error);
        assert!(
            text.contains("`3x3`") && text.contains(other.as_str()),
            "the reason names the twin{output}"
        );
        // The descriptor was read before the refusal, so the error says which experiment it is.
        assert_eq!(error["experiment"], "3x3", "{output}");
    }
}

#[test]
fn a_missing_plugin_dir_is_a_usage_error_naming_it() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("no-such-plugin-dir");
    for command in ["list", "describe"] {
        let mut cmd = sandbox.cmd();
        cmd.args(["experiments", command]);
        if command == "describe" {
            cmd.arg("3x3");
        }
        cmd.arg("--plugin-dir").arg(&missing);
        let output = run(&mut cmd);
        output
            .assert_code(2)
            .assert_stderr_has(&["no-such-plugin-dir"]);
        assert!(output.stdout.is_empty(), "{output}");
    }
}

#[test]
fn a_panicking_descriptor_is_reported_and_list_still_succeeds() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    copy_into(
        &fixture(FAULT_PANIC),
        &plugins,
        &library_file_name(FAULT_PANIC),
    );
    let output = run(sandbox
        .experiments(&plugins, &["list", "--json"])
        .env("FAULT_PANIC_HOOK", "descriptor"));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(names(&document), four_names(), "{output}");
    let errors = errors(&document);
    assert_eq!(errors.len(), 1, "{output}");
    let text = reason(error_for(errors, &library_file_name(FAULT_PANIC), &output));
    assert!(
        text.contains("`fault_panic`")
            && text.contains("`descriptor`")
            && text.contains("panicked"),
        "{output}"
    );
}

#[test]
fn fault_panic_loads_when_no_hook_is_asked_to_panic() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    copy_into(
        &fixture(FAULT_PANIC),
        &plugins,
        &library_file_name(FAULT_PANIC),
    );
    let output = run(&mut sandbox.experiments(&plugins, &["list", "--json"]));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(names(&document), vec![FAULT_PANIC.to_owned()], "{output}");
    assert!(errors(&document).is_empty(), "{output}");
}

// Issue 10 ("the runner's guarantees"), items 3 and 5: files and plugins that would hang or take
// down the host are reported, never opened or called.

/// Long enough that a hang fails the test instead of blocking it; `list` takes milliseconds.
const HANG_TIMEOUT: Duration = Duration::from_secs(20);

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_library_is_reported_without_being_opened() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let fifo = plugins.join(format!("evil.{DLL_EXTENSION}"));
    crate::util::mkfifo(&fifo);
    sandbox.mkdir(&format!("plugin-dir/dir.{DLL_EXTENSION}"));
    // A symbolic link to a real library still loads.
    let link = plugins.join(format!("link.{DLL_EXTENSION}"));
    std::os::unix::fs::symlink(crate::util::fixture(FAULT_PANIC), &link).expect("symlink");

    let output = run(sandbox
        .experiments(&plugins, &["list", "--json"])
        .timeout(HANG_TIMEOUT));
    output.assert_code(0);
    let document = output.json();
    let mut expected = four_names();
    expected.push(FAULT_PANIC.to_owned());
    expected.sort();
    assert_eq!(names(&document), expected, "{output}");
    let errors = errors(&document);
    assert_eq!(errors.len(), 2, "{output}");
    let fifo_reason = reason(error_for(errors, &format!("evil.{DLL_EXTENSION}"), &output));
    assert!(
        fifo_reason.contains("not a regular file (a FIFO)"),
        "{output}"
    );
    let dir_reason = reason(error_for(errors, &format!("dir.{DLL_EXTENSION}"), &output));
    assert!(
        dir_reason.contains("not a regular file (a directory)"),
        "{output}"
    );

    let output = run(sandbox
        .experiments(&plugins, &["list"])
        .timeout(HANG_TIMEOUT));
    output.assert_code(0);
    let line = output
        .stdout
        .lines()
        .find(|line| line.contains(&format!("evil.{DLL_EXTENSION}")))
        .unwrap_or_else(|| panic!("the FIFO is not mentioned{output}"));
    assert!(line.contains("not a regular file (a FIFO)"), "{output}");
}

#[test]
fn an_abort_built_plugin_is_refused_from_its_panic_strategy_record() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    copy_into(
        &fixture(FAULT_ABORT),
        &plugins,
        &library_file_name(FAULT_ABORT),
    );
    // The fixture carries the panic-strategy record and no root module: only a host that reads the
    // record first names `panic = "abort"`; one that went on to the root module would call it
    // "not an image-project plugin".
    let output = run(&mut sandbox.experiments(&plugins, &["list", "--json"]));
    output.assert_code(0);
    let document = output.json();
    assert_eq!(names(&document), four_names(), "{output}");
    let errors = errors(&document);
    assert_eq!(errors.len(), 1, "{output}");
    let text = reason(error_for(errors, &library_file_name(FAULT_ABORT), &output));
    assert!(
        text.contains("built with `panic = \"abort\"`") && !text.contains('\n'),
        "{output}"
    );
    for experiment in document["experiments"].as_array().unwrap() {
        assert_eq!(experiment["panic_strategy"], "unwind", "{output}");
        assert_eq!(experiment["warnings"], serde_json::json!([]), "{output}");
    }
}

#[test]
fn a_plugin_without_a_panic_strategy_record_loads_with_a_warning() {
    // `fault_malformed` builds its root module by hand, without the export macro: what a plugin
    // built before the record existed looks like.
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    copy_into(
        &fixture(FAULT_MALFORMED),
        &plugins,
        &library_file_name(FAULT_MALFORMED),
    );
    let output = run(&mut sandbox.experiments(&plugins, &["list", "--json"]));
    output.assert_code(0);
    let document = output.json();
    let experiment = &document["experiments"][0];
    assert_eq!(experiment["name"], FAULT_MALFORMED, "{output}");
    assert_eq!(experiment["panic_strategy"], "unknown", "{output}");
    let warning = experiment["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.starts_with("panic strategy unknown"), "{output}");

    let output = run(&mut sandbox.experiments(&plugins, &["list"]));
    output.assert_code(0);
    assert!(
        output.stdout.contains("warning: panic strategy unknown"),
        "{output}"
    );
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", FAULT_MALFORMED, "--dry-run", "--output-root", "out"],
    ));
    output.assert_code(0).assert_stderr_has(&[
        "warning: plugin `",
        &library_file_name(FAULT_MALFORMED),
        "panic strategy unknown",
    ]);
}

#[test]
fn a_64_kib_summary_with_escapes_is_listed_escaped_and_cut() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    copy_into(
        &fixture(FAULT_MALFORMED),
        &plugins,
        &library_file_name(FAULT_MALFORMED),
    );
    let summary = format!("two\nlines \u{1b}[31mred {}", "x".repeat(64 * 1024));
    let output = run(sandbox
        .experiments(&plugins, &["list"])
        .env("FAULT_MALFORMED_SUMMARY", &summary));
    // Before issue 10 this panicked (exit 101): the column width, taken from the raw summary,
    // overflowed what `format!` accepts.
    output.assert_code(0);
    assert!(!output.stdout.contains('\u{1b}'), "no raw escape{output}");
    let line = output
        .stdout
        .lines()
        .find(|line| line.starts_with(FAULT_MALFORMED))
        .unwrap_or_else(|| panic!("not listed{output}"));
    assert!(line.contains("two\\nlines \\u{1b}[31mred xxx"), "{output}");
    assert!(line.contains('…') && line.len() < 1000, "cut{output}");

    for command in [
        &["describe", FAULT_MALFORMED][..],
        &["run", FAULT_MALFORMED, "--help"],
    ] {
        let output = run(sandbox
            .experiments(&plugins, command)
            .env("FAULT_MALFORMED_SUMMARY", &summary));
        output.assert_code(0);
        assert!(output.stdout.contains("two\\nlines"), "{output}");
        assert!(!output.stdout.contains('\u{1b}'), "{output}");
    }

    // JSON keeps the text whole: it escapes it itself, and a program wants all of it.
    let output = run(sandbox
        .experiments(&plugins, &["list", "--json"])
        .env("FAULT_MALFORMED_SUMMARY", &summary));
    output.assert_code(0);
    assert_eq!(output.json()["experiments"][0]["summary"], summary.as_str());
}

#[test]
fn a_name_with_control_characters_is_refused_on_one_escaped_line() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    copy_into(
        &fixture(FAULT_MALFORMED),
        &plugins,
        &library_file_name(FAULT_MALFORMED),
    );
    let output = run(sandbox
        .experiments(&plugins, &["list"])
        .env("FAULT_MALFORMED_NAME", "evil\n\u{1b}[2Jname"));
    output.assert_code(0);
    assert!(!output.stdout.contains('\u{1b}'), "{output}");
    let line = output
        .stdout
        .lines()
        .find(|line| line.contains(&library_file_name(FAULT_MALFORMED)))
        .unwrap_or_else(|| panic!("not reported{output}"));
    assert!(
        line.contains("invalid experiment name `evil\\n\\u{1b}[2Jname`"),
        "{output}"
    );
}

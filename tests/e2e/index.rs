//! `index-artifacts` and the index the runner refreshes after each experiment.

use crate::util::{read_json, run, Sandbox};

#[test]
fn an_experiment_refreshes_the_index_of_its_store_and_the_command_rebuilds_it() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--runs",
            "1",
            "--seed",
            "4",
            "--experiment-id",
            "idx_demo",
        ],
    ));
    output.assert_code(0);
    let index = read_json(
        &sandbox
            .path()
            .join("_artifacts/index/experiments_index.json"),
    );
    let experiments = index["experiments"]
        .as_array()
        .expect("experiments is an array");
    assert_eq!(experiments.len(), 1, "{index}");
    assert_eq!(experiments[0]["experiment_id"], "idx_demo");
    assert_eq!(experiments[0]["base_seed"], 4);
    assert_eq!(experiments[0]["planned_runs"], 2);
    assert_eq!(experiments[0]["executed_runs"], 2);
    let registry =
        std::fs::read_to_string(sandbox.path().join("_artifacts/index/run_registry.csv")).unwrap();
    assert_eq!(
        registry.lines().count(),
        3,
        "a header and one row per run:\n{registry}"
    );

    std::fs::remove_dir_all(sandbox.path().join("_artifacts/index")).unwrap();
    let rebuilt = run(sandbox.cmd().args(["index-artifacts", "--json"]));
    rebuilt.assert_code(0);
    let report = rebuilt.json();
    assert_eq!(report["counts"]["experiments"], 1, "{report}");
    assert!(sandbox
        .path()
        .join("_artifacts/index/experiments_index.json")
        .is_file());
}

#[test]
fn a_missing_artifacts_root_is_a_usage_error_naming_it() {
    let sandbox = Sandbox::new();
    let output = run(sandbox
        .cmd()
        .args(["index-artifacts", "--artifacts-root", "nowhere"]));
    output.assert_code(2).assert_stderr_has(&["nowhere"]);
}

/// The four index files with `generated_at` (the time of writing) taken out.
fn index_files(index: &std::path::Path) -> Vec<(String, String)> {
    [
        "experiment_registry.csv",
        "image_registry.csv",
        "run_registry.csv",
        "experiments_index.json",
    ]
    .iter()
    .map(|name| {
        let text = std::fs::read_to_string(index.join(name)).unwrap();
        let text = text
            .split_inclusive('\n')
            .filter(|line| !line.trim_start().starts_with("\"generated_at\""))
            .collect();
        (name.to_string(), text)
    })
    .collect()
}

#[test]
fn the_refresh_after_an_experiment_writes_what_index_artifacts_writes() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    for (id, seed) in [("idx_first", "1"), ("idx_second", "2")] {
        let args = [
            "run",
            "ab_refinement_block",
            "--runs",
            "1",
            "--seed",
            seed,
            "--experiment-id",
            id,
        ];
        run(&mut sandbox.experiments(&plugins, &args)).assert_code(0);
    }
    let index = sandbox.path().join("_artifacts/index");
    assert!(index.join(".cache/index-cache.json").is_file());
    let refreshed = index_files(&index);
    assert!(refreshed[3].1.contains("idx_first") && refreshed[3].1.contains("idx_second"));

    run(sandbox.cmd().args(["index-artifacts"])).assert_code(0);
    for ((name, refreshed), (_, rebuilt)) in refreshed.iter().zip(index_files(&index)) {
        assert_eq!(
            refreshed, &rebuilt,
            "{name}: the refresh and `index-artifacts` differ"
        );
    }
}

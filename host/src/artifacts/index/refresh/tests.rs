//! Tests of the refresh: what it reuses and reads again as a store changes, and that it writes
//! exactly what a rebuild and one pass over the whole store write; a damaged cache is a warning;
//! unchanged directories are not listed again.

use std::fs;

use serde_json::json;

use super::super::assemble::index_store;
use super::super::columns::write_csv;
use super::super::files::CACHE_MANIFEST_FILE;
use super::super::tests::{lines, put, store};
use super::super::{
    refresh_store, update_index, EXPERIMENTS_INDEX_FILE, EXPERIMENT_REGISTRY_FILE,
    IMAGE_REGISTRY_FILE, RUN_REGISTRY_FILE,
};
use super::*;

/// Waits until the file system's clock has moved past every file written so far, so that a
/// refresh trusts their stamps (see `cache::Trust`). Waits one clock tick, not a fixed time.
fn settle(dir: &Path) {
    let probe = dir.join("settle.probe");
    fs::write(&probe, "").unwrap();
    let first = fs::metadata(&probe).unwrap().modified().unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(2));
        fs::write(&probe, "x").unwrap();
        if fs::metadata(&probe).unwrap().modified().unwrap() > first {
            break;
        }
    }
    fs::remove_file(&probe).unwrap();
}

/// An experiment `name` with runs `A1.._n`; the first `executed` have a runs-index record,
/// and the first of those a manifest row.
fn experiment(root: &Path, name: &str, runs: u32, executed: u32, day: u32) {
    let id = |run: u32| format!("A{run}_{name}");
    let planned: Vec<Value> = (1..=runs)
        .map(|run| json!({"variant": "A", "run": run, "generation_id": id(run), "seed": run, "plan": "direct"}))
        .collect();
    let plan = json!({"experiment_id": name, "run_mode": "prompt_only", "base_seed": day, "planned_runs": planned});
    let dir = format!("experiments/{name}");
    put(
        root,
        &format!("{dir}/experiment_plan.json"),
        &plan.to_string(),
    );
    let records: Vec<Value> = (1..=executed)
        .map(|run| json!({"generation_id": id(run), "created_at": format!("2026-02-{day:02}T00:00:{run:02}Z"),
                          "status": "success", "seed": run, "experiment": {"id": name, "variant": "A_direct", "tags": ["t"]}}))
        .collect();
    put(
        root,
        &format!("{dir}/logs/runs_index.jsonl"),
        &lines(&records),
    );
    if executed > 0 {
        put(
            root,
            &format!("{dir}/generated/titles_manifest.csv"),
            &format!("seq,title,generation_id,created_at\n1,First of {name},{},2026-02-{day:02}T00:00:01Z\n", id(1)),
        );
    }
}

/// The four files of an index, `generated_at` taken out (it is the time of writing).
fn snapshot(out: &Path) -> Vec<(String, String)> {
    [
        EXPERIMENT_REGISTRY_FILE,
        IMAGE_REGISTRY_FILE,
        RUN_REGISTRY_FILE,
        EXPERIMENTS_INDEX_FILE,
    ]
    .iter()
    .map(|name| {
        let text = fs::read_to_string(out.join(name)).unwrap();
        let text: String = text
            .split_inclusive('\n')
            .filter(|line| !line.trim_start().starts_with("\"generated_at\""))
            .collect();
        (name.to_string(), text)
    })
    .collect()
}

/// Asserts that a rebuild from scratch writes what the refresh wrote, and that both write
/// the registries one pass over the whole store renders.
fn assert_same_as_rebuild(root: &Path) {
    let out = root.join("index");
    let refreshed = snapshot(&out);
    update_index(&[root.to_path_buf()], &out).unwrap();
    let rebuilt = snapshot(&out);
    for ((name, refreshed), (_, rebuilt)) in refreshed.iter().zip(&rebuilt) {
        assert_eq!(refreshed, rebuilt, "{name} differs");
    }

    let whole = index_store(&Store::open(root).unwrap());
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("registry.csv");
    let check = |name: &str, rendered: &dyn Fn(&Path)| {
        rendered(&path);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            fs::read_to_string(out.join(name)).unwrap(),
            "{name} differs from one pass over the store"
        );
    };
    fn render<R>(path: &Path, columns: &[Column<R>], rows: &[R]) {
        let rows = rows.iter().map(|row| columns::cells(columns, row));
        write_csv(path, columns::names(columns), rows).unwrap();
    }
    check(EXPERIMENT_REGISTRY_FILE, &|path| {
        render(path, EXPERIMENT_COLUMNS, &whole.experiment_rows)
    });
    check(IMAGE_REGISTRY_FILE, &|path| {
        render(path, IMAGE_COLUMNS, &whole.image_rows)
    });
    check(RUN_REGISTRY_FILE, &|path| {
        render(path, RUN_COLUMNS, &whole.run_rows)
    });
    let document: Value =
        serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
            .unwrap();
    assert_eq!(
        document["experiments"],
        serde_json::to_value(&whole.experiments).unwrap()
    );
    assert_eq!(
        document["counts"],
        serde_json::to_value(&whole.counts).unwrap()
    );
    let mut warnings = serde_json::to_value(&whole.warnings).unwrap();
    warnings["index_cache_errors"] = document["warnings"]["index_cache_errors"].clone();
    assert_eq!(document["warnings"], warnings);
}

use serde_json::Value;

#[test]
fn a_refresh_reads_only_what_changed_and_writes_what_a_rebuild_writes() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // exp1 (with warnings), a `generate` run at the top, a legacy CSV, and three more.
    let root = store(dir.path(), outside.path());
    experiment(&root, "exp2", 3, 2, 2);
    experiment(&root, "exp3", 2, 0, 3);
    experiment(&root, "exp4", 4, 4, 4);
    settle(dir.path());

    let (cold, stats) = refresh_store(&root).unwrap();
    assert_eq!(stats.groups_reused, 0);
    assert!(cold.warnings.index_cache_errors.is_empty());
    assert_same_as_rebuild(&root);

    settle(dir.path());
    let (_, stats) = refresh_store(&root).unwrap();
    assert_eq!(stats.files_read, 0, "nothing changed: {stats:?}");
    assert_eq!(
        stats.groups_reused, 6,
        "exp1 to exp4, the top and legacy: {stats:?}"
    );
    assert_same_as_rebuild(&root);

    // exp2 ran one more run, exp3 is deleted, exp5 is new.
    let runs_index = root.join("experiments/exp2/logs/runs_index.jsonl");
    let mut text = fs::read_to_string(&runs_index).unwrap();
    text.push_str(&lines(&[json!({"generation_id": "A3_exp2", "created_at": "2026-02-02T00:00:09Z", "status": "error"})]));
    fs::write(&runs_index, text).unwrap();
    fs::remove_dir_all(root.join("experiments/exp3")).unwrap();
    experiment(&root, "exp5", 2, 1, 5);
    settle(dir.path());
    let (warm, stats) = refresh_store(&root).unwrap();
    assert_eq!(
        stats.files_read, 6,
        "the plans, runs indexes and manifests of exp2 and exp5: {stats:?}"
    );
    assert_eq!(stats.groups_reused, 4, "{stats:?}");
    assert_eq!(warm.counts.experiments, 4);
    assert_same_as_rebuild(&root);
}

#[test]
fn experiments_sharing_generation_ids_are_indexed_together() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = store(dir.path(), outside.path());
    experiment(&root, "exp2", 3, 2, 2);
    // A copy of exp2 (its plan and runs index name the same generation ids).
    for file in [
        "experiment_plan.json",
        "logs/runs_index.jsonl",
        "generated/titles_manifest.csv",
    ] {
        let text = fs::read_to_string(root.join("experiments/exp2").join(file)).unwrap();
        put(&root, &format!("experiments/exp2.bak/{file}"), &text);
    }
    settle(dir.path());
    let (report, _) = refresh_store(&root).unwrap();
    assert!(
        !report
            .warnings
            .titles_manifest_duplicate_generation_ids
            .is_empty(),
        "{:?}",
        report.warnings
    );
    assert_same_as_rebuild(&root);

    // The copy changes: both are indexed again, together.
    put(&root, "experiments/exp2.bak/logs/runs_index.jsonl", "");
    settle(dir.path());
    let (_, stats) = refresh_store(&root).unwrap();
    assert_eq!(
        stats.files_read, 12,
        "each of the six files on its own, then all together: {stats:?}"
    );
    assert_same_as_rebuild(&root);
}

#[test]
fn a_broken_cache_is_a_warning_and_the_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = store(dir.path(), outside.path());
    experiment(&root, "exp2", 3, 2, 2);
    settle(dir.path());
    refresh_store(&root).unwrap();
    let cache_dir = root.join("index/.cache");
    let manifest = cache_dir.join(CACHE_MANIFEST_FILE);

    // Another version, or written by other index code: ignored quietly.
    for (field, other) in [
        ("version", json!(cache::CACHE_VERSION + 1)),
        ("code", json!("0000000000000000")),
    ] {
        settle(dir.path());
        refresh_store(&root).unwrap();
        let text = fs::read_to_string(&manifest).unwrap();
        let mut value: Value = serde_json::from_str(&text).unwrap();
        value[field] = other;
        fs::write(&manifest, value.to_string()).unwrap();
        let (report, stats) = refresh_store(&root).unwrap();
        assert!(report.warnings.index_cache_errors.is_empty(), "{field}");
        assert_eq!(stats.groups_reused, 0, "{field}");
        assert_same_as_rebuild(&root);
    }

    // Malformed: a warning naming the cache.
    fs::write(&manifest, "{\"version\": 1, \"groups\": [").unwrap();
    let (report, stats) = refresh_store(&root).unwrap();
    assert_eq!(stats.groups_reused, 0);
    let errors = &report.warnings.index_cache_errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "_artifacts/index/.cache");
    assert!(errors[0].message.contains("malformed"), "{}", errors[0]);

    // A group file cut short: a warning, and its groups are indexed again.
    settle(dir.path());
    refresh_store(&root).unwrap();
    for entry in fs::read_dir(&cache_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "bin") {
            let bytes = fs::read(&path).unwrap();
            fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        }
    }
    let (report, stats) = refresh_store(&root).unwrap();
    assert_eq!(stats.groups_reused, 0, "{stats:?}");
    assert!(!report.warnings.index_cache_errors.is_empty());
    let (report, stats) = refresh_store(&root).unwrap();
    assert!(
        report.warnings.index_cache_errors.is_empty(),
        "the cache is whole again"
    );
    assert!(stats.groups_reused > 0, "{stats:?}");

    // A group file damaged inside, its length unchanged: found while merging, and the
    // whole index is rebuilt without the cache.
    let cached: Value = serde_json::from_str(&fs::read_to_string(&manifest).unwrap()).unwrap();
    let group = &cached["groups"][0];
    let path = cache_dir.join(group["data_file"].as_str().unwrap());
    let mut bytes = fs::read(&path).unwrap();
    let at = group["sections"][1].as_u64().unwrap() as usize;
    bytes[at..at + 8].copy_from_slice(&[0xff; 8]);
    fs::write(&path, bytes).unwrap();
    let (report, _) = refresh_store(&root).unwrap();
    let errors = &report.warnings.index_cache_errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("rebuilt"), "{}", errors[0]);
    refresh_store(&root).unwrap();
    assert_same_as_rebuild(&root);

    // `index-artifacts` ignores the cache, broken or not, and writes a fresh one.
    fs::write(&manifest, "garbage").unwrap();
    let report = update_index(std::slice::from_ref(&root), &root.join("index")).unwrap();
    assert!(report.warnings.index_cache_errors.is_empty());
    let (_, stats) = refresh_store(&root).unwrap();
    assert!(stats.groups_reused > 0, "{stats:?}");
}

#[test]
fn unchanged_directories_are_not_listed_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("_artifacts");
    experiment(&root, "exp1", 2, 2, 1);
    for run in 1..=50 {
        put(
            &root,
            &format!("experiments/exp1/logs/A{run}_transcript.json"),
            "{}",
        );
    }
    settle(dir.path());
    let (_, cold) = refresh_store(&root).unwrap();
    // The store, `experiments`, `exp1`, its `logs` and `generated`, `index` and `.cache`.
    assert_eq!(cold.dirs_read, 7, "{cold:?}");
    // The store changed when the first refresh created `index`: depending on whether that
    // fell in the same clock tick as the refresh's scan mark, it is listed once more.
    settle(dir.path());
    let (_, warm) = refresh_store(&root).unwrap();
    assert!((2..=3).contains(&warm.dirs_read), "{warm:?}");
    settle(dir.path());
    let (_, warm) = refresh_store(&root).unwrap();
    // Only the index's own directories, which every refresh writes to, are read again.
    assert_eq!(warm.dirs_read, 2, "{warm:?}");
    experiment(&root, "exp2", 1, 0, 2);
    settle(dir.path());
    let (report, warm) = refresh_store(&root).unwrap();
    assert_eq!(report.counts.experiments, 2);
    assert_eq!(
        warm.dirs_read, 5,
        "`experiments`, exp2 and its `logs`, and the index's: {warm:?}"
    );
}

#[test]
fn plugin_artifacts_are_listed_and_a_change_to_them_refreshes_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("_artifacts");
    experiment(&root, "exp1", 2, 2, 1);
    // A plugin may name a file like a record: it is listed, never read as one.
    put(&root, "experiments/exp1/plugin/summary/runs.csv", "a\n");
    put(
        &root,
        "experiments/exp1/plugin/experiment_plan.json",
        &json!({"experiment_id": "impostor", "planned_runs": []}).to_string(),
    );
    put(
        &root,
        "experiments/exp1/plugin/.image-project-tmp-x",
        "half",
    );
    settle(dir.path());
    let (report, _) = refresh_store(&root).unwrap();
    assert_eq!(report.counts.experiments, 1, "the plugin's file is no plan");
    let listed = |root: &Path| {
        let document: Value = serde_json::from_str(
            &fs::read_to_string(root.join("index").join(EXPERIMENTS_INDEX_FILE)).unwrap(),
        )
        .unwrap();
        document["experiments"][0]["plugin_artifacts"].clone()
    };
    assert_eq!(
        listed(&root),
        json!([
            {"path": "_artifacts/experiments/exp1/plugin/experiment_plan.json", "kind": "plugin_artifact"},
            {"path": "_artifacts/experiments/exp1/plugin/summary/runs.csv", "kind": "plugin_artifact"},
        ])
    );
    assert_same_as_rebuild(&root);

    // Only a new artifact: the refresh sees it although no record changed.
    put(&root, "experiments/exp1/plugin/summary/plot.svg", "<svg/>");
    settle(dir.path());
    let (_, stats) = refresh_store(&root).unwrap();
    assert_eq!(stats.groups_reused, 0, "{stats:?}");
    assert_eq!(listed(&root).as_array().map(Vec::len), Some(3));
    assert_same_as_rebuild(&root);
}

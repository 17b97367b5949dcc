//! Tests of the index end to end over synthesized stores: one store (counts, warnings, the
//! registries byte for byte where it matters, their headers as written since they were
//! introduced), bad plans, a combined index, missing roots; and the small helpers. The store
//! builders here are shared with `refresh/tests.rs`.

use std::collections::BTreeMap;
use std::fs;

use serde_json::{json, Value};

use super::columns::image_label;
use super::plan::variant_of_id;
use super::run_registry::collapse;
use super::sources::{int, normalize_header};
use super::store::normalize;
use super::*;
use crate::artifacts::formats::GENERATIONS_HEADER;

/// Writes `text` at `root/relative`, creating directories.
pub(super) fn put(root: &Path, relative: &str, text: &str) -> PathBuf {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

/// The registries' headers, as written since they were introduced (a column's position is part
/// of the format).
const EXPERIMENT_HEADER: &str = concat!(
    "experiment_id,experiment_dir,run_id,generation_id,variant_key,run,seed,run_mode,",
    "status,created_at,title_seq,title,image_id,image_label,image_path,",
    "transcript_path,final_prompt_path,oplog_path,titles_manifest_path",
);
const IMAGE_HEADER: &str = concat!(
    "generation_id,title_seq,title,image_id,image_label,image_path,created_at,seed,",
    "model,size,quality,manifest_path,experiment_id,experiment_dir,experiment_run_id,",
    "variant_key,planned_plan,planned_variant_name,run_mode,status,transcript_path",
);
const RUN_HEADER: &str = concat!(
    "generation_id,created_at,seed,status,phase,run_mode,experiment_id,",
    "experiment_variant,experiment_notes,experiment_tags,experiment_run_id,",
    "variant_key,run,planned_plan,planned_variant_name,title_seq,title,image_id,",
    "image_label,image_path,transcript_path,final_prompt_path,oplog_path,",
    "titles_manifest_path,generations_source_path,selected_concepts,",
    "final_image_prompt,calls,input_tokens,cached_input_tokens,output_tokens,",
    "reasoning_tokens,images,cost_usd",
);

pub(super) fn lines(values: &[Value]) -> String {
    values.iter().map(|value| format!("{value}\n")).collect()
}

/// A parsed CSV: header and rows as maps.
fn read_registry(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn run_line(
    root: &Path,
    id: &str,
    created_at: &str,
    status: &str,
    image: bool,
    variant: &str,
    tags: &[&str],
) -> Value {
    let logs = root.join("experiments/exp1/logs");
    let mut line = json!({
        "schema_version": 1,
        "generation_id": id,
        "created_at": created_at,
        "seed": 7,
        "status": status,
        "phase": if status == "success" { "complete" } else { "image_pipeline" },
        "run_mode": "full",
        "experiment": {"id": "exp1", "variant": variant, "notes": format!("notes of {variant}"), "tags": tags},
        "prompt_pipeline": {"plan": "standard", "stages": ["a", "b"]},
        "artifacts": {
            "transcript": logs.join(format!("{id}_transcript.json")),
            "oplog": logs.join(format!("{id}_oplog.log")),
            "final_prompt": logs.join(format!("{id}_final_prompt.txt")),
            "image": if image { json!(root.join(format!("experiments/exp1/generated/{id}_image.png"))) } else { Value::Null },
        },
        "error": if status == "success" { Value::Null } else { json!({"type": "backend", "message": "boom"}) },
    });
    // A failed record stands for one written before usage was recorded.
    if status == "success" {
        line["usage"] = json!({"calls": 4, "input_tokens": 1200, "cached_input_tokens": 100,
            "output_tokens": 300, "reasoning_tokens": 20, "images": 1, "calls_without_usage": 0});
        line["cost_usd"] = json!(0.2046);
    }
    line
}

/// `<dir>/_artifacts` with one experiment (A1 failed then succeeded, B2 succeeded, A2 and B1
/// never ran), one `generate` run, a malformed runs-index line, a repeated manifest row and a
/// legacy generations CSV.
pub(super) fn store(dir: &Path, outside: &Path) -> PathBuf {
    let root = dir.join("_artifacts");
    let planned = |variant: &str, name: &str, plan: &str, run: u32, id: &str| {
        json!({"variant": variant, "variant_name": name, "plan": plan, "run": run, "generation_id": id,
               "seed": 100 + run, "tags": ["ab"], "notes": null})
    };
    let plan = json!({
        "schema_version": 1,
        "kind": "experiment_plan",
        "generated_at": "2026-01-01T00:00:00Z",
        "base_seed": 42,
        "experiment_name": "ab_demo",
        "experiment_id": "exp1",
        "run_mode": "full",
        "experiment_meta": {"base_seed": 42},
        "planned_runs": [
            planned("A", "baseline", "standard", 1, "A1_aaaa"),
            planned("B", "refined", "refine", 1, "B1_bbbb"),
            planned("A", "baseline", "standard", 2, "A2_cccc"),
            planned("B", "refined", "refine_v2", 2, "B2_dddd"),
        ],
    });
    put(
        &root,
        "experiments/exp1/experiment_plan.json",
        &serde_json::to_string_pretty(&plan).unwrap(),
    );
    put(&root, "experiments/exp1/experiment_plan_full.json", "{}");
    let runs = format!(
        "{}{{not json\n\n{}",
        lines(&[
            run_line(
                &root,
                "A1_aaaa",
                "2026-01-01T00:00:01Z",
                "error",
                false,
                "A_first",
                &["ab", "try:1"]
            ),
            run_line(
                &root,
                "B2_dddd",
                "2026-01-01T00:00:02Z",
                "success",
                true,
                "B_refined",
                &["ab", "run:2"]
            ),
        ]),
        lines(&[run_line(
            &root,
            "A1_aaaa",
            "2026-01-01T00:00:03Z",
            "success",
            true,
            "A_baseline",
            &["ab", "run:1"]
        )]),
    );
    put(&root, "experiments/exp1/logs/runs_index.jsonl", &runs);
    let image = |id: &str| {
        root.join(format!("experiments/exp1/generated/{id}_image.png"))
            .display()
            .to_string()
    };
    let mut manifest = csv::Writer::from_writer(Vec::new());
    manifest
        .write_record(super::super::run_files::TITLES_HEADER)
        .unwrap();
    for (seq, title, id, created_at) in [
        ("1", "Old Title", "A1_aaaa", "2026-01-01T00:00:01Z"),
        ("2", "Blue Hour", "B2_dddd", "2026-01-01T00:00:02Z"),
        ("3", "Quiet Harbor", "A1_aaaa", "2026-01-01T00:00:03Z"),
    ] {
        manifest
            .write_record([
                seq,
                title,
                id,
                "a very long prompt",
                &image(id),
                created_at,
                "offline-image",
                "1024x1024",
                "high",
                "7",
                "model",
                "raw",
            ])
            .unwrap();
    }
    put(
        &root,
        "experiments/exp1/generated/titles_manifest.csv",
        &String::from_utf8(manifest.into_inner().unwrap()).unwrap(),
    );
    let mut generations = csv::Writer::from_writer(Vec::new());
    generations.write_record(GENERATIONS_HEADER).unwrap();
    generations
        .write_record([
            "A1_aaaa",
            "[\"fox\", \"moon\"]",
            "A fox\n  under   the moon",
            &image("A1_aaaa"),
            "2026-01-01T00:00:03Z",
            "7",
        ])
        .unwrap();
    generations
        .write_record([
            "B2_dddd",
            "[]",
            "Blue hour",
            &image("B2_dddd"),
            "2026-01-01T00:00:02Z",
            "7",
        ])
        .unwrap();
    put(
        &root,
        "experiments/exp1/logs/generations.csv",
        &String::from_utf8(generations.into_inner().unwrap()).unwrap(),
    );
    put(
        &root,
        "legacy/generations.csv",
        "ID,Description Prompt,Generation Prompt,Image URL\n1,a,b,c\n",
    );

    // A `generate` run whose image lies outside the store.
    let outside_image = outside.join("elsewhere/G_image.png");
    let generate = json!({
        "schema_version": 1, "generation_id": "20260102_000000_0123abcd", "created_at": "2026-01-02T00:00:00Z",
        "seed": 9, "status": "success", "phase": "complete", "run_mode": "prompt_only", "experiment": null,
        "artifacts": {"transcript": root.join("logs/20260102_000000_0123abcd_transcript.json"),
                      "oplog": "_artifacts/logs/20260102_000000_0123abcd_oplog.log",
                      "final_prompt": null, "image": outside_image},
    });
    put(&root, "logs/runs_index.jsonl", &lines(&[generate]));
    root
}

#[test]
fn indexes_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = store(dir.path(), outside.path());
    let report = update_store(&root).unwrap();
    let out = root.join("index");

    assert_eq!(
        report.counts,
        IndexCounts {
            stores: 1,
            experiments: 1,
            experiment_runs_planned: 4,
            experiment_runs_executed: 2,
            manifest_files: 1,
            images_titled: 2,
            run_index_files: 2,
            run_index_entries: 3,
            generation_csv_files: 2,
            generation_csv_rows: 2,
            runs_in_run_registry: 5,
        }
    );
    assert_eq!(
        report.files_written,
        [
            "experiment_registry.csv",
            "image_registry.csv",
            "run_registry.csv",
            "experiments_index.json"
        ]
        .map(|name| out.join(name))
    );

    // Warnings name the file and line; nothing else was wrong.
    let warnings = &report.warnings;
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert_eq!(warnings.runs_index_errors.len(), 1);
    let bad_line = &warnings.runs_index_errors[0];
    assert_eq!(
        bad_line.path,
        "_artifacts/experiments/exp1/logs/runs_index.jsonl"
    );
    assert_eq!(bad_line.line, Some(3));
    assert!(
        bad_line.message.contains("key must be a string"),
        "{bad_line}"
    );
    assert_eq!(warnings.generation_csv_errors.len(), 1);
    let legacy = &warnings.generation_csv_errors[0];
    assert_eq!(legacy.path, "_artifacts/legacy/generations.csv");
    assert!(
        legacy
            .message
            .contains("unexpected header `ID,Description Prompt,Generation Prompt,Image URL`"),
        "{legacy}"
    );
    let duplicate = &warnings.titles_manifest_duplicate_generation_ids[0];
    assert_eq!(duplicate.line, Some(4));
    assert!(duplicate.message.contains("`A1_aaaa`"), "{duplicate}");
    assert_eq!(
        duplicate.to_string(),
        "_artifacts/experiments/exp1/generated/titles_manifest.csv:4: generation id `A1_aaaa` has several manifest rows \
         (also in `_artifacts/experiments/exp1/generated/titles_manifest.csv`); the latest is used"
    );

    // The experiment registry, exactly: the latest record wins (A1 succeeded on retry), the
    // latest manifest row too; never-run runs are `planned`.
    let experiment_csv = fs::read_to_string(out.join(EXPERIMENT_REGISTRY_FILE)).unwrap();
    let exp = "_artifacts/experiments/exp1";
    let expected = format!(
        "{}\n\
         exp1,{exp},A1,A1_aaaa,A,1,101,full,success,2026-01-01T00:00:03Z,3,Quiet Harbor,#003,#003 - Quiet Harbor,{exp}/generated/A1_aaaa_image.png,{exp}/logs/A1_aaaa_transcript.json,{exp}/logs/A1_aaaa_final_prompt.txt,{exp}/logs/A1_aaaa_oplog.log,{exp}/generated/titles_manifest.csv\n\
         exp1,{exp},A2,A2_cccc,A,2,102,full,planned,,,,,,,,,,\n\
         exp1,{exp},B1,B1_bbbb,B,1,101,full,planned,,,,,,,,,,\n\
         exp1,{exp},B2,B2_dddd,B,2,102,full,success,2026-01-01T00:00:02Z,2,Blue Hour,#002,#002 - Blue Hour,{exp}/generated/B2_dddd_image.png,{exp}/logs/B2_dddd_transcript.json,{exp}/logs/B2_dddd_final_prompt.txt,{exp}/logs/B2_dddd_oplog.log,{exp}/generated/titles_manifest.csv\n",
        EXPERIMENT_HEADER
    );
    assert_eq!(experiment_csv, expected);

    // The image registry: one row per generation id, oldest first.
    let (columns, images) = read_registry(&out.join(IMAGE_REGISTRY_FILE));
    assert_eq!(columns.join(","), IMAGE_HEADER);
    let ids: Vec<&str> = images
        .iter()
        .map(|row| row["generation_id"].as_str())
        .collect();
    assert_eq!(ids, ["B2_dddd", "A1_aaaa"]);
    let a1 = &images[1];
    assert_eq!(a1["image_label"], "#003 - Quiet Harbor");
    assert_eq!(a1["status"], "success");
    assert_eq!(a1["experiment_run_id"], "A1");
    assert_eq!(a1["planned_variant_name"], "baseline");
    assert_eq!(a1["model"], "offline-image");
    assert_eq!(
        a1["manifest_path"],
        format!("{exp}/generated/titles_manifest.csv")
    );

    // The run registry: every id from every source, planned-only ones first.
    let (columns, runs) = read_registry(&out.join(RUN_REGISTRY_FILE));
    assert_eq!(columns.join(","), RUN_HEADER);
    let ids: Vec<&str> = runs
        .iter()
        .map(|row| row["generation_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "A2_cccc",
            "B1_bbbb",
            "B2_dddd",
            "A1_aaaa",
            "20260102_000000_0123abcd"
        ]
    );
    let a1 = &runs[3];
    assert_eq!(a1["status"], "success");
    assert_eq!(a1["phase"], "complete");
    assert_eq!(a1["experiment_variant"], "A_baseline");
    assert_eq!(a1["experiment_tags"], "ab|run:1");
    assert_eq!(a1["final_image_prompt"], "A fox under the moon");
    assert_eq!(a1["selected_concepts"], "[\"fox\", \"moon\"]");
    assert_eq!(
        a1["generations_source_path"],
        format!("{exp}/logs/generations.csv")
    );
    for (column, value) in [
        ("calls", "4"),
        ("input_tokens", "1200"),
        ("cached_input_tokens", "100"),
        ("output_tokens", "300"),
        ("reasoning_tokens", "20"),
        ("images", "1"),
        ("cost_usd", "0.2046"),
    ] {
        assert_eq!(a1[column], value, "{column}");
        assert_eq!(runs[0][column], "", "a planned run has no usage: {column}");
    }
    assert_eq!(runs[0]["status"], "planned");
    assert_eq!(runs[0]["run_mode"], "full");
    let generated = &runs[4];
    assert_eq!(generated["experiment_id"], "");
    assert_eq!(generated["run_mode"], "prompt_only");
    assert_eq!(
        generated["transcript_path"],
        "_artifacts/logs/20260102_000000_0123abcd_transcript.json"
    );
    assert_eq!(
        generated["oplog_path"], "_artifacts/logs/20260102_000000_0123abcd_oplog.log",
        "relative to the store's parent"
    );
    let outside_image = fs::canonicalize(outside.path())
        .unwrap()
        .join("elsewhere/G_image.png");
    assert_eq!(
        generated["image_path"],
        outside_image.display().to_string(),
        "outside the store: absolute"
    );

    // The experiments index.
    let document: Value =
        serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
            .unwrap();
    assert_eq!(document["kind"], "artifacts_index");
    assert_eq!(document["artifacts_root"], "_artifacts");
    assert_eq!(document["output_dir"], "_artifacts/index");
    assert_eq!(
        document["registries"]["run_registry_csv"],
        "_artifacts/index/run_registry.csv"
    );
    assert_eq!(
        document["counts"],
        serde_json::to_value(&report.counts).unwrap()
    );
    assert_eq!(document["warnings"]["runs_index_errors"][0]["line"], 3);
    let experiment = &document["experiments"][0];
    assert_eq!(experiment["experiment_id"], "exp1");
    assert_eq!(experiment["experiment_dir"], exp);
    assert_eq!(experiment["base_seed"], 42);
    assert_eq!(
        experiment["plan_full_path"],
        format!("{exp}/experiment_plan_full.json")
    );
    assert_eq!(experiment["results_path"], Value::Null);
    assert_eq!(
        experiment["runs_index_path"],
        format!("{exp}/logs/runs_index.jsonl")
    );
    assert_eq!(
        (
            &experiment["planned_runs"],
            &experiment["executed_runs"],
            &experiment["succeeded_runs"],
            &experiment["images"]
        ),
        (&json!(4), &json!(2), &json!(2), &json!(2))
    );
    assert_eq!(experiment["variant_keys"], json!(["A", "B"]));
    assert_eq!(
        experiment["variants"],
        json!([
            {"key": "A", "planned_plan": "standard", "planned_variant_name": "baseline",
             "experiment_variant": "A_baseline", "notes": "notes of A_baseline", "tags": ["ab", "run:1"],
             "planned_runs": 2, "executed_runs": 1},
            {"key": "B", "planned_plan": ["refine", "refine_v2"], "planned_variant_name": "refined",
             "experiment_variant": "B_refined", "notes": "notes of B_refined", "tags": ["ab", "run:2"],
             "planned_runs": 2, "executed_runs": 1},
        ])
    );

    // Rebuilding gives the same registries.
    update_store(&root).unwrap();
    assert_eq!(
        fs::read_to_string(out.join(EXPERIMENT_REGISTRY_FILE)).unwrap(),
        expected
    );
}

#[test]
fn bad_plans_are_warnings_and_the_rest_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("_artifacts");
    put(
        &root,
        "experiments/broken/experiment_plan.json",
        "{\"planned_runs\": [",
    );
    put(&root, "experiments/dry/experiment_plan.json", &json!({"run_mode": "prompt_only", "planned_runs": [{"variant": "A", "run": 1}, {"generation_id": "B3_x", "run": 3}]}).to_string());
    let report = update_store(&root).unwrap();
    let messages: Vec<String> = report
        .warnings
        .experiment_plan_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0]
            .starts_with("_artifacts/experiments/broken/experiment_plan.json: EOF while parsing"),
        "{}",
        messages[0]
    );
    assert_eq!(messages[1], "_artifacts/experiments/dry/experiment_plan.json: `planned_runs[0]` has no `generation_id`; skipped");
    let (_, rows) = read_registry(&root.join("index").join(EXPERIMENT_REGISTRY_FILE));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["experiment_id"], "dry",
        "the directory name stands in for a missing id"
    );
    assert_eq!(rows[0]["variant_key"], "B", "taken from the generation id");
    assert_eq!(rows[0]["run_id"], "B3");
    assert_eq!(rows[0]["status"], "planned");
}

#[test]
fn combines_several_stores() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let first = store(&one.path().join("alpha"), two.path());
    let second = two.path().join("beta/_artifacts");
    put(
        &second,
        "logs/runs_index.jsonl",
        &lines(&[
            json!({"generation_id": "G2", "created_at": "2026-02-01T00:00:00Z", "status": "error", "seed": 3}),
        ]),
    );
    let out = two.path().join("combined");
    let report = update_index(&[first.clone(), second.clone()], &out).unwrap();
    assert_eq!(report.counts.stores, 2);
    assert_eq!(report.counts.experiments, 1);
    assert_eq!(report.counts.runs_in_run_registry, 6);
    assert_eq!(report.warnings.len(), 3);
    assert!(report
        .warnings
        .iter()
        .all(|(_, warning)| warning.store.as_deref() == Some("alpha")));

    let (columns, runs) = read_registry(&out.join(RUN_REGISTRY_FILE));
    assert_eq!(columns[..3], ["store", "store_root", "generation_id"]);
    assert_eq!(columns[2..].join(","), RUN_HEADER);
    let last = runs.last().unwrap();
    assert_eq!(last["generation_id"], "G2");
    assert_eq!(last["store"], "beta");
    assert_eq!(
        last["store_root"],
        fs::canonicalize(&second).unwrap().display().to_string()
    );
    let a1 = runs
        .iter()
        .find(|row| row["generation_id"] == "A1_aaaa")
        .unwrap();
    assert_eq!(a1["store"], "alpha");
    assert_eq!(
        a1["transcript_path"],
        "_artifacts/experiments/exp1/logs/A1_aaaa_transcript.json"
    );
    let (columns, _) = read_registry(&out.join(EXPERIMENT_REGISTRY_FILE));
    assert_eq!(columns[..3], ["store", "store_root", "experiment_id"]);

    let document: Value =
        serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
            .unwrap();
    assert_eq!(document["kind"], "combined_artifacts_index");
    assert_eq!(document["stores"].as_array().unwrap().len(), 2);
    assert_eq!(document["stores"][1]["counts"]["run_index_entries"], 1);
    assert_eq!(document["experiments"][0]["store"], "alpha");
    assert_eq!(document["experiments"][0]["base_seed"], 42);
    assert_eq!(
        document["warnings"]["generation_csv_errors"][0]["store"],
        "alpha"
    );

    // The same store twice is an error; two stores with one name get distinct labels.
    let error = update_index(&[first.clone(), first.join("../_artifacts")], &out).unwrap_err();
    assert!(matches!(error, IndexError::DuplicateRoot { .. }), "{error}");
    let twin = one.path().join("gamma/alpha/_artifacts");
    fs::create_dir_all(&twin).unwrap();
    update_index(&[first, twin], &out).unwrap();
    let document: Value =
        serde_json::from_str(&fs::read_to_string(out.join(EXPERIMENTS_INDEX_FILE)).unwrap())
            .unwrap();
    assert_eq!(document["stores"][1]["store"], "alpha_2");
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope/_artifacts");
    let error = update_store(&missing).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("artifacts root `{}` does not exist", missing.display())
    );
    assert!(matches!(
        update_index(&[], dir.path()),
        Err(IndexError::NoRoots)
    ));
    let file = put(dir.path(), "file", "");
    assert!(matches!(
        update_store(&file),
        Err(IndexError::RootNotDirectory { .. })
    ));
}

#[test]
fn the_store_is_the_nearest_artifacts_ancestor() {
    let cases = [
        ("/w/_artifacts/experiments/exp1", Some("/w/_artifacts")),
        (
            "/w/_artifacts/a/_artifacts/exp",
            Some("/w/_artifacts/a/_artifacts"),
        ),
        ("/w/_Artifacts/exp", Some("/w/_Artifacts")),
        ("/w/_artifacts", Some("/w/_artifacts")),
        ("/w/artifacts/exp", None),
        ("/w/_artifacts_old/exp", None),
    ];
    for (output_root, expected) in cases {
        assert_eq!(
            store_of(Path::new(output_root)),
            expected.map(PathBuf::from),
            "{output_root}"
        );
    }
}

#[test]
fn helpers() {
    assert_eq!(normalize_header(" Created At "), "created_at");
    assert_eq!(normalize_header("Generation-ID"), "generation_id");
    assert_eq!(variant_of_id("AB12_deadbeef"), "AB");
    assert_eq!(variant_of_id("12_x"), "12");
    assert_eq!(int(Some(&json!("12"))), Some(12));
    assert_eq!(int(Some(&json!(3.0))), Some(3));
    assert_eq!(int(Some(&json!(-1))), None);
    assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    assert_eq!(image_label(Some(7), None), "#007");
    assert_eq!(collapse(&Some(" a \n\t b ".into())), Some("a b".into()));
}

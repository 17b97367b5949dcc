//! Each record is written with the keys and columns, in the order, that its readers (and every
//! file written before these types) expect, and reads back through the same type.

use std::path::PathBuf;

use serde_json::json;

use super::*;

fn compact(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

fn entry() -> ResultEntry {
    ResultEntry {
        variant: "A".into(),
        variant_name: None,
        run: 2,
        generation_id: "A2_x".into(),
        seed: Some(9),
        status: RunStatus::Success,
        outcome: None,
        error: None,
        analysis: None,
        analysis_error: None,
        analysis_calls: Vec::new(),
        plugin_artifacts: Vec::new(),
        usage: UsageTotals::default(),
        cost_usd: Some(0.5),
        saved_cost_usd: None,
        cost_missing: Vec::new(),
        timing: None,
    }
}

#[test]
fn a_finished_run_s_entry_has_its_outcome_between_status_and_error_and_its_timing_last() {
    let mut finished = entry();
    finished.outcome = Some(OutcomeFields {
        image_path: None,
        final_prompt: Some("a fox".into()),
        outputs: EntryOutputs {
            prompt_pipeline: json!({"plan": "direct"}),
        },
    });
    finished.analysis = Some(json!({"words": 2}));
    finished.timing = Some(Timing {
        started_at: "t0".into(),
        finished_at: "t1".into(),
        duration_s: 1.25,
    });
    let expected = json!({
        "variant": "A", "variant_name": null, "run": 2, "generation_id": "A2_x", "seed": 9,
        "status": "success", "image_path": null, "final_prompt": "a fox",
        "outputs": {"prompt_pipeline": {"plan": "direct"}}, "error": null,
        "analysis": {"words": 2}, "usage": UsageTotals::default(), "cost_usd": 0.5,
        "saved_cost_usd": null, "started_at": "t0", "finished_at": "t1", "duration_s": 1.25,
    });
    assert_eq!(compact(&finished), compact(&expected));
}

#[test]
fn a_run_that_never_started_has_no_outcome_and_no_timing() {
    let mut failed = entry();
    failed.status = RunStatus::Error;
    failed.error = Some(json!({"type": "ConfigError", "message": "m"}));
    failed.cost_usd = None;
    failed.cost_missing = vec!["no prices".into()];
    let expected = json!({
        "variant": "A", "variant_name": null, "run": 2, "generation_id": "A2_x", "seed": 9,
        "status": "error", "error": {"type": "ConfigError", "message": "m"},
        "usage": UsageTotals::default(), "cost_usd": null, "saved_cost_usd": null,
        "cost_missing": ["no prices"],
    });
    assert_eq!(compact(&failed), compact(&expected));
}

#[test]
fn a_stored_result_names_the_file_line_and_field_it_cannot_read() {
    let path = PathBuf::from("/x/results.log");
    let stored = StoredResult::read(
        &path,
        3,
        &json!({"generation_id": "A1_x", "status": "success"}),
    )
    .unwrap();
    assert_eq!(stored.generation_id, "A1_x");
    assert_eq!(stored.status, RunStatus::Success);
    let error = StoredResult::read(
        &path,
        4,
        &json!({"generation_id": "A1_x", "status": "done"}),
    )
    .unwrap_err();
    assert!(
        error.starts_with("`/x/results.log` line 4: `status`: "),
        "{error}"
    );
}

#[test]
fn a_planned_run_entry_has_its_labels_then_the_plugin_s_meta() {
    let meta: Map<String, Value> = json!({"set": "B", "concept": "fox"})
        .as_object()
        .unwrap()
        .clone();
    let tags = vec!["t".to_owned()];
    let written = PlannedRunEntry {
        variant: Cow::Borrowed("B"),
        variant_name: Some(Cow::Borrowed("bold")),
        plan: None,
        run: 1,
        generation_id: Cow::Borrowed("B1_x"),
        seed: Some(4),
        tags: Cow::Borrowed(&tags),
        notes: None,
        meta: Cow::Borrowed(&meta),
    };
    let text = compact(&written);
    assert_eq!(
        text,
        compact(&json!({
            "variant": "B", "variant_name": "bold", "plan": null, "run": 1,
            "generation_id": "B1_x", "seed": 4, "tags": ["t"], "notes": null,
            "set": "B", "concept": "fox",
        }))
    );
    let read: PlannedRunEntry = serde_json::from_str(&text).unwrap();
    assert_eq!(read.variant_name.as_deref(), Some("bold"));
    assert_eq!(read.tags.as_ref(), ["t"]);
    assert_eq!(read.meta.as_ref(), &meta);
}

#[test]
fn a_full_plan_entry_holds_one_preflight_field_and_reads_back() {
    for (preflight, field) in [
        (
            PreflightRecord::PromptPipeline(3),
            json!({"prompt_pipeline": 3}),
        ),
        (
            PreflightRecord::ConfigError(ErrorRecord {
                kind: "compile".into(),
                message: "no".into(),
            }),
            json!({"config_error": {"type": "compile", "message": "no"}}),
        ),
    ] {
        let written = FullPlanRunEntry {
            generation_id: Cow::Borrowed("A1_x"),
            overlay: 1,
            preflight: preflight.clone(),
        };
        let mut expected = json!({"generation_id": "A1_x", "overlay": 1});
        expected
            .as_object_mut()
            .unwrap()
            .extend(field.as_object().unwrap().clone());
        let text = compact(&written);
        assert_eq!(text, compact(&expected));
        let read: FullPlanRunEntry = serde_json::from_str(&text).unwrap();
        assert_eq!((read.overlay, read.preflight), (1, preflight));
    }
}

#[test]
fn a_runs_index_line_keeps_its_key_order() {
    let pipeline = json!({"plan": "direct"});
    let tags = Vec::new();
    let (transcript, oplog) = (PathBuf::from("/l/t.json"), PathBuf::from("/l/o.log"));
    let line = RunsIndexLine {
        schema_version: 1,
        generation_id: "g",
        created_at: "t",
        seed: 1,
        status: RunStatus::Success,
        phase: "complete",
        run_mode: RunMode::PromptOnly,
        experiment: Some(ExperimentLabels {
            id: Some("e"),
            variant: None,
            notes: None,
            tags: &tags,
        }),
        prompt_pipeline: &pipeline,
        artifacts: RunArtifacts {
            transcript: &transcript,
            oplog: &oplog,
            final_prompt: None,
            image: None,
        },
        error: None,
        usage: UsageTotals::default(),
        cost_usd: Some(0.0),
        saved_cost_usd: Some(0.0),
    };
    let expected = json!({
        "schema_version": 1, "generation_id": "g", "created_at": "t", "seed": 1,
        "status": "success", "phase": "complete", "run_mode": "prompt_only",
        "experiment": {"id": "e", "variant": null, "notes": null, "tags": []},
        "prompt_pipeline": {"plan": "direct"},
        "artifacts": {"transcript": "/l/t.json", "oplog": "/l/o.log", "final_prompt": null, "image": null},
        "error": null, "usage": UsageTotals::default(), "cost_usd": 0.0, "saved_cost_usd": 0.0,
    });
    assert_eq!(compact(&line), compact(&expected));
}

/// The header a CSV writer derives from a row type.
fn derived_header(row: &impl Serialize) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(row).unwrap();
    let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
    text.lines().next().unwrap().to_owned()
}

#[test]
fn the_csv_headers_are_the_row_types_fields_in_order() {
    let titles = TitlesManifestRow {
        seq: 1,
        title: "T".into(),
        generation_id: "g".into(),
        image_prompt: "p".into(),
        image_path: "i".into(),
        created_at: "c".into(),
        model: "m".into(),
        size: "s".into(),
        quality: "q".into(),
        seed: 2,
        title_source: "llm".into(),
        title_raw: "r".into(),
    };
    assert_eq!(derived_header(&titles), TITLES_HEADER.join(","));
    let generations = GenerationsRow {
        generation_id: "g".into(),
        selected_concepts: "[]".into(),
        final_image_prompt: "p".into(),
        image_path: "i".into(),
        created_at: "c".into(),
        seed: 2,
    };
    assert_eq!(derived_header(&generations), GENERATIONS_HEADER.join(","));
}

#[test]
fn a_title_row_with_a_sequence_that_is_no_number_still_gives_its_title() {
    let text = format!("{}\nx,Old,g,p,i,c,m,s,q,1,llm,r\n", TITLES_HEADER.join(","));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<TitleSeen> = reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].seq, rows[0].title.as_str()), (None, "Old"));
}

#[test]
fn the_runs_index_names_a_runs_files_by_the_roles_of_the_layout() {
    // The analysis context lists a run's files by `RunFiles::by_role`; the runs index by these
    // keys: one set of names for both.
    let files = crate::artifacts::layout::ExperimentLayout::new("x").run("A1_y");
    let [(_, transcript), (_, oplog), (_, final_prompt), (_, image)] = files.by_role();
    let artifacts = RunArtifacts {
        transcript,
        oplog,
        final_prompt: Some(final_prompt),
        image: Some(image),
    };
    let keys: Vec<String> = serde_json::to_value(&artifacts)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let roles: Vec<&str> = files.by_role().iter().map(|(role, _)| *role).collect();
    assert_eq!(keys, roles);
}

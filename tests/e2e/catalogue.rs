//! The stage catalogue through real experiments: `3x3` end to end offline, and the step shapes
//! its variants record.

use serde_json::Value;

use crate::util::{read_json, run, Sandbox};

fn transcript_of(out: &std::path::Path, generation_id: &str) -> Value {
    read_json(&out.join(format!("logs/{generation_id}_transcript.json")))
}

#[test]
fn three_by_three_runs_offline_and_records_the_reference_step_shapes() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "3x3",
            "--seed",
            "1",
            "--mode",
            "prompt_only",
            "--output-root",
            "out",
            "--json",
        ],
    ));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let results = read_json(&out.join("experiment_results.json"));
    let entries = results["results"].as_array().expect("results");
    assert_eq!(entries.len(), 9, "{output}");
    assert!(
        entries.iter().all(|entry| entry["status"] == "success"),
        "{output}"
    );

    let id_of = |variant: &str| {
        entries
            .iter()
            .find(|entry| entry["variant"] == variant && entry["run"] == 1)
            .and_then(|entry| entry["generation_id"].as_str())
            .expect("run 1 of the variant")
            .to_owned()
    };
    let a1 = transcript_of(&out, &id_of("A"));
    let paths: Vec<&str> = a1["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["path"].as_str().unwrap())
        .collect();
    let mut expected = vec![
        "pipeline/preprompt.select_concepts/action".to_owned(),
        "pipeline/preprompt.filter_concepts/apply".to_owned(),
        "pipeline/blackbox.prepare/action".to_owned(),
        "pipeline/blackbox.generator_profile_hints/draft".to_owned(),
    ];
    expected.extend(
        ('A'..='H').map(|id| format!("pipeline/blackbox.generate_idea_cards/ideas/idea_{id}")),
    );
    expected.extend([
        "pipeline/blackbox.generate_idea_cards/assemble".to_owned(),
        "pipeline/blackbox.idea_cards_judge_score/draft".to_owned(),
        "pipeline/blackbox.select_idea_card/action".to_owned(),
        "pipeline/blackbox.image_prompt_creation/draft".to_owned(),
    ]);
    assert_eq!(
        paths, expected,
        "variant A records the concept actions, hints, 8 cards, assemble, judge, select, prompt"
    );
    assert_eq!(
        a1["outputs"]["selected_concepts"].as_array().map(Vec::len),
        Some(3)
    );
    let mode = &a1["outputs"]["blackbox_scoring"]["selection_mode"];
    assert!(mode == "exploit" || mode == "explore", "{mode}");

    let c1 = transcript_of(&out, &id_of("C"));
    let kinds: Vec<(&str, &str)> = c1["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["type"].as_str().unwrap(),
                step["path"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("chat", "pipeline/standard.initial_prompt_freeform/draft"),
            ("chat", "pipeline/standard.image_prompt_creation/draft")
        ]
    );
    // The second chat sees the themes of the first: [system, assistant, user].
    assert_eq!(c1["steps"][1]["input_messages"], 3);
}

#[test]
fn three_by_three_in_full_mode_writes_nine_images() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "3x3",
            "--seed",
            "2",
            "--output-root",
            "out",
            "--jobs",
            "3",
        ],
    ));
    output.assert_code(0);
    let images = std::fs::read_dir(sandbox.path().join("out/generated"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("_image.png")
        })
        .count();
    assert_eq!(images, 9, "{output}");
}

#[test]
fn profile_v5_runs_offline_with_the_refine_loop_and_the_direct_plan() {
    let sandbox = Sandbox::new();
    let plugins = sandbox.fresh_plugin_dir("plugin-dir");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "profile_v5_3x3",
            "--seed",
            "1",
            "--mode",
            "prompt_only",
            "--output-root",
            "out",
            "--jobs",
            "3",
        ],
    ));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let results = read_json(&out.join("experiment_results.json"));
    let entries = results["results"].as_array().expect("results");
    assert_eq!(entries.len(), 9, "{output}");
    assert!(
        entries.iter().all(|entry| entry["status"] == "success"),
        "{output}"
    );
    let id_of = |variant: &str| {
        entries
            .iter()
            .find(|entry| entry["variant"] == variant && entry["run"] == 1)
            .and_then(|entry| entry["generation_id"].as_str())
            .expect("run 1 of the variant")
            .to_owned()
    };
    // A: the black-box stages, the seed prompt, 6 rounds of (3 variants + 3 judges + select), the
    // finalize action and the two post-prompt stages.
    let a1 = transcript_of(&out, &id_of("A"));
    let steps = a1["steps"].as_array().unwrap();
    let rounds = steps
        .iter()
        .filter(|step| step["path"].as_str().unwrap().ends_with("/select"))
        .count();
    assert_eq!(rounds, 6);
    let judges = steps
        .iter()
        .filter(|step| step["path"].as_str().unwrap().contains("/judge/"))
        .count();
    assert_eq!(judges, 18);
    let last: Vec<&str> = steps[steps.len() - 2..]
        .iter()
        .map(|step| step["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        last,
        [
            "pipeline/postprompt.profile_nudge/draft",
            "pipeline/postprompt.openai_format/draft"
        ]
    );
    assert_eq!(
        a1["outputs"]["bbref.beams"].as_array().map(Vec::len),
        Some(1)
    );
    // C: the direct plan.
    let c1 = transcript_of(&out, &id_of("C"));
    let chats: Vec<&str> = c1["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["type"] == "chat")
        .map(|step| step["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        chats,
        [
            "pipeline/preprompt.filter_concepts/dislike_rewrite",
            "pipeline/direct.image_prompt_creation/draft",
            "pipeline/postprompt.profile_nudge/draft",
            "pipeline/postprompt.openai_format/draft"
        ]
    );
}

#[test]
fn plans_and_stages_list_what_exists() {
    let sandbox = Sandbox::new();
    let plans = run(sandbox.cmd().args(["plans", "list", "--json"]));
    plans.assert_code(0);
    let names: Vec<String> = plans.json()["plans"]
        .as_array()
        .expect("a list of plans")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "custom",
            "blackbox",
            "simple_no_concepts",
            "blackbox_refine",
            "direct"
        ]
    );
    let stages = run(sandbox.cmd().args(["stages", "list", "--json"]));
    stages.assert_code(0);
    let stages = stages.json();
    let ids: Vec<&str> = stages["stages"]
        .as_array()
        .expect("a list of stages")
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for expected in [
        "ab.scene_draft",
        "blackbox.select_idea_card",
        "blackbox_refine.loop",
        "postprompt.openai_format",
    ] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
    }
}

//! The load-time rules of a declared stage, the answers it accepts, and one compiled and run
//! through the pipeline engine on the offline backend.

use std::sync::Arc;

use plugin_api::{StageResponse, StageSpec};
use serde_json::{json, Value};

use super::*;
use crate::backends::TextBackend;
use crate::config::{OutputConfig, StageConfigs, StagesConfig};
use crate::pipeline::{execute, RunState, StepRecord};
use crate::stages::{compile, PipelineInputs, Registry};

fn critique() -> StageSpec {
    StageSpec::new("critique", "One line on what the prompt lacks")
        .template("Name the one thing this image prompt lacks:\n{{ image_prompt }}")
        .reads("image_prompt")
        .writes("critique")
        .response(StageResponse::Line)
        .knob("temperature", 0.3)
}

fn refused(spec: StageSpec) -> String {
    check_declared("demo", &[spec]).expect_err("the declaration was accepted")
}

#[test]
fn a_well_formed_declaration_is_accepted() {
    let nested = StageSpec::new("nested", "Reads dotted keys")
        .template("{{ postprompt.nudged_prompt }} {% for i in range(2) %}{{ i }}{% endfor %}")
        .reads("postprompt.nudged_prompt")
        .response(StageResponse::JsonObject);
    assert_eq!(check_declared("demo", &[critique(), nested]), Ok(()));
}

#[test]
fn names_must_be_lowercase_and_unique_and_not_built_in() {
    assert_eq!(
        refused(StageSpec { name: "Bad-Name".into(), ..critique() }),
        "plugin `demo`, declared stage `Bad-Name`: invalid name (expected lowercase letters, digits and `_`)"
    );
    assert_eq!(
        check_declared("demo", &[critique(), critique()]),
        Err("plugin `demo`, declared stage `critique`: declared twice".to_owned())
    );
    let clash = StageSpec::new("scene_draft", "Shadows a built-in").template("x");
    assert_eq!(
        check_declared("ab", &[clash]),
        Err(
            "plugin `ab`, declared stage `scene_draft`: its id `ab.scene_draft` is a built-in \
             stage kind (expected a name no built-in `ab.*` stage has)"
                .to_owned()
        )
    );
}

#[test]
fn the_template_must_parse_and_read_only_declared_outputs() {
    assert_eq!(
        refused(critique().template("  ")),
        "plugin `demo`, declared stage `critique`: the template is empty (expected the user message, in Jinja syntax)"
    );
    let message = refused(critique().template("{{ image_prompt "));
    assert!(
        message
            .starts_with("plugin `demo`, declared stage `critique`: the template does not parse:"),
        "{message}"
    );
    assert_eq!(
        refused(critique().template("{{ image_prompt }} {{ mood }} {{ scene }}")),
        "plugin `demo`, declared stage `critique`: the template uses `mood`, `scene`, not in \
         `reads` (expected only the variables of `reads`: image_prompt)"
    );
    let reads_nothing = StageSpec::new("s", "d").template("{{ x }}");
    assert!(refused(reads_nothing)
        .ends_with("(expected only the variables of `reads`: none, since `reads` is empty)"));
}

#[test]
fn outputs_must_be_keys_the_stage_may_use() {
    assert!(refused(critique().reads("a b")).contains("`reads`: `a b` is not an output key"));
    assert!(refused(critique().writes("a..b")).contains("`writes`: `a..b` is not an output key"));
    assert_eq!(
        refused(critique().writes("image_prompt")),
        "plugin `demo`, declared stage `critique`: `writes` is `image_prompt`, which the run \
         itself writes (expected an output of the stage's own)"
    );
    assert!(refused(critique().reads("image_prompt.x"))
        .contains("`reads` has `image_prompt` and `image_prompt.x`"));
}

#[test]
fn only_a_temperature_from_0_to_2_is_a_knob() {
    assert_eq!(
        refused(critique().knob("top_p", 0.5)),
        "plugin `demo`, declared stage `critique`: unknown knob `top_p` (expected only `temperature`)"
    );
    for bad in [json!(2.5), json!(-0.1), json!("hot")] {
        assert!(
            refused(critique().knob("temperature", bad.clone())).contains(&format!(
                "knob `temperature` is {bad} (expected a number from 0 to 2)"
            )),
            "{bad}"
        );
    }
}

#[test]
fn answers_are_checked_against_the_declared_shape() {
    assert_eq!(
        check_answer(StageResponse::Text, "  two\nlines \n"),
        Ok("two\nlines".into())
    );
    assert!(check_answer(StageResponse::Text, " \n").is_err());
    assert_eq!(
        check_answer(StageResponse::Line, "\n one line \n\n"),
        Ok("one line".into())
    );
    assert_eq!(
        check_answer(StageResponse::Line, "one\ntwo"),
        Err("this stage asks for exactly one non-empty line; the answer has 2".into())
    );
    assert_eq!(
        check_answer(StageResponse::JsonObject, "```json\n{\"a\": [1, 2]}\n```"),
        Ok(r#"{"a":[1,2]}"#.into())
    );
    assert_eq!(
        check_answer(StageResponse::JsonObject, "[1]"),
        Err("this stage asks for one JSON object; the answer is an array".into())
    );
    assert!(check_answer(StageResponse::JsonObject, "{nope")
        .is_err_and(|e| e.contains("does not parse as JSON")));
}

#[test]
fn a_declared_stage_becomes_a_chat_stage_kind_of_its_plugin() {
    let declared = declared_stages("demo", &[critique()]);
    let [stage] = declared.as_slice() else {
        panic!("one stage")
    };
    assert_eq!(stage.id, "demo.critique");
    assert_eq!(stage.kind, StageKind::Chat);
    assert_eq!(stage.io.requires, ["image_prompt"]);
    assert_eq!(stage.io.provides, ["critique"]);
    assert!(stage.io.captures.is_empty());
    let registry = Registry::with_declared(&declared);
    assert!(registry.get("demo.critique").is_some());
    assert!(Registry::builtin().get("demo.critique").is_none());
}

fn offline() -> Arc<dyn TextBackend> {
    let tree = crate::config::default_tree().expect("the default config");
    let mut text = tree["backend"]["text"].clone();
    text["provider"] = json!("offline");
    let config = serde_json::from_value(text).expect("an offline text backend config");
    crate::backends::text_backend(&config, &|_| None).expect("the offline backend")
}

/// Compiles `ab.random_token`, `ab.scene_draft` (the capture stage) and the stages `specs`
/// declare, then runs them on the offline backend.
fn run_offline(specs: &[StageSpec], stage_configs: Value) -> Result<RunState, String> {
    let declared = declared_stages("demo", specs);
    let mut sequence = vec![json!("ab.random_token"), json!("ab.scene_draft")];
    sequence.extend(declared.iter().map(|stage| json!(stage.id)));
    let stages: StagesConfig = serde_json::from_value(json!({"sequence": sequence})).unwrap();
    let configs: StageConfigs = serde_json::from_value(stage_configs).unwrap();
    let output: OutputConfig =
        serde_json::from_value(json!({"capture_stage": "ab.scene_draft"})).unwrap();
    let inputs = PipelineInputs {
        plan: "custom",
        stages: &stages,
        output: &output,
        stage_configs: &configs,
        seed: 11,
        initial_outputs: vec![],
        data: Default::default(),
    };
    let compiled = compile(&inputs, &Registry::with_declared(&declared)).map_err(|e| e.message)?;
    let mut state = RunState {
        seed: 11,
        ..RunState::default()
    };
    execute(
        &compiled.root,
        &mut state,
        offline().as_ref(),
        "system",
        &|_| {},
    )
    .map_err(|e| e.to_string())?;
    Ok(state)
}

/// The chat step a stage instance recorded.
fn step<'s>(state: &'s RunState, path: &str) -> (&'s str, &'s str, f64) {
    state
        .steps
        .iter()
        .find_map(|step| match step {
            StepRecord::Chat {
                path: p,
                prompt,
                response,
                params,
                ..
            } if p == path => Some((
                prompt.as_str(),
                response.as_str(),
                params["temperature"].as_f64().unwrap_or(f64::NAN),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no chat step `{path}` in {:?}", state.outputs.keys()))
}

#[test]
fn the_offline_backend_answers_each_shape_with_an_answer_the_stage_accepts() {
    let tags = StageSpec::new("tags", "Tags as JSON")
        .template("Tag this prompt: {{ image_prompt }}")
        .reads("image_prompt")
        .response(StageResponse::JsonObject);
    let summary = StageSpec::new("summary", "A summary")
        .template("Summarise: {{ critique }}")
        .reads("critique");
    let state = run_offline(&[critique(), tags, summary], json!({})).expect("the run");

    let (prompt, answer, temperature) = step(&state, "pipeline/demo.critique/draft");
    let final_prompt = state.output_text("image_prompt").unwrap();
    assert_eq!(
        prompt,
        format!("Name the one thing this image prompt lacks:\n{final_prompt}")
    );
    assert_eq!(temperature, 0.3, "the declared default");
    assert_eq!(answer.trim().lines().count(), 1, "{answer}");
    assert_eq!(state.output_text("critique").unwrap(), answer.trim());

    let (_, answer, temperature) = step(&state, "pipeline/demo.tags/draft");
    assert_eq!(temperature, DEFAULT_TEMPERATURE, "no declared default");
    let stored: Value = serde_json::from_str(state.output_text("tags").unwrap()).unwrap();
    assert!(stored.is_object(), "{answer}");
    assert_eq!(stored, serde_json::from_str::<Value>(answer).unwrap());

    let (prompt, answer, _) = step(&state, "pipeline/demo.summary/draft");
    assert!(
        prompt.ends_with(state.output_text("critique").unwrap()),
        "{prompt}"
    );
    assert!(answer.trim().lines().count() >= 1);
    assert_eq!(state.output_text("summary").unwrap(), answer.trim());
}

#[test]
fn stage_configs_override_the_declared_temperature() {
    let configs = json!({"instances": {"demo.critique": {"temperature": 1.5}}});
    let state = run_offline(&[critique()], configs).expect("the run");
    assert_eq!(step(&state, "pipeline/demo.critique/draft").2, 1.5);
    let error = run_offline(
        &[critique()],
        json!({"instances": {"demo.critique": {"top_k": 1}}}),
    )
    .expect_err("an unknown knob is refused");
    assert!(
        error.contains("stage `demo.critique`") && error.contains("top_k"),
        "{error}"
    );
}

/// Runs stage `demo.obj`, whose step asks the backend for text but checks for a JSON object, as
/// a model that ignores the shape it was asked for would answer: the state and the error.
fn run_text_answer_checked_as_json() -> (RunState, String) {
    let mut text = ChatStep::new(
        "draft",
        0.5,
        ResponseShape::Text,
        Arc::new(|_| Ok("x".into())),
    );
    text.answer = Some(Arc::new(|answer: &str| {
        check_answer(StageResponse::JsonObject, answer)
    }));
    text.capture_key = Some("obj".into());
    let root = Block::new(
        "pipeline",
        vec![crate::pipeline::Node::Block(chat_stage_block(
            "demo.obj", text,
        ))],
    );
    let mut state = RunState::default();
    let error = execute(&root, &mut state, offline().as_ref(), "system", &|_| {})
        .expect_err("a text answer is no JSON object")
        .to_string();
    (state, error)
}

#[test]
fn a_malformed_answer_fails_the_step_naming_the_stage() {
    let (state, error) = run_text_answer_checked_as_json();
    assert!(
        error.contains("pipeline/demo.obj/draft")
            && error.contains("this stage asks for one JSON object"),
        "{error}"
    );
    assert!(!state.outputs.contains_key("obj"));
}

#[test]
fn a_refused_answer_is_recorded_with_its_usage() {
    // The call was made and paid for: the transcript shows it and the run's usage counts it.
    let (state, _) = run_text_answer_checked_as_json();
    let usage = state.steps.iter().find_map(|step| match step {
        StepRecord::Chat {
            path,
            response,
            usage,
            ..
        } if path == "pipeline/demo.obj/draft" => Some((response, usage)),
        _ => None,
    });
    let Some((response, usage)) = usage else {
        panic!("the refused step is not recorded: {:?}", state.steps);
    };
    assert!(!response.trim().is_empty(), "the answer as it came");
    let usage = usage.as_ref().expect("the offline backend counts tokens");
    let totals = crate::pipeline::usage_of(&state.steps).totals();
    assert_eq!(
        (totals.calls, totals.input_tokens, totals.output_tokens),
        (1, usage.input_tokens, usage.output_tokens)
    );
    assert!(usage.output_tokens > 0, "{usage:?}");
}

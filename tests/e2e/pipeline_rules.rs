//! The runner's rules on what a plugin's hooks may do with a run, through the real binary and the
//! `misbehaving_calls` fixture: `run_pipeline` once per run and from the `run` hook only (anything
//! else fails the run with the rule's message, writes no second runs-index line and no second
//! transcript), and one seed per run (the planned `seed`, at most 2^53 - 1; an overlay that sets
//! another `prompt.random_seed` is a plan error); and how its `chat` calls are recorded (steps
//! `plugin/<name>` in the run's transcript from `run`, `analysis_calls` from `analyze`) and what
//! their options send.

use std::path::Path;

use serde_json::Value;

use std::net::TcpStream;

use crate::execute::{answer_with, read_jsonl, results_of, Stub};
use crate::util::{pretty, run, with_fixture, Run, Sandbox, MISBEHAVING_CALLS};

/// The words every refusal of a `run_pipeline` call starts with.
const RULE: &str = "`run_pipeline` may be called once per run, from the `run` hook";

/// `experiments run misbehaving_calls --seed 1 --json` with `MISBEHAVING_CALLS=<misbehaviour>`
/// (unset when `None`), into `out`; returns the output and the sandbox (alive while it is read).
fn run_misbehaving(misbehaviour: Option<&str>) -> (Run, Sandbox) {
    let (sandbox, plugins) = with_fixture(MISBEHAVING_CALLS);
    let mut cmd = sandbox.experiments(
        &plugins,
        &[
            "run",
            MISBEHAVING_CALLS,
            "--seed",
            "1",
            "--json",
            "--output-root",
            "out",
        ],
    );
    if let Some(misbehaviour) = misbehaviour {
        cmd.env("MISBEHAVING_CALLS", misbehaviour);
    }
    let output = run(&mut cmd);
    (output, sandbox)
}

/// The transcripts under `out/logs`.
fn transcripts(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("logs"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with("_transcript.json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Checks the one run of `out` failed with the rule's message (naming `hook`), and that only one
/// pipeline wrote anything: one runs-index line, one transcript.
fn assert_refused(output: &Run, out: &Path, hook: &str) -> Value {
    output.assert_code(1);
    let results = results_of(out, output);
    assert_eq!(results.len(), 1, "{output}");
    let entry = &results[0];
    let context = format!("\n--- result\n{}{output}", pretty(entry));
    assert_eq!(entry["status"], "error", "{context}");
    let message = entry["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(RULE) && message.contains(&format!("`{hook}` hook")),
        "the error names the rule and the hook{context}"
    );
    let failures = output.json()["failures"].clone();
    assert!(
        failures[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains(RULE)),
        "`--json` shows the rule as the failure's reason{output}"
    );
    let index = read_jsonl(&out.join("logs/runs_index.jsonl"), output);
    assert_eq!(index.len(), 1, "one runs-index line{output}");
    assert_eq!(transcripts(out).len(), 1, "one transcript{output}");
    entry.clone()
}

#[test]
fn a_plugin_that_runs_the_pipeline_once_succeeds_with_one_index_line() {
    let (output, sandbox) = run_misbehaving(None);
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let results = results_of(&out, &output);
    assert_eq!(results.len(), 1, "{output}");
    assert_eq!(results[0]["status"], "success", "{output}");
    assert_eq!(
        read_jsonl(&out.join("logs/runs_index.jsonl"), &output).len(),
        1,
        "{output}"
    );
    assert_eq!(transcripts(&out).len(), 1, "{output}");
}

#[test]
fn a_second_run_pipeline_call_fails_the_run_naming_the_rule() {
    let (output, sandbox) = run_misbehaving(Some("pipeline-twice"));
    let entry = assert_refused(&output, &sandbox.path().join("out"), "run");
    assert_eq!(entry["error"]["type"], "PluginError", "{output}");
}

#[test]
fn a_refused_second_call_fails_the_run_even_when_the_plugin_ignores_the_error() {
    let (output, sandbox) = run_misbehaving(Some("pipeline-twice-swallowed"));
    assert_refused(&output, &sandbox.path().join("out"), "run");
}

#[test]
fn run_pipeline_from_analyze_fails_the_run_naming_the_rule() {
    let (output, sandbox) = run_misbehaving(Some("pipeline-in-analyze"));
    let entry = assert_refused(&output, &sandbox.path().join("out"), "analyze");
    let context = format!("\n--- result\n{}{output}", pretty(&entry));
    assert!(entry.get("analysis").is_none(), "{context}");
    assert!(
        entry["analysis_error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains(RULE)),
        "the `analyze` hook's error carries the rule{context}"
    );
}

/// Checks a plan error: exit 2 with `needles` on stderr, and no run executed.
fn assert_plan_refused(output: &Run, out: &Path, needles: &[&str]) {
    output.assert_code(2).assert_stderr_has(needles);
    for file in ["results.jsonl", "logs/runs_index.jsonl"] {
        assert!(!out.join(file).exists(), "`{file}` was written{output}");
    }
    assert!(transcripts(out).is_empty(), "{output}");
}

#[test]
fn a_planned_seed_above_2_pow_53_minus_1_is_a_plan_error() {
    let (output, sandbox) = run_misbehaving(Some("huge-seed"));
    assert_plan_refused(
        &output,
        &sandbox.path().join("out"),
        &[
            "`misbehaving_calls`",
            "variant `A` run 1",
            "9007199254740992",
            "2^53 - 1",
        ],
    );
}

#[test]
fn an_overlay_with_another_random_seed_is_a_plan_error() {
    let (output, sandbox) = run_misbehaving(Some("reseed-overlay"));
    assert_plan_refused(
        &output,
        &sandbox.path().join("out"),
        &["`misbehaving_calls`", "`prompt.random_seed`", "runner owns"],
    );
}

/// The steps of run `generation_id`'s transcript under `out/logs`.
fn transcript_steps(out: &Path, generation_id: &str, output: &Run) -> Vec<Value> {
    let path = out.join(format!("logs/{generation_id}_transcript.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}{output}", path.display()));
    let transcript: Value = serde_json::from_str(&text).expect("a JSON transcript");
    transcript["steps"].as_array().cloned().unwrap_or_default()
}

/// Checks `step` is the fixture's `describe` call: its messages, its answer and its options.
fn assert_describe_step(step: &Value, output: &Run) {
    let context = format!("\n--- step\n{}{output}", pretty(step));
    assert_eq!(step["type"], "chat", "{context}");
    assert_eq!(step["prompt"], "Describe this run as JSON.", "{context}");
    assert_eq!(
        step["meta"]["messages"][0]["content"], "You describe runs.",
        "{context}"
    );
    assert_eq!(step["params"]["max_completion_tokens"], 77, "{context}");
    assert_eq!(step["params"]["response_format"], "json", "{context}");
    assert_eq!(step["attempts"], 1, "{context}");
    let answer = step["response"].as_str().unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(answer).is_ok_and(|answer| answer.is_object()),
        "a JSON request gets a JSON object offline{context}"
    );
}

#[test]
fn chat_calls_of_the_run_hook_join_the_pipeline_transcript_and_the_judge_the_result() {
    let (output, sandbox) = run_misbehaving(Some("chat"));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let results = results_of(&out, &output);
    assert_eq!(results.len(), 1, "{output}");
    let entry = &results[0];
    let context = format!("\n--- result\n{}{output}", pretty(entry));
    let generation_id = entry["generation_id"].as_str().unwrap_or_default();
    let steps = transcript_steps(&out, generation_id, &output);
    assert!(steps.len() > 1, "the pipeline's steps stay{context}");
    let plugin_steps: Vec<&Value> = steps
        .iter()
        .filter(|step| step["path"] == "plugin/describe")
        .collect();
    assert_eq!(plugin_steps.len(), 1, "one `plugin/describe` step{context}");
    assert_eq!(
        steps.last(),
        Some(plugin_steps[0]),
        "appended after the pipeline's"
    );
    assert_describe_step(plugin_steps[0], &output);

    let calls = entry["analysis_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        calls.len(),
        1,
        "the judge call is in `analysis_calls`{context}"
    );
    let judge = &calls[0];
    assert_eq!(judge["path"], "plugin/judge", "{context}");
    let final_prompt = entry["final_prompt"].as_str().unwrap_or_default();
    assert!(!final_prompt.is_empty(), "{context}");
    assert_eq!(
        judge["prompt"],
        format!("Judge this prompt: {final_prompt}"),
        "{context}"
    );
    assert_eq!(entry["analysis"]["verdict"], judge["response"], "{context}");
    assert!(
        !steps.iter().any(|step| step["path"] == "plugin/judge"),
        "the judge is not in the run's transcript{context}"
    );
}

#[test]
fn chat_calls_of_a_run_without_pipeline_get_a_transcript_of_their_own() {
    let (output, sandbox) = run_misbehaving(Some("chat-only"));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let results = results_of(&out, &output);
    assert_eq!(results.len(), 1, "{output}");
    let generation_id = results[0]["generation_id"].as_str().unwrap_or_default();
    let steps = transcript_steps(&out, generation_id, &output);
    assert_eq!(steps.len(), 1, "{output}");
    assert_eq!(steps[0]["path"], "plugin/describe", "{output}");
    assert_describe_step(&steps[0], &output);
    assert!(
        results[0].get("analysis_calls").is_none(),
        "no analyze call, no `analysis_calls`{output}"
    );
}

/// One chat completion whose content is a JSON object.
fn answer_json(stream: TcpStream) {
    let body = serde_json::json!({
        "id": "chatcmpl-e2e-chat",
        "object": "chat.completion",
        "model": "describe-model-2026",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "{\"run\": \"described\"}"}}],
    })
    .to_string();
    answer_with(stream, "200 OK", &body);
}

#[test]
fn a_chat_calls_model_token_limit_and_json_format_reach_the_http_request() {
    let stub = Stub::answering(answer_json);
    let (sandbox, plugins) = with_fixture(MISBEHAVING_CALLS);
    sandbox.write(
        "chat.toml",
        r#"
[backend.text]
provider = "openai"
model = "default-model"
api_key_env = "IMAGE_PROJECT_E2E_CHAT_KEY"
max_retries = 0
json_mode = true

[cache]
mode = "off"
"#,
    );
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                MISBEHAVING_CALLS,
                "--config",
                "chat.toml",
                "--set",
                &base_url,
                "--seed",
                "1",
                "--json",
                "--output-root",
                "out",
            ],
        )
        .env("MISBEHAVING_CALLS", "chat-only")
        .env("IMAGE_PROJECT_E2E_CHAT_KEY", "sk-e2e-chat-stub"));
    output.assert_code(0);
    let bodies = stub.bodies();
    assert_eq!(bodies.len(), 1, "one request: the `describe` call{output}");
    let sent: Value = serde_json::from_str(&bodies[0]).expect("a JSON request body");
    let context = format!("\n--- request\n{}{output}", pretty(&sent));
    assert_eq!(sent["model"], "describe-model", "{context}");
    assert_eq!(sent["max_completion_tokens"], 77, "{context}");
    assert_eq!(sent["response_format"]["type"], "json_object", "{context}");
    assert_eq!(
        sent["messages"][0]["content"], "You describe runs.",
        "{context}"
    );

    let out = sandbox.path().join("out");
    let results = results_of(&out, &output);
    let generation_id = results[0]["generation_id"].as_str().unwrap_or_default();
    let steps = transcript_steps(&out, generation_id, &output);
    assert_eq!(steps.len(), 1, "{output}");
    assert_eq!(steps[0]["provider"], "openai", "{context}");
    assert_eq!(steps[0]["params"]["model"], "describe-model", "{context}");
    assert_eq!(
        steps[0]["response"], "{\"run\": \"described\"}",
        "{context}"
    );
}

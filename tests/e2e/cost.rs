//! Usage and cost (issue 11): against a loopback stub of an OpenAI-compatible server that answers
//! every chat completion with the same `usage`, and a price table in a test config, every
//! transcript step records that usage, every result entry the run's totals and `cost_usd`, and
//! the summary, `--json` and the terminal table the totals per variant and for the experiment,
//! equal to the values computed by hand below. A model without a price gives `cost_usd: null`
//! and a warning, never 0.

use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::execute::{answer_with, planned_ids, read_jsonl, with_plugins, Stub};
use crate::util::{pretty, read_json, run, Run, Sandbox};

/// What the stub reports for every call.
const PROMPT_TOKENS: u64 = 1000;
const CACHED_TOKENS: u64 = 200;
const COMPLETION_TOKENS: u64 = 50;
const REASONING_TOKENS: u64 = 10;

/// The test config's prices of the model the stub stands for, USD per million tokens.
const PRICED_MODEL: &str = "stub-priced";
const CONFIG: &str = r#"
[backend.text]
provider = "openai"
model = "stub-priced"
api_key_env = "IMAGE_PROJECT_E2E_COST_KEY"
max_retries = 0

[pricing.text."stub-priced"]
input_usd_per_mtok = 2.0
cached_input_usd_per_mtok = 0.5
output_usd_per_mtok = 8.0

# Every call is counted here: none is answered from the response cache (`cache.rs` tests that).
[cache]
mode = "off"
"#;

/// One call at those prices: 800 uncached input tokens at 2.0, 200 cached at 0.5 and 50 output
/// at 8.0 per million: (1600 + 100 + 400) / 1e6.
const USD_PER_CALL: f64 = 0.0021;
/// `ab_refinement_block` makes three chat calls a run (draft, refine, final prompt).
const CALLS_PER_RUN: u64 = 3;

/// One chat completion carrying the usage above.
fn answer(stream: TcpStream) {
    let body = json!({
        "id": "chatcmpl-e2e-cost",
        "object": "chat.completion",
        "model": "stub-priced-2026-01-01",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "A quiet harbour at dawn, gulls over moored boats, soft mist on the water."}}],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
            "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        },
    })
    .to_string();
    answer_with(stream, "200 OK", &body);
}

/// `ab_refinement_block --runs 3` against `stub` with `config`, `--json`, into `out`.
fn run_experiment(sandbox: &Sandbox, plugins: &Path, stub: &Stub, config: &str) -> Run {
    run_with(
        sandbox,
        plugins,
        stub,
        config,
        &["--runs", "3", "--seed", "5", "--jobs", "2"],
    )
}

/// `ab_refinement_block` against `stub` with `config`, `--json`, into `out`, and `args`.
fn run_with(sandbox: &Sandbox, plugins: &Path, stub: &Stub, config: &str, args: &[&str]) -> Run {
    sandbox.write("cost.toml", config);
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let mut all = vec![
        "run",
        "ab_refinement_block",
        "--config",
        "cost.toml",
        "--set",
        &base_url,
        "--json",
        "--output-root",
        "out",
    ];
    all.extend_from_slice(args);
    run(sandbox
        .experiments(plugins, &all)
        .env("IMAGE_PROJECT_E2E_COST_KEY", "sk-e2e-cost-stub"))
}

fn close(got: &Value, expected: f64) -> bool {
    got.as_f64()
        .is_some_and(|usd| (usd - expected).abs() < 1e-12)
}

#[test]
fn usage_and_cost_are_recorded_per_step_run_variant_and_experiment() {
    let stub = Stub::answering(answer);
    let (sandbox, plugins) = with_plugins();
    let output = run_experiment(&sandbox, &plugins, &stub, CONFIG);
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let ids = planned_ids(&out, &output);
    assert_eq!(ids.len(), 6, "{output}");
    assert_eq!(
        stub.requests.load(Ordering::SeqCst) as u64,
        6 * CALLS_PER_RUN,
        "{output}"
    );

    // Per step: the stub's usage, as the endpoint counted it, and the model that answered.
    let step_usage = json!({
        "input_tokens": PROMPT_TOKENS,
        "cached_input_tokens": CACHED_TOKENS,
        "output_tokens": COMPLETION_TOKENS,
        "reasoning_tokens": REASONING_TOKENS,
        "counted_by": "endpoint",
    });
    for id in &ids {
        let transcript = read_json(&out.join("logs").join(format!("{id}_transcript.json")));
        let chats: Vec<&Value> = transcript["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter(|step| step["type"] == "chat")
            .collect();
        assert_eq!(chats.len() as u64, CALLS_PER_RUN, "{}", pretty(&transcript));
        for step in chats {
            assert_eq!(step["usage"], step_usage, "{}", pretty(step));
            assert_eq!(step["answer_model"], "stub-priced-2026-01-01");
            assert_eq!(step["params"]["model"], PRICED_MODEL);
        }
    }

    // Per run: the totals of its three calls and their cost.
    let run_usage = json!({
        "calls": CALLS_PER_RUN,
        "input_tokens": CALLS_PER_RUN * PROMPT_TOKENS,
        "cached_input_tokens": CALLS_PER_RUN * CACHED_TOKENS,
        "output_tokens": CALLS_PER_RUN * COMPLETION_TOKENS,
        "reasoning_tokens": CALLS_PER_RUN * REASONING_TOKENS,
        "images": 0,
        "calls_without_usage": 0,
        "sequential_calls": CALLS_PER_RUN,
        "cache_hits": 0,
    });
    let run_cost = CALLS_PER_RUN as f64 * USD_PER_CALL;
    let results = read_jsonl(&out.join("results.jsonl"), &output);
    let view = read_json(&out.join("experiment_results.json"));
    for entry in results
        .iter()
        .chain(view["results"].as_array().expect("results"))
    {
        assert_eq!(entry["usage"], run_usage, "{}", pretty(entry));
        assert!(close(&entry["cost_usd"], run_cost), "{}", pretty(entry));
        assert!(entry.get("cost_missing").is_none(), "{}", pretty(entry));
    }

    // Per variant and in total: in the summary and in `--json`, the same document.
    let report = output.json();
    let summary = &view["summary"]["usage"];
    assert_eq!(&report["usage"], summary, "{output}");
    for variant in ["A", "B"] {
        let spend = &summary["variants"][variant];
        assert_eq!(spend["runs"], 3, "{}", pretty(summary));
        assert_eq!(spend["usage"]["calls"], 3 * CALLS_PER_RUN);
        assert_eq!(
            spend["usage"]["input_tokens"],
            3 * CALLS_PER_RUN * PROMPT_TOKENS
        );
        assert_eq!(
            spend["usage"]["cached_input_tokens"],
            3 * CALLS_PER_RUN * CACHED_TOKENS
        );
        assert_eq!(
            spend["usage"]["output_tokens"],
            3 * CALLS_PER_RUN * COMPLETION_TOKENS
        );
        assert_eq!(
            spend["usage"]["reasoning_tokens"],
            3 * CALLS_PER_RUN * REASONING_TOKENS
        );
        assert!(close(&spend["cost_usd"], 0.0189), "{}", pretty(summary));
    }
    assert_eq!(summary["total"]["runs"], 6);
    assert_eq!(summary["total"]["usage"]["calls"], 18);
    assert!(
        close(&summary["total"]["cost_usd"], 0.0378),
        "{}",
        pretty(summary)
    );
    assert_eq!(summary["cost_missing"], json!([]));
}

#[test]
fn usage_and_cost_appear_in_the_terminal_table() {
    let stub = Stub::answering(answer);
    let (sandbox, plugins) = with_plugins();
    sandbox.write("cost.toml", CONFIG);
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "ab_refinement_block",
                "--runs",
                "3",
                "--seed",
                "5",
                "--config",
                "cost.toml",
                "--set",
                &base_url,
            ],
        )
        .env("IMAGE_PROJECT_E2E_COST_KEY", "sk-e2e-cost-stub"));
    output.assert_code(0);
    let table: Vec<Vec<&str>> = output
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    let row = |name: &str| {
        table
            .iter()
            .find(|cells| cells.first() == Some(&name) && cells.len() == 9)
            .unwrap_or_else(|| panic!("no `{name}` row{output}"))
            .clone()
    };
    let header = output
        .stdout
        .lines()
        .find(|line| line.starts_with("usage "))
        .unwrap_or_else(|| panic!("no usage table{output}"));
    assert_eq!(
        header
            .split("  ")
            .filter(|cell| !cell.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        [
            "usage",
            "runs",
            "calls",
            "input tok",
            "cached",
            "output tok",
            "reasoning",
            "images",
            "cost USD"
        ],
        "{output}"
    );
    assert_eq!(
        row("A"),
        ["A", "3", "9", "9000", "1800", "450", "90", "0", "0.0189"],
        "{output}"
    );
    assert_eq!(
        row("total"),
        ["total", "6", "18", "18000", "3600", "900", "180", "0", "0.0378"],
        "{output}"
    );
}

#[test]
fn a_model_without_a_price_gives_a_null_cost_and_a_warning() {
    let stub = Stub::answering(answer);
    let (sandbox, plugins) = with_plugins();
    let config = CONFIG.replace("model = \"stub-priced\"", "model = \"stub-unpriced\"");
    let output = run_experiment(&sandbox, &plugins, &stub, &config);
    output.assert_code(0);
    let reason = "no price for text model `stub-unpriced`";
    output.assert_stderr_has(&[&format!(
        "warning: cost unknown (`cost_usd: null`): {reason}"
    )]);
    let out = sandbox.path().join("out");
    for entry in read_jsonl(&out.join("results.jsonl"), &output) {
        assert_eq!(entry["cost_usd"], Value::Null, "{}", pretty(&entry));
        assert_eq!(entry["cost_missing"], json!([reason]), "{}", pretty(&entry));
        // The tokens are known all the same.
        assert_eq!(
            entry["usage"]["input_tokens"],
            CALLS_PER_RUN * PROMPT_TOKENS
        );
    }
    let summary = &read_json(&out.join("experiment_results.json"))["summary"]["usage"];
    assert_eq!(
        summary["total"]["cost_usd"],
        Value::Null,
        "{}",
        pretty(summary)
    );
    assert_eq!(summary["total"]["runs_without_cost"], 6);
    assert_eq!(summary["cost_missing"], json!([reason]));
    let log = std::fs::read_to_string(out.join("experiment.log")).expect("experiment.log");
    assert!(
        log.contains(&format!(
            "| WARN | cost unknown (`cost_usd: null`): {reason}"
        )),
        "{log}"
    );
}

#[test]
fn generate_prints_the_runs_tokens_and_cost() {
    let stub = Stub::answering(answer);
    let sandbox = Sandbox::new();
    sandbox.write("cost.toml", CONFIG);
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let generate = |json: bool| {
        let mut args = vec![
            "generate",
            "--mode",
            "prompt_only",
            "--seed",
            "2",
            "--config",
            "cost.toml",
            "--set",
            &base_url,
        ];
        if json {
            args.push("--json");
        }
        let mut cmd = sandbox.cmd();
        cmd.args(&args)
            .env("IMAGE_PROJECT_E2E_COST_KEY", "sk-e2e-cost-stub");
        run(&mut cmd)
    };
    // The embedded default plan makes the same three chat calls as `ab_refinement_block`'s A.
    let output = generate(false);
    output.assert_code(0);
    assert!(
        output.stdout.contains(
            "tokens         3 calls: 3000 input (600 cached), 150 output (30 reasoning); 0 images\n\
             cost           0.0063 USD\n"
        ),
        "{output}"
    );
    let document = generate(true).json();
    assert_eq!(document["usage"]["calls"], 3, "{}", pretty(&document));
    assert!(
        close(&document["cost_usd"], 0.0063),
        "{}",
        pretty(&document)
    );
    assert_eq!(document["cost_missing"], json!([]));
}

#[test]
fn estimate_rehearses_offline_counts_the_real_runs_calls_and_writes_nothing() {
    let (sandbox, plugins) = with_plugins();
    let before = sandbox.files();
    let estimate = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "profile_v5_3x3",
            "--seed",
            "4",
            "--estimate",
            "--json",
        ],
    ));
    estimate.assert_code(0);
    assert_eq!(
        sandbox.files(),
        before,
        "--estimate left files behind{estimate}"
    );
    assert!(!sandbox.path().join("_artifacts").exists(), "{estimate}");
    let estimate = estimate.json();
    let context = pretty(&estimate);
    let total = &estimate["usage"]["total"];
    assert!(total["usage"]["calls"].as_u64() > Some(0), "{context}");
    assert!(
        total["usage"]["input_tokens"].as_u64() > Some(0),
        "{context}"
    );
    assert!(total["cost_usd"].as_f64() > Some(0.0), "{context}");
    let wall = &estimate["wall_time"];
    assert!(wall["seconds"].as_f64() > Some(0.0), "{context}");
    assert_eq!(wall["text_latency_hint_ms"], 4000, "{context}");
    assert_eq!(wall["jobs"], 4, "{context}");

    // The real offline run of the same plan makes exactly the calls the estimate counted.
    let real = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "profile_v5_3x3",
            "--seed",
            "4",
            "--json",
            "--output-root",
            "out",
        ],
    ));
    real.assert_code(0);
    let real = real.json();
    assert_eq!(
        real["usage"]["total"]["usage"],
        total["usage"],
        "estimate:\n{context}\nreal:\n{}",
        pretty(&real["usage"])
    );
    assert_eq!(real["usage"]["variants"], estimate["usage"]["variants"]);
}

#[test]
fn estimate_with_dry_run_or_an_output_root_is_a_usage_error() {
    let (sandbox, plugins) = with_plugins();
    for extra in [["--dry-run", "--runs"], ["--output-root", "x"]] {
        let mut args = vec!["run", "ab_refinement_block", "--estimate"];
        args.extend(extra);
        if extra[0] == "--dry-run" {
            args.push("1");
        }
        let output = run(&mut sandbox.experiments(&plugins, &args));
        output.assert_code(2);
        output.assert_stderr_has(&["cannot be used with"]);
    }
}

#[test]
fn a_budget_below_the_estimate_exits_2_before_any_call_and_prints_the_estimate() {
    let stub = Stub::answering(answer);
    let (sandbox, plugins) = with_plugins();
    let output = run_with(
        &sandbox,
        &plugins,
        &stub,
        CONFIG,
        &["--runs", "3", "--seed", "5", "--max-cost", "0.001"],
    );
    output.assert_code(2);
    output.assert_stderr_has(&["is above the budget of 0.0010 USD; nothing was run"]);
    assert_eq!(stub.requests.load(Ordering::SeqCst), 0, "{output}");
    assert!(!sandbox.path().join("out").exists(), "{output}");
    let estimate = output.json();
    assert!(
        estimate["usage"]["total"]["cost_usd"].as_f64() > Some(0.001),
        "{output}"
    );
    assert_eq!(
        estimate["usage"]["total"]["usage"]["calls"],
        6 * CALLS_PER_RUN
    );
}

/// The rehearsal estimates a run from offline token counts (about 0.0043 USD at the test
/// prices); the stub's usage makes each real run cost 0.0063 USD, so a budget just above the
/// estimate is crossed after a few runs.
#[test]
fn a_budget_crossed_mid_run_stops_dispatch_and_resume_with_a_higher_budget_completes() {
    let stub = Stub::answering(answer);
    let (sandbox, plugins) = with_plugins();
    let first = run_with(
        &sandbox,
        &plugins,
        &stub,
        CONFIG,
        &[
            "--runs",
            "3",
            "--seed",
            "5",
            "--jobs",
            "1",
            "--max-cost",
            "0.026",
        ],
    );
    first.assert_code(1);
    let report = first.json();
    let context = format!("{}{first}", pretty(&report["budget"]));
    let skipped = report["execution"]["skipped"]
        .as_array()
        .expect("skipped")
        .len();
    let done = report["execution"]["attempted"]
        .as_u64()
        .expect("attempted");
    assert!(skipped > 0 && done > 0, "{context}");
    assert_eq!(done as usize + skipped, 6, "{context}");
    assert_eq!(report["budget"]["stopped"], true, "{context}");
    assert!(
        close(
            &report["budget"]["spent_usd"],
            done as f64 * CALLS_PER_RUN as f64 * USD_PER_CALL
        ),
        "{context}"
    );
    assert!(
        report["budget"]["spent_usd"].as_f64() <= Some(0.026),
        "{context}"
    );
    assert_eq!(
        stub.requests.load(Ordering::SeqCst) as u64,
        done * CALLS_PER_RUN
    );
    let log = std::fs::read_to_string(sandbox.path().join("out/experiment.log")).expect("log");
    assert!(log.contains("| WARN | budget: dispatch stopped"), "{log}");

    // Resumed with a higher budget: the rest runs, and the spend counts both sessions.
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let second = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "ab_refinement_block",
                "--resume",
                "--output-root",
                "out",
                "--set",
                &base_url,
                "--max-cost",
                "0.05",
                "--json",
            ],
        )
        .env("IMAGE_PROJECT_E2E_COST_KEY", "sk-e2e-cost-stub"));
    second.assert_code(0);
    let report = second.json();
    assert_eq!(report["execution"]["attempted"], skipped, "{second}");
    assert_eq!(report["budget"]["stopped"], false, "{second}");
    assert!(close(&report["budget"]["spent_usd"], 0.0378), "{second}");
    assert!(
        close(&report["usage"]["total"]["cost_usd"], 0.0378),
        "{second}"
    );
    assert_eq!(report["usage"]["total"]["runs"], 6, "{second}");
    assert_eq!(
        stub.requests.load(Ordering::SeqCst) as u64,
        6 * CALLS_PER_RUN
    );
}

#[test]
fn an_offline_full_run_counts_its_title_calls_and_its_image() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.cmd().args(["generate", "--seed", "2", "--json"]));
    output.assert_code(0);
    let document = output.json();
    let context = format!("{}{output}", pretty(&document));
    let transcript = read_json(Path::new(
        document["transcript"].as_str().expect("transcript"),
    ));
    let titles = transcript["title_generation"]["attempts"]
        .as_array()
        .expect("title attempts");
    for attempt in titles {
        assert_eq!(attempt["model"], "gpt-5.2", "{context}");
        assert_eq!(attempt["usage"]["counted_by"], "o200k_base", "{context}");
    }
    let chats = transcript["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|step| step["type"] == "chat")
        .count();
    assert_eq!(
        transcript["image_generation"],
        json!({"provider": "offline", "model": "gpt-image-1.5", "size": "1536x1024",
               "quality": "high", "usage": null}),
        "{context}"
    );
    let usage = &document["usage"];
    assert_eq!(usage["calls"], chats + titles.len(), "{context}");
    assert_eq!(usage["images"], 1, "{context}");
    // The built-in price of one 1536x1024 high-quality gpt-image-1.5 image, plus the text.
    assert!(document["cost_usd"].as_f64() > Some(0.2), "{context}");
}

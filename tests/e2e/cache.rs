//! The response cache (issue 12): against a loopback stub that answers every chat completion
//! with a text it never gave before and counts the requests, a re-run of `ab_refinement_block`
//! with the same seed makes no request and gives byte-identical final prompts; a change to the
//! last stage re-calls only its steps; another seed misses; `--cache refresh` calls again and
//! overwrites; `--cache off` never touches the database; two processes share one cache; a file
//! that is not a database stops the command with exit 2 naming it; `generate` takes `--cache`
//! too; `cache stats | prune | clear` look after the file.

use std::net::TcpStream;
use std::path::Path;

use serde_json::{json, Value};

use crate::execute::{answer_with, planned_ids, read_jsonl, with_plugins, Stub};
use crate::util::{pretty, read_json, run, Run, Sandbox};

const CONFIG: &str = r#"
[backend.text]
provider = "openai"
model = "stub-priced"
api_key_env = "IMAGE_PROJECT_E2E_CACHE_KEY"
max_retries = 0

[pricing.text."stub-priced"]
input_usd_per_mtok = 2.0
output_usd_per_mtok = 8.0
"#;

/// Every call's usage: 1000 input tokens at 2.0 and 50 output at 8.0 per million.
const USD_PER_CALL: f64 = 0.0024;
/// `ab_refinement_block --runs 2`: 2 variants × 2 runs × 3 chat calls.
const CALLS: usize = 12;
/// The requests a first run makes: variants A and B of one run share its seed and send the
/// same first request (the draft), so the second variant to get there is answered from the
/// cache (`--jobs 1` keeps that order fixed): 12 calls, 2 of them hits.
const FIRST_RUN_REQUESTS: usize = 10;
/// A base seed whose runs' seeds are all unlike those of base seed 1 (`ab_refinement_block`
/// seeds run `i` with the base seed plus `i`, so base seed 2 would share a run with 1).
const OTHER_SEED: &str = "1000";
/// Where the cache lives by default, under the working directory.
const DB: &str = "_artifacts/cache/responses.sqlite";

/// Each request gets a new text (`answer number <n>`), so a cached answer is told apart.
fn answer(stream: TcpStream, n: usize) {
    let body = json!({
        "object": "chat.completion",
        "model": "stub-priced",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": format!("A lighthouse under aurora, answer number {n}.")}}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050},
    })
    .to_string();
    answer_with(stream, "200 OK", &body);
}

/// `ab_refinement_block --runs 2 --seed SEED` into `out`, with `extra` args.
fn command(
    sandbox: &Sandbox,
    plugins: &Path,
    stub: &Stub,
    out: &str,
    seed: &str,
    extra: &[&str],
) -> assert_cmd::Command {
    sandbox.write("cache.toml", CONFIG);
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let mut args = vec![
        "run",
        "ab_refinement_block",
        "--config",
        "cache.toml",
        "--set",
        &base_url,
        "--output-root",
        out,
        "--runs",
        "2",
        "--jobs",
        "1",
        "--seed",
        seed,
    ];
    args.extend_from_slice(extra);
    let mut cmd = sandbox.experiments(plugins, &args);
    cmd.env("IMAGE_PROJECT_E2E_CACHE_KEY", "sk-e2e-cache-stub");
    cmd
}

fn run_into(
    sandbox: &Sandbox,
    plugins: &Path,
    stub: &Stub,
    out: &str,
    seed: &str,
    extra: &[&str],
) -> Run {
    run(&mut command(sandbox, plugins, stub, out, seed, extra))
}

/// The final prompts of the runs in `out`, in plan order.
fn final_prompts(out: &Path, output: &Run) -> Vec<String> {
    planned_ids(out, output)
        .iter()
        .map(|id| {
            let path = out.join("logs").join(format!("{id}_final_prompt.txt"));
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read `{}`: {e}{output}", path.display()))
        })
        .collect()
}

/// The `cache` field of every chat step of every run in `out`.
fn cache_fields(out: &Path, output: &Run) -> Vec<Value> {
    let mut fields = Vec::new();
    for id in planned_ids(out, output) {
        let transcript = read_json(&out.join("logs").join(format!("{id}_transcript.json")));
        for step in transcript["steps"].as_array().expect("steps") {
            if step["type"] == "chat" {
                fields.push(step.get("cache").cloned().unwrap_or(Value::Null));
            }
        }
    }
    fields
}

fn close(got: &Value, expected: f64) -> bool {
    got.as_f64()
        .is_some_and(|usd| (usd - expected).abs() < 1e-9)
}

#[test]
fn a_rerun_with_the_same_seed_makes_no_request_and_gives_identical_prompts() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    let first = run_into(&sandbox, &plugins, &stub, "first", "1", &["--json"]);
    first.assert_code(0);
    assert_eq!(stub.count(), FIRST_RUN_REQUESTS, "{first}");
    let first_out = sandbox.path().join("first");
    let fields = cache_fields(&first_out, &first);
    let misses = fields.iter().filter(|field| **field == "miss").count();
    let hits = fields.iter().filter(|field| **field == "hit").count();
    assert_eq!(
        (misses, hits),
        (FIRST_RUN_REQUESTS, CALLS - FIRST_RUN_REQUESTS),
        "{fields:?}"
    );

    let second = run_into(&sandbox, &plugins, &stub, "second", "1", &["--json"]);
    second.assert_code(0);
    assert_eq!(
        stub.count(),
        FIRST_RUN_REQUESTS,
        "the re-run made requests{second}"
    );
    let second_out = sandbox.path().join("second");
    assert_eq!(
        final_prompts(&first_out, &first),
        final_prompts(&second_out, &second)
    );
    assert_eq!(
        cache_fields(&second_out, &second),
        vec![json!("hit"); CALLS]
    );

    // Hits are saved, not spent: per run and in the summary (`--json` is the same document).
    for entry in read_jsonl(&second_out.join("results.jsonl"), &second) {
        assert_eq!(entry["usage"]["calls"], 0, "{}", pretty(&entry));
        assert_eq!(entry["usage"]["cache_hits"], 3, "{}", pretty(&entry));
        assert!(close(&entry["cost_usd"], 0.0), "{}", pretty(&entry));
        assert!(
            close(&entry["saved_cost_usd"], 3.0 * USD_PER_CALL),
            "{}",
            pretty(&entry)
        );
    }
    let total = &second.json()["usage"]["total"];
    assert_eq!(total["usage"]["cache_hits"], CALLS, "{}", pretty(total));
    assert!(
        close(&total["saved_cost_usd"], CALLS as f64 * USD_PER_CALL),
        "{}",
        pretty(total)
    );
    let first_total = &first.json()["usage"]["total"];
    assert!(
        close(&first_total["saved_cost_usd"], hits as f64 * USD_PER_CALL),
        "{}",
        pretty(first_total)
    );

    // The terminal table says how many calls the cache answered and what that saved.
    let table = run_into(&sandbox, &plugins, &stub, "third", "1", &[]);
    table.assert_code(0);
    assert!(
        table
            .stdout
            .contains("cache: 12 of 12 calls from cache, saved 0.0288 USD"),
        "{table}"
    );
    assert_eq!(stub.count(), FIRST_RUN_REQUESTS, "{table}");
}

#[test]
fn changing_the_last_stage_recalls_only_its_steps() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    let first = run_into(&sandbox, &plugins, &stub, "first", "1", &[]);
    first.assert_code(0);
    assert_eq!(stub.count(), FIRST_RUN_REQUESTS, "{first}");

    // The final-format stage is the last of both variants: its requests change (temperature),
    // every step before it is answered from the cache.
    let changed = run_into(
        &sandbox,
        &plugins,
        &stub,
        "changed",
        "1",
        &[
            "--set",
            "prompt.stage_configs.defaults.\"ab.final_prompt_format\".temperature=0.3",
        ],
    );
    changed.assert_code(0);
    let runs = 4;
    assert_eq!(stub.count(), FIRST_RUN_REQUESTS + runs, "{changed}");
    let out = sandbox.path().join("changed");
    for id in planned_ids(&out, &changed) {
        let transcript = read_json(&out.join("logs").join(format!("{id}_transcript.json")));
        for step in transcript["steps"].as_array().expect("steps") {
            if step["type"] != "chat" {
                continue;
            }
            let last = step["path"]
                .as_str()
                .is_some_and(|path| path.contains("ab.final_prompt_format"));
            let expected = if last { "miss" } else { "hit" };
            assert_eq!(step["cache"], expected, "{}", pretty(step));
        }
    }
}

#[test]
fn refresh_calls_again_and_overwrites_and_another_seed_misses() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    let first = run_into(&sandbox, &plugins, &stub, "first", "1", &[]);
    first.assert_code(0);
    let first_prompts = final_prompts(&sandbox.path().join("first"), &first);

    // Refresh calls again as if the cache were empty (the draft A and B share is called once)
    // and stores the new answers over the old ones.
    let refresh = run_into(
        &sandbox,
        &plugins,
        &stub,
        "refresh",
        "1",
        &["--cache", "refresh"],
    );
    refresh.assert_code(0);
    assert_eq!(stub.count(), 2 * FIRST_RUN_REQUESTS, "{refresh}");
    let fields = cache_fields(&sandbox.path().join("refresh"), &refresh);
    let refreshed_fields = fields.iter().filter(|field| **field == "refresh").count();
    assert_eq!(refreshed_fields, FIRST_RUN_REQUESTS, "{fields:?}");
    let refreshed = final_prompts(&sandbox.path().join("refresh"), &refresh);
    for prompt in &refreshed {
        assert!(!first_prompts.contains(prompt), "{prompt}");
    }

    // A plain re-run now gets the refreshed answers, without a request.
    let again = run_into(&sandbox, &plugins, &stub, "again", "1", &[]);
    again.assert_code(0);
    assert_eq!(stub.count(), 2 * FIRST_RUN_REQUESTS, "{again}");
    assert_eq!(
        final_prompts(&sandbox.path().join("again"), &again),
        refreshed
    );

    // Another seed is another replicate (its runs' seeds are not the first one's): nothing is
    // shared.
    let rows = answer_numbers(&sandbox).len();
    let other = run_into(&sandbox, &plugins, &stub, "other", OTHER_SEED, &[]);
    other.assert_code(0);
    assert_eq!(stub.count(), 3 * FIRST_RUN_REQUESTS, "{other}");
    assert_eq!(
        cache_fields(&sandbox.path().join("other"), &other)
            .iter()
            .filter(|field| **field == "miss")
            .count(),
        FIRST_RUN_REQUESTS
    );
    assert_eq!(answer_numbers(&sandbox).len(), rows + FIRST_RUN_REQUESTS);
}

/// The stub's answer number of every row of the sandbox's cache, after checking each row holds
/// a whole answer under a SHA-256 key.
fn answer_numbers(sandbox: &Sandbox) -> Vec<usize> {
    let db = rusqlite::Connection::open(sandbox.path().join(DB)).expect("open the cache");
    let mut select = db
        .prepare("SELECT key, body FROM responses")
        .expect("select");
    let rows: Vec<(String, String)> = select
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read rows");
    rows.iter()
        .map(|(key, body)| {
            assert!(
                key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
                "{key}"
            );
            let body: Value = serde_json::from_str(body).expect("a JSON answer");
            let content = body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_else(|| panic!("no answer text in {body}"));
            content
                .trim_end_matches('.')
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no answer number in {content:?}"))
        })
        .collect()
}

#[test]
fn cache_off_never_touches_the_database() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    for out in ["first", "second"] {
        let output = run_into(&sandbox, &plugins, &stub, out, "1", &["--cache", "off"]);
        output.assert_code(0);
        assert_eq!(
            cache_fields(&sandbox.path().join(out), &output),
            vec![Value::Null; CALLS]
        );
    }
    // Off, nothing is shared either: every call is made, the shared draft twice.
    assert_eq!(stub.count(), 2 * CALLS);
    assert!(!sandbox.path().join("_artifacts/cache").exists());
}

#[test]
fn two_processes_share_one_cache() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    // Both processes start together and write while the other one does.
    let outputs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = [("one", "1"), ("two", OTHER_SEED)]
            .into_iter()
            .map(|(out, seed)| {
                let mut cmd = command(&sandbox, &plugins, &stub, out, seed, &[]);
                scope.spawn(move || run(&mut cmd))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a runner thread"))
            .collect()
    });
    for output in &outputs {
        output.assert_code(0);
    }
    assert_eq!(stub.count(), 2 * FIRST_RUN_REQUESTS);
    // Every row is there and holds a whole answer.
    assert_eq!(answer_numbers(&sandbox).len(), 2 * FIRST_RUN_REQUESTS);

    // And a re-run of either seed is answered from it.
    let again = run_into(&sandbox, &plugins, &stub, "again", OTHER_SEED, &[]);
    again.assert_code(0);
    assert_eq!(stub.count(), 2 * FIRST_RUN_REQUESTS, "{again}");
}

#[test]
fn a_file_that_is_not_a_cache_stops_the_command_naming_it() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    sandbox.write(DB, &"not a database ".repeat(300));
    let output = run_into(&sandbox, &plugins, &stub, "out", "1", &[]);
    output.assert_code(2).assert_stderr_has(&[
        "_artifacts/cache/responses.sqlite",
        "--cache off",
        "not a database",
    ]);
    assert_eq!(stub.count(), 0, "{output}");

    // `--cache off` is the way past it.
    run_into(&sandbox, &plugins, &stub, "off", "1", &["--cache", "off"]).assert_code(0);
}

#[test]
fn cache_stats_prune_and_clear() {
    let stub = Stub::numbering(answer);
    let (sandbox, plugins) = with_plugins();
    // Nothing there yet: said so, and nothing is created.
    let none = run(sandbox.cmd().args(["cache", "stats"]));
    none.assert_code(0);
    assert!(none.stdout.contains("no response cache"), "{none}");
    assert!(!sandbox.path().join("_artifacts/cache").exists());

    run_into(&sandbox, &plugins, &stub, "first", "1", &[]).assert_code(0);
    let stats = run(sandbox.cmd().args(["cache", "stats", "--json"]));
    stats.assert_code(0);
    assert_eq!(stats.json()["entries"], FIRST_RUN_REQUESTS, "{stats}");

    // Everything is younger than a day: prune keeps it all.
    let prune = run(sandbox
        .cmd()
        .args(["cache", "prune", "--older-than", "1", "--json"]));
    prune.assert_code(0);
    assert_eq!(prune.json()["deleted"]["entries"], 0, "{prune}");
    let clear = run(sandbox.cmd().args(["cache", "clear"]));
    clear.assert_code(0);
    assert!(
        clear
            .stdout
            .contains(&format!("deleted        {FIRST_RUN_REQUESTS} answers")),
        "{clear}"
    );

    // After a clear the same run calls again.
    run_into(&sandbox, &plugins, &stub, "again", "1", &[]).assert_code(0);
    assert_eq!(stub.count(), 2 * FIRST_RUN_REQUESTS);
}

#[test]
fn generate_takes_cache_too() {
    let stub = Stub::numbering(answer);
    let sandbox = Sandbox::new();
    sandbox.write("cache.toml", CONFIG);
    let base_url = format!("backend.text.base_url=\"{}\"", stub.base_url);
    let generate = |extra: &[&str]| {
        let mut cmd = sandbox.cmd();
        cmd.args(["generate", "--config", "cache.toml", "--set", &base_url])
            .args(["--seed", "7", "--mode", "prompt_only", "--json"])
            .args(extra)
            .env("IMAGE_PROJECT_E2E_CACHE_KEY", "sk-e2e-cache-stub");
        run(&mut cmd)
    };
    let first = generate(&[]);
    first.assert_code(0);
    let calls = stub.count();
    assert!(calls > 0, "{first}");
    let again = generate(&[]);
    again.assert_code(0);
    assert_eq!(stub.count(), calls, "{again}");
    let report = again.json();
    assert_eq!(report["final_prompt"], first.json()["final_prompt"]);
    assert_eq!(report["usage"]["calls"], 0, "{again}");
    assert_eq!(report["usage"]["cache_hits"], calls, "{again}");
    assert!(
        close(&report["saved_cost_usd"], calls as f64 * USD_PER_CALL),
        "{again}"
    );
    generate(&["--cache", "off"]).assert_code(0);
    assert_eq!(stub.count(), 2 * calls);
}

//! `image-project generate`: one pipeline run outside any experiment (DESIGN §5), offline with
//! the embedded default config. The files it writes and what they hold, `--json`, determinism
//! (§7), config errors (exit 2, nothing run), and a failed run (exit 1) against a loopback stub of
//! an OpenAI-compatible server (§8).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::{pretty, read_json, run, Run, Sandbox};

/// The pipeline steps of the embedded default plan, in order.
const PIPELINE_STEPS: [&str; 4] = [
    "pipeline/ab.random_token/action",
    "pipeline/ab.scene_draft/draft",
    "pipeline/ab.scene_refine_no_block/draft",
    "pipeline/ab.final_prompt_format/draft",
];

/// The header of `generations.csv`.
const GENERATIONS_HEADER: &str =
    "generation_id,selected_concepts,final_image_prompt,image_path,created_at,seed";

/// `image-project generate <args>` in the sandbox.
fn generate(sandbox: &Sandbox, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = sandbox.cmd();
    cmd.arg("generate").args(args);
    cmd
}

/// `<UTC YYYYMMDD_HHMMSS>_<8 hex>`, without a regex engine.
fn is_generate_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    id.len() == 24
        && bytes.iter().enumerate().all(|(i, &c)| match i {
            8 | 15 => c == b'_',
            0..=14 => c.is_ascii_digit(),
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// The lines of `runs_index.jsonl` under `logs`, parsed.
fn index_lines(logs: &Path, output: &Run) -> Vec<Value> {
    let path = logs.join("runs_index.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read `{}`: {error}{output}", path.display()));
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("index line is not JSON ({error}): {line}{output}"))
        })
        .collect()
}

/// A path recorded as a JSON string.
fn path_of(value: &Value, what: &str, output: &Run) -> PathBuf {
    PathBuf::from(
        value
            .as_str()
            .unwrap_or_else(|| panic!("{what} is not a path: {value}{output}")),
    )
}

/// What one successful run wrote.
struct Written {
    id: String,
    index: Value,
    transcript: Value,
    final_prompt: String,
}

/// Checks the records of the one successful run in `sandbox` (default paths) in `mode`.
fn check_success(sandbox: &Sandbox, output: &Run, mode: &str) -> Written {
    output.assert_code(0);
    let logs = sandbox.path().join("_artifacts/logs");
    let generated = sandbox.path().join("_artifacts/generated");

    let lines = index_lines(&logs, output);
    assert_eq!(lines.len(), 1, "one index line{output}");
    let index = lines[0].clone();
    let context = |what: &str| format!("{what}\n--- index line\n{}{output}", pretty(&index));
    let id = index["generation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        is_generate_id(&id),
        "{}",
        context(&format!("generation id `{id}`"))
    );
    assert_eq!(index["status"], "success", "{}", context("status"));
    assert_eq!(index["run_mode"], mode, "{}", context("run_mode"));
    assert!(index["seed"].is_u64(), "{}", context("seed"));
    assert!(index["error"].is_null(), "{}", context("error"));

    let artifacts = &index["artifacts"];
    let expected = [
        ("transcript", logs.join(format!("{id}_transcript.json"))),
        ("oplog", logs.join(format!("{id}_oplog.log"))),
        ("final_prompt", logs.join(format!("{id}_final_prompt.txt"))),
    ];
    for (key, path) in &expected {
        let recorded = path_of(&artifacts[*key], &format!("artifacts.{key}"), output);
        assert_eq!(&recorded, path, "{}", context(&format!("artifacts.{key}")));
        assert!(
            recorded.is_file(),
            "{}",
            context(&format!("artifacts.{key} exists"))
        );
    }
    let image = generated.join(format!("{id}_image.png"));
    if mode == "full" {
        let recorded = path_of(&artifacts["image"], "artifacts.image", output);
        assert_eq!(recorded, image, "{}", context("artifacts.image"));
        assert!(recorded.is_file(), "{}", context("artifacts.image exists"));
    } else {
        assert!(
            artifacts["image"].is_null(),
            "{}",
            context("artifacts.image")
        );
        assert!(
            !generated.exists(),
            "{}",
            context("prompt_only writes no image")
        );
    }

    let transcript = read_json(&expected[0].1);
    let context = |what: &str| format!("{what}\n--- transcript\n{}{output}", pretty(&transcript));
    assert_eq!(
        transcript["generation_id"],
        id.as_str(),
        "{}",
        context("generation_id")
    );
    assert_eq!(transcript["seed"], index["seed"], "{}", context("seed"));
    assert_eq!(transcript["run_mode"], mode, "{}", context("run_mode"));
    assert!(transcript.get("error").is_none(), "{}", context("error"));
    let steps = transcript["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", context("steps")));
    let paths: Vec<&str> = steps
        .iter()
        .filter_map(|step| step["path"].as_str())
        .filter(|path| path.starts_with("pipeline/"))
        .collect();
    assert_eq!(paths, PIPELINE_STEPS, "{}", context("pipeline step paths"));
    for step in steps.iter().filter(|step| step["type"] == "chat") {
        assert_eq!(
            step["provider"],
            "offline",
            "{}",
            context("chat step provider")
        );
        for key in ["prompt", "response"] {
            assert!(
                step[key]
                    .as_str()
                    .is_some_and(|text| !text.trim().is_empty()),
                "{}",
                context(&format!("chat step {key}"))
            );
        }
    }
    assert_eq!(
        transcript["backends"]["text"]["provider"],
        "offline",
        "{}",
        context("backends.text.provider")
    );
    let final_prompt = std::fs::read_to_string(&expected[2].1).expect("final prompt file");
    let final_prompt = final_prompt.trim().to_owned();
    assert!(!final_prompt.is_empty(), "{}", context("final prompt file"));
    assert_eq!(
        transcript["final_image_prompt"].as_str().map(str::trim),
        Some(final_prompt.as_str()),
        "{}",
        context("final_image_prompt is the final prompt file")
    );
    Written {
        id,
        index,
        transcript,
        final_prompt,
    }
}

#[test]
fn generate_prompt_only_offline_writes_transcript_oplog_prompt_and_index() {
    let sandbox = Sandbox::new();
    let output = run(&mut generate(&sandbox, &["--mode", "prompt_only"]));
    let written = check_success(&sandbox, &output, "prompt_only");
    assert!(written.transcript["image_path"].is_null(), "{output}");
    assert!(
        !sandbox
            .path()
            .join("_artifacts/logs/generations.csv")
            .exists(),
        "prompt_only records no generation{output}"
    );
    assert!(
        output.stdout.contains(&written.id) && output.stdout.contains(&written.final_prompt),
        "stdout shows the id and the prompt{output}"
    );
}

#[test]
fn generate_full_offline_writes_a_png_a_title_and_a_generation_row() {
    let sandbox = Sandbox::new();
    // `run.mode` defaults to `full`.
    let output = run(&mut generate(&sandbox, &[]));
    let written = check_success(&sandbox, &output, "full");
    let id = written.id.as_str();
    let image = sandbox
        .path()
        .join("_artifacts/generated")
        .join(format!("{id}_image.png"));
    assert_eq!(
        path_of(&written.transcript["image_path"], "image_path", &output),
        image,
        "{output}"
    );

    // The PNG decodes, at the default `backend.image.size` 1536x1024.
    let file = std::fs::File::open(&image).expect("the image opens");
    let mut reader = png::Decoder::new(file)
        .read_info()
        .unwrap_or_else(|error| panic!("not a PNG: {error}{output}"));
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut pixels)
        .unwrap_or_else(|error| panic!("the PNG does not decode: {error}{output}"));
    assert_eq!((frame.width, frame.height), (1536, 1024), "{output}");

    // One titled row in the titles manifest.
    let manifest = sandbox
        .path()
        .join("_artifacts/generated/titles_manifest.csv");
    let mut titles = csv::Reader::from_path(&manifest)
        .unwrap_or_else(|error| panic!("`{}`: {error}{output}", manifest.display()));
    let headers = titles.headers().expect("a header").clone();
    let rows: Vec<csv::StringRecord> = titles
        .records()
        .collect::<Result<_, _>>()
        .expect("manifest rows parse");
    assert_eq!(rows.len(), 1, "{rows:?}{output}");
    let field = |name: &str| {
        let column = headers
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("no `{name}` column in {headers:?}{output}"));
        rows[0].get(column).unwrap_or_default().to_owned()
    };
    assert_eq!(field("seq"), "1", "{output}");
    let title = field("title");
    assert!(!title.trim().is_empty(), "a title{output}");
    assert_eq!(field("generation_id"), id, "{output}");
    assert_eq!(field("image_prompt"), written.final_prompt, "{output}");
    assert_eq!(
        written.transcript["title_generation"]["title"],
        title.as_str(),
        "{output}"
    );

    // One row in generations.csv, under its exact header.
    let generations = sandbox.path().join("_artifacts/logs/generations.csv");
    let text = std::fs::read_to_string(&generations).expect("generations.csv");
    assert_eq!(
        text.lines().next(),
        Some(GENERATIONS_HEADER),
        "{text}{output}"
    );
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .collect::<Result<_, _>>()
        .expect("generation rows parse");
    assert_eq!(rows.len(), 1, "{text}{output}");
    let row = &rows[0];
    assert_eq!(row.get(0), Some(id), "{text}{output}");
    assert_eq!(
        row.get(2),
        Some(written.final_prompt.as_str()),
        "{text}{output}"
    );
    assert_eq!(row.get(3).map(PathBuf::from), Some(image), "{text}{output}");
    assert_eq!(
        row.get(5),
        Some(written.index["seed"].to_string().as_str()),
        "{text}{output}"
    );
}

#[test]
fn generate_json_reports_id_status_and_final_prompt() {
    let sandbox = Sandbox::new();
    let output = run(&mut generate(
        &sandbox,
        &["--json", "--mode", "prompt_only", "--seed", "11"],
    ));
    let written = check_success(&sandbox, &output, "prompt_only");
    let document = output.json();
    assert_eq!(document["generation_id"], written.id.as_str(), "{output}");
    assert_eq!(document["status"], "success", "{output}");
    assert_eq!(document["seed"], 11, "{output}");
    assert_eq!(
        document["final_prompt"].as_str().map(str::trim),
        Some(written.final_prompt.as_str()),
        "{output}"
    );
}

/// Replaces `root` and `id` in every string and drops every `created_at`.
fn normalise(value: &mut Value, root: &str, id: &str) {
    match value {
        Value::String(text) => *text = text.replace(root, "<ROOT>").replace(id, "<ID>"),
        Value::Array(items) => items.iter_mut().for_each(|item| normalise(item, root, id)),
        Value::Object(map) => {
            map.remove("created_at");
            map.values_mut().for_each(|item| normalise(item, root, id));
        }
        _ => {}
    }
}

#[test]
fn same_seed_and_config_give_the_same_transcript() {
    let runs: Vec<(Sandbox, Run, Written)> = ["5", "5", "6"]
        .into_iter()
        .map(|seed| {
            let sandbox = Sandbox::new();
            let output = run(&mut generate(
                &sandbox,
                &["--seed", seed, "--mode", "prompt_only"],
            ));
            let written = check_success(&sandbox, &output, "prompt_only");
            (sandbox, output, written)
        })
        .collect();
    let normalised = |(sandbox, output, written): &(Sandbox, Run, Written)| {
        let root = sandbox.path().to_string_lossy().into_owned();
        let mut transcript = written.transcript.clone();
        assert!(
            transcript.to_string().contains(&written.id),
            "the transcript records its id{output}"
        );
        normalise(&mut transcript, &root, &written.id);
        transcript
    };
    let (first, second, other) = (
        normalised(&runs[0]),
        normalised(&runs[1]),
        normalised(&runs[2]),
    );
    assert!(
        first == second,
        "same seed, different transcripts\n--- first\n{}\n--- second\n{}{}{}",
        pretty(&first),
        pretty(&second),
        runs[0].1,
        runs[1].1
    );
    assert_eq!(runs[0].2.final_prompt, runs[1].2.final_prompt);
    // The seed matters.
    assert_ne!(
        first["final_image_prompt"], other["final_image_prompt"],
        "seeds 5 and 6 give the same prompt{}{}",
        runs[0].1, runs[2].1
    );
}

#[test]
fn generate_with_a_misspelt_key_suggests_the_right_one_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let output = run(&mut generate(&sandbox, &["--set", "run.moed=\"full\""]));
    output
        .assert_code(2)
        .assert_stderr_has(&["run.moed", "did you mean `run.mode`?"]);
    assert!(
        sandbox.files().is_empty(),
        "nothing is written{output}\n{:?}",
        sandbox.files()
    );
}

#[test]
fn generate_with_an_unset_key_variable_names_it_and_runs_nothing() {
    let sandbox = Sandbox::new();
    let var = "IMAGE_PROJECT_TEST_NO_SUCH_KEY";
    sandbox.write(
        "openai.toml",
        &format!("[backend.text]\nprovider = \"openai\"\napi_key_env = \"{var}\"\n"),
    );
    let output = run(generate(&sandbox, &["--config", "openai.toml"]).env_remove(var));
    output
        .assert_code(2)
        .assert_stderr_has(&[&format!("`{var}`"), "backend.text.api_key_env"]);
    let written: Vec<PathBuf> = sandbox
        .files()
        .into_iter()
        .filter(|path| !path.ends_with("openai.toml"))
        .collect();
    assert!(
        written.is_empty(),
        "no transcript or index: {written:?}{output}"
    );
}

/// One request the stub received.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A loopback HTTP server answering every request with HTTP 500 and a small JSON body.
struct Stub {
    base_url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Stub {
    fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("an address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        // Detached: it ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let request = read_request(&stream);
                // Recorded before answering, so the client's exit implies the record.
                if let Some(request) = request {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(request);
                }
                answer_500(stream);
            }
        });
        Stub { base_url, requests }
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    // A bound on a misbehaving client, not a timing assertion.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn answer_500(mut stream: TcpStream) {
    let body = r#"{"error":{"message":"stub: internal error","type":"server_error"}}"#;
    let response = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_failed_model_call_is_exit_1_with_the_error_recorded() {
    let stub = Stub::start();
    let sandbox = Sandbox::new();
    let var = "IMAGE_PROJECT_E2E_STUB_KEY";
    let key = "sk-e2e-stub-0123456789";
    sandbox.write(
        "stub.toml",
        &format!(
            "[backend.text]\nprovider = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"{var}\"\n",
            stub.base_url
        ),
    );
    let output = run(generate(
        &sandbox,
        &[
            "--config",
            "stub.toml",
            "--set",
            "backend.text.max_retries=0",
            "--seed",
            "3",
            "--mode",
            "prompt_only",
        ],
    )
    .env(var, key));
    output
        .assert_code(1)
        .assert_stderr_has(&["pipeline/ab.scene_draft/draft"]);

    // The stub saw one chat request, with the key as a bearer token.
    let requests = stub.requests.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(requests.len(), 1, "{requests:?}{output}");
    let request = &requests[0];
    assert_eq!(request.method, "POST", "{request:?}");
    assert_eq!(request.path, "/v1/chat/completions", "{request:?}");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {key}").as_str()),
        "{request:?}"
    );
    let body: Value = serde_json::from_slice(&request.body)
        .unwrap_or_else(|error| panic!("the request body is not JSON ({error}): {request:?}"));
    assert!(
        body["model"]
            .as_str()
            .is_some_and(|model| !model.is_empty()),
        "{}",
        pretty(&body)
    );
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert!(!messages.is_empty(), "{}", pretty(&body));
    for message in messages {
        assert!(
            message["role"].is_string() && message["content"].is_string(),
            "{}",
            pretty(&body)
        );
    }

    // The run recorded itself as failed at that step.
    let logs = sandbox.path().join("_artifacts/logs");
    let lines = index_lines(&logs, &output);
    assert_eq!(lines.len(), 1, "{output}");
    let index = &lines[0];
    let id = index["generation_id"].as_str().unwrap_or_default();
    assert!(is_generate_id(id), "{}{output}", pretty(index));
    assert_eq!(index["status"], "error", "{}{output}", pretty(index));
    assert!(
        index["artifacts"]["final_prompt"].is_null(),
        "{}{output}",
        pretty(index)
    );
    let transcript = read_json(&logs.join(format!("{id}_transcript.json")));
    let context = format!("\n--- transcript\n{}{output}", pretty(&transcript));
    let error = &transcript["error"];
    assert!(
        error["type"].as_str().is_some_and(|kind| !kind.is_empty()),
        "error.type{context}"
    );
    assert_eq!(error["phase"], "pipeline", "error.phase{context}");
    assert_eq!(
        error["step"], "pipeline/ab.scene_draft/draft",
        "error.step{context}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("500"),
        "error.message names the status{context}"
    );
    assert_eq!(
        index["error"], *error,
        "the index line carries the same error{context}"
    );
    assert_eq!(
        transcript["steps"][0]["path"], PIPELINE_STEPS[0],
        "the steps before the failure are recorded{context}"
    );
    assert!(transcript["final_image_prompt"].is_null(), "{context}");
    assert!(
        !logs.join(format!("{id}_final_prompt.txt")).exists(),
        "no final prompt{context}"
    );
    assert_eq!(
        transcript["backends"]["text"]["provider"], "openai",
        "{context}"
    );

    // The key's value is in no output and no file (DESIGN §6).
    assert!(
        !output.stdout.contains(key) && !output.stderr.contains(key),
        "the key is printed{output}"
    );
    for path in sandbox.files() {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        assert!(
            !text.contains(key),
            "`{}` holds the key{output}",
            path.display()
        );
    }
}

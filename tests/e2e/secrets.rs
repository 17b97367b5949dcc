//! The promise of `docs/experiment_log.md` and DESIGN §6: no artifact ever holds a key. The real
//! binary runs `experiments run` and `generate` against a loopback OpenAI-compatible stub that
//! echoes the API key back, in a successful answer and in a 401, and is handed the key where it
//! does not belong (pasted into `api_key_env` in a file or `--set`, inside a `base_url` as user
//! info or a query parameter). Then every file under the sandbox and every captured stdout and
//! stderr is searched for the key's value: it must appear nowhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::execute::with_plugins;
use crate::util::{run, Run};

/// The key, as the environment holds it. Shaped like a real one so every rule sees a real case.
const KEY: &str = "sk-e2e-ECHOED-7f3a9c0d1e2b4a6c8e0f";
/// The variable that holds it.
const KEY_VAR: &str = "IMAGE_PROJECT_E2E_SECRET_KEY";

/// A loopback server answering chat completions under two roots: `/ok/v1` answers 200 with a
/// one-line scene that quotes the key; `/denied/v1` answers 401 with an error that quotes it.
/// It records the `Authorization` header of each request.
struct EchoStub {
    addr: String,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl EchoStub {
    fn start() -> EchoStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("an address").to_string();
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&authorizations);
        // Detached: it ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || answer(stream, &seen));
            }
        });
        EchoStub {
            addr,
            authorizations,
        }
    }

    /// The root answering 200s.
    fn ok(&self) -> String {
        format!("http://{}/ok/v1", self.addr)
    }

    /// The root answering 401s.
    fn denied(&self) -> String {
        format!("http://{}/denied/v1", self.addr)
    }
}

fn answer(stream: TcpStream, seen: &Mutex<Vec<String>>) {
    // A bound on a misbehaving client, not a timing assertion.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("authorization") {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(value.trim().to_owned());
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body);
    let token = body
        .find("RV-")
        .map(|start| {
            body[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .unwrap_or_else(|| "RV-0-000000".to_owned());
    let (status, reply) = if request_line.contains(" /denied/") {
        (
            "401 Unauthorized",
            serde_json::json!({ "error": {
                "message": format!("Incorrect API key provided: {KEY}."),
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }}),
        )
    } else {
        let content = format!(
            "SUBJECT=a clerk reading the key {KEY} aloud | SETTING=a records office | \
             ACTION=reading | COMPOSITION=centred | CAMERA=50mm at eye level | \
             LIGHTING=window light | COLOR=ochre and grey | STYLE=documentary photograph {KEY} | \
             TEXT_IN_SCENE=\"{token}\" | AR=16:9"
        );
        (
            "200 OK",
            serde_json::json!({
                "id": format!("chatcmpl-{KEY}"),
                "model": "stub",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": content },
                              "finish_reason": "stop" }],
            }),
        )
    };
    let reply = reply.to_string();
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.flush();
}

/// Every file under `dir` that holds `needle`, with what it is.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    fn walk(dir: &Path, needle: &[u8], found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir)
            .expect("readable directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, needle, found);
            } else if std::fs::read(&path)
                .expect("readable file")
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, needle, &mut found);
    found
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &str) -> bool {
    !files_holding(dir, needle.as_bytes()).is_empty()
}

#[test]
fn no_artifact_ever_holds_a_key() {
    let stub = EchoStub::start();
    let (sandbox, plugins) = with_plugins();
    // Config files holding the key in the wrong place are inputs, not artifacts: they live
    // outside the sandbox that is searched.
    let inputs = tempfile::tempdir().expect("a temporary directory");
    let input = |name: &str, contents: &str| {
        let path = inputs.path().join(name);
        std::fs::write(&path, contents).expect("write an input config");
        path.display().to_string()
    };
    let openai = |url: &str| {
        format!("[backend.text]\nprovider = \"openai\"\nbase_url = \"{url}\"\napi_key_env = \"{KEY_VAR}\"\nmax_retries = 0\n")
    };
    let echo_ok = input("ok.toml", &openai(&stub.ok()));
    // The denied run must reach the server: the ok run's answers are in the response cache.
    let echo_denied = input(
        "denied.toml",
        &format!("{}[cache]\nmode = \"off\"\n", openai(&stub.denied())),
    );
    let pasted_key = input(
        "pasted.toml",
        &format!("[backend.text]\nprovider = \"openai\"\napi_key_env = \"{KEY}\"\n"),
    );
    let pasted_unquoted = input(
        "pasted_unquoted.toml",
        &format!("[backend.text]\nprovider = \"openai\"\napi_key_env = {KEY}\n"),
    );
    let user_info = input(
        "userinfo.toml",
        &openai(&stub.ok().replace("http://", &format!("http://user:{KEY}@"))),
    );
    let query_key = input(
        "query.toml",
        &openai(&format!("{}?api-key={KEY}", stub.ok())),
    );

    let experiment = |config: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "ab_scenespec_json_intermediary",
            "--runs",
            "1",
            "--seed",
            "11",
            "--mode",
            "prompt_only",
            "--config",
            config,
        ];
        args.extend_from_slice(extra);
        let mut cmd = sandbox.experiments(&plugins, &args);
        cmd.env(KEY_VAR, KEY);
        run(&mut cmd)
    };
    let generate = |config: &str, extra: &[&str]| {
        let mut cmd = sandbox.cmd();
        cmd.args([
            "generate",
            "--mode",
            "prompt_only",
            "--seed",
            "5",
            "--config",
            config,
        ])
        .args(extra)
        .env(KEY_VAR, KEY);
        run(&mut cmd)
    };

    let mut outputs: Vec<(&str, i32, Run)> = vec![
        // The stub echoes the key in 200 answers: the runs succeed, the echo is redacted.
        (
            "experiment, key echoed in answers",
            0,
            experiment(&echo_ok, &[]),
        ),
        (
            "generate, key echoed in answers",
            0,
            generate(&echo_ok, &[]),
        ),
        // The stub echoes the key in a 401: the runs fail, the error is redacted.
        (
            "experiment, key echoed in a 401",
            1,
            experiment(&echo_denied, &["--output-root", "denied"]),
        ),
        (
            "generate, key echoed in a 401",
            1,
            generate(&echo_denied, &[]),
        ),
    ];
    // The key pasted where a variable name goes, or inside a URL: config errors, nothing run.
    for (what, config) in [
        ("pasted into api_key_env", &pasted_key),
        ("pasted unquoted into api_key_env", &pasted_unquoted),
        ("user info in base_url", &user_info),
        ("query parameter in base_url", &query_key),
    ] {
        outputs.push((what, 2, experiment(config, &[])));
        outputs.push((what, 2, generate(config, &[])));
    }
    let set_quoted = format!("backend.text.api_key_env=\"{KEY}\"");
    let set_bare = format!("backend.text.api_key_env={KEY}");
    let set_url = format!(
        "backend.text.base_urls=[\"{}\"]",
        stub.ok().replace("http://", &format!("http://u:{KEY}@"))
    );
    for set in [&set_quoted, &set_bare, &set_url] {
        outputs.push(("--set", 2, experiment(&echo_ok, &["--set", set])));
        outputs.push(("--set", 2, generate(&echo_ok, &["--set", set])));
    }

    for (what, code, output) in &outputs {
        assert_eq!(
            output.code,
            Some(*code),
            "{what}: unexpected exit code{output}"
        );
        for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            assert!(
                !text.contains(KEY),
                "{what}: the key is in {stream}{output}"
            );
        }
    }
    let leaks = files_holding(&sandbox.path(), KEY.as_bytes());
    assert!(leaks.is_empty(), "files holding the key: {leaks:#?}");

    // Not vacuous: the key reached the stub as a bearer token, and its echo reached the records,
    // redacted.
    let authorizations = stub
        .authorizations
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        !authorizations.is_empty() && authorizations.iter().all(|a| *a == format!("Bearer {KEY}")),
        "{authorizations:?}"
    );
    assert!(
        any_file_holds(&sandbox.path(), "[redacted]"),
        "no record shows the redacted echo"
    );
    let denied = &outputs[3].2;
    assert!(denied.stderr.contains("[redacted]"), "{denied}");
    // Each config error says which key is wrong.
    for (index, needle) in [
        (4, "backend.text.api_key_env"),
        (8, "backend.text.base_url"),
        (10, "backend.text.base_url"),
        (12, "backend.text.api_key_env"),
        (14, "backend.text.api_key_env"),
        (16, "backend.text.base_urls[0]"),
    ] {
        outputs[index].2.assert_stderr_has(&[needle]);
    }
}

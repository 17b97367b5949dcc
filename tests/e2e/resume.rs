//! `experiments run --resume --output-root DIR` (DESIGN §4 step 10): an experiment killed with
//! SIGKILL mid-run (every JSON file parsing at every moment while it ran) resumes to completion
//! without re-running what was done; what resume refuses (another experiment's directory, no
//! `--output-root`, plugin flags); a torn last line of `results.jsonl`; `--set` merged onto the
//! stored run configs and logged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::execute::{experiment_id_of, planned_ids, read_jsonl, results_of, text, with_plugins};
use crate::util::{pretty, read_json, run, Sandbox};

const SCENESPEC: &str = "ab_scenespec_json_intermediary";
const REFINEMENT: &str = "ab_refinement_block";

/// The files the runner rewrites atomically while it runs.
const JSON_FILES: [&str; 4] = [
    "experiment_results.json",
    "pairs.json",
    "experiment_plan.json",
    "experiment_plan_full.json",
];

/// Reads `path` if it exists and asserts it parses (a moment of the "every file parses" check).
fn parses_if_present(path: &Path) {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            if let Err(error) = serde_json::from_str::<Value>(&text) {
                panic!(
                    "`{}` does not parse ({error}) while the run is live:\n{text}",
                    path.display()
                );
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("read `{}`: {error}", path.display()),
    }
}

/// The complete lines of `results.jsonl` (each must parse); a line still being written is ignored.
fn complete_result_lines(path: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&bytes[..complete]);
    for line in text.lines() {
        if let Err(error) = serde_json::from_str::<Value>(line) {
            panic!(
                "a complete line of `{}` does not parse ({error}): {line}",
                path.display()
            );
        }
    }
    text.lines().count()
}

/// Per generation id: (lines in `results.jsonl`, of which `success`).
fn line_counts(
    lines: &[Value],
    output: &dyn std::fmt::Display,
) -> BTreeMap<String, (usize, usize)> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let id = text(line, "generation_id", output).to_owned();
        let count = counts.entry(id).or_insert((0, 0));
        count.0 += 1;
        if line["status"] == "success" {
            count.1 += 1;
        }
    }
    counts
}

#[test]
fn an_experiment_killed_mid_run_resumes_without_rerunning_what_was_done() {
    let (sandbox, plugins) = with_plugins();
    let out = sandbox.path().join("out");
    let results_log = out.join("results.jsonl");

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_image-project"));
    command
        .current_dir(sandbox.path())
        .args([
            "experiments",
            "run",
            SCENESPEC,
            "--no-default-plugin-dirs",
            "--plugin-dir",
        ])
        .arg(&plugins)
        .args([
            "--runs",
            "8",
            "--seed",
            "3",
            "--jobs",
            "2",
            "--output-root",
            "out",
            "--set",
            "backend.text.offline_latency_ms=150",
        ])
        .env_remove("IMAGE_PROJECT_PLUGIN_PATH")
        .env_remove("IMAGE_PROJECT_CONFIG")
        .env_remove("FAULT_PANIC_HOOK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("the binary starts");

    // Poll until three runs are recorded; every JSON file parses at every moment.
    let started = Instant::now();
    let mut polls = 0_usize;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
        polls += 1;
        for name in JSON_FILES {
            parses_if_present(&out.join(name));
        }
        if complete_result_lines(&results_log) >= 3 {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the experiment ended ({status}) before three runs were recorded"
            ));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("no three recorded runs within 60 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }));
    // SIGKILL on unix: no chance to clean up, like a crash or a power cut.
    let _ = child.kill();
    let status = child.wait().expect("the child is reaped");
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(message)) => panic!("{message}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    assert!(polls > 1, "the files were checked while the run was live");
    assert_eq!(
        status.code(),
        None,
        "the child was killed, not finished ({status})"
    );

    // What was done at the moment of the kill. A line torn by the kill is not a finished run.
    let complete = complete_result_lines(&results_log);
    let text_before = std::fs::read_to_string(&results_log).expect("results.jsonl exists");
    let before: Vec<Value> = text_before
        .lines()
        .take(complete)
        .map(|line| serde_json::from_str(line).expect("checked above"))
        .collect();
    let done_before: BTreeSet<String> = before
        .iter()
        .filter(|line| line["status"] == "success")
        .map(|line| text(line, "generation_id", &"").to_owned())
        .collect();
    assert!(
        done_before.len() >= 3,
        "three runs were done:\n{text_before}"
    );
    for name in JSON_FILES {
        parses_if_present(&out.join(name));
    }
    let ids = planned_ids(&out, &"");
    assert_eq!(ids.len(), 16, "the plan has 16 runs");
    assert!(
        done_before.len() < 16,
        "the kill came before the end:\n{text_before}"
    );
    let experiment_id = experiment_id_of(&out);

    // Resume.
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            SCENESPEC,
            "--resume",
            "--output-root",
            "out",
            "--json",
        ],
    ));
    output.assert_code(0);
    let report = output.json();
    let context = format!("\n--- report\n{}{output}", pretty(&report));
    assert_eq!(report["experiment_id"], experiment_id.as_str(), "{context}");
    assert_eq!(report["ok"], true, "{context}");
    assert_eq!(report["already_done"], done_before.len(), "{context}");
    assert_eq!(
        report["execution"]["attempted"],
        16 - done_before.len(),
        "{context}"
    );
    assert_eq!(report["execution"]["failed"], 0, "{context}");

    // experiment_results.json: one success per planned id, in plan order.
    let results = results_of(&out, &output);
    let result_ids: Vec<&str> = results
        .iter()
        .map(|entry| text(entry, "generation_id", &output))
        .collect();
    assert_eq!(
        result_ids, ids,
        "one result per planned run, in plan order{output}"
    );
    for entry in &results {
        assert_eq!(entry["status"], "success", "{}{output}", pretty(entry));
    }
    let document = read_json(&out.join("experiment_results.json"));
    for variant in ["A", "B"] {
        assert_eq!(
            document["summary"]["variants"][variant]["runs"],
            8,
            "{}{output}",
            pretty(&document["summary"])
        );
        assert_eq!(
            document["summary"]["variants"][variant]["ok"],
            8,
            "{}{output}",
            pretty(&document["summary"])
        );
    }

    // results.jsonl: runs done before the kill were not run again; no run succeeded twice.
    let lines = read_jsonl(&results_log, &output);
    let counts = line_counts(&lines, &output);
    let lines_context = format!(
        "\n--- results.jsonl\n{}{output}",
        std::fs::read_to_string(&results_log).unwrap_or_default()
    );
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        "every planned run has a line{lines_context}"
    );
    for (id, (all, successes)) in &counts {
        assert_eq!(
            *successes, 1,
            "`{id}` succeeded {successes} times{lines_context}"
        );
        if done_before.contains(id) {
            assert_eq!(
                *all, 1,
                "`{id}` was done before the kill and ran again{lines_context}"
            );
        }
    }
    let latest: BTreeMap<&str, &Value> = lines
        .iter()
        .map(|line| (text(line, "generation_id", &output), line))
        .collect();
    for (id, line) in latest {
        assert_eq!(
            line["status"], "success",
            "latest line of `{id}`{lines_context}"
        );
    }

    // pairs.json: eight pairs, no errors left.
    let pairs = read_json(&out.join("pairs.json"));
    let entries = pairs["pairs"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 8, "{}{output}", pretty(&pairs));
    for pair in &entries {
        for key in ["a_error", "b_error"] {
            assert!(
                pair.get(key).is_none_or(Value::is_null),
                "{key}\n{}{output}",
                pretty(&pairs)
            );
        }
    }
}

/// Plans `experiment` with `--dry-run` into `<sandbox>/<out>` (a directory to resume from).
fn dry_run(sandbox: &Sandbox, plugins: &Path, experiment: &str, out: &str) {
    run(&mut sandbox.experiments(
        plugins,
        &[
            "run",
            experiment,
            "--runs",
            "1",
            "--seed",
            "1",
            "--dry-run",
            "--output-root",
            out,
        ],
    ))
    .assert_code(0);
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)
        .expect("a readable directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(
                path.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            );
        }
    }
    files
}

#[test]
fn resume_refuses_the_directory_of_another_experiment() {
    let (sandbox, plugins) = with_plugins();
    dry_run(&sandbox, &plugins, REFINEMENT, "refinement");
    let dir = sandbox.path().join("refinement");
    let before = snapshot(&dir);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--resume", "--output-root", "refinement"],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&[&format!("`{REFINEMENT}`"), &format!("`{SCENESPEC}`")]);
    let after = snapshot(&dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "nothing is written into the other experiment's directory{output}"
    );
    assert!(
        before == after,
        "a file of the other experiment changed{output}"
    );
}

#[test]
fn resume_needs_an_output_root() {
    let (sandbox, plugins) = with_plugins();
    let output = run(&mut sandbox.experiments(&plugins, &["run", SCENESPEC, "--resume"]));
    output.assert_code(2).assert_stderr_has(&["--output-root"]);
    assert!(
        sandbox.path().join("_artifacts").metadata().is_err(),
        "nothing written{output}"
    );
}

#[test]
fn resume_refuses_plugin_flags() {
    let (sandbox, plugins) = with_plugins();
    dry_run(&sandbox, &plugins, SCENESPEC, "out");
    let dir = sandbox.path().join("out");
    let before = snapshot(&dir);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            SCENESPEC,
            "--resume",
            "--output-root",
            "out",
            "--runs",
            "2",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["`--runs`", "--resume"]);
    assert!(
        before == snapshot(&dir),
        "nothing changed in the experiment directory{output}"
    );
}

/// Runs `--runs 2 --seed 1` of the scenespec experiment to completion into `<sandbox>/out`, then
/// keeps only the first two lines of `results.jsonl`: two runs left to resume.
fn half_done(sandbox: &Sandbox, plugins: &Path) -> (Vec<String>, Vec<String>) {
    let output = run(&mut sandbox.experiments(
        plugins,
        &[
            "run",
            SCENESPEC,
            "--runs",
            "2",
            "--seed",
            "1",
            "--jobs",
            "1",
            "--output-root",
            "out",
        ],
    ));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    let path = out.join("results.jsonl");
    let lines = read_jsonl(&path, &output);
    assert_eq!(lines.len(), 4, "{output}");
    let kept: Vec<String> = lines[..2]
        .iter()
        .map(|line| text(line, "generation_id", &output).to_owned())
        .collect();
    let dropped: Vec<String> = lines[2..]
        .iter()
        .map(|line| text(line, "generation_id", &output).to_owned())
        .collect();
    let text_kept: String = lines[..2].iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&path, text_kept).expect("rewrite results.jsonl");
    (kept, dropped)
}

#[test]
fn a_torn_last_line_of_results_is_cut_off_on_resume() {
    let (sandbox, plugins) = with_plugins();
    let (kept, dropped) = half_done(&sandbox, &plugins);
    let out = sandbox.path().join("out");
    let path = out.join("results.jsonl");
    let mut torn = std::fs::read_to_string(&path).expect("results.jsonl");
    torn.push_str("{\"generation_id\": \"A1");
    std::fs::write(&path, &torn).expect("append a torn line");

    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            SCENESPEC,
            "--resume",
            "--output-root",
            "out",
            "--json",
        ],
    ));
    output.assert_code(0);
    let report = output.json();
    assert_eq!(report["already_done"], 2, "{}{output}", pretty(&report));
    assert_eq!(
        report["execution"]["attempted"],
        2,
        "{}{output}",
        pretty(&report)
    );

    // Every line parses (the torn one is gone, the next append did not glue onto it).
    let lines = read_jsonl(&path, &output);
    let line_ids: Vec<&str> = lines
        .iter()
        .map(|line| text(line, "generation_id", &output))
        .collect();
    assert_eq!(lines.len(), 4, "{output}");
    assert_eq!(
        line_ids[..2],
        kept[..],
        "the complete lines are kept{output}"
    );
    let appended: BTreeSet<&str> = line_ids[2..].iter().copied().collect();
    let missing: BTreeSet<&str> = dropped.iter().map(String::as_str).collect();
    assert_eq!(appended, missing, "only the missing runs ran{output}");
    for line in &lines {
        assert_eq!(line["status"], "success", "{}{output}", pretty(line));
    }

    let results = results_of(&out, &output);
    let ids = planned_ids(&out, &output);
    let result_ids: Vec<&str> = results
        .iter()
        .map(|entry| text(entry, "generation_id", &output))
        .collect();
    assert_eq!(result_ids, ids, "{output}");
    assert!(
        results.iter().all(|entry| entry["status"] == "success"),
        "{output}"
    );
}

#[test]
fn resume_accepts_set_and_logs_what_it_merged() {
    let (sandbox, plugins) = with_plugins();
    half_done(&sandbox, &plugins);
    let log_path = sandbox.path().join("out/experiment.log");
    let log_before = std::fs::read_to_string(&log_path).expect("experiment.log");

    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            SCENESPEC,
            "--resume",
            "--output-root",
            "out",
            "--set",
            "backend.text.offline_latency_ms=0",
        ],
    ));
    output.assert_code(0);
    let log = std::fs::read_to_string(&log_path).expect("experiment.log");
    assert!(
        log.starts_with(&log_before),
        "the log is appended to\n--- log\n{log}{output}"
    );
    let added = &log[log_before.len()..];
    // The resumed session logs what it changed, `key: old -> new`, and prints it as a diff.
    let change = "backend.text.offline_latency_ms: ";
    let logged: Vec<&str> = added.lines().filter(|line| line.contains(change)).collect();
    assert_eq!(
        logged.len(),
        1,
        "one logged change\n--- added to the log\n{added}{output}"
    );
    assert!(
        logged[0].trim_end().ends_with("-> 0"),
        "{}{output}",
        logged[0]
    );
    output.assert_stderr_has(&["`--config`/`--set` change the stored run configs", change]);
    let results = results_of(&sandbox.path().join("out"), &output);
    assert_eq!(results.len(), 4, "{output}");
    assert!(
        results.iter().all(|entry| entry["status"] == "success"),
        "{output}"
    );
}

/// Ctrl-C (SIGINT): dispatch stops, runs in flight finish and are recorded, the rest are skipped,
/// exit 1; a resume finishes the experiment.
#[cfg(unix)]
#[test]
fn a_first_ctrl_c_stops_dispatching_and_records_what_finished() {
    let (sandbox, plugins) = with_plugins();
    let out = sandbox.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_image-project"))
        .current_dir(sandbox.path())
        .args([
            "experiments",
            "run",
            SCENESPEC,
            "--no-default-plugin-dirs",
            "--plugin-dir",
        ])
        .arg(&plugins)
        .args([
            "--runs",
            "6",
            "--seed",
            "5",
            "--jobs",
            "2",
            "--output-root",
            "out",
            "--json",
        ])
        .args(["--set", "backend.text.offline_latency_ms=150"])
        .env_remove("IMAGE_PROJECT_PLUGIN_PATH")
        .env_remove("IMAGE_PROJECT_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    while complete_result_lines(&out.join("results.jsonl")) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no two recorded runs within 60 s"
        );
        assert!(
            child.try_wait().expect("the child can be polled").is_none(),
            "the experiment ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = child.wait_with_output().expect("the child is reaped");
    assert_eq!(
        output.status.code(),
        Some(1),
        "an interrupted experiment exits 1"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("the --json summary parses");
    assert_eq!(
        summary["execution"]["interrupted"],
        true,
        "{}",
        pretty(&summary)
    );
    let skipped = summary["execution"]["skipped"]
        .as_array()
        .expect("skipped")
        .len();
    let recorded = complete_result_lines(&out.join("results.jsonl"));
    assert!(
        skipped > 0 && recorded + skipped == 12,
        "recorded {recorded} + skipped {skipped} of 12"
    );
    let pairs = read_json(&out.join("pairs.json"));
    let skipped_sides = pairs["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .flat_map(|pair| [&pair["a_error"], &pair["b_error"]])
        .filter(|error| error["type"] == "Skipped")
        .count();
    assert_eq!(skipped_sides, skipped);

    let resumed = run(sandbox
        .experiments(
            &plugins,
            &["run", SCENESPEC, "--resume", "--output-root", "out"],
        )
        .args(["--set", "backend.text.offline_latency_ms=0"]));
    resumed.assert_code(0);
    assert_eq!(
        read_json(&out.join("experiment_results.json"))["results"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );
}

/// Plans written before runs were stored by reference (schema 1: labels and a merged `config`
/// in each `planned_runs_full` entry) still resume.
#[test]
fn a_plan_of_schema_1_still_resumes() {
    let (sandbox, plugins) = with_plugins();
    run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            SCENESPEC,
            "--runs",
            "2",
            "--dry-run",
            "--output-root",
            "out",
        ],
    ))
    .assert_code(0);
    let out = sandbox.path().join("out");
    // Rewrite the full plan as the previous format spelled it.
    let runs = crate::util::full_plan_runs(&out);
    let mut full = read_json(&out.join("experiment_plan_full.json"));
    let table = full.as_object_mut().expect("an object");
    for key in ["base_config", "overlays", "prompt_pipelines"] {
        table.remove(key);
    }
    table.insert("schema_version".into(), Value::from(1));
    table.insert("planned_runs_full".into(), Value::Array(runs));
    std::fs::write(
        out.join("experiment_plan_full.json"),
        serde_json::to_string_pretty(&full).expect("JSON"),
    )
    .expect("write the old plan");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--resume", "--output-root", "out"],
    ));
    output.assert_code(0);
    let results = results_of(&out, &output);
    assert_eq!(results.len(), 4, "{output}");
    assert!(
        results.iter().all(|entry| entry["status"] == "success"),
        "{output}"
    );
}

//! The runner's guarantees under races, crashes, full disks and hostile plugins (issue 10): one
//! owner per experiment directory before any write, crash-consistent plans and records,
//! containment of a run's files, what `--resume` accepts, and the exit codes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::execute::{planned_ids, read_jsonl, with_plugins};
use crate::util::{copy_into, fixture, library_file_name, read_json, run, Sandbox};

const SCENESPEC: &str = "ab_scenespec_json_intermediary";

/// Every `*.json` under `dir` parses; every `*.jsonl` parses line by line.
fn assert_all_json_parses(dir: &Path, context: &dyn std::fmt::Display) {
    for path in files_under(dir) {
        let name = path.to_string_lossy();
        if name.ends_with(".json") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|error| panic!("`{name}` does not parse: {error}{context}"));
        } else if name.ends_with(".jsonl") {
            read_jsonl(&path, context);
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// The generation ids of a CSV's `generation_id` column, with how often each appears.
fn csv_ids(path: &Path) -> BTreeMap<String, usize> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|error| panic!("`{}`: {error}", path.display()));
    let column = reader
        .headers()
        .expect("a header")
        .iter()
        .position(|name| name == "generation_id")
        .expect("a generation_id column");
    let mut ids = BTreeMap::new();
    for row in reader.records() {
        let row = row.expect("a CSV row");
        *ids.entry(row[column].to_owned()).or_insert(0) += 1;
    }
    ids
}

#[test]
fn two_runners_racing_on_one_id_leave_one_plan_that_matches_its_results() {
    let (sandbox, plugins) = with_plugins();
    for trial in 0..20 {
        let id = format!("race{trial}");
        let spawn = |seed: &str| {
            std::process::Command::new(env!("CARGO_BIN_EXE_image-project"))
                .current_dir(sandbox.path())
                .args(["experiments", "run", SCENESPEC, "--no-default-plugin-dirs"])
                .arg("--plugin-dir")
                .arg(&plugins)
                .args(["--runs", "2", "--experiment-id", &id, "--seed", seed])
                .args(["--set", "backend.text.offline_latency_ms=5"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts")
        };
        let first = spawn("101");
        let second = spawn("202");
        let outcomes: Vec<(i32, String)> = [("101", first), ("202", second)]
            .into_iter()
            .map(|(seed, child)| {
                let output = child.wait_with_output().expect("the runner ends");
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                (
                    output.status.code().unwrap_or(-1),
                    format!("seed {seed}: {stderr}"),
                )
            })
            .collect();
        let context = format!("\ntrial {trial}: {outcomes:#?}");
        let codes: Vec<i32> = outcomes.iter().map(|(code, _)| *code).collect();
        let winner = match codes.as_slice() {
            [0, 2] => 101,
            [2, 0] => 202,
            _ => panic!("exactly one runner runs, the other exits 2{context}"),
        };
        let loser = outcomes
            .iter()
            .find(|(code, _)| *code == 2)
            .map(|(_, err)| err);
        assert!(
            loser.is_some_and(|err| err.contains("locked") || err.contains("already holds")),
            "the refused runner says why{context}"
        );
        let out = sandbox.path().join("_artifacts/experiments").join(&id);
        let plan = read_json(&out.join("experiment_plan.json"));
        assert_eq!(
            plan["base_seed"], winner,
            "the plan is the winner's{context}"
        );
        let planned = planned_ids(&out, &context);
        let recorded: Vec<String> = read_jsonl(&out.join("results.jsonl"), &context)
            .iter()
            .map(|entry| {
                entry["generation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(recorded.len(), planned.len(), "{context}");
        for id in &recorded {
            assert!(planned.contains(id), "`{id}` is a planned run{context}");
        }
    }
}

/// A sandbox whose plugin dir holds the `fault_panic` fixture.
fn with_fault_panic() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let plugins = sandbox.mkdir("plugin-dir");
    copy_into(
        &fixture("fault_panic"),
        &plugins,
        &library_file_name("fault_panic"),
    );
    (sandbox, plugins)
}

#[test]
fn a_plan_overlay_cannot_move_a_runs_files_out_of_the_experiment() {
    let (sandbox, plugins) = with_fault_panic();
    let elsewhere = sandbox.mkdir("elsewhere");
    let output = run(sandbox
        .experiments(&plugins, &["run", "fault_panic", "--experiment-id", "x"])
        .env("FAULT_PANIC_ESCAPE", "overlay")
        .env("FAULT_PANIC_ESCAPE_TO", &elsewhere));
    output
        .assert_code(2)
        .assert_stderr_has(&["`image.log_path`", "runner owns"]);
    assert!(
        !sandbox.path().join("_artifacts").exists(),
        "a plan error creates nothing{output}"
    );
    assert!(files_under(&elsewhere).is_empty(), "{output}");
}

#[test]
fn run_pipeline_refuses_a_config_that_moves_the_runs_files() {
    let (sandbox, plugins) = with_fault_panic();
    let elsewhere = sandbox.mkdir("elsewhere");
    let output = run(sandbox
        .experiments(
            &plugins,
            &[
                "run",
                "fault_panic",
                "--experiment-id",
                "x",
                "--continue-on-error",
            ],
        )
        .env("FAULT_PANIC_ESCAPE", "run_pipeline")
        .env("FAULT_PANIC_ESCAPE_TO", &elsewhere));
    output.assert_code(1);
    let out = sandbox.path().join("_artifacts/experiments/x");
    let results = read_jsonl(&out.join("results.jsonl"), &output);
    assert_eq!(results.len(), 2, "{output}");
    for entry in &results {
        assert_eq!(entry["status"], "error", "{output}");
        let message = entry["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("`image.log_path`") && message.contains("runner owns"),
            "{message}{output}"
        );
    }
    assert!(files_under(&elsewhere).is_empty(), "{output}");
}

#[test]
fn rejected_invocations_leave_no_directory_behind() {
    let (sandbox, plugins) = with_plugins();
    for (args, needle) in [
        (&["--experiment-id", "."][..], "invalid experiment id"),
        (&["--experiment-id", ".."][..], "invalid experiment id"),
        (&["--runs", "0"][..], "--runs"),
        (&["--no-such-flag"][..], "--no-such-flag"),
    ] {
        let mut full = vec!["run", SCENESPEC];
        full.extend_from_slice(args);
        let output = run(&mut sandbox.experiments(&plugins, &full));
        output.assert_code(2).assert_stderr_has(&[needle]);
        assert!(
            !sandbox.path().join("_artifacts").exists(),
            "`{}` left a directory{output}",
            args.join(" ")
        );
    }
}

#[test]
fn resume_refuses_flags_and_keys_that_would_change_the_stored_plan() {
    let (sandbox, plugins) = with_plugins();
    run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--runs", "1", "--output-root", "out"],
    ))
    .assert_code(0);
    for (args, needle) in [
        (&["--mode", "full"][..], "`--mode`"),
        (&["--seed", "3"][..], "`--seed`"),
        (&["--experiment-id", "y"][..], "`--experiment-id`"),
        (&["--set", "run.mode=\"full\""][..], "`run.mode`"),
        (
            &["--set", "prompt.random_seed=5"][..],
            "`prompt.random_seed`",
        ),
        (
            &["--set", "image.log_path=\"elsewhere\""][..],
            "`image.log_path`",
        ),
    ] {
        let mut full = vec!["run", SCENESPEC, "--resume", "--output-root", "out"];
        full.extend_from_slice(args);
        let output = run(&mut sandbox.experiments(&plugins, &full));
        output.assert_code(2).assert_stderr_has(&[needle]);
    }
}

#[test]
fn a_symbolic_link_inside_the_experiment_directory_is_refused() {
    let (sandbox, plugins) = with_plugins();
    let elsewhere = sandbox.mkdir("elsewhere");
    let out = sandbox.mkdir("out");
    std::os::unix::fs::symlink(&elsewhere, out.join("logs")).expect("a symlink");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--runs", "1", "--output-root", "out"],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["symbolic link", "logs"]);
    assert!(files_under(&elsewhere).is_empty(), "{output}");
}

#[test]
fn an_interrupted_plan_commit_is_cleared_and_stale_temp_files_removed() {
    let (sandbox, plugins) = with_plugins();
    // What a crash between the two plan files leaves: a full plan without the summary plan.
    sandbox.write("out/experiment_plan_full.json", "{\"schema_version\": 2");
    sandbox.write("out/.image-project-tmp-abc123", "half a document");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--resume", "--output-root", "out"],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["never committed", "afresh"]);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--runs", "1", "--output-root", "out"],
    ));
    output.assert_code(0);
    let out = sandbox.path().join("out");
    assert!(!out.join(".image-project-tmp-abc123").exists(), "{output}");
    assert_all_json_parses(&out, &output);
    // A temp file left by a killed write is removed by the next resume.
    sandbox.write("out/logs/.image-project-tmp-def456", "half a transcript");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--resume", "--output-root", "out"],
    ));
    output.assert_code(0);
    assert!(
        !out.join("logs/.image-project-tmp-def456").exists(),
        "{output}"
    );
}

#[test]
fn a_resumed_full_mode_run_leaves_one_row_per_run_in_the_csvs() {
    let (sandbox, plugins) = with_plugins();
    let args = [
        "run",
        SCENESPEC,
        "--runs",
        "2",
        "--mode",
        "full",
        "--output-root",
        "out",
    ];
    run(&mut sandbox.experiments(&plugins, &args)).assert_code(0);
    let out = sandbox.path().join("out");
    // A crash after a run wrote its rows but before its record: drop its results line.
    let results = out.join("results.jsonl");
    let text = std::fs::read_to_string(&results).expect("results.jsonl");
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&results, format!("{}\n", kept.join("\n"))).expect("rewrite");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--resume", "--output-root", "out"],
    ));
    output.assert_code(0);
    let planned = planned_ids(&out, &output);
    for csv in ["generated/titles_manifest.csv", "logs/generations.csv"] {
        let ids = csv_ids(&out.join(csv));
        assert_eq!(ids.len(), planned.len(), "{csv}: {ids:?}{output}");
        assert!(
            ids.values().all(|count| *count == 1),
            "{csv}: {ids:?}{output}"
        );
    }
}

#[test]
fn a_full_disk_stops_the_runner_with_exit_1_and_resume_completes() {
    // The test mounts a tmpfs of its own and unmounts it, whatever happens.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let (sandbox, plugins) = with_plugins();
    let disk = sandbox.mkdir("disk");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&disk)
        .status();
    if !mounted.is_ok_and(|status| status.success()) {
        println!("skipped: `mount -t tmpfs` failed here (no privilege to mount)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    // Full-mode images are a few hundred KiB each: 1 MiB runs out after a few runs.
    let args = [
        "run",
        SCENESPEC,
        "--runs",
        "4",
        "--mode",
        "full",
        "--continue-on-error",
        "--output-root",
        "disk/out",
    ];
    let output = run(&mut sandbox.experiments(&plugins, &args));
    let out = disk.join("out");
    assert_eq!(
        output.code,
        Some(1),
        "runs executed, then the disk filled{output}"
    );
    assert_all_json_parses(&out, &output);
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&disk)
        .status()
        .is_ok_and(|status| status.success());
    assert!(grown, "the tmpfs could be grown");
    let output = run(&mut sandbox.experiments(
        &plugins,
        &["run", SCENESPEC, "--resume", "--output-root", "disk/out"],
    ));
    output.assert_code(0);
    let planned = planned_ids(&out, &output);
    let document = read_json(&out.join("experiment_results.json"));
    let results = document["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), planned.len(), "{output}");
    assert!(
        results.iter().all(|entry| entry["status"] == "success"),
        "{output}"
    );
    assert_all_json_parses(&out, &output);
}

#[test]
fn every_json_file_parses_throughout_a_2000_run_experiment_and_a_kill_then_resume_runs_each_once() {
    let (sandbox, plugins) = with_plugins();
    let out = sandbox.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_image-project"))
        .current_dir(sandbox.path())
        .args([
            "experiments",
            "run",
            "ab_refinement_block",
            "--no-default-plugin-dirs",
        ])
        .arg("--plugin-dir")
        .arg(&plugins)
        .args([
            "--runs",
            "1000",
            "--jobs",
            "8",
            "--seed",
            "5",
            "--output-root",
            "out",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let results_log = out.join("results.jsonl");
    let mut polls = 0;
    let started = std::time::Instant::now();
    let recorded_at_kill = loop {
        // Every document the runner rewrites parses whenever it exists.
        for name in [
            "experiment_results.json",
            "pairs.json",
            "experiment_plan.json",
            "experiment_plan_full.json",
        ] {
            if let Ok(text) = std::fs::read_to_string(out.join(name)) {
                serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|error| panic!("`{name}` does not parse mid-run: {error}"));
            }
        }
        // Every complete line of the record parses; only the last may be partial.
        let text = std::fs::read_to_string(&results_log).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|error| {
                panic!("a results line does not parse mid-run ({error}): {line}")
            });
        }
        polls += 1;
        let recorded = complete.lines().count();
        if recorded >= 800 || started.elapsed() > std::time::Duration::from_secs(300) {
            break recorded;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        recorded_at_kill > 0 && recorded_at_kill < 2000,
        "killed mid-run ({recorded_at_kill} recorded)"
    );
    assert!(
        polls > 10,
        "the files were polled while the experiment ran ({polls} polls)"
    );
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "ab_refinement_block",
            "--resume",
            "--output-root",
            "out",
            "--jobs",
            "8",
        ],
    ));
    output.assert_code(0);
    let planned = planned_ids(&out, &output);
    assert_eq!(planned.len(), 2000, "{output}");
    let mut successes: BTreeMap<String, usize> = BTreeMap::new();
    for entry in read_jsonl(&results_log, &output) {
        if entry["status"] == "success" {
            *successes
                .entry(
                    entry["generation_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
                .or_insert(0) += 1;
        }
    }
    for id in &planned {
        assert_eq!(
            successes.get(id),
            Some(&1),
            "`{id}` succeeded exactly once{output}"
        );
    }
    assert_all_json_parses(&out, &output);
}

#[test]
fn data_files_over_the_configured_cap_fail_preflight_naming_the_key() {
    let (sandbox, plugins) = with_plugins();
    sandbox.write("cats.csv", &"Subject Matter,Mood\nfox,calm\n".repeat(20));
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "3x3",
            "--dry-run",
            "--output-root",
            "out2",
            "--set",
            "data.max_file_bytes=100",
            "--set",
            "prompt.categories_path=\"cats.csv\"",
        ],
    ));
    output.assert_code(2).assert_stderr_has(&[
        "cats.csv",
        "larger than the limit of 100 bytes",
        "data.max_file_bytes",
    ]);
    let output = run(&mut sandbox.experiments(
        &plugins,
        &[
            "run",
            "3x3",
            "--dry-run",
            "--output-root",
            "out3",
            "--set",
            "data.max_file_bytes=0",
        ],
    ));
    output
        .assert_code(2)
        .assert_stderr_has(&["data.max_file_bytes", "at least 1"]);
}

#[test]
fn artifacts_are_created_with_the_umask_like_any_file() {
    use std::os::unix::fs::PermissionsExt;
    let (sandbox, plugins) = with_plugins();
    for (umask, expected) in [("022", 0o644), ("027", 0o640)] {
        let out = format!("out-{umask}");
        let output = run(assert_cmd::Command::new("sh")
            .current_dir(sandbox.path())
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" experiments run {SCENESPEC} --no-default-plugin-dirs --plugin-dir \"$1\" --runs 1 --output-root {out}"
            ))
            .arg(env!("CARGO_BIN_EXE_image-project"))
            .arg(&plugins));
        output.assert_code(0);
        for file in [
            "experiment_plan.json",
            "experiment_plan_full.json",
            "pairs.json",
            "experiment_results.json",
            "experiment.log",
            "results.jsonl",
        ] {
            let mode = std::fs::metadata(sandbox.path().join(&out).join(file))
                .expect("the file exists")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(
                mode, expected,
                "`{file}` under umask {umask}: {mode:o}{output}"
            );
        }
    }
}

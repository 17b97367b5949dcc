//! Figures for the artifacts index refresh, used by `scripts/bench-index.sh`. Not a test: it
//! asserts nothing and prints what it measured.
//!
//! - `bench_index big STORE RUNS [FILES_PER_RUN]`: writes a synthetic executed `prompt_only`
//!   experiment `big` of RUNS runs into STORE (plan, runs index, results lines, and
//!   FILES_PER_RUN empty per-run files in `logs/`, default 3 like transcript, oplog and final
//!   prompt);
//! - `bench_index small STORE NAME`: writes a two-run experiment NAME;
//! - `bench_index refresh STORE`: times `update_store` (the runner's refresh, with the cache);
//! - `bench_index rebuild STORE`: times `update_index` on STORE alone (`index-artifacts`).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use image_project::artifacts::index;
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["big", store, runs] => big(Path::new(store), parse(runs), 3),
        ["big", store, runs, files] => big(Path::new(store), parse(runs), parse(files)),
        ["small", store, name] => experiment(Path::new(store), name, 1, 1, 3),
        ["refresh", store] => refresh(Path::new(store)),
        ["rebuild", store] => rebuild(Path::new(store)),
        _ => {
            eprintln!("usage: bench_index big STORE RUNS [FILES_PER_RUN] | small STORE NAME | refresh STORE | rebuild STORE");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(text: &str) -> usize {
    text.parse().unwrap_or_else(|_| {
        eprintln!("error: `{text}` is not a number");
        std::process::exit(2)
    })
}

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn big(store: &Path, runs: usize, files_per_run: usize) -> Result {
    let start = Instant::now();
    experiment(store, "big", runs / 2, runs - runs / 2, files_per_run)?;
    println!(
        "wrote experiment `big`: {runs} runs, {} files in logs/, in {:.1} s",
        runs * files_per_run + 1,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// An executed A/B experiment: `a_runs` + `b_runs` planned runs, all with a runs-index record.
fn experiment(
    store: &Path,
    name: &str,
    a_runs: usize,
    b_runs: usize,
    files_per_run: usize,
) -> Result {
    let dir = store.join("experiments").join(name);
    let logs = dir.join("logs");
    fs::create_dir_all(&logs)?;
    let runs: Vec<(String, usize, String)> = [("A", a_runs), ("B", b_runs)]
        .into_iter()
        .flat_map(|(variant, count)| {
            (1..=count).map(move |run| {
                let id = format!(
                    "{variant}{run}_{}",
                    plugin_api::hash::short_hex(&[name, variant, &run.to_string()])
                );
                (variant.to_owned(), run, id)
            })
        })
        .collect();

    let mut plan = BufWriter::new(fs::File::create(dir.join("experiment_plan.json"))?);
    let head = json!({
        "schema_version": 1, "kind": "experiment_plan", "generated_at": "2026-12-01T00:00:00Z",
        "base_seed": 7, "experiment_name": "ab_refinement_block", "experiment_id": name,
        "output_root": dir, "run_mode": "prompt_only",
    });
    let head = head.to_string();
    write!(plan, "{},\"planned_runs\":[", &head[..head.len() - 1])?;
    for (position, (variant, run, id)) in runs.iter().enumerate() {
        let entry = json!({
            "variant": variant, "variant_name": if variant == "A" { "prose_refine" } else { "block_refine" },
            "plan": "custom", "run": run, "generation_id": id, "seed": 1000 + run,
            "tags": ["ab", format!("path:{variant}"), "plan:custom", "mode:prompt_only", format!("run:{run}")],
            "notes": "Refines the scene draft as prose with the refinement-block checklist, then formats the one-line prompt.",
            "random_token": format!("RV-{run}-610148"), "data_mode": "config",
        });
        let comma = if position == 0 { "" } else { "," };
        write!(plan, "{comma}{entry}")?;
    }
    writeln!(plan, "]}}")?;
    plan.flush()?;

    let mut runs_index = BufWriter::new(fs::File::create(logs.join("runs_index.jsonl"))?);
    let mut results = BufWriter::new(fs::File::create(dir.join("results.jsonl"))?);
    for (position, (variant, run, id)) in runs.iter().enumerate() {
        let file = |suffix: &str| logs.join(format!("{id}_{suffix}"));
        let record = json!({
            "schema_version": 1, "generation_id": id,
            "created_at": format!("2026-12-01T{:02}:{:02}:{:02}Z", position / 3600 % 24, position / 60 % 60, position % 60),
            "seed": 1000 + run, "status": "success", "phase": "complete", "run_mode": "prompt_only",
            "experiment": {"id": name, "variant": format!("{variant}_prose_refine"),
                           "notes": "Refines the scene draft as prose ...", "tags": ["ab", "plan:custom", format!("run:{run}")]},
            "prompt_pipeline": {"plan": "custom", "stages": ["ab.scene_draft", "ab.scene_refine_with_block", "ab.final_prompt_format"]},
            "artifacts": {"transcript": file("transcript.json"), "oplog": file("oplog.log"),
                          "final_prompt": file("final_prompt.txt"), "image": null},
            "error": null,
        });
        writeln!(runs_index, "{record}")?;
        writeln!(
            results,
            "{}",
            json!({"generation_id": id, "status": "success"})
        )?;
        for suffix in ["transcript.json", "oplog.log", "final_prompt.txt", "extra"]
            .iter()
            .take(files_per_run)
        {
            fs::File::create(file(suffix))?;
        }
    }
    runs_index.flush()?;
    results.flush()?;
    Ok(())
}

fn refresh(store: &Path) -> Result {
    let start = Instant::now();
    let (report, stats) = index::refresh_store(store)?;
    let elapsed = start.elapsed();
    println!(
        "refresh (update_store): {:.1} ms; {} experiments, {} planned runs; {} directories listed, {} cached groups reused, {} source files read",
        elapsed.as_secs_f64() * 1000.0,
        report.counts.experiments,
        report.counts.experiment_runs_planned,
        stats.dirs_read,
        stats.groups_reused,
        stats.files_read
    );
    Ok(())
}

fn rebuild(store: &Path) -> Result {
    let start = Instant::now();
    let output: PathBuf = store.join(index::INDEX_DIR);
    let report = index::update_index(&[store.to_path_buf()], &output)?;
    println!(
        "rebuild (index-artifacts): {:.1} ms; {} experiments, {} planned runs",
        start.elapsed().as_secs_f64() * 1000.0,
        report.counts.experiments,
        report.counts.experiment_runs_planned
    );
    Ok(())
}

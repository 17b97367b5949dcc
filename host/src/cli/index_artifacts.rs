//! `index-artifacts`: rebuild the artifacts index of one store, or a combined index of several.

use std::path::{Path, PathBuf};

use super::{CliError, CliResult, EXIT_OK};
use crate::artifacts::index::{self, IndexError, COMBINED_INDEX_DIR, INDEX_DIR, STORE_DIR_NAME};

/// Rebuild the artifacts index: experiment, image and run registries of one or more stores
#[derive(clap::Args)]
pub struct Args {
    /// Artifacts store to index (repeatable; two or more build a combined index) [default: `_artifacts`]
    #[arg(long = "artifacts-root", value_name = "DIR")]
    roots: Vec<PathBuf>,

    /// Where to write the index [default: `<root>/index`, or `_artifacts/index_combined` for several roots]
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Print the report (counts, warnings, files written) as JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn exec(args: Args) -> CliResult {
    let cwd = std::env::current_dir().map_err(CliError::usage)?;
    let defaulted = args.roots.is_empty();
    let roots: Vec<PathBuf> = if defaulted {
        vec![cwd.join(STORE_DIR_NAME)]
    } else {
        args.roots.iter().map(|root| cwd.join(root)).collect()
    };
    let output_dir = match (&args.output_dir, roots.as_slice()) {
        (Some(dir), _) => cwd.join(dir),
        (None, [root]) => root.join(INDEX_DIR),
        (None, _) => cwd.join(STORE_DIR_NAME).join(COMBINED_INDEX_DIR),
    };
    let report = index::update_index(&roots, &output_dir).map_err(|error| match error {
        IndexError::RootMissing { path } if defaulted => CliError::usage(format!(
            "artifacts root `{}` does not exist\n\nrun an experiment or `generate` first, or pass `--artifacts-root DIR`",
            path.display()
        )),
        error => CliError::usage(error),
    })?;

    for (_, warning) in report.warnings.iter() {
        eprintln!("warning: {warning}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }
    let counts = &report.counts;
    let shown = |path: &Path| {
        path.strip_prefix(&cwd)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    if counts.stores > 1 {
        println!("stores         {}", counts.stores);
    }
    println!("experiments    {}", counts.experiments);
    println!(
        "planned runs   {} ({} executed)",
        counts.experiment_runs_planned, counts.experiment_runs_executed
    );
    println!("images         {}", counts.images_titled);
    println!("runs           {}", counts.runs_in_run_registry);
    if !report.warnings.is_empty() {
        println!("warnings       {} (on stderr)", report.warnings.len());
    }
    for (position, file) in report.files_written.iter().enumerate() {
        let label = if position == 0 { "wrote" } else { "" };
        println!("{label:15}{}", shown(file));
    }
    Ok(EXIT_OK)
}

//! `experiments list`: every loadable experiment, then every file that failed to load and why.
//!
//! The text form shows what plugins say about themselves through [`printable`], escaped and cut
//! (a summary can be 64 KiB long or hold terminal escapes); `--json` gives it unchanged.

use serde_json::{json, Value};

use crate::plugins::printable::{printable, NAME_CHARS, REASON_CHARS, SUMMARY_CHARS};

use crate::plugins::Catalog;

use super::args::PluginDirArgs;
use super::{CliResult, EXIT_OK};

/// List every experiment plugin found, and every file that failed to load
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    plugins: PluginDirArgs,
}

pub fn exec(args: Args) -> CliResult {
    let catalog = args.plugins.discover()?;
    if args.json {
        let experiments: Vec<_> = catalog
            .experiments
            .iter()
            .map(|experiment| {
                json!({
                    "name": experiment.name(),
                    "summary": experiment.descriptor.summary,
                    "default_run_mode": experiment.descriptor.default_run_mode,
                    "library": experiment.path,
                    "interface_version": experiment.library.interface_version(),
                    "panic_strategy": experiment.library.panic_strategy().as_str(),
                    "shadowed": experiment.shadowed,
                    "warnings": experiment.warnings(),
                })
            })
            .collect();
        let errors = failures_json(&catalog, args.plugins.verbose);
        let document = json!({"experiments": experiments, "errors": errors});
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }

    if catalog.experiments.is_empty() {
        println!("no experiments found");
    } else {
        // Each cell once, already made printable, so the column widths are those of what is shown
        // (a width computed from the raw text could exceed what `format!` accepts and panic).
        let rows: Vec<[String; 3]> = catalog
            .experiments
            .iter()
            .map(|experiment| {
                [
                    printable(experiment.name(), NAME_CHARS).into_owned(),
                    printable(&experiment.descriptor.summary, SUMMARY_CHARS).into_owned(),
                    experiment.descriptor.default_run_mode.as_str().to_owned(),
                ]
            })
            .collect();
        let width = |column: usize, title: &str| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let (name_w, summary_w, mode_w) = (width(0, "NAME"), width(1, "SUMMARY"), width(2, "MODE"));
        println!(
            "{:name_w$}  {:summary_w$}  {:mode_w$}  LIBRARY",
            "NAME", "SUMMARY", "MODE"
        );
        for (experiment, [name, summary, mode]) in catalog.experiments.iter().zip(&rows) {
            println!(
                "{name:name_w$}  {summary:summary_w$}  {mode:mode_w$}  {}",
                shown_path(&experiment.path)
            );
            for shadowed in &experiment.shadowed {
                println!("{:name_w$}  (shadows {})", "", shown_path(shadowed));
            }
            for warning in experiment.warnings() {
                println!("{:name_w$}  warning: {warning}", "");
            }
        }
    }
    print_failures(&catalog, args.plugins.verbose);
    Ok(EXIT_OK)
}

/// The files that failed to load, as `--json` lists them (`errors`); `verbose` adds the detail.
/// `stages list` shows a plugin that failed the same way.
pub(super) fn failures_json(catalog: &Catalog, verbose: bool) -> Vec<Value> {
    catalog
        .failures
        .iter()
        .map(|failure| {
            let mut entry = json!({"path": failure.path, "reason": failure.reason});
            if let Some(experiment) = &failure.experiment {
                entry["experiment"] = json!(experiment);
            }
            if verbose {
                entry["detail"] = json!(failure.detail);
            }
            entry
        })
        .collect()
}

/// The files that failed to load, after a blank line, one per line (`verbose` adds the detail);
/// nothing when every file loaded.
pub(super) fn print_failures(catalog: &Catalog, verbose: bool) {
    if catalog.failures.is_empty() {
        return;
    }
    println!("\nfiles that failed to load:");
    for failure in &catalog.failures {
        println!("  {}: {}", shown_path(&failure.path), failure.reason);
        if verbose {
            if let Some(detail) = &failure.detail {
                for line in detail.lines() {
                    println!("      {}", printable(line, usize::MAX));
                }
            }
        }
    }
}

/// A path as the text output shows it: a file name may hold a newline or an escape too.
pub(super) fn shown_path(path: &std::path::Path) -> String {
    printable(&path.display().to_string(), REASON_CHARS).into_owned()
}

//! `experiments list`: every loadable experiment, then every file that failed to load and why.

use serde_json::json;

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
                    "shadowed": experiment.shadowed,
                })
            })
            .collect();
        let errors: Vec<_> = catalog
            .failures
            .iter()
            .map(|failure| {
                let mut entry = json!({"path": failure.path, "reason": failure.reason});
                if args.plugins.verbose {
                    entry["detail"] = json!(failure.detail);
                }
                entry
            })
            .collect();
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
        let width = |f: fn(&crate::plugins::LoadedExperiment) -> usize, title: &str| {
            catalog
                .experiments
                .iter()
                .map(f)
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let name_w = width(|e| e.name().len(), "NAME");
        let summary_w = width(|e| e.descriptor.summary.len(), "SUMMARY");
        let mode_w = width(|e| e.descriptor.default_run_mode.as_str().len(), "MODE");
        println!(
            "{:name_w$}  {:summary_w$}  {:mode_w$}  LIBRARY",
            "NAME", "SUMMARY", "MODE"
        );
        for experiment in &catalog.experiments {
            println!(
                "{:name_w$}  {:summary_w$}  {:mode_w$}  {}",
                experiment.name(),
                experiment.descriptor.summary,
                experiment.descriptor.default_run_mode.as_str(),
                experiment.path.display()
            );
            for shadowed in &experiment.shadowed {
                println!("{:name_w$}  (shadows {})", "", shadowed.display());
            }
        }
    }
    if !catalog.failures.is_empty() {
        println!("\nfiles that failed to load:");
        for failure in &catalog.failures {
            println!("  {}: {}", failure.path.display(), failure.reason);
            if args.plugins.verbose {
                if let Some(detail) = &failure.detail {
                    for line in detail.lines() {
                        println!("      {line}");
                    }
                }
            }
        }
    }
    Ok(EXIT_OK)
}

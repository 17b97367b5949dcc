//! `stages list`: every stage kind by family, with its IO and its config knobs and their
//! defaults; then the stages each plugin on the search path declares, a family per plugin, with
//! their answer shape, and (as `experiments list` shows them) the files that failed to load.
//! `--markdown` prints `docs/stages.md`, built-in stages only, so the document does not depend
//! on which plugins are installed.

use serde_json::json;

use crate::plugins::printable::{printable, SUMMARY_CHARS};
use crate::stages::describe::{self, StageInfo};
use crate::stages::Registry;

use super::args::PluginDirArgs;
use super::experiments_list::{failures_json, print_failures, shown_path};
use super::{CliResult, EXIT_OK};

/// List every stage kind with its inputs, outputs and config knobs (with their defaults),
/// and the stages the plugins found declare
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,

    /// Print the markdown of `docs/stages.md` (stages and plans)
    #[arg(long, hide = true, conflicts_with = "json")]
    markdown: bool,

    #[command(flatten)]
    plugins: PluginDirArgs,
}

/// The stages one plugin declares, as listed.
struct PluginStages {
    name: String,
    library: std::path::PathBuf,
    stages: Vec<StageInfo>,
}

pub fn exec(args: Args) -> CliResult {
    let stages = describe::describe_stages(&Registry::builtin());
    if args.markdown {
        print!(
            "{}",
            describe::markdown(&stages, &describe::describe_plans())
        );
        return Ok(EXIT_OK);
    }
    let catalog = args.plugins.discover()?;
    let plugins: Vec<PluginStages> = catalog
        .experiments
        .iter()
        .filter(|experiment| !experiment.declared_stages.is_empty())
        .map(|experiment| PluginStages {
            name: experiment.name().to_owned(),
            library: experiment.path.clone(),
            stages: describe::describe_stages(&Registry::with(experiment.declared_stages.clone())),
        })
        .collect();
    if args.json {
        let all: Vec<&StageInfo> = stages
            .iter()
            .chain(plugins.iter().flat_map(|plugin| &plugin.stages))
            .collect();
        let document = json!({
            "stages": all,
            "errors": failures_json(&catalog, args.plugins.verbose),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }
    for (index, (family, members)) in describe::by_family(&stages).into_iter().enumerate() {
        if index > 0 {
            println!();
        }
        println!("{family}");
        print_stages(&members);
    }
    for plugin in &plugins {
        println!();
        println!(
            "{} (declared by the plugin in {})",
            plugin.name,
            shown_path(&plugin.library)
        );
        print_stages(&plugin.stages.iter().collect::<Vec<_>>());
    }
    print_failures(&catalog, args.plugins.verbose);
    Ok(EXIT_OK)
}

/// Each stage with its doc, IO, answer shape (declared stages) and knobs.
fn print_stages(stages: &[&StageInfo]) {
    for stage in stages {
        println!();
        println!("  {} ({})", stage.id, describe::kind_text(stage.kind));
        // A declared stage's doc is the plugin's text: escaped and cut like its summary.
        println!("    {}", printable(stage.doc, SUMMARY_CHARS));
        println!("    requires  {}", list(&stage.requires));
        println!("    provides  {}", list(&stage.provides));
        println!("    captures  {}", list(&stage.captures));
        if let Some(response) = stage.response {
            println!("    response  {}", response.as_str());
        }
        if stage.config.is_empty() {
            println!("    config    none");
        }
        for (n, knob) in stage.config.iter().enumerate() {
            let label = if n == 0 { "config" } else { "" };
            println!(
                "    {label:8}  {} = {}",
                knob.key,
                describe::value_text(&knob.default)
            );
        }
        if let Some(error) = &stage.config_error {
            println!("    (with an empty config: {error})");
        }
    }
}

fn list(ids: &[&str]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    }
}

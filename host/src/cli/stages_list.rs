//! `stages list`: every stage kind by family, with its IO and its config knobs and their
//! defaults; `--markdown` prints `docs/stages.md`.

use serde_json::json;

use crate::stages::describe::{self, StageInfo};
use crate::stages::Registry;

use super::{CliResult, EXIT_OK};

/// List every stage kind with its inputs, outputs and config knobs (with their defaults)
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,

    /// Print the markdown of `docs/stages.md` (stages and plans)
    #[arg(long, hide = true, conflicts_with = "json")]
    markdown: bool,
}

pub fn exec(args: Args) -> CliResult {
    let stages = describe::describe_stages(&Registry::builtin());
    if args.markdown {
        print!(
            "{}",
            describe::markdown(&stages, &describe::describe_plans())
        );
    } else if args.json {
        let document = json!({ "stages": stages });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
    } else {
        print_text(&stages);
    }
    Ok(EXIT_OK)
}

/// Stages under a line per family; each with its doc, IO and knobs.
fn print_text(stages: &[StageInfo]) {
    for (index, (family, members)) in describe::by_family(stages).into_iter().enumerate() {
        if index > 0 {
            println!();
        }
        println!("{family}");
        for stage in members {
            println!();
            println!("  {} ({})", stage.id, describe::kind_text(stage.kind));
            println!("    {}", stage.doc);
            println!("    requires  {}", list(&stage.requires));
            println!("    provides  {}", list(&stage.provides));
            println!("    captures  {}", list(&stage.captures));
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
}

fn list(ids: &[&str]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    }
}

//! `experiments describe <NAME>`: what an experiment is and every flag it takes (kind, required,
//! bounds, default, choices with their help, repeatable), the stages it declares, and the
//! interface it requires.

use serde_json::json;

use super::args::PluginDirArgs;
use super::{CliError, CliResult, EXIT_OK};
use crate::plugins::printable::{printable, HELP_CHARS, NAME_CHARS, SUMMARY_CHARS};
use crate::stages::declared::stage_id;

/// Show an experiment's summary, default mode, library, flags and runner keys
#[derive(clap::Args)]
pub struct Args {
    /// The experiment's name (see `experiments list`)
    #[arg(value_name = "NAME")]
    name: String,

    /// Print JSON on stdout
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    plugins: PluginDirArgs,
}

pub fn exec(args: Args) -> CliResult {
    let catalog = args.plugins.discover()?;
    let experiment = catalog.get(&args.name).map_err(CliError::usage)?;
    let descriptor = &experiment.descriptor;
    if args.json {
        let document = json!({
            "name": descriptor.name,
            "summary": descriptor.summary,
            "default_run_mode": descriptor.default_run_mode,
            "library": experiment.path,
            "interface_version": experiment.library.interface_version(),
            "panic_strategy": experiment.library.panic_strategy().as_str(),
            "warnings": experiment.warnings(),
            "shadowed": experiment.shadowed,
            "args": descriptor.args,
            "runner_keys": descriptor.runner_keys,
            "optional_hooks": descriptor.optional_hooks,
            "requires_interface": descriptor.requires_interface,
            "stages": descriptor.stages,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }
    // The descriptor is the plugin's text: shown escaped and cut, like in `list`.
    let name = printable(&descriptor.name, NAME_CHARS);
    println!("name:              {name}");
    println!(
        "summary:           {}",
        printable(&descriptor.summary, SUMMARY_CHARS)
    );
    println!("default run mode:  {}", descriptor.default_run_mode);
    println!("library:           {}", experiment.path.display());
    println!(
        "interface version: {}",
        experiment.library.interface_version()
    );
    if let Some(wanted) = &descriptor.requires_interface {
        println!(
            "requires:          plugin-api {}",
            printable(wanted, NAME_CHARS)
        );
    }
    for warning in experiment.warnings() {
        println!("warning:           {warning}");
    }
    println!();
    if descriptor.args.is_empty() {
        println!("flags: none");
    } else {
        println!("flags:");
        for arg in &descriptor.args {
            let mut facts = vec![arg.kind.as_str().to_owned()];
            if arg.required {
                facts.push("required".to_owned());
            }
            if let Some(min) = &arg.min {
                facts.push(format!("min {min}"));
            }
            if let Some(max) = &arg.max {
                facts.push(format!("max {max}"));
            }
            if !arg.default.is_null() {
                facts.push(format!("default {}", arg.default));
            }
            if !arg.choices.is_empty() {
                let choices = arg.choices.join("|");
                facts.push(format!("one of {}", printable(&choices, SUMMARY_CHARS)));
            }
            if arg.repeatable {
                facts.push("repeatable".to_owned());
            }
            println!("  --{} ({})", arg.name, facts.join(", "));
            if !arg.help.is_empty() {
                println!("      {}", printable(&arg.help, HELP_CHARS));
            }
            for choice in &arg.choices {
                if let Some(help) = arg.choice_help.get(choice) {
                    println!(
                        "        {}: {}",
                        printable(choice, NAME_CHARS),
                        printable(help, HELP_CHARS)
                    );
                }
            }
        }
    }
    println!();
    if descriptor.runner_keys.is_empty() {
        println!("experiment_runners.{name}: no keys");
    } else {
        println!("experiment_runners.{name} keys:");
        for key in &descriptor.runner_keys {
            println!("  {}", printable(key, NAME_CHARS));
        }
    }
    if !descriptor.stages.is_empty() {
        println!(
            "\ndeclared stages (for this experiment's runs; `stages list` shows them in full):"
        );
        for stage in &descriptor.stages {
            let reads = if stage.reads.is_empty() {
                "nothing".to_owned()
            } else {
                stage.reads.join(", ")
            };
            // Each part cut on its own, as the experiment's name is everywhere on this page.
            let id = stage_id(&name, &printable(&stage.name, NAME_CHARS));
            println!(
                "  {id} ({}): reads {}, writes {}",
                stage.response.as_str(),
                printable(&reads, SUMMARY_CHARS),
                printable(&stage.writes, NAME_CHARS)
            );
            if !stage.doc.is_empty() {
                println!("      {}", printable(&stage.doc, HELP_CHARS));
            }
        }
    }
    println!("\nrun it with: image-project experiments run {name} --dry-run");
    Ok(EXIT_OK)
}

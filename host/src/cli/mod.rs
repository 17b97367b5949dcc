//! The command line: one file per command, each with a clap args struct and an `exec` that
//! calls one operation. This is the only layer that parses flags, prints, and picks exit codes;
//! nothing below it does.

mod args;
mod cache;
mod experiments_describe;
mod experiments_list;
mod experiments_report;
mod experiments_run;
mod generate;
mod index_artifacts;
mod interrupt;
mod plans_list;
mod plugin_flags;
mod progress;
mod stages_list;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

/// Exit codes: 0 all good, 1 a run or analysis failed, 2 a usage, config, plugin or plan error.
pub const EXIT_OK: i32 = 0;
pub const EXIT_RUN_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// An error on its way out, with the exit code it maps to.
pub struct CliError {
    pub code: i32,
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

impl CliError {
    /// A usage, config, plugin or plan error (exit 2).
    pub fn usage(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CliError {
        CliError {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }
}

pub type CliResult = Result<i32, CliError>;

#[derive(Parser)]
#[command(
    name = "image-project",
    version,
    about = "Run reproducible prompt-pipeline experiments for AI image generation",
    long_about = "Run reproducible prompt-pipeline experiments for AI image generation.\n\n\
        Experiments are plugins (native libraries) found in `--plugin-dir` directories, \
        `IMAGE_PROJECT_PLUGIN_PATH`, `./plugins` and the directory of this executable.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List, describe and run experiment plugins
    #[command(subcommand)]
    Experiments(ExperimentsCommand),
    /// Inspect or empty the response cache
    #[command(subcommand)]
    Cache(cache::Command),
    Generate(generate::Args),
    IndexArtifacts(index_artifacts::Args),
    /// List the plans `prompt.plan` can select
    #[command(subcommand)]
    Plans(PlansCommand),
    /// List the stage kinds plans are made of
    #[command(subcommand)]
    Stages(StagesCommand),
}

#[derive(Subcommand)]
enum ExperimentsCommand {
    List(experiments_list::Args),
    Describe(experiments_describe::Args),
    Run(experiments_run::Args),
    Report(experiments_report::Args),
}

#[derive(Subcommand)]
enum PlansCommand {
    List(plans_list::Args),
}

#[derive(Subcommand)]
enum StagesCommand {
    List(stages_list::Args),
}

/// Parses `args`, runs the command, prints any error, and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return error.exit_code();
        }
    };
    let result = match cli.command {
        Command::Experiments(ExperimentsCommand::List(args)) => experiments_list::exec(args),
        Command::Experiments(ExperimentsCommand::Describe(args)) => {
            experiments_describe::exec(args)
        }
        Command::Experiments(ExperimentsCommand::Run(args)) => experiments_run::exec(args),
        Command::Experiments(ExperimentsCommand::Report(args)) => experiments_report::exec(args),
        Command::Cache(command) => cache::exec(command),
        Command::Generate(args) => generate::exec(args),
        Command::IndexArtifacts(args) => index_artifacts::exec(args),
        Command::Plans(PlansCommand::List(args)) => plans_list::exec(args),
        Command::Stages(StagesCommand::List(args)) => stages_list::exec(args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            report(failure.error.as_ref());
            failure.code
        }
    }
}

/// Prints an error and its causes, cargo style.
fn report(error: &(dyn std::error::Error + 'static)) {
    eprintln!("error: {error}");
    let mut source = error.source();
    if source.is_some() {
        eprintln!("\nCaused by:");
    }
    while let Some(cause) = source {
        eprintln!("  {cause}");
        source = cause.source();
    }
}

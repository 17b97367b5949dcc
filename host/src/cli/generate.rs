//! `generate`: one pipeline run from config, outside any experiment.

use plugin_api::RunStatus;
use serde_json::json;

use super::args::{ConfigArgs, ModeArg};
use super::{CliError, CliResult, EXIT_OK, EXIT_RUN_FAILED};
use crate::generation::{self, GenerateOptions};

/// Run the prompt pipeline once from config (no config at all: the embedded default, offline)
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,

    /// Prompt seed [default: `prompt.random_seed`, else fresh entropy, recorded in the transcript]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=plugin_api::seed::MAX_SEED))]
    seed: Option<u64>,

    /// Run mode [default: `run.mode`]
    #[arg(long, value_enum, value_name = "MODE")]
    mode: Option<ModeArg>,

    /// Print the outcome as JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn exec(args: Args) -> CliResult {
    let cwd = std::env::current_dir().map_err(CliError::usage)?;
    let options = GenerateOptions {
        config: args.config.request(&cwd),
        seed: args.seed,
        mode: args.mode.map(Into::into),
    };
    let outcome = generation::generate(&options).map_err(CliError::usage)?;
    let failed = outcome.status == RunStatus::Error;
    if args.json {
        let document = json!({
            "generation_id": outcome.generation_id,
            "status": outcome.status,
            "seed": outcome.seed,
            "run_mode": outcome.run_mode,
            "final_prompt": outcome.final_prompt,
            "image_path": outcome.image_path,
            "transcript": outcome.transcript_path,
            "error": outcome.error,
            "usage": outcome.usage.totals(),
            "cost_usd": outcome.cost.usd,
            "cost_missing": outcome.cost.missing,
            "saved_cost_usd": outcome.saved_cost.usd,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
    } else {
        println!("generation id  {}", outcome.generation_id);
        println!("seed           {}", outcome.seed);
        println!("run mode       {}", outcome.run_mode);
        println!("transcript     {}", outcome.transcript_path.display());
        if let Some(image) = &outcome.image_path {
            println!("image          {}", image.display());
        }
        let usage = outcome.usage.totals();
        println!(
            "tokens         {} calls: {} input ({} cached), {} output ({} reasoning); {} images",
            usage.calls,
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            usage.images
        );
        match outcome.cost.usd {
            Some(usd) => println!("cost           {usd:.4} USD"),
            None => println!("cost           unknown"),
        }
        if usage.cache_hits > 0 {
            println!(
                "cache          {}",
                super::experiments_run::cache_line(&usage, outcome.saved_cost.usd)
            );
        }
        if let Some(prompt) = &outcome.final_prompt {
            println!("\n{prompt}");
        }
    }
    for reason in &outcome.cost.missing {
        eprintln!("warning: cost unknown (`cost_usd: null`): {reason}");
    }
    if let Some(error) = &outcome.error {
        let step = error
            .step
            .as_deref()
            .map(|step| format!(" at `{step}`"))
            .unwrap_or_default();
        let phase = error.phase.as_deref().unwrap_or("?");
        eprintln!(
            "error: the run failed in phase `{phase}`{step}: {}",
            error.message
        );
    }
    Ok(if failed { EXIT_RUN_FAILED } else { EXIT_OK })
}

//! `experiments report [DIR]`: writes `report.html` of an experiment directory again, from its
//! `experiment_results.json` (the runner writes it at the end of `experiments run`).

use std::path::PathBuf;

use super::{CliError, CliResult, EXIT_OK};
use crate::runner::report_html;

/// Write an experiment's report.html again from its experiment_results.json
#[derive(clap::Args)]
pub struct Args {
    /// The experiment directory (default: the current directory)
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn exec(args: Args) -> CliResult {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let path = report_html::write_report(&dir).map_err(CliError::usage)?;
    println!("{}", path.display());
    Ok(EXIT_OK)
}

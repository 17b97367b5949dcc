//! `experiments report [DIR]... [--out FILE]`: writes `report.html` of an experiment directory
//! again from its files (the runner writes it at the end of every run and resume), or, for two
//! or more directories, a page comparing their metrics.

use std::path::PathBuf;

use super::{CliError, CliResult, EXIT_OK};
use crate::artifacts::layout::{default_experiments_root, ExperimentLayout, COMPARISON_FILE};
use crate::report;

/// Write an experiment's report.html again, or compare several experiments
#[derive(clap::Args)]
#[command(
    long_about = "Write an experiment's report.html again from the files in its \
    directory, or compare several experiments.\n\n\
    With no DIR: the newest experiment in `_artifacts/experiments` (the one whose \
    experiment_results.json was written last). With one DIR: `<DIR>/report.html`. With two or \
    more: one page with the same metrics of every experiment side by side, written to \
    `experiments_comparison.html` in the working directory unless `--out` says where."
)]
pub struct Args {
    /// Experiment directories (each holding experiment_results.json) [default: the newest in `_artifacts/experiments`]
    #[arg(value_name = "DIR")]
    dirs: Vec<PathBuf>,

    /// Where to write the page [default: `<DIR>/report.html`; `experiments_comparison.html` for several DIRs]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Every report error comes from the user's input (a wrong directory, a file that does not
/// parse, an output path that cannot be written): exit 2, with the path in the message.
pub fn exec(args: Args) -> CliResult {
    let cwd = std::env::current_dir().map_err(CliError::usage)?;
    let dirs: Vec<PathBuf> = if args.dirs.is_empty() {
        let root = default_experiments_root(&cwd);
        if !root.is_dir() {
            return Err(CliError::usage(format!(
                "`{}` does not exist\n\nrun an experiment first, or name its directory: \
                 `image-project experiments report DIR`",
                root.display()
            )));
        }
        vec![report::newest_experiment(&root).map_err(CliError::usage)?]
    } else {
        args.dirs.iter().map(|dir| cwd.join(dir)).collect()
    };
    let written = match dirs.as_slice() {
        [dir] => {
            let out = args
                .out
                .map_or_else(|| ExperimentLayout::new(dir).report(), |out| cwd.join(out));
            report::write_report_to(dir, &out).map_err(CliError::usage)?;
            out
        }
        several => {
            let out = cwd.join(args.out.as_deref().unwrap_or(COMPARISON_FILE.as_ref()));
            report::write_comparison(several, &out).map_err(CliError::usage)?;
            out
        }
    };
    println!("{}", written.display());
    Ok(EXIT_OK)
}

//! `experiments run <NAME>`: the runner flags, the plugin's own flags (from its descriptor), and
//! the call into the runner.
//!
//! The plugin's flags are only known once the plugin is loaded, so the command is parsed in two
//! steps: the plugin-dir flags and the name first, then everything with a command built from the
//! runner flags and the descriptor. `run <NAME> --help` therefore shows both sets.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Args as _, Command, FromArgMatches as _};
use plugin_api::{Descriptor, RunMode};
use serde_json::{json, Map, Value};

use super::args::{ConfigArgs, ModeArg, PluginDirArgs};
use super::plugin_flags::{add_plugin_args, check_plugin_values, given_plugin_flag, plugin_values};
use super::progress::Progress;
use super::{CliError, CliResult, EXIT_OK, EXIT_RUN_FAILED};
use crate::cost::UsageTotals;
use crate::plugins::printable::{printable, REASON_CHARS, SUMMARY_CHARS};
use crate::runner::{
    self, describe_counts, describe_tallies, ExperimentReport, RunEvent, RunOptions,
};

const RUNNER_HEADING: &str = "Runner options";

/// Runner flags (clap ids) that would change a stored plan, refused with `--resume`.
const RESUME_REFUSED_FLAGS: &[&str] = &["experiment_id", "mode", "seed", "dry_run", "estimate"];

/// Plan and run an experiment; `run <NAME> --help` lists its flags
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// The experiment's name, then runner and experiment flags
    #[arg(
        value_name = "NAME [FLAGS]",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    args: Vec<OsString>,
}

/// The flags `experiments run` defines for every experiment.
#[derive(clap::Args, Debug)]
struct RunnerArgs {
    #[command(flatten)]
    config: ConfigArgs,

    /// Experiment directory [default: _artifacts/experiments/<EXPERIMENT_ID>]
    #[arg(long, value_name = "DIR", help_heading = RUNNER_HEADING)]
    output_root: Option<PathBuf>,

    /// Experiment id [default: <NAME>_<UTC YYYYMMDD_HHMMSS>]
    #[arg(long, value_name = "ID", help_heading = RUNNER_HEADING)]
    experiment_id: Option<String>,

    /// Run mode [default: the experiment's]
    #[arg(long, value_enum, value_name = "MODE", help_heading = RUNNER_HEADING)]
    mode: Option<ModeArg>,

    /// Base seed; per-run seeds derive from it [default: fresh entropy, recorded in the plan]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=plugin_api::seed::MAX_SEED), help_heading = RUNNER_HEADING)]
    seed: Option<u64>,

    /// Parallel workers [default: `backend.text.max_concurrency`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256), help_heading = RUNNER_HEADING)]
    jobs: Option<u64>,

    /// Plan, preflight and write the plan files without executing any run
    #[arg(long, help_heading = RUNNER_HEADING)]
    dry_run: bool,

    /// Rehearse the whole experiment offline and print its calls, tokens, images, cost and
    /// wall time; nothing is contacted or kept
    #[arg(long, conflicts_with_all = ["dry_run", "output_root"], help_heading = RUNNER_HEADING)]
    estimate: bool,

    /// Spend at most USD: refused before any call when the estimate is above it; dispatch stops
    /// before a run would pass it [default: `budget.max_cost_usd`, else no budget]
    #[arg(long, value_name = "USD", value_parser = parse_budget, conflicts_with = "estimate", help_heading = RUNNER_HEADING)]
    max_cost: Option<f64>,

    /// Continue the experiment in `--output-root`: runs already done are skipped
    #[arg(long, requires = "output_root", help_heading = RUNNER_HEADING)]
    resume: bool,

    /// Keep dispatching runs after a run fails [default: stop at the first failure]
    #[arg(long, help_heading = RUNNER_HEADING)]
    continue_on_error: bool,

    /// Print the final summary as JSON on stdout
    #[arg(long, help_heading = RUNNER_HEADING)]
    json: bool,

    /// Print help
    #[arg(long, short = 'h', action = ArgAction::Help, help_heading = RUNNER_HEADING)]
    help: Option<bool>,
}

pub fn exec(args: Args) -> CliResult {
    let raw = args.args;
    let name = match raw.first().and_then(|first| first.to_str()) {
        Some(name) if !name.starts_with('-') => name.to_owned(),
        _ => return parse_without_experiment(&raw),
    };
    let plugins = scan_plugin_dir_flags(&raw[1..]);
    let catalog = plugins.discover()?;
    let experiment = catalog.get(&name).map_err(CliError::usage)?;
    for warning in experiment.warnings() {
        eprintln!("warning: plugin `{}`: {warning}", experiment.path.display());
    }

    let command = run_command(&experiment.descriptor);
    let matches = match command.try_get_matches_from(
        std::iter::once(OsString::from("run")).chain(raw[1..].iter().cloned()),
    ) {
        Ok(matches) => matches,
        Err(error) => {
            let _ = error.print();
            return Ok(error.exit_code());
        }
    };
    let runner_args = RunnerArgs::from_arg_matches(&matches).map_err(CliError::usage)?;
    let plugin_args = plugin_values(&experiment.descriptor, &matches);
    if runner_args.resume {
        let flag = RESUME_REFUSED_FLAGS
            .iter()
            .find(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            .map(|id| id.replace('_', "-"))
            .or_else(|| given_plugin_flag(&experiment.descriptor, &matches));
        if let Some(flag) = flag {
            return Err(CliError::usage(format!(
                "`--{flag}` cannot be combined with `--resume`: a resumed experiment keeps its stored plan\n\nwith `--resume`, only `--output-root`, `--jobs`, `--continue-on-error`, `--json`, `--config`/`--set` (keys the runner does not own) and the plugin-dir flags apply"
            )));
        }
    } else {
        check_plugin_values(&experiment.descriptor, &plugin_args).map_err(CliError::usage)?;
    }
    if !runner_args.resume && runner_args.mode.is_none() {
        eprintln!(
            "note: --mode not given; using the experiment's default `{}`",
            experiment.descriptor.default_run_mode
        );
    }
    let cwd = std::env::current_dir().map_err(CliError::usage)?;
    let options = RunOptions {
        config: runner_args.config.request(&cwd),
        args: plugin_args,
        run_mode: runner_args.mode.map(RunMode::from),
        output_root: runner_args.output_root,
        experiment_id: runner_args.experiment_id,
        seed: runner_args.seed,
        jobs: runner_args.jobs,
        dry_run: runner_args.dry_run,
        resume: runner_args.resume,
        continue_on_error: runner_args.continue_on_error,
        cwd,
        max_cost_usd: runner_args.max_cost,
        rehearsal: false,
    };
    if runner_args.estimate {
        let clock = std::time::Instant::now();
        let estimate = runner::estimate::estimate(experiment, &options).map_err(CliError::usage)?;
        print_estimate(
            &estimate,
            Some(clock.elapsed().as_secs_f64()),
            runner_args.json,
        );
        return Ok(EXIT_OK);
    }
    let interrupt = super::interrupt::flag();
    let progress = Progress::new(runner_args.json);
    let events = |event: RunEvent| progress.event(event);
    let report = match runner::run_experiment(experiment, &options, interrupt, &events) {
        Ok(report) => report,
        Err(runner::RunnerError::OverBudget { message, estimate }) => {
            progress.finish();
            print_estimate(&estimate, None, runner_args.json);
            return Err(CliError::usage(message));
        }
        Err(error) => return Err(CliError::usage(error)),
    };
    progress.finish();
    if !report.config_changes.is_empty() {
        eprintln!("note: `--config`/`--set` change the stored run configs:");
        for change in &report.config_changes {
            eprintln!("{change}");
        }
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(error) = &report.stopped_by {
        eprintln!("error: the runner stopped after executing runs: {error}\n\nthe runs recorded in `results.jsonl` are kept; continue with `--resume --output-root {}`", report.output_root.display());
    }
    print_report(&name, &report, runner_args.json);
    Ok(if report.dry_run || report.all_good() {
        EXIT_OK
    } else {
        EXIT_RUN_FAILED
    })
}

/// The final summary: human lines, or `--json` on stdout.
fn print_report(name: &str, report: &ExperimentReport, json_output: bool) {
    let total: usize = report.runs_per_variant.iter().map(|(_, count)| count).sum();
    if json_output {
        let per_variant: Map<String, Value> = report
            .runs_per_variant
            .iter()
            .map(|(variant, count)| (variant.clone(), json!(count)))
            .collect();
        let tallies: Map<String, Value> = report
            .tallies
            .iter()
            .map(|(variant, ok, failed)| {
                (variant.clone(), json!({"succeeded": ok, "failed": failed}))
            })
            .collect();
        let execution = report.execution.as_ref().map(|execution| {
            json!({
                "attempted": execution.attempted,
                "failed": execution.failed,
                "analysis_failures": execution.analysis_failures,
                "skipped": execution.skipped,
                "interrupted": execution.interrupted,
            })
        });
        let document = json!({
            "experiment": name,
            "experiment_id": report.experiment_id,
            "output_root": report.output_root,
            "base_seed": report.base_seed,
            "run_mode": report.run_mode,
            "runs_per_variant": per_variant,
            "planned_runs": total,
            "dry_run": report.dry_run,
            "already_done": report.already_done,
            "execution": execution,
            "results": tallies,
            "summary": report.summary,
            "summary_error": report.summary_error,
            "failures": report.failures,
            "usage": report.spend,
            "budget": report.budget.map(|budget| json!({
                "max_cost_usd": budget.max_usd,
                "spent_usd": budget.spent_usd,
                "stopped": budget.stopped,
            })),
            "config_changes": report.config_changes,
            "stopped_by": report.stopped_by,
            "ok": report.dry_run || report.all_good(),
            "files": report.files,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return;
    }
    println!("experiment id  {}", report.experiment_id);
    println!("output dir     {}", report.output_root.display());
    println!("base seed      {}", report.base_seed);
    println!("run mode       {}", report.run_mode);
    println!(
        "planned runs   {total} ({})",
        describe_counts(&report.runs_per_variant)
    );
    if report.dry_run {
        println!("dry run: plan written; no runs executed");
        return;
    }
    if report.already_done > 0 {
        println!("already done   {}", report.already_done);
    }
    println!("results        {}", describe_tallies(&report.tallies));
    if let Some(execution) = &report.execution {
        if execution.analysis_failures > 0 {
            println!(
                "analysis       {} failed (see `analysis_error` in experiment_results.json)",
                execution.analysis_failures
            );
        }
        if !execution.skipped.is_empty() {
            let budget = report.budget.filter(|budget| budget.stopped);
            let why = if execution.interrupted {
                "interrupted".to_owned()
            } else if let Some(budget) = budget {
                format!(
                    "the next run would pass the budget: {:.4} of {:.4} USD spent; raise it with --max-cost",
                    budget.spent_usd, budget.max_usd
                )
            } else {
                "stopped after a failure; see --continue-on-error".to_owned()
            };
            println!(
                "skipped        {} ({why}); continue with --resume --output-root {}",
                execution.skipped.len(),
                report.output_root.display()
            );
        }
    }
    print_metrics(report);
    if !report.summary_fields.is_empty() {
        println!();
        println!("summary");
        let rows: Vec<Vec<String>> = report
            .summary_fields
            .iter()
            .map(|(key, value)| {
                vec![
                    printable(&key.replace('_', " "), SUMMARY_CHARS).into_owned(),
                    printable(value, SUMMARY_CHARS).into_owned(),
                ]
            })
            .collect();
        print_table(&rows, "  ");
    }
    if let Some(spend) = &report.spend {
        print_spend(spend);
    }
    if let Some(error) = &report.summary_error {
        println!(
            "summary        analysis failed: {}",
            printable(error, REASON_CHARS)
        );
    }
    if !report.failures.is_empty() {
        println!();
        println!("failed runs");
        let rows: Vec<Vec<String>> = report
            .failures
            .iter()
            .map(|failure| {
                vec![
                    failure.generation_id.clone(),
                    printable(&failure.reason, REASON_CHARS).into_owned(),
                ]
            })
            .collect();
        print_table(&rows, "  ");
    }
}

/// `label (unit)`, escaped and cut for the terminal.
fn metric_label(label: &str, unit: Option<&str>) -> String {
    let label = printable(label, SUMMARY_CHARS);
    match unit {
        Some(unit) => format!("{label} ({})", printable(unit, SUMMARY_CHARS)),
        None => label.into_owned(),
    }
}

/// The metrics table (a row per metric, a column per variant: `mean [low, high]`; then the
/// plugin's per-variant figures, one value each) and the paired differences of each treatment
/// with the control, with the winner or "no significant difference".
fn print_metrics(report: &ExperimentReport) {
    let figures = &report.figures.0;
    if report.metrics.is_none() && figures.is_empty() {
        return;
    }
    // The runner's variants (plan order); without metrics, those the figures name.
    let mut variants: Vec<&str> = match &report.metrics {
        Some(metrics) => metrics.variants.0.iter().map(|(v, _)| v.as_str()).collect(),
        None => Vec::new(),
    };
    for (_, figure) in figures {
        for (variant, _) in &figure.values.0 {
            if !variants.contains(&variant.as_str()) {
                variants.push(variant);
            }
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["metric".to_owned()];
    header.extend(variants.iter().map(|variant| (*variant).to_owned()));
    rows.push(header);
    if let Some(metrics) = &report.metrics {
        type Count = fn(&crate::metrics::VariantMetrics) -> usize;
        let counts: [(&str, Count); 3] = [
            ("runs", |v| v.runs),
            ("ok", |v| v.ok),
            ("failed", |v| v.failed),
        ];
        let variant = |name: &str| metrics.variants.get(name);
        for (name, count) in counts {
            let mut row = vec![name.to_owned()];
            row.extend(
                variants
                    .iter()
                    .map(|v| variant(v).map_or("-".to_owned(), |v| count(v).to_string())),
            );
            rows.push(row);
        }
        for (name, info) in &metrics.info.0 {
            let mut row = vec![metric_label(&info.label, info.unit.as_deref())];
            row.extend(variants.iter().map(
                |v| match variant(v).and_then(|v| v.metrics.get(name)) {
                    Some(metric) => match (metric.mean, metric.ci_low, metric.ci_high) {
                        (Some(mean), Some(lo), Some(hi)) => format!("{mean:.2} [{lo:.2}, {hi:.2}]"),
                        _ => "-".to_owned(),
                    },
                    None => "-".to_owned(),
                },
            ));
            rows.push(row);
        }
    }
    for (_, figure) in figures {
        let mut row = vec![metric_label(&figure.label, figure.unit.as_deref())];
        row.extend(variants.iter().map(|v| match figure.values.get(v) {
            Some(Some(value)) => format!("{value:.2}"),
            Some(None) | None => "-".to_owned(),
        }));
        rows.push(row);
    }
    println!();
    print_table(&rows, "");
    let Some(metrics) = &report.metrics else {
        return;
    };
    let label = |name: &str| -> String {
        match metrics.info.get(name) {
            Some(info) => metric_label(&info.label, info.unit.as_deref()),
            None => name.to_owned(),
        }
    };
    for paired in metrics.comparisons() {
        print_paired(paired, &label);
    }
}

/// One treatment against the control: a row per metric with the mean difference, its interval,
/// the test's p and the verdict.
fn print_paired(paired: &crate::metrics::Paired, label: &dyn Fn(&str) -> String) {
    if paired.metrics.0.is_empty() {
        println!();
        println!(
            "{} - {}, paired: no pair in which both runs succeeded and reported metrics",
            paired.b, paired.a
        );
        return;
    }
    let most = paired
        .metrics
        .0
        .iter()
        .map(|(_, m)| m.n_pairs)
        .max()
        .unwrap_or(0);
    println!();
    println!(
        "{} - {}, paired ({most} pairs; 95% bootstrap interval, exact sign/McNemar test)",
        paired.b, paired.a
    );
    let rows: Vec<Vec<String>> = paired
        .metrics
        .0
        .iter()
        .map(|(name, m)| {
            let verdict = match (&m.winner, m.significant) {
                (Some(winner), _) => format!("{winner} better"),
                (None, true) => "differs (no preferred direction)".to_owned(),
                (None, false) => "no significant difference".to_owned(),
            };
            vec![
                label(name),
                format!(
                    "{:+.2} [{:+.2}, {:+.2}]",
                    m.mean_difference, m.ci_low, m.ci_high
                ),
                format!("p = {:.3}", m.p_value),
                verdict,
            ]
        })
        .collect();
    print_table(&rows, "  ");
}

/// `--max-cost`: a budget in USD.
fn parse_budget(text: &str) -> Result<f64, String> {
    let usd: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of USD"))?;
    crate::config::check_budget(usd)
}

/// `--estimate`: what the rehearsal counted, and the expected wall time; or `--json`.
fn print_estimate(estimate: &runner::estimate::Estimate, took_s: Option<f64>, json_output: bool) {
    for reason in &estimate.usage.cost_missing {
        eprintln!("warning: cost unknown (`cost_usd: null`): {reason}");
    }
    if json_output {
        let mut document = serde_json::to_value(estimate).unwrap_or(Value::Null);
        if let Some(took_s) = took_s {
            document["estimate_took_s"] = json!((took_s * 1000.0).round() / 1000.0);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return;
    }
    let total: usize = estimate.runs_per_variant.0.iter().map(|(_, n)| n).sum();
    println!(
        "estimate       {} (rehearsed offline; nothing was sent)",
        estimate.experiment
    );
    println!("base seed      {}", estimate.base_seed);
    println!("run mode       {}", estimate.run_mode);
    println!(
        "planned runs   {total} ({})",
        describe_counts(&estimate.runs_per_variant.0)
    );
    if estimate.failed_runs > 0 {
        println!(
            "failed         {} rehearsed runs failed; their counts stop where they failed",
            estimate.failed_runs
        );
    }
    print_spend(&estimate.usage);
    println!(
        "prices         the built-in table of {}, with `[pricing]` over it",
        estimate.builtin_prices_written
    );
    let wall = &estimate.wall_time;
    println!();
    println!(
        "wall time      about {} with {} workers (bound by {}; {} ms a text call, {} ms an image, at most {} concurrent calls; longest run {})",
        duration_text(wall.seconds),
        wall.jobs,
        wall.bound_by,
        wall.text_latency_hint_ms,
        wall.image_latency_hint_ms,
        wall.max_concurrency,
        duration_text(wall.longest_run_seconds),
    );
    println!(
        "output tokens  are the offline answers': a real model's answers differ (see docs/experiments.md)"
    );
    if let Some(took_s) = took_s {
        println!("took           {took_s:.2} s");
    }
}

/// `42 s`, `3 min 5 s`, `2 h 4 min`.
fn duration_text(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match whole {
        0..=59 => format!("{whole} s"),
        60..=3599 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3600, whole % 3600 / 60),
    }
}

/// The usage table: a row per variant and the total, tokens by kind, images and cost.
fn print_spend(spend: &runner::spend::SpendSummary) {
    let mut rows = vec![[
        "usage",
        "runs",
        "calls",
        "input tok",
        "cached",
        "output tok",
        "reasoning",
        "images",
        "cost USD",
    ]
    .map(str::to_owned)
    .to_vec()];
    let row = |name: &str, s: &runner::spend::Spend| {
        let u = &s.usage;
        vec![
            name.to_owned(),
            s.runs.to_string(),
            u.calls.to_string(),
            u.input_tokens.to_string(),
            u.cached_input_tokens.to_string(),
            u.output_tokens.to_string(),
            u.reasoning_tokens.to_string(),
            u.images.to_string(),
            s.cost_usd
                .map_or_else(|| "unknown".to_owned(), |usd| format!("{usd:.4}")),
        ]
    };
    rows.extend(spend.variants.0.iter().map(|(variant, s)| row(variant, s)));
    rows.push(row("total", &spend.total));
    println!();
    print_table(&rows, "");
    if spend.total.usage.cache_hits > 0 {
        println!(
            "cache: {}",
            cache_line(&spend.total.usage, spend.total.saved_cost_usd)
        );
    }
}

/// `42 of 50 calls from cache, saved 0.3100 USD` (`saved unknown` without a price or usage).
pub(super) fn cache_line(usage: &UsageTotals, saved_usd: Option<f64>) -> String {
    let saved = saved_usd.map_or_else(|| "unknown".to_owned(), |usd| format!("{usd:.4} USD"));
    format!(
        "{} of {} calls from cache, saved {saved}",
        usage.cache_hits,
        usage.cache_hits + usage.calls
    )
}

/// Rows padded into columns (by characters), each line prefixed by `indent`.
fn print_table(rows: &[Vec<String>], indent: &str) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = indent.to_owned();
        for (column, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if column + 1 < row.len() {
                let pad = widths[column] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        println!("{line}");
    }
}

/// `run` without a name: show the runner's help, or say the name is missing.
fn parse_without_experiment(raw: &[OsString]) -> CliResult {
    let command = base_command()
        .about("Plan and run an experiment")
        .override_usage("image-project experiments run <NAME> [OPTIONS] [EXPERIMENT OPTIONS]")
        .after_help("Run `image-project experiments list` to see the experiments, and\n`image-project experiments run <NAME> --help` for an experiment's own flags.");
    match command.try_get_matches_from(std::iter::once(OsString::from("run")).chain(raw.iter().cloned())) {
        Err(error) => {
            let _ = error.print();
            Ok(error.exit_code())
        }
        Ok(_) => Err(CliError::usage(
            "missing the experiment name\n\nusage: image-project experiments run <NAME> [OPTIONS]\nsee `image-project experiments list`",
        )),
    }
}

fn base_command() -> Command {
    let command = Command::new("run")
        .no_binary_name(false)
        .disable_help_flag(true);
    PluginDirArgs::augment_args(RunnerArgs::augment_args(command))
}

/// The full parser for one experiment: runner flags, plugin-dir flags, and the plugin's flags.
fn run_command(descriptor: &Descriptor) -> Command {
    let command = base_command()
        .name(format!("image-project experiments run {}", descriptor.name))
        .bin_name(format!("image-project experiments run {}", descriptor.name))
        // The plugin's own text, escaped and cut like everywhere it is shown.
        .about(printable(&descriptor.summary, SUMMARY_CHARS).into_owned());
    add_plugin_args(command, descriptor)
}

/// The plugin-dir flags, read before the plugin (and so the full parser) is known. The full
/// parse later reads them again and reports any malformed use.
fn scan_plugin_dir_flags(raw: &[OsString]) -> PluginDirArgs {
    let mut flags = PluginDirArgs {
        plugin_dirs: Vec::new(),
        no_default_plugin_dirs: false,
        verbose: false,
    };
    let mut items = raw.iter();
    while let Some(item) = items.next() {
        let Some(text) = item.to_str() else { continue };
        if text == "--" {
            break;
        }
        match text {
            "--plugin-dir" => flags.plugin_dirs.extend(items.next().map(PathBuf::from)),
            "--no-default-plugin-dirs" => flags.no_default_plugin_dirs = true,
            "--verbose" | "-v" => flags.verbose = true,
            _ => {
                if let Some(dir) = text.strip_prefix("--plugin-dir=") {
                    flags.plugin_dirs.push(PathBuf::from(dir));
                }
            }
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::RUNNER_FLAG_NAMES;

    #[test]
    fn every_runner_flag_is_reserved_for_plugins() {
        for arg in base_command().get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    RUNNER_FLAG_NAMES.contains(&long),
                    "`--{long}` is missing from RUNNER_FLAG_NAMES"
                );
            }
        }
    }

    #[test]
    fn flags_refused_with_resume_are_runner_flags() {
        let ids: Vec<String> = base_command()
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        for id in RESUME_REFUSED_FLAGS {
            assert!(
                ids.iter().any(|known| known == id),
                "`{id}` is not a runner flag id"
            );
        }
    }

    #[test]
    fn scans_plugin_dir_flags_in_both_spellings() {
        let raw: Vec<OsString> = [
            "--runs",
            "3",
            "--plugin-dir",
            "a",
            "--plugin-dir=b",
            "--no-default-plugin-dirs",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let flags = scan_plugin_dir_flags(&raw);
        assert_eq!(
            flags.plugin_dirs,
            vec![PathBuf::from("a"), PathBuf::from("b")]
        );
        assert!(flags.no_default_plugin_dirs);
    }
}

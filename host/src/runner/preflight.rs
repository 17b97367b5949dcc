//! Preflight (DESIGN §4 step 6): every check that can fail a run before a cent is spent. Each
//! run's config is parsed and its plan compiled (stage ids, stage configs, IO contracts), each
//! distinct data file is read once, and every `openai` backend's key variable must be set.
//! Results are per run, so the full plan can say which runs fail and why; the compiled plans'
//! metadata is kept once per distinct value (runs of one variant share it).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::artifacts::formats::{ErrorRecord, PreflightRecord};
use crate::backends::EnvLookup;
use crate::config::Provider;
use crate::config::{parse_run_config, RunConfig};
use std::sync::Arc;

use crate::errors::error_chain;
use crate::generation::{compile_run, run_data, DataTables};
use crate::stages::Registry;

use super::{PlanBase, PreparedRun, RunnerError};
use crate::artifacts::layout::ExperimentLayout;
use crate::artifacts::LogFile;
use plugin_api::LogLevel;

/// One run's preflight result.
#[derive(Debug, Clone, PartialEq)]
pub enum Preflight {
    /// Passed: the index of the compiled plan's `prompt_pipeline` metadata in
    /// [`PreflightReport::prompt_pipelines`].
    Passed { prompt_pipeline: usize },
    /// What failed: `{type, message}`.
    Failed { kind: &'static str, message: String },
}

impl Preflight {
    /// This result as the run's entry in the full plan records it.
    pub fn record(&self) -> PreflightRecord {
        match self {
            Preflight::Passed { prompt_pipeline } => {
                PreflightRecord::PromptPipeline(*prompt_pipeline)
            }
            Preflight::Failed { kind, message } => PreflightRecord::ConfigError(ErrorRecord {
                kind: (*kind).to_owned(),
                message: message.clone(),
            }),
        }
    }
}

/// Every run's result, in plan order, and the distinct metadata of the plans that compiled.
#[derive(Debug, Default)]
pub struct PreflightReport {
    pub verdicts: Vec<Preflight>,
    pub prompt_pipelines: Vec<Value>,
}

/// Checks every run. Runs that share their overlay (and base) differ only in their seed and
/// labels, which no check reads (seeds drive generators at run time, not compilation), so each
/// distinct overlay is checked once and its verdict holds for its runs: a plan of 200,000 runs
/// of two variants compiles twice.
/// `registry` holds the stage kinds the runs' plans may name (the experiment's).
pub fn check(
    runs: &[PreparedRun],
    cwd: &Path,
    env: EnvLookup<'_>,
    registry: &Registry,
) -> PreflightReport {
    let mut tables = BTreeMap::new();
    let mut report = PreflightReport::default();
    let mut known: HashMap<String, usize> = HashMap::new();
    let mut by_overlay: HashMap<(*const PlanBase, *const Value), Preflight> = HashMap::new();
    for run in runs {
        let key = (Arc::as_ptr(&run.base), Arc::as_ptr(&run.overlay));
        if let Some(verdict) = by_overlay.get(&key) {
            report.verdicts.push(verdict.clone());
            continue;
        }
        let verdict = match check_run(run, cwd, env, registry, &mut tables) {
            Ok(metadata) => {
                let next = known.len();
                let index = *known.entry(metadata.to_string()).or_insert(next);
                if index == report.prompt_pipelines.len() {
                    report.prompt_pipelines.push(metadata);
                }
                Preflight::Passed {
                    prompt_pipeline: index,
                }
            }
            Err((kind, message)) => Preflight::Failed { kind, message },
        };
        by_overlay.insert(key, verdict.clone());
        report.verdicts.push(verdict);
    }
    report
}

fn check_run(
    run: &PreparedRun,
    cwd: &Path,
    env: EnvLookup<'_>,
    registry: &Registry,
    tables: &mut BTreeMap<(String, String), Result<DataTables, String>>,
) -> Result<Value, (&'static str, String)> {
    let config = run.config().map_err(|clash| {
        (
            "config",
            format!("the run's config does not merge: {clash}"),
        )
    })?;
    let config = parse_run_config(&config).map_err(|error| ("config", error_chain(&error)))?;
    let seed = run.planned.seed.unwrap_or_default();
    // Each distinct pair of data files is read and parsed once, however many runs use it.
    let key = (
        config.prompt.categories_path.clone(),
        config.prompt.profile_path.clone(),
    );
    let loaded = tables
        .entry(key)
        .or_insert_with(|| DataTables::load(&config, cwd));
    let loaded = loaded
        .as_ref()
        .map_err(|message| ("data", message.clone()))?;
    let (data, _) =
        run_data(&config, loaded, seed, cwd, Vec::new()).map_err(|message| ("context", message))?;
    let compiled = compile_run(&config, seed, Arc::new(data), registry)
        .map_err(|error| ("compile", error.to_string()))?;
    check_keys(&config, env).map_err(|message| ("backend", message))?;
    Ok(compiled.metadata)
}

/// Every `openai` backend needs its key variable set (the message names it, never a value).
fn check_keys(config: &RunConfig, env: EnvLookup<'_>) -> Result<(), String> {
    let text = &config.backend.text;
    let image = &config.backend.image;
    let needed = [
        (
            text.provider,
            text.api_key_env.as_str(),
            "backend.text.api_key_env",
        ),
        (
            image.provider,
            image.api_key_env.as_deref().unwrap_or(&text.api_key_env),
            if image.api_key_env.is_some() {
                "backend.image.api_key_env"
            } else {
                "backend.text.api_key_env"
            },
        ),
    ];
    for (provider, var, key) in needed {
        if provider == Provider::Openai && env(var).is_none_or(|value| value.trim().is_empty()) {
            return Err(format!(
                "the environment variable `{var}` named by `{key}` is not set"
            ));
        }
    }
    Ok(())
}

/// Fails with every run's preflight error, if any run failed preflight: one line per distinct
/// error, with how many runs it hit and the first of them.
pub(super) fn check_preflight(
    runs: &[PreparedRun],
    verdicts: &[Preflight],
    log: &LogFile,
    output_root: &Path,
) -> Result<(), RunnerError> {
    const SHOWN_IDS: usize = 3;
    let mut groups: Vec<((&str, &str), Vec<&str>)> = Vec::new();
    let mut failed = 0;
    for (run, verdict) in runs.iter().zip(verdicts) {
        let Preflight::Failed { kind, message } = verdict else {
            continue;
        };
        failed += 1;
        let key = (*kind, message.as_str());
        match groups.iter_mut().find(|(known, _)| *known == key) {
            Some((_, ids)) => ids.push(&run.generation_id),
            None => groups.push((key, vec![&run.generation_id])),
        }
    }
    if groups.is_empty() {
        log.record(LogLevel::Info, "preflight passed for every planned run")?;
        return Ok(());
    }
    let details = groups
        .iter()
        .map(|((kind, message), ids)| {
            let mut shown = ids[..ids.len().min(SHOWN_IDS)].join(", ");
            if ids.len() > SHOWN_IDS {
                shown.push_str(", ...");
            }
            let runs = if ids.len() == 1 { "run" } else { "runs" };
            format!(
                "  {} {runs} ({shown}), {kind}: {}",
                ids.len(),
                message.replace('\n', "\n    ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    log.record(
        LogLevel::Error,
        &format!("preflight failed for {failed} planned runs:\n{details}"),
    )?;
    Err(RunnerError::Preflight {
        failed,
        total: runs.len(),
        details,
        plan_full: ExperimentLayout::new(output_root).plan_full(),
    })
}

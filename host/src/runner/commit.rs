//! Planning a new experiment and committing its plan (DESIGN §4 steps 1–7): the config and the
//! runner's table, the id and output directory, the standard overrides, the plugin's plan read
//! run by run, preflight, then the directory claimed and `experiment.log`, `pairs.json` and the
//! two plan files committed (`artifacts::plan_files`), and every preflight failure reported.
//! It does not own the plan's validation (`plan`), the checks (`preflight`) nor the formats
//! (`artifacts`).

use std::borrow::Cow;
use std::sync::Arc;

use plugin_api::{LogLevel, PlanRequest};
use serde_json::{json, Map, Value};

use super::services::HostServices;
use crate::artifacts::formats::FullPlanRunEntry;
use crate::artifacts::layout::ExperimentLayout;
use crate::artifacts::plan_files::{
    commit_plan_files, FullPlanDocument, PlanDocument, PlanHeader, PluginRecord, RunnerFlags,
    RunnerRecord, PLAN_FULL_SCHEMA,
};
use crate::artifacts::{LogFile, Rows};
use crate::clock::Timestamp;
use crate::config;
use crate::plugins::LoadedExperiment;

use super::context::PlanAbout;
use super::location::{claim_location, settle_location};
use super::overrides::{file_limit, owned_overrides, standard_overrides};
use super::preflight::check_preflight;
use super::{
    describe_counts, pairs, plan, preflight, results, runs_per_variant, PlanBase, Planned,
    RunOptions, RunnerError,
};

/// Plans a new experiment and commits its plan files (steps 1–7).
pub(super) fn plan_new(
    experiment: &LoadedExperiment,
    options: &RunOptions,
) -> Result<Planned, RunnerError> {
    let started = Timestamp::now();
    let name = experiment.name();

    // 1. Config.
    let loaded = config::load(&options.config)?;
    if !options.dry_run {
        crate::backends::tokens::start_loading(&loaded.tree);
    }
    let mut base_config = loaded.tree;
    let mut runners = config::take_experiment_runners(&mut base_config)?;
    let runner_config = match runners.remove(name) {
        Some(Value::Object(table)) => table,
        _ => Map::new(),
    };
    config::check_runner_keys(name, &runner_config, &experiment.descriptor.runner_keys)?;

    // 3. Id, output directory (not created yet), base seed.
    let run_mode = options
        .run_mode
        .unwrap_or(experiment.descriptor.default_run_mode);
    let location = settle_location(name, options, &started)?;
    let output_root = location.output_root.clone();
    let experiment_id = location.experiment_id.clone();
    let base_seed = options.seed.unwrap_or_else(crate::clock::fresh_seed);
    // Kept in memory until the directory is ours (step 7).
    let layout = ExperimentLayout::new(&output_root);
    let log = Arc::new(LogFile::pending(&layout.log()));
    log.record(
        LogLevel::Info,
        &format!("experiment `{name}` id `{experiment_id}`"),
    )?;
    log.record(
        LogLevel::Info,
        &format!("output root `{}`", output_root.display()),
    )?;
    log.record(
        LogLevel::Info,
        &format!("base seed {base_seed}; run mode {run_mode}"),
    )?;
    log.record(
        LogLevel::Info,
        &format!(
            "config: {}",
            serde_json::to_string(&loaded.meta).unwrap_or_default()
        ),
    )?;
    if !runner_config.is_empty() {
        log.record(
            LogLevel::Info,
            &format!(
                "runner config `experiment_runners.{name}` ({} keys)",
                runner_config.len()
            ),
        )?;
    }

    // 4. Standard overrides.
    let overrides = standard_overrides(run_mode, &output_root, &experiment_id, &started);
    plugin_api::merge::deep_merge(&mut base_config, &overrides)
        .map_err(RunnerError::StandardOverrides)?;

    // 5. Plan.
    let services = HostServices::with_log(options.cwd.clone(), Arc::clone(&log))
        .with_file_limit(file_limit(&base_config));
    let request = PlanRequest {
        base_config: base_config.clone(),
        runner_config,
        args: options.args.clone(),
        run_mode,
        experiment_id: experiment_id.clone(),
        base_seed,
    };
    let base = Arc::new(PlanBase {
        config: base_config,
        owned: owned_overrides(&overrides),
        resume_overlay: Value::Object(Map::new()),
    });
    // The runs are prepared as the plugin's answer is read, never all held as JSON values.
    let mut preparer = plan::RunPreparer::new(name, &experiment_id, Arc::clone(&base));
    let mut invalid = None;
    let answer = experiment
        .library
        .plan_each(&request, &services, &mut |run| match preparer.add(run) {
            Ok(()) => true,
            Err(error) => {
                invalid = Some(error);
                false
            }
        });
    drop(request);
    if let Some(error) = invalid {
        return Err(error.into());
    }
    let plan = answer.map_err(|source| RunnerError::PluginCall {
        experiment: name.to_owned(),
        library: experiment.path.clone(),
        source,
    })?;
    let runs = preparer.finish()?;
    let pairs = match &plan.pairing {
        Some(pairing) => Some(pairs(name, pairing, &runs)?),
        None => None,
    };
    let runs_per_variant = runs_per_variant(&runs);

    // 6. Preflight.
    let env = |name: &str| std::env::var(name).ok();
    let preflight = preflight::check(&runs, &options.cwd, &env, &experiment.stage_registry());
    log.record(
        LogLevel::Info,
        &format!(
            "planned {} runs: {}",
            runs.len(),
            describe_counts(&runs_per_variant)
        ),
    )?;

    // 7. The directory, its lock, then the plan files.
    let lock = claim_location(&location)?;
    log.attach()?;
    let jobs = options.jobs.or_else(|| {
        base.config
            .pointer("/backend/text/max_concurrency")
            .and_then(Value::as_u64)
    });
    let header = PlanHeader {
        generated_at: Timestamp::now().iso().to_owned(),
        base_seed,
        experiment_name: name.to_owned(),
        experiment_id: experiment_id.clone(),
        output_root: output_root.display().to_string(),
        run_mode: run_mode.to_string(),
        config_meta: serde_json::to_value(&loaded.meta).unwrap_or(Value::Null),
        plugin: PluginRecord {
            name: name.to_owned(),
            summary: experiment.descriptor.summary.clone(),
            library: experiment.path.display().to_string(),
            interface_version: experiment.library.interface_version().to_owned(),
        },
        runner: RunnerRecord {
            standard_overrides: overrides,
            flags: RunnerFlags {
                dry_run: options.dry_run,
                resume: false,
                continue_on_error: options.continue_on_error,
                jobs,
            },
        },
        experiment_args: options.args.clone(),
        experiment_meta: plan.meta.clone(),
        pairing: plan.pairing.clone(),
    };
    let summary = PlanDocument {
        schema_version: 1,
        kind: "experiment_plan",
        header: &header,
        planned_runs: Rows(&runs, plan::planned_run_entry),
    };
    // Each distinct overlay once; runs refer to theirs by index.
    let mut overlays: Vec<&Value> = Vec::new();
    let mut overlay_index: std::collections::HashMap<*const Value, usize> =
        std::collections::HashMap::new();
    let full_entries: Vec<(&str, usize, &preflight::Preflight)> = runs
        .iter()
        .zip(&preflight.verdicts)
        .map(|(run, verdict)| {
            let index = *overlay_index
                .entry(Arc::as_ptr(&run.overlay))
                .or_insert_with(|| {
                    overlays.push(&run.overlay);
                    overlays.len() - 1
                });
            (run.generation_id.as_str(), index, verdict)
        })
        .collect();
    let full = FullPlanDocument {
        schema_version: PLAN_FULL_SCHEMA,
        kind: "experiment_plan_full",
        header: &header,
        generation_defaults: generation_defaults(&base.config),
        base_config: &base.config,
        overlays: &overlays,
        prompt_pipelines: &preflight.prompt_pipelines,
        planned_runs_full: Rows(&full_entries, full_plan_entry),
    };
    let pairs_document = pairs
        .as_ref()
        .map(|pairs| results::pairs_document(&experiment_id, run_mode.as_str(), pairs, |_| None));
    commit_plan_files(&output_root, &summary, &full, pairs_document.as_ref())?;
    drop(full_entries);
    let mut files = vec![layout.log(), layout.plan(), layout.plan_full()];
    if pairs.is_some() {
        files.push(layout.pairs());
    }
    check_preflight(&runs, &preflight.verdicts, &log, &output_root)?;
    Ok(Planned {
        experiment_id,
        output_root,
        base_seed,
        run_mode,
        runs,
        pairs,
        about: PlanAbout {
            experiment_name: name.to_owned(),
            args: header.experiment_args,
            experiment_meta: header.experiment_meta,
            pairing: header.pairing,
        },
        log,
        files,
        config_changes: Vec::new(),
        context: Default::default(),
        _lock: lock,
    })
}

/// A run's entry in the full plan, from its generation id, overlay index and preflight result.
fn full_plan_entry<'a>(
    (generation_id, overlay, verdict): &'a (&str, usize, &preflight::Preflight),
) -> FullPlanRunEntry<'a> {
    FullPlanRunEntry {
        generation_id: Cow::Borrowed(generation_id),
        overlay: *overlay,
        preflight: verdict.record(),
    }
}

/// `generation_defaults` of the full plan: the models and image settings runs will use.
fn generation_defaults(config: &Value) -> Value {
    let get = |pointer: &str| config.pointer(pointer).cloned().unwrap_or(Value::Null);
    json!({
        "text_provider": get("/backend/text/provider"),
        "text_model": get("/backend/text/model"),
        "text_reasoning_effort": get("/backend/text/reasoning_effort"),
        "image_provider": get("/backend/image/provider"),
        "image_model": get("/backend/image/model"),
        "image_size": get("/backend/image/size"),
        "image_quality": get("/backend/image/quality"),
        "image_moderation": get("/backend/image/moderation"),
    })
}

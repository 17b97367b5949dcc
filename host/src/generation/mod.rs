//! One pipeline run (a "generation"): a config in; staged model calls; a final prompt, and in full
//! mode a title and an image, out; every step recorded. `generate` runs one; the experiment runner
//! runs many. The phases, each named in a failed run's error:
//! 1. `data_load`: read the categories and profile files (and the novelty history);
//! 2. `context_injection`: the season and holiday guidance, when `context.enabled`;
//! 3. `pipeline`: compile the plan and execute it;
//! 4. `capture`: the capture stage's answer becomes the final prompt;
//! 5. `image_pipeline` (full mode): title, image, titles manifest;
//! 6. `records` (full mode): the generations CSV.
//!
//! Before any phase, the config is parsed and the backends built: a bad config or a missing key
//! variable is an error of the command (exit 2), not a failed run.
//!
//! Whatever happens after the config parsed, the run writes its transcript and one
//! `runs_index.jsonl` line, with `error {type, message, phase, step}` when it failed.

#[cfg(test)]
mod alternate_roles_tests;
mod title;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_api::hash::short_hex;
use plugin_api::{LogLevel, RunError, RunMode, RunStatus};
use serde_json::{json, Map, Value};

use crate::artifacts::formats::{
    ExperimentLabels, GenerationsRow, PromptSeen, RunArtifacts, RunsIndexLine, TitleSeen,
    TitlesManifestRow, GENERATIONS_HEADER, TITLES_HEADER,
};
use crate::artifacts::layout::{is_safe_id, RunFiles};
use crate::artifacts::run_files::{append_json_line, append_row, read_rows, FileLock};
use crate::artifacts::{self, ArtifactError, LogFile};
use crate::backends::{
    self, BackendError, EnvLookup, ImageBackend, ImageCall, Notices, TextBackend,
};
use crate::clock::{fresh_seed, Timestamp};
use crate::config::{parse_run_config, ConfigError, RunConfig};
use crate::cost::{Cost, Prices, RunUsage};
use crate::data::profile::{parse_profile, Profile};
use crate::errors::error_chain;
use crate::pipeline::{self, RunState};
use crate::stages::{
    self, keys, CompileError, CompiledPipeline, PipelineInputs, Registry, RunData,
};
use plugin_api::concepts::CategoriesTable;

pub use title::{check_title, generate_title, make_unique, TitleOutcome};

/// The text and image backends of a run; shared by all runs of an experiment so one
/// concurrency bound covers every worker.
#[derive(Clone)]
pub struct Backends {
    pub text: Arc<dyn TextBackend>,
    pub image: Arc<dyn ImageBackend>,
}

impl Backends {
    /// Builds both backends (opening the response cache `[cache]` names, its path resolved
    /// against `cwd`); a missing key variable or an unusable cache file is an error here,
    /// before any call. Their rate adjustments are not reported
    /// ([`Backends::from_config_with_notices`]).
    pub fn from_config(
        config: &RunConfig,
        env: EnvLookup<'_>,
        cwd: &Path,
    ) -> Result<Backends, BackendError> {
        Backends::from_config_with_notices(config, env, cwd, &Notices::none())
    }

    /// [`Backends::from_config`], with both backends reporting each rate adjustment (a 429
    /// lowering the concurrency, a pause the provider asked for) to `notices`, one line each.
    pub fn from_config_with_notices(
        config: &RunConfig,
        env: EnvLookup<'_>,
        cwd: &Path,
        notices: &Notices,
    ) -> Result<Backends, BackendError> {
        let (text, image) = (&config.backend.text, &config.backend.image);
        let cache = Some((&config.cache, cwd));
        Ok(Backends {
            text: backends::text_backend_with_notices(text, env, notices.clone(), cache)?,
            image: backends::image_backend_with_notices(image, text, env, notices.clone(), cache)?,
        })
    }
}

/// What one run needs.
pub struct GenerationRequest<'a> {
    /// The run's merged config tree (without `experiment_runners`).
    pub config: &'a Value,
    /// Given by the experiment runner; `generate` makes `<UTC YYYYMMDD_HHMMSS>_<8 hex>`.
    pub generation_id: Option<String>,
    /// Relative paths in the config resolve against it.
    pub cwd: &'a Path,
    pub env: EnvLookup<'a>,
    /// Shared backends; built from the config when `None`.
    pub backends: Option<&'a Backends>,
    /// The title sequence number and the titles to avoid, fixed by the experiment runner from
    /// plan order so that `--jobs` never changes them; `None` reads them from the manifest.
    pub title_slot: Option<TitleSlot>,
    /// The novelty window's history, snapshot by the experiment runner when the experiment
    /// starts; `None` reads the run's generations CSV.
    pub recent_prompts: Option<Vec<String>>,
    /// The stage kinds the plan may name: the built-in ones, and an experiment's declared ones.
    pub stages: &'a Registry,
}

/// A full-mode run's place in its titles manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleSlot {
    pub seq: u64,
    pub avoid: Vec<String>,
}

/// How a run ended (it wrote its transcript and index line either way).
#[derive(Debug, Clone)]
pub struct GenerationOutcome {
    pub generation_id: String,
    pub seed: u64,
    pub status: RunStatus,
    pub run_mode: RunMode,
    pub final_prompt: Option<String>,
    pub image_path: Option<PathBuf>,
    /// Captured outputs, `prompt_pipeline` and `pipeline_stats` included.
    pub outputs: Map<String, Value>,
    pub error: Option<RunError>,
    pub transcript_path: PathBuf,
    /// What the run's model calls used (the calls before a failure included).
    pub usage: RunUsage,
    /// What they cost at the config's prices (`[pricing]` over the built-in table).
    pub cost: Cost,
    /// What the calls answered from the response cache would have cost at those prices.
    pub saved_cost: Cost,
}

/// A run that could not start (bad config) or could not record itself (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid generation id `{0}` (expected letters, digits, `_`, `.` and `-`)")]
    InvalidId(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("failed to record the run")]
    Record(#[from] ArtifactError),
    #[error("the command-line overrides clash with the config")]
    Overrides(#[source] plugin_api::merge::MergeError),
}

/// Compiles a run config's plan: what `generate` executes and what preflight checks.
/// `registry` holds the stage kinds the plan may name.
pub fn compile_run(
    config: &RunConfig,
    seed: u64,
    data: Arc<RunData>,
    registry: &Registry,
) -> Result<CompiledPipeline, CompileError> {
    let initial_outputs = keys::RUN_WRITTEN
        .iter()
        .filter(|&&key| key != keys::CONTEXT_GUIDANCE || !data.prompt_context.is_empty())
        .map(|&key| key.to_owned())
        .collect();
    let inputs = PipelineInputs {
        plan: &config.prompt.plan,
        stages: &config.prompt.stages,
        output: &config.prompt.output,
        stage_configs: &config.prompt.stage_configs,
        seed,
        initial_outputs,
        data,
    };
    stages::compile(&inputs, registry)
}

/// The parsed data tables of a run: what `prompt.categories_path` and `prompt.profile_path` hold.
#[derive(Debug, Clone)]
pub struct DataTables {
    pub categories: CategoriesTable,
    pub profile: Profile,
}

impl DataTables {
    /// Reads and parses both files; errors name the file.
    pub fn load(config: &RunConfig, cwd: &Path) -> Result<DataTables, String> {
        let categories_ref = &config.prompt.categories_path;
        let categories =
            crate::data::read_nonempty_with_limit(categories_ref, cwd, config.data.max_file_bytes)
                .map_err(|e| e.to_string())?;
        let categories = CategoriesTable::from_csv(&categories)
            .map_err(|e| format!("`{categories_ref}` (`prompt.categories_path`): {e}"))?;
        let profile_ref = &config.prompt.profile_path;
        let profile =
            crate::data::read_nonempty_with_limit(profile_ref, cwd, config.data.max_file_bytes)
                .map_err(|e| e.to_string())?;
        let profile = parse_profile(&profile)
            .map_err(|e| format!("`{profile_ref}` (`prompt.profile_path`): {e}"))?;
        Ok(DataTables {
            categories,
            profile,
        })
    }
}

/// A run's data and context, from its tables: what the stages see before the first step.
pub fn run_data(
    config: &RunConfig,
    tables: &DataTables,
    seed: u64,
    cwd: &Path,
    recent_prompts: Vec<String>,
) -> Result<(RunData, Option<crate::context::RunContext>), String> {
    let dislikes = tables.profile.dislikes();
    let context = if config.context.enabled {
        let today = config
            .context
            .today
            .clone()
            .unwrap_or_else(|| Timestamp::now().date().to_owned());
        Some(
            crate::context::build_context(&config.context, seed, &today, &dislikes)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let prompt_context = match &context {
        Some(context)
            if crate::context::location_includes_prompt(config.context.injection_location) =>
        {
            context.guidance.clone()
        }
        _ => String::new(),
    };
    let data = RunData {
        categories: Some(tables.categories.clone()),
        preferences_guidance: tables.profile.preferences_guidance(),
        dislikes,
        prompt_context,
        recent_prompts,
        cwd: cwd.to_owned(),
        max_file_bytes: config.data.max_file_bytes,
    };
    Ok((data, context))
}

/// The final prompts of the last runs recorded in a generations CSV (empty when there is none).
pub fn recent_prompts(generations_csv: &Path) -> Result<Vec<String>, String> {
    let rows: Vec<PromptSeen> =
        read_rows(generations_csv, &GENERATIONS_HEADER).map_err(|e| error_chain(&e))?;
    Ok(rows.into_iter().map(|row| row.final_image_prompt).collect())
}

/// A failure inside a phase.
struct PhaseError {
    phase: &'static str,
    kind: &'static str,
    message: String,
    step: Option<String>,
}

impl PhaseError {
    fn new(phase: &'static str, kind: &'static str, message: impl ToString) -> PhaseError {
        PhaseError {
            phase,
            kind,
            message: message.to_string(),
            step: None,
        }
    }
}

/// Where one run's files go: its own files (named by `artifacts::layout`) in the directories its
/// config names, and the shared CSVs it appends to.
struct RunPaths {
    files: RunFiles,
    titles_manifest: PathBuf,
    generations: PathBuf,
}

impl RunPaths {
    fn new(config: &RunConfig, cwd: &Path, id: &str) -> RunPaths {
        let log_dir = cwd.join(&config.image.log_path);
        let generation_dir = cwd.join(&config.image.generation_path);
        RunPaths {
            files: RunFiles::new(&log_dir, &generation_dir, id),
            titles_manifest: cwd.join(&config.prompt.titles_manifest_path),
            generations: cwd.join(&config.prompt.generations_path),
        }
    }
}

/// What the phases produced, for the transcript.
#[derive(Default)]
struct RunRecord {
    state: RunState,
    prompt_pipeline: Value,
    final_prompt: Option<String>,
    title: Option<TitleOutcome>,
    image_written: bool,
    backends: Value,
    /// The image call, for the transcript's `image_generation`.
    image_call: Option<ImageCallRecord>,
}

/// One image call as the transcript records it.
#[derive(Debug, Clone, serde::Serialize)]
struct ImageCallRecord {
    provider: &'static str,
    model: String,
    size: String,
    quality: String,
    /// The images API's `usage` as it came; null when absent (and offline).
    usage: Option<Value>,
    /// What the response cache did (absent when the call went through none).
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<backends::CacheStatus>,
}

impl RunRecord {
    /// What the run's model calls used: the pipeline's chat steps, the title calls, the image.
    fn usage(&self) -> RunUsage {
        let mut usage = pipeline::usage_of(&self.state.steps);
        usage.add_sequential(self.state.sequential_calls);
        if let Some(title) = &self.title {
            usage.merge(&title.usage());
        }
        if let Some(image) = &self.image_call {
            if image.cache == Some(backends::CacheStatus::Hit) {
                usage.add_saved_image(&image.model, &image.size, &image.quality);
            } else {
                usage.add_image(&image.model, &image.size, &image.quality);
            }
        }
        usage
    }
}

/// Executes one run and records it.
pub fn run_generation(
    request: &GenerationRequest<'_>,
) -> Result<GenerationOutcome, GenerationError> {
    let config = parse_run_config(request.config)?;
    let started = Timestamp::now();
    let seed = config.prompt.random_seed.unwrap_or_else(fresh_seed);
    let generation_id = match &request.generation_id {
        Some(id) if is_safe_id(id) => id.clone(),
        Some(id) => return Err(GenerationError::InvalidId(id.clone())),
        None => {
            let nonce = fresh_seed().to_string();
            format!(
                "{}_{}",
                started.compact(),
                short_hex(&[started.iso(), &seed.to_string(), &nonce])
            )
        }
    };
    // Backends before anything is written: a missing key variable is a config error, not a run.
    let built;
    let backends = match request.backends {
        Some(shared) => shared,
        None => {
            built = Backends::from_config(&config, request.env, request.cwd)?;
            &built
        }
    };
    let paths = RunPaths::new(&config, request.cwd, &generation_id);
    let oplog = LogFile::open(&paths.files.oplog)?;
    let log = |message: &str| {
        // The oplog is informational; failing to append must not fail the run.
        let _ = oplog.record(LogLevel::Info, message);
    };
    log(&format!(
        "generation `{generation_id}` seed {seed} mode {}",
        config.run.mode
    ));

    let mut record = RunRecord {
        state: RunState {
            generation_id: generation_id.clone(),
            seed,
            ..RunState::default()
        },
        ..RunRecord::default()
    };
    record
        .state
        .outputs
        .insert(keys::PROMPT_INPUTS.into(), prompt_inputs(&config));
    let result = run_phases(&config, request, backends, &paths, &mut record, &log);
    let error = result.err().map(|failure| {
        log(&format!(
            "run failed in phase {}: {}",
            failure.phase, failure.message
        ));
        RunError {
            kind: failure.kind.to_owned(),
            message: failure.message,
            phase: Some(failure.phase.to_owned()),
            step: failure.step,
        }
    });
    let status = if error.is_none() {
        RunStatus::Success
    } else {
        RunStatus::Error
    };

    let transcript = transcript(
        &config,
        &record,
        &generation_id,
        seed,
        &started,
        &paths,
        error.as_ref(),
    );
    artifacts::write_json_deferred(&paths.files.transcript, &transcript)?;
    let usage = record.usage();
    let prices = Prices::new(&config.pricing);
    let cost = usage.cost(&prices);
    let saved = usage.saved_cost(&prices);
    let phase = error
        .as_ref()
        .and_then(|e| e.phase.as_deref())
        .unwrap_or("complete");
    let index_line = RunsIndexLine {
        schema_version: 1,
        generation_id: &generation_id,
        created_at: started.iso(),
        seed,
        status,
        phase,
        run_mode: config.run.mode,
        experiment: experiment_labels(&config),
        prompt_pipeline: &record.prompt_pipeline,
        artifacts: RunArtifacts {
            transcript: &paths.files.transcript,
            oplog: &paths.files.oplog,
            final_prompt: record
                .final_prompt
                .as_ref()
                .map(|_| paths.files.final_prompt.as_path()),
            image: record.image_written.then_some(paths.files.image.as_path()),
        },
        error: error.as_ref(),
        usage: usage.totals(),
        cost_usd: cost.usd,
        saved_cost_usd: saved.usd,
    };
    append_json_line(&paths.files.runs_index, &index_line)?;
    log(&format!(
        "run {}",
        if error.is_none() {
            "complete"
        } else {
            "failed"
        }
    ));
    // Flushed per line while the run went; synced once now that it is over, with the directory
    // entries of the files the run wrote atomically.
    let _ = oplog.sync();
    for dir in [paths.files.transcript.parent(), paths.files.image.parent()]
        .into_iter()
        .flatten()
    {
        artifacts::sync_dir(dir);
    }

    // What the run's steps cost, for the plugin's analysis: the transcript holds the steps, but
    // the plugin only receives this outcome (so the transcript's outputs do not repeat it).
    let pipeline_stats = record.state.pipeline_stats();
    let mut outputs = record.state.outputs;
    outputs.insert("prompt_pipeline".into(), record.prompt_pipeline);
    outputs.insert(plugin_api::PIPELINE_STATS_OUTPUT.into(), pipeline_stats);
    Ok(GenerationOutcome {
        generation_id,
        seed,
        status,
        run_mode: config.run.mode,
        final_prompt: record.final_prompt,
        image_path: record.image_written.then_some(paths.files.image),
        outputs,
        error,
        transcript_path: paths.files.transcript,
        usage,
        cost,
        saved_cost: saved,
    })
}

fn run_phases(
    config: &RunConfig,
    request: &GenerationRequest<'_>,
    backends: &Backends,
    paths: &RunPaths,
    record: &mut RunRecord,
    log: &(dyn Fn(&str) + Sync),
) -> Result<(), PhaseError> {
    // 1. Data and context.
    let data_error = |message: String| PhaseError::new("data_load", "data", message);
    let tables = DataTables::load(config, request.cwd).map_err(data_error)?;
    let history = match &request.recent_prompts {
        Some(snapshot) => snapshot.clone(),
        None => recent_prompts(&paths.generations).map_err(data_error)?,
    };
    let (data, context) = run_data(config, &tables, record.state.seed, request.cwd, history)
        .map_err(|message| PhaseError::new("context_injection", "context", message))?;
    let outputs = &mut record.state.outputs;
    outputs.insert(
        keys::PREFERENCES_GUIDANCE.into(),
        json!(data.preferences_guidance),
    );
    outputs.insert(keys::DISLIKES.into(), json!(data.dislikes));
    let mut system_prompt = pipeline::SYSTEM_PROMPT.trim_end().to_owned();
    if let Some(context) = &context {
        if !context.guidance.is_empty() {
            outputs.insert(keys::CONTEXT_GUIDANCE.into(), json!(context.guidance));
            if crate::context::location_includes_system(config.context.injection_location) {
                system_prompt.push_str("\n\n");
                system_prompt.push_str(&context.guidance);
            }
        }
        outputs.insert("context".into(), context.metadata.clone());
    }
    let data = Arc::new(data);

    record.backends = json!({
        "text": {"provider": backends.text.provider(), "model": backends.text.model()},
        "image": {"provider": backends.image.provider(), "model": backends.image.model()},
    });

    // 2. Pipeline.
    let compiled = compile_run(config, record.state.seed, data, request.stages)
        .map_err(|e| PhaseError::new("pipeline", "compile", e))?;
    record.prompt_pipeline = compiled.metadata.clone();
    log(&format!(
        "plan `{}` stages [{}] capture `{}`",
        config.prompt.plan,
        compiled.resolved_stages.join(", "),
        compiled.capture_stage
    ));
    pipeline::execute(
        &compiled.root,
        &mut record.state,
        backends.text.as_ref(),
        &system_prompt,
        log,
    )
    .map_err(|e| PhaseError {
        phase: "pipeline",
        kind: "step",
        step: Some(e.path.clone()),
        message: e.to_string(),
    })?;

    // 3. Capture.
    let final_prompt = match record.state.outputs.get(keys::IMAGE_PROMPT) {
        Some(Value::String(text)) if !text.trim().is_empty() => text.trim_end().to_owned(),
        _ => {
            return Err(PhaseError::new(
                "capture",
                "capture",
                "the pipeline did not produce the required output `image_prompt`",
            ))
        }
    };
    artifacts::write_atomic_deferred(
        &paths.files.final_prompt,
        format!("{final_prompt}\n").as_bytes(),
    )
    .map_err(|e| PhaseError::new("capture", "io", error_chain(&e)))?;
    record.final_prompt = Some(final_prompt.clone());
    if config.run.mode == RunMode::PromptOnly {
        return Ok(());
    }

    // 4. Title and image. Without a slot given by the runner, the sequence number and the titles
    // to avoid come from the manifest, which stays locked until this run's row is in it. With a
    // slot, only the append is locked, so runs of an experiment never wait on each other's images.
    let image_error =
        |kind: &'static str, message: String| PhaseError::new("image_pipeline", kind, message);
    let manifest_lock = || {
        FileLock::acquire(&paths.titles_manifest).map_err(|e| image_error("io", error_chain(&e)))
    };
    let mut lock = None;
    let slot = match &request.title_slot {
        Some(slot) => slot.clone(),
        None => {
            lock = Some(manifest_lock()?);
            let rows: Vec<TitleSeen> = read_rows(&paths.titles_manifest, &TITLES_HEADER)
                .map_err(|e| image_error("io", error_chain(&e)))?;
            TitleSlot {
                seq: rows.iter().filter_map(|row| row.seq).max().unwrap_or(0) + 1,
                avoid: rows.into_iter().map(|row| row.title).collect(),
            }
        }
    };
    let seq = slot.seq;
    let title = generate_title(
        backends.text.as_ref(),
        &record.state.generation_id,
        &final_prompt,
        record.state.seed,
        &slot.avoid,
    )
    .map_err(|message| image_error("title", message))?;
    // Recorded now, so a failed image still counts what the title calls used.
    let (title_text, title_source, title_raw) = (
        title.title.clone(),
        title.title_source,
        title.title_raw.clone(),
    );
    record.title = Some(title);
    let image = backends
        .image
        .generate(&ImageCall {
            generation_id: &record.state.generation_id,
            prompt: &final_prompt,
            seed: record.state.seed,
        })
        .map_err(|e| image_error("backend", error_chain(&e)))?;
    let image_config = &config.backend.image;
    record.image_call = Some(ImageCallRecord {
        provider: image.provider,
        model: image.model.clone(),
        size: image_config.size.clone(),
        quality: image_config.quality.clone(),
        usage: image.usage.clone(),
        cache: image.cache,
    });
    artifacts::write_atomic_deferred(&paths.files.image, &image.png)
        .map_err(|e| image_error("io", error_chain(&e)))?;
    record.image_written = true;
    let created_at = Timestamp::now();
    if lock.is_none() {
        lock = Some(manifest_lock()?);
    }
    let image_path = paths.files.image.display().to_string();
    append_row(
        &paths.titles_manifest,
        &TITLES_HEADER,
        &TitlesManifestRow {
            seq,
            title: title_text,
            generation_id: record.state.generation_id.clone(),
            image_prompt: final_prompt.clone(),
            image_path: image_path.clone(),
            created_at: created_at.iso().to_owned(),
            model: image.model.clone(),
            size: image_config.size.clone(),
            quality: image_config.quality.clone(),
            seed: record.state.seed,
            title_source: title_source.to_owned(),
            title_raw,
        },
    )
    .map_err(|e| image_error("io", error_chain(&e)))?;

    // 5. Records.
    let concepts = record
        .state
        .outputs
        .get(keys::SELECTED_CONCEPTS)
        .cloned()
        .unwrap_or_else(|| json!([]));
    append_row(
        &paths.generations,
        &GENERATIONS_HEADER,
        &GenerationsRow {
            generation_id: record.state.generation_id.clone(),
            selected_concepts: concepts.to_string(),
            final_image_prompt: final_prompt,
            image_path,
            created_at: created_at.iso().to_owned(),
            seed: record.state.seed,
        },
    )
    .map_err(|e| PhaseError::new("records", "io", error_chain(&e)))?;
    // Both rows went in under the manifest lock.
    drop(lock);
    Ok(())
}

/// `prompt_inputs`: the data and history files the run was given.
fn prompt_inputs(config: &RunConfig) -> Value {
    json!({
        "categories_path": config.prompt.categories_path,
        "profile_path": config.prompt.profile_path,
        "generations_csv_path": config.prompt.generations_path,
        "titles_manifest_path": config.prompt.titles_manifest_path,
    })
}

/// `experiment {id, variant, notes, tags}`, or `None` (null) when none is set.
fn experiment_labels(config: &RunConfig) -> Option<ExperimentLabels<'_>> {
    let labels = &config.experiment;
    if labels.id.is_none()
        && labels.variant.is_none()
        && labels.notes.is_none()
        && labels.tags.is_empty()
    {
        return None;
    }
    Some(ExperimentLabels {
        id: labels.id.as_deref(),
        variant: labels.variant.as_deref(),
        notes: labels.notes.as_deref(),
        tags: &labels.tags,
    })
}

fn transcript(
    config: &RunConfig,
    record: &RunRecord,
    generation_id: &str,
    seed: u64,
    started: &Timestamp,
    paths: &RunPaths,
    error: Option<&RunError>,
) -> Value {
    let mut document = Map::new();
    document.insert("generation_id".into(), json!(generation_id));
    document.insert("seed".into(), json!(seed));
    document.insert(
        "selected_concepts".into(),
        record
            .state
            .outputs
            .get(keys::SELECTED_CONCEPTS)
            .cloned()
            .unwrap_or_else(|| json!([])),
    );
    document.insert("steps".into(), json!(record.state.steps));
    document.insert(
        "image_path".into(),
        json!(record.image_written.then_some(&paths.files.image)),
    );
    document.insert("created_at".into(), json!(started.iso()));
    document.insert("run_mode".into(), json!(config.run.mode));
    document.insert("prompt_inputs".into(), prompt_inputs(config));
    if let Some(labels) = experiment_labels(config) {
        document.insert("experiment".into(), json!(labels));
    }
    document.insert("final_image_prompt".into(), json!(record.final_prompt));
    if let Some(title) = &record.title {
        document.insert("title_generation".into(), json!(title));
    }
    if let Some(image) = &record.image_call {
        document.insert("image_generation".into(), json!(image));
    }
    document.insert("backends".into(), record.backends.clone());
    let mut outputs = record.state.outputs.clone();
    outputs.insert("prompt_pipeline".into(), record.prompt_pipeline.clone());
    document.insert("outputs".into(), Value::Object(outputs));
    if let Some(error) = error {
        document.insert("error".into(), json!(error));
    }
    Value::Object(document)
}

/// What `image-project generate` asks for.
pub struct GenerateOptions {
    pub config: crate::config::ConfigRequest,
    pub seed: Option<u64>,
    pub mode: Option<RunMode>,
}

/// `generate`: loads the config layers, applies `--seed`/`--mode`, pins `context.today` to
/// today's UTC date unless the config sets it, and runs once.
pub fn generate(options: &GenerateOptions) -> Result<GenerationOutcome, GenerationError> {
    let mut tree = crate::config::load(&options.config)?.tree;
    crate::backends::tokens::start_loading(&tree);
    crate::config::take_experiment_runners(&mut tree)?;
    let mut overlay = json!({});
    if let Some(seed) = options.seed {
        overlay["prompt"] = json!({"random_seed": seed});
    }
    if let Some(mode) = options.mode {
        overlay["run"] = json!({"mode": mode.as_str()});
    }
    if tree.pointer("/context/today").is_none() {
        overlay["context"] = json!({"today": Timestamp::now().date()});
    }
    plugin_api::merge::deep_merge(&mut tree, &overlay).map_err(GenerationError::Overrides)?;
    let env = |name: &str| std::env::var(name).ok();
    run_generation(&GenerationRequest {
        config: &tree,
        generation_id: None,
        cwd: &options.config.cwd,
        env: &env,
        backends: None,
        title_slot: None,
        recent_prompts: None,
        stages: &Registry::builtin(),
    })
}

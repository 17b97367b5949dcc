//! The host services a plugin may call from its hooks: `read_data` everywhere; `chat` inside the
//! `run` hook and the `analyze` hook of one run, where the runner has given the services the run's
//! context; `run_pipeline` in the `run` hook only, at most once per run (a second pipeline would
//! write a second runs-index line and rewrite the run's transcript).
//!
//! They belong to the runner because a run's services are the runner's state (its log, the keys it
//! owns, the run's backends and title slot). Finding and loading plugins is `plugins`' business;
//! at load time it is handed these services as a plain `ServiceProvider`.
//!
//! Every answered `chat` call is kept as a transcript step (path `plugin/<name>`): those of the
//! `run` hook go into the run's transcript ([`HostServices::write_run_calls`]), those of the
//! `analyze` hook into its result entry ([`HostServices::take_analysis_calls`]).
//!
//! The services added by name in 1.1 ([`ServiceProvider::call_service`]): `analysis_context`
//! and `write_artifact` in the `run` hook and both scopes of `analyze` (the context itself is
//! built by `context`, the files written by `artifacts::plugin_artifacts`), `run_transcript` in
//! the `analyze` hook of a run. Every artifact written is remembered once, in the order first
//! written, for the run's result entry or the summary ([`HostServices::take_plugin_artifacts`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use plugin_api::loader::{unknown_service, ServiceProvider};
use plugin_api::services::{
    WriteArtifactRequest, ANALYSIS_CONTEXT, RUN_TRANSCRIPT, WRITE_ARTIFACT,
};
use plugin_api::{ChatRequest, ChatResponse, LogLevel, ResponseFormat, RunOutcome};
use serde_json::{json, Map, Value};

use crate::artifacts::{plugin_artifacts, LogFile};
use crate::backends::{CacheStatus, ChatCall, Expect, ResponseShape};
use crate::clock::Timestamp;
use crate::cost::RunUsage;
use crate::errors::error_chain;
use crate::generation::{self, Backends, GenerationRequest, TitleSlot};
use crate::pipeline::StepRecord;
use crate::stages::Registry;

use super::context::ExperimentFacts;

/// The host's answers to plugin service calls, for one hook call (or, for a run, its `run` and
/// `analyze` hooks), borrowing the experiment it serves for `'a`.
pub struct HostServices<'a> {
    cwd: PathBuf,
    log: Option<Arc<LogFile>>,
    /// The hook these services serve (with `pipeline.phase` for a run's two hooks).
    hook: Hook,
    run: Option<RunContext>,
    /// The experiment around the hook, for `analysis_context` and `write_artifact`.
    experiment: Option<ExperimentFacts<'a>>,
    /// The artifacts written through `write_artifact`, each once, in the order first written.
    plugin_artifacts: Mutex<Vec<String>>,
    /// `data.max_file_bytes` of the experiment's config, for `read_data`.
    max_file_bytes: u64,
    /// What the model calls made through these services used (`run_pipeline` and `chat`), for
    /// the run's result entry.
    usage: Mutex<RunUsage>,
    /// Where the run is and whether its one pipeline has been used (`run_pipeline`'s rule).
    pipeline: Mutex<PipelineState>,
    /// The `chat` calls answered so far, as transcript steps.
    calls: Mutex<RecordedCalls>,
}

/// The `chat` calls of one run, by the hook that made them.
#[derive(Debug, Default)]
struct RecordedCalls {
    run: Vec<StepRecord>,
    analyze: Vec<StepRecord>,
}

/// The response shape a plugin's JSON request asks the backend for: the offline backend answers
/// a schema it does not know with `{"answer": ...}`.
const PLUGIN_JSON: ResponseShape = ResponseShape::Json {
    schema: "plugin.json",
};

/// The hook services are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Descriptor,
    Plan,
    /// The `run` hook of a run, then its `analyze` hook ([`RunPhase`]).
    Run,
    /// The `analyze` hook of scope `summary`.
    Summary,
}

/// The rules of those services, which every refusal starts with.
const ANALYSIS_CONTEXT_RULE: &str =
    "`analysis_context` may be called from the `run` and `analyze` hooks";
const RUN_TRANSCRIPT_RULE: &str =
    "`run_transcript` may be called from the `analyze` hook of a run (scope `run`)";
const WRITE_ARTIFACT_RULE: &str =
    "`write_artifact` may be called from the `run` and `analyze` hooks";

/// The hook of one run the services are serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum RunPhase {
    #[default]
    Run,
    Analyze,
}

/// What `run_pipeline`'s rule needs: the phase, whether the pipeline ran, the first refusal.
#[derive(Debug, Default)]
struct PipelineState {
    phase: RunPhase,
    used: bool,
    refused: Option<String>,
}

/// The rule every refusal of a `run_pipeline` call starts with.
const PIPELINE_RULE: &str = "`run_pipeline` may be called once per run, from the `run` hook";

/// What `run_pipeline` and `chat` need: the run being executed.
#[derive(Clone)]
pub struct RunContext {
    pub generation_id: String,
    pub seed: u64,
    pub backends: Backends,
    pub title_slot: Option<TitleSlot>,
    /// The novelty window's history, snapshot when the experiment started.
    pub recent_prompts: Option<Vec<String>>,
    /// The keys the runner owns in this run (paths, mode, labels, seed), as a config tree: a
    /// config given to `run_pipeline` must hold each of them unchanged.
    pub owned: Value,
    /// The run's transcript, where the `chat` calls of its `run` hook are recorded; `None` when
    /// the run's config does not parse (its calls are then only logged).
    pub transcript: Option<PathBuf>,
    /// The stage kinds the run's plan may name: the built-in ones and its experiment's declared
    /// ones.
    pub stages: Arc<Registry>,
}

impl HostServices<'static> {
    /// Services for hooks that run outside an experiment (`descriptor` at load time).
    pub fn new(cwd: PathBuf) -> HostServices<'static> {
        HostServices::made(cwd, None, Hook::Descriptor, None)
    }

    /// Services for the `plan` hook, whose `log` goes to the experiment's log.
    pub fn with_log(cwd: PathBuf, log: Arc<LogFile>) -> HostServices<'static> {
        HostServices::made(cwd, Some(log), Hook::Plan, None)
    }
}

impl<'a> HostServices<'a> {
    fn made(
        cwd: PathBuf,
        log: Option<Arc<LogFile>>,
        hook: Hook,
        run: Option<RunContext>,
    ) -> HostServices<'a> {
        HostServices {
            cwd,
            log,
            hook,
            run,
            experiment: None,
            plugin_artifacts: Mutex::default(),
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
            usage: Mutex::default(),
            pipeline: Mutex::default(),
            calls: Mutex::default(),
        }
    }

    /// Services for the hooks of one run of `experiment`: its `run` hook, then (after
    /// [`Self::enter_analyze`]) its `analyze` hook.
    pub(super) fn for_run(
        cwd: PathBuf,
        log: Arc<LogFile>,
        run: RunContext,
        experiment: ExperimentFacts<'a>,
    ) -> HostServices<'a> {
        let mut services = HostServices::made(cwd, Some(log), Hook::Run, Some(run));
        services.experiment = Some(experiment);
        services
    }

    /// Services for the summary analysis of `experiment`.
    pub(super) fn for_summary(
        cwd: PathBuf,
        log: Arc<LogFile>,
        experiment: ExperimentFacts<'a>,
    ) -> HostServices<'a> {
        let mut services = HostServices::made(cwd, Some(log), Hook::Summary, None);
        services.experiment = Some(experiment);
        services
    }

    /// `read_data` refuses files larger than `bytes` (`data.max_file_bytes`).
    pub fn with_file_limit(mut self, bytes: u64) -> HostServices<'a> {
        self.max_file_bytes = bytes;
        self
    }

    /// The run's `run` hook has returned: what follows is its `analyze` hook, where
    /// `run_pipeline` is refused.
    pub fn enter_analyze(&self) {
        self.pipeline_state().phase = RunPhase::Analyze;
    }

    /// The first `run_pipeline` call these services refused by the once-per-run rule, as its
    /// message (the plugin may have swallowed the error; the runner fails the run anyway).
    pub fn refused_pipeline(&self) -> Option<String> {
        self.pipeline_state().refused.clone()
    }

    fn pipeline_state(&self) -> std::sync::MutexGuard<'_, PipelineState> {
        self.pipeline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the model calls made through these services have used so far.
    pub fn usage(&self) -> RunUsage {
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn add_usage(&self, add: impl FnOnce(&mut RunUsage)) {
        add(&mut self.usage.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn recorded_calls(&self) -> std::sync::MutexGuard<'_, RecordedCalls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `chat` calls of the `analyze` hook, for the run's `analysis_calls`.
    pub fn take_analysis_calls(&self) -> Vec<StepRecord> {
        std::mem::take(&mut self.recorded_calls().analyze)
    }

    /// Writes the `chat` calls of the `run` hook into the run's transcript, atomically: appended
    /// to the steps of the transcript the run's pipeline wrote, or (no pipeline ran) as a
    /// transcript of their own. Nothing is written when the hook made no call.
    pub fn write_run_calls(&self) -> Result<(), String> {
        let steps = std::mem::take(&mut self.recorded_calls().run);
        let (Some(run), false) = (&self.run, steps.is_empty()) else {
            return Ok(());
        };
        let Some(path) = &run.transcript else {
            return Ok(());
        };
        let pipeline_wrote = self.pipeline_state().used && path.is_file();
        let mut transcript = if pipeline_wrote {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|error| format!("`{}` is not JSON: {error}", path.display()))?
        } else {
            json!({
                "generation_id": run.generation_id,
                "seed": run.seed,
                "created_at": Timestamp::now().iso(),
                "steps": [],
            })
        };
        let Some(recorded) = transcript.get_mut("steps").and_then(Value::as_array_mut) else {
            return Err(format!(
                "`{}` has no `steps` array to add the plugin's chat calls to",
                path.display()
            ));
        };
        recorded.extend(steps.iter().map(|step| json!(step)));
        let written = match path.parent() {
            Some(dir) => crate::artifacts::create_dir_all(dir),
            None => Ok(()),
        };
        written
            .and_then(|()| crate::artifacts::write_json(path, &transcript))
            .map_err(|error| error_chain(&error))
    }

    /// The artifacts written through `write_artifact` so far (`plugin/<name>`, each once), for
    /// the run's result entry or the summary; the list starts over.
    pub fn take_plugin_artifacts(&self) -> Vec<String> {
        std::mem::take(
            &mut self
                .plugin_artifacts
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The hook a call came from, as a refusal names it.
    fn hook_name(&self) -> &'static str {
        match self.hook {
            Hook::Descriptor => "`descriptor`",
            Hook::Plan => "`plan`",
            Hook::Run => match self.pipeline_state().phase {
                RunPhase::Run => "`run`",
                RunPhase::Analyze => "`analyze` of scope `run`",
            },
            Hook::Summary => "`analyze` of scope `summary`",
        }
    }

    /// The experiment, when the hook may use `service` (whose rule is `rule`).
    fn experiment_for(&self, rule: &str) -> Result<&ExperimentFacts<'a>, String> {
        match (&self.experiment, self.hook) {
            (Some(experiment), Hook::Run | Hook::Summary) => Ok(experiment),
            _ => Err(format!(
                "{rule}; this call came from {}, so it was refused",
                self.hook_name()
            )),
        }
    }

    /// `analysis_context`: the experiment around the hook, built now.
    fn analysis_context(&self) -> Result<Value, String> {
        self.experiment_for(ANALYSIS_CONTEXT_RULE)?
            .encoded_context()
            .map_err(|error| format!("`{ANALYSIS_CONTEXT}`: {error}"))
    }

    /// `run_transcript`: the run's transcript as written, parsed.
    fn run_transcript(&self) -> Result<Value, String> {
        let phase = self.pipeline_state().phase;
        let run = match (&self.run, phase) {
            (Some(run), RunPhase::Analyze) => run,
            _ => {
                return Err(format!(
                    "{RUN_TRANSCRIPT_RULE}; this call came from {}, so it was refused",
                    self.hook_name()
                ))
            }
        };
        let Some(path) = &run.transcript else {
            return Err(format!(
                "`{RUN_TRANSCRIPT}`: the config of run `{}` does not parse, so where its transcript is is unknown",
                run.generation_id
            ));
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!(
                "`{RUN_TRANSCRIPT}`: cannot read the transcript `{}`: {error}",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|error| {
            format!(
                "`{RUN_TRANSCRIPT}`: the transcript `{}` is not JSON: {error}",
                path.display()
            )
        })
    }

    /// `write_artifact`: the checked contents written to `plugin/<name>`, then remembered.
    fn write_artifact(&self, payload: Value) -> Result<Value, String> {
        let experiment = self
            .experiment_for(WRITE_ARTIFACT_RULE)
            .map_err(|refused| format!("{refused} and nothing was written"))?;
        let request: WriteArtifactRequest = serde_json::from_value(payload)
            .map_err(|error| format!("`{WRITE_ARTIFACT}`: malformed request: {error}"))?;
        let written = plugin_artifacts::contents(&request)
            .and_then(|bytes| {
                plugin_artifacts::write(experiment.experiment_dir, &request.name, &bytes)
            })
            .map_err(|error| format!("`{WRITE_ARTIFACT}` refused: {}", error_chain(&error)))?;
        {
            let mut recorded = self
                .plugin_artifacts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !recorded.contains(&written.path) {
                recorded.push(written.path.clone());
            }
        }
        if let Some(log) = &self.log {
            let who = self
                .run
                .as_ref()
                .map_or("summary", |run| run.generation_id.as_str());
            // The write succeeded; a log line that cannot be written must not undo that.
            let _ = log.record(
                LogLevel::Info,
                &format!(
                    "{who}: the plugin wrote `{}` ({} bytes)",
                    written.path, written.bytes
                ),
            );
        }
        serde_json::to_value(written)
            .map_err(|error| format!("`{WRITE_ARTIFACT}`: cannot encode the answer: {error}"))
    }

    fn run_context(&self, service: &str) -> Result<&RunContext, String> {
        self.run.as_ref().ok_or_else(|| {
            format!("`{service}` is only available inside a run's `run` and `analyze` hooks")
        })
    }
}

impl ServiceProvider for HostServices<'_> {
    fn read_data(&self, reference: &str) -> Result<String, String> {
        crate::data::read_data_with_limit(reference, &self.cwd, self.max_file_bytes)
            .map_err(|error| error.to_string())
    }

    fn run_pipeline(&self, config: Value) -> Result<RunOutcome, String> {
        let run = self.run_context("run_pipeline")?;
        {
            let mut state = self.pipeline_state();
            let broken = match (state.phase, state.used) {
                (RunPhase::Analyze, _) => Some("this call came from the `analyze` hook"),
                (RunPhase::Run, true) => Some("this is a second call from the `run` hook"),
                (RunPhase::Run, false) => None,
            };
            if let Some(broken) = broken {
                let message = format!(
                    "{PIPELINE_RULE}; {broken} of run `{}`, so it was refused and nothing was written",
                    run.generation_id
                );
                state.refused.get_or_insert_with(|| message.clone());
                return Err(message);
            }
            if let Some((key, found)) = super::plan::owned_key_changed(&config, &run.owned) {
                let found = found.map_or_else(|| "nothing".to_owned(), |value| value.to_string());
                return Err(format!(
                    "`run_pipeline` refused: the config sets `{key}` to {found}, but the runner owns that key for this run\n\npass the run's config (`spec.config`) with that key unchanged"
                ));
            }
            // Counted before it starts: a pipeline that fails part-way has still written files.
            state.used = true;
        }
        let env = |name: &str| std::env::var(name).ok();
        let outcome = generation::run_generation(&GenerationRequest {
            config: &config,
            generation_id: Some(run.generation_id.clone()),
            cwd: &self.cwd,
            env: &env,
            backends: Some(&run.backends),
            title_slot: run.title_slot.clone(),
            recent_prompts: run.recent_prompts.clone(),
            stages: &run.stages,
        })
        .map_err(|error| error_chain(&error))?;
        self.add_usage(|usage| usage.merge(&outcome.usage));
        Ok(RunOutcome {
            status: outcome.status,
            final_prompt: outcome.final_prompt,
            outputs: outcome.outputs,
            image_path: outcome.image_path.map(|path| path.display().to_string()),
            error: outcome.error,
        })
    }

    fn chat(&self, request: ChatRequest) -> Result<ChatResponse, String> {
        let run = self.run_context("chat")?;
        let path = format!("plugin/{}", request.name);
        let temperature = request.temperature.unwrap_or(0.7);
        let shape = match request.response_format {
            ResponseFormat::Text => ResponseShape::Text,
            ResponseFormat::Json => PLUGIN_JSON,
        };
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let reply = run
            .backends
            .text
            .chat(&ChatCall {
                generation_id: &run.generation_id,
                step_path: &path,
                messages: &request.messages,
                temperature,
                model: request.model.as_deref(),
                shape,
                expect: &Expect::default(),
                seed: run.seed,
                max_completion_tokens: request.max_tokens,
            })
            .map_err(|error| error_chain(&error))?;
        let duration_s = (clock.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        self.add_usage(|usage| {
            if reply.cache == Some(CacheStatus::Hit) {
                usage.add_saved_text(&reply.model, reply.usage.as_ref());
            } else {
                usage.add_text(&reply.model, reply.usage.as_ref());
            }
            usage.add_sequential(1);
        });
        self.log(
            LogLevel::Info,
            &format!(
                "{}: chat `{}` answered by {} ({} chars)",
                run.generation_id,
                request.name,
                reply.provider,
                reply.text.len()
            ),
        );
        if let Some(effort) = &request.reasoning_effort {
            self.log(
                LogLevel::Warn,
                &format!(
                    "{}: chat `{}` asked for reasoning effort `{effort}`, which is set per backend (`backend.text.reasoning_effort`), not per call: not applied",
                    run.generation_id, request.name
                ),
            );
        }
        let text = reply.text.clone();
        let step = chat_step(&path, &request, temperature, reply, &started_at, duration_s);
        let mut calls = self.recorded_calls();
        match self.pipeline_state().phase {
            RunPhase::Run => calls.run.push(step),
            RunPhase::Analyze => calls.analyze.push(step),
        }
        Ok(ChatResponse { text })
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = &self.log {
            // A log line that cannot be written must not fail the plugin's hook.
            let _ = log.record(level, &format!("plugin: {message}"));
        }
    }

    fn call_service(&self, name: &str, payload: Value) -> Result<Value, String> {
        match name {
            ANALYSIS_CONTEXT => self.analysis_context(),
            RUN_TRANSCRIPT => self.run_transcript(),
            WRITE_ARTIFACT => self.write_artifact(payload),
            _ => Err(unknown_service(name)),
        }
    }
}

/// A `chat` call as a transcript step: the messages and the timing in `meta`, the request's
/// options in `params` (`reasoning_effort_not_applied` when it asked for one, see
/// [`ChatRequest::reasoning_effort`]).
fn chat_step(
    path: &str,
    request: &ChatRequest,
    temperature: f64,
    reply: crate::backends::ChatReply,
    started_at: &Timestamp,
    duration_s: f64,
) -> StepRecord {
    let chars = |text: &str| text.chars().count();
    let prompt = request
        .messages
        .last()
        .map(|message| message.content.clone())
        .unwrap_or_default();
    let context = &request.messages[..request.messages.len().saturating_sub(1)];
    let context_chars: usize = context.iter().map(|message| chars(&message.content)).sum();
    let mut params = Map::new();
    params.insert("temperature".into(), json!(temperature));
    params.insert("model".into(), json!(reply.model));
    if let Some(max_tokens) = request.max_tokens {
        params.insert("max_completion_tokens".into(), json!(max_tokens));
    }
    params.insert("response_format".into(), json!(request.response_format));
    if let Some(effort) = &request.reasoning_effort {
        params.insert("reasoning_effort_not_applied".into(), json!(effort));
    }
    let mut meta = Map::new();
    meta.insert("messages".into(), json!(request.messages));
    meta.insert("duration_s".into(), json!(duration_s));
    let details = reply.details.unwrap_or_default();
    StepRecord::Chat {
        name: request.name.clone(),
        path: path.to_owned(),
        prompt_chars: chars(&prompt),
        prompt,
        response_chars: chars(&reply.text),
        response: reply.text,
        params,
        context_chars,
        input_chars: context_chars + request.messages.last().map_or(0, |m| chars(&m.content)),
        context_messages: context.len(),
        input_messages: request.messages.len(),
        provider: reply.provider.to_owned(),
        attempts: reply.attempts,
        usage: reply.usage,
        cache: reply.cache,
        finish_reason: details.finish_reason,
        answer_model: details.model,
        reasoning: details.reasoning,
        sent_messages: details.sent_messages,
        created_at: started_at.iso().to_owned(),
        meta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_run_and_an_analysis_the_new_services_name_their_rule() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(LogFile::pending(&dir.path().join("experiment.log")));
        let plan = HostServices::with_log(dir.path().to_owned(), log);
        for (name, rule) in [
            (ANALYSIS_CONTEXT, ANALYSIS_CONTEXT_RULE),
            (RUN_TRANSCRIPT, RUN_TRANSCRIPT_RULE),
            (WRITE_ARTIFACT, WRITE_ARTIFACT_RULE),
        ] {
            let payload = json!({"name": "x.txt", "text": "x"});
            let error = plan.call_service(name, payload).unwrap_err();
            assert!(error.starts_with(rule), "{error}");
            assert!(error.contains("came from `plan`"), "{error}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let error = plan.call_service("no_such", Value::Null).unwrap_err();
        assert_eq!(error, unknown_service("no_such"));
    }
}

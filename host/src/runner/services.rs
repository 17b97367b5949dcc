//! The host services a plugin may call from its hooks: `read_data` everywhere; `chat` inside the
//! `run` hook and the `analyze` hook of one run, where the runner has given the services the run's
//! context; `run_pipeline` in the `run` hook only, at most once per run (a second pipeline would
//! write a second runs-index line and rewrite the run's transcript).
//!
//! They belong to the runner because a run's services are the runner's state (its log, the keys it
//! owns, the run's backends and title slot). Finding and loading plugins is `plugins`' business;
//! at load time it is handed these services as a plain `ServiceProvider`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use plugin_api::loader::ServiceProvider;
use plugin_api::{ChatRequest, ChatResponse, LogLevel, RunOutcome};
use serde_json::Value;

use crate::artifacts::LogFile;
use crate::backends::{CacheStatus, ChatCall, Expect, ResponseShape};
use crate::cost::RunUsage;
use crate::errors::error_chain;
use crate::generation::{self, Backends, GenerationRequest, TitleSlot};

/// The host's answers to plugin service calls.
pub struct HostServices {
    cwd: PathBuf,
    log: Option<Arc<LogFile>>,
    run: Option<RunContext>,
    /// `data.max_file_bytes` of the experiment's config, for `read_data`.
    max_file_bytes: u64,
    /// What the model calls made through these services used (`run_pipeline` and `chat`), for
    /// the run's result entry.
    usage: Mutex<RunUsage>,
    /// Where the run is and whether its one pipeline has been used (`run_pipeline`'s rule).
    pipeline: Mutex<PipelineState>,
}

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
}

impl HostServices {
    /// Services for hooks that run outside an experiment (`descriptor` at load time).
    pub fn new(cwd: PathBuf) -> HostServices {
        HostServices {
            cwd,
            log: None,
            run: None,
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
            usage: Mutex::default(),
            pipeline: Mutex::default(),
        }
    }

    /// Services whose `log` goes to the experiment's log.
    pub fn with_log(cwd: PathBuf, log: Arc<LogFile>) -> HostServices {
        HostServices {
            cwd,
            log: Some(log),
            run: None,
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
            usage: Mutex::default(),
            pipeline: Mutex::default(),
        }
    }

    /// Services for the hooks of one run: its `run` hook, then (after [`Self::enter_analyze`])
    /// its `analyze` hook.
    pub fn for_run(cwd: PathBuf, log: Arc<LogFile>, run: RunContext) -> HostServices {
        HostServices {
            cwd,
            log: Some(log),
            run: Some(run),
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
            usage: Mutex::default(),
            pipeline: Mutex::default(),
        }
    }

    /// `read_data` refuses files larger than `bytes` (`data.max_file_bytes`).
    pub fn with_file_limit(mut self, bytes: u64) -> HostServices {
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

    fn run_context(&self, service: &str) -> Result<&RunContext, String> {
        self.run
            .as_ref()
            .ok_or_else(|| format!("`{service}` is only available inside the `run` hook"))
    }
}

impl ServiceProvider for HostServices {
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
        let reply = run
            .backends
            .text
            .chat(&ChatCall {
                generation_id: &run.generation_id,
                step_path: &path,
                messages: &request.messages,
                temperature: request.temperature.unwrap_or(0.7),
                model: None,
                shape: ResponseShape::Text,
                expect: &Expect::default(),
                seed: run.seed,
                max_completion_tokens: None,
            })
            .map_err(|error| error_chain(&error))?;
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
        Ok(ChatResponse { text: reply.text })
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = &self.log {
            // A log line that cannot be written must not fail the plugin's hook.
            let _ = log.record(level, &format!("plugin: {message}"));
        }
    }

    fn call_service(&self, name: &str, _payload: Value) -> Result<Value, String> {
        Err(format!("unknown host service `{name}`"))
    }
}

//! The plain-Rust side of the boundary: the trait a plugin implements and the host services it may
//! call. Nothing here exposes `abi_stable`; the FFI plumbing lives in `ffi`.

use abi_stable::std_types::{RResult, RStr};
use serde_json::Value;

use crate::ffi::HostServicesRef;
use crate::model::{
    AnalyzeRequest, ChatRequest, ChatResponse, Descriptor, Plan, PlanRequest, PlannedRun,
    RunOutcome, RunRequest,
};
use crate::services::{
    check_artifact_name, check_artifact_size, AnalysisContext, WriteArtifactRequest,
    WrittenArtifact, ANALYSIS_CONTEXT, RUN_TRANSCRIPT, WRITE_ARTIFACT,
};

/// An experiment plugin.
///
/// Hooks may be called concurrently from several threads. A panic in a hook is caught and
/// reported as an error naming the plugin and hook; returning an [`ExperimentError`] is nicer.
pub trait Experiment: Send + Sync + 'static {
    /// Name, summary, default mode, flags and accepted runner keys. Called once at load time.
    fn descriptor(&self) -> Descriptor;

    /// The runs to execute, in order. Reads data only through [`Host::read_data`].
    fn plan(&self, request: &PlanRequest, host: &Host<'_>) -> Result<Plan, ExperimentError>;

    /// The plan with its runs handed to `emit` one at a time, in order, instead of collected:
    /// what the host calls. A run handed over is written out at once, so a plan of hundreds of
    /// thousands of runs never exists as values in the plugin. Returns the rest of the plan
    /// (`meta`, `pairing`; runs left in its `runs` follow the emitted ones).
    ///
    /// The default emits the runs of [`Experiment::plan`]. Override it when plans get large,
    /// and then write `plan` as [`collect_plan`]`(self, request, host)` so both give the same
    /// runs (never define this one through `plan` and `plan` through [`collect_plan`]).
    fn plan_streaming(
        &self,
        request: &PlanRequest,
        host: &Host<'_>,
        emit: &mut dyn FnMut(PlannedRun),
    ) -> Result<Plan, ExperimentError> {
        let mut plan = self.plan(request, host)?;
        std::mem::take(&mut plan.runs).into_iter().for_each(emit);
        Ok(plan)
    }

    /// Executes one planned run. The default asks the host to run the prompt pipeline with the
    /// spec's config; the host writes every artifact of the run.
    fn run(&self, request: &RunRequest, host: &Host<'_>) -> Result<RunOutcome, ExperimentError> {
        Ok(host.run_pipeline(&request.spec.config)?)
    }

    /// Analysis of one finished run or of the whole experiment; `None` means nothing to record.
    fn analyze(
        &self,
        request: &AnalyzeRequest,
        host: &Host<'_>,
    ) -> Result<Option<Value>, ExperimentError> {
        let _ = (request, host);
        Ok(None)
    }

    /// Optional hooks added after 1.0, by name. List the names you answer in
    /// [`Descriptor::optional_hooks`]; the default answers `None` (unknown hook).
    fn call(
        &self,
        hook: &str,
        input: &Value,
        host: &Host<'_>,
    ) -> Option<Result<Value, ExperimentError>> {
        let _ = (hook, input, host);
        None
    }
}

/// [`Experiment::plan`] of an experiment that implements [`Experiment::plan_streaming`]: its
/// emitted runs collected into the plan.
pub fn collect_plan<E: Experiment + ?Sized>(
    experiment: &E,
    request: &PlanRequest,
    host: &Host<'_>,
) -> Result<Plan, ExperimentError> {
    let mut runs = Vec::new();
    let mut plan = experiment.plan_streaming(request, host, &mut |run| runs.push(run))?;
    runs.append(&mut plan.runs);
    plan.runs = runs;
    Ok(plan)
}

/// An error returned by an experiment hook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExperimentError {
    message: String,
}

impl ExperimentError {
    /// An error with a message (lowercase, no final period, names in backticks).
    pub fn new(message: impl Into<String>) -> ExperimentError {
        ExperimentError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for ExperimentError {
    fn from(message: String) -> Self {
        ExperimentError::new(message)
    }
}

impl From<&str> for ExperimentError {
    fn from(message: &str) -> Self {
        ExperimentError::new(message)
    }
}

impl From<HostError> for ExperimentError {
    fn from(error: HostError) -> Self {
        ExperimentError::new(error.to_string())
    }
}

impl From<crate::merge::MergeError> for ExperimentError {
    fn from(error: crate::merge::MergeError) -> Self {
        ExperimentError::new(error.to_string())
    }
}

/// A host service refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host service `{service}` failed: {message}")]
pub struct HostError {
    pub service: String,
    pub message: String,
}

/// Severity of a [`Host::log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The spelling that crosses the boundary.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Parses the boundary spelling; unknown levels read as `Info`.
    pub fn parse(text: &str) -> LogLevel {
        match text {
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }
}

/// The services the host offers to every hook. Borrowed for the duration of one hook call.
pub struct Host<'a> {
    services: HostServicesRef<'a>,
}

impl<'a> Host<'a> {
    pub(crate) fn new(services: HostServicesRef<'a>) -> Host<'a> {
        Host { services }
    }

    /// Reads a data file: `builtin:<name>` for the embedded samples, or a path (relative paths
    /// resolve against the working directory). Read-only.
    pub fn read_data(&self, reference: &str) -> Result<String, HostError> {
        let answer = self.services.read_data(RStr::from_str(reference));
        into_result("read_data", answer)
    }

    /// Executes the prompt pipeline with `config` (only in `run`); the host writes the run's
    /// transcript, logs, final prompt, image and index line.
    pub fn run_pipeline(&self, config: &Value) -> Result<RunOutcome, HostError> {
        let answer = self
            .services
            .run_pipeline(RStr::from_str(&config.to_string()));
        let text = into_result("run_pipeline", answer)?;
        parse_answer("run_pipeline", &text)
    }

    /// One recorded model call through the configured backend (only in `run`).
    pub fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, HostError> {
        let payload = to_json("chat", request)?;
        let answer = self.services.chat(RStr::from_str(&payload));
        let text = into_result("chat", answer)?;
        parse_answer("chat", &text)
    }

    /// Writes a line to the experiment log.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.services
            .log(RStr::from_str(level.as_str()), RStr::from_str(message));
    }

    /// The experiment around the results (1.1): flags, plan meta, planned runs with their files,
    /// the pairing and its pairs. Available in `run` and `analyze` (both scopes); the host builds it
    /// once per session and copies it to each call (linear in the runs), so ask once per hook.
    pub fn analysis_context(&self) -> Result<AnalysisContext, HostError> {
        let text = self.service_text(ANALYSIS_CONTEXT, "{}")?;
        parse_answer(ANALYSIS_CONTEXT, &text)
    }

    /// The run's transcript as the runner wrote it (1.1): `steps` with every model call,
    /// including the plugin's recorded `chat` calls. Available in `analyze` of scope `run`.
    pub fn run_transcript(&self) -> Result<Value, HostError> {
        self.call_service(RUN_TRANSCRIPT, &Value::Object(Default::default()))
    }

    /// Writes `contents` to `<experiment>/plugin/<name>` atomically (1.1). `name` is one or
    /// more `/`-separated parts of letters, digits, `.`, `_` and `-` ([`check_artifact_name`]);
    /// at most [`MAX_ARTIFACT_BYTES`](crate::MAX_ARTIFACT_BYTES). Available in `run` and `analyze` (both scopes); the file
    /// is recorded with the run's result entry (from `run` and `analyze` of scope `run`) or with
    /// the summary, listed in the artifacts index and linked from `report.html`. Writing the
    /// same name again replaces the file.
    pub fn write_artifact(
        &self,
        name: &str,
        contents: &[u8],
    ) -> Result<WrittenArtifact, HostError> {
        use base64::Engine as _;
        refuse_artifact(check_artifact_size(name, contents.len() as u64))?;
        let request = WriteArtifactRequest {
            name: name.to_owned(),
            text: None,
            base64: Some(base64::engine::general_purpose::STANDARD.encode(contents)),
        };
        self.write_artifact_request(request)
    }

    /// [`Host::write_artifact`] for text (a CSV, a markdown note): sent as is, not encoded.
    pub fn write_text_artifact(
        &self,
        name: &str,
        text: &str,
    ) -> Result<WrittenArtifact, HostError> {
        refuse_artifact(check_artifact_size(name, text.len() as u64))?;
        let request = WriteArtifactRequest {
            name: name.to_owned(),
            text: Some(text.to_owned()),
            base64: None,
        };
        self.write_artifact_request(request)
    }

    fn write_artifact_request(
        &self,
        request: WriteArtifactRequest,
    ) -> Result<WrittenArtifact, HostError> {
        refuse_artifact(check_artifact_name(&request.name))?;
        let payload = to_json(WRITE_ARTIFACT, &request)?;
        let text = self.service_text(WRITE_ARTIFACT, &payload)?;
        parse_answer(WRITE_ARTIFACT, &text)
    }

    /// A service added after 1.0, by name. An unknown name is an error; when this plugin-api
    /// knows which version added the name ([`crate::NAMED_ADDITIONS`]), the error says so (the
    /// host is older than that).
    pub fn call_service(&self, name: &str, payload: &Value) -> Result<Value, HostError> {
        let text = self.service_text(name, &payload.to_string())?;
        parse_answer(name, &text)
    }

    /// [`Host::call_service`] on encoded JSON: the typed services encode and read their own
    /// payloads, without a `Value` in between.
    fn service_text(&self, name: &str, payload: &str) -> Result<String, HostError> {
        let answer = self
            .services
            .call_service(RStr::from_str(name), RStr::from_str(payload));
        into_result(name, answer).map_err(|mut error| {
            if error.message.starts_with(UNKNOWN_SERVICE) {
                let note =
                    crate::unknown_name_note(name, "this host is older", crate::NAMED_ADDITIONS);
                error.message.push_str(&note);
            }
            error
        })
    }
}

/// How a host's answer to an unknown service name starts (see
/// [`crate::loader::ServiceProvider::call_service`]).
pub(crate) const UNKNOWN_SERVICE: &str = "unknown host service";

fn into_result(
    service: &str,
    answer: RResult<abi_stable::std_types::RString, abi_stable::std_types::RString>,
) -> Result<String, HostError> {
    answer
        .into_result()
        .map(Into::into)
        .map_err(|message| HostError {
            service: service.to_owned(),
            message: message.into(),
        })
}

fn to_json<T: serde::Serialize>(service: &str, value: &T) -> Result<String, HostError> {
    serde_json::to_string(value).map_err(|error| HostError {
        service: service.to_owned(),
        message: format!("could not encode the request: {error}"),
    })
}

/// A refusal of the artifact rules ([`check_artifact_name`], [`check_artifact_size`]) before
/// anything is sent (the host checks again).
fn refuse_artifact(check: Result<(), String>) -> Result<(), HostError> {
    check.map_err(|message| HostError {
        service: WRITE_ARTIFACT.to_owned(),
        message,
    })
}

fn parse_answer<T: serde::de::DeserializeOwned>(service: &str, text: &str) -> Result<T, HostError> {
    serde_json::from_str(text).map_err(|error| HostError {
        service: service.to_owned(),
        message: if error.is_data() {
            format!("the host answered an unexpected shape: {error}")
        } else {
            format!("the host answered malformed JSON: {error}")
        },
    })
}

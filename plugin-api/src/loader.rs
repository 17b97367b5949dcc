//! The host side of the boundary: loading a plugin library and calling its hooks.
//!
//! The host implements [`ServiceProvider`] and never touches `abi_stable`. Loading reports, never
//! panics: every failure is a [`LoadError`] with a one-line reason (and the full abi_stable report
//! for `--verbose`). Libraries are never unloaded.
//!
//! Loading goes in two steps. First the library is opened with `libloading` and its panic-strategy
//! record (the `u32` behind [`ffi::PANIC_STRATEGY_SYMBOL`], written by the export macro) is read as
//! plain data, before any of the plugin's code runs: a plugin built with `panic = "abort"` would
//! take the host down at its first panic, whatever its hooks' `catch_unwind` says, so it is refused
//! there. A library without the record (built before plugin-api wrote it, or without the export
//! macro) loads, with [`PanicStrategy::Unknown`] for the host to warn about. Then abi_stable reads
//! the header, checks version and layout, and builds the root module.
//!
//! [`ffi::PANIC_STRATEGY_SYMBOL`]: crate::ffi::PANIC_STRATEGY_SYMBOL

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::sabi_types::RRef;
use abi_stable::std_types::{RResult, RStr, RString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::experiment::LogLevel;
use crate::ffi::{
    panic_message, HostServices, HostServices_TO, PluginModule_Ref, PANIC_STRATEGY_ABORT,
    PANIC_STRATEGY_SYMBOL, PANIC_STRATEGY_UNWIND,
};
use crate::model::{
    AnalyzeRequest, ChatRequest, ChatResponse, Descriptor, HookFailure, HookFailureKind, Plan,
    PlanRequest, PlannedRun, RunOutcome, RunRequest,
};

/// What the host answers when a plugin calls a host service. Errors are plain messages; the host
/// catches its own panics here so they never unwind through plugin frames.
pub trait ServiceProvider: Send + Sync {
    /// Text of `builtin:<name>` or of a file.
    fn read_data(&self, reference: &str) -> Result<String, String>;
    /// Executes the prompt pipeline for one run.
    fn run_pipeline(&self, config: Value) -> Result<RunOutcome, String>;
    /// One recorded model call.
    fn chat(&self, request: ChatRequest) -> Result<ChatResponse, String>;
    /// A log line from the plugin.
    fn log(&self, level: LogLevel, message: &str);
    /// A service added after 1.0; unknown names must answer [`unknown_service`]`(name)`, which
    /// the plugin side recognises.
    fn call_service(&self, name: &str, payload: Value) -> Result<Value, String> {
        let _ = payload;
        Err(unknown_service(name))
    }
}

/// The answer to a host service name the host does not know.
pub fn unknown_service(name: &str) -> String {
    format!("{} `{name}`", crate::experiment::UNKNOWN_SERVICE)
}

/// Why a file could not be loaded as a plugin.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct LoadError {
    /// One line, for `experiments list`.
    pub reason: String,
    /// abi_stable's full report, for `--verbose` (it can run to hundreds of lines).
    pub detail: String,
}

/// Why a hook call failed. The host adds the plugin's name and path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("hook `{hook}` failed: {message}")]
    Failed { hook: String, message: String },
    #[error("{message}")]
    Panicked { hook: String, message: String },
    #[error("hook `{hook}` could not parse its input: {message}")]
    BadInput { hook: String, message: String },
    /// `note` says which interface version added the hook, when known (else empty).
    #[error("the plugin does not answer the hook `{hook}`{note}")]
    UnknownHook { hook: String, note: String },
    #[error("hook `{hook}` returned malformed output: {message}")]
    MalformedOutput { hook: String, message: String },
}

/// How a loaded plugin handles a panic, as far as the host can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicStrategy {
    /// Built with `panic = "unwind"`: a panic in a hook becomes an error naming plugin and hook.
    Unwind,
    /// The library has no panic-strategy record: built against a plugin-api from before it was
    /// written, or without the export macro. It loads; the host should say it cannot tell.
    Unknown,
}

impl PanicStrategy {
    /// `unwind` or `unknown`, as `list --json` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PanicStrategy::Unwind => "unwind",
            PanicStrategy::Unknown => "unknown",
        }
    }
}

/// A loaded plugin library.
#[derive(Clone, Copy)]
pub struct PluginLibrary {
    module: PluginModule_Ref,
    interface_version: &'static str,
    panic_strategy: PanicStrategy,
}

/// Loads the plugin library at `path`.
pub fn load(path: &Path) -> Result<PluginLibrary, LoadError> {
    let panic_strategy = probe_panic_strategy(path)?;
    // `lib_header_from_path` + `init_root_module` rather than `RootModule::load_from_file`: the
    // latter caches one module per interface type and would hand every later path the first one.
    let header = lib_header_from_path(path).map_err(load_error)?;
    let module = header
        .init_root_module::<PluginModule_Ref>()
        .map_err(load_error)?;
    Ok(PluginLibrary {
        module,
        interface_version: header.version_strings().version.as_str(),
        panic_strategy,
    })
}

/// Reads the panic-strategy record of the library at `path` without calling into it, refusing a
/// library built with `panic = "abort"`.
fn probe_panic_strategy(path: &Path) -> Result<PanicStrategy, LoadError> {
    // SAFETY: opening a library runs its initialisers, as `lib_header_from_path` would right
    // after; nothing else of it is called here.
    let library = unsafe { libloading::Library::new(path) }.map_err(|error| {
        let detail = error.to_string();
        LoadError {
            reason: format!("not a loadable library: {}", first_line(&detail)),
            detail,
        }
    })?;
    let mut name = PANIC_STRATEGY_SYMBOL.as_bytes().to_vec();
    name.push(0);
    // SAFETY: the export macro defines this symbol as a `static u32`; only its value is read.
    let code = unsafe {
        library
            .get::<*const u32>(&name)
            .ok()
            .map(|symbol| std::ptr::read_unaligned(*symbol))
    };
    // Never unloaded (like every plugin): abi_stable opens the same file again next, and a library
    // that is refused here stays mapped but is never called.
    std::mem::forget(library);
    match code {
        None => Ok(PanicStrategy::Unknown),
        Some(PANIC_STRATEGY_UNWIND) => Ok(PanicStrategy::Unwind),
        Some(PANIC_STRATEGY_ABORT) => Err(LoadError {
            reason: "built with `panic = \"abort\"`, so a panic in any hook would abort the host \
                     (rebuild it with `panic = \"unwind\"` in its `[profile.*]`)"
                .to_owned(),
            detail: format!(
                "the library's `{PANIC_STRATEGY_SYMBOL}` record says it was built with \
                 `panic = \"abort\"`; the export macro's `catch_unwind` cannot catch a panic \
                 there, and abi_stable's shims would abort the host"
            ),
        }),
        Some(other) => Err(LoadError {
            reason: format!(
                "unrecognised panic-strategy record `{other:#x}` in `{PANIC_STRATEGY_SYMBOL}` \
                 (rebuild the plugin against plugin-api {})",
                crate::INTERFACE_VERSION
            ),
            detail: String::new(),
        }),
    }
}

fn load_error(error: LibraryError) -> LoadError {
    let detail = error.to_string();
    let reason = match &error {
        LibraryError::OpenError { err, .. } => {
            format!("not a loadable library: {}", first_line(&err.to_string()))
        }
        LibraryError::GetSymbolError { .. } => {
            "not an image-project plugin: the library exports no abi_stable root module".to_owned()
        }
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "built against plugin-api {actual_version}, but this host speaks plugin-api {} \
             (incompatible interface versions; rebuild the plugin against plugin-api {})",
            crate::INTERFACE_VERSION,
            crate::INTERFACE_VERSION,
        ),
        LibraryError::ParseVersionError(_) => {
            format!("unreadable interface version: {}", first_line(&detail))
        }
        LibraryError::RootModule { .. } | LibraryError::InvalidAbiHeader(_) => {
            format!("not an image-project plugin: {}", first_line(&detail))
        }
        _ => {
            // Layout errors run to hundreds of lines; the `Error:` lines say what differs.
            let summary: Vec<&str> = detail
                .lines()
                .map(str::trim)
                .filter(|line| line.starts_with("Error:"))
                .collect();
            let summary = if summary.is_empty() {
                first_line(&detail).to_owned()
            } else {
                summary.join("; ")
            };
            format!("incompatible plugin interface layout: {summary}")
        }
    };
    LoadError { reason, detail }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("unknown error")
}

impl PluginLibrary {
    /// The `plugin-api` version the plugin was built against.
    pub fn interface_version(&self) -> &'static str {
        self.interface_version
    }

    /// The plugin's panic strategy (an abort-built plugin never loads).
    pub fn panic_strategy(&self) -> PanicStrategy {
        self.panic_strategy
    }

    /// Calls the `descriptor` hook.
    pub fn descriptor(&self, services: &dyn ServiceProvider) -> Result<Descriptor, CallError> {
        self.invoke(
            "descriptor",
            &Value::Null,
            services,
            self.module.descriptor(),
        )
    }

    /// Calls the `descriptor` hook and returns its JSON unparsed, so the host can read what it
    /// needs before the typed parse (`requires_interface`: a plugin built for a newer minor may
    /// use fields this host's [`Descriptor`] cannot parse).
    pub fn descriptor_json(&self, services: &dyn ServiceProvider) -> Result<Value, CallError> {
        self.invoke(
            "descriptor",
            &Value::Null,
            services,
            self.module.descriptor(),
        )
    }

    /// Calls the `plan` hook.
    pub fn plan(
        &self,
        request: &PlanRequest,
        services: &dyn ServiceProvider,
    ) -> Result<Plan, CallError> {
        self.invoke("plan", request, services, self.module.plan())
    }

    /// Calls the `plan` hook and hands each planned run to `on_run` as it is parsed, so a plan of
    /// many runs is never held as values all at once; returns the plan without its runs.
    /// `on_run` returns `false` to stop reading (it keeps its own reason); the call then fails
    /// with [`CallError::MalformedOutput`] saying so.
    pub fn plan_each(
        &self,
        request: &PlanRequest,
        services: &dyn ServiceProvider,
        on_run: &mut dyn FnMut(PlannedRun) -> bool,
    ) -> Result<Plan, CallError> {
        let answer = self.call_hook("plan", request, services, self.module.plan())?;
        decode_answer_with("plan", answer, |text| {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let plan = serde::de::DeserializeSeed::deserialize(
                crate::model::PlanSeed { on_run },
                &mut deserializer,
            )?;
            deserializer.end()?;
            Ok(plan)
        })
    }

    /// Calls the `run` hook.
    pub fn run(
        &self,
        request: &RunRequest,
        services: &dyn ServiceProvider,
    ) -> Result<RunOutcome, CallError> {
        self.invoke("run", request, services, self.module.run())
    }

    /// Calls the `analyze` hook.
    pub fn analyze(
        &self,
        request: &AnalyzeRequest,
        services: &dyn ServiceProvider,
    ) -> Result<Option<Value>, CallError> {
        self.invoke("analyze", request, services, self.module.analyze())
    }

    /// Calls the `analyze` hook with `scope: "summary"` (as [`AnalyzeRequest::Summary`] does),
    /// for result entries of any serializable form: the host passes them as the JSON text it
    /// stored, so a large experiment's results are not parsed and copied to be sent.
    pub fn analyze_summary<R: Serialize>(
        &self,
        results: &[R],
        services: &dyn ServiceProvider,
    ) -> Result<Option<Value>, CallError> {
        #[derive(Serialize)]
        struct SummaryRequest<'a, R> {
            scope: &'static str,
            results: &'a [R],
        }
        let request = SummaryRequest {
            scope: "summary",
            results,
        };
        self.invoke("analyze", &request, services, self.module.analyze())
    }

    /// Calls an optional hook by name.
    pub fn call(
        &self,
        hook: &str,
        input: &Value,
        services: &dyn ServiceProvider,
    ) -> Result<Value, CallError> {
        let input = input.to_string();
        let adapter = Adapter { provider: services };
        let host = HostServices_TO::from_ptr(RRef::new(&adapter), TD_Opaque);
        let answer = (self.module.call())(RStr::from_str(hook), RStr::from_str(&input), host);
        decode_answer(hook, answer).map_err(|error| match error {
            CallError::UnknownHook { hook, .. } => {
                let built = format!("the plugin was built against {}", self.interface_version);
                let note = crate::unknown_name_note(&hook, &built, crate::NAMED_ADDITIONS);
                CallError::UnknownHook { hook, note }
            }
            other => other,
        })
    }

    fn invoke<I: Serialize, O: DeserializeOwned>(
        &self,
        hook: &str,
        input: &I,
        services: &dyn ServiceProvider,
        function: HookFn,
    ) -> Result<O, CallError> {
        let answer = self.call_hook(hook, input, services, function)?;
        decode_answer(hook, answer)
    }

    fn call_hook<I: Serialize>(
        &self,
        hook: &str,
        input: &I,
        services: &dyn ServiceProvider,
        function: HookFn,
    ) -> Result<RResult<RString, RString>, CallError> {
        let input = serde_json::to_string(input).map_err(|error| CallError::BadInput {
            hook: hook.to_owned(),
            message: error.to_string(),
        })?;
        let adapter = Adapter { provider: services };
        let host = HostServices_TO::from_ptr(RRef::new(&adapter), TD_Opaque);
        Ok(function(RStr::from_str(&input), host))
    }
}

/// A hook's function pointer, as the root module holds it.
type HookFn =
    for<'a> extern "C" fn(RStr<'_>, HostServices_TO<'a, RRef<'a, ()>>) -> RResult<RString, RString>;

fn decode_answer<O: DeserializeOwned>(
    hook: &str,
    answer: RResult<RString, RString>,
) -> Result<O, CallError> {
    decode_answer_with(hook, answer, |text| serde_json::from_str(text))
}

fn decode_answer_with<O>(
    hook: &str,
    answer: RResult<RString, RString>,
    parse: impl FnOnce(&str) -> Result<O, serde_json::Error>,
) -> Result<O, CallError> {
    let hook = hook.to_owned();
    match answer {
        RResult::ROk(output) => {
            parse(output.as_str()).map_err(|error| CallError::MalformedOutput {
                hook,
                message: error.to_string(),
            })
        }
        RResult::RErr(failure) => {
            let Ok(failure) = serde_json::from_str::<HookFailure>(failure.as_str()) else {
                return Err(CallError::Failed {
                    hook,
                    message: failure.into(),
                });
            };
            let message = failure.message;
            Err(match failure.kind {
                HookFailureKind::Failed => CallError::Failed { hook, message },
                HookFailureKind::Panicked => CallError::Panicked { hook, message },
                HookFailureKind::BadInput => CallError::BadInput { hook, message },
                HookFailureKind::UnknownHook => CallError::UnknownHook {
                    hook,
                    note: String::new(),
                },
            })
        }
    }
}

/// Bridges the host's [`ServiceProvider`] to the stable trait object, catching host panics.
struct Adapter<'a> {
    provider: &'a dyn ServiceProvider,
}

impl Adapter<'_> {
    fn guarded(
        &self,
        service: &str,
        body: impl FnOnce() -> Result<String, String>,
    ) -> RResult<RString, RString> {
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(Ok(text)) => RResult::ROk(text.into()),
            Ok(Err(message)) => RResult::RErr(message.into()),
            Err(payload) => RResult::RErr(
                format!(
                    "the host panicked in service `{service}`: {}",
                    panic_message(payload.as_ref())
                )
                .into(),
            ),
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|error| format!("could not encode the answer: {error}"))
}

fn decode<T: DeserializeOwned>(service: &str, text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|error| format!("malformed `{service}` request: {error}"))
}

impl HostServices for Adapter<'_> {
    fn read_data(&self, reference: RStr<'_>) -> RResult<RString, RString> {
        self.guarded("read_data", || self.provider.read_data(reference.as_str()))
    }

    fn run_pipeline(&self, config: RStr<'_>) -> RResult<RString, RString> {
        self.guarded("run_pipeline", || {
            let config = decode("run_pipeline", config.as_str())?;
            encode(&self.provider.run_pipeline(config)?)
        })
    }

    fn chat(&self, request: RStr<'_>) -> RResult<RString, RString> {
        self.guarded("chat", || {
            let request = decode("chat", request.as_str())?;
            encode(&self.provider.chat(request)?)
        })
    }

    fn log(&self, level: RStr<'_>, message: RStr<'_>) {
        let _ = self.guarded("log", || {
            self.provider
                .log(LogLevel::parse(level.as_str()), message.as_str());
            Ok(String::new())
        });
    }

    fn call_service(&self, name: RStr<'_>, payload: RStr<'_>) -> RResult<RString, RString> {
        let name = name.as_str();
        self.guarded(name, || {
            let payload = decode(name, payload.as_str())?;
            encode(&self.provider.call_service(name, payload)?)
        })
    }
}

/// The name abi_stable gives this interface (for diagnostics).
pub fn interface_name() -> &'static str {
    PluginModule_Ref::NAME
}

//! The frozen binary interface (abi_stable). Only [`crate::export_experiment!`] and
//! [`crate::loader`] use this module; plugin authors never see it.
//!
//! The layout is frozen at 1.0: abi_stable's layout check rejects an older plugin as soon as the
//! root module or the host-services vtable gains a field, so growth goes by name through `call`
//! and `call_service`, never by adding fields here.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::library::{
    CheckTypeLayout, LibHeader as AbiLibHeader, RootModule, RootModuleResult,
};
use abi_stable::sabi_types::{RRef, VersionStrings};
use abi_stable::std_types::{RResult, RStr, RString};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::experiment::{Experiment, ExperimentError, Host};
use crate::model::{
    AnalyzeRequest, HookFailure, HookFailureKind, Plan, PlanRequest, PlannedRun, RunRequest,
};

pub use abi_stable::library::LibHeader;

/// The exported symbol where [`crate::export_experiment!`] records the plugin's panic strategy
/// (a `u32`: [`PANIC_STRATEGY_UNWIND`] or [`PANIC_STRATEGY_ABORT`]). It sits beside the frozen
/// root module, so plugins built before it existed still load (their strategy is unknown).
pub const PANIC_STRATEGY_SYMBOL: &str = "image_project_panic_strategy";
/// The plugin was built with `panic = "unwind"`: its hooks' `catch_unwind` works.
pub const PANIC_STRATEGY_UNWIND: u32 = 0x756e_7764; // "unwd"
/// The plugin was built with `panic = "abort"`: any panic in it aborts the host.
pub const PANIC_STRATEGY_ABORT: u32 = 0x6162_7274; // "abrt"

/// The code recorded for a crate whose `cfg!(panic = "unwind")` is `unwinds`. Distinctive
/// values rather than 0 and 1, so a symbol of this name that is not ours is unlikely to pass.
pub const fn panic_strategy_code(unwinds: bool) -> u32 {
    if unwinds {
        PANIC_STRATEGY_UNWIND
    } else {
        PANIC_STRATEGY_ABORT
    }
}

/// The services the host answers, as a stable trait object. Strings are JSON except for
/// `read_data` (the file's text) and `log`.
#[sabi_trait]
pub trait HostServices: Send + Sync {
    fn read_data(&self, reference: RStr<'_>) -> RResult<RString, RString>;
    fn run_pipeline(&self, config: RStr<'_>) -> RResult<RString, RString>;
    fn chat(&self, request: RStr<'_>) -> RResult<RString, RString>;
    fn log(&self, level: RStr<'_>, message: RStr<'_>);
    #[sabi(last_prefix_field)]
    fn call_service(&self, name: RStr<'_>, payload: RStr<'_>) -> RResult<RString, RString>;
}

/// The borrowed host-services object handed to each hook call.
pub type HostServicesRef<'a> = HostServices_TO<'a, RRef<'a, ()>>;

/// The root module every plugin exports. Frozen: see the module docs.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModule_Ref)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    pub descriptor: for<'a> extern "C" fn(
        input: RStr<'_>,
        host: HostServices_TO<'a, RRef<'a, ()>>,
    ) -> RResult<RString, RString>,
    pub plan: for<'a> extern "C" fn(
        input: RStr<'_>,
        host: HostServices_TO<'a, RRef<'a, ()>>,
    ) -> RResult<RString, RString>,
    pub run: for<'a> extern "C" fn(
        input: RStr<'_>,
        host: HostServices_TO<'a, RRef<'a, ()>>,
    ) -> RResult<RString, RString>,
    pub analyze: for<'a> extern "C" fn(
        input: RStr<'_>,
        host: HostServices_TO<'a, RRef<'a, ()>>,
    ) -> RResult<RString, RString>,
    #[sabi(last_prefix_field)]
    pub call: for<'a> extern "C" fn(
        hook: RStr<'_>,
        input: RStr<'_>,
        host: HostServices_TO<'a, RRef<'a, ()>>,
    ) -> RResult<RString, RString>,
}

impl RootModule for PluginModule_Ref {
    declare_root_module_statics! {PluginModule_Ref}
    const BASE_NAME: &'static str = "image_project_experiment";
    const NAME: &'static str = "image_project_experiment";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Implemented by [`crate::export_experiment!`]: where the plugin's one experiment lives.
pub trait ExperimentInstance: 'static {
    /// The plugin crate's package name, for error messages.
    const CRATE_NAME: &'static str;
    fn get() -> &'static dyn Experiment;
}

/// The header the export macro places under abi_stable's root-module symbol.
pub const fn lib_header<I: ExperimentInstance>() -> AbiLibHeader {
    // SAFETY: the constructor returns a `PluginModule_Ref`, the module type named here.
    unsafe {
        AbiLibHeader::from_constructor::<PluginModule_Ref>(
            root_module_loader::<I>,
            CheckTypeLayout::Yes,
        )
    }
}

extern "C" fn root_module_loader<I: ExperimentInstance>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(module::<I>)
}

fn module<I: ExperimentInstance>() -> PluginModule_Ref {
    use abi_stable::prefix_type::PrefixTypeTrait;
    PluginModule {
        descriptor: descriptor_hook::<I>,
        plan: plan_hook::<I>,
        run: run_hook::<I>,
        analyze: analyze_hook::<I>,
        call: call_hook::<I>,
    }
    .leak_into_prefix()
}

extern "C" fn descriptor_hook<I: ExperimentInstance>(
    _input: RStr<'_>,
    _host: HostServicesRef<'_>,
) -> RResult<RString, RString> {
    guarded::<I>("descriptor", || encode(&I::get().descriptor()))
}

extern "C" fn plan_hook<I: ExperimentInstance>(
    input: RStr<'_>,
    host: HostServicesRef<'_>,
) -> RResult<RString, RString> {
    guarded::<I>("plan", || {
        let request: PlanRequest = decode(input.as_str())?;
        let mut writer = PlanWriter::new();
        let plan = I::get()
            .plan_streaming(&request, &Host::new(host), &mut |run| writer.push(&run))
            .map_err(failed)?;
        writer.finish(plan)
    })
}

extern "C" fn run_hook<I: ExperimentInstance>(
    input: RStr<'_>,
    host: HostServicesRef<'_>,
) -> RResult<RString, RString> {
    guarded::<I>("run", || {
        let request: RunRequest = decode(input.as_str())?;
        let outcome = I::get().run(&request, &Host::new(host)).map_err(failed)?;
        encode(&outcome)
    })
}

extern "C" fn analyze_hook<I: ExperimentInstance>(
    input: RStr<'_>,
    host: HostServicesRef<'_>,
) -> RResult<RString, RString> {
    guarded::<I>("analyze", || {
        let request: AnalyzeRequest = decode(input.as_str())?;
        let analysis = I::get()
            .analyze(&request, &Host::new(host))
            .map_err(failed)?;
        encode(&analysis)
    })
}

extern "C" fn call_hook<I: ExperimentInstance>(
    hook: RStr<'_>,
    input: RStr<'_>,
    host: HostServicesRef<'_>,
) -> RResult<RString, RString> {
    let name = hook.as_str();
    guarded::<I>(name, || {
        let input: serde_json::Value = decode(input.as_str())?;
        match I::get().call(name, &input, &Host::new(host)) {
            Some(answer) => encode(&answer.map_err(failed)?),
            None => Err(HookFailure {
                kind: HookFailureKind::UnknownHook,
                message: format!("plugin does not answer the hook `{name}`"),
            }),
        }
    })
}

/// Runs a hook body inside `catch_unwind` (a panic must never unwind into the host: abi_stable
/// would abort) and turns failures into the JSON error the host reads.
fn guarded<I: ExperimentInstance>(
    hook: &str,
    body: impl FnOnce() -> Result<String, HookFailure>,
) -> RResult<RString, RString> {
    install_quiet_panic_hook();
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(output)) => return RResult::ROk(output.into()),
        Ok(Err(failure)) => failure,
        Err(payload) => {
            let location = PANIC_LOCATION.with(|location| location.take());
            let at = location
                .map(|location| format!(" at {location}"))
                .unwrap_or_default();
            HookFailure {
                kind: HookFailureKind::Panicked,
                message: format!(
                    "plugin `{}` panicked in hook `{hook}`{at}: {}",
                    I::CRATE_NAME,
                    panic_message(payload.as_ref())
                ),
            }
        }
    };
    let text = serde_json::to_string(&failure).unwrap_or_else(|_| failure.message.clone());
    RResult::RErr(text.into())
}

thread_local! {
    /// Where the last panic on this thread happened, for the error message.
    static PANIC_LOCATION: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Replaces the plugin's default panic hook (each plugin links its own `std`, so the host's hook
/// is untouched): every hook panic is caught and reported as an error with its location, so the
/// default hook's stderr message would only be noise around that error.
fn install_quiet_panic_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|location| location.to_string());
            PANIC_LOCATION.with(|slot| slot.set(location));
        }));
    });
}

/// The text of a panic payload (`&str` or `String`; anything else is opaque).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

fn failed(error: ExperimentError) -> HookFailure {
    HookFailure {
        kind: HookFailureKind::Failed,
        message: error.message().to_owned(),
    }
}

fn decode<T: DeserializeOwned>(input: &str) -> Result<T, HookFailure> {
    serde_json::from_str(input).map_err(|error| HookFailure {
        kind: HookFailureKind::BadInput,
        message: format!("could not parse the hook input: {error}"),
    })
}

/// The text of a [`Plan`] as its derived `Serialize` writes it, built as the runs are emitted:
/// each run is written and dropped, so a large plan exists in the plugin only as its text.
struct PlanWriter {
    text: Vec<u8>,
    runs: usize,
    error: Option<serde_json::Error>,
}

impl PlanWriter {
    fn new() -> PlanWriter {
        PlanWriter {
            text: b"{\"runs\":[".to_vec(),
            runs: 0,
            error: None,
        }
    }

    fn push(&mut self, run: &PlannedRun) {
        if self.error.is_some() {
            return;
        }
        if self.runs > 0 {
            self.text.push(b',');
        }
        self.runs += 1;
        if let Err(error) = serde_json::to_writer(&mut self.text, run) {
            self.error = Some(error);
        }
    }

    /// The whole plan: the emitted runs, then `plan`'s own runs, `meta` and `pairing`.
    fn finish(mut self, plan: Plan) -> Result<String, HookFailure> {
        let Plan {
            runs,
            meta,
            pairing,
        } = plan;
        runs.iter().for_each(|run| self.push(run));
        let encoded = |error: serde_json::Error| HookFailure {
            kind: HookFailureKind::Failed,
            message: format!("could not encode the hook output: {error}"),
        };
        if let Some(error) = self.error {
            return Err(encoded(error));
        }
        self.text.extend_from_slice(b"],\"meta\":");
        serde_json::to_writer(&mut self.text, &meta).map_err(encoded)?;
        self.text.extend_from_slice(b",\"pairing\":");
        serde_json::to_writer(&mut self.text, &pairing).map_err(encoded)?;
        self.text.push(b'}');
        // serde_json writes UTF-8 only, and the punctuation added here is ASCII.
        String::from_utf8(self.text).map_err(|error| HookFailure {
            kind: HookFailureKind::Failed,
            message: format!("the encoded plan is not UTF-8: {error}"),
        })
    }
}

fn encode<T: Serialize>(value: &T) -> Result<String, HookFailure> {
    serde_json::to_string(value).map_err(|error| HookFailure {
        kind: HookFailureKind::Failed,
        message: format!("could not encode the hook output: {error}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_streamed_plan_encodes_like_the_plan() {
        use super::*;
        use crate::model::PlannedRun;
        let run = |variant: &str, run: u32| PlannedRun {
            variant: variant.into(),
            run,
            seed: Some(3),
            overlay: serde_json::json!({"prompt": {"plan": "custom"}}),
            ..PlannedRun::default()
        };
        let mut meta = serde_json::Map::new();
        meta.insert("note".into(), "\"quoted\" \u{e9}".into());
        let plan = Plan {
            runs: vec![run("A", 1), run("B", 1), run("A", 2)],
            meta,
            pairing: Some(crate::Pairing::new("A", "B")),
        };
        let expected = serde_json::to_string(&plan).unwrap();
        // Two emitted runs and one left in the plan, as a plugin mixing both would give them.
        let mut writer = PlanWriter::new();
        let mut rest = plan.clone();
        for emitted in rest.runs.drain(..2) {
            writer.push(&emitted);
        }
        assert_eq!(writer.finish(rest).unwrap(), expected);
        assert_eq!(
            PlanWriter::new().finish(Plan::default()).unwrap(),
            serde_json::to_string(&Plan::default()).unwrap()
        );
    }

    #[test]
    fn export_macro_uses_abi_stables_root_module_symbol() {
        let source = include_str!("lib.rs");
        let expected = format!(
            "#[export_name = \"{}\"]",
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
        assert!(
            source.contains(&expected),
            "lib.rs must export `{expected}`"
        );
        let expected = format!("#[export_name = \"{}\"]", super::PANIC_STRATEGY_SYMBOL);
        assert!(
            source.contains(&expected),
            "lib.rs must export `{expected}`"
        );
    }

    #[test]
    fn this_crate_records_unwind() {
        // plugin-api's own tests build with the workspace's `panic = "unwind"`.
        assert_eq!(
            super::panic_strategy_code(cfg!(panic = "unwind")),
            super::PANIC_STRATEGY_UNWIND
        );
        assert_ne!(super::PANIC_STRATEGY_UNWIND, super::PANIC_STRATEGY_ABORT);
    }
}

//! The interface between image-project and its experiment plugins.
//!
//! An experiment is a `cdylib` crate that depends only on this crate. It implements the plain
//! [`Experiment`] trait and exports it with [`export_experiment!`]:
//!
//! ```ignore
//! use plugin_api::{Descriptor, Experiment, ExperimentError, Host, Plan, PlanRequest, RunMode};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Experiment for Hello {
//!     fn descriptor(&self) -> Descriptor {
//!         Descriptor::new("hello", "One variant, one run", RunMode::PromptOnly)
//!     }
//!     fn plan(&self, request: &PlanRequest, _host: &Host<'_>) -> Result<Plan, ExperimentError> {
//!         todo!()
//!     }
//! }
//!
//! plugin_api::export_experiment!(Hello);
//! ```
//!
//! What crosses the boundary is JSON text: every payload is one of the serde types in [`model`].
//! The binary layout is frozen at 1.0 and grows by name only: new hooks go through
//! [`Experiment::call`], new host services through [`Host::call_service`]. The interface version is
//! this crate's package version ([`INTERFACE_VERSION`]); a plugin built against another major
//! version is refused at load time.
//!
//! The shared helpers ([`merge`], [`seed`], [`token`], [`concepts`], [`hash`]) live here because
//! plugins and the host's pipeline stages must agree on them bit for bit.
//!
//! `abi_stable` stays inside this crate: plugin authors never write its types. The host's side
//! (the `loader` module and the wire types `HookFailure`, `PlanSeed`) is public because the host
//! is another crate, but it is host-only and hidden from these docs.

// `#[sabi_trait]` and the prefix-type derive trip these lints on current rustc; they can only be
// silenced at the crate level.
#![allow(non_local_definitions, non_camel_case_types)]

pub mod concepts;
mod experiment;
#[doc(hidden)]
pub mod ffi;
pub mod hash;
#[doc(hidden)]
pub mod loader;
pub mod merge;
pub mod model;
pub mod seed;
pub mod services;
pub mod stage;
pub mod token;

pub use experiment::{collect_plan, Experiment, ExperimentError, Host, HostError, LogLevel};
pub use model::*;
/// Re-exported so plugins need no dependency besides this crate (`plugin_api::serde_json::json!`).
pub use serde_json;
pub use services::{
    check_artifact_name, check_artifact_size, AnalysisContext, ContextPair, ContextRun,
    WrittenArtifact, MAX_ARTIFACT_BYTES,
};
pub use stage::{StageResponse, StageSpec};

/// The interface version: the `plugin-api` package version a plugin was built against.
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Hooks (through [`Experiment::call`]) and host services (through [`Host::call_service`]) added
/// by name after 1.0, each with the interface version that added it, so an error about a name
/// the other side does not answer can say which version it needs.
pub const NAMED_ADDITIONS: &[(&str, &str)] = &[
    (services::ANALYSIS_CONTEXT, "1.1"),
    (services::RUN_TRANSCRIPT, "1.1"),
    (services::WRITE_ARTIFACT, "1.1"),
];

/// The interface version that added the hook or host service `name`, when it is a later
/// addition this build knows ([`NAMED_ADDITIONS`]).
pub fn added_in(name: &str) -> Option<&'static str> {
    added_in_table(name, NAMED_ADDITIONS)
}

fn added_in_table(name: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, version)| *version)
}

/// ` (`name` was added in plugin-api X; <other side>)` for a name the other side did not
/// answer, or nothing when the version that added it is unknown here.
#[doc(hidden)]
pub fn unknown_name_note(name: &str, other_side: &str, table: &[(&str, &'static str)]) -> String {
    match added_in_table(name, table) {
        Some(version) => format!(" (`{name}` was added in plugin-api {version}; {other_side})"),
        None => String::new(),
    }
}

/// Exports an [`Experiment`] from a plugin crate (once per crate, at its root).
///
/// The argument is an expression building the experiment; it is evaluated once, on the first hook
/// call. Every hook runs inside `catch_unwind`: a panic becomes an error naming the plugin and the
/// hook instead of aborting the host. That only works in a plugin built with `panic = "unwind"`,
/// so the macro also records the plugin's panic strategy in a symbol of its own, which the host
/// reads before calling anything: a plugin built with `panic = "abort"` is refused at load time.
#[macro_export]
macro_rules! export_experiment {
    ($experiment:expr) => {
        #[doc(hidden)]
        pub struct __ImageProjectExperiment;

        impl $crate::ffi::ExperimentInstance for __ImageProjectExperiment {
            const CRATE_NAME: &'static str = env!("CARGO_PKG_NAME");
            fn get() -> &'static dyn $crate::Experiment {
                static INSTANCE: ::std::sync::OnceLock<::std::boxed::Box<dyn $crate::Experiment>> =
                    ::std::sync::OnceLock::new();
                &**INSTANCE.get_or_init(|| ::std::boxed::Box::new($experiment))
            }
        }

        // The symbol abi_stable's loader looks up (what `#[export_root_module]` would emit; spelled
        // out so plugins need no direct `abi_stable` dependency). A test in plugin-api checks the
        // name against abi_stable's constant.
        #[doc(hidden)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static __IMAGE_PROJECT_LIB_HEADER: $crate::ffi::LibHeader =
            $crate::ffi::lib_header::<__ImageProjectExperiment>();

        // The panic strategy of the crate this expands in (the plugin's, which decides whether its
        // `catch_unwind` can catch anything), as plain data the host reads without running any of
        // the plugin's code. A symbol beside the frozen layout, not a field in it (DESIGN §3:
        // growth by name). A test in plugin-api checks the name against `PANIC_STRATEGY_SYMBOL`.
        #[doc(hidden)]
        #[export_name = "image_project_panic_strategy"]
        pub static __IMAGE_PROJECT_PANIC_STRATEGY: u32 =
            $crate::ffi::panic_strategy_code(cfg!(panic = "unwind"));
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unknown_name_is_noted_with_the_version_that_added_it() {
        let table = [("write_artifact", "1.2")];
        assert_eq!(
            super::unknown_name_note("write_artifact", "this host speaks 1.1.0", &table),
            " (`write_artifact` was added in plugin-api 1.2; this host speaks 1.1.0)"
        );
        assert_eq!(super::unknown_name_note("other", "x", &table), "");
        assert_eq!(super::added_in("read_data"), None);
        assert_eq!(super::added_in("write_artifact"), Some("1.1"));
    }
}

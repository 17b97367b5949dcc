//! Experiment plugins: where they are looked for, loading them and checking their descriptors.
//!
//! Loading reports, never panics: a file that fails to load becomes a [`LoadFailure`] with a
//! one-line reason, and every other plugin still loads. What a plugin's hooks *do* with the
//! runner is the runner's business, not this module's: the host services a plugin calls are the
//! runner's (`runner::HostServices`), handed to [`Catalog::discover`] for the load-time hooks.

mod catalog;
mod descriptor;
pub mod printable;
mod search_path;

pub use catalog::{Catalog, LoadFailure, LoadedExperiment, UnknownExperiment};
pub use descriptor::{check_descriptor, check_value, expected_value, RUNNER_FLAG_NAMES};
pub use printable::printable;
pub use search_path::{search_dirs, PluginDirOptions, SearchDir, SearchDirOrigin, PLUGIN_PATH_ENV};

use std::path::PathBuf;

/// Errors that stop plugin discovery as a whole (bad files are [`LoadFailure`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin directory `{}` does not exist", path.display())]
    MissingDir { path: PathBuf },
    #[error("plugin directory `{}` is not a directory", path.display())]
    NotADir { path: PathBuf },
    #[error("failed to read plugin directory `{}`", path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

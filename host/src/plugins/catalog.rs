//! The catalog: every experiment found on the search path, and every file that failed to load.
//!
//! Order of precedence follows the search path: an experiment in an earlier directory shadows one
//! of the same name in a later directory (and `list` says so); two libraries declaring the same
//! name in one directory are both refused, since neither can be preferred.

use std::path::{Path, PathBuf};

use plugin_api::loader::{self, PluginLibrary};
use plugin_api::Descriptor;

use super::descriptor::check_descriptor;
use super::search_path::{library_files, search_dirs, PluginDirOptions};
use super::services::HostServices;
use super::PluginError;

/// A plugin that loaded and described itself.
#[derive(Clone)]
pub struct LoadedExperiment {
    pub descriptor: Descriptor,
    /// The library file (canonical path).
    pub path: PathBuf,
    pub library: PluginLibrary,
    /// Libraries of the same name further down the search path.
    pub shadowed: Vec<PathBuf>,
}

impl LoadedExperiment {
    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.descriptor.name
    }
}

/// A file that could not be used as a plugin.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub path: PathBuf,
    /// One line.
    pub reason: String,
    /// The full report (abi_stable's layout errors), for `--verbose`.
    pub detail: Option<String>,
}

/// Every experiment found, sorted by name, and every failure, in search order.
#[derive(Default)]
pub struct Catalog {
    pub experiments: Vec<LoadedExperiment>,
    pub failures: Vec<LoadFailure>,
}

/// An experiment name that is not in the catalog.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
pub struct UnknownExperiment {
    pub name: String,
    pub available: Vec<String>,
    pub suggestion: Option<String>,
}

impl UnknownExperiment {
    fn message(&self) -> String {
        let mut message = format!("no experiment named `{}`", self.name);
        if let Some(suggestion) = &self.suggestion {
            message.push_str(&format!(
                "\n\n  tip: a similar experiment exists: `{suggestion}`"
            ));
        }
        if self.available.is_empty() {
            message.push_str("\n\nno experiments were found; see `image-project experiments list`");
        } else {
            message.push_str(&format!(
                "\n\navailable experiments: {}",
                self.available.join(", ")
            ));
        }
        message
    }
}

impl Catalog {
    /// Scans the search path and loads every candidate library.
    pub fn discover(options: &PluginDirOptions) -> Result<Catalog, PluginError> {
        let services = HostServices::new(options.cwd.clone());
        let mut catalog = Catalog::default();
        for dir in search_dirs(options)? {
            let mut found_here: Vec<LoadedExperiment> = Vec::new();
            for path in library_files(&dir.path)? {
                match load_one(&path, &services) {
                    Ok(experiment) => found_here.push(experiment),
                    Err(failure) => catalog.failures.push(failure),
                }
            }
            catalog.add_directory(found_here);
        }
        catalog.experiments.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(catalog)
    }

    /// Adds the experiments of one directory, below everything added before.
    fn add_directory(&mut self, found_here: Vec<LoadedExperiment>) {
        for experiment in &found_here {
            let twins: Vec<&LoadedExperiment> = found_here
                .iter()
                .filter(|other| other.name() == experiment.name())
                .collect();
            if twins.len() > 1 {
                let others: Vec<String> = twins
                    .iter()
                    .filter(|other| other.path != experiment.path)
                    .map(|other| format!("`{}`", other.path.display()))
                    .collect();
                self.failures.push(LoadFailure {
                    path: experiment.path.clone(),
                    reason: format!(
                        "experiment `{}` is also defined by {} in the same directory",
                        experiment.name(),
                        others.join(", ")
                    ),
                    detail: None,
                });
                continue;
            }
            match self
                .experiments
                .iter_mut()
                .find(|known| known.name() == experiment.name())
            {
                Some(winner) => winner.shadowed.push(experiment.path.clone()),
                None => self.experiments.push(experiment.clone()),
            }
        }
    }

    /// The experiment called `name`, or an error listing what exists.
    pub fn get(&self, name: &str) -> Result<&LoadedExperiment, UnknownExperiment> {
        if let Some(found) = self
            .experiments
            .iter()
            .find(|experiment| experiment.name() == name)
        {
            return Ok(found);
        }
        let available: Vec<String> = self
            .experiments
            .iter()
            .map(|e| e.name().to_owned())
            .collect();
        let suggestion = available
            .iter()
            .map(|candidate| {
                (
                    strsim::jaro_winkler(&name.to_lowercase(), candidate),
                    candidate,
                )
            })
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| candidate.clone());
        Err(UnknownExperiment {
            name: name.to_owned(),
            available,
            suggestion,
        })
    }
}

fn load_one(path: &Path, services: &HostServices) -> Result<LoadedExperiment, LoadFailure> {
    let failure = |reason: String, detail: Option<String>| LoadFailure {
        path: path.to_owned(),
        reason,
        detail,
    };
    let library = loader::load(path).map_err(|error| failure(error.reason, Some(error.detail)))?;
    let descriptor = library
        .descriptor(services)
        .map_err(|error| failure(error.to_string(), None))?;
    check_descriptor(&descriptor).map_err(|reason| failure(reason, None))?;
    Ok(LoadedExperiment {
        descriptor,
        path: path.to_owned(),
        library,
        shadowed: Vec::new(),
    })
}

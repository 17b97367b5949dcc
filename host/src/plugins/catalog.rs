//! The catalog: every experiment found on the search path, and every file that failed to load.
//!
//! Order of precedence follows the search path: an experiment in an earlier directory shadows one
//! of the same name in a later directory (and `list` says so); two libraries declaring the same
//! name in one directory are both refused, since neither can be preferred.
//!
//! A failure remembers the experiment it defines when the descriptor had been read before the
//! library was refused, so asking for that name reports the failure instead of "no experiment
//! named". Every reason is made printable once, here, because it may quote the plugin's own text.

use std::path::{Path, PathBuf};

use plugin_api::loader::{self, PanicStrategy, PluginLibrary, ServiceProvider};
use plugin_api::Descriptor;

use super::descriptor::{check_descriptor, check_required_interface};
use super::printable::{printable, NAME_CHARS, REASON_CHARS};
use super::search_path::{library_files, search_dirs, Candidate, PluginDirOptions};
use super::PluginError;
use crate::stages::declared::declared_stages;
use crate::stages::{Registry, StageDef};

/// A plugin that loaded and described itself.
#[derive(Clone)]
pub struct LoadedExperiment {
    pub descriptor: Descriptor,
    /// The library file (canonical path).
    pub path: PathBuf,
    pub library: PluginLibrary,
    /// Libraries of the same name further down the search path.
    pub shadowed: Vec<PathBuf>,
    /// The stage kinds its descriptor declares (`<name>.<stage>`), checked.
    pub declared_stages: Vec<StageDef>,
}

impl LoadedExperiment {
    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.descriptor.name
    }

    /// The stage kinds its runs can use: the built-in ones and those it declares.
    pub fn stage_registry(&self) -> Registry {
        Registry::with_declared(&self.declared_stages)
    }

    /// What the user should know about this plugin although it loaded, one line each.
    pub fn warnings(&self) -> Vec<String> {
        match self.library.panic_strategy() {
            PanicStrategy::Unwind => Vec::new(),
            PanicStrategy::Unknown => vec![UNKNOWN_PANIC_STRATEGY.to_owned()],
        }
    }
}

/// The warning for a plugin without a panic-strategy record.
const UNKNOWN_PANIC_STRATEGY: &str = "panic strategy unknown: no \
     `image_project_panic_strategy` record (built against an older plugin-api, or without \
     `export_experiment!`); if it was built with `panic = \"abort\"`, a panic in it kills the \
     host; rebuilding it records the strategy";

/// A file that could not be used as a plugin.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub path: PathBuf,
    /// One line, printable (control characters escaped, cut to [`REASON_CHARS`]).
    pub reason: String,
    /// The full report (abi_stable's layout errors), for `--verbose`.
    pub detail: Option<String>,
    /// The experiment the file defines, when the failure came after its descriptor was read (a
    /// refused descriptor, two libraries of one name), so `run <name>` can point at it.
    pub experiment: Option<String>,
}

impl LoadFailure {
    /// A failure of `path`; `reason` may hold text from the plugin, so it is made printable here,
    /// once, for every command that shows it.
    fn new(path: &Path, reason: &str, detail: Option<String>, experiment: Option<&str>) -> Self {
        LoadFailure {
            path: path.to_owned(),
            reason: printable(reason, REASON_CHARS).into_owned(),
            detail,
            experiment: experiment.map(str::to_owned),
        }
    }
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
    /// The libraries that declared this name but were refused (a bad descriptor, a twin in the
    /// same directory): the experiment exists, it did not load.
    pub refused: Vec<LoadFailure>,
    /// Every other file that failed to load: any of them may be the experiment, since a library
    /// that fails before its descriptor is read has no name to match.
    pub other_failures: Vec<LoadFailure>,
}

impl UnknownExperiment {
    fn message(&self) -> String {
        let name = printable(&self.name, NAME_CHARS);
        if !self.refused.is_empty() {
            let mut message = format!("experiment `{name}` failed to load");
            for failure in &self.refused {
                message.push_str(&format!("\n  {}", failure_line(failure)));
            }
            message.push_str("\n\nsee `image-project experiments list --verbose` for details");
            return message;
        }
        let mut message = format!("no experiment named `{name}`");
        if !self.other_failures.is_empty() {
            message.push_str("\n\nthese files failed to load; one of them may define it:");
            for failure in &self.other_failures {
                message.push_str(&format!("\n  {}", failure_line(failure)));
            }
        }
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
    /// `services` answers the hooks a plugin calls while loading (its `descriptor`).
    pub fn discover(
        options: &PluginDirOptions,
        services: &dyn ServiceProvider,
    ) -> Result<Catalog, PluginError> {
        let mut catalog = Catalog::default();
        for dir in search_dirs(options)? {
            let mut found_here: Vec<LoadedExperiment> = Vec::new();
            for candidate in library_files(&dir.path)? {
                let loaded = match candidate {
                    Candidate::Library(path) => load_one(&path, services),
                    Candidate::Skipped { path, reason } => {
                        Err(LoadFailure::new(&path, &reason, None, None))
                    }
                };
                match loaded {
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
                self.failures.push(LoadFailure::new(
                    &experiment.path,
                    &format!(
                        "experiment `{}` is also defined by {} in the same directory",
                        experiment.name(),
                        others.join(", ")
                    ),
                    None,
                    Some(experiment.name()),
                ));
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
        let (refused, other_failures) = self
            .failures
            .iter()
            .cloned()
            .partition(|failure| failure.experiment.as_deref() == Some(name));
        Err(UnknownExperiment {
            name: name.to_owned(),
            available,
            suggestion,
            refused,
            other_failures,
        })
    }
}

/// `` `path`: reason `` on one line, as error messages list a failure.
fn failure_line(failure: &LoadFailure) -> String {
    format!(
        "`{}`: {}",
        printable(&failure.path.display().to_string(), REASON_CHARS),
        failure.reason
    )
}

fn load_one(path: &Path, services: &dyn ServiceProvider) -> Result<LoadedExperiment, LoadFailure> {
    let library = loader::load(path)
        .map_err(|error| LoadFailure::new(path, &error.reason, Some(error.detail), None))?;
    let descriptor = library
        .descriptor_json(services)
        .map_err(|error| LoadFailure::new(path, &error.to_string(), None, None))?;
    // The name, when there is one, so `run <name>` can point at the refusal.
    let name = descriptor
        .get("name")
        .and_then(|name| name.as_str())
        .map(str::to_owned);
    let name = name.as_deref();
    check_required_interface(&descriptor)
        .map_err(|reason| LoadFailure::new(path, &reason, None, name))?;
    let descriptor: Descriptor = serde_json::from_value(descriptor).map_err(|error| {
        let reason = format!("hook `descriptor` returned malformed output: {error}");
        LoadFailure::new(path, &reason, None, name)
    })?;
    check_descriptor(&descriptor)
        .map_err(|reason| LoadFailure::new(path, &reason, None, Some(&descriptor.name)))?;
    let declared_stages = declared_stages(&descriptor.name, &descriptor.stages);
    Ok(LoadedExperiment {
        descriptor,
        path: path.to_owned(),
        library,
        shadowed: Vec::new(),
        declared_stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(file: &str, reason: &str, experiment: Option<&str>) -> LoadFailure {
        LoadFailure::new(Path::new(file), reason, None, experiment)
    }

    #[test]
    fn a_refused_experiment_is_named_with_its_reasons() {
        let catalog = Catalog {
            experiments: Vec::new(),
            failures: vec![
                failure(
                    "/p/liba.so",
                    "experiment `demo` is also defined by `/p/libb.so`",
                    Some("demo"),
                ),
                failure(
                    "/p/libb.so",
                    "experiment `demo` is also defined by `/p/liba.so`",
                    Some("demo"),
                ),
                failure("/p/libc.so", "not a loadable library: bad ELF", None),
            ],
        };
        let Err(error) = catalog.get("demo") else {
            panic!("`demo` did not load");
        };
        assert_eq!(
            error.to_string(),
            "experiment `demo` failed to load\n  \
             `/p/liba.so`: experiment `demo` is also defined by `/p/libb.so`\n  \
             `/p/libb.so`: experiment `demo` is also defined by `/p/liba.so`\n\n\
             see `image-project experiments list --verbose` for details"
        );
    }

    #[test]
    fn an_unknown_name_lists_the_files_that_failed_before_their_descriptor() {
        let catalog = Catalog {
            experiments: Vec::new(),
            failures: vec![failure(
                "/p/libx.so",
                "built with `panic = \"abort\"`",
                None,
            )],
        };
        let Err(error) = catalog.get("x") else {
            panic!("`x` did not load");
        };
        let message = error.to_string();
        assert!(
            message.starts_with(
                "no experiment named `x`\n\n\
                 these files failed to load; one of them may define it:\n  \
                 `/p/libx.so`: built with `panic = \"abort\"`\n\n"
            ),
            "{message}"
        );
    }

    #[test]
    fn reasons_and_names_are_printable() {
        let failure = failure(
            "/p/lib.so",
            &format!("bad `a\nb` {}", "x".repeat(5000)),
            None,
        );
        assert!(
            failure.reason.starts_with("bad `a\\nb` xxx"),
            "{}",
            failure.reason
        );
        assert!(failure.reason.ends_with('…'));
        assert_eq!(failure.reason.chars().count(), REASON_CHARS + 1);
        let catalog = Catalog::default();
        let Err(error) = catalog.get("evil\u{1b}[2J") else {
            panic!("nothing is loaded");
        };
        assert!(
            error
                .to_string()
                .starts_with("no experiment named `evil\\u{1b}[2J`"),
            "{error}"
        );
    }
}

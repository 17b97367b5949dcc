//! Configuration: the layers, how they merge, `--set`, and the checks made while loading.
//!
//! The config is TOML, handled as one `serde_json::Value` tree (the same JSON that crosses the
//! plugin boundary). [`load`] builds it from these layers, lowest first (DESIGN §6):
//!
//! 1. the embedded default ([`DEFAULT_TOML`], `default.toml` next to this file);
//! 2. either the `--config` files in order, or else the one file `IMAGE_PROJECT_CONFIG` names,
//!    or else `config/config.toml` and `config/config.local.toml` in the working directory,
//!    each when present;
//! 3. the `--set KEY=VALUE` assignments in order ([`parse_set`]).
//!
//! Each layer is parsed, checked on its own (known top-level sections, no secrets: [`checks`]),
//! then merged with `plugin_api::merge::deep_merge`. The merged tree, less `experiment_runners`,
//! is then checked against the run-config schema ([`schema`]: every key and its type), so every
//! error names the key (spelled by [`key`]) and the file or `--set` that set it.
//!
//! This module owns reading config files, the rules above and the schema of a run config
//! ([`RunConfig`], built by [`parse_run_config`], which the runner calls on each run's config),
//! with every section type and its small enums ([`sections`]): the feature modules import their
//! section from here, and this module imports none of them.
//! It does not own the knobs inside `prompt.stage_configs` and `prompt.stages.overrides` (the
//! stages check those when the plan compiles), the meaning of `experiment_runners` entries (each
//! experiment declares its keys; the runner calls [`check_runner_keys`]), nor reading the process
//! environment: the caller passes the value of `IMAGE_PROJECT_CONFIG` in [`ConfigRequest`].

pub mod checks;
mod error;
pub mod key;
mod runners;
pub mod schema;
pub mod sections;
mod set;
pub mod suggest;
mod values;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use schema::LayerTree;

pub use checks::{is_secret_key, SECRET_KEYS, SECTIONS};
pub use error::{ConfigError, FileOrigin, Layer};
pub use runners::{check_runner_keys, take_experiment_runners, RUNNERS_KEY};
pub use schema::{parse_run_config, RunConfig};
pub use sections::{
    check_budget, check_credentials, BackendSection, BudgetSection, CacheMode, CacheSection,
    ContextSection, DataSection, ExperimentSection, Hemisphere, HolidaySection, ImageBackendConfig,
    ImagePrice, ImageSection, InjectionLocation, Injector, OutputConfig, PricingSection,
    PromptSection, Provider, RunSection, SeasonSection, SequenceItem, StageConfigs, StagesConfig,
    TextBackendConfig, TextPrice, DEFAULT_BASE_URL, DEFAULT_IMAGE_LATENCY_HINT_MS,
    DEFAULT_MAX_FILE_BYTES, DEFAULT_TEXT_LATENCY_HINT_MS,
};
pub use set::parse_set;

/// The environment variable naming a config file to use instead of the working-directory ones.
pub const CONFIG_ENV_VAR: &str = "IMAGE_PROJECT_CONFIG";

/// The embedded default config, the lowest layer.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The working-directory config files, loaded when neither `--config` nor the env var is given.
pub const LOCAL_FILES: [&str; 2] = ["config/config.toml", "config/config.local.toml"];

/// What to load: the command's flags, its working directory and the relevant environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigRequest {
    /// `--config` files, in order; relative ones resolve against `cwd`.
    pub files: Vec<PathBuf>,
    /// `--set` assignments, in order.
    pub sets: Vec<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// The value of `IMAGE_PROJECT_CONFIG`, if set (passed in so tests need not touch the
    /// process environment). A blank value counts as unset.
    pub env_config: Option<String>,
}

impl ConfigRequest {
    /// A request with `env_config` read from the process environment.
    ///
    /// A value that is not valid Unicode is kept lossily: the path it then names will not
    /// exist, and loading fails with an error naming it rather than silently ignoring it.
    pub fn from_env(files: Vec<PathBuf>, sets: Vec<String>, cwd: PathBuf) -> Self {
        let env_config =
            std::env::var_os(CONFIG_ENV_VAR).map(|value| value.to_string_lossy().into_owned());
        ConfigRequest {
            files,
            sets,
            cwd,
            env_config,
        }
    }
}

/// A loaded config: the merged tree and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The merged config tree (a table).
    pub tree: Value,
    /// Which files were loaded (recorded in plans as `config_meta`).
    pub meta: ConfigMeta,
}

/// Where a config came from, as recorded in plans (`config_meta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigMeta {
    /// `default` (no file), `explicit` (`--config`), `env` (`IMAGE_PROJECT_CONFIG`) or `local`
    /// (`config/config.toml` and/or `config/config.local.toml`).
    pub mode: &'static str,
    /// The absolute paths of the files loaded, in order.
    pub paths: Vec<String>,
    /// The name of the environment variable consulted.
    pub env_var: &'static str,
}

/// Loads the config: every layer, checked and merged (see the module docs for the order), and
/// the result checked against the run-config schema. The tree is returned as a tree (the runner
/// merges overlays onto it); [`parse_run_config`] gives the typed form of a run's config.
///
/// # Errors
///
/// [`ConfigError`] for a missing or unreadable file, invalid TOML, a bad `--set`, an unknown
/// section, a secret, a merge clash, or a key the schema refuses (unknown, wrong type, bad
/// value); each names the key and, when it can, the file or `--set` at fault.
pub fn load(request: &ConfigRequest) -> Result<LoadedConfig, ConfigError> {
    let mut tree = default_tree()?;
    let mut layers = vec![(Layer::Default, tree.clone())];
    let (mode, files) = select_files(request)?;
    let mut paths = Vec::with_capacity(files.len());
    for (path, origin) in files {
        merge_file(&mut tree, &path, origin, &mut layers)?;
        paths.push(path.display().to_string());
    }
    merge_sets(&mut tree, &request.sets, &mut layers)?;
    schema::check_layers(&tree, &layers)?;
    Ok(LoadedConfig {
        tree,
        meta: ConfigMeta {
            mode,
            paths,
            env_var: CONFIG_ENV_VAR,
        },
    })
}

/// The `--config` files and `--set` values of `request` alone, merged onto an empty table with
/// the same checks as [`load`]; the default, `IMAGE_PROJECT_CONFIG` and the working-directory
/// files are not consulted. For `--resume`, where these go on top of each stored run config.
///
/// The schema check is made on the overlay merged onto the embedded default, which has every
/// required key, so only what the overlay itself gets wrong is reported.
///
/// # Errors
///
/// As for [`load`].
pub fn load_overlay(request: &ConfigRequest) -> Result<Value, ConfigError> {
    let mut tree = Value::Object(Map::new());
    let mut layers = Vec::new();
    for file in &request.files {
        merge_file(
            &mut tree,
            &absolute(&request.cwd, file)?,
            FileOrigin::Flag,
            &mut layers,
        )?;
    }
    merge_sets(&mut tree, &request.sets, &mut layers)?;
    let mut checked = default_tree()?;
    for (layer, overlay) in &layers {
        merge_checked(&mut checked, overlay, layer)?;
    }
    schema::check_layers(&checked, &layers)?;
    Ok(tree)
}

/// The embedded default config, parsed and checked.
///
/// # Errors
///
/// Only if the embedded file were broken, which the tests rule out; it goes through the same
/// checks as any layer rather than being trusted.
pub fn default_tree() -> Result<Value, ConfigError> {
    let tree = values::parse_document(DEFAULT_TOML, &Layer::Default)?;
    checks::check_layer(&tree, &Layer::Default)?;
    Ok(tree)
}

/// A config file to load, and who asked for it.
type ConfigFile = (PathBuf, FileOrigin);

/// Which files to load, and the mode recorded for them.
fn select_files(request: &ConfigRequest) -> Result<(&'static str, Vec<ConfigFile>), ConfigError> {
    let cwd = &request.cwd;
    if !request.files.is_empty() {
        let files = request
            .files
            .iter()
            .map(|file| Ok((absolute(cwd, file)?, FileOrigin::Flag)))
            .collect::<Result<_, ConfigError>>()?;
        return Ok(("explicit", files));
    }
    if let Some(env) = request.env_config.as_deref() {
        if !env.trim().is_empty() {
            return Ok((
                "env",
                vec![(absolute(cwd, Path::new(env))?, FileOrigin::Env)],
            ));
        }
    }
    let mut files = Vec::new();
    for name in LOCAL_FILES {
        let path = absolute(cwd, Path::new(name))?;
        // "When present": absence is normal, but a path we cannot even check is reported.
        match path.try_exists() {
            Ok(true) => files.push((path, FileOrigin::WorkingDir)),
            Ok(false) => {}
            Err(source) => return Err(ConfigError::ReadFile { path, source }),
        }
    }
    let mode = if files.is_empty() { "default" } else { "local" };
    Ok((mode, files))
}

/// `path` resolved against `cwd`, made absolute without touching the file system.
fn absolute(cwd: &Path, path: &Path) -> Result<PathBuf, ConfigError> {
    let joined = cwd.join(path);
    std::path::absolute(&joined).map_err(|source| ConfigError::ReadFile {
        path: joined,
        source,
    })
}

fn merge_file(
    tree: &mut Value,
    path: &Path,
    origin: FileOrigin,
    layers: &mut Vec<LayerTree>,
) -> Result<(), ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ConfigError::MissingFile {
                path: path.to_owned(),
                origin,
            }
        } else {
            ConfigError::ReadFile {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let layer = Layer::File(path.to_owned());
    let overlay = values::parse_document(&text, &layer)?;
    merge_layer(tree, overlay, layer, layers)
}

fn merge_sets(
    tree: &mut Value,
    sets: &[String],
    layers: &mut Vec<LayerTree>,
) -> Result<(), ConfigError> {
    for assignment in sets {
        let (overlay, layer) = set::parse_set_layer(assignment)?;
        merge_layer(tree, overlay, layer, layers)?;
    }
    Ok(())
}

/// Checks one layer, merges it, and keeps it in `layers` so schema errors can name it.
fn merge_layer(
    tree: &mut Value,
    overlay: Value,
    layer: Layer,
    layers: &mut Vec<LayerTree>,
) -> Result<(), ConfigError> {
    checks::check_layer(&overlay, &layer)?;
    merge_checked(tree, &overlay, &layer)?;
    layers.push((layer, overlay));
    Ok(())
}

fn merge_checked(tree: &mut Value, overlay: &Value, layer: &Layer) -> Result<(), ConfigError> {
    plugin_api::merge::deep_merge(tree, overlay).map_err(|err| ConfigError::Merge {
        key: err.path,
        layer: layer.clone(),
        base: err.base,
        overlay: err.overlay,
    })
}

#[cfg(test)]
mod tests;

//! Flags shared by several commands, defined once.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use plugin_api::RunMode;

use crate::config::{CacheMode, ConfigRequest};
use crate::plugins::{Catalog, PluginDirOptions, PLUGIN_PATH_ENV};
use crate::runner::HostServices;

use super::CliError;

pub const PLUGIN_HEADING: &str = "Plugin options";
pub const CONFIG_HEADING: &str = "Config options";

/// The config layers a command loads on top of the embedded default.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Config file to merge over the embedded default (repeatable, in order)
    #[arg(long = "config", value_name = "FILE", help_heading = CONFIG_HEADING)]
    pub files: Vec<PathBuf>,

    /// Override one config key with a TOML value (repeatable), e.g. --set 'run.mode="full"'
    #[arg(long = "set", value_name = "KEY=VALUE", help_heading = CONFIG_HEADING)]
    pub sets: Vec<String>,

    /// Response cache of the openai text backend [default: `cache.mode`, else use]
    #[arg(long = "cache", value_name = "MODE", value_enum, help_heading = CONFIG_HEADING)]
    pub cache: Option<CacheArg>,
}

impl ConfigArgs {
    /// The layers to load, with `IMAGE_PROJECT_CONFIG` read from the environment. `--cache`
    /// is the last `--set` (`cache.mode`), so it wins over every file and earlier `--set`.
    pub fn request(&self, cwd: &std::path::Path) -> ConfigRequest {
        let mut sets = self.sets.clone();
        if let Some(cache) = self.cache {
            sets.push(format!(
                "cache.mode=\"{}\"",
                CacheMode::from(cache).as_str()
            ));
        }
        ConfigRequest::from_env(self.files.clone(), sets, cwd.to_owned())
    }
}

/// `--cache`, spelled as `cache.mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CacheArg {
    /// Answer from the cache when it holds the request; store new answers
    Use,
    /// Call every request again and overwrite the stored answers
    Refresh,
    /// Neither read nor write the cache
    Off,
}

impl From<CacheArg> for CacheMode {
    fn from(mode: CacheArg) -> CacheMode {
        match mode {
            CacheArg::Use => CacheMode::Use,
            CacheArg::Refresh => CacheMode::Refresh,
            CacheArg::Off => CacheMode::Off,
        }
    }
}

/// `--mode`, spelled as in the config.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Full,
    #[value(name = "prompt_only")]
    PromptOnly,
}

impl From<ModeArg> for RunMode {
    fn from(mode: ModeArg) -> RunMode {
        match mode {
            ModeArg::Full => RunMode::Full,
            ModeArg::PromptOnly => RunMode::PromptOnly,
        }
    }
}

/// Where plugins are looked for; every `experiments` command takes these.
#[derive(Args, Debug, Clone)]
pub struct PluginDirArgs {
    /// Look for plugins in DIR first (repeatable; highest precedence first)
    #[arg(long = "plugin-dir", value_name = "DIR", help_heading = PLUGIN_HEADING)]
    pub plugin_dirs: Vec<PathBuf>,

    /// Skip `./plugins` and the executable's directory
    #[arg(long, help_heading = PLUGIN_HEADING)]
    pub no_default_plugin_dirs: bool,

    /// Show full load errors and more detail
    #[arg(long, short = 'v', help_heading = PLUGIN_HEADING)]
    pub verbose: bool,
}

impl PluginDirArgs {
    /// Finds and loads every plugin on the search path.
    pub fn discover(&self) -> Result<Catalog, CliError> {
        let cwd = std::env::current_dir().map_err(CliError::usage)?;
        let options = PluginDirOptions {
            plugin_dirs: self.plugin_dirs.clone(),
            no_default_dirs: self.no_default_plugin_dirs,
            env_path: std::env::var_os(PLUGIN_PATH_ENV),
            cwd,
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(PathBuf::from)),
        };
        let services = HostServices::new(options.cwd.clone());
        Catalog::discover(&options, &services).map_err(CliError::usage)
    }
}

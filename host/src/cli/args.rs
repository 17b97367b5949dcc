//! Flags shared by several commands, defined once.

use std::path::PathBuf;

use clap::Args;

use crate::plugins::{Catalog, PluginDirOptions, PLUGIN_PATH_ENV};

use super::CliError;

pub const PLUGIN_HEADING: &str = "Plugin options";

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
        Catalog::discover(&options).map_err(CliError::usage)
    }
}

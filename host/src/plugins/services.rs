//! The host services a plugin may call from its hooks. `read_data` works everywhere; the
//! pipeline services answer that they are not available until the prompt pipeline exists.

use std::path::PathBuf;
use std::sync::Arc;

use plugin_api::loader::ServiceProvider;
use plugin_api::{ChatRequest, ChatResponse, LogLevel, RunOutcome};
use serde_json::Value;

use crate::artifacts::LogFile;

/// The host's answers to plugin service calls.
pub struct HostServices {
    cwd: PathBuf,
    log: Option<Arc<LogFile>>,
}

impl HostServices {
    /// Services for hooks that run outside an experiment (`descriptor` at load time).
    pub fn new(cwd: PathBuf) -> HostServices {
        HostServices { cwd, log: None }
    }

    /// Services whose `log` goes to the experiment's log.
    pub fn with_log(cwd: PathBuf, log: Arc<LogFile>) -> HostServices {
        HostServices { cwd, log: Some(log) }
    }
}

const NOT_YET: &str = "the prompt pipeline is not available in this version of image-project";

impl ServiceProvider for HostServices {
    fn read_data(&self, reference: &str) -> Result<String, String> {
        crate::data::read_data(reference, &self.cwd).map_err(|error| error.to_string())
    }

    fn run_pipeline(&self, _config: Value) -> Result<RunOutcome, String> {
        Err(NOT_YET.to_owned())
    }

    fn chat(&self, _request: ChatRequest) -> Result<ChatResponse, String> {
        Err(NOT_YET.to_owned())
    }

    fn log(&self, level: LogLevel, message: &str) {
        match &self.log {
            // A log line that cannot be written must not fail the plugin's hook.
            Some(log) => {
                let _ = log.record(level, &format!("plugin: {message}"));
            }
            None => {
                if matches!(level, LogLevel::Warn | LogLevel::Error) {
                    eprintln!("{}: plugin: {message}", level.as_str());
                }
            }
        }
    }
}

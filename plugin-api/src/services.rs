//! The payloads of the host services added by name in 1.1 ([`crate::Host::analysis_context`],
//! [`crate::Host::run_transcript`], [`crate::Host::write_artifact`]) and the rule for artifact
//! names, which plugins and the host must agree on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Pairing, RunMode};

/// The names of the services added in 1.1, as [`crate::Host::call_service`] sends them (listed
/// in [`crate::NAMED_ADDITIONS`]).
pub const ANALYSIS_CONTEXT: &str = "analysis_context";
pub const RUN_TRANSCRIPT: &str = "run_transcript";
pub const WRITE_ARTIFACT: &str = "write_artifact";

/// What an analysis may want to know about the experiment beyond the result entries
/// ([`crate::Host::analysis_context`]): the flags, the plan and where each run's files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisContext {
    pub experiment_name: String,
    pub experiment_id: String,
    pub run_mode: RunMode,
    pub base_seed: u64,
    /// The experiment's flags as the plan received them (`PlanRequest::args`).
    pub args: Map<String, Value>,
    /// `Plan.meta`, as recorded in the plan files.
    pub experiment_meta: Map<String, Value>,
    /// The plan's pairing, when it pairs variants.
    #[serde(default)]
    pub pairing: Option<Pairing>,
    /// Every pair of the plan: each treatment's run with the control's at one run index.
    #[serde(default)]
    pub pairs: Vec<ContextPair>,
    /// The experiment's output directory (absolute); the paths below are relative to it.
    pub experiment_dir: String,
    /// Every planned run, in plan order.
    pub runs: Vec<ContextRun>,
}

/// One planned run in an [`AnalysisContext`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextRun {
    pub generation_id: String,
    pub variant: String,
    #[serde(default)]
    pub variant_name: Option<String>,
    pub run: u32,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub meta: Map<String, Value>,
    /// The run's files by role (`transcript`, `final_prompt`, `image`, ...), relative to
    /// [`AnalysisContext::experiment_dir`]. A file is listed where the runner puts it, whether
    /// or not the run got that far.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
}

/// One pair of the plan: the control's and one treatment's run at a run index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextPair {
    pub run_index: u32,
    /// The treatment variant this pair compares with the control.
    pub treatment: String,
    pub a_generation_id: String,
    pub b_generation_id: String,
}

/// What [`crate::Host::write_artifact`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenArtifact {
    /// The file, relative to the experiment directory (`plugin/<name>`).
    pub path: String,
    pub bytes: u64,
}

/// The largest artifact a plugin may write, in bytes.
pub const MAX_ARTIFACT_BYTES: u64 = 16 * 1024 * 1024;

/// The directory, under the experiment directory, that holds the plugins' artifacts.
pub const ARTIFACT_DIR: &str = "plugin";

/// Checks an artifact name: one or more `/`-separated parts of `[A-Za-z0-9._-]`, none empty,
/// none starting with `.`, at most 200 characters in all. So a name can never leave
/// `<experiment>/plugin/` nor hide a file.
pub fn check_artifact_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err(format!(
            "artifact name `{name}` must have 1 to 200 characters"
        ));
    }
    for part in name.split('/') {
        if part.is_empty() || part.starts_with('.') {
            return Err(format!(
                "artifact name `{name}` has an empty part or one starting with `.`; use `dir/file.ext` parts of letters, digits, `.`, `_` and `-`"
            ));
        }
        if let Some(bad) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "artifact name `{name}` has `{bad}`; use `dir/file.ext` parts of letters, digits, `.`, `_` and `-`"
            ));
        }
    }
    Ok(())
}

/// Checks an artifact's size against [`MAX_ARTIFACT_BYTES`].
pub fn check_artifact_size(name: &str, bytes: u64) -> Result<(), String> {
    if bytes > MAX_ARTIFACT_BYTES {
        return Err(format!(
            "artifact `{name}` has {bytes} bytes; the limit is {MAX_ARTIFACT_BYTES}"
        ));
    }
    Ok(())
}

/// The request of the `write_artifact` service: the name and the contents, as text or base64.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteArtifactRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::check_artifact_name;

    #[test]
    fn artifact_names_stay_under_the_plugin_directory() {
        for good in ["scores.csv", "plots/a-b_1.png", "x"] {
            assert_eq!(check_artifact_name(good), Ok(()), "{good}");
        }
        for bad in [
            "", "../x", "a/../b", "/abs", "a//b", ".hidden", "a/.b", "a\\b", "a b", "dir/",
        ] {
            assert!(check_artifact_name(bad).is_err(), "{bad}");
        }
        assert!(check_artifact_name(&"a".repeat(201)).is_err());
    }
}

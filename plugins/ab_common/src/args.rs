//! The flags every A/B experiment takes, and their validated values.
//!
//! `--runs` (pairs to run) and `--data` (`config` keeps the config's data files, `sample` uses
//! the embedded samples) are declared once here ([`with_ab_args`]) and read once here
//! ([`AbArgs::from_request`]).

use plugin_api::{ArgSpec, Descriptor, ExperimentError, PlanRequest};

/// Flag name of the number of pairs.
pub const RUNS: &str = "runs";
/// Flag name of the data source.
pub const DATA: &str = "data";
/// Pairs when `--runs` is not given.
pub const DEFAULT_RUNS: i64 = 5;

/// Where the categories and profile CSVs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// The embedded sample files (`builtin:category_list_v1.csv`, `builtin:user_profile_v4.csv`).
    Sample,
    /// `prompt.categories_path` and `prompt.profile_path` as the config sets them.
    Config,
}

impl DataMode {
    /// Every mode, in the order `--help` lists them.
    pub const ALL: [DataMode; 2] = [DataMode::Sample, DataMode::Config];

    /// The spelling on the command line and in the plan meta.
    pub fn as_str(self) -> &'static str {
        match self {
            DataMode::Sample => "sample",
            DataMode::Config => "config",
        }
    }

    /// Parses `sample` or `config`.
    pub fn parse(text: &str) -> Option<DataMode> {
        DataMode::ALL.into_iter().find(|mode| mode.as_str() == text)
    }
}

/// Adds `--runs` and `--data` to `descriptor`.
pub fn with_ab_args(descriptor: Descriptor) -> Descriptor {
    let choices = DataMode::ALL.map(DataMode::as_str);
    descriptor
        .arg(
            ArgSpec::int(RUNS, "Pairs to run; A and B of one index share a seed")
                .default_value(DEFAULT_RUNS)
                .min(1),
        )
        .arg(
            ArgSpec::choice(
                DATA,
                &choices,
                "Data files: `config` keeps the config's, `sample` uses the embedded samples",
            )
            .default_value(DataMode::Config.as_str()),
        )
}

/// The validated values of the shared flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbArgs {
    /// Pairs to run (runs per variant), at least 1.
    pub runs: u32,
    pub data_mode: DataMode,
}

impl AbArgs {
    /// Reads and checks the shared flags of `request`.
    ///
    /// # Errors
    ///
    /// `--runs` missing, ≤ 0 or too large; `--data` missing or not one of its choices.
    pub fn from_request(request: &PlanRequest) -> Result<AbArgs, ExperimentError> {
        let runs = request
            .arg_int(RUNS)
            .ok_or_else(|| ExperimentError::new("`--runs` must be an integer"))?;
        if runs <= 0 {
            return Err(ExperimentError::new("--runs must be > 0"));
        }
        let runs = u32::try_from(runs)
            .map_err(|_| ExperimentError::new(format!("`--runs` is too large: {runs}")))?;

        let data = request
            .arg_str(DATA)
            .ok_or_else(|| ExperimentError::new("`--data` must be a string"))?;
        let data_mode = DataMode::parse(data).ok_or_else(|| {
            ExperimentError::new(format!(
                "unknown `--data` value `{data}` (expected: sample, config)"
            ))
        })?;

        Ok(AbArgs { runs, data_mode })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::request;
    use serde_json::json;

    #[test]
    fn declares_runs_and_data_with_their_defaults() {
        let descriptor = with_ab_args(Descriptor::new("x", "x", plugin_api::RunMode::PromptOnly));
        let keys: Vec<String> = descriptor.args.iter().map(ArgSpec::key).collect();
        assert_eq!(keys, ["runs", "data"]);
        assert_eq!(descriptor.args[0].default, json!(5));
        assert_eq!(descriptor.args[1].default, json!("config"));
        assert_eq!(descriptor.args[1].choices, ["sample", "config"]);
    }

    #[test]
    fn reads_the_flags() {
        let args = AbArgs::from_request(&request(json!({"runs": 2, "data": "sample"}))).unwrap();
        assert_eq!(
            args,
            AbArgs {
                runs: 2,
                data_mode: DataMode::Sample
            }
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let cases = [
            (json!({"runs": 0, "data": "config"}), "--runs must be > 0"),
            (json!({"runs": -1, "data": "config"}), "--runs must be > 0"),
            (
                json!({"runs": 5_000_000_000_i64, "data": "config"}),
                "`--runs` is too large: 5000000000",
            ),
            (json!({"data": "config"}), "`--runs` must be an integer"),
            (
                json!({"runs": 1, "data": "repo"}),
                "unknown `--data` value `repo` (expected: sample, config)",
            ),
        ];
        for (args, expected) in cases {
            let error = AbArgs::from_request(&request(args)).unwrap_err();
            assert_eq!(error.message(), expected);
        }
    }
}

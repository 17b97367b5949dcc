//! The flags every 3×3 experiment takes, and their validated values.
//!
//! `--sets`, `--runs-per-set` and `--concept` are declared once here ([`with_matrix_args`]) and
//! read once here ([`MatrixArgs::from_request`]); an experiment adds its own flags after them.

use plugin_api::{ArgSpec, Descriptor, ExperimentError, PlanRequest};

use crate::sets::{parse_sets, SetId, SET_SEED_STRIDE};

/// Flag name of the set selection.
pub const SETS: &str = "sets";
/// Flag name of the number of runs per set.
pub const RUNS_PER_SET: &str = "runs-per-set";
/// Flag name of a pinned concept (repeatable).
pub const CONCEPT: &str = "concept";

/// Runs per set when `--runs-per-set` is not given.
pub const DEFAULT_RUNS_PER_SET: i64 = 3;

/// Adds `--sets`, `--runs-per-set` and `--concept` to `descriptor`.
pub fn with_matrix_args(descriptor: Descriptor) -> Descriptor {
    descriptor
        .arg(
            ArgSpec::string(SETS, "Comma-separated sets to run, in order (A, B, C)")
                .default_value("A,B,C"),
        )
        .arg(
            ArgSpec::int(
                RUNS_PER_SET,
                "Runs per set; run i of every set shares one concept list",
            )
            .default_value(DEFAULT_RUNS_PER_SET)
            .min(1),
        )
        .arg(
            ArgSpec::string(
                CONCEPT,
                "A concept pinned in front of every run's sampled concepts",
            )
            .repeatable(),
        )
}

/// The validated values of the shared flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixArgs {
    /// Sets to run, in execution order, each once.
    pub sets: Vec<SetId>,
    /// Runs per set, in `1..=10000`.
    pub runs_per_set: u32,
    /// The `--concept` values, trimmed, empty ones dropped.
    pub pinned: Vec<String>,
}

impl MatrixArgs {
    /// Reads and checks the shared flags of `request`.
    ///
    /// # Errors
    ///
    /// A bad `--sets` (see [`parse_sets`]), or `--runs-per-set` missing, ≤ 0 or above 10000
    /// (the seed distance between sets).
    pub fn from_request(request: &PlanRequest) -> Result<MatrixArgs, ExperimentError> {
        let sets_text = request
            .arg_str(SETS)
            .ok_or_else(|| ExperimentError::new("`--sets` must be a string"))?;
        let sets = parse_sets(sets_text)?;

        let runs = request
            .arg_int("runs_per_set")
            .ok_or_else(|| ExperimentError::new("`--runs-per-set` must be an integer"))?;
        if runs <= 0 {
            return Err(ExperimentError::new("--runs-per-set must be > 0"));
        }
        let runs_per_set = u32::try_from(runs)
            .ok()
            .filter(|&n| u64::from(n) <= SET_SEED_STRIDE)
            .ok_or_else(|| {
                ExperimentError::new(format!(
                    "`--runs-per-set` is {runs} but at most {SET_SEED_STRIDE} keeps the seeds of \
                     two sets apart"
                ))
            })?;

        let pinned = request
            .arg_strings(CONCEPT)
            .iter()
            .map(|concept| concept.trim())
            .filter(|concept| !concept.is_empty())
            .map(str::to_owned)
            .collect();

        Ok(MatrixArgs {
            sets,
            runs_per_set,
            pinned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::request;
    use serde_json::json;

    fn defaults() -> serde_json::Value {
        json!({"sets": "A,B,C", "runs_per_set": 3, "concept": []})
    }

    #[test]
    fn declares_the_three_flags_with_their_defaults() {
        let descriptor = with_matrix_args(Descriptor::new("x", "x", plugin_api::RunMode::Full));
        let keys: Vec<String> = descriptor.args.iter().map(ArgSpec::key).collect();
        assert_eq!(keys, ["sets", "runs_per_set", "concept"]);
        assert_eq!(descriptor.args[0].default, json!("A,B,C"));
        assert_eq!(descriptor.args[1].default, json!(3));
        assert!(descriptor.args[2].repeatable);
    }

    #[test]
    fn reads_the_defaults() {
        let args = MatrixArgs::from_request(&request(defaults())).unwrap();
        assert_eq!(args.sets, SetId::ALL.to_vec());
        assert_eq!(args.runs_per_set, 3);
        assert!(args.pinned.is_empty());
    }

    #[test]
    fn trims_pinned_concepts() {
        let mut values = defaults();
        values["concept"] = json!([" a kite ", "", "rain"]);
        let args = MatrixArgs::from_request(&request(values)).unwrap();
        assert_eq!(args.pinned, ["a kite", "rain"]);
    }

    #[test]
    fn runs_per_set_must_be_positive_and_bounded() {
        for (runs, expected) in [
            (0, "--runs-per-set must be > 0"),
            (-2, "--runs-per-set must be > 0"),
            (
                10_001,
                "`--runs-per-set` is 10001 but at most 10000 keeps the seeds of two sets apart",
            ),
        ] {
            let mut values = defaults();
            values["runs_per_set"] = json!(runs);
            let error = MatrixArgs::from_request(&request(values)).unwrap_err();
            assert_eq!(error.message(), expected);
        }
    }

    #[test]
    fn bad_sets_are_reported() {
        let mut values = defaults();
        values["sets"] = json!("A,Q");
        let error = MatrixArgs::from_request(&request(values)).unwrap_err();
        assert_eq!(error.message(), "unknown set id(s): Q (expected: A, B, C)");
    }
}

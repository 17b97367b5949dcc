//! Data paths an experiment takes from a flag or from its runner config.
//!
//! A key such as `profile_like_dislike_path` is both a flag (`--profile-like-dislike-path`) and a
//! runner key (`experiment_runners.<experiment>.profile_like_dislike_path`). The flag wins, then
//! the runner key; the path is passed on as given (the host resolves it, relative to the working
//! directory) after checking that the host can read it and that it is not empty.

use plugin_api::{ArgSpec, ExperimentError, PlanRequest};

use crate::ReadData;

/// The string flag for `key` (`profile_like_dislike_path` → `--profile-like-dislike-path`),
/// with no default: absent means "look in the runner config".
pub fn path_arg(key: &str, help: &str) -> ArgSpec {
    ArgSpec::string(&key.replace('_', "-"), help)
}

/// The required data path `key` of `experiment`: the flag, else the runner key.
///
/// # Errors
///
/// - the key is given nowhere (the message says where to set it);
/// - the runner value is not a string;
/// - the value is blank (`` `<key>` is required (got empty) ``);
/// - the host cannot read it (its message is kept), or its text is blank.
pub fn required_data_path(
    request: &PlanRequest,
    experiment: &str,
    key: &str,
    read: &ReadData<'_>,
) -> Result<String, ExperimentError> {
    let Some(path) = given(request, experiment, key)? else {
        let flag = key.replace('_', "-");
        return Err(ExperimentError::new(format!(
            "missing `{key}`: pass `--{flag}` or set `experiment_runners.{experiment}.{key}` \
             in the config"
        )));
    };
    checked(key, path, true, read)
}

/// The optional data path `key` of `experiment`: the flag, else the runner key, else `None`.
///
/// # Errors
///
/// As [`required_data_path`] for a given value; a blank one is an error too (leave the key
/// unset instead).
pub fn optional_data_path(
    request: &PlanRequest,
    experiment: &str,
    key: &str,
    read: &ReadData<'_>,
) -> Result<Option<String>, ExperimentError> {
    given(request, experiment, key)?
        .map(|path| checked(key, path, false, read))
        .transpose()
}

/// The value of `key`: the flag's, else the runner config's, else `None`.
fn given<'r>(
    request: &'r PlanRequest,
    experiment: &str,
    key: &str,
) -> Result<Option<&'r str>, ExperimentError> {
    if let Some(value) = request.arg_str(key) {
        return Ok(Some(value));
    }
    match request.runner_config.get(key) {
        None => Ok(None),
        Some(serde_json::Value::String(value)) => Ok(Some(value)),
        Some(other) => Err(ExperimentError::new(format!(
            "`experiment_runners.{experiment}.{key}` must be a string (got {})",
            plugin_api::merge::shape(other)
        ))),
    }
}

/// Checks that `path` is not blank, reads through the host and has some text.
fn checked(
    key: &str,
    path: &str,
    required: bool,
    read: &ReadData<'_>,
) -> Result<String, ExperimentError> {
    if path.trim().is_empty() {
        return Err(ExperimentError::new(if required {
            format!("`{key}` is required (got empty)")
        } else {
            format!("`{key}` is empty: give a path or leave it unset")
        }));
    }
    let text = read(path).map_err(|message| ExperimentError::new(format!("`{key}`: {message}")))?;
    if text.trim().is_empty() {
        return Err(ExperimentError::new(format!("`{key}` is empty: {path}")));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{read, request};
    use serde_json::{json, Value};

    const KEY: &str = "profile_like_dislike_path";

    fn resolve(
        args: Value,
        runner: Value,
        required: bool,
    ) -> Result<Option<String>, ExperimentError> {
        let mut request = request(args);
        request.runner_config = runner.as_object().cloned().unwrap_or_default();
        if required {
            required_data_path(&request, "profile_v5_3x3", KEY, &read).map(Some)
        } else {
            optional_data_path(&request, "profile_v5_3x3", KEY, &read)
        }
    }

    #[test]
    fn the_flag_name_follows_the_key() {
        assert_eq!(path_arg(KEY, "help").name, "profile-like-dislike-path");
        assert_eq!(path_arg(KEY, "help").default, Value::Null);
    }

    #[test]
    fn the_flag_wins_over_the_runner_config() {
        let got = resolve(json!({KEY: "love.csv"}), json!({KEY: "like.csv"}), true).unwrap();
        assert_eq!(got.as_deref(), Some("love.csv"));
    }

    #[test]
    fn the_runner_config_is_used_without_the_flag() {
        let got = resolve(json!({KEY: null}), json!({KEY: "like.csv"}), true).unwrap();
        assert_eq!(got.as_deref(), Some("like.csv"));
    }

    #[test]
    fn a_missing_required_path_says_where_to_set_it() {
        let error = resolve(json!({}), json!({}), true).unwrap_err();
        assert_eq!(
            error.message(),
            "missing `profile_like_dislike_path`: pass `--profile-like-dislike-path` or set \
             `experiment_runners.profile_v5_3x3.profile_like_dislike_path` in the config"
        );
    }

    #[test]
    fn a_missing_optional_path_is_none() {
        assert_eq!(resolve(json!({}), json!({}), false).unwrap(), None);
    }

    #[test]
    fn bad_values_are_errors() {
        let cases = [
            (json!({KEY: " "}), json!({}), true, "`profile_like_dislike_path` is required (got empty)"),
            (
                json!({KEY: ""}),
                json!({}),
                false,
                "`profile_like_dislike_path` is empty: give a path or leave it unset",
            ),
            (
                json!({}),
                json!({KEY: 5}),
                true,
                "`experiment_runners.profile_v5_3x3.profile_like_dislike_path` must be a string (got integer)",
            ),
            (
                json!({KEY: "nope.csv"}),
                json!({}),
                true,
                "`profile_like_dislike_path`: no such file `nope.csv`",
            ),
            (
                json!({}),
                json!({KEY: "empty.csv"}),
                false,
                "`profile_like_dislike_path` is empty: empty.csv",
            ),
        ];
        for (args, runner, required, expected) in cases {
            let error = resolve(args, runner, required).unwrap_err();
            assert_eq!(error.message(), expected);
        }
    }
}

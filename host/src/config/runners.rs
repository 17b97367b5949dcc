//! `experiment_runners`: settings for the runner of one experiment, not for its runs.
//!
//! The runner takes the table out of the config before planning, so it never reaches a run's
//! config, and checks the chosen experiment's entry against the keys the experiment declares
//! (`runner_keys` in its descriptor). Entries for other experiments are left alone: one config
//! serves every experiment.

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::key;
use super::suggest::did_you_mean;

/// The top-level key of the runner settings.
pub const RUNNERS_KEY: &str = "experiment_runners";

/// Removes the top-level `experiment_runners` table from `tree` and returns it (empty when
/// absent). Each entry is the table of one experiment.
///
/// # Errors
///
/// [`ConfigError::RunnersNotTable`] when `experiment_runners` or one of its entries is not a
/// table; `tree` is then left unchanged.
pub fn take_experiment_runners(tree: &mut Value) -> Result<Map<String, Value>, ConfigError> {
    let Some(root) = tree.as_object_mut() else {
        // A loaded config is always a table; anything else has no runner settings to take.
        return Ok(Map::new());
    };
    let runners = match root.get(RUNNERS_KEY) {
        None => return Ok(Map::new()),
        Some(Value::Object(runners)) => runners,
        Some(other) => {
            return Err(ConfigError::RunnersNotTable {
                key: RUNNERS_KEY.to_owned(),
                found: plugin_api::merge::shape(other),
            })
        }
    };
    // Check before removing, so an error leaves the tree as it was.
    if let Some((name, other)) = runners.iter().find(|(_, v)| !v.is_object()) {
        return Err(ConfigError::RunnersNotTable {
            key: key::child(RUNNERS_KEY, name),
            found: plugin_api::merge::shape(other),
        });
    }
    match root.shift_remove(RUNNERS_KEY) {
        Some(Value::Object(runners)) => Ok(runners),
        // Just matched as a table above.
        _ => Ok(Map::new()),
    }
}

/// Checks the keys of `experiment_runners.<experiment>` against those the experiment accepts.
///
/// # Errors
///
/// [`ConfigError::UnknownRunnerKey`] for the first key not in `accepted`, naming its dotted key
/// and listing what is accepted.
pub fn check_runner_keys(
    experiment: &str,
    table: &Map<String, Value>,
    accepted: &[String],
) -> Result<(), ConfigError> {
    let Some(unknown) = table.keys().find(|k| !accepted.contains(k)) else {
        return Ok(());
    };
    let prefix = key::child(RUNNERS_KEY, experiment);
    Err(ConfigError::UnknownRunnerKey {
        key: key::child(&prefix, unknown),
        experiment: experiment.to_owned(),
        accepted: accepted.to_vec(),
        suggestion: did_you_mean(unknown, accepted.iter().map(String::as_str)).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_the_table_out() {
        let mut tree =
            json!({"run": {"mode": "full"}, "experiment_runners": {"x": {"a": 1}, "y": {}}});
        let runners = take_experiment_runners(&mut tree).unwrap();
        assert_eq!(Value::Object(runners), json!({"x": {"a": 1}, "y": {}}));
        assert_eq!(tree, json!({"run": {"mode": "full"}}));
    }

    #[test]
    fn absent_table_is_empty() {
        let mut tree = json!({"run": {}});
        assert!(take_experiment_runners(&mut tree).unwrap().is_empty());
        assert_eq!(tree, json!({"run": {}}));
    }

    #[test]
    fn runners_must_be_a_table_of_tables() {
        let mut tree = json!({"experiment_runners": [1]});
        let err = take_experiment_runners(&mut tree).unwrap_err();
        assert!(
            matches!(err, ConfigError::RunnersNotTable { ref key, found: "array" } if key == "experiment_runners")
        );
        assert!(err
            .to_string()
            .starts_with("`experiment_runners` must be a table, not an array\n\n"));

        let original = json!({"experiment_runners": {"ok": {}, "my.exp": "x"}});
        let mut tree = original.clone();
        let err = take_experiment_runners(&mut tree).unwrap_err();
        assert!(
            matches!(err, ConfigError::RunnersNotTable { ref key, found: "string" } if key == "experiment_runners.\"my.exp\"")
        );
        assert_eq!(tree, original, "left unchanged");
    }

    #[test]
    fn accepted_keys_pass() {
        let table = json!({"a": 1, "b": 2});
        let accepted = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        check_runner_keys("x", table.as_object().unwrap(), &accepted).unwrap();
        check_runner_keys("x", &Map::new(), &[]).unwrap();
    }

    #[test]
    fn unknown_key_lists_the_accepted_ones() {
        let table = json!({"profile_like_dislike_pth": "p"});
        let accepted = vec![
            "profile_like_dislike_path".to_owned(),
            "profile_love_like_dislike_hate_path".to_owned(),
        ];
        let err =
            check_runner_keys("profile_v5_3x3", table.as_object().unwrap(), &accepted).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key `experiment_runners.profile_v5_3x3.profile_like_dislike_pth`\n\n\
             did you mean `profile_like_dislike_path`? experiment `profile_v5_3x3` accepts \
             `profile_like_dislike_path`, `profile_love_like_dislike_hate_path`"
        );
    }

    #[test]
    fn experiment_without_runner_keys_says_so() {
        let table = json!({"anything": 1});
        let err = check_runner_keys("3x3", table.as_object().unwrap(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key `experiment_runners.3x3.anything`\n\n\
             experiment `3x3` accepts no keys under `experiment_runners.3x3`"
        );
    }
}

//! The overlays of an A/B experiment: the one every run shares and the one of each variant.
//!
//! The common overlay switches to the `custom` plan with an empty stage selection (wiping any
//! base `include`/`exclude`/`overrides`), captures the final prompt format stage, turns context
//! injection off and, with `--data sample`, points the data paths at the embedded samples.

use plugin_api::merge::deep_merge;
use plugin_api::ExperimentError;
use serde_json::{json, Value};

use crate::args::DataMode;
use crate::plan::AbVariant;
use crate::stages::FINAL_PROMPT_FORMAT;
use crate::ReadData;

/// The embedded categories CSV used by `--data sample`.
pub const SAMPLE_CATEGORIES: &str = "builtin:category_list_v1.csv";
/// The embedded profile CSV used by `--data sample`.
pub const SAMPLE_PROFILE: &str = "builtin:user_profile_v4.csv";

/// The data part of the common overlay: nothing for `config`; for `sample`,
/// `prompt.categories_path` and `prompt.profile_path` set to the embedded samples once each is
/// checked to read and to be non-empty.
///
/// # Errors
///
/// A sample file cannot be read or is blank (the message names which and its reference).
pub fn data_overlay(mode: DataMode, read: &ReadData<'_>) -> Result<Value, ExperimentError> {
    match mode {
        DataMode::Config => Ok(json!({})),
        DataMode::Sample => {
            check_sample("sample categories CSV", SAMPLE_CATEGORIES, read)?;
            check_sample("sample profile CSV", SAMPLE_PROFILE, read)?;
            Ok(json!({"prompt": {
                "categories_path": SAMPLE_CATEGORIES,
                "profile_path": SAMPLE_PROFILE,
            }}))
        }
    }
}

fn check_sample(label: &str, reference: &str, read: &ReadData<'_>) -> Result<(), ExperimentError> {
    let text = read(reference).map_err(|message| {
        ExperimentError::new(format!("cannot read the {label} `{reference}`: {message}"))
    })?;
    if text.trim().is_empty() {
        return Err(ExperimentError::new(format!(
            "the {label} `{reference}` is empty"
        )));
    }
    Ok(())
}

/// The overlay every run of an A/B experiment shares (see the module docs).
///
/// # Errors
///
/// See [`data_overlay`].
pub fn common_overlay(mode: DataMode, read: &ReadData<'_>) -> Result<Value, ExperimentError> {
    let mut overlay = json!({
        "prompt": {
            "plan": "custom",
            "stages": {"sequence": [], "include": [], "exclude": [], "overrides": {}},
            "output": {"capture_stage": FINAL_PROMPT_FORMAT},
        },
        "context": {"enabled": false},
    });
    deep_merge(&mut overlay, &data_overlay(mode, read)?).map_err(|error| {
        ExperimentError::new(format!("cannot build the common overlay: {error}"))
    })?;
    Ok(overlay)
}

/// A variant's overlay: its stage sequence and capture stage.
pub fn variant_overlay(variant: &AbVariant) -> Value {
    json!({"prompt": {
        "stages": {"sequence": variant.sequence},
        "output": {"capture_stage": variant.capture_stage},
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{read, read_blank, read_nothing};

    #[test]
    fn config_data_adds_nothing() {
        let overlay = common_overlay(DataMode::Config, &read_nothing).unwrap();
        assert_eq!(
            overlay,
            json!({
                "prompt": {
                    "plan": "custom",
                    "stages": {"sequence": [], "include": [], "exclude": [], "overrides": {}},
                    "output": {"capture_stage": "ab.final_prompt_format"},
                },
                "context": {"enabled": false},
            })
        );
    }

    #[test]
    fn sample_data_points_at_the_embedded_files() {
        let overlay = common_overlay(DataMode::Sample, &read).unwrap();
        assert_eq!(
            overlay["prompt"]["categories_path"],
            "builtin:category_list_v1.csv"
        );
        assert_eq!(
            overlay["prompt"]["profile_path"],
            "builtin:user_profile_v4.csv"
        );
        assert_eq!(overlay["prompt"]["plan"], "custom");
    }

    #[test]
    fn unreadable_or_blank_samples_are_named() {
        let error = data_overlay(DataMode::Sample, &read_nothing).unwrap_err();
        assert_eq!(
            error.message(),
            "cannot read the sample categories CSV `builtin:category_list_v1.csv`: \
             no such data `builtin:category_list_v1.csv`"
        );
        let error = data_overlay(DataMode::Sample, &read_blank).unwrap_err();
        assert_eq!(
            error.message(),
            "the sample categories CSV `builtin:category_list_v1.csv` is empty"
        );
        let only_categories = |r: &str| {
            if r == SAMPLE_CATEGORIES {
                Ok("x\n".to_owned())
            } else {
                Err(format!("no such data `{r}`"))
            }
        };
        let error = data_overlay(DataMode::Sample, &only_categories).unwrap_err();
        assert!(error
            .message()
            .starts_with("cannot read the sample profile CSV `builtin:user_profile_v4.csv`"));
    }
}

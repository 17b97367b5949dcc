//! The concept list each run index shares across sets.
//!
//! The categories table is the one the base config names in `prompt.categories_path`, read
//! through the host; sampling itself is `plugin_api::concepts::shared_concepts_by_run`, so the
//! plugins and the pipeline draw concepts the same way.

use plugin_api::concepts::{shared_concepts_by_run, CategoriesTable, RunConcepts};
use plugin_api::ExperimentError;
use serde_json::Value;

use crate::args::MatrixArgs;
use crate::ReadData;

/// The `prompt.categories_path` of `base_config`.
///
/// # Errors
///
/// The key is missing or not a string.
pub fn categories_path(base_config: &Value) -> Result<&str, ExperimentError> {
    match base_config.pointer("/prompt/categories_path") {
        Some(Value::String(path)) => Ok(path),
        None | Some(Value::Null) => Err(ExperimentError::new(
            "missing `prompt.categories_path` in the config: the shared concepts are sampled \
             from that categories CSV",
        )),
        Some(other) => Err(ExperimentError::new(format!(
            "`prompt.categories_path` must be a string (got {})",
            plugin_api::merge::shape(other)
        ))),
    }
}

/// Reads and parses the categories table named by `base_config`.
///
/// # Errors
///
/// See [`categories_path`]; the host cannot read the file; the table does not parse.
pub fn load_categories(
    base_config: &Value,
    read: &ReadData<'_>,
) -> Result<CategoriesTable, ExperimentError> {
    let path = categories_path(base_config)?;
    let text = read(path).map_err(|message| {
        ExperimentError::new(format!(
            "cannot read the categories CSV `{path}` (`prompt.categories_path`): {message}"
        ))
    })?;
    CategoriesTable::from_csv(&text)
        .map_err(|error| ExperimentError::new(format!("invalid categories CSV `{path}`: {error}")))
}

/// One concept list per run index (`1..=runs_per_set`), shared by every set at that index:
/// the pinned concepts, then up to `keep` sampled ones (all of them when `None`).
///
/// # Errors
///
/// See [`load_categories`].
pub fn shared_concepts(
    base_config: &Value,
    base_seed: u64,
    args: &MatrixArgs,
    keep: Option<usize>,
    read: &ReadData<'_>,
) -> Result<Vec<RunConcepts>, ExperimentError> {
    let table = load_categories(base_config, read)?;
    Ok(shared_concepts_by_run(
        &table,
        base_seed,
        args.runs_per_set,
        &args.pinned,
        keep,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sets::SetId;
    use crate::testing::read;
    use serde_json::json;

    fn args(runs_per_set: u32, pinned: &[&str]) -> MatrixArgs {
        MatrixArgs {
            sets: SetId::ALL.to_vec(),
            runs_per_set,
            pinned: pinned.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn samples_one_list_per_run_index() {
        let config = json!({"prompt": {"categories_path": "cats.csv"}});
        let lists = shared_concepts(&config, 100, &args(3, &["a kite"]), None, &read).unwrap();
        assert_eq!(lists.len(), 3);
        for (i, list) in lists.iter().enumerate() {
            assert_eq!(list.run as usize, i + 1);
            assert_eq!(list.concepts[0], "a kite");
            assert_eq!(list.concepts.len(), 4, "{list:?}");
        }
        assert_ne!(lists[0].concepts, lists[1].concepts);
    }

    #[test]
    fn keep_caps_the_sampled_concepts_only() {
        let config = json!({"prompt": {"categories_path": "cats.csv"}});
        let lists = shared_concepts(&config, 100, &args(2, &["x", "y"]), Some(2), &read).unwrap();
        for list in &lists {
            assert_eq!(list.concepts.len(), 4, "{list:?}");
            assert_eq!(list.concepts[..2], ["x", "y"]);
        }
    }

    #[test]
    fn the_categories_path_must_be_a_readable_string() {
        let cases = [
            (json!({}), "missing `prompt.categories_path` in the config"),
            (
                json!({"prompt": {"categories_path": 3}}),
                "`prompt.categories_path` must be a string (got integer)",
            ),
            (
                json!({"prompt": {"categories_path": "nope.csv"}}),
                "cannot read the categories CSV `nope.csv` (`prompt.categories_path`): no such file `nope.csv`",
            ),
            (
                json!({"prompt": {"categories_path": "like.csv"}}),
                "invalid categories CSV `like.csv`: categories table is missing column(s)",
            ),
        ];
        for (config, expected) in cases {
            let error = shared_concepts(&config, 1, &args(1, &[]), None, &read).unwrap_err();
            assert!(error.message().starts_with(expected), "{error}");
        }
    }
}

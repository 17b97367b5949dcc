//! What the two 3×3-style experiments (`3x3`, `profile_v5_3x3`) share.
//!
//! A 3×3 experiment runs up to three *sets* (A, B, C; one variant each) for the same number of
//! runs, set-major (A1, A2, A3, B1, ...). Every set at one run index uses the same concept list,
//! so the sets differ only in their variant overlay and seed. This crate owns that shape; the
//! experiment crates own only their variant tables (overlays, labels, tags, notes).
//!
//! - [`sets`]: `--sets` parsing and the per-run seed formula.
//! - [`args`]: the shared flags (`--sets`, `--runs-per-set`, `--concept`) and their validation.
//! - [`concepts`]: the categories table named by the base config, read through the host, and the
//!   concept list shared per run index.
//! - [`paths`]: data paths given by a flag or by `experiment_runners.<name>.<key>`.
//! - [`plan`]: turning a variant table into the ordered [`plugin_api::Plan`].
//! - [`analysis`]: per-run metrics (prompt length, model calls, selection scores) and the
//!   summary comparing the sets (length, lexical diversity).
//!
//! Data is read only through a reader function, `&dyn Fn(&str) -> Result<String, String>`: the
//! plugins pass `|r| host.read_data(r).map_err(|e| e.to_string())`, tests pass a fake.

pub mod analysis;
pub mod args;
pub mod concepts;
pub mod paths;
pub mod plan;
pub mod sets;

pub use args::{with_matrix_args, MatrixArgs};
pub use concepts::{categories_path, load_categories, shared_concepts};
pub use paths::{optional_data_path, path_arg, required_data_path};
pub use plan::{build_plan, fixed_concepts_overlay, MatrixPlan, MatrixVariant};
pub use sets::{parse_sets, run_seed, SetId, SET_SEED_STRIDE};

/// Reads a data reference (`builtin:<name>` or a path); the error is the host's message.
pub type ReadData<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

#[cfg(test)]
pub(crate) mod testing {
    //! A fake host reader and request builder shared by the unit tests.
    use plugin_api::{PlanRequest, RunMode};
    use serde_json::{json, Map, Value};

    /// A categories table with two rows: enough for distinct concept lists per run.
    pub const CATEGORIES: &str = "\
Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context,Color Scheme
a lighthouse,a homecoming,calm,rule of thirds,aerial,watercolor,1920s,teal and orange
a fox,a chase,tense,centered,worm's-eye,ink,far future,monochrome
an orchard,a festival,joyful,symmetry,close-up,oil paint,medieval,pastel
";

    /// Answers `cats.csv`, `like.csv`, `love.csv`, `hints.txt` and `empty.csv`; anything else
    /// is "not found".
    pub fn read(reference: &str) -> Result<String, String> {
        match reference {
            "cats.csv" => Ok(CATEGORIES.to_owned()),
            "like.csv" => Ok("likes,dislikes\ncats,rain\n".to_owned()),
            "love.csv" => Ok("loves,likes,dislikes,hates\ntea,cats,rain,noise\n".to_owned()),
            "hints.txt" => Ok("prefers quiet scenes\n".to_owned()),
            "empty.csv" => Ok("  \n".to_owned()),
            other => Err(format!("no such file `{other}`")),
        }
    }

    /// A request with `prompt.categories_path = "cats.csv"`, base seed 100 and `args`.
    pub fn request(args: Value) -> PlanRequest {
        PlanRequest {
            base_config: json!({"prompt": {"categories_path": "cats.csv"}}),
            runner_config: Map::new(),
            args: args.as_object().cloned().unwrap_or_default(),
            run_mode: RunMode::Full,
            experiment_id: "test".to_owned(),
            base_seed: 100,
        }
    }
}

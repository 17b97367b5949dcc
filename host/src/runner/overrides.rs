//! The keys the runner sets in every run (DESIGN §4 step 4): the standard overrides (mode, the
//! experiment's four paths, experiment id, `context.today`) and which of them the runner owns, so
//! no plan or `--set` can move a run's files. It does not own the per-run owned keys (seed,
//! labels: `plan`) nor the names of the paths (`artifacts::layout`).

use std::path::Path;

use plugin_api::RunMode;
use serde_json::{json, Value};

use crate::artifacts::layout::ExperimentLayout;
use crate::clock::Timestamp;

/// `data.max_file_bytes` of a config tree (checked when the config loaded).
pub(super) fn file_limit(config: &Value) -> u64 {
    config
        .pointer("/data/max_file_bytes")
        .and_then(Value::as_u64)
        .unwrap_or(crate::config::DEFAULT_MAX_FILE_BYTES)
}

/// The overlay every run gets, whatever the plugin plans (DESIGN §4 step 4).
pub(super) fn standard_overrides(
    mode: RunMode,
    out: &Path,
    experiment_id: &str,
    started: &Timestamp,
) -> Value {
    let layout = ExperimentLayout::new(out);
    let path = |path: &Path| path.display().to_string();
    json!({
        "run": {"mode": mode.as_str()},
        "image": {"log_path": path(&layout.logs_dir()), "generation_path": path(&layout.generated_dir())},
        "prompt": {
            "generations_path": path(&layout.generations_csv()),
            "titles_manifest_path": path(&layout.titles_manifest()),
        },
        "experiment": {"id": experiment_id},
        "context": {"today": started.date()},
    })
}

/// The standard overrides the runner owns in every run: all but `context.today`, a default a
/// plan may change.
pub(super) fn owned_overrides(standard: &Value) -> Value {
    let mut owned = standard.clone();
    if let Some(table) = owned.as_object_mut() {
        table.remove("context");
    }
    owned
}

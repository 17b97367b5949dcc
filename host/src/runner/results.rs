//! The durable record of an experiment's runs: `results.jsonl` (one entry per finished run,
//! appended, flushed and synced), `experiment_results.json` (rewritten atomically after each run:
//! the latest entry per generation id, in plan order, plus the summary) and `pairs.json` (kept
//! current with `a_error`, `b_error` and `Skipped`). A run is done exactly when its latest
//! `results.jsonl` line parses with status `success`.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::artifacts::plan_files::{PairEntry, PairsDocument, PAIRS_FILE};
use crate::artifacts::run_files::append_json_line;
use crate::artifacts::{self, ArtifactError};
use crate::clock::Timestamp;

use super::plan::Pair;

pub const RESULTS_LOG_FILE: &str = "results.jsonl";
pub const RESULTS_FILE: &str = "experiment_results.json";

/// Results of this and earlier sessions of one experiment.
pub struct ResultsStore {
    dir: PathBuf,
    experiment_id: String,
    run_mode: String,
    /// Generation ids in plan order.
    plan_order: Vec<String>,
    latest: HashMap<String, Value>,
    pairs: Option<Vec<Pair>>,
    skipped: BTreeSet<String>,
    summary: Option<Value>,
    summary_error: Option<Value>,
    /// Lines of `results.jsonl` that did not parse (kept in the file, reported once).
    pub unreadable_lines: Vec<usize>,
}

impl ResultsStore {
    /// Opens the store in `dir`, reading `results.jsonl` if it exists. A torn last line (a crash
    /// mid-append) is cut off so the next append starts on a fresh line.
    pub fn open(
        dir: &Path,
        experiment_id: &str,
        run_mode: &str,
        plan_order: Vec<String>,
        pairs: Option<Vec<Pair>>,
    ) -> Result<ResultsStore, ArtifactError> {
        let path = dir.join(RESULTS_LOG_FILE);
        let mut store = ResultsStore {
            dir: dir.to_owned(),
            experiment_id: experiment_id.to_owned(),
            run_mode: run_mode.to_owned(),
            plan_order,
            latest: HashMap::new(),
            pairs,
            skipped: BTreeSet::new(),
            summary: None,
            summary_error: None,
            unreadable_lines: Vec::new(),
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(source) => return Err(ArtifactError::Write { path, source }),
        };
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            truncate(&path, complete as u64)?;
        }
        for (number, line) in String::from_utf8_lossy(&bytes[..complete])
            .lines()
            .enumerate()
        {
            match serde_json::from_str::<Value>(line) {
                Ok(entry) => match entry.get("generation_id").and_then(Value::as_str) {
                    Some(id) => {
                        store.latest.insert(id.to_owned(), entry);
                    }
                    None => store.unreadable_lines.push(number + 1),
                },
                Err(_) => store.unreadable_lines.push(number + 1),
            }
        }
        Ok(store)
    }

    /// Generation ids whose latest entry has status `success`.
    pub fn done(&self) -> BTreeSet<String> {
        self.latest
            .iter()
            .filter(|(_, entry)| entry.get("status").and_then(Value::as_str) == Some("success"))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Records a finished run: appends it to `results.jsonl`, then rewrites the documents.
    pub fn record(&mut self, entry: Value) -> Result<(), ArtifactError> {
        append_json_line(&self.dir.join(RESULTS_LOG_FILE), &entry)?;
        if let Some(id) = entry.get("generation_id").and_then(Value::as_str) {
            self.skipped.remove(id);
            self.latest.insert(id.to_owned(), entry);
        }
        self.write_documents()
    }

    /// Marks runs that were never attempted because dispatch stopped.
    pub fn mark_skipped(
        &mut self,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<(), ArtifactError> {
        self.skipped.extend(ids);
        self.write_documents()
    }

    /// Stores the experiment's summary analysis (or why it failed).
    pub fn set_summary(
        &mut self,
        summary: Option<Value>,
        error: Option<Value>,
    ) -> Result<(), ArtifactError> {
        self.summary = summary;
        self.summary_error = error;
        self.write_documents()
    }

    /// The latest entry of every planned run that has one, in plan order.
    pub fn entries(&self) -> Vec<Value> {
        self.plan_order
            .iter()
            .filter_map(|id| self.latest.get(id).cloned())
            .collect()
    }

    fn write_documents(&self) -> Result<(), ArtifactError> {
        let mut document = Map::new();
        document.insert("schema_version".into(), json!(1));
        document.insert("kind".into(), json!("experiment_results"));
        document.insert("experiment_id".into(), json!(self.experiment_id));
        document.insert("updated_at".into(), json!(Timestamp::now().iso()));
        document.insert("results".into(), Value::Array(self.entries()));
        if let Some(summary) = &self.summary {
            document.insert("summary".into(), summary.clone());
        }
        if let Some(error) = &self.summary_error {
            document.insert("summary_error".into(), error.clone());
        }
        artifacts::write_json(&self.dir.join(RESULTS_FILE), &Value::Object(document))?;
        if let Some(pairs) = &self.pairs {
            artifacts::write_json(&self.dir.join(PAIRS_FILE), &self.pairs_document(pairs))?;
        }
        Ok(())
    }

    /// `pairs.json` as of now: each side's error comes from its latest result, or `Skipped`.
    pub fn pairs_document(&self, pairs: &[Pair]) -> PairsDocument {
        let side_error = |id: &str| -> Option<Value> {
            if self.skipped.contains(id) {
                return Some(
                    json!({"type": "Skipped", "message": "skipped after an earlier failure or an interrupt"}),
                );
            }
            let entry = self.latest.get(id)?;
            if entry.get("status").and_then(Value::as_str) == Some("success") {
                return None;
            }
            Some(entry.get("error").cloned().unwrap_or(Value::Null))
        };
        pairs_document(&self.experiment_id, &self.run_mode, pairs, side_error)
    }
}

/// `pairs.json`: each pair with its sides' errors as `side_error` reports them.
pub fn pairs_document(
    experiment_id: &str,
    run_mode: &str,
    pairs: &[Pair],
    side_error: impl Fn(&str) -> Option<Value>,
) -> PairsDocument {
    PairsDocument {
        schema_version: 1,
        experiment_id: experiment_id.to_owned(),
        created_at: Timestamp::now().iso().to_owned(),
        pairs: pairs
            .iter()
            .map(|pair| PairEntry {
                run_index: pair.run_index,
                a_generation_id: pair.a_generation_id.clone(),
                b_generation_id: pair.b_generation_id.clone(),
                metadata: json!({"mode": run_mode}),
                a_error: side_error(&pair.a_generation_id),
                b_error: side_error(&pair.b_generation_id),
            })
            .collect(),
    }
}

fn truncate(path: &Path, length: u64) -> Result<(), ArtifactError> {
    let error = |source| ArtifactError::Write {
        path: path.to_owned(),
        source,
    };
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(error)?;
    file.set_len(length).map_err(error)?;
    file.sync_all().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, status: &str) -> Value {
        json!({"generation_id": id, "status": status, "error": if status == "error" { json!({"type": "x", "message": "m"}) } else { Value::Null }})
    }

    fn open(dir: &Path) -> ResultsStore {
        let pairs = vec![Pair {
            run_index: 1,
            a_generation_id: "A1_x".into(),
            b_generation_id: "B1_x".into(),
        }];
        ResultsStore::open(
            dir,
            "exp",
            "prompt_only",
            vec!["A1_x".into(), "B1_x".into()],
            Some(pairs),
        )
        .unwrap()
    }

    #[test]
    fn latest_entry_wins_and_documents_follow_plan_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        store.record(entry("B1_x", "success")).unwrap();
        store.record(entry("A1_x", "error")).unwrap();
        let pairs: Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join(PAIRS_FILE)).unwrap())
                .unwrap();
        assert_eq!(pairs["pairs"][0]["a_error"]["type"], "x");
        assert!(pairs["pairs"][0].get("b_error").is_none());
        store.record(entry("A1_x", "success")).unwrap();
        let results: Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join(RESULTS_FILE)).unwrap())
                .unwrap();
        let ids: Vec<&str> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["generation_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["A1_x", "B1_x"]);
        assert_eq!(results["results"][0]["status"], "success");
        assert_eq!(open(dir.path()).done().len(), 2);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_LOG_FILE);
        fs::write(
            &path,
            format!("{}\n{{\"generation_id\": \"B1", entry("A1_x", "success")),
        )
        .unwrap();
        let mut store = open(dir.path());
        assert_eq!(store.done().into_iter().collect::<Vec<_>>(), ["A1_x"]);
        store.record(entry("B1_x", "success")).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }

    #[test]
    fn skipped_runs_are_marked_in_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        store.mark_skipped(["B1_x".to_owned()]).unwrap();
        let pairs = store.pairs_document(store.pairs.as_ref().unwrap());
        assert_eq!(pairs.pairs[0].b_error.as_ref().unwrap()["type"], "Skipped");
    }
}

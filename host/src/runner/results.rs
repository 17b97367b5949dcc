//! The durable record of an experiment's runs and its views (DESIGN §4 step 8):
//! - `results.jsonl`: one entry per finished run, appended and synced by the worker that ran it.
//!   That line is the run's durable record; a run is done exactly when its latest line parses
//!   with status `success`.
//! - `experiment_results.json` (the latest entry per generation id, in plan order, plus the
//!   summary) and `pairs.json` (with `a_error`, `b_error` and `Skipped`): views rebuilt from the
//!   in-memory state by [`Checkpointer`], at most every [`CHECKPOINT_INTERVAL`] (longer when a
//!   write is slow) and once at the end, never by a worker. Each view write is linear in the run
//!   count and there are a bounded number per unit of time, so the bytes written per run stay
//!   flat; readers that need the latest state read `results.jsonl`.
//!
//! Entries are kept as their JSON text, so a view is assembled without re-serialising them.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use plugin_api::RunStatus;

use crate::artifacts::formats::{ResultEntry, StoredResult};
use crate::artifacts::layout::ExperimentLayout;
use crate::artifacts::plan_files::{write_pairs, ArmEntry, PairEntry, PairsDocument};
use crate::artifacts::{self, ArtifactError, LogFile, Rows};
use crate::clock::Timestamp;

use super::pairs::{Pair, PlanPairs};

/// The shortest time between two rewrites of the views while runs execute.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// A view rewrite may take at most this share of the time between rewrites (1/N).
const CHECKPOINT_COST_SHARE: u32 = 10;

/// One run's latest entry.
struct Recorded {
    text: Arc<RawValue>,
    success: bool,
    error: Option<Value>,
}

/// Results of this and earlier sessions of one experiment.
pub struct ResultsStore {
    layout: ExperimentLayout,
    experiment_id: String,
    run_mode: String,
    /// Generation ids in plan order.
    plan_order: Vec<String>,
    latest: HashMap<String, Recorded>,
    pairs: Option<PlanPairs>,
    skipped: BTreeSet<String>,
    summary: Option<Value>,
    summary_error: Option<Value>,
    /// `summary.metrics` when the summary is not an object (runner::place_metrics).
    summary_metrics: Option<Value>,
    /// The files the summary analysis wrote through `write_artifact`.
    plugin_artifacts: Vec<String>,
    /// Changed since the views were last written.
    dirty: bool,
    /// `results.jsonl`, open for appending.
    file: Arc<File>,
    /// Why lines of `results.jsonl` did not parse, each naming its line and field (the lines
    /// stay in the file; they are reported once).
    pub unreadable_lines: Vec<String>,
}

impl ResultsStore {
    /// Opens the store in `dir`, reading `results.jsonl` if it exists. A torn last line (a crash
    /// mid-append) is cut off so the next append starts on a fresh line.
    pub fn open(
        dir: &Path,
        experiment_id: &str,
        run_mode: &str,
        plan_order: Vec<String>,
        pairs: Option<PlanPairs>,
    ) -> Result<ResultsStore, ArtifactError> {
        let layout = ExperimentLayout::new(dir);
        let path = layout.results_log();
        let write_error = |source| ArtifactError::Write {
            path: path.clone(),
            source,
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(write_error(source)),
        };
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            truncate(&path, complete as u64)?;
        }
        let file = artifacts::open_append(&path)?;
        let mut store = ResultsStore {
            layout,
            experiment_id: experiment_id.to_owned(),
            run_mode: run_mode.to_owned(),
            plan_order,
            latest: HashMap::new(),
            pairs,
            skipped: BTreeSet::new(),
            summary: None,
            summary_error: None,
            summary_metrics: None,
            plugin_artifacts: Vec::new(),
            dirty: true,
            file: Arc::new(file),
            unreadable_lines: Vec::new(),
        };
        for (number, line) in String::from_utf8_lossy(&bytes[..complete])
            .lines()
            .enumerate()
        {
            if let Err(reason) = store.remember_line(&path, number + 1, line) {
                store.unreadable_lines.push(reason);
            }
        }
        Ok(store)
    }

    /// Takes one stored line of `results.jsonl` (line `number` of `path`) into the state.
    fn remember_line(&mut self, path: &Path, number: usize, line: &str) -> Result<(), String> {
        let entry: Value = serde_json::from_str(line)
            .map_err(|error| format!("`{}` line {number}: {error}", path.display()))?;
        let stored = StoredResult::read(path, number, &entry)?;
        let text = serde_json::value::to_raw_value(&entry)
            .map_err(|error| format!("`{}` line {number}: {error}", path.display()))?;
        self.record(
            stored.generation_id,
            Arc::from(text),
            stored.status,
            stored.error,
        );
        Ok(())
    }

    /// Generation ids whose latest entry has status `success`.
    pub fn done(&self) -> BTreeSet<String> {
        self.latest
            .iter()
            .filter(|(_, recorded)| recorded.success)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A handle that appends entries to `results.jsonl` without holding the store.
    pub fn appender(&self) -> Appender {
        Appender {
            path: self.layout.results_log(),
            file: Arc::clone(&self.file),
        }
    }

    /// Takes an entry already appended by an [`Appender`] into the state the views show.
    pub fn remember(&mut self, entry: &ResultEntry) -> Result<(), ArtifactError> {
        let text =
            serde_json::value::to_raw_value(entry).map_err(|source| ArtifactError::Encode {
                path: self.layout.results_log(),
                source,
            })?;
        self.record(
            entry.generation_id.clone(),
            Arc::from(text),
            entry.status,
            entry.error.clone(),
        );
        Ok(())
    }

    /// Run `id`'s latest entry, as JSON text, with its status and error.
    fn record(&mut self, id: String, text: Arc<RawValue>, status: RunStatus, error: Option<Value>) {
        let success = status == RunStatus::Success;
        let error = (!success).then(|| error.unwrap_or(Value::Null));
        self.skipped.remove(&id);
        self.latest.insert(
            id,
            Recorded {
                text,
                success,
                error,
            },
        );
        self.dirty = true;
    }

    /// Marks runs that were never attempted because dispatch stopped.
    pub fn mark_skipped(&mut self, ids: impl IntoIterator<Item = String>) {
        self.skipped.extend(ids);
        self.dirty = true;
    }

    /// Stores the experiment's summary analysis (or why it failed).
    pub fn set_summary(&mut self, summary: Option<Value>, error: Option<Value>) {
        self.summary = summary;
        self.summary_error = error;
        self.dirty = true;
    }

    /// The stored reason the summary analysis failed, if it did.
    pub fn summary_error(&self) -> Option<&Value> {
        self.summary_error.as_ref()
    }

    /// Stores the files the summary analysis wrote (`plugin/<name>`).
    pub fn set_plugin_artifacts(&mut self, paths: Vec<String>) {
        self.plugin_artifacts = paths;
        self.dirty = true;
    }

    /// Stores the runner's metrics beside a summary that is not an object.
    pub fn set_summary_metrics(&mut self, metrics: Option<Value>) {
        self.summary_metrics = metrics;
        self.dirty = true;
    }

    /// The latest entry of every planned run that has one, in plan order, as stored (JSON text).
    pub fn raw_entries(&self) -> Vec<Raw> {
        self.plan_order
            .iter()
            .filter_map(|id| self.latest.get(id))
            .map(|recorded| Raw(Arc::clone(&recorded.text)))
            .collect()
    }

    /// Whether the latest entry of run `id` succeeded (`None`: no entry).
    pub fn succeeded(&self, id: &str) -> Option<bool> {
        self.latest.get(id).map(|recorded| recorded.success)
    }

    /// What the views show now, taken quickly so the store is not held while they are written.
    fn snapshot(&mut self) -> Option<Snapshot> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        Some(Snapshot {
            layout: self.layout.clone(),
            experiment_id: self.experiment_id.clone(),
            results: self
                .plan_order
                .iter()
                .filter_map(|id| {
                    self.latest
                        .get(id)
                        .map(|recorded| Arc::clone(&recorded.text))
                })
                .collect(),
            summary: self.summary.clone(),
            summary_error: self.summary_error.clone(),
            summary_metrics: self.summary_metrics.clone(),
            plugin_artifacts: self.plugin_artifacts.clone(),
            pairs: self.pairs.as_ref().map(|pairs| self.pairs_document(pairs)),
        })
    }

    /// Writes the views now (the end of an experiment).
    pub fn write_views(&mut self) -> Result<(), ArtifactError> {
        match self.snapshot() {
            Some(snapshot) => snapshot.write(),
            None => Ok(()),
        }
    }

    /// `pairs.json` as of now: each side's error comes from its latest result, or `Skipped`.
    pub fn pairs_document(&self, pairs: &PlanPairs) -> PairsDocument {
        let side_error = |id: &str| -> Option<Value> {
            if self.skipped.contains(id) {
                return Some(
                    json!({"type": "Skipped", "message": "skipped after an earlier failure or an interrupt"}),
                );
            }
            self.latest.get(id)?.error.clone()
        };
        pairs_document(&self.experiment_id, &self.run_mode, pairs, side_error)
    }
}

/// Appends result entries to `results.jsonl`: one write per line, cut back off if it fails
/// part-way, then a sync (`artifacts::append_synced`). Workers append without holding the store.
pub struct Appender {
    path: PathBuf,
    file: Arc<File>,
}

impl Appender {
    pub fn append(&self, entry: &ResultEntry) -> Result<(), ArtifactError> {
        let mut line = serde_json::to_vec(entry).map_err(|source| ArtifactError::Encode {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        artifacts::append_synced(&self.file, &self.path, &line)
    }
}

/// The views' content at one moment.
struct Snapshot {
    layout: ExperimentLayout,
    experiment_id: String,
    results: Vec<Arc<RawValue>>,
    summary: Option<Value>,
    summary_error: Option<Value>,
    summary_metrics: Option<Value>,
    plugin_artifacts: Vec<String>,
    pairs: Option<PairsDocument>,
}

/// An entry's JSON text, written as it is.
pub struct Raw(Arc<RawValue>);

impl Raw {
    /// The entry's JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// An entry from a value (tests and callers that hold a value, not stored text).
    pub fn from_value(entry: &Value) -> Result<Raw, serde_json::Error> {
        Ok(Raw(Arc::from(serde_json::value::to_raw_value(entry)?)))
    }
}

impl Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A stored entry as the summary analysis receives it: every top-level field but `outputs`. That
/// field holds the runner's record of the compiled pipeline (`outputs.prompt_pipeline`, the same
/// for every run of a variant and kept in `results.jsonl` and the plan); parsed into a value tree
/// per run by the plugin, it would take most of a large summary's memory.
pub struct SummaryEntry<'a>(pub &'a Raw);

/// Field of a stored entry left out of [`SummaryEntry`].
const LEFT_OUT_OF_SUMMARY: &str = "outputs";

impl Serialize for SummaryEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap as _};
        let fields = TopLevelFields::parse(self.0.text()).map_err(S::Error::custom)?;
        let kept = fields
            .0
            .iter()
            .filter(|(key, _)| *key != LEFT_OUT_OF_SUMMARY);
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in kept {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// An entry's top-level fields in their stored order, each value left as its JSON text.
struct TopLevelFields<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'a> TopLevelFields<'a> {
    fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl<'de> serde::Deserialize<'de> for TopLevelFields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = TopLevelFields<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a result entry (a JSON object)")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut access: M,
            ) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::new();
                while let Some(key) = access.next_key::<std::borrow::Cow<'de, str>>()? {
                    fields.push((key, access.next_value::<&'de RawValue>()?));
                }
                Ok(TopLevelFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// `experiment_results.json`.
#[derive(Serialize)]
struct ResultsDocument<'a, R: Serialize> {
    schema_version: u32,
    kind: &'static str,
    experiment_id: &'a str,
    updated_at: &'a str,
    results: R,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: &'a Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_error: &'a Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_metrics: &'a Option<Value>,
    /// The files the summary analysis wrote; left out when it wrote none.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    plugin_artifacts: &'a [String],
}

impl Snapshot {
    fn write(&self) -> Result<(), ArtifactError> {
        let now = Timestamp::now();
        let document = ResultsDocument {
            schema_version: 1,
            kind: "experiment_results",
            experiment_id: &self.experiment_id,
            updated_at: now.iso(),
            results: Rows(&self.results, |text: &Arc<RawValue>| Raw(Arc::clone(text))),
            summary: &self.summary,
            summary_error: &self.summary_error,
            summary_metrics: &self.summary_metrics,
            plugin_artifacts: &self.plugin_artifacts,
        };
        // Both files are in one directory: its entries are synced once, after both renames.
        artifacts::write_json_deferred(&self.layout.results(), &document)?;
        if let Some(pairs) = &self.pairs {
            write_pairs(self.layout.root(), pairs)?;
        } else {
            artifacts::sync_dir(self.layout.root());
        }
        Ok(())
    }
}

/// Rewrites the views while runs execute: wakes every [`CHECKPOINT_INTERVAL`] (or later, when
/// the last write was slow), writes them if anything changed, and syncs the experiment log.
pub struct Checkpointer {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Checkpointer {
    pub fn new() -> Checkpointer {
        Checkpointer {
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Runs until [`Checkpointer::stop`]; returns the first write error (it keeps trying: the
    /// durable records do not depend on the views).
    pub fn run(&self, store: &Mutex<ResultsStore>, log: &LogFile) -> Option<ArtifactError> {
        let mut first_error = None;
        let mut wait = CHECKPOINT_INTERVAL;
        loop {
            {
                let stop = lock(&self.stop);
                let (stop, _) = self
                    .wake
                    .wait_timeout_while(stop, wait, |stop| !*stop)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if *stop {
                    return first_error;
                }
            }
            let started = Instant::now();
            let snapshot = lock(store).snapshot();
            if let Some(snapshot) = snapshot {
                if let Err(error) = snapshot.write() {
                    first_error.get_or_insert(error);
                }
            }
            let _ = log.sync();
            wait = CHECKPOINT_INTERVAL.max(started.elapsed() * CHECKPOINT_COST_SHARE);
        }
    }

    pub fn stop(&self) {
        *lock(&self.stop) = true;
        self.wake.notify_all();
    }
}

/// A poisoned lock means a worker panicked mid-update; the data is still the best we have.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `pairs.json`: each pair with its sides' errors as `side_error` reports them; `arms` only
/// when there is more than one treatment.
pub fn pairs_document(
    experiment_id: &str,
    run_mode: &str,
    pairs: &PlanPairs,
    side_error: impl Fn(&str) -> Option<Value>,
) -> PairsDocument {
    let entries = |pairs: &[Pair]| -> Vec<PairEntry> {
        pairs
            .iter()
            .map(|pair| PairEntry {
                run_index: pair.run_index,
                a_generation_id: pair.a_generation_id.clone(),
                b_generation_id: pair.b_generation_id.clone(),
                metadata: json!({"mode": run_mode}),
                a_error: side_error(&pair.a_generation_id),
                b_error: side_error(&pair.b_generation_id),
            })
            .collect()
    };
    let arms: Option<Vec<ArmEntry>> = pairs.has_more_arms().then(|| {
        pairs
            .arms()
            .map(|(treatment, arm)| ArmEntry {
                control: pairs.control.clone(),
                treatment: treatment.to_owned(),
                pairs: entries(arm),
            })
            .collect()
    });
    // With several arms, 1.0's `pairs` is the first arm's entries, already built.
    let first = match arms.as_deref() {
        Some([first, ..]) => first.pairs.clone(),
        _ => entries(pairs.first_arm()),
    };
    PairsDocument {
        schema_version: 1,
        experiment_id: experiment_id.to_owned(),
        created_at: Timestamp::now().iso().to_owned(),
        pairs: first,
        arms,
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
    use crate::cost::UsageTotals;

    fn entry(id: &str, status: &str) -> ResultEntry {
        let failed = status == "error";
        ResultEntry {
            variant: id[..1].to_owned(),
            variant_name: None,
            run: 1,
            generation_id: id.to_owned(),
            seed: Some(1),
            status: if failed {
                RunStatus::Error
            } else {
                RunStatus::Success
            },
            outcome: None,
            error: failed.then(|| json!({"type": "x", "message": "m"})),
            analysis: None,
            analysis_error: None,
            analysis_calls: Vec::new(),
            plugin_artifacts: Vec::new(),
            usage: UsageTotals::default(),
            cost_usd: None,
            saved_cost_usd: None,
            cost_missing: Vec::new(),
            timing: None,
        }
    }

    fn layout(dir: &Path) -> ExperimentLayout {
        ExperimentLayout::new(dir)
    }

    #[test]
    fn a_summary_entry_is_the_stored_entry_without_outputs_in_stored_order() {
        let stored = Raw::from_value(&json!({
            "variant": "A",
            "outputs": {"prompt_pipeline": {"resolved_stages": ["a", "b"]}},
            "final_prompt": "a \"quoted\" <prompt>",
            "analysis": {"metrics": {"ok": true}},
        }))
        .unwrap();
        let sent = serde_json::to_string(&SummaryEntry(&stored)).unwrap();
        assert_eq!(
            sent,
            r#"{"variant":"A","final_prompt":"a \"quoted\" <prompt>","analysis":{"metrics":{"ok":true}}}"#
        );
    }

    #[test]
    fn a_summary_entry_that_is_not_an_object_fails_to_serialize() {
        let stored = Raw::from_value(&json!([1, 2])).unwrap();
        let error = serde_json::to_string(&SummaryEntry(&stored)).unwrap_err();
        assert!(error.to_string().contains("a result entry"), "{error}");
    }

    fn open(dir: &Path) -> ResultsStore {
        let pairs = PlanPairs {
            control: "A".into(),
            treatments: vec!["B".into()],
            pairs: vec![Pair {
                run_index: 1,
                treatment: "B".into(),
                a_generation_id: "A1_x".into(),
                b_generation_id: "B1_x".into(),
            }],
            unpaired: Vec::new(),
        };
        ResultsStore::open(
            dir,
            "exp",
            "prompt_only",
            vec!["A1_x".into(), "B1_x".into()],
            Some(pairs),
        )
        .unwrap()
    }

    fn record(store: &mut ResultsStore, entry: ResultEntry) {
        store.appender().append(&entry).unwrap();
        store.remember(&entry).unwrap();
        store.write_views().unwrap();
    }

    #[test]
    fn latest_entry_wins_and_documents_follow_plan_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        record(&mut store, entry("B1_x", "success"));
        record(&mut store, entry("A1_x", "error"));
        let pairs: Value =
            serde_json::from_str(&fs::read_to_string(layout(dir.path()).pairs()).unwrap()).unwrap();
        assert_eq!(pairs["pairs"][0]["a_error"]["type"], "x");
        assert!(pairs["pairs"][0].get("b_error").is_none());
        record(&mut store, entry("A1_x", "success"));
        let results: Value =
            serde_json::from_str(&fs::read_to_string(layout(dir.path()).results()).unwrap())
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
        let path = layout(dir.path()).results_log();
        let stored = serde_json::to_string(&entry("A1_x", "success")).unwrap();
        fs::write(&path, format!("{stored}\n{{\"generation_id\": \"B1")).unwrap();
        let mut store = open(dir.path());
        assert_eq!(store.done().into_iter().collect::<Vec<_>>(), ["A1_x"]);
        record(&mut store, entry("B1_x", "success"));
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
        store.mark_skipped(["B1_x".to_owned()]);
        let pairs = store.pairs_document(store.pairs.as_ref().unwrap());
        assert_eq!(pairs.pairs[0].b_error.as_ref().unwrap()["type"], "Skipped");
    }

    #[test]
    fn more_treatments_add_every_arm_and_keep_pairs_as_the_first() {
        let pair = |index: u32, treatment: &str| Pair {
            run_index: index,
            treatment: treatment.into(),
            a_generation_id: format!("A{index}"),
            b_generation_id: format!("{treatment}{index}"),
        };
        let mut plan_pairs = PlanPairs {
            control: "A".into(),
            treatments: vec!["B".into(), "C".into()],
            pairs: vec![pair(1, "B"), pair(2, "B"), pair(1, "C"), pair(2, "C")],
            unpaired: Vec::new(),
        };
        let failed = |id: &str| (id == "A2" || id == "C1").then(|| json!({"type": id}));
        let document =
            serde_json::to_value(pairs_document("exp", "full", &plan_pairs, failed)).unwrap();
        let ids = |pairs: &Value| -> Vec<(String, String, Value, Value)> {
            pairs
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["a_generation_id"].as_str().unwrap().to_owned(),
                        p["b_generation_id"].as_str().unwrap().to_owned(),
                        p["a_error"].clone(),
                        p["b_error"].clone(),
                    )
                })
                .collect()
        };
        let no = Value::Null;
        assert_eq!(document["pairs"], document["arms"][0]["pairs"]);
        assert_eq!(document["arms"][1]["control"], "A");
        assert_eq!(document["arms"][1]["treatment"], "C");
        assert_eq!(
            ids(&document["arms"][1]["pairs"]),
            [
                ("A1".into(), "C1".into(), no.clone(), json!({"type": "C1"})),
                ("A2".into(), "C2".into(), json!({"type": "A2"}), no.clone()),
            ]
        );
        plan_pairs.treatments.truncate(1);
        plan_pairs.pairs.truncate(2);
        let two =
            serde_json::to_value(pairs_document("exp", "full", &plan_pairs, |_| None)).unwrap();
        assert!(two.get("arms").is_none(), "{two}");
        assert_eq!(ids(&two["pairs"]).len(), 2);
    }

    #[test]
    fn views_are_written_only_when_something_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        store.write_views().unwrap();
        let path = layout(dir.path()).results();
        fs::remove_file(&path).unwrap();
        store.write_views().unwrap();
        assert!(!path.exists(), "nothing changed, nothing written");
        store.set_summary(Some(json!({"n": 1})), None);
        store.write_views().unwrap();
        let results: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(results["summary"]["n"], 1);
    }

    #[test]
    fn a_stored_line_without_a_status_is_reported_by_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = layout(dir.path()).results_log();
        let stored = serde_json::to_string(&entry("A1_x", "success")).unwrap();
        fs::write(&path, format!("{stored}\n{{\"generation_id\":\"B1_x\"}}\n")).unwrap();
        let store = open(dir.path());
        assert_eq!(store.done().into_iter().collect::<Vec<_>>(), ["A1_x"]);
        assert_eq!(
            store.unreadable_lines.len(),
            1,
            "{:?}",
            store.unreadable_lines
        );
        let reason = &store.unreadable_lines[0];
        assert!(
            reason.contains(&format!("`{}` line 2", path.display())),
            "{reason}"
        );
        assert!(reason.contains("status"), "{reason}");
    }
}

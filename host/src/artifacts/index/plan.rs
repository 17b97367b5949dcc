//! Reading one `experiment_plan.json`: what the experiment is (id, name, run mode, base seed,
//! directory) and its planned runs, in plan order. Only the fields the index needs are parsed
//! (a plan of 200,000 runs is never held as a JSON tree), each leniently: a wrong type becomes a
//! missing value or a warning, as for the other sources. The fields every run of a plan shares
//! are held once ([`Planned`]).
//!
//! Not here: the experiment's summary ([`super::summary`]) or its registry rows.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::report::{warning, IndexWarnings};
use super::sources::{int, text};
use super::store::Store;

/// One planned run, as the registries need it. The fields every run of a plan shares are shared
/// (a plan of 200,000 runs holds them once).
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub experiment_id: Arc<str>,
    pub experiment_dir: Arc<str>,
    pub plan_path: Arc<str>,
    pub run_id: Option<String>,
    pub variant_key: String,
    pub run: Option<u64>,
    pub seed: Option<u64>,
    pub plan: Option<String>,
    pub variant_name: Option<String>,
    pub run_mode: Option<Arc<str>>,
}

/// A planned run and its generation id.
#[derive(Debug, Clone)]
pub(super) struct PlannedRun {
    pub generation_id: String,
    pub planned: Planned,
}

/// What the index takes from one `experiment_plan.json`.
pub(super) struct Plan {
    /// The plan file, as the index shows it.
    pub shown: String,
    /// The experiment's directory (the plan's), and as the index shows it.
    pub dir: PathBuf,
    pub experiment_dir: String,
    /// The plan's `experiment_id`, else the directory's name.
    pub experiment_id: String,
    pub experiment_name: Option<String>,
    pub run_mode: Option<String>,
    pub base_seed: Option<u64>,
    /// In plan order; entries without a generation id are warnings instead.
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    /// Reads the plan at `path`; `None` (and a warning) when it cannot be read or parsed.
    pub(super) fn read(path: &Path, store: &Store, warnings: &mut IndexWarnings) -> Option<Plan> {
        let shown = store.show(path);
        let fields = match fs::File::open(path)
            .map_err(|error| error.to_string())
            .and_then(|file| {
                let reader = std::io::BufReader::with_capacity(1 << 16, file);
                serde_json::from_reader::<_, PlanFields>(reader).map_err(|error| error.to_string())
            }) {
            Ok(fields) => fields,
            Err(message) => {
                warnings
                    .experiment_plan_errors
                    .push(warning(shown, None, &message));
                return None;
            }
        };
        let dir = path.parent().unwrap_or(&store.root).to_path_buf();
        let experiment_dir = store.show(&dir);
        let experiment_id = text(fields.experiment_id.as_ref()).unwrap_or_else(|| {
            dir.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let run_mode = text(fields.run_mode.as_ref());
        let entries: &[Option<PlanEntry>] = match &fields.planned_runs {
            PlannedRunsField::List(entries) => entries,
            PlannedRunsField::Missing | PlannedRunsField::NotAList => {
                let message =
                    "`planned_runs` is missing or not a list; the experiment is indexed without runs";
                warnings
                    .experiment_plan_errors
                    .push(warning(shown.clone(), None, &message));
                &[]
            }
        };
        let shared_experiment_id: Arc<str> = experiment_id.as_str().into();
        let shared_experiment_dir: Arc<str> = experiment_dir.as_str().into();
        let shared_plan_path: Arc<str> = shown.as_str().into();
        let shared_run_mode: Option<Arc<str>> = run_mode.as_deref().map(Arc::from);
        let mut runs: Vec<PlannedRun> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let Some((entry, generation_id)) = entry
                .as_ref()
                .and_then(|entry| Some((entry, text(entry.generation_id.as_ref())?)))
            else {
                let message = format!("`planned_runs[{index}]` has no `generation_id`; skipped");
                warnings
                    .experiment_plan_errors
                    .push(warning(shown.clone(), None, &message));
                continue;
            };
            let run = int(entry.run.as_ref());
            let variant_key =
                text(entry.variant.as_ref()).unwrap_or_else(|| variant_of_id(&generation_id));
            runs.push(PlannedRun {
                planned: Planned {
                    experiment_id: Arc::clone(&shared_experiment_id),
                    experiment_dir: Arc::clone(&shared_experiment_dir),
                    plan_path: Arc::clone(&shared_plan_path),
                    run_id: run.map(|run| format!("{variant_key}{run}")),
                    variant_key,
                    run,
                    seed: int(entry.seed.as_ref()),
                    plan: text(entry.plan.as_ref()),
                    variant_name: text(entry.variant_name.as_ref()),
                    run_mode: shared_run_mode.clone(),
                },
                generation_id,
            });
        }
        Some(Plan {
            shown,
            dir,
            experiment_dir,
            experiment_id,
            experiment_name: text(fields.experiment_name.as_ref()),
            run_mode,
            base_seed: int(fields.base_seed.as_ref()),
            runs,
        })
    }
}

/// file is parsed, so a plan of 200,000 runs is never held as a JSON tree; each field is read
/// leniently (a wrong type becomes a missing value or a warning, as for the other sources).
#[derive(serde::Deserialize)]
struct PlanFields {
    experiment_id: Option<Value>,
    experiment_name: Option<Value>,
    run_mode: Option<Value>,
    base_seed: Option<Value>,
    #[serde(default)]
    planned_runs: PlannedRunsField,
}

/// `planned_runs`: a list of entries (`None` for an entry that is not an object), or not.
#[derive(Default)]
enum PlannedRunsField {
    #[default]
    Missing,
    NotAList,
    List(Vec<Option<PlanEntry>>),
}

/// The fields of one planned run the index reads.
#[derive(serde::Deserialize)]
struct PlanEntry {
    generation_id: Option<Value>,
    run: Option<Value>,
    variant: Option<Value>,
    seed: Option<Value>,
    plan: Option<Value>,
    variant_name: Option<Value>,
}

impl<'de> serde::Deserialize<'de> for PlannedRunsField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// An entry, or `None` for anything that is not an object.
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum EntryOrOther {
            Entry(Box<PlanEntry>),
            Other(serde::de::IgnoredAny),
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PlannedRunsField;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a list of planned runs")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PlannedRunsField, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<EntryOrOther>()? {
                    entries.push(match entry {
                        EntryOrOther::Entry(entry) => Some(*entry),
                        EntryOrOther::Other(_) => None,
                    });
                }
                Ok(PlannedRunsField::List(entries))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PlannedRunsField, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_bool<E>(self, _: bool) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_i64<E>(self, _: i64) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_u64<E>(self, _: u64) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_f64<E>(self, _: f64) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_str<E>(self, _: &str) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
            fn visit_unit<E>(self) -> Result<PlannedRunsField, E> {
                Ok(PlannedRunsField::NotAList)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The variant of a generation id `<variant><run>_<hex>` when the plan does not say.
pub(super) fn variant_of_id(generation_id: &str) -> String {
    let head = generation_id.split('_').next().unwrap_or(generation_id);
    let variant = head.trim_end_matches(|c: char| c.is_ascii_digit());
    if variant.is_empty() { head } else { variant }.to_owned()
}

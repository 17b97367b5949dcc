//! Reading what the runs of one store (or group) left behind, into one record per generation id
//! ([`Sources`]): the runs indexes (the latest record: greatest `created_at`, then the last seen,
//! so a run that failed and then succeeded on resume reports success), the titles manifests (the
//! latest row; a re-run overwrites the image, so the latest row describes the file on disk;
//! repeated ids are warnings) and the generations CSVs (the most complete row; ties: the later
//! one). Reading is lenient: a file, line or row that cannot be read becomes a warning naming it.
//!
//! Not here: experiment plans ([`super::plan`]), or joining the records into rows.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::report::{warning, IndexWarning, IndexWarnings};
use super::store::Store;
use super::walk::Found;
use crate::artifacts::formats::GENERATIONS_HEADER;
use crate::cost::UsageTotals;

/// What the runs indexes, manifests and generations CSVs of one store say, by generation id.
#[derive(Default)]
pub(super) struct Sources {
    pub runs: BTreeMap<String, RunRecord>,
    pub manifests: BTreeMap<String, ManifestRow>,
    pub generations: BTreeMap<String, GenerationRow>,
}

impl Sources {
    /// Reads the runs indexes, manifests and generations CSVs of `found`, in that order.
    pub(super) fn read(store: &Store, found: &Found, warnings: &mut IndexWarnings) -> Sources {
        let mut sources = Sources::default();
        let mut seen = Seen(0);
        for path in &found.runs_indexes {
            read_runs_index(path, store, &mut sources, &mut seen, warnings);
        }
        for path in &found.manifests {
            read_manifest(path, store, &mut sources, &mut seen, warnings);
        }
        for path in &found.generations {
            read_generations(path, store, &mut sources, &mut seen, warnings);
        }
        sources
    }
}

/// A non-blank string, trimmed.
pub(super) fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// A non-negative integer, from a JSON number or a string of digits.
pub(super) fn int(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && *float >= 0.0 && *float < 2f64.powi(64))
                .map(|float| float as u64)
        }),
        Value::String(text) => int_text(text),
        _ => None,
    }
}

fn int_text(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

fn nonblank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Orders records of one generation id: later `created_at`, then later in the walk, wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Recency {
    created_at: String,
    seen: u64,
}

/// The kept runs-index record of one generation id.
#[derive(Debug, Clone)]
pub(super) struct RunRecord {
    recency: Recency,
    pub created_at: Option<String>,
    pub seed: Option<u64>,
    pub status: Option<String>,
    pub phase: Option<String>,
    pub run_mode: Option<String>,
    pub experiment_id: Option<String>,
    pub variant: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub transcript: Option<String>,
    pub oplog: Option<String>,
    pub final_prompt: Option<String>,
    pub image: Option<String>,
    /// The pipeline's `usage` and `cost_usd` (absent in records written before they were).
    pub usage: Option<UsageTotals>,
    pub cost_usd: Option<f64>,
}

impl RunRecord {
    fn parse(object: &serde_json::Map<String, Value>, store: &Store, seen: u64) -> RunRecord {
        let experiment = object.get("experiment").and_then(Value::as_object);
        let label = |key: &str| text(experiment.and_then(|experiment| experiment.get(key)));
        let tags = experiment
            .and_then(|experiment| experiment.get("tags"))
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(|tag| text(Some(tag))).collect())
            .unwrap_or_default();
        let artifacts = object.get("artifacts").and_then(Value::as_object);
        let artifact = |key: &str| {
            store.show_recorded(
                artifacts
                    .and_then(|artifacts| artifacts.get(key))
                    .and_then(Value::as_str),
            )
        };
        let created_at = text(object.get("created_at"));
        RunRecord {
            recency: Recency {
                created_at: created_at.clone().unwrap_or_default(),
                seen,
            },
            created_at,
            seed: int(object.get("seed")),
            status: text(object.get("status")),
            phase: text(object.get("phase")),
            run_mode: text(object.get("run_mode")),
            experiment_id: label("id"),
            variant: label("variant"),
            notes: label("notes"),
            tags,
            transcript: artifact("transcript"),
            oplog: artifact("oplog"),
            final_prompt: artifact("final_prompt"),
            image: artifact("image"),
            usage: object
                .get("usage")
                .and_then(|usage| UsageTotals::deserialize(usage).ok()),
            cost_usd: object.get("cost_usd").and_then(Value::as_f64),
        }
    }
}

/// The kept titles-manifest row of one generation id.
#[derive(Debug, Clone)]
pub(super) struct ManifestRow {
    recency: Recency,
    pub manifest_path: String,
    pub title_seq: Option<u64>,
    pub title: Option<String>,
    pub generation_id: String,
    pub image_path: Option<String>,
    pub created_at: Option<String>,
    pub model: Option<String>,
    pub size: Option<String>,
    pub quality: Option<String>,
    pub seed: Option<u64>,
}

/// The kept generations-CSV row of one generation id.
#[derive(Debug, Clone)]
pub(super) struct GenerationRow {
    seen: u64,
    pub source: String,
    pub selected_concepts: Option<String>,
    pub final_image_prompt: Option<String>,
    pub image_path: Option<String>,
    pub created_at: Option<String>,
    pub seed: Option<u64>,
}

impl GenerationRow {
    fn completeness(&self) -> usize {
        [
            &self.created_at,
            &self.image_path,
            &self.final_image_prompt,
            &self.selected_concepts,
        ]
        .iter()
        .filter(|field| field.is_some())
        .count()
            + usize::from(self.seed.is_some())
    }
}

/// A counter over everything read in one store, for "later in the walk".
struct Seen(u64);

impl Seen {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn read_runs_index(
    path: &Path,
    store: &Store,
    sources: &mut Sources,
    seen: &mut Seen,
    warnings: &mut IndexWarnings,
) {
    let shown = store.show(path);
    let content = match fs::read_to_string(path) {
        Ok(content) => content,
        Err(error) => {
            return warnings
                .runs_index_errors
                .push(warning(shown, None, &error))
        }
    };
    for (number, line) in (1_u64..).zip(content.lines()) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |message: &dyn fmt::Display| warning(shown.clone(), Some(number), message);
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                warnings
                    .runs_index_errors
                    .push(at(&"expected a JSON object"));
                continue;
            }
            Err(error) => {
                warnings.runs_index_errors.push(at(&error));
                continue;
            }
        };
        let Some(generation_id) = text(object.get("generation_id")) else {
            warnings
                .runs_index_errors
                .push(at(&"the record has no `generation_id`"));
            continue;
        };
        let record = RunRecord::parse(&object, store, seen.next());
        match sources.runs.get(&generation_id) {
            Some(kept) if kept.recency > record.recency => {}
            _ => {
                sources.runs.insert(generation_id, record);
            }
        }
    }
}

/// A CSV file's header and a reader positioned at its first record.
type CsvFile = (Vec<String>, csv::Reader<std::io::Cursor<Vec<u8>>>);

/// Reads a CSV's header (byte-order mark removed) and records; `None` for an empty file.
fn read_csv(path: &Path) -> Result<Option<CsvFile>, String> {
    let bytes = fs::read(path).map_err(|error| error.to_string())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::Cursor::new(bytes));
    let header = reader.headers().map_err(|error| error.to_string())?;
    let header = header
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    Ok(Some((header, reader)))
}

fn csv_line(record: &csv::StringRecord) -> Option<u64> {
    record.position().map(csv::Position::line)
}

fn read_manifest(
    path: &Path,
    store: &Store,
    sources: &mut Sources,
    seen: &mut Seen,
    warnings: &mut IndexWarnings,
) {
    let shown = store.show(path);
    let (header, mut reader) = match read_csv(path) {
        Ok(Some(csv)) => csv,
        Ok(None) => return,
        Err(message) => {
            return warnings
                .titles_manifest_errors
                .push(warning(shown, None, &message))
        }
    };
    let column = |name: &str| header.iter().position(|found| found == name);
    let Some(id_column) = column("generation_id") else {
        let message = format!("no `generation_id` column (header `{}`)", header.join(","));
        return warnings
            .titles_manifest_errors
            .push(warning(shown, Some(1), &message));
    };
    let columns = [
        "seq",
        "title",
        "image_path",
        "created_at",
        "model",
        "size",
        "quality",
        "seed",
    ]
    .map(column);
    let duplicates = &mut warnings.titles_manifest_duplicate_generation_ids;
    for_each_row(
        &mut reader,
        &shown,
        id_column,
        &mut warnings.titles_manifest_errors,
        |generation_id, record| {
            let field = |index: Option<usize>| nonblank(index.and_then(|index| record.get(index)));
            let [seq, title, image_path, created_at, model, size, quality, seed] =
                columns.map(field);
            let row = ManifestRow {
                recency: Recency {
                    created_at: created_at.clone().unwrap_or_default(),
                    seen: seen.next(),
                },
                manifest_path: shown.clone(),
                title_seq: seq.as_deref().and_then(int_text),
                title,
                generation_id: generation_id.clone(),
                image_path: store.show_recorded(image_path.as_deref()),
                created_at,
                model,
                size,
                quality,
                seed: seed.as_deref().and_then(int_text),
            };
            if let Some(kept) = sources.manifests.get(&generation_id) {
                let message = format!(
                "generation id `{generation_id}` has several manifest rows (also in `{}`); the latest is used",
                kept.manifest_path
            );
                duplicates.push(warning(shown.clone(), csv_line(record), &message));
                if kept.recency > row.recency {
                    return;
                }
            }
            sources.manifests.insert(generation_id, row);
        },
    );
}

/// Calls `each` with every row of a CSV that has a `generation_id` (in column `id_column`); a row
/// that cannot be read or has no id becomes a warning in `errors`, and an I/O error ends the file.
fn for_each_row(
    reader: &mut csv::Reader<std::io::Cursor<Vec<u8>>>,
    shown: &str,
    id_column: usize,
    errors: &mut Vec<IndexWarning>,
    mut each: impl FnMut(String, &csv::StringRecord),
) {
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(csv::Position::line);
                let fatal = matches!(error.kind(), csv::ErrorKind::Io(_));
                errors.push(warning(shown.to_owned(), line, &error));
                if fatal {
                    break;
                }
                continue;
            }
        };
        match nonblank(record.get(id_column)) {
            Some(generation_id) => each(generation_id, &record),
            None => errors.push(warning(
                shown.to_owned(),
                csv_line(&record),
                &"the row has no `generation_id`",
            )),
        }
    }
}

/// `Created At` and `created_at` match: lowercase, runs of other characters become one `_`.
pub(super) fn normalize_header(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

fn read_generations(
    path: &Path,
    store: &Store,
    sources: &mut Sources,
    seen: &mut Seen,
    warnings: &mut IndexWarnings,
) {
    let shown = store.show(path);
    let (header, mut reader) = match read_csv(path) {
        Ok(Some(csv)) => csv,
        Ok(None) => return,
        Err(message) => {
            return warnings
                .generation_csv_errors
                .push(warning(shown, None, &message))
        }
    };
    let normalized: Vec<String> = header.iter().map(|name| normalize_header(name)).collect();
    let columns: Vec<Option<usize>> = GENERATIONS_HEADER
        .iter()
        .map(|name| normalized.iter().position(|found| found == name))
        .collect();
    if columns.iter().any(Option::is_none) {
        let message = format!(
            "unexpected header `{}` (expected `{}`; a legacy generations CSV is not read)",
            header.join(","),
            GENERATIONS_HEADER.join(",")
        );
        return warnings
            .generation_csv_errors
            .push(warning(shown, Some(1), &message));
    }
    let columns: Vec<usize> = columns.into_iter().flatten().collect();
    for_each_row(
        &mut reader,
        &shown,
        columns[0],
        &mut warnings.generation_csv_errors,
        |generation_id, record| {
            let field = |position: usize| nonblank(record.get(columns[position]));
            let row = GenerationRow {
                seen: seen.next(),
                source: shown.clone(),
                selected_concepts: field(1),
                final_image_prompt: field(2),
                image_path: store.show_recorded(field(3).as_deref()),
                created_at: field(4),
                seed: field(5).as_deref().and_then(int_text),
            };
            match sources.generations.get(&generation_id) {
                Some(kept) if (kept.completeness(), kept.seen) > (row.completeness(), row.seen) => {
                }
                _ => {
                    sources.generations.insert(generation_id, row);
                }
            }
        },
    );
}

//! `run_registry.csv`: one row per generation id found in any source (runs indexes, titles
//! manifests, generations CSVs, plans), in order of `created_at` then generation id; each field
//! from the first source that has it. Its columns are [`RUN_COLUMNS`]. A row holds only what the
//! experiment registry does not already share, and a run that was only planned holds no files,
//! since a registry of 200,000 planned runs holds one row per run.
//!
//! Not here: reading the sources ([`super::sources`], [`super::plan`]).

use std::borrow::Cow;

use super::columns::{cell, display_cell, image_id, image_label, text_cell, Column};
use super::plan::Planned;
use super::sources::{GenerationRow, ManifestRow, RunRecord, Sources};
use crate::cost::UsageTotals;

/// What the run registry shows of a run's plan: not all of [`Planned`], whose experiment-wide
/// fields the row has already, since a registry of 200,000 planned runs holds one per row.
#[derive(Debug, Clone)]
struct PlannedLabels {
    run_id: Option<String>,
    variant_key: String,
    run: Option<u64>,
    plan: Option<String>,
    variant_name: Option<String>,
}

impl PlannedLabels {
    fn of(planned: &Planned) -> PlannedLabels {
        PlannedLabels {
            run_id: planned.run_id.clone(),
            variant_key: planned.variant_key.clone(),
            run: planned.run,
            plan: planned.plan.clone(),
            variant_name: planned.variant_name.clone(),
        }
    }
}

/// One row of `run_registry.csv`.
#[derive(Debug, Clone)]
pub(super) struct RunRow {
    pub generation_id: String,
    created_at: Option<String>,
    seed: Option<u64>,
    status: Option<String>,
    phase: Option<String>,
    run_mode: Option<String>,
    experiment_id: Option<String>,
    experiment_variant: Option<String>,
    experiment_notes: Option<String>,
    experiment_tags: Vec<String>,
    planned: Option<PlannedLabels>,
    /// Boxed, and absent for a run that was only planned: most rows of a large dry run.
    files: Option<Box<RunFiles>>,
}

/// What a run left behind: its title, files, generation record, usage and cost.
#[derive(Debug, Clone)]
struct RunFiles {
    title_seq: Option<u64>,
    title: Option<String>,
    image_path: Option<String>,
    transcript_path: Option<String>,
    final_prompt_path: Option<String>,
    oplog_path: Option<String>,
    titles_manifest_path: Option<String>,
    generations_source_path: Option<String>,
    selected_concepts: Option<String>,
    final_image_prompt: Option<String>,
    usage: Option<UsageTotals>,
    cost_usd: Option<f64>,
}

/// The files of a run that left none.
static NO_FILES: RunFiles = RunFiles {
    title_seq: None,
    title: None,
    image_path: None,
    transcript_path: None,
    final_prompt_path: None,
    oplog_path: None,
    titles_manifest_path: None,
    generations_source_path: None,
    selected_concepts: None,
    final_image_prompt: None,
    usage: None,
    cost_usd: None,
};

/// The columns of `run_registry.csv`, in order (a combined index puts `store, store_root`
/// first).
pub(super) static RUN_COLUMNS: &[Column<RunRow>] = &[
    ("generation_id", |row| cell(&row.generation_id)),
    ("created_at", |row| text_cell(row.created_at.as_deref())),
    ("seed", |row| display_cell(row.seed)),
    ("status", |row| text_cell(row.status.as_deref())),
    ("phase", |row| text_cell(row.phase.as_deref())),
    ("run_mode", |row| text_cell(row.run_mode.as_deref())),
    ("experiment_id", |row| {
        text_cell(row.experiment_id.as_deref())
    }),
    ("experiment_variant", |row| {
        text_cell(row.experiment_variant.as_deref())
    }),
    ("experiment_notes", |row| {
        text_cell(row.experiment_notes.as_deref())
    }),
    ("experiment_tags", |row| {
        Cow::Owned(row.experiment_tags.join("|"))
    }),
    ("experiment_run_id", |row| {
        text_cell(row.planned().and_then(|planned| planned.run_id.as_deref()))
    }),
    ("variant_key", |row| {
        text_cell(row.planned().map(|planned| planned.variant_key.as_str()))
    }),
    ("run", |row| {
        display_cell(row.planned().and_then(|planned| planned.run))
    }),
    ("planned_plan", |row| {
        text_cell(row.planned().and_then(|planned| planned.plan.as_deref()))
    }),
    ("planned_variant_name", |row| {
        text_cell(
            row.planned()
                .and_then(|planned| planned.variant_name.as_deref()),
        )
    }),
    ("title_seq", |row| display_cell(row.files().title_seq)),
    ("title", |row| text_cell(row.files().title.as_deref())),
    ("image_id", |row| image_id(row.files().title_seq)),
    ("image_label", |row| {
        image_label(row.files().title_seq, row.files().title.as_deref())
    }),
    ("image_path", |row| {
        text_cell(row.files().image_path.as_deref())
    }),
    ("transcript_path", |row| {
        text_cell(row.files().transcript_path.as_deref())
    }),
    ("final_prompt_path", |row| {
        text_cell(row.files().final_prompt_path.as_deref())
    }),
    ("oplog_path", |row| {
        text_cell(row.files().oplog_path.as_deref())
    }),
    ("titles_manifest_path", |row| {
        text_cell(row.files().titles_manifest_path.as_deref())
    }),
    ("generations_source_path", |row| {
        text_cell(row.files().generations_source_path.as_deref())
    }),
    ("selected_concepts", |row| {
        text_cell(row.files().selected_concepts.as_deref())
    }),
    ("final_image_prompt", |row| {
        text_cell(row.files().final_image_prompt.as_deref())
    }),
    ("calls", |row| {
        display_cell(row.usage().map(|usage| usage.calls))
    }),
    ("input_tokens", |row| {
        display_cell(row.usage().map(|usage| usage.input_tokens))
    }),
    ("cached_input_tokens", |row| {
        display_cell(row.usage().map(|usage| usage.cached_input_tokens))
    }),
    ("output_tokens", |row| {
        display_cell(row.usage().map(|usage| usage.output_tokens))
    }),
    ("reasoning_tokens", |row| {
        display_cell(row.usage().map(|usage| usage.reasoning_tokens))
    }),
    ("images", |row| {
        display_cell(row.usage().map(|usage| usage.images))
    }),
    ("cost_usd", |row| display_cell(row.files().cost_usd)),
];

impl RunRow {
    /// The row of `generation_id`, from its plan (if any) and every source that mentions it.
    pub(super) fn of(generation_id: &str, planned: Option<&Planned>, sources: &Sources) -> RunRow {
        let record = sources.runs.get(generation_id);
        let manifest = sources.manifests.get(generation_id);
        let generated = sources.generations.get(generation_id);
        RunRow {
            generation_id: generation_id.to_owned(),
            created_at: record
                .and_then(|record| record.created_at.clone())
                .or_else(|| manifest.and_then(|manifest| manifest.created_at.clone()))
                .or_else(|| generated.and_then(|generated| generated.created_at.clone())),
            seed: record
                .and_then(|record| record.seed)
                .or_else(|| generated.and_then(|generated| generated.seed))
                .or_else(|| planned.and_then(|planned| planned.seed))
                .or_else(|| manifest.and_then(|manifest| manifest.seed)),
            status: record
                .and_then(|record| record.status.clone())
                .or_else(|| planned.map(|_| "planned".to_owned())),
            phase: record.and_then(|record| record.phase.clone()),
            run_mode: record
                .and_then(|record| record.run_mode.clone())
                .or_else(|| {
                    planned.and_then(|planned| planned.run_mode.as_deref().map(str::to_owned))
                }),
            experiment_id: planned
                .map(|planned| planned.experiment_id.to_string())
                .or_else(|| record.and_then(|record| record.experiment_id.clone())),
            experiment_variant: record.and_then(|record| record.variant.clone()),
            experiment_notes: record.and_then(|record| record.notes.clone()),
            experiment_tags: record.map(|record| record.tags.clone()).unwrap_or_default(),
            planned: planned.map(PlannedLabels::of),
            files: (record.is_some() || manifest.is_some() || generated.is_some())
                .then(|| Box::new(RunFiles::of(record, manifest, generated))),
        }
    }

    fn planned(&self) -> Option<&PlannedLabels> {
        self.planned.as_ref()
    }

    fn files(&self) -> &RunFiles {
        self.files.as_deref().unwrap_or(&NO_FILES)
    }

    fn usage(&self) -> Option<&UsageTotals> {
        self.files().usage.as_ref()
    }

    /// The registry's order: `created_at`, generation id.
    pub(super) fn sort_key(&self) -> (&str, &str) {
        (
            self.created_at.as_deref().unwrap_or(""),
            &self.generation_id,
        )
    }
}

impl RunFiles {
    /// The files part of a run's row, from the records that mention the run.
    fn of(
        record: Option<&RunRecord>,
        manifest: Option<&ManifestRow>,
        generated: Option<&GenerationRow>,
    ) -> RunFiles {
        RunFiles {
            title_seq: manifest.and_then(|manifest| manifest.title_seq),
            title: manifest.and_then(|manifest| manifest.title.clone()),
            image_path: manifest
                .and_then(|manifest| manifest.image_path.clone())
                .or_else(|| record.and_then(|record| record.image.clone()))
                .or_else(|| generated.and_then(|generated| generated.image_path.clone())),
            transcript_path: record.and_then(|record| record.transcript.clone()),
            final_prompt_path: record.and_then(|record| record.final_prompt.clone()),
            oplog_path: record.and_then(|record| record.oplog.clone()),
            titles_manifest_path: manifest.map(|manifest| manifest.manifest_path.clone()),
            generations_source_path: generated.map(|generated| generated.source.clone()),
            selected_concepts: collapse(
                &generated.and_then(|generated| generated.selected_concepts.clone()),
            ),
            final_image_prompt: collapse(
                &generated.and_then(|generated| generated.final_image_prompt.clone()),
            ),
            usage: record.and_then(|record| record.usage),
            cost_usd: record.and_then(|record| record.cost_usd),
        }
    }
}

/// Whitespace runs collapsed to one space; blank: none.
pub(super) fn collapse(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|text| !text.is_empty())
}

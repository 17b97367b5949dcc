//! Concept sampling from a categories table.
//!
//! This module owns the categories CSV as a *table* (parsed from text: reading the file and
//! naming its path in errors is the caller's job), the three column groups, the per-group draw,
//! and the "one concept list per run index" procedure that the 3x3-style plugins share. The
//! pipeline's concept-selection stage and the plugins must pick the same concepts for the same
//! seed, so both go through [`sample_concepts`] with a generator from [`concept_rng`].
use serde::{Deserialize, Serialize};

use crate::seed::{choose, derive_rng, Rng};

/// The three column groups; one concept is drawn from the pooled cells of each.
pub const CONCEPT_GROUPS: [&[&str]; 3] = [
    &["Subject Matter", "Narrative"],
    &["Mood", "Composition", "Perspective"],
    &["Style", "Time Period_Context", "Color Scheme"],
];

/// Purpose label of the concept-sampling generator.
pub const CONCEPT_PURPOSE: &str = "concepts";

/// Attempts per run index before [`shared_concepts_by_run`] accepts a repeated list.
pub const MAX_CONCEPT_ATTEMPTS: u64 = 50;

/// Seed stride between attempts for one run index (`base + i + attempt * 1000`).
pub const CONCEPT_ATTEMPT_STRIDE: u64 = 1000;

/// Why a categories table could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum CategoriesError {
    /// The text has no header row at all.
    #[error("categories table is empty (expected a header row with the category columns)")]
    Empty,
    /// The header is there but no data row follows it.
    #[error("categories table has a header but no data rows")]
    NoRows,
    /// Columns of [`CONCEPT_GROUPS`] are absent from the header.
    #[error(
        "categories table is missing column(s) {} (found: {})",
        ticked(.missing),
        ticked(.found)
    )]
    MissingColumns {
        /// Required columns not in the header, in [`CONCEPT_GROUPS`] order.
        missing: Vec<String>,
        /// The (trimmed) header names that were found, in file order.
        found: Vec<String>,
    },
    /// The CSV reader rejected the text.
    #[error("categories table is not valid CSV{}", at_line(*.line))]
    Csv {
        /// 1-based line of the offending record, when the reader knows it.
        line: Option<u64>,
        /// The reader's error.
        #[source]
        source: csv::Error,
    },
}

impl From<csv::Error> for CategoriesError {
    fn from(source: csv::Error) -> Self {
        CategoriesError::Csv {
            line: source.position().map(csv::Position::line),
            source,
        }
    }
}

/// `` `a`, `b` `` for error messages.
fn ticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` at line N` when the CSV reader knew the line, else nothing.
fn at_line(line: Option<u64>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// A parsed categories table: for each of the [`CONCEPT_GROUPS`], the pool of cells to draw from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoriesTable {
    pools: [Vec<String>; 3],
    rows: usize,
}

impl CategoriesTable {
    /// Parses the categories CSV.
    ///
    /// The header row is required and its names are trimmed; every column of
    /// [`CONCEPT_GROUPS`] must be present (other columns are ignored). Rows may be ragged: a
    /// missing cell counts as empty. A group's pool is its non-empty trimmed cells, column by
    /// column (all rows of the first column, then the second, ...).
    ///
    /// # Errors
    ///
    /// [`CategoriesError`] when the text has no header, lacks a group column, has no data rows,
    /// or is rejected by the CSV reader.
    pub fn from_csv(text: &str) -> Result<CategoriesTable, CategoriesError> {
        // Spreadsheet exports often start with a UTF-8 byte order mark, which the csv crate
        // would otherwise keep as part of the first column name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());

        let found: Vec<String> = reader
            .headers()?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if found.iter().all(String::is_empty) {
            return Err(CategoriesError::Empty);
        }

        // Column index of every group column; a duplicated name uses its first occurrence.
        let mut missing = Vec::new();
        let mut indices: [Vec<usize>; 3] = Default::default();
        for (group, names) in CONCEPT_GROUPS.iter().enumerate() {
            for &name in *names {
                match found.iter().position(|h| h == name) {
                    Some(i) => indices[group].push(i),
                    None => missing.push(name.to_owned()),
                }
            }
        }
        if !missing.is_empty() {
            return Err(CategoriesError::MissingColumns { missing, found });
        }

        let records = reader.records().collect::<Result<Vec<_>, _>>()?;
        if records.is_empty() {
            return Err(CategoriesError::NoRows);
        }

        let pools = indices.map(|columns| {
            columns
                .iter()
                .flat_map(|&c| records.iter().filter_map(move |r| r.get(c)))
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_string)
                .collect()
        });
        Ok(CategoriesTable {
            pools,
            rows: records.len(),
        })
    }

    /// The pool of each group, in [`CONCEPT_GROUPS`] order.
    pub fn group_pools(&self) -> &[Vec<String>; 3] {
        &self.pools
    }

    /// Number of data rows (header excluded).
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// The concept-sampling generator for `concept_seed`: `derive_rng(concept_seed, CONCEPT_PURPOSE)`.
pub fn concept_rng(concept_seed: u64) -> Rng {
    derive_rng(concept_seed, CONCEPT_PURPOSE)
}

/// One uniform pick per group, in group order; a group with an empty pool adds nothing (and
/// draws nothing).
pub fn sample_concepts(table: &CategoriesTable, rng: &mut Rng) -> Vec<String> {
    table
        .pools
        .iter()
        .filter_map(|pool| choose(rng, pool))
        // Pools hold trimmed non-empty cells already; this keeps the promise if that changes.
        .map(|pick| pick.trim())
        .filter(|pick| !pick.is_empty())
        .map(str::to_string)
        .collect()
}

/// The concepts shared by every set at one run index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConcepts {
    /// Run index, 1-based.
    pub run: u32,
    /// The concept seed actually used (of the accepted attempt, or the last one).
    pub concept_seed: u64,
    /// Pinned concepts first, then the picks, without duplicates.
    pub concepts: Vec<String>,
}

/// One concept list per run index, each different from the lists of earlier indices when the
/// table allows it.
///
/// For run index `i` (0-based), attempt `a` in `0..50` uses
/// `concept_seed = base_seed + i + a * 1000` (wrapping) and [`sample_concepts`] with
/// [`concept_rng`]; the picks are cut to the first `keep` when `Some`, the `pinned` concepts
/// (trimmed, empties dropped) are put in front, and duplicates are dropped keeping the first
/// occurrence. The list is accepted when non-empty and unlike every list accepted before. After
/// 50 attempts the last list is accepted anyway (the pinned list if that is empty), so a table
/// too small to give distinct lists still yields one list per run.
pub fn shared_concepts_by_run(
    table: &CategoriesTable,
    base_seed: u64,
    runs: u32,
    pinned: &[String],
    keep: Option<usize>,
) -> Vec<RunConcepts> {
    let pinned: Vec<String> = pinned
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();

    let mut out: Vec<RunConcepts> = Vec::with_capacity(runs as usize);
    for i in 0..runs {
        let mut last = None;
        for attempt in 0..MAX_CONCEPT_ATTEMPTS {
            let concept_seed = base_seed
                .wrapping_add(u64::from(i))
                .wrapping_add(attempt * CONCEPT_ATTEMPT_STRIDE);
            let mut picks = sample_concepts(table, &mut concept_rng(concept_seed));
            if let Some(keep) = keep {
                picks.truncate(keep);
            }
            let concepts = dedupe(pinned.iter().cloned().chain(picks));
            if !concepts.is_empty() && out.iter().all(|earlier| earlier.concepts != concepts) {
                last = Some((concept_seed, concepts));
                break;
            }
            last = Some((concept_seed, concepts));
        }
        // `MAX_CONCEPT_ATTEMPTS > 0`, so `last` is always set; the fallback only keeps this
        // free of an unwrap.
        let (concept_seed, mut concepts) = last.unwrap_or((base_seed, Vec::new()));
        if concepts.is_empty() {
            concepts.clone_from(&pinned);
        }
        out.push(RunConcepts {
            run: i + 1,
            concept_seed,
            concepts,
        });
    }
    out
}

/// Drops repeated strings, keeping the first occurrence and the order.
fn dedupe(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context,Color Scheme";

    /// A small 3-row table with distinct cells, so every pick names its column and row.
    fn small_csv() -> String {
        let mut text = format!("{HEADER}\n");
        for row in 1..=3 {
            let cells: Vec<String> = ["sm", "na", "mo", "co", "pe", "st", "tp", "cs"]
                .iter()
                .map(|c| format!("{c}{row}"))
                .collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        text
    }

    fn small() -> CategoriesTable {
        CategoriesTable::from_csv(&small_csv()).expect("small table parses")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_and_pools_column_by_column() {
        let table = small();
        assert_eq!(table.rows(), 3);
        assert_eq!(
            table.group_pools(),
            &[
                strings(&["sm1", "sm2", "sm3", "na1", "na2", "na3"]),
                strings(&["mo1", "mo2", "mo3", "co1", "co2", "co3", "pe1", "pe2", "pe3"]),
                strings(&["st1", "st2", "st3", "tp1", "tp2", "tp3", "cs1", "cs2", "cs3"]),
            ]
        );
    }

    #[test]
    fn headers_and_cells_are_trimmed_and_other_columns_ignored() {
        let text = "\u{feff} Color Scheme ,Extra, Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context\n\
                    \"  teal \",x,  fox ,,calm,,,,\n";
        let table = CategoriesTable::from_csv(text).unwrap();
        assert_eq!(
            table.group_pools(),
            &[strings(&["fox"]), strings(&["calm"]), strings(&["teal"])]
        );
    }

    #[test]
    fn ragged_rows_count_missing_cells_as_empty() {
        let text = format!("{HEADER}\na,b,c\nd,e,f,g,h,i,j,k,extra\n");
        let table = CategoriesTable::from_csv(&text).unwrap();
        assert_eq!(table.rows(), 2);
        assert_eq!(
            table.group_pools(),
            &[
                strings(&["a", "d", "b", "e"]),
                strings(&["c", "f", "g", "h"]),
                strings(&["i", "j", "k"])
            ]
        );
    }

    #[test]
    fn missing_columns_are_named_with_the_columns_found() {
        let err = CategoriesTable::from_csv(
            "Subject Matter,Narrative,Composition,Perspective,Time Period_Context,Color Scheme\n1,2,3,4,5,6\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "categories table is missing column(s) `Mood`, `Style` (found: `Subject Matter`, \
             `Narrative`, `Composition`, `Perspective`, `Time Period_Context`, `Color Scheme`)"
        );
        match err {
            CategoriesError::MissingColumns { missing, .. } => {
                assert_eq!(missing, ["Mood", "Style"])
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_text_is_an_error() {
        for text in ["", "\n", "\u{feff}", " , \n"] {
            let err = CategoriesTable::from_csv(text).unwrap_err();
            assert!(matches!(err, CategoriesError::Empty), "{text:?}: {err:?}");
        }
        assert_eq!(
            CategoriesError::Empty.to_string(),
            "categories table is empty (expected a header row with the category columns)"
        );
    }

    #[test]
    fn header_without_rows_is_an_error() {
        for text in [
            HEADER.to_string(),
            format!("{HEADER}\n"),
            format!("{HEADER}\n\n\n"),
        ] {
            let err = CategoriesTable::from_csv(&text).unwrap_err();
            assert!(matches!(err, CategoriesError::NoRows), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn empty_cells_give_empty_pools_and_no_picks() {
        let text = format!("{HEADER}\nfox,,,,,,,\n");
        let table = CategoriesTable::from_csv(&text).unwrap();
        assert_eq!(table.group_pools()[1], Vec::<String>::new());
        assert_eq!(sample_concepts(&table, &mut concept_rng(0)), ["fox"]);
    }

    #[test]
    fn sampling_is_pinned_for_a_fixed_seed() {
        let table = small();
        assert_eq!(
            sample_concepts(&table, &mut concept_rng(0)),
            ["sm3", "mo1", "tp3"]
        );
        assert_eq!(
            sample_concepts(&table, &mut concept_rng(42)),
            ["na2", "co3", "st1"]
        );
        // Same seed, same picks.
        assert_eq!(
            sample_concepts(&table, &mut concept_rng(42)),
            sample_concepts(&table, &mut concept_rng(42))
        );
    }

    #[test]
    fn sampling_takes_one_pick_per_group_from_that_group() {
        let table = small();
        for seed in 0..100 {
            let picks = sample_concepts(&table, &mut concept_rng(seed));
            assert_eq!(picks.len(), 3);
            for (pick, pool) in picks.iter().zip(table.group_pools()) {
                assert!(pool.contains(pick), "{pick} not in {pool:?}");
            }
        }
    }

    #[test]
    fn shared_concepts_are_pinned() {
        let run = |run, concept_seed, concepts: &[&str]| RunConcepts {
            run,
            concept_seed,
            concepts: strings(concepts),
        };
        assert_eq!(
            shared_concepts_by_run(&small(), 1000, 3, &[], None),
            [
                run(1, 1000, &["sm3", "mo2", "cs2"]),
                run(2, 1001, &["sm1", "pe1", "tp3"]),
                run(3, 1002, &["na3", "pe2", "st3"]),
            ]
        );
    }

    #[test]
    fn shared_concepts_differ_across_runs() {
        let got = shared_concepts_by_run(&small(), 77, 6, &[], None);
        assert_eq!(
            got.iter().map(|r| r.run).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        for (i, a) in got.iter().enumerate() {
            assert_eq!(a.concepts.len(), 3);
            for b in &got[..i] {
                assert_ne!(a.concepts, b.concepts);
            }
        }
        // The first attempt of each index, unless it repeated an earlier list.
        assert_eq!(got[0].concept_seed, 77);
    }

    #[test]
    fn pinned_concepts_come_first_trimmed_and_deduplicated() {
        let table = small();
        let first = sample_concepts(&table, &mut concept_rng(5));
        let pinned = vec![
            " lighthouse ".to_string(),
            String::new(),
            first[0].clone(),
            "lighthouse".to_string(),
        ];
        let got = shared_concepts_by_run(&table, 5, 1, &pinned, None);
        let mut expected = vec!["lighthouse".to_string()];
        expected.extend(first);
        assert_eq!(
            got,
            [RunConcepts {
                run: 1,
                concept_seed: 5,
                concepts: expected
            }]
        );
    }

    #[test]
    fn keep_cuts_the_picks_not_the_pinned() {
        let table = small();
        let pinned = strings(&["p1", "p2"]);
        let got = shared_concepts_by_run(&table, 9, 4, &pinned, Some(2));
        for run in &got {
            let picks = sample_concepts(&table, &mut concept_rng(run.concept_seed));
            let mut expected = pinned.clone();
            expected.extend(picks.into_iter().take(2));
            assert_eq!(run.concepts, expected);
        }
    }

    #[test]
    fn a_single_row_table_falls_back_after_fifty_attempts() {
        let text = format!("{HEADER}\nfox,,calm,,,ink,,\n");
        let table = CategoriesTable::from_csv(&text).unwrap();
        let got = shared_concepts_by_run(&table, 10, 3, &[], None);
        let only = strings(&["fox", "calm", "ink"]);
        assert_eq!(
            got,
            [
                RunConcepts {
                    run: 1,
                    concept_seed: 10,
                    concepts: only.clone()
                },
                // Every attempt repeats run 1, so the last (attempt 49) is accepted anyway.
                RunConcepts {
                    run: 2,
                    concept_seed: 10 + 1 + 49 * 1000,
                    concepts: only.clone()
                },
                RunConcepts {
                    run: 3,
                    concept_seed: 10 + 2 + 49 * 1000,
                    concepts: only
                },
            ]
        );
    }

    #[test]
    fn an_empty_table_falls_back_to_the_pinned_list() {
        let text = format!("{HEADER}\n,,,,,,,\n");
        let table = CategoriesTable::from_csv(&text).unwrap();
        let got = shared_concepts_by_run(&table, 0, 2, &strings(&["pin"]), None);
        assert_eq!(got[0].concepts, ["pin"]);
        assert_eq!(got[1].concepts, ["pin"]);
        assert_eq!(got[1].concept_seed, 1 + 49 * 1000);
        let none = shared_concepts_by_run(&table, 0, 1, &[], None);
        assert_eq!(none[0].concepts, Vec::<String>::new());
    }

    #[test]
    fn concept_seeds_wrap() {
        let got = shared_concepts_by_run(&small(), u64::MAX, 2, &[], None);
        assert_eq!(got[0].concept_seed, u64::MAX);
        assert_eq!(got[1].concept_seed, 0);
    }

    #[test]
    fn no_runs_no_lists() {
        assert!(shared_concepts_by_run(&small(), 0, 0, &[], None).is_empty());
    }

    #[test]
    fn run_concepts_serialize_as_recorded() {
        let r = RunConcepts {
            run: 2,
            concept_seed: 7,
            concepts: strings(&["a"]),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"run":2,"concept_seed":7,"concepts":["a"]}"#);
        assert_eq!(serde_json::from_str::<RunConcepts>(&json).unwrap(), r);
    }
}

//! The rules of `blackbox_refine.loop` (reference §2.4), as pure functions: the candidate
//! layout, the judges' candidate shuffle, aggregating the judges' scores, novelty per candidate,
//! the sort key and its tie-breakers, choosing the next beams (exploit or explore, optionally
//! one per parent beam first), best/worst feedback, the mutation directive of a candidate and the
//! profile representations. The stage owns the config, the run's outputs and the records; this
//! module owns the rules (the no-people guard of `postprompt.openai_format` is `postprompt`'s).
//!
//! Every random choice draws from a generator derived from the run seed and a purpose label
//! (DESIGN §7). Deliberate differences from the Python code:
//! - Selection draws from `derive_rng(seed, "blackbox_refine.loop.select.{it}")` instead of
//!   `Random((seed ^ 0xBB0F00D) + it)`, and an explore pick is `unit_f64 * Σw`.
//! - The judge shuffle uses `derive_rng(seed, "blackbox_refine.loop.judge.{it}.{judge_id}")` and
//!   [`plugin_api::seed::shuffle`]; a random mutation directive is
//!   `stable_hash_parts([seed, it, id]) % n` instead of a SHA-256 prefix.
//! - `likes_dislikes` also shows the profile's `Loves:` section, just before `Likes:` (the Python
//!   code dropped it; the Rust profile has a Loves column).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use plugin_api::hash::stable_hash_parts;
use plugin_api::seed::{derive_rng, shuffle, unit_f64};
use serde::Serialize;
use serde_json::{json, Value};

use crate::answers::idea_ids;
use crate::stages::blackbox::novelty::{novelty_penalty_for_text, NoveltyConfig};

/// Shown for an empty profile representation.
pub const NONE_TEXT: &str = "<none>";

// ---------------------------------------------------------------------------------------------
// Candidates

/// A candidate's role: its parent beam's own prompt, or a generated variant.
pub const KIND_PARENT: &str = "parent";
pub const KIND_GENERATED: &str = "generated";

/// One candidate of an iteration, before it is generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateSpec {
    pub id: String,
    /// 0-based position in the iteration's list (the `cycle` directive uses it).
    pub ordinal: usize,
    /// 1-based.
    pub parent_beam: usize,
    /// [`KIND_PARENT`] or [`KIND_GENERATED`].
    pub kind: &'static str,
}

/// The candidates of one iteration: ids `A, B, …` ([`idea_ids`]) across
/// `beams × (branching_factor + 1 if include_parents)`; per beam the parent comes first when
/// included, then the generated ones. Hillclimb, branching 3 with parents: A=parent, B, C, D.
pub fn candidate_specs(
    beams: usize,
    branching_factor: usize,
    include_parents: bool,
) -> Vec<CandidateSpec> {
    let per_beam = branching_factor + usize::from(include_parents);
    let ids = idea_ids(beams * per_beam);
    let mut ids = ids.into_iter();
    let mut specs = Vec::with_capacity(beams * per_beam);
    for parent_beam in 1..=beams {
        for slot in 0..per_beam {
            let kind = if include_parents && slot == 0 {
                KIND_PARENT
            } else {
                KIND_GENERATED
            };
            let id = ids.next().unwrap_or_default();
            specs.push(CandidateSpec {
                id,
                ordinal: specs.len(),
                parent_beam,
                kind,
            });
        }
    }
    specs
}

/// How many beams iteration `iteration` (1-based) starts from: `beam_width` for beam search
/// after the first iteration, otherwise 1.
pub fn beams_for_iteration(beam_search: bool, beam_width: usize, iteration: usize) -> usize {
    if beam_search && iteration > 1 {
        beam_width
    } else {
        1
    }
}

/// The purpose label of a judge's candidate shuffle.
pub fn judge_shuffle_purpose(iteration: usize, judge_id: &str) -> String {
    format!("blackbox_refine.loop.judge.{iteration}.{judge_id}")
}

/// `items` in the order judge `judge_id` sees them in iteration `iteration`: shuffled by
/// [`plugin_api::seed::shuffle`] with `derive_rng(seed, "blackbox_refine.loop.judge.{it}.{id}")`,
/// so the order differs per judge and iteration but never between runs.
pub fn shuffled_for_judge<T: Clone>(
    items: &[T],
    seed: u64,
    iteration: usize,
    judge_id: &str,
) -> Vec<T> {
    let mut out = items.to_vec();
    let mut rng = derive_rng(seed, &judge_shuffle_purpose(iteration, judge_id));
    shuffle(&mut rng, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Aggregation

/// How the judges' scores of one candidate become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Weighted mean `Σs·w / Σw` (`Σw = 0` counts as 1).
    Mean,
    /// Unweighted; the average of the two middle scores when even.
    Median,
    Min,
    Max,
    /// Sorted by score, `drop` dropped from each end, then the weighted mean.
    TrimmedMean {
        drop: usize,
    },
}

impl Aggregation {
    /// The `judging.aggregation` values.
    pub const NAMES: [&'static str; 5] = ["mean", "median", "min", "max", "trimmed_mean"];

    /// The aggregation named `name` (one of [`Aggregation::NAMES`]); `trimmed_mean_drop` is
    /// used by `trimmed_mean` only.
    pub fn from_name(name: &str, trimmed_mean_drop: usize) -> Result<Aggregation, String> {
        match name {
            "mean" => Ok(Aggregation::Mean),
            "median" => Ok(Aggregation::Median),
            "min" => Ok(Aggregation::Min),
            "max" => Ok(Aggregation::Max),
            "trimmed_mean" => Ok(Aggregation::TrimmedMean {
                drop: trimmed_mean_drop,
            }),
            other => Err(format!(
                "unknown aggregation `{other}`\n\nexpected one of: {}",
                Aggregation::NAMES.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Median => "median",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::TrimmedMean { .. } => "trimmed_mean",
        }
    }
}

/// Checks `judging.trimmed_mean_drop` against the number of judges: `2*drop < judges`, so
/// a trimmed mean always keeps at least one score.
pub fn validate_trimmed_mean_drop(drop: usize, judges: usize) -> Result<(), String> {
    if drop.saturating_mul(2) < judges {
        Ok(())
    } else {
        Err(format!(
            "`trimmed_mean_drop` is {drop} but there are {judges} judges\n\n\
             it drops that many scores from each end, so it must be less than half the judges"
        ))
    }
}

/// `Σs·w / Σw`, with `Σw = 0` counted as 1 (so an empty list gives 0).
fn weighted_mean(scores: &[(f64, f64)]) -> f64 {
    let numerator: f64 = scores.iter().map(|(s, w)| s * w).sum();
    let denominator: f64 = scores.iter().map(|(_, w)| w).sum();
    numerator / if denominator == 0.0 { 1.0 } else { denominator }
}

/// One candidate's score from its judges' `(score, weight)` pairs (reference §2.4 select
/// step 2). The stage guarantees at least one judge and a valid drop
/// ([`validate_trimmed_mean_drop`]); without any score left every method gives 0.
pub fn aggregate(scores: &[(f64, f64)], method: &Aggregation) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    match *method {
        Aggregation::Mean => weighted_mean(scores),
        Aggregation::Median => {
            let mut sorted: Vec<f64> = scores.iter().map(|(s, _)| *s).collect();
            sorted.sort_by(f64::total_cmp);
            let mid = sorted.len() / 2;
            if sorted.len() % 2 == 1 {
                sorted[mid]
            } else {
                (sorted[mid - 1] + sorted[mid]) / 2.0
            }
        }
        Aggregation::Min => scores.iter().map(|(s, _)| *s).fold(f64::INFINITY, f64::min),
        Aggregation::Max => scores
            .iter()
            .map(|(s, _)| *s)
            .fold(f64::NEG_INFINITY, f64::max),
        Aggregation::TrimmedMean { drop } => {
            // A stable sort: judges with equal scores keep their order, and so their weights.
            let mut sorted = scores.to_vec();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            if drop.saturating_mul(2) >= sorted.len() {
                return 0.0;
            }
            weighted_mean(&sorted[drop..sorted.len() - drop])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Novelty

/// Whether the novelty summary can be used: an object with `enabled: true`.
pub fn novelty_summary_available(summary: Option<&Value>) -> bool {
    summary.and_then(|s| s.get("enabled")) == Some(&Value::Bool(true))
}

/// `(penalty, breakdown)` of one candidate prompt (select step 3): the `df_overlap_v1` penalty
/// when novelty is active and the summary available; `{penalty: 0, reason: "novelty_missing"}`
/// when it is active but the summary is not; otherwise `{penalty: 0, reason:
/// "novelty_disabled"}`.
pub fn candidate_novelty(
    prompt: &str,
    summary: Option<&Value>,
    cfg: &NoveltyConfig,
) -> (i64, Value) {
    if !cfg.is_active() {
        return (0, json!({ "penalty": 0, "reason": "novelty_disabled" }));
    }
    match summary {
        Some(summary) if novelty_summary_available(Some(summary)) => {
            let detail = novelty_penalty_for_text(prompt, summary, cfg);
            let penalty = detail.get("penalty").and_then(Value::as_i64).unwrap_or(0);
            (penalty, detail)
        }
        _ => (0, json!({ "penalty": 0, "reason": "novelty_missing" })),
    }
}

/// `max(0, score - penalty)`.
pub fn effective_score(score: f64, penalty: i64) -> f64 {
    // Penalties are at most `max_penalty`, far inside f64's exact integer range.
    (score - penalty as f64).max(0.0)
}

// ---------------------------------------------------------------------------------------------
// Ordering

/// What decides between candidates with equal effective and raw scores, before the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreaker {
    StableId,
    /// Fewer prompt characters first.
    PreferShorter,
    /// Smaller novelty penalty first.
    PreferNovel,
}

impl TieBreaker {
    /// The `selection.tie_breaker` values.
    pub const NAMES: [&'static str; 3] = ["stable_id", "prefer_shorter", "prefer_novel"];

    pub fn from_name(name: &str) -> Result<TieBreaker, String> {
        match name {
            "stable_id" => Ok(TieBreaker::StableId),
            "prefer_shorter" => Ok(TieBreaker::PreferShorter),
            "prefer_novel" => Ok(TieBreaker::PreferNovel),
            other => Err(format!(
                "unknown tie breaker `{other}`\n\nexpected one of: {}",
                TieBreaker::NAMES.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TieBreaker::StableId => "stable_id",
            TieBreaker::PreferShorter => "prefer_shorter",
            TieBreaker::PreferNovel => "prefer_novel",
        }
    }
}

/// One row of an iteration's score table. It serializes as the reference's `score_table` row
/// (`{id, score, novelty_penalty, novelty_detail, effective_score, prompt_chars, parent_beam,
/// kind}`); the prompt text is kept for feedback and the next beams but not serialized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateRow {
    pub id: String,
    /// The aggregated judges' score.
    pub score: f64,
    pub novelty_penalty: i64,
    pub novelty_detail: Value,
    /// [`effective_score`] of `score` and `novelty_penalty`.
    pub effective_score: f64,
    /// Characters of `prompt`.
    pub prompt_chars: usize,
    /// 1-based.
    pub parent_beam: usize,
    /// [`KIND_PARENT`] or [`KIND_GENERATED`].
    pub kind: String,
    /// The (truncated) candidate text the judges saw.
    #[serde(skip)]
    pub prompt: String,
}

/// The sort key `(-effective, -raw, [tie], id)`: `prefer_shorter` puts `prompt_chars` and
/// `prefer_novel` the penalty before the id. Ids compare as strings (`AA` before `B`).
pub fn compare_rows(a: &CandidateRow, b: &CandidateRow, tie: TieBreaker) -> Ordering {
    let descending = |x: f64, y: f64| y.partial_cmp(&x).unwrap_or(Ordering::Equal);
    descending(a.effective_score, b.effective_score)
        .then_with(|| descending(a.score, b.score))
        .then_with(|| match tie {
            TieBreaker::StableId => Ordering::Equal,
            TieBreaker::PreferShorter => a.prompt_chars.cmp(&b.prompt_chars),
            TieBreaker::PreferNovel => a.novelty_penalty.cmp(&b.novelty_penalty),
        })
        .then_with(|| a.id.cmp(&b.id))
}

/// Sorts `rows` best first by [`compare_rows`].
pub fn sort_rows(rows: &mut [CandidateRow], tie: TieBreaker) {
    rows.sort_by(|a, b| compare_rows(a, b, tie));
}

// ---------------------------------------------------------------------------------------------
// Selection

/// The next beams and how they were chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopSelection {
    /// `exploit` or `explore`.
    pub mode: &'static str,
    /// The exploration roll in [0, 1).
    pub roll: f64,
    /// The new beams, best first.
    pub selected: Vec<CandidateRow>,
}

/// The purpose label of iteration `iteration`'s selection generator.
pub fn select_purpose(iteration: usize) -> String {
    format!("blackbox_refine.loop.select.{iteration}")
}

/// How many top rows an explore step samples from: `max(k, ceil(n/4))`, at least `k+1` when
/// `n > k` (so exploring can leave the top `k`), at most `n`.
pub fn explore_pool_size(n: usize, k: usize) -> usize {
    let mut pool = k.max(n.div_ceil(4));
    if n > k {
        pool = pool.max(k + 1);
    }
    pool.min(n)
}

/// The first (best) row of each parent beam, in the order of `rows` (sorted, so best first).
fn best_per_beam(rows: &[CandidateRow]) -> Vec<CandidateRow> {
    let mut seen = BTreeSet::new();
    rows.iter()
        .filter(|row| seen.insert(row.parent_beam))
        .cloned()
        .collect()
}

/// `chosen` followed by the best rows of `rows` not in it, up to `k` rows.
fn top_up(mut chosen: Vec<CandidateRow>, rows: &[CandidateRow], k: usize) -> Vec<CandidateRow> {
    if chosen.len() < k {
        let taken: BTreeSet<String> = chosen.iter().map(|row| row.id.clone()).collect();
        let missing = k - chosen.len();
        chosen.extend(
            rows.iter()
                .filter(|row| !taken.contains(&row.id))
                .take(missing)
                .cloned(),
        );
    }
    chosen.truncate(k);
    chosen
}

/// Chooses the `k` next beams (reference §2.4 select step 6).
///
/// `rows` are sorted here by [`compare_rows`] with `tie`. `roll = unit_f64` from
/// `derive_rng(seed, "blackbox_refine.loop.select.{iteration}")`; the step explores when
/// `exploration_rate > 0 && roll < exploration_rate`. `group_by_beam` is the stage's
/// `algorithm == beam && selection.group_by_beam`.
/// - Exploit: the top `k` rows; with `group_by_beam`, the best row of each parent beam first
///   (best first), then the best of the rest.
/// - Explore: the top [`explore_pool_size`] rows (reduced to the best of each parent beam with
///   `group_by_beam`), sampled without replacement: weights `max(1, effective)`,
///   `pick = unit_f64 * Σw`, the first row whose running weight reaches `pick` (the last if
///   none). The picks are sorted, then topped up from the best remaining rows.
///
/// The result has `min(k, rows)` rows: the reference refuses `k` = 0 or more than the
/// candidates, so the stage must check `1 <= k <= candidates` (beam width against the first
/// iteration's candidates) before it runs.
pub fn select_beams(
    rows_sorted: &[CandidateRow],
    k: usize,
    group_by_beam: bool,
    exploration_rate: f64,
    seed: u64,
    iteration: usize,
    tie: TieBreaker,
) -> LoopSelection {
    let n = rows_sorted.len();
    let k = k.min(n);
    let mut rows = rows_sorted.to_vec();
    sort_rows(&mut rows, tie);

    let mut rng = derive_rng(seed, &select_purpose(iteration));
    let roll = unit_f64(&mut rng);
    if !(exploration_rate > 0.0 && roll < exploration_rate) {
        let chosen = if group_by_beam {
            best_per_beam(&rows)
        } else {
            Vec::new()
        };
        return LoopSelection {
            mode: "exploit",
            roll,
            selected: top_up(chosen, &rows, k),
        };
    }

    let pool = &rows[..explore_pool_size(n, k)];
    let mut remaining = if group_by_beam {
        best_per_beam(pool)
    } else {
        pool.to_vec()
    };
    let mut picks = Vec::with_capacity(k);
    while !remaining.is_empty() && picks.len() < k {
        let weights: Vec<f64> = remaining
            .iter()
            .map(|row| row.effective_score.max(1.0))
            .collect();
        let total: f64 = weights.iter().sum();
        let pick = unit_f64(&mut rng) * total;
        let mut running = 0.0;
        let mut chosen = remaining.len() - 1;
        for (index, weight) in weights.iter().enumerate() {
            running += weight;
            if pick <= running {
                chosen = index;
                break;
            }
        }
        picks.push(remaining.remove(chosen));
    }
    sort_rows(&mut picks, tie);
    LoopSelection {
        mode: "explore",
        roll,
        selected: top_up(picks, &rows, k),
    }
}

// ---------------------------------------------------------------------------------------------
// Feedback

/// The best (first) and worst (last) of sorted rows, or `None` without rows.
pub fn best_worst(rows_sorted: &[CandidateRow]) -> Option<(CandidateRow, CandidateRow)> {
    Some((rows_sorted.first()?.clone(), rows_sorted.last()?.clone()))
}

/// [`best_worst`] of each parent beam `1..=beams` among sorted rows (`None` for a beam without
/// rows).
pub fn feedback_by_beam(
    rows_sorted: &[CandidateRow],
    beams: usize,
) -> Vec<(usize, Option<(CandidateRow, CandidateRow)>)> {
    (1..=beams)
        .map(|beam| {
            let rows: Vec<CandidateRow> = rows_sorted
                .iter()
                .filter(|row| row.parent_beam == beam)
                .cloned()
                .collect();
            (beam, best_worst(&rows))
        })
        .collect()
}

/// `text` trimmed and, when longer than `max_chars` characters (0 = no limit), cut to
/// `max_chars` and trimmed at the end; the flag says whether it was cut.
pub fn clip_for_feedback(text: &str, max_chars: usize) -> (String, bool) {
    let text = text.trim();
    if max_chars == 0 || text.chars().count() <= max_chars {
        return (text.to_owned(), false);
    }
    let clipped: String = text.chars().take(max_chars).collect();
    (clipped.trim_end().to_owned(), true)
}

/// One row of the feedback block: `LABEL:`, the scores line, the prompt heading, the prompt.
fn feedback_example(label: &str, row: &CandidateRow, max_chars: usize) -> String {
    let (prompt, clipped) = clip_for_feedback(&row.prompt, max_chars);
    let heading = if clipped {
        format!("- prompt (clipped to {max_chars} chars):")
    } else {
        "- prompt:".to_owned()
    };
    let prompt = if prompt.is_empty() {
        "<missing>".to_owned()
    } else {
        prompt
    };
    format!(
        "{label}:\n- id={} raw={:?} effective={:?} novelty_penalty={} kind={} parent_beam={}\n{heading}\n{prompt}",
        row.id, row.score, row.effective_score, row.novelty_penalty, row.kind, row.parent_beam
    )
}

/// The score feedback block shown to the next iteration's generators: `BEST:` and `WORST:`,
/// each with `id, raw, effective, novelty_penalty, kind, parent_beam` on one line, then the
/// prompt clipped to `max_chars` characters (0 = no limit; `<missing>` when empty). Scores
/// print like Python floats (`85.0`). The surrounding heading is the variation template's.
pub fn render_feedback(best: &CandidateRow, worst: &CandidateRow, max_chars: usize) -> String {
    format!(
        "{}\n\n{}",
        feedback_example("BEST", best, max_chars),
        feedback_example("WORST", worst, max_chars)
    )
}

// ---------------------------------------------------------------------------------------------
// Mutation directives

/// How a generated candidate gets its mutation directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationMode {
    None,
    /// Always the first directive.
    Fixed,
    /// `directives[(it-1+ordinal) % n]`.
    Cycle,
    /// `directives[stable_hash_parts([seed, it, id]) % n]`.
    Random,
}

impl MutationMode {
    /// The `mutation_directives.mode` values.
    pub const NAMES: [&'static str; 4] = ["none", "random", "cycle", "fixed"];

    pub fn from_name(name: &str) -> Result<MutationMode, String> {
        match name {
            "none" => Ok(MutationMode::None),
            "fixed" => Ok(MutationMode::Fixed),
            "cycle" => Ok(MutationMode::Cycle),
            "random" => Ok(MutationMode::Random),
            other => Err(format!(
                "unknown mutation directive mode `{other}`\n\nexpected one of: {}",
                MutationMode::NAMES.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MutationMode::None => "none",
            MutationMode::Fixed => "fixed",
            MutationMode::Cycle => "cycle",
            MutationMode::Random => "random",
        }
    }
}

/// The directive of candidate `candidate_id` (0-based `ordinal` in iteration `iteration`,
/// 1-based), or `None` for mode `none` or an empty list.
pub fn mutation_directive<'a>(
    mode: MutationMode,
    directives: &'a [String],
    seed: u64,
    iteration: usize,
    ordinal: usize,
    candidate_id: &str,
) -> Option<&'a str> {
    let n = directives.len();
    if n == 0 {
        return None;
    }
    let index = match mode {
        MutationMode::None => return None,
        MutationMode::Fixed => 0,
        // `+ n - 1` instead of `- 1` keeps iteration 0 in range, as Python's `%` would.
        MutationMode::Cycle => (iteration + ordinal + n - 1) % n,
        MutationMode::Random => {
            let (seed, iteration) = (seed.to_string(), iteration.to_string());
            let hash = stable_hash_parts(&[&seed, &iteration, candidate_id.trim()]);
            // The remainder is < n, so it fits a usize.
            (hash % n as u64) as usize
        }
    };
    directives.get(index).map(String::as_str)
}

// ---------------------------------------------------------------------------------------------
// Profile representations

/// What the generators see of the profile (`variation_prompt.profile_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopProfileSource {
    /// The full `preferences_guidance`.
    Raw,
    /// `generator_profile_hints`.
    GeneratorHints,
    /// The Loves, Likes, Hates and Dislikes sections of the guidance.
    LikesDislikes,
    /// The Hates and Dislikes sections, else the `dislikes` list.
    DislikesOnly,
    /// The hints, then the likes/dislikes rendering.
    Combined,
}

impl LoopProfileSource {
    /// The `variation_prompt.profile_source` values.
    pub const NAMES: [&'static str; 5] = [
        "raw",
        "generator_hints",
        "likes_dislikes",
        "dislikes_only",
        "combined",
    ];

    pub fn from_name(name: &str) -> Result<LoopProfileSource, String> {
        match name {
            "raw" => Ok(LoopProfileSource::Raw),
            "generator_hints" => Ok(LoopProfileSource::GeneratorHints),
            "likes_dislikes" => Ok(LoopProfileSource::LikesDislikes),
            "dislikes_only" => Ok(LoopProfileSource::DislikesOnly),
            "combined" => Ok(LoopProfileSource::Combined),
            other => Err(format!(
                "unknown profile source `{other}`\n\nexpected one of: {}",
                LoopProfileSource::NAMES.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LoopProfileSource::Raw => "raw",
            LoopProfileSource::GeneratorHints => "generator_hints",
            LoopProfileSource::LikesDislikes => "likes_dislikes",
            LoopProfileSource::DislikesOnly => "dislikes_only",
            LoopProfileSource::Combined => "combined",
        }
    }

    /// Whether this source shows `generator_profile_hints` (the stage requires them for
    /// `generator_hints`; `combined` uses them when present).
    pub fn uses_hints(self) -> bool {
        matches!(
            self,
            LoopProfileSource::GeneratorHints | LoopProfileSource::Combined
        )
    }
}

/// The sections of a profile guidance text: the blocks between `"\n\n"` whose first non-blank
/// line ends with `:`, as `(header without the colon, lowercased; body)`, the body being the
/// block's other non-blank lines. A later section of the same name replaces the body of an
/// earlier one, which keeps its place.
pub fn profile_sections(guidance: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for block in guidance.trim().split("\n\n") {
        let mut lines = block
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.trim().is_empty());
        let Some(header) = lines.next().map(str::trim) else {
            continue;
        };
        let Some(name) = header.strip_suffix(':') else {
            continue;
        };
        let name = name.trim().to_lowercase();
        let body = lines.collect::<Vec<_>>().join("\n").trim().to_owned();
        match sections.iter_mut().find(|(existing, _)| *existing == name) {
            Some(section) => section.1 = body,
            None => sections.push((name, body)),
        }
    }
    sections
}

/// `Name:\nbody` blocks of the named sections that have a body, joined by blank lines.
fn section_blocks(sections: &[(String, String)], names: &[(&str, &str)]) -> String {
    names
        .iter()
        .filter_map(|(key, label)| {
            let body = &sections.iter().find(|(name, _)| name == key)?.1;
            (!body.is_empty()).then(|| format!("{label}:\n{body}"))
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The sections `likes_dislikes` shows, in order: (lowercased name, label).
const LIKES_DISLIKES_SECTIONS: [(&str, &str); 4] = [
    ("loves", "Loves"),
    ("likes", "Likes"),
    ("hates", "Hates"),
    ("dislikes", "Dislikes"),
];
/// The sections `dislikes_only` shows, in order.
const DISLIKES_SECTIONS: [(&str, &str); 2] = [("hates", "Hates"), ("dislikes", "Dislikes")];
/// The heading of `dislikes_only`'s fallback list.
const DISLIKES_LIST_HEADING: &str = "Dislikes/Hates:";
/// The headings of `combined`'s two blocks.
const COMBINED_HINTS_HEADING: &str = "Generator-safe profile hints:";
const COMBINED_SECTIONS_HEADING: &str = "Likes/Dislikes/Hates (raw, minimal):";

fn or_none(text: String) -> String {
    if text.trim().is_empty() {
        NONE_TEXT.to_owned()
    } else {
        text
    }
}

/// The profile text for `source` (reference §2.4 "Profile representations"); an empty result
/// is `<none>`. `dislikes` is the run's `dislikes` list, used by `dislikes_only` when the
/// guidance has no Hates or Dislikes section.
pub fn render_profile(
    source: LoopProfileSource,
    preferences_guidance: &str,
    hints: &str,
    dislikes: &[String],
) -> String {
    let guidance = preferences_guidance.trim();
    let hints = hints.trim();
    match source {
        LoopProfileSource::Raw => or_none(guidance.to_owned()),
        LoopProfileSource::GeneratorHints => or_none(hints.to_owned()),
        LoopProfileSource::LikesDislikes => or_none(section_blocks(
            &profile_sections(guidance),
            &LIKES_DISLIKES_SECTIONS,
        )),
        LoopProfileSource::DislikesOnly => {
            let blocks = section_blocks(&profile_sections(guidance), &DISLIKES_SECTIONS);
            if !blocks.is_empty() {
                return blocks;
            }
            let items: Vec<String> = dislikes
                .iter()
                .map(|item| item.trim())
                .filter(|item| !item.is_empty())
                .map(|item| format!("- {item}"))
                .collect();
            if items.is_empty() {
                NONE_TEXT.to_owned()
            } else {
                format!("{DISLIKES_LIST_HEADING}\n{}", items.join("\n"))
            }
        }
        LoopProfileSource::Combined => {
            let mut blocks = Vec::new();
            if !hints.is_empty() {
                blocks.push(format!("{COMBINED_HINTS_HEADING}\n{hints}"));
            }
            let likes = render_profile(LoopProfileSource::LikesDislikes, guidance, hints, dislikes);
            blocks.push(format!("{COMBINED_SECTIONS_HEADING}\n{likes}"));
            blocks.join("\n\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        id: &str,
        score: f64,
        penalty: i64,
        prompt_chars: usize,
        parent_beam: usize,
    ) -> CandidateRow {
        CandidateRow {
            id: id.to_owned(),
            score,
            novelty_penalty: penalty,
            novelty_detail: json!({ "penalty": penalty }),
            effective_score: effective_score(score, penalty),
            prompt_chars,
            parent_beam,
            kind: KIND_GENERATED.to_owned(),
            prompt: format!("prompt {id}"),
        }
    }

    fn ids(rows: &[CandidateRow]) -> Vec<&str> {
        rows.iter().map(|row| row.id.as_str()).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    // -- candidates ---------------------------------------------------------------------------

    #[test]
    fn candidate_specs_put_the_parent_first_in_each_beam() {
        let specs = candidate_specs(1, 3, true);
        let got: Vec<(&str, usize, usize, &str)> = specs
            .iter()
            .map(|s| (s.id.as_str(), s.ordinal, s.parent_beam, s.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("A", 0, 1, "parent"),
                ("B", 1, 1, "generated"),
                ("C", 2, 1, "generated"),
                ("D", 3, 1, "generated")
            ]
        );
        let specs = candidate_specs(2, 2, false);
        let got: Vec<(&str, usize, usize, &str)> = specs
            .iter()
            .map(|s| (s.id.as_str(), s.ordinal, s.parent_beam, s.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("A", 0, 1, "generated"),
                ("B", 1, 1, "generated"),
                ("C", 2, 2, "generated"),
                ("D", 3, 2, "generated")
            ]
        );
        assert_eq!(
            candidate_specs(3, 9, false).last().map(|s| s.id.as_str()),
            Some("AA")
        );
    }

    #[test]
    fn beams_only_widen_after_the_first_beam_iteration() {
        assert_eq!(beams_for_iteration(true, 3, 1), 1);
        assert_eq!(beams_for_iteration(true, 3, 2), 3);
        assert_eq!(beams_for_iteration(false, 3, 2), 1);
    }

    #[test]
    fn judge_shuffle_is_deterministic_per_seed_iteration_and_judge() {
        let items: Vec<u32> = (0..12).collect();
        let a = shuffled_for_judge(&items, 7, 1, "j1");
        assert_eq!(a, shuffled_for_judge(&items, 7, 1, "j1"));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, items);
        assert_ne!(a, items, "a 12-element shuffle left everything in place");
        assert_ne!(a, shuffled_for_judge(&items, 7, 1, "j2"));
        assert_ne!(a, shuffled_for_judge(&items, 7, 2, "j1"));
        assert_ne!(a, shuffled_for_judge(&items, 8, 1, "j1"));
        // It is exactly seed::shuffle with the documented generator.
        let mut expected = items.clone();
        shuffle(
            &mut derive_rng(7, "blackbox_refine.loop.judge.1.j1"),
            &mut expected,
        );
        assert_eq!(a, expected);
    }

    // -- aggregation --------------------------------------------------------------------------

    #[test]
    fn mean_is_weighted() {
        assert_eq!(
            aggregate(&[(80.0, 1.0), (60.0, 1.0)], &Aggregation::Mean),
            70.0
        );
        assert_eq!(
            aggregate(&[(80.0, 3.0), (60.0, 1.0)], &Aggregation::Mean),
            75.0
        );
        assert_eq!(
            aggregate(&[(90.0, 0.5), (60.0, 0.0)], &Aggregation::Mean),
            90.0
        );
    }

    #[test]
    fn zero_total_weight_counts_as_one() {
        assert_eq!(
            aggregate(&[(80.0, 0.0), (60.0, 0.0)], &Aggregation::Mean),
            0.0
        );
        assert_eq!(
            aggregate(
                &[(80.0, 0.0), (60.0, 0.0)],
                &Aggregation::TrimmedMean { drop: 0 }
            ),
            0.0
        );
        assert_eq!(aggregate(&[], &Aggregation::Mean), 0.0);
    }

    #[test]
    fn median_is_unweighted() {
        assert_eq!(
            aggregate(
                &[(90.0, 9.0), (10.0, 1.0), (50.0, 1.0)],
                &Aggregation::Median
            ),
            50.0
        );
        assert_eq!(
            aggregate(
                &[(90.0, 9.0), (10.0, 1.0), (50.0, 1.0), (61.0, 1.0)],
                &Aggregation::Median
            ),
            55.5
        );
        assert_eq!(aggregate(&[(42.0, 0.0)], &Aggregation::Median), 42.0);
    }

    #[test]
    fn min_and_max_ignore_weights() {
        let scores = [(70.0, 0.0), (40.0, 5.0), (95.0, 0.1)];
        assert_eq!(aggregate(&scores, &Aggregation::Min), 40.0);
        assert_eq!(aggregate(&scores, &Aggregation::Max), 95.0);
        assert_eq!(aggregate(&[], &Aggregation::Max), 0.0);
    }

    #[test]
    fn trimmed_mean_drops_each_end_then_weighs() {
        // Sorted: 10 (w1), 50 (w1), 70 (w3), 100 (w1); drop 1 → 50 (w1), 70 (w3) → 65.
        let scores = [(70.0, 3.0), (100.0, 1.0), (10.0, 1.0), (50.0, 1.0)];
        assert_eq!(
            aggregate(&scores, &Aggregation::TrimmedMean { drop: 1 }),
            65.0
        );
        // drop 0 is the plain weighted mean: (210 + 100 + 10 + 50) / 6.
        assert_eq!(
            aggregate(&scores, &Aggregation::TrimmedMean { drop: 0 }),
            370.0 / 6.0
        );
        // Equal scores keep their judges' order: the first 50 (weight 3) is dropped, the second
        // (weight 1) kept, so (50 + 80) / 2 and not (150 + 80) / 4.
        let ties = [(50.0, 3.0), (50.0, 1.0), (80.0, 1.0), (90.0, 1.0)];
        assert_eq!(
            aggregate(&ties, &Aggregation::TrimmedMean { drop: 1 }),
            65.0
        );
        // Nothing left: 0.
        assert_eq!(
            aggregate(
                &[(50.0, 1.0), (60.0, 1.0)],
                &Aggregation::TrimmedMean { drop: 1 }
            ),
            0.0
        );
    }

    #[test]
    fn trimmed_mean_drop_must_leave_a_judge() {
        assert!(validate_trimmed_mean_drop(0, 1).is_ok());
        assert!(validate_trimmed_mean_drop(1, 3).is_ok());
        let error = validate_trimmed_mean_drop(1, 2).unwrap_err();
        assert!(
            error.starts_with("`trimmed_mean_drop` is 1 but there are 2 judges"),
            "{error}"
        );
        assert!(validate_trimmed_mean_drop(2, 4).is_err());
        assert!(validate_trimmed_mean_drop(usize::MAX, 3).is_err());
    }

    #[test]
    fn aggregation_names_round_trip() {
        for name in Aggregation::NAMES {
            assert_eq!(Aggregation::from_name(name, 2).unwrap().as_str(), name);
        }
        assert_eq!(
            Aggregation::from_name("trimmed_mean", 2),
            Ok(Aggregation::TrimmedMean { drop: 2 })
        );
        assert!(Aggregation::from_name("mode", 0)
            .unwrap_err()
            .starts_with("unknown aggregation `mode`"));
        for name in TieBreaker::NAMES {
            assert_eq!(TieBreaker::from_name(name).unwrap().as_str(), name);
        }
        assert!(TieBreaker::from_name("random").is_err());
        for name in MutationMode::NAMES {
            assert_eq!(MutationMode::from_name(name).unwrap().as_str(), name);
        }
        assert!(MutationMode::from_name("always").is_err());
        for name in LoopProfileSource::NAMES {
            assert_eq!(LoopProfileSource::from_name(name).unwrap().as_str(), name);
        }
        assert!(LoopProfileSource::from_name("generator_hints_plus_dislikes").is_err());
    }

    // -- novelty ------------------------------------------------------------------------------

    #[test]
    fn candidate_novelty_reasons_and_penalty() {
        let active = NoveltyConfig {
            enabled: true,
            window: 5,
            ..NoveltyConfig::default()
        };
        let summary = json!({
            "enabled": true,
            "motifs": [{ "token": "lighthouse", "df": 4, "w": 4 }, { "token": "fog", "df": 3, "w": 3 }],
            "total_weight": 7,
        });
        let (penalty, detail) = candidate_novelty("A lighthouse at dawn", Some(&summary), &active);
        // round(20 * 4/7) = round(11.43) = 11.
        assert_eq!(penalty, 11);
        assert_eq!(detail["overlap_weight"], json!(4));

        let off = NoveltyConfig::default();
        assert_eq!(
            candidate_novelty("lighthouse", Some(&summary), &off),
            (0, json!({ "penalty": 0, "reason": "novelty_disabled" }))
        );
        let missing = json!({ "penalty": 0, "reason": "novelty_missing" });
        assert_eq!(
            candidate_novelty("lighthouse", None, &active),
            (0, missing.clone())
        );
        let disabled_summary =
            json!({ "enabled": false, "window": 5, "rows_considered": 0, "top_tokens": [] });
        assert_eq!(
            candidate_novelty("lighthouse", Some(&disabled_summary), &active),
            (0, missing)
        );
    }

    #[test]
    fn effective_score_never_goes_negative() {
        assert_eq!(effective_score(80.5, 10), 70.5);
        assert_eq!(effective_score(5.0, 10), 0.0);
    }

    // -- ordering -----------------------------------------------------------------------------

    #[test]
    fn sort_key_is_effective_then_raw_then_id() {
        let mut rows = vec![
            row("C", 80.0, 0, 10, 1),  // effective 80
            row("A", 90.0, 10, 10, 1), // effective 80, raw 90
            row("B", 80.0, 0, 10, 1),  // effective 80, raw 80
            row("D", 85.0, 0, 10, 1),  // effective 85
            row("AA", 80.0, 0, 10, 1), // ids compare as strings: AA < B
        ];
        sort_rows(&mut rows, TieBreaker::StableId);
        assert_eq!(ids(&rows), ["D", "A", "AA", "B", "C"]);
    }

    #[test]
    fn prefer_shorter_puts_prompt_chars_before_the_id() {
        let mut rows = vec![
            row("A", 80.0, 0, 300, 1),
            row("B", 80.0, 0, 200, 1),
            row("C", 90.0, 0, 900, 1),
        ];
        sort_rows(&mut rows, TieBreaker::PreferShorter);
        assert_eq!(ids(&rows), ["C", "B", "A"]);
        sort_rows(&mut rows, TieBreaker::StableId);
        assert_eq!(ids(&rows), ["C", "A", "B"]);
    }

    #[test]
    fn prefer_novel_puts_the_penalty_before_the_id() {
        // Equal raw scores with different penalties tie only when both effective scores are
        // clamped at 0: A and B both have effective 0 and raw 5; B has the smaller penalty.
        let mut rows = vec![
            row("A", 5.0, 9, 10, 1),
            row("B", 5.0, 6, 10, 1),
            row("C", 50.0, 0, 10, 1),
        ];
        sort_rows(&mut rows, TieBreaker::PreferNovel);
        assert_eq!(ids(&rows), ["C", "B", "A"]);
        sort_rows(&mut rows, TieBreaker::StableId);
        assert_eq!(ids(&rows), ["C", "A", "B"]);
        // prefer_novel does not reorder on prompt length, prefer_shorter not on penalty.
        let mut rows = vec![row("A", 5.0, 9, 100, 1), row("B", 5.0, 6, 900, 1)];
        sort_rows(&mut rows, TieBreaker::PreferShorter);
        assert_eq!(ids(&rows), ["A", "B"]);
    }

    #[test]
    fn rows_serialize_as_score_table_rows_without_the_prompt() {
        let value = serde_json::to_value(row("A", 80.0, 5, 12, 2)).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "A", "score": 80.0, "novelty_penalty": 5, "novelty_detail": { "penalty": 5 },
                "effective_score": 75.0, "prompt_chars": 12, "parent_beam": 2, "kind": "generated",
            })
        );
    }

    // -- selection ----------------------------------------------------------------------------

    /// The first seed whose roll for `iteration` is below (or at least) `rate`.
    fn seed_with_roll(iteration: usize, below: bool, rate: f64) -> u64 {
        (0..1000u64)
            .find(|&seed| {
                (unit_f64(&mut derive_rng(seed, &select_purpose(iteration))) < rate) == below
            })
            .unwrap()
    }

    fn table() -> Vec<CandidateRow> {
        vec![
            row("A", 90.0, 0, 10, 1),
            row("B", 85.0, 0, 10, 1),
            row("C", 80.0, 0, 10, 2),
            row("D", 70.0, 0, 10, 2),
            row("E", 60.0, 0, 10, 3),
            row("F", 50.0, 0, 10, 3),
            row("G", 40.0, 0, 10, 1),
            row("H", 30.0, 0, 10, 2),
        ]
    }

    #[test]
    fn pool_size_rules() {
        assert_eq!(explore_pool_size(8, 1), 2); // ceil(8/4) = 2
        assert_eq!(explore_pool_size(3, 1), 2); // ceil(3/4) = 1, forced to k+1
        assert_eq!(explore_pool_size(20, 2), 5);
        assert_eq!(explore_pool_size(8, 3), 4); // max(3, 2), forced to 4
        assert_eq!(explore_pool_size(3, 3), 3); // n == k: capped at n
        assert_eq!(explore_pool_size(1, 1), 1);
    }

    #[test]
    fn rate_zero_never_explores_and_rate_one_always_does() {
        for seed in 0..50 {
            let s = select_beams(&table(), 1, false, 0.0, seed, 1, TieBreaker::StableId);
            assert_eq!((s.mode, ids(&s.selected)), ("exploit", vec!["A"]));
            let s = select_beams(&table(), 1, false, 1.0, seed, 1, TieBreaker::StableId);
            assert_eq!(s.mode, "explore");
            // The pool is the top 2 rows.
            assert!(
                ["A", "B"].contains(&s.selected[0].id.as_str()),
                "{:?}",
                ids(&s.selected)
            );
        }
    }

    #[test]
    fn the_roll_decides_and_is_deterministic_per_seed_and_iteration() {
        let explore_seed = seed_with_roll(2, true, 0.5);
        let exploit_seed = seed_with_roll(2, false, 0.5);
        let a = select_beams(
            &table(),
            2,
            false,
            0.5,
            explore_seed,
            2,
            TieBreaker::StableId,
        );
        assert_eq!(a.mode, "explore");
        assert_eq!(
            a.roll,
            unit_f64(&mut derive_rng(
                explore_seed,
                "blackbox_refine.loop.select.2"
            ))
        );
        assert_eq!(
            a,
            select_beams(
                &table(),
                2,
                false,
                0.5,
                explore_seed,
                2,
                TieBreaker::StableId
            )
        );
        let b = select_beams(
            &table(),
            2,
            false,
            0.5,
            exploit_seed,
            2,
            TieBreaker::StableId,
        );
        assert_eq!((b.mode, ids(&b.selected)), ("exploit", vec!["A", "B"]));
        // Another iteration draws another roll.
        let other = select_beams(
            &table(),
            2,
            false,
            0.5,
            explore_seed,
            3,
            TieBreaker::StableId,
        );
        assert_ne!(a.roll, other.roll);
    }

    #[test]
    fn explore_samples_the_pool_without_replacement_and_sorts_the_picks() {
        // k = 3, n = 8: pool = 4 (A..D); all three picks come from it, distinct and sorted.
        let mut seen = BTreeSet::new();
        for seed in 0..200 {
            let s = select_beams(&table(), 3, false, 1.0, seed, 1, TieBreaker::StableId);
            let got = ids(&s.selected);
            assert_eq!(got.len(), 3);
            assert!(
                got.iter().all(|id| ["A", "B", "C", "D"].contains(id)),
                "{got:?}"
            );
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            seen.insert(got.concat());
        }
        // Every 3-subset of the pool turns up.
        assert_eq!(seen.len(), 4, "{seen:?}");
    }

    #[test]
    fn explore_follows_the_weights_exactly() {
        // Two rows, weights 90 and 10: the pick is unit_f64 * 100 after the roll.
        let rows = vec![row("A", 90.0, 0, 10, 1), row("B", 10.0, 0, 10, 1)];
        for seed in 0..100 {
            let mut rng = derive_rng(seed, &select_purpose(4));
            let _roll = unit_f64(&mut rng);
            let expected = if unit_f64(&mut rng) * 100.0 <= 90.0 {
                "A"
            } else {
                "B"
            };
            let s = select_beams(&rows, 1, false, 1.0, seed, 4, TieBreaker::StableId);
            assert_eq!(ids(&s.selected), [expected], "seed {seed}");
        }
    }

    #[test]
    fn zero_effective_rows_still_weigh_one() {
        let rows = vec![row("A", 0.0, 0, 10, 1), row("B", 0.0, 5, 10, 1)];
        let mut picked = BTreeSet::new();
        for seed in 0..100 {
            let s = select_beams(&rows, 1, false, 1.0, seed, 1, TieBreaker::StableId);
            picked.insert(s.selected[0].id.clone());
        }
        assert_eq!(picked.len(), 2);
    }

    #[test]
    fn exploit_groups_by_beam_first_then_fills() {
        // Best per beam: A (1), C (2), E (3).
        let s = select_beams(&table(), 3, true, 0.0, 1, 2, TieBreaker::StableId);
        assert_eq!(ids(&s.selected), ["A", "C", "E"]);
        let s = select_beams(&table(), 3, false, 0.0, 1, 2, TieBreaker::StableId);
        assert_eq!(ids(&s.selected), ["A", "B", "C"]);
        // Fewer beams than k: the best per beam, then the best of the rest.
        let s = select_beams(&table(), 5, true, 0.0, 1, 2, TieBreaker::StableId);
        assert_eq!(ids(&s.selected), ["A", "C", "E", "B", "D"]);
        // More beams than k: the best beams win.
        let s = select_beams(&table(), 2, true, 0.0, 1, 2, TieBreaker::StableId);
        assert_eq!(ids(&s.selected), ["A", "C"]);
    }

    #[test]
    fn explore_groups_the_pool_by_beam_then_tops_up() {
        // k = 3, pool = top 4 (A1, B1, C2, D2) → best per beam A, C; both picked (sorted),
        // then topped up with the best remaining row, B.
        for seed in 0..50 {
            let s = select_beams(&table(), 3, true, 1.0, seed, 2, TieBreaker::StableId);
            assert_eq!((s.mode, ids(&s.selected)), ("explore", vec!["A", "C", "B"]));
        }
        // k = 1, pool = top 2 (A1, B1) → only A.
        for seed in 0..50 {
            let s = select_beams(&table(), 1, true, 1.0, seed, 2, TieBreaker::StableId);
            assert_eq!(ids(&s.selected), ["A"]);
        }
    }

    #[test]
    fn selection_sorts_its_input_with_the_tie_breaker() {
        let rows = vec![row("A", 80.0, 0, 500, 1), row("B", 80.0, 0, 100, 1)];
        let s = select_beams(&rows, 1, false, 0.0, 0, 1, TieBreaker::PreferShorter);
        assert_eq!(ids(&s.selected), ["B"]);
        let s = select_beams(&rows, 1, false, 0.0, 0, 1, TieBreaker::StableId);
        assert_eq!(ids(&s.selected), ["A"]);
    }

    #[test]
    fn k_is_capped_at_the_candidates() {
        for rate in [0.0, 1.0] {
            let s = select_beams(&table()[..2], 3, false, rate, 0, 1, TieBreaker::StableId);
            assert_eq!(ids(&s.selected), ["A", "B"]);
            let s = select_beams(&table(), 0, false, rate, 0, 1, TieBreaker::StableId);
            assert!(s.selected.is_empty());
        }
        let s = select_beams(&[], 1, true, 1.0, 0, 1, TieBreaker::StableId);
        assert_eq!((s.mode, s.selected.len()), ("explore", 0));
    }

    // -- feedback -----------------------------------------------------------------------------

    #[test]
    fn best_and_worst_overall_and_per_beam() {
        let rows = table();
        let (best, worst) = best_worst(&rows).unwrap();
        assert_eq!((best.id.as_str(), worst.id.as_str()), ("A", "H"));
        assert_eq!(best_worst(&[]), None);
        let by_beam: Vec<(usize, Option<(String, String)>)> = feedback_by_beam(&rows, 4)
            .into_iter()
            .map(|(beam, pair)| (beam, pair.map(|(b, w)| (b.id, w.id))))
            .collect();
        assert_eq!(
            by_beam,
            [
                (1, Some(("A".to_owned(), "G".to_owned()))),
                (2, Some(("C".to_owned(), "H".to_owned()))),
                (3, Some(("E".to_owned(), "F".to_owned()))),
                (4, None),
            ]
        );
        // One row: it is both.
        let one = [row("Z", 1.0, 0, 1, 1)];
        let (best, worst) = best_worst(&one).unwrap();
        assert_eq!((best.id, worst.id), ("Z".to_owned(), "Z".to_owned()));
    }

    #[test]
    fn clipping_counts_characters_and_trims() {
        assert_eq!(clip_for_feedback("  abc  ", 3), ("abc".to_owned(), false));
        assert_eq!(clip_for_feedback("ab cd", 3), ("ab".to_owned(), true));
        assert_eq!(clip_for_feedback("éèêë", 2), ("éè".to_owned(), true));
        assert_eq!(clip_for_feedback("abcdef", 0), ("abcdef".to_owned(), false));
        assert_eq!(clip_for_feedback("   ", 2), (String::new(), false));
    }

    #[test]
    fn feedback_renders_both_rows() {
        let mut best = row("B", 85.0, 3, 20, 2);
        best.prompt = "A lighthouse in fog, wide shot".to_owned();
        best.kind = KIND_PARENT.to_owned();
        let mut worst = row("E", 100.0 / 3.0, 0, 5, 1);
        worst.prompt = "   ".to_owned();
        let text = render_feedback(&best, &worst, 12);
        assert_eq!(
            text,
            "BEST:\n\
             - id=B raw=85.0 effective=82.0 novelty_penalty=3 kind=parent parent_beam=2\n\
             - prompt (clipped to 12 chars):\n\
             A lighthouse\n\
             \n\
             WORST:\n\
             - id=E raw=33.333333333333336 effective=33.333333333333336 novelty_penalty=0 kind=generated parent_beam=1\n\
             - prompt:\n\
             <missing>"
        );
        let text = render_feedback(&best, &best, 0);
        assert!(
            text.contains("- prompt:\nA lighthouse in fog, wide shot\n\nWORST:"),
            "{text}"
        );
    }

    // -- mutation directives ------------------------------------------------------------------

    #[test]
    fn mutation_modes() {
        let directives = strings(&["d0", "d1", "d2"]);
        let pick = |mode, iteration, ordinal, id| {
            mutation_directive(mode, &directives, 42, iteration, ordinal, id)
        };
        assert_eq!(pick(MutationMode::None, 1, 0, "A"), None);
        assert_eq!(pick(MutationMode::Fixed, 3, 5, "F"), Some("d0"));
        assert_eq!(pick(MutationMode::Cycle, 1, 0, "A"), Some("d0"));
        assert_eq!(pick(MutationMode::Cycle, 1, 4, "E"), Some("d1"));
        assert_eq!(pick(MutationMode::Cycle, 3, 2, "C"), Some("d1"));
        assert_eq!(pick(MutationMode::Cycle, 0, 0, "A"), Some("d2"));
        for empty_mode in [
            MutationMode::Fixed,
            MutationMode::Cycle,
            MutationMode::Random,
        ] {
            assert_eq!(mutation_directive(empty_mode, &[], 42, 1, 0, "A"), None);
        }
    }

    #[test]
    fn random_directive_hashes_seed_iteration_and_id() {
        let directives: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
        let expected = |seed: u64, iteration: usize, id: &str| {
            let index = stable_hash_parts(&[&seed.to_string(), &iteration.to_string(), id]) % 20;
            format!("d{index}")
        };
        for (seed, iteration, id) in [
            (42u64, 1usize, "A"),
            (42, 1, "B"),
            (42, 2, "A"),
            (7, 3, "AB"),
        ] {
            let got = mutation_directive(MutationMode::Random, &directives, seed, iteration, 0, id);
            assert_eq!(got, Some(expected(seed, iteration, id).as_str()));
            // The ordinal does not matter and the id is trimmed.
            assert_eq!(
                mutation_directive(
                    MutationMode::Random,
                    &directives,
                    seed,
                    iteration,
                    9,
                    &format!(" {id} ")
                ),
                got
            );
        }
        let spread: BTreeSet<Option<&str>> = ["A", "B", "C", "D", "E", "F", "G", "H"]
            .iter()
            .map(|id| mutation_directive(MutationMode::Random, &directives, 42, 1, 0, id))
            .collect();
        assert!(spread.len() > 1, "{spread:?}");
    }

    // -- profile representations --------------------------------------------------------------

    const GUIDANCE: &str = "Preference interpretation rules:\n- keep dislikes out\n\n\
                            Loves:\n- owls\n\n\
                            Likes:\n- fog\n- lighthouses\n\n\
                            Dislikes:\n- clutter\n\n\
                            Hates:\n- clowns\n\n\
                            Notes:\n- prefers dusk\n\n\
                            A free paragraph without a header";

    #[test]
    fn sections_are_header_blocks() {
        let sections = profile_sections("  Likes :\n- a\n\n   \n- b\n\nDISLIKES:\n\n- c\n\nNo colon\n- d\n\nLikes:\n- e  \n\n- f");
        assert_eq!(
            sections,
            [
                ("likes".to_owned(), "- e".to_owned()),
                ("dislikes".to_owned(), String::new())
            ]
        );
        assert!(profile_sections("").is_empty());
    }

    #[test]
    fn raw_and_hints_profiles() {
        assert_eq!(
            render_profile(LoopProfileSource::Raw, &format!("  {GUIDANCE}\n"), "h", &[]),
            GUIDANCE
        );
        assert_eq!(
            render_profile(LoopProfileSource::Raw, " \n", "h", &[]),
            "<none>"
        );
        assert_eq!(
            render_profile(
                LoopProfileSource::GeneratorHints,
                GUIDANCE,
                " calm scenes \n",
                &[]
            ),
            "calm scenes"
        );
        assert_eq!(
            render_profile(LoopProfileSource::GeneratorHints, GUIDANCE, "  ", &[]),
            "<none>"
        );
    }

    #[test]
    fn likes_dislikes_profile() {
        assert_eq!(
            render_profile(LoopProfileSource::LikesDislikes, GUIDANCE, "h", &[]),
            "Loves:\n- owls\n\nLikes:\n- fog\n- lighthouses\n\nHates:\n- clowns\n\nDislikes:\n- clutter"
        );
        assert_eq!(
            render_profile(LoopProfileSource::LikesDislikes, "Likes:\n- fog", "", &[]),
            "Likes:\n- fog"
        );
        assert_eq!(
            render_profile(LoopProfileSource::LikesDislikes, "Notes:\n- x", "", &[]),
            "<none>"
        );
    }

    #[test]
    fn dislikes_only_profile_and_its_fallbacks() {
        let dislikes = strings(&["clutter", "  ", "clowns"]);
        assert_eq!(
            render_profile(LoopProfileSource::DislikesOnly, GUIDANCE, "h", &dislikes),
            "Hates:\n- clowns\n\nDislikes:\n- clutter"
        );
        assert_eq!(
            render_profile(
                LoopProfileSource::DislikesOnly,
                "Likes:\n- fog",
                "h",
                &dislikes
            ),
            "Dislikes/Hates:\n- clutter\n- clowns"
        );
        assert_eq!(
            render_profile(
                LoopProfileSource::DislikesOnly,
                "Likes:\n- fog",
                "h",
                &strings(&[" "])
            ),
            "<none>"
        );
    }

    #[test]
    fn combined_profile() {
        assert_eq!(
            render_profile(LoopProfileSource::Combined, "Likes:\n- fog\n\nHates:\n- clowns", "calm", &[]),
            "Generator-safe profile hints:\ncalm\n\nLikes/Dislikes/Hates (raw, minimal):\nLikes:\n- fog\n\nHates:\n- clowns"
        );
        assert_eq!(
            render_profile(LoopProfileSource::Combined, "", "", &[]),
            "Likes/Dislikes/Hates (raw, minimal):\n<none>"
        );
        assert!(LoopProfileSource::Combined.uses_hints());
        assert!(!LoopProfileSource::DislikesOnly.uses_hints());
    }
}

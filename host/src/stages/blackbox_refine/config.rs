//! The knobs of `blackbox_refine.loop`, read and checked once when the stage is built: rounds,
//! hill-climb or beam, generators, the variation prompt, mutation directives, judges,
//! aggregation, selection and novelty. The loop's steps (`super`) read them; the rules they feed
//! are `algorithms`'.

use serde_json::{json, Value};

use super::algorithms::{self, Aggregation, LoopProfileSource, MutationMode, TieBreaker};
use crate::pipeline::StageConfig;
use crate::stages::blackbox::novelty::NoveltyConfig;
use crate::stages::profile_source::ProfileSource;

/// One judge of the loop.
#[derive(Debug, Clone)]
pub(super) struct Judge {
    pub(super) id: String,
    pub(super) rubric: &'static str,
    pub(super) rubric_name: String,
    pub(super) weight: f64,
    pub(super) model: Option<String>,
    pub(super) temperature: f64,
}

/// Everything the loop's steps need, read once at build time.
pub(super) struct LoopConfig {
    pub(super) iterations: usize,
    pub(super) beam: bool,
    pub(super) beam_width: usize,
    pub(super) branching: usize,
    pub(super) include_parents: bool,
    pub(super) generator_model: Option<String>,
    pub(super) generator_temperature: f64,
    pub(super) max_prompt_chars: Option<usize>,
    pub(super) template: String,
    pub(super) include_concepts: bool,
    pub(super) include_context: bool,
    pub(super) include_profile: bool,
    pub(super) profile_source: LoopProfileSource,
    pub(super) include_novelty: bool,
    pub(super) include_directive: bool,
    pub(super) include_rubric: bool,
    pub(super) best_worst_feedback: bool,
    pub(super) feedback_max_chars: usize,
    pub(super) mutation_mode: MutationMode,
    pub(super) directives: Vec<String>,
    pub(super) judges: Vec<Judge>,
    pub(super) aggregation: Aggregation,
    pub(super) exploration_rate: f64,
    pub(super) group_by_beam: bool,
    pub(super) tie_breaker: TieBreaker,
    pub(super) judge_profile_source: ProfileSource,
    pub(super) novelty: NoveltyConfig,
    pub(super) context: String,
}

pub(super) fn read_loop_config(
    config: &mut StageConfig,
    context: String,
) -> Result<LoopConfig, String> {
    let seed_source = config.get_optional_str("seed_source")?;
    if seed_source
        .as_deref()
        .is_some_and(|source| source != "blackbox")
    {
        return Err(format!(
            "`{}` must be `blackbox` (the only seed this port has)",
            config.key_path("seed_source")
        ));
    }
    let iterations = config.get_int("iterations", 3, Some(1), Some(100))? as usize;
    let algorithm = config.get_str("algorithm", Some("hillclimb"), Some(&["hillclimb", "beam"]))?;
    let beam_width = config.get_int("beam_width", 3, Some(1), Some(26))? as usize;
    if algorithm == "beam" && beam_width < 2 {
        return Err(format!(
            "`{}` must be >= 2 with `algorithm = \"beam\"`",
            config.key_path("beam_width")
        ));
    }
    let branching = config.get_int("branching_factor", 6, Some(1), Some(26))? as usize;
    let include_parents = config.get_bool("include_parents_as_candidates", true)?;
    if algorithm == "beam" && branching + usize::from(include_parents) < beam_width {
        return Err(format!(
            "`{}` must be at least `beam_width` ({beam_width}) counting the parent: the first round needs that many candidates",
            config.key_path("branching_factor")
        ));
    }
    let generator_model = config.get_optional_str("generator_model")?;
    let generator_temperature =
        config.get_float("generator_temperature", 0.9, Some(0.0), Some(2.0))?;
    let max_prompt_chars = config
        .get_optional_int("max_prompt_chars", Some(3500), Some(1), None)?
        .map(|n| n as usize);

    let variation = config.namespace("variation_prompt")?;
    let template = variation.get_str("template", Some("v1"), Some(&["v1", "v2"]))?;
    let include_concepts = variation.get_bool("include_concepts", true)?;
    let include_context = variation.get_bool("include_context_guidance", false)?;
    let include_profile = variation.get_bool("include_profile", true)?;
    let profile_source = LoopProfileSource::from_name(&variation.get_str(
        "profile_source",
        Some("likes_dislikes"),
        Some(&LoopProfileSource::NAMES),
    )?)?;
    let include_novelty = variation.get_bool("include_novelty_summary", true)?;
    let include_directive = variation.get_bool("include_mutation_directive", true)?;
    let include_rubric = variation.get_bool("include_scoring_rubric", true)?;
    let best_worst_feedback = variation.get_str(
        "score_feedback",
        Some("best_worst"),
        Some(&["none", "best_worst"]),
    )? == "best_worst";
    let feedback_max_chars =
        variation.get_int("score_feedback_max_chars", 900, Some(1), None)? as usize;

    let mutation = config.namespace("mutation_directives")?;
    let mutation_mode = MutationMode::from_name(&mutation.get_str(
        "mode",
        Some("random"),
        Some(&MutationMode::NAMES),
    )?)?;
    let mut directives = mutation.get_list_str("directives", &[], true)?;
    if directives.is_empty() {
        directives = crate::prompts::mutation_directives();
    }

    let judge_temperature = config.get_float("judge_temperature", 0.0, Some(0.0), Some(2.0))?;
    let judge_model = config.get_optional_str("judge_model")?;
    let judging = config.namespace("judging")?;
    let judges = read_judges(judging, judge_temperature, &judge_model)?;
    let aggregation_name =
        judging.get_str("aggregation", Some("mean"), Some(&Aggregation::NAMES))?;
    let drop = judging.get_int("trimmed_mean_drop", 0, Some(0), None)? as usize;
    let aggregation = Aggregation::from_name(&aggregation_name, drop)?;
    if matches!(aggregation, Aggregation::TrimmedMean { .. }) {
        algorithms::validate_trimmed_mean_drop(drop, judges.len())
            .map_err(|problem| format!("`{}`: {problem}", judging.key_path("trimmed_mean_drop")))?;
    }

    let selection = config.namespace("selection")?;
    let rate_override =
        selection.get_optional_float("exploration_rate_override", None, Some(0.0), Some(1.0))?;
    let group_by_beam = selection.get_bool("group_by_beam", false)?;
    let tie_breaker = TieBreaker::from_name(&selection.get_str(
        "tie_breaker",
        Some("stable_id"),
        Some(&TieBreaker::NAMES),
    )?)?;
    let judge_profile_source =
        ProfileSource::from_config(config, "judge_profile_source", "raw", false)?;
    let exploration_rate = config.get_float("exploration_rate", 0.15, Some(0.0), Some(1.0))?;
    let novelty = crate::stages::blackbox::novelty_config(config)?;
    Ok(LoopConfig {
        iterations,
        beam: algorithm == "beam",
        beam_width,
        branching,
        include_parents,
        generator_model,
        generator_temperature,
        max_prompt_chars,
        template,
        include_concepts,
        include_context,
        include_profile,
        profile_source,
        include_novelty,
        include_directive,
        include_rubric,
        best_worst_feedback,
        feedback_max_chars,
        mutation_mode,
        directives,
        judges,
        aggregation,
        exploration_rate: rate_override.unwrap_or(exploration_rate),
        group_by_beam,
        tie_breaker,
        judge_profile_source,
        novelty,
        context,
    })
}

fn read_judges(
    judging: &mut StageConfig,
    default_temperature: f64,
    default_model: &Option<String>,
) -> Result<Vec<Judge>, String> {
    let path = judging.key_path("judges");
    let items = match judging.get_raw("judges") {
        Some(Value::Array(items)) => items,
        // One judge with the default rubric when none is configured.
        None | Some(Value::Null) => {
            let one = vec![json!({"id": "j1", "rubric": "default"})];
            judging.set_effective("judges", Value::Array(one.clone()));
            one
        }
        Some(_) => {
            return Err(format!(
                "`{path}` must be a list of judges like {{ id = \"j1\", rubric = \"default\" }}"
            ))
        }
    };
    if items.is_empty() {
        return Err(format!("`{path}` needs at least one judge"));
    }
    let mut judges: Vec<Judge> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{path}[{index}]");
        let table = item
            .as_object()
            .ok_or_else(|| format!("`{at}` must be a table"))?;
        if let Some(unknown) = table
            .keys()
            .find(|key| !["id", "rubric", "weight", "model", "temperature"].contains(&key.as_str()))
        {
            return Err(format!(
                "unknown key `{unknown}` in `{at}` (known: id, rubric, weight, model, temperature)"
            ));
        }
        let id = table
            .get("id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("`{at}.id` is required"))?;
        if judges.iter().any(|judge| judge.id == id) {
            return Err(format!("judge id `{id}` is used twice in `{path}`"));
        }
        let rubric_name = table
            .get("rubric")
            .map_or(Some("default"), Value::as_str)
            .ok_or_else(|| format!("`{at}.rubric` must be a string"))?;
        let rubric = crate::prompts::rubric(rubric_name)
            .ok_or_else(|| format!("`{at}.rubric` must be one of: default, strict, novelty_heavy (got {rubric_name:?})"))?;
        let weight = table
            .get("weight")
            .map_or(Some(1.0), Value::as_f64)
            .filter(|w| *w >= 0.0)
            .ok_or_else(|| format!("`{at}.weight` must be a number >= 0"))?;
        let model = match table.get("model") {
            None | Some(Value::Null) => default_model.clone(),
            Some(Value::String(model)) => Some(model.clone()),
            Some(_) => return Err(format!("`{at}.model` must be a string")),
        };
        let temperature = match table.get("temperature") {
            None | Some(Value::Null) => default_temperature,
            Some(value) => value
                .as_f64()
                .filter(|t| (0.0..=2.0).contains(t))
                .ok_or_else(|| format!("`{at}.temperature` must be a number from 0 to 2"))?,
        };
        judges.push(Judge {
            id: id.to_owned(),
            rubric,
            rubric_name: rubric_name.to_owned(),
            weight,
            model,
            temperature,
        });
    }
    Ok(judges)
}

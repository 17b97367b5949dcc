//! Named plans: ordered lists of stage instances, one [`PlanDef`] entry each. `custom` takes its
//! list from `prompt.stages.sequence`.

use crate::config::key;
use crate::config::suggest::did_you_mean;
use crate::config::{SequenceItem, StagesConfig};

use super::{Registry, StageDef};

/// Where a plan's stage list comes from.
#[derive(Debug, Clone, Copy)]
pub enum PlanStages {
    /// `prompt.stages.sequence`.
    Sequence,
    /// These stage kinds, in order, each instance named after its kind.
    Fixed(&'static [&'static str]),
}

/// One named plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanDef {
    /// The name `prompt.plan` selects (lowercase; matched case-insensitively).
    pub name: &'static str,
    /// One line for docs and `describe`.
    pub doc: &'static str,
    pub stages: PlanStages,
}

/// Every plan, in the order messages list them.
pub const PLANS: &[PlanDef] = &[
    PlanDef {
        name: "custom",
        doc: "the stages listed in `prompt.stages.sequence`, in order",
        stages: PlanStages::Sequence,
    },
    PlanDef {
        name: "blackbox",
        doc: "concepts, profile hints, parallel idea cards, a judge, selection, the final prompt",
        stages: PlanStages::Fixed(&[
            "preprompt.select_concepts",
            "preprompt.filter_concepts",
            "blackbox.prepare",
            "blackbox.generator_profile_hints",
            "blackbox.generate_idea_cards",
            "blackbox.idea_cards_judge_score",
            "blackbox.select_idea_card",
            "blackbox.image_prompt_creation",
        ]),
    },
    PlanDef {
        name: "simple_no_concepts",
        doc: "four candidate themes from the profile, then a prompt for the strongest",
        stages: PlanStages::Fixed(&["standard.initial_prompt_freeform", "standard.image_prompt_creation"]),
    },
    PlanDef {
        name: "blackbox_refine",
        doc: "the black-box plan up to the selected card, then a seed prompt, the refine loop, a taste nudge and formatting",
        stages: PlanStages::Fixed(&[
            "preprompt.select_concepts",
            "preprompt.filter_concepts",
            "blackbox.prepare",
            "blackbox.generator_profile_hints",
            "blackbox.generate_idea_cards",
            "blackbox.idea_cards_judge_score",
            "blackbox.select_idea_card",
            "blackbox_refine.seed_prompt",
            "blackbox_refine.loop",
            "postprompt.profile_nudge",
            "postprompt.openai_format",
        ]),
    },
    PlanDef {
        name: "direct",
        doc: "concepts, then one prompt straight from them and the profile, a taste nudge and formatting",
        stages: PlanStages::Fixed(&[
            "preprompt.select_concepts",
            "preprompt.filter_concepts",
            "direct.image_prompt_creation",
            "postprompt.profile_nudge",
            "postprompt.openai_format",
        ]),
    },
];

/// One stage of a resolved plan.
#[derive(Clone)]
pub struct PlanStage<'r> {
    pub stage: &'r StageDef,
    /// The instance id: the kind id, or the name a `{stage, name}` item gave it.
    pub instance_id: String,
}

/// A plan's stage list.
#[derive(Clone)]
pub struct ResolvedPlan<'r> {
    /// The canonical (lowercase) plan name.
    pub name: &'static str,
    pub stages: Vec<PlanStage<'r>>,
}

/// A plan name or stage list that does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub message: String,
}

fn error(message: String) -> PlanError {
    PlanError { message }
}

/// The plan `name` selects (case-insensitive).
pub fn find(name: &str) -> Result<&'static PlanDef, PlanError> {
    let wanted = name.trim().to_ascii_lowercase();
    if let Some(plan) = PLANS.iter().find(|p| p.name == wanted) {
        return Ok(plan);
    }
    let available: Vec<&str> = PLANS.iter().map(|p| p.name).collect();
    let mut message = format!(
        "unknown prompt plan `{}` (available: {})",
        name.trim(),
        available.join(", ")
    );
    if let Some(suggestion) = did_you_mean(&wanted, available.iter().copied()) {
        message.push_str(&format!("\n\ndid you mean `{suggestion}`?"));
    }
    Err(error(message))
}

/// The stage instances of plan `name`, in order.
pub fn resolve<'r>(
    name: &str,
    stages: &StagesConfig,
    registry: &'r Registry,
) -> Result<ResolvedPlan<'r>, PlanError> {
    stages_of(find(name)?, stages, registry)
}

/// The stage instances of `plan`, in order.
fn stages_of<'r>(
    plan: &PlanDef,
    stages: &StagesConfig,
    registry: &'r Registry,
) -> Result<ResolvedPlan<'r>, PlanError> {
    let list = match plan.stages {
        PlanStages::Sequence => from_sequence(&stages.sequence, registry)?,
        PlanStages::Fixed(ids) => ids
            .iter()
            .map(|id| {
                registry.get(id).map(|stage| PlanStage { stage, instance_id: stage.id.to_owned() }).ok_or_else(|| {
                    error(format!("prompt plan `{}` names stage kind `{id}`, which is not in the registry", plan.name))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(ResolvedPlan {
        name: plan.name,
        stages: list,
    })
}

const SEQUENCE: &str = "prompt.stages.sequence";

/// `prompt.stages.sequence`: kind ids (or unique suffixes), or `{stage, name}` instances.
fn from_sequence<'r>(
    items: &[SequenceItem],
    registry: &'r Registry,
) -> Result<Vec<PlanStage<'r>>, PlanError> {
    if items.is_empty() {
        return Err(error(format!(
            "prompt.plan = \"custom\" requires {SEQUENCE}\n\nlist the stages to run, e.g. `{SEQUENCE} = [\"ab.scene_draft\"]`"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut path = SEQUENCE.to_owned();
        key::push_index(&mut path, index);
        let (kind, name) = match item {
            SequenceItem::Kind(kind) => (kind, None),
            SequenceItem::Named { stage, name } => {
                key::push(&mut path, "stage");
                (stage, Some(name))
            }
        };
        let stage = registry.resolve(kind).map_err(|e| {
            error(format!(
                "{path} = {} is invalid: {}",
                serde_json::Value::String(kind.clone()),
                e.message
            ))
        })?;
        let instance_id = match name {
            None => stage.id.to_owned(),
            Some(name) => {
                let trimmed = name.trim();
                if trimmed.is_empty() || trimmed.contains('/') {
                    let mut name_path = SEQUENCE.to_owned();
                    key::push_index(&mut name_path, index);
                    key::push(&mut name_path, "name");
                    return Err(error(format!(
                        "{name_path} = {} is invalid: an instance name must be non-empty and contain no `/`",
                        serde_json::Value::String(name.clone())
                    )));
                }
                trimmed.to_owned()
            }
        };
        out.push(PlanStage { stage, instance_id });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let def = crate::stages::test_stage;
        Registry::with(vec![def("ab.scene_draft"), def("ab.final_prompt_format")])
    }

    fn stages(sequence: Vec<SequenceItem>) -> StagesConfig {
        StagesConfig {
            sequence,
            ..StagesConfig::default()
        }
    }

    fn ids(plan: &ResolvedPlan<'_>) -> Vec<(String, String)> {
        plan.stages
            .iter()
            .map(|s| (s.stage.id.to_owned(), s.instance_id.clone()))
            .collect()
    }

    fn err(name: &str, sequence: Vec<SequenceItem>) -> String {
        match resolve(name, &stages(sequence), &registry()) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn custom_takes_kinds_suffixes_and_named_instances() {
        let r = registry();
        let seq = vec![
            SequenceItem::Kind("ab.scene_draft".into()),
            SequenceItem::Named {
                stage: "scene_draft".into(),
                name: " second ".into(),
            },
            SequenceItem::Kind("final_prompt_format".into()),
        ];
        let plan = resolve("CUSTOM", &stages(seq), &r).unwrap();
        assert_eq!(plan.name, "custom");
        assert_eq!(
            ids(&plan),
            [
                ("ab.scene_draft".to_owned(), "ab.scene_draft".to_owned()),
                ("ab.scene_draft".to_owned(), "second".to_owned()),
                (
                    "ab.final_prompt_format".to_owned(),
                    "ab.final_prompt_format".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn custom_needs_a_sequence() {
        assert!(err("custom", vec![])
            .starts_with("prompt.plan = \"custom\" requires prompt.stages.sequence\n\n"));
    }

    #[test]
    fn bad_sequence_items_name_their_position() {
        assert_eq!(
            err("custom", vec![SequenceItem::Kind("ab.scene_draft".into()), SequenceItem::Kind("ab.scene_drat".into())]),
            "prompt.stages.sequence[1] = \"ab.scene_drat\" is invalid: unknown stage kind `ab.scene_drat` \
             (available: ab.final_prompt_format, ab.scene_draft)\n\ndid you mean `ab.scene_draft`?"
        );
        assert_eq!(
            err("custom", vec![SequenceItem::Named { stage: "scene_draft".into(), name: "a/b".into() }]),
            "prompt.stages.sequence[0].name = \"a/b\" is invalid: an instance name must be non-empty and contain no `/`"
        );
    }

    #[test]
    fn unknown_plans_list_the_available_ones() {
        assert_eq!(
            err("auto", vec![]),
            "unknown prompt plan `auto` (available: custom, blackbox, simple_no_concepts, blackbox_refine, direct)"
        );
        assert_eq!(
            err("custon", vec![]),
            "unknown prompt plan `custon` (available: custom, blackbox, simple_no_concepts, blackbox_refine, direct)\n\ndid you mean `custom`?"
        );
    }

    #[test]
    fn fixed_plans_resolve_through_the_registry() {
        let r = registry();
        let plan = PlanDef {
            name: "t",
            doc: "",
            stages: PlanStages::Fixed(&["ab.scene_draft", "ab.final_prompt_format"]),
        };
        let resolved = stages_of(&plan, &stages(vec![]), &r).unwrap();
        assert_eq!(
            ids(&resolved),
            [
                ("ab.scene_draft".to_owned(), "ab.scene_draft".to_owned()),
                (
                    "ab.final_prompt_format".to_owned(),
                    "ab.final_prompt_format".to_owned()
                ),
            ]
        );
        let broken = PlanDef {
            name: "t",
            doc: "",
            stages: PlanStages::Fixed(&["nope.x"]),
        };
        assert_eq!(
            stages_of(&broken, &stages(vec![]), &r)
                .err()
                .map(|e| e.message)
                .as_deref(),
            Some("prompt plan `t` names stage kind `nope.x`, which is not in the registry")
        );
    }
}

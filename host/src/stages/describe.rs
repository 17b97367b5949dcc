//! What `stages list`, `plans list` and `docs/stages.md` show: every stage kind with its IO and
//! config knobs, and every plan. It owns the descriptions and the markdown document, not how the
//! command line prints them.
//!
//! The knobs and their defaults are not written down twice: each stage is built once with an
//! empty config and the values its builder read through [`StageConfig`] (defaults included) are
//! the knobs. So the documented defaults are the ones the code uses.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::PipelineInputs;
use crate::config::{OutputConfig, StageConfigs, StagesConfig};
use crate::pipeline::StageConfig;

use super::plans::{self, PlanStages};
use super::{Registry, RunData, StageBuild, StageKind};

/// The command that writes `docs/stages.md`.
pub const REGENERATE: &str =
    "cargo run -p image-project -- stages list --markdown > docs/stages.md";

/// Where a custom plan takes its stage list from.
const SEQUENCE_KEY: &str = "prompt.stages.sequence";

/// One stage kind, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageInfo {
    pub id: &'static str,
    pub kind: StageKind,
    pub doc: &'static str,
    pub requires: Vec<&'static str>,
    pub provides: Vec<&'static str>,
    pub captures: Vec<&'static str>,
    /// The knobs the builder read with an empty config, in read order.
    pub config: Vec<KnobInfo>,
    /// Why the stage does not build with an empty config (e.g. a required knob); `config` then
    /// holds the knobs read before the failure.
    pub config_error: Option<String>,
    /// The plugin that declared the stage (absent for built-in stages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<&'static str>,
    /// A declared stage's answer shape (absent for built-in stages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<plugin_api::StageResponse>,
}

/// One config knob of a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnobInfo {
    /// Dotted within the stage's config (`novelty.window`).
    pub key: String,
    /// The value used when the knob is not set.
    pub default: Value,
}

/// One plan, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanInfo {
    pub name: &'static str,
    pub doc: &'static str,
    /// The stage kinds, in order (empty when `stages_from` names where they come from).
    pub stages: Vec<&'static str>,
    /// The config key a plan takes its stage list from (`prompt.stages.sequence`).
    pub stages_from: Option<&'static str>,
}

/// A one-row categories table, so builders that need the table build.
const CATEGORIES: &str = "Subject Matter,Narrative,Mood,Composition,Perspective,Style,Time Period_Context,Color Scheme\n\
                          subject,narrative,mood,composition,perspective,style,period,colours\n";

/// Every stage kind of `registry`, in catalogue order, with the knobs it reads.
pub fn describe_stages(registry: &Registry) -> Vec<StageInfo> {
    let categories = plugin_api::concepts::CategoriesTable::from_csv(CATEGORIES).ok();
    let data = Arc::new(RunData {
        categories,
        ..RunData::default()
    });
    let (stages, output, stage_configs) = (
        StagesConfig::default(),
        OutputConfig::default(),
        StageConfigs::default(),
    );
    let inputs = PipelineInputs {
        plan: "custom",
        stages: &stages,
        output: &output,
        stage_configs: &stage_configs,
        seed: 0,
        initial_outputs: Vec::new(),
        data,
    };
    registry
        .stages()
        .iter()
        .map(|stage| {
            let mut config = StageConfig::for_stage(stage.id, Map::new());
            let built = stage.build_block(&mut StageBuild {
                instance_id: stage.id,
                kind: stage.id,
                config: &mut config,
                inputs: &inputs,
            });
            let mut knobs = Vec::new();
            flatten("", &config.effective(), &mut knobs);
            StageInfo {
                id: stage.id,
                kind: stage.kind,
                doc: stage.doc,
                requires: stage.io.requires.to_vec(),
                provides: stage.io.provides.to_vec(),
                captures: stage.io.captures.to_vec(),
                config: knobs,
                config_error: built.err(),
                plugin: stage.declared().map(|declared| declared.plugin.as_str()),
                response: stage.declared().map(|declared| declared.spec.response),
            }
        })
        .collect()
}

/// Child namespaces (nested tables) become dotted keys; other values are knobs.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<KnobInfo>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, child, out);
            }
        }
        other if !prefix.is_empty() => out.push(KnobInfo {
            key: prefix.to_owned(),
            default: other.clone(),
        }),
        _ => {}
    }
}

/// Every plan, in [`plans::PLANS`] order.
pub fn describe_plans() -> Vec<PlanInfo> {
    plans::PLANS
        .iter()
        .map(|plan| {
            let (stages, stages_from) = match plan.stages {
                PlanStages::Sequence => (Vec::new(), Some(SEQUENCE_KEY)),
                PlanStages::Fixed(ids) => (ids.to_vec(), None),
            };
            PlanInfo {
                name: plan.name,
                doc: plan.doc,
                stages,
                stages_from,
            }
        })
        .collect()
}

/// The family of a stage kind id: the part before the first dot.
pub fn family(id: &str) -> &str {
    id.split_once('.').map_or(id, |(family, _)| family)
}

/// `stages` grouped by family, families in order of first appearance.
pub fn by_family(stages: &[StageInfo]) -> Vec<(&str, Vec<&StageInfo>)> {
    let mut groups: Vec<(&str, Vec<&StageInfo>)> = Vec::new();
    for stage in stages {
        let name = family(stage.id);
        match groups.iter_mut().find(|(f, _)| *f == name) {
            Some((_, members)) => members.push(stage),
            None => groups.push((name, vec![stage])),
        }
    }
    groups
}

/// A knob's default as written in config (compact JSON, which TOML reads the same for scalars
/// and arrays).
pub fn value_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `docs/stages.md`: the plans, then every stage by family with its IO and knobs.
pub fn markdown(stages: &[StageInfo], plans: &[PlanInfo]) -> String {
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };
    line("# Stages and plans");
    line("");
    line(&format!(
        "<!-- Generated by `image-project stages list --markdown`; do not edit. Regenerate with:\n     {REGENERATE} -->"
    ));
    line("");
    line("This file is generated from the stage registry and the plan table; do not edit it by hand.");
    line("Regenerate it with:");
    line("");
    line("```sh");
    line(REGENERATE);
    line("```");
    line("");
    line("`prompt.plan` selects a plan. A stage's knobs are set under");
    line("`prompt.stage_configs.defaults.\"<kind>\"` (every instance of the kind) or");
    line("`prompt.stage_configs.instances.\"<instance>\"` (one instance); a dotted knob such as");
    line("`novelty.window` is the key `window` of the table `novelty`. The defaults below are the values");
    line("the stage uses when a knob is not set; unknown keys are refused before any model call.");
    line("");
    line("## Plans");
    line("");
    line("| Plan | Stages | Description |");
    line("| --- | --- | --- |");
    for plan in plans {
        let stages = match plan.stages_from {
            Some(key) => format!("from `{key}`"),
            None => plan
                .stages
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        line(&format!(
            "| `{}` | {} | {} |",
            plan.name,
            stages,
            cell(plan.doc)
        ));
    }
    line("");
    line("## Stages");
    for (family, members) in by_family(stages) {
        line("");
        line(&format!("### `{family}`"));
        for stage in members {
            line("");
            line(&format!("#### `{}`", stage.id));
            line("");
            line(&format!("{}.", stage.doc.trim_end_matches('.')));
            line("");
            line(&format!("- Kind: {}", kind_text(stage.kind)));
            line(&format!("- Requires: {}", ids_text(&stage.requires)));
            line(&format!("- Provides: {}", ids_text(&stage.provides)));
            line(&format!("- Captures: {}", ids_text(&stage.captures)));
            line("");
            if let Some(error) = &stage.config_error {
                line(&format!(
                    "With an empty config this stage does not build: {} The knobs below are those read before that.",
                    error.replace('\n', " ").trim_end_matches('.').to_owned() + "."
                ));
                line("");
            }
            if stage.config.is_empty() {
                line("No config knobs.");
            } else {
                line("| Knob | Default |");
                line("| --- | --- |");
                for knob in &stage.config {
                    line(&format!(
                        "| `{}` | {} |",
                        knob.key,
                        code_cell(&value_text(&knob.default))
                    ));
                }
            }
        }
    }
    out
}

/// `chat`, `action`, `composite`.
pub fn kind_text(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Chat => "chat",
        StageKind::Action => "action",
        StageKind::Composite => "composite",
    }
}

fn ids_text(ids: &[&str]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.iter()
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Text safe in a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `text` as a code span in a table cell (a longer fence when it holds backticks).
fn code_cell(text: &str) -> String {
    let text = cell(text);
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pipeline::Block;
    use crate::stages::{StageDef, StageIo};

    fn knobs_stage(build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        build.config.get_float("temperature", 0.7, None, None)?;
        build
            .config
            .namespace("novelty")?
            .get_int("window", 5, None, None)?;
        build.config.get_str("needed", None, None)?;
        Err("unreachable".into())
    }

    #[test]
    fn knobs_are_read_with_an_empty_config_even_when_the_build_fails() {
        let registry = Registry::with(vec![StageDef {
            id: "t.knobs",
            kind: StageKind::Chat,
            doc: "knobs",
            io: StageIo {
                requires: &["a"],
                provides: &[],
                captures: &["b"],
            },
            build: crate::stages::Builder::Code(knobs_stage),
        }]);
        let [info] = describe_stages(&registry).try_into().unwrap();
        let knobs: Vec<(&str, &Value)> = info
            .config
            .iter()
            .map(|k| (k.key.as_str(), &k.default))
            .collect();
        assert_eq!(
            knobs,
            [("temperature", &json!(0.7)), ("novelty.window", &json!(5))]
        );
        assert_eq!(
            info.config_error.as_deref(),
            Some("missing required config key `prompt.stage_configs.resolved.\"t.knobs\".needed`")
        );
        assert_eq!((info.requires, info.captures), (vec!["a"], vec!["b"]));
    }

    #[test]
    fn plans_list_every_plan_with_its_stages() {
        let plans = describe_plans();
        assert_eq!(plans.len(), plans::PLANS.len());
        let custom = plans.iter().find(|p| p.name == "custom").unwrap();
        assert_eq!(custom.stages_from, Some("prompt.stages.sequence"));
        let direct = plans.iter().find(|p| p.name == "direct").unwrap();
        assert_eq!(direct.stages.last(), Some(&"postprompt.openai_format"));
    }

    /// `docs/stages.md` is the output of `stages list --markdown`.
    #[test]
    fn docs_stages_md_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/stages.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "failed to read `{}`: {e}\n\nregenerate it with `{REGENERATE}`",
                path.display()
            )
        });
        let rendered = markdown(&describe_stages(&Registry::builtin()), &describe_plans());
        if committed != rendered {
            let (committed_lines, rendered_lines): (Vec<&str>, Vec<&str>) =
                (committed.lines().collect(), rendered.lines().collect());
            let line = (0..committed_lines.len().max(rendered_lines.len()))
                .find(|&i| committed_lines.get(i) != rendered_lines.get(i))
                .unwrap_or(0);
            panic!(
                "`docs/stages.md` is out of date; first difference at line {}:\n  committed: {:?}\n  rendered:  {:?}\n\nregenerate it with `{REGENERATE}`",
                line + 1,
                committed_lines.get(line).copied().unwrap_or("<end of file>"),
                rendered_lines.get(line).copied().unwrap_or("<end of file>"),
            );
        }
    }
}

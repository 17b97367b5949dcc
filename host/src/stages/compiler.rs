//! Compiles a config's plan into one step tree, before any model call: plan resolution, the stage
//! registry with suffix ids, include/exclude/overrides, stage configs with unknown keys refused,
//! IO checks, capture keys and the capture stage. Reference: python-pipeline.md §1.3–1.5.
//!
//! The steps of [`compile`], in order (each error names the config key and the stage):
//! 1. resolve the plan into stage instances (`stages::plans`); instance ids must be unique;
//! 2. resolve the selectors of `prompt.stages.{include,exclude,overrides}` against the plan's
//!    instance ids (exact, or a unique dot-less suffix) and filter the plan;
//! 3. resolve `prompt.stage_configs.defaults` keys as stage kinds (unused kinds are fine) and
//!    `prompt.stage_configs.instances` keys against the stages left after filtering;
//! 4. per stage, in order: IO check against what earlier stages provide (`image_prompt` counts
//!    as provided after the stage `prompt.output.capture_stage` names); merge its config;
//!    build its block through a [`StageConfig`], refusing unread keys; stamp the block's meta;
//!    check its shape and collect its capture keys;
//! 5. refuse capture keys owned by two stages;
//! 6. apply overrides to each stage's primary draft step;
//! 7. choose and check the capture stage, and make its block capture `image_prompt`.
//!
//! It sits next to the catalogue it compiles; executing the tree is `pipeline`'s business, and
//! the `[prompt]` tables it reads (`StagesConfig`, `OutputConfig`, `StageConfigs`) are `config`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::{plans, StageBuild, StageDef};
use crate::config::key;
use crate::config::suggest::did_you_mean;
use crate::config::{OutputConfig, StageConfigs, StagesConfig};
use crate::pipeline::engine::validate_block;
use crate::pipeline::node::{Block, Node};
use crate::pipeline::stage_blocks::is_primary_draft;
use crate::pipeline::stage_config::{describe, StageConfig};

/// What the compiler needs besides the registry.
#[derive(Debug, Clone)]
pub struct PipelineInputs<'a> {
    /// `prompt.plan`.
    pub plan: &'a str,
    pub stages: &'a StagesConfig,
    pub output: &'a OutputConfig,
    pub stage_configs: &'a StageConfigs,
    /// The run seed (stages may derive generators from it at build time).
    pub seed: u64,
    /// Output keys that exist before the first stage runs.
    pub initial_outputs: Vec<String>,
    /// The run's data tables and texts.
    pub data: std::sync::Arc<crate::stages::RunData>,
}

/// A compiled plan.
#[derive(Clone)]
pub struct CompiledPipeline {
    /// The root block, named `pipeline`.
    pub root: Block,
    /// Instance ids in execution order.
    pub resolved_stages: Vec<String>,
    /// The stage whose last answer becomes `image_prompt`.
    pub capture_stage: String,
    /// `prompt_pipeline` for transcripts, plans and the runs index.
    pub metadata: Value,
}

/// Why a plan does not compile. Messages name the config key and the stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
}

/// The output key the capture stage's last answer is stored under.
pub const CAPTURE_KEY: &str = "image_prompt";

const INCLUDE: &str = "prompt.stages.include";
const EXCLUDE: &str = "prompt.stages.exclude";
const OVERRIDES: &str = "prompt.stages.overrides";
const DEFAULTS: &str = "prompt.stage_configs.defaults";
const INSTANCES: &str = "prompt.stage_configs.instances";
const CAPTURE_STAGE: &str = "prompt.output.capture_stage";

fn error(message: impl Into<String>) -> CompileError {
    CompileError {
        message: message.into(),
    }
}

/// Compiles `inputs` against `registry`.
pub fn compile(
    inputs: &PipelineInputs<'_>,
    registry: &crate::stages::Registry,
) -> Result<CompiledPipeline, CompileError> {
    // 1. The plan's stage instances.
    let plan =
        plans::resolve(inputs.plan, inputs.stages, registry).map_err(|e| error(e.message))?;
    let plan_name = plan.name;
    let plan_ids: Vec<&str> = plan.stages.iter().map(|s| s.instance_id.as_str()).collect();
    check_unique_ids(&plan_ids, plan_name)?;

    // 2. Selectors, then the filtered stage list.
    let selectors = Selectors { plan: plan_name };
    let include = selectors.resolve_all(&inputs.stages.include, &plan_ids, INCLUDE)?;
    let exclude = selectors.resolve_all(&inputs.stages.exclude, &plan_ids, EXCLUDE)?;
    let mut overrides: Vec<(String, Override)> = Vec::new();
    let mut override_sources: BTreeMap<String, &str> = BTreeMap::new();
    for (raw, value) in &inputs.stages.overrides {
        let id = selectors.resolve(raw, &plan_ids, OVERRIDES)?;
        let parsed = Override::parse(raw, value)?;
        if let Some(first) = override_sources.insert(id.clone(), raw) {
            return Err(error(format!(
                "`{OVERRIDES}` has `{first}` and `{raw}`, which both name stage `{id}`"
            )));
        }
        overrides.push((id, parsed));
    }
    let kept: Vec<&plans::PlanStage<'_>> = plan
        .stages
        .iter()
        .filter(|s| include.is_empty() || include.contains(&s.instance_id))
        .filter(|s| !exclude.contains(&s.instance_id))
        .collect();
    if kept.is_empty() {
        return Err(error(format!(
            "the stage list is empty after applying `{INCLUDE}` and `{EXCLUDE}` (plan `{plan_name}`)"
        )));
    }
    let kept_ids: Vec<&str> = kept.iter().map(|s| s.instance_id.as_str()).collect();

    // 3. Stage configs: defaults by kind, instances by (kept) instance id.
    let defaults = resolve_defaults(&inputs.stage_configs.defaults, registry)?;
    let mut instances: BTreeMap<String, (&str, Map<String, Value>)> = BTreeMap::new();
    for (raw, value) in &inputs.stage_configs.instances {
        let id = selectors.resolve(raw, &kept_ids, INSTANCES)?;
        let table = config_table(&key::child(INSTANCES, raw), value)?;
        if let Some((first, _)) = instances.insert(id.clone(), (raw, table)) {
            return Err(error(format!(
                "`{INSTANCES}` has `{first}` and `{raw}`, which both name stage `{id}`"
            )));
        }
    }

    // 4. Build each stage.
    let mut provided: BTreeSet<String> = inputs
        .initial_outputs
        .iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    // A stage after an explicitly chosen capture stage may read the final prompt (a declared
    // stage judging it). Resolved once here; a bad selector is reported in step 7, after the
    // stages' own errors.
    let explicit_capture: Option<Result<String, CompileError>> = inputs
        .output
        .capture_stage
        .as_deref()
        .map(|raw| selectors.resolve(raw, &kept_ids, CAPTURE_STAGE));
    let explicit_capture_id: Option<&str> = explicit_capture
        .as_ref()
        .and_then(|resolved| resolved.as_deref().ok());
    let mut capture_owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut blocks: Vec<Block> = Vec::with_capacity(kept.len());
    let mut stage_instances = Vec::new();
    let mut stage_io = Map::new();
    let mut stage_io_effective = Map::new();
    let mut stage_configs = Map::new();
    let mut stage_configs_effective = Map::new();
    for planned in &kept {
        let (stage, id) = (planned.stage, planned.instance_id.as_str());
        let fail =
            |message: String| error(format!("stage `{id}` (kind `{}`): {message}", stage.id));

        let missing: Vec<&str> = stage
            .io
            .requires
            .iter()
            .copied()
            .filter(|k| !provided.contains(*k))
            .collect();
        if !missing.is_empty() {
            let before: Vec<&str> = provided.iter().map(String::as_str).collect();
            return Err(fail(format!(
                "missing required outputs: {} (provided before it: {})",
                missing.join(", "),
                if before.is_empty() {
                    "none".to_owned()
                } else {
                    before.join(", ")
                }
            )));
        }

        let default_cfg = defaults.get(stage.id).cloned().unwrap_or_default();
        let (instance_source, instance_cfg) = match instances.get(id) {
            Some((raw, table)) => (Some(*raw), table.clone()),
            None => (None, Map::new()),
        };
        let merged = merge_config(&default_cfg, &instance_cfg, instance_source.unwrap_or(id))
            .map_err(fail)?;
        let mut origins = BTreeMap::new();
        let defaults_table = key::child(&key::child("prompt.stage_configs", "defaults"), stage.id);
        for key in default_cfg.keys() {
            origins.insert(key.clone(), defaults_table.clone());
        }
        if let Some(raw) = instance_source {
            let instances_table = key::child(&key::child("prompt.stage_configs", "instances"), raw);
            for key in instance_cfg.keys() {
                origins.insert(key.clone(), instances_table.clone());
            }
        }
        let mut config = StageConfig::for_stage(id, merged).with_origins(origins);
        let block = {
            let mut build = StageBuild {
                instance_id: id,
                kind: stage.id,
                config: &mut config,
                inputs,
            };
            stage.build_block(&mut build).map_err(fail)?
        };
        config.assert_consumed().map_err(|e| fail(e.message))?;
        let block = stamp_block(block, stage, id).map_err(fail)?;
        validate_block(&block, &format!("pipeline/{id}")).map_err(|e| fail(e.to_string()))?;

        let mut seen = BTreeMap::new();
        collect_capture_keys(&block, &format!("pipeline/{id}"), &mut seen).map_err(fail)?;
        for key in seen.keys() {
            let owners = capture_owners.entry(key.clone()).or_default();
            if !owners.iter().any(|o| o == id) {
                owners.push(id.to_owned());
            }
        }
        let discovered: Vec<&str> = seen.keys().map(String::as_str).collect();

        stage_instances.push(json!({"instance": id, "kind": stage.id}));
        stage_io.entry(stage.id.to_owned()).or_insert_with(|| {
            json!({"requires": stage.io.requires, "provides": stage.io.provides, "captures": stage.io.captures})
        });
        stage_io_effective.insert(
            id.to_owned(),
            json!({
                "requires": stage.io.requires,
                "provides_declared": stage.io.provides,
                "captures_declared": stage.io.captures,
                "captures_discovered": discovered,
            }),
        );
        if !default_cfg.is_empty() || !instance_cfg.is_empty() {
            let sorted = |m: &Map<String, Value>| {
                m.keys()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
            };
            stage_configs.insert(
                id.to_owned(),
                json!({"kind": stage.id, "defaults_keys": sorted(&default_cfg), "instance_keys": sorted(&instance_cfg)}),
            );
        }
        let effective = config.effective();
        if effective.as_object().is_some_and(|m| !m.is_empty()) {
            stage_configs_effective.insert(id.to_owned(), effective);
        }

        provided.extend(stage.io.provides.iter().map(|k| (*k).to_owned()));
        provided.extend(stage.io.captures.iter().map(|k| (*k).to_owned()));
        provided.extend(seen.into_keys());
        if explicit_capture_id == Some(id) {
            provided.insert(CAPTURE_KEY.to_owned());
        }
        blocks.push(block);
    }

    // 5. A capture key belongs to one stage.
    let collisions: Vec<String> = capture_owners
        .iter()
        .filter(|(_, owners)| owners.len() > 1)
        .map(|(key, owners)| {
            let mut owners = owners.clone();
            owners.sort();
            format!("{key} (stages: {})", owners.join(", "))
        })
        .collect();
    if !collisions.is_empty() {
        return Err(error(format!(
            "capture key collisions across stages: {}",
            collisions.join("; ")
        )));
    }

    // 6. Overrides, on the kept stages only.
    let mut stage_overrides = Map::new();
    for (id, parsed) in &overrides {
        let Some(block) = blocks
            .iter_mut()
            .find(|b| b.name.as_deref() == Some(id.as_str()))
        else {
            continue;
        };
        let source = key::child(OVERRIDES, override_sources[id]);
        if let Some(summary) = parsed.apply(block, id, &source)? {
            stage_overrides.insert(id.clone(), summary);
        }
        validate_block(block, &format!("pipeline/{id}"))
            .map_err(|e| error(format!("{source}: {e}")))?;
    }

    // 7. The capture stage.
    let capture_stage = match explicit_capture {
        Some(resolved) => resolved?,
        None => blocks
            .iter()
            .rev()
            .find(|b| produces_assistant_output(b))
            .and_then(|b| b.name.clone())
            .ok_or_else(|| {
                error(format!(
                    "no stage of plan `{plan_name}` produces assistant output, so there is no default capture stage\n\n\
                     set `{CAPTURE_STAGE}` to the stage whose answer is the image prompt"
                ))
            })?,
    };
    let capture_block = blocks
        .iter_mut()
        .find(|b| b.name.as_deref() == Some(capture_stage.as_str()))
        .ok_or_else(|| {
            error(format!(
                "capture stage `{capture_stage}` is not in the resolved stages"
            ))
        })?;
    if !contains_chat_step(&capture_block.nodes) {
        return Err(error(format!(
            "capture stage `{capture_stage}` has no chat step, so it cannot produce `{CAPTURE_KEY}`"
        )));
    }
    if !produces_assistant_output(capture_block) {
        return Err(error(format!(
            "capture stage `{capture_stage}` produces no assistant output (its chat steps all merge `none`)"
        )));
    }
    match capture_block.capture_key.as_deref() {
        Some(existing) if existing != CAPTURE_KEY => {
            return Err(error(format!(
                "capture stage `{capture_stage}` already captures `{existing}`, so it cannot also capture `{CAPTURE_KEY}`"
            )))
        }
        _ => capture_block.capture_key = Some(CAPTURE_KEY.to_owned()),
    }

    let root = Block::new(
        crate::pipeline::engine::ROOT_NAME,
        blocks.into_iter().map(Node::Block).collect(),
    );
    collect_capture_keys(
        &root,
        crate::pipeline::engine::ROOT_NAME,
        &mut BTreeMap::new(),
    )
    .map_err(error)?;

    let resolved_stages: Vec<String> = kept_ids.iter().map(|id| (*id).to_owned()).collect();
    let metadata = json!({
        "plan": plan_name,
        "requested_plan": inputs.plan,
        "stages_include": include,
        "stages_exclude": exclude,
        "capture_stage": capture_stage,
        "resolved_stages": resolved_stages,
        "stage_overrides": stage_overrides,
        "stage_instances": stage_instances,
        "stage_io": stage_io,
        "stage_io_effective": stage_io_effective,
        "stage_configs": stage_configs,
        "stage_configs_effective": stage_configs_effective,
    });
    Ok(CompiledPipeline {
        root,
        resolved_stages,
        capture_stage,
        metadata,
    })
}

fn check_unique_ids(ids: &[&str], plan: &str) -> Result<(), CompileError> {
    for (index, id) in ids.iter().enumerate() {
        if ids[..index].contains(id) {
            let mut message = format!("duplicate stage id `{id}` in prompt plan `{plan}`");
            if plan == "custom" {
                message.push_str(&format!(
                    "\n\ngive one of them a name of its own: `{{ stage = \"{id}\", name = \"{id}_2\" }}` in `prompt.stages.sequence`"
                ));
            }
            return Err(error(message));
        }
    }
    Ok(())
}

/// Resolves stage selectors against instance ids: an exact id, or a dot-less suffix matching
/// exactly one `*.<selector>`.
struct Selectors<'p> {
    plan: &'p str,
}

impl Selectors<'_> {
    fn resolve<'a>(
        &self,
        raw: &str,
        available: &[&'a str],
        path: &str,
    ) -> Result<String, CompileError> {
        let id = raw.trim();
        if id.is_empty() {
            return Err(error(format!("`{path}` must not name an empty stage id")));
        }
        if available.contains(&id) {
            return Ok(id.to_owned());
        }
        if !id.contains('.') {
            let mut matches: Vec<&str> = available
                .iter()
                .copied()
                .filter(|a| is_suffix(a, id))
                .collect();
            matches.sort_unstable();
            match matches.as_slice() {
                [one] => return Ok((*one).to_owned()),
                [] => {}
                several => {
                    return Err(error(format!(
                        "ambiguous stage id `{id}` in `{path}` (matches: {})\n\nuse the full id",
                        several.join(", ")
                    )))
                }
            }
        }
        let mut message = format!(
            "unknown stage id `{id}` in `{path}` (plan `{}`; available: {})",
            self.plan,
            if available.is_empty() {
                "none".to_owned()
            } else {
                available.join(", ")
            }
        );
        let tail = |full: &'a str| full.split_once('.').map_or(full, |(_, rest)| rest);
        let suggestion = did_you_mean(id, available.iter().copied()).or_else(|| {
            let found = did_you_mean(id, available.iter().map(|a| tail(a)))?;
            available.iter().copied().find(|a| tail(a) == found)
        });
        if let Some(suggestion) = suggestion {
            message.push_str(&format!("\n\ndid you mean `{suggestion}`?"));
        }
        Err(error(message))
    }

    fn resolve_all(
        &self,
        raws: &[String],
        available: &[&str],
        path: &str,
    ) -> Result<Vec<String>, CompileError> {
        raws.iter()
            .map(|raw| self.resolve(raw, available, path))
            .collect()
    }
}

fn is_suffix(id: &str, suffix: &str) -> bool {
    id.strip_suffix(suffix)
        .is_some_and(|head| head.ends_with('.'))
}

fn config_table(path: &str, value: &Value) -> Result<Map<String, Value>, CompileError> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        other => Err(error(format!(
            "{path} must be a table (got {})",
            describe(other)
        ))),
    }
}

/// `prompt.stage_configs.defaults` by resolved kind id. Defaults for kinds this plan does not
/// use are fine (one config can serve every plan); a key that names no kind is an error.
fn resolve_defaults(
    raw: &Map<String, Value>,
    registry: &crate::stages::Registry,
) -> Result<BTreeMap<&'static str, Map<String, Value>>, CompileError> {
    let mut out: BTreeMap<&'static str, Map<String, Value>> = BTreeMap::new();
    let mut sources: BTreeMap<&'static str, &str> = BTreeMap::new();
    for (raw_kind, value) in raw {
        let path = key::child(DEFAULTS, raw_kind);
        let kind = match registry.resolve(raw_kind) {
            Ok(stage) => stage.id,
            Err(e) => {
                return Err(error(format!(
                    "{path} does not name a stage kind: {}",
                    e.message
                )))
            }
        };
        let table = config_table(&path, value)?;
        if let Some(first) = sources.insert(kind, raw_kind) {
            return Err(error(format!(
                "`{DEFAULTS}` has `{first}` and `{raw_kind}`, which both name stage kind `{kind}`"
            )));
        }
        out.insert(kind, table);
    }
    Ok(out)
}

/// `defaults[kind]` with `instances[id]` merged over it (tables merge, the rest replaces).
fn merge_config(
    defaults: &Map<String, Value>,
    instance: &Map<String, Value>,
    instance_key: &str,
) -> Result<Map<String, Value>, String> {
    let merged = plugin_api::merge::merged(&Value::Object(defaults.clone()), &Value::Object(instance.clone()))
        .map_err(|e| {
            let mut path = key::child(INSTANCES, instance_key);
            if !e.path.is_empty() {
                path.push('.');
                path.push_str(&e.path);
            }
            format!("cannot merge `{path}` over the stage's defaults: the default is {} but the instance value is {}", e.base, e.overlay)
        })?;
    match merged {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

/// Checks the built block's name and stamps its meta with `stage_kind`, `stage_instance` and
/// `doc` (a builder may set the first two only to the same values).
fn stamp_block(mut block: Block, stage: &StageDef, id: &str) -> Result<Block, String> {
    if block.name.as_deref() != Some(id) {
        return Err(format!(
            "the stage built a block named {}, but it must be named after its instance `{id}`",
            block
                .name
                .as_deref()
                .map_or("nothing".to_owned(), |n| format!("`{n}`"))
        ));
    }
    for (meta_key, expected) in [("stage_kind", stage.id), ("stage_instance", id)] {
        match block.meta.get(meta_key) {
            None => {
                block
                    .meta
                    .insert(meta_key.to_owned(), Value::String(expected.to_owned()));
            }
            Some(Value::String(s)) if s == expected => {}
            Some(other) => {
                return Err(format!(
                    "the stage's block sets meta `{meta_key}` to {other}, expected \"{expected}\""
                ))
            }
        }
    }
    if !block.meta.contains_key("doc") && !stage.doc.is_empty() {
        block
            .meta
            .insert("doc".to_owned(), Value::String(stage.doc.to_owned()));
    }
    Ok(block)
}

/// Collects the capture keys of `block` and everything under it, keyed to their paths; a key
/// met twice is an error.
fn collect_capture_keys(
    block: &Block,
    path: &str,
    seen: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    fn note(
        key: Option<&str>,
        path: &str,
        seen: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        if let Some(key) = key {
            if let Some(first) = seen.insert(key.to_owned(), path.to_owned()) {
                return Err(format!(
                    "duplicate capture key `{key}` (at {first} and {path})"
                ));
            }
        }
        Ok(())
    }
    note(block.capture_key.as_deref(), path, seen)?;
    for (index, child) in block.nodes.iter().enumerate() {
        let child_path = format!("{path}/{}", child.effective_name(index));
        match child {
            Node::Block(inner) => collect_capture_keys(inner, &child_path, seen)?,
            other => note(other.capture_key(), &child_path, seen)?,
        }
    }
    Ok(())
}

/// Whether some child merging into `block` is a chat step, or a block that itself produces
/// output; the block's own merge mode does not count.
fn produces_assistant_output(block: &Block) -> bool {
    block.nodes.iter().any(|child| {
        child.merge() != crate::pipeline::MergeMode::None
            && match child {
                Node::Chat(_) => true,
                Node::Action(_) => false,
                Node::Block(inner) => produces_assistant_output(inner),
            }
    })
}

fn contains_chat_step(nodes: &[Node]) -> bool {
    nodes.iter().any(|node| match node {
        Node::Chat(_) => true,
        Node::Action(_) => false,
        Node::Block(inner) => contains_chat_step(&inner.nodes),
    })
}

/// One entry of `prompt.stages.overrides`: `{temperature?, params?}`.
struct Override {
    temperature: Option<f64>,
    params: Option<Map<String, Value>>,
}

impl Override {
    const KEYS: [&'static str; 2] = ["temperature", "params"];

    fn parse(raw_key: &str, value: &Value) -> Result<Override, CompileError> {
        let path = key::child(OVERRIDES, raw_key);
        let Value::Object(table) = value else {
            return Err(error(format!(
                "{path} must be a table (got {})",
                describe(value)
            )));
        };
        if let Some(unknown) = table.keys().find(|k| !Self::KEYS.contains(&k.as_str())) {
            let mut message = format!(
                "unknown key `{unknown}` in `{path}` (known: {})",
                Self::KEYS.join(", ")
            );
            if let Some(suggestion) = did_you_mean(unknown, Self::KEYS) {
                message.push_str(&format!("\n\ndid you mean `{suggestion}`?"));
            }
            return Err(error(message));
        }
        let temperature = match table.get("temperature") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(other) => {
                return Err(error(format!(
                    "{}.temperature must be a number (got {})",
                    path,
                    describe(other)
                )))
            }
        };
        let params = match table.get("params") {
            None | Some(Value::Null) => None,
            Some(Value::Object(params)) => {
                if params.contains_key("temperature") {
                    return Err(error(format!(
                        "{path}.params must not contain `temperature`\n\nset `{path}.temperature` instead"
                    )));
                }
                Some(params.clone())
            }
            Some(other) => {
                return Err(error(format!(
                    "{path}.params must be a table (got {})",
                    describe(other)
                )))
            }
        };
        Ok(Override {
            temperature,
            params,
        })
    }

    /// Applies the override to the stage's single primary draft step; the summary of what
    /// changed, `None` when the override is empty.
    fn apply(
        &self,
        block: &mut Block,
        id: &str,
        source: &str,
    ) -> Result<Option<Value>, CompileError> {
        let count = count_primary_drafts(&block.nodes);
        if count == 0 {
            return Err(error(format!(
                "{source} targets stage `{id}`, which has no primary draft step to override"
            )));
        }
        if count > 1 {
            return Err(error(format!(
                "{source} is ambiguous: stage `{id}` has {count} primary draft steps"
            )));
        }
        let mut summary = Map::new();
        if let Some(t) = self.temperature {
            summary.insert("temperature".to_owned(), json!(t));
        }
        if let Some(p) = &self.params {
            summary.insert("params".to_owned(), Value::Object(p.clone()));
        }
        if summary.is_empty() {
            return Ok(None);
        }
        apply_to_primary(&mut block.nodes, self);
        Ok(Some(Value::Object(summary)))
    }
}

fn count_primary_drafts(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|node| match node {
            Node::Block(inner) => count_primary_drafts(&inner.nodes),
            other => usize::from(is_primary_draft(other)),
        })
        .sum()
}

fn apply_to_primary(nodes: &mut [Node], change: &Override) {
    for node in nodes {
        if is_primary_draft(node) {
            if let Node::Chat(step) = node {
                if let Some(t) = change.temperature {
                    step.temperature = t;
                }
                if let Some(params) = &change.params {
                    step.params
                        .extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        } else if let Node::Block(inner) = node {
            apply_to_primary(&mut inner.nodes, change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::ResponseShape;
    use crate::pipeline::node::{ChatStep, MergeMode, PromptFn};
    use crate::pipeline::stage_blocks::{action_stage_block, chat_stage_block};
    use crate::stages::{Registry, StageIo, StageKind};
    use std::sync::Arc;

    fn prompt(text: &'static str) -> PromptFn {
        Arc::new(move |_| Ok(text.to_owned()))
    }

    fn token(b: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        Ok(action_stage_block(
            b.instance_id,
            Arc::new(|_| Ok(json!("T"))),
            Some("token"),
        ))
    }

    fn act(b: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        Ok(action_stage_block(
            b.instance_id,
            Arc::new(|_| Ok(Value::Null)),
            None,
        ))
    }

    /// A chat stage with two knobs, `temperature` and `mode`.
    fn draft(b: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        let t = b
            .config
            .get_float("temperature", 0.7, Some(0.0), Some(2.0))
            .map_err(|e| e.message)?;
        b.config
            .get_str("mode", Some("plain"), Some(&["plain", "fancy"]))
            .map_err(|e| e.message)?;
        Ok(chat_stage_block(
            b.instance_id,
            ChatStep::new("x", t, ResponseShape::Text, prompt("P")),
        ))
    }

    fn plain_chat(b: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        let mut step = ChatStep::new("x", 0.5, ResponseShape::Text, prompt("P"));
        match b.kind {
            "t.silent" => step.merge = MergeMode::None,
            "t.captures_k" => step.capture_key = Some("k".into()),
            _ => {}
        }
        let mut block = chat_stage_block(b.instance_id, step);
        if b.kind == "t.image" {
            block.capture_key = Some("other".into());
        }
        Ok(block)
    }

    fn composite(b: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        let draft = |key: Option<&str>| {
            let mut step = ChatStep::new("draft", 0.5, ResponseShape::Text, prompt("P"));
            step.meta.insert("role".into(), json!("primary"));
            step.capture_key = key.map(str::to_owned);
            Node::Chat(step)
        };
        let nodes = match b.kind {
            "t.dup_capture" => vec![
                draft(Some("k")),
                Node::Block(Block::new("inner", vec![draft(Some("k"))])),
            ],
            _ => vec![
                draft(None),
                Node::Block(Block::new("inner", vec![draft(None)])),
            ],
        };
        Ok(Block::new(b.instance_id, nodes))
    }

    fn bad_name(_: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        Ok(Block::new("wrong", vec![]))
    }

    fn fails(_: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        Err("the builder said no".into())
    }

    fn def(
        id: &'static str,
        io: StageIo,
        build: fn(&mut StageBuild<'_, '_>) -> Result<Block, String>,
    ) -> StageDef {
        StageDef {
            id,
            kind: StageKind::Chat,
            doc: "A test stage",
            io,
            build: crate::stages::Builder::Code(build),
        }
    }

    const NO_IO: StageIo = StageIo {
        requires: &[],
        provides: &[],
        captures: &[],
    };

    fn registry() -> Registry {
        Registry::with(vec![
            def(
                "t.token",
                StageIo {
                    requires: &[],
                    provides: &[],
                    captures: &["token"],
                },
                token,
            ),
            def(
                "t.draft",
                StageIo {
                    requires: &["token"],
                    provides: &["drafted"],
                    captures: &[],
                },
                draft,
            ),
            def("u.draft", NO_IO, draft),
            def("t.final", NO_IO, plain_chat),
            def("t.silent", NO_IO, plain_chat),
            def("t.captures_k", NO_IO, plain_chat),
            def("t.image", NO_IO, plain_chat),
            def("t.act", NO_IO, act),
            def("t.bad_name", NO_IO, bad_name),
            def("t.fails", NO_IO, fails),
            def("t.dup_capture", NO_IO, composite),
            def("t.two_drafts", NO_IO, composite),
            def(
                "t.reads_prompt",
                StageIo {
                    requires: &[CAPTURE_KEY],
                    provides: &[],
                    captures: &[],
                },
                plain_chat,
            ),
        ])
    }

    /// Compiles plan `custom` from JSON spellings of `prompt.stages`, `prompt.output` and
    /// `prompt.stage_configs`.
    fn compile_json(
        stages: Value,
        output: Value,
        configs: Value,
    ) -> Result<CompiledPipeline, String> {
        let stages: StagesConfig = serde_json::from_value(stages).expect("test stages parse");
        let output: OutputConfig = serde_json::from_value(output).expect("test output parses");
        let configs: StageConfigs = serde_json::from_value(configs).expect("test configs parse");
        let inputs = PipelineInputs {
            plan: "Custom",
            stages: &stages,
            output: &output,
            stage_configs: &configs,
            seed: 7,
            initial_outputs: vec![],
            data: Default::default(),
        };
        compile(&inputs, &registry()).map_err(|e| e.message)
    }

    fn seq(items: Value) -> Result<CompiledPipeline, String> {
        compile_json(json!({"sequence": items}), json!({}), json!({}))
    }

    fn err(result: Result<CompiledPipeline, String>) -> String {
        match result {
            Ok(compiled) => panic!("expected an error, compiled {:?}", compiled.resolved_stages),
            Err(message) => message,
        }
    }

    fn stage<'c>(compiled: &'c CompiledPipeline, id: &str) -> &'c Block {
        compiled
            .root
            .nodes
            .iter()
            .find_map(|n| match n {
                Node::Block(b) if b.name.as_deref() == Some(id) => Some(b),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no stage {id}"))
    }

    fn draft_step(block: &Block) -> &ChatStep {
        match &block.nodes[0] {
            Node::Chat(step) => step,
            _ => panic!("expected a chat step"),
        }
    }

    #[test]
    fn compiles_a_plan_into_stage_blocks_with_metadata() {
        let compiled = compile_json(
            json!({"sequence": ["t.token", "t.draft", {"stage": "final", "name": "closing"}]}),
            json!({}),
            json!({"defaults": {"t.draft": {"mode": "fancy"}, "t.final": {}}}),
        )
        .unwrap();
        assert_eq!(compiled.resolved_stages, ["t.token", "t.draft", "closing"]);
        assert_eq!(compiled.capture_stage, "closing");
        assert_eq!(compiled.root.name.as_deref(), Some("pipeline"));
        assert_eq!(compiled.root.merge, MergeMode::AllMessages);
        let closing = stage(&compiled, "closing");
        assert_eq!(closing.capture_key.as_deref(), Some("image_prompt"));
        assert_eq!(
            Value::Object(closing.meta.clone()),
            json!({"stage_kind": "t.final", "stage_instance": "closing", "doc": "A test stage"})
        );
        assert_eq!(stage(&compiled, "t.draft").capture_key, None);
        assert_eq!(
            compiled.metadata,
            json!({
                "plan": "custom",
                "requested_plan": "Custom",
                "stages_include": [],
                "stages_exclude": [],
                "capture_stage": "closing",
                "resolved_stages": ["t.token", "t.draft", "closing"],
                "stage_overrides": {},
                "stage_instances": [
                    {"instance": "t.token", "kind": "t.token"},
                    {"instance": "t.draft", "kind": "t.draft"},
                    {"instance": "closing", "kind": "t.final"},
                ],
                "stage_io": {
                    "t.token": {"requires": [], "provides": [], "captures": ["token"]},
                    "t.draft": {"requires": ["token"], "provides": ["drafted"], "captures": []},
                    "t.final": {"requires": [], "provides": [], "captures": []},
                },
                "stage_io_effective": {
                    "t.token": {"requires": [], "provides_declared": [], "captures_declared": ["token"], "captures_discovered": ["token"]},
                    "t.draft": {"requires": ["token"], "provides_declared": ["drafted"], "captures_declared": [], "captures_discovered": []},
                    "closing": {"requires": [], "provides_declared": [], "captures_declared": [], "captures_discovered": []},
                },
                "stage_configs": {
                    "t.draft": {"kind": "t.draft", "defaults_keys": ["mode"], "instance_keys": []},
                },
                "stage_configs_effective": {
                    "t.draft": {"temperature": 0.7, "mode": "fancy"},
                },
            })
        );
    }

    #[test]
    fn instance_ids_must_be_unique() {
        assert_eq!(
            err(seq(json!(["t.token", "t.final", {"stage": "t.token", "name": "t.final"}]))),
            "duplicate stage id `t.final` in prompt plan `custom`\n\ngive one of them a name of its own: \
             `{ stage = \"t.final\", name = \"t.final_2\" }` in `prompt.stages.sequence`"
        );
    }

    #[test]
    fn plan_errors_pass_through() {
        assert_eq!(
            err(seq(json!([]))).lines().next(),
            Some("prompt.plan = \"custom\" requires prompt.stages.sequence")
        );
        assert!(err(seq(json!(["t.nope"]))).starts_with(
            "prompt.stages.sequence[0] = \"t.nope\" is invalid: unknown stage kind `t.nope`"
        ));
    }

    #[test]
    fn include_and_exclude_filter_in_plan_order() {
        let compiled = compile_json(
            json!({"sequence": ["t.token", "t.draft", "t.final"], "include": ["final", "t.token"]}),
            json!({}),
            json!({}),
        )
        .unwrap();
        assert_eq!(compiled.resolved_stages, ["t.token", "t.final"]);
        assert_eq!(
            compiled.metadata["stages_include"],
            json!(["t.final", "t.token"])
        );

        let compiled = compile_json(
            json!({"sequence": ["t.token", "t.draft", "t.final"], "exclude": ["final"]}),
            json!({}),
            json!({}),
        )
        .unwrap();
        assert_eq!(compiled.resolved_stages, ["t.token", "t.draft"]);
        assert_eq!(compiled.capture_stage, "t.draft");

        assert_eq!(
            err(compile_json(json!({"sequence": ["t.token", "t.final"], "include": ["token"], "exclude": ["token"]}), json!({}), json!({}))),
            "the stage list is empty after applying `prompt.stages.include` and `prompt.stages.exclude` (plan `custom`)"
        );
    }

    #[test]
    fn selectors_must_name_one_plan_stage() {
        let plan = json!(["t.token", "t.draft", "u.draft", "t.final"]);
        assert_eq!(
            err(compile_json(json!({"sequence": plan, "include": ["t.finl"]}), json!({}), json!({}))),
            "unknown stage id `t.finl` in `prompt.stages.include` (plan `custom`; available: t.token, t.draft, u.draft, t.final)\n\n\
             did you mean `t.final`?"
        );
        assert_eq!(
            err(compile_json(json!({"sequence": plan, "exclude": ["draft"]}), json!({}), json!({}))),
            "ambiguous stage id `draft` in `prompt.stages.exclude` (matches: t.draft, u.draft)\n\nuse the full id"
        );
        assert_eq!(
            err(compile_json(json!({"sequence": plan, "overrides": {"nothing": {}}}), json!({}), json!({}))),
            "unknown stage id `nothing` in `prompt.stages.overrides` (plan `custom`; available: t.token, t.draft, u.draft, t.final)"
        );
        // A dotted selector is never a suffix.
        assert!(err(compile_json(
            json!({"sequence": plan, "include": ["x.final"]}),
            json!({}),
            json!({})
        ))
        .starts_with("unknown stage id `x.final` in `prompt.stages.include`"));
        assert_eq!(
            err(compile_json(
                json!({"sequence": plan, "include": [" "]}),
                json!({}),
                json!({})
            )),
            "`prompt.stages.include` must not name an empty stage id"
        );
    }

    #[test]
    fn overrides_change_the_primary_draft_step() {
        let compiled = compile_json(
            json!({"sequence": ["t.token", "t.draft", "t.final"],
                   "overrides": {"draft": {"temperature": 1, "params": {"model": "big", "max_tokens": 9}}, "t.final": {}}}),
            json!({}),
            json!({}),
        )
        .unwrap();
        let step = draft_step(stage(&compiled, "t.draft"));
        assert_eq!(step.name.as_deref(), Some("draft"));
        assert_eq!(step.temperature, 1.0);
        assert_eq!(
            Value::Object(step.params.clone()),
            json!({"model": "big", "max_tokens": 9})
        );
        assert_eq!(draft_step(stage(&compiled, "t.final")).temperature, 0.5);
        assert_eq!(
            compiled.metadata["stage_overrides"],
            json!({"t.draft": {"temperature": 1.0, "params": {"model": "big", "max_tokens": 9}}})
        );

        // An override of a stage that was filtered out is dropped.
        let compiled = compile_json(
            json!({"sequence": ["t.token", "t.final"], "exclude": ["t.token"], "overrides": {"token": {"temperature": 0.1}}}),
            json!({}),
            json!({}),
        )
        .unwrap();
        assert_eq!(compiled.metadata["stage_overrides"], json!({}));
    }

    #[test]
    fn override_errors_name_the_key() {
        let with = |overrides: Value| {
            compile_json(
                json!({"sequence": ["t.token", "t.final", "t.two_drafts"], "overrides": overrides}),
                json!({}),
                json!({}),
            )
        };
        assert_eq!(
            err(with(json!({"token": {"temperature": 0.2}}))),
            "prompt.stages.overrides.token targets stage `t.token`, which has no primary draft step to override"
        );
        assert_eq!(
            err(with(json!({"t.two_drafts": {"temperature": 0.2}}))),
            "prompt.stages.overrides.\"t.two_drafts\" is ambiguous: stage `t.two_drafts` has 2 primary draft steps"
        );
        assert_eq!(
            err(with(json!({"final": {"temprature": 0.2}}))),
            "unknown key `temprature` in `prompt.stages.overrides.final` (known: temperature, params)\n\ndid you mean `temperature`?"
        );
        assert_eq!(
            err(with(json!({"final": {"params": {"temperature": 0.2}}}))),
            "prompt.stages.overrides.final.params must not contain `temperature`\n\nset `prompt.stages.overrides.final.temperature` instead"
        );
        assert_eq!(
            err(with(json!({"final": {"temperature": "hot"}}))),
            "prompt.stages.overrides.final.temperature must be a number (got a string)"
        );
        assert_eq!(
            err(with(json!({"final": 3}))),
            "prompt.stages.overrides.final must be a table (got an integer)"
        );
        assert_eq!(
            err(with(json!({"final": {"params": {"model": 5}}}))),
            "prompt.stages.overrides.final: step `pipeline/t.final/draft` failed: params.model must be a string (got an integer)"
        );
        assert_eq!(
            err(with(json!({"final": {}, "t.final": {}}))),
            "`prompt.stages.overrides` has `final` and `t.final`, which both name stage `t.final`"
        );
    }

    #[test]
    fn defaults_are_keyed_by_kind_and_instances_by_stage() {
        let compiled = compile_json(
            json!({"sequence": ["t.token", "t.draft", {"stage": "t.draft", "name": "again"}, "t.final"]}),
            json!({}),
            json!({"defaults": {"t.draft": {"temperature": 0.3, "mode": "fancy"}, "silent": {"unused": true}},
                   "instances": {"again": {"temperature": 0.9}}}),
        )
        .unwrap();
        assert_eq!(draft_step(stage(&compiled, "t.draft")).temperature, 0.3);
        assert_eq!(draft_step(stage(&compiled, "again")).temperature, 0.9);
        assert_eq!(
            compiled.metadata["stage_configs_effective"],
            json!({"t.draft": {"temperature": 0.3, "mode": "fancy"}, "again": {"temperature": 0.9, "mode": "fancy"}})
        );
        assert_eq!(
            compiled.metadata["stage_configs"]["again"],
            json!({"kind": "t.draft", "defaults_keys": ["mode", "temperature"], "instance_keys": ["temperature"]})
        );
    }

    #[test]
    fn stage_config_keys_must_resolve() {
        let plan = json!({"sequence": ["t.token", "t.draft", "t.final"], "exclude": ["final"]});
        assert_eq!(
            err(compile_json(plan.clone(), json!({}), json!({"defaults": {"t.drat": {}}}))),
            "prompt.stage_configs.defaults.\"t.drat\" does not name a stage kind: unknown stage kind `t.drat` (available: \
             t.act, t.bad_name, t.captures_k, t.draft, t.dup_capture, t.fails, t.final, t.image, t.reads_prompt, t.silent, t.token, \
             t.two_drafts, u.draft)\n\ndid you mean `t.draft`?"
        );
        assert!(err(compile_json(plan.clone(), json!({}), json!({"defaults": {"draft": {}}})))
            .starts_with("prompt.stage_configs.defaults.draft does not name a stage kind: ambiguous stage kind `draft`"));
        assert_eq!(
            err(compile_json(
                plan.clone(),
                json!({}),
                json!({"defaults": {"t.draft": 1}})
            )),
            "prompt.stage_configs.defaults.\"t.draft\" must be a table (got an integer)"
        );
        assert_eq!(
            err(compile_json(plan.clone(), json!({}), json!({"defaults": {"t.final": {}, "final": {}}}))),
            "`prompt.stage_configs.defaults` has `t.final` and `final`, which both name stage kind `t.final`"
        );
        // Instances resolve against the stages left after include/exclude.
        assert_eq!(
            err(compile_json(plan.clone(), json!({}), json!({"instances": {"final": {"x": 1}}}))),
            "unknown stage id `final` in `prompt.stage_configs.instances` (plan `custom`; available: t.token, t.draft)"
        );
        assert_eq!(
            err(compile_json(
                plan,
                json!({}),
                json!({"instances": {"draft": "x"}})
            )),
            "prompt.stage_configs.instances.draft must be a table (got a string)"
        );
    }

    #[test]
    fn stage_config_errors_are_wrapped_with_the_stage() {
        let plan = json!({"sequence": ["t.token", "t.draft"]});
        assert_eq!(
            err(compile_json(plan.clone(), json!({}), json!({"instances": {"t.draft": {"temperature": 0.5, "bogus": 1}}}))),
            "stage `t.draft` (kind `t.draft`): unknown config key \
             `prompt.stage_configs.instances.\"t.draft\".bogus` (stage `t.draft`; known: mode, temperature)"
        );
        assert_eq!(
            err(compile_json(plan.clone(), json!({}), json!({"defaults": {"t.draft": {"temperature": "hot"}}}))),
            "stage `t.draft` (kind `t.draft`): prompt.stage_configs.defaults.\"t.draft\".temperature must be a number (got a string)"
        );
        assert_eq!(
            err(compile_json(plan, json!({}), json!({"defaults": {"t.draft": {"mode": {"a": 1}}}, "instances": {"draft": {"mode": "x"}}}))),
            "stage `t.draft` (kind `t.draft`): cannot merge `prompt.stage_configs.instances.draft.mode` over the stage's \
             defaults: the default is table but the instance value is string"
        );
    }

    #[test]
    fn builder_failures_are_wrapped_with_the_stage() {
        assert_eq!(
            err(seq(json!(["t.fails"]))),
            "stage `t.fails` (kind `t.fails`): the builder said no"
        );
        assert_eq!(
            err(seq(json!([{"stage": "t.bad_name", "name": "mine"}]))),
            "stage `mine` (kind `t.bad_name`): the stage built a block named `wrong`, but it must be named after its instance `mine`"
        );
    }

    #[test]
    fn required_outputs_must_come_first() {
        assert_eq!(
            err(seq(json!(["t.draft", "t.token"]))),
            "stage `t.draft` (kind `t.draft`): missing required outputs: token (provided before it: none)"
        );
        let stages: StagesConfig =
            serde_json::from_value(json!({"sequence": ["t.draft"]})).unwrap();
        let inputs = PipelineInputs {
            plan: "custom",
            stages: &stages,
            output: &OutputConfig::default(),
            stage_configs: &StageConfigs::default(),
            seed: 1,
            initial_outputs: vec!["token".into()],
            data: Default::default(),
        };
        assert_eq!(
            compile(&inputs, &registry()).unwrap().resolved_stages,
            ["t.draft"]
        );
    }

    #[test]
    fn the_final_prompt_is_provided_after_the_chosen_capture_stage() {
        let sequence = json!({"sequence": ["t.final", "t.reads_prompt"]});
        let chosen = compile_json(
            sequence.clone(),
            json!({"capture_stage": "t.final"}),
            json!({}),
        )
        .unwrap();
        assert_eq!(chosen.capture_stage, "t.final");
        assert_eq!(
            err(compile_json(sequence, json!({}), json!({}))),
            "stage `t.reads_prompt` (kind `t.reads_prompt`): missing required outputs: image_prompt (provided before it: none)"
        );
        assert!(err(compile_json(
            json!({"sequence": ["t.reads_prompt", "t.final"]}),
            json!({"capture_stage": "t.final"}),
            json!({}),
        ))
        .contains("missing required outputs: image_prompt"));
    }

    #[test]
    fn capture_keys_belong_to_one_step_and_one_stage() {
        assert_eq!(
            err(seq(json!(["t.dup_capture"]))),
            "stage `t.dup_capture` (kind `t.dup_capture`): duplicate capture key `k` \
             (at pipeline/t.dup_capture/draft and pipeline/t.dup_capture/inner/draft)"
        );
        assert_eq!(
            err(seq(
                json!(["t.captures_k", {"stage": "t.captures_k", "name": "b"}, {"stage": "t.captures_k", "name": "a"}])
            )),
            "capture key collisions across stages: k (stages: a, b, t.captures_k)"
        );
    }

    #[test]
    fn default_capture_stage_is_the_last_that_answers() {
        let compiled = seq(json!(["t.token", "t.draft", "t.silent", "t.act"])).unwrap();
        assert_eq!(compiled.capture_stage, "t.draft");
        assert_eq!(
            stage(&compiled, "t.draft").capture_key.as_deref(),
            Some("image_prompt")
        );
        assert_eq!(
            err(seq(json!(["t.token", "t.silent"]))),
            "no stage of plan `custom` produces assistant output, so there is no default capture stage\n\n\
             set `prompt.output.capture_stage` to the stage whose answer is the image prompt"
        );
    }

    #[test]
    fn explicit_capture_stage_is_checked() {
        let with = |capture: &str| {
            compile_json(
                json!({"sequence": ["t.token", "t.draft", "t.silent", "t.image", "t.final"]}),
                json!({"capture_stage": capture}),
                json!({}),
            )
        };
        let compiled = with("draft").unwrap();
        assert_eq!(compiled.capture_stage, "t.draft");
        assert_eq!(compiled.metadata["capture_stage"], json!("t.draft"));
        assert_eq!(stage(&compiled, "t.final").capture_key, None);
        assert_eq!(
            err(with("t.nope")),
            "unknown stage id `t.nope` in `prompt.output.capture_stage` (plan `custom`; available: \
             t.token, t.draft, t.silent, t.image, t.final)"
        );
        assert_eq!(
            err(with("token")),
            "capture stage `t.token` has no chat step, so it cannot produce `image_prompt`"
        );
        assert_eq!(
            err(with("silent")),
            "capture stage `t.silent` produces no assistant output (its chat steps all merge `none`)"
        );
        assert_eq!(
            err(with("image")),
            "capture stage `t.image` already captures `other`, so it cannot also capture `image_prompt`"
        );
    }

    #[test]
    fn the_image_prompt_key_is_owned_by_the_capture_stage() {
        fn captures_image_prompt(b: &mut StageBuild<'_, '_>) -> Result<Block, String> {
            let mut step = ChatStep::new("x", 0.5, ResponseShape::Text, prompt("P"));
            step.capture_key = Some(CAPTURE_KEY.into());
            Ok(chat_stage_block(b.instance_id, step))
        }
        let registry = Registry::with(vec![def("t.self", NO_IO, captures_image_prompt)]);
        let stages: StagesConfig = serde_json::from_value(json!({"sequence": ["t.self"]})).unwrap();
        let inputs = PipelineInputs {
            plan: "custom",
            stages: &stages,
            output: &OutputConfig::default(),
            stage_configs: &StageConfigs::default(),
            seed: 1,
            initial_outputs: vec![],
            data: Default::default(),
        };
        assert_eq!(
            compile(&inputs, &registry).err().map(|e| e.message).as_deref(),
            Some("duplicate capture key `image_prompt` (at pipeline/t.self and pipeline/t.self/draft)")
        );
    }
}

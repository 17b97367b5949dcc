//! The stage catalogue: every stage the pipeline can run, as small values in one registry (id,
//! kind, doc, IO, builder), one file per stage or small family, and the named plans (ordered
//! stage lists). Prompt text lives in `prompts/`, not here.
//!
//! Stages are grouped by family below; the order of [`catalogue`] is the order of `stages list`.
//! A plugin's declared stages (`declared`) join the built-in ones in the registry of that
//! plugin's runs only.

mod ab;
pub mod blackbox;
pub mod blackbox_refine;
pub mod compiler;
mod data;
pub mod declared;
pub mod describe;
mod direct;
pub mod keys;
pub mod plans;
mod postprompt;
pub(crate) mod preprompt;
mod profile_source;
mod registry;
mod standard;

pub use compiler::{compile, CompileError, CompiledPipeline, PipelineInputs, CAPTURE_KEY};
pub use data::RunData;
pub use registry::{Registry, ResolveError, ResolveErrorKind};

use crate::pipeline::{Block, StageConfig};

/// How a stage is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// One primary chat step named `draft`.
    Chat,
    /// One action step named `action`.
    Action,
    /// A block of its own design.
    Composite,
}

/// What a stage reads and writes in the run's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StageIo {
    /// Outputs that must exist before the stage runs.
    pub requires: &'static [&'static str],
    /// Outputs the stage sets by code.
    pub provides: &'static [&'static str],
    /// Outputs the stage sets through capture keys.
    pub captures: &'static [&'static str],
}

/// What a stage's builder gets.
pub struct StageBuild<'a, 'b> {
    /// The instance id; the built block must carry it as its name.
    pub instance_id: &'a str,
    /// The stage kind id (one builder may serve several kinds).
    pub kind: &'a str,
    /// The stage's merged config; read every knob through it.
    pub config: &'a mut StageConfig,
    pub inputs: &'a PipelineInputs<'b>,
}

/// How a stage kind builds its block: the host's own code, or a plugin's declaration
/// (`declared`), which one builder serves with the declaration's data.
#[derive(Clone, Copy)]
pub enum Builder {
    Code(fn(&mut StageBuild<'_, '_>) -> Result<Block, String>),
    Declared(&'static declared::DeclaredStage),
}

/// One stage kind.
#[derive(Clone, Copy)]
pub struct StageDef {
    pub id: &'static str,
    pub kind: StageKind,
    /// One line for `stages list` and the transcript.
    pub doc: &'static str,
    pub io: StageIo,
    pub build: Builder,
}

impl StageDef {
    /// Builds one instance of this stage kind.
    pub fn build_block(&self, build: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        match self.build {
            Builder::Code(code) => code(build),
            Builder::Declared(stage) => stage.build(build),
        }
    }

    /// The plugin declaration this stage kind comes from, if it is not built in.
    pub fn declared(&self) -> Option<&'static declared::DeclaredStage> {
        match self.build {
            Builder::Code(_) => None,
            Builder::Declared(stage) => Some(stage),
        }
    }
}

/// Every stage kind, grouped by family.
pub fn catalogue() -> Vec<StageDef> {
    let mut stages = Vec::new();
    // A/B experiments: token, scene draft, refinement or SceneSpec, strict one-line prompt.
    stages.extend(ab::stages());
    // Concepts: choose them, then rewrite those that clash with the dislikes.
    stages.extend(preprompt::stages());
    // Black box: idea cards generated in parallel, judged, selected, turned into a prompt.
    stages.extend(blackbox::stages());
    // Refinement: a seed prompt, then rounds of judged variants.
    stages.extend(blackbox_refine::stages());
    // After the prompt: a taste nudge and the final formatting.
    stages.extend(postprompt::stages());
    // A prompt straight from the concepts.
    stages.extend(direct::stages());
    // The simple plan: candidate themes, then a prompt for the strongest.
    stages.extend(standard::stages());
    stages
}

/// A do-nothing stage kind for tests of the registry, plans and compiler.
#[cfg(test)]
pub(crate) fn test_stage(id: &'static str) -> StageDef {
    fn build(_: &mut StageBuild<'_, '_>) -> Result<Block, String> {
        Err("not built in these tests".into())
    }
    StageDef {
        id,
        kind: StageKind::Chat,
        doc: "a test stage",
        io: StageIo {
            requires: &[],
            provides: &[],
            captures: &[],
        },
        build: Builder::Code(build),
    }
}

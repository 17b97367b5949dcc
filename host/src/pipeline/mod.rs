//! The prompt pipeline: the engine that executes a tree of steps against a text backend
//! (`engine`), the steps themselves (`node`), the stage-owned config namespace every stage reads
//! its knobs through (`stage_config`), and the two stage conventions, chat and action stage
//! blocks (`stage_blocks`).
//!
//! What the stages *are*, and compiling a plan of them into a step tree, lives in `stages` (which
//! builds on this module; this module never names a stage); what a run writes lives in
//! `generation` and `artifacts`.

pub mod engine;
pub mod node;
pub mod stage_blocks;
pub mod stage_config;
pub mod state;

pub use engine::{execute, validate, EngineError};
pub use node::{
    ActionFn, ActionStep, AnswerFn, Block, ChatStep, ExpectFn, MergeMode, Node, PromptFn,
};
pub use stage_blocks::{action_stage_block, chat_stage_block};
pub use stage_config::{StageConfig, StageConfigError};
pub use state::{usage_of, RunState, StepRecord};

/// The persona every conversation starts with (the system message).
pub const SYSTEM_PROMPT: &str = include_str!("../prompts/system.txt");

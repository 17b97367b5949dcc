//! The step tree: chat steps (one model call), action steps (code) and blocks (nested groups),
//! each with a merge mode saying what it adds to its parent's conversation.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::backends::{Expect, ResponseShape};

use super::state::RunState;

/// What a finished node adds to its parent's conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// Everything it produced (user prompts and answers).
    AllMessages,
    /// Only its last assistant answer.
    LastResponse,
    /// Nothing: the node works in isolation.
    None,
}

/// Renders a chat step's prompt from the run's state (earlier outputs), at run time.
pub type PromptFn = Arc<dyn Fn(&RunState) -> Result<String, String> + Send + Sync>;

/// What a chat step's answer must carry, from the same run state its prompt is built from.
pub type ExpectFn = Arc<dyn Fn(&RunState) -> Result<Expect, String> + Send + Sync>;

/// Checks a chat step's answer against what the step asked for and gives the text its capture
/// key stores; an `Err` (what was expected) fails the step.
pub type AnswerFn = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// An action's code; its return value is recorded and, with a capture key, stored in the outputs.
pub type ActionFn = Arc<dyn Fn(&mut RunState) -> Result<Value, String> + Send + Sync>;

/// One model call.
#[derive(Clone)]
pub struct ChatStep {
    pub name: Option<String>,
    pub prompt: PromptFn,
    pub temperature: f64,
    pub merge: MergeMode,
    pub capture_key: Option<String>,
    /// Extra call parameters (never `temperature`); `model` selects another model.
    pub params: Map<String, Value>,
    pub meta: Map<String, Value>,
    pub shape: ResponseShape,
    /// What the answer must carry (the ids, token or concepts the prompt shows); `None` when
    /// the prompt asks for nothing specific.
    pub expect: Option<ExpectFn>,
    /// Checks the answer and shapes what `capture_key` stores; `None` stores the answer as it
    /// came (stages that parse it check it where they read it).
    pub answer: Option<AnswerFn>,
    pub allow_empty_prompt: bool,
    pub allow_empty_response: bool,
}

impl ChatStep {
    /// A chat step with merge `all_messages` and no capture.
    pub fn new(name: &str, temperature: f64, shape: ResponseShape, prompt: PromptFn) -> ChatStep {
        ChatStep {
            name: Some(name.to_owned()),
            prompt,
            temperature,
            merge: MergeMode::AllMessages,
            capture_key: None,
            params: Map::new(),
            meta: Map::new(),
            shape,
            expect: None,
            answer: None,
            allow_empty_prompt: false,
            allow_empty_response: false,
        }
    }
}

/// Code that runs between model calls.
#[derive(Clone)]
pub struct ActionStep {
    pub name: Option<String>,
    pub action: ActionFn,
    /// `None` or `AllMessages` (an action produces no messages); never `LastResponse`.
    pub merge: MergeMode,
    pub capture_key: Option<String>,
    pub meta: Map<String, Value>,
}

/// A named group of nodes.
#[derive(Clone)]
pub struct Block {
    pub name: Option<String>,
    pub nodes: Vec<Node>,
    pub merge: MergeMode,
    pub capture_key: Option<String>,
    pub meta: Map<String, Value>,
    /// Children run concurrently, each on a copy of the block's conversation; their records and
    /// merges are applied in declaration order, so the transcript stays deterministic.
    pub parallel: bool,
}

impl Block {
    /// A sequential block with merge `all_messages`.
    pub fn new(name: &str, nodes: Vec<Node>) -> Block {
        Block {
            name: Some(name.to_owned()),
            nodes,
            merge: MergeMode::AllMessages,
            capture_key: None,
            meta: Map::new(),
            parallel: false,
        }
    }
}

/// A node of the step tree.
#[derive(Clone)]
pub enum Node {
    Chat(ChatStep),
    Action(ActionStep),
    Block(Block),
}

impl Node {
    /// The node's own name, if it has one (see [`Node::effective_name`]).
    pub fn name(&self) -> Option<&str> {
        match self {
            Node::Chat(step) => step.name.as_deref(),
            Node::Action(step) => step.name.as_deref(),
            Node::Block(block) => block.name.as_deref(),
        }
    }

    /// The node's name within its parent: its own, else `step_NN` / `action_NN` / `block_NN`
    /// from its 0-based `index` (counted 1-based, two digits).
    pub fn effective_name(&self, index: usize) -> String {
        if let Some(name) = self.name() {
            return name.to_owned();
        }
        let prefix = match self {
            Node::Chat(_) => "step",
            Node::Action(_) => "action",
            Node::Block(_) => "block",
        };
        format!("{prefix}_{:02}", index + 1)
    }

    /// What the node adds to its parent's conversation.
    pub fn merge(&self) -> MergeMode {
        match self {
            Node::Chat(step) => step.merge,
            Node::Action(step) => step.merge,
            Node::Block(block) => block.merge,
        }
    }

    /// The output key the node stores its result under, if any.
    pub fn capture_key(&self) -> Option<&str> {
        match self {
            Node::Chat(step) => step.capture_key.as_deref(),
            Node::Action(step) => step.capture_key.as_deref(),
            Node::Block(block) => block.capture_key.as_deref(),
        }
    }
}

impl MergeMode {
    /// The config spelling: `all_messages`, `last_response`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::AllMessages => "all_messages",
            MergeMode::LastResponse => "last_response",
            MergeMode::None => "none",
        }
    }
}

//! Executes a step tree: one conversation copied into each block, merged back by each child's
//! merge mode ("always copy, single merge point"), every step recorded in the transcript, capture
//! keys stored in the run's outputs. Reference: python-pipeline.md §1.1–1.2, §3.2.
//!
//! Outline of one run ([`execute`]):
//! 1. [`validate`] the whole tree (names, merge modes, params), so a malformed tree fails before
//!    the first model call;
//! 2. run the root block on `[system]`: each child starts from a copy of its block's working
//!    conversation, and what it produced is merged back by the child's merge mode;
//! 3. every chat and action step appends a [`StepRecord`] and writes oplog lines through `log`;
//!    the first error stops the run and names the step's path.
//!
//! A parallel block runs its children on threads, each on a copy of the block's conversation and
//! outputs at block start; their records, outputs, oplog lines and merges are applied afterwards
//! in declaration order, so a run's artifacts never depend on timing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

use crate::backends::{BackendError, ChatCall, ChatMessage, Expect, ResponseShape, TextBackend};
use crate::clock::Timestamp;

use super::node::{ActionStep, Block, ChatStep, MergeMode, Node};
use super::state::{RunState, StepRecord};

const SYSTEM: &str = "system";
const USER: &str = "user";
const ASSISTANT: &str = "assistant";

/// The step param that limits an answer's tokens (over `backend.text.max_completion_tokens`).
const MAX_COMPLETION_TOKENS: &str = "max_completion_tokens";

/// The root block's name when it has none.
pub const ROOT_NAME: &str = "pipeline";

/// Bounds of the JSON-safe copies recorded in the transcript (reference `_json_safe`).
const MAX_DEPTH: usize = 4;
const MAX_ITEMS: usize = 25;

/// A step failed; the path names it. A failed model call keeps the backend's error: its message
/// is this error's message, and its cause (if any) is this error's source.
#[derive(Debug, Clone)]
pub struct EngineError {
    pub path: String,
    pub message: String,
    /// The backend error behind a failed model call.
    pub backend: Option<Arc<BackendError>>,
}

impl EngineError {
    /// An error of the node at `path`.
    pub fn new(path: &str, message: impl Into<String>) -> EngineError {
        EngineError {
            path: path.to_owned(),
            message: message.into(),
            backend: None,
        }
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step `{}` failed: {}", self.path, self.message)
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The backend's own message is already ours; what caused it comes next in the chain.
        self.backend.as_deref().and_then(std::error::Error::source)
    }
}

impl PartialEq for EngineError {
    fn eq(&self, other: &EngineError) -> bool {
        self.path == other.path && self.message == other.message
    }
}

impl Eq for EngineError {}

/// Executes `root` (named `pipeline`) starting from `[system]`. `log` receives one line per
/// step event for the run's oplog.
pub fn execute(
    root: &Block,
    state: &mut RunState,
    backend: &dyn TextBackend,
    system_prompt: &str,
    log: &(dyn Fn(&str) + Sync),
) -> Result<(), EngineError> {
    let engine = Engine { backend, log };
    validate(root).map_err(|e| engine.failed(e))?;
    let path = root.name.as_deref().unwrap_or(ROOT_NAME);
    let system = [message(SYSTEM, system_prompt)];
    engine.run_block(root, path, &system, &Map::new(), state)?;
    Ok(())
}

/// Checks the tree's shape without running it: names (non-empty, no `/`, unique among
/// siblings), capture keys non-empty, no action merging `last_response`, no `temperature` in
/// chat params and a text `model` if any.
pub fn validate(root: &Block) -> Result<(), EngineError> {
    validate_block(root, root.name.as_deref().unwrap_or(ROOT_NAME))
}

/// [`validate`] for a block whose path is `path` (the compiler checks each stage block at
/// `pipeline/<id>`).
pub fn validate_block(block: &Block, path: &str) -> Result<(), EngineError> {
    check_capture_key(block.capture_key.as_deref(), path)?;
    let names = child_names(block, path)?;
    for (child, name) in block.nodes.iter().zip(&names) {
        let child_path = format!("{path}/{name}");
        check_capture_key(child.capture_key(), &child_path)?;
        match child {
            Node::Block(inner) => validate_block(inner, &child_path)?,
            Node::Action(action) => {
                if action.merge == MergeMode::LastResponse {
                    return Err(EngineError::new(
                        &child_path,
                        "an action step cannot merge `last_response` (it produces no messages)",
                    ));
                }
            }
            Node::Chat(step) => {
                if step.params.contains_key("temperature") {
                    return Err(EngineError::new(
                        &child_path,
                        "params must not contain `temperature`; set the step's temperature instead",
                    ));
                }
                step_completion_limit(step).map_err(|m| EngineError::new(&child_path, m))?;
                match step.params.get("model") {
                    None | Some(Value::String(_)) => {}
                    Some(other) => {
                        return Err(EngineError::new(
                            &child_path,
                            format!(
                                "params.model must be a string (got {})",
                                super::stage_config::describe(other)
                            ),
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_capture_key(key: Option<&str>, path: &str) -> Result<(), EngineError> {
    match key {
        Some(key) if key.trim().is_empty() => {
            Err(EngineError::new(path, "capture key must not be empty"))
        }
        _ => Ok(()),
    }
}

/// The effective names of a block's children; empty names, names with `/` and duplicate
/// siblings are errors.
fn child_names(block: &Block, path: &str) -> Result<Vec<String>, EngineError> {
    let names: Vec<String> = block
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| node.effective_name(i))
        .collect();
    if let Some(bad) = names
        .iter()
        .find(|name| name.trim().is_empty() || name.contains('/'))
    {
        return Err(EngineError::new(
            path,
            format!(
                "node name {} must be non-empty and contain no `/`",
                Value::String(bad.clone())
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| !seen.insert(*name))
        .collect();
    if !duplicates.is_empty() {
        let list: Vec<&str> = duplicates.into_iter().collect();
        return Err(EngineError::new(
            path,
            format!("duplicate node names in this block: {}", list.join(", ")),
        ));
    }
    Ok(names)
}

fn message(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.to_owned(),
        content: content.to_owned(),
    }
}

/// The step's `max_completion_tokens` param: a positive integer when set.
fn step_completion_limit(step: &ChatStep) -> Result<Option<u64>, String> {
    match step.params.get(MAX_COMPLETION_TOKENS) {
        None => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!(
                "params.{MAX_COMPLETION_TOKENS} must be a positive integer (got {value})"
            )),
        },
    }
}

/// Characters as the reference counts them (code points).
fn chars(text: &str) -> usize {
    text.chars().count()
}

/// What a node added to the conversation it started from, and its last answer.
#[derive(Default)]
struct Produced {
    messages: Vec<ChatMessage>,
    last_assistant: Option<String>,
}

/// What a parallel child hands back to its block.
struct ChildRun {
    result: Result<Produced, EngineError>,
    state: RunState,
    lines: Vec<String>,
}

struct Engine<'a> {
    backend: &'a dyn TextBackend,
    log: &'a (dyn Fn(&str) + Sync),
}

impl Engine<'_> {
    /// Logs the failure where it happened (once) and hands the error on.
    fn failed(&self, error: EngineError) -> EngineError {
        (self.log)(&format!("Step failed: {} ({})", error.path, error.message));
        error
    }

    fn fail(&self, path: &str, message: impl Into<String>) -> EngineError {
        self.failed(EngineError::new(path, message))
    }

    fn run_node(
        &self,
        node: &Node,
        path: &str,
        parent: &[ChatMessage],
        inherited: &Map<String, Value>,
        state: &mut RunState,
    ) -> Result<Produced, EngineError> {
        match node {
            Node::Chat(step) => self.run_chat(step, path, parent, inherited, state),
            Node::Action(step) => self.run_action(step, path, inherited, state),
            Node::Block(block) => self.run_block(block, path, parent, inherited, state),
        }
    }

    fn run_chat(
        &self,
        step: &ChatStep,
        path: &str,
        parent: &[ChatMessage],
        inherited: &Map<String, Value>,
        state: &mut RunState,
    ) -> Result<Produced, EngineError> {
        let meta = record_meta(inherited, &step.meta, path);
        let prompt = (step.prompt)(state).map_err(|m| self.fail(path, m))?;
        if prompt.trim().is_empty() && !step.allow_empty_prompt {
            return Err(self.fail(path, "the prompt is empty"));
        }
        let prompt_chars = chars(&prompt);
        let context_chars: usize = parent.iter().map(|m| chars(&m.content)).sum();
        let input_chars = context_chars + prompt_chars;
        (self.log)(&format!(
            "Step: {path} (type=chat{}, context_chars={context_chars}, prompt_chars={prompt_chars}, input_chars={input_chars})",
            start_tokens(&meta)
        ));

        let expect = match &step.expect {
            Some(expect) => expect(state).map_err(|m| self.fail(path, m))?,
            None => Expect::default(),
        };
        let mut messages = parent.to_vec();
        messages.push(message(USER, &prompt));
        let call = ChatCall {
            generation_id: &state.generation_id,
            step_path: path,
            messages: &messages,
            temperature: step.temperature,
            model: step.params.get("model").and_then(Value::as_str),
            shape: step.shape,
            expect: &expect,
            seed: state.seed,
            max_completion_tokens: step_completion_limit(step).map_err(|m| self.fail(path, m))?,
        };
        let reply = self.backend.chat(&call).map_err(|error| {
            self.failed(EngineError {
                path: path.to_owned(),
                message: error.to_string(),
                backend: Some(Arc::new(error)),
            })
        })?;
        if reply.text.trim().is_empty() && !step.allow_empty_response {
            return Err(self.fail(path, "the model returned an empty response"));
        }
        if let ResponseShape::Line { .. } = step.shape {
            let lines = reply.text.lines().filter(|l| !l.trim().is_empty()).count();
            if lines > 1 {
                return Err(self.fail(
                    path,
                    format!(
                        "this step asks for one line; the model answered {lines} non-empty lines"
                    ),
                ));
            }
        }

        let response = reply.text;
        let details = reply.details.unwrap_or_default();
        let response_chars = chars(&response);
        state.steps.push(StepRecord::Chat {
            name: last_segment(path).to_owned(),
            path: path.to_owned(),
            prompt: prompt.clone(),
            response: response.clone(),
            params: record_params(step, self.backend.model()),
            prompt_chars,
            response_chars,
            context_chars,
            input_chars,
            context_messages: parent.len(),
            input_messages: parent.len() + 1,
            provider: reply.provider.to_owned(),
            attempts: reply.attempts,
            usage: reply.usage,
            cache: reply.cache,
            finish_reason: details.finish_reason,
            answer_model: details.model,
            reasoning: details.reasoning,
            sent_messages: details.sent_messages,
            created_at: Timestamp::now().iso().to_owned(),
            meta: json_safe_map(&meta),
        });
        state.sequential_calls += 1;
        (self.log)(&format!(
            "Received response for {path} (input_chars={input_chars}, chars={response_chars}{})",
            end_tokens(&meta)
        ));
        // Checked after the record and the log line, so a refused answer is in the transcript
        // and its usage counts towards the run's spend.
        let stored = match &step.answer {
            Some(check) => Some(check(&response).map_err(|m| self.fail(path, m))?),
            None => None,
        };
        if let Some(key) = &step.capture_key {
            let stored = stored.unwrap_or_else(|| response.clone());
            state.outputs.insert(key.clone(), Value::String(stored));
        }
        Ok(Produced {
            messages: vec![message(USER, &prompt), message(ASSISTANT, &response)],
            last_assistant: Some(response),
        })
    }

    fn run_action(
        &self,
        step: &ActionStep,
        path: &str,
        inherited: &Map<String, Value>,
        state: &mut RunState,
    ) -> Result<Produced, EngineError> {
        let meta = record_meta(inherited, &step.meta, path);
        (self.log)(&format!(
            "Step: {path} (type=action{})",
            start_tokens(&meta)
        ));
        let result = (step.action)(state).map_err(|m| self.fail(path, m))?;
        let recorded = json_safe(&result, MAX_DEPTH);
        if let Some(key) = &step.capture_key {
            state.outputs.insert(key.clone(), result);
        }
        state.steps.push(StepRecord::Action {
            name: last_segment(path).to_owned(),
            path: path.to_owned(),
            created_at: Timestamp::now().iso().to_owned(),
            meta: json_safe_map(&meta),
            result: recorded,
        });
        let tokens = end_tokens(&meta);
        match tokens.strip_prefix(", ") {
            Some(tokens) => (self.log)(&format!("Completed action {path} ({tokens})")),
            None => (self.log)(&format!("Completed action {path}")),
        }
        Ok(Produced::default())
    }

    fn run_block(
        &self,
        block: &Block,
        path: &str,
        parent: &[ChatMessage],
        inherited: &Map<String, Value>,
        state: &mut RunState,
    ) -> Result<Produced, EngineError> {
        let mut meta = inherited.clone();
        meta.extend(block.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
        let names = child_names(block, path).map_err(|e| self.failed(e))?;

        let mut working = parent.to_vec();
        // The last answer of a child that merges into this block, for when the delta has none.
        let mut fallback: Option<String> = None;
        if block.parallel {
            self.run_parallel(
                block,
                &names,
                path,
                &mut working,
                &meta,
                state,
                &mut fallback,
            )?;
        } else {
            for (child, name) in block.nodes.iter().zip(&names) {
                let child_path = format!("{path}/{name}");
                let produced = self.run_node(child, &child_path, &working, &meta, state)?;
                self.merge(child, produced, &mut working, &child_path, &mut fallback)?;
            }
        }

        let delta = working.split_off(parent.len());
        let last_assistant = delta
            .iter()
            .rev()
            .find(|m| m.role == ASSISTANT)
            .map(|m| m.content.clone())
            .filter(|text| !text.is_empty())
            .or(fallback);
        if let Some(key) = &block.capture_key {
            let Some(text) = &last_assistant else {
                return Err(self.fail(
                    path,
                    format!("capture key `{key}` needs an assistant answer, but the block produced none"),
                ));
            };
            state
                .outputs
                .insert(key.clone(), Value::String(text.clone()));
        }
        Ok(Produced {
            messages: delta,
            last_assistant,
        })
    }

    /// Runs a parallel block's children on threads and applies their results in order.
    #[allow(clippy::too_many_arguments)]
    fn run_parallel(
        &self,
        block: &Block,
        names: &[String],
        path: &str,
        working: &mut Vec<ChatMessage>,
        meta: &Map<String, Value>,
        state: &mut RunState,
        fallback: &mut Option<String>,
    ) -> Result<(), EngineError> {
        let start = working.clone();
        let outputs_at_start = state.outputs.clone();
        let runs: Vec<ChildRun> = std::thread::scope(|scope| {
            let handles: Vec<_> = block
                .nodes
                .iter()
                .zip(names)
                .map(|(child, name)| {
                    let child_path = format!("{path}/{name}");
                    let mut child_state = RunState {
                        generation_id: state.generation_id.clone(),
                        seed: state.seed,
                        outputs: outputs_at_start.clone(),
                        steps: Vec::new(),
                        sequential_calls: 0,
                    };
                    let start = &start;
                    let backend = self.backend;
                    scope.spawn(move || {
                        let lines = Mutex::new(Vec::new());
                        let log = |line: &str| {
                            lines
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(line.to_owned());
                        };
                        let engine = Engine { backend, log: &log };
                        let result =
                            engine.run_node(child, &child_path, start, meta, &mut child_state);
                        let lines = lines.into_inner().unwrap_or_else(PoisonError::into_inner);
                        ChildRun {
                            result,
                            state: child_state,
                            lines,
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });

        // The branches ran side by side: the block waits for its longest one.
        state.sequential_calls += runs
            .iter()
            .map(|run| run.state.sequential_calls)
            .max()
            .unwrap_or(0);
        for ((child, name), run) in block.nodes.iter().zip(names).zip(runs) {
            for line in &run.lines {
                (self.log)(line);
            }
            state.steps.extend(run.state.steps);
            for (key, value) in run.state.outputs {
                if outputs_at_start.get(&key) != Some(&value) {
                    state.outputs.insert(key, value);
                }
            }
            let produced = run.result?;
            self.merge(
                child,
                produced,
                working,
                &format!("{path}/{name}"),
                fallback,
            )?;
        }
        Ok(())
    }

    /// Merges what `child` produced into its block's working conversation.
    fn merge(
        &self,
        child: &Node,
        produced: Produced,
        working: &mut Vec<ChatMessage>,
        child_path: &str,
        fallback: &mut Option<String>,
    ) -> Result<(), EngineError> {
        match child.merge() {
            MergeMode::AllMessages => working.extend(produced.messages),
            MergeMode::None => return Ok(()),
            MergeMode::LastResponse => match produced.last_assistant.as_deref() {
                Some(text) if !text.trim().is_empty() => working.push(message(ASSISTANT, text)),
                _ => {
                    return Err(self.fail(
                        child_path,
                        "merge `last_response` needs an assistant answer, but there is none",
                    ))
                }
            },
        }
        if let Some(text) = produced.last_assistant {
            *fallback = Some(text);
        }
        Ok(())
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The step's transcript meta: inherited block meta, then the step's own, then `stage_id`
/// (path segment 2 of a `pipeline/...` path) when neither set it.
fn record_meta(
    inherited: &Map<String, Value>,
    own: &Map<String, Value>,
    path: &str,
) -> Map<String, Value> {
    let mut meta = inherited.clone();
    meta.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !meta.contains_key("stage_id") {
        let mut segments = path.split('/');
        if let (Some(ROOT_NAME), Some(stage)) = (segments.next(), segments.next()) {
            if !stage.trim().is_empty() {
                meta.insert(
                    "stage_id".to_owned(),
                    Value::String(stage.trim().to_owned()),
                );
            }
        }
    }
    meta
}

fn meta_text<'m>(meta: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    meta.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `, stage_id=.., doc=".."` for a `Step:` line.
fn start_tokens(meta: &Map<String, Value>) -> String {
    let mut out = end_tokens(meta);
    if let Some(doc) = meta_text(meta, "doc") {
        out.push_str(&format!(", doc={}", Value::String(doc.to_owned())));
    }
    out
}

/// `, stage_id=..` for a `Received response` / `Completed action` line.
fn end_tokens(meta: &Map<String, Value>) -> String {
    match meta_text(meta, "stage_id") {
        Some(stage) => format!(", stage_id={stage}"),
        None => String::new(),
    }
}

/// The params a chat record shows: `temperature`, the step's params, and the model: the
/// backend's default as `model` unless the step chose one, then as `base_model` when different.
fn record_params(step: &ChatStep, default_model: &str) -> Map<String, Value> {
    let mut params = Map::new();
    params.insert(
        "temperature".to_owned(),
        serde_json::Number::from_f64(step.temperature).map_or(Value::Null, Value::Number),
    );
    params.extend(step.params.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !default_model.is_empty() {
        match step.params.get("model") {
            None => {
                params.insert("model".to_owned(), Value::String(default_model.to_owned()));
            }
            Some(model) if model.as_str() != Some(default_model) => {
                params.insert(
                    "base_model".to_owned(),
                    Value::String(default_model.to_owned()),
                );
            }
            Some(_) => {}
        }
    }
    params
}

fn json_safe_map(map: &Map<String, Value>) -> Map<String, Value> {
    match json_safe(&Value::Object(map.clone()), MAX_DEPTH) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A bounded copy for the transcript: at most `MAX_ITEMS` items per array or table (then a
/// `"<N more>"` marker) and `depth` levels (deeper values become `"<max_depth>"`).
fn json_safe(value: &Value, depth: usize) -> Value {
    if depth == 0 {
        return Value::String("<max_depth>".to_owned());
    }
    match value {
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|v| json_safe(v, depth - 1))
                .collect();
            if items.len() > MAX_ITEMS {
                out.push(Value::String(format!("<{} more>", items.len() - MAX_ITEMS)));
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (index, (key, item)) in map.iter().enumerate() {
                if index >= MAX_ITEMS {
                    out.insert(
                        "<more>".to_owned(),
                        Value::String(format!("<{} more>", map.len() - MAX_ITEMS)),
                    );
                    break;
                }
                out.insert(key.clone(), json_safe(item, depth - 1));
            }
            Value::Object(out)
        }
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::ChatReply;
    use crate::pipeline::node::{ActionFn, PromptFn};
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// One call the fake backend received.
    #[derive(Debug, Clone, PartialEq)]
    struct Call {
        path: String,
        messages: Vec<(String, String)>,
        temperature: f64,
        model: Option<String>,
        seed: u64,
        max_completion_tokens: Option<u64>,
    }

    /// Answers `answer to <path>` unless told otherwise; records calls and peak concurrency.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<Call>>,
        replies: HashMap<String, Result<String, String>>,
        delays: HashMap<String, Duration>,
        delay: Duration,
        active: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Fake {
        fn reply(mut self, path: &str, text: &str) -> Fake {
            self.replies.insert(path.into(), Ok(text.into()));
            self
        }
        fn fail(mut self, path: &str, message: &str) -> Fake {
            self.replies.insert(path.into(), Err(message.into()));
            self
        }
        fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }
        fn call(&self, path: &str) -> Call {
            self.calls()
                .into_iter()
                .find(|c| c.path == path)
                .unwrap_or_else(|| panic!("no call for {path}"))
        }
    }

    impl TextBackend for Fake {
        fn chat(&self, call: &ChatCall<'_>) -> Result<ChatReply, BackendError> {
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(
                self.delays
                    .get(call.step_path)
                    .copied()
                    .unwrap_or(self.delay),
            );
            self.active.fetch_sub(1, Ordering::SeqCst);
            self.calls.lock().unwrap().push(Call {
                path: call.step_path.to_owned(),
                messages: call
                    .messages
                    .iter()
                    .map(|m| (m.role.clone(), m.content.clone()))
                    .collect(),
                temperature: call.temperature,
                model: call.model.map(str::to_owned),
                seed: call.seed,
                max_completion_tokens: call.max_completion_tokens,
            });
            let text = match self.replies.get(call.step_path) {
                Some(Ok(text)) => text.clone(),
                Some(Err(message)) => return Err(BackendError::Other(message.clone())),
                None => format!("answer to {}", call.step_path),
            };
            Ok(ChatReply {
                text,
                provider: "offline",
                model: call.model.unwrap_or("fake-model").to_owned(),
                attempts: 2,
                details: None,
                usage: None,
                cache: None,
            })
        }
        fn provider(&self) -> &'static str {
            "offline"
        }
        fn model(&self) -> &str {
            "fake-model"
        }
    }

    fn prompt(text: &str) -> PromptFn {
        let text = text.to_owned();
        Arc::new(move |_: &RunState| Ok(text.clone()))
    }

    fn step(name: &str, text: &str) -> ChatStep {
        ChatStep::new(name, 0.5, ResponseShape::Text, prompt(text))
    }

    fn chat(name: &str, text: &str) -> Node {
        Node::Chat(step(name, text))
    }

    fn with_merge(mut node: Node, merge: MergeMode) -> Node {
        match &mut node {
            Node::Chat(s) => s.merge = merge,
            Node::Action(s) => s.merge = merge,
            Node::Block(b) => b.merge = merge,
        }
        node
    }

    fn block(name: &str, merge: MergeMode, nodes: Vec<Node>) -> Node {
        Node::Block(Block {
            merge,
            ..Block::new(name, nodes)
        })
    }

    fn action(name: Option<&str>, capture: Option<&str>, f: ActionFn) -> Node {
        Node::Action(ActionStep {
            name: name.map(str::to_owned),
            action: f,
            merge: MergeMode::None,
            capture_key: capture.map(str::to_owned),
            meta: Map::new(),
        })
    }

    fn pipeline(nodes: Vec<Node>) -> Block {
        Block::new("pipeline", nodes)
    }

    struct Outcome {
        result: Result<(), EngineError>,
        state: RunState,
        lines: Vec<String>,
    }

    fn run(root: &Block, backend: &Fake) -> Outcome {
        let mut state = RunState {
            generation_id: "g1".into(),
            seed: 42,
            ..RunState::default()
        };
        let lines = Mutex::new(Vec::new());
        let log = |line: &str| lines.lock().unwrap().push(line.to_owned());
        let result = execute(root, &mut state, backend, "SYS", &log);
        Outcome {
            result,
            state,
            lines: lines.into_inner().unwrap(),
        }
    }

    fn msgs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
            .collect()
    }

    fn paths(state: &RunState) -> Vec<String> {
        state
            .steps
            .iter()
            .map(|r| match r {
                StepRecord::Chat { path, .. } | StepRecord::Action { path, .. } => path.clone(),
            })
            .collect()
    }

    #[test]
    fn pipeline_stats_count_chat_steps_and_their_http_attempts() {
        // The fake answers every call after 2 attempts; actions call no model.
        let fake = Fake::default();
        let root = pipeline(vec![
            chat("a", "PA"),
            action(
                Some("noop"),
                None,
                Arc::new(|_: &mut RunState| Ok(json!(null))),
            ),
            block("s", MergeMode::AllMessages, vec![chat("b", "PB")]),
        ]);
        let outcome = run(&root, &fake);
        outcome.result.unwrap();
        assert_eq!(
            outcome.state.pipeline_stats(),
            json!({"chat_steps": 2, "model_calls": 4})
        );
        assert_eq!(
            RunState::default().pipeline_stats(),
            json!({"chat_steps": 0, "model_calls": 0})
        );
    }

    #[test]
    fn all_messages_shares_prompts_and_answers() {
        let fake = Fake::default();
        let root = pipeline(vec![chat("a", "PA"), chat("b", "PB")]);
        run(&root, &fake).result.unwrap();
        assert_eq!(
            fake.call("pipeline/a").messages,
            msgs(&[("system", "SYS"), ("user", "PA")])
        );
        assert_eq!(
            fake.call("pipeline/b").messages,
            msgs(&[
                ("system", "SYS"),
                ("user", "PA"),
                ("assistant", "answer to pipeline/a"),
                ("user", "PB")
            ])
        );
    }

    #[test]
    fn last_response_shares_only_the_answer() {
        let fake = Fake::default();
        let root = pipeline(vec![
            block(
                "s1",
                MergeMode::LastResponse,
                vec![chat("draft", "P1"), chat("polish", "P2")],
            ),
            block("s2", MergeMode::AllMessages, vec![chat("draft", "P3")]),
        ]);
        run(&root, &fake).result.unwrap();
        // Inside s1 the conversation is shared; s2 sees only s1's last answer.
        assert_eq!(
            fake.call("pipeline/s1/polish").messages,
            msgs(&[
                ("system", "SYS"),
                ("user", "P1"),
                ("assistant", "answer to pipeline/s1/draft"),
                ("user", "P2")
            ])
        );
        assert_eq!(
            fake.call("pipeline/s2/draft").messages,
            msgs(&[
                ("system", "SYS"),
                ("assistant", "answer to pipeline/s1/polish"),
                ("user", "P3")
            ])
        );
    }

    #[test]
    fn none_shares_nothing() {
        let fake = Fake::default();
        let root = pipeline(vec![
            block("s1", MergeMode::None, vec![chat("draft", "P1")]),
            with_merge(chat("loose", "P2"), MergeMode::None),
            chat("last", "P3"),
        ]);
        run(&root, &fake).result.unwrap();
        assert_eq!(
            fake.call("pipeline/last").messages,
            msgs(&[("system", "SYS"), ("user", "P3")])
        );
    }

    #[test]
    fn last_response_without_an_answer_fails() {
        let fake = Fake::default();
        let root = pipeline(vec![block(
            "s1",
            MergeMode::LastResponse,
            vec![action(Some("act"), None, Arc::new(|_| Ok(Value::Null)))],
        )]);
        let out = run(&root, &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new(
                "pipeline/s1",
                "merge `last_response` needs an assistant answer, but there is none"
            )
        );
    }

    #[test]
    fn block_answer_comes_from_children_that_merge() {
        // The stage's answer is its last merged answer: a child merging `none` does not count,
        // and a nested block passes its own answer up.
        let fake = Fake::default();
        let root = pipeline(vec![
            Node::Block(Block {
                capture_key: Some("nested".into()),
                merge: MergeMode::None,
                ..Block::new(
                    "s1",
                    vec![
                        block("inner", MergeMode::LastResponse, vec![chat("x", "PX")]),
                        with_merge(chat("side", "PS"), MergeMode::None),
                    ],
                )
            }),
            Node::Block(Block {
                capture_key: Some("none_merged".into()),
                ..Block::new("s2", vec![with_merge(chat("only", "PO"), MergeMode::None)])
            }),
        ]);
        let out = run(&root, &fake);
        assert_eq!(
            out.state.outputs.get("nested"),
            Some(&json!("answer to pipeline/s1/inner/x"))
        );
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new(
                "pipeline/s2",
                "capture key `none_merged` needs an assistant answer, but the block produced none"
            )
        );
    }

    #[test]
    fn an_empty_last_answer_falls_back_to_the_last_merged_one() {
        let fake = Fake::default().reply("pipeline/s/b", "");
        let mut b = step("b", "PB");
        b.allow_empty_response = true;
        let root = pipeline(vec![Node::Block(Block {
            capture_key: Some("out".into()),
            ..Block::new("s", vec![chat("a", "PA"), Node::Chat(b)])
        })]);
        let out = run(&root, &fake);
        out.result.unwrap();
        // The reference's `or`: an empty answer is no answer, the fallback is the last merged
        // child's answer, which is that same empty one.
        assert_eq!(out.state.outputs.get("out"), Some(&json!("")));
    }

    #[test]
    fn captures_store_raw_answers_block_answers_and_action_values() {
        let fake = Fake::default().reply("pipeline/s/draft", "  raw answer \n");
        let mut draft = step("draft", "P");
        draft.capture_key = Some("step_key".into());
        let root = pipeline(vec![
            action(
                None,
                Some("act_key"),
                Arc::new(|state| Ok(json!({"seed": state.seed, "list": [1, 2]}))),
            ),
            Node::Block(Block {
                capture_key: Some("block_key".into()),
                merge: MergeMode::LastResponse,
                ..Block::new("s", vec![Node::Chat(draft)])
            }),
        ]);
        let out = run(&root, &fake);
        out.result.unwrap();
        assert_eq!(
            Value::Object(out.state.outputs),
            json!({
                "act_key": {"seed": 42, "list": [1, 2]},
                "step_key": "  raw answer \n",
                "block_key": "  raw answer \n",
            })
        );
    }

    #[test]
    fn actions_see_earlier_outputs_and_prompts_render_from_state() {
        let fake = Fake::default();
        let mut draft = step("draft", "");
        draft.prompt =
            Arc::new(|state: &RunState| Ok(format!("token is {}", state.output_text("token")?)));
        let root = pipeline(vec![
            action(Some("tok"), Some("token"), Arc::new(|_| Ok(json!("T-1")))),
            Node::Chat(draft),
        ]);
        run(&root, &fake).result.unwrap();
        assert_eq!(
            fake.call("pipeline/draft").messages.last().unwrap().1,
            "token is T-1"
        );
    }

    #[test]
    fn effective_names_count_within_the_parent() {
        let fake = Fake::default();
        let unnamed = |text: &str| {
            let mut s = step("x", text);
            s.name = None;
            Node::Chat(s)
        };
        let root = Block {
            name: None,
            ..pipeline(vec![
                unnamed("P1"),
                action(None, None, Arc::new(|_| Ok(Value::Null))),
                Node::Block(Block {
                    name: None,
                    ..Block::new("", vec![unnamed("P2")])
                }),
            ])
        };
        let out = run(&root, &fake);
        out.result.unwrap();
        assert_eq!(
            paths(&out.state),
            [
                "pipeline/step_01",
                "pipeline/action_02",
                "pipeline/block_03/step_01"
            ]
        );
    }

    #[test]
    fn duplicate_sibling_names_fail_before_any_call() {
        let fake = Fake::default();
        let mut second = step("x", "P2");
        second.name = None;
        let root = pipeline(vec![
            chat("z", "P"),
            block(
                "s",
                MergeMode::AllMessages,
                vec![
                    chat("step_02", "P1"),
                    Node::Chat(second),
                    chat("a", "P"),
                    chat("a", "P"),
                ],
            ),
        ]);
        let out = run(&root, &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new(
                "pipeline/s",
                "duplicate node names in this block: a, step_02"
            )
        );
        assert!(fake.calls().is_empty());
        assert_eq!(
            out.lines,
            ["Step failed: pipeline/s (duplicate node names in this block: a, step_02)"]
        );
    }

    #[test]
    fn malformed_steps_fail_validation() {
        let mut hot = step("hot", "P");
        hot.params.insert("temperature".into(), json!(1.0));
        assert_eq!(
            validate(&pipeline(vec![Node::Chat(hot)])).unwrap_err(),
            EngineError::new(
                "pipeline/hot",
                "params must not contain `temperature`; set the step's temperature instead"
            )
        );
        let mut bad_model = step("m", "P");
        bad_model.params.insert("model".into(), json!(3));
        assert_eq!(
            validate(&pipeline(vec![Node::Chat(bad_model)])).unwrap_err(),
            EngineError::new(
                "pipeline/m",
                "params.model must be a string (got an integer)"
            )
        );
        let act = with_merge(
            action(Some("act"), None, Arc::new(|_| Ok(Value::Null))),
            MergeMode::LastResponse,
        );
        assert_eq!(
            validate(&pipeline(vec![act])).unwrap_err(),
            EngineError::new(
                "pipeline/act",
                "an action step cannot merge `last_response` (it produces no messages)"
            )
        );
        let mut slash = step("a/b", "P");
        slash.capture_key = Some("k".into());
        assert_eq!(
            validate(&pipeline(vec![Node::Chat(slash)])).unwrap_err(),
            EngineError::new(
                "pipeline",
                "node name \"a/b\" must be non-empty and contain no `/`"
            )
        );
        let mut blank_key = step("a", "P");
        blank_key.capture_key = Some(" ".into());
        assert_eq!(
            validate(&pipeline(vec![Node::Chat(blank_key)])).unwrap_err(),
            EngineError::new("pipeline/a", "capture key must not be empty")
        );
    }

    #[test]
    fn empty_prompts_and_answers_fail_unless_allowed() {
        let fake = Fake::default().reply("pipeline/b", " \n");
        let out = run(&pipeline(vec![chat("a", "  ")]), &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new("pipeline/a", "the prompt is empty")
        );
        assert!(fake.calls().is_empty());

        let out = run(&pipeline(vec![chat("b", "P")]), &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new("pipeline/b", "the model returned an empty response")
        );
        assert!(out.state.steps.is_empty());

        let mut a = step("a", "");
        a.allow_empty_prompt = true;
        let mut b = step("b", "P");
        b.allow_empty_response = true;
        let out = run(&pipeline(vec![Node::Chat(a), Node::Chat(b)]), &fake);
        out.result.unwrap();
        assert_eq!(out.state.steps.len(), 2);
    }

    #[test]
    fn a_line_step_answered_with_several_lines_fails_naming_the_step() {
        let fake = Fake::default()
            .reply("pipeline/one", "\nthe line\n\n")
            .reply("pipeline/two", "first\nsecond");
        let line = |name: &str| {
            Node::Chat(ChatStep::new(
                name,
                0.5,
                ResponseShape::Line { format: None },
                prompt("P"),
            ))
        };
        let out = run(&pipeline(vec![line("one"), line("two")]), &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new(
                "pipeline/two",
                "this step asks for one line; the model answered 2 non-empty lines"
            )
        );
        assert_eq!(out.state.steps.len(), 1);
    }

    #[test]
    fn prompt_and_action_errors_name_the_step() {
        let fake = Fake::default();
        let mut p = step("draft", "");
        p.prompt = Arc::new(|state: &RunState| state.output_text("missing").map(str::to_owned));
        let out = run(
            &pipeline(vec![block(
                "s",
                MergeMode::AllMessages,
                vec![Node::Chat(p)],
            )]),
            &fake,
        );
        let err = out.result.unwrap_err();
        assert_eq!(
            err,
            EngineError::new("pipeline/s/draft", "missing required output `missing`")
        );
        assert_eq!(
            err.to_string(),
            "step `pipeline/s/draft` failed: missing required output `missing`"
        );

        let root = pipeline(vec![action(
            Some("act"),
            None,
            Arc::new(|_| Err("bad input".into())),
        )]);
        assert_eq!(
            run(&root, &fake).result.unwrap_err(),
            EngineError::new("pipeline/act", "bad input")
        );
    }

    #[test]
    fn backend_errors_keep_the_message_and_the_cause() {
        struct Broken;
        impl TextBackend for Broken {
            fn chat(&self, _: &ChatCall<'_>) -> Result<ChatReply, BackendError> {
                Err(BackendError::Transport {
                    url: "http://x/v1/chat/completions".into(),
                    attempts: 3,
                    reason: "could not connect".into(),
                    source: Box::new(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "refused",
                    )),
                })
            }
            fn provider(&self) -> &'static str {
                "openai"
            }
            fn model(&self) -> &str {
                "m"
            }
        }
        let root = pipeline(vec![block(
            "s",
            MergeMode::AllMessages,
            vec![chat("draft", "P")],
        )]);
        let mut state = RunState::default();
        let lines = Mutex::new(Vec::new());
        let log = |line: &str| lines.lock().unwrap().push(line.to_owned());
        let err = execute(&root, &mut state, &Broken, "SYS", &log).unwrap_err();
        let expected =
            "`POST http://x/v1/chat/completions` failed after 3 attempts: could not connect";
        assert_eq!(err.path, "pipeline/s/draft");
        assert_eq!(err.message, expected);
        assert!(matches!(
            err.backend.as_deref(),
            Some(BackendError::Transport { .. })
        ));
        let source = std::error::Error::source(&err).expect("the transport cause");
        assert_eq!(source.to_string(), "refused");
        assert_eq!(
            lines.into_inner().unwrap().last().unwrap(),
            &format!("Step failed: pipeline/s/draft ({expected})")
        );

        let fake = Fake::default().fail("pipeline/x", "quota");
        let err = run(&pipeline(vec![chat("x", "P")]), &fake)
            .result
            .unwrap_err();
        assert_eq!(err.to_string(), "step `pipeline/x` failed: quota");
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn chat_records_carry_params_counts_and_meta() {
        let fake = Fake::default().reply("pipeline/s/draft", "héllo");
        let mut draft = step("draft", "Pé");
        draft.params.insert("max_tokens".into(), json!(50));
        draft.meta.insert("role".into(), json!("primary"));
        let root = pipeline(vec![
            chat("first", "12345"),
            Node::Block(Block {
                meta: json!({"stage_kind": "ab.kind", "doc": "Does it", "role": "ignored"})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..Block::new("s", vec![Node::Chat(draft)])
            }),
        ]);
        let out = run(&root, &fake);
        out.result.unwrap();
        let StepRecord::Chat { created_at, .. } = &out.state.steps[1] else {
            panic!("expected chat")
        };
        assert_eq!(created_at.len(), 20, "{created_at}");
        assert!(
            created_at.ends_with('Z') && created_at.as_bytes()[10] == b'T',
            "{created_at}"
        );
        // context: SYS (3) + 12345 (5) + "answer to pipeline/first" (24) = 32 chars, 3 messages.
        assert_eq!(
            out.state.steps[1],
            StepRecord::Chat {
                name: "draft".into(),
                path: "pipeline/s/draft".into(),
                prompt: "Pé".into(),
                response: "héllo".into(),
                params: json!({"temperature": 0.5, "max_tokens": 50, "model": "fake-model"}).as_object().unwrap().clone(),
                prompt_chars: 2,
                response_chars: 5,
                context_chars: 32,
                input_chars: 34,
                context_messages: 3,
                input_messages: 4,
                provider: "offline".into(),
                attempts: 2,
                usage: None,
                cache: None,
                finish_reason: None,
                answer_model: None,
                reasoning: None,
                sent_messages: None,
                created_at: created_at.clone(),
                meta: json!({"stage_kind": "ab.kind", "doc": "Does it", "role": "primary", "stage_id": "s"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }
        );
        let call = fake.call("pipeline/s/draft");
        assert_eq!((call.temperature, call.model, call.seed), (0.5, None, 42));
    }

    #[test]
    fn a_step_completion_limit_is_sent_and_checked_before_any_call() {
        let fake = Fake::default();
        let mut limited = step("limited", "P");
        limited
            .params
            .insert("max_completion_tokens".into(), json!(300));
        let out = run(
            &pipeline(vec![Node::Chat(limited), chat("free", "P")]),
            &fake,
        );
        out.result.unwrap();
        assert_eq!(
            fake.call("pipeline/limited").max_completion_tokens,
            Some(300)
        );
        assert_eq!(fake.call("pipeline/free").max_completion_tokens, None);

        let mut bad = step("bad", "P");
        bad.params
            .insert("max_completion_tokens".into(), json!("many"));
        let fake = Fake::default();
        let out = run(&pipeline(vec![Node::Chat(bad)]), &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new(
                "pipeline/bad",
                "params.max_completion_tokens must be a positive integer (got \"many\")"
            )
        );
        assert!(fake.calls().is_empty());
    }

    #[test]
    fn a_step_model_is_sent_and_recorded_beside_the_default() {
        let fake = Fake::default();
        let mut other = step("other", "P");
        other.params.insert("model".into(), json!("big-model"));
        let mut same = step("same", "P");
        same.params.insert("model".into(), json!("fake-model"));
        let out = run(&pipeline(vec![Node::Chat(other), Node::Chat(same)]), &fake);
        out.result.unwrap();
        assert_eq!(
            fake.call("pipeline/other").model.as_deref(),
            Some("big-model")
        );
        let params: Vec<Value> = out
            .state
            .steps
            .iter()
            .map(|r| match r {
                StepRecord::Chat { params, .. } => Value::Object(params.clone()),
                StepRecord::Action { .. } => Value::Null,
            })
            .collect();
        assert_eq!(
            params,
            [
                json!({"temperature": 0.5, "model": "big-model", "base_model": "fake-model"}),
                json!({"temperature": 0.5, "model": "fake-model"}),
            ]
        );
    }

    #[test]
    fn action_records_are_json_safe() {
        let fake = Fake::default();
        let big: Vec<u32> = (0..30).collect();
        let result = json!({"list": big, "deep": {"a": {"b": {"c": 1}}}, "n": 1});
        let expected_list: Vec<Value> = (0..25)
            .map(|i| json!(i))
            .chain([json!("<5 more>")])
            .collect();
        let root = pipeline(vec![Node::Block(Block {
            meta: json!({"stage_kind": "k"}).as_object().unwrap().clone(),
            ..Block::new(
                "s",
                vec![action(
                    Some("act"),
                    None,
                    Arc::new(move |_| Ok(result.clone())),
                )],
            )
        })]);
        let out = run(&root, &fake);
        out.result.unwrap();
        let StepRecord::Action {
            name,
            path,
            meta,
            result,
            created_at,
        } = &out.state.steps[0]
        else {
            panic!("expected an action record")
        };
        assert_eq!(
            (name.as_str(), path.as_str(), created_at.len()),
            ("act", "pipeline/s/act", 20)
        );
        assert_eq!(
            Value::Object(meta.clone()),
            json!({"stage_kind": "k", "stage_id": "s"})
        );
        // Four levels are kept: the fifth (even a scalar) becomes a marker, as in the reference.
        assert_eq!(
            result,
            &json!({"list": expected_list, "deep": {"a": {"b": {"c": "<max_depth>"}}}, "n": 1})
        );

        let wide: Map<String, Value> = (0..27).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let safe = json_safe(&Value::Object(wide), MAX_DEPTH);
        let safe = safe.as_object().unwrap();
        assert_eq!(safe.len(), 26);
        assert_eq!(safe.get("<more>"), Some(&json!("<2 more>")));
        assert_eq!(safe.get("k24"), Some(&json!(24)));
    }

    #[test]
    fn oplog_lines_follow_each_step() {
        let fake = Fake::default().reply("pipeline/s/draft", "abc");
        let root = pipeline(vec![Node::Block(Block {
            meta: json!({"doc": "Draft a \"scene\""})
                .as_object()
                .unwrap()
                .clone(),
            ..Block::new(
                "s",
                vec![
                    action(Some("act"), None, Arc::new(|_| Ok(Value::Null))),
                    chat("draft", "PROMPT"),
                ],
            )
        })]);
        let out = run(&root, &fake);
        out.result.unwrap();
        assert_eq!(
            out.lines,
            [
                r#"Step: pipeline/s/act (type=action, stage_id=s, doc="Draft a \"scene\"")"#,
                "Completed action pipeline/s/act (stage_id=s)",
                r#"Step: pipeline/s/draft (type=chat, stage_id=s, doc="Draft a \"scene\"", context_chars=3, prompt_chars=6, input_chars=9)"#,
                "Received response for pipeline/s/draft (input_chars=9, chars=3, stage_id=s)",
            ]
        );
    }

    fn parallel_block(children: Vec<Node>) -> Node {
        Node::Block(Block {
            parallel: true,
            ..Block::new("par", children)
        })
    }

    fn captured(name: &str) -> Node {
        let mut s = step(name, &format!("P-{name}"));
        s.capture_key = Some(format!("key_{name}"));
        Node::Chat(s)
    }

    #[test]
    fn parallel_children_run_concurrently_and_apply_in_order() {
        let fake = Fake {
            delay: Duration::from_millis(150),
            ..Fake::default()
        };
        let root = pipeline(vec![
            chat("before", "P0"),
            parallel_block(vec![
                captured("a"),
                captured("b"),
                captured("c"),
                captured("d"),
            ]),
            chat("after", "PZ"),
        ]);
        let out = run(&root, &fake);
        out.result.unwrap();
        assert!(
            fake.peak.load(Ordering::SeqCst) >= 2,
            "children did not overlap"
        );
        assert_eq!(
            paths(&out.state),
            [
                "pipeline/before",
                "pipeline/par/a",
                "pipeline/par/b",
                "pipeline/par/c",
                "pipeline/par/d",
                "pipeline/after"
            ]
        );
        let keys: Vec<&str> = out.state.outputs.keys().map(String::as_str).collect();
        assert_eq!(keys, ["key_a", "key_b", "key_c", "key_d"]);
        // Each child saw only the conversation at block start.
        let start = [
            ("system", "SYS"),
            ("user", "P0"),
            ("assistant", "answer to pipeline/before"),
        ];
        let mut expected_c = msgs(&start);
        expected_c.push(("user".into(), "P-c".into()));
        assert_eq!(fake.call("pipeline/par/c").messages, expected_c);
        // The merges landed in declaration order.
        let mut expected_after = msgs(&start);
        for name in ["a", "b", "c", "d"] {
            expected_after.push(("user".into(), format!("P-{name}")));
            expected_after.push(("assistant".into(), format!("answer to pipeline/par/{name}")));
        }
        expected_after.push(("user".into(), "PZ".into()));
        assert_eq!(fake.call("pipeline/after").messages, expected_after);
        // Oplog lines are grouped per child, in declaration order.
        let received: Vec<&String> = out
            .lines
            .iter()
            .filter(|l| l.starts_with("Received"))
            .collect();
        assert_eq!(received.len(), 6);
        assert!(received[1].starts_with("Received response for pipeline/par/a "));
        assert!(received[4].starts_with("Received response for pipeline/par/d "));
    }

    #[test]
    fn parallel_results_do_not_depend_on_timing() {
        let run_with = |delays: &[(&str, u64)]| {
            let fake = Fake {
                delays: delays
                    .iter()
                    .map(|(p, ms)| ((*p).to_owned(), Duration::from_millis(*ms)))
                    .collect(),
                ..Fake::default()
            };
            let root = pipeline(vec![parallel_block(vec![
                captured("a"),
                captured("b"),
                captured("c"),
            ])]);
            let out = run(&root, &fake);
            out.result.unwrap();
            (paths(&out.state), out.state.outputs, out.lines)
        };
        let slow_first = run_with(&[("pipeline/par/a", 120), ("pipeline/par/b", 60)]);
        let slow_last = run_with(&[("pipeline/par/c", 120), ("pipeline/par/b", 60)]);
        assert_eq!(slow_first, slow_last);
    }

    #[test]
    fn a_parallel_failure_reports_the_first_in_declaration_order() {
        let fake = Fake {
            delays: [("pipeline/par/b".to_owned(), Duration::from_millis(120))]
                .into_iter()
                .collect(),
            ..Fake::default()
        }
        .fail("pipeline/par/b", "slow failure")
        .fail("pipeline/par/c", "fast failure");
        let root = pipeline(vec![parallel_block(vec![
            captured("a"),
            captured("b"),
            captured("c"),
        ])]);
        let out = run(&root, &fake);
        assert_eq!(
            out.result.unwrap_err(),
            EngineError::new("pipeline/par/b", "slow failure")
        );
        // What ran before the failure in declaration order is kept; nothing after it.
        assert_eq!(paths(&out.state), ["pipeline/par/a"]);
        assert_eq!(out.state.outputs.keys().collect::<Vec<_>>(), ["key_a"]);
        assert_eq!(
            out.lines.last().unwrap(),
            "Step failed: pipeline/par/b (slow failure)"
        );
        assert!(!out.lines.iter().any(|l| l.contains("fast failure")));
    }

    #[test]
    fn parallel_actions_see_outputs_from_before_the_block() {
        let fake = Fake::default();
        let root = pipeline(vec![
            action(Some("seed"), Some("base"), Arc::new(|_| Ok(json!(10)))),
            parallel_block(vec![
                action(
                    Some("x"),
                    Some("x"),
                    Arc::new(|s| Ok(json!(s.outputs["base"].as_i64().unwrap() + 1))),
                ),
                action(
                    Some("y"),
                    Some("y"),
                    Arc::new(|s| Ok(json!(s.outputs.get("x").is_some()))),
                ),
            ]),
        ]);
        let out = run(&root, &fake);
        out.result.unwrap();
        assert_eq!(
            Value::Object(out.state.outputs),
            json!({"base": 10, "x": 11, "y": false})
        );
    }
}

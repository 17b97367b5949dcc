//! The two stage conventions (reference §1.3): a chat stage is a block named after its instance
//! holding one primary chat step `draft`; an action stage is a block holding one action step
//! `action`. Composite stages build their own block (named after the instance id).

use serde_json::Value;

use super::node::{ActionFn, ActionStep, Block, ChatStep, MergeMode, Node};

/// The name of a chat stage's primary step, the one `prompt.stages.overrides` targets.
pub const DRAFT_STEP: &str = "draft";

/// The name of an action stage's step.
pub const ACTION_STEP: &str = "action";

/// A chat stage: block `instance_id` with merge `last_response` (so the stage adds only its
/// answer to the shared conversation) holding `step`, renamed `draft` and marked
/// `role = "primary"`. A stage that needs another merge sets `merge` on the returned block.
pub fn chat_stage_block(instance_id: &str, mut step: ChatStep) -> Block {
    step.name = Some(DRAFT_STEP.to_owned());
    step.meta
        .insert("role".to_owned(), Value::String("primary".to_owned()));
    Block {
        merge: MergeMode::LastResponse,
        ..Block::new(instance_id, vec![Node::Chat(step)])
    }
}

/// An action stage: block `instance_id` with merge `none` holding one action step `action`
/// (merge `none`), which stores its result under `capture_key` when given.
pub fn action_stage_block(instance_id: &str, action: ActionFn, capture_key: Option<&str>) -> Block {
    let step = ActionStep {
        name: Some(ACTION_STEP.to_owned()),
        action,
        merge: MergeMode::None,
        capture_key: capture_key.map(str::to_owned),
        meta: serde_json::Map::new(),
    };
    Block {
        merge: MergeMode::None,
        ..Block::new(instance_id, vec![Node::Action(step)])
    }
}

/// Whether `node` is a primary draft step (`ChatStep` named `draft` with `role = "primary"`).
pub fn is_primary_draft(node: &Node) -> bool {
    matches!(node, Node::Chat(step)
        if step.name.as_deref() == Some(DRAFT_STEP)
            && step.meta.get("role").and_then(Value::as_str) == Some("primary"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::ResponseShape;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn chat_stage_block_wraps_a_primary_draft() {
        let mut step = ChatStep::new(
            "whatever",
            0.5,
            ResponseShape::Text,
            Arc::new(|_| Ok("p".into())),
        );
        step.capture_key = Some("k".into());
        let block = chat_stage_block("ab.scene_draft", step);
        assert_eq!(block.name.as_deref(), Some("ab.scene_draft"));
        assert_eq!(block.merge, MergeMode::LastResponse);
        assert!(!block.parallel);
        assert_eq!(block.nodes.len(), 1);
        assert!(is_primary_draft(&block.nodes[0]));
        let Node::Chat(draft) = &block.nodes[0] else {
            panic!("expected a chat step")
        };
        assert_eq!(draft.meta, *json!({"role": "primary"}).as_object().unwrap());
        assert_eq!(draft.merge, MergeMode::AllMessages);
        assert_eq!(draft.capture_key.as_deref(), Some("k"));
        assert_eq!(draft.temperature, 0.5);
    }

    #[test]
    fn action_stage_block_wraps_one_action() {
        let block = action_stage_block(
            "ab.random_token",
            Arc::new(|_| Ok(json!("t"))),
            Some("ab_random_token"),
        );
        assert_eq!(block.name.as_deref(), Some("ab.random_token"));
        assert_eq!(block.merge, MergeMode::None);
        let [Node::Action(action)] = block.nodes.as_slice() else {
            panic!("expected one action")
        };
        assert_eq!(action.name.as_deref(), Some("action"));
        assert_eq!(action.merge, MergeMode::None);
        assert_eq!(action.capture_key.as_deref(), Some("ab_random_token"));
        assert!(!is_primary_draft(&block.nodes[0]));
    }
}

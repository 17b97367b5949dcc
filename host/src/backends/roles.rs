//! `backend.text.alternate_roles`: normalising a request's messages for servers whose chat
//! templates accept only an optional system message followed by strictly alternating
//! user/assistant turns (llama.cpp server and vLLM with many open models refuse anything else).
//!
//! The rule, in order: system messages after the first position are merged into the first (or
//! become it); consecutive messages of one role are merged, their contents joined by a blank
//! line; an assistant turn right after the system message (or first) gets a short user turn
//! before it (`prompts/backends/continue_turn.j2`). The pipeline always ends a request with a
//! user turn, so the result ends with one too.

use super::{BackendError, ChatMessage};

const SYSTEM: &str = "system";
const USER: &str = "user";
const ASSISTANT: &str = "assistant";

/// `messages` normalised as the module head says.
pub(crate) fn alternate(messages: &[ChatMessage]) -> Result<Vec<ChatMessage>, BackendError> {
    let mut system: Option<ChatMessage> = None;
    let mut turns: Vec<ChatMessage> = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        if message.role == SYSTEM {
            match &mut system {
                Some(first) => join(&mut first.content, &message.content),
                None => system = Some(message.clone()),
            }
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == message.role => join(&mut last.content, &message.content),
            None if message.role == ASSISTANT => {
                turns.push(ChatMessage {
                    role: USER.to_string(),
                    content: crate::prompts::render(
                        "backends/continue_turn",
                        minijinja::context! {},
                    )
                    .map_err(BackendError::Other)?,
                });
                turns.push(message.clone());
            }
            _ => turns.push(message.clone()),
        }
    }
    Ok(system.into_iter().chain(turns).collect())
}

fn join(into: &mut String, more: &str) {
    into.push_str("\n\n");
    into.push_str(more);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    fn pairs(messages: &[ChatMessage]) -> Vec<(&str, &str)> {
        messages
            .iter()
            .map(|m| (m.role.as_str(), m.content.as_str()))
            .collect()
    }

    #[test]
    fn consecutive_roles_merge_and_an_assistant_after_system_gets_a_user_turn() {
        let sent = alternate(&[
            m("system", "S"),
            m("assistant", "A1"),
            m("assistant", "A2"),
            m("user", "U1"),
            m("user", "U2"),
            m("system", "S2"),
            m("assistant", "A3"),
            m("user", "U3"),
        ])
        .unwrap();
        assert_eq!(
            pairs(&sent),
            vec![
                ("system", "S\n\nS2"),
                ("user", "Continue."),
                ("assistant", "A1\n\nA2"),
                ("user", "U1\n\nU2"),
                ("assistant", "A3"),
                ("user", "U3"),
            ]
        );
        let plain = [m("system", "S"), m("user", "U")];
        assert_eq!(alternate(&plain).unwrap(), plain.to_vec());
    }
}

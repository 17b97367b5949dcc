//! `backend.text.alternate_roles` over the real conversations of every plan the four in-tree
//! experiments run (the three A/B stage sequences, `blackbox` with the dislike rewrite on,
//! `blackbox_refine`, `simple_no_concepts`, `direct`): each run's calls go through the openai
//! backend with `alternate_roles = true` to a loopback stub that records the requests, and are
//! answered by the offline backend so the run goes on as offline runs do. Every request sent must
//! be an optional system message, then strictly alternating user/assistant turns.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::{run_generation, Backends, GenerationRequest};
use crate::backends::stub::{Canned, Stub};
use crate::backends::{
    image_backend, text_backend, BackendError, ChatCall, ChatReply, TextBackend,
};
use crate::config::default_tree;

const KEY_VAR: &str = "ALTERNATE_ROLES_TEST_KEY";

/// Sends each call over HTTP (recorded by the stub, answer dropped), answers it offline.
/// Counts the calls whose own messages do not alternate, so the test is not vacuous.
struct Tee {
    http: Arc<dyn TextBackend>,
    offline: Arc<dyn TextBackend>,
    unaligned: AtomicUsize,
}

/// Whether `roles` are an optional system message, then user, assistant, user, ...
fn alternates(roles: &[&str]) -> bool {
    let turns = roles.strip_prefix(&["system"]).unwrap_or(roles);
    turns
        .iter()
        .enumerate()
        .all(|(i, role)| *role == if i % 2 == 0 { "user" } else { "assistant" })
}

impl TextBackend for Tee {
    fn chat(&self, call: &ChatCall<'_>) -> Result<ChatReply, BackendError> {
        let roles: Vec<&str> = call.messages.iter().map(|m| m.role.as_str()).collect();
        if !alternates(&roles) {
            self.unaligned.fetch_add(1, Ordering::SeqCst);
        }
        self.http.chat(call)?;
        self.offline.chat(call)
    }
    fn provider(&self) -> &'static str {
        self.offline.provider()
    }
    fn model(&self) -> &str {
        self.offline.model()
    }
}

fn env(name: &str) -> Option<String> {
    (name == KEY_VAR).then(|| "sk-test".to_string())
}

/// The default config with `overlay`, in prompt-only mode with a fixed seed and date.
fn config(overlay: Value) -> Value {
    let mut tree = default_tree().expect("default config");
    crate::config::take_experiment_runners(&mut tree).expect("runner keys");
    let fixed = json!({
        "run": {"mode": "prompt_only"},
        "prompt": {"random_seed": 7},
        "context": {"today": "2026-03-01"},
    });
    plugin_api::merge::deep_merge(&mut tree, &fixed).expect("merge");
    plugin_api::merge::deep_merge(&mut tree, &overlay).expect("merge");
    tree
}

fn run(tree: &Value, backends: &Backends, cwd: &Path) {
    let outcome = run_generation(&GenerationRequest {
        config: tree,
        generation_id: None,
        cwd,
        env: &env,
        backends: Some(backends),
        title_slot: None,
        recent_prompts: None,
        stages: &crate::stages::Registry::builtin(),
    })
    .expect("run");
    assert!(outcome.error.is_none(), "{tree}: {:?}", outcome.error);
}

#[test]
fn every_plan_of_the_experiments_sends_alternating_roles() {
    let stub = Stub::rate_limited(1_000_000, 1_000_000, Canned::chat("ok"));
    let defaults = config(json!({}));
    let text_config = |provider: &str| {
        let mut text = defaults["backend"]["text"].clone();
        text["provider"] = json!(provider);
        text["base_url"] = json!(stub.url);
        text["api_key_env"] = json!(KEY_VAR);
        text["alternate_roles"] = json!(true);
        serde_json::from_value(text).expect("text config")
    };
    let image_config =
        serde_json::from_value(defaults["backend"]["image"].clone()).expect("image config");
    let offline = text_backend(&text_config("offline"), &env).expect("offline");
    let tee = Arc::new(Tee {
        http: text_backend(&text_config("openai"), &env).expect("openai"),
        offline: Arc::clone(&offline),
        unaligned: AtomicUsize::new(0),
    });
    let backends = Backends {
        text: Arc::clone(&tee) as Arc<dyn TextBackend>,
        image: image_backend(&image_config, &text_config("offline"), &env).expect("image"),
    };
    let ab =
        |sequence: &[&str]| json!({"prompt": {"plan": "custom", "stages": {"sequence": sequence}}});
    let overlays = [
        ab(&[
            "ab.random_token",
            "ab.scene_draft",
            "ab.scene_refine_no_block",
            "ab.final_prompt_format",
        ]),
        ab(&[
            "ab.random_token",
            "ab.scene_draft",
            "ab.scene_refine_with_block",
            "ab.final_prompt_format",
        ]),
        ab(&[
            "ab.random_token",
            "ab.scene_draft",
            "ab.scene_spec_json",
            "ab.final_prompt_format_from_scenespec",
        ]),
        json!({"prompt": {"plan": "blackbox", "stage_configs": {"defaults": {
            "preprompt.filter_concepts": {"enabled": true}}}}}),
        json!({"prompt": {"plan": "blackbox_refine"}}),
        json!({"prompt": {"plan": "simple_no_concepts"}, "context": {"enabled": true}}),
        json!({"prompt": {"plan": "direct"}}),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for overlay in overlays {
        run(&config(overlay), &backends, dir.path());
    }

    let requests = stub.requests();
    assert!(requests.len() > 20, "only {} requests", requests.len());
    for request in &requests {
        let body = request.json();
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().expect("role"))
            .collect();
        assert!(alternates(&roles), "roles {roles:?} in {body}");
    }
    let unaligned = tee.unaligned.load(Ordering::SeqCst);
    assert!(
        unaligned > 0,
        "no call needed normalising: the test proves nothing"
    );
}

//! The strict checks every layer passes before it is merged: known sections, and no secrets.
//!
//! Checking each layer on its own (rather than the merged tree) lets the error name the file or
//! `--set` that is wrong. The full schema (every key, every type) is the pipeline's to check once
//! it lands; this module only knows the top-level sections and the secret rule (DESIGN §6).

use serde_json::Value;

use super::error::{ConfigError, Layer};
use super::key;
use super::suggest::did_you_mean;

/// The top-level sections a config may have.
pub const SECTIONS: &[&str] = &[
    "run",
    "image",
    "prompt",
    "context",
    "experiment",
    "backend",
    "data",
    "pricing",
    "budget",
    "cache",
    "experiment_runners",
];

/// Key names that hold secrets, compared case-insensitively with a whole key segment.
pub const SECRET_KEYS: &[&str] = &[
    "api_key",
    "apikey",
    "token",
    "secret",
    "password",
    "authorization",
];

/// Whether a key segment names a secret (`API_KEY` does, `api_key_env` and `token_budget` do not).
pub fn is_secret_key(segment: &str) -> bool {
    SECRET_KEYS
        .iter()
        .any(|secret| segment.eq_ignore_ascii_case(secret))
}

/// Runs the secret and section checks on one layer.
pub(crate) fn check_layer(tree: &Value, layer: &Layer) -> Result<(), ConfigError> {
    // Secrets first: a top-level `api_key` is better reported as a secret than as a section.
    check_secrets(tree, layer)?;
    check_sections(tree, layer)
}

fn check_secrets(tree: &Value, layer: &Layer) -> Result<(), ConfigError> {
    key::walk(tree, &mut |path, value| match value {
        Value::Object(map) => match map.keys().find(|k| is_secret_key(k)) {
            // The value is deliberately left out of the error.
            Some(secret) => Err(ConfigError::SecretKey {
                key: key::child(path, secret),
                layer: layer.clone(),
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    })
}

fn check_sections(tree: &Value, layer: &Layer) -> Result<(), ConfigError> {
    // A layer is always a table: a TOML document, or the table `--set` builds.
    let Value::Object(map) = tree else {
        return Ok(());
    };
    for (name, value) in map {
        if !SECTIONS.contains(&name.as_str()) {
            return Err(ConfigError::UnknownSection {
                key: key::dotted([name.as_str()]),
                layer: layer.clone(),
                suggestion: did_you_mean(name, SECTIONS.iter().copied()),
            });
        }
        if !value.is_object() {
            return Err(ConfigError::SectionNotTable {
                key: key::dotted([name.as_str()]),
                layer: layer.clone(),
                found: plugin_api::merge::shape(value),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn file() -> Layer {
        Layer::File(PathBuf::from("/w/c.toml"))
    }

    #[test]
    fn secret_segments_are_whole_and_case_insensitive() {
        for key in [
            "api_key",
            "API_KEY",
            "ApiKey",
            "token",
            "Secret",
            "PASSWORD",
            "authorization",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "api_key_env",
            "token_budget",
            "max_tokens",
            "secrets_dir",
            "auth",
            "",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secrets_anywhere_are_errors_without_the_value() {
        let cases = [
            (
                json!({"backend": {"text": {"api_key": "sk-live-123"}}}),
                "backend.text.api_key",
            ),
            (
                json!({"experiment_runners": {"x": {"Token": "sk-live-123"}}}),
                "experiment_runners.x.Token",
            ),
            (
                json!({"prompt": {"stage_configs": {"defaults": {"ab.scene_draft": {"secret": "sk-live-123"}}}}}),
                "prompt.stage_configs.defaults.\"ab.scene_draft\".secret",
            ),
            (
                json!({"backend": {"list": [{"ok": 1}, {"password": "sk-live-123"}]}}),
                "backend.list[1].password",
            ),
            (json!({"authorization": "sk-live-123"}), "authorization"),
            // A table named like a secret is refused too: the rule is about the key.
            (
                json!({"backend": {"token": {"value": "sk-live-123"}}}),
                "backend.token",
            ),
        ];
        for (tree, expected) in cases {
            let err = check_layer(&tree, &file()).unwrap_err();
            match &err {
                ConfigError::SecretKey { key, .. } => assert_eq!(key, expected),
                other => panic!("{other:?}"),
            }
            let msg = err.to_string();
            assert!(!msg.contains("sk-live-123"), "{msg}");
            assert!(!format!("{err:?}").contains("sk-live-123"));
            assert!(msg.contains("`api_key_env`"), "{msg}");
            assert!(
                msg.starts_with(&format!("`{expected}` in `/w/c.toml` looks like a secret")),
                "{msg}"
            );
        }
    }

    #[test]
    fn api_key_env_is_fine() {
        let tree = json!({"backend": {"text": {"api_key_env": "OPENAI_API_KEY"}}});
        check_layer(&tree, &file()).unwrap();
    }

    #[test]
    fn every_known_section_is_accepted() {
        let mut tree = serde_json::Map::new();
        for s in SECTIONS {
            tree.insert((*s).to_owned(), json!({}));
        }
        check_layer(&Value::Object(tree), &file()).unwrap();
    }

    #[test]
    fn unknown_section_suggests_the_closest() {
        let err = check_layer(&json!({"promt": {"plan": "x"}}), &file()).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::UnknownSection {
                suggestion: Some("prompt"),
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "unknown config section `promt` in `/w/c.toml`\n\ndid you mean `prompt`? "
            ),
            "{msg}"
        );
        assert!(msg.contains("`experiment_runners`"), "{msg}");

        let err = check_layer(&json!({"upscale": {}}), &file()).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::UnknownSection {
                suggestion: None,
                ..
            }
        ));
        assert!(err.to_string().ends_with("\n\nthe sections are `run`, `image`, `prompt`, `context`, `experiment`, `backend`, `data`, `pricing`, `budget`, `cache`, `experiment_runners`"));
    }

    #[test]
    fn unknown_section_with_odd_name_is_quoted() {
        let err = check_layer(&json!({"a.b": {}}), &file()).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownSection { ref key, .. } if key == "\"a.b\""));
    }

    #[test]
    fn top_level_scalars_are_not_sections() {
        // `mode = "full"` at the top instead of under `[run]`.
        let err = check_layer(&json!({"mode": "full"}), &file()).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownSection { .. }));
        let err = check_layer(&json!({"run": "full"}), &file()).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::SectionNotTable {
                found: "string",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "config section `run` in `/w/c.toml` must be a table, not a string"
        );
    }
}

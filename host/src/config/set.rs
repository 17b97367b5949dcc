//! `--set KEY=VALUE`: one assignment, turned into a one-key config layer.
//!
//! KEY is a TOML dotted key and VALUE a TOML value, so the toml crate does the parsing: we build
//! the document `KEY = VALUE` and read it like any config file. What this module adds is the
//! explanation when that fails (no `=`, a bad key, a string without quotes) and two guards: a
//! key that names a secret is refused before its value is looked at (so no error can echo it),
//! and a value may not sneak in extra keys through a newline. The values of keys that people
//! mistake for the secret's place (`api_key_env`, `base_url`, `base_urls`: see
//! [`VALUE_HIDDEN_KEYS`]) are never quoted back either.

use serde_json::Value;

use super::checks::is_secret_key;
use super::error::{ConfigError, Layer};
use super::key;
use super::values::{one_line, parse_document};

/// Keys (last segment) whose `--set` values an error never quotes: a key pasted into
/// `api_key_env`, or a URL with credentials, must not reach stderr.
pub const VALUE_HIDDEN_KEYS: &[&str] = &["api_key_env", "base_url", "base_urls"];

/// Parses `KEY=VALUE` into a nested table holding the one value.
///
/// `prompt.stage_configs.defaults."ab.scene_draft".temperature=0.5` gives
/// `{"prompt": {"stage_configs": {"defaults": {"ab.scene_draft": {"temperature": 0.5}}}}}`.
///
/// # Errors
///
/// A `ConfigError::Set*` variant explaining the expected syntax; [`ConfigError::SecretKey`] for a
/// key that names a secret; [`ConfigError::Datetime`] and [`ConfigError::NonFinite`] as for files.
pub fn parse_set(assignment: &str) -> Result<Value, ConfigError> {
    parse_set_layer(assignment).map(|(tree, _)| tree)
}

/// [`parse_set`], also returning the layer name (`--set <dotted key>`) for later errors.
pub(crate) fn parse_set_layer(assignment: &str) -> Result<(Value, Layer), ConfigError> {
    let Some(eq) = find_equals(assignment) else {
        return Err(ConfigError::SetMissingEquals {
            assignment: assignment.to_owned(),
        });
    };
    let raw_key = assignment[..eq].trim();
    let raw_value = assignment[eq + 1..].trim();
    if raw_key.is_empty() {
        return Err(ConfigError::SetEmptyKey {
            assignment: assignment.to_owned(),
        });
    }

    let segments = key_segments(raw_key)?;
    let dotted = key::dotted(segments.iter().map(String::as_str));
    let layer = Layer::Set(dotted.clone());

    // Before the value is even parsed: a failed parse would quote the value back.
    for depth in 1..=segments.len() {
        if is_secret_key(&segments[depth - 1]) {
            return Err(ConfigError::SecretKey {
                key: key::dotted(segments[..depth].iter().map(String::as_str)),
                layer,
            });
        }
    }

    if raw_value.is_empty() {
        return Err(ConfigError::SetEmptyValue { key: dotted });
    }
    let tree = match parse_document(&format!("{raw_key} = {raw_value}"), &layer) {
        Ok(tree) => tree,
        Err(ConfigError::Toml { .. })
            if segments
                .last()
                .is_some_and(|last| VALUE_HIDDEN_KEYS.contains(&last.as_str())) =>
        {
            return Err(ConfigError::SetHiddenValue { key: dotted });
        }
        Err(ConfigError::Toml { message, .. }) => {
            return Err(if looks_bare(raw_key, raw_value) {
                ConfigError::SetBareWord {
                    suggestion: quoted_suggestion(raw_key, raw_value),
                    key: dotted,
                    value: raw_value.to_owned(),
                }
            } else {
                ConfigError::SetValue {
                    key: dotted,
                    message,
                }
            });
        }
        Err(other) => return Err(other),
    };
    if !is_single_chain(&tree, &segments) {
        return Err(ConfigError::SetNotSingle { key: dotted });
    }
    Ok((tree, layer))
}

/// Byte index of the first `=` outside a quoted key segment.
fn find_equals(assignment: &str) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Basic,
        BasicEscape,
        Literal,
    }
    let mut state = State::Plain;
    for (i, c) in assignment.char_indices() {
        state = match (state, c) {
            (State::Plain, '=') => return Some(i),
            (State::Plain, '"') => State::Basic,
            (State::Plain, '\'') => State::Literal,
            (State::Basic, '\\') => State::BasicEscape,
            (State::Basic, '"') | (State::Literal, '\'') => State::Plain,
            (State::BasicEscape, _) => State::Basic,
            (state, _) => state,
        };
    }
    None
}

/// The segments of a dotted key, as TOML reads them (quotes removed, escapes applied).
fn key_segments(raw_key: &str) -> Result<Vec<String>, ConfigError> {
    let probe = format!("{raw_key} = 0");
    let tree: Value = toml::from_str(&probe).map_err(|err| ConfigError::SetKey {
        key: raw_key.to_owned(),
        message: one_line(err.message()),
    })?;
    // `KEY = 0` yields a chain of one-key tables ending in the 0.
    let mut segments = Vec::new();
    let mut node = &tree;
    while let Value::Object(map) = node {
        let Some((segment, child)) = map.iter().next() else {
            break;
        };
        segments.push(segment.clone());
        node = child;
    }
    Ok(segments)
}

/// Whether `tree` holds nothing but the path `segments` (whatever the value at its end).
fn is_single_chain(tree: &Value, segments: &[String]) -> bool {
    let mut node = tree;
    for segment in segments {
        match node {
            Value::Object(map) if map.len() == 1 => match map.get(segment) {
                Some(child) => node = child,
                None => return false,
            },
            _ => return false,
        }
    }
    true
}

/// A value that does not parse but would as a quoted string: a word that lost its quotes.
fn looks_bare(raw_key: &str, raw_value: &str) -> bool {
    !raw_value.starts_with(['"', '\'', '[', '{'])
        && !raw_value.contains(['\n', '\r'])
        && toml::from_str::<Value>(&format!("{raw_key} = {}", basic_string(raw_value))).is_ok()
}

/// `value` as a TOML basic string.
fn basic_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The assignment with its value quoted, written for a POSIX shell:
/// `--set run.mode='"full"'`, or the whole argument quoted when the key has quotes of its own.
fn quoted_suggestion(raw_key: &str, raw_value: &str) -> String {
    let value = basic_string(raw_value);
    let plain_key = raw_key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain_key {
        format!("`--set {raw_key}={}`", shell_quote(&value))
    } else {
        format!("`--set {}`", shell_quote(&format!("{raw_key}={value}")))
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_values() {
        let cases = [
            (
                r#"run.mode="prompt_only""#,
                json!({"run": {"mode": "prompt_only"}}),
            ),
            (
                "backend.text.timeout_s=60",
                json!({"backend": {"text": {"timeout_s": 60}}}),
            ),
            (
                "backend.text.json_mode=false",
                json!({"backend": {"text": {"json_mode": false}}}),
            ),
            ("x.f=0.5", json!({"x": {"f": 0.5}})),
            (
                "x.s='literal \\ text'",
                json!({"x": {"s": "literal \\ text"}}),
            ),
            (r#"x.e="""#, json!({"x": {"e": ""}})),
        ];
        for (assignment, expected) in cases {
            assert_eq!(parse_set(assignment).unwrap(), expected, "{assignment}");
        }
    }

    #[test]
    fn arrays_and_inline_tables() {
        assert_eq!(
            parse_set(r#"prompt.stages.sequence=["ab.random_token", "ab.scene_draft"]"#).unwrap(),
            json!({"prompt": {"stages": {"sequence": ["ab.random_token", "ab.scene_draft"]}}})
        );
        assert_eq!(
            parse_set("a.b={ x = 1, y = [true] }").unwrap(),
            json!({"a": {"b": {"x": 1, "y": [true]}}})
        );
    }

    #[test]
    fn quoted_segments_may_hold_dots_and_equals() {
        assert_eq!(
            parse_set(r#"prompt.stage_configs.defaults."ab.scene_draft".temperature=0.5"#).unwrap(),
            json!({"prompt": {"stage_configs": {"defaults": {"ab.scene_draft": {"temperature": 0.5}}}}})
        );
        assert_eq!(parse_set(r#"a."k=v"=1"#).unwrap(), json!({"a": {"k=v": 1}}));
        assert_eq!(
            parse_set("a.'lit=\"x'=1").unwrap(),
            json!({"a": {"lit=\"x": 1}})
        );
        assert_eq!(
            parse_set(r#"a."q\"=x"=1"#).unwrap(),
            json!({"a": {"q\"=x": 1}})
        );
    }

    #[test]
    fn spaces_around_equals_are_fine() {
        assert_eq!(
            parse_set("run.mode = \"full\"").unwrap(),
            json!({"run": {"mode": "full"}})
        );
    }

    #[test]
    fn value_may_contain_equals() {
        assert_eq!(
            parse_set(r#"x.q="a=b""#).unwrap(),
            json!({"x": {"q": "a=b"}})
        );
    }

    #[test]
    fn layer_is_named_by_the_canonical_key() {
        let (_, layer) = parse_set_layer(r#"a . 'b.c' = 1"#).unwrap();
        assert_eq!(layer, Layer::Set(r#"a."b.c""#.into()));
    }

    #[test]
    fn missing_equals_shows_the_form() {
        let err = parse_set("run.mode").unwrap_err();
        assert!(matches!(err, ConfigError::SetMissingEquals { .. }));
        assert_eq!(
            err.to_string(),
            "`--set run.mode` is not of the form `KEY=VALUE`\n\nfor example \
             `--set run.mode='\"prompt_only\"'` or `--set backend.text.timeout_s=60`"
        );
        // An `=` inside a quoted segment does not count.
        assert!(matches!(
            parse_set(r#"a."b=c""#),
            Err(ConfigError::SetMissingEquals { .. })
        ));
    }

    #[test]
    fn empty_key_or_value() {
        assert!(matches!(
            parse_set("=1"),
            Err(ConfigError::SetEmptyKey { .. })
        ));
        let err = parse_set("run.mode=").unwrap_err();
        assert!(matches!(err, ConfigError::SetEmptyValue { .. }));
        assert!(err.to_string().contains("`--set run.mode='\"\"'`"), "{err}");
    }

    #[test]
    fn bare_word_suggests_quoting() {
        let err = parse_set("run.mode=full").unwrap_err();
        assert!(matches!(err, ConfigError::SetBareWord { .. }));
        assert_eq!(
            err.to_string(),
            "the value of `--set run.mode` is not a TOML value: `full`\n\n\
             strings need quotes inside the shell's quotes: `--set run.mode='\"full\"'`"
        );
        // Several words, a version number: still "quote it".
        for assignment in ["prompt.plan=my plan", "x.v=1.2.3", "x.p=path/to/file.csv"] {
            assert!(
                matches!(parse_set(assignment), Err(ConfigError::SetBareWord { .. })),
                "{assignment}"
            );
        }
    }

    #[test]
    fn values_of_keys_mistaken_for_secrets_are_never_quoted() {
        for assignment in [
            "backend.text.api_key_env=sk-proj-SECRET123",
            "backend.image.api_key_env=SECRET123 with spaces",
            "backend.text.base_url=https://u:SECRET123@h/v1",
            "backend.text.base_urls=[https://u:SECRET123@h/v1]",
        ] {
            let err = parse_set(assignment).unwrap_err();
            assert!(
                matches!(err, ConfigError::SetHiddenValue { .. }),
                "{assignment}: {err:?}"
            );
            assert!(!format!("{err}{err:?}").contains("SECRET123"), "{err}");
        }
        assert_eq!(
            parse_set("backend.text.api_key_env=sk-x")
                .unwrap_err()
                .to_string(),
            "the value of `--set backend.text.api_key_env` is not a TOML value (it is not shown, \
             in case it is a secret)\n\nstrings need quotes inside the shell's quotes, \
             e.g. `--set backend.text.api_key_env='\"OPENAI_API_KEY\"'`"
        );
    }

    #[test]
    fn bare_word_suggestion_survives_awkward_characters() {
        let err = parse_set("x.y=it's").unwrap_err();
        match err {
            ConfigError::SetBareWord { suggestion, .. } => {
                assert_eq!(suggestion, r#"`--set x.y='"it'\''s"'`"#)
            }
            other => panic!("{other:?}"),
        }
        let err = parse_set(r#"a."b.c".d=word"#).unwrap_err();
        match err {
            ConfigError::SetBareWord {
                suggestion, key, ..
            } => {
                assert_eq!(key, r#"a."b.c".d"#);
                assert_eq!(suggestion, r#"`--set 'a."b.c".d="word"'`"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_value_explains_toml() {
        for assignment in [r#"x.y="unterminated"#, "x.y=[1, 2", "x.y={ a = }"] {
            let err = parse_set(assignment).unwrap_err();
            assert!(
                matches!(err, ConfigError::SetValue { .. }),
                "{assignment}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.starts_with("invalid value for `--set x.y`: "), "{msg}");
            assert!(
                msg.contains("\n\nthe value is written as in a config file"),
                "{msg}"
            );
        }
    }

    #[test]
    fn malformed_key_explains_dotted_keys() {
        for key in [
            "prompt.stage_configs.defaults.ab scene.t",
            "a..b",
            "[a]",
            "a.#b",
        ] {
            let err = parse_set(&format!("{key}=1")).unwrap_err();
            assert!(matches!(err, ConfigError::SetKey { .. }), "{key}: {err:?}");
            assert!(
                err.to_string().contains("keys are TOML dotted keys"),
                "{err}"
            );
        }
    }

    #[test]
    fn values_cannot_add_keys() {
        for assignment in ["x.y=1\nz = 2", "x.y=1\n[other]\nk = 1", "x.y=1\nx.w = 2"] {
            let err = parse_set(assignment).unwrap_err();
            assert!(
                matches!(err, ConfigError::SetNotSingle { .. }),
                "{assignment:?}: {err:?}"
            );
        }
    }

    #[test]
    fn dates_and_non_finite_numbers_are_refused() {
        let err = parse_set("context.today=2026-01-31").unwrap_err();
        match &err {
            ConfigError::Datetime { key, layer } => {
                assert_eq!(key, "context.today");
                assert_eq!(*layer, Layer::Set("context.today".into()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_set("x.y=nan"),
            Err(ConfigError::NonFinite { .. })
        ));
    }

    #[test]
    fn secret_keys_are_refused_without_echoing_the_value() {
        for assignment in [
            "backend.text.api_key=sk-live-123",
            r#"backend.text.API_KEY="sk-live-123""#,
            "backend.token.x=sk-live-123",
            "x.Password=[sk-live-123",
        ] {
            let err = parse_set(assignment).unwrap_err();
            assert!(
                matches!(err, ConfigError::SecretKey { .. }),
                "{assignment}: {err:?}"
            );
            assert!(!err.to_string().contains("sk-live-123"), "{err}");
            assert!(!format!("{err:?}").contains("sk-live-123"), "{err:?}");
        }
        let err = parse_set("backend.token.x=1").unwrap_err();
        match err {
            ConfigError::SecretKey { key, .. } => assert_eq!(key, "backend.token"),
            other => panic!("{other:?}"),
        }
    }
}

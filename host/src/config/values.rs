//! TOML text to the JSON config tree.
//!
//! The toml crate deserializes straight into `serde_json::Value`, which keeps the document's key
//! order (serde_json's `preserve_order`). Two TOML values have no JSON form and come out
//! disguised, so the tree is walked once to turn them into errors naming the key:
//! * a date or time arrives as a one-key table `{"$__toml_private_datetime": "..."}` (toml's
//!   private marker; the `datetime_is_an_error` test pins it);
//! * `nan` and `inf` arrive as `null` (serde_json's choice for non-finite floats). TOML has no
//!   null, so every null in the tree is one of them.

use serde_json::Value;

use super::error::{ConfigError, Layer};
use super::key;

/// The key toml uses to smuggle a datetime through serde.
const DATETIME_MARKER: &str = "$__toml_private_datetime";

/// Parses a TOML document into a config tree.
///
/// # Errors
///
/// [`ConfigError::Toml`] for invalid TOML, [`ConfigError::Datetime`] and
/// [`ConfigError::NonFinite`] for values the tree cannot hold.
pub(crate) fn parse_document(text: &str, layer: &Layer) -> Result<Value, ConfigError> {
    let tree: Value = toml::from_str(text).map_err(|err| ConfigError::Toml {
        layer: layer.clone(),
        line_column: err.span().map(|span| line_column(text, span.start)),
        message: one_line(err.message()),
    })?;
    check_values(&tree, layer)?;
    Ok(tree)
}

/// toml's message on one line (it puts the expectation on a second line).
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// 1-based line and column (in chars) of byte offset `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // toml's spans are char boundaries within the text; clamp in case that ever changes.
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn check_values(tree: &Value, layer: &Layer) -> Result<(), ConfigError> {
    key::walk(tree, &mut |path, value| match value {
        Value::Null => Err(ConfigError::NonFinite {
            key: path.to_owned(),
            layer: layer.clone(),
        }),
        Value::Object(map) if map.len() == 1 && map.contains_key(DATETIME_MARKER) => {
            Err(ConfigError::Datetime {
                key: path.to_owned(),
                layer: layer.clone(),
            })
        }
        _ => Ok(()),
    })
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
    fn tables_keep_document_order() {
        let tree = parse_document("z = 1\na = 2\n[m]\ny = \"s\"\nb = [1, 2.5]\n", &file()).unwrap();
        assert_eq!(
            tree,
            json!({"z": 1, "a": 2, "m": {"y": "s", "b": [1, 2.5]}})
        );
        let keys: Vec<_> = tree.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn datetime_is_an_error() {
        for text in [
            "[context]\ntoday = 2026-01-31\n",
            "[context]\ntoday = 2026-01-31T10:00:00Z\n",
            "[context]\ntoday = 10:00:00\n",
        ] {
            let err = parse_document(text, &file()).unwrap_err();
            assert!(
                matches!(err, ConfigError::Datetime { .. }),
                "{text}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                "`context.today` in `/w/c.toml` is a TOML date or time, which config does not \
                 use\n\nwrite dates as quoted strings, e.g. `\"2026-01-31\"`"
            );
        }
        // Quoted, it is just a string.
        let tree = parse_document("[context]\ntoday = \"2026-01-31\"\n", &file()).unwrap();
        assert_eq!(tree["context"]["today"], "2026-01-31");
    }

    #[test]
    fn datetime_inside_an_array_names_its_position() {
        let err = parse_document("a.\"b.c\" = [1, 2026-01-31]\n", &file()).unwrap_err();
        match err {
            ConfigError::Datetime { key, .. } => assert_eq!(key, "a.\"b.c\"[1]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_finite_floats_are_errors() {
        for text in ["x = nan\n", "x = inf\n", "x = -inf\n"] {
            let err = parse_document(text, &file()).unwrap_err();
            assert!(
                matches!(err, ConfigError::NonFinite { ref key, .. } if key == "x"),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn invalid_toml_names_the_file_line_and_column() {
        let err = parse_document("[run]\nmode = full\n", &file()).unwrap_err();
        match &err {
            ConfigError::Toml {
                line_column,
                message,
                ..
            } => {
                assert_eq!(*line_column, Some((2, 8)));
                assert!(!message.contains('\n'));
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid TOML in `/w/c.toml` at line 2, column 8: "),
            "{msg}"
        );
    }

    #[test]
    fn toml_errors_do_not_quote_the_offending_line() {
        // A syntax error on a line holding a secret must not echo the secret.
        let err = parse_document("[backend.text]\napi_key = sk-live-123\n", &file()).unwrap_err();
        assert!(!err.to_string().contains("sk-live-123"), "{err}");
    }

    #[test]
    fn line_column_counts_chars() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("a\nbé c", 5), (2, 3));
        assert_eq!(line_column("a\n", 99), (2, 1));
    }
}

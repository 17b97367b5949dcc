//! JSON deep merge shared by the host (config layers, plan overlays) and plugins.
//!
//! This module owns the merge rules of DESIGN §6 and nothing else: tables merge key by key,
//! arrays and scalars replace, and only a table or an array meeting something of another shape
//! is a clash. Whether the merged value is *valid* (an integer where a string belongs, say) is
//! the schema's job, not ours. Plugins build their run overlays with the same function the host
//! uses for config layers, so a plan means the same thing on both sides of the boundary.
//!
//! Merging is all-or-nothing: every clash is found before anything is written, so a failed merge
//! leaves the base exactly as it was.
use serde_json::{Map, Value};

/// A table or array met something of another shape at `path`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot merge `{path}`: base is {base} but overlay is {overlay}")]
pub struct MergeError {
    /// Dotted key path of the clash (`prompt.stages.sequence`); empty at the root.
    pub path: String,
    /// Shape of the base value (`table`, `array`, `string`, ...).
    pub base: &'static str,
    /// Shape of the overlay value.
    pub overlay: &'static str,
}

/// Merges `overlay` into `base` in place.
///
/// * Tables merge recursively: keys of `base` keep their position, keys only in `overlay` are
///   appended in overlay order.
/// * Arrays replace, scalars replace (of any scalar type), and a null base is replaced by
///   anything; a null overlay replaces a scalar.
/// * A table or array against anything of another shape (null included) is a [`MergeError`]
///   naming the dotted key; `base` is then left unchanged.
///
/// # Errors
///
/// [`MergeError`] for the first clash met, in overlay key order.
pub fn deep_merge(base: &mut Value, overlay: &Value) -> Result<(), MergeError> {
    // Check first, write second: the writer below never fails, so an error cannot leave a
    // half-merged base behind, and no clone of a possibly large base is needed.
    check(base, overlay, &mut String::new())?;
    apply(base, overlay);
    Ok(())
}

/// Returns `base` with `overlay` merged into it (see [`deep_merge`]); `base` is not modified.
///
/// # Errors
///
/// [`MergeError`] as for [`deep_merge`].
pub fn merged(base: &Value, overlay: &Value) -> Result<Value, MergeError> {
    let mut out = base.clone();
    deep_merge(&mut out, overlay)?;
    Ok(out)
}

/// The shape name of a value as it appears in [`MergeError`]: `table`, `array`, `string`,
/// `integer`, `float`, `boolean` or `null`.
pub fn shape(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "table",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    }
}

/// Appends `key` to the dotted key path `path` as TOML spells it.
///
/// Bare keys (ASCII letters, digits, `_`, `-`) are written as they are; any other key, such as
/// the stage id `ab.scene_draft`, is quoted (`"ab.scene_draft"`) so the path can be pasted back
/// into `--set` and is never ambiguous.
pub fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        path.push_str(key);
        return;
    }
    path.push('"');
    for c in key.chars() {
        match c {
            '"' => path.push_str("\\\""),
            '\\' => path.push_str("\\\\"),
            c => path.push(c),
        }
    }
    path.push('"');
}

/// Finds the first clash between `base` and `overlay`, in overlay key order.
fn check(base: &Value, overlay: &Value, path: &mut String) -> Result<(), MergeError> {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (key, o_val) in o {
                if let Some(b_val) = b.get(key) {
                    let len = path.len();
                    push_key(path, key);
                    check(b_val, o_val, path)?;
                    path.truncate(len);
                }
            }
            Ok(())
        }
        (Value::Array(_), Value::Array(_)) => Ok(()),
        // Nothing was there yet: whatever comes replaces it.
        (Value::Null, _) => Ok(()),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
            Err(MergeError {
                path: path.clone(),
                base: shape(base),
                overlay: shape(overlay),
            })
        }
        _ => Ok(()),
    }
}

/// Writes `overlay` into `base`; only called after [`check`] passed.
fn apply(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => apply_table(b, o),
        (base, overlay) => *base = overlay.clone(),
    }
}

fn apply_table(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, o_val) in overlay {
        match base.get_mut(key) {
            Some(b_val) => apply(b_val, o_val),
            // `preserve_order` makes `insert` append, which is the documented key order.
            None => {
                base.insert(key.clone(), o_val.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .expect("test value is a table")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn tables_merge_recursively() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "b": 3});
        deep_merge(&mut base, &json!({"a": {"y": 20, "z": 30}})).unwrap();
        assert_eq!(base, json!({"a": {"x": 1, "y": 20, "z": 30}, "b": 3}));
    }

    #[test]
    fn existing_keys_keep_position_new_keys_append() {
        let mut base = json!({"c": 1, "a": 2, "b": 3});
        deep_merge(&mut base, &json!({"z": 0, "a": 9, "d": 4})).unwrap();
        assert_eq!(keys(&base), ["c", "a", "b", "z", "d"]);
        assert_eq!(base["a"], json!(9));
    }

    #[test]
    fn arrays_replace() {
        let mut base = json!({"prompt": {"stages": {"sequence": ["a", "b", "c"]}}});
        deep_merge(
            &mut base,
            &json!({"prompt": {"stages": {"sequence": ["x"]}}}),
        )
        .unwrap();
        assert_eq!(base, json!({"prompt": {"stages": {"sequence": ["x"]}}}));
    }

    #[test]
    fn scalars_replace_across_types() {
        let mut base = json!({"a": "text", "b": 1, "c": 1.5, "d": true});
        deep_merge(
            &mut base,
            &json!({"a": 5, "b": "five", "c": false, "d": 2.5}),
        )
        .unwrap();
        assert_eq!(base, json!({"a": 5, "b": "five", "c": false, "d": 2.5}));
    }

    #[test]
    fn null_base_is_replaced_by_anything() {
        for overlay in [json!({"k": 1}), json!([1]), json!("s"), json!(null)] {
            let mut base = json!({"a": null});
            deep_merge(&mut base, &json!({"a": overlay.clone()})).unwrap();
            assert_eq!(base["a"], overlay);
        }
    }

    #[test]
    fn null_overlay_replaces_a_scalar() {
        let mut base = json!({"a": 3});
        deep_merge(&mut base, &json!({"a": null})).unwrap();
        assert_eq!(base, json!({"a": null}));
    }

    #[test]
    fn null_overlay_against_table_or_array_is_a_clash() {
        let err = merged(&json!({"a": {"b": 1}}), &json!({"a": null})).unwrap_err();
        assert_eq!((err.base, err.overlay), ("table", "null"));
        let err = merged(&json!({"a": [1]}), &json!({"a": null})).unwrap_err();
        assert_eq!((err.base, err.overlay), ("array", "null"));
    }

    #[test]
    fn clashes_name_the_dotted_path_and_shapes() {
        let cases = [
            (
                json!({"p": {"s": {"q": ["a"]}}}),
                json!({"p": {"s": {"q": "a"}}}),
                "p.s.q",
                "array",
                "string",
            ),
            (
                json!({"p": {"s": 1}}),
                json!({"p": {"s": {"x": 1}}}),
                "p.s",
                "integer",
                "table",
            ),
            (json!({"p": 1.5}), json!({"p": [1]}), "p", "float", "array"),
            (
                json!({"p": {"x": 1}}),
                json!({"p": [1]}),
                "p",
                "table",
                "array",
            ),
            (
                json!({"p": [1]}),
                json!({"p": {"x": 1}}),
                "p",
                "array",
                "table",
            ),
            (
                json!({"p": true}),
                json!({"p": {}}),
                "p",
                "boolean",
                "table",
            ),
        ];
        for (base, overlay, path, b, o) in cases {
            let err = merged(&base, &overlay).unwrap_err();
            assert_eq!(
                err,
                MergeError {
                    path: path.to_string(),
                    base: b,
                    overlay: o
                },
                "{base} <- {overlay}"
            );
        }
    }

    #[test]
    fn clash_at_the_root_has_an_empty_path() {
        let err = merged(&json!({"a": 1}), &json!([1])).unwrap_err();
        assert_eq!(err.path, "");
        assert_eq!(
            err.to_string(),
            "cannot merge ``: base is table but overlay is array"
        );
    }

    #[test]
    fn dotted_keys_are_quoted_in_paths() {
        let base =
            json!({"prompt": {"stage_configs": {"defaults": {"ab.scene_draft": {"t": {"x": 1}}}}}});
        let overlay =
            json!({"prompt": {"stage_configs": {"defaults": {"ab.scene_draft": {"t": 0.5}}}}});
        let err = merged(&base, &overlay).unwrap_err();
        assert_eq!(
            err.path,
            "prompt.stage_configs.defaults.\"ab.scene_draft\".t"
        );
        assert_eq!(
            err.to_string(),
            "cannot merge `prompt.stage_configs.defaults.\"ab.scene_draft\".t`: \
             base is table but overlay is float"
        );
    }

    #[test]
    fn push_key_quotes_non_bare_keys() {
        let mut p = String::new();
        for key in ["a_b-1", "x.y", "", "sp ace", "q\"uote"] {
            push_key(&mut p, key);
        }
        assert_eq!(p, r#"a_b-1."x.y".""."sp ace"."q\"uote""#);
    }

    #[test]
    fn failed_merge_leaves_base_unchanged() {
        // `a` would merge before the clash at `b` is met; nothing may be written.
        let original = json!({"a": {"x": 1}, "b": [1, 2]});
        let mut base = original.clone();
        let err =
            deep_merge(&mut base, &json!({"a": {"x": 2, "new": 1}, "b": {"k": 1}})).unwrap_err();
        assert_eq!(err.path, "b");
        assert_eq!(base, original);
    }

    #[test]
    fn merged_leaves_its_input_alone() {
        let base = json!({"a": 1});
        assert_eq!(
            merged(&base, &json!({"b": 2})).unwrap(),
            json!({"a": 1, "b": 2})
        );
        assert_eq!(base, json!({"a": 1}));
    }

    #[test]
    fn shapes_are_named() {
        let cases = [
            (json!({}), "table"),
            (json!([]), "array"),
            (json!("s"), "string"),
            (json!(-3), "integer"),
            (json!(u64::MAX), "integer"),
            (json!(0.5), "float"),
            (json!(false), "boolean"),
            (json!(null), "null"),
        ];
        for (v, name) in cases {
            assert_eq!(shape(&v), name, "{v}");
        }
    }
}

//! Dotted key paths, spelled the way TOML spells them.
//!
//! Every config error names a key, and every name comes from here, so a key in an error can be
//! pasted back into a file or a `--set`: bare segments as they are, any other segment quoted
//! (`prompt.stage_configs.defaults."ab.scene_draft"`). The quoting itself is
//! [`plugin_api::merge::push_key`], the function merge errors are built with, so paths from a
//! failed merge and paths from our own checks can never be spelled differently.

/// Appends `segment` to `path`, with a `.` separator and quoted when not a bare key.
pub fn push(path: &mut String, segment: &str) {
    plugin_api::merge::push_key(path, segment);
}

/// Appends an array position: `key[3]`. TOML has no syntax for it; this is for messages only.
pub fn push_index(path: &mut String, index: usize) {
    path.push('[');
    path.push_str(&index.to_string());
    path.push(']');
}

/// The dotted key of `segments`: `dotted(["a", "b.c"])` is `a."b.c"`.
pub fn dotted<'a>(segments: impl IntoIterator<Item = &'a str>) -> String {
    let mut path = String::new();
    for segment in segments {
        push(&mut path, segment);
    }
    path
}

/// `parent` extended by one segment.
pub fn child(parent: &str, segment: &str) -> String {
    let mut path = parent.to_owned();
    push(&mut path, segment);
    path
}

/// Visits every value of `tree` depth-first, parents before children, with its dotted path (the
/// root's is empty); stops at the first error.
pub fn walk<E>(
    tree: &serde_json::Value,
    visit: &mut impl FnMut(&str, &serde_json::Value) -> Result<(), E>,
) -> Result<(), E> {
    fn go<E>(
        value: &serde_json::Value,
        path: &mut String,
        visit: &mut impl FnMut(&str, &serde_json::Value) -> Result<(), E>,
    ) -> Result<(), E> {
        visit(path, value)?;
        let len = path.len();
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    push(path, key);
                    go(child, path, visit)?;
                    path.truncate(len);
                }
            }
            serde_json::Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    push_index(path, index);
                    go(child, path, visit)?;
                    path.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }
    go(tree, &mut String::new(), visit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_segments_join_with_dots() {
        assert_eq!(dotted(["run", "mode"]), "run.mode");
        assert_eq!(dotted(["a_b", "c-d", "e1"]), "a_b.c-d.e1");
        assert_eq!(dotted([]), "");
    }

    #[test]
    fn other_segments_are_quoted() {
        assert_eq!(
            dotted(["prompt", "stage_configs", "defaults", "ab.scene_draft"]),
            r#"prompt.stage_configs.defaults."ab.scene_draft""#
        );
        assert_eq!(dotted(["a b", "q\"x"]), r#""a b"."q\"x""#);
        assert_eq!(child("x", "y.z"), r#"x."y.z""#);
        assert_eq!(child("", "y"), "y");
    }

    #[test]
    fn indexes_follow_their_key() {
        let mut path = dotted(["prompt", "stages", "sequence"]);
        push_index(&mut path, 2);
        push(&mut path, "stage");
        assert_eq!(path, "prompt.stages.sequence[2].stage");
    }
}

//! Checks on what a plugin says about itself, done once at load time so that a bad descriptor
//! is a load failure with a reason instead of a surprise when its flags are parsed.

use plugin_api::{ArgKind, Descriptor};
use serde_json::Value;

/// Every flag name `experiments run` itself defines or reserves (DESIGN §4). A plugin that
/// declares one of these is refused at load time; `cli` checks its own flags against this list.
pub const RUNNER_FLAG_NAMES: &[&str] = &[
    "config",
    "set",
    "cache",
    "output-root",
    "experiment-id",
    "mode",
    "seed",
    "jobs",
    "dry-run",
    "estimate",
    "max-cost",
    "resume",
    "continue-on-error",
    "json",
    "help",
    "plugin-dir",
    "no-default-plugin-dirs",
    "verbose",
];

/// Why a descriptor is refused.
pub fn check_descriptor(descriptor: &Descriptor) -> Result<(), String> {
    if !is_name(&descriptor.name, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    }) {
        return Err(format!(
            "invalid experiment name `{}` (expected letters, digits, `_` and `-`)",
            descriptor.name
        ));
    }
    if descriptor.summary.trim().is_empty() {
        return Err(format!(
            "experiment `{}` has an empty summary",
            descriptor.name
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for arg in &descriptor.args {
        let name = arg.name.as_str();
        let lowercase_kebab = is_name(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
        });
        if !lowercase_kebab || name.starts_with('-') {
            return Err(format!(
                "invalid flag name `{name}` (expected lowercase letters, digits and `-`, without leading dashes)"
            ));
        }
        if RUNNER_FLAG_NAMES.contains(&name) {
            return Err(format!(
                "flag `--{name}` is reserved by the runner; plugins may not declare it"
            ));
        }
        if seen.contains(&name) {
            return Err(format!("flag `--{name}` is declared twice"));
        }
        seen.push(name);
        check_default(arg.kind, &arg.choices, arg.repeatable, &arg.default)
            .map_err(|problem| format!("flag `--{name}`: {problem}"))?;
    }
    Ok(())
}

fn is_name(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    !text.is_empty() && text.chars().all(allowed)
}

fn check_default(
    kind: ArgKind,
    choices: &[String],
    repeatable: bool,
    default: &Value,
) -> Result<(), String> {
    if kind == ArgKind::Choice && choices.is_empty() {
        return Err("a `choice` flag needs at least one choice".to_owned());
    }
    if kind == ArgKind::Bool && repeatable {
        return Err("a `bool` flag cannot be repeatable".to_owned());
    }
    let fits = |value: &Value| match kind {
        ArgKind::Int => value.is_i64(),
        ArgKind::String => value.is_string(),
        ArgKind::Bool => value.is_boolean(),
        ArgKind::Choice => value
            .as_str()
            .is_some_and(|text| choices.iter().any(|c| c == text)),
    };
    let ok = match default {
        Value::Null => true,
        Value::Array(items) if repeatable => items.iter().all(fits),
        value => !repeatable && fits(value),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "default {default} does not fit a `{}` flag",
            kind.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{ArgSpec, RunMode};

    fn descriptor(args: Vec<ArgSpec>) -> Descriptor {
        let mut descriptor = Descriptor::new("demo", "a demo", RunMode::Full);
        descriptor.args = args;
        descriptor
    }

    #[test]
    fn accepts_a_well_formed_descriptor() {
        let args = vec![
            ArgSpec::int("runs", "pairs").default_value(5),
            ArgSpec::choice("data", &["sample", "config"], "data").default_value("config"),
            ArgSpec::string("concept", "pinned").repeatable(),
            ArgSpec::bool("fast", "go fast"),
        ];
        check_descriptor(&descriptor(args)).unwrap();
    }

    #[test]
    fn refuses_runner_flag_names() {
        let error = check_descriptor(&descriptor(vec![ArgSpec::int("seed", "x")])).unwrap_err();
        assert!(error.contains("`--seed` is reserved"), "{error}");
    }

    #[test]
    fn refuses_bad_names_duplicates_and_defaults() {
        let cases = [
            (vec![ArgSpec::int("Runs", "x")], "invalid flag name"),
            (
                vec![ArgSpec::int("runs", "x"), ArgSpec::int("runs", "y")],
                "declared twice",
            ),
            (
                vec![ArgSpec::int("runs", "x").default_value("five")],
                "does not fit",
            ),
            (
                vec![ArgSpec::choice("data", &["a"], "x").default_value("b")],
                "does not fit",
            ),
            (
                vec![ArgSpec::choice("data", &[], "x")],
                "at least one choice",
            ),
        ];
        for (args, expected) in cases {
            let error = check_descriptor(&descriptor(args)).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let mut bad_name = descriptor(Vec::new());
        bad_name.name = "a/b".into();
        assert!(check_descriptor(&bad_name)
            .unwrap_err()
            .contains("invalid experiment name"));
    }
}

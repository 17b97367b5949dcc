//! Checks on what a plugin says about itself, done once at load time so that a bad descriptor
//! is a load failure with a reason instead of a surprise when its flags are parsed: names, the
//! interface minor it requires, each flag's kind, bounds, choices and default, and the stages it
//! declares (their rules are `stages::declared`'s, which owns what a declared stage is). The
//! rule for one flag value ([`check_value`]) lives here too, because the command line is checked
//! against the same rules (in `cli::experiments_run`); parsing the command line does not.

use plugin_api::{ArgKind, ArgSpec, Descriptor};
use serde_json::Value;

use crate::stages::declared::is_name;

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

/// The `requires_interface` a descriptor states, read from its raw JSON before the typed parse:
/// a plugin built for a newer minor may use fields or flag kinds this host cannot parse, and
/// then the version is the reason to give, not the parse error. `Ok` when the field is absent
/// or this host is new enough; otherwise the one-line reason naming both versions.
pub fn check_required_interface(descriptor: &Value) -> Result<(), String> {
    match descriptor.get("requires_interface") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(wanted)) => check_interface(wanted, plugin_api::INTERFACE_VERSION),
        Some(other) => Err(format!(
            "`requires_interface` must be a string like \"1.1\", not {other}"
        )),
    }
}

/// Whether a host speaking `host_version` (`MAJOR.MINOR.PATCH`) serves a plugin that needs
/// `wanted` (`MAJOR.MINOR`).
fn check_interface(wanted: &str, host_version: &str) -> Result<(), String> {
    let parse = |text: &str| -> Option<(u64, u64)> {
        let mut parts = text.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    };
    let Some((major, minor)) = parse(wanted).filter(|_| wanted.split('.').count() == 2) else {
        return Err(format!(
            "`requires_interface` must be `MAJOR.MINOR` (like \"1.1\"), not \"{wanted}\""
        ));
    };
    let (host_major, host_minor) = parse(host_version).unwrap_or((0, 0));
    if major != host_major || minor > host_minor {
        return Err(format!(
            "needs plugin-api {wanted} (its `requires_interface`), but this host speaks plugin-api \
             {host_version}; use an image-project built with plugin-api {major}.{minor} or later"
        ));
    }
    Ok(())
}

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
        check_arg(arg).map_err(|problem| {
            format!(
                "experiment `{}`, flag `--{name}`: {problem}",
                descriptor.name
            )
        })?;
    }
    crate::stages::declared::check_declared(&descriptor.name, &descriptor.stages)
}

/// Whether one flag's declaration is consistent: its kind's rules, its bounds, its per-choice
/// help, and its default against all of them (a default the host would refuse on the command
/// line is the plugin's mistake, reported at load time).
fn check_arg(arg: &ArgSpec) -> Result<(), String> {
    let kind = arg.kind;
    if kind == ArgKind::Choice && arg.choices.is_empty() {
        return Err("a `choice` flag needs at least one choice".to_owned());
    }
    if kind == ArgKind::Bool && arg.repeatable {
        return Err("a `bool` flag cannot be repeatable".to_owned());
    }
    if kind == ArgKind::Bool && arg.required {
        return Err("a `bool` flag cannot be required".to_owned());
    }
    if arg.required && !arg.default.is_null() {
        return Err(format!(
            "a required flag has no default, but this one has {}",
            arg.default
        ));
    }
    let numeric = matches!(kind, ArgKind::Int | ArgKind::Float);
    for (which, bound) in [("min", &arg.min), ("max", &arg.max)] {
        let Some(bound) = bound else { continue };
        if !numeric {
            return Err(format!(
                "`{which}` applies to `int` and `float` flags, not to a `{}` flag",
                kind.as_str()
            ));
        }
        if kind == ArgKind::Int && !(bound.is_i64() || bound.is_u64()) {
            return Err(format!(
                "`{which}` {bound} of an `int` flag is not an integer"
            ));
        }
    }
    if let (Some(min), Some(max)) = (&arg.min, &arg.max) {
        if min.as_f64() > max.as_f64() {
            return Err(format!("`min` {min} is above `max` {max}"));
        }
    }
    if let Some(unknown) = arg
        .choice_help
        .keys()
        .find(|value| !arg.choices.contains(value))
    {
        return Err(format!(
            "`choice_help` describes `{unknown}`, which is not one of its choices"
        ));
    }
    let fits = |value: &Value| check_value(arg, value).is_ok();
    let ok = match &arg.default {
        Value::Null => true,
        Value::Array(items) if arg.repeatable => items.iter().all(fits),
        value => !arg.repeatable && fits(value),
    };
    if ok {
        return Ok(());
    }
    let expected = expected_value(arg);
    Err(format!(
        "its default {} does not fit (expected {expected})",
        arg.default
    ))
}

/// Why one value (one item of a repeatable flag) is not acceptable for `arg`, as
/// `expected ...`; shared by the load-time default check and the command-line check.
pub fn check_value(arg: &ArgSpec, value: &Value) -> Result<(), String> {
    let fits_kind = match arg.kind {
        ArgKind::Int => value.is_i64(),
        ArgKind::Float => value.as_f64().is_some_and(f64::is_finite),
        ArgKind::String => value.is_string(),
        ArgKind::Bool => value.is_boolean(),
        ArgKind::Choice => value
            .as_str()
            .is_some_and(|text| arg.choices.iter().any(|c| c == text)),
    };
    let number = value.as_f64();
    let with_value = |bound: &Option<serde_json::Number>| {
        bound
            .as_ref()
            .and_then(serde_json::Number::as_f64)
            .zip(number)
    };
    let in_range = with_value(&arg.min).is_none_or(|(min, value)| value >= min)
        && with_value(&arg.max).is_none_or(|(max, value)| value <= max);
    if fits_kind && in_range {
        Ok(())
    } else {
        Err(format!("expected {}", expected_value(arg)))
    }
}

/// What a flag accepts, for messages: `an integer >= 1`, `a number between 0 and 1`, `one of
/// fast, slow`.
pub fn expected_value(arg: &ArgSpec) -> String {
    let noun = match arg.kind {
        ArgKind::Int => "an integer",
        ArgKind::Float => "a number",
        ArgKind::String => "a string",
        ArgKind::Bool => "true or false",
        ArgKind::Choice => return format!("one of {}", arg.choices.join(", ")),
    };
    match (&arg.min, &arg.max) {
        (Some(min), Some(max)) => format!("{noun} from {min} to {max}"),
        (Some(min), None) => format!("{noun} >= {min}"),
        (None, Some(max)) => format!("{noun} <= {max}"),
        (None, None) => noun.to_owned(),
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
        let cases = [
            (
                vec![ArgSpec::int("runs", "x").min(1).default_value(0)],
                "experiment `demo`, flag `--runs`: its default 0 does not fit (expected an integer >= 1)",
            ),
            (
                vec![ArgSpec::float("rate", "x").max(1.0).default_value(2.5)],
                "experiment `demo`, flag `--rate`: its default 2.5 does not fit (expected a number <= 1.0)",
            ),
            (
                vec![ArgSpec::int("size", "x").repeatable().min(2).default_value(vec![3, 1])],
                "experiment `demo`, flag `--size`: its default [3,1] does not fit (expected an integer >= 2)",
            ),
            (
                vec![ArgSpec::int("runs", "x").min(0.5)],
                "experiment `demo`, flag `--runs`: `min` 0.5 of an `int` flag is not an integer",
            ),
            (
                vec![ArgSpec::int("runs", "x").min(5).max(1)],
                "experiment `demo`, flag `--runs`: `min` 5 is above `max` 1",
            ),
            (
                vec![ArgSpec::string("name", "x").max(3)],
                "experiment `demo`, flag `--name`: `max` applies to `int` and `float` flags, not to a `string` flag",
            ),
            (
                vec![ArgSpec::int("runs", "x").required().default_value(3)],
                "experiment `demo`, flag `--runs`: a required flag has no default, but this one has 3",
            ),
            (
                vec![ArgSpec::bool("fast", "x").required()],
                "experiment `demo`, flag `--fast`: a `bool` flag cannot be required",
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(check_descriptor(&descriptor(args)).unwrap_err(), expected);
        }
        let mut unknown_choice = ArgSpec::choice("data", &["a"], "x");
        unknown_choice.choice_help.insert("b".into(), "help".into());
        let error = check_descriptor(&descriptor(vec![unknown_choice])).unwrap_err();
        assert!(
            error.contains("describes `b`, which is not one of its choices"),
            "{error}"
        );
        let mut bad_name = descriptor(Vec::new());
        bad_name.name = "a/b".into();
        assert!(check_descriptor(&bad_name)
            .unwrap_err()
            .contains("invalid experiment name"));
    }

    #[test]
    fn accepts_the_1_1_fields_when_consistent() {
        let args = vec![
            ArgSpec::float("rate", "share").min(0.0).max(1.0).required(),
            ArgSpec::int("runs", "runs").min(1).max(8).default_value(8),
            ArgSpec::float("scale", "scale").min(-1).default_value(0.5),
            ArgSpec::choice_with_help("speed", &[("fast", "rough"), ("slow", "careful")], "x")
                .default_value("slow"),
        ];
        check_descriptor(&descriptor(args)).unwrap();
    }

    #[test]
    fn requires_interface_is_compared_with_the_host_major_and_minor() {
        assert_eq!(check_interface("1.1", "1.1.0"), Ok(()));
        assert_eq!(check_interface("1.0", "1.1.3"), Ok(()));
        assert_eq!(
            check_interface("1.99", "1.1.0").unwrap_err(),
            "needs plugin-api 1.99 (its `requires_interface`), but this host speaks plugin-api \
             1.1.0; use an image-project built with plugin-api 1.99 or later"
        );
        assert!(check_interface("2.0", "1.1.0")
            .unwrap_err()
            .starts_with("needs plugin-api 2.0"));
        for malformed in ["1", "1.1.0", "one.two", ""] {
            let error = check_interface(malformed, "1.1.0").unwrap_err();
            assert!(
                error.contains("must be `MAJOR.MINOR`"),
                "{malformed}: {error}"
            );
        }
        let descriptor = serde_json::json!({"name": "x", "requires_interface": 1.1});
        assert!(check_required_interface(&descriptor)
            .unwrap_err()
            .contains("must be a string"));
        // This host's own `MAJOR.MINOR`.
        let host_minor: Vec<&str> = plugin_api::INTERFACE_VERSION.split('.').take(2).collect();
        let host_minor = host_minor.join(".");
        assert_eq!(
            check_required_interface(&serde_json::json!({"requires_interface": host_minor})),
            Ok(())
        );
        assert_eq!(
            check_required_interface(&serde_json::json!({"name": "x"})),
            Ok(())
        );
    }
}

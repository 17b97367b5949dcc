//! An experiment's own flags on the `experiments run` command line: the clap arguments built from
//! its descriptor (with their help, kinds, bounds and per-choice help), the values the plan
//! receives, and the checks clap cannot make (required flags, `min`/`max`) done before `plan` is
//! called. The runner's own flags live in `experiments_run`; the rules a descriptor must follow,
//! and the rule for one value, live in `plugins::descriptor`.

use clap::builder::PossibleValue;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use plugin_api::{ArgKind, ArgSpec, Descriptor};
use serde_json::{json, Map, Value};

use crate::plugins::printable::{printable, HELP_CHARS};
use crate::plugins::{check_value, expected_value};

const EXPERIMENT_HEADING: &str = "Experiment options";

/// Adds the experiment's flags to `command`.
pub fn add_plugin_args(mut command: Command, descriptor: &Descriptor) -> Command {
    for spec in &descriptor.args {
        let mut help = printable(&spec.help, HELP_CHARS).into_owned();
        if spec.required {
            help.push_str(" [required]");
        }
        if let Some(min) = &spec.min {
            help.push_str(&format!(" [min: {min}]"));
        }
        if let Some(max) = &spec.max {
            help.push_str(&format!(" [max: {max}]"));
        }
        if !spec.default.is_null() {
            help.push_str(&format!(" [default: {}]", display_default(&spec.default)));
        }
        let mut arg = Arg::new(plugin_arg_id(spec))
            .long(spec.name.clone())
            .help(help)
            .help_heading(EXPERIMENT_HEADING);
        arg = match spec.kind {
            ArgKind::Bool => arg.action(ArgAction::SetTrue),
            // Negative numbers are values, not flags (`--offset -2`).
            ArgKind::Int => arg
                .value_name("N")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64)),
            ArgKind::Float => arg
                .value_name("X")
                .allow_negative_numbers(true)
                .value_parser(parse_finite),
            ArgKind::String => arg.value_name("TEXT"),
            ArgKind::Choice => {
                let values = spec.choices.iter().map(|choice| {
                    let value = PossibleValue::new(choice.clone());
                    match spec.choice_help.get(choice) {
                        Some(help) => value.help(printable(help, HELP_CHARS).into_owned()),
                        None => value,
                    }
                });
                arg.value_name("CHOICE")
                    .value_parser(clap::builder::PossibleValuesParser::new(values))
            }
        };
        if spec.repeatable && spec.kind != ArgKind::Bool {
            arg = arg.action(ArgAction::Append);
        }
        command = command.arg(arg);
    }
    command
}

/// A `float` flag's value: a finite decimal number (clap reports the error, exit 2).
fn parse_finite(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err("expected a finite number".to_owned()),
    }
}

fn display_default(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The clap id of a plugin flag: namespaced, so it never collides with a runner flag's id
/// (`--sets` of an experiment against the runner's `--set`, say).
fn plugin_arg_id(spec: &ArgSpec) -> String {
    format!("experiment:{}", spec.key())
}

fn given(spec: &ArgSpec, matches: &ArgMatches) -> bool {
    matches.value_source(&plugin_arg_id(spec)) == Some(ValueSource::CommandLine)
}

/// The first plugin flag given on the command line, if any.
pub fn given_plugin_flag(descriptor: &Descriptor, matches: &ArgMatches) -> Option<String> {
    descriptor
        .args
        .iter()
        .find(|spec| given(spec, matches))
        .map(|spec| spec.name.clone())
}

/// The plugin's flag values keyed by snake_case name; absent flags carry their default.
pub fn plugin_values(descriptor: &Descriptor, matches: &ArgMatches) -> Map<String, Value> {
    let mut values = Map::new();
    for spec in &descriptor.args {
        let value = if given(spec, matches) {
            given_value(spec, matches)
        } else {
            spec.default.clone()
        };
        values.insert(spec.key(), value);
    }
    values
}

fn given_value(spec: &ArgSpec, matches: &ArgMatches) -> Value {
    let id = plugin_arg_id(spec);
    let collect = |items: Vec<Value>| -> Value {
        if spec.repeatable {
            Value::Array(items)
        } else {
            items.into_iter().next().unwrap_or(Value::Null)
        }
    };
    match spec.kind {
        ArgKind::Bool => json!(matches.get_flag(&id)),
        ArgKind::Int => collect(
            matches
                .get_many::<i64>(&id)
                .into_iter()
                .flatten()
                .map(|value| json!(value))
                .collect(),
        ),
        ArgKind::Float => collect(
            matches
                .get_many::<f64>(&id)
                .into_iter()
                .flatten()
                .map(|value| json!(value))
                .collect(),
        ),
        ArgKind::String | ArgKind::Choice => collect(
            matches
                .get_many::<String>(&id)
                .into_iter()
                .flatten()
                .map(|value| json!(value))
                .collect(),
        ),
    }
}

/// What clap cannot check about the experiment's flags, before `plan` is called: every required
/// flag is given, and every given value is within the flag's `min`/`max`. The error names the
/// flag and what it expects (exit 2 at the caller).
pub fn check_plugin_values(
    descriptor: &Descriptor,
    values: &Map<String, Value>,
) -> Result<(), String> {
    for spec in &descriptor.args {
        let value = values.get(&spec.key()).unwrap_or(&Value::Null);
        if value.is_null() {
            if spec.required {
                return Err(format!(
                    "missing `--{}`: experiment `{}` requires it (expected {})",
                    spec.name,
                    descriptor.name,
                    expected_value(spec)
                ));
            }
            continue;
        }
        let items = match value {
            Value::Array(items) if spec.repeatable => items.as_slice(),
            one => std::slice::from_ref(one),
        };
        for item in items {
            check_value(spec, item).map_err(|expected| {
                format!("invalid value {item} for `--{}`: {expected}", spec.name)
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::RunMode;

    fn descriptor() -> Descriptor {
        Descriptor::new("demo", "a demo", RunMode::PromptOnly)
            .arg(ArgSpec::int("runs", "runs").min(1).max(10).default_value(2))
            .arg(ArgSpec::float("rate", "rate").min(0.0).max(1.0).required())
            .arg(ArgSpec::int("size", "sizes").min(1).repeatable())
            .arg(ArgSpec::choice_with_help(
                "speed",
                &[("fast", "quick and rough"), ("slow", "careful")],
                "speed",
            ))
    }

    fn parse(args: &[&str]) -> Result<Map<String, Value>, String> {
        let descriptor = descriptor();
        let command = add_plugin_args(Command::new("run"), &descriptor);
        let matches = command
            .try_get_matches_from(std::iter::once("run").chain(args.iter().copied()))
            .map_err(|error| error.to_string())?;
        let values = plugin_values(&descriptor, &matches);
        check_plugin_values(&descriptor, &values)?;
        Ok(values)
    }

    #[test]
    fn values_within_bounds_reach_the_plan_with_defaults_for_the_rest() {
        let values = parse(&["--rate", "0.25", "--size", "3", "--size", "4"]).unwrap();
        assert_eq!(values["runs"], json!(2));
        assert_eq!(values["rate"], json!(0.25));
        assert_eq!(values["size"], json!([3, 4]));
        assert_eq!(values["speed"], Value::Null);
        let values = parse(&["--rate", "1", "--runs", "10", "--speed", "slow"]).unwrap();
        assert_eq!(values["rate"], json!(1.0));
        assert_eq!(values["speed"], json!("slow"));
    }

    #[test]
    fn a_missing_required_flag_is_named_with_what_it_expects() {
        let error = parse(&["--runs", "3"]).unwrap_err();
        assert_eq!(
            error,
            "missing `--rate`: experiment `demo` requires it (expected a number from 0.0 to 1.0)"
        );
    }

    #[test]
    fn values_out_of_range_are_refused_naming_the_flag() {
        let error = parse(&["--rate", "0.5", "--runs", "0"]).unwrap_err();
        assert_eq!(
            error,
            "invalid value 0 for `--runs`: expected an integer from 1 to 10"
        );
        let error = parse(&["--rate", "-0.5"]).unwrap_err();
        assert!(
            error.starts_with("invalid value -0.5 for `--rate`"),
            "{error}"
        );
        let error = parse(&["--rate", "1.5"]).unwrap_err();
        assert!(
            error.contains("`--rate`: expected a number from 0.0 to 1.0"),
            "{error}"
        );
        let error = parse(&["--rate", "0.5", "--size", "2", "--size", "0"]).unwrap_err();
        assert!(error.starts_with("invalid value 0 for `--size`"), "{error}");
    }

    #[test]
    fn a_float_flag_takes_finite_numbers_only() {
        for bad in ["nan", "inf", "abc"] {
            let error = parse(&["--rate", bad]).unwrap_err();
            assert!(error.contains("expected a finite number"), "{bad}: {error}");
        }
    }

    #[test]
    fn help_shows_bounds_requirement_and_per_choice_help() {
        let mut command = add_plugin_args(Command::new("run"), &descriptor());
        let help = command.render_long_help().to_string();
        for needle in [
            "[required]",
            "[min: 1]",
            "[max: 10]",
            "[default: 2]",
            "quick and rough",
        ] {
            assert!(help.contains(needle), "`{needle}` missing from\n{help}");
        }
    }
}

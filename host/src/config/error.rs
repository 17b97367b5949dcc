//! [`ConfigError`], and [`Layer`], the name of the place a piece of config came from.
//!
//! Every variant carries what it is about (a file, a dotted key, the layer) so callers can act on
//! it, and renders in cargo's style: lowercase, no final period, names in backticks, the remedy
//! after a blank line. No message ever includes a config *value* that might be a secret: values
//! are only echoed by the `--set` syntax errors, which run after the secret check on the key and
//! never for the keys a secret is mistaken for ([`ConfigError::SetHiddenValue`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::SECTIONS;

/// A layer of the config, as error messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The embedded default config.
    Default,
    /// A config file (absolute path).
    File(PathBuf),
    /// One `--set` assignment, by its dotted key.
    Set(String),
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Default => f.write_str("the embedded default config"),
            Layer::File(path) => write!(f, "`{}`", path.display()),
            Layer::Set(key) => write!(f, "`--set {key}`"),
        }
    }
}

/// Who named a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrigin {
    /// A `--config` flag.
    Flag,
    /// The `IMAGE_PROJECT_CONFIG` environment variable.
    Env,
    /// Found as `config/config.toml` or `config/config.local.toml` in the working directory.
    WorkingDir,
}

impl FileOrigin {
    fn note(self) -> String {
        match self {
            FileOrigin::Flag => "it was given with `--config`".to_owned(),
            FileOrigin::Env => format!(
                "it is named by the `{}` environment variable",
                super::CONFIG_ENV_VAR
            ),
            FileOrigin::WorkingDir => "it was found in the working directory".to_owned(),
        }
    }
}

/// Everything that can go wrong while loading, merging and checking config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file that was asked for does not exist.
    #[error("config file `{}` does not exist\n\n{}", .path.display(), .origin.note())]
    MissingFile {
        /// The absolute path looked for.
        path: PathBuf,
        /// Who asked for it.
        origin: FileOrigin,
    },

    /// A config file exists but could not be read (a directory, permissions, not UTF-8).
    #[error("failed to read config file `{}`", .path.display())]
    ReadFile {
        /// The absolute path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// A config file is not valid TOML.
    #[error("invalid TOML in {layer}{}: {message}", location(.line_column))]
    Toml {
        /// The layer (a file).
        layer: Layer,
        /// Line and column (1-based) of the error, when toml reported a position.
        line_column: Option<(usize, usize)>,
        /// toml's description of the error, on one line. The offending line is deliberately not
        /// quoted: it might hold a secret.
        message: String,
    },

    /// A TOML date or time value; config dates are strings.
    #[error(
        "`{key}` in {layer} is a TOML date or time, which config does not use\n\n\
         write dates as quoted strings, e.g. `\"2026-01-31\"`"
    )]
    Datetime {
        /// The dotted key.
        key: String,
        /// Where it was set.
        layer: Layer,
    },

    /// `nan` or `inf` (JSON, and so the config tree, has no such numbers).
    #[error(
        "`{key}` in {layer} is not a finite number\n\nconfig numbers cannot be `nan` or `inf`"
    )]
    NonFinite {
        /// The dotted key.
        key: String,
        /// Where it was set.
        layer: Layer,
    },

    /// A layer tried to replace a table or array with something of another shape, or the reverse.
    #[error(
        "`{key}` in {layer} is {} but the layers below it have {} there\n\n\
         tables merge key by key and other values replace what is below, \
         but a table or an array cannot be swapped for a different kind of value",
        article(.overlay), article(.base)
    )]
    Merge {
        /// The dotted key of the clash.
        key: String,
        /// The layer being merged.
        layer: Layer,
        /// Shape below (`table`, `array`, `string`, ...).
        base: &'static str,
        /// Shape in this layer.
        overlay: &'static str,
    },

    /// A top-level name that is not a config section.
    #[error("unknown config section `{key}` in {layer}\n\n{}", section_hint(.suggestion.as_deref()))]
    UnknownSection {
        /// The top-level key.
        key: String,
        /// Where it was set.
        layer: Layer,
        /// The known section it most resembles.
        suggestion: Option<&'static str>,
    },

    /// A known section that is not a table.
    #[error("config section `{key}` in {layer} must be a table, not {}", article(.found))]
    SectionNotTable {
        /// The section name.
        key: String,
        /// Where it was set.
        layer: Layer,
        /// The shape found instead.
        found: &'static str,
    },

    /// A key that names a secret. The value is never part of the error.
    #[error(
        "`{key}` in {layer} looks like a secret, and secrets never live in config\n\n\
         put the secret in an environment variable and name that variable with `api_key_env` \
         (e.g. `backend.text.api_key_env = \"OPENAI_API_KEY\"`)"
    )]
    SecretKey {
        /// The dotted key.
        key: String,
        /// Where it was set.
        layer: Layer,
    },

    /// `--set` without `=`.
    #[error(
        "`--set {assignment}` is not of the form `KEY=VALUE`\n\n\
         for example `--set run.mode='\"prompt_only\"'` or `--set backend.text.timeout_s=60`"
    )]
    SetMissingEquals {
        /// The argument as given.
        assignment: String,
    },

    /// `--set =VALUE`.
    #[error("`--set {assignment}` has no key before `=`")]
    SetEmptyKey {
        /// The argument as given.
        assignment: String,
    },

    /// The KEY of `--set KEY=VALUE` is not a TOML dotted key.
    #[error(
        "invalid key `{key}` in `--set`: {message}\n\n\
         keys are TOML dotted keys; quote segments that are not plain words, \
         e.g. `--set 'prompt.stage_configs.defaults.\"ab.scene_draft\".temperature=0.5'`"
    )]
    SetKey {
        /// The key as given.
        key: String,
        /// toml's description of the problem.
        message: String,
    },

    /// `--set KEY=` with nothing after `=`.
    #[error("`--set {key}=` has no value\n\nfor an empty string write `--set {key}='\"\"'`")]
    SetEmptyValue {
        /// The dotted key.
        key: String,
    },

    /// The VALUE is a bare word, most likely a string that lost its quotes.
    #[error(
        "the value of `--set {key}` is not a TOML value: `{value}`\n\n\
         strings need quotes inside the shell's quotes: {suggestion}"
    )]
    SetBareWord {
        /// The dotted key.
        key: String,
        /// The value as given.
        value: String,
        /// The same assignment, quoted for a POSIX shell.
        suggestion: String,
    },

    /// The VALUE of a key whose values are never quoted (`api_key_env`, `base_url`,
    /// `base_urls`) is not valid TOML.
    #[error(
        "the value of `--set {key}` is not a TOML value (it is not shown, in case it is a secret)\n\n\
         strings need quotes inside the shell's quotes, e.g. `--set {key}='{}'`",
        hidden_value_example(.key)
    )]
    SetHiddenValue {
        /// The dotted key.
        key: String,
    },

    /// The VALUE is not valid TOML for another reason.
    #[error(
        "invalid value for `--set {key}`: {message}\n\n\
         the value is written as in a config file: `'\"text\"'`, `60`, `0.5`, `true`, \
         `'[\"a\", \"b\"]'`, `'{{ x = 1 }}'`"
    )]
    SetValue {
        /// The dotted key.
        key: String,
        /// toml's description of the problem.
        message: String,
    },

    /// The VALUE smuggled in more than the one key (a newline and another assignment).
    #[error("`--set {key}` must set exactly one key, but its value adds others")]
    SetNotSingle {
        /// The dotted key.
        key: String,
    },

    /// `experiment_runners` or one of its entries is not a table.
    #[error(
        "`{key}` must be a table, not {}\n\n\
         `experiment_runners` holds one table per experiment, \
         e.g. `[experiment_runners.profile_v5_3x3]`",
        article(.found)
    )]
    RunnersNotTable {
        /// `experiment_runners` or `experiment_runners.<experiment>`.
        key: String,
        /// The shape found instead.
        found: &'static str,
    },

    /// A key under `experiment_runners.<experiment>` the experiment does not declare.
    #[error("unknown key `{key}`\n\n{}", runner_hint(.experiment, .accepted, .suggestion.as_deref()))]
    UnknownRunnerKey {
        /// The full dotted key.
        key: String,
        /// The experiment name.
        experiment: String,
        /// The keys the experiment accepts.
        accepted: Vec<String>,
        /// The accepted key it most resembles.
        suggestion: Option<String>,
    },

    /// A key the run-config schema does not have.
    #[error("unknown config key `{key}`{}\n\n{}", in_layer(.layer), key_hint(.table, .accepted, .suggestion.as_deref()))]
    UnknownKey {
        /// The dotted key.
        key: String,
        /// The layer that set it, when known.
        layer: Option<Layer>,
        /// The dotted key of the table it is in (empty at the top level).
        table: String,
        /// The keys that table accepts (boxed to keep the error small).
        accepted: Box<[String]>,
        /// The dotted key it most resembles.
        suggestion: Option<String>,
    },

    /// A value of the wrong type. The value itself is not part of the error.
    #[error("`{key}`{} must be {expected}, not {}", in_layer(.layer), article(.found))]
    WrongType {
        /// The dotted key.
        key: String,
        /// The layer that set it, when known.
        layer: Option<Layer>,
        /// The type expected, with its article (`a string`, `an integer ≥ 0`).
        expected: String,
        /// The type found (`string`, `table`, ...).
        found: &'static str,
    },

    /// A required key no layer sets.
    #[error("missing required config key `{key}`")]
    MissingKey {
        /// The dotted key.
        key: String,
    },

    /// A value of the right type that the key does not allow.
    #[error("`{key}`{} {message}", in_layer(.layer))]
    InvalidValue {
        /// The dotted key.
        key: String,
        /// The layer that set it, when known.
        layer: Option<Layer>,
        /// What is wrong, as a predicate (`must not be empty`), perhaps with a remedy after a
        /// blank line; never the value itself.
        message: String,
    },
}

/// An example value for a key whose value is hidden.
fn hidden_value_example(key: &str) -> &'static str {
    if key.ends_with("api_key_env") {
        "\"OPENAI_API_KEY\""
    } else if key.ends_with("base_urls") {
        "[\"http://127.0.0.1:8080/v1\", \"http://127.0.0.1:8081/v1\"]"
    } else {
        "\"https://api.openai.com/v1\""
    }
}

fn location(line_column: &Option<(usize, usize)>) -> String {
    match line_column {
        Some((line, column)) => format!(" at line {line}, column {column}"),
        None => String::new(),
    }
}

/// `table` → `a table`, `array` → `an array`, `integer` → `an integer`.
fn article(shape: &str) -> String {
    let an = shape.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {shape}", if an { "an" } else { "a" })
}

/// ` in <layer>`, or nothing when the layer is not known.
fn in_layer(layer: &Option<Layer>) -> String {
    match layer {
        Some(layer) => format!(" in {layer}"),
        None => String::new(),
    }
}

fn key_hint(table: &str, accepted: &[String], suggestion: Option<&str>) -> String {
    let mut hint = String::new();
    if let Some(s) = suggestion {
        hint.push_str(&format!("did you mean `{s}`? "));
    }
    let list = accepted
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match (table.is_empty(), accepted.is_empty()) {
        (true, _) => hint.push_str(&format!("the sections are {list}")),
        (false, true) => hint.push_str(&format!("`{table}` has no keys")),
        (false, false) => hint.push_str(&format!("the keys of `{table}` are {list}")),
    }
    hint
}

fn section_hint(suggestion: Option<&str>) -> String {
    let known = SECTIONS
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match suggestion {
        Some(s) => format!("did you mean `{s}`? the sections are {known}"),
        None => format!("the sections are {known}"),
    }
}

fn runner_hint(experiment: &str, accepted: &[String], suggestion: Option<&str>) -> String {
    let mut hint = String::new();
    if let Some(s) = suggestion {
        hint.push_str(&format!("did you mean `{s}`? "));
    }
    if accepted.is_empty() {
        hint.push_str(&format!(
            "experiment `{experiment}` accepts no keys under `{}`",
            super::key::child("experiment_runners", experiment)
        ));
    } else {
        let list = accepted
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        hint.push_str(&format!("experiment `{experiment}` accepts {list}"));
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_named() {
        assert_eq!(Layer::Default.to_string(), "the embedded default config");
        assert_eq!(
            Layer::File(PathBuf::from("/w/config/config.toml")).to_string(),
            "`/w/config/config.toml`"
        );
        assert_eq!(
            Layer::Set("run.mode".into()).to_string(),
            "`--set run.mode`"
        );
    }

    #[test]
    fn articles_fit_the_shape() {
        assert_eq!(article("array"), "an array");
        assert_eq!(article("integer"), "an integer");
        assert_eq!(article("table"), "a table");
        assert_eq!(article("string"), "a string");
    }
}

//! image-project: run reproducible prompt-pipeline experiments for AI image generation.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. Modules by responsibility:
//! - [`cli`]: one file per command; the only place that parses flags, prints and picks exit codes.
//! - [`config`]: config layers, merge rules, `--set`, strict checks, every section type.
//! - [`data`]: `read_data` and the embedded sample data (`builtin:<name>`).
//! - [`plugins`]: finding, loading and describing experiment plugins.
//! - [`runner`]: the canonical experiment runner (plan, preflight, execute, record, resume) and the
//!   host services plugins call during a run.
//! - [`generation`]: one pipeline run and everything it records.
//! - [`context`]: context injection (season, holiday).
//! - [`pipeline`]: the engine of the prompt pipeline; [`stages`] the stage catalogue, the named
//!   plans and their compiler.
//! - [`backends`]: the text and image providers (offline and OpenAI-compatible), token usage.
//! - [`artifacts`]: every file format the runner writes, and atomic writing.
//! - [`report`]: `report.html` of an experiment and the comparison page of several.
//! - [`answers`]: the JSON answers stages ask for: each shape's parser and a sample it accepts.
//! - [`stats`]: means, bootstrap and Wilson intervals, exact binomial tests for `summary.metrics`.
//! - [`cost`]: what a run used by model, prices, and what it cost.
//! - [`metrics`]: `summary.metrics` and the failed runs, read from the stored result entries.
//! - [`errors`]: an error and its causes on one line.
//! - [`clock`]: the UTC timestamps and dates written into artifacts.
//! - [`file_kind`]: naming what is at a path that is not a regular file (FIFO, device, directory).
//!
//! Every arrow points down: no module imports one that imports it back (`tests/module_arrows.rs`).

pub mod answers;
pub mod artifacts;
pub mod backends;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod cost;
pub mod data;
pub mod errors;
pub mod file_kind;
pub mod generation;
pub mod metrics;
pub mod pipeline;
pub mod plugins;
pub mod prompts;
pub mod report;
pub mod runner;
pub mod stages;
pub mod stats;

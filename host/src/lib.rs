//! image-project: run reproducible prompt-pipeline experiments for AI image generation.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. Modules by responsibility:
//! - [`cli`]: one file per command; the only place that parses flags, prints and picks exit codes.
//! - [`config`]: config layers, merge rules, `--set`, strict checks.
//! - [`data`]: `read_data` and the embedded sample data (`builtin:<name>`).
//! - [`plugins`]: finding, loading and describing experiment plugins; the host services they call.
//! - [`runner`]: the canonical experiment runner (plan, preflight, execute, record, resume).
//! - [`generation`]: one pipeline run and everything it records.
//! - [`context`]: context injection (season, holiday).
//! - [`pipeline`]: the engine and compiler of the prompt pipeline; [`stages`] the stage catalogue.
//! - [`backends`]: the text and image providers (offline and OpenAI-compatible).
//! - [`artifacts`]: every file format the runner writes, and atomic writing.
//! - [`report`]: `report.html` of an experiment and the comparison page of several.
//! - [`stats`]: means, bootstrap and Wilson intervals, exact binomial tests for `summary.metrics`.
//! - [`cost`]: token usage of every model call, prices, and what a run cost.
//! - [`clock`]: the UTC timestamps and dates written into artifacts.
//! - [`file_kind`]: naming what is at a path that is not a regular file (FIFO, device, directory).

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

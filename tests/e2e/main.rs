//! End-to-end tests of the `image-project` binary: one test binary (a test target of the host
//! package, so cargo hands it a fresh binary and fresh plugin libraries), one module per area.
//! Every test gets its own sandbox directory and a scrubbed environment (`util`); plugins come
//! from the workspace's fresh builds or from the fault fixtures under `tests/fixtures/`.
//!
//! Run with `cargo test -p image-project --test e2e`.

// Sandboxes, commands for the built binary, fresh plugins, fixture builds, output helpers.
mod util;

// `experiments list`: search path, shadowing, load failures of bad files.
mod list;

// `experiments describe`: text and JSON, unknown names.
mod describe;

// `experiments run` as a command line: help, flag errors, unknown names, no `--dry-run`.
mod run_cli;

// `experiments run --dry-run` with the real plugins: plan files, their fields, determinism.
mod run_dry;

// Preflight of `experiments run`: stage configs compiled for every run before any model call.
mod preflight;

// Config and data errors of `experiments run`: `--set`, secrets, runner keys, data paths.
mod run_config;

// Plugins that misbehave while planning: panics, malformed output, invalid plans.
mod faults;

// plugin-api compatibility: a 1.0.0-built plugin under this host; the flags and the declared
// interface minor that 1.1 added, checked by the host.
mod compat;

// `generate`: one offline run, its files, determinism, config errors, a failed model call.
mod generate;

// `experiments run` executing runs: results, pairs, labels, `--jobs`, failures and panics.
mod execute;

// What a plugin's hooks may do with a run: `run_pipeline` once, from `run`; one seed per run.
mod pipeline_rules;

// A control with several treatments: every arm in `pairs.json`, the metrics, the page and on
// resume; pairings that do not fit the plan refused.
mod arms;

// The services of analyses and artifacts: `analysis_context`, `run_transcript`, `write_artifact`.
mod plugin_services;

// Stages a plugin declares as data: `stages list`, an offline run, load-time refusals, scope.
mod declared_stages;

// `experiments run --resume`: after SIGKILL, refusals, a torn results line, `--set` on resume.
mod resume;

// The runner's guarantees: racing runners, interrupted commits, containment, full disks.
mod guarantees;
// `report.html` after real runs, and `experiments report`: newest, comparison, errors.
mod report;
// `index-artifacts` and the index refreshed after each experiment.
mod index;
// The stage catalogue through real experiments (`3x3`).
mod catalogue;
// No artifact ever holds a key: echoed keys, pasted keys, credentials in URLs.
mod secrets;
// Usage and cost: per-step usage, run/variant/experiment totals and prices against a usage stub.
mod cost;
// The response cache: re-runs without HTTP, seeds apart, refresh, off, two processes, bad files,
// `generate --cache` and the `cache` command.
mod cache;

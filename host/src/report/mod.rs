//! `report.html`: the readable page of an experiment, and the comparison page of several.
//!
//! It owns what the pages show and how they are laid out (`page`, with `metrics_table`,
//! `usage_table` and `drill_down`; `compare`), what they read from an experiment directory (`source`), the word
//! diff of A/B prompts (`diff`) and the shared HTML pieces (`html`). It does not own the files it reads (their formats are `artifacts`' and
//! `runner`'s), when the report is written (the runner, at the end of every run and resume; the
//! `experiments report` command on request), nor atomic writing (`artifacts::write_atomic`).
//!
//! A page is one self-contained file: inline CSS, no network fetch, readable with JavaScript off
//! (drill-downs are `<details>`; a short inline script only sorts the run list), images linked by
//! relative path. Every text that comes from a plugin or a model is HTML-escaped. The same
//! directory gives the same bytes. Pages are built in a `String`, into which `write!` cannot
//! fail: hence the `let _ = write!(...)` throughout.

mod compare;
mod diff;
mod drill_down;
mod html;
mod metrics_table;
mod page;
mod source;
mod usage_table;

use std::path::{Component, Path, PathBuf};

use crate::artifacts::layout::{ExperimentLayout, RESULTS_FILE};
use crate::artifacts::{self, ArtifactError};

pub use drill_down::STEP_TEXT_LIMIT;
pub use html::escape;
pub use page::{GRID_PROMPT_LIMIT, RUNS_PER_PAGE};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("`{}` is not an experiment directory: it has no `{RESULTS_FILE}`", path.display())]
    NotAnExperiment { path: PathBuf },
    #[error("no experiment directory with `{RESULTS_FILE}` in `{}`", path.display())]
    NoExperiments { path: PathBuf },
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid JSON", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{}` does not name a file to write the page to", path.display())]
    NotAFile { path: PathBuf },
    #[error("failed to remove the stale transcript page `{}`", path.display())]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] ArtifactError),
}

/// How a page links files: by their path relative to the directory the page is written in.
/// It also names the report's further transcript pages, which sit beside it.
pub struct Links {
    page_dir: PathBuf,
    /// The report's file name without `.html`.
    stem: String,
    file_name: String,
}

impl Links {
    /// Links for the page `file_name` written into `page_dir` (canonical).
    pub fn new(page_dir: &Path, file_name: &str) -> Links {
        Links {
            page_dir: page_dir.to_owned(),
            stem: file_name
                .strip_suffix(".html")
                .unwrap_or(file_name)
                .to_owned(),
            file_name: file_name.to_owned(),
        }
    }

    /// `path` relative to the page's directory, percent-encoded for an `href` or `src`.
    pub fn href(&self, path: &Path) -> String {
        let relative = relative_path(&self.page_dir, path);
        let mut out = String::new();
        for (position, component) in relative.iter().enumerate() {
            if position > 0 {
                out.push('/');
            }
            out.push_str(&percent_encode(component.as_encoded_bytes()));
        }
        out
    }

    /// The file name of transcript page `number` (2 and up).
    pub fn transcripts_page(&self, number: usize) -> String {
        format!("{}_transcripts_{number}.html", self.stem)
    }

    /// [`Links::transcripts_page`], encoded for an `href`.
    pub fn transcripts_page_href(&self, number: usize) -> String {
        percent_encode(self.transcripts_page(number).as_bytes())
    }

    /// The report's own page, encoded for an `href` from a transcript page beside it.
    pub fn main_page_href(&self) -> String {
        percent_encode(self.file_name.as_bytes())
    }
}

/// Every byte outside `[A-Za-z0-9._~-]` as `%XX`.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for byte in bytes {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(*byte))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `target` relative to `from` (both absolute, or both relative to the same directory), with
/// `..` where it climbs out.
fn relative_path(from: &Path, target: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &to[common..] {
        relative.push(component.as_os_str());
    }
    relative
}

/// Writes `<dir>/report.html` from the directory's files, atomically; returns its path.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    let path = ExperimentLayout::new(dir).report();
    write_report_to(dir, &path)?;
    Ok(path)
}

/// Writes the report of the experiment in `dir` to `out`, atomically, linking files relative to
/// `out`'s directory; further transcript pages (more than [`RUNS_PER_PAGE`] runs) go beside it
/// as `<stem>_transcripts_<n>.html`, each atomically and before `out`, and pages a previous
/// report had beyond the last one are removed.
pub fn write_report_to(dir: &Path, out: &Path) -> Result<(), ReportError> {
    let experiment = source::Experiment::load(dir)?;
    let page_dir = page_dir(out)?;
    let file_name = file_name(out)?;
    let links = Links::new(&page_dir, &file_name);
    let rendered = page::render(&experiment, &links);
    let mut next = 2;
    for (number, html) in &rendered.transcript_pages {
        artifacts::write_atomic(
            &page_dir.join(links.transcripts_page(*number)),
            html.as_bytes(),
        )?;
        next = number + 1;
    }
    loop {
        let stale = page_dir.join(links.transcripts_page(next));
        match std::fs::remove_file(&stale) {
            Ok(()) => next += 1,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => break,
            Err(source) => {
                return Err(ReportError::RemoveStale {
                    path: stale,
                    source,
                })
            }
        }
    }
    artifacts::write_atomic(out, rendered.main.as_bytes())?;
    Ok(())
}

/// Writes the comparison page of the experiments in `dirs` to `out`, atomically.
pub fn write_comparison(dirs: &[PathBuf], out: &Path) -> Result<(), ReportError> {
    let experiments = dirs
        .iter()
        .map(|dir| source::Experiment::load(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let file_name = file_name(out)?;
    let html = compare::render(&experiments, &Links::new(&page_dir(out)?, &file_name));
    artifacts::write_atomic(out, html.as_bytes())?;
    Ok(())
}

/// The experiment directory under `root` whose `experiment_results.json` was written last
/// (the experiment most recently run or resumed).
pub fn newest_experiment(root: &Path) -> Result<PathBuf, ReportError> {
    let read_error = |source| ReportError::Read {
        path: root.to_owned(),
        source,
    };
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(root).map_err(read_error)? {
        let dir = entry.map_err(read_error)?.path();
        let Ok(modified) =
            std::fs::metadata(ExperimentLayout::new(&dir).results()).and_then(|m| m.modified())
        else {
            // Not an experiment with results (an index, a dry run): not a candidate.
            continue;
        };
        // Ties (same mtime) go to the later name, so the choice never depends on listing order.
        if newest
            .as_ref()
            .is_none_or(|(time, path)| (modified, &dir) > (*time, path))
        {
            newest = Some((modified, dir));
        }
    }
    newest
        .map(|(_, dir)| dir)
        .ok_or_else(|| ReportError::NoExperiments {
            path: root.to_owned(),
        })
}

/// The file name of `out` (a path ending in `..` or `/` names none).
fn file_name(out: &Path) -> Result<String, ReportError> {
    out.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| ReportError::NotAFile {
            path: out.to_owned(),
        })
}

/// The canonical directory a page at `out` is written in (the working directory for a bare
/// file name), so links are computed between two canonical paths.
fn page_dir(out: &Path) -> Result<PathBuf, ReportError> {
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    parent.canonicalize().map_err(|source| ReportError::Read {
        path: parent.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;

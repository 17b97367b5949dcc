//! Progress of an executing experiment on stderr: a bar on a terminal (runs done, failures,
//! elapsed, ETA), one plain line per finished run otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use plugin_api::RunStatus;

use crate::plugins::printable::printable;

use crate::runner::RunEvent;

/// How many characters of a failed run's reason the progress line shows.
const REASON_CHARS: usize = 120;

/// Draws progress from the runner's events.
pub struct Progress {
    bar: Mutex<Option<ProgressBar>>,
    terminal: bool,
    quiet: bool,
    total: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

impl Progress {
    /// `quiet` (with `--json`) draws nothing but a bar on a terminal.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            bar: Mutex::new(None),
            terminal: std::io::stderr().is_terminal(),
            quiet,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        }
    }

    pub fn event(&self, event: RunEvent) {
        match event {
            RunEvent::Started { total, to_run } => {
                self.total.store(to_run, Ordering::SeqCst);
                if self.terminal {
                    let bar = ProgressBar::new(to_run as u64);
                    let style = ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} runs  {msg}  {elapsed_precise} elapsed, ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
                } else if !self.quiet {
                    eprintln!("executing {to_run} of {total} planned runs");
                }
            }
            RunEvent::Finished {
                generation_id,
                status,
                analysis_failed,
                duration_s,
                reason,
                ..
            } => {
                let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
                let failed =
                    self.failed.load(Ordering::SeqCst) + usize::from(status == RunStatus::Error);
                self.failed.store(failed, Ordering::SeqCst);
                let outcome = match (status, analysis_failed) {
                    (RunStatus::Success, false) => "success",
                    (RunStatus::Success, true) => "success (analysis failed)",
                    (RunStatus::Error, _) => "error",
                };
                let reason = reason
                    .map(|reason| format!(": {}", printable(&reason, REASON_CHARS)))
                    .unwrap_or_default();
                if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    bar.set_message(format!("{failed} failed"));
                    if !reason.is_empty() {
                        bar.println(format!("{generation_id} {outcome}{reason}"));
                    }
                    bar.inc(1);
                } else if !self.quiet {
                    let total = self.total.load(Ordering::SeqCst);
                    eprintln!(
                        "[{done}/{total}] {generation_id} {outcome} ({duration_s:.2} s){reason}"
                    );
                }
            }
        }
    }

    /// Clears the bar before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

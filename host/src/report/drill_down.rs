//! The drill-down of each run: its transcript's steps, each with its path, type, provider and
//! model, attempts and finish time, and its prompt, answer or result cut at
//! [`STEP_TEXT_LIMIT`] characters with a link to the full transcript file. Each run is one
//! collapsed `<details>`.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::html::{escape, shortened, text};
use super::source::{read_transcript, Entry, Experiment, Step};
use super::Links;

/// Characters of a step's prompt, answer or result shown in the drill-down.
pub const STEP_TEXT_LIMIT: usize = 300;

/// The runs whose final prompt a pair table shows whole already (a variant in no pair has
/// none): their drill-downs leave it out. Built once per page set, not per page.
pub fn paired_runs(experiment: &Experiment) -> HashSet<&str> {
    experiment
        .pairs
        .iter()
        .flatten()
        .chain(experiment.arms.iter().flat_map(|arm| &arm.pairs))
        .flat_map(|pair| [pair.a_generation_id.as_str(), pair.b_generation_id.as_str()])
        .collect()
}

/// The transcripts of `entries`, each collapsed (a run in `paired` without its final prompt);
/// adds the backends and models they name to `backends`, in order of first appearance.
pub fn render(
    html: &mut String,
    experiment: &Experiment,
    entries: &[Entry],
    paired: &HashSet<&str>,
    links: &Links,
    backends: &mut Vec<String>,
) {
    for entry in entries {
        let path = experiment.transcript_path(&entry.generation_id);
        let href = links.href(&path);
        let _ = writeln!(
            html,
            "<details class=\"run\" id=\"run-{id}\"><summary>{id} · variant {} · \
             {} · {} s</summary>",
            escape(&entry.variant),
            escape(&entry.status),
            escape(&text(&entry.duration_s)),
            id = escape(&entry.generation_id),
        );
        if let (false, Some(prompt)) = (
            paired.contains(entry.generation_id.as_str()),
            &entry.final_prompt,
        ) {
            let (shown, cut) = shortened(prompt, STEP_TEXT_LIMIT * 4);
            let _ = write!(
                html,
                "<p>final prompt:</p><pre>{shown}{}</pre>",
                cut_note(cut, &href)
            );
        }
        match read_transcript(&path) {
            Ok(Some(transcript)) => {
                for role in ["text", "image"] {
                    let backend = &transcript.backends[role];
                    if backend.is_object() {
                        let line = format!(
                            "{role}: {} {}",
                            text(&backend["provider"]),
                            text(&backend["model"])
                        );
                        if !backends.contains(&line) {
                            backends.push(line);
                        }
                    }
                }
                let _ = writeln!(
                    html,
                    "<p class=\"note\">{} steps; <a href=\"{href}\">transcript file</a></p>",
                    transcript.steps.len()
                );
                for step in &transcript.steps {
                    render_step(html, step, &href);
                }
            }
            Ok(None) => {
                html.push_str("<p class=\"note\">no transcript (the run wrote none)</p>\n");
            }
            Err(error) => {
                let _ = writeln!(
                    html,
                    "<p class=\"fail\">transcript unreadable: {}</p>",
                    escape(&crate::errors::error_chain(&error))
                );
            }
        }
        html.push_str("</details>\n");
    }
}

fn render_step(html: &mut String, step: &Step, href: &str) {
    let mut facts = vec![escape(&step.kind)];
    if !step.provider.is_null() {
        facts.push(format!(
            "{} {}",
            escape(&text(&step.provider)),
            escape(&text(&step.params["model"]))
        ));
    }
    if !step.attempts.is_null() {
        facts.push(format!("attempts {}", escape(&text(&step.attempts))));
    }
    facts.push(format!("finished {}", escape(&text(&step.created_at))));
    let _ = write!(
        html,
        "<div class=\"step\"><b>{}</b> <span class=\"note\">{}</span>",
        escape(&step.path),
        facts.join(" · ")
    );
    let result = (!step.result.is_null()).then(|| text(&step.result));
    for (label, value) in [
        ("prompt", step.prompt.as_deref()),
        ("answer", step.response.as_deref()),
        ("result", result.as_deref()),
    ] {
        if let Some(value) = value {
            let (shown, cut) = shortened(value, STEP_TEXT_LIMIT);
            let _ = write!(
                html,
                "<div class=\"note\">{label}</div><pre>{shown}{}</pre>",
                cut_note(cut, href)
            );
        }
    }
    html.push_str("</div>\n");
}

fn cut_note(cut: usize, href: &str) -> String {
    if cut == 0 {
        return String::new();
    }
    format!(" <a class=\"note\" href=\"{href}\">… {cut} more characters</a>")
}

//! Prompt templates: every prompt text the pipeline sends lives in a file next to this module,
//! rendered with minijinja (strict: a variable a template uses but the caller did not pass is an
//! error, not an empty string). Stages choose the template and pass the values; no prompt text
//! lives in code. A plugin's declared stage brings its template as text ([`render_text`]); it
//! is rendered by the same engine with the same rules.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "backends/continue_turn",
        include_str!("backends/continue_turn.j2"),
    ),
    ("ab/scene_draft", include_str!("ab/scene_draft.j2")),
    (
        "ab/scene_refine_no_block",
        include_str!("ab/scene_refine_no_block.j2"),
    ),
    (
        "ab/scene_refine_with_block",
        include_str!("ab/scene_refine_with_block.j2"),
    ),
    ("ab/scene_spec_json", include_str!("ab/scene_spec_json.j2")),
    (
        "ab/final_prompt_format",
        include_str!("ab/final_prompt_format.j2"),
    ),
    (
        "ab/final_prompt_format_from_scenespec",
        include_str!("ab/final_prompt_format_from_scenespec.j2"),
    ),
    (
        "preprompt/dislike_rewrite_system",
        include_str!("preprompt/dislike_rewrite_system.j2"),
    ),
    (
        "preprompt/dislike_rewrite_user",
        include_str!("preprompt/dislike_rewrite_user.j2"),
    ),
    (
        "blackbox/hints_abstract",
        include_str!("blackbox/hints_abstract.j2"),
    ),
    ("blackbox/idea_card", include_str!("blackbox/idea_card.j2")),
    (
        "blackbox/profile_hints_plus_dislikes",
        include_str!("blackbox/profile_hints_plus_dislikes.j2"),
    ),
    ("blackbox/judge", include_str!("blackbox/judge.j2")),
    (
        "blackbox/image_prompt",
        include_str!("blackbox/image_prompt.j2"),
    ),
    (
        "standard/initial_prompt_freeform",
        include_str!("standard/initial_prompt_freeform.j2"),
    ),
    (
        "standard/image_prompt_creation",
        include_str!("standard/image_prompt_creation.j2"),
    ),
    (
        "blackbox_refine/variation_v1",
        include_str!("blackbox_refine/variation_v1.j2"),
    ),
    (
        "blackbox_refine/variation_v2",
        include_str!("blackbox_refine/variation_v2.j2"),
    ),
    (
        "blackbox_refine/judge",
        include_str!("blackbox_refine/judge.j2"),
    ),
    (
        "postprompt/profile_nudge",
        include_str!("postprompt/profile_nudge.j2"),
    ),
    (
        "postprompt/openai_format",
        include_str!("postprompt/openai_format.j2"),
    ),
    (
        "direct/image_prompt_creation",
        include_str!("direct/image_prompt_creation.j2"),
    ),
    ("title_system", include_str!("title_system.j2")),
    ("title_user", include_str!("title_user.j2")),
];

/// The language and strictness every template is rendered with, built-in or given as text.
fn configured_environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_keep_trailing_newline(false);
    environment
}

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut environment = configured_environment();
        for (name, source) in TEMPLATES {
            // A template that does not parse is a bug caught by `every_template_parses`.
            if let Err(error) = environment.add_template(name, source) {
                panic!("prompt template `{name}` does not parse: {error}");
            }
        }
        environment
    })
}

/// The diversity directives of the idea cards, one per line; idea `i` gets directive `i mod n`.
pub fn diversity_directives() -> Vec<&'static str> {
    include_str!("blackbox/diversity_directives.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// The judging rubric texts of the refine loop, by name.
pub fn rubric(name: &str) -> Option<&'static str> {
    match name {
        "default" => Some(include_str!("blackbox_refine/rubric_default.txt")),
        "strict" => Some(include_str!("blackbox_refine/rubric_strict.txt")),
        "novelty_heavy" => Some(include_str!("blackbox_refine/rubric_novelty_heavy.txt")),
        _ => None,
    }
}

/// The refine loop's built-in mutation directives, one per line.
pub fn mutation_directives() -> Vec<String> {
    include_str!("blackbox_refine/mutation_directives.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Renders template `name` with `values`.
pub fn render<S: Serialize>(name: &str, values: S) -> Result<String, String> {
    let template = environment()
        .get_template(name)
        .map_err(|error| format!("prompt template `{name}`: {error}"))?;
    template
        .render(values)
        .map(|text| text.trim().to_owned())
        .map_err(|error| format!("prompt template `{name}` failed to render: {error}"))
}

/// The environment for a template given as text (a plugin's declared stage): the language and
/// strictness of the built-in templates, none of them. Built once: it renders every declared
/// step of every run.
fn text_environment() -> &'static Environment<'static> {
    static TEXT_ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    TEXT_ENVIRONMENT.get_or_init(configured_environment)
}

/// Renders the template `source` (called `name` in errors) with `values`, like [`render`].
pub fn render_text<S: Serialize>(name: &str, source: &str, values: S) -> Result<String, String> {
    text_environment()
        .render_named_str(name, source, values)
        .map(|text| text.trim().to_owned())
        .map_err(|error| format!("prompt template `{name}` failed to render: {error:#}"))
}

/// The variables the template `source` reads without setting them itself (top-level names;
/// the built-in functions such as `range` left out), or why it does not parse.
pub fn template_variables(name: &str, source: &str) -> Result<BTreeSet<String>, String> {
    let environment = text_environment();
    let template = environment
        .template_from_named_str(name, source)
        .map_err(|error| format!("does not parse: {error:#}"))?;
    let globals: BTreeSet<&str> = environment.globals().map(|(name, _)| name).collect();
    Ok(template
        .undeclared_variables(false)
        .into_iter()
        .filter(|variable| !globals.contains(variable.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            environment().get_template(name).unwrap();
        }
    }

    #[test]
    fn renders_values_and_refuses_missing_ones() {
        let text = render("ab/scene_draft", context! { token => "RV-1-234567" }).unwrap();
        assert!(text.contains("RV-1-234567"));
        let error = render("ab/scene_draft", context! {}).unwrap_err();
        assert!(error.contains("ab/scene_draft"), "{error}");
    }
}

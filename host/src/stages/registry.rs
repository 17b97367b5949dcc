//! The stage registry: stage kinds by id, with suffix resolution (`scene_draft` finds
//! `ab.scene_draft` when unique). Reference: python-pipeline.md §1.3. A run's registry holds the
//! built-in catalogue and the stages its plugin declared (`declared`), nothing of other plugins.
//!
//! Resolution rules, in order: an exact id wins; an id with a dot that is not exact is unknown;
//! a dot-less id is a suffix and must match exactly one `*.<id>`.

use crate::config::suggest::did_you_mean;

use super::StageDef;

/// Every stage kind the pipeline knows.
pub struct Registry {
    stages: Vec<StageDef>,
}

/// An id that names no stage kind, or several.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    pub message: String,
    pub kind: ResolveErrorKind,
}

/// Why an id did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveErrorKind {
    Empty,
    Unknown,
    Ambiguous,
}

impl Registry {
    /// The built-in catalogue.
    pub fn builtin() -> Registry {
        Registry::with(super::catalogue())
    }

    /// The built-in catalogue and the stage kinds one plugin declares (`declared`), for that
    /// plugin's runs.
    pub fn with_declared(declared: &[StageDef]) -> Registry {
        let mut stages = super::catalogue();
        stages.extend_from_slice(declared);
        Registry::with(stages)
    }

    /// A registry of exactly `stages` (tests build small ones).
    ///
    /// # Panics
    ///
    /// When two stages share an id: the catalogue is static and a plugin's declared stages are
    /// checked against it at load time, so that is a bug, not input.
    pub fn with(stages: Vec<StageDef>) -> Registry {
        for (index, stage) in stages.iter().enumerate() {
            assert!(
                !stages[..index].iter().any(|s| s.id == stage.id),
                "duplicate stage kind id `{}` in the registry",
                stage.id
            );
        }
        Registry { stages }
    }

    /// Every stage kind, in catalogue order.
    pub fn stages(&self) -> &[StageDef] {
        &self.stages
    }

    /// The stage kind with exactly this id.
    pub fn get(&self, id: &str) -> Option<&StageDef> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The stage kind `id` names: exact, or a unique dot-less suffix.
    pub fn resolve(&self, id: &str) -> Result<&StageDef, ResolveError> {
        let key = id.trim();
        if key.is_empty() {
            return Err(error(
                ResolveErrorKind::Empty,
                "stage kind id must not be empty".to_owned(),
            ));
        }
        if let Some(stage) = self.get(key) {
            return Ok(stage);
        }
        if !key.contains('.') {
            let matches: Vec<&StageDef> = self
                .stages
                .iter()
                .filter(|s| is_suffix(s.id, key))
                .collect();
            match matches.as_slice() {
                [one] => return Ok(one),
                [] => {}
                several => {
                    let mut ids: Vec<&str> = several.iter().map(|s| s.id).collect();
                    ids.sort_unstable();
                    return Err(error(
                        ResolveErrorKind::Ambiguous,
                        format!(
                            "ambiguous stage kind `{key}` (matches: {})\n\nuse the full id",
                            ids.join(", ")
                        ),
                    ));
                }
            }
        }
        let mut message = format!(
            "unknown stage kind `{key}` (available: {})",
            self.available().join(", ")
        );
        if let Some(suggestion) = self.suggest(key) {
            message.push_str(&format!("\n\ndid you mean `{suggestion}`?"));
        }
        Err(error(ResolveErrorKind::Unknown, message))
    }

    /// The ids, sorted.
    pub fn available(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = self.stages.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids
    }

    /// The stage kind id closest to a misspelt `id`: compared with full ids, then with the
    /// part after the family (`scene_drat` suggests `ab.scene_draft`).
    pub fn suggest(&self, id: &str) -> Option<&'static str> {
        let ids = self.available();
        if let Some(found) = did_you_mean(id, ids.iter().copied()) {
            return Some(found);
        }
        let suffix_of = |full: &'static str| full.split_once('.').map_or(full, |(_, rest)| rest);
        let found = did_you_mean(id, ids.iter().map(|full| suffix_of(full)))?;
        ids.into_iter().find(|full| suffix_of(full) == found)
    }
}

fn error(kind: ResolveErrorKind, message: String) -> ResolveError {
    ResolveError { message, kind }
}

fn is_suffix(id: &str, suffix: &str) -> bool {
    id.strip_suffix(suffix)
        .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::test_stage as def;

    fn registry() -> Registry {
        Registry::with(vec![
            def("ab.scene_draft"),
            def("ab.final_prompt_format"),
            def("x.final_prompt_format"),
            def("solo"),
        ])
    }

    fn err(id: &str) -> String {
        registry()
            .resolve(id)
            .err()
            .expect("expected an error")
            .message
    }

    #[test]
    fn exact_ids_and_unique_suffixes_resolve() {
        let r = registry();
        assert_eq!(r.resolve("ab.scene_draft").unwrap().id, "ab.scene_draft");
        assert_eq!(r.resolve(" scene_draft ").unwrap().id, "ab.scene_draft");
        assert_eq!(r.resolve("solo").unwrap().id, "solo");
        assert_eq!(
            r.get("ab.scene_draft").map(|s| s.id),
            Some("ab.scene_draft")
        );
        assert!(r.get("scene_draft").is_none());
    }

    #[test]
    fn ambiguous_suffixes_list_their_matches() {
        assert_eq!(
            err("final_prompt_format"),
            "ambiguous stage kind `final_prompt_format` (matches: ab.final_prompt_format, x.final_prompt_format)\n\nuse the full id"
        );
    }

    #[test]
    fn unknown_ids_list_the_available_ones_and_suggest() {
        assert_eq!(
            err("ab.scene_drat"),
            "unknown stage kind `ab.scene_drat` (available: ab.final_prompt_format, ab.scene_draft, solo, x.final_prompt_format)\n\ndid you mean `ab.scene_draft`?"
        );
        assert!(
            err("scene_drat").ends_with("\n\ndid you mean `ab.scene_draft`?"),
            "{}",
            err("scene_drat")
        );
        // A dotted id never matches as a suffix.
        assert!(err("b.scene_draft").starts_with("unknown stage kind `b.scene_draft`"));
        assert_eq!(
            err("zzzzzz"),
            "unknown stage kind `zzzzzz` (available: ab.final_prompt_format, ab.scene_draft, solo, x.final_prompt_format)"
        );
        assert_eq!(err("  "), "stage kind id must not be empty");
    }

    #[test]
    fn error_kinds_tell_unknown_from_ambiguous() {
        assert_eq!(
            registry().resolve("ab.nope").err().map(|e| e.kind),
            Some(ResolveErrorKind::Unknown)
        );
        assert_eq!(
            registry()
                .resolve("final_prompt_format")
                .err()
                .map(|e| e.kind),
            Some(ResolveErrorKind::Ambiguous)
        );
    }

    #[test]
    #[should_panic(expected = "duplicate stage kind id `solo`")]
    fn duplicate_ids_are_a_bug() {
        Registry::with(vec![def("solo"), def("solo")]);
    }
}

//! The stage registry: stage kinds by id, with suffix resolution (`scene_draft` finds
//! `ab.scene_draft` when unique). Reference: python-pipeline.md §1.3.

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
}

impl Registry {
    /// The built-in catalogue.
    pub fn builtin() -> Registry {
        Registry { stages: super::catalogue() }
    }

    /// Every stage kind, in catalogue order.
    pub fn stages(&self) -> &[StageDef] {
        &self.stages
    }
}

//! The A/B stages (reference §2.2 `ab.*`).

use super::StageDef;

pub fn stages() -> Vec<StageDef> {
    Vec::new()
}

//! The JSON answers stages ask a model for, one file per shape: the parser the stage reads the
//! answer with and a sample answer that parser accepts. The offline backend answers with the
//! samples, so every shape round-trips; the module sits below both `stages` (which parse) and
//! `backends` (which write the samples) and knows neither.

mod concept_list;
mod idea_card;
mod json;
mod judge_scores;

pub use concept_list::{concept_list_sample, parse_concept_list};
pub use idea_card::{
    idea_card_sample, idea_cards_ids, idea_cards_json, idea_ids, parse_idea_card, parse_idea_cards,
    IdeaCard, IdeaOptions,
};
pub use json::extract_json;
pub use judge_scores::{judge_scores_sample, parse_judge_scores};

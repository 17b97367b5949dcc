//! What stages know about a run before it starts: its data tables and texts, loaded once by the
//! caller (a run, or preflight) and shared by every stage's builder and prompts.

use std::path::PathBuf;

use plugin_api::concepts::CategoriesTable;

/// A run's inputs besides its config.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The categories table (`prompt.categories_path`), for random concept selection.
    pub categories: Option<CategoriesTable>,
    /// The rendered profile (`prompt.profile_path`) the prompts show the model.
    pub preferences_guidance: String,
    /// Dislikes then hates from the profile.
    pub dislikes: Vec<String>,
    /// Context guidance for stage prompts (empty unless `context.injection_location` includes
    /// `prompt`).
    pub prompt_context: String,
    /// Final prompts of earlier runs (the novelty window), newest last: a snapshot taken before
    /// the run (by the experiment runner, when the experiment starts), never updated during it.
    pub recent_prompts: Vec<String>,
    /// Relative data paths in stage configs resolve against it.
    pub cwd: PathBuf,
    /// `data.max_file_bytes`: data files a stage reads larger than this are refused.
    pub max_file_bytes: u64,
}

impl Default for RunData {
    fn default() -> RunData {
        RunData {
            categories: None,
            preferences_guidance: String::new(),
            dislikes: Vec::new(),
            prompt_context: String::new(),
            recent_prompts: Vec::new(),
            cwd: PathBuf::new(),
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

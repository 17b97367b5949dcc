//! Pipeline stages a plugin declares as data (1.1): a prompt template, the run outputs it reads,
//! the output it writes, the shape of the model's answer and default knobs. The host turns each
//! into a stage kind `<plugin>.<name>` for that plugin's runs; the plugin runs no code for it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One declared stage: a single model call whose user message is `template` rendered with the
/// outputs named in `reads`, whose answer (checked against `response`) is stored under `writes`.
///
/// ```
/// use plugin_api::{StageResponse, StageSpec};
///
/// let stage = StageSpec::new("critique", "One line on what the prompt lacks")
///     .template("Name the one thing this image prompt lacks:\n{{ image_prompt }}")
///     .reads("image_prompt")
///     .writes("critique")
///     .response(StageResponse::Line)
///     .knob("temperature", 0.3);
/// assert_eq!(stage.reads, ["image_prompt"]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// `[a-z0-9_]+`; the stage kind id is `<plugin name>.<name>`.
    pub name: String,
    /// One line for `stages list` and the transcript.
    pub doc: String,
    /// The user message, a template in the host's template language (Jinja syntax, strict
    /// undefined): each key of `reads` is a variable holding that output's text.
    pub template: String,
    /// The run outputs the stage reads; each must exist before it runs.
    #[serde(default)]
    pub reads: Vec<String>,
    /// The run output the stage writes (its answer, shaped by `response`).
    pub writes: String,
    /// What the answer must look like.
    #[serde(default)]
    pub response: StageResponse,
    /// Default config knobs, overridable per run under `prompt.stage_configs.<instance>`.
    /// Known knobs: `temperature` (0–2, default 0.7).
    #[serde(default)]
    pub knobs: Map<String, Value>,
}

impl StageSpec {
    /// A stage named `name` with an empty template that reads nothing and writes `name`.
    pub fn new(name: &str, doc: &str) -> StageSpec {
        StageSpec {
            name: name.to_owned(),
            doc: doc.to_owned(),
            template: String::new(),
            reads: Vec::new(),
            writes: name.to_owned(),
            response: StageResponse::Text,
            knobs: Map::new(),
        }
    }

    /// Sets the user-message template.
    pub fn template(mut self, template: &str) -> StageSpec {
        self.template = template.to_owned();
        self
    }

    /// Adds an output the template reads.
    pub fn reads(mut self, key: &str) -> StageSpec {
        self.reads.push(key.to_owned());
        self
    }

    /// Sets the output the stage writes.
    pub fn writes(mut self, key: &str) -> StageSpec {
        self.writes = key.to_owned();
        self
    }

    /// Sets the answer's shape.
    pub fn response(mut self, response: StageResponse) -> StageSpec {
        self.response = response;
        self
    }

    /// Sets a default knob (`temperature`).
    pub fn knob(mut self, key: &str, value: impl Into<Value>) -> StageSpec {
        self.knobs.insert(key.to_owned(), value.into());
        self
    }
}

/// The shape of a declared stage's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageResponse {
    /// Free text, stored as answered (trimmed).
    #[default]
    Text,
    /// One line: an answer of several non-empty lines is an error.
    Line,
    /// One JSON object (JSON mode where the backend has it); stored as its JSON text.
    JsonObject,
}

impl StageResponse {
    /// The spelling in the descriptor (`text`, `line`, `json_object`).
    pub fn as_str(self) -> &'static str {
        match self {
            StageResponse::Text => "text",
            StageResponse::Line => "line",
            StageResponse::JsonObject => "json_object",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StageResponse;

    #[test]
    fn a_response_shape_is_spelled_as_serde_spells_it() {
        for shape in [
            StageResponse::Text,
            StageResponse::Line,
            StageResponse::JsonObject,
        ] {
            let serde = serde_json::to_value(shape).unwrap_or_default();
            assert_eq!(serde.as_str(), Some(shape.as_str()));
        }
    }
}

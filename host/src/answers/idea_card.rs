//! Idea cards (`blackbox.idea_card`, `blackbox.idea_cards`): the normalised card, the strict
//! parser of one card and of a list, the ids cards are given, and a sample answer the parser
//! accepts. Every parse error starts with the reference's prefix (`invalid_idea_card_json:` or
//! `invalid_idea_cards_json:`). Which cards a stage asks for is the stage's business.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract_json;

/// The four option lists of an idea card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdeaOptions {
    /// At least two.
    pub composition: Vec<String>,
    /// At least two.
    pub palette: Vec<String>,
    /// At least one.
    pub medium: Vec<String>,
    /// At least one.
    pub mood: Vec<String>,
}

/// One normalised idea card: every string trimmed, empty list items dropped. Serialises as
/// `{id, hook, narrative, options{composition, palette, medium, mood}, avoid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdeaCard {
    pub id: String,
    pub hook: String,
    pub narrative: String,
    pub options: IdeaOptions,
    pub avoid: Vec<String>,
}

impl IdeaCard {
    /// The card as a JSON object, keys in the normalised order.
    pub fn to_value(&self) -> Value {
        json!({
            "id": self.id,
            "hook": self.hook,
            "narrative": self.narrative,
            "options": {
                "composition": self.options.composition,
                "palette": self.options.palette,
                "medium": self.options.medium,
                "mood": self.options.mood,
            },
            "avoid": self.avoid,
        })
    }
}

/// The ids of `n` idea cards, like spreadsheet columns: A..Z, AA, AB, ...
pub fn idea_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|index| {
            let mut rest = index + 1;
            let mut letters = Vec::new();
            while rest > 0 {
                let rem = (rest - 1) % 26;
                rest = (rest - 1) / 26;
                // rem < 26, so the cast and the addition stay inside A..=Z.
                letters.push(char::from(b'A' + rem as u8));
            }
            letters.iter().rev().collect()
        })
        .collect()
}

/// `{"ideas": [cards]}` pretty-printed with two-space indentation (the `idea_cards_json` output).
pub fn idea_cards_json(cards: &[IdeaCard]) -> String {
    let value = json!({ "ideas": cards.iter().map(IdeaCard::to_value).collect::<Vec<_>>() });
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
}

/// The ids of an [`idea_cards_json`] document, in order; empty when it is not one (the judge
/// then has nothing to score, and its parser says so).
pub fn idea_cards_ids(cards_json: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(cards_json).unwrap_or(Value::Null);
    value
        .get("ideas")
        .and_then(Value::as_array)
        .map(|cards| {
            cards
                .iter()
                .filter_map(|card| card.get("id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// An answer the idea-card parser accepts: `card` pretty-printed with two-space indentation,
/// no fence (the offline backend answers with it).
pub fn idea_card_sample(card: &IdeaCard) -> String {
    let value = card.to_value();
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
}

/// Parses one model answer as the idea card `expected_id`.
///
/// Accepts the card object, `{"idea": {...}}` or `{"ideas": [one card]}`. The id must equal
/// `expected_id` (after trimming); `hook` and `narrative` must be non-empty strings; `options`
/// must hold `composition` (≥2), `palette` (≥2), `medium` (≥1) and `mood` (≥1) lists, whose
/// non-string and blank items are dropped before counting; `avoid` is an optional list of
/// strings (null or absent gives an empty list).
pub fn parse_idea_card(text: &str, expected_id: &str) -> Result<IdeaCard, String> {
    const P: &str = "invalid_idea_card_json";
    let payload: Value = serde_json::from_str(extract_json(text))
        .map_err(|e| format!("{P}: JSON parse error: {e}"))?;
    let card = match &payload {
        Value::Object(map) if map.contains_key("idea") => &map["idea"],
        Value::Object(map) if map.contains_key("ideas") => match &map["ideas"] {
            Value::Array(items) if items.len() == 1 => &items[0],
            _ => return Err(format!("{P}: ideas must be a list with exactly 1 item")),
        },
        other => other,
    };
    let Value::Object(card) = card else {
        return Err(format!("{P}: expected an object"));
    };
    let id = match card.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(format!("{P}: id must be a non-empty string")),
    };
    if id != expected_id {
        return Err(format!(
            "{P}: wrong id (expected={expected_id:?} got={id:?})"
        ));
    }
    let text_field = |key: &str| match card.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(format!("{P}: {key} must be a non-empty string")),
    };
    let hook = text_field("hook")?;
    let narrative = text_field("narrative")?;
    let Some(Value::Object(options)) = card.get("options") else {
        return Err(format!("{P}: options must be an object"));
    };
    // Non-string items are dropped here (unlike the cards array, where they raise).
    let option_list = |key: &str, min: usize| {
        let Some(Value::Array(items)) = options.get(key) else {
            return Err(format!("{P}: options.{key} must be a list[str]"));
        };
        let list: Vec<String> = items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if list.len() < min {
            return Err(format!("{P}: options.{key} must have >= {min} items"));
        }
        Ok(list)
    };
    let options = IdeaOptions {
        composition: option_list("composition", 2)?,
        palette: option_list("palette", 2)?,
        medium: option_list("medium", 1)?,
        mood: option_list("mood", 1)?,
    };
    let avoid = match card.get("avoid") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => strict_str_list(items, &format!("{P}: avoid"))?,
        Some(_) => return Err(format!("{P}: avoid must be a list[str] if provided")),
    };
    Ok(IdeaCard {
        id,
        hook,
        narrative,
        options,
        avoid,
    })
}

/// The trimmed, non-blank items of `items`; a non-string item is an error `<path>[i] must be a
/// string` (`path` carries the prefix).
fn strict_str_list(items: &[Value], path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            return Err(format!("{path}[{i}] must be a string"));
        };
        if !s.trim().is_empty() {
            out.push(s.trim().to_string());
        }
    }
    Ok(out)
}

/// Parses the assembled cards (`idea_cards_json`): a list or `{"ideas": [...]}` of exactly
/// `num_ideas` cards whose ids are unique and exactly `idea_ids(num_ideas)` (in any order).
/// Unlike [`parse_idea_card`], a non-string list item is an error here.
pub fn parse_idea_cards(value: &Value, num_ideas: usize) -> Result<Vec<IdeaCard>, String> {
    const P: &str = "invalid_idea_cards_json";
    if num_ideas == 0 {
        return Err(format!("{P}: num_ideas must be > 0"));
    }
    let raw = match value {
        Value::Array(_) => value,
        Value::Object(map) if map.contains_key("ideas") => &map["ideas"],
        _ => {
            return Err(format!(
                "{P}: expected a list or an object with key 'ideas'"
            ))
        }
    };
    let Value::Array(raw) = raw else {
        return Err(format!("{P}: ideas must be a list"));
    };
    if raw.len() != num_ideas {
        return Err(format!(
            "{P}: wrong number of ideas (expected={num_ideas} got={})",
            raw.len()
        ));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut cards = Vec::with_capacity(raw.len());
    for (i, idea) in raw.iter().enumerate() {
        let Value::Object(idea) = idea else {
            return Err(format!("{P}: ideas[{i}] must be an object"));
        };
        let text = |key: &str| match idea.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(Value::String(_)) => Err(format!("{P}: ideas[{i}].{key} must be non-empty")),
            _ => Err(format!("{P}: ideas[{i}].{key} must be a string")),
        };
        let id = text("id")?;
        if !seen.insert(id.clone()) {
            return Err(format!("{P}: duplicate idea id: {id}"));
        }
        let hook = text("hook")?;
        let narrative = text("narrative")?;
        let Some(Value::Object(options)) = idea.get("options") else {
            return Err(format!("{P}: ideas[{i}].options must be an object"));
        };
        let list = |key: &str, min: usize| {
            let path = format!("{P}: ideas[{i}].options.{key}");
            let Some(Value::Array(items)) = options.get(key) else {
                return Err(format!("{path} must be a list[str]"));
            };
            let list = strict_str_list(items, &path)?;
            if list.len() < min {
                return Err(format!("{path} must have >= {min} items"));
            }
            Ok(list)
        };
        let options = IdeaOptions {
            composition: list("composition", 2)?,
            palette: list("palette", 2)?,
            medium: list("medium", 1)?,
            mood: list("mood", 1)?,
        };
        let avoid = match idea.get("avoid") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => strict_str_list(items, &format!("{P}: ideas[{i}].avoid"))?,
            Some(_) => {
                return Err(format!(
                    "{P}: ideas[{i}].avoid must be a list[str] if provided"
                ))
            }
        };
        cards.push(IdeaCard {
            id,
            hook,
            narrative,
            options,
            avoid,
        });
    }
    let expected: BTreeSet<String> = idea_ids(num_ideas).into_iter().collect();
    let missing: Vec<&String> = expected.difference(&seen).collect();
    let extra: Vec<&String> = seen.difference(&expected).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(format!(
            "{P}: idea ids must match expected stable ids (missing={missing:?} extra={extra:?})"
        ));
    }
    Ok(cards)
}

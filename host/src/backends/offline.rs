//! `offline` text: deterministic answers from seed, step path and prompt, with no network.
//!
//! Every draw comes from `derive_rng(seed, "backends.offline.text/<hash>")`, where the hash is
//! the stable hash of the step path and every message (role and content), so the same call gives
//! the same answer on every machine, and changing the seed, the step or the prompt changes it.
//! Answers are built from the word banks in `offline_words.txt` and a few words of the prompt,
//! and conform to the shape the step declares (see [`OfflineText::answer`]); what an answer must
//! carry (ids, the A/B token, concepts) is what the step declares in the call's `Expect`, never
//! read out of the prompt, and structured answers are the samples the stages' parsers accept.
//! This module owns the word draws and the simulated latency; it does not check answers or
//! record them.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use plugin_api::hash::stable_hash_parts;
use plugin_api::seed::{derive_rng, range_inclusive, shuffle, Rng};
use plugin_api::token::ab_token;
use serde_json::json;

use super::limiter::Limiter;
use super::tokens::vocabulary_for;
use super::{BackendError, ChatCall, ChatMessage, ChatReply, ResponseShape, TextBackend};
use crate::answers::{
    concept_list_sample, idea_card_sample, judge_scores_sample, IdeaCard, IdeaOptions,
};

/// The `provider` label of every offline record.
pub(crate) const PROVIDER: &str = "offline";

/// The offline text backend.
#[derive(Debug)]
pub(crate) struct OfflineText {
    model: String,
    latency: Duration,
    limiter: Limiter,
}

impl OfflineText {
    pub(crate) fn new(model: &str, latency: Duration, max_concurrency: usize) -> Self {
        OfflineText {
            model: model.to_string(),
            latency,
            limiter: Limiter::new(max_concurrency),
        }
    }

    #[cfg(test)]
    pub(crate) fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// The answer to `call`, by shape:
    /// - `Text`: 4 to 6 plain sentences; an A/B token in the prompt appears on a sign.
    /// - `Line { format: Some("ab.final_prompt") }`: the `SUBJECT=… | … | AR=16:9` line.
    /// - `Line { format: Some("title") }`: two or three Title Case words.
    /// - `Line` with no or another format: one plain line.
    /// - `Line { format: Some("blackbox.hints") }`: 4 to 6 `- ` bullet lines of taste hints.
    /// - `Json { schema: "ab.scene_spec" }`: the scene spec object.
    /// - `Json { schema: "blackbox.idea_card" }`: one idea card with the step's expected id
    ///   (else `A`), built from the prompt's concept words.
    /// - `Json { schema: "blackbox.judge_scores" }`: `{"scores":[{"id","score"}...]}` with a
    ///   score in 40..=95 for each expected id.
    /// - `Json { schema: "preprompt.concept_list" }`: the expected concepts, unchanged.
    /// - `Json` of any other schema: `{"answer": "<one line>"}`.
    ///
    /// What an answer must carry (ids, token, concepts) comes from the call's [`Expect`](super::Expect), never
    /// from the prompt text; the structured answers are the parsers' own samples.
    pub(crate) fn answer(call: &ChatCall<'_>) -> String {
        let words = words();
        let mut rng = derive_rng(call.seed, &purpose(call));
        let scene = Scene::draw(&mut rng, words, call);
        match call.shape {
            ResponseShape::Text => scene.text(&mut rng, words),
            ResponseShape::Line {
                format: Some("ab.final_prompt"),
            } => scene.final_prompt(),
            ResponseShape::Line {
                format: Some("title"),
            } => title(&mut rng, words),
            ResponseShape::Lines {
                format: "blackbox.hints",
            } => hints(&mut rng, words),
            ResponseShape::Line { .. } => scene.line(&mut rng, words),
            ResponseShape::Lines { .. } => scene.text(&mut rng, words),
            ResponseShape::Json {
                schema: "ab.scene_spec",
            } => scene.scene_spec(&mut rng, words),
            ResponseShape::Json {
                schema: "blackbox.idea_card",
            } => {
                let mut scene = scene;
                scene.keywords = concept_keywords(&mut rng, words, call.messages);
                let id = call.expect.ids.first().map_or("A", String::as_str);
                scene.idea_card(&mut rng, words, id)
            }
            ResponseShape::Json {
                schema: "blackbox.judge_scores",
            } => judge_scores(&mut rng, &call.expect.ids),
            ResponseShape::Json {
                schema: "preprompt.concept_list",
            } => concept_list_sample(&call.expect.concepts),
            ResponseShape::Json { .. } => {
                json!({ "answer": scene.line(&mut rng, words) }).to_string()
            }
        }
    }
}

impl TextBackend for OfflineText {
    fn chat(&self, call: &ChatCall<'_>) -> Result<ChatReply, BackendError> {
        let _permit = self.limiter.acquire();
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        let model = call.model.unwrap_or(&self.model);
        let text = Self::answer(call);
        Ok(ChatReply {
            usage: Some(vocabulary_for(model).count_chat(call.messages, &text)),
            text,
            provider: PROVIDER,
            model: model.to_string(),
            attempts: 1,
            details: None,
            cache: None,
        })
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.model
    }
}

/// The purpose label of a call's generator: the step path and every message, hashed.
fn purpose(call: &ChatCall<'_>) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(1 + 2 * call.messages.len());
    parts.push(call.step_path);
    for message in call.messages {
        parts.push(&message.role);
        parts.push(&message.content);
    }
    format!("backends.offline.text/{:016x}", stable_hash_parts(&parts))
}

/// The token to show and whether the step expects it: the declared one, else the run's own
/// (`plugin_api::token::ab_token`).
fn token_for(call: &ChatCall<'_>) -> (String, bool) {
    match &call.expect.ab_token {
        Some(token) => (token.clone(), true),
        None => (ab_token(call.seed), false),
    }
}

/// The prompt a shape reads: the last user message, else the last message.
fn last_user(messages: &[ChatMessage]) -> Option<&str> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .or_else(|| messages.last())
        .map(|m| m.content.as_str())
}

/// Up to three words of the prompt (the last user message) worth echoing: lowercase letters
/// only, 4 to 14 long, no stopword, no cliché.
fn keywords(rng: &mut Rng, words: &Words, messages: &[ChatMessage]) -> Vec<String> {
    match last_user(messages) {
        Some(source) => keywords_in(rng, words, source, &[]),
        None => Vec::new(),
    }
}

/// Up to three concept words of the prompt: [`keywords`] of its `- ` bullet lines (where the
/// idea-card prompt lists the concepts and hints), or of the whole prompt when it has none.
fn concept_keywords(rng: &mut Rng, words: &Words, messages: &[ChatMessage]) -> Vec<String> {
    let Some(source) = last_user(messages) else {
        return Vec::new();
    };
    let bullets: Vec<&str> = source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- "))
        .collect();
    let skip = words.bank_words("concept_stopword");
    if bullets.is_empty() {
        keywords_in(rng, words, source, &skip)
    } else {
        keywords_in(rng, words, &bullets.join("\n"), &skip)
    }
}

/// [`keywords`] of `source`, also skipping the words of `skip`.
fn keywords_in(rng: &mut Rng, words: &Words, source: &str, skip: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for raw in source.split(|c: char| !c.is_ascii_alphabetic()) {
        let word = raw.to_ascii_lowercase();
        if (4..=14).contains(&word.len())
            && !words.stopwords.contains(&word.as_str())
            && !skip.contains(&word.as_str())
            && !words.has_cliche(&word)
            && !found.contains(&word)
        {
            found.push(word);
        }
    }
    shuffle(rng, &mut found);
    found.truncate(3);
    found
}

/// `a`, `a and b`, `a, b and c`.
fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Draws one entry of a bank (banks are never empty: the tests check the file).
fn pick<'w>(rng: &mut Rng, bank: &[&'w str]) -> &'w str {
    plugin_api::seed::choose(rng, bank)
        .copied()
        .unwrap_or_default()
}

/// One drawn scene: the parts every shape is built from.
struct Scene {
    subject: String,
    setting: String,
    action: String,
    composition: String,
    camera: String,
    lighting: String,
    color: String,
    style: String,
    sign: String,
    token: String,
    /// Whether `token` was found in the prompt (else it is the run's own).
    token_from_prompt: bool,
    keywords: Vec<String>,
}

impl Scene {
    /// Draws in a fixed order, so each shape's extra draws come after the same scene.
    fn draw(rng: &mut Rng, words: &Words, call: &ChatCall<'_>) -> Scene {
        let (token, token_from_prompt) = token_for(call);
        let mut scene = Scene {
            subject: pick(rng, words.bank("subject")).to_string(),
            setting: pick(rng, words.bank("setting")).to_string(),
            action: pick(rng, words.bank("action")).to_string(),
            composition: pick(rng, words.bank("composition")).to_string(),
            camera: pick(rng, words.bank("camera")).to_string(),
            lighting: pick(rng, words.bank("lighting")).to_string(),
            color: pick(rng, words.bank("color")).to_string(),
            style: pick(rng, words.bank("style")).to_string(),
            sign: pick(rng, words.bank("sign")).to_string(),
            token,
            token_from_prompt,
            keywords: Vec::new(),
        };
        scene.keywords = keywords(rng, words, call.messages);
        scene
    }

    /// `template` with its placeholders filled, or `None` when it needs keywords and there are
    /// none.
    fn fill(&self, template: &str) -> Option<String> {
        if template.contains("{keywords}") && self.keywords.is_empty() {
            return None;
        }
        let pairs: [(&str, &str); 13] = [
            ("{Subject}", &capitalise(&self.subject)),
            ("{subject}", &self.subject),
            ("{setting}", &self.setting),
            ("{action}", &self.action),
            ("{composition}", &self.composition),
            ("{camera}", &self.camera),
            ("{lighting}", &self.lighting),
            ("{color}", &self.color),
            ("{style}", &self.style),
            ("{Sign}", &capitalise(&self.sign)),
            ("{sign}", &self.sign),
            ("{token}", &self.token),
            ("{keywords}", &join_list(&self.keywords)),
        ];
        let mut out = template.to_string();
        for (placeholder, value) in pairs {
            out = out.replace(placeholder, value);
        }
        Some(out)
    }

    /// The templates of `bank` that can be filled, filled.
    fn filled(&self, words: &Words, bank: &str) -> Vec<String> {
        words
            .bank(bank)
            .iter()
            .filter_map(|t| self.fill(t))
            .collect()
    }

    /// 4 to 6 sentences in one paragraph: an opening, the sign (when there is a token in the
    /// prompt) and details in a seeded order.
    fn text(&self, rng: &mut Rng, words: &Words) -> String {
        let total = range_inclusive(rng, 4, 6) as usize;
        let mut sentences = vec![pick_string(rng, self.filled(words, "opening"))];
        // Free text shows a token only when the prompt gave one.
        if self.token_from_prompt {
            sentences.push(pick_string(rng, self.filled(words, "sign_sentence")));
        }
        let mut details = self.filled(words, "detail");
        shuffle(rng, &mut details);
        let room = total.saturating_sub(sentences.len());
        sentences.extend(details.into_iter().take(room));
        sentences
            .iter()
            .map(|s| format!("{s}."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// One plain line.
    fn line(&self, rng: &mut Rng, words: &Words) -> String {
        format!("{}.", pick_string(rng, self.filled(words, "line")))
    }

    /// The `ab.final_prompt` line.
    fn final_prompt(&self) -> String {
        let setting = if self.keywords.is_empty() {
            self.setting.clone()
        } else {
            format!(
                "{}, with hints of {}",
                self.setting,
                join_list(&self.keywords)
            )
        };
        format!(
            "SUBJECT={} | SETTING={setting} | ACTION={} | COMPOSITION={} | CAMERA={} | \
             LIGHTING={} | COLOR={} | STYLE={} | TEXT_IN_SCENE=\"{}\" | AR=16:9",
            self.subject,
            self.action,
            self.composition,
            self.camera,
            self.lighting,
            self.color,
            self.style,
            self.token
        )
    }

    /// The `ab.scene_spec` object, pretty-printed, no fences.
    fn scene_spec(&self, rng: &mut Rng, words: &Words) -> String {
        let mut avoid: Vec<&str> = words.bank("avoid").to_vec();
        shuffle(rng, &mut avoid);
        avoid.truncate(3);
        let must_keep = [
            format!("{} showing \"{}\"", self.sign, self.token),
            self.subject.clone(),
            self.color.clone(),
        ];
        let spec = json!({
            "subject": self.subject,
            "setting": self.setting,
            "action": self.action,
            "composition": self.composition,
            "camera": self.camera,
            "lighting": self.lighting,
            "color": self.color,
            "style": self.style,
            "text_in_scene": self.token,
            "must_keep": must_keep,
            "avoid": avoid,
        });
        serde_json::to_string_pretty(&spec).unwrap_or_else(|_| spec.to_string())
    }

    /// The `blackbox.idea_card` object: a hook and a 3-4 sentence narrative from the scene and
    /// the concept words, options (3 composition, 3 palette, 2 medium, 2 mood) and 2 avoids
    /// drawn without repetition from the banks. Pretty-printed, no fences.
    fn idea_card(&self, rng: &mut Rng, words: &Words, id: &str) -> String {
        let hook = format!("{}.", pick_string(rng, self.filled(words, "idea_hook")));
        let mut sentences = vec![format!(
            "{} is {} {}",
            capitalise(&self.subject),
            self.action,
            self.setting
        )];
        let mut more = self.filled(words, "idea_narrative");
        shuffle(rng, &mut more);
        let extra = 2 + plugin_api::seed::below(rng, 2) as usize;
        sentences.extend(more.into_iter().take(extra));
        let narrative = sentences
            .iter()
            .map(|s| format!("{s}."))
            .collect::<Vec<_>>()
            .join(" ");
        let card = IdeaCard {
            id: id.to_string(),
            hook,
            narrative,
            options: IdeaOptions {
                composition: draw_distinct(rng, words.bank("composition"), 3),
                palette: draw_distinct(rng, words.bank("color"), 3),
                medium: draw_distinct(rng, words.bank("style"), 2),
                mood: draw_distinct(rng, words.bank("mood"), 2),
            },
            avoid: draw_distinct(rng, words.bank("avoid"), 2),
        };
        idea_card_sample(&card)
    }
}

/// `count` different entries of `bank`, in a seeded order.
fn draw_distinct(rng: &mut Rng, bank: &[&str], count: usize) -> Vec<String> {
    let mut entries: Vec<&str> = bank.to_vec();
    shuffle(rng, &mut entries);
    entries
        .into_iter()
        .take(count)
        .map(str::to_string)
        .collect()
}

/// The `blackbox.judge_scores` object: a score in 40..=95 for every expected id.
fn judge_scores(rng: &mut Rng, ids: &[String]) -> String {
    let scores: Vec<(String, i64)> = ids
        .iter()
        .map(|id| (id.clone(), range_inclusive(rng, 40, 95) as i64))
        .collect();
    judge_scores_sample(&scores)
}

/// 4 to 6 `- ` bullet lines of generator-safe taste hints (`Line { format: "blackbox.hints" }`).
fn hints(rng: &mut Rng, words: &Words) -> String {
    let count = range_inclusive(rng, 4, 6) as usize;
    draw_distinct(rng, words.bank("hint"), count)
        .iter()
        .map(|hint| format!("- {hint}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two or three distinct Title Case words.
fn title(rng: &mut Rng, words: &Words) -> String {
    let mut bank: Vec<&str> = words.bank("title_word").to_vec();
    plugin_api::seed::shuffle(rng, &mut bank);
    let count = 2 + plugin_api::seed::below(rng, 2) as usize;
    bank.into_iter().take(count).collect::<Vec<_>>().join(" ")
}

fn pick_string(rng: &mut Rng, mut options: Vec<String>) -> String {
    if options.is_empty() {
        return String::new();
    }
    let i = plugin_api::seed::below(rng, options.len() as u64) as usize;
    options.swap_remove(i)
}

/// The parsed `offline_words.txt`.
struct Words {
    banks: HashMap<&'static str, Vec<&'static str>>,
    stopwords: Vec<&'static str>,
    cliches: Vec<&'static str>,
}

/// The sections the backend draws from; the tests check each is present and not empty.
#[cfg(test)]
const SECTIONS: [&str; 22] = [
    "subject",
    "setting",
    "action",
    "composition",
    "camera",
    "lighting",
    "color",
    "style",
    "sign",
    "avoid",
    "opening",
    "detail",
    "sign_sentence",
    "line",
    "title_word",
    "stopword",
    "cliche",
    "idea_hook",
    "idea_narrative",
    "mood",
    "hint",
    "concept_stopword",
];

impl Words {
    fn parse(source: &'static str) -> Words {
        let mut banks: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        let mut current: Option<&'static str> = None;
        for line in source.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = Some(name);
                banks.entry(name).or_default();
            } else if let Some(name) = current {
                banks.entry(name).or_default().push(line);
            }
        }
        let cliches = banks.get("cliche").cloned().unwrap_or_default();
        let mut words = Words {
            banks,
            stopwords: Vec::new(),
            cliches,
        };
        words.stopwords = words.bank_words("stopword");
        words
    }

    /// The whitespace-separated words of every line of bank `name`.
    fn bank_words(&self, name: &str) -> Vec<&'static str> {
        self.bank(name)
            .iter()
            .flat_map(|line| line.split_whitespace())
            .collect()
    }

    fn bank(&self, name: &str) -> &[&'static str] {
        self.banks.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether `text` contains a cliché (case-insensitive substring).
    fn has_cliche(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.cliches.iter().any(|c| lower.contains(c))
    }
}

fn words() -> &'static Words {
    static WORDS: OnceLock<Words> = OnceLock::new();
    WORDS.get_or_init(|| Words::parse(include_str!("offline_words.txt")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::Expect;
    use serde_json::Value;

    const TOKEN: &str = "RV-42-123456";
    const GENERIC_STARTS: [&str; 5] = ["a person", "a man", "a woman", "someone", "a figure"];

    fn messages(user: &str) -> Vec<ChatMessage> {
        vec![
            ChatMessage {
                role: "system".into(),
                content: "You write image prompts.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: user.into(),
            },
        ]
    }

    /// The answer to `user` when the step expects nothing in particular.
    fn ask(step_path: &str, seed: u64, user: &str, shape: ResponseShape) -> String {
        ask_expecting(step_path, seed, user, shape, &Expect::default())
    }

    /// What an `ab.*` step declares: the run's token.
    fn token_expected() -> Expect {
        Expect {
            ab_token: Some(TOKEN.to_owned()),
            ..Expect::default()
        }
    }

    fn ids_expected(ids: &[String]) -> Expect {
        Expect {
            ids: ids.to_vec(),
            ..Expect::default()
        }
    }

    fn ask_expecting(
        step_path: &str,
        seed: u64,
        user: &str,
        shape: ResponseShape,
        expect: &Expect,
    ) -> String {
        let messages = messages(user);
        let call = ChatCall {
            generation_id: "g1",
            step_path,
            messages: &messages,
            temperature: 0.7,
            model: None,
            shape,
            expect,
            seed,
            max_completion_tokens: None,
        };
        OfflineText::new("offline-model", Duration::ZERO, 4)
            .chat(&call)
            .expect("offline chat")
            .text
    }

    fn cliche_free(text: &str) {
        assert!(!words().has_cliche(text), "cliché in {text:?}");
    }

    fn starts_generic(text: &str) -> bool {
        let lower = text.to_lowercase();
        GENERIC_STARTS.iter().any(|g| {
            lower
                .strip_prefix(g)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
    }

    fn word_count(s: &str) -> usize {
        s.split_whitespace().count()
    }

    const PROMPT: &str =
        "Draft a scene about a lighthouse harbour and its foghorn, with the token RV-42-123456 visible.";

    #[test]
    fn word_banks_are_complete_and_clean() {
        let w = words();
        for section in SECTIONS {
            assert!(
                !w.bank(section).is_empty(),
                "section [{section}] is missing or empty"
            );
        }
        let minimum = [
            ("subject", 5),
            ("setting", 6),
            ("action", 5),
            ("composition", 5),
            ("camera", 3),
            ("lighting", 3),
            ("color", 3),
            ("style", 3),
        ];
        for (bank, min) in minimum {
            assert!(w.bank(bank).len() >= 8, "[{bank}] has fewer than 8 entries");
            for entry in w.bank(bank) {
                assert!(
                    word_count(entry) >= min,
                    "[{bank}] `{entry}` has fewer than {min} words"
                );
                assert!(
                    !entry.contains(['.', '|', '=', '"']),
                    "[{bank}] `{entry}` has a separator"
                );
                cliche_free(entry);
            }
        }
        for bank in [
            "sign",
            "avoid",
            "opening",
            "detail",
            "sign_sentence",
            "line",
            "idea_hook",
            "idea_narrative",
            "mood",
            "hint",
        ] {
            for entry in w.bank(bank) {
                cliche_free(entry);
                assert!(!entry.contains('.'), "[{bank}] `{entry}` has a full stop");
            }
        }
        for subject in w.bank("subject") {
            assert!(!starts_generic(subject), "generic subject `{subject}`");
        }
        assert!(w.stopwords.contains(&"with"));
    }

    #[test]
    fn same_call_same_answer() {
        for shape in [
            ResponseShape::Text,
            ResponseShape::Line { format: None },
            ResponseShape::Line {
                format: Some("ab.final_prompt"),
            },
            ResponseShape::Json {
                schema: "ab.scene_spec",
            },
            ResponseShape::Json { schema: "unknown" },
            ResponseShape::Json {
                schema: "blackbox.idea_card",
            },
            ResponseShape::Json {
                schema: "blackbox.judge_scores",
            },
            ResponseShape::Lines {
                format: "blackbox.hints",
            },
        ] {
            assert_eq!(
                ask("p/a", 1, PROMPT, shape),
                ask("p/a", 1, PROMPT, shape),
                "{shape:?}"
            );
        }
    }

    #[test]
    fn step_path_seed_and_prompt_change_the_answer() {
        let base = ask(
            "pipeline/ab.scene_draft/draft",
            1,
            PROMPT,
            ResponseShape::Text,
        );
        assert_ne!(
            base,
            ask(
                "pipeline/ab.final_prompt/final",
                1,
                PROMPT,
                ResponseShape::Text
            )
        );
        assert_ne!(
            base,
            ask(
                "pipeline/ab.scene_draft/draft",
                2,
                PROMPT,
                ResponseShape::Text
            )
        );
        assert_ne!(
            base,
            ask(
                "pipeline/ab.scene_draft/draft",
                1,
                "Another prompt entirely",
                ResponseShape::Text
            )
        );
    }

    #[test]
    fn reply_is_labelled_offline_with_the_model() {
        let msgs = messages(PROMPT);
        let backend = OfflineText::new("offline-model", Duration::ZERO, 1);
        let mut call = ChatCall {
            generation_id: "g1",
            step_path: "s",
            messages: &msgs,
            temperature: 0.0,
            model: None,
            shape: ResponseShape::Text,
            expect: &crate::backends::Expect::default(),
            seed: 0,
            max_completion_tokens: None,
        };
        let reply = backend.chat(&call).expect("chat");
        assert_eq!(
            (reply.provider, reply.model.as_str(), reply.attempts),
            ("offline", "offline-model", 1)
        );
        assert_eq!(
            (backend.provider(), backend.model()),
            ("offline", "offline-model")
        );
        call.model = Some("step-model");
        assert_eq!(backend.chat(&call).expect("chat").model, "step-model");
    }

    #[test]
    fn text_is_four_to_six_plain_sentences_showing_the_token() {
        for seed in 0..30 {
            let text = ask_expecting(
                "p/text",
                seed,
                PROMPT,
                ResponseShape::Text,
                &token_expected(),
            );
            let sentences = text.matches('.').count();
            assert!(
                (4..=6).contains(&sentences),
                "{sentences} sentences: {text}"
            );
            assert!(text.ends_with('.'), "{text}");
            assert!(!text.contains('\n'), "{text}");
            assert!(!text.starts_with(['#', '-', '*']), "{text}");
            assert!(
                text.contains(&format!("\"{TOKEN}\"")),
                "token missing: {text}"
            );
            cliche_free(&text);
        }
        // A token in a prompt that does not ask for it is not shown.
        let plain = ask("p/text", 3, PROMPT, ResponseShape::Text);
        assert!(!plain.contains("RV-"), "a token appeared unasked: {plain}");
        assert!((4..=6).contains(&plain.matches('.').count()), "{plain}");
    }

    #[test]
    fn title_line_is_two_or_three_title_case_words() {
        for seed in 0..20 {
            let title = ask(
                "title/attempt_01",
                seed,
                "Name this image",
                ResponseShape::Line {
                    format: Some("title"),
                },
            );
            crate::generation::check_title(&title).unwrap();
        }
    }

    #[test]
    fn concept_list_echoes_the_concepts_asked_about() {
        let prompt = "Concepts (JSON array):\n[\"a fox\", \"dusk\"]\n\nThe viewer dislikes (JSON array):\n[\"horror\"]";
        let concepts = vec!["a fox".to_owned(), "dusk".to_owned()];
        let answer = ask_expecting(
            "pipeline/preprompt.filter_concepts/dislike_rewrite",
            1,
            prompt,
            ResponseShape::Json {
                schema: "preprompt.concept_list",
            },
            &Expect {
                concepts: concepts.clone(),
                ..Expect::default()
            },
        );
        assert_eq!(crate::answers::parse_concept_list(&answer, 2), Ok(concepts));
        assert_eq!(answer, "{\"concepts\":[\"a fox\",\"dusk\"]}");
    }

    #[test]
    fn line_is_one_line() {
        for seed in 0..20 {
            let line = ask("p/line", seed, PROMPT, ResponseShape::Line { format: None });
            assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
            cliche_free(&line);
        }
    }

    #[test]
    fn final_prompt_line_conforms() {
        // A prompt full of clichés must not leak them into the answer.
        let prompt = format!(
            "Write the final prompt. Avoid cinematic, epic, stunning, masterpiece. Token: {TOKEN}"
        );
        for seed in 0..30 {
            let line = ask_expecting(
                "p/final",
                seed,
                &prompt,
                ResponseShape::Line {
                    format: Some("ab.final_prompt"),
                },
                &token_expected(),
            );
            assert!(!line.contains('\n'), "{line}");
            cliche_free(&line);
            let fields: Vec<(&str, &str)> = line
                .split(" | ")
                .map(|f| {
                    f.split_once('=')
                        .unwrap_or_else(|| panic!("field without `=` in {line}"))
                })
                .collect();
            let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                keys,
                [
                    "SUBJECT",
                    "SETTING",
                    "ACTION",
                    "COMPOSITION",
                    "CAMERA",
                    "LIGHTING",
                    "COLOR",
                    "STYLE",
                    "TEXT_IN_SCENE",
                    "AR"
                ],
                "{line}"
            );
            let minimum = [5, 6, 5, 5, 3, 3, 3, 3];
            for ((key, value), min) in fields.iter().zip(minimum) {
                assert!(
                    word_count(value) >= min,
                    "{key} has fewer than {min} words: {line}"
                );
            }
            assert!(!starts_generic(fields[0].1), "{line}");
            assert_eq!(fields[8].1, format!("\"{TOKEN}\""));
            assert_eq!(fields[9].1, "16:9");
        }
    }

    #[test]
    fn scene_spec_conforms() {
        let keys = [
            "subject",
            "setting",
            "action",
            "composition",
            "camera",
            "lighting",
            "color",
            "style",
            "text_in_scene",
        ];
        for seed in 0..30 {
            let text = ask_expecting(
                "p/spec",
                seed,
                PROMPT,
                ResponseShape::Json {
                    schema: "ab.scene_spec",
                },
                &token_expected(),
            );
            assert!(
                text.trim_start().starts_with('{') && !text.contains("```"),
                "{text}"
            );
            cliche_free(&text);
            let spec: Value = serde_json::from_str(&text).expect("scene spec JSON");
            for key in keys {
                let value = spec[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("`{key}` is not a string: {text}"));
                assert!(!value.trim().is_empty(), "`{key}` is empty");
            }
            assert_eq!(spec["text_in_scene"], TOKEN);
            assert!(
                !starts_generic(spec["subject"].as_str().unwrap_or_default()),
                "{text}"
            );
            for list in ["must_keep", "avoid"] {
                let items = spec[list]
                    .as_array()
                    .unwrap_or_else(|| panic!("`{list}` is not a list"));
                assert_eq!(items.len(), 3, "{list}");
                assert!(
                    items
                        .iter()
                        .all(|i| i.as_str().is_some_and(|s| !s.is_empty())),
                    "{list}"
                );
            }
        }
    }

    #[test]
    fn unknown_schema_answers_an_object() {
        let text = ask(
            "p/other",
            5,
            PROMPT,
            ResponseShape::Json {
                schema: "something.new",
            },
        );
        let value: Value = serde_json::from_str(&text).expect("JSON");
        let answer = value["answer"].as_str().expect("`answer` string");
        assert!(!answer.is_empty());
    }

    #[test]
    fn without_a_token_the_runs_own_is_used() {
        let line = ask(
            "p/final",
            9,
            "no token here",
            ResponseShape::Line {
                format: Some("ab.final_prompt"),
            },
        );
        assert!(
            line.contains(&format!("TEXT_IN_SCENE=\"{}\"", ab_token(9))),
            "{line}"
        );
    }

    #[test]
    fn prompt_words_are_echoed() {
        let text = ask(
            "p/kw",
            1,
            "lighthouse lighthouse foghorn",
            ResponseShape::Line {
                format: Some("ab.final_prompt"),
            },
        );
        assert!(
            text.contains("lighthouse") && text.contains("foghorn"),
            "{text}"
        );
    }

    #[test]
    fn latency_runs_inside_the_concurrency_bound() {
        let backend = std::sync::Arc::new(OfflineText::new("m", Duration::from_millis(5), 2));
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let backend = std::sync::Arc::clone(&backend);
                std::thread::spawn(move || {
                    let msgs = messages("x");
                    let step = format!("p/{i}");
                    let call = ChatCall {
                        generation_id: "g1",
                        step_path: &step,
                        messages: &msgs,
                        temperature: 0.0,
                        model: None,
                        shape: ResponseShape::Text,
                        expect: &crate::backends::Expect::default(),
                        seed: 0,
                        max_completion_tokens: None,
                    };
                    backend.chat(&call).expect("chat");
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker");
        }
        assert!(
            (1..=2).contains(&backend.limiter().peak()),
            "peak {}",
            backend.limiter().peak()
        );
    }

    const IDEA_CARD: ResponseShape = ResponseShape::Json {
        schema: "blackbox.idea_card",
    };
    const JUDGE: ResponseShape = ResponseShape::Json {
        schema: "blackbox.judge_scores",
    };
    const HINTS: ResponseShape = ResponseShape::Lines {
        format: "blackbox.hints",
    };

    /// An idea-card prompt shaped like `prompts/blackbox/idea_card.j2`; `zeppelin` appears only
    /// outside the bullet lines.
    fn idea_prompt(id: &str) -> String {
        format!(
            "Propose ONE idea for an image, as one strict JSON object, zeppelin.\n\n\
             Direction for this idea: Let one concept dominate.\n\n\
             Context guidance:\n<none>\n\n\
             Selected concepts:\n- lighthouse\n- origami\n- thunderstorm\n\n\
             Profile hints:\n- prefers weathered copper\n\n\
             Answer with JSON only, exactly this shape:\n\
             {{\"id\":\"{id}\",\"hook\":\"one sentence\",\"narrative\":\"one paragraph, 2-6 sentences\",\
             \"options\":{{\"composition\":[\"...\",\"...\"],\"palette\":[\"...\",\"...\"],\
             \"medium\":[\"...\"],\"mood\":[\"...\"]}}}}\n\n\
             This is idea 2 of 6."
        )
    }

    /// A judge prompt shaped like `prompts/blackbox/judge.j2`, embedding `cards` verbatim.
    fn judge_prompt(cards: &str) -> String {
        format!(
            "You are a strict judge. Score every idea card below from 0 to 100.\n\n\
             Selected concepts:\n- lighthouse\n\n\
             Recent motifs (penalise ideas that repeat them):\n\
             {{\"enabled\": true, \"motifs\": [{{\"token\": \"ocean\", \"df\": 3, \"w\": 3}}]}}\n\n\
             The idea cards:\n{cards}\n\n\
             Answer with strict JSON only: {{\"scores\":[{{\"id\":\"A\",\"score\":0}}]}}. Scores are \
             integers from 0 to 100, exactly one entry per idea id, no other keys and no prose."
        )
    }

    /// Offline idea cards for `ids`, as the assemble step writes them.
    fn offline_cards(ids: &[String], seed: u64) -> String {
        let cards: Vec<IdeaCard> = ids
            .iter()
            .map(|id| {
                let text = ask_expecting(
                    &format!("p/idea_{id}"),
                    seed,
                    &idea_prompt(id),
                    IDEA_CARD,
                    &ids_expected(std::slice::from_ref(id)),
                );
                parse_idea_card(&text, id).expect("offline idea card")
            })
            .collect();
        idea_cards_json(&cards)
    }

    use crate::answers::{
        idea_cards_json, idea_ids, parse_idea_card, parse_judge_scores, IdeaCard,
    };

    #[test]
    fn idea_card_conforms_and_parses() {
        let mut echoed = 0;
        for seed in 0..30 {
            for id in ["A", "C", "AB"] {
                let text = ask_expecting(
                    "p/idea",
                    seed,
                    &idea_prompt(id),
                    IDEA_CARD,
                    &ids_expected(&[id.to_owned()]),
                );
                assert!(
                    text.trim_start().starts_with('{') && !text.contains("```"),
                    "{text}"
                );
                cliche_free(&text);
                assert!(
                    !text.contains("zeppelin"),
                    "a non-concept word leaked: {text}"
                );
                assert!(
                    !text.contains("prefers"),
                    "a taste verb became a concept: {text}"
                );
                let card = parse_idea_card(&text, id).unwrap_or_else(|e| panic!("{e}: {text}"));
                let options = &card.options;
                assert_eq!(
                    (
                        options.composition.len(),
                        options.palette.len(),
                        options.medium.len(),
                        options.mood.len(),
                        card.avoid.len()
                    ),
                    (3, 3, 2, 2, 2),
                    "{text}"
                );
                for list in [
                    &options.composition,
                    &options.palette,
                    &options.medium,
                    &options.mood,
                    &card.avoid,
                ] {
                    let mut unique = list.clone();
                    unique.dedup();
                    assert_eq!(&unique, list, "repeated entry in {text}");
                }
                assert!(
                    card.hook.ends_with('.') && card.hook.matches('.').count() == 1,
                    "{}",
                    card.hook
                );
                let sentences = card.narrative.matches('.').count();
                assert!((3..=4).contains(&sentences), "{}", card.narrative);
                assert!(!starts_generic(&card.hook), "{}", card.hook);
                let story = format!("{} {}", card.hook, card.narrative);
                if [
                    "lighthouse",
                    "origami",
                    "thunderstorm",
                    "prefers",
                    "weathered",
                    "copper",
                ]
                .iter()
                .any(|w| story.contains(w))
                {
                    echoed += 1;
                }
            }
        }
        assert!(
            echoed > 60,
            "concept words echoed in only {echoed} of 90 cards"
        );
    }

    #[test]
    fn idea_card_without_an_id_is_a() {
        let text = ask(
            "p/idea",
            4,
            "Propose one idea about a lighthouse",
            IDEA_CARD,
        );
        parse_idea_card(&text, "A").unwrap_or_else(|e| panic!("{e}: {text}"));
    }

    #[test]
    fn judge_scores_cover_the_expected_ids_in_order() {
        for (n, seed) in [(1, 0), (6, 1), (6, 2), (28, 3)] {
            let ids = idea_ids(n);
            let prompt = judge_prompt(&offline_cards(&ids, seed));
            let text = ask_expecting("p/judge", seed, &prompt, JUDGE, &ids_expected(&ids));
            let scores = parse_judge_scores(&text, &ids).unwrap_or_else(|e| panic!("{e}"));
            let got: Vec<&str> = scores.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(scores.iter().all(|(_, s)| (40..=95).contains(s)), "{text}");
        }
        // The declared order is the answer's order (a refine judge sees shuffled candidates).
        let shuffled: Vec<String> = ["C", "A", "B"].map(str::to_owned).to_vec();
        let text = ask_expecting("p/judge", 1, "Score these", JUDGE, &ids_expected(&shuffled));
        let scores = parse_judge_scores(&text, &shuffled).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<&str> = scores.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(got, ["C", "A", "B"]);
        // Scores vary between seeds.
        let ids = idea_ids(6);
        let prompt = judge_prompt(&offline_cards(&ids, 0));
        let answers: std::collections::BTreeSet<String> = (0..10)
            .map(|seed| ask_expecting("p/judge", seed, &prompt, JUDGE, &ids_expected(&ids)))
            .collect();
        assert!(answers.len() > 5, "{answers:?}");
    }

    #[test]
    fn judge_scores_ignore_ids_the_step_did_not_declare() {
        // Ids in the prompt text are not read: nothing declared, nothing scored.
        let cards = r#"{"ideas": [{"id": "B", "hook": "x"}, {"id": "C"}]}"#;
        let text = ask("p/judge", 1, &judge_prompt(cards), JUDGE);
        assert_eq!(text, r#"{"scores":[]}"#);
    }

    #[test]
    fn hints_are_four_to_six_bullets() {
        let mut counts = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let text = ask(
                "p/hints",
                seed,
                "Turn this profile into hints: likes copper",
                HINTS,
            );
            let lines: Vec<&str> = text.lines().collect();
            assert!((4..=6).contains(&lines.len()), "{text}");
            counts.insert(lines.len());
            for line in &lines {
                let hint = line
                    .strip_prefix("- ")
                    .unwrap_or_else(|| panic!("not a bullet: {line:?}"));
                assert!(!hint.trim().is_empty() && hint.len() < 90, "{line:?}");
                assert!(!hint.contains(['{', '}', '#', '*']), "{line:?}");
            }
            let mut unique = lines.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), lines.len(), "{text}");
            cliche_free(&text);
        }
        assert_eq!(counts.len(), 3, "{counts:?}");
    }
}

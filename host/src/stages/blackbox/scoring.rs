//! Judging idea cards (reference §2.3): the exploit/explore selection over the judges' scores.
//! Pure functions: the stages own the I/O (recording `blackbox_scoring`), this module owns the
//! rules; parsing the cards and the judges' answers (with the sample answers each parser
//! accepts) is `crate::answers`', the novelty penalty is `novelty`'s.
//!
//! Deliberate differences from the Python code:
//! - The selection draws from `derive_rng(seed, "blackbox.select_idea_card")` (DESIGN §7)
//!   instead of `Random(seed ^ 0xB10C5C0F)`, and the explore pick is `unit_f64 * Σw`.

use plugin_api::seed::{derive_rng, unit_f64};
use serde::Serialize;
use serde_json::{json, Value};

/// The purpose label of the selection's generator.
pub const SELECT_PURPOSE: &str = "blackbox.select_idea_card";

// ---------------------------------------------------------------------------------------------
// Selection

/// One row of the score table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub id: String,
    pub score: i64,
    pub novelty_penalty: i64,
    pub novelty_detail: Value,
    /// `max(0, score - novelty_penalty)`.
    pub effective_score: i64,
}

/// Whether the top row was taken or the pool was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectionMode {
    Exploit,
    Explore,
}

impl SelectionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionMode::Exploit => "exploit",
            SelectionMode::Explore => "explore",
        }
    }
}

/// The outcome of [`select_candidate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub selected_id: String,
    pub mode: SelectionMode,
    /// The exploration roll in [0, 1).
    pub roll: f64,
    /// Every scored id, sorted by (-effective_score, -score, id).
    pub table: Vec<ScoreRow>,
}

impl Selection {
    /// The selected row.
    pub fn selected(&self) -> Option<&ScoreRow> {
        self.table.iter().find(|row| row.id == self.selected_id)
    }
}

/// Picks one idea (reference §2.3 steps 1–3).
///
/// 1. Each score loses its novelty penalty (`penalties`; an id without one has penalty 0 and
///    the `novelty_disabled` breakdown); the table is sorted by (-effective, -score, id).
/// 2. `roll = unit_f64` from `derive_rng(seed, "blackbox.select_idea_card")`.
/// 3. If `exploration_rate > 0 && roll < exploration_rate` (explore): from the top
///    `max(1, ceil(n/4))` rows, weights `max(1, effective)`, `pick = unit_f64 * Σw`, the first
///    row whose running weight reaches `pick`. Otherwise (exploit): the top row.
///
/// `scores` must not be empty ([`parse_judge_scores`] never returns an empty list for a
/// non-empty id set); an empty table selects the empty id.
pub fn select_candidate(
    scores: &[(String, i64)],
    penalties: &[(String, i64, Value)],
    exploration_rate: f64,
    seed: u64,
) -> Selection {
    debug_assert!(
        !scores.is_empty(),
        "select_candidate needs at least one score"
    );
    let mut table: Vec<ScoreRow> = scores
        .iter()
        .map(|(id, score)| {
            let (penalty, detail) = penalties.iter().find(|(pid, _, _)| pid == id).map_or_else(
                || (0, no_penalty("novelty_disabled")),
                |(_, p, d)| (*p, d.clone()),
            );
            ScoreRow {
                id: id.clone(),
                score: *score,
                novelty_penalty: penalty,
                novelty_detail: detail,
                effective_score: (score - penalty).max(0),
            }
        })
        .collect();
    table.sort_by(|a, b| {
        b.effective_score
            .cmp(&a.effective_score)
            .then_with(|| b.score.cmp(&a.score))
            .then_with(|| a.id.cmp(&b.id))
    });

    let mut rng = derive_rng(seed, SELECT_PURPOSE);
    let roll = unit_f64(&mut rng);
    let (mode, selected) = if exploration_rate > 0.0 && roll < exploration_rate {
        let k = table.len().div_ceil(4).max(1).min(table.len());
        let pool = &table[..k];
        let weights: Vec<i64> = pool.iter().map(|row| row.effective_score.max(1)).collect();
        let total: i64 = weights.iter().sum();
        let pick = unit_f64(&mut rng) * total as f64;
        let mut running = 0.0;
        let mut chosen = pool.last();
        for (row, weight) in pool.iter().zip(&weights) {
            running += *weight as f64;
            if pick <= running {
                chosen = Some(row);
                break;
            }
        }
        (SelectionMode::Explore, chosen)
    } else {
        (SelectionMode::Exploit, table.first())
    };
    let selected_id = selected.map(|row| row.id.clone()).unwrap_or_default();
    Selection {
        selected_id,
        mode,
        roll,
        table,
    }
}

/// The breakdown of a text that gets no penalty, and why.
pub fn no_penalty(reason: &str) -> Value {
    json!({ "penalty": 0, "reason": reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::*;
    use std::collections::BTreeSet;

    fn card_json(id: &str) -> Value {
        json!({
            "id": id,
            "hook": "A beekeeper reads the hive like a map",
            "narrative": "At dusk she traces routes on the comb. The bees follow.",
            "options": {
                "composition": ["low angle", "tight crop"],
                "palette": ["honey amber", "slate blue"],
                "medium": ["gouache"],
                "mood": ["patient"],
            },
            "avoid": ["cartoon bees"],
        })
    }

    fn card(id: &str) -> IdeaCard {
        parse_idea_card(&card_json(id).to_string(), id).expect("card")
    }

    /// `parse_idea_card` on `value` expecting id A: the error, which must carry the prefix.
    fn card_err(value: Value) -> String {
        let err = parse_idea_card(&value.to_string(), "A").expect_err("should fail");
        assert!(err.starts_with("invalid_idea_card_json: "), "{err}");
        err
    }

    fn with(mut value: Value, pointer: &str, replacement: Value) -> Value {
        *value
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = replacement;
        value
    }

    fn without(mut value: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let parent = if parent.is_empty() {
            &mut value
        } else {
            value.pointer_mut(parent).expect("parent")
        };
        parent.as_object_mut().expect("object").remove(key);
        value
    }

    #[test]
    fn idea_ids_are_spreadsheet_columns() {
        assert_eq!(idea_ids(0), Vec::<String>::new());
        assert_eq!(idea_ids(3), ["A", "B", "C"]);
        let ids = idea_ids(54);
        assert_eq!(
            (ids[25].as_str(), ids[26].as_str(), ids[27].as_str()),
            ("Z", "AA", "AB")
        );
        assert_eq!(
            (ids[51].as_str(), ids[52].as_str(), ids[53].as_str()),
            ("AZ", "BA", "BB")
        );
        assert_eq!(idea_ids(703).last().map(String::as_str), Some("AAA"));
    }

    #[test]
    fn card_accepts_object_idea_and_single_ideas() {
        let expected = card("A");
        assert_eq!(expected.id, "A");
        assert_eq!(expected.options.composition, ["low angle", "tight crop"]);
        assert_eq!(expected.avoid, ["cartoon bees"]);
        let wrapped = json!({ "idea": card_json("A") }).to_string();
        assert_eq!(parse_idea_card(&wrapped, "A"), Ok(expected.clone()));
        let listed = json!({ "ideas": [card_json("A")] }).to_string();
        assert_eq!(parse_idea_card(&listed, "A"), Ok(expected.clone()));
        // Whitespace around the document is fine.
        let spaced = format!("\n  {}  \n", card_json("A"));
        assert_eq!(parse_idea_card(&spaced, "A"), Ok(expected));
    }

    #[test]
    fn card_normalises_strings_and_lists() {
        let value = json!({
            "id": " B ",
            "hook": "  hook  ",
            "narrative": " story ",
            "options": {
                "composition": ["  one ", 7, "", "two", null],
                "palette": ["a", {"x": 1}, "b"],
                "medium": [" m "],
                "mood": ["calm", false],
            },
            "extra": "ignored",
        });
        let card = parse_idea_card(&value.to_string(), "B").expect("card");
        assert_eq!(
            card,
            IdeaCard {
                id: "B".into(),
                hook: "hook".into(),
                narrative: "story".into(),
                options: IdeaOptions {
                    composition: vec!["one".into(), "two".into()],
                    palette: vec!["a".into(), "b".into()],
                    medium: vec!["m".into()],
                    mood: vec!["calm".into()],
                },
                avoid: vec![],
            }
        );
        let null_avoid = with(card_json("A"), "/avoid", Value::Null);
        assert_eq!(
            parse_idea_card(&null_avoid.to_string(), "A")
                .expect("card")
                .avoid,
            Vec::<String>::new()
        );
        let blank_avoid = with(card_json("A"), "/avoid", json!([" x ", "  "]));
        assert_eq!(
            parse_idea_card(&blank_avoid.to_string(), "A")
                .expect("card")
                .avoid,
            ["x"]
        );
        // The normalised value has the reference's key order.
        let keys: Vec<String> = card
            .to_value()
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["id", "hook", "narrative", "options", "avoid"]);
    }

    #[test]
    fn fenced_json_is_accepted_by_the_card_and_judge_parsers() {
        let fenced = format!("Here:\n```json\n{}\n```\n", card_json("A"));
        assert_eq!(parse_idea_card(&fenced, "A"), Ok(card("A")));
        let judged = "```json\n{\"scores\":[{\"id\":\"A\",\"score\":7}]}\n```";
        assert_eq!(
            parse_judge_scores(judged, &ids(&["A"])),
            Ok(vec![("A".to_string(), 7)])
        );
    }

    #[test]
    fn card_rejections() {
        let err = parse_idea_card("```json\n{ not json\n```", "A").expect_err("fenced");
        assert!(
            err.starts_with("invalid_idea_card_json: JSON parse error: "),
            "{err}"
        );
        assert!(parse_idea_card("", "A")
            .expect_err("empty")
            .starts_with("invalid_idea_card_json: JSON parse error"));

        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"ideas": []}),
                "ideas must be a list with exactly 1 item",
            ),
            (
                json!({"ideas": [card_json("A"), card_json("B")]}),
                "ideas must be a list with exactly 1 item",
            ),
            (
                json!({"ideas": card_json("A")}),
                "ideas must be a list with exactly 1 item",
            ),
            (json!([card_json("A")]), "expected an object"),
            (json!("A card"), "expected an object"),
            (json!({"idea": "A"}), "expected an object"),
            (
                without(card_json("A"), "/id"),
                "id must be a non-empty string",
            ),
            (
                with(card_json("A"), "/id", json!(" ")),
                "id must be a non-empty string",
            ),
            (
                with(card_json("A"), "/id", json!(1)),
                "id must be a non-empty string",
            ),
            (
                with(card_json("A"), "/id", json!("B")),
                "wrong id (expected=\"A\" got=\"B\")",
            ),
            (
                with(card_json("A"), "/hook", json!("")),
                "hook must be a non-empty string",
            ),
            (
                with(card_json("A"), "/hook", json!(["x"])),
                "hook must be a non-empty string",
            ),
            (
                without(card_json("A"), "/narrative"),
                "narrative must be a non-empty string",
            ),
            (
                without(card_json("A"), "/options"),
                "options must be an object",
            ),
            (
                with(card_json("A"), "/options", json!([])),
                "options must be an object",
            ),
            (
                with(card_json("A"), "/options/composition", json!("low angle")),
                "options.composition must be a list[str]",
            ),
            (
                without(card_json("A"), "/options/composition"),
                "options.composition must be a list[str]",
            ),
            (
                with(
                    card_json("A"),
                    "/options/composition",
                    json!(["one", 2, " "]),
                ),
                "options.composition must have >= 2 items",
            ),
            (
                with(card_json("A"), "/options/palette", json!(["red"])),
                "options.palette must have >= 2 items",
            ),
            (
                with(card_json("A"), "/options/medium", json!([])),
                "options.medium must have >= 1 items",
            ),
            (
                with(card_json("A"), "/options/mood", json!([3])),
                "options.mood must have >= 1 items",
            ),
            (
                without(card_json("A"), "/options/mood"),
                "options.mood must be a list[str]",
            ),
            (
                with(card_json("A"), "/avoid", json!("cartoon bees")),
                "avoid must be a list[str] if provided",
            ),
            (
                with(card_json("A"), "/avoid", json!(["ok", 5])),
                "avoid[1] must be a string",
            ),
        ];
        for (value, reason) in cases {
            let err = card_err(value.clone());
            assert_eq!(
                err,
                format!("invalid_idea_card_json: {reason}"),
                "for {value}"
            );
        }
    }

    fn cards_value(ids: &[&str]) -> Value {
        json!({ "ideas": ids.iter().map(|id| card_json(id)).collect::<Vec<_>>() })
    }

    fn cards_err(value: Value, n: usize) -> String {
        let err = parse_idea_cards(&value, n).expect_err("should fail");
        assert!(err.starts_with("invalid_idea_cards_json: "), "{err}");
        err
    }

    #[test]
    fn cards_accept_list_or_ideas_object_in_any_order() {
        let cards = parse_idea_cards(&cards_value(&["A", "B", "C"]), 3).expect("cards");
        assert_eq!(
            cards.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        assert_eq!(cards[1], card("B"));
        let list = json!([card_json("B"), card_json("A")]);
        let cards = parse_idea_cards(&list, 2).expect("cards");
        assert_eq!(
            cards.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["B", "A"]
        );
        // What the assemble step writes reads back.
        let text = idea_cards_json(&cards);
        assert!(text.starts_with("{\n  \"ideas\": [\n"), "{text}");
        let reparsed: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(parse_idea_cards(&reparsed, 2), Ok(cards));
    }

    #[test]
    fn cards_rejections() {
        let two = cards_value(&["A", "B"]);
        let cases: Vec<(Value, usize, String)> = vec![
            (
                json!({"cards": []}),
                1,
                "expected a list or an object with key 'ideas'".into(),
            ),
            (
                json!("A"),
                1,
                "expected a list or an object with key 'ideas'".into(),
            ),
            (
                json!({"ideas": {"A": {}}}),
                1,
                "ideas must be a list".into(),
            ),
            (
                two.clone(),
                3,
                "wrong number of ideas (expected=3 got=2)".into(),
            ),
            (
                two.clone(),
                1,
                "wrong number of ideas (expected=1 got=2)".into(),
            ),
            (json!(["A"]), 1, "ideas[0] must be an object".into()),
            (
                without(two.clone(), "/ideas/1/id"),
                2,
                "ideas[1].id must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/0/id", json!("  ")),
                2,
                "ideas[0].id must be non-empty".into(),
            ),
            (cards_value(&["A", "A"]), 2, "duplicate idea id: A".into()),
            (
                with(two.clone(), "/ideas/0/hook", json!("")),
                2,
                "ideas[0].hook must be non-empty".into(),
            ),
            (
                with(two.clone(), "/ideas/1/narrative", json!(3)),
                2,
                "ideas[1].narrative must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/1/options", json!(null)),
                2,
                "ideas[1].options must be an object".into(),
            ),
            (
                with(two.clone(), "/ideas/0/options/composition", json!("x")),
                2,
                "ideas[0].options.composition must be a list[str]".into(),
            ),
            (
                with(two.clone(), "/ideas/0/options/composition", json!(["x", 2])),
                2,
                "ideas[0].options.composition[1] must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/0/options/palette", json!(["x", " "])),
                2,
                "ideas[0].options.palette must have >= 2 items".into(),
            ),
            (
                with(two.clone(), "/ideas/1/options/medium", json!([])),
                2,
                "ideas[1].options.medium must have >= 1 items".into(),
            ),
            (
                with(two.clone(), "/ideas/1/options/mood", json!([null])),
                2,
                "ideas[1].options.mood[0] must be a string".into(),
            ),
            (
                with(two.clone(), "/ideas/1/avoid", json!({})),
                2,
                "ideas[1].avoid must be a list[str] if provided".into(),
            ),
            (
                with(two.clone(), "/ideas/1/avoid", json!([1])),
                2,
                "ideas[1].avoid[0] must be a string".into(),
            ),
            (
                cards_value(&["A", "C"]),
                2,
                "idea ids must match expected stable ids (missing=[\"B\"] extra=[\"C\"])".into(),
            ),
            (cards_value(&["A"]), 0, "num_ideas must be > 0".into()),
        ];
        for (value, n, reason) in cases {
            assert_eq!(
                cards_err(value.clone(), n),
                format!("invalid_idea_cards_json: {reason}"),
                "for {value}"
            );
        }
        // A wrong count is reported as the select stage's config mismatch is described.
        assert!(cards_err(two, 6).starts_with("invalid_idea_cards_json: wrong number of ideas"));
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    fn judge_err(text: &str, expected: &[&str]) -> String {
        let err = parse_judge_scores(text, &ids(expected)).expect_err("should fail");
        assert!(err.starts_with("invalid_judge_output: "), "{err}");
        let preview: String = text.chars().take(200).collect();
        assert!(err.ends_with(&format!("; preview={preview:?}")), "{err}");
        err
    }

    #[test]
    fn judge_scores_accept_exact_ids_in_answer_order() {
        let text = r#"{"scores":[{"id":"B","score":100},{"id":" A ","score":0},{"id":"C","score":55,"why":"x"}]}"#;
        assert_eq!(
            parse_judge_scores(text, &ids(&["A", "B", "C"])),
            Ok(vec![("B".into(), 100), ("A".into(), 0), ("C".into(), 55)])
        );
        assert_eq!(parse_judge_scores(r#"{"scores":[]}"#, &[]), Ok(vec![]));
    }

    #[test]
    fn judge_scores_rejections() {
        let cases: Vec<(&str, &str)> = vec![
            ("not json", "JSON parse error: "),
            ("```json\n{\"scores\":[\n```", "JSON parse error: "),
            (
                r#"[{"id":"A","score":1}]"#,
                "expected object with key 'scores'",
            ),
            (r#"{"score":[]}"#, "expected object with key 'scores'"),
            (r#"{"scores":{"A":1}}"#, "scores must be a list"),
            (r#"{"scores":[5]}"#, "scores[0] must be an object"),
            (
                r#"{"scores":[{"score":5}]}"#,
                "scores[0].id must be a non-empty string",
            ),
            (
                r#"{"scores":[{"id":"","score":5}]}"#,
                "scores[0].id must be a non-empty string",
            ),
            (
                r#"{"scores":[{"id":1,"score":5}]}"#,
                "scores[0].id must be a non-empty string",
            ),
            (
                r#"{"scores":[{"id":"A","score":5},{"id":"A","score":6}]}"#,
                "duplicate id in scores: A",
            ),
            (
                r#"{"scores":[{"id":"A","score":true}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A","score":80.0}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A","score":"80"}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A"}]}"#,
                "scores[0].score must be an int",
            ),
            (
                r#"{"scores":[{"id":"A","score":-1}]}"#,
                "scores[0].score must be in [0, 100]",
            ),
            (
                r#"{"scores":[{"id":"A","score":101}]}"#,
                "scores[0].score must be in [0, 100]",
            ),
            (
                r#"{"scores":[{"id":"A","score":18446744073709551615}]}"#,
                "scores[0].score must be in [0, 100]",
            ),
            (
                r#"{"scores":[]}"#,
                "score ids must match idea ids (missing=[\"A\"] extra=[])",
            ),
            (
                r#"{"scores":[{"id":"A","score":5},{"id":"Z","score":6}]}"#,
                "score ids must match idea ids (missing=[] extra=[\"Z\"])",
            ),
        ];
        for (text, reason) in cases {
            let err = judge_err(text, &["A"]);
            assert!(
                err.starts_with(&format!("invalid_judge_output: {reason}")),
                "{text}: {err}"
            );
        }
        // The preview stops at 200 characters.
        let long = format!("{{\"scores\": 1, \"pad\": \"{}\"}}", "é".repeat(300));
        let err = judge_err(&long, &["A"]);
        assert!(!err.contains(&"é".repeat(190)), "preview too long: {err}");
    }

    fn scores(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(id, s)| ((*id).to_string(), *s)).collect()
    }

    #[test]
    fn exploit_takes_the_top_by_effective_then_score_then_id() {
        let s = scores(&[("A", 80), ("B", 90), ("C", 85), ("D", 85), ("E", 10)]);
        let penalties = vec![
            ("B".to_string(), 10, json!({"penalty": 10})),
            ("E".to_string(), 15, json!({"penalty": 15})),
        ];
        let selection = select_candidate(&s, &penalties, 0.0, 7);
        assert_eq!(selection.mode, SelectionMode::Exploit);
        let order: Vec<(&str, i64, i64)> = selection
            .table
            .iter()
            .map(|r| (r.id.as_str(), r.score, r.effective_score))
            .collect();
        // C and D tie on both scores (id decides); B ties A on effective but scores higher.
        assert_eq!(
            order,
            [
                ("C", 85, 85),
                ("D", 85, 85),
                ("B", 90, 80),
                ("A", 80, 80),
                ("E", 10, 0)
            ]
        );
        assert_eq!(selection.selected_id, "C");
        assert_eq!(selection.selected().map(|r| r.score), Some(85));
        assert_eq!(selection.table[2].novelty_detail, json!({"penalty": 10}));
        assert_eq!(
            selection.table[3].novelty_detail,
            json!({"penalty": 0, "reason": "novelty_disabled"})
        );
        assert!((0.0..1.0).contains(&selection.roll));
        let row = serde_json::to_value(&selection.table[4]).expect("row");
        assert_eq!(
            row,
            json!({"id": "E", "score": 10, "novelty_penalty": 15, "novelty_detail": {"penalty": 15}, "effective_score": 0})
        );
        assert_eq!(
            serde_json::to_value(selection.mode).expect("mode"),
            json!("exploit")
        );
    }

    #[test]
    fn selection_is_deterministic_per_seed() {
        let s = scores(&[
            ("A", 70),
            ("B", 72),
            ("C", 71),
            ("D", 40),
            ("E", 90),
            ("F", 89),
            ("G", 88),
            ("H", 60),
        ]);
        for seed in 0..50 {
            assert_eq!(
                select_candidate(&s, &[], 0.5, seed),
                select_candidate(&s, &[], 0.5, seed)
            );
        }
        let rolls: BTreeSet<u64> = (0..50)
            .map(|seed| select_candidate(&s, &[], 0.5, seed).roll.to_bits())
            .collect();
        assert!(rolls.len() > 45, "seeds should give different rolls");
        // The roll is the first draw of the purpose's generator.
        let mut rng = derive_rng(11, SELECT_PURPOSE);
        assert_eq!(select_candidate(&s, &[], 0.5, 11).roll, unit_f64(&mut rng));
    }

    #[test]
    fn explore_always_at_rate_one_never_at_zero_and_stays_in_the_pool() {
        // 8 rows: the pool is the top ceil(8/4) = 2 (E, F).
        let s = scores(&[
            ("A", 70),
            ("B", 72),
            ("C", 71),
            ("D", 40),
            ("E", 90),
            ("F", 89),
            ("G", 88),
            ("H", 60),
        ]);
        let mut picked = BTreeSet::new();
        for seed in 0..200 {
            let never = select_candidate(&s, &[], 0.0, seed);
            assert_eq!(
                (never.mode, never.selected_id.as_str()),
                (SelectionMode::Exploit, "E")
            );
            let always = select_candidate(&s, &[], 1.0, seed);
            assert_eq!(always.mode, SelectionMode::Explore);
            picked.insert(always.selected_id);
        }
        assert_eq!(
            picked,
            ["E", "F"].iter().map(|s| (*s).to_string()).collect()
        );

        for (n, pool) in [(1, 1), (4, 1), (5, 2), (9, 3), (12, 3), (13, 4)] {
            let ids = idea_ids(n);
            // Distinct scores: the table order is the id order.
            let s: Vec<(String, i64)> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), 100 - i as i64))
                .collect();
            let picked: BTreeSet<String> = (0..300)
                .map(|seed| select_candidate(&s, &[], 1.0, seed).selected_id)
                .collect();
            assert_eq!(picked, ids[..pool].iter().cloned().collect(), "n = {n}");
        }
    }

    #[test]
    fn explore_weights_by_effective_score_with_a_floor_of_one() {
        // Pool of two (n = 5): A weighs 99, B weighs max(1, 0) = 1, so A is nearly always taken.
        let s = scores(&[("A", 99), ("B", 5), ("C", 0), ("D", 0), ("E", 0)]);
        let penalties = vec![("B".to_string(), 20, json!({"penalty": 20}))];
        let picks: Vec<String> = (0..400)
            .map(|seed| select_candidate(&s, &penalties, 1.0, seed).selected_id)
            .collect();
        let b = picks.iter().filter(|id| *id == "B").count();
        assert!(b < 20, "B picked {b} times of 400");
        // A rate above zero but below the roll exploits.
        let seed = (0..100)
            .find(|&seed| select_candidate(&s, &[], 1.0, seed).roll > 0.5)
            .expect("a high roll");
        assert_eq!(
            select_candidate(&s, &[], 0.5, seed).mode,
            SelectionMode::Exploit
        );
    }

    #[test]
    fn samples_round_trip_through_their_parsers() {
        let card = IdeaCard {
            id: "AB".into(),
            hook: "A kite over salt flats.".into(),
            narrative: "The kite climbs. The flats shine.".into(),
            options: IdeaOptions {
                composition: vec!["low horizon".into(), "centered".into()],
                palette: vec!["teal".into(), "rust".into()],
                medium: vec!["gouache".into()],
                mood: vec!["calm".into()],
            },
            avoid: vec!["text".into()],
        };
        let sample = idea_card_sample(&card);
        assert_eq!(parse_idea_card(&sample, "AB"), Ok(card.clone()));
        let document = idea_cards_json(std::slice::from_ref(&card));
        assert_eq!(idea_cards_ids(&document), ["AB"]);
        assert_eq!(idea_cards_ids("not json"), Vec::<String>::new());

        let scores: Vec<(String, i64)> = vec![("B".into(), 40), ("A".into(), 95)];
        let ids: Vec<String> = vec!["A".into(), "B".into()];
        assert_eq!(
            parse_judge_scores(&judge_scores_sample(&scores), &ids),
            Ok(scores)
        );
    }
}

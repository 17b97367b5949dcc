//! What model calls cost: what a run used by model ([`RunUsage`]), the totals written into each
//! result entry ([`UsageTotals`]) and the cost in USD ([`RunUsage::cost`]) from the [`Prices`].
//!
//! It owns no I/O and no record format, and sits above the backends: they fill in a call's
//! [`TokenUsage`] (and count tokens where the answer has none), the generation and the host
//! services add calls to a [`RunUsage`], the runner writes the totals and the cost.
//!
//! A cost is known or it is `None`, never a guess: a model without a price, or a call whose
//! answer said nothing about its tokens, makes the run's cost unknown, and [`Cost::missing`]
//! says why.

mod prices;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use prices::{builtin_written, image_key, Prices};

use crate::backends::TokenUsage;

/// The tokens of the calls to one text model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ModelTokens {
    calls: u64,
    input: u64,
    cached: u64,
    output: u64,
    reasoning: u64,
    /// Calls whose answer carried no usage.
    unknown: u64,
}

/// What one run used, by model: every text call and every image; and, apart, the text calls
/// the response cache answered (saved, not spent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunUsage {
    /// By the model the call asked for (the one its price is looked up by).
    text: BTreeMap<String, ModelTokens>,
    /// Text calls answered from the response cache, with the tokens the stored answer took
    /// when it was made: what the cache saved. Never part of the spent totals or cost.
    saved_text: BTreeMap<String, ModelTokens>,
    /// Images answered from the response cache, as `images`: saved, not spent.
    saved_images: BTreeMap<(String, String, String), u64>,
    /// Images by model, size and quality.
    images: BTreeMap<(String, String, String), u64>,
    /// Text calls on the longest chain of calls that waited for each other.
    sequential_calls: u64,
}

/// The totals of a run (or of several), as `usage` in result entries and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageTotals {
    /// Text calls (chat completions) made.
    pub calls: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// Images generated.
    pub images: u64,
    /// Text calls whose answer carried no `usage` (their tokens are not in the counts above).
    pub calls_without_usage: u64,
    /// Text calls on the run's longest chain of calls that wait for each other (a parallel
    /// block counts its longest branch); summed over runs, the calls one worker would wait on.
    pub sequential_calls: u64,
    /// Model calls (chat completions and images) answered from the response cache: not in
    /// `calls`, `images` nor the token counts (they spent nothing); what they saved is
    /// `saved_cost_usd` beside these totals.
    pub cache_hits: u64,
}

impl UsageTotals {
    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &UsageTotals) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.images += other.images;
        self.calls_without_usage += other.calls_without_usage;
        self.sequential_calls += other.sequential_calls;
        self.cache_hits += other.cache_hits;
    }
}

/// A run's cost in USD, or why it is not known.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// `None` when [`Cost::missing`] is not empty.
    pub usd: Option<f64>,
    /// Why the cost is unknown, one reason per model or kind of gap, in a stable order.
    pub missing: Vec<String>,
}

impl RunUsage {
    /// One text call to `model`; `usage` is `None` when the answer carried none.
    pub fn add_text(&mut self, model: &str, usage: Option<&TokenUsage>) {
        self.text.entry(model.to_owned()).or_default().add(usage);
    }

    /// One text call to `model` answered from the response cache; `usage` is what the stored
    /// answer took when it was made.
    pub fn add_saved_text(&mut self, model: &str, usage: Option<&TokenUsage>) {
        self.saved_text
            .entry(model.to_owned())
            .or_default()
            .add(usage);
    }

    /// One image of `model` at `size`/`quality` answered from the response cache.
    pub fn add_saved_image(&mut self, model: &str, size: &str, quality: &str) {
        *self
            .saved_images
            .entry((model.to_owned(), size.to_owned(), quality.to_owned()))
            .or_default() += 1;
    }

    /// One image of `model` at `size`/`quality`.
    pub fn add_image(&mut self, model: &str, size: &str, quality: &str) {
        *self
            .images
            .entry((model.to_owned(), size.to_owned(), quality.to_owned()))
            .or_default() += 1;
    }

    /// `calls` more text calls on the run's chain of calls that wait for each other (after
    /// those counted so far).
    pub fn add_sequential(&mut self, calls: u64) {
        self.sequential_calls += calls;
    }

    /// Adds everything `other` used, as if it ran after what this one counts.
    pub fn merge(&mut self, other: &RunUsage) {
        self.sequential_calls += other.sequential_calls;
        for (mine, theirs) in [
            (&mut self.text, &other.text),
            (&mut self.saved_text, &other.saved_text),
        ] {
            for (model, tokens) in theirs {
                mine.entry(model.clone()).or_default().merge(tokens);
            }
        }
        for (mine, theirs) in [
            (&mut self.images, &other.images),
            (&mut self.saved_images, &other.saved_images),
        ] {
            for (key, count) in theirs {
                *mine.entry(key.clone()).or_default() += count;
            }
        }
    }

    /// The totals over every model.
    pub fn totals(&self) -> UsageTotals {
        let mut totals = UsageTotals::default();
        for tokens in self.text.values() {
            totals.calls += tokens.calls;
            totals.input_tokens += tokens.input;
            totals.cached_input_tokens += tokens.cached;
            totals.output_tokens += tokens.output;
            totals.reasoning_tokens += tokens.reasoning;
            totals.calls_without_usage += tokens.unknown;
        }
        totals.images = self.images.values().sum();
        totals.sequential_calls = self.sequential_calls;
        totals.cache_hits = self
            .saved_text
            .values()
            .map(|tokens| tokens.calls)
            .sum::<u64>()
            + self.saved_images.values().sum::<u64>();
        totals
    }

    /// The cost at `prices`: per text model, uncached input, cached input and output tokens at
    /// their prices per million; per image model and size/quality, images at their price.
    pub fn cost(&self, prices: &Prices) -> Cost {
        priced(&self.text, &self.images, prices)
    }

    /// What the calls answered from the response cache would have cost at `prices`: the
    /// saved cost, priced as [`RunUsage::cost`] prices what was spent.
    pub fn saved_cost(&self, prices: &Prices) -> Cost {
        priced(&self.saved_text, &self.saved_images, prices)
    }
}

impl ModelTokens {
    fn add(&mut self, usage: Option<&TokenUsage>) {
        self.calls += 1;
        match usage {
            Some(usage) => {
                self.input += usage.input_tokens;
                self.cached += usage.cached_input_tokens;
                self.output += usage.output_tokens;
                self.reasoning += usage.reasoning_tokens;
            }
            None => self.unknown += 1,
        }
    }

    fn merge(&mut self, other: &ModelTokens) {
        self.calls += other.calls;
        self.input += other.input;
        self.cached += other.cached;
        self.output += other.output;
        self.reasoning += other.reasoning;
        self.unknown += other.unknown;
    }
}

/// The cost of `text` calls and `images` at `prices`.
fn priced(
    text: &BTreeMap<String, ModelTokens>,
    images: &BTreeMap<(String, String, String), u64>,
    prices: &Prices,
) -> Cost {
    let (mut usd, mut missing) = text_cost(text, prices);
    for ((model, size, quality), count) in images {
        match prices.image(model, size, quality) {
            Some(each) => usd += *count as f64 * each,
            None => missing.push(format!(
                "no price for image model `{model}` at `{}`",
                image_key(size, quality)
            )),
        }
    }
    Cost {
        usd: missing.is_empty().then(|| round_usd(usd)),
        missing,
    }
}

/// The USD of `text` calls at `prices` (uncached input, cached input and output tokens at
/// their prices per million), and why it is not known.
fn text_cost(text: &BTreeMap<String, ModelTokens>, prices: &Prices) -> (f64, Vec<String>) {
    let mut usd = 0.0;
    let mut missing = Vec::new();
    for (model, tokens) in text {
        if tokens.unknown > 0 {
            missing.push(format!(
                "{} calls to text model `{model}` answered without `usage`",
                tokens.unknown
            ));
        }
        let Some(price) = prices.text(model) else {
            missing.push(format!("no price for text model `{model}`"));
            continue;
        };
        let cached_price = price
            .cached_input_usd_per_mtok
            .unwrap_or(price.input_usd_per_mtok);
        let uncached = tokens.input.saturating_sub(tokens.cached);
        usd += (uncached as f64 * price.input_usd_per_mtok
            + tokens.cached as f64 * cached_price
            + tokens.output as f64 * price.output_usd_per_mtok)
            / 1_000_000.0;
    }
    (usd, missing)
}

/// USD rounded to 1e-10: far below a cent, and it keeps float noise (`0.30000000000000004`) out
/// of the records.
pub fn round_usd(usd: f64) -> f64 {
    (usd * 1e10).round() / 1e10
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::COUNTED_BY_ENDPOINT;

    fn usage(input: u64, cached: u64, output: u64, reasoning: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            cached_input_tokens: cached,
            output_tokens: output,
            reasoning_tokens: reasoning,
            counted_by: COUNTED_BY_ENDPOINT,
        }
    }

    fn prices() -> Prices {
        Prices::new(
            &toml::from_str(
                r#"
                [text.t]
                input_usd_per_mtok = 2.0
                cached_input_usd_per_mtok = 0.5
                output_usd_per_mtok = 8.0
                [image.i]
                usd_per_image = { "1024x1024/low" = 0.01 }
                "#,
            )
            .expect("prices"),
        )
    }

    #[test]
    fn totals_and_cost_by_model() {
        let mut run = RunUsage::default();
        run.add_text("t", Some(&usage(1000, 400, 100, 30)));
        run.add_text("t", Some(&usage(2000, 0, 50, 0)));
        run.add_image("i", "1024x1024", "low");
        assert_eq!(
            run.totals(),
            UsageTotals {
                calls: 2,
                input_tokens: 3000,
                cached_input_tokens: 400,
                output_tokens: 150,
                reasoning_tokens: 30,
                images: 1,
                calls_without_usage: 0,
                sequential_calls: 0,
                cache_hits: 0,
            }
        );
        // (2600 * 2 + 400 * 0.5 + 150 * 8) / 1e6 + 0.01
        let cost = run.cost(&prices());
        assert_eq!(cost.usd, Some(0.0166));
        assert!(cost.missing.is_empty());
    }

    #[test]
    fn an_unpriced_model_or_a_call_without_usage_makes_the_cost_unknown() {
        let mut run = RunUsage::default();
        run.add_text("t", None);
        run.add_text("local-model", Some(&usage(10, 0, 10, 0)));
        run.add_image("i", "1024x1024", "high");
        let cost = run.cost(&prices());
        assert_eq!(cost.usd, None);
        assert_eq!(
            cost.missing,
            [
                "no price for text model `local-model`",
                "1 calls to text model `t` answered without `usage`",
                "no price for image model `i` at `1024x1024/high`",
            ]
        );
        assert_eq!(run.totals().calls_without_usage, 1);
    }

    #[test]
    fn cache_hits_are_saved_not_spent() {
        let mut run = RunUsage::default();
        run.add_text("t", Some(&usage(1000, 0, 100, 0)));
        run.add_saved_text("t", Some(&usage(2000, 0, 200, 0)));
        let mut other = RunUsage::default();
        other.add_saved_text("t", Some(&usage(1000, 0, 100, 0)));
        run.merge(&other);
        let totals = run.totals();
        assert_eq!((totals.calls, totals.cache_hits), (1, 2));
        assert_eq!(totals.input_tokens, 1000);
        // (1000 * 2 + 100 * 8) / 1e6 spent; (3000 * 2 + 300 * 8) / 1e6 saved.
        assert_eq!(run.cost(&prices()).usd, Some(0.0028));
        assert_eq!(run.saved_cost(&prices()).usd, Some(0.0084));
        run.add_saved_image("i", "1024x1024", "low");
        assert_eq!(run.totals().cache_hits, 3);
        assert_eq!(run.totals().images, 0);
        assert_eq!(run.saved_cost(&prices()).usd, Some(0.0184));
        let mut unpriced = RunUsage::default();
        unpriced.add_saved_text("local-model", None);
        assert_eq!(unpriced.saved_cost(&prices()).usd, None);
        assert_eq!(unpriced.cost(&prices()).usd, Some(0.0));
    }

    #[test]
    fn merging_adds_every_model() {
        let mut a = RunUsage::default();
        a.add_text("t", Some(&usage(1, 0, 1, 0)));
        let mut b = RunUsage::default();
        b.add_text("t", Some(&usage(2, 0, 2, 0)));
        b.add_image("i", "1024x1024", "low");
        a.merge(&b);
        assert_eq!(a.totals().input_tokens, 3);
        assert_eq!(a.totals().images, 1);
        assert_eq!(a.totals().sequential_calls, 0);
    }
}

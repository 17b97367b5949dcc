//! When a request may leave: the configured per-minute limits, and the pauses the provider asks
//! for. How many requests may be in flight is `limiter`'s business; this module owns the timing.
//!
//! One [`Pacer`] lives in each backend client, so every worker sharing the backend shares it:
//! - `requests_per_minute` (`images_per_minute` for images): requests leave evenly spaced,
//!   `60 s / limit` apart, which never exceeds the provider's window however it is counted;
//! - `tokens_per_minute`: each request books its estimated tokens, and the next one leaves once
//!   those have drained at the limit's rate (the estimate is the caller's, see `openai`);
//! - provider pauses ([`Pacer::hold`]): `x-ratelimit-remaining-requests: 0` (or `-tokens`) with its
//!   `x-ratelimit-reset-*`, and the `retry-after` of a 429, hold every sender, not only the call
//!   that got the answer.
//!
//! Times come from `Instant`, so no test asserts on them: the tests count answers instead.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The longest pause a provider can ask for; longer asks wait this long.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(300);

/// After a pause is reported, further pauses within this span are not (one line per episode of
/// throttling, not one per answer).
const NOTICE_QUIET: Duration = Duration::from_secs(30);

/// The configured limits of one backend (validated: each at least 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RateLimits {
    pub(crate) requests_per_minute: Option<u32>,
    pub(crate) tokens_per_minute: Option<u32>,
}

/// Paces the requests of one backend.
#[derive(Debug)]
pub(crate) struct Pacer {
    limits: RateLimits,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    /// The earliest the next request may leave under `requests_per_minute`.
    next_request: Instant,
    /// The earliest the next request may leave under `tokens_per_minute`.
    next_tokens: Instant,
    /// No request leaves before this (a provider's ask).
    hold_until: Option<Instant>,
    /// When a pause was last reported.
    reported: Option<Instant>,
}

/// A pause a provider asked for, and which header asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pause {
    pub(crate) wait: Duration,
    /// e.g. ``x-ratelimit-remaining-requests` is 0`.
    pub(crate) reason: String,
}

impl Pacer {
    pub(crate) fn new(limits: RateLimits) -> Self {
        let now = Instant::now();
        Pacer {
            limits,
            state: Mutex::new(PaceState {
                next_request: now,
                next_tokens: now,
                hold_until: None,
                reported: None,
            }),
        }
    }

    /// Blocks until a request of about `tokens` tokens may leave, and books its place.
    pub(crate) fn wait_turn(&self, tokens: u64) {
        let now = Instant::now();
        let mut state = self.lock();
        let mut at = now;
        if let Some(until) = state.hold_until {
            at = at.max(until);
        }
        if let Some(rpm) = self.limits.requests_per_minute {
            at = at.max(state.next_request);
            state.next_request = at + per_minute(1, rpm);
        }
        if let Some(tpm) = self.limits.tokens_per_minute {
            at = at.max(state.next_tokens);
            state.next_tokens = at + per_minute(tokens, tpm);
        }
        drop(state);
        sleep_until(at);
        // A pause that began while this call waited its turn applies to it too.
        let hold = self.lock().hold_until;
        if let Some(until) = hold {
            sleep_until(until);
        }
    }

    /// Holds every request for `pause.wait` from now (a longer hold in force stays). Returns
    /// whether the caller should report it: a new pause, and none reported lately.
    pub(crate) fn hold(&self, pause: &Pause) -> bool {
        if pause.wait.is_zero() {
            return false;
        }
        let now = Instant::now();
        let until = now + pause.wait.min(MAX_PAUSE);
        let mut state = self.lock();
        let in_force = state.hold_until.is_some_and(|held| held > now);
        state.hold_until = Some(match state.hold_until {
            Some(held) if held > until => held,
            _ => until,
        });
        if in_force {
            return false;
        }
        let report = state
            .reported
            .is_none_or(|last| now.duration_since(last) >= NOTICE_QUIET);
        if report {
            state.reported = Some(now);
        }
        report
    }

    /// The state is a few instants, each set in one statement, so a poisoned lock is taken as is.
    fn lock(&self) -> MutexGuard<'_, PaceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `count` units' share of a minute under a limit of `per_minute` units.
fn per_minute(count: u64, per_minute: u32) -> Duration {
    Duration::from_secs_f64(60.0 * count as f64 / f64::from(per_minute.max(1))).min(MAX_PAUSE)
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// The pause the `x-ratelimit-*` headers of an answer ask for: when the remaining requests (or
/// tokens) are 0, until their reset. `header` looks a header up by (lowercase) name.
pub(crate) fn pause_from_headers(header: &dyn Fn(&str) -> Option<String>) -> Option<Pause> {
    ["requests", "tokens"]
        .into_iter()
        .filter_map(|what| {
            let remaining = header(&format!("x-ratelimit-remaining-{what}"))?;
            if remaining.trim().parse::<f64>().ok()? > 0.0 {
                return None;
            }
            let wait = parse_reset(&header(&format!("x-ratelimit-reset-{what}"))?)?;
            Some(Pause {
                wait,
                reason: format!("`x-ratelimit-remaining-{what}` is 0"),
            })
        })
        .max_by_key(|pause| pause.wait)
}

/// An `x-ratelimit-reset-*` value: OpenAI's `1s`, `6m0s`, `20ms`, `1.5s`, `2h3m` (units `h`, `m`,
/// `s`, `ms`, `us`/`µs`, `ns`), or plain seconds. At most [`MAX_PAUSE`].
pub(crate) fn parse_reset(text: &str) -> Option<Duration> {
    let text = text.trim();
    let seconds = if let Ok(plain) = text.parse::<f64>() {
        plain
    } else {
        let mut total = 0.0;
        let mut rest = text;
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let number_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let value: f64 = rest[..number_end].parse().ok()?;
            rest = &rest[number_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_end] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                "us" | "µs" => 1e-6,
                "ns" => 1e-9,
                _ => return None,
            };
            total += value * scale;
            rest = &rest[unit_end..];
        }
        total
    };
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(MAX_PAUSE.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_formats() {
        let ms = Duration::from_millis;
        assert_eq!(parse_reset("1s"), Some(ms(1000)));
        assert_eq!(parse_reset("4m0s"), Some(ms(240_000)));
        assert_eq!(parse_reset("6m0s"), Some(MAX_PAUSE), "capped");
        assert_eq!(parse_reset("20ms"), Some(ms(20)));
        assert_eq!(parse_reset(" 1.5s "), Some(ms(1500)));
        assert_eq!(parse_reset("1m30.5s"), Some(ms(90_500)));
        assert_eq!(parse_reset("2"), Some(ms(2000)));
        assert_eq!(parse_reset("0s"), Some(Duration::ZERO));
        assert_eq!(parse_reset("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_reset("2h"), Some(MAX_PAUSE));
        for bad in ["", "s", "1x", "-1s", "1s2", "soon", "1..2s"] {
            assert_eq!(parse_reset(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_ask_for_a_pause_only_when_nothing_remains() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let none = headers(&[
            ("x-ratelimit-remaining-requests", "3"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        assert_eq!(pause_from_headers(&none), None);
        let requests = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-remaining-tokens", "9000"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(
            pause_from_headers(&requests),
            Some(Pause {
                wait: Duration::from_millis(120),
                reason: "`x-ratelimit-remaining-requests` is 0".into()
            })
        );
        let both = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "2s"),
        ]);
        assert_eq!(
            pause_from_headers(&both).map(|p| p.wait),
            Some(Duration::from_secs(2))
        );
        // No reset to wait for, or an unreadable one: no pause (the retry rules still apply).
        let unreadable = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "later"),
        ]);
        assert_eq!(pause_from_headers(&unreadable), None);
    }

    #[test]
    fn a_pause_is_reported_once_per_episode() {
        let pacer = Pacer::new(RateLimits::default());
        let pause = |ms| Pause {
            wait: Duration::from_millis(ms),
            reason: "r".into(),
        };
        assert!(pacer.hold(&pause(5)));
        // In force: extended silently.
        assert!(!pacer.hold(&pause(10)));
        assert!(!pacer.hold(&pause(0)));
        pacer.wait_turn(1);
        // Over, but reported lately: silent too.
        assert!(!pacer.hold(&pause(1)));
    }

    #[test]
    fn limits_book_places_in_turn() {
        // 60 000 per minute: 1 ms apart; 100 tokens at 6 000 000 per minute: 1 ms each.
        let start = Instant::now();
        let pacer = Pacer::new(RateLimits {
            requests_per_minute: Some(60_000),
            tokens_per_minute: Some(6_000_000),
        });
        for _ in 0..3 {
            pacer.wait_turn(100);
        }
        let state = pacer.lock();
        assert!(state.next_request >= start + Duration::from_millis(3));
        assert!(state.next_tokens >= start + Duration::from_millis(3));
    }
}

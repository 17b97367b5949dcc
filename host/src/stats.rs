//! The statistics behind `summary.metrics`: means, seeded percentile-bootstrap intervals, Wilson
//! intervals for rates, and the exact two-sided binomial test used as the sign test (numbers) and
//! McNemar's exact test (booleans).
//!
//! Pure functions of their input and a generator from `plugin_api::seed`, so the same seed gives
//! bit-identical numbers. What to compute for which metric, and the JSON, live in
//! `metrics`.

use plugin_api::seed::{self, Rng};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 2_000;
/// The two-sided 95% normal quantile, used by the Wilson interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The arithmetic mean, or `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// The 95% percentile-bootstrap interval of the mean: [`RESAMPLES`] resamples of `values.len()`
/// draws with replacement (indices through [`seed::below`]), their means sorted, the bounds at
/// positions `floor(0.025 * R)` and `ceil(0.975 * R) - 1` (50 and 1949 for R = 2,000).
/// `None` for no values.
pub fn bootstrap_mean_ci(values: &[f64], rng: &mut Rng) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as u64;
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| values[seed::below(rng, n) as usize]).sum();
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let lo = (0.025 * RESAMPLES as f64).floor() as usize;
    let hi = (0.975 * RESAMPLES as f64).ceil() as usize - 1;
    Some((means[lo], means[hi]))
}

/// The 95% Wilson score interval of `successes` out of `n`; `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denominator;
    let half = Z_95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denominator;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// The exact two-sided binomial test of `k` successes in `n` trials at p = 1/2:
/// `min(1, 2 * P(X <= min(k, n - k)))`. With `n` = positive + negative differences (ties
/// dropped) it is the sign test; with `n` = discordant pairs it is McNemar's exact test.
/// 1 when `n` is 0. Exact (integer binomial coefficients over a power of two) up to
/// [`EXACT_TRIALS`] trials; beyond that the terms are summed in log space.
pub fn binomial_two_sided(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let low = k.min(n - k);
    if n <= EXACT_TRIALS {
        let mut choose: u128 = 1; // C(n, 0)
        let mut tail: u128 = 0;
        for i in 0..=low {
            if i > 0 {
                // C(n, i) = C(n, i - 1) * (n - i + 1) / i, exact in this order.
                choose = choose * u128::from(n - i + 1) / u128::from(i);
            }
            tail += choose;
        }
        // 2 * tail / 2^n: a division by a power of two, exact once `tail` is a float.
        let p = tail as f64 * 2f64.powi(1 - n as i32);
        return p.min(1.0);
    }
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0f64;
    let mut tail = 0.0;
    for i in 0..=low {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Trials up to which [`binomial_two_sided`] works in integers: C(n, i) * n fits in a u128.
pub const EXACT_TRIALS: u64 = 120;

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::seed::derive_rng;

    fn close(got: f64, want: f64, tolerance: f64) {
        assert!(
            (got - want).abs() <= tolerance,
            "got {got}, want {want} ± {tolerance}"
        );
    }

    #[test]
    fn mean_by_hand() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn wilson_bounds_for_7_of_10() {
        // By hand: center (0.7 + z²/20) / (1 + z²/10) = 0.6444934, half-width
        // z·sqrt(0.021 + z²/400) / (1 + z²/10) = 0.2477153.
        let (lo, hi) = wilson(7, 10).unwrap();
        close(lo, 0.396_778, 1e-6);
        close(hi, 0.892_209, 1e-6);
        let (lo, hi) = wilson(0, 4).unwrap();
        assert_eq!(lo, 0.0);
        close(hi, 0.489_891, 1e-6);
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn sign_test_p_values_are_exact() {
        // 9 of 10 positive: 2 * (1 + 10) / 1024.
        assert_eq!(binomial_two_sided(9, 10), 0.021_484_375);
        assert_eq!(binomial_two_sided(1, 10), 0.021_484_375);
        // 10 of 10: 2 / 1024.
        assert_eq!(binomial_two_sided(10, 10), 0.001_953_125);
        // 5 of 10 and no trials: no evidence at all.
        assert_eq!(binomial_two_sided(5, 10), 1.0);
        assert_eq!(binomial_two_sided(0, 0), 1.0);
        // McNemar with 6 discordant pairs all one way: 2 / 64.
        assert_eq!(binomial_two_sided(0, 6), 0.031_25);
        // Both paths agree where they meet; large n stays finite and symmetric.
        close(binomial_two_sided(50, 120), 0.082_407, 1e-5);
        close(binomial_two_sided(51, 121), 0.101_368, 1e-5);
        let p = binomial_two_sided(400, 1000);
        assert!(p > 0.0 && p < 1e-9, "{p}");
        assert_eq!(p, binomial_two_sided(600, 1000));
    }

    #[test]
    fn bootstrap_interval_is_deterministic_and_brackets_the_mean() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let once = bootstrap_mean_ci(&values, &mut derive_rng(7, "metrics.x.A")).unwrap();
        let again = bootstrap_mean_ci(&values, &mut derive_rng(7, "metrics.x.A")).unwrap();
        assert_eq!(once, again, "same seed, same interval, bit for bit");
        // Normal approximation: 10.5 ± 1.96 · 5.766 / sqrt(20) = [7.97, 13.03].
        close(once.0, 7.97, 0.4);
        close(once.1, 13.03, 0.4);
        let other = bootstrap_mean_ci(&values, &mut derive_rng(8, "metrics.x.A")).unwrap();
        assert_ne!(once, other, "another seed draws other resamples");
        assert_eq!(
            bootstrap_mean_ci(&[3.0], &mut derive_rng(1, "x")),
            Some((3.0, 3.0))
        );
        assert_eq!(bootstrap_mean_ci(&[], &mut derive_rng(1, "x")), None);
    }
}

//! The A/B random token `RV-<seed>-<6 digits>`.
//!
//! The A/B plugins precompute the token into a run's `meta.random_token`, and the pipeline stage
//! `ab.random_token` computes it again on its own; the two agree only because both call
//! [`ab_token`]. This module owns the token's format and its draw, nothing else.
use crate::seed::{derive_rng, range_inclusive};

/// Purpose label of the generator the token's roll is drawn from (also the stage id).
pub const AB_TOKEN_PURPOSE: &str = "ab.random_token";

/// The token for a run seed: `RV-<seed>-<roll>`, where `roll` is the first draw in
/// `100000..=999999` from `derive_rng(seed, AB_TOKEN_PURPOSE)`.
pub fn ab_token(seed: u64) -> String {
    let roll = range_inclusive(&mut derive_rng(seed, AB_TOKEN_PURPOSE), 100_000, 999_999);
    format!("RV-{seed}-{roll}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        assert_eq!(ab_token(0), "RV-0-429308");
        assert_eq!(ab_token(1), "RV-1-610148");
        assert_eq!(ab_token(7), "RV-7-336222");
        assert_eq!(ab_token(1000), "RV-1000-918328");
    }

    #[test]
    fn shape() {
        for seed in [0, 1, 2, 99, 1_700_000_000, u64::MAX] {
            let token = ab_token(seed);
            let rest = token.strip_prefix("RV-").expect("prefix");
            let (s, roll) = rest.rsplit_once('-').expect("two parts");
            assert_eq!(s, seed.to_string());
            assert_eq!(roll.len(), 6, "{token}");
            let roll: u64 = roll.parse().expect("digits");
            assert!((100_000..=999_999).contains(&roll), "{token}");
        }
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        assert_eq!(ab_token(12345), ab_token(12345));
        let rolls: std::collections::HashSet<String> = (0..50)
            .map(|s| {
                ab_token(s)
                    .rsplit_once('-')
                    .map(|(_, r)| r.to_string())
                    .unwrap()
            })
            .collect();
        assert!(rolls.len() > 45, "rolls barely vary: {}", rolls.len());
    }
}

//! Seed derivation: every random choice draws from a generator derived here.
//!
//! A generator is identified by a run seed and a purpose label (`"concepts"`,
//! `"ab.random_token"`, ...), so adding a new random choice never shifts the draws of another.
//! The draw helpers live here too: a plugin and a host stage that must agree on a value have to
//! turn generator output into numbers the same way, and the `rand` crate's algorithms are free
//! to change between its releases. Every caller draws through [`below`], [`range_inclusive`],
//! [`unit_f64`], [`choose`] and [`shuffle`]; their algorithms are part of the interface.
use rand_xoshiro::rand_core::{RngCore, SeedableRng};

use crate::hash::stable_hash64;

pub use rand_xoshiro::Xoshiro256PlusPlus as Rng;

/// The largest seed a run may have, 2^53 - 1 (added in 1.1): seeds are written to JSON plans,
/// results and indexes, and every JSON reader keeps integers up to it exact. The host refuses a
/// plan with a larger [`PlannedRun`](crate::PlannedRun) seed and never picks one itself.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// The SplitMix64 output function applied to `x` (one step of the generator from state `x`).
///
/// Used to spread a small, sequential run seed over all 64 bits before the purpose is mixed in.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator for `purpose` under `seed`.
///
/// `Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed) ^ stable_hash64(purpose))`;
/// `seed_from_u64` expands the 64-bit value to the full state through SplitMix64.
pub fn derive_rng(seed: u64, purpose: &str) -> Rng {
    Rng::seed_from_u64(splitmix64(seed) ^ stable_hash64(purpose.as_bytes()))
}

/// A uniform integer in `0..n`, without modulo bias.
///
/// Lemire's widening multiply with rejection: usually one draw, and a retry only for the
/// `2^64 mod n` low products that would favour some results.
///
/// # Panics
///
/// If `n == 0`: the range is empty, so there is no value to return. Callers with a possibly
/// empty collection use [`choose`], which returns `None` instead.
pub fn below(rng: &mut Rng, n: u64) -> u64 {
    assert!(n > 0, "seed::below called with an empty range (n = 0)");
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    // Truncation intended: the low half decides whether this product is in the biased zone.
    if (m as u64) < n {
        // 2^64 mod n, computed without 128-bit division.
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// A uniform integer in `lo..=hi`.
///
/// # Panics
///
/// If `lo > hi`.
pub fn range_inclusive(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    assert!(
        lo <= hi,
        "seed::range_inclusive called with lo {lo} > hi {hi}"
    );
    match (hi - lo).checked_add(1) {
        Some(span) => lo + below(rng, span),
        // The whole u64 range: every raw draw is already uniform.
        None => rng.next_u64(),
    }
}

/// A uniform float in `[0, 1)`: the top 53 bits of one draw divided by 2^53.
pub fn unit_f64(rng: &mut Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// A uniformly chosen element of `items`, or `None` (without drawing) when it is empty.
pub fn choose<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    // usize -> u64 is lossless on every supported target, and the result is < len.
    items.get(below(rng, items.len() as u64) as usize)
}

/// Shuffles `items` uniformly in place (Fisher–Yates, from the last element down).
pub fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first3(mut rng: Rng) -> [u64; 3] {
        [rng.next_u64(), rng.next_u64(), rng.next_u64()]
    }

    #[test]
    fn splitmix64_vectors() {
        // Reference SplitMix64 outputs for state 0 (first output) and 1234567.
        assert_eq!(splitmix64(0), 0xe220a8397b1dcdaf);
        assert_eq!(splitmix64(1234567), 0x599ed017fb08fc85);
    }

    #[test]
    fn derive_rng_vectors() {
        // Cross-checked once against an independent Python SplitMix64 + xoshiro256++.
        assert_eq!(
            first3(derive_rng(0, "x")),
            [0xa2a0fc13756b370c, 0x7dc67fb5e46d45d4, 0x9577737c2b0ce930]
        );
        assert_eq!(
            first3(derive_rng(1, "ab.random_token")),
            [0x911be46e0e6b633c, 0xd502693efbb211df, 0x87bdd5008e0c73ae]
        );
        assert_eq!(
            first3(derive_rng(42, "concepts")),
            [0xd0fc268c822a0ba5, 0x94556f9da1cebaa1, 0x09d7423cd8340a35]
        );
        assert_eq!(
            first3(derive_rng(u64::MAX, "")),
            [0x5622935c7f6726fb, 0x46d610a660361aa3, 0x31dbdaec79d27c1f]
        );
    }

    #[test]
    fn draw_helper_vectors() {
        let mut rng = derive_rng(7, "draws");
        let below10: Vec<u64> = (0..5).map(|_| below(&mut rng, 10)).collect();
        assert_eq!(below10, [1, 8, 6, 7, 1]);
        assert_eq!(range_inclusive(&mut rng, 100000, 999999), 766407);
        assert_eq!(unit_f64(&mut rng).to_bits(), 0x3fd74bd685e33094);
        let mut v = [0, 1, 2, 3, 4, 5];
        shuffle(&mut rng, &mut v);
        assert_eq!(v, [4, 1, 3, 0, 2, 5]);
        assert_eq!(choose(&mut rng, &["a", "b", "c"]), Some(&"a"));
    }

    #[test]
    fn same_inputs_give_the_same_stream() {
        assert_eq!(first3(derive_rng(5, "p")), first3(derive_rng(5, "p")));
    }

    #[test]
    fn different_purposes_or_seeds_give_different_streams() {
        let base = first3(derive_rng(5, "p"));
        assert_ne!(base, first3(derive_rng(5, "q")));
        assert_ne!(base, first3(derive_rng(6, "p")));
        assert_ne!(first3(derive_rng(0, "")), first3(derive_rng(1, "")));
    }

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = derive_rng(1, "below");
        for n in [1u64, 2, 3, 7, 10] {
            let mut seen = vec![0u32; n as usize];
            for _ in 0..2000 {
                let x = below(&mut rng, n);
                assert!(x < n, "{x} >= {n}");
                seen[x as usize] += 1;
            }
            assert!(seen.iter().all(|&c| c > 0), "n = {n}: {seen:?}");
        }
        // Near the top of the range the rejection zone is large; results must still be in range.
        let n = (1u64 << 63) + 1;
        for _ in 0..1000 {
            assert!(below(&mut rng, n) < n);
        }
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut rng = derive_rng(2, "uniform");
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[below(&mut rng, 6) as usize] += 1;
        }
        // Expect 10 000 each; 5 standard deviations is about ±460.
        assert!(
            counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn below_zero_panics() {
        below(&mut derive_rng(0, "x"), 0);
    }

    #[test]
    fn range_inclusive_bounds() {
        let mut rng = derive_rng(3, "range");
        assert_eq!(range_inclusive(&mut rng, 5, 5), 5);
        let mut seen = [false; 3];
        for _ in 0..200 {
            let x = range_inclusive(&mut rng, 10, 12);
            assert!((10..=12).contains(&x));
            seen[(x - 10) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
        // The full range must not overflow.
        let _ = range_inclusive(&mut rng, 0, u64::MAX);
        let x = range_inclusive(&mut rng, u64::MAX - 1, u64::MAX);
        assert!(x >= u64::MAX - 1);
    }

    #[test]
    fn unit_f64_is_in_the_half_open_unit_interval() {
        let mut rng = derive_rng(4, "unit");
        for _ in 0..1000 {
            let x = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn choose_and_shuffle_edge_cases() {
        let mut rng = derive_rng(5, "edge");
        let empty: [u8; 0] = [];
        assert_eq!(choose(&mut rng, &empty), None);
        assert_eq!(choose(&mut rng, &[9]), Some(&9));
        let mut one = [1];
        shuffle(&mut rng, &mut one);
        assert_eq!(one, [1]);
        let mut v: Vec<u32> = (0..20).collect();
        shuffle(&mut rng, &mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_ne!(v, sorted, "a 20-element shuffle left everything in place");
    }

    #[test]
    fn choose_does_not_draw_on_empty() {
        let mut a = derive_rng(6, "c");
        let b = derive_rng(6, "c");
        let _ = choose::<u8>(&mut a, &[]);
        assert_eq!(first3(a), first3(b));
    }
}

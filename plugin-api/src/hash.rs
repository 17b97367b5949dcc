//! A stable 64-bit hash (FNV-1a) for ids and seed derivation that must not change between builds.
//!
//! std's `DefaultHasher` is explicitly unstable across Rust releases, so anything that ends up in
//! an artifact, a recorded seed or a comparison between a plugin and the host hashes through
//! here. This module owns the hash only; what gets hashed is the caller's business.

/// FNV-1a 64-bit offset basis.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;
/// ASCII unit separator placed between parts, so `("ab", "c")` and `("a", "bc")` differ.
const PART_SEPARATOR: u8 = 0x1f;

/// FNV-1a 64 of `bytes`.
pub fn stable_hash64(bytes: &[u8]) -> u64 {
    fold(OFFSET_BASIS, bytes)
}

/// FNV-1a 64 of `parts` joined by the 0x1f unit separator byte.
///
/// The separator keeps part boundaries significant (`["ab", "c"]` and `["a", "bc"]` hash
/// differently). A part containing 0x1f itself, or the pair `[]` / `[""]`, can still collide;
/// ids are built from plain text where that does not occur.
pub fn stable_hash_parts(parts: &[&str]) -> u64 {
    let mut h = OFFSET_BASIS;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h = fold(h, &[PART_SEPARATOR]);
        }
        h = fold(h, part.as_bytes());
    }
    h
}

/// Eight lowercase hex digits of the high 32 bits of [`stable_hash_parts`], for short ids.
pub fn short_hex(parts: &[&str]) -> String {
    format!("{:08x}", stable_hash_parts(parts) >> 32)
}

/// Continues an FNV-1a 64 state over `bytes`.
fn fold(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_fnv1a_vectors() {
        assert_eq!(stable_hash64(b""), 0xcbf29ce484222325);
        assert_eq!(stable_hash64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(stable_hash64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn parts_vectors() {
        assert_eq!(stable_hash_parts(&[]), 0xcbf29ce484222325);
        assert_eq!(stable_hash_parts(&["foobar"]), 0x85944171f73967e8);
        assert_eq!(stable_hash_parts(&["ab", "c"]), 0xfd86a083ef3eee44);
        assert_eq!(stable_hash_parts(&["a", "bc"]), 0xe8bd15823051e636);
        assert_eq!(stable_hash_parts(&["3x3", "A", "1"]), 0xd898a763a56b1ad7);
        assert_eq!(short_hex(&["3x3", "A", "1"]), "d898a763");
        assert_eq!(short_hex(&[]), "cbf29ce4");
    }

    #[test]
    fn parts_join_with_the_unit_separator() {
        assert_ne!(
            stable_hash_parts(&["ab", "c"]),
            stable_hash_parts(&["a", "bc"])
        );
        assert_eq!(stable_hash_parts(&["ab", "c"]), stable_hash64(b"ab\x1fc"));
        assert_eq!(stable_hash_parts(&["a", "bc"]), stable_hash64(b"a\x1fbc"));
    }

    #[test]
    fn short_hex_is_eight_lowercase_digits_of_the_high_half() {
        for parts in [&["x"][..], &["a", "b"], &["ab.random_token", "42"]] {
            let s = short_hex(parts);
            assert_eq!(s.len(), 8, "{s}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{s}"
            );
            assert_eq!(
                u64::from_str_radix(&s, 16).unwrap(),
                stable_hash_parts(parts) >> 32
            );
        }
    }
}

//! A fast, non-cryptographic hasher for the engine's maps: one folded 64×64→128-bit multiply per 8 bytes
//! (the mixing step of foldhash/wyhash).
//!
//! Why not the std SipHash: the engine does several map lookups per event and SipHash dominated the profile.
//! Why not a plain Fx-style multiply: its low bits depend only on the low bytes of the input, and hashbrown
//! picks buckets from the low bits, so keys that differ only at their end (`1795300000.12345`, `PJSIP/10001`)
//! collide en masse. The folded multiply mixes the high half back in. HashDoS resistance buys nothing here:
//! every key (interface, member name, queue name, uniqueid) comes from the PBX's own configuration and
//! channel naming, not from callers.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Odd multiplier (the fractional digits of π, as in foldhash) and the initial state (digits of e).
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;
const INITIAL: u64 = 0x2b7e_1516_28ae_d2a6;

#[inline]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

#[derive(Debug, Clone, Copy)]
pub struct FoldHasher {
    hash: u64,
}

impl Default for FoldHasher {
    fn default() -> Self {
        Self { hash: INITIAL }
    }
}

impl FoldHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = folded_multiply(self.hash ^ word, MULTIPLIER);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FoldHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn distinct_short_keys_hash_differently() {
        let build = BuildHasherDefault::<FoldHasher>::default();
        let keys = ["PJSIP/10001", "PJSIP/10002", "1795300000.1", "1795300000.10", "q1", "Q1", ""];
        let hashes: FastSet<u64> = keys.iter().map(|k| build.hash_one(k)).collect();
        assert_eq!(hashes.len(), keys.len());
    }

    /// Keys that differ only in their last bytes must spread over the low bits hashbrown uses as bucket
    /// index (the failure mode of a plain multiplicative hash).
    #[test]
    fn keys_differing_at_the_end_spread_over_low_bits() {
        let build = BuildHasherDefault::<FoldHasher>::default();
        const KEYS: u64 = 4096;
        const BUCKET_MASK: u64 = 4095;
        let buckets: FastSet<u64> =
            (0..KEYS).map(|i| build.hash_one(format!("1795300000.{i}")) & BUCKET_MASK).collect();
        // A uniform hash fills about 63% (1 - 1/e) of the buckets.
        assert!(buckets.len() > 2400, "{} of {KEYS} buckets used", buckets.len());
    }
}

//! A keyed, cheap hasher for the stack's lookup tables (4-tuple demux,
//! listeners, ports).
//!
//! CONTRACT: the hash of a key depends on a per-stack secret (`HashKey`,
//! drawn from the stack's seeded generator), so a remote peer that picks
//! addresses and ports cannot aim them at one bucket without knowing the
//! secret: the same idea as Linux's `jhash` keyed by `net_secret` /
//! `inet_ehash_secret`. It is not a cryptographic PRF; it is a folded 64x64->128
//! multiply per 8-byte word (the mixing step of wyhash/foldhash), which costs
//! a few instructions where SipHash-1-3 costs dozens.

use std::hash::{BuildHasher, Hasher};

/// Odd constants from the digits of pi (any odd, dense constants work).
const P0: u64 = 0x243f_6a88_85a3_08d3;
const P1: u64 = 0x1319_8a2e_0370_7344;

/// Multiply to 128 bits and fold the halves together.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The secret of one stack's tables; builds `KeyedHasher`s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashKey {
    k0: u64,
    k1: u64,
}

impl HashKey {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        HashKey { k0, k1: k1 | 1 }
    }

    /// A secret drawn from its own ChaCha stream of the stack's seed (so
    /// the stack's other random sequences stay what they were); `domain`
    /// separates tables.
    pub(crate) fn from_seed(seed: u64, domain: u64) -> Self {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{RngCore, SeedableRng};
        let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x6861_7368_6b65_7931 ^ domain);
        HashKey::new(r.next_u64(), r.next_u64())
    }
}

impl Default for HashKey {
    /// A fixed key, for tables whose keys an attacker does not choose.
    fn default() -> Self {
        HashKey::new(P0, P1)
    }
}

impl BuildHasher for HashKey {
    type Hasher = KeyedHasher;
    #[inline]
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            h: self.k0,
            k: self.k1,
        }
    }
}

/// State of one hash computation.
#[derive(Debug, Clone)]
pub(crate) struct KeyedHasher {
    h: u64,
    k: u64,
}

impl KeyedHasher {
    #[inline(always)]
    fn mix(&mut self, word: u64) {
        self.h = fold_mul(self.h ^ word, self.k ^ P1);
    }
}

impl Hasher for KeyedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.mix(u64::from_le_bytes(b));
        }
        let tail = words.remainder();
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(tail) {
            *d = *s;
        }
        // The length rides in the last word, so "ab" + "" != "a" + "b".
        self.mix(u64::from_le_bytes(b) ^ ((bytes.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A last round so the low bits (hashbrown's bucket index) and the
        // top 7 bits (its control byte) both depend on every input bit.
        fold_mul(self.h, P0 ^ self.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hash_of(key: &HashKey, v: u64) -> u64 {
        let mut h = key.build_hasher();
        h.write_u64(v);
        h.finish()
    }

    #[test]
    fn keyed_and_spread() {
        let (a, b) = (HashKey::new(1, 2), HashKey::new(3, 4));
        assert_ne!(hash_of(&a, 80), hash_of(&b, 80), "the key matters");
        assert_eq!(hash_of(&a, 80), hash_of(&a, 80), "deterministic");
        // Sequential ports land in distinct low-bit buckets (no clustering).
        let buckets: HashSet<u64> = (0..1024u64).map(|p| hash_of(&a, p) & 1023).collect();
        assert!(
            buckets.len() > 550,
            "{} of 1024 buckets used",
            buckets.len()
        );
        let tops: HashSet<u64> = (0..1024u64).map(|p| hash_of(&a, p) >> 57).collect();
        assert!(tops.len() > 100, "{} of 128 control bytes used", tops.len());
    }

    #[test]
    fn byte_writes_include_length() {
        let k = HashKey::default();
        let mut x = k.build_hasher();
        x.write(b"ab");
        x.write(b"");
        let mut y = k.build_hasher();
        y.write(b"a");
        y.write(b"b");
        assert_ne!(x.finish(), y.finish());
    }
}

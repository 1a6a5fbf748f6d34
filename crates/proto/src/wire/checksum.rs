//! The Internet checksum (RFC 1071) with the IPv4 pseudo-header, and its
//! incremental update (RFC 1624).
//!
//! CONTRACT: `sum` returns a wide one's-complement sum congruent (mod 0xffff)
//! to the sum of the big-endian 16-bit words of `data` (an odd last byte is
//! padded with a zero byte, RFC 1071 4.1) plus `initial`. It adds
//! native-endian 8-byte words in add-with-carry chains of up to 64 bytes (one
//! `adc` per word, each chain's last carry added back: end-around carry) into
//! four accumulators (built for AVX2 and up: 4-byte words into one 64-bit
//! total, which needs no carries), folds, and swaps the bytes of the folded
//! 16-bit result once at the end (RFC 1071 2(A) byte-order independence,
//! 2(B) any word size may be used and folded).
//! `fold` reduces it to 16 bits; `checksum` complements that. A buffer that
//! already holds a correct checksum sums to 0xffff.

use super::{IpProtocol, Ipv4Addr};

/// `a + b` with end-around carry (2^64 = 1 mod 0xffff, so a carry adds 1).
#[inline(always)]
fn adc(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    // No overflow: when `c` is set, `s <= u64::MAX - 1`.
    s.wrapping_add(u64::from(c))
}

/// The native-endian word at `at` (inlined with constant offsets into
/// `chunks_exact` pieces, so the length check folds away).
#[inline(always)]
fn ne64(c: &[u8], at: usize) -> u64 {
    c.get(at..at + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_ne_bytes)
}

/// `a + b + carry` and the carry out: the pattern LLVM lowers to one
/// `adc` per word (an add-with-carry chain, the carry kept in the flag).
#[inline(always)]
fn carry_add(a: u64, b: u64, carry: bool) -> (u64, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(u64::from(carry));
    (s, c1 | c2)
}

/// Swap the folded native-endian sum into network order (on little-endian
/// hosts every 16-bit word was read byte-swapped; RFC 1071 2(A)).
#[inline(always)]
fn to_be(wide: u64) -> u64 {
    let native = fold(wide);
    u64::from(if cfg!(target_endian = "little") {
        native.swap_bytes()
    } else {
        native
    })
}

/// One add-with-carry chain over a fixed-size block added to `wide`: an
/// `add`, then one `adc` per 8-byte word (the carry kept in the flag), the
/// last carry added back (end-around carry).
#[inline(always)]
fn chain<const N: usize>(wide: u64, blk: &[u8; N]) -> u64 {
    let (mut acc, mut carry) = (wide, false);
    for w in blk.chunks_exact(8) {
        (acc, carry) = carry_add(acc, ne64(w, 0), carry);
    }
    adc(acc, u64::from(carry))
}

/// One's-complement sum of `data` added to `initial`, not yet folded.
/// Four accumulators: each 256-byte block is four 64-byte add-with-carry
/// chains (`chain`), one into each, and what is left (< 256 bytes) goes as
/// two 64-byte chains, two 32-byte chains, then at most one chain each of
/// 32, 16 and 8 bytes, spread over the accumulators. A chain starts with a
/// plain `add`, so it does not wait for another accumulator's carry flag:
/// the CPU runs the chains side by side. Each chain is latency-bound (one
/// `adc` per cycle); four in flight sum a 1448-byte segment in ~17 ns
/// against ~23 ns for two 128-byte chains (AMD EPYC, session 9), and a
/// segment is still 181 `adc`s and a handful of branches.
///
/// Built for a CPU with 256-bit integer vectors (AVX2 and up, as with `-C
/// target-cpu=native`), LLVM's SLP vectorizer packs the four chains into
/// vector registers and emulates their carries with compares: 84 ns per
/// 1448 bytes with `x86-64-v3` and 108-122 ns with AVX-512 against 17 ns
/// on the baseline (a scratch benchmark, AMD EPYC), and bulk transfer ran
/// at less than half speed. There `sum` is one loop adding 32-bit words
/// into a 64-bit total (`sum_words`), which the loop vectorizer turns into
/// zero-extending vector loads and adds: ~15 ns with `x86-64-v3`, ~11 ns
/// with AVX-512 (session 15). Eight 64-bit lanes, one per word of a
/// 32-byte block, gave 14 and ~35 ns: under AVX-512 the vectorizer took
/// the eight lanes for strided loads and regathered them by shuffles.
#[cfg(not(target_feature = "avx2"))]
pub fn sum(data: &[u8], initial: u64) -> u64 {
    sum_chains(data, initial)
}

/// `sum` on a CPU with 256-bit integer vectors (see the baseline `sum`).
#[cfg(target_feature = "avx2")]
pub fn sum(data: &[u8], initial: u64) -> u64 {
    sum_words(data, initial)
}

/// Bytes `sum_words` takes itself: below 2^32 words (the padded last one
/// included) no sum of 32-bit words can overflow 64 bits.
const WORDS_MAX: u64 = 1 << 34;

/// `sum` as one plain loop that adds each 32-bit word of `data` into a
/// 64-bit total (no carries to keep: 2^32 = 1 mod 0xffff, so the total is
/// congruent to the sum of its 16-bit words), the last 0-3 bytes padded to
/// one more word. It is the reduction LLVM's loop vectorizer knows best:
/// zero-extending loads (`vpmovzxdq`) and adds into four vector
/// accumulators, a one-vector loop and a scalar loop for what is left. A
/// longer slice is cut in two (`sum_halves`).
#[cfg_attr(not(target_feature = "avx2"), allow(dead_code))]
#[inline(always)]
fn sum_words(data: &[u8], initial: u64) -> u64 {
    if data.len() as u64 >= WORDS_MAX {
        return sum_halves(data, initial);
    }
    let words = data.chunks_exact(4);
    let rest = words.remainder();
    let mut wide = 0u64;
    for w in words {
        wide += u64::from(w.first_chunk::<4>().map_or(0, |w| u32::from_ne_bytes(*w)));
    }
    // The last 0-3 bytes (at a multiple of 4) as one more word, zero-padded
    // and built in a register: bytes stored into a zeroed word and loaded
    // back whole would wait for the stores (a store-forwarding stall).
    let b = |i: usize| rest.get(i).copied().unwrap_or(0);
    wide += u64::from(u32::from_ne_bytes([b(0), b(1), b(2), 0]));
    adc(initial, to_be(wide))
}

/// `sum_words` of a slice of 16 GiB or more: two parts cut at a multiple
/// of 4 bytes (so the second starts at an even offset and its sum needs no
/// swap), each summed alone. Out of line, so the chains (which LLVM would
/// vectorize with emulated carries in these builds) are not in `sum` at all.
#[cfg_attr(not(target_feature = "avx2"), allow(dead_code))]
#[cold]
#[inline(never)]
fn sum_halves(data: &[u8], initial: u64) -> u64 {
    let (a, b) = data.split_at(data.len() / 8 * 4);
    adc(sum_words(a, initial), sum_words(b, 0))
}

/// `sum` as add-with-carry chains (the baseline `sum`).
#[cfg_attr(target_feature = "avx2", allow(dead_code))]
#[inline(always)]
fn sum_chains(data: &[u8], initial: u64) -> u64 {
    let (mut a, mut b, mut c, mut d) = (0u64, 0u64, 0u64, 0u64);
    let mut rest = data;
    while let Some((blk, r)) = rest.split_first_chunk::<256>() {
        if let Some([w, x, y, z]) = quarters::<64>(blk) {
            a = chain(a, w);
            b = chain(b, x);
            c = chain(c, y);
            d = chain(d, z);
        }
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<128>() {
        if let Some((x, y)) = blk.split_first_chunk::<64>() {
            if let Ok(y) = <&[u8; 64]>::try_from(y) {
                a = chain(a, x);
                b = chain(b, y);
            }
        }
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<64>() {
        if let Some((x, y)) = blk.split_first_chunk::<32>() {
            if let Ok(y) = <&[u8; 32]>::try_from(y) {
                c = chain(c, x);
                d = chain(d, y);
            }
        }
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<32>() {
        a = chain(a, blk);
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<16>() {
        b = chain(b, blk);
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<8>() {
        c = adc(c, u64::from_ne_bytes(*blk));
        rest = r;
    }
    // A length that is a multiple of 8 (a full-sized segment's) skips the
    // tail's three length tests.
    if !rest.is_empty() {
        d = adc(d, tail(rest));
    }
    adc(initial, to_be(adc(adc(a, b), adc(c, d))))
}

/// `sum` for fewer than 64 bytes (a segment without payload or with a
/// small one, whose checksum every arrival verifies): one add-with-carry
/// chain, no block loops and no accumulators to combine, inlined where the
/// caller knows the length is small. The folded result is `sum`'s: both
/// wide sums are congruent mod 0xffff and zero only for zero data. (Asked
/// inside `sum` itself, the length check changed the long path's code and
/// cost bulk transfer 0.2 % more instructions.)
#[inline(always)]
pub fn sum_short(data: &[u8], initial: u64) -> u64 {
    let mut a = 0u64;
    let mut rest = data;
    if let Some((blk, r)) = rest.split_first_chunk::<32>() {
        a = chain(a, blk);
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<16>() {
        a = chain(a, blk);
        rest = r;
    }
    if let Some((blk, r)) = rest.split_first_chunk::<8>() {
        a = adc(a, u64::from_ne_bytes(*blk));
        rest = r;
    }
    adc(initial, to_be(adc(a, tail(rest))))
}

/// The last bytes of a sum (< 8, at an even offset) as a zero-padded
/// native-endian word, built in a register: the 4-, 2- and 1-byte pieces
/// sit at offsets the length gives (4 bytes at 0, 2 at `n & 4`, 1 at
/// `n & 6`), each loaded and shifted there (constant-size loads, no byte
/// loop, no piece waiting for the one before), which places an odd last
/// byte in the high (first) half of its big-endian 16-bit word (RFC 1071
/// 4.1). Stored into a zeroed word and loaded back whole, the pieces made
/// the load wait for the stores (a store-forwarding stall): a sum whose
/// length was not a multiple of 8 cost ~9.5-10 ns instead of ~3-3.5 (1-63
/// bytes, session 15).
#[inline(always)]
fn tail(rest: &[u8]) -> u64 {
    let n = rest.len();
    let mut t = 0u64;
    if let (true, Some(w)) = (n & 4 != 0, rest.first_chunk::<4>()) {
        t = place(u64::from(u32::from_ne_bytes(*w)), 0, 4);
    }
    let at = n & 4;
    if let (true, Some(w)) = (
        n & 2 != 0,
        rest.get(at..).and_then(<[u8]>::first_chunk::<2>),
    ) {
        t |= place(u64::from(u16::from_ne_bytes(*w)), at as u32, 2);
    }
    let at = n & 6;
    if let (true, Some(&x)) = (n & 1 != 0, rest.get(at)) {
        t |= place(u64::from(x), at as u32, 1);
    }
    t
}

/// `n` bytes read as a native-endian value `v`, moved to byte offset `at`
/// of a native-endian 8-byte word (`at + n <= 8`).
#[inline(always)]
fn place(v: u64, at: u32, n: u32) -> u64 {
    if cfg!(target_endian = "little") {
        v << (8 * at)
    } else {
        v << (64 - 8 * (at + n))
    }
}

/// The first four `M`-byte pieces of `blk` (inlined into `sum` with
/// `blk` a 256-byte array, so every length check folds away).
#[inline(always)]
fn quarters<const M: usize>(blk: &[u8]) -> Option<[&[u8; M]; 4]> {
    let (w, r) = blk.split_first_chunk::<M>()?;
    let (x, r) = r.split_first_chunk::<M>()?;
    let (y, r) = r.split_first_chunk::<M>()?;
    let (z, _) = r.split_first_chunk::<M>()?;
    Some([w, x, y, z])
}

/// `sum` of a fixed-size block (a header built on the stack): the word loop
/// unrolls into straight-line adds.
#[inline(always)]
pub fn sum_array<const N: usize>(data: &[u8; N], initial: u64) -> u64 {
    let mut wide = 0u64;
    for w in data.chunks_exact(8) {
        wide = adc(wide, ne64(w, 0));
    }
    let mut t = [0u8; 8];
    for (d, s) in t.iter_mut().zip(data.chunks_exact(8).remainder()) {
        *d = *s;
    }
    adc(initial, to_be(adc(wide, u64::from_ne_bytes(t))))
}

/// Copy `src` into `dst` (as many bytes as both hold) and return the
/// one's-complement sum of the bytes copied, as `sum(copied, 0)` would: the
/// checksum folded into the copy (issue 7). The copy is glibc's vector
/// `memcpy` and the sum reads the source again while it is in L1: LLVM
/// split a fused 32-byte copy-and-add loop the same way, and a scalar
/// fused loop (load, store, add, adc per word) is slower than both passes.
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    let n = dst.len().min(src.len());
    let (Some(dst), Some(src)) = (dst.get_mut(..n), src.get(..n)) else {
        return 0;
    };
    dst.copy_from_slice(src);
    sum(src, 0)
}

/// `a + b` for two wide sums (end-around carry), e.g. a header's and a
/// payload's summed separately.
pub fn add(a: u64, b: u64) -> u64 {
    adc(a, b)
}

/// The sum of bytes that begin at an odd offset of the checksummed data,
/// given their sum computed as if they began at an even one (RFC 1071 2(B):
/// swapping the bytes of the sum).
pub fn at_odd_offset(sum: u64) -> u64 {
    u64::from(fold(sum).swap_bytes())
}

/// Fold a wide one's-complement sum to 16 bits (not complemented).
pub fn fold(sum: u64) -> u16 {
    let mut s = (sum & 0xffff_ffff) + (sum >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// `fold(sum)` for a non-zero `sum` (e.g. one that includes a header word
/// known to be non-zero): folding keeps the value mod 0xffff and gives a
/// non-zero sum a result in 1..=0xffff, so this is one remainder by a
/// constant (a multiply) instead of four folds. (For 0 it gives 1.)
#[inline(always)]
pub fn fold_nonzero(sum: u64) -> u16 {
    (sum.wrapping_sub(1) % 0xffff + 1) as u16
}

/// True when a wide sum folds to 0xffff (`fold(sum) == 0xffff`): the data
/// it covers, checksum field included, verifies (RFC 1071 1). Folding keeps
/// the value mod 0xffff (2^16 = 1) and gives 0 only for 0, so this is "a
/// non-zero multiple of 0xffff": one remainder by a constant (a multiply)
/// instead of four folds.
#[inline(always)]
pub fn verifies(sum: u64) -> bool {
    sum != 0 && sum % 0xffff == 0
}

/// The checksum of `data`: folded and complemented, ready for the header.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Sum of the IPv4 pseudo-header (RFC 9293 3.1 / RFC 768) for a transport
/// segment of `len` bytes.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, len: u16) -> u64 {
    // 2^16 = 1 (mod 0xffff): a 32-bit address sums like its two 16-bit halves.
    u64::from(u32::from(src))
        + u64::from(u32::from(dst))
        + u64::from(u8::from(proto))
        + u64::from(len)
}

/// RFC 1624 eqn. 3: the new checksum when one 16-bit word changes from `old` to `new`.
/// `HC' = ~(~HC + ~m + m')`, which never yields the -0 pitfall of eqn. 2.
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    let s = u64::from(!checksum) + u64::from(!old) + u64::from(new);
    !fold(s)
}

/// Finish a partial checksum (Linux `skb_checksum_help` for a
/// CHECKSUM_PARTIAL buffer, virtio-net `NEEDS_CSUM`): the 16-bit field at
/// `start + offset` holds the folded pseudo-header sum, not complemented;
/// sum everything from `start` to the end of `data` (the field included)
/// and store the complement there. False, with `data` untouched, when the
/// field lies outside `data`.
pub fn complete_partial(data: &mut [u8], start: usize, offset: usize) -> bool {
    let at = start.saturating_add(offset);
    if at.saturating_add(2) > data.len() {
        return false;
    }
    let c = !fold(sum(data.get(start..).unwrap_or_default(), 0));
    match data.get_mut(at..at + 2) {
        Some(f) => {
            f.copy_from_slice(&c.to_be_bytes());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair.first().copied().unwrap_or(0));
            let lo = u32::from(pair.get(1).copied().unwrap_or(0));
            s += (hi << 8) | lo;
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// `f` folds like the chains for `s` (at alignment `a`) from several
    /// initial values.
    fn sums_like_chains(f: fn(&[u8], u64) -> u64, s: &[u8], a: usize) {
        for initial in [0, 0xffff, u64::MAX - 1] {
            assert_eq!(
                fold(f(s, initial)),
                fold(sum_chains(s, initial)),
                "len {} at {a} initial {initial:#x}",
                s.len()
            );
        }
    }

    /// Both forms of `sum` (only one is `sum` in a given build) agree for
    /// every length up to 600 at every alignment modulo 8 (every way into
    /// and out of the vector loops), and for long ones, on varied bytes
    /// and on all-ones (a carry out of every word), with initial values.
    #[test]
    fn words_match_chains() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 97 + 31) as u8).collect();
        let ones = vec![0xffu8; 70_000];
        for src in [&data[..], &ones[..]] {
            let lens = (0..600).chain([1448, 1449, 1480, 4093, 9000, 65_535, 65_536, 69_990]);
            for n in lens {
                for a in 0..8 {
                    let s = &src[a..a + n];
                    sums_like_chains(sum_words, s, a);
                    assert_eq!(!fold(sum_words(s, 0)), naive(s), "len {n} at {a}");
                }
            }
        }
    }

    /// The cut for slices of 16 GiB or more, tried on short ones: any
    /// length, alignment and initial value sums like the chains.
    #[test]
    fn halves_match_chains() {
        let data: Vec<u8> = (0..1100u32).map(|i| (i * 89 + 5) as u8).collect();
        for a in 0..8 {
            for n in (0..300).chain([1031, 1032, 1033, 1034, 1035]) {
                sums_like_chains(sum_halves, &data[a..a + n], a);
            }
        }
    }

    /// `tail` (and `place`) build the word that copying the last 0-7
    /// bytes into a zeroed 8-byte word gives, byte for byte, for every
    /// length and value pattern (all-ones: every bit of every piece).
    #[test]
    fn tail_matches_padded_word() {
        let data: Vec<u8> = (0..8u32).map(|i| (i * 37 + 11) as u8).collect();
        let ones = [0xffu8; 8];
        for src in [&data[..], &ones[..]] {
            for n in 0..8 {
                let mut t = [0u8; 8];
                t[..n].copy_from_slice(&src[..n]);
                assert_eq!(tail(&src[..n]), u64::from_ne_bytes(t), "len {n}");
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn lengths_match_naive() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(checksum(&data[..n]), naive(&data[..n]), "len {n}");
        }
        assert_eq!(checksum(&[0xff; 100]), naive(&[0xff; 100]));
    }

    #[test]
    fn fold_nonzero_matches_fold() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let edges = [
            1,
            2,
            0xfffe,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff * 7,
            u64::MAX,
            u64::MAX - 1,
        ];
        for v in edges.into_iter().chain((0..100_000).map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> (i % 64)).max(1)
        })) {
            assert_eq!(fold_nonzero(v), fold(v), "{v:#x}");
        }
    }

    #[test]
    fn copy_and_sum_matches_sum() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 53 + 7) as u8).collect();
        for n in 0..data.len() {
            let mut out = vec![0u8; n + 3];
            let s = copy_and_sum(&mut out, &data[..n]);
            assert_eq!(&out[..n], &data[..n], "len {n}");
            assert_eq!(fold(s), fold(sum(&data[..n], 0)), "len {n}");
        }
        // Split at an odd offset: the second half's sum is byte-swapped.
        let (x, y) = data.split_at(101);
        let whole = add(sum(x, 0), at_odd_offset(sum(y, 0)));
        assert_eq!(fold(whole), fold(sum(&data, 0)));
    }

    /// `sum_short` folds like `sum` for every length below 64, from
    /// several initial values, and is zero for zero bytes.
    #[test]
    fn short_sums_match_sum() {
        let data: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..64 {
            for initial in [0, 1, 0xffff, 0x1234_5678_9abc] {
                let s = &data[..len];
                assert_eq!(fold(sum_short(s, initial)), fold(sum(s, initial)), "{len}");
            }
            let zeros = [0u8; 64];
            assert_eq!(sum_short(&zeros[..len], 0), 0);
        }
    }

    /// `sum`, `sum_array` and `copy_and_sum` against the naive 16-bit
    /// loop for every length up to 300 at every source and destination
    /// alignment modulo 8, plus an all-ones buffer (carry-heavy).
    #[test]
    fn all_lengths_and_alignments_match_naive() {
        let data: Vec<u8> = (0..320u32).map(|i| (i * 97 + 31) as u8).collect();
        let ones = [0xffu8; 320];
        for src in [&data[..], &ones[..]] {
            for a in 0..8 {
                for n in 0..300 {
                    let s = &src[a..a + n];
                    let want = naive(s);
                    assert_eq!(!fold(sum(s, 0)), want, "sum len {n} at {a}");
                    for d in [0usize, 1, 3, 7] {
                        let mut out = vec![0u8; n + 8];
                        let got = copy_and_sum(&mut out[d..], s);
                        assert_eq!(&out[d..d + n], s, "copy len {n} at {a}/{d}");
                        assert_eq!(!fold(got), want, "copy_and_sum len {n} at {a}/{d}");
                    }
                }
                let block: [u8; 36] = src[a..a + 36].try_into().unwrap();
                assert_eq!(!fold(sum_array(&block, 0)), naive(&block));
                let block: [u8; 32] = src[a..a + 32].try_into().unwrap();
                assert_eq!(!fold(sum_array(&block, 7)), !fold(sum(&block, 7)));
            }
        }
    }

    /// The 128-byte add-with-carry blocks: several blocks, every remainder,
    /// an all-ones buffer (a carry out of every word) and a non-zero initial.
    #[test]
    fn long_buffers_match_naive() {
        let data: Vec<u8> = (0..1600u32).map(|i| (i * 89 + 5) as u8).collect();
        let ones = [0xffu8; 1600];
        for src in [&data[..], &ones[..]] {
            for n in (0..1600).step_by(7).chain([128, 256, 1448, 1480, 1599]) {
                let s = &src[..n];
                assert_eq!(!fold(sum(s, 0)), naive(s), "len {n}");
                assert_eq!(fold(sum(s, 0xffff_ffff)), fold(add(sum(s, 0), 0xffff_ffff)));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_c5a1), ..Default::default() })]

        /// `sum` (two accumulators, 256-byte blocks, 128..8-byte remainder
        /// chains) against the naive 16-bit loop for any content, offset,
        /// length (every remainder path, several blocks) and initial value.
        #[test]
        fn sum_matches_naive_anywhere(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            start in 0usize..16,
            initial in proptest::prelude::any::<u32>(),
        ) {
            let s = data.get(start.min(data.len())..).unwrap_or_default();
            proptest::prop_assert_eq!(!fold(sum(s, 0)), naive(s));
            proptest::prop_assert_eq!(
                fold(sum(s, u64::from(initial))),
                fold(add(sum(s, 0), u64::from(initial)))
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(0x0dd_5a17), ..Default::default() })]

        /// Any buffer split anywhere (odd lengths and odd offsets, every
        /// 4/2/1-byte tail of both halves, both halves at any alignment)
        /// sums like the whole buffer, the odd-offset half byte-swapped.
        #[test]
        fn split_sums_match_whole(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700),
            start in 0usize..8,
            cut in 0usize..700,
        ) {
            let s = data.get(start.min(data.len())..).unwrap_or_default();
            let (x, y) = s.split_at(cut.min(s.len()));
            let ys = if x.len() % 2 == 1 { at_odd_offset(sum(y, 0)) } else { sum(y, 0) };
            proptest::prop_assert_eq!(!fold(add(sum(x, 0), ys)), naive(s));
            proptest::prop_assert_eq!(!fold(sum(x, 0)), naive(x));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, rng_seed: proptest::test_runner::RngSeed::Fixed(0x0f01_d0ff), ..Default::default() })]

        /// `verifies` is `fold(sum) == 0xffff` for any wide sum, near a
        /// multiple of 0xffff or not.
        #[test]
        fn verifies_matches_fold(
            x in proptest::prelude::any::<u64>(),
            k in proptest::prelude::any::<u64>(),
            d in -2i64..=2,
        ) {
            let near = (k % (u64::MAX / 0xffff + 1)).wrapping_mul(0xffff).wrapping_add_signed(d);
            for s in [x, near, 0, 0xffff, u64::MAX, u64::MAX - 0xffff] {
                proptest::prop_assert_eq!(verifies(s), fold(s) == 0xffff, "sum {:#x}", s);
            }
        }
    }

    #[test]
    fn update_matches_recompute() {
        let mut d = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        let c = checksum(&d);
        d[8] = 0x3f; // TTL 64 -> 63
        assert_eq!(update(c, 0x4001, 0x3f01), checksum(&d));
    }

    #[test]
    fn pseudo_header_sums_words() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let words = [0xc612u64, 0x0001, 0xc612, 0x0002, 6, 40];
        assert_eq!(
            fold(pseudo_header(src, dst, IpProtocol::Tcp, 40)),
            fold(words.iter().sum())
        );
    }
}

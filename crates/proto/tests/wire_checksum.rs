//! The 8-bytes-per-step Internet checksum against a naive byte-pair
//! reference (RFC 1071), the pseudo-header against its 12 bytes, and the
//! RFC 1624 incremental update against recomputation.

use proptest::prelude::*;
use sockstack_proto::wire::checksum::{checksum, fold, pseudo_header, sum, update};
use sockstack_proto::wire::{IpProtocol, Ipv4Addr};

/// RFC 1071 4.1, literally: 16-bit big-endian words, odd byte padded, carries folded.
fn naive_sum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = u32::from(data[i]) << 8;
        let lo = data.get(i + 1).map_or(0, |&b| u32::from(b));
        s += hi | lo;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        i += 2;
    }
    s as u16
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, rng_seed: proptest::test_runner::RngSeed::Fixed(0x005e_edc5), ..ProptestConfig::default() })]

    #[test]
    fn wide_sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        prop_assert_eq!(fold(sum(&data, 0)), naive_sum(&data));
        prop_assert_eq!(checksum(&data), !naive_sum(&data));
    }

    #[test]
    fn initial_is_added(data in proptest::collection::vec(any::<u8>(), 0..200), init in any::<u64>()) {
        // `initial` is a wide sum: it folds the same as its 8 bytes summed.
        let want = naive_sum(&[&init.to_be_bytes()[..], &data[..]].concat());
        prop_assert_eq!(fold(sum(&data, init)), want);
    }

    #[test]
    fn sums_chain_at_even_splits(data in proptest::collection::vec(any::<u8>(), 0..600), cut in any::<prop::sample::Index>()) {
        let at = cut.index(data.len() + 1) & !1;
        let chained = sum(&data[at..], sum(&data[..at], 0));
        prop_assert_eq!(fold(chained), naive_sum(&data));
    }

    #[test]
    fn all_ones_and_zeros(n in 0usize..300, byte in prop_oneof![Just(0u8), Just(0xff)]) {
        let data = vec![byte; n];
        prop_assert_eq!(fold(sum(&data, 0)), naive_sum(&data));
    }

    #[test]
    fn pseudo_header_matches_bytes(src in any::<u32>(), dst in any::<u32>(), proto in any::<u8>(), len in any::<u16>()) {
        let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let mut ph = Vec::new();
        ph.extend_from_slice(&s.octets());
        ph.extend_from_slice(&d.octets());
        ph.extend_from_slice(&[0, proto]);
        ph.extend_from_slice(&len.to_be_bytes());
        prop_assert_eq!(fold(pseudo_header(s, d, IpProtocol::from(proto), len)), naive_sum(&ph));
    }

    #[test]
    fn incremental_update_matches_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 2..200),
        at in any::<prop::sample::Index>(),
        new in any::<u16>(),
    ) {
        let len = data.len() & !1;
        let i = at.index(len / 2) * 2;
        let old = u16::from_be_bytes([data[i], data[i + 1]]);
        let before = checksum(&data);
        data[i..i + 2].copy_from_slice(&new.to_be_bytes());
        let after = checksum(&data);
        let upd = update(before, old, new);
        // Eqn 3 agrees with recomputation, including the -0 cases where eqn 2 fails.
        prop_assert_eq!(upd, after);
    }
}

#[test]
fn rfc1624_example() {
    // RFC 1624 4: the other words sum to 0xcd7a and m = 0x5555 changes to
    // 0x3285. HC = 0xdd2f; recomputation gives 0x0000, which eqn 3 matches
    // (eqn 2 would give 0xffff).
    let before = [0xcd, 0x7a, 0x55, 0x55];
    let after = [0xcd, 0x7a, 0x32, 0x85];
    assert_eq!(checksum(&before), 0xdd2f);
    assert_eq!(checksum(&after), 0x0000);
    assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    // An unchanged word leaves the checksum alone.
    assert_eq!(update(0x1234, 0xabcd, 0xabcd), 0x1234);
}

//! Properties: arbitrary bytes and arbitrary fragment sequences never panic
//! and never grow state past the caps; any order of a datagram's fragments
//! (with exact duplicates) reassembles to the original.

mod iface_common;
use iface_common::*;

use proptest::prelude::*;
use sockstack_proto::wire::{IpProtocol, Ipv4Addr, Ipv4Repr};
use sockstack_proto::{Limits, Stack, StackConfig};

fn small_caps() -> StackConfig {
    let mut c = config();
    c.limits = Limits {
        reasm_mem: 20_000,
        reasm_max_datagrams: 4,
        arp_cache_size: 4,
        tx_queue_packets: 16,
        ..Limits::default()
    };
    c
}

fn frag_frame(ident: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut ip = Ipv4Repr::new(PEER, US, IpProtocol::Udp, data.len());
    ip.ident = ident;
    ip.dont_frag = false;
    ip.frag_offset = offset;
    ip.more_frags = more;
    ip_frame(&ip, data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_never_panic(frames in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..200), 1..20), ip_medium in any::<bool>()) {
        let mut s = if ip_medium {
            Stack::new(StackConfig::ip(US, 24))
        } else {
            stack_with(small_caps())
        };
        let _u = s.udp_bind(Ipv4Addr::UNSPECIFIED, 9);
        for (i, f) in frames.iter().enumerate() {
            let now = ms(i as u64);
            s.handle_frame(now, f);
            let _ = drain(&mut s, now);
            s.handle_timeout(now);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(seed_kind in 0u8..3, flips in proptest::collection::vec(
        (any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut s = stack_with(small_caps());
        learn_peer(&mut s, ms(0));
        let _u = s.udp_bind(Ipv4Addr::UNSPECIFIED, 9);
        let _r = s.raw_icmp_open();
        let mut f = match seed_kind {
            0 => echo_request(1, 1, b"abcdefgh"),
            1 => {
                let udp = udp_bytes(PEER, US, 1, 9, b"payload!");
                ip_frame(&ip_from_peer(IpProtocol::Udp, udp.len()), &udp)
            }
            _ => frag_frame(3, 8, true, &[7; 16]),
        };
        for (i, b) in flips {
            let at = i.index(f.len());
            f[at] = b;
        }
        let keep = cut.index(f.len() + 1).max(f.len() / 2);
        f.truncate(keep);
        s.handle_frame(ms(1), &f);
        let _ = drain(&mut s, ms(1));
    }

    #[test]
    fn arbitrary_fragment_sequences_stay_within_caps(frags in proptest::collection::vec(
        (0u16..6, 0usize..400, 1usize..300, any::<bool>()), 1..80)) {
        let c = small_caps();
        let (mem_cap, dg_cap) = (c.limits.reasm_mem, c.limits.reasm_max_datagrams);
        let mut s = stack_with(c);
        for (i, (ident, off8, len, more)) in frags.into_iter().enumerate() {
            let data = vec![i as u8; len];
            s.handle_frame(ms(i as u64), &frag_frame(ident, off8 * 8, more, &data));
            let (n, mem) = s.reassembly_usage();
            prop_assert!(mem <= mem_cap);
            prop_assert!(n <= dg_cap);
        }
        s.handle_timeout(ms(31_000));
        prop_assert_eq!(s.reassembly_usage(), (0, 0));
    }

    #[test]
    fn any_order_with_duplicates_reassembles(len in 9usize..3000, chunk8 in 1usize..64,
        order in any::<prop::sample::Index>(), dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let mut s = stack_with(config());
        let h = s.udp_bind(US, 9).unwrap();
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let udp = udp_bytes(PEER, US, 1, 9, &payload);
        let chunk = chunk8 * 8;
        let mut frames: Vec<Vec<u8>> = udp
            .chunks(chunk)
            .enumerate()
            .map(|(i, p)| frag_frame(11, i * chunk, (i + 1) * chunk < udp.len(), p))
            .collect();
        for d in &dups {
            let f = frames[d.index(frames.len())].clone();
            frames.push(f);
        }
        // A rotation plus a reversal: a cheap, seeded-by-proptest shuffle.
        let k = order.index(frames.len());
        frames.rotate_left(k);
        if k % 2 == 1 {
            frames.reverse();
        }
        for f in &frames {
            s.handle_frame(ms(1), f);
        }
        let mut buf = vec![0u8; 4000];
        // Duplicates arriving after completion start a new, harmless partial datagram.
        let (n, _) = s.udp_recv_from(h, &mut buf).unwrap();
        prop_assert_eq!(&buf[..n], &payload[..]);
        prop_assert_eq!(s.stats().ipv4.reasm_overlap, 0);
    }
}

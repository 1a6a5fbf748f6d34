//! Round trips for every Repr (emit -> parse -> equal), TCP options in random
//! combinations and random raw layouts, and no panics on arbitrary bytes.

mod wire_util;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::tcp::{MAX_SACK_BLOCKS, MIN_HEADER_LEN};
use sockstack_proto::wire::*;
use wire_util::gen::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        rng_seed: RngSeed::Fixed(0x0005_0c45),
        ..ProptestConfig::default()
    }
}

/// One raw option for the layout-independence property.
#[derive(Debug, Clone)]
enum RawOpt {
    Nop,
    Mss(u16),
    Ws(u8),
    SackPerm,
    Ts(u32, u32),
    Sack(Vec<(u32, u32)>),
    Unknown(u8, Vec<u8>),
}

fn raw_opt() -> impl Strategy<Value = RawOpt> {
    prop_oneof![
        Just(RawOpt::Nop),
        any::<u16>().prop_map(RawOpt::Mss),
        any::<u8>().prop_map(RawOpt::Ws),
        Just(RawOpt::SackPerm),
        any::<(u32, u32)>().prop_map(|(a, b)| RawOpt::Ts(a, b)),
        proptest::collection::vec(any::<(u32, u32)>(), 1..=4).prop_map(RawOpt::Sack),
        (
            any::<u8>().prop_filter("unknown kind", |k| ![0, 1, 2, 3, 4, 5, 8].contains(k)),
            proptest::collection::vec(any::<u8>(), 0..6)
        )
            .prop_map(|(k, d)| RawOpt::Unknown(k, d)),
    ]
}

fn encode_raw(o: &RawOpt, out: &mut Vec<u8>) {
    match o {
        RawOpt::Nop => out.push(1),
        RawOpt::Mss(m) => out.extend_from_slice(&[2, 4, (m >> 8) as u8, *m as u8]),
        RawOpt::Ws(w) => out.extend_from_slice(&[3, 3, *w]),
        RawOpt::SackPerm => out.extend_from_slice(&[4, 2]),
        RawOpt::Ts(a, b) => {
            out.extend_from_slice(&[8, 10]);
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&b.to_be_bytes());
        }
        RawOpt::Sack(blocks) => {
            out.extend_from_slice(&[5, 2 + 8 * blocks.len() as u8]);
            for (l, r) in blocks {
                out.extend_from_slice(&l.to_be_bytes());
                out.extend_from_slice(&r.to_be_bytes());
            }
        }
        RawOpt::Unknown(k, d) => {
            out.extend_from_slice(&[*k, 2 + d.len() as u8]);
            out.extend_from_slice(d);
        }
    }
}

fn segment_with_options(opts: &[u8]) -> Vec<u8> {
    let mut seg = vec![0u8; MIN_HEADER_LEN];
    seg[12] = (((MIN_HEADER_LEN + opts.len()) / 4) as u8) << 4;
    seg.extend_from_slice(opts);
    seg
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ethernet_round_trip(r in ethernet(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut buf = vec![0u8; r.buffer_len() + payload.len()];
        r.emit(&mut buf).unwrap();
        buf[14..].copy_from_slice(&payload);
        let f = EthernetFrame::parse(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&f), r);
        prop_assert_eq!(f.payload(), &payload[..]);
    }

    #[test]
    fn arp_round_trip(r in arp()) {
        let mut buf = [0u8; 28];
        r.emit(&mut buf).unwrap();
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::parse(&buf[..]).unwrap()), r);
    }

    #[test]
    fn ipv4_round_trip(r in ipv4(), pad in 0usize..20) {
        let mut buf = vec![0u8; r.buffer_len() + pad];
        r.emit(&mut buf).unwrap();
        let p = Ipv4Packet::parse(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(p.header_len(), r.header_len());
        prop_assert_eq!(Ipv4Repr::parse(&p), r);
    }

    #[test]
    fn icmp_round_trip((k, ident, seq, data) in icmp_parts()) {
        let r = icmp_repr(&k, ident, seq, &data);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf).unwrap();
        let p = Icmpv4Packet::parse(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        let _ = r.to_string();
    }

    #[test]
    fn udp_round_trip(ports in any::<(u16, u16)>(), src in addr(), dst in addr(),
                      payload in proptest::collection::vec(any::<u8>(), 0..600)) {
        let r = UdpRepr { src_port: ports.0, dst_port: ports.1 };
        let mut buf = vec![0u8; r.buffer_len(payload.len())];
        r.emit(&mut buf, src, dst, &payload).unwrap();
        let p = UdpPacket::parse(&buf[..]).unwrap();
        prop_assert!(p.checksum() != 0);
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(UdpRepr::parse(&p), r);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn tcp_round_trip(f in tcp_fields(), src in addr(), dst in addr(),
                      payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let r = tcp_repr(&f, &payload);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf, src, dst).unwrap();
        let p = TcpPacket::parse(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(p.header_len(), r.header_len());
        prop_assert_eq!(p.header_len() % 4, 0);
        prop_assert!(p.header_len() <= 60);
        let back = TcpRepr::parse(&p);
        // SACK blocks beyond what fits are clamped, the rest survives as is.
        let mut want = r;
        want.sack_len = r.sack_blocks_sent();
        for slot in want.sack_blocks.iter_mut().skip(want.sack_len) {
            *slot = (SeqNum(0), SeqNum(0));
        }
        prop_assert_eq!(back, want);
        // A data segment (no SYN options) always fits 3 blocks with TS, 4 without.
        if r.mss.is_none() && r.window_scale.is_none() && !r.sack_permitted {
            let cap = if r.timestamp.is_some() { 3 } else { 4 };
            prop_assert_eq!(want.sack_len, r.sack_len.min(cap));
        }
        let _ = r.to_string();
    }

    /// Any well-formed option list, in any order, with NOPs, unknown kinds
    /// and an EOL followed by junk, parses to the last value of each option.
    #[test]
    fn tcp_options_any_layout(opts in proptest::collection::vec(raw_opt(), 0..8),
                              junk in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut raw = Vec::new();
        let mut want = TcpRepr::new(0, 0, SeqNum(0), SeqNum(0), TcpFlags(0), 0);
        for o in &opts {
            let mut next = raw.clone();
            encode_raw(o, &mut next);
            if next.len() > 40 {
                break;
            }
            raw = next;
            match o {
                RawOpt::Mss(m) => want.mss = Some(*m),
                RawOpt::Ws(w) => want.window_scale = Some(*w),
                RawOpt::SackPerm => want.sack_permitted = true,
                RawOpt::Ts(a, b) => want.timestamp = Some(TcpTimestamp { tsval: *a, tsecr: *b }),
                RawOpt::Sack(blocks) => {
                    want.sack_blocks = [(SeqNum(0), SeqNum(0)); MAX_SACK_BLOCKS];
                    for (slot, (l, r)) in want.sack_blocks.iter_mut().zip(blocks) {
                        *slot = (SeqNum(*l), SeqNum(*r));
                    }
                    want.sack_len = blocks.len();
                }
                RawOpt::Nop | RawOpt::Unknown(..) => {}
            }
        }
        if raw.len() < 40 {
            raw.push(0); // EOL: what follows is ignored
            raw.extend(junk.iter().take(40 - raw.len()));
        }
        while raw.len() % 4 != 0 {
            raw.push(0);
        }
        let seg = segment_with_options(&raw);
        let p = TcpPacket::parse(&seg[..]).unwrap();
        prop_assert_eq!(TcpRepr::parse(&p), want);
        prop_assert!(p.options_iter().all(|o| o.is_ok()));
    }

    /// Arbitrary option bytes: either accepted (and then every option
    /// iterates cleanly) or `BadOption`; never a panic.
    #[test]
    fn tcp_options_arbitrary(words in proptest::collection::vec(any::<[u8; 4]>(), 0..=10)) {
        let raw: Vec<u8> = words.concat();
        let seg = segment_with_options(&raw);
        match TcpPacket::parse(&seg[..]) {
            Ok(p) => {
                prop_assert!(p.options_iter().all(|o| o.is_ok()));
                let r = TcpRepr::parse(&p);
                let _ = r.to_string();
            }
            Err(e) => prop_assert_eq!(e, WireError::BadOption),
        }
    }

    /// Every parser on arbitrary bytes: no panics, accessors are total.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(f) = EthernetFrame::parse(&bytes[..]) {
            let _ = (EthernetRepr::parse(&f), f.payload());
        }
        if let Ok(p) = ArpPacket::parse(&bytes[..]) {
            let _ = ArpRepr::parse(&p).to_string();
        }
        for p in [Ipv4Packet::parse(&bytes[..]), Ipv4Packet::parse_quoted(&bytes[..])]
            .into_iter()
            .flatten()
        {
            let r = Ipv4Repr::parse(&p);
            let _ = (p.verify_checksum(), p.payload(), p.options(), p.as_bytes(), r.to_string());
            prop_assert!(p.payload().len() <= bytes.len());
        }
        if let Ok(p) = Icmpv4Packet::parse(&bytes[..]) {
            let _ = p.verify_checksum();
            if let Ok(r) = Icmpv4Repr::parse(&p) {
                let _ = r.to_string();
            }
        }
        if let Ok(p) = UdpPacket::parse(&bytes[..]) {
            let _ = (UdpRepr::parse(&p), p.payload(), p.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
        }
        if let Ok(p) = TcpPacket::parse(&bytes[..]) {
            let _ = (TcpRepr::parse(&p).to_string(), p.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
        }
    }
}

#[test]
fn emit_rejects_short_buffers() {
    let r = TcpRepr::new(1, 2, SeqNum(3), SeqNum(4), TcpFlags(TcpFlags::SYN), 5);
    let a = Ipv4Addr::LOCALHOST;
    assert_eq!(r.emit(&mut [0u8; 19], a, a), Err(WireError::Truncated));
    let big = vec![0u8; 65536];
    let mut r2 = r;
    r2.payload = &big;
    assert_eq!(
        r2.emit(&mut vec![0u8; 70000], a, a),
        Err(WireError::BadLength)
    );
    let u = UdpRepr {
        src_port: 1,
        dst_port: 2,
    };
    assert_eq!(
        u.emit(&mut vec![0u8; 70000], a, a, &big),
        Err(WireError::BadLength)
    );
    let mut ip = Ipv4Repr::new(a, a, IpProtocol::Tcp, 65516);
    assert_eq!(ip.emit(&mut [0u8; 20]), Err(WireError::BadLength));
    ip.payload_len = 65515;
    assert_eq!(ip.emit(&mut [0u8; 19]), Err(WireError::Truncated));
    ip.emit(&mut [0u8; 20]).unwrap();
}

//! Cross-check against an independent implementation, `etherparse`:
//! packets emitted by us are parsed by etherparse and every field compared
//! (checksums included), and headers written by etherparse, with options in
//! its own layout, are parsed by us.

mod wire_util;

use etherparse as ep;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::*;
use wire_util::gen::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        rng_seed: RngSeed::Fixed(0x00e7_4e12),
        ..ProptestConfig::default()
    }
}

/// Our Ethernet + IPv4 (random options) + transport, as one frame.
fn frame(eth: EthernetRepr, ip: &Ipv4Repr, body: &[u8]) -> Vec<u8> {
    let mut eth = eth;
    eth.ethertype = EtherType::Ipv4;
    let mut ip = *ip;
    ip.payload_len = body.len();
    ip.more_frags = false;
    ip.frag_offset = 0;
    let mut out = vec![0u8; 14 + ip.buffer_len()];
    eth.emit(&mut out).unwrap();
    ip.emit(&mut out[14..]).unwrap();
    out[14 + ip.header_len()..].copy_from_slice(body);
    out
}

/// Check the Ethernet and IPv4 headers of `frame` with etherparse; return its IPv4 header and payload.
fn check_eth_ip<'a>(
    frame: &'a [u8],
    eth: &EthernetRepr,
    ip: &Ipv4Repr,
) -> Result<(ep::Ipv4Header, &'a [u8]), TestCaseError> {
    let (e, rest) = ep::Ethernet2Header::from_slice(frame).unwrap();
    prop_assert_eq!(e.source, eth.src.0);
    prop_assert_eq!(e.destination, eth.dst.0);
    prop_assert_eq!(e.ether_type, ep::EtherType::IPV4);
    let (h, payload) = ep::Ipv4Header::from_slice(rest).unwrap();
    prop_assert_eq!(h.source, ip.src.octets());
    prop_assert_eq!(h.destination, ip.dst.octets());
    prop_assert_eq!(h.time_to_live, ip.ttl);
    prop_assert_eq!((h.dscp.value() << 2) | h.ecn.value(), ip.tos);
    prop_assert_eq!(h.identification, ip.ident);
    prop_assert_eq!(h.dont_fragment, ip.dont_frag);
    prop_assert!(!h.more_fragments);
    prop_assert_eq!(h.fragment_offset.value(), 0);
    prop_assert_eq!(h.options.as_slice(), ip.options());
    prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
    prop_assert_eq!(usize::from(h.total_len), rest.len());
    Ok((h, payload))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn our_ipv4_with_fragments_parsed_by_etherparse(ip in ipv4()) {
        let mut buf = vec![0u8; ip.buffer_len()];
        ip.emit(&mut buf).unwrap();
        let (h, payload) = ep::Ipv4Header::from_slice(&buf).unwrap();
        prop_assert_eq!(h.more_fragments, ip.more_frags);
        prop_assert_eq!(usize::from(h.fragment_offset.value()) * 8, ip.frag_offset);
        prop_assert_eq!(h.protocol.0, u8::from(ip.protocol));
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(payload.len(), ip.payload_len);
    }

    #[test]
    fn our_tcp_parsed_by_etherparse(eth in ethernet(), ip in ipv4(), f in tcp_fields(),
                                    payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let tcp = tcp_repr(&f, &payload);
        let mut seg = vec![0u8; tcp.buffer_len()];
        tcp.emit(&mut seg, ip.src, ip.dst).unwrap();
        let mut ip = ip;
        ip.protocol = IpProtocol::Tcp;
        let fr = frame(eth, &ip, &seg);
        let (h, rest) = check_eth_ip(&fr, &eth, &ip)?;
        prop_assert_eq!(h.protocol, ep::IpNumber::TCP);
        let (t, data) = ep::TcpHeader::from_slice(rest).unwrap();
        prop_assert_eq!((t.source_port, t.destination_port), (tcp.src_port, tcp.dst_port));
        prop_assert_eq!((t.sequence_number, t.acknowledgment_number), (tcp.seq.0, tcp.ack.0));
        let flags = [t.fin, t.syn, t.rst, t.psh, t.ack, t.urg, t.ece, t.cwr]
            .iter()
            .enumerate()
            .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << i));
        prop_assert_eq!(flags, tcp.flags.0);
        prop_assert_eq!(t.window_size, tcp.window);
        prop_assert_eq!(t.urgent_pointer, tcp.urgent);
        prop_assert_eq!(data, &payload[..]);
        prop_assert_eq!(t.header_len(), tcp.header_len());
        prop_assert_eq!(t.checksum, t.calc_checksum_ipv4(&h, data).unwrap());
        let (mut mss, mut ws, mut sp, mut ts, mut sacks) = (None, None, false, None, Vec::new());
        for o in t.options_iterator() {
            match o.unwrap() {
                ep::TcpOptionElement::Noop => {}
                ep::TcpOptionElement::MaximumSegmentSize(m) => mss = Some(m),
                ep::TcpOptionElement::WindowScale(w) => ws = Some(w),
                ep::TcpOptionElement::SelectiveAcknowledgementPermitted => sp = true,
                ep::TcpOptionElement::Timestamp(a, b) => ts = Some(TcpTimestamp { tsval: a, tsecr: b }),
                ep::TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                    sacks.push(first);
                    sacks.extend(rest.iter().flatten());
                }
            }
        }
        prop_assert_eq!(mss, tcp.mss);
        prop_assert_eq!(ws, tcp.window_scale);
        prop_assert_eq!(sp, tcp.sack_permitted);
        prop_assert_eq!(ts, tcp.timestamp);
        let want: Vec<(u32, u32)> = tcp.sack_blocks[..tcp.sack_blocks_sent()]
            .iter()
            .map(|(l, r)| (l.0, r.0))
            .collect();
        prop_assert_eq!(sacks, want);
    }

    #[test]
    fn our_udp_parsed_by_etherparse(eth in ethernet(), ip in ipv4(), ports in any::<(u16, u16)>(),
                                    payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let udp = UdpRepr { src_port: ports.0, dst_port: ports.1 };
        let mut dgram = vec![0u8; udp.buffer_len(payload.len())];
        udp.emit(&mut dgram, ip.src, ip.dst, &payload).unwrap();
        let mut ip = ip;
        ip.protocol = IpProtocol::Udp;
        let fr = frame(eth, &ip, &dgram);
        let (h, rest) = check_eth_ip(&fr, &eth, &ip)?;
        let (u, data) = ep::UdpHeader::from_slice(rest).unwrap();
        prop_assert_eq!((u.source_port, u.destination_port), ports);
        prop_assert_eq!(usize::from(u.length), dgram.len());
        prop_assert_eq!(data, &payload[..]);
        // etherparse also sends a computed zero as 0xffff.
        prop_assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, data).unwrap());
    }

    #[test]
    fn our_icmp_parsed_by_etherparse((k, ident, seq, data) in icmp_parts()) {
        let r = icmp_repr(&k, ident, seq, &data);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf).unwrap();
        let (h, rest) = ep::Icmpv4Header::from_slice(&buf).unwrap();
        prop_assert_eq!(rest, &data[..]);
        prop_assert_eq!(h.checksum, h.icmp_type.calc_checksum(rest));
        match (r, h.icmp_type) {
            (Icmpv4Repr::EchoRequest { ident, seq_no, .. }, ep::Icmpv4Type::EchoRequest(e))
            | (Icmpv4Repr::EchoReply { ident, seq_no, .. }, ep::Icmpv4Type::EchoReply(e)) => {
                prop_assert_eq!((e.id, e.seq), (ident, seq_no));
            }
            (Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, .. }, ep::Icmpv4Type::DestinationUnreachable(d)) => {
                prop_assert_eq!(d.code_u8(), u8::from(reason));
                if let ep::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: m } = d {
                    prop_assert_eq!(m, next_hop_mtu);
                }
            }
            (Icmpv4Repr::DstUnreachable { reason, .. }, ep::Icmpv4Type::Unknown { type_u8: 3, code_u8, bytes5to8 }) => {
                // Codes etherparse does not name (16 and up).
                prop_assert_eq!(code_u8, u8::from(reason));
                prop_assert_eq!(bytes5to8, [0; 4]);
            }
            (Icmpv4Repr::TimeExceeded { reason, .. }, ep::Icmpv4Type::TimeExceeded(c)) => {
                prop_assert_eq!(c.code_u8(), u8::from(reason));
            }
            (Icmpv4Repr::TimeExceeded { reason, .. }, ep::Icmpv4Type::Unknown { type_u8: 11, code_u8, .. }) => {
                prop_assert_eq!(code_u8, u8::from(reason));
            }
            (r, t) => prop_assert!(false, "{:?} vs {:?}", r, t),
        }
    }

    #[test]
    fn our_arp_parsed_by_etherparse(r in arp()) {
        let mut buf = [0u8; 28];
        r.emit(&mut buf).unwrap();
        let a = ep::ArpPacket::from_slice(&buf).unwrap().try_eth_ipv4().unwrap();
        let op = match r.operation { ArpOperation::Request => ep::ArpOperation::REQUEST, ArpOperation::Reply => ep::ArpOperation::REPLY };
        prop_assert_eq!(a.operation, op);
        prop_assert_eq!(a.sender_mac, r.sender_mac.0);
        prop_assert_eq!(a.sender_ipv4, r.sender_ip.octets());
        prop_assert_eq!(a.target_mac, r.target_mac.0);
        prop_assert_eq!(a.target_ipv4, r.target_ip.octets());
        // And back: etherparse's bytes are ours.
        prop_assert_eq!(a.to_bytes(), buf);
    }

    /// The reverse direction: etherparse writes, we parse.
    #[test]
    fn etherparse_tcp_parsed_by_us(
        ports in any::<(u16, u16)>(), seq in any::<u32>(), ack in any::<u32>(), win in any::<u16>(),
        flags in any::<u8>(), urg in any::<u16>(),
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        mss in proptest::option::of(any::<u16>()), ws in proptest::option::of(any::<u8>()),
        sp in any::<bool>(), ts in proptest::option::of(any::<(u32, u32)>()),
        sacks in proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut t = ep::TcpHeader::new(ports.0, ports.1, seq, win);
        t.acknowledgment_number = ack;
        t.fin = flags & 1 != 0;
        t.syn = flags & 2 != 0;
        t.rst = flags & 4 != 0;
        t.psh = flags & 8 != 0;
        t.ack = flags & 16 != 0;
        t.urg = flags & 32 != 0;
        t.ece = flags & 64 != 0;
        t.cwr = flags & 128 != 0;
        t.urgent_pointer = urg;
        let mut opts = Vec::new();
        if let Some(m) = mss { opts.push(ep::TcpOptionElement::MaximumSegmentSize(m)); }
        if let Some(w) = ws { opts.push(ep::TcpOptionElement::WindowScale(w)); }
        if sp { opts.push(ep::TcpOptionElement::SelectiveAcknowledgementPermitted); }
        if let Some((a, b)) = ts { opts.push(ep::TcpOptionElement::Timestamp(a, b)); }
        let mut sack_in = sacks.clone();
        if let Some((&first, rest)) = sacks.split_first() {
            let mut more = [None; 3];
            for (slot, &b) in more.iter_mut().zip(rest) { *slot = Some(b); }
            opts.push(ep::TcpOptionElement::SelectiveAcknowledgement(first, more));
        }
        if t.set_options(&opts).is_err() {
            // Does not fit in 40 bytes: retry without SACK.
            opts.retain(|o| !matches!(o, ep::TcpOptionElement::SelectiveAcknowledgement(..)));
            t.set_options(&opts).unwrap();
            sack_in.clear();
        }
        t.checksum = t.calc_checksum_ipv4_raw(src, dst, &payload).unwrap();
        let mut bytes = t.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let p = TcpPacket::parse(&bytes[..]).unwrap();
        prop_assert!(p.verify_checksum(src.into(), dst.into()));
        let r = TcpRepr::parse(&p);
        prop_assert_eq!((r.src_port, r.dst_port), ports);
        prop_assert_eq!((r.seq, r.ack), (SeqNum(seq), SeqNum(ack)));
        prop_assert_eq!(r.flags.0, flags);
        prop_assert_eq!((r.window, r.urgent), (win, urg));
        prop_assert_eq!(r.mss, mss);
        prop_assert_eq!(r.window_scale, ws);
        prop_assert_eq!(r.sack_permitted, sp);
        prop_assert_eq!(r.timestamp, ts.map(|(a, b)| TcpTimestamp { tsval: a, tsecr: b }));
        let got: Vec<(u32, u32)> = r.sack_blocks[..r.sack_len].iter().map(|(l, r)| (l.0, r.0)).collect();
        prop_assert_eq!(got, sack_in);
        prop_assert_eq!(r.payload, &payload[..]);
    }

    #[test]
    fn etherparse_ipv4_udp_parsed_by_us(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), ttl in any::<u8>(), id in any::<u16>(),
        df in any::<bool>(), ports in any::<(u16, u16)>(),
        opt_words in 0usize..=10, opt_byte in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let u = ep::UdpHeader::with_ipv4_checksum(ports.0, ports.1,
            &ep::Ipv4Header::new((8 + payload.len()) as u16, ttl, ep::IpNumber::UDP, src, dst).unwrap(),
            &payload).unwrap();
        let mut h = ep::Ipv4Header::new(u.length, ttl, ep::IpNumber::UDP, src, dst).unwrap();
        h.identification = id;
        h.dont_fragment = df;
        let opts = vec![opt_byte; opt_words * 4];
        h.options = ep::Ipv4Options::try_from(&opts[..]).unwrap();
        h.set_payload_len(usize::from(u.length)).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&u.to_bytes());
        bytes.extend_from_slice(&payload);
        let p = Ipv4Packet::parse(&bytes[..]).unwrap();
        prop_assert!(p.verify_checksum());
        let r = Ipv4Repr::parse(&p);
        prop_assert_eq!((r.src, r.dst), (Ipv4Addr::from(src), Ipv4Addr::from(dst)));
        prop_assert_eq!((r.ttl, r.ident, r.dont_frag), (ttl, id, df));
        prop_assert_eq!(r.options(), &opts[..]);
        prop_assert_eq!(r.protocol, IpProtocol::Udp);
        let up = UdpPacket::parse(p.payload()).unwrap();
        prop_assert!(up.verify_checksum(r.src, r.dst));
        prop_assert_eq!((up.src_port(), up.dst_port()), ports);
        prop_assert_eq!(up.payload(), &payload[..]);
    }
}

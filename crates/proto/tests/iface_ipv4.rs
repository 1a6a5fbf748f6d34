//! IPv4 ingress validation, fragmentation out, reassembly in.

mod iface_common;
use iface_common::*;

use sockstack_proto::wire::{IpProtocol, Ipv4Addr, Ipv4Repr};
use sockstack_proto::{Duration, Limits, Stack, StackConfig};
use std::net::SocketAddrV4;

/// Fragments (header, payload) of `payload` from the peer, `chunk` bytes each.
fn fragments(protocol: IpProtocol, ident: u16, payload: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, piece)| {
            let mut ip = Ipv4Repr::new(PEER, US, protocol, piece.len());
            ip.ident = ident;
            ip.dont_frag = false;
            ip.frag_offset = i * chunk;
            ip.more_frags = (i + 1) * chunk < payload.len();
            ip_frame(&ip, piece)
        })
        .collect()
}

fn udp_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn bad_packets_are_counted_not_delivered() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let h = s.udp_bind(US, 7).unwrap();
    let udp = udp_bytes(PEER, US, 1, 7, b"x");
    let good = ip_from_peer(IpProtocol::Udp, udp.len());
    // Header checksum.
    let mut f = ip_frame(&good, &udp);
    f[14 + 10] ^= 1;
    s.handle_frame(ms(1), &f);
    // TTL 0.
    let mut ip = good;
    ip.ttl = 0;
    s.handle_frame(ms(1), &ip_frame(&ip, &udp));
    // Not ours.
    let mut ip = good;
    ip.dst = Ipv4Addr::new(198, 18, 0, 3);
    s.handle_frame(ms(1), &ip_frame(&ip, &udp));
    // Bad sources: broadcast, ours, multicast.
    for src in [Ipv4Addr::BROADCAST, US, Ipv4Addr::new(224, 0, 0, 1)] {
        let mut ip = good;
        ip.src = src;
        s.handle_frame(ms(1), &ip_frame(&ip, &udp));
    }
    // Malformed: version 6, truncated, total length beyond the frame.
    let mut f = ip_frame(&good, &udp);
    f[14] = 0x65;
    s.handle_frame(ms(1), &f);
    let f = ip_frame(&good, &udp);
    s.handle_frame(ms(1), &f[..14 + 10]);
    let mut f = ip_frame(&good, &udp);
    f[14 + 2] = 0x10;
    s.handle_frame(ms(1), &f);
    let st = s.stats().ipv4.clone();
    assert_eq!(st.rx_bad_checksum, 1);
    assert_eq!(st.rx_ttl_zero, 1);
    assert_eq!(st.rx_not_ours, 1);
    assert_eq!(st.rx_bad_source, 3);
    assert_eq!(st.malformed.total(), 3);
    assert_eq!(st.rx_delivered, 0);
    assert_eq!(s.udp_queued(h), Some(0));
    assert!(
        drain(&mut s, ms(1)).is_empty(),
        "no errors sent for any of them"
    );
    // And a good one, with Ethernet padding after it, is delivered.
    let mut f = ip_frame(&good, &udp);
    f.extend_from_slice(&[0; 20]);
    s.handle_frame(ms(2), &f);
    assert_eq!(s.udp_queued(h), Some(1));
    // Frames for another MAC and other EtherTypes.
    let mut f = ip_frame(&good, &udp);
    f[0] = 0x04;
    s.handle_frame(ms(2), &f);
    let mut f = ip_frame(&good, &udp);
    f[12] = 0x86;
    f[13] = 0xdd;
    s.handle_frame(ms(2), &f);
    assert_eq!(s.stats().ethernet.rx_not_ours, 1);
    assert_eq!(s.stats().ethernet.rx_unknown_ethertype, 1);
}

#[test]
fn large_udp_goes_out_in_fragments_and_reassembles_on_a_peer() {
    let mut a = stack();
    learn_peer(&mut a, ms(0));
    let h = a.udp_bind(US, 7).unwrap();
    let data = udp_payload(4000);
    a.udp_send_to(h, SocketAddrV4::new(PEER, 9), &data).unwrap();
    let out = drain(&mut a, ms(1));
    assert_eq!(out.len(), 3);
    let parsed: Vec<_> = out.iter().map(|f| expect_ip(f)).collect();
    let ident = parsed[0].1.ident;
    let mut expect_off = 0;
    for (i, (_, ip, p)) in parsed.iter().enumerate() {
        assert_eq!(ip.ident, ident);
        assert!(!ip.dont_frag);
        assert_eq!(ip.frag_offset, expect_off);
        assert_eq!(ip.more_frags, i < 2);
        assert!(ip.buffer_len() <= 1500);
        expect_off += p.len();
    }
    assert_eq!(expect_off, 4008);
    assert_eq!(a.stats().ipv4.frag_creates, 3);
    // Deliver them, reversed, to a peer stack at PEER.
    let mut b = stack_with(StackConfig::ethernet(PEER_MAC, PEER, 24));
    let hb = b.udp_bind(PEER, 9).unwrap();
    for f in out.iter().rev() {
        b.handle_frame(ms(2), f);
    }
    let mut buf = vec![0u8; 5000];
    let (n, from) = b.udp_recv_from(hb, &mut buf).unwrap();
    assert_eq!(&buf[..n], &data[..]);
    assert_eq!(from, SocketAddrV4::new(US, 7));
    assert_eq!(b.stats().ipv4.reasm_oks, 1);
    assert_eq!(b.stats().ipv4.reasm_reqds, 3);
    assert_eq!(b.reassembly_usage(), (0, 0));
}

#[test]
fn fragmented_ping_in_order_gets_fragmented_reply() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let data = udp_payload(3000);
    let icmp = icmp_bytes(&sockstack_proto::wire::Icmpv4Repr::EchoRequest {
        ident: 3,
        seq_no: 4,
        data: &data,
    });
    for f in fragments(IpProtocol::Icmp, 77, &icmp, 1480) {
        s.handle_frame(ms(1), &f);
    }
    let out = drain(&mut s, ms(1));
    assert_eq!(out.len(), 3, "3008 bytes of ICMP in 1480-byte pieces");
    let mut b = stack_with(StackConfig::ethernet(PEER_MAC, PEER, 24));
    let r = b.raw_icmp_open().unwrap();
    for f in &out {
        b.handle_frame(ms(2), f);
    }
    let mut buf = vec![0u8; 4000];
    let n = b.raw_icmp_recv(r, &mut buf).unwrap();
    let (ip, p) = parse_ip(&buf[..n]);
    assert_eq!(ip.payload_len, 3008);
    assert_eq!(
        parse_icmp(&p),
        Icmp::EchoReply {
            ident: 3,
            seq_no: 4,
            data
        }
    );
}

#[test]
fn overlapping_fragments_discard_the_datagram() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let h = s.udp_bind(US, 9).unwrap();
    let udp = udp_bytes(PEER, US, 1, 9, &udp_payload(100));
    let frags = fragments(IpProtocol::Udp, 5, &udp, 32);
    s.handle_frame(ms(1), &frags[0]);
    s.handle_frame(ms(1), &frags[0]);
    assert_eq!(s.stats().ipv4.reasm_duplicates, 1);
    // A fragment at offset 16 of 32 bytes overlaps the first.
    let mut ip = Ipv4Repr::new(PEER, US, IpProtocol::Udp, 32);
    ip.ident = 5;
    ip.dont_frag = false;
    ip.more_frags = true;
    ip.frag_offset = 16;
    s.handle_frame(ms(1), &ip_frame(&ip, &udp[16..48]));
    assert_eq!(s.stats().ipv4.reasm_overlap, 1);
    assert_eq!(s.reassembly_usage(), (0, 0));
    for f in &frags[1..] {
        s.handle_frame(ms(1), f);
    }
    assert_eq!(s.udp_queued(h), Some(0), "the datagram never completes");
}

#[test]
fn reassembly_timeout_sends_time_exceeded_once_first_fragment_seen() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let udp = udp_bytes(PEER, US, 1, 9, &udp_payload(100));
    let frags = fragments(IpProtocol::Udp, 6, &udp, 32);
    s.handle_frame(ms(0), &frags[0]);
    s.handle_frame(ms(0), &frags[2]);
    // A second datagram without its first fragment: dropped silently.
    let other = fragments(IpProtocol::Udp, 7, &udp, 32);
    s.handle_frame(ms(10), &other[1]);
    assert_eq!(s.reassembly_usage().0, 2);
    assert_eq!(s.poll_at(), Some(ms(30_000)));
    s.handle_timeout(ms(29_999));
    assert_eq!(s.reassembly_usage().0, 2);
    s.handle_timeout(ms(30_010));
    assert_eq!(s.reassembly_usage(), (0, 0));
    assert_eq!(s.stats().ipv4.reasm_timeout, 2);
    let out = drain(&mut s, ms(30_010));
    // The peer's ARP entry went stale at 30 s too: the error, then a probe.
    assert_eq!(out.len(), 2);
    expect_arp(&out[1]);
    let (_, _, p) = expect_ip(&out[0]);
    match parse_icmp(&p) {
        Icmp::TimeExceeded { code, quoted } => {
            assert_eq!(code, 1);
            assert_eq!(quoted.len(), 28, "header plus 8 bytes");
            assert_eq!(&quoted[20..], &udp[..8]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reassembly_memory_cap_drops_and_counts() {
    let mut c = config();
    c.limits = Limits {
        reasm_mem: 10_000,
        ..Limits::default()
    };
    let mut s = stack_with(c);
    learn_peer(&mut s, ms(0));
    let payload = udp_payload(2000);
    for ident in 0..20u16 {
        let frags = fragments(IpProtocol::Udp, ident, &payload, 1000);
        s.handle_frame(ms(1), &frags[0]);
    }
    let (n, mem) = s.reassembly_usage();
    assert!(mem <= 10_000);
    assert_eq!(n, 9);
    assert_eq!(s.stats().ipv4.reasm_over_mem, 11);
    // Ping of death: offset + length beyond 65,535.
    let mut ip = Ipv4Repr::new(PEER, US, IpProtocol::Icmp, 16);
    ip.dont_frag = false;
    ip.frag_offset = 65_520;
    s.handle_frame(ms(2), &ip_frame(&ip, &[0; 16]));
    assert_eq!(s.stats().ipv4.reasm_too_big, 1);
}

#[test]
fn small_mtu_fragments_udp_and_oversize_is_refused() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let r = s.raw_icmp_open().unwrap();
    let mut c = config();
    c.mtu = 576;
    let mut small = stack_with(c);
    let h = small.udp_bind(US, 7).unwrap();
    // UDP larger than the MTU is fragmented, never refused.
    small
        .udp_send_to(h, SocketAddrV4::new(PEER, 9), &[0; 1000])
        .unwrap();
    assert_eq!(small.stats().ipv4.frag_oks, 1);
    let too_big = vec![0u8; 70_000];
    assert!(s.raw_icmp_send(r, PEER, &too_big).is_err());
}

#[test]
fn hostile_bytes_never_panic() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let _h = s.udp_bind(Ipv4Addr::UNSPECIFIED, 9).unwrap();
    let _r = s.raw_icmp_open().unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let udp = udp_bytes(PEER, US, 1, 9, b"seed");
    let base = ip_frame(&ip_from_peer(IpProtocol::Udp, udp.len()), &udp);
    let icmp_base = echo_request(1, 2, b"abcdefgh");
    for i in 0..20_000u64 {
        let mut f = if i % 2 == 0 {
            base.clone()
        } else {
            icmp_base.clone()
        };
        let flips = next() % 4 + 1;
        for _ in 0..flips {
            let pos = (next() as usize) % f.len();
            f[pos] = next() as u8;
        }
        let cut = (next() as usize) % (f.len() + 1);
        f.truncate(cut.max(f.len() / 2));
        s.handle_frame(ms(1 + i), &f);
        let _ = drain(&mut s, ms(1 + i));
        s.handle_timeout(ms(1 + i));
    }
    let total: u64 = s.stats().rows().iter().map(|r| r.value).sum();
    assert!(total > 0);
    let _ = Duration::ZERO;
    let _ = Stack::new(StackConfig::ip(US, 0));
}

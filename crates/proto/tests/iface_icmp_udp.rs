//! ICMP echo and errors, UDP sockets, raw ICMP sockets.

mod iface_common;
use iface_common::*;

use sockstack_proto::udp::{IcmpReport, RecvError, SendError};
use sockstack_proto::wire::{
    DstUnreachable, EtherType, Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Repr, MacAddr,
};
use sockstack_proto::{Duration, StackConfig};
use std::net::SocketAddrV4;

#[test]
fn echo_reply_bytes_are_right() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let data: Vec<u8> = (0..56u8).collect();
    s.handle_frame(ms(1), &echo_request(0x1234, 7, &data));
    let out = drain(&mut s, ms(1));
    assert_eq!(out.len(), 1);
    let (e, ip, payload) = expect_ip(&out[0]);
    assert_eq!(
        (e.src, e.dst, e.ethertype),
        (US_MAC, PEER_MAC, EtherType::Ipv4)
    );
    assert_eq!((ip.src, ip.dst, ip.protocol), (US, PEER, IpProtocol::Icmp));
    assert_eq!(ip.ttl, 64);
    assert_eq!(ip.payload_len, 64);
    assert_eq!(
        parse_icmp(&payload),
        Icmp::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data
        }
    );
    let st = s.stats();
    assert_eq!((st.icmp.rx_echo_requests, st.icmp.tx_echo_replies), (1, 1));
    assert_eq!((st.ipv4.rx_packets, st.ipv4.rx_delivered), (1, 1));
}

#[test]
fn echo_is_rate_limited_by_a_token_bucket() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    for i in 0..60 {
        s.handle_frame(ms(10), &echo_request(1, i, b"abc"));
    }
    assert_eq!(drain(&mut s, ms(10)).len(), 50, "burst of 50");
    assert_eq!(s.stats().icmp.ratelimited_echo, 10);
    // 1000/s: five more tokens after 5 ms.
    for i in 0..10 {
        s.handle_frame(ms(15), &echo_request(1, 100 + i, b"abc"));
    }
    assert_eq!(drain(&mut s, ms(15)).len(), 5);
}

#[test]
fn echo_to_broadcast_is_ignored() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let icmp = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: b"x",
    });
    let ip = Ipv4Repr::new(
        PEER,
        Ipv4Addr::new(198, 18, 0, 255),
        IpProtocol::Icmp,
        icmp.len(),
    );
    let f = eth(
        MacAddr::BROADCAST,
        PEER_MAC,
        EtherType::Ipv4,
        &ip_bytes(&ip, &icmp),
    );
    s.handle_frame(ms(1), &f);
    assert!(drain(&mut s, ms(1)).is_empty());
    assert_eq!(s.stats().icmp.rx_echo_broadcast_ignored, 1);
}

#[test]
fn closed_udp_port_gets_port_unreachable_with_quote() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let udp = udp_bytes(PEER, US, 5555, 9, b"knock knock");
    let ip = ip_from_peer(IpProtocol::Udp, udp.len());
    let sent = ip_bytes(&ip, &udp);
    s.handle_frame(ms(1), &ip_frame(&ip, &udp));
    let out = drain(&mut s, ms(1));
    assert_eq!(out.len(), 1);
    let (e, rip, payload) = expect_ip(&out[0]);
    assert_eq!((e.dst, rip.dst), (PEER_MAC, PEER));
    match parse_icmp(&payload) {
        Icmp::Unreachable { code, quoted } => {
            assert_eq!(code, 3);
            assert_eq!(quoted, sent, "whole small datagram quoted");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.stats().udp.rx_no_ports, 1);
    assert_eq!(s.stats().icmp.tx_dest_unreachable, 1);
}

#[test]
fn port_unreachable_is_rate_limited_and_never_for_broadcast() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let udp = udp_bytes(PEER, US, 5555, 9, b"x");
    let ip = ip_from_peer(IpProtocol::Udp, udp.len());
    for _ in 0..10 {
        s.handle_frame(ms(1), &ip_frame(&ip, &udp));
    }
    // Linux: one destination gets a burst of 6, then one per second.
    assert_eq!(drain(&mut s, ms(1)).len(), 6);
    assert_eq!(s.stats().icmp.ratelimited_errors, 4);
    s.handle_frame(ms(1001), &ip_frame(&ip, &udp));
    s.handle_frame(ms(1001), &ip_frame(&ip, &udp));
    assert_eq!(drain(&mut s, ms(1001)).len(), 1);
    // Many destinations: the global bucket (burst 50) caps the total.
    let mut s = stack();
    for last in 10..80u8 {
        let src = Ipv4Addr::new(198, 18, 0, last);
        let udp = udp_bytes(src, US, 5555, 9, b"x");
        let mut ip = Ipv4Repr::new(src, US, IpProtocol::Udp, udp.len());
        ip.ident = u16::from(last);
        s.handle_frame(
            ms(1),
            &eth(US_MAC, PEER_MAC, EtherType::Ipv4, &ip_bytes(&ip, &udp)),
        );
    }
    assert_eq!(s.stats().icmp.tx_dest_unreachable, 50);
    assert_eq!(s.stats().icmp.ratelimited_errors, 20);
    // A broadcast to a closed port: counted, never answered.
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let bcast = Ipv4Addr::BROADCAST;
    let udp = udp_bytes(PEER, bcast, 5555, 9, b"x");
    let ip = Ipv4Repr::new(PEER, bcast, IpProtocol::Udp, udp.len());
    let f = eth(
        MacAddr::BROADCAST,
        PEER_MAC,
        EtherType::Ipv4,
        &ip_bytes(&ip, &udp),
    );
    s.handle_frame(ms(1), &f);
    assert!(drain(&mut s, ms(1)).is_empty());
    assert_eq!(s.stats().udp.rx_no_ports, 1);
    // Unicast IP in a link-layer broadcast frame: no error either.
    let udp = udp_bytes(PEER, US, 5555, 9, b"x");
    let ip = ip_from_peer(IpProtocol::Udp, udp.len());
    let f = eth(
        MacAddr::BROADCAST,
        PEER_MAC,
        EtherType::Ipv4,
        &ip_bytes(&ip, &udp),
    );
    s.handle_frame(ms(2), &f);
    assert!(drain(&mut s, ms(2)).is_empty());
}

#[test]
fn unknown_protocol_gets_protocol_unreachable() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let ip = ip_from_peer(IpProtocol::Other(99), 4);
    s.handle_frame(ms(1), &ip_frame(&ip, &[1, 2, 3, 4]));
    let out = drain(&mut s, ms(1));
    assert_eq!(out.len(), 1, "protocol unreachable");
    let (_, _, payload) = expect_ip(&out[0]);
    assert!(matches!(
        parse_icmp(&payload),
        Icmp::Unreachable { code: 2, .. }
    ));
    assert_eq!(s.stats().ipv4.rx_unknown_protocol, 1);
}

#[test]
fn udp_send_and_receive() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let h = s.udp_bind(Ipv4Addr::UNSPECIFIED, 53).unwrap();
    let udp = udp_bytes(PEER, US, 5555, 53, b"query");
    s.handle_frame(
        ms(1),
        &ip_frame(&ip_from_peer(IpProtocol::Udp, udp.len()), &udp),
    );
    assert_eq!(s.udp_queued(h), Some(1));
    let mut buf = [0u8; 64];
    let (n, from) = s.udp_recv_from(h, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"query");
    assert_eq!(from, SocketAddrV4::new(PEER, 5555));
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::WouldBlock));
    assert_eq!(s.udp_send_to(h, from, b"answer"), Ok(6));
    let out = drain(&mut s, ms(1));
    let (_, ip, p) = expect_ip(&out[0]);
    assert!(ip.dont_frag, "fits the MTU: DF set");
    assert_eq!(parse_udp(&ip, &p), (53, 5555, b"answer".to_vec()));
    // Bad checksum: counted, not delivered.
    let mut udp = udp_bytes(PEER, US, 5555, 53, b"query");
    udp[6] ^= 0xff;
    s.handle_frame(
        ms(2),
        &ip_frame(&ip_from_peer(IpProtocol::Udp, udp.len()), &udp),
    );
    assert_eq!(s.stats().udp.rx_bad_checksum, 1);
    assert_eq!(s.udp_queued(h), Some(0));
    assert!(s.udp_close(h));
    assert_eq!(s.udp_send_to(h, from, b"x"), Err(SendError::InvalidHandle));
    assert_eq!(s.udp_recv_from(h, &mut buf), Err(RecvError::InvalidHandle));
}

#[test]
fn icmp_error_reaches_the_udp_socket() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let h = s.udp_bind(US, 0).unwrap();
    s.udp_send_to(h, SocketAddrV4::new(PEER, 9), b"hello")
        .unwrap();
    let out = drain(&mut s, ms(1));
    let (_, _, _) = expect_ip(&out[0]);
    let our_dgram = &out[0][14..];
    let err = icmp_bytes(&Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::PortUnreachable,
        next_hop_mtu: 0,
        quoted: our_dgram,
    });
    s.handle_frame(
        ms(2),
        &ip_frame(&ip_from_peer(IpProtocol::Icmp, err.len()), &err),
    );
    assert_eq!(
        s.udp_take_error(h),
        Some(IcmpReport::Unreachable { code: 3 })
    );
    assert_eq!(s.udp_take_error(h), None);
    assert_eq!(s.stats().udp.rx_icmp_errors, 1);
    // A quote of someone else's datagram is not believed.
    let mut foreign = our_dgram.to_vec();
    foreign[12..16].copy_from_slice(&[198, 18, 0, 99]);
    let err = icmp_bytes(&Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::PortUnreachable,
        next_hop_mtu: 0,
        quoted: &foreign,
    });
    s.handle_frame(
        ms(3),
        &ip_frame(&ip_from_peer(IpProtocol::Icmp, err.len()), &err),
    );
    assert_eq!(s.stats().icmp.rx_bad_quote, 1);
    assert_eq!(s.udp_take_error(h), None);
}

#[test]
fn raw_icmp_socket_pings() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let r = s.raw_icmp_open().unwrap();
    let req = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident: 99,
        seq_no: 1,
        data: b"ping!",
    });
    let mut unchecked = req.clone();
    unchecked[2] = 0;
    unchecked[3] = 0;
    assert_eq!(s.raw_icmp_send(r, PEER, &unchecked), Ok(req.len()));
    let out = drain(&mut s, ms(1));
    let (_, ip, p) = expect_ip(&out[0]);
    assert_eq!(ip.protocol, IpProtocol::Icmp);
    assert_eq!(p, req, "stack filled in the checksum");
    // The peer's reply lands on the raw socket with its IPv4 header.
    let rep = icmp_bytes(&Icmpv4Repr::EchoReply {
        ident: 99,
        seq_no: 1,
        data: b"ping!",
    });
    let rip = ip_from_peer(IpProtocol::Icmp, rep.len());
    s.handle_frame(ms(2), &ip_frame(&rip, &rep));
    let mut buf = [0u8; 128];
    let n = s.raw_icmp_recv(r, &mut buf).unwrap();
    assert_eq!(&buf[..n], &ip_bytes(&rip, &rep)[..]);
    assert_eq!(s.raw_icmp_recv(r, &mut buf), Err(RecvError::WouldBlock));
    assert!(s.raw_icmp_close(r));
    assert_eq!(
        s.raw_icmp_send(r, PEER, &req),
        Err(SendError::InvalidHandle)
    );
}

#[test]
fn ip_medium_answers_ping_without_arp() {
    let mut s = sockstack_proto::Stack::new(StackConfig::ip(US, 24));
    assert_eq!(s.poll_at(), None, "no announcement on a TUN");
    let icmp = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident: 5,
        seq_no: 6,
        data: b"tun",
    });
    let pkt = ip_bytes(&ip_from_peer(IpProtocol::Icmp, icmp.len()), &icmp);
    s.handle_frame(ms(1), &pkt);
    let mut buf = [0u8; 1500];
    let n = s.poll_transmit(ms(1), &mut buf).unwrap();
    let (ip, p) = parse_ip(&buf[..n]);
    assert_eq!((ip.src, ip.dst), (US, PEER));
    assert!(matches!(
        parse_icmp(&p),
        Icmp::EchoReply {
            ident: 5,
            seq_no: 6,
            ..
        }
    ));
    assert_eq!(s.poll_transmit(ms(1), &mut buf), None);
    // Off-link destinations go to the device too.
    let h = s.raw_icmp_open().unwrap();
    s.raw_icmp_send(h, Ipv4Addr::new(198, 19, 1, 1), &icmp)
        .unwrap();
    assert!(s.poll_transmit(ms(2), &mut buf).is_some());
    let _ = Duration::ZERO;
}

#[test]
fn datagrams_to_our_own_address_loop_back() {
    let mut s = stack();
    let a = s.udp_bind(US, 1000).unwrap();
    let b = s.udp_bind(Ipv4Addr::UNSPECIFIED, 2000).unwrap();
    s.udp_send_to(a, SocketAddrV4::new(US, 2000), b"self")
        .unwrap();
    // Closed port on ourselves: the port unreachable comes back to `a`.
    s.udp_send_to(a, SocketAddrV4::new(US, 2001), b"nobody")
        .unwrap();
    let r = s.raw_icmp_open().unwrap();
    let req = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"me",
    });
    s.raw_icmp_send(r, US, &req).unwrap();
    assert!(drain(&mut s, ms(1)).is_empty(), "nothing on the link");
    let mut buf = [0u8; 64];
    assert_eq!(
        s.udp_recv_from(b, &mut buf),
        Ok((4, SocketAddrV4::new(US, 1000)))
    );
    assert_eq!(
        s.udp_take_error(a),
        Some(IcmpReport::Unreachable { code: 3 })
    );
    let mut kinds = Vec::new();
    while let Ok(n) = s.raw_icmp_recv(r, &mut buf) {
        let (_, p) = parse_ip(&buf[..n]);
        kinds.push(match parse_icmp(&p) {
            Icmp::EchoRequest { .. } => "request",
            Icmp::EchoReply { .. } => "reply",
            Icmp::Unreachable { .. } => "unreachable",
            Icmp::TimeExceeded { .. } => "time exceeded",
        });
    }
    assert_eq!(kinds, ["request", "unreachable", "reply"], "FIFO order");
}

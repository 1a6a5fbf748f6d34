//! ARP: announcement, replies, learning, resolution with retries, give-up,
//! pending-queue cap, one outstanding request, expiry and re-probe.

mod iface_common;
use iface_common::*;

use sockstack_proto::wire::{ArpOperation, EtherType, IpProtocol, MacAddr};
use sockstack_proto::{Duration, Limits, Stack, StackConfig};
use std::net::SocketAddrV4;

#[test]
fn gratuitous_arp_once_at_start() {
    let mut s = Stack::new(config());
    assert_eq!(s.poll_at(), Some(ms(0)), "output ready at start");
    let out = drain(&mut s, ms(0));
    assert_eq!(out.len(), 1);
    let (e, a) = expect_arp(&out[0]);
    assert_eq!(e.dst, MacAddr::BROADCAST);
    assert_eq!(e.src, US_MAC);
    assert_eq!(a.operation, ArpOperation::Request);
    assert_eq!((a.sender_ip, a.target_ip), (US, US));
    assert_eq!(a.sender_mac, US_MAC);
    assert!(drain(&mut s, ms(5)).is_empty());
    assert_eq!(s.stats().arp.tx_gratuitous, 1);
    assert_eq!(s.poll_at(), None);
}

#[test]
fn answers_request_for_us_and_learns_sender() {
    let mut s = stack();
    let req = arp(
        ArpOperation::Request,
        PEER_MAC,
        PEER,
        MacAddr::default(),
        US,
    );
    s.handle_frame(ms(1), &req);
    let out = drain(&mut s, ms(1));
    assert_eq!(out.len(), 1);
    let (e, a) = expect_arp(&out[0]);
    assert_eq!(
        (e.dst, e.src, e.ethertype),
        (PEER_MAC, US_MAC, EtherType::Arp)
    );
    assert_eq!(a.operation, ArpOperation::Reply);
    assert_eq!((a.sender_mac, a.sender_ip), (US_MAC, US));
    assert_eq!((a.target_mac, a.target_ip), (PEER_MAC, PEER));
    assert_eq!(s.arp_cache_len(), 1);
    assert_eq!(s.stats().arp.learned, 1);
    // Known now: a datagram goes straight out, no request.
    let h = s.udp_bind(US, 4000).unwrap();
    s.udp_send_to(h, SocketAddrV4::new(PEER, 9), b"hi").unwrap();
    let out = drain(&mut s, ms(2));
    assert_eq!(out.len(), 1);
    let (e, ip, _) = expect_ip(&out[0]);
    assert_eq!(e.dst, PEER_MAC);
    assert_eq!(ip.protocol, IpProtocol::Udp);
}

#[test]
fn ignores_requests_for_others_and_conflicts() {
    let mut s = stack();
    let other = std::net::Ipv4Addr::new(198, 18, 0, 77);
    s.handle_frame(
        ms(1),
        &arp(
            ArpOperation::Request,
            PEER_MAC,
            PEER,
            MacAddr::default(),
            other,
        ),
    );
    assert!(drain(&mut s, ms(1)).is_empty());
    assert_eq!(s.stats().arp.rx_not_for_us, 1);
    assert_eq!(s.arp_cache_len(), 0, "not learned: request was not for us");
    s.handle_frame(
        ms(2),
        &arp(
            ArpOperation::Request,
            PEER_MAC,
            US,
            MacAddr::default(),
            other,
        ),
    );
    assert_eq!(s.stats().arp.rx_address_conflict, 1);
    s.handle_frame(ms(3), &[0u8; 20]);
    s.handle_frame(ms(3), &eth(US_MAC, PEER_MAC, EtherType::Arp, &[1, 2, 3]));
    assert_eq!(s.stats().arp.malformed.total(), 1);
    assert_eq!(s.stats().ethernet.rx_frames, 4);
}

#[test]
fn resolves_with_retries_then_gives_up() {
    let mut c = config();
    c.limits.arp_pending_per_neighbour = 3;
    let mut s = stack_with(c);
    let h = s.udp_bind(US, 4000).unwrap();
    let dst = SocketAddrV4::new(PEER, 9);
    for _ in 0..4 {
        s.udp_send_to(h, dst, b"x").unwrap();
    }
    let out = drain(&mut s, ms(0));
    assert_eq!(out.len(), 1, "one request, packets parked");
    let (e, a) = expect_arp(&out[0]);
    assert_eq!(e.dst, MacAddr::BROADCAST);
    assert_eq!(
        (a.operation, a.target_ip, a.sender_ip),
        (ArpOperation::Request, PEER, US)
    );
    assert_eq!(s.stats().arp.pending_overflow, 1, "cap of 3 pending");
    // More traffic before the retry interval: still one outstanding request.
    s.udp_send_to(h, dst, b"y").unwrap();
    assert!(drain(&mut s, ms(500)).is_empty());
    assert_eq!(s.stats().arp.pending_overflow, 2);
    assert_eq!(s.poll_at(), Some(ms(1000)));
    for t in [1000, 2000] {
        s.handle_timeout(ms(t));
        let out = drain(&mut s, ms(t));
        assert_eq!(out.len(), 1, "retry at {t}");
        expect_arp(&out[0]);
    }
    assert_eq!(s.stats().arp.tx_requests, 3);
    assert_eq!(s.poll_at(), Some(ms(3000)));
    s.handle_timeout(ms(2999));
    assert_eq!(s.stats().arp.resolution_failed, 0);
    s.handle_timeout(ms(3000));
    assert!(drain(&mut s, ms(3000)).is_empty(), "no fourth request");
    assert_eq!(s.stats().arp.resolution_failed, 1);
    assert_eq!(s.stats().arp.pending_dropped, 3);
    assert_eq!(s.arp_cache_len(), 0);
    // The sender hears "host unreachable", as on Linux.
    assert_eq!(
        s.udp_take_error(h),
        Some(sockstack_proto::udp::IcmpReport::Unreachable { code: 1 })
    );
    assert_eq!(s.poll_at(), None);
}

#[test]
fn reply_releases_pending_packets_in_order() {
    let mut s = stack();
    let h = s.udp_bind(US, 4000).unwrap();
    for d in [b"a", b"b", b"c"] {
        s.udp_send_to(h, SocketAddrV4::new(PEER, 9), d).unwrap();
    }
    assert_eq!(drain(&mut s, ms(0)).len(), 1);
    let reply = arp(ArpOperation::Reply, PEER_MAC, PEER, US_MAC, US);
    s.handle_frame(ms(3), &reply);
    let out = drain(&mut s, ms(3));
    assert_eq!(out.len(), 3);
    let payloads: Vec<Vec<u8>> = out
        .iter()
        .map(|f| {
            let (e, ip, p) = expect_ip(f);
            assert_eq!(e.dst, PEER_MAC);
            parse_udp(&ip, &p).2
        })
        .collect();
    assert_eq!(payloads, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(s.poll_at(), None);
    // An unsolicited reply, even one targeting us, does not create an entry.
    let stranger = std::net::Ipv4Addr::new(198, 18, 0, 60);
    s.handle_frame(
        ms(4),
        &arp(
            ArpOperation::Reply,
            MacAddr([2, 0, 0, 0, 0, 60]),
            stranger,
            US_MAC,
            US,
        ),
    );
    assert_eq!(s.arp_cache_len(), 1);
    let stranger = std::net::Ipv4Addr::new(198, 18, 0, 50);
    s.handle_frame(
        ms(4),
        &arp(
            ArpOperation::Reply,
            MacAddr([2, 0, 0, 0, 0, 50]),
            stranger,
            US_MAC,
            std::net::Ipv4Addr::new(198, 18, 0, 51),
        ),
    );
    assert_eq!(s.arp_cache_len(), 1);
}

#[test]
fn expired_entry_is_used_and_reprobed_by_unicast() {
    let mut s = stack();
    learn_peer(&mut s, ms(0));
    let h = s.udp_bind(US, 4000).unwrap();
    let later = ms(0) + Duration::from_secs(31);
    s.udp_send_to(h, SocketAddrV4::new(PEER, 9), b"z").unwrap();
    let out = drain(&mut s, later);
    assert_eq!(out.len(), 2, "datagram with the stale MAC, then a probe");
    let (e, _, _) = expect_ip(&out[0]);
    assert_eq!(e.dst, PEER_MAC);
    let (e, a) = expect_arp(&out[1]);
    assert_eq!((e.dst, a.target_ip), (PEER_MAC, PEER));
    assert_eq!(s.stats().arp.expired, 1);
    // The peer answers: reachable again, no more probes.
    s.handle_frame(later, &arp(ArpOperation::Reply, PEER_MAC, PEER, US_MAC, US));
    s.handle_timeout(later + Duration::from_secs(5));
    assert!(drain(&mut s, later + Duration::from_secs(5)).is_empty());
    assert_eq!(s.poll_at(), None);
}

#[test]
fn cache_full_of_unresolved_entries_drops_and_counts() {
    let mut c = config();
    c.limits = Limits {
        arp_cache_size: 2,
        ..Limits::default()
    };
    let mut s = stack_with(c);
    let h = s.udp_bind(US, 4000).unwrap();
    for last in 10..13u8 {
        let dst = SocketAddrV4::new(std::net::Ipv4Addr::new(198, 18, 0, last), 9);
        s.udp_send_to(h, dst, b"q").unwrap();
    }
    let out = drain(&mut s, ms(0));
    assert_eq!(out.len(), 2, "two requests; third address has no slot");
    assert_eq!(s.stats().arp.cache_full, 1);
    assert_eq!(s.arp_cache_len(), 2);
}

#[test]
fn no_route_off_link_without_gateway_and_gateway_used_with_one() {
    let mut s = stack();
    let h = s.udp_bind(US, 4000).unwrap();
    let far = SocketAddrV4::new(std::net::Ipv4Addr::new(198, 19, 5, 5), 9);
    assert_eq!(
        s.udp_send_to(h, far, b"x"),
        Err(sockstack_proto::udp::SendError::NoRoute)
    );
    assert_eq!(s.stats().ipv4.tx_no_route, 1);
    let mut c = config();
    c.gateway = Some(PEER);
    let mut s = stack_with(c);
    let h = s.udp_bind(US, 4000).unwrap();
    s.udp_send_to(h, far, b"x").unwrap();
    let out = drain(&mut s, ms(0));
    let (_, a) = expect_arp(&out[0]);
    assert_eq!(a.target_ip, PEER, "ARP for the gateway");
    s.handle_frame(ms(1), &arp(ArpOperation::Reply, PEER_MAC, PEER, US_MAC, US));
    let out = drain(&mut s, ms(1));
    let (e, ip, _) = expect_ip(&out[0]);
    assert_eq!((e.dst, ip.dst), (PEER_MAC, *far.ip()));
    let _ = StackConfig::ip(US, 24);
}

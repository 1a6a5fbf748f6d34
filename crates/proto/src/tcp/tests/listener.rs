//! Listener queues, demux, ports.

use super::harness::*;
use crate::sockets::{AcceptError, BindError};
use crate::tcp::{SeqNum, State};
use crate::wire::Ipv4Addr;

#[test]
fn accept_queue_overflow_backlog_8_with_100_clients() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let mut isns = Vec::new();
    for i in 0..100u16 {
        h.deliver(ms(0), seg().sport(10_000 + i).syn().seq(100));
        let v = h.sent(ms(0));
        if let Some(sa) = v.first() {
            assert!(sa.is_synack());
            isns.push((i, sa.seq()));
            h.deliver(ms(0), seg().sport(10_000 + i).seq(101).ack(sa.seq() + 1));
        }
    }
    // Linux holds backlog + 1 established connections; later SYNs are dropped.
    assert_eq!(
        h.set
            .snapshot()
            .iter()
            .filter(|r| r.state == State::Established)
            .count(),
        9
    );
    assert!(h.set.tcp_stats().listen_overflows >= 91);
    let row = h
        .set
        .snapshot()
        .into_iter()
        .find(|r| r.state == State::Listen)
        .unwrap();
    assert_eq!(row.recv_q, 9);
    assert_eq!(row.send_q, 8);
    let mut accepted = 0;
    while let Ok(c) = h.set.accept(l) {
        assert_eq!(h.set.local_addr(c).unwrap().port(), LPORT);
        accepted += 1;
    }
    assert_eq!(accepted, 9);
    assert_eq!(h.set.accept(l), Err(AcceptError::WouldBlock));
}

#[test]
fn full_accept_queue_drops_final_ack_and_retries_synack() {
    let mut h = Harness::new();
    let l = h.listen(0); // holds one
    h.deliver(ms(0), seg().sport(1).syn().seq(100));
    let sa = h.expect(ms(0));
    h.deliver(ms(0), seg().sport(1).seq(101).ack(sa.seq() + 1));
    // Second client: SYN accepted (queue has 1 > 0? no: 1 > 0 is full).
    h.deliver(ms(0), seg().sport(2).syn().seq(200));
    h.expect_none(ms(0));
    assert_eq!(h.set.tcp_stats().listen_overflows, 1);
    // Now: a child in SYN_RECV when the queue fills.
    let c1 = h.set.accept(l).unwrap();
    h.deliver(ms(1), seg().sport(3).syn().seq(300));
    let sa3 = h.expect(ms(1));
    h.deliver(ms(1), seg().sport(4).syn().seq(400));
    let sa4 = h.expect(ms(1));
    h.deliver(ms(2), seg().sport(3).seq(301).ack(sa3.seq() + 1));
    // The queue is full (1 entry, backlog 0): port 4's final ACK is dropped.
    h.deliver(ms(2), seg().sport(4).seq(401).ack(sa4.seq() + 1));
    assert_eq!(h.set.tcp_stats().listen_overflows, 2);
    assert!(h
        .set
        .snapshot()
        .iter()
        .any(|r| r.state == State::SynReceived));
    // The SYN-ACK is retransmitted at 1 s.
    let v = h.sent(ms(1001));
    assert!(v.iter().any(|s| s.is_synack() && s.repr.dst_port == 4));
    // After accept() the client's next ACK completes the handshake.
    let _c3 = h.set.accept(l).unwrap();
    h.deliver(ms(1002), seg().sport(4).seq(401).ack(sa4.seq() + 1));
    let c4 = h.set.accept(l).unwrap();
    assert_eq!(h.state(c4), Some(State::Established));
    let _ = c1;
}

#[test]
fn synack_retries_then_child_vanishes() {
    let mut h = Harness::new();
    h.listen(8);
    h.deliver(ms(0), seg().syn().seq(100));
    let first = h.expect(ms(0));
    let mut times = Vec::new();
    let mut t = 0;
    while t < 200_000 {
        t += 100;
        for s in h.sent(ms(t)) {
            assert!(s.is_synack());
            assert_eq!(s.seq(), first.seq());
            times.push(t);
        }
    }
    // 5 retries at 1, 3, 7, 15, 31 s; gone at 63 s.
    assert_eq!(times, vec![1000, 3000, 7000, 15000, 31000]);
    assert_eq!(h.set.len(), 1);
}

#[test]
fn retransmitted_syn_gets_synack_again() {
    let mut h = Harness::new();
    h.listen(8);
    h.deliver(ms(0), seg().syn().seq(100));
    let a = h.expect(ms(0));
    h.deliver(ms(10), seg().syn().seq(100));
    let b = h.expect(ms(10));
    assert!(b.is_synack());
    assert_eq!(a.seq(), b.seq());
    assert_eq!(b.ack(), SeqNum(101));
}

#[test]
fn many_connections_share_the_port() {
    let mut h = Harness::new();
    let l = h.listen(128);
    for i in 0..50u16 {
        h.deliver(ms(0), seg().sport(20_000 + i).syn().seq(1));
        let sa = h.sent(ms(0)).into_iter().find(|s| s.is_synack()).unwrap();
        h.deliver(
            ms(0),
            seg()
                .sport(20_000 + i)
                .seq(2)
                .ack(sa.seq() + 1)
                .data(&[i as u8]),
        );
    }
    h.sent(ms(0));
    for _ in 0..50 {
        let c = h.set.accept(l).unwrap();
        let peer = h.set.peer_addr(c).unwrap().port();
        let mut b = [0u8; 2];
        assert_eq!(h.set.recv(c, &mut b), Ok(1));
        assert_eq!(u16::from(b[0]), peer - 20_000);
    }
}

#[test]
fn bind_conflicts_and_reuseaddr() {
    let mut h = Harness::new();
    let a = h.set.tcp_socket().unwrap();
    h.set.bind(a, Ipv4Addr::UNSPECIFIED, 7000).unwrap();
    let b = h.set.tcp_socket().unwrap();
    assert_eq!(h.set.bind(b, LOCAL, 7000), Err(BindError::AddrInUse));
    assert_eq!(
        h.set.bind(b, Ipv4Addr::new(1, 2, 3, 4), 7001),
        Err(BindError::AddrNotAvail)
    );
    h.set.bind(b, LOCAL, 7001).unwrap();
    assert_eq!(h.set.bind(b, LOCAL, 7002), Err(BindError::Invalid));
    // Ephemeral bind.
    let c = h.set.tcp_socket().unwrap();
    h.set.bind(c, Ipv4Addr::UNSPECIFIED, 0).unwrap();
    let p = h.set.local_addr(c).unwrap().port();
    assert!((32768..=60999).contains(&p));
}

#[test]
fn reuseaddr_lets_listener_rebind_over_time_wait() {
    let mut h = Harness::new();
    let l = h.set.tcp_socket().unwrap();
    h.set.set_reuse_addr(l, true).unwrap();
    h.set.bind(l, Ipv4Addr::UNSPECIFIED, LPORT).unwrap();
    h.set.listen(l, 8).unwrap();
    h.deliver(ms(0), seg().syn().seq(1000));
    let sa = h.expect(ms(0));
    h.deliver(ms(0), seg().seq(1001).ack(sa.seq() + 1));
    let c = h.set.accept(l).unwrap();
    h.set.close(c).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001).ack(sa.seq() + 2).fin());
    h.expect(ms(1));
    h.set.close(l).unwrap();
    assert!(h.set.snapshot().iter().any(|r| r.state == State::TimeWait));
    // Without SO_REUSEADDR: in use.
    let x = h.set.tcp_socket().unwrap();
    assert_eq!(
        h.set.bind(x, Ipv4Addr::UNSPECIFIED, LPORT),
        Err(BindError::AddrInUse)
    );
    // With it: fine, and the new listener works while TIME_WAIT lingers.
    h.set.set_reuse_addr(x, true).unwrap();
    h.set.bind(x, Ipv4Addr::UNSPECIFIED, LPORT).unwrap();
    h.set.listen(x, 8).unwrap();
    h.deliver(ms(2), seg().sport(RPORT + 1).syn().seq(1));
    assert!(h.expect(ms(2)).is_synack());
}

#[test]
fn closing_listener_resets_queued_connections() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000));
    let sa = h.expect(ms(0));
    h.deliver(ms(0), seg().seq(1001).ack(sa.seq() + 1));
    h.set.close(l).unwrap();
    let r = h.expect(ms(1));
    assert!(r.is_rst());
    assert_eq!(h.set.len(), 0);
    // The port is closed now.
    h.deliver(ms(2), seg().sport(5).syn().seq(1));
    assert!(h.expect(ms(2)).is_rst());
}

#[test]
fn ephemeral_ports_exhaust_to_addr_not_avail() {
    let mut p = crate::tcp::Profile::linux();
    p.ephemeral_ports = (40000, 40003);
    let mut h = Harness::with_profile(p);
    for _ in 0..4 {
        let c = h.set.tcp_socket().unwrap();
        h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    }
    let c = h.set.tcp_socket().unwrap();
    assert_eq!(
        h.set.connect(ms(0), c, REMOTE, RPORT),
        Err(crate::sockets::ConnectError::AddrNotAvail)
    );
    // Another destination can reuse the same ports.
    h.set.connect(ms(0), c, REMOTE, RPORT + 1).unwrap();
}

#[test]
fn stale_handles_never_reach_a_new_socket() {
    let mut h = Harness::new();
    let a = h.set.tcp_socket().unwrap();
    h.set.close(a).unwrap();
    let b = h.set.tcp_socket().unwrap();
    assert_ne!(a, b);
    assert_eq!(h.set.state(a), None);
    assert_eq!(h.set.bind(a, LOCAL, 1), Err(BindError::BadHandle));
    assert_eq!(h.set.state(b), Some(State::Closed));
    assert_eq!(h.set.close(a), Err(crate::sockets::BadHandle));
}

#[test]
fn events_move_when_readiness_changes() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let e0 = h.set.events();
    h.deliver(ms(0), seg().syn().seq(1000));
    let sa = h.expect(ms(0));
    h.deliver(ms(0), seg().seq(1001).ack(sa.seq() + 1));
    let e1 = h.set.events();
    assert!(e1 > e0, "listener became readable");
    assert!(h.set.readable(l));
    let c = h.set.accept(l).unwrap();
    let e2 = h.set.events();
    h.deliver(ms(1), seg().seq(1001).ack(sa.seq() + 1).data(b"x"));
    assert!(h.set.events() > e2, "connection became readable");
    let e3 = h.set.events();
    h.deliver(ms(2), seg().seq(1002).ack(sa.seq() + 1).data(b"y"));
    assert!(h.set.events() > e3, "more data for a waiting reader");
    let _ = c;
}

#[test]
fn listen_twice_same_port_conflicts() {
    let mut h = Harness::new();
    h.listen(8);
    let x = h.set.tcp_socket().unwrap();
    h.set.set_reuse_addr(x, true).unwrap();
    assert_eq!(
        h.set.bind(x, Ipv4Addr::UNSPECIFIED, LPORT),
        Err(BindError::AddrInUse)
    );
    // Two SO_REUSEADDR sockets may bind together, but only one may listen.
    let a = h.set.tcp_socket().unwrap();
    let b = h.set.tcp_socket().unwrap();
    h.set.set_reuse_addr(a, true).unwrap();
    h.set.set_reuse_addr(b, true).unwrap();
    h.set.bind(a, Ipv4Addr::UNSPECIFIED, 9000).unwrap();
    h.set.bind(b, Ipv4Addr::UNSPECIFIED, 9000).unwrap();
    h.set.listen(a, 1).unwrap();
    assert_eq!(
        h.set.listen(b, 1),
        Err(crate::sockets::ListenError::AddrInUse)
    );
    let _ = SeqNum(0);
}

/// listen() again with a smaller backlog keeps the children already in the
/// accept queue (Linux only lowers `sk_max_ack_backlog`), and new ones wait
/// until the queue is below the new bound. Found by
/// `prop::listener_under_random_segments` (backlog 1 -> 0 with 2 queued).
#[test]
fn shrinking_the_backlog_keeps_queued_children() {
    let mut h = Harness::new();
    let l = h.listen(1); // holds two
    for p in 1..=2u16 {
        h.deliver(ms(0), seg().sport(p).syn().seq(100));
        let sa = h.expect(ms(0));
        h.deliver(ms(0), seg().sport(p).seq(101).ack(sa.seq() + 1));
    }
    h.set.listen(l, 0).unwrap();
    h.set.check_invariants();
    // Full for the new backlog: a third SYN is dropped.
    h.deliver(ms(0), seg().sport(3).syn().seq(300));
    h.expect_none(ms(0));
    let mut accepted = 0;
    while h.set.accept(l).is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 2);
    h.set.check_invariants();
}

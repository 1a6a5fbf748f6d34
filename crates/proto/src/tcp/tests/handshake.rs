//! Opening edges of the RFC 9293 3.3.2 state diagram.

use super::harness::*;
use crate::sockets::ConnectError;
use crate::tcp::{SeqNum, State, TcpError};
use crate::wire::Ipv4Addr;

#[test]
fn listen_syn_synack_ack_established() {
    // CLOSED -> LISTEN -> SYN_RECEIVED -> ESTABLISHED
    let mut h = Harness::new();
    let l = h.listen(8);
    assert_eq!(h.state(l), Some(State::Listen));
    h.deliver(
        ms(0),
        seg()
            .syn()
            .seq(1000)
            .mss(1460)
            .wscale(7)
            .sack_perm()
            .ts(55, 0),
    );
    let sa = h.expect(ms(0));
    assert!(sa.is_synack());
    assert_eq!(sa.ack(), SeqNum(1001));
    assert_eq!(sa.repr.mss, Some(1460));
    assert_eq!(sa.repr.window_scale, Some(10));
    assert!(sa.repr.sack_permitted);
    assert_eq!(sa.repr.timestamp.map(|t| t.tsecr), Some(55));
    assert_eq!(
        h.set.accept(l),
        Err(crate::sockets::AcceptError::WouldBlock)
    );
    let rows = h.set.snapshot();
    assert!(rows.iter().any(|r| r.state == State::SynReceived));
    // The ACK echoes our SYN-ACK's TSval (Linux 6.15+ `tsecr_reject`).
    let tsval = sa.repr.timestamp.map_or(0, |t| t.tsval);
    h.deliver(ms(1), seg().seq(1001).ack(sa.seq() + 1).ts(56, tsval));
    let c = h.set.accept(l).unwrap();
    assert_eq!(h.state(c), Some(State::Established));
    assert_eq!(h.set.local_addr(c).unwrap().port(), LPORT);
    assert_eq!(h.set.peer_addr(c).unwrap().port(), RPORT);
    let info = h.set.info(c).unwrap();
    // 1460 - 12 bytes of timestamps
    assert_eq!(info.snd_mss, 1448);
    assert!(info.timestamps && info.sack);
    assert_eq!(info.snd_wscale, 7);
    assert!(h.set.writable(c));
}

#[test]
fn syn_options_in_linux_order_and_values() {
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    assert_eq!(h.state(c), Some(State::SynSent));
    let syn = h.expect(ms(0));
    assert!(syn.is_syn());
    assert_eq!((syn.src, syn.dst), (LOCAL, REMOTE));
    assert_eq!(syn.repr.mss, Some(1460));
    assert!(syn.repr.sack_permitted);
    assert_eq!(syn.repr.window_scale, Some(10));
    assert_eq!(syn.repr.timestamp.map(|t| t.tsecr), Some(0));
    let port = syn.repr.src_port;
    assert!((32768..=60999).contains(&port));
}

#[test]
fn active_open_syn_sent_to_established() {
    let mut h = Harness::new();
    let (c, _, _) = h.active();
    let info = h.set.info(c).unwrap();
    assert_eq!(info.snd_mss, 1460);
    assert!(!info.timestamps);
    assert_eq!(info.snd_wscale, 0);
    assert_eq!(
        h.set.connect(ms(0), c, REMOTE, RPORT),
        Err(ConnectError::AlreadyConnected)
    );
}

#[test]
fn rst_answering_syn_is_refused() {
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    let syn = h.expect(ms(0));
    let port = syn.repr.src_port;
    // A RST without an acceptable ACK is ignored.
    h.deliver(ms(1), seg().dport(port).rst().seq(0));
    assert_eq!(h.state(c), Some(State::SynSent));
    h.deliver(ms(2), seg().dport(port).rst().ack(syn.seq() + 1));
    assert_eq!(h.state(c), Some(State::Closed));
    assert!(h.set.readiness(c).unwrap().error);
    assert_eq!(h.set.take_error(c), Some(TcpError::Refused));
    assert_eq!(h.set.take_error(c), None);
    assert_eq!(h.set.tcp_stats().attempt_fails, 1);
}

#[test]
fn bad_ack_in_syn_sent_gets_reset() {
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    let syn = h.expect(ms(0));
    let port = syn.repr.src_port;
    h.deliver(ms(1), seg().dport(port).syn().seq(9).ack(syn.seq() + 77));
    let r = h.expect(ms(1));
    assert!(r.is_rst());
    assert_eq!(r.seq(), syn.seq() + 77);
    assert_eq!(h.state(c), Some(State::SynSent));
}

#[test]
fn simultaneous_open() {
    // SYN_SENT -> SYN_RECEIVED (on SYN) -> ESTABLISHED (on ACK)
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.bind(c, Ipv4Addr::UNSPECIFIED, 5555).unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    let syn = h.expect(ms(0));
    h.deliver(ms(1), seg().dport(5555).syn().seq(700).mss(1000));
    assert_eq!(h.state(c), Some(State::SynReceived));
    let sa = h.expect(ms(1));
    assert!(sa.is_synack());
    assert_eq!(sa.seq(), syn.seq());
    assert_eq!(sa.ack(), SeqNum(701));
    h.deliver(
        ms(2),
        seg()
            .dport(5555)
            .syn()
            .seq(700)
            .ack(syn.seq() + 1)
            .mss(1000),
    );
    // A SYN in SYN_RECEIVED: unacceptable sequence (already have it) -> ACK.
    let _ = h.sent(ms(2));
    h.deliver(ms(3), seg().dport(5555).seq(701).ack(syn.seq() + 1));
    assert_eq!(h.state(c), Some(State::Established));
    assert_eq!(h.set.info(c).unwrap().snd_mss, 1000);
}

#[test]
fn closed_port_answers_syn_with_rst_ack() {
    let mut h = Harness::new();
    h.deliver(ms(0), seg().dport(81).syn().seq(1234).data(b"xy"));
    let r = h.expect(ms(0));
    assert!(r.is_rst() && r.flags().ack());
    assert_eq!(r.seq(), SeqNum(0));
    assert_eq!(r.ack(), SeqNum(1234 + 1 + 2));
    assert_eq!(h.set.tcp_stats().closed_port_syns, 1);
    // An ACK to nowhere: RST with seq = their ack, no ACK flag.
    h.deliver(ms(1), seg().dport(81).seq(5).ack(SeqNum(777)));
    let r = h.expect(ms(1));
    assert!(r.is_rst() && !r.flags().ack());
    assert_eq!(r.seq(), SeqNum(777));
    // A RST to nowhere: silence.
    h.deliver(ms(2), seg().dport(81).rst().seq(5));
    h.expect_none(ms(2));
}

#[test]
fn ack_to_listener_gets_reset() {
    let mut h = Harness::new();
    h.listen(8);
    h.deliver(ms(0), seg().seq(5).ack(SeqNum(99)));
    let r = h.expect(ms(0));
    assert!(r.is_rst());
    assert_eq!(r.seq(), SeqNum(99));
}

#[test]
fn rst_in_syn_received_returns_to_listen() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000));
    let _sa = h.expect(ms(0));
    assert_eq!(h.set.len(), 2);
    h.deliver(ms(1), seg().rst().seq(1001));
    assert_eq!(h.set.len(), 1, "the half-open child is gone");
    assert_eq!(h.state(l), Some(State::Listen));
}

#[test]
fn peer_mss_floor_and_default() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1).mss(1));
    let sa = h.expect(ms(0));
    h.deliver(ms(0), seg().seq(2).ack(sa.seq() + 1));
    let c = h.set.accept(l).unwrap();
    assert_eq!(h.set.info(c).unwrap().snd_mss, 48);
    // No MSS option: 536.
    h.deliver(ms(0), seg().sport(2).syn().seq(1));
    let sa = h.expect(ms(0));
    h.deliver(ms(0), seg().sport(2).seq(2).ack(sa.seq() + 1));
    let c = h.set.accept(l).unwrap();
    assert_eq!(h.set.info(c).unwrap().snd_mss, 536);
}

#[test]
fn isn_differs_per_tuple_and_time() {
    let mut h = Harness::new();
    let a = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), a, REMOTE, 1).unwrap();
    let b = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), b, REMOTE, 2).unwrap();
    let v = h.sent(ms(0));
    assert_eq!(v.len(), 2);
    assert_ne!(v[0].seq(), v[1].seq());
}

fn icmp(h: &mut Harness, syn: &Sent, err: crate::sockets::IcmpError) {
    let ip = crate::wire::Ipv4Repr::new(LOCAL, REMOTE, crate::wire::IpProtocol::Tcp, 20);
    let mut q = Vec::new();
    q.extend_from_slice(&syn.repr.src_port.to_be_bytes());
    q.extend_from_slice(&syn.repr.dst_port.to_be_bytes());
    q.extend_from_slice(&syn.seq().0.to_be_bytes());
    h.set.handle_icmp_error(h.now, err, &ip, &q);
}

#[test]
fn icmp_unreachable_during_connect() {
    use crate::sockets::IcmpError;
    for (code, want) in [
        (3, TcpError::Refused),
        (2, TcpError::Refused),
        (1, TcpError::HostUnreachable),
        (0, TcpError::NetUnreachable),
    ] {
        let mut h = Harness::new();
        let c = h.set.tcp_socket().unwrap();
        h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
        let syn = h.expect(ms(0));
        // A quote with a sequence number we never sent is ignored (RFC 5927).
        let mut bogus = syn.clone();
        bogus.repr.seq = syn.seq() + 100;
        icmp(&mut h, &bogus, IcmpError::Unreachable { code });
        assert_eq!(h.state(c), Some(State::SynSent));
        icmp(&mut h, &syn, IcmpError::Unreachable { code });
        assert_eq!(h.state(c), Some(State::Closed));
        assert_eq!(h.set.take_error(c), Some(want));
    }
}

#[test]
fn icmp_while_established_is_soft() {
    use crate::sockets::IcmpError;
    let mut h = Harness::new();
    let (c, _iss, _port) = h.active();
    h.set.send(c, b"x").unwrap();
    let d = h.expect(ms(0));
    icmp(&mut h, &d, IcmpError::Unreachable { code: 1 });
    assert_eq!(h.state(c), Some(State::Established));
    assert_eq!(h.set.error(c), None);
    // Reported instead of ETIMEDOUT when retransmissions run out.
    let mut t = 0;
    while h.state(c) == Some(State::Established) && t < 4_000_000 {
        t += 1000;
        h.sent(ms(t));
    }
    assert_eq!(h.set.take_error(c), Some(TcpError::HostUnreachable));
}

#[test]
fn syn_from_or_to_broadcast_is_dropped() {
    let mut h = Harness::new();
    h.listen(8);
    let mut s = seg().syn().seq(1);
    s.src = Ipv4Addr::BROADCAST;
    h.deliver(ms(0), s);
    h.expect_none(ms(0));
    let r = seg().syn().seq(1);
    let repr = r.repr();
    let ip = crate::wire::Ipv4Repr::new(
        REMOTE,
        Ipv4Addr::new(224, 0, 0, 1),
        crate::wire::IpProtocol::Tcp,
        0,
    );
    h.set.handle_tcp(ms(0), &ip, &repr);
    h.expect_none(ms(0));
    assert_eq!(h.set.len(), 1);
}

#[test]
fn icmp_frag_needed_lowers_the_segment_size() {
    use crate::sockets::IcmpError;
    let mut h = Harness::new();
    let (c, _iss, _port) = h.active();
    h.set.set_nodelay(c, true).unwrap();
    h.set.send(c, &[0; 3000]).unwrap();
    let v = h.sent(ms(0));
    assert_eq!(v[0].payload.len(), 1460);
    icmp(&mut h, &v[0], IcmpError::FragNeeded { mtu: 1000 });
    assert_eq!(h.set.info(c).unwrap().snd_mss, 960);
    assert_eq!(h.state(c), Some(State::Established));
    // The data in flight goes again in 960-byte segments.
    let r = h.sent(ms(1));
    assert_eq!(r[0].seq(), v[0].seq());
    assert!(r.iter().all(|s| s.payload.len() <= 960));
    assert_eq!(r.iter().map(|s| s.payload.len()).sum::<usize>(), 3000);
}

//! Closing edges of the state diagram and every close variant.

use super::harness::*;
use crate::sockets::{RecvError, SendError, Shutdown};
use crate::tcp::{SeqNum, State, TcpError};

#[test]
fn active_close_fin_wait_to_time_wait_to_closed() {
    // ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, b"bye").unwrap();
    h.set.close(c).unwrap();
    assert_eq!(h.state(c), None, "the handle is gone after close");
    let d = h.expect(ms(0));
    assert_eq!(d.payload, b"bye");
    assert!(d.is_fin(), "FIN rides on the last data");
    h.deliver(ms(1), seg().seq(1001).ack(iss + 5));
    let rows = h.set.snapshot();
    assert_eq!(
        rows.iter().find(|r| r.orphan).unwrap().state,
        State::FinWait2
    );
    h.deliver(ms(2), seg().seq(1001).ack(iss + 5).fin());
    let a = h.expect(ms(2));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1002));
    let rows = h.set.snapshot();
    assert_eq!(
        rows.iter().find(|r| r.orphan).unwrap().state,
        State::TimeWait
    );
    // TIME_WAIT ends at exactly 60 s.
    h.at(ms(2 + 59_999));
    assert_eq!(h.set.len(), 2);
    h.at(ms(2 + 60_000));
    assert_eq!(h.set.len(), 1, "only the listener remains");
}

#[test]
fn retransmitted_fin_in_time_wait_is_acked_and_restarts_timer() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.close(c).unwrap();
    let f = h.expect(ms(0));
    assert!(f.is_fin());
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2).fin());
    let a = h.expect(ms(1));
    assert_eq!(a.ack(), SeqNum(1002));
    // The peer lost our ACK and sends its FIN again 30 s later.
    h.deliver(ms(30_001), seg().seq(1001).ack(iss + 2).fin());
    let a = h.expect(ms(30_001));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1002));
    h.at(ms(60_001));
    assert_eq!(h.set.len(), 2, "timer restarted");
    h.at(ms(90_001));
    assert_eq!(h.set.len(), 1);
}

/// A reset at `rcv_nxt` in TIME_WAIT: ignored with `rfc1337` (RFC 1337);
/// with Linux's default (`tcp_rfc1337` = 0) it ends TIME_WAIT. Nothing is
/// sent either way.
#[test]
fn rst_in_time_wait_is_ignored() {
    for rfc1337 in [true, false] {
        let mut h = Harness::with_profile(crate::tcp::Profile {
            rfc1337,
            ..crate::tcp::Profile::linux()
        });
        let (_l, c, iss) = h.passive();
        h.set.close(c).unwrap();
        h.expect(ms(0));
        h.deliver(ms(1), seg().seq(1001).ack(iss + 2).fin());
        h.expect(ms(1));
        h.deliver(ms(2), seg().rst().seq(1002));
        h.expect_none(ms(2));
        let tw = h.set.snapshot().iter().any(|r| r.state == State::TimeWait);
        assert_eq!(tw, rfc1337, "rfc1337 {rfc1337}");
    }
}

#[test]
fn passive_close_close_wait_last_ack() {
    // ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"x").fin());
    // The FIN's ACK is delayed (Linux `tcp_fin`: ping-pong mode) ...
    h.expect_none(ms(1));
    assert_eq!(h.state(c), Some(State::CloseWait));
    let mut buf = [0u8; 4];
    assert_eq!(h.set.recv(c, &mut buf), Ok(1));
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::Eof));
    // Half-closed: we may still send, and the data carries the ACK.
    assert_eq!(h.set.send(c, b"late"), Ok(4));
    let d = h.expect(ms(2));
    assert_eq!(d.payload, b"late");
    assert_eq!(d.ack(), SeqNum(1003));
    h.set.close(c).unwrap();
    let f = h.expect(ms(3));
    assert!(f.is_fin());
    assert_eq!(f.seq(), iss + 5);
    h.deliver(ms(4), seg().seq(1003).ack(iss + 6));
    assert_eq!(h.set.len(), 1);
}

#[test]
fn simultaneous_close_closing_to_time_wait() {
    // FIN_WAIT_1 -> CLOSING -> TIME_WAIT
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(h.state(c), Some(State::FinWait1));
    let f = h.expect(ms(0));
    assert!(f.is_fin());
    // Their FIN crosses ours (does not ACK our FIN).
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).fin());
    assert_eq!(h.state(c), Some(State::Closing));
    let a = h.expect(ms(1));
    assert_eq!(a.ack(), SeqNum(1002));
    h.deliver(ms(2), seg().seq(1002).ack(iss + 2));
    assert_eq!(h.state(c), Some(State::TimeWait));
}

#[test]
fn fin_wait_1_to_time_wait_on_fin_ack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Write).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2).fin());
    assert_eq!(h.state(c), Some(State::TimeWait));
}

/// Fuzz (tcp_segments): out-of-order data beyond the peer's FIN, then
/// the FIN; TIME_WAIT shrinks the receive ring and must drop those bytes
/// (Linux `tcp_fin` purges the out-of-order queue), not keep ranges past
/// the ring's capacity.
#[test]
fn out_of_order_bytes_past_the_fin_are_dropped_in_time_wait() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Write).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001 + 58).ack(iss + 2).data(&[7; 455]));
    h.deliver(ms(2), seg().seq(1001).ack(iss + 2).fin());
    assert_eq!(h.state(c), Some(State::TimeWait));
    h.set.check_invariants();
}

#[test]
fn half_close_keeps_receiving() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Write).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2));
    assert_eq!(h.state(c), Some(State::FinWait2));
    h.deliver(ms(2), seg().seq(1001).ack(iss + 2).data(b"more"));
    let mut buf = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut buf), Ok(4));
    // Not an orphan: FIN_WAIT_2 has no timeout.
    h.at(ms(200_000));
    assert_eq!(h.state(c), Some(State::FinWait2));
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"unread"));
    h.sent(ms(1));
    h.set.close(c).unwrap();
    let r = h.expect(ms(2));
    assert!(r.is_rst());
    assert_eq!(r.seq(), iss + 1);
    assert_eq!(h.set.len(), 1);
}

#[test]
fn abort_sends_rst() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, b"pending").unwrap();
    h.sent(ms(0));
    h.set.abort(c).unwrap();
    let r = h.expect(ms(1));
    assert!(r.is_rst());
    assert_eq!(r.seq(), iss + 8);
}

#[test]
fn peer_reset_gives_econnreset_once_then_eof() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"ab"));
    h.deliver(ms(2), seg().rst().seq(1003));
    assert_eq!(h.state(c), Some(State::Closed));
    let mut buf = [0u8; 8];
    assert_eq!(
        h.set.recv(c, &mut buf),
        Ok(2),
        "data before the reset is readable"
    );
    assert_eq!(
        h.set.recv(c, &mut buf),
        Err(RecvError::Error(TcpError::Reset))
    );
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::Eof));
    assert_eq!(h.set.send(c, b"x"), Err(SendError::Shutdown));
}

#[test]
fn rst_acceptability() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    // Out of window: ignored silently.
    h.deliver(ms(1), seg().rst().seq(1001 + 1_000_000));
    h.expect_none(ms(1));
    assert_eq!(h.state(c), Some(State::Established));
    // In window but not exact: challenge ACK, no reset.
    h.deliver(ms(2), seg().rst().seq(1005));
    let a = h.expect(ms(2));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1001));
    assert_eq!(h.state(c), Some(State::Established));
    // Exactly rcv_nxt: reset.
    h.deliver(ms(3), seg().rst().seq(1001));
    assert_eq!(h.state(c), Some(State::Closed));
    let _ = iss;
}

#[test]
fn orphan_fin_wait_2_times_out() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.close(c).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2));
    assert_eq!(h.set.len(), 2);
    h.at(ms(60_000));
    assert_eq!(h.set.len(), 2);
    h.at(ms(60_001));
    assert_eq!(h.set.len(), 1);
}

#[test]
fn data_after_close_is_answered_with_rst() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.close(c).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2).data(b"late"));
    let r = h.expect(ms(1));
    assert!(r.is_rst());
    assert_eq!(h.set.len(), 1);
}

#[test]
fn close_in_syn_sent_just_goes() {
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    h.expect(ms(0));
    h.set.close(c).unwrap();
    assert_eq!(h.set.len(), 0);
    h.expect_none(ms(1));
}

#[test]
fn new_syn_reuses_a_time_wait_tuple() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.close(c).unwrap();
    h.expect(ms(0));
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2).fin());
    h.expect(ms(1));
    // An old-sequence SYN gets an ACK (TIME_WAIT holds).
    h.deliver(ms(2), seg().syn().seq(500));
    assert!(h.expect(ms(2)).is_pure_ack());
    // A SYN beyond the old sequence space opens a new connection.
    h.deliver(ms(3), seg().syn().seq(90_000));
    let sa = h.expect(ms(3));
    assert!(sa.is_synack());
    assert_eq!(sa.ack(), SeqNum(90_001));
    assert!(!h.set.snapshot().iter().any(|r| r.state == State::TimeWait));
}

#[test]
fn orphan_in_last_ack_gives_up_after_orphan_retries() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).fin());
    // The FIN's ACK waits (delayed) and rides on ours.
    h.expect_none(ms(1));
    h.set.close(c).unwrap();
    let f = h.expect(ms(2));
    assert!(f.is_fin() && f.ack() == SeqNum(1002));
    let mut fins = 0;
    let mut t = 2;
    while h.set.len() > 1 {
        t += 100;
        fins += h.sent(ms(t)).iter().filter(|s| s.is_fin()).count();
        assert!(t < 1_000_000);
    }
    assert_eq!(fins, 8);
}

#[test]
fn close_in_syn_received_goes_to_fin_wait_1() {
    // SYN_RECEIVED -> FIN_WAIT_1 (RFC 9293 3.3.2): simultaneous open, then close.
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set
        .bind(c, crate::wire::Ipv4Addr::UNSPECIFIED, 5555)
        .unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    let syn = h.expect(ms(0));
    h.deliver(ms(1), seg().dport(5555).syn().seq(700));
    assert_eq!(h.state(c), Some(State::SynReceived));
    h.expect(ms(1));
    h.set.shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(
        h.state(c),
        Some(State::SynReceived),
        "FIN waits for the handshake"
    );
    h.deliver(ms(2), seg().dport(5555).seq(701).ack(syn.seq() + 1));
    assert_eq!(h.state(c), Some(State::FinWait1));
    let f = h.expect(ms(2));
    assert!(f.is_fin());
    assert_eq!(f.seq(), syn.seq() + 1);
}

#[test]
fn shutdown_read_gives_eof_and_discards() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"abc"));
    h.set.shutdown(c, Shutdown::Read).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::Eof));
    assert!(h.set.readiness(c).unwrap().rdhup);
    // Later data is acknowledged and dropped; the connection stays up.
    h.deliver(ms(2), seg().seq(1004).ack(iss + 1).data(b"def"));
    let acks = h.sent(ms(2));
    assert_eq!(acks.last().unwrap().ack(), SeqNum(1007));
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::Eof));
    assert_eq!(h.set.send(c, b"still"), Ok(5));
}

#[test]
fn shutdown_both_then_close() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Both).unwrap();
    assert_eq!(h.state(c), Some(State::FinWait1));
    assert!(h.expect(ms(0)).is_fin());
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2).fin());
    assert_eq!(h.state(c), Some(State::TimeWait));
    assert!(h.set.hup(c));
    h.set.close(c).unwrap();
    h.at(ms(60_001));
    assert_eq!(h.set.len(), 1);
}

#[test]
fn written_data_is_delivered_before_fin_after_close() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let data = vec![3u8; 20_000];
    assert_eq!(h.set.send(c, &data), Ok(20_000));
    h.set.close(c).unwrap();
    let mut got = 0;
    let mut fin_seen = false;
    let mut t = 0;
    while !fin_seen {
        let v = h.sent(ms(t));
        for s in &v {
            got += s.payload.len();
            fin_seen |= s.is_fin();
        }
        if let Some(last) = v.last() {
            let end = last.seq() + last.repr.segment_len();
            h.deliver(ms(t + 1), seg().seq(1001).ack(end));
        }
        t += 10;
        assert!(t < 10_000);
    }
    assert_eq!(got, 20_000);
    let _ = iss;
}

#[test]
fn linger_helper_reports_drained_send() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, b"abc").unwrap();
    assert_eq!(h.set.send_drained(c), Some(false));
    h.set.shutdown(c, Shutdown::Write).unwrap();
    let d = h.expect(ms(0));
    assert!(d.is_fin());
    h.deliver(ms(1), seg().seq(1001).ack(iss + 4));
    assert_eq!(
        h.set.send_drained(c),
        Some(false),
        "FIN not yet acknowledged"
    );
    h.deliver(ms(2), seg().seq(1001).ack(iss + 5));
    assert_eq!(h.set.send_drained(c), Some(true));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut h = Harness::new();
    let (_l, c, _iss) = h.passive();
    h.deliver(ms(1000), seg().rst().seq(1005));
    assert!(h.expect(ms(1000)).is_pure_ack());
    h.deliver(ms(1100), seg().rst().seq(1006));
    h.deliver(ms(1200), seg().syn().seq(1007));
    h.expect_none(ms(1200));
    h.deliver(ms(1500), seg().rst().seq(1008));
    assert!(h.expect(ms(1500)).is_pure_ack());
    assert_eq!(h.state(c), Some(State::Established));
}

//! RFC 5961 defences: challenge ACKs for in-window RSTs, SYNs in
//! synchronized states and ACKs outside the acceptable range, and the
//! per-socket and global challenge-ACK rate limits.

use super::harness::*;
use crate::sockets::RecvError;
use crate::tcp::{Profile, SeqNum, State};
use crate::time::Duration;

fn unlimited_per_socket() -> Profile {
    let mut p = Profile::linux();
    p.invalid_ratelimit = Duration::ZERO;
    p
}

#[test]
fn rst_in_window_not_exact_gets_challenge_ack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(10), seg().rst().seq(1500));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 1, SeqNum(1001)));
    assert_eq!(h.state(c), Some(State::Established));
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
    // The exact RST (the peer's answer after our challenge) is believed.
    h.deliver(ms(11), seg().rst().seq(1001));
    assert_ne!(h.state(c), Some(State::Established));
}

#[test]
fn syn_in_synchronized_state_gets_challenge_ack() {
    let mut h = Harness::with_profile(unlimited_per_socket());
    let (_l, c, iss) = h.passive();
    // In window (RFC 5961 4.2: no reset, whatever the sequence number) ...
    h.deliver(ms(10), seg().syn().seq(1001).mss(1460));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack() && !a.is_rst());
    assert_eq!((a.seq(), a.ack()), (iss + 1, SeqNum(1001)));
    // ... and out of window alike.
    h.deliver(ms(20), seg().syn().seq(900_000).mss(1460));
    let a = h.expect(ms(20));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1001));
    assert_eq!(h.state(c), Some(State::Established));
    assert!(h.set.tcp_stats().challenge_acks >= 1);
}

#[test]
fn ack_of_unsent_data_gets_challenge_ack_and_drops_the_data() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1000).data(b"evil"));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1001), "the data was not taken");
    let mut buf = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::WouldBlock));
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
}

#[test]
fn ack_older_than_max_window_gets_challenge_ack() {
    let mut h = Harness::with_profile(unlimited_per_socket());
    let (_l, c, iss) = h.passive();
    // MAX.SND.WND is 65535 (no scaling): an ACK 70,000 bytes behind
    // SND.UNA is outside [SND.UNA - MAX.SND.WND, SND.NXT].
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1 - 70_000).data(b"evil"));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1001));
    let mut buf = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::WouldBlock));
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
    // An old ACK inside the window is just an old duplicate: data accepted.
    h.deliver(ms(20), seg().seq(1001).ack(iss + 1 - 60_000).data(b"good"));
    h.sent(ms(20));
    assert_eq!(h.set.recv(c, &mut buf), Ok(4));
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
}

#[test]
fn global_challenge_ack_limit() {
    let mut p = unlimited_per_socket();
    p.challenge_ack_limit = 2;
    let mut h = Harness::with_profile(p);
    let (_l, c, _iss) = h.passive();
    for i in 0..5u32 {
        h.deliver(ms(100), seg().rst().seq(1100 + i));
    }
    let v = h.sent(ms(100));
    assert_eq!(v.len(), 1, "the two allowed challenges coalesce in one ACK");
    let st = *h.set.tcp_stats();
    assert_eq!((st.challenge_acks, st.challenge_acks_limited), (2, 3));
    // A second later the budget is back.
    h.deliver(ms(1100), seg().rst().seq(1200));
    assert_eq!(h.sent(ms(1100)).len(), 1);
    h.deliver(ms(1101), seg().rst().seq(1201));
    h.deliver(ms(1102), seg().rst().seq(1202));
    assert_eq!(h.sent(ms(1102)).len(), 1);
    h.deliver(ms(1103), seg().rst().seq(1203));
    h.expect_none(ms(1103));
    assert_eq!(h.set.tcp_stats().challenge_acks_limited, 5);
    assert_eq!(h.state(c), Some(State::Established));
}

#[test]
fn per_socket_limit_applies_before_the_global_one() {
    let mut h = Harness::new();
    let (_l, _c, _iss) = h.passive();
    h.deliver(ms(1000), seg().syn().seq(1001));
    assert!(h.expect(ms(1000)).is_pure_ack());
    h.deliver(ms(1100), seg().syn().seq(1001));
    h.expect_none(ms(1100));
    // Suppressed by the socket's 500 ms limit: no global budget used.
    let st = *h.set.tcp_stats();
    assert_eq!((st.challenge_acks, st.challenge_acks_limited), (1, 0));
}

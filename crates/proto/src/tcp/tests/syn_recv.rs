//! A half-open passive child judges segments as a Linux request sock does
//! (`Connection::check_req`, Linux `tcp_check_req` in `tcp_minisocks.c`):
//! PAWS without a window and with the `TCP_PAWS_MSL` rule for resets, a
//! wrong ACK reset first, a SYN anywhere in the window ending the child, a
//! rate-limited SYN-ACK for a retransmitted SYN. Kernel-peer tests (Linux
//! 6.18 answering the same segments): `kernel_syn_recv_*` in
//! crates/net/tests/kernel_paws_time_wait.rs.

use super::harness::*;
use crate::sockets::{AcceptError, SocketHandle};
use crate::tcp::{Profile, SeqNum, State};
use crate::time::Instant;

/// A listener and a half-open child for the peer's SYN (ISS 1000, TSval
/// 100) sent at `t`. Returns the listener, our ISS and our SYN-ACK's TSval.
fn half_open(h: &mut Harness, t: Instant) -> (SocketHandle, SeqNum, u32) {
    let l = h.listen(8);
    h.deliver(t, seg().syn().seq(1000).mss(1460).ts(100, 0));
    let sa = h.expect(t);
    assert!(sa.is_synack());
    let ts = sa.repr.timestamp.expect("timestamps agreed");
    assert_eq!(ts.tsecr, 100);
    assert_eq!(h.set.len(), 2, "listener and child");
    (l, sa.seq(), ts.tsval)
}

/// The child completed its handshake and waits in the accept queue.
fn accepted(h: &mut Harness, l: SocketHandle) {
    let c = h.set.accept(l).expect("an established child");
    assert_eq!(h.state(c), Some(State::Established));
}

/// `tcp_paws_reject` with the estimated stamp `now - reqsk_timeout`: a
/// reset one tick older than the SYN's TSval is dropped, unanswered,
/// counted as `paws_rejected` (Linux `PAWSEstabRejected`); the child lives
/// on and completes. A reset with the SYN's own TSval ends it.
#[test]
fn syn_recv_old_reset_fails_paws() {
    let mut h = Harness::new();
    let (l, iss, _) = half_open(&mut h, ms(0));
    h.deliver(ms(10), seg().rst().seq(1001).ts(99, 0));
    h.expect_none(ms(10));
    assert_eq!(h.set.len(), 2, "the child survives");
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    // The same with ACK (a right one): also dropped.
    h.deliver(ms(20), seg().rst().seq(1001).ack(iss + 1).ts(99, 0));
    h.expect_none(ms(20));
    assert_eq!(h.set.len(), 2);
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    // Not older: the reset ends the child.
    h.deliver(ms(30), seg().rst().seq(1001).ts(100, 0));
    h.expect_none(ms(30));
    assert_eq!(h.set.len(), 1, "the child is gone");
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    // A fresh child completes after an old reset.
    h.deliver(ms(40), seg().sport(2).syn().seq(1000).ts(100, 0));
    let sa = h.expect(ms(40));
    // The new child's own SYN-ACK TSval (`tsecr_reject` otherwise).
    let tsval = sa.repr.timestamp.expect("timestamps").tsval;
    h.deliver(ms(50), seg().sport(2).rst().seq(1001).ts(50, 0));
    h.deliver(
        ms(60),
        seg().sport(2).seq(1001).ack(sa.seq() + 1).ts(101, tsval),
    );
    h.expect_none(ms(60));
    accepted(&mut h, l);
    assert_eq!(h.set.tcp_stats().paws_rejected, 3);
}

/// The 60 s rule: Linux estimates TS.Recent's age as the current SYN-ACK
/// timeout (1 s doubled per timeout, `reqsk_timeout`). With seven SYN-ACK
/// retries, an old reset is dropped while the timeout is 32 s (after five
/// timeouts, at 31 s) and accepted once it is 64 s (after six, at 63 s).
#[test]
fn syn_recv_old_reset_passes_once_the_synack_timeout_reaches_paws_msl() {
    let p = Profile {
        synack_retries: 7,
        ..Profile::linux()
    };
    let mut h = Harness::with_profile(p);
    let (l, _, _) = half_open(&mut h, ms(0));
    // SYN-ACK timeouts at 1, 3, 7, 15, 31 s.
    for at in [1_000, 3_000, 7_000, 15_000, 31_000] {
        assert!(h.expect(ms(at)).is_synack(), "retransmission at {at} ms");
    }
    h.deliver(ms(40_000), seg().rst().seq(1001).ts(99, 0));
    assert_eq!(h.set.len(), 2, "timeout 32 s: still judged");
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    assert!(h.expect(ms(63_000)).is_synack(), "sixth timeout");
    // A non-reset is still rejected: an ACK-less, old segment gets an ACK.
    h.deliver(ms(63_100), seg().seq(1001).ts(99, 0));
    let a = h.expect(ms(63_100));
    assert!(a.is_pure_ack() && a.ack() == SeqNum(1001));
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    h.deliver(ms(63_200), seg().rst().seq(1001).ts(99, 0));
    h.expect_none(ms(63_200));
    assert_eq!(h.set.len(), 1, "timeout 64 s: the reset is taken");
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    assert_eq!(h.set.accept(l), Err(AcceptError::WouldBlock));
}

/// No `TCP_PAWS_WINDOW` for a request sock: an ACK one tick older than the
/// SYN fails PAWS (an established connection would take it): a plain ACK
/// (seq ISS + 1), `paws_rejected`, and the handshake is not completed.
#[test]
fn syn_recv_paws_has_no_window() {
    let mut h = Harness::new();
    let (l, iss, tsval) = half_open(&mut h, ms(0));
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).ts(99, tsval));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 1, SeqNum(1001)));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    assert_eq!(h.set.len(), 2);
    // Rate-limited: a second one within 500 ms gets nothing.
    h.deliver(ms(20), seg().seq(1001).ack(iss + 1).ts(99, tsval));
    h.expect_none(ms(20));
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    // A current TSval completes it.
    h.deliver(ms(30), seg().seq(1001).ack(iss + 1).ts(100, tsval));
    h.expect_none(ms(30));
    accepted(&mut h, l);
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
}

/// `tcp_check_req` checks the ACK number before PAWS and the window: a
/// wrong one is reset (seq = SEG.ACK, the listener's `tcp_v4_send_reset`)
/// even when PAWS fails or the sequence number is out of the window; a
/// reset with a wrong ACK is dropped, even at `rcv_nxt`.
#[test]
fn syn_recv_wrong_ack_is_reset_before_paws_and_window() {
    let mut h = Harness::new();
    let (l, iss, tsval) = half_open(&mut h, ms(0));
    for (t, s) in [
        (10, seg().seq(1001).ack(iss + 5).ts(99, tsval)),
        (20, seg().seq(90_000).ack(iss + 5).ts(100, tsval)),
    ] {
        h.deliver(ms(t), s);
        let r = h.expect(ms(t));
        assert!(r.is_rst() && !r.flags().ack(), "at {t} ms");
        assert_eq!(r.seq(), iss + 5);
    }
    assert_eq!(
        h.set.tcp_stats().paws_rejected,
        0,
        "the ACK check came first"
    );
    h.deliver(ms(30), seg().rst().seq(1001).ack(iss + 5).ts(100, tsval));
    h.expect_none(ms(30));
    assert_eq!(h.set.len(), 2, "the child survives");
    h.deliver(ms(40), seg().seq(1001).ack(iss + 1).ts(100, tsval));
    accepted(&mut h, l);
}

/// "fourth, check the SYN bit": a SYN other than the first anywhere in the
/// window ends the child with a reset, no challenge ACK. A reset in the
/// window but not at `rcv_nxt` gets a challenge ACK and the child lives
/// on, as Linux 6.18 answers on the wire (`kernel_syn_recv_paws_and_resets`).
#[test]
fn syn_recv_syn_in_window_ends_the_child_a_reset_is_challenged() {
    let mut h = Harness::new();
    let (l, iss, _) = half_open(&mut h, ms(0));
    h.deliver(ms(10), seg().rst().seq(1500).ts(100, 0));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 1, SeqNum(1001)));
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
    assert_eq!(h.set.len(), 2, "the child lives on");
    // An old one in the window: PAWS, no answer.
    h.deliver(ms(20), seg().rst().seq(1500).ts(99, 0));
    h.expect_none(ms(20));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    assert_eq!(h.set.len(), 2);
    // A SYN in the window, not at IRS: RST|ACK acknowledging it.
    h.deliver(ms(30), seg().syn().seq(1003).ts(100, 0));
    let r = h.expect(ms(30));
    assert!(r.is_rst() && r.flags().ack());
    assert_eq!((r.seq(), r.ack()), (SeqNum(0), SeqNum(1004)));
    assert_eq!(h.set.len(), 1);
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
    // Out of the window: a reset is dropped, the child stays.
    h.deliver(ms(40), seg().sport(3).syn().seq(1000).ts(100, 0));
    let sa = h.expect(ms(40));
    h.deliver(
        ms(50),
        seg().sport(3).rst().seq(1001 + 70_000_000).ts(100, 0),
    );
    h.expect_none(ms(50));
    assert_eq!(h.set.len(), 2);
    h.deliver(ms(60), seg().sport(3).seq(1001).ack(sa.seq() + 1));
    accepted(&mut h, l);
}

/// "Check for pure retransmitted SYN": the SYN-ACK goes again, limited by
/// `tcp_oow_rate_limited` (500 ms) like any out-of-window ACK, and the
/// SYN-ACK timer restarts (1 s after the last one sent for a SYN).
#[test]
fn syn_recv_retransmitted_syn_is_rate_limited() {
    let mut h = Harness::new();
    let (_, iss, _) = half_open(&mut h, ms(0));
    h.deliver(ms(100), seg().syn().seq(1000).ts(100, 0));
    let sa = h.expect(ms(100));
    assert!(sa.is_synack() && sa.seq() == iss);
    h.deliver(ms(300), seg().syn().seq(1000).ts(100, 0));
    h.expect_none(ms(300));
    h.deliver(ms(600), seg().syn().seq(1000).ts(100, 0));
    assert!(h.expect(ms(600)).is_synack());
    assert_eq!(h.set.len(), 2);
    // The timer runs from 600 ms: nothing at 1 s, the next SYN-ACK at 1.6 s.
    h.expect_none(ms(1_599));
    assert!(h.expect(ms(1_600)).is_synack());
}

/// Linux 6.15+ `tsecr_reject` in `tcp_check_req`: the completing ACK may
/// echo the TSval of the first SYN-ACK even after a retransmitted one went
/// out (the range is `snt_tsval_first..=snt_tsval_last`).
#[test]
fn syn_recv_tsecr_of_the_first_synack_completes() {
    let mut h = Harness::new();
    let (l, iss, tsval) = half_open(&mut h, ms(0));
    let rtx = h.expect(ms(1_000));
    assert!(rtx.is_synack());
    let ts = rtx.repr.timestamp.expect("timestamps");
    assert_eq!(ts.tsval, tsval.wrapping_add(1_000), "a 1 ms TS clock");
    h.deliver(ms(1_100), seg().seq(1001).ack(iss + 1).ts(101, tsval));
    h.expect_none(ms(1_100));
    accepted(&mut h, l);
    assert_eq!(h.set.tcp_stats().tsecr_rejected, 0);
}

/// The TSval of a retransmitted SYN-ACK (the timer's, or the answer to a
/// retransmitted SYN) is in the range too; so is any value between the
/// first and the latest, as Linux keeps only the two ends.
#[test]
fn syn_recv_tsecr_of_a_retransmitted_synack_completes() {
    for (echo_ms, sport) in [(1_000, 1), (1_700, 2), (500, 3)] {
        let mut h = Harness::new();
        let l = h.listen(8);
        h.deliver(ms(0), seg().sport(sport).syn().seq(1000).ts(100, 0));
        let sa = h.expect(ms(0));
        let first = sa.repr.timestamp.expect("timestamps").tsval;
        assert!(h.expect(ms(1_000)).is_synack(), "timer retransmission");
        h.deliver(ms(1_700), seg().sport(sport).syn().seq(1000).ts(101, 0));
        assert!(h.expect(ms(1_700)).is_synack(), "answer to the SYN");
        let echo = first.wrapping_add(echo_ms);
        h.deliver(
            ms(1_800),
            seg().sport(sport).seq(1001).ack(sa.seq() + 1).ts(102, echo),
        );
        h.expect_none(ms(1_800));
        accepted(&mut h, l);
        assert_eq!(h.set.tcp_stats().tsecr_rejected, 0, "echo +{echo_ms} ms");
    }
}

/// A TSecr we never sent (after the latest SYN-ACK's TSval, or before the
/// first): "send ACK and drop" as for PAWS (a plain ACK, seq ISS + 1, rate
/// limited by `tcp_oow_rate_limited`), counted as `tsecr_rejected` (Linux
/// `TSEcrRejected`); the child lives on. A reset with one is dropped
/// unanswered. PAWS is counted first when both fail. A zero TSecr is not
/// checked (Linux looks only at a non-zero `rcv_tsecr`).
#[test]
fn syn_recv_tsecr_outside_the_synack_range_is_rejected() {
    let mut h = Harness::new();
    let (l, iss, tsval) = half_open(&mut h, ms(0));
    // One past the only SYN-ACK's TSval.
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).ts(100, tsval + 1));
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 1, SeqNum(1001)));
    let st = h.set.tcp_stats();
    assert_eq!((st.tsecr_rejected, st.paws_rejected), (1, 0));
    assert_eq!(h.set.len(), 2, "the child lives on");
    // Rate-limited: one before the first SYN-ACK's within 500 ms, no answer.
    h.deliver(ms(20), seg().seq(1001).ack(iss + 1).ts(100, tsval - 1));
    h.expect_none(ms(20));
    assert_eq!(h.set.tcp_stats().tsecr_rejected, 2);
    // A reset with a wrong TSecr (and a right ACK): dropped, no answer.
    h.deliver(ms(600), seg().rst().seq(1001).ack(iss + 1).ts(100, 7));
    h.expect_none(ms(600));
    assert_eq!(h.set.len(), 2);
    assert_eq!(h.set.tcp_stats().tsecr_rejected, 3);
    // PAWS and TSecr both fail: PAWS is counted (an ACK, 500 ms later).
    h.deliver(ms(700), seg().seq(1001).ack(iss + 1).ts(99, 7));
    assert!(h.expect(ms(700)).is_pure_ack());
    let st = h.set.tcp_stats();
    assert_eq!((st.tsecr_rejected, st.paws_rejected), (3, 1));
    // A zero TSecr is not judged: it completes the handshake.
    h.deliver(ms(800), seg().seq(1001).ack(iss + 1).ts(100, 0));
    h.expect_none(ms(800));
    accepted(&mut h, l);
    assert_eq!(h.set.tcp_stats().tsecr_rejected, 3);
}

/// Timestamps not agreed (the SYN had none, or our profile has them off):
/// no TSecr is judged, whatever the ACK carries.
#[test]
fn syn_recv_tsecr_not_judged_without_timestamps() {
    // The peer's SYN without timestamps; its ACK carries one anyway.
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).mss(1460));
    let sa = h.expect(ms(0));
    assert!(sa.is_synack() && sa.repr.timestamp.is_none());
    h.deliver(ms(10), seg().seq(1001).ack(sa.seq() + 1).ts(5, 12_345));
    h.expect_none(ms(10));
    accepted(&mut h, l);
    // Timestamps off in our profile.
    let p = Profile {
        timestamps: false,
        ..Profile::linux()
    };
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).ts(100, 0));
    let sa = h.expect(ms(0));
    assert!(sa.is_synack() && sa.repr.timestamp.is_none());
    h.deliver(ms(10), seg().seq(1001).ack(sa.seq() + 1).ts(101, 12_345));
    h.expect_none(ms(10));
    accepted(&mut h, l);
    assert_eq!(h.set.tcp_stats().tsecr_rejected, 0);
}

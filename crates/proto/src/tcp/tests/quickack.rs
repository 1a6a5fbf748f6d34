//! Quick-ACK mode on restart (Linux `tcp_event_data_recv`): in-order data
//! arriving after a silence longer than the RTO since the last data re-enters
//! quick-ACK mode, with Linux's count (`tcp_incr_quickack`: half the window
//! we advertised, in segments, at least two, at most `TCP_MAX_QUICKACKS`), so
//! a restarting sender's ACK clock does not wait for the delayed-ACK timer.
//! Within the RTO (Linux's `icsk_rto`, backoff included) the delayed-ACK
//! rule holds. The first data segment gets the same window-capped count.
//! Segment by segment, explicit times.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::{Profile, SeqNum};

/// A passive connection from a peer with MSS 1460 (no options); returns it
/// and the ACK number the peer's segments carry.
fn open(p: Profile) -> (Harness, SocketHandle, SeqNum) {
    let mut h = Harness::with_profile(p);
    let (_l, c, iss) = h.passive();
    (h, c, iss + 1)
}

/// The peer's next segment: `len` bytes at `*seq`, delivered at `t`, and
/// with `read` read by the application at once (the window stays open;
/// without, no window update after a read is taken for an ACK). Returns
/// what the stack sends at `t`.
fn data(
    h: &mut Harness,
    c: SocketHandle,
    a: SeqNum,
    seq: &mut u32,
    t: u64,
    len: usize,
    read: bool,
) -> Vec<Sent> {
    h.deliver(ms(t), seg().seq(*seq).ack(a).data(&vec![7; len]));
    *seq += len as u32;
    if read {
        let mut buf = vec![0u8; len];
        assert_eq!(h.set.recv(c, &mut buf), Ok(len));
    }
    h.sent(ms(t))
}

/// Segments from `t` on, one a millisecond, while each is ACKed at once
/// (at most 40). Returns how many were, the time of the first that was
/// not, and the window of the last immediate ACK. Full segments are read
/// (the small buffers of the window tests), small ones are not. The one not ACKed at
/// once is ACKed by the delayed-ACK timer, 40 ms later.
fn burst(
    h: &mut Harness,
    c: SocketHandle,
    a: SeqNum,
    seq: &mut u32,
    t: u64,
    len: usize,
) -> (usize, u64, u16) {
    let mut win = 0;
    for k in 0..40u64 {
        let v = data(h, c, a, seq, t + k, len, len >= 1000);
        if v.is_empty() {
            let ack = h.expect(ms(t + k + 40));
            assert_eq!(ack.ack(), SeqNum(*seq), "the delayed ACK");
            h.expect_none(ms(t + k + 41));
            return (k as usize, t + k, win);
        }
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0].is_pure_ack());
        assert_eq!(v[0].ack(), SeqNum(*seq));
        win = v[0].repr.window;
    }
    panic!("40 segments ACKed at once");
}

/// Linux `tcp_incr_quickack(sk, TCP_MAX_QUICKACKS)` for a window and MSS.
fn linux_count(win: u16, rcv_mss: usize) -> usize {
    (usize::from(win) / (2 * rcv_mss)).clamp(2, 16)
}

/// The window the SYN-ACK advertised (nothing ACKed since).
fn first_window(h: &Harness, c: SocketHandle) -> usize {
    let k = h.set.conn_for_test(c);
    k.rcv_wup.distance_to(k.rcv_adv)
}

fn rto_ms(h: &Harness, c: SocketHandle) -> u64 {
    h.set.conn_for_test(c).rtt.rto().total_millis()
}

#[test]
fn a_gap_longer_than_the_rto_restarts_quick_acks() {
    let (mut h, c, a) = open(Profile::linux());
    let mut seq = 1001;
    // The start: 16 quick ACKs, then delayed ACKs.
    let (n, last, win) = burst(&mut h, c, a, &mut seq, 1, 100);
    assert_eq!(n, 16);
    let rto = rto_ms(&h, c);
    assert!((200..=1000).contains(&rto), "rto {rto}");
    // Silence (pure ACKs from the peer do not count as data: Linux
    // `lrcvtime` is the time of the last in-order data).
    h.deliver(ms(last + rto / 2), seg().seq(seq).ack(a));
    h.expect_none(ms(last + rto / 2));
    // Data again one millisecond after the RTO: ACKed at once, the count
    // Linux gives (MSS 536 guessed, 100-byte segments seen: the full 16).
    let (n, _, _) = burst(&mut h, c, a, &mut seq, last + rto + 1, 100);
    let rcv_mss = h.set.conn_for_test(c).rcv_mss;
    assert_eq!(n, linux_count(win, rcv_mss), "win {win} rcv_mss {rcv_mss}");
    assert_eq!(n, 16);
}

#[test]
fn within_the_rto_the_delayed_ack_rule_holds() {
    let (mut h, c, a) = open(Profile::linux());
    let mut seq = 1001;
    let (_, mut last, _) = burst(&mut h, c, a, &mut seq, 1, 100);
    let rto = rto_ms(&h, c);
    // Gaps of half the RTO, and of exactly the RTO (Linux: `m > icsk_rto`).
    for gap in [rto / 2, rto] {
        let (n, t, _) = burst(&mut h, c, a, &mut seq, last + gap, 100);
        assert_eq!(n, 0, "gap {gap} ms of rto {rto}");
        last = t;
    }
    // Two segments unacknowledged, more than one MSS: ACKed at the second
    // (RFC 5681 4.2) whatever the gap.
    let v = data(&mut h, c, a, &mut seq, last + rto / 2, 1460, false);
    assert!(v.is_empty(), "{v:#?}");
    let v = data(&mut h, c, a, &mut seq, last + rto / 2 + 1, 1460, false);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].ack(), SeqNum(seq));
}

/// With a `rcvbuf`-byte buffer (no autotuning): the start burst of full
/// segments, then the quick ACKs after a gap of `rtos` RTOs and 1 ms.
/// Returns (quick ACKs after the gap, the window we advertised).
fn restart_count(rcvbuf: usize, rtos: u64) -> (usize, u16) {
    let mut p = Profile::linux();
    p.rcvbuf_default = rcvbuf;
    p.moderate_rcvbuf = false;
    let (mut h, c, a) = open(p);
    let mut seq = 1001;
    // Full segments: rcv_mss 1460. The start burst is Linux's count for
    // the window of the SYN-ACK (`tcp_incr_quickack` at the first data).
    let wnd0 = first_window(&h, c);
    let (n, last, win) = burst(&mut h, c, a, &mut seq, 1, 1460);
    assert_eq!(n, (wnd0 / 2920).clamp(2, 16), "window {wnd0}");
    assert_eq!(h.set.conn_for_test(c).rcv_mss, 1460);
    let rto = rto_ms(&h, c);
    let (n, _, _) = burst(&mut h, c, a, &mut seq, last + rtos * rto + 1, 1460);
    (n, win)
}

#[test]
fn the_restart_count_is_capped_by_the_window_like_linux() {
    // A 16 KiB buffer: a window of a few full segments.
    let (n, win) = restart_count(16384, 1);
    let want = linux_count(win, 1460);
    assert!(want < 16, "window {win} should cap the count");
    assert_eq!(n, want, "window {win}");
}

#[test]
fn a_tiny_window_still_gives_two_quick_acks() {
    // Less than two segments in half the window: Linux's floor of two.
    let (n, win) = restart_count(4096, 10);
    assert!(usize::from(win) / (2 * 1460) < 2, "window {win}");
    assert_eq!(n, 2);
}

/// The first data segment starts quick-ACK mode with Linux's count
/// (`tcp_event_data_recv`, `icsk_ack.ato == 0` -> `tcp_incr_quickack(sk,
/// TCP_MAX_QUICKACKS)`): the SYN-ACK's window over twice the receive MSS
/// estimate, at least 2, at most 16. Before session 9 it was always 16.
#[test]
fn the_first_data_gets_linux_window_capped_count() {
    // (buffer, segment size, expected count): small segments keep the
    // 536-byte receive MSS guess (Linux `tcp_initialize_rcv_mss`): the
    // default buffer (a 64 KiB SYN-ACK window) gives the full 16, 16 KiB
    // gives 15, 4 KiB gives 3; full segments (rcv_mss 1460, measured before
    // the count as `tcp_measure_rcv_mss` is) in 16 KiB give 5. The floor of
    // two is `a_tiny_window_still_gives_two_quick_acks`'s.
    for (rcvbuf, len, want) in [
        (131_072, 100, 16),
        (16_384, 100, 15),
        (4096, 100, 3),
        (16_384, 1460, 5),
    ] {
        let mut p = Profile::linux();
        p.rcvbuf_default = rcvbuf;
        p.moderate_rcvbuf = false;
        let (mut h, c, a) = open(p);
        let wnd0 = first_window(&h, c);
        let mut seq = 1001;
        let (n, _, _) = burst(&mut h, c, a, &mut seq, 1, len);
        let rcv_mss = if len >= 536 { 1460 } else { 536 };
        assert_eq!(n, (wnd0 / (2 * rcv_mss)).clamp(2, 16), "window {wnd0}");
        assert_eq!(n, want, "buffer {rcvbuf}, segments of {len}: window {wnd0}");
    }
}

/// `Profile::quickacks` = 0: no quick ACKs at all, the first data waits for
/// the delayed-ACK timer (the cap applies to the first count too).
#[test]
fn a_zero_cap_gives_no_quick_acks() {
    let mut p = Profile::linux();
    p.quickacks = 0;
    let (mut h, c, a) = open(p);
    let mut seq = 1001;
    let (n, _, _) = burst(&mut h, c, a, &mut seq, 1, 100);
    assert_eq!(n, 0);
}

/// The gap is judged against Linux's `icsk_rto`, which carries the
/// retransmission backoff: with our own data in RTO backoff (doubled
/// twice), peer data after three plain RTOs of silence is not a restart
/// (before session 9 it was: the plain RTO was the bound).
#[test]
fn the_gap_is_judged_against_the_backed_off_rto() {
    let (mut h, c, a) = open(Profile::linux());
    let mut seq = 1001;
    let (_, last, _) = burst(&mut h, c, a, &mut seq, 1, 100);
    let rto = rto_ms(&h, c);
    // Our data goes out and is never ACKed: two timeouts, backoff 2.
    h.set.send(c, b"ours").unwrap();
    let t0 = last + 50;
    let d = h.expect(ms(t0));
    assert_eq!(d.payload, b"ours");
    let r1 = h.expect(ms(t0 + rto));
    assert_eq!(r1.payload, b"ours");
    let r2 = h.expect(ms(t0 + 3 * rto));
    assert_eq!(r2.payload, b"ours");
    assert_eq!(h.set.conn_for_test(c).backoff, 2);
    assert_eq!(h.set.conn_for_test(c).icsk_rto().total_millis(), 4 * rto);
    // Peer data (not ACKing ours) 3 RTOs after its last data: within the
    // backed-off RTO (4 x), so the delayed-ACK rule holds.
    let t = t0 + 3 * rto + 10;
    assert!(t - last < 4 * rto && t - last > rto);
    let v = data(&mut h, c, a, &mut seq, t, 100, false);
    assert!(v.is_empty(), "{v:#?}");
    let ack = h.expect(ms(t + 40));
    assert_eq!(ack.ack(), SeqNum(seq));
}

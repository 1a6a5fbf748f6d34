//! The application-limited window decay (`tcp/idle.rs`; Linux
//! `tcp_cwnd_validate` -> `tcp_cwnd_application_limited`, RFC 2861's slow
//! part), segment by segment with explicit times: a sender that keeps 5
//! segments in flight with cwnd 40 keeps its window for one RTO, then
//! moves halfway down to max(used, IW10) at each further RTO.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::Profile;
use crate::time::Duration;

const MSS: usize = 1460;
/// The round trip of the scripted peer.
const RTT: u64 = 20;
/// The RTO once 20 ms samples came in: the 200 ms floor.
const RTO: u64 = 200;
/// ssthresh never set by a loss (`Congestion::with_algorithm`).
const INF: usize = usize::MAX / 2;

/// A passive connection (MSS 1460, window scale 7: an 8 MiB peer window,
/// no SACK or timestamps) whose window is put at `cwnd` and `ssthresh`
/// segments (`INF`: left infinite), established at 0 ms.
fn open(p: Profile, cwnd: usize, ssthresh: usize) -> (Harness, SocketHandle) {
    let mut p = p;
    p.sndbuf_default = 4 << 20;
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    let c = h.accept_scaled(l, 7);
    let sock = h.set.sock_mut(c).unwrap();
    let cc = &mut sock.conn.as_mut().unwrap().cc;
    cc.cwnd = cwnd * MSS;
    cc.ssthresh = if ssthresh == INF { INF } else { ssthresh * MSS };
    (h, c)
}

/// Queue up to `segs` full segments at `t`; returns what goes out at once.
fn write(h: &mut Harness, c: SocketHandle, t: u64, segs: usize) -> Vec<Sent> {
    h.at(ms(t));
    let n = h.set.send(c, &vec![1u8; segs * MSS]).unwrap();
    assert!(n > 0, "a write that queues nothing runs no check");
    h.sent(ms(t))
}

/// (cwnd, ssthresh) in segments.
fn window(h: &Harness, c: SocketHandle) -> (usize, usize) {
    let info = h.set.info(c).unwrap();
    (info.cwnd / MSS, info.ssthresh / MSS)
}

/// The request/response sender: from 0 ms to `until`, write `segs`
/// segments every RTT and have them all ACKed one RTT later. Returns
/// (time of the write, cwnd and ssthresh in segments right after it).
fn app_limited(
    h: &mut Harness,
    c: SocketHandle,
    segs: usize,
    until: u64,
) -> Vec<(u64, usize, usize)> {
    let mut seen = Vec::new();
    let mut t = 0;
    while t <= until {
        let flight = write(h, c, t, segs);
        assert_eq!(flight.len(), segs, "at {t} ms: cwnd never limits");
        let (cwnd, ssthresh) = window(h, c);
        seen.push((t, cwnd, ssthresh));
        t += RTT;
        assert!(h.ack_each(t, &flight).is_empty());
        assert_eq!(h.set.info(c).unwrap().rto, Duration::from_millis(RTO));
    }
    seen
}

#[test]
fn cwnd_stays_for_one_rto_then_moves_halfway_to_the_initial_window() {
    // Congestion avoidance (cwnd 40 > ssthresh 20) with 5 in flight: the
    // window is never in use. The first data sent starts the clock (Linux
    // stamps when the handshake completes). At 200 ms, one RTO later: win_used =
    // max(5, IW 10), cwnd = (40 + 10) / 2 = 25, ssthresh =
    // max(20, 3/4 * 40) = 30 (`tcp_current_ssthresh`).
    let (mut h, c) = open(Profile::linux(), 40, 20);
    let seen = app_limited(&mut h, c, 5, RTO);
    for &(t, cwnd, ssthresh) in &seen {
        let want = if t < RTO { (40, 20) } else { (25, 30) };
        assert_eq!((cwnd, ssthresh), want, "at {t} ms");
    }
    assert_eq!(h.set.conn_for_test(c).cc.cwnd_stamp(), Some(ms(RTO)));
}

#[test]
fn successive_rtos_decay_40_25_17_13_11_10_and_stop_at_the_initial_window() {
    // One decay per RTO since the last one; never below IW10 (win_used is
    // at least the initial window). ssthresh stays infinite here.
    let (mut h, c) = open(Profile::linux(), 40, INF);
    let seen = app_limited(&mut h, c, 5, 7 * RTO);
    let at = |t: u64| seen.iter().find(|s| s.0 == t).map(|s| (s.1, s.2));
    for (k, want) in [40, 25, 17, 13, 11, 10, 10, 10].into_iter().enumerate() {
        let t = k as u64 * RTO;
        assert_eq!(at(t), Some((want, INF / MSS)), "at {t} ms");
        // Between two checks the window holds.
        assert_eq!(
            at(t + RTO - RTT).map(|w| w.0),
            Some(want).filter(|_| k < 7),
            "before {}",
            t + RTO
        );
    }
}

#[test]
fn a_cwnd_limited_sender_keeps_its_window() {
    // A bulk sender fills cwnd every round: each ACK finds the window in
    // use and restamps (Linux "network is fed fully"). It writes every
    // round, so the check runs, for a second (5 RTOs).
    let (mut h, c) = open(Profile::linux(), 40, 20);
    let mut flight = write(&mut h, c, 0, 80);
    assert_eq!(flight.len(), 40);
    let mut t = 0;
    while t < 5 * RTO {
        t += RTT;
        flight = h.ack_each(t, &flight);
        flight.extend(write(&mut h, c, t, 100));
        let (cwnd, _) = window(&h, c);
        assert!(cwnd >= 40, "at {t} ms: cwnd {cwnd}");
        assert_eq!(flight.len(), cwnd, "at {t} ms: cwnd-limited");
        assert_eq!(h.set.conn_for_test(c).cc.cwnd_stamp(), Some(ms(t)));
    }
    assert!(window(&h, c).0 > 40, "avoidance grew it");
}

#[test]
fn no_decay_in_recovery() {
    // Linux decays only in TCP_CA_Open. The third duplicate ACK at 190 ms
    // starts fast recovery; the write at 200 ms (one RTO after the stamp)
    // leaves the window as recovery set it and only restarts the clock.
    let (mut h, c) = open(Profile::linux(), 40, INF);
    let seen = app_limited(&mut h, c, 5, RTO - 2 * RTT);
    assert!(seen.iter().all(|s| s.1 == 40));
    let t = RTO - RTT;
    let flight = write(&mut h, c, t, 5);
    for _ in 0..3 {
        h.deliver(ms(t + 10), seg().seq(1001).ack(flight[0].seq()));
    }
    let rtx = h.sent(ms(t + 10));
    assert_eq!(
        rtx.first().map(Sent::seq),
        Some(flight[0].seq()),
        "fast retransmit"
    );
    let conn = h.set.conn_for_test(c);
    assert!(conn.cc.recover.is_some());
    let before = window(&h, c);
    assert!(before.0 > 10, "{before:?}: a decay would show");
    write(&mut h, c, RTO, 5);
    assert_eq!(window(&h, c), before);
    assert_eq!(h.set.conn_for_test(c).cc.cwnd_stamp(), Some(ms(RTO)));
}

#[test]
fn no_decay_while_the_send_buffer_is_full() {
    // Limited by SO_SNDBUF, not by the application: each write fills the
    // buffer (Linux SOCK_NOSPACE), so cwnd 40 stays with about 16
    // segments in flight.
    let (mut h, c) = open(Profile::linux(), 40, 20);
    h.set.set_send_buffer_size(c, 16 * MSS).unwrap();
    let mut t = 0;
    while t <= 3 * RTO {
        let flight = write(&mut h, c, t, 40);
        assert!((10..=16).contains(&flight.len()), "{}", flight.len());
        assert_eq!(h.set.conn_for_test(c).snd_buf.free(), 0);
        assert_eq!(window(&h, c), (40, 20), "at {t} ms");
        t += RTT;
        assert!(h.ack_each(t, &flight).is_empty());
    }
    // The same flight from writes that leave room: (40 + 16) / 2 = 28.
    let (mut h, c) = open(Profile::linux(), 40, 20);
    let seen = app_limited(&mut h, c, 16, RTO);
    assert_eq!(seen.last().map(|s| (s.1, s.2)), Some((28, 30)));
}

#[test]
fn knob_off_keeps_an_unused_window() {
    // `tcp_slow_start_after_idle` = 0 turns the decay off with the restart.
    let mut p = Profile::linux();
    p.slow_start_after_idle = false;
    let (mut h, c) = open(p, 40, 20);
    let seen = app_limited(&mut h, c, 5, 5 * RTO);
    assert!(seen.iter().all(|s| (s.1, s.2) == (40, 20)), "{seen:?}");
    // The clock started with the first data and was never moved.
    assert_eq!(h.set.conn_for_test(c).cc.cwnd_stamp(), Some(ms(0)));
}

//! Scripted congestion-control scenarios: the window after a loss follows
//! the selected algorithm (Reno halves, CUBIC keeps 0.7), and
//! TCP_CONGESTION set on a listener reaches the accepted connection.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::{CongestionAlgorithm, Profile};

const MSS: usize = 1460;

/// A passive connection (MSS 1460, window scale 7, no SACK/timestamps) with
/// 4 MiB queued to send, under `algo` picked on the listener.
fn open(algo: CongestionAlgorithm) -> (Harness, SocketHandle) {
    let mut p = Profile::linux();
    p.sndbuf_default = 4 << 20;
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    h.set.set_congestion(l, algo).unwrap();
    let c = h.accept_scaled(l, 7);
    assert_eq!(
        h.set.congestion(c),
        Some(algo),
        "inherited from the listener"
    );
    let queued = h.set.send(c, &vec![7u8; 4 << 20]).unwrap();
    assert!(queued >= 2 << 20);
    (h, c)
}

/// Slow start to 80 segments, lose the first segment of that flight,
/// recover, then `rounds` loss-free RTTs (20 ms). Returns (ssthresh after
/// the loss, cwnd in segments after each round).
fn loss_then_grow(algo: CongestionAlgorithm, rounds: u64) -> (usize, Vec<usize>) {
    let (mut h, c) = open(algo);
    let mut t = 0;
    let mut flight = h.sent(ms(t));
    assert_eq!(flight.len(), 10, "IW10");
    for _ in 0..3 {
        t += 20;
        flight = h.ack_each(t, &flight);
    }
    assert_eq!(flight.len(), 80, "slow start doubled three times");
    assert_eq!(h.set.info(c).unwrap().cwnd, 80 * MSS);
    // The first segment is lost: 79 duplicate ACKs.
    t += 20;
    let hole = flight[0].seq();
    let end = flight[79].seq() + MSS;
    for _ in 1..80 {
        h.deliver(ms(t), seg().seq(1001).ack(hole));
    }
    let mut out = h.sent(ms(t));
    assert_eq!(out.first().map(Sent::seq), Some(hole), "fast retransmit");
    out.remove(0);
    let ssthresh = h.set.info(c).unwrap().ssthresh;
    // The retransmission arrives: everything up to the loss point is
    // acknowledged and recovery ends with cwnd = ssthresh.
    t += 20;
    h.deliver(ms(t), seg().seq(1001).ack(end));
    let info = h.set.info(c).unwrap();
    assert_eq!(info.cwnd, ssthresh);
    assert_eq!(info.total_retrans, 1);
    let mut flight: Vec<Sent> = out;
    flight.extend(h.sent(ms(t)));
    let mut cwnds = Vec::new();
    for _ in 0..rounds {
        t += 20;
        flight = h.ack_each(t, &flight);
        cwnds.push(h.set.info(c).unwrap().cwnd / MSS);
    }
    (ssthresh, cwnds)
}

#[test]
fn reno_halves_and_cubic_keeps_seven_tenths_after_a_loss() {
    // RFC 5681 3.2 step 2: ssthresh = FlightSize / 2 = 40 segments.
    let (reno_ss, reno) = loss_then_grow(CongestionAlgorithm::Reno, 12);
    assert_eq!(reno_ss, 40 * MSS);
    // RFC 9438 4.6: ssthresh = cwnd * 0.7 = 56 segments.
    let (cubic_ss, cubic) = loss_then_grow(CongestionAlgorithm::Cubic, 12);
    assert!(cubic_ss.abs_diff(56 * MSS) <= 1, "{cubic_ss}");
    // Afterwards Reno grows one segment per RTT (RFC 5681 3.1). At a 20 ms
    // RTT the cubic curve (K = cbrt(80 * 0.3 / 0.4) = 3.9 s) is nearly
    // flat, so CUBIC is in its Reno-friendly region: about
    // 3 (1 - 0.7) / (1 + 0.7) = 0.53 segment per RTT (RFC 9438 4.3), from
    // the higher start.
    assert_eq!(reno.last(), Some(&(40 + 12)), "{reno:?}");
    assert!(reno.windows(2).all(|w| w[1] <= w[0] + 1), "{reno:?}");
    let last = cubic.last().copied().unwrap_or(0);
    assert!((61..=63).contains(&last), "{cubic:?}");
    assert!(cubic.iter().zip(&reno).all(|(c, r)| c > r));
}

#[test]
fn switching_a_live_connection_keeps_its_window() {
    let (mut h, c) = open(CongestionAlgorithm::Cubic);
    let flight = h.sent(ms(0));
    h.ack_each(20, &flight);
    let before = h.set.info(c).unwrap().cwnd;
    h.set.set_congestion(c, CongestionAlgorithm::Reno).unwrap();
    assert_eq!(h.set.congestion(c), Some(CongestionAlgorithm::Reno));
    assert_eq!(h.set.info(c).unwrap().cwnd, before);
}

#[test]
fn active_open_uses_the_socket_choice_and_the_profile_default() {
    let mut h = Harness::new();
    let s = h.set.tcp_socket().unwrap();
    assert_eq!(h.set.congestion(s), Some(CongestionAlgorithm::Cubic));
    let mut p = Profile::linux();
    p.congestion = CongestionAlgorithm::Reno;
    let mut h = Harness::with_profile(p);
    let s = h.set.tcp_socket().unwrap();
    assert_eq!(h.set.congestion(s), Some(CongestionAlgorithm::Reno));
    // `active` opens a fresh socket: the profile's default.
    let (c, _, _) = h.active();
    assert_eq!(h.set.congestion(c), Some(CongestionAlgorithm::Reno));
    h.set.set_congestion(s, CongestionAlgorithm::Cubic).unwrap();
    h.set.connect(ms(0), s, REMOTE, RPORT + 1).unwrap();
    assert_eq!(h.set.congestion(s), Some(CongestionAlgorithm::Cubic));
}

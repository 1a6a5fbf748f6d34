//! Slow start under stretch ACKs (one ACK for many segments, as a peer with
//! GRO/LRO sends): RFC 3465 2.2 byte counting limits growth per ACK to
//! L = `abc_limit_segments` SMSS (2 by default); with the limit off (0)
//! every acknowledged segment counts, as Linux `tcp_slow_start` does.

use super::harness::*;
use crate::tcp::Profile;

const MSS: usize = 1460;

/// A passive connection (MSS 1460, no options beyond it) with 1 MiB queued,
/// its IW10 flight sent, then one ACK for all ten segments. Returns cwnd
/// before and after that ACK, in segments.
fn stretch_ack(abc_limit_segments: u32) -> (usize, usize) {
    let mut p = Profile::linux();
    p.sndbuf_default = 1 << 20;
    p.abc_limit_segments = abc_limit_segments;
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    let c = h.accept_scaled(l, 7);
    assert!(h.set.send(c, &vec![7u8; 1 << 20]).unwrap() >= 1 << 19);
    let flight = h.sent(ms(0));
    assert_eq!(flight.len(), 10, "IW10");
    let before = h.set.info(c).unwrap().cwnd;
    let last = flight.last().unwrap();
    h.deliver(ms(20), seg().seq(1001).ack(last.seq() + last.payload.len()));
    let after = h.set.info(c).unwrap().cwnd;
    (before / MSS, after / MSS)
}

#[test]
fn stretch_ack_grows_two_segments_by_default() {
    assert_eq!(Profile::linux().abc_limit_segments, 2);
    // RFC 3465 2.2: cwnd += min(N, L), L = 2 SMSS.
    assert_eq!(stretch_ack(2), (10, 12));
}

#[test]
fn stretch_ack_counts_every_segment_without_the_limit() {
    // Linux tcp_slow_start: cwnd += segments acked.
    assert_eq!(stretch_ack(0), (10, 20));
    // Any other L is honoured.
    assert_eq!(stretch_ack(4), (10, 14));
}

#[test]
fn unlimited_slow_start_stops_at_ssthresh() {
    use crate::tcp::congestion::Congestion;
    use crate::tcp::CongestionAlgorithm;
    use crate::time::Instant;
    for a in CongestionAlgorithm::ALL {
        let mut c = Congestion::with_algorithm(a, 10, MSS).with_abc_limit(0);
        c.ssthresh = 16 * MSS;
        // One 64 KiB GRO ACK (45 segments).
        c.on_ack_at(Instant::ZERO, 45 * MSS, MSS, None, 45 * MSS);
        assert_eq!(c.cwnd, 16 * MSS, "{a}: Linux min(cwnd + acked, ssthresh)");
    }
}

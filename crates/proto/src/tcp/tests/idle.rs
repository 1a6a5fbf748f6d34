//! The congestion window after idle (`tcp/idle.rs`; RFC 5681 4.1, Linux
//! `tcp_slow_start_after_idle` = 1 and `tcp_cwnd_restart`), segment by
//! segment with explicit times: a sender that grew cwnd to 80 segments and
//! then sent nothing for more than one RTO sends only the restart burst
//! before the next ACK.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::Profile;
use crate::time::Duration;

const MSS: usize = 1460;
/// The round trip of the scripted peer.
const RTT: u64 = 20;

/// A passive connection (MSS 1460, window scale 7: an 8 MiB peer window,
/// no SACK or timestamps).
fn open(p: Profile) -> (Harness, SocketHandle) {
    let mut p = p;
    p.sndbuf_default = 4 << 20;
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    let c = h.accept_scaled(l, 7);
    (h, c)
}

/// Queue `segs` full segments at `t`; returns what goes out at once.
fn write(h: &mut Harness, c: SocketHandle, t: u64, segs: usize) -> Vec<Sent> {
    h.at(ms(t));
    assert_eq!(h.set.send(c, &vec![1u8; segs * MSS]), Ok(segs * MSS));
    h.sent(ms(t))
}

/// Queue `n` bytes at `t`; returns what goes out at once.
fn write_bytes(h: &mut Harness, c: SocketHandle, t: u64, n: usize) -> Vec<Sent> {
    h.at(ms(t));
    assert_eq!(h.set.send(c, &vec![1u8; n]), Ok(n));
    h.sent(ms(t))
}

/// Slow start from IW10 to 80 segments with exactly 70 segments of data:
/// the last data leaves at 2 RTTs, the last ACK arrives at 3 RTTs and
/// nothing is left in flight. Returns the time of the last data sent.
fn grow_to_80(h: &mut Harness, c: SocketHandle) -> u64 {
    let mut flight = write(h, c, 0, 70);
    assert_eq!(flight.len(), 10, "IW10");
    let mut t = 0;
    let mut last_data = 0;
    while !flight.is_empty() {
        last_data = t;
        t += RTT;
        flight = h.ack_each(t, &flight);
    }
    let info = h.set.info(c).unwrap();
    assert_eq!((info.cwnd, info.unacked), (80 * MSS, 0));
    assert_eq!(
        info.ssthresh,
        usize::MAX / 2,
        "never lost: ssthresh infinite"
    );
    assert_eq!(last_data, 2 * RTT);
    last_data
}

/// Put the window where a scenario needs it (cwnd, ssthresh in bytes).
fn set_window(h: &mut Harness, c: SocketHandle, cwnd: usize, ssthresh: usize) {
    let sock = h.set.sock_mut(c).unwrap();
    let cc = &mut sock.conn.as_mut().unwrap().cc;
    cc.cwnd = cwnd;
    cc.ssthresh = ssthresh;
}

/// The RTO of the grown connection (20 ms samples: the 200 ms floor).
fn rto(h: &Harness, c: SocketHandle) -> u64 {
    let rto = h.set.info(c).unwrap().rto;
    assert_eq!(rto, Duration::from_millis(200));
    rto.total_millis()
}

/// Grow to 80 segments, stay silent until `idle` ms after the last data
/// sent, then queue 200 segments: (segments sent before any ACK, cwnd
/// and ssthresh in segments).
fn burst_after(p: Profile, idle: u64) -> (usize, usize, usize) {
    let (mut h, c) = open(p);
    let last = grow_to_80(&mut h, c);
    rto(&h, c);
    let burst = write(&mut h, c, last + idle, 200);
    assert!(burst.iter().all(|s| s.payload.len() == MSS));
    let info = h.set.info(c).unwrap();
    (burst.len(), info.cwnd / MSS, info.ssthresh / MSS)
}

#[test]
fn no_restart_within_one_rto() {
    // RFC 5681 4.1: only an idle period exceeding the RTO restarts; the
    // last ACK came 20 ms after the last data, so 200 ms after the data
    // is 180 ms of real silence.
    let (n, cwnd, _) = burst_after(Profile::linux(), 200);
    assert_eq!((n, cwnd), (80, 80));
    let (n, cwnd, _) = burst_after(Profile::linux(), 150);
    assert_eq!((n, cwnd), (80, 80));
}

#[test]
fn cwnd_halves_once_per_rto_of_idle_down_to_the_initial_window() {
    // Linux `tcp_cwnd_restart`: ssthresh = max(ssthresh, 3/4 cwnd) (here
    // the infinite one stays), cwnd halves for every RTO of silence beyond
    // the first, never below min(IW, cwnd).
    let ss = usize::MAX / 2 / MSS;
    for (idle, want) in [
        (201, 40),
        (300, 40),
        (400, 40),
        (401, 20),
        (500, 20),
        (700, 10),
        (10_000, 10),
        (3_600_000, 10),
    ] {
        let (n, cwnd, ssthresh) = burst_after(Profile::linux(), idle);
        assert_eq!((n, cwnd, ssthresh), (want, want, ss), "idle {idle} ms");
    }
}

#[test]
fn restart_keeps_three_quarters_of_the_window_as_ssthresh() {
    // With a finite ssthresh below 3/4 cwnd, ssthresh rises to 60 segments
    // (`tcp_current_ssthresh`), and slow start after the restart leads
    // back towards the old window.
    let (mut h, c) = open(Profile::linux());
    let last = grow_to_80(&mut h, c);
    let rto = rto(&h, c);
    set_window(&mut h, c, 80 * MSS, 50 * MSS);
    let t = last + 3 * rto / 2;
    let burst = write(&mut h, c, t, 200);
    let info = h.set.info(c).unwrap();
    assert_eq!(burst.len(), 40);
    assert_eq!((info.cwnd, info.ssthresh), (40 * MSS, 60 * MSS));
    // Slow start for 20 segments, then congestion avoidance.
    let next = h.ack_each(t + RTT, &burst);
    let cwnd = h.set.info(c).unwrap().cwnd / MSS;
    assert!((60..=62).contains(&cwnd), "{cwnd}");
    assert_eq!(next.len(), cwnd);
}

#[test]
fn knob_off_keeps_the_window() {
    let mut p = Profile::linux();
    p.slow_start_after_idle = false;
    let (n, cwnd, ssthresh) = burst_after(p, 10_000);
    assert_eq!((n, cwnd, ssthresh), (80, 80, usize::MAX / 2 / MSS));
    assert!(Profile::linux().slow_start_after_idle, "Linux default: 1");
}

#[test]
fn a_second_write_before_anything_went_out_does_not_halve_again() {
    let (mut h, c) = open(Profile::linux());
    let last = grow_to_80(&mut h, c);
    let t = last + 300;
    h.at(ms(t));
    for _ in 0..3 {
        assert_eq!(h.set.send(c, &[1u8; 50 * MSS]), Ok(50 * MSS));
    }
    assert_eq!(h.sent(ms(t)).len(), 40);
    assert_eq!(h.set.info(c).unwrap().cwnd, 40 * MSS);
}

#[test]
fn no_restart_with_data_in_flight() {
    // Linux checks `packets_out == 0`: a sender whose data is still
    // unacknowledged is not idle, however long ago it last sent. The peer
    // acknowledges one segment every 150 ms (each ACK restarts the RTO
    // timer, RFC 6298 5.3), so 1.5 s after the last data most of the
    // window is still out when the application writes again.
    let (mut h, c) = open(Profile::linux());
    let last = grow_to_80(&mut h, c);
    let mut t = last + 2 * RTT;
    let flight = write(&mut h, c, t, 80);
    assert_eq!(flight.len(), 80);
    let sent_at = t;
    for s in flight.iter().take(10) {
        t += 150;
        h.deliver(ms(t), seg().seq(1001).ack(s.seq() + MSS));
        assert!(h.sent(ms(t)).is_empty());
    }
    assert_eq!(h.set.info(c).unwrap().rtos, 0);
    assert!(t - sent_at > 5 * rto(&h, c));
    let before = h.set.info(c).unwrap();
    assert_eq!(before.unacked, 70 * MSS);
    let out = write(&mut h, c, t, 100);
    let after = h.set.info(c).unwrap();
    assert_eq!((after.cwnd, after.ssthresh), (before.cwnd, before.ssthresh));
    assert_eq!(out.len(), before.cwnd / MSS - 70);
}

#[test]
fn a_small_window_is_its_own_restart_window() {
    // RW = min(IW, cwnd): a window below IW10 (here 4 segments after a
    // loss) stays as it is, and ssthresh keeps its value above 3/4 cwnd.
    let (mut h, c) = open(Profile::linux());
    let last = grow_to_80(&mut h, c);
    set_window(&mut h, c, 4 * MSS, 6 * MSS);
    let burst = write(&mut h, c, last + 10_000, 20);
    let info = h.set.info(c).unwrap();
    assert_eq!(burst.len(), 4);
    assert_eq!((info.cwnd, info.ssthresh), (4 * MSS, 6 * MSS));
}

#[test]
fn every_data_segment_stamps_the_send_time() {
    // Linux `tcp_event_data_sent`: the bulk path, the general path and a
    // retransmission update `lsndtime`; a pure ACK does not.
    let (mut h, c) = open(Profile::linux());
    let last = grow_to_80(&mut h, c);
    let stamp = |h: &Harness| h.set.conn_for_test(c).cc.last_send().unwrap();
    assert_eq!(stamp(&h), ms(last), "bulk path");
    h.deliver(
        ms(100),
        seg()
            .seq(1001)
            .ack(h.set.conn_for_test(c).snd_una)
            .data(&[5; 100]),
    );
    let ack = h.sent(ms(100));
    assert!(ack.len() == 1 && ack[0].is_pure_ack());
    assert_eq!(stamp(&h), ms(last), "a pure ACK");
    // 100 bytes with nothing in flight: too short for the bulk path.
    let short = write_bytes(&mut h, c, 110, 100);
    assert_eq!(short.len(), 1);
    assert_eq!(stamp(&h), ms(110), "general path");
    let out = write_bytes(&mut h, c, 115, 4 * MSS);
    assert_eq!(out.len(), 4);
    assert_eq!(stamp(&h), ms(115), "bulk path with data in flight");
    for _ in 0..3 {
        h.deliver(ms(125), seg().seq(1101).ack(short[0].seq()));
    }
    let rtx = h.sent(ms(125));
    assert_eq!(
        rtx.first().map(Sent::seq),
        Some(short[0].seq()),
        "fast retransmit"
    );
    assert_eq!(stamp(&h), ms(125), "retransmission");
}

//! Retransmission, backoff, SYN retries, persist.

use super::harness::*;
use crate::tcp::{SeqNum, State, TcpError};

#[test]
fn syn_retries_then_etimedout() {
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    h.expect(ms(0));
    let mut times = Vec::new();
    let mut t = 0;
    while t < 200_000 {
        t += 100;
        for s in h.sent(ms(t)) {
            assert!(s.is_syn());
            times.push(t);
        }
    }
    assert_eq!(times, vec![1000, 3000, 7000, 15000, 31000, 63000]);
    assert_eq!(h.state(c), Some(State::Closed));
    assert_eq!(h.set.take_error(c), Some(TcpError::TimedOut));
}

#[test]
fn rto_backoff_and_recovery() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    // The handshake gave an RTT sample of 0: RTO is the 200 ms floor.
    assert_eq!(h.set.info(c).unwrap().rto.total_millis(), 200);
    h.set.send(c, b"data").unwrap();
    h.expect(ms(0));
    h.expect_none(ms(199));
    let r1 = h.expect(ms(200));
    assert_eq!(r1.seq(), iss + 1);
    assert_eq!(r1.payload, b"data");
    h.expect_none(ms(599));
    let r2 = h.expect(ms(600));
    assert_eq!(r2.payload, b"data");
    h.expect_none(ms(1399));
    h.expect(ms(1400));
    assert_eq!(h.set.info(c).unwrap().retransmits, 3);
    assert_eq!(h.set.info(c).unwrap().rto.total_millis(), 1600);
    h.deliver(ms(1500), seg().seq(1001).ack(iss + 5));
    assert_eq!(h.set.info(c).unwrap().retransmits, 0);
    assert_eq!(h.set.info(c).unwrap().unacked, 0);
    // Karn: the ACK of a retransmission gives no new sample.
    assert_eq!(h.set.info(c).unwrap().rtt.total_micros(), 0);
}

#[test]
fn rto_starts_at_one_second_without_samples() {
    let mut h = Harness::new();
    let c = h.set.tcp_socket().unwrap();
    h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
    let syn = h.expect(ms(0));
    let port = syn.repr.src_port;
    // The SYN is retransmitted at 1 s; its SYN-ACK then gives no sample (Karn).
    assert!(h.expect(ms(1000)).is_syn());
    h.deliver(ms(1100), seg().dport(port).syn().seq(1).ack(syn.seq() + 1));
    h.expect(ms(1100));
    assert_eq!(h.set.info(c).unwrap().rto.total_millis(), 1000);
    h.set.send(c, b"x").unwrap();
    h.expect(ms(1100));
    h.expect_none(ms(2099));
    assert_eq!(h.expect(ms(2100)).payload, b"x");
}

#[test]
fn retries2_gives_etimedout() {
    let mut h = Harness::new();
    let (_l, c, _iss) = h.passive();
    h.set.send(c, b"data").unwrap();
    h.expect(ms(0));
    let mut n = 0;
    let mut t = 0u64;
    while h.state(c) != Some(State::Closed) && t < 4_000_000 {
        t += 500;
        n += h.sent(ms(t)).len();
    }
    assert_eq!(n, 15);
    assert_eq!(h.set.take_error(c), Some(TcpError::TimedOut));
}

#[test]
fn zero_window_persist_probes_back_off() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(0), seg().seq(1001).ack(iss + 1).win(0));
    h.set.send(c, b"blocked").unwrap();
    h.expect_none(ms(0));
    // RTO is 200 ms (handshake sample); probes at 200, 600, 1400 ms.
    h.expect_none(ms(199));
    let p1 = h.expect(ms(200));
    assert!(p1.is_pure_ack());
    assert_eq!(p1.seq(), iss, "probe uses snd_una - 1");
    h.deliver(ms(201), seg().seq(1001).ack(iss + 1).win(0));
    h.expect_none(ms(599));
    let p2 = h.expect(ms(600));
    assert!(p2.is_pure_ack());
    h.expect_none(ms(1399));
    assert!(h.expect(ms(1400)).is_pure_ack());
    // The window opens: the data flows.
    h.deliver(ms(1401), seg().seq(1001).ack(iss + 1).win(1000));
    let d = h.expect(ms(1401));
    assert_eq!(d.payload, b"blocked");
    assert_eq!(d.seq(), iss + 1);
    let _ = SeqNum(0);
}

#[test]
fn fast_retransmit_on_three_dup_acks() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, &vec![1u8; 1460 * 5]).unwrap();
    assert_eq!(h.sent(ms(0)).len(), 5);
    for i in 0..3 {
        h.deliver(ms(10 + i), seg().seq(1001).ack(iss + 1));
    }
    let r = h.expect(ms(13));
    assert_eq!(r.seq(), iss + 1);
    assert_eq!(r.payload.len(), 1460);
}

#[test]
fn keepalive_probes_then_times_out() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.set_keepalive(c, true).unwrap();
    h.expect_none(ms(7_199_999));
    let p1 = h.expect(ms(7_200_000));
    assert!(p1.is_pure_ack());
    assert_eq!(p1.seq(), iss, "keepalive probe: snd_una - 1");
    // An answer resets the idle timer.
    h.deliver(ms(7_200_010), seg().seq(1001).ack(iss + 1));
    h.expect_none(ms(7_200_011));
    h.expect_none(ms(14_400_009));
    assert!(h.expect(ms(14_400_010)).is_pure_ack());
    // No answers: 9 probes 75 s apart, then ETIMEDOUT.
    let mut probes = 1;
    let mut t = 14_400_010u64;
    while h.state(c) == Some(State::Established) {
        t += 75_000;
        probes += h.sent(ms(t)).len();
        assert!(t < 20_000_000);
    }
    assert_eq!(probes, 9);
    assert_eq!(h.set.take_error(c), Some(TcpError::TimedOut));
}

#[test]
fn window_closing_with_data_in_flight_does_not_time_out() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, &[1; 3000]).unwrap();
    // Two full segments; Nagle holds the 80-byte tail.
    assert_eq!(h.sent(ms(0)).len(), 2);
    // The peer acknowledges the first 1460 bytes and closes its window.
    let mut t = 1;
    h.deliver(ms(t), seg().seq(1001).ack(iss + 1461).win(0));
    // For ten minutes the peer answers every probe with a zero window.
    while t < 600_000 {
        t += 100;
        let v = h.sent(ms(t));
        if !v.is_empty() {
            h.deliver(ms(t), seg().seq(1001).ack(iss + 1461).win(0));
        }
    }
    assert_eq!(h.state(c), Some(State::Established));
    h.deliver(ms(t + 1), seg().seq(1001).ack(iss + 1461).win(60_000));
    let v = h.sent(ms(t + 1));
    // The retransmitted segment goes at once; Nagle holds the small tail.
    assert_eq!(v.iter().map(|s| s.payload.len()).sum::<usize>(), 1460);
}

#[test]
fn limited_transmit_sends_new_data_on_early_dup_acks() {
    let mut p = crate::tcp::Profile::linux();
    p.initial_cwnd = 2;
    let mut h = Harness::with_profile(p);
    let (_l, c, iss) = h.passive();
    h.set.send(c, &vec![1u8; 1460 * 6]).unwrap();
    assert_eq!(h.sent(ms(0)).len(), 2, "cwnd 2");
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1));
    let a = h.expect(ms(10));
    assert_eq!(a.seq(), iss + 1 + 2 * 1460, "one new segment per dup ACK");
    h.deliver(ms(11), seg().seq(1001).ack(iss + 1));
    let a = h.expect(ms(11));
    assert_eq!(a.seq(), iss + 1 + 3 * 1460);
    h.deliver(ms(13), seg().seq(1001).ack(iss + 1));
    // Third duplicate: fast retransmit of the head.
    let r = h.sent(ms(13));
    assert_eq!(r[0].seq(), iss + 1);
}

#[test]
fn sacks_on_data_segments_trigger_fast_retransmit() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).mss(1460).sack_perm());
    let sa = h.expect(ms(0));
    let iss = sa.seq();
    h.deliver(ms(0), seg().seq(1001).ack(iss + 1));
    let c = h.set.accept(l).unwrap();
    h.set.send(c, &vec![1u8; 1460 * 6]).unwrap();
    assert_eq!(h.sent(ms(0)).len(), 6);
    // The first segment is lost; the peer's replies carry data, the same
    // cumulative ACK, and growing SACK blocks.
    let mut seq = 1001u32;
    for k in 1..=3u32 {
        let mut s = seg().seq(seq).ack(iss + 1).data(&[7; 100]);
        s.sack = Some((iss.0 + 1 + 1460, iss.0 + 1 + 1460 * (k + 1)));
        h.deliver(ms(10 + u64::from(k)), s);
        seq += 100;
    }
    let v = h.sent(ms(13));
    assert!(
        v.iter()
            .any(|s| s.seq() == iss + 1 && s.payload.len() == 1460),
        "{v:#?}"
    );
}

#[test]
fn fast_retransmit_never_sends_beyond_snd_max() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, &[1u8; 500]).unwrap();
    assert_eq!(h.expect(ms(0)).payload.len(), 500);
    // More data queued but held by Nagle; three duplicate ACKs arrive.
    h.set.send(c, &[2u8; 300]).unwrap();
    for i in 0..3 {
        h.deliver(ms(10 + i), seg().seq(1001).ack(iss + 1));
    }
    let v = h.sent(ms(13));
    let r = v
        .iter()
        .find(|s| s.seq() == iss + 1)
        .expect("retransmission");
    assert_eq!(r.payload.len(), 500);
    assert_eq!(r.payload, vec![1u8; 500]);
}

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

//! Timestamps (RFC 7323): PAWS, RTT from TSecr, and sequence-number wrap.

use super::harness::*;
use crate::sockets::{RecvError, SocketHandle};
use crate::tcp::{SeqNum, State};
use crate::time::{Duration, Instant};

/// A passive open with timestamps; the peer's ISS is `irs`, its first TSval 100.
/// Returns (connection, our ISS, our SYN-ACK's TSval).
fn passive_ts(h: &mut Harness, irs: u32) -> (SocketHandle, SeqNum, u32) {
    let l = h.listen(8);
    h.deliver(h.now, seg().syn().seq(irs).mss(1460).ts(100, 0));
    let synack = h.expect(h.now);
    assert!(synack.is_synack());
    let our_ts = synack.repr.timestamp.expect("TS echoed in SYN-ACK");
    assert_eq!(our_ts.tsecr, 100);
    let iss = synack.seq();
    h.deliver(
        h.now,
        seg()
            .seq(irs.wrapping_add(1))
            .ack(iss + 1)
            .ts(101, our_ts.tsval),
    );
    let c = h.set.accept(l).expect("accept");
    assert_eq!(h.state(c), Some(State::Established));
    (c, iss, our_ts.tsval)
}

#[test]
fn paws_drops_old_timestamp_and_acks() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"new").ts(200, 0));
    let a = h.expect(ms(10));
    assert_eq!(a.ack(), SeqNum(1004));
    // TS.Recent is now 200; an old duplicate with TSval 150 (in window,
    // fresh sequence numbers) is a wrapped-around ghost: drop, ACK.
    h.deliver(ms(20), seg().seq(1004).ack(iss + 1).data(b"old").ts(150, 0));
    let a = h.expect(ms(20));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1004));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    let mut buf = [0u8; 16];
    assert_eq!(h.set.recv(c, &mut buf), Ok(3));
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::WouldBlock));
    // The same bytes with a current timestamp are taken.
    h.deliver(ms(30), seg().seq(1004).ack(iss + 1).data(b"cur").ts(201, 0));
    assert_eq!(h.set.recv(c, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"cur");
    // A reset is accepted whatever its timestamp (RFC 7323 5.3).
    h.deliver(ms(40), seg().rst().seq(1007).ts(1, 0));
    assert_ne!(h.state(c), Some(State::Established));
}

/// Linux 6.14+ `tcp_disordered_ack_check` (`kernel_paws_old_ack` in
/// crates/net/tests shows Linux 6.18 doing the same on the wire): a pure ACK
/// that fails PAWS and starts below `rcv_nxt` was overtaken by later data;
/// it is dropped without a duplicate ACK and counted as `paws_old_ack`. A
/// pure ACK at `rcv_nxt` too old for the replay window, and data, still
/// get the (rate-limited) duplicate ACK and count as `paws_rejected`.
#[test]
fn paws_drops_an_old_pure_ack_silently() {
    let mut h = Harness::new();
    let (_c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(
        ms(10),
        seg().seq(1001).ack(iss + 1).data(b"new").ts(5000, 0),
    );
    assert_eq!(h.expect(ms(10)).ack(), SeqNum(1004));
    // An ACK sent before that data, arriving after it.
    h.deliver(ms(20), seg().seq(1001).ack(iss + 1).ts(1000, 0));
    h.expect_none(ms(20));
    let st = h.set.tcp_stats();
    assert_eq!((st.paws_old_ack, st.paws_rejected), (1, 0));
    // At rcv_nxt, 4000 ticks behind (beyond one RTO): a PAWS dupack.
    h.deliver(ms(30), seg().seq(1004).ack(iss + 1).ts(1000, 0));
    let a = h.expect(ms(30));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1004));
    let st = h.set.tcp_stats();
    assert_eq!((st.paws_old_ack, st.paws_rejected), (1, 1));
    // Data from below rcv_nxt is not a pure ACK: PAWS, and (after the
    // out-of-window ACK limit, 500 ms) a dupack.
    h.deliver(
        ms(600),
        seg().seq(1001).ack(iss + 1).data(b"new").ts(1000, 0),
    );
    assert!(h.expect(ms(600)).is_pure_ack());
    let st = h.set.tcp_stats();
    assert_eq!((st.paws_old_ack, st.paws_rejected), (1, 2));
    // A FIN from below rcv_nxt occupies sequence space: not a pure ACK.
    h.deliver(ms(1200), seg().fin().seq(1001).ack(iss + 1).ts(1000, 0));
    assert!(h.expect(ms(1200)).is_pure_ack());
    assert_eq!(h.set.tcp_stats().paws_rejected, 3);
}

#[test]
fn paws_tsval_wraps_modulo_2_32() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    // The peer's clock runs on (steps below 2^31 each) and wraps past zero.
    let mut seq = 1001u32;
    for (i, tsval) in [0x6000_0000u32, 0xc000_0000, 10].into_iter().enumerate() {
        let t = ms(10 + i as u64);
        h.deliver(t, seg().seq(seq).ack(iss + 1).data(b"a").ts(tsval, 0));
        h.sent(t);
        seq += 1;
    }
    let mut buf = [0u8; 4];
    assert_eq!(h.set.recv(c, &mut buf), Ok(3));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    // 0xc000_0001 is now before 10 (modulo 2^32): rejected.
    h.deliver(
        ms(30),
        seg().seq(seq).ack(iss + 1).data(b"c").ts(0xc000_0001, 0),
    );
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::WouldBlock));
}

#[test]
fn paws_ignores_stale_ts_recent_after_24_days() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"x").ts(5000, 0));
    h.sent(ms(10));
    let later = Instant::from_millis(10) + Duration::from_secs(25 * 86_400);
    h.deliver(later, seg().seq(1002).ack(iss + 1).data(b"y").ts(7, 0));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    let mut buf = [0u8; 4];
    assert_eq!(h.set.recv(c, &mut buf), Ok(2));
    // TS.Recent was replaced by the new, smaller value.
    h.sent(later);
    h.deliver(later, seg().seq(1003).ack(iss + 1).data(b"z").ts(8, 0));
    assert_eq!(h.set.recv(c, &mut buf), Ok(1));
}

#[test]
fn rtt_sample_from_tsecr_even_for_a_retransmission() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.set.send(c, b"data").unwrap();
    let d = h.expect(ms(0));
    assert_eq!(d.payload, b"data");
    // RTO (1 s initial) fires: the retransmission carries a new TSval.
    let r = h.expect(ms(1000));
    assert_eq!(r.payload, b"data");
    let tsval = r.repr.timestamp.unwrap().tsval;
    // The handshake gave one sample: 1 ms (the floor of a 0 ms echo).
    // The ACK echoes the retransmission's TSval: a valid 50 ms sample,
    // which Karn's rule alone would have had to discard:
    // SRTT = 7/8 * 1 + 1/8 * 50 ms.
    h.deliver(ms(1050), seg().seq(1001).ack(iss + 5).ts(300, tsval));
    let info = h.set.info(c).unwrap();
    assert_eq!(info.unacked, 0);
    assert_eq!(info.rtt, Duration::from_micros(7_125));
}

#[test]
fn rtt_sample_from_tsecr_on_every_ack() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.set.set_nodelay(c, true).unwrap();
    h.set.send(c, b"a").unwrap();
    let a = h.expect(ms(0));
    h.set.send(c, b"b").unwrap();
    let b = h.expect(ms(40));
    let (ta, tb) = (
        a.repr.timestamp.unwrap().tsval,
        b.repr.timestamp.unwrap().tsval,
    );
    assert_eq!(tb.wrapping_sub(ta), 40);
    h.deliver(ms(100), seg().seq(1001).ack(iss + 2).ts(300, ta));
    // After the handshake's 1 ms sample: 7/8 * 1 + 1/8 * 100 ms.
    assert_eq!(h.set.info(c).unwrap().rtt, Duration::from_micros(13_375));
    h.deliver(ms(100), seg().seq(1001).ack(iss + 3).ts(300, tb));
    // A second sample (60 ms) from the next ACK: 7/8 * 13.375 + 1/8 * 60.
    assert_eq!(h.set.info(c).unwrap().rtt, Duration::from_micros(19_203));
}

#[test]
fn receive_across_sequence_wrap() {
    let mut h = Harness::new();
    let irs = u32::MAX - 1000;
    let (c, iss, _) = passive_ts(&mut h, irs);
    let chunk = vec![9u8; 600];
    let s0 = irs.wrapping_add(1);
    let s1 = s0.wrapping_add(600);
    let s2 = s1.wrapping_add(600); // past the wrap
                                   // Out of order across the wrap first: a SACK-less duplicate ACK.
    h.deliver(ms(10), seg().seq(s2).ack(iss + 1).data(&chunk).ts(200, 0));
    let a = h.expect(ms(10));
    assert_eq!(a.ack(), SeqNum(s0));
    h.deliver(ms(11), seg().seq(s0).ack(iss + 1).data(&chunk).ts(201, 0));
    h.deliver(ms(12), seg().seq(s1).ack(iss + 1).data(&chunk).ts(202, 0));
    let v = h.sent(ms(12));
    let last = v.last().expect("an ACK");
    assert_eq!(last.ack(), SeqNum(s2.wrapping_add(600)));
    assert!(s2.wrapping_add(600) < 1000, "the sequence space wrapped");
    let mut buf = vec![0u8; 4000];
    assert_eq!(h.set.recv(c, &mut buf), Ok(1800));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
}

/// Linux `tcp_paws_check(.., TCP_PAWS_WINDOW)`: a synchronized connection
/// accepts a TSval one tick older than TS.Recent, not two.
#[test]
fn paws_window_is_one_tick() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"a").ts(200, 0));
    h.sent(ms(10));
    h.deliver(ms(20), seg().seq(1002).ack(iss + 1).data(b"b").ts(199, 0));
    h.sent(ms(20));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0, "one tick older");
    // TS.Recent stays 200 (199 is not newer): 198 is two ticks older.
    h.deliver(ms(30), seg().seq(1003).ack(iss + 1).data(b"c").ts(198, 0));
    assert!(h.expect(ms(30)).is_pure_ack());
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    let mut buf = [0u8; 4];
    assert_eq!(h.set.recv(c, &mut buf), Ok(2));
}

/// RFC 7323 5.5 with Linux's bound (`TCP_PAWS_WRAP`, 2147 s, see
/// tcp/paws.rs): TS.Recent stamped in second 0 still rejects an older
/// TSval in second 2146 and no longer does in second 2147.
#[test]
fn paws_ts_recent_stale_after_tcp_paws_wrap() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"x").ts(5000, 0));
    h.sent(ms(10));
    h.deliver(
        ms(2_146_999),
        seg().seq(1002).ack(iss + 1).data(b"y").ts(7, 0),
    );
    h.sent(ms(2_146_999));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1, "second 2146");
    h.deliver(
        ms(2_147_000),
        seg().seq(1002).ack(iss + 1).data(b"y").ts(7, 0),
    );
    h.sent(ms(2_147_000));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1, "second 2147");
    let mut buf = [0u8; 4];
    assert_eq!(h.set.recv(c, &mut buf), Ok(2));
    // A second later TS.Recent takes the new, smaller values again.
    h.deliver(
        ms(2_148_000),
        seg().seq(1003).ack(iss + 1).data(b"z").ts(8, 0),
    );
    let a = h.expect(ms(2_148_000));
    assert_eq!(a.repr.timestamp.map(|t| t.tsecr), Some(8));
    h.deliver(
        ms(2_148_001),
        seg().seq(1004).ack(iss + 1).data(b"w").ts(9, 0),
    );
    assert_eq!(h.set.recv(c, &mut buf), Ok(2));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
}

/// Linux `tcp_paws_check`: TS.Recent 0 (a peer that sent TSval 0 in its
/// SYN) is never held against a segment, whatever its TSval.
#[test]
fn paws_ignores_ts_recent_zero() {
    let mut h = Harness::new();
    // The final ACK still carries TSval 0; then a TSval "older" than 0.
    let (c, iss, _) = passive_ts_zero(&mut h);
    h.deliver(
        ms(2),
        seg().seq(1001).ack(iss + 1).data(b"x").ts(0x9000_0000, 0),
    );
    h.sent(ms(2));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    let mut buf = [0u8; 4];
    assert_eq!(h.set.recv(c, &mut buf), Ok(1));
}

/// Outside TIME_WAIT a reset passes PAWS whatever its timestamp and
/// however young TS.Recent is (Linux `tcp_validate_incoming`: "Reset is
/// accepted even if it did not pass PAWS"; `TCP_PAWS_MSL` only relaxes
/// TIME_WAIT's rule), then meets RFC 5961's sequence check.
#[test]
fn reset_passes_paws_in_synchronized_states() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"x").ts(5000, 0));
    h.sent(ms(10));
    // 1 s after TS.Recent was stamped, an older reset in window but not
    // at rcv_nxt: a challenge ACK (RFC 5961 3.2), not a PAWS drop.
    h.deliver(ms(1_010), seg().rst().seq(1003).ts(4000, 0));
    assert!(h.expect(ms(1_010)).is_pure_ack());
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    assert_eq!(h.state(c), Some(State::Established));
    // Exactly at rcv_nxt: the connection is reset.
    h.deliver(ms(1_011), seg().rst().seq(1002).ts(4000, 0));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    assert_ne!(h.state(c), Some(State::Established));
}

/// A SYN that fails PAWS in ESTABLISHED earns a challenge ACK (RFC 5961
/// 4.2; Linux `tcp_validate_incoming` goes to `syn_challenge`), not a PAWS
/// drop.
#[test]
fn syn_failing_paws_gets_a_challenge_ack() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"x").ts(5000, 0));
    h.sent(ms(10));
    h.deliver(ms(20), seg().syn().seq(1002).ts(4000, 0));
    let a = h.expect(ms(20));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1002));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    assert_eq!(h.set.tcp_stats().challenge_acks, 1);
    assert_eq!(h.state(c), Some(State::Established));
}

/// Linux `tcp_disordered_ack_check`: a reordered duplicate ACK passes PAWS
/// when it is pure, at `rcv_nxt`, acknowledges `snd_una`, would not update
/// the window, and is at most 1.2 ticks per millisecond of RTO older than
/// TS.Recent; otherwise PAWS drops it.
#[test]
fn disordered_duplicate_ack_passes_paws_within_the_rules() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.set.send(c, b"0123456789").unwrap();
    let d = h.expect(ms(10));
    let tsecr = d.repr.timestamp.unwrap().tsval;
    // Half acknowledged, TS.Recent 300; the window is 65535 (no scaling).
    h.deliver(ms(20), seg().seq(1001).ack(iss + 6).ts(300, tsecr));
    h.sent(ms(20));
    let rto = h.set.info(c).unwrap().rto.total_millis();
    assert!((200..=1000).contains(&rto), "rto {rto}");
    let dup = |tsval: u32, win: u16| seg().seq(1001).ack(iss + 6).win(win).ts(tsval, tsecr);
    // 50 ticks older, same window: reordered, taken.
    h.deliver(ms(30), dup(250, 65535));
    h.sent(ms(30));
    assert_eq!(h.set.tcp_stats().paws_rejected, 0);
    // A zero window would update it: not a disordered ACK, rejected.
    h.deliver(ms(40), dup(250, 0));
    h.sent(ms(40));
    assert_eq!(h.set.tcp_stats().paws_rejected, 1);
    // Older than the replay window (RTO * 1.2 ticks): rejected.
    let far = 300 - (rto as u32 * 6 / 5) - 1;
    h.deliver(ms(50), dup(far, 65535));
    h.sent(ms(50));
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    // Just inside it: taken.
    h.deliver(ms(60), dup(far + 1, 65535));
    h.sent(ms(60));
    assert_eq!(h.set.tcp_stats().paws_rejected, 2);
    // Not at rcv_nxt (an old pure ACK): dropped, silently since Linux
    // 6.14 (`paws_drops_an_old_pure_ack_silently`).
    h.deliver(ms(70), seg().seq(1000).ack(iss + 6).ts(250, tsecr));
    h.expect_none(ms(70));
    let st = h.set.tcp_stats();
    assert_eq!((st.paws_rejected, st.paws_old_ack), (2, 1));
}

/// While TS.Recent is 0 (the peer's first TSval was 0) the next
/// timestamp replaces it whatever its value (Linux `tcp_replace_ts_recent`
/// through `tcp_paws_check`, which treats 0 as unset); it is echoed from
/// then on.
#[test]
fn ts_recent_zero_is_replaced_by_the_next_timestamp() {
    let mut h = Harness::new();
    let (c, iss, tsval) = passive_ts_zero(&mut h);
    // "Older" than 0 by serial arithmetic, yet it becomes TS.Recent.
    h.deliver(
        ms(2),
        seg()
            .seq(1001)
            .ack(iss + 1)
            .data(b"x")
            .ts(0x9000_0000, tsval),
    );
    h.sent(ms(2));
    assert_eq!(h.set.send(c, b"y"), Ok(1));
    let out = h.sent(ms(3));
    let data = out.iter().find(|s| !s.payload.is_empty()).expect("data");
    let echo = data.repr.timestamp.expect("timestamps").tsecr;
    assert_eq!(echo, 0x9000_0000);
}

/// An out-of-window bare FIN is answered every time, without the
/// out-of-window rate limit (Linux `tcp_oow_rate_limited` exempts any
/// segment that takes sequence space and is not a SYN), while a bare ACK
/// in the same millisecond is limited.
#[test]
fn old_bare_fin_is_acked_without_the_rate_limit() {
    let mut h = Harness::new();
    let (c, iss, _) = passive_ts(&mut h, 1000);
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"xy").ts(5000, 0));
    h.sent(ms(10));
    assert_eq!(h.state(c), Some(State::Established));
    // Below rcv_nxt (1003): old duplicates.
    h.deliver(ms(20), seg().fin().seq(1000).ack(iss + 1).ts(5001, 0));
    assert!(h.expect(ms(20)).is_pure_ack());
    h.deliver(ms(20), seg().fin().seq(1000).ack(iss + 1).ts(5001, 0));
    assert!(h.expect(ms(20)).is_pure_ack());
    // Bare ACKs: the first stamps the limiter, the second is held back.
    h.deliver(ms(20), seg().seq(900).ack(iss + 1).ts(5001, 0));
    assert!(h.expect(ms(20)).is_pure_ack());
    h.deliver(ms(20), seg().seq(900).ack(iss + 1).ts(5001, 0));
    h.expect_none(ms(20));
    assert_eq!(h.state(c), Some(State::Established));
}

/// A passive open whose peer's TSval is 0 in the SYN and the final ACK,
/// so TS.Recent is 0 once established: (socket, our ISS, our SYN-ACK's TSval).
fn passive_ts_zero(h: &mut Harness) -> (SocketHandle, SeqNum, u32) {
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).mss(1460).ts(0, 0));
    let sa = h.expect(ms(0));
    let iss = sa.seq();
    let tsval = sa.repr.timestamp.expect("timestamps").tsval;
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).ts(0, tsval));
    let c = h.set.accept(l).expect("accept");
    (c, iss, tsval)
}

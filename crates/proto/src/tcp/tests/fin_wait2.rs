//! The orphaned FIN_WAIT_2 as a compact record (Linux `tcp_time_wait(sk,
//! TCP_FIN_WAIT2, tmo)` and `tcp_timewait_state_process`, FIN_WAIT2
//! substate): the peer's FIN at `rcv_nxt` moves it to TIME_WAIT and is
//! ACKed, new data or a SYN gets a reset, out-of-window segments a
//! rate-limited ACK, and it ends silently after `tcp_fin_timeout` (at least
//! 3.5 RTO). Explicit times; our ISS from the SYN-ACK, the peer's ISS 1000.

use super::harness::*;
use crate::sockets::{FourTuple, SocketHandle};
use crate::tcp::{Profile, SeqNum, State};
use crate::time::Instant;

fn tuple() -> FourTuple {
    FourTuple {
        local: (LOCAL, LPORT),
        remote: (REMOTE, RPORT),
    }
}

/// A passive connection (timestamps, window scale 7, SACK) whose user
/// closed it at 2 ms; the peer ACKs our FIN at `ack_at` ms (TSval 102,
/// TS.Recent). Returns the harness and our ISS.
fn orphan_in_fin_wait2(p: Profile, ack_at: u64) -> (Harness, SeqNum) {
    let mut h = Harness::with_profile(p);
    let (c, iss, tsval) = h.accept_with_timestamps();
    h.set.close(c).unwrap();
    let fin = h.expect(ms(2));
    assert!(fin.is_fin());
    h.deliver(ms(ack_at), seg().seq(1001).ack(iss + 2).ts(102, tsval));
    h.expect_none(ms(ack_at));
    (h, iss)
}

fn record(h: &Harness) -> crate::tcp::time_wait::TimeWait {
    h.set.time_wait_record(&tuple()).expect("a compact record")
}

fn row_state(h: &Harness) -> Option<State> {
    h.set
        .snapshot()
        .iter()
        .find(|r| r.orphan && r.remote.port() == RPORT)
        .map(|r| r.state)
}

#[test]
fn orphan_fin_wait2_is_a_compact_record_that_ends_silently() {
    let (mut h, iss) = orphan_in_fin_wait2(Profile::linux(), 10);
    let r = record(&h);
    assert!(r.fin_wait2);
    assert_eq!((r.snd_nxt, r.rcv_nxt), (iss + 2, SeqNum(1001)));
    assert_eq!(h.set.fin_wait2_records(), 1);
    assert_eq!(h.set.len(), 2, "the listener and the record");
    assert_eq!(row_state(&h), Some(State::FinWait2));
    let row = h.set.snapshot().into_iter().find(|r| r.orphan).unwrap();
    let timer = row.timer.expect("a timer");
    assert_eq!(timer.remaining.total_millis(), 60_000);
    h.set.check_invariants();
    // `tcp_fin_timeout` (60 s) from the ACK of our FIN; nothing is sent.
    h.at(ms(60_009));
    assert_eq!(h.set.fin_wait2_records(), 1);
    h.expect_none(ms(60_010));
    assert_eq!(h.set.len(), 1, "only the listener");
    assert_eq!(h.set.fin_wait2_records(), 0);
    h.set.check_invariants();
    // The peer's FIN now meets no socket: a reset.
    h.deliver(ms(61_000), seg().seq(1001).ack(iss + 2).fin());
    assert!(h.expect(ms(61_000)).is_rst());
}

#[test]
fn fin_at_rcv_nxt_moves_the_record_to_time_wait_and_is_acked() {
    let (mut h, iss) = orphan_in_fin_wait2(Profile::linux(), 10);
    h.deliver(ms(5_000), seg().seq(1001).ack(iss + 2).ts(103, 0).fin());
    let a = h.expect(ms(5_000));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 2, SeqNum(1002)));
    assert_eq!(a.repr.timestamp.map(|t| t.tsecr), Some(103), "TS.Recent");
    let r = record(&h);
    assert!(!r.fin_wait2);
    assert_eq!(r.rcv_nxt, SeqNum(1002));
    assert_eq!(row_state(&h), Some(State::TimeWait));
    assert_eq!(h.set.fin_wait2_records(), 0);
    assert_eq!(h.set.time_wait_count(), 1);
    h.set.check_invariants();
    // TIME_WAIT rules from here: the FIN again is ACKed (not rate-limited).
    h.deliver(ms(5_100), seg().seq(1001).ack(iss + 2).ts(104, 0).fin());
    assert_eq!(h.expect(ms(5_100)).ack(), SeqNum(1002));
    // 2 MSL from that FIN (the timer restarted at 5.1 s), not the FIN_WAIT_2 deadline.
    h.at(ms(60_010));
    assert_eq!(h.set.time_wait_count(), 1);
    h.at(ms(65_099));
    assert_eq!(h.set.time_wait_count(), 1);
    h.at(ms(65_100));
    assert_eq!(h.set.time_wait_count(), 0);
    h.set.check_invariants();
}

/// `tcp_timewait_state_process`, FIN_WAIT2: "If new data arrive after
/// half-duplex close, reset" (TCP_TW_RST): data, a FIN with data, a FIN
/// past `rcv_nxt`, and a SYN at or after `rcv_nxt` in the window each get a
/// reset and end the record.
#[test]
fn new_data_a_late_fin_or_a_syn_gets_a_reset_and_ends_it() {
    type Probe = fn(SeqNum) -> Seg;
    let probes: [(&str, Probe, bool); 4] = [
        (
            "data",
            |a| seg().seq(1001).ack(a).ts(103, 0).data(b"late"),
            true,
        ),
        (
            "FIN with data",
            |a| seg().seq(1001).ack(a).ts(103, 0).data(b"x").fin(),
            true,
        ),
        (
            "FIN past rcv_nxt",
            |a| seg().seq(1011).ack(a).ts(103, 0).fin(),
            true,
        ),
        ("SYN in window", |_| seg().seq(1011).syn().ts(103, 0), false),
    ];
    for (what, probe, has_ack) in probes {
        let (mut h, iss) = orphan_in_fin_wait2(Profile::linux(), 10);
        let s = probe(iss + 2);
        let end = s.seq + s.payload.len() as u32 + 1;
        h.deliver(ms(20), s);
        let r = h.expect(ms(20));
        assert!(r.is_rst(), "{what}: {r:?}");
        if has_ack {
            // `tcp_v4_send_reset`: seq = the segment's ACK, no ACK flag.
            assert_eq!(r.seq(), iss + 2, "{what}");
            assert!(!r.flags().ack(), "{what}");
        } else {
            assert_eq!((r.seq(), r.ack()), (SeqNum(0), SeqNum(end)), "{what}");
            assert!(r.flags().ack(), "{what}");
        }
        assert_eq!(h.set.len(), 1, "{what}: the record is gone");
        h.set.check_invariants();
    }
}

/// In the window, a reset ends the record without an answer (no RFC 5961
/// challenge ACK in a tw sock); so it does at `rcv_nxt`.
#[test]
fn a_reset_in_the_window_ends_it_silently() {
    for seq in [1001, 1500] {
        let (mut h, _) = orphan_in_fin_wait2(Profile::linux(), 10);
        h.deliver(ms(20), seg().seq(seq).rst());
        h.expect_none(ms(20));
        assert_eq!(h.set.len(), 1, "seq {seq}: the record is gone");
    }
}

/// "Dup ACK?": in the window, a segment without ACK, or occupying no
/// sequence space, is dropped: no answer, the deadline stays. (Wholly old
/// data is out of the window and gets an ACK, below.)
#[test]
fn nothing_new_is_dropped_silently() {
    let (mut h, iss) = orphan_in_fin_wait2(Profile::linux(), 10);
    let before = record(&h).expires;
    h.deliver(ms(20), seg().seq(1001).ack(iss + 2).ts(103, 0));
    h.deliver(ms(21), seg().seq(1001).ts(104, 0).data(b"no ack"));
    h.expect_none(ms(21));
    let r = record(&h);
    assert!(r.fin_wait2);
    assert_eq!(r.expires, before, "no restart in FIN_WAIT_2");
}

/// Out of the window (`tcp_in_window` against the last advertised window)
/// or failing PAWS: an ACK, rate-limited by `tcp_invalid_ratelimit` unless
/// the segment carries data or a FIN (`tcp_oow_rate_limited`). The record's
/// limiter starts afresh (`tw_last_oow_ack_time = 0`).
#[test]
fn out_of_window_segments_get_a_rate_limited_ack() {
    let (mut h, iss) = orphan_in_fin_wait2(Profile::linux(), 10);
    let far = 1001 + record(&h).rcv_wnd + 1000;
    h.deliver(ms(20), seg().seq(far).ack(iss + 2).ts(103, 0));
    let a = h.expect(ms(20));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 2, SeqNum(1001)));
    // A second bare one within 500 ms: limited.
    h.deliver(ms(300), seg().seq(far).ack(iss + 2).ts(104, 0));
    h.expect_none(ms(300));
    // Old data is always answered.
    h.deliver(ms(301), seg().seq(900).ack(iss + 2).ts(105, 0).data(b"old"));
    assert!(h.expect(ms(301)).is_pure_ack());
    // PAWS: a TSval older than TS.Recent (102) at rcv_nxt, with data.
    h.deliver(ms(302), seg().seq(1001).ack(iss + 2).ts(50, 0).data(b"x"));
    assert!(h.expect(ms(302)).is_pure_ack());
    // Half a second later the limiter lets a bare one through again.
    h.deliver(ms(520), seg().seq(far).ack(iss + 2).ts(106, 0));
    assert!(h.expect(ms(520)).is_pure_ack());
    assert!(record(&h).fin_wait2, "still waiting for the FIN");
    h.set.check_invariants();
}

/// With the table at `max_tw_buckets`, an orphan reaching FIN_WAIT_2 is
/// closed at once (Linux `tcp_time_wait` without a tw sock: `tcp_done`,
/// TCPTimeWaitOverflow); nothing is sent, and the peer's FIN then meets no
/// socket.
#[test]
fn a_full_table_closes_the_orphan() {
    let mut p = Profile::linux();
    p.max_tw_buckets = 1;
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    let mut isss = Vec::new();
    for i in 0..2u16 {
        let port = RPORT + i;
        let t = u64::from(i) * 10;
        h.deliver(ms(t), seg().sport(port).syn().seq(1000).mss(1460));
        let iss = h.expect(ms(t)).seq();
        h.deliver(ms(t + 1), seg().sport(port).seq(1001).ack(iss + 1));
        let c = h.set.accept(l).unwrap();
        h.set.close(c).unwrap();
        assert!(h.expect(ms(t + 2)).is_fin());
        h.deliver(ms(t + 3), seg().sport(port).seq(1001).ack(iss + 2));
        h.expect_none(ms(t + 3));
        h.set.check_invariants();
        isss.push(iss);
    }
    assert_eq!(h.set.fin_wait2_records(), 1);
    assert_eq!(h.set.tcp_stats().tw_overflow, 1);
    assert_eq!(h.set.len(), 2, "listener and one record");
    h.deliver(
        ms(20),
        seg().sport(RPORT + 1).seq(1001).ack(isss[1] + 2).fin(),
    );
    assert!(h.expect(ms(20)).is_rst());
    // The first one still takes its FIN.
    h.deliver(ms(21), seg().sport(RPORT).seq(1001).ack(isss[0] + 2).fin());
    assert_eq!(h.expect(ms(21)).ack(), SeqNum(1002));
}

/// `tcp_time_wait` never lets a FIN_WAIT_2 tw sock end before 3.5 RTO
/// (`icsk_rto`); each record keeps its own deadline, so one made later can
/// end first (the deadlines are a heap, not a FIFO).
#[test]
fn the_deadline_is_at_least_three_and_a_half_rto() {
    let mut p = Profile::linux();
    p.fin_timeout = crate::time::Duration::from_millis(100);
    let mut h = Harness::with_profile(p);
    let l = h.listen(8);
    // Connection A: a 300 ms handshake RTT (RTO 900 ms); connection B:
    // RTT 0 (RTO 200 ms, floor 700 ms).
    let open = |h: &mut Harness, port: u16, t: u64, rtt: u64| -> (SocketHandle, SeqNum) {
        h.deliver(ms(t), seg().sport(port).syn().seq(1000).mss(1460));
        let iss = h.expect(ms(t)).seq();
        h.deliver(ms(t + rtt), seg().sport(port).seq(1001).ack(iss + 1));
        (h.set.accept(l).unwrap(), iss)
    };
    let (a, iss_a) = open(&mut h, RPORT, 0, 300);
    let (b, iss_b) = open(&mut h, RPORT + 1, 400, 0);
    assert_eq!(h.set.conn_for_test(a).icsk_rto().total_millis(), 900);
    assert_eq!(h.set.conn_for_test(b).icsk_rto().total_millis(), 200);
    h.set.close(a).unwrap();
    h.set.close(b).unwrap();
    assert_eq!(h.sent(ms(1000)).len(), 2, "two FINs");
    h.deliver(ms(1000), seg().sport(RPORT).seq(1001).ack(iss_a + 2));
    h.deliver(ms(1100), seg().sport(RPORT + 1).seq(1001).ack(iss_b + 2));
    assert_eq!(h.set.fin_wait2_records(), 2);
    h.at(ms(1799));
    assert_eq!(h.set.fin_wait2_records(), 2);
    h.at(ms(1800));
    assert_eq!(h.set.fin_wait2_records(), 1, "B: 1.1 s + 3.5 x 200 ms");
    // A's FIN was ACKed at once: that RTT sample (0) moved its RTO to
    // 1012.5 ms (SRTT 262.5, RTTVAR 187.5), so 1 s + 3543.75 ms.
    let end_a = Instant::from_micros(4_543_750);
    assert_eq!(record(&h).expires, end_a);
    h.at(Instant::from_micros(4_543_749));
    assert_eq!(h.set.fin_wait2_records(), 1);
    h.at(end_a);
    assert_eq!(h.set.fin_wait2_records(), 0, "A: 1 s + 3.5 RTO");
    h.expect_none(ms(4544));
    h.set.check_invariants();
}

/// Not an orphan (shutdown(SHUT_WR), the handle still open): the full
/// connection stays in FIN_WAIT_2 with no timeout, as before.
#[test]
fn a_half_closed_socket_is_not_compacted() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, crate::sockets::Shutdown::Write).unwrap();
    assert!(h.expect(ms(0)).is_fin());
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2));
    assert_eq!(h.state(c), Some(State::FinWait2));
    assert_eq!(h.set.fin_wait2_records(), 0);
    // close() now makes it an orphan: a record from that moment.
    h.set.close(c).unwrap();
    assert_eq!(h.set.fin_wait2_records(), 1);
}

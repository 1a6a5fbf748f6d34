//! Compact TIME_WAIT records (`tcp/time_wait.rs`, `sockets/time_wait.rs`):
//! they answer exactly as the full connection did, keep ports, and obey
//! `max_tw_buckets`.

use super::harness::*;
use crate::sockets::{BindError, SocketHandle};
use crate::tcp::{Profile, SeqNum, State};
use crate::time::Instant;

/// A passive connection with timestamps, window scaling and SACK, driven
/// into TIME_WAIT (we close first). `user_closes`: close() (a compact
/// record) or only shutdown(Write) (the full connection stays).
fn into_time_wait(user_closes: bool) -> (Harness, SocketHandle, SeqNum) {
    into_time_wait_with(Profile::linux(), user_closes)
}

/// `into_time_wait` under profile `p`.
fn into_time_wait_with(p: Profile, user_closes: bool) -> (Harness, SocketHandle, SeqNum) {
    let mut h = Harness::with_profile(p);
    let (c, iss, tsval) = h.accept_with_timestamps();
    h.set.send(c, b"hello").unwrap();
    if user_closes {
        h.set.close(c).unwrap();
    } else {
        h.set.shutdown(c, crate::sockets::Shutdown::Write).unwrap();
    }
    let d = h.expect(ms(2));
    assert!(d.is_fin());
    h.deliver(ms(3), seg().seq(1001).ack(iss + 7).ts(102, tsval).fin());
    (h, c, iss)
}

/// (seq, ack, flags, window, timestamps) of a sent segment.
type Wire = (SeqNum, SeqNum, u8, u16, Option<(u32, u32)>);

/// What a harness sends at `t`, as comparable values.
fn out(h: &mut Harness, t: Instant) -> Vec<Wire> {
    h.sent(t)
        .into_iter()
        .map(|s| {
            let ts = s.repr.timestamp.map(|t| (t.tsval, t.tsecr));
            (s.repr.seq, s.repr.ack, s.repr.flags.0, s.repr.window, ts)
        })
        .collect()
}

/// Deliver each probe (time in ms, segment, ACKs expected) to both forms of
/// TIME_WAIT and check they answer alike, with the same counters.
fn replay(
    full: &mut Harness,
    fc: SocketHandle,
    rec: &mut Harness,
    probes: Vec<(u64, Option<Seg>, usize)>,
) {
    for (t, s, acks) in probes {
        if let Some(s) = s {
            full.deliver(ms(t), s.clone());
            rec.deliver(ms(t), s);
        }
        let a = out(full, ms(t));
        let b = out(rec, ms(t));
        assert_eq!(a, b, "at {t} ms");
        assert_eq!(a.len(), acks, "ACKs at {t} ms");
        for (_, _, flags, _, _) in &a {
            assert_eq!(*flags, crate::wire::TcpFlags::ACK, "at {t} ms");
        }
        assert_eq!(
            full.set.tcp_stats(),
            rec.set.tcp_stats(),
            "counters at {t} ms"
        );
        assert_eq!(full.state(fc), Some(State::TimeWait), "at {t} ms");
        assert_eq!(rec.set.time_wait_count(), 1, "at {t} ms");
        rec.set.check_invariants();
    }
}

/// Both forms end TIME_WAIT at `end` ms, not a millisecond before.
fn assert_both_end_at(full: &mut Harness, rec: &mut Harness, end: u64, what: &str) {
    for h in [full, rec] {
        h.at(ms(end - 1));
        assert_eq!(h.set.time_wait_count(), 1, "{what}: still at {end}-1 ms");
        h.at(ms(end));
        assert_eq!(h.set.time_wait_count(), 0, "{what}: over at {end} ms");
        h.set.check_invariants();
    }
}

/// Linux `tcp_timewait_state_process` probe by probe, in both forms. TS.Recent
/// is 102 (3 ms), `rcv_nxt` 1002; the rate limit is 500 ms.
#[test]
fn record_answers_exactly_as_the_full_connection() {
    let (mut full, fc, iss) = into_time_wait(false);
    let (mut rec, _, iss2) = into_time_wait(true);
    assert_eq!(iss, iss2, "same seed, same numbers");
    assert_eq!(full.state(fc), Some(State::TimeWait));
    assert_eq!(full.set.time_wait_count(), 1);
    assert_eq!(rec.set.time_wait_count(), 1);
    assert_eq!(rec.set.len(), 2, "listener plus the record");
    assert!(rec.set.time_wait_record(&tuple()).is_some(), "compacted");
    assert!(full.set.time_wait_record(&tuple()).is_none(), "kept whole");
    let ack = iss + 7;
    let probes: Vec<(u64, Option<Seg>, usize)> = vec![
        // The ACK of the FIN that brought TIME_WAIT.
        (3, None, 1),
        // Retransmitted FIN: ACKed and the timer restarts; again 1 ms
        // later, ACKed again (a FIN occupies sequence space: Linux
        // `tcp_oow_rate_limited` never holds it back).
        (10_000, Some(seg().seq(1001).ack(ack).ts(200, 0).fin()), 1),
        (10_001, Some(seg().seq(1001).ack(ack).ts(201, 0).fin()), 1),
        // Resets not at rcv_nxt, in window or not: dropped.
        (10_002, Some(seg().rst().seq(9_999_999)), 0),
        (10_003, Some(seg().rst().seq(1003)), 0),
        // Out-of-window data: always ACKed.
        (
            10_004,
            Some(seg().seq(500).ack(ack).ts(202, 0).data(b"old")),
            1,
        ),
        // Out-of-window pure ACKs: rate limited.
        (10_005, Some(seg().seq(500).ack(ack).ts(203, 0)), 1),
        (10_006, Some(seg().seq(500).ack(ack).ts(204, 0)), 0),
        (10_600, Some(seg().seq(500).ack(ack).ts(205, 0)), 1),
        // An in-window bare ACK: silent; TS.Recent = 206, timer restarts.
        (10_700, Some(seg().seq(1002).ack(ack).ts(206, 0)), 0),
        // An old SYN (older timestamp): PAWS, TIME_WAIT holds; ACKed once
        // the rate limit allows, and the timer restarts (PAWS rejected).
        (10_800, Some(seg().syn().seq(500).ts(50, 0)), 0),
        (11_200, Some(seg().syn().seq(500).ts(51, 0)), 1),
        // An ACK-less SYN below rcv_nxt without timestamp: ACKed (rate
        // limited), the timer does not restart.
        (11_300, Some(seg().syn().seq(500)), 0),
        (11_800, Some(seg().syn().seq(500)), 1),
        // Data at rcv_nxt after the FIN: ACKed (Linux; RFC 9293 3.10.7.4
        // would ignore it), the timer restarts.
        (
            12_000,
            Some(seg().seq(1002).ack(ack).ts(207, 0).data(b"x")),
            1,
        ),
    ];
    replay(&mut full, fc, &mut rec, probes);
    // The ACKs echo TS.Recent as set by the bare ACK at 10.7 s.
    let echo = |h: &mut Harness| {
        h.deliver(ms(12_001), seg().seq(700).ack(ack).ts(208, 0).data(b"z"));
        out(h, ms(12_001))[0].4.expect("timestamps").1
    };
    assert_eq!((echo(&mut full), echo(&mut rec)), (206, 206));
    // Restarted last at 12.001 s.
    assert_both_end_at(&mut full, &mut rec, 72_001, "restarted");
    assert_eq!(full.state(fc), Some(State::Closed));
    assert_eq!(rec.set.len(), 1, "only the listener");
}

/// Item by item, when the 2 MSL timer restarts (Linux
/// `inet_twsk_reschedule` in `tcp_timewait_state_process`): a segment at 20 s
/// either moves the end from 60.003 s to 80 s or leaves it, in both forms.
#[test]
fn time_wait_timer_restarts_like_linux() {
    let cases: Vec<(&str, bool, Seg, usize, u64)> = vec![
        (
            "bare ACK at rcv_nxt",
            false,
            seg().seq(1002).ack(SeqNum(0)).ts(103, 0),
            0,
            80_000,
        ),
        (
            "flagless at rcv_nxt",
            false,
            seg().seq(1002).ts(103, 0),
            0,
            80_000,
        ),
        (
            "FIN again",
            false,
            seg().seq(1001).ack(SeqNum(0)).ts(103, 0).fin(),
            1,
            80_000,
        ),
        (
            "old pure ACK",
            false,
            seg().seq(500).ack(SeqNum(0)).ts(103, 0),
            1,
            80_000,
        ),
        (
            "ACK-less, PAWS",
            false,
            seg().syn().seq(500).ts(50, 0),
            1,
            80_000,
        ),
        ("ACK-less SYN", false, seg().syn().seq(500), 1, 60_003),
        (
            "ACK-less, old seq",
            false,
            seg().seq(500).ts(103, 0),
            1,
            60_003,
        ),
        ("RST far away", false, seg().rst().seq(9_999), 0, 60_003),
        ("RST in window", false, seg().rst().seq(1003), 0, 60_003),
        (
            "RST, PAWS",
            false,
            seg().rst().seq(1002).ts(50, 0),
            0,
            60_003,
        ),
        (
            "RST, rfc1337",
            true,
            seg().rst().seq(1002).ts(103, 0),
            0,
            60_003,
        ),
    ];
    for (what, rfc1337, s, acks, end) in cases {
        let p = Profile {
            rfc1337,
            ..Profile::linux()
        };
        let (mut full, fc, mut rec, iss) = both_in_time_wait_with(p);
        // Our ACK numbers come from the harness: fill in the real one.
        let s = if s.repr().flags.ack() {
            s.ack(iss + 7)
        } else {
            s
        };
        replay(&mut full, fc, &mut rec, vec![(20_000, Some(s), acks)]);
        assert_both_end_at(&mut full, &mut rec, end, what);
    }
}

/// A reset at `rcv_nxt` (Linux: exactly there, not anywhere in the window)
/// ends TIME_WAIT with `tcp_rfc1337` = 0 (Linux's default), unless PAWS
/// rejects it; PAWS judges a reset only while TS.Recent is younger than
/// `TCP_PAWS_MSL` (60 s). With `rfc1337` it is ignored (RFC 1337), and its
/// timestamp still becomes TS.Recent.
#[test]
fn reset_in_time_wait_follows_tcp_rfc1337() {
    for rfc1337 in [false, true] {
        let p = Profile {
            rfc1337,
            ..Profile::linux()
        };
        let (mut full, fc, mut rec, iss) = both_in_time_wait_with(p);
        let probes = vec![
            // Older timestamp, TS.Recent 30 s old: PAWS drops it.
            (30_000, Some(seg().rst().seq(1002).ts(50, 0)), 0),
            // A bare ACK without timestamp: the timer restarts (ends at
            // 119 s), TS.Recent keeps its stamp of 3 ms.
            (59_000, Some(seg().seq(1002).ack(iss + 7)), 0),
        ];
        replay(&mut full, fc, &mut rec, probes);
        assert_eq!(full.set.tcp_stats().paws_tw_rejected, 1);
        // Linux 6.16+ counts TIME_WAIT PAWS drops apart (`PAWSTimewait`).
        assert_eq!(full.set.tcp_stats().paws_rejected, 0);
        let last = seg().rst().seq(1002).ts(51, 0);
        if rfc1337 {
            // 60 s on, the old timestamp no longer stops a reset; it is
            // ignored anyway and becomes TS.Recent.
            replay(&mut full, fc, &mut rec, vec![(60_003, Some(last), 0)]);
            assert_eq!(full.set.tcp_stats().paws_tw_rejected, 1);
            let echo = |h: &mut Harness| {
                h.deliver(ms(60_004), seg().seq(700).ack(iss + 7).ts(52, 0).data(b"z"));
                out(h, ms(60_004))[0].4.expect("timestamps").1
            };
            assert_eq!((echo(&mut full), echo(&mut rec)), (51, 51));
            assert_both_end_at(&mut full, &mut rec, 120_004, "rfc1337");
            continue;
        }
        // 59.997 s after TS.Recent's stamp (second 0 to second 59): PAWS
        // still judges the reset.
        replay(
            &mut full,
            fc,
            &mut rec,
            vec![(59_999, Some(last.clone()), 0)],
        );
        assert_eq!(full.set.tcp_stats().paws_tw_rejected, 2);
        // At 60 s it may not: TIME_WAIT ends at once, nothing is sent.
        for h in [&mut full, &mut rec] {
            h.deliver(ms(60_000), last.clone());
            h.expect_none(ms(60_000));
            assert_eq!(h.set.time_wait_count(), 0);
            assert_eq!(h.set.tcp_stats().paws_tw_rejected, 2);
            h.set.check_invariants();
        }
        assert_eq!(full.state(fc), Some(State::Closed));
        assert_eq!(rec.set.len(), 1, "only the listener");
        assert_eq!(full.set.tcp_stats(), rec.set.tcp_stats());
        // The tuple is free: an old-looking SYN now reaches the listener.
        for h in [&mut full, &mut rec] {
            h.deliver(ms(60_001), seg().syn().seq(10).mss(1460));
            assert!(h.expect(ms(60_001)).is_synack());
        }
    }
}

/// Without timestamps, a reset exactly at `rcv_nxt` ends TIME_WAIT and one
/// elsewhere in the window does not.
#[test]
fn reset_at_rcv_nxt_only_ends_time_wait() {
    let (mut full, fc, mut rec, _) = both_in_time_wait_with(Profile::linux());
    replay(
        &mut full,
        fc,
        &mut rec,
        vec![
            (100, Some(seg().rst().seq(1003)), 0),
            (101, Some(seg().rst().seq(1001)), 0),
        ],
    );
    for h in [&mut full, &mut rec] {
        h.deliver(ms(102), seg().rst().seq(1002));
        h.expect_none(ms(102));
        assert_eq!(h.set.time_wait_count(), 0);
        h.set.check_invariants();
    }
    assert_eq!(full.state(fc), Some(State::Closed));
    assert_eq!(full.set.tcp_stats(), rec.set.tcp_stats());
}

#[test]
fn record_yields_to_a_newer_syn_and_the_listener_answers() {
    let (mut h, _, _) = into_time_wait(true);
    h.expect(ms(3));
    // A SYN with a newer timestamp ends TIME_WAIT (RFC 6191).
    h.deliver(ms(4), seg().syn().seq(10).mss(1460).ts(300, 0));
    let sa = h.expect(ms(4));
    assert!(sa.is_synack());
    assert_eq!(sa.ack(), SeqNum(11));
    assert!(!h.set.snapshot().iter().any(|r| r.state == State::TimeWait));
    h.set.check_invariants();
}

#[test]
fn record_keeps_the_port_and_lists_in_netstat() {
    let (mut h, c, _) = into_time_wait(true);
    h.expect(ms(3));
    let rows = h.set.snapshot();
    let row = rows.iter().find(|r| r.state == State::TimeWait).unwrap();
    assert_eq!(row.handle, c, "the same socket as before");
    assert!(row.orphan);
    assert_eq!(row.local.port(), LPORT);
    // The listener closes; TIME_WAIT still holds port 80 for a plain bind
    // (the accepted child had no SO_REUSEADDR).
    let l = rows
        .iter()
        .find(|r| r.state == State::Listen)
        .unwrap()
        .handle;
    h.set.close(l).unwrap();
    let x = h.set.tcp_socket().unwrap();
    h.set.set_reuse_addr(x, true).unwrap();
    assert_eq!(
        h.set.bind(x, crate::wire::Ipv4Addr::UNSPECIFIED, LPORT),
        Err(BindError::AddrInUse)
    );
    h.at(ms(3 + 60_000));
    assert_eq!(
        h.set.bind(x, crate::wire::Ipv4Addr::UNSPECIFIED, LPORT),
        Ok(())
    );
    h.set.check_invariants();
}

#[test]
fn max_tw_buckets_caps_the_table_and_counts_overflow() {
    let mut p = Profile::linux();
    p.max_tw_buckets = 2;
    let mut h = Harness::with_profile(p);
    let _l = h.listen(8);
    for i in 0..3u16 {
        let port = RPORT + i;
        let t = u64::from(i) * 10;
        h.deliver(ms(t), seg().sport(port).syn().seq(1000).mss(1460));
        let iss = h.expect(ms(t)).seq();
        h.deliver(ms(t), seg().sport(port).seq(1001).ack(iss + 1));
        let c = h.set.accept(_l).unwrap();
        h.set.close(c).unwrap();
        assert!(h.expect(ms(t)).is_fin());
        h.deliver(ms(t + 1), seg().sport(port).seq(1001).ack(iss + 2).fin());
        // The FIN is ACKed whether or not TIME_WAIT has room (Linux).
        let a = h.expect(ms(t + 1));
        assert!(a.is_pure_ack());
        assert_eq!(a.ack(), SeqNum(1002));
        assert_eq!(a.repr.dst_port, port);
        h.set.check_invariants();
    }
    assert_eq!(h.set.time_wait_count(), 2, "capped");
    assert_eq!(h.set.tcp_stats().tw_overflow, 1);
    assert_eq!(h.set.len(), 3, "listener and two records");
    // The third tuple holds nothing: its FIN again meets no connection.
    h.deliver(
        ms(30),
        seg().sport(RPORT + 2).seq(1001).ack(SeqNum(1)).fin(),
    );
    assert!(h.expect(ms(30)).is_rst());
}

/// The tuple every harness connection here uses.
fn tuple() -> crate::sockets::FourTuple {
    crate::sockets::FourTuple {
        local: (LOCAL, LPORT),
        remote: (REMOTE, RPORT),
    }
}

/// Both forms of TIME_WAIT (full connection, compact record) after the
/// ACK of the peer's FIN went out: TS.Recent is 102, updated at 3 ms;
/// `rcv_nxt` is 1002.
fn both_in_time_wait() -> (Harness, SocketHandle, Harness, SeqNum) {
    both_in_time_wait_with(Profile::linux())
}

/// `both_in_time_wait` under profile `p`.
fn both_in_time_wait_with(p: Profile) -> (Harness, SocketHandle, Harness, SeqNum) {
    let (mut full, fc, iss) = into_time_wait_with(p.clone(), false);
    let (mut rec, _, _) = into_time_wait_with(p, true);
    assert!(full.expect(ms(3)).is_pure_ack());
    assert!(rec.expect(ms(3)).is_pure_ack());
    assert!(rec.set.time_wait_record(&tuple()).is_some(), "compacted");
    assert_eq!(full.state(fc), Some(State::TimeWait));
    (full, fc, rec, iss)
}

#[test]
fn record_stays_48_bytes() {
    assert!(
        std::mem::size_of::<crate::tcp::time_wait::TimeWait>() <= 48,
        "the compact TIME_WAIT record grew"
    );
}

/// RFC 7323 5.3 R1 in TIME_WAIT (Linux `tcp_timewait_state_process`):
/// segments older than TS.Recent are answered with an ACK and counted as
/// `paws_tw_rejected`, by a record exactly as by the full connection.
#[test]
fn record_and_connection_agree_on_paws() {
    let (mut full, fc, mut rec, iss) = both_in_time_wait();
    let probes: Vec<(u64, Seg, usize)> = vec![
        // Data in window with an old timestamp: ACKed (data is never rate
        // limited), echoing TS.Recent.
        (
            1_000,
            seg().seq(1002).ack(iss + 7).ts(50, 0).data(b"old"),
            1,
        ),
        // Old pure ACKs: PAWS, answered at most once per 500 ms.
        (1_001, seg().seq(1002).ack(iss + 7).ts(51, 0), 1),
        (1_002, seg().seq(1002).ack(iss + 7).ts(52, 0), 0),
        // A SYN past rcv_nxt with an old timestamp: no reuse, an ACK.
        (2_000, seg().syn().seq(5000).ts(60, 0), 1),
        // A reset with an old timestamp: ignored, no answer (RFC 1337).
        (2_001, seg().rst().seq(1002).ts(61, 0), 0),
        // A bare ACK at rcv_nxt with a newer timestamp: TS.Recent = 300.
        (3_000, seg().seq(1002).ack(iss + 7).ts(300, 0), 0),
        // Now 250 is old: rejected, and the ACK echoes 300.
        (3_001, seg().seq(1002).ack(iss + 7).ts(250, 0).data(b"x"), 1),
        // Newer data at rcv_nxt after the FIN: ACKed, not rate limited
        // (Linux; RFC 9293 3.10.7.4 would ignore it silently).
        (3_002, seg().seq(1002).ack(iss + 7).ts(301, 0).data(b"y"), 1),
    ];
    for (t, s, acks) in probes {
        full.deliver(ms(t), s.clone());
        rec.deliver(ms(t), s);
        let a = out(&mut full, ms(t));
        let b = out(&mut rec, ms(t));
        assert_eq!(a, b, "at {t} ms");
        assert_eq!(a.len(), acks, "ACKs at {t} ms");
        for (_, ack, flags, _, _) in &a {
            assert_eq!(*ack, SeqNum(1002));
            assert_eq!(*flags, crate::wire::TcpFlags::ACK);
        }
        assert_eq!(full.set.tcp_stats(), rec.set.tcp_stats(), "at {t} ms");
        assert_eq!(full.state(fc), Some(State::TimeWait), "at {t} ms");
        assert_eq!(rec.set.time_wait_count(), 1, "at {t} ms");
        rec.set.check_invariants();
    }
    let echo = |h: &mut Harness, t: u64| {
        h.deliver(ms(t), seg().seq(900).ack(iss + 7).ts(10, 0).data(b"z"));
        out(h, ms(t))[0].4.expect("timestamps").1
    };
    assert_eq!(echo(&mut full, 4_000), 300, "TS.Recent moved");
    assert_eq!(echo(&mut rec, 4_000), 300);
    // 1000, 1001, 1002, 2000, 2001, 3001, 4000.
    assert_eq!(rec.set.tcp_stats().paws_tw_rejected, 7);
    assert_eq!(full.set.tcp_stats(), rec.set.tcp_stats());
}

/// RFC 6191 and Linux TCP_TW_SYN: a SYN with a newer timestamp ends
/// TIME_WAIT (even with an old sequence number); one with an older
/// timestamp does not (even with a newer sequence number), in both forms.
#[test]
fn syn_reuse_follows_the_timestamp_in_both_forms() {
    for user_closes in [false, true] {
        let (mut h, c, _) = into_time_wait(user_closes);
        h.expect(ms(3));
        // Older timestamp, newer sequence: TIME_WAIT holds, an ACK.
        h.deliver(ms(10), seg().syn().seq(90_000).mss(1460).ts(101, 0));
        let a = h.expect(ms(10));
        assert!(a.is_pure_ack(), "{user_closes}");
        assert_eq!(a.ack(), SeqNum(1002));
        assert_eq!(h.set.time_wait_count(), 1);
        assert_eq!(h.set.tcp_stats().paws_tw_rejected, 1);
        // Newer timestamp, older sequence: a new connection.
        h.deliver(ms(20), seg().syn().seq(10).mss(1460).ts(103, 0));
        let sa = h.expect(ms(20));
        assert!(sa.is_synack(), "{user_closes}");
        assert_eq!(sa.ack(), SeqNum(11));
        assert_eq!(h.set.time_wait_count(), 0);
        if !user_closes {
            assert_ne!(h.state(c), Some(State::TimeWait));
        }
        h.set.check_invariants();
    }
}

/// RFC 7323 5.5: TS.Recent idle for 24 days is no longer valid, so an old
/// timestamp is not rejected, and a SYN past `rcv_nxt` reopens.
#[test]
fn stale_ts_recent_lets_old_timestamps_through() {
    const DAY: u64 = 86_400_000;
    for compact in [false, true] {
        let mut h = Harness::new();
        let l = h.listen(8);
        h.deliver(ms(0), seg().syn().seq(1000).mss(1460).ts(100, 0));
        let iss = h.expect(ms(0)).seq();
        h.deliver(ms(1), seg().seq(1001).ack(iss + 1).ts(101, 0));
        let c = h.set.accept(l).unwrap();
        h.set.shutdown(c, crate::sockets::Shutdown::Write).unwrap();
        assert!(h.expect(ms(2)).is_fin());
        h.deliver(ms(3), seg().seq(1001).ack(iss + 2).ts(102, 0));
        assert_eq!(h.state(c), Some(State::FinWait2));
        // 25 days later the peer's FIN, without a timestamp: TS.Recent
        // stays 102, stamped on day 0.
        let t = 25 * DAY;
        h.deliver(ms(t), seg().seq(1001).ack(iss + 2).fin());
        assert!(h.expect(ms(t)).is_pure_ack());
        assert_eq!(h.state(c), Some(State::TimeWait));
        if compact {
            h.set.close(c).unwrap();
            h.expect_none(ms(t));
            assert!(h.set.time_wait_record(&tuple()).is_some(), "compacted");
        }
        // An old timestamp on data at rcv_nxt: no PAWS; ACKed as Linux
        // does (not rate limited), echoing TS.Recent 102.
        h.deliver(ms(t + 1), seg().seq(1002).ack(iss + 2).ts(50, 0).data(b"x"));
        let a = h.expect(ms(t + 1));
        assert!(a.is_pure_ack());
        assert_eq!(a.repr.timestamp.map(|t| t.tsecr), Some(102));
        assert_eq!(h.set.tcp_stats().paws_tw_rejected, 0, "compact {compact}");
        // A SYN past rcv_nxt with an old timestamp reopens.
        h.deliver(ms(t + 2), seg().syn().seq(5000).mss(1460).ts(51, 0));
        assert!(h.expect(ms(t + 2)).is_synack(), "compact {compact}");
        assert_eq!(h.set.time_wait_count(), 0);
        h.set.check_invariants();
    }
}

/// The PAWS rules of `TwKeys` at explicit times and values.
#[test]
fn time_wait_paws_rules_at_explicit_times() {
    use crate::tcp::time_wait::TwKeys;
    let keys = TwKeys {
        ts_ok: true,
        ts_recent: 1_000,
        ts_recent_stamp: 100, // seconds
        rcv_nxt: SeqNum(5_000),
    };
    let secs = |s: u64| ms(s * 1000);
    let data_old = seg().seq(5000).ack(SeqNum(1)).ts(999, 0).data(b"d");
    let data_same = seg().seq(5000).ack(SeqNum(1)).ts(1_000, 0).data(b"d");
    let no_ts = seg().seq(5000).ack(SeqNum(1)).data(b"d");
    assert!(keys.paws_reject(secs(101), &data_old.repr()));
    assert!(
        !keys.paws_reject(secs(101), &data_same.repr()),
        "equal is fine"
    );
    assert!(
        !keys.paws_reject(secs(101), &no_ts.repr()),
        "no timestamp: Linux"
    );
    // RFC 7323 5.5: stale after Linux's TCP_PAWS_WRAP (2147 s; the RFC's
    // 24 days assumes a peer clock no faster than 1 ms, see tcp/paws.rs).
    let stale = 100 + 2147;
    assert!(keys.paws_reject(secs(stale - 1), &data_old.repr()));
    assert!(!keys.paws_reject(secs(stale), &data_old.repr()));
    // Timestamps not agreed: no PAWS.
    let off = TwKeys {
        ts_ok: false,
        ..keys
    };
    assert!(!off.paws_reject(secs(101), &data_old.repr()));
    // Linux `tcp_paws_check`: TS.Recent 0 is never held against anyone.
    let zero = TwKeys {
        ts_recent: 0,
        ..keys
    };
    let wrapped = seg().seq(5000).ts(u32::MAX, 0);
    assert!(!zero.paws_reject(secs(101), &wrapped.repr()));
    // Linux `tcp_paws_reject`: a reset is judged by PAWS only while
    // TS.Recent is younger than TCP_PAWS_MSL (60 s).
    let rst_old = seg().rst().seq(5000).ts(999, 0);
    assert!(keys.paws_reject(secs(159), &rst_old.repr()));
    assert!(!keys.paws_reject(secs(160), &rst_old.repr()));
    // The SYN rule (Linux TCP_TW_SYN).
    let syn = |seq: u32, ts: Option<u32>| {
        let s = seg().syn().seq(seq);
        match ts {
            Some(v) => s.ts(v, 0),
            None => s,
        }
    };
    let ends = |k: &TwKeys, t, s: Seg| k.syn_ends(t, &s.repr());
    assert!(
        ends(&keys, secs(101), syn(6_000, Some(1_000))),
        "seq newer, ts equal"
    );
    assert!(ends(&keys, secs(101), syn(4_000, Some(1_001))), "ts newer");
    assert!(!ends(&keys, secs(101), syn(4_000, Some(1_000))), "neither");
    assert!(!ends(&keys, secs(101), syn(6_000, Some(999))), "PAWS");
    assert!(ends(&keys, secs(stale), syn(6_000, Some(999))), "stale");
    assert!(ends(&keys, secs(101), syn(6_000, None)), "no ts: seq");
    assert!(!ends(&keys, secs(101), syn(5_000, None)), "no ts: old seq");
    let synack = seg().syn().seq(6_000).ack(SeqNum(1)).ts(2_000, 0);
    assert!(!ends(&keys, secs(101), synack), "SYN-ACK never reopens");
}

/// `SocketSet::snapshot` rows carry what `ss -o` and `ss -m` show: the
/// pending timer with the time left, and the buffer sizes.
#[test]
fn snapshot_rows_show_timers_and_buffers() {
    use crate::snapshot::TimerKind;
    use crate::time::Duration;
    let row_of = |h: &Harness, c: SocketHandle| {
        let rows = h.set.snapshot();
        *rows.iter().find(|r| r.handle == c).expect("a row")
    };
    let (mut h, c, _) = into_time_wait(false);
    // A full connection in TIME_WAIT: 60 s from the FIN at 3 ms.
    h.expect(ms(3));
    h.at(ms(5_003));
    let r = row_of(&h, c);
    let t = r.timer.expect("timewait timer");
    assert_eq!(t.kind, TimerKind::TimeWait);
    assert_eq!(t.remaining, Duration::from_secs(55));
    // The compact record: the same time left, no buffers.
    let (mut rec, rc, _) = into_time_wait(true);
    rec.expect(ms(3));
    rec.at(ms(5_003));
    let r = row_of(&rec, rc);
    assert_eq!(r.state, State::TimeWait);
    assert_eq!(
        r.timer.map(|t| (t.kind, t.remaining, t.count)),
        Some((TimerKind::TimeWait, Duration::from_secs(55), 0))
    );
    assert_eq!((r.rcvbuf, r.sndbuf, r.recv_q, r.send_q), (0, 0, 0, 0));

    // An established connection: unacknowledged data runs the
    // retransmission timer; buffers as set.
    let mut h = Harness::new();
    let (l, c, _) = h.passive();
    h.set.set_recv_buffer_size(c, 8192).unwrap();
    h.set.send(c, b"hello").unwrap();
    assert_eq!(h.sent(ms(10)).len(), 1);
    let r = row_of(&h, c);
    assert_eq!(r.send_q, 5);
    assert!(r.rcvbuf >= 8192, "rcvbuf {}", r.rcvbuf);
    assert!(r.sndbuf > 0);
    let t = r.timer.expect("retransmission timer");
    assert_eq!((t.kind, t.count), (TimerKind::On, 0));
    assert!(t.remaining > Duration::ZERO && t.remaining <= Duration::from_secs(1));
    // The listener has no buffers and no timer.
    let lr = row_of(&h, l);
    assert_eq!((lr.rcvbuf, lr.sndbuf, lr.timer), (0, 0, None));
    // After the timeout fires, the backoff shows.
    let fired = ms(10) + t.remaining;
    assert!(!h.sent(fired).is_empty(), "retransmitted");
    let t = row_of(&h, c).timer.expect("timer rearmed");
    assert_eq!((t.kind, t.count), (TimerKind::On, 1));

    // Idle with SO_KEEPALIVE: the keepalive timer (Linux 7200 s).
    let mut h = Harness::new();
    let (_, c, iss) = h.passive();
    h.set.set_keepalive(c, true).unwrap();
    h.deliver(ms(20), seg().seq(1001).ack(iss + 1));
    let t = row_of(&h, c).timer.expect("keepalive timer");
    assert_eq!(t.kind, TimerKind::Keepalive);
    assert_eq!(t.remaining, Duration::from_secs(7200));
}

/// `SocketSet::mem_totals` (netstat -s `mem_*` rows) counts the ring pool,
/// and per-connection figures never do. A first-size ring goes to the pool
/// as soon as it is empty: the receive ring when the application has read
/// everything, the send ring when everything sent is acknowledged (Linux
/// frees each skb then); the next small write or arrival takes it back.
#[test]
fn mem_totals_count_the_ring_pool() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let mem = |h: &Harness| {
        let t = h.set.mem_totals();
        (t.rcv_alloc, t.snd_alloc, t.ring_pool)
    };
    assert_eq!(mem(&h), (0, 0, 0));
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"ping"));
    assert_eq!(mem(&h), (256, 0, 0), "unread bytes keep their ring");
    let mut buf = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut buf), Ok(4));
    assert_eq!(mem(&h), (0, 0, 256), "read out: the ring is pooled");
    h.set.send(c, b"pong").unwrap();
    assert_eq!(mem(&h), (0, 256, 0), "the write took the pooled buffer");
    h.sent(ms(2));
    assert_eq!(mem(&h), (0, 256, 0), "unacknowledged bytes stay");
    h.deliver(ms(3), seg().seq(1005).ack(iss + 5));
    assert_eq!(mem(&h), (0, 0, 256), "acknowledged: pooled");
    assert_eq!(h.set.mem_info(c).map(|m| m.ring_pool), Some(0));
    h.set.close(c).unwrap();
    assert!(h.expect(ms(4)).is_fin());
    h.deliver(ms(5), seg().seq(1005).ack(iss + 6).fin());
    assert!(h.expect(ms(5)).is_pure_ack());
    assert!(h.set.time_wait_record(&tuple()).is_some(), "compacted");
    assert_eq!(mem(&h), (0, 0, 256));
}

/// Linux `tcp_time_wait` starts the TIME_WAIT sock's out-of-window ACK
/// limiter afresh (`tcptw->tw_last_oow_ack_time = 0`): an out-of-window
/// segment 100 ms into TIME_WAIT is answered even though FIN_WAIT_1
/// answered one 1 ms before TIME_WAIT began; the next one within 500 ms is
/// not. Both forms (full connection, compact record) alike.
#[test]
fn time_wait_oow_limiter_starts_afresh() {
    for user_closes in [false, true] {
        let mut h = Harness::new();
        let l = h.listen(8);
        h.deliver(ms(0), seg().syn().seq(1000).mss(1460).ts(100, 0));
        let sa = h.expect(ms(0));
        let iss = sa.seq();
        let tsval = sa.repr.timestamp.expect("timestamps agreed").tsval;
        h.deliver(ms(1), seg().seq(1001).ack(iss + 1).ts(101, tsval));
        let c = h.set.accept(l).expect("accept");
        if user_closes {
            h.set.close(c).unwrap();
        } else {
            h.set.shutdown(c, crate::sockets::Shutdown::Write).unwrap();
        }
        assert!(h.expect(ms(2)).is_fin());
        // FIN_WAIT_1: an old segment (below rcv_nxt) gets an ACK, stamping
        // the connection's limiter at 2 ms; a second one is limited.
        let old = || seg().seq(900).ack(iss + 2).ts(101, tsval);
        h.deliver(ms(2), old());
        assert!(h.expect(ms(2)).is_pure_ack(), "user_closes={user_closes}");
        h.deliver(ms(2), old());
        h.expect_none(ms(2));
        // The peer's FIN: TIME_WAIT, and its ACK.
        h.deliver(ms(3), seg().seq(1001).ack(iss + 2).ts(102, tsval).fin());
        let a = h.expect(ms(3));
        assert!(a.is_pure_ack() && a.ack() == SeqNum(1002));
        assert_eq!(h.set.time_wait_count(), 1);
        // 100 ms later, 98 ms within the old limit: answered.
        h.deliver(ms(100), old());
        let a = h.expect(ms(100));
        assert!(
            a.is_pure_ack() && a.ack() == SeqNum(1002),
            "user_closes={user_closes}"
        );
        h.deliver(ms(200), old());
        h.expect_none(ms(200));
        h.deliver(ms(600), old());
        assert!(h.expect(ms(600)).is_pure_ack());
        h.set.check_invariants();
    }
}

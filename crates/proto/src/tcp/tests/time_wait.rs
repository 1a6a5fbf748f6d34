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
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(
        ms(0),
        seg()
            .syn()
            .seq(1000)
            .mss(1460)
            .wscale(7)
            .sack_perm()
            .ts(100, 0),
    );
    let sa = h.expect(ms(0));
    let iss = sa.seq();
    let tsval = sa.repr.timestamp.expect("timestamps agreed").tsval;
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).ts(101, tsval));
    let c = h.set.accept(l).expect("accept");
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

#[test]
fn record_answers_exactly_as_the_full_connection() {
    let (mut full, fc, iss) = into_time_wait(false);
    let (mut rec, _, iss2) = into_time_wait(true);
    assert_eq!(iss, iss2, "same seed, same numbers");
    assert_eq!(full.state(fc), Some(State::TimeWait));
    assert_eq!(full.set.time_wait_count(), 1);
    assert_eq!(rec.set.time_wait_count(), 1);
    assert_eq!(rec.set.len(), 2, "listener plus the record");
    let tuple = crate::sockets::FourTuple {
        local: (LOCAL, LPORT),
        remote: (REMOTE, RPORT),
    };
    assert!(rec.set.time_wait_record(&tuple).is_some(), "compacted");
    assert!(full.set.time_wait_record(&tuple).is_none(), "kept whole");
    let probes: Vec<(u64, Option<Seg>)> = vec![
        // The ACK of the FIN that brought TIME_WAIT.
        (3, None),
        // Retransmitted FIN: ACK again, timer restarts.
        (10_000, Some(seg().seq(1001).ack(iss + 7).ts(200, 0).fin())),
        // A reset, in window or not: ignored (RFC 1337).
        (10_001, Some(seg().rst().seq(1002))),
        (10_002, Some(seg().rst().seq(9_999_999))),
        // Out-of-window data: always ACKed.
        (
            10_003,
            Some(seg().seq(500).ack(iss + 7).ts(201, 0).data(b"old")),
        ),
        // Out-of-window pure ACKs: rate limited (Linux tcp_oow_rate_limited).
        (10_004, Some(seg().seq(500).ack(iss + 7).ts(202, 0))),
        (10_005, Some(seg().seq(500).ack(iss + 7).ts(203, 0))),
        (10_700, Some(seg().seq(500).ack(iss + 7).ts(204, 0))),
        // An in-window duplicate ACK: dropped silently.
        (10_800, Some(seg().seq(1002).ack(iss + 7).ts(205, 0))),
        // An old SYN (older timestamp): ACKed, TIME_WAIT holds.
        (11_000, Some(seg().syn().seq(500).ts(50, 0))),
        // Data in window after the FIN: dropped (the connection is done).
        (
            11_500,
            Some(seg().seq(1002).ack(iss + 7).ts(206, 0).data(b"x")),
        ),
    ];
    for (t, s) in probes {
        if let Some(s) = s {
            full.deliver(ms(t), s.clone());
            rec.deliver(ms(t), s);
        }
        let a = out(&mut full, ms(t));
        let b = out(&mut rec, ms(t));
        assert_eq!(a, b, "at {t} ms");
        assert_eq!(
            full.set.tcp_stats(),
            rec.set.tcp_stats(),
            "counters at {t} ms"
        );
        assert_eq!(full.state(fc), Some(State::TimeWait));
        assert_eq!(rec.set.time_wait_count(), 1);
        rec.set.check_invariants();
    }
    // The FIN at 10 s restarted 2 MSL: both end at 70 s, not before.
    for h in [&mut full, &mut rec] {
        h.at(ms(69_999));
        assert_eq!(h.set.time_wait_count(), 1);
        h.at(ms(70_000));
        assert_eq!(h.set.time_wait_count(), 0);
    }
    assert_eq!(full.state(fc), Some(State::Closed));
    assert_eq!(rec.set.len(), 1, "only the listener");
    rec.set.check_invariants();
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

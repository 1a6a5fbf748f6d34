//! Sequence-number wrap with a transfer larger than the sequence space
//! (issue 5: "correct behaviour across sequence-number wrap, a 4 GiB+
//! transfer in a test"), between two whole stacks in virtual time with
//! timestamps on (RFC 7323).
//!
//! 4.5 GiB go one way, so the client's sequence numbers pass every value
//! once and a quarter: every comparison in the sender and receiver runs
//! across the wrap. One data segment from the first gigabyte is recorded
//! off the wire and replayed to the server once its sequence number is
//! back inside the receive window, 4 GiB later: an old duplicate that
//! sequence checks alone would accept as new data. PAWS (RFC 7323 5) must
//! drop it by its old timestamp; the SHA-256 of what the server read must
//! equal what the client wrote.

mod tcp_common;

use std::sync::{Arc, Mutex};
use std::time::Instant as WallInstant;

use sha2::{Digest, Sha256};
use sockstack::proto::Shutdown;
use sockstack::sim::{PairConfig, Sink, Source, TcpPair};
use tcp_common::*;

const GIB: u64 = 1 << 30;
/// The 4.5 GiB of the test.
const LEN: u64 = 4 * GIB + GIB / 2;
/// Record the data segment starting at about this stream offset.
const RECORD_AT: u64 = 64 * MIB;

/// What the client's drop rule saw: its ISN and one data segment.
#[derive(Default)]
struct Tap {
    isn: Option<u32>,
    old: Option<(u32, Vec<u8>)>,
}

#[test]
fn four_and_a_half_gib_across_the_wrap_with_paws() {
    let wall = WallInstant::now();
    let cfg = PairConfig::default().with_wire(wire()).with_seed(4242);
    let mut p = TcpPair::new(cfg);
    let (client, server) = (p.client, p.server);
    let tap = Arc::new(Mutex::new(Tap::default()));
    let t = tap.clone();
    p.set_drop_rule(
        client,
        Some(Box::new(move |_, f| {
            let Ok(mut t) = t.lock() else { return false };
            if t.old.is_some() {
                return false;
            }
            let Some((flags, seq, _)) = tcp_fields(f) else {
                return false;
            };
            if flags & (SYN | ACK) == SYN {
                t.isn = Some(seq);
            } else if let Some(isn) = t.isn {
                let off = seq.wrapping_sub(isn).wrapping_sub(1);
                if u64::from(off) >= RECORD_AT && tcp_payload_len(f).unwrap_or(0) > 0 {
                    t.old = Some((seq, f.to_vec()));
                }
            }
            false
        })),
    );
    let start = p.net.now();
    let (c, s) = p.connect(5001, start + secs(60)).expect("connected");
    let info = p.net.stack(client).sockets().info(c).unwrap();
    assert!(info.timestamps, "timestamps negotiated: {info:?}");

    let isn = tap.lock().unwrap().isn.expect("SYN seen");
    {
        let mut src = Source::new(7, LEN);
        let mut sent_hash = Sha256::new();
        let mut sink = Sink::new();
        let mut recv_hash = Sha256::new();
        let mut shut = false;
        let mut replay: Option<(u32, Vec<u8>)> = None;
        let mut replayed_at = None;
        let done = p.run_until(start + secs(600), |net| {
            let ss = net.stack_mut(client).sockets_mut();
            src.pump(ss, c, |b| sent_hash.update(b)).expect("send");
            if src.done() && !shut {
                ss.shutdown(c, Shutdown::Write).expect("shutdown");
                shut = true;
            }
            let ss = net.stack_mut(server).sockets_mut();
            sink.drain(ss, s, |b| recv_hash.update(b)).expect("recv");
            if replay.is_none() {
                replay = tap.lock().unwrap().old.clone();
            }
            // Replay once the old segment's sequence number is 8-32 KiB
            // ahead of what the server has read, one wrap later: inside
            // the receive window (at least 64 KiB), not yet received.
            if let (Some((seq, frame)), None) = (&replay, replayed_at) {
                let off = u64::from(seq.wrapping_sub(isn).wrapping_sub(1));
                let due = off + (1 << 32);
                let got = sink.received();
                if got + (32 << 10) >= due && got + (8 << 10) < due {
                    let now = net.now();
                    net.stack_mut(server).handle_frame(now, frame);
                    replayed_at = Some(got);
                }
            }
            sink.eof()
        });
        assert!(
            done,
            "unfinished at {}: {} of {LEN} bytes",
            p.net.now(),
            sink.received()
        );
        let virt = p.net.now().saturating_duration_since(start);
        assert_eq!(src.sent(), LEN);
        assert_eq!(sink.received(), LEN);
        let (a, b): ([u8; 32], [u8; 32]) =
            (sent_hash.finalize().into(), recv_hash.finalize().into());
        assert_eq!(hex(&a), hex(&b), "SHA-256 of sent and received bytes");
        let v = virt.total_micros() as f64 / 1e6;
        println!(
            "4.5 GiB one way across the wrap: {v:.3} s virtual, {:.1} Mbit/s goodput, {:.1} s wall; \
             ISN {isn:#010x}; old segment replayed with {} bytes read",
            LEN as f64 * 8.0 / v / 1e6,
            wall.elapsed().as_secs_f64(),
            replayed_at.unwrap_or(0)
        );
        assert!(replay.is_some(), "a data segment was recorded");
        assert!(replayed_at.is_some(), "the old segment was replayed");
    }
    let stats = *p.net.stack(server).sockets().tcp_stats();
    assert!(
        stats.paws_rejected >= 1,
        "PAWS dropped the old duplicate: {stats:?}"
    );
    assert_eq!(
        p.net.stack(client).sockets().info(c).unwrap().total_retrans,
        0
    );
}

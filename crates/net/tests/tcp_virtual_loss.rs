//! Scripted loss between two whole stacks in virtual time: a test's drop
//! rule loses exactly the frames a story needs (a blackout, one final ACK).

mod tcp_common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use sockstack::link::memory::WireConfig;
use sockstack::proto::{Duration, Instant, RecvError, TcpState};
use sockstack::sim::{PairConfig, Sink, Source, TcpPair};
use tcp_common::*;

fn pair(seed: u64) -> TcpPair {
    let wire = WireConfig::ethernet()
        .with_delay(Duration::from_millis(1))
        .with_bandwidth(100_000_000);
    TcpPair::new(PairConfig::default().with_wire(wire).with_seed(seed))
}

/// Both ends send at once; everything either sends after that is lost for
/// 1.5 s, so each receives the other's data but neither hears an ACK, and
/// both retransmission timers fire (go-back-N from snd_una). Each side's
/// retransmission is then an old duplicate at the other, which must answer
/// with an ACK the first side accepts: pure ACKs carry SND.MAX, not the
/// rewound SND.NXT (Linux `tcp_acceptable_seq`). A stack that answered with
/// the rewound number would see its ACKs dropped as out of window and the
/// two would stall until ETIMEDOUT.
#[test]
fn both_sides_time_out_with_their_acks_lost() {
    let mut p = pair(3);
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    const LEN: u64 = 10 * 1448;
    let mut src = [Source::new(1, LEN), Source::new(2, LEN)];
    let mut sink = [Sink::new(), Sink::new()];
    src[0].pump(p.sockets(client), c, |_| {}).unwrap();
    src[1].pump(p.sockets(server), s, |_| {}).unwrap();
    assert!(src[0].done() && src[1].done(), "IW10 takes it all");
    // The data leaves at this poll; everything sent later is lost.
    p.net.poll();
    let blackout = Arc::new(AtomicBool::new(true));
    for id in [client, server] {
        let b = blackout.clone();
        p.set_drop_rule(id, Some(Box::new(move |_, _| b.load(Ordering::Relaxed))));
    }
    let t = p.net.now() + Duration::from_millis(1500);
    p.net.run_until(t);
    for (id, h) in [(client, c), (server, s)] {
        let info = p.net.stack(id).sockets().info(h).unwrap();
        assert!(info.total_retrans > 0, "the RTO fired: {info:?}");
    }
    let lost = p.rule_dropped(client) + p.rule_dropped(server);
    assert!(lost > 0);
    blackout.store(false, Ordering::Relaxed);
    let limit = p.net.now() + Duration::from_secs(10);
    let done = p.run_until(limit, |net| {
        for (i, (id, h)) in [(client, c), (server, s)].into_iter().enumerate() {
            let ss = net.stack_mut(id).sockets_mut();
            sink[i].drain(ss, h, |_| {}).unwrap();
        }
        let acked = |id, h| {
            net.stack(id)
                .sockets()
                .info(h)
                .is_some_and(|i| i.send_queue == 0)
        };
        sink[0].received() == LEN
            && sink[1].received() == LEN
            && acked(client, c)
            && acked(server, s)
    });
    let info = |id, h| p.net.stack(id).sockets().info(h);
    assert!(
        done,
        "stalled at {}: client {:?}, server {:?}",
        p.net.now(),
        info(client, c),
        info(server, s)
    );
    // Recovery took round trips, not a backed-off timeout or a storm.
    assert!(
        p.net.now() < t + Duration::from_secs(2),
        "at {}",
        p.net.now()
    );
    let segs = p.net.stack(client).sockets().tcp_stats().out_segs
        + p.net.stack(server).sockets().tcp_stats().out_segs;
    assert!(segs < 200, "{segs} segments: an ACK storm?");
}

/// The textbook lost-FIN story: the client closes first; the server closes
/// too; the client's last ACK is lost; the server retransmits its FIN; the
/// client, in TIME_WAIT, ACKs it again and restarts its 60 s (RFC 9293
/// 3.10.7.4); the server then closes for good.
#[test]
fn lost_last_ack_is_repeated_from_time_wait() {
    let mut p = pair(4);
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    p.sockets(client).close(c).unwrap();
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        let mut buf = [0u8; 16];
        net.stack_mut(server).sockets_mut().recv(s, &mut buf) == Err(RecvError::Eof)
    }));
    // Lose the next pure ACK the client sends: the ACK of the server's FIN.
    let dropped = Arc::new(AtomicU32::new(0));
    let d = dropped.clone();
    p.set_drop_rule(
        client,
        Some(Box::new(move |_, f| {
            let hit = d.load(Ordering::Relaxed) == 0 && is_pure_ack(f);
            if hit {
                d.store(1, Ordering::Relaxed);
            }
            hit
        })),
    );
    p.sockets(server).close(s).unwrap();
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        net.stack(client)
            .sockets()
            .snapshot()
            .iter()
            .any(|r| r.state == TcpState::TimeWait)
    }));
    let first_tw = p.net.now();
    assert_eq!(dropped.load(Ordering::Relaxed), 1, "the last ACK was lost");
    assert_eq!(count_state(&p, server, TcpState::LastAck), 1);
    // The server's FIN comes again after its RTO and is ACKed from TIME_WAIT.
    let limit = p.net.now() + secs(5);
    assert!(
        p.run_until(limit, |net| net.stack(server).sockets().is_empty()),
        "server stuck: {:?}",
        rows(&p, server)
    );
    let fin_again = p.net.now();
    assert!(
        fin_again > first_tw + Duration::from_millis(150),
        "after an RTO"
    );
    assert_eq!(p.net.stack(server).sockets().tcp_stats().retrans_segs, 1);
    // TIME_WAIT restarted: still there 60 s after it began ...
    p.net
        .run_until(first_tw + secs(60) + Duration::from_millis(10));
    assert_eq!(count_state(&p, client, TcpState::TimeWait), 1);
    // ... and gone 60 s after the repeated FIN (its ACK left at once).
    p.net.run_until(fin_again + secs(60));
    assert!(
        p.net.stack(client).sockets().is_empty(),
        "{:?}",
        rows(&p, client)
    );
}

/// The wire dies for good with data outstanding: the sender backs off
/// (RFC 6298 5.5) and gives up after tcp_retries2 = 15 retransmissions
/// with ETIMEDOUT, about 924.6 s after the first loss with a 200 ms RTO
/// (Linux's figure); the receiver, with nothing to send, is none the wiser.
/// Only TCP is lost: ARP still works (were it lost too, neighbour
/// resolution would fail, and the error would be EHOSTUNREACH, as Linux
/// reports its soft error `sk_err_soft` at the timeout).
#[test]
fn dead_wire_times_out_after_retries2() {
    let mut p = pair(5);
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    for id in [client, server] {
        p.set_drop_rule(id, Some(Box::new(|_, f| tcp_fields(f).is_some())));
    }
    let start = p.net.now();
    assert_eq!(p.sockets(client).send(c, &[1u8; 1000]), Ok(1000));
    let limit = start + secs(2000);
    let failed = p.run_until(limit, |net| {
        net.stack(client).sockets().state(c) == Some(TcpState::Closed)
    });
    assert!(failed, "still {:?}", p.net.stack(client).sockets().info(c));
    let took = p.net.now().saturating_duration_since(start);
    println!("ETIMEDOUT after {took}");
    assert!(took > secs(900) && took < secs(950), "gave up after {took}");
    let info = p.net.stack(client).sockets().info(c).unwrap();
    assert_eq!(info.total_retrans, 15);
    let mut buf = [0u8; 8];
    assert_eq!(
        p.sockets(client).recv(c, &mut buf),
        Err(RecvError::Error(sockstack::proto::TcpError::TimedOut))
    );
    assert_eq!(p.net.stack(client).sockets().tcp_stats().timeouts, 1);
    p.sockets(client).close(c).unwrap();
    assert!(p.net.stack(client).sockets().is_empty());
    assert_eq!(
        p.net.stack(server).sockets().state(s),
        Some(TcpState::Established)
    );
}

/// connect to an address on the subnet where nobody answers ARP: the
/// handshake fails with EHOSTUNREACH once neighbour resolution gives up
/// (about 3 s, like Linux), not after the SYN retries.
#[test]
fn connect_to_absent_neighbour_is_host_unreachable() {
    let mut p = pair(6);
    let client = p.client;
    let now = p.net.now();
    let c = p.sockets(client).tcp_socket().unwrap();
    let nobody = sockstack::proto::wire::Ipv4Addr::new(198, 18, 0, 99);
    p.sockets(client).connect(now, c, nobody, 80).unwrap();
    let limit = now + secs(200);
    assert!(p.run_until(limit, |net| {
        net.stack(client).sockets().state(c) == Some(TcpState::Closed)
    }));
    let took = p.net.now().saturating_duration_since(now);
    println!("EHOSTUNREACH after {took}");
    assert!(took < secs(10), "after {took}");
    assert_eq!(
        p.sockets(client).take_error(c),
        Some(sockstack::proto::TcpError::HostUnreachable)
    );
}

/// A reset that is lost is not the end of the story: the peer's next
/// segment reaches a 4-tuple with no socket and earns another RST
/// (RFC 9293 3.10.7.1), so a client that keeps writing still learns of the
/// abort (ECONNRESET).
#[test]
fn lost_reset_is_sent_again_on_the_next_segment() {
    let mut p = pair(7);
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    // Lose the first RST the server sends.
    let lost = Arc::new(AtomicU32::new(0));
    let l2 = lost.clone();
    p.set_drop_rule(
        server,
        Some(Box::new(move |_, f| {
            let rst = tcp_fields(f).is_some_and(|(fl, _, _)| fl & RST != 0);
            let hit = rst && l2.load(Ordering::Relaxed) == 0;
            if hit {
                l2.store(1, Ordering::Relaxed);
            }
            hit
        })),
    );
    p.sockets(server).abort(s).unwrap();
    p.net.poll();
    assert_eq!(lost.load(Ordering::Relaxed), 1, "the RST was lost");
    assert_eq!(
        p.net.stack(client).sockets().state(c),
        Some(TcpState::Established),
        "the client knows nothing yet"
    );
    let mut src = Source::new(3, 64 * MIB);
    let limit = p.net.now() + secs(10);
    let mut err = None;
    let reset = p.run_until(limit, |net| {
        match src.pump(net.stack_mut(client).sockets_mut(), c, |_| {}) {
            Ok(_) => false,
            Err(e) => {
                err = Some(e);
                true
            }
        }
    });
    assert!(
        reset,
        "client never learned: {:?}",
        p.net.stack(client).sockets().info(c)
    );
    assert_eq!(
        err,
        Some(sockstack::proto::SendError::Error(
            sockstack::proto::TcpError::Reset
        ))
    );
    assert!(p.net.stack(server).sockets().tcp_stats().out_rsts >= 2);
}

/// Abort while data is in flight on a reordering, lossy wire: the RST may
/// overtake data (then it is out of place: a challenge ACK, RFC 5961 3.2,
/// which the aborted side answers with an exact RST) or be lost; either
/// way the peer ends up reset, for every seed.
#[test]
fn abort_on_a_reordering_wire_always_resets_the_peer() {
    for seed in 0..20 {
        let cfg = PairConfig::default()
            .with_wire(wire())
            .with_impair(lossy(0.05, 0.3))
            .with_seed(seed);
        let mut p = TcpPair::new(cfg);
        let (client, server) = (p.client, p.server);
        let (c, s) = p.connect(80, Instant::from_secs(30)).expect("connected");
        let mut src = Source::new(seed, MIB);
        let mut sink = Sink::new();
        let until = p.net.now() + Duration::from_millis(20);
        p.run_until(until, |net| {
            src.pump(net.stack_mut(client).sockets_mut(), c, |_| {})
                .unwrap();
            sink.drain(net.stack_mut(server).sockets_mut(), s, |_| {})
                .unwrap();
            false
        });
        p.sockets(client).abort(c).unwrap();
        let limit = p.net.now() + secs(300);
        let reset = p.run_until(limit, |net| {
            let ss = net.stack_mut(server).sockets_mut();
            match sink.drain(ss, s, |_| {}) {
                Err(e) => {
                    assert_eq!(
                        e,
                        sockstack::sim::SinkError::Tcp(sockstack::proto::TcpError::Reset)
                    );
                    true
                }
                Ok(_) => {
                    // The server writes too, so a lost RST is answered again.
                    let _ = ss.send(s, b"are you there?");
                    false
                }
            }
        });
        assert!(
            reset,
            "seed {seed}: server still {:?}",
            p.net.stack(server).sockets().info(s)
        );
    }
}

/// A connection idle for 25 days (virtual time costs nothing here) then
/// used again: the timestamp clock (1 kHz) has moved more than 2^31 ticks,
/// so the peer's TS.Recent is stale and must not make PAWS drop the new
/// segments (RFC 7323 5.5: invalidate TS.Recent after 24 days idle).
#[test]
fn connection_idle_for_25_days_still_works() {
    let mut p = pair(25);
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    let exchange = |p: &mut TcpPair, tag: u8| {
        p.sockets(client).send(c, &[tag; 3000]).unwrap();
        p.sockets(server).send(s, &[tag; 2000]).unwrap();
        let (mut a, mut b) = (0, 0);
        let limit = p.net.now() + secs(10);
        let mut buf = [0u8; 4096];
        let ok = p.run_until(limit, |net| {
            while let Ok(n) = net.stack_mut(server).sockets_mut().recv(s, &mut buf) {
                assert!(buf[..n].iter().all(|&x| x == tag));
                a += n;
            }
            while let Ok(n) = net.stack_mut(client).sockets_mut().recv(c, &mut buf) {
                assert!(buf[..n].iter().all(|&x| x == tag));
                b += n;
            }
            a == 3000 && b == 2000
        });
        assert!(ok, "tag {tag} at {}: {a}/3000 {b}/2000", p.net.now());
    };
    exchange(&mut p, 1);
    let day = secs(86_400);
    let t = p.net.now() + day.saturating_mul(25);
    p.net.run_until(t);
    for (id, h) in [(client, c), (server, s)] {
        assert_eq!(
            p.net.stack(id).sockets().state(h),
            Some(TcpState::Established)
        );
    }
    exchange(&mut p, 2);
    let dropped = p.net.stack(client).sockets().tcp_stats().dropped
        + p.net.stack(server).sockets().tcp_stats().dropped;
    assert_eq!(dropped, 0, "no segment dropped (PAWS)");
}

//! Determinism: one seed replays one run exactly, down to the bytes of the
//! capture and every counter; another seed gives another run.

mod tcp_common;

use sha2::{Digest, Sha256};
use sockstack::sim::PairConfig;
use tcp_common::*;

fn run(seed: u64) -> BulkReport {
    let cfg = PairConfig::default()
        .with_wire(wire())
        .with_impair(lossy(0.02, 0.10))
        .with_seed(seed)
        .with_capture(true);
    let r = bulk(cfg, 2 * MIB, 2 * MIB, secs(600));
    assert_intact(&r, 2 * MIB, 2 * MIB);
    r
}

#[test]
fn same_seed_same_capture_and_counters() {
    let a = run(77);
    let b = run(77);
    println!("{a}");
    let frames = pcap_frames(&a.pcap).len();
    assert!(frames > 4000, "a real capture: {frames} frames");
    assert_eq!(
        hex(&Sha256::digest(&a.pcap)),
        hex(&Sha256::digest(&b.pcap)),
        "captures differ"
    );
    assert!(a.pcap == b.pcap);
    assert_eq!(a.tcp, b.tcp, "TCP counters");
    assert_eq!(a.impair, b.impair, "impairment decisions");
    assert_eq!(a.retrans, b.retrans);
    assert_eq!(
        (a.virtual_time, a.end, a.steps),
        (b.virtual_time, b.end, b.steps)
    );
    assert_eq!((&a.up, &a.down), (&b.up, &b.down), "payload hashes");
    assert_eq!(a.isns, b.isns);

    let c = run(78);
    assert!(c.pcap != a.pcap, "another seed, another run");
    assert_ne!(c.isns, a.isns, "ISNs come from the seed");
    // The payload is a function of the seed too, and still arrives intact.
    assert_ne!(c.up.sent_sha256, a.up.sent_sha256);
}

/// A run that exercises the listener's queues: half-open connections
/// (SYN-ACKs lost) when the listener closes, then fresh connections whose
/// server-side handles reuse the freed slots, with coinciding timers (all
/// their first replies lost at once). Two runs with one seed must still
/// match frame for frame.
fn listener_churn(seed: u64) -> (Vec<u8>, Vec<u8>) {
    use sockstack::proto::Instant;
    use sockstack::sim::TcpPair;
    let cfg = PairConfig::default()
        .with_wire(wire())
        .with_seed(seed)
        .with_capture(true);
    let mut p = TcpPair::new(cfg);
    let (client, server) = (p.client, p.server);
    let server_ip = p.addr(server);
    assert!(p.resolve_neighbours(Instant::from_secs(1)));
    // Phase 1: 16 half-open connections (the server's SYN-ACKs are lost).
    let l1 = p.listen(7000, 64).unwrap();
    p.set_drop_rule(
        server,
        Some(Box::new(|_, f| {
            tcp_fields(f).is_some_and(|(fl, _, _)| fl & (SYN | ACK) == SYN | ACK)
        })),
    );
    let now = p.net.now();
    for _ in 0..16 {
        let c = p.sockets(client).tcp_socket().unwrap();
        p.sockets(client).connect(now, c, server_ip, 7000).unwrap();
    }
    let t = now + sockstack::proto::Duration::from_millis(300);
    p.net.run_until(t);
    // Phase 2: the listener closes with its SYN queue full of children.
    p.sockets(server).close(l1).unwrap();
    // Phase 3: new connections; every first data segment the server sends
    // is lost, so 16 server RTO timers fire in the same instant.
    let l2 = p.listen(7001, 64).unwrap();
    p.set_drop_rule(
        server,
        Some(Box::new(|_, f| tcp_payload_len(f).is_some_and(|n| n > 0))),
    );
    let now = p.net.now();
    let cs: Vec<_> = (0..16)
        .map(|_| {
            let c = p.sockets(client).tcp_socket().unwrap();
            p.sockets(client).connect(now, c, server_ip, 7001).unwrap();
            c
        })
        .collect();
    let mut ss = Vec::new();
    let limit = now + secs(5);
    assert!(p.run_until(limit, |net| {
        while let Ok(s) = net.stack_mut(server).sockets_mut().accept(l2) {
            ss.push(s);
        }
        ss.len() == 16
    }));
    for &s in &ss {
        p.sockets(server).send(s, &[7u8; 100]).unwrap();
    }
    p.net.poll();
    p.set_drop_rule(server, None);
    let t = p.net.now() + secs(3);
    p.net.run_until(t);
    let mut buf = [0u8; 256];
    for &c in &cs {
        assert_eq!(p.sockets(client).recv(c, &mut buf), Ok(100));
    }
    (p.pcap(client), p.pcap(server))
}

/// TCP BUG (TCP_BUGS.md, "listener close: nondeterministic order"): the
/// SYN queue is a `HashSet` with std's random hasher keys, and closing the
/// listener walks it (sockets/mod.rs, `free`), so the RSTs to the half-open
/// peers leave in a different order on every run, and the freed slots are
/// reused in a different order afterwards.
#[test]
#[ignore = "tcp bug: listener close walks a HashSet, replay differs (TCP_BUGS.md)"]
fn listener_churn_replays_exactly() {
    let a = listener_churn(5);
    let b = listener_churn(5);
    assert!(pcap_frames(&a.0).len() > 100);
    // Show where the runs part ways: time, sender, ports, (flags, seq, ack).
    let (fa, fb) = (pcap_frames(&a.0), pcap_frames(&b.0));
    let show = |f: &[u8]| {
        let port = |i: usize| u16::from_be_bytes([f[i], f[i + 1]]);
        format!(
            "from .{} {}->{} {:?}",
            f[11],
            port(34),
            port(36),
            tcp_fields(f)
        )
    };
    if let Some(i) = (0..fa.len().min(fb.len())).find(|&i| fa[i] != fb[i]) {
        for k in i..(i + 3).min(fa.len()).min(fb.len()) {
            eprintln!(
                "frame {k}: t={} {} | t={} {}",
                fa[k].0,
                show(&fa[k].1),
                fb[k].0,
                show(&fb[k].1)
            );
        }
    }
    assert!(a.0 == b.0, "client captures differ");
    assert!(a.1 == b.1, "server captures differ");
}

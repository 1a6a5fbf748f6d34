//! Connection life cycles between two whole stacks in virtual time:
//! simultaneous open, close with unsent data (orphans finish the job, also
//! on a lossy wire), abort, port reuse across TIME_WAIT, many sequential
//! connections.

mod tcp_common;

use sha2::{Digest, Sha256};
use sockstack::proto::wire::Ipv4Addr;
use sockstack::proto::{Instant, RecvError, SocketHandle, TcpError, TcpState};
use sockstack::runtime::HostId;
use sockstack::sim::{PairConfig, Sink, Source, TcpPair};
use tcp_common::*;

fn clean(seed: u64) -> TcpPair {
    TcpPair::new(PairConfig::default().with_wire(wire()).with_seed(seed))
}

fn lossy_pair(seed: u64) -> TcpPair {
    TcpPair::new(
        PairConfig::default()
            .with_wire(wire())
            .with_impair(lossy(0.05, 0.10))
            .with_seed(seed),
    )
}

/// Both hosts bind a port and connect to each other in the same instant:
/// the SYNs cross (RFC 9293 3.5, figure 7) and both end up ESTABLISHED
/// on one connection that carries data both ways.
#[test]
fn simultaneous_open() {
    let mut p = clean(31);
    let (a, b) = (p.client, p.server);
    let (ip_a, ip_b) = (p.addr(a), p.addr(b));
    let now = p.net.now();
    let ha = p.sockets(a).tcp_socket().unwrap();
    p.sockets(a).bind(ha, Ipv4Addr::UNSPECIFIED, 5000).unwrap();
    let hb = p.sockets(b).tcp_socket().unwrap();
    p.sockets(b).bind(hb, Ipv4Addr::UNSPECIFIED, 6000).unwrap();
    p.sockets(a).connect(now, ha, ip_b, 6000).unwrap();
    p.sockets(b).connect(now, hb, ip_a, 5000).unwrap();
    let limit = now + secs(10);
    let up = p.run_until(limit, |net| {
        net.stack(a).sockets().state(ha) == Some(TcpState::Established)
            && net.stack(b).sockets().state(hb) == Some(TcpState::Established)
    });
    assert!(
        up,
        "a {:?}, b {:?}",
        p.net.stack(a).sockets().state(ha),
        p.net.stack(b).sockets().state(hb)
    );
    assert_eq!(p.sockets(a).send(ha, b"from a"), Ok(6));
    assert_eq!(p.sockets(b).send(hb, b"from b"), Ok(6));
    let (mut ga, mut gb) = (Vec::new(), Vec::new());
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        let mut buf = [0u8; 64];
        if let Ok(n) = net.stack_mut(a).sockets_mut().recv(ha, &mut buf) {
            ga.extend_from_slice(&buf[..n]);
        }
        if let Ok(n) = net.stack_mut(b).sockets_mut().recv(hb, &mut buf) {
            gb.extend_from_slice(&buf[..n]);
        }
        ga.len() == 6 && gb.len() == 6
    }));
    assert_eq!((&ga[..], &gb[..]), (&b"from b"[..], &b"from a"[..]));
}

/// close(2) right after a large write: the socket is gone for the
/// application, but the stack still delivers every byte, then the FIN
/// (RFC 9293 3.10.4), even when segments are lost on the way.
fn close_with_unsent_data(mut p: TcpPair, len: u64) {
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(30)).expect("connected");
    let mut src = Source::new(5, len);
    let mut sent = Sha256::new();
    let mut sink = Sink::new();
    let mut got = Sha256::new();
    let mut closed = false;
    let limit = p.net.now() + secs(600);
    let done = p.run_until(limit, |net| {
        if !closed {
            src.pump(net.stack_mut(client).sockets_mut(), c, |b| sent.update(b))
                .expect("send");
            if src.done() {
                // Close with most of the data still in the send buffer.
                net.stack_mut(client).sockets_mut().close(c).expect("close");
                closed = true;
            }
        }
        sink.drain(net.stack_mut(server).sockets_mut(), s, |b| got.update(b))
            .expect("recv");
        sink.eof()
    });
    assert!(
        done,
        "at {}: {} of {len} bytes",
        p.net.now(),
        sink.received()
    );
    assert_eq!(sink.received(), len);
    assert_eq!(hex(&sent.finalize()), hex(&got.finalize()));
    p.sockets(server).close(s).unwrap();
    let limit = p.net.now() + secs(200);
    assert!(
        p.run_until(limit, |net| {
            net.stack(client).sockets().is_empty() && net.stack(server).sockets().is_empty()
        }),
        "left: {:?} / {:?}",
        rows(&p, client),
        rows(&p, server)
    );
}

#[test]
fn close_with_unsent_data_still_delivers_it() {
    close_with_unsent_data(clean(41), 8 * MIB);
}

#[test]
fn close_with_unsent_data_on_a_lossy_wire() {
    for seed in [42, 43, 44] {
        close_with_unsent_data(lossy_pair(seed), MIB);
    }
}

/// SO_LINGER {on, 0}: abort resets the peer at once, with data in flight.
#[test]
fn abort_resets_the_peer() {
    let mut p = clean(51);
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    let mut src = Source::new(1, MIB);
    src.pump(p.sockets(client), c, |_| {}).unwrap();
    p.net.poll();
    p.sockets(client).abort(c).unwrap();
    assert!(p.net.stack(client).sockets().is_empty(), "gone at once");
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        net.stack(server).sockets().state(s) == Some(TcpState::Closed)
    }));
    let mut buf = vec![0u8; 1 << 20];
    // Bytes that arrived before the RST may still be read; then ECONNRESET.
    let end = loop {
        match p.sockets(server).recv(s, &mut buf) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(end, RecvError::Error(TcpError::Reset));
    p.sockets(server).close(s).unwrap();
    assert!(p.net.stack(server).sockets().is_empty());
}

/// Open, exchange, and close `n` connections one after another from
/// ephemeral ports; the client closes first each time, so its TIME_WAIT
/// connections pile up and the port picker must step around them.
fn sequential(p: &mut TcpPair, n: usize, client_bind: Option<u16>) -> Vec<u16> {
    let (client, server) = (p.client, p.server);
    let server_ip = p.addr(server);
    let l = p.listen(9000, 16).expect("listen");
    let mut ports = Vec::new();
    for i in 0..n {
        let now = p.net.now();
        let c = p.sockets(client).tcp_socket().unwrap();
        if let Some(port) = client_bind {
            p.sockets(client).set_reuse_addr(c, true).unwrap();
            p.sockets(client)
                .bind(c, Ipv4Addr::UNSPECIFIED, port)
                .expect("bind");
        }
        p.sockets(client)
            .connect(now, c, server_ip, 9000)
            .unwrap_or_else(|e| panic!("connection {i}: {e:?}"));
        let mut s: Option<SocketHandle> = None;
        let limit = now + secs(5);
        let ok = p.run_until(limit, |net| {
            if s.is_none() {
                s = net.stack_mut(server).sockets_mut().accept(l).ok();
            }
            s.is_some() && net.stack(client).sockets().state(c) == Some(TcpState::Established)
        });
        assert!(
            ok,
            "connection {i} not established: {:?}",
            p.net.stack(client).sockets().state(c)
        );
        let s = s.unwrap();
        ports.push(p.net.stack(client).sockets().local_addr(c).unwrap().port());
        let msg = format!("hello {i}");
        p.sockets(client).send(c, msg.as_bytes()).unwrap();
        p.sockets(client).close(c).unwrap();
        let mut got = Vec::new();
        let limit = p.net.now() + secs(5);
        assert!(p.run_until(limit, |net| read_to_eof(
            net.stack_mut(server).sockets_mut(),
            s,
            &mut got
        )));
        assert_eq!(got, msg.as_bytes());
        p.sockets(server).close(s).unwrap();
        let limit = p.net.now() + secs(5);
        assert!(p.run_until(limit, |net| net.stack(server).sockets().len() == 1));
    }
    p.sockets(server).close(l).unwrap();
    ports
}

fn read_to_eof(ss: &mut sockstack::proto::SocketSet, s: SocketHandle, got: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match ss.recv(s, &mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(RecvError::Eof) => return true,
            Err(RecvError::WouldBlock) => return false,
            Err(e) => panic!("recv: {e:?}"),
        }
    }
}

#[test]
fn two_hundred_sequential_connections() {
    let mut p = clean(61);
    let client: HostId = p.client;
    let ports = sequential(&mut p, 200, None);
    let mut uniq = ports.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), 200, "no 4-tuple reused while in TIME_WAIT");
    assert_eq!(count_state(&p, client, TcpState::TimeWait), 200);
    let t = p.net.now() + secs(61);
    p.net.run_until(t);
    assert!(p.net.stack(client).sockets().is_empty());
    assert!(p.net.stack(p.server).sockets().is_empty());
}

/// Reusing one 4-tuple at once: the server closes first, so the server
/// holds TIME_WAIT; the client connects again from the same port, and the
/// new SYN (newer timestamp) ends that TIME_WAIT early, as on Linux. The
/// client side, holding no TIME_WAIT, may bind the port again
/// (SO_REUSEADDR). Where the client holds TIME_WAIT instead, connect says
/// EADDRNOTAVAIL.
#[test]
fn four_tuple_reuse_across_time_wait() {
    const CPORT: u16 = 40_000;
    let mut p = clean(71);
    let (client, server) = (p.client, p.server);
    let server_ip = p.addr(server);
    let l = p.listen(9000, 16).expect("listen");
    for round in 0..5 {
        let now = p.net.now();
        let ss = p.sockets(client);
        let c = ss.tcp_socket().unwrap();
        ss.set_reuse_addr(c, true).unwrap();
        ss.bind(c, Ipv4Addr::UNSPECIFIED, CPORT).expect("bind");
        ss.connect(now, c, server_ip, 9000).expect("connect");
        let mut s = None;
        let limit = now + secs(5);
        let ok = p.run_until(limit, |net| {
            if s.is_none() {
                s = net.stack_mut(server).sockets_mut().accept(l).ok();
            }
            s.is_some() && net.stack(client).sockets().state(c) == Some(TcpState::Established)
        });
        assert!(
            ok,
            "round {round}: client {:?}; server {:?}",
            p.net.stack(client).sockets().state(c),
            rows(&p, server)
        );
        // The server closes first and keeps TIME_WAIT.
        p.sockets(server).close(s.unwrap()).unwrap();
        let limit = p.net.now() + secs(5);
        assert!(p.run_until(limit, |net| {
            net.stack(client)
                .sockets()
                .readiness(c)
                .is_some_and(|r| r.rdhup)
        }));
        p.sockets(client).close(c).unwrap();
        let limit = p.net.now() + secs(5);
        assert!(p.run_until(limit, |net| net.stack(client).sockets().is_empty()));
        assert_eq!(
            count_state(&p, server, TcpState::TimeWait),
            1,
            "round {round}"
        );
    }
    // Now the client closes first and holds TIME_WAIT on the 4-tuple.
    let now = p.net.now();
    let c = p.sockets(client).tcp_socket().unwrap();
    p.sockets(client).set_reuse_addr(c, true).unwrap();
    p.sockets(client)
        .bind(c, Ipv4Addr::UNSPECIFIED, CPORT)
        .unwrap();
    p.sockets(client).connect(now, c, server_ip, 9000).unwrap();
    let mut s = None;
    let limit = now + secs(5);
    assert!(p.run_until(limit, |net| {
        s = s.or_else(|| net.stack_mut(server).sockets_mut().accept(l).ok());
        s.is_some()
    }));
    p.sockets(client).close(c).unwrap();
    let mut got = Vec::new();
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        read_to_eof(net.stack_mut(server).sockets_mut(), s.unwrap(), &mut got)
    }));
    p.sockets(server).close(s.unwrap()).unwrap();
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        net.stack(client)
            .sockets()
            .snapshot()
            .iter()
            .any(|r| r.state == TcpState::TimeWait)
    }));
    let now = p.net.now();
    let c2 = p.sockets(client).tcp_socket().unwrap();
    p.sockets(client).set_reuse_addr(c2, true).unwrap();
    p.sockets(client)
        .bind(c2, Ipv4Addr::UNSPECIFIED, CPORT)
        .unwrap();
    assert_eq!(
        p.sockets(client).connect(now, c2, server_ip, 9000),
        Err(sockstack::proto::ConnectError::AddrNotAvail)
    );
}

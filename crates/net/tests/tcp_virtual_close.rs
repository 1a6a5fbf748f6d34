//! Connection semantics between two whole stacks in virtual time: refused
//! connections, close with unread data, half-close, and rebinding a
//! listener with SO_REUSEADDR while old connections sit in TIME_WAIT.

mod tcp_common;

use sockstack::proto::wire::Ipv4Addr;
use sockstack::proto::{
    BindError, Instant, ListenError, RecvError, SendError, Shutdown, SocketHandle, TcpError,
    TcpState,
};
use sockstack::runtime::HostId;
use sockstack::sim::{PairConfig, TcpPair};
use tcp_common::*;

fn pair() -> TcpPair {
    TcpPair::new(PairConfig::default().with_wire(wire()).with_seed(5))
}

/// Run until `id`'s socket `h` is in `state` (within 10 virtual seconds).
fn wait_state(pair: &mut TcpPair, id: HostId, h: SocketHandle, state: TcpState) {
    let limit = pair.net.now() + secs(10);
    let ok = pair.run_until(limit, |net| net.stack(id).sockets().state(h) == Some(state));
    assert!(
        ok,
        "{} never reached {state}: {:?} at {}",
        h,
        pair.net.stack(id).sockets().state(h),
        pair.net.now()
    );
}

/// Read everything readable from `h` now; `Err` carries a terminal result.
fn read_all(pair: &mut TcpPair, id: HostId, h: SocketHandle) -> (Vec<u8>, Option<RecvError>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match pair.sockets(id).recv(h, &mut buf) {
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(RecvError::WouldBlock) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let server_ip = p.addr(server);
    let now = p.net.now();
    let ss = p.sockets(client);
    let c = ss.tcp_socket().unwrap();
    ss.connect(now, c, server_ip, 9).expect("connect starts");
    assert_eq!(ss.state(c), Some(TcpState::SynSent));
    let refused = p.run_until(Instant::from_secs(5), |net| {
        net.stack(client).sockets().state(c) == Some(TcpState::Closed)
    });
    assert!(refused, "RST ends the handshake at once");
    // The RST came back within one round trip, not after SYN retries.
    assert!(
        p.net.now() < Instant::from_millis(100),
        "at {}",
        p.net.now()
    );
    let ss = p.sockets(client);
    assert!(ss.readiness(c).unwrap().error, "POLLERR");
    assert_eq!(ss.take_error(c), Some(TcpError::Refused), "ECONNREFUSED");
    assert_eq!(ss.take_error(c), None, "SO_ERROR clears on read");
    let st = *p.net.stack(server).sockets().tcp_stats();
    assert_eq!(st.closed_port_syns, 1);
    assert_eq!(st.out_rsts, 1);
    assert_eq!(p.net.stack(client).sockets().tcp_stats().attempt_fails, 1);
    p.sockets(client).close(c).unwrap();
    assert!(p.net.stack(client).sockets().is_empty());
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    assert_eq!(p.sockets(client).send(c, &[7u8; 3000]), Ok(3000));
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| net.stack(server).sockets().readable(s)));
    // The server closes without reading: RFC 9293 3.6 / RFC 2525 2.17 say RST.
    p.sockets(server).close(s).unwrap();
    let limit = p.net.now() + secs(5);
    let reset = p.run_until(limit, |net| {
        net.stack(client).sockets().state(c) == Some(TcpState::Closed)
    });
    assert!(
        reset,
        "client still {:?}",
        p.net.stack(client).sockets().state(c)
    );
    let (data, end) = read_all(&mut p, client, c);
    assert!(data.is_empty());
    assert_eq!(end, Some(RecvError::Error(TcpError::Reset)), "ECONNRESET");
    // After the error is reported, writing fails with EPIPE.
    assert_eq!(p.sockets(client).send(c, b"x"), Err(SendError::Shutdown));
    assert!(p.net.stack(server).sockets().tcp_stats().out_rsts >= 1);
    assert_eq!(p.net.stack(client).sockets().tcp_stats().estab_resets, 1);
    // No TIME_WAIT on either side after a reset.
    p.sockets(client).close(c).unwrap();
    p.net.poll();
    assert!(
        p.net.stack(client).sockets().is_empty(),
        "{:?}",
        rows(&p, client)
    );
    assert!(
        p.net.stack(server).sockets().is_empty(),
        "{:?}",
        rows(&p, server)
    );
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    let request = vec![1u8; 10_000];
    assert_eq!(p.sockets(client).send(c, &request), Ok(request.len()));
    p.sockets(client).shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(
        p.sockets(client).send(c, b"late"),
        Err(SendError::Shutdown),
        "EPIPE after SHUT_WR"
    );
    // The server reads the request, then EOF, and sits in CLOSE_WAIT.
    let mut got = Vec::new();
    let limit = p.net.now() + secs(5);
    let eof = p.run_until(limit, |net| {
        let mut buf = [0u8; 4096];
        loop {
            match net.stack_mut(server).sockets_mut().recv(s, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(RecvError::Eof) => return true,
                Err(RecvError::WouldBlock) => return false,
                Err(e) => panic!("server recv: {e:?}"),
            }
        }
    });
    assert!(eof);
    assert_eq!(got, request);
    wait_state(&mut p, server, s, TcpState::CloseWait);
    wait_state(&mut p, client, c, TcpState::FinWait2);
    // The server still answers, and the client still reads.
    let reply = vec![2u8; 20_000];
    let mut sent = 0;
    let mut back = Vec::new();
    let limit = p.net.now() + secs(5);
    let done = p.run_until(limit, |net| {
        if sent < reply.len() {
            if let Ok(n) = net.stack_mut(server).sockets_mut().send(s, &reply[sent..]) {
                sent += n;
            }
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = net.stack_mut(client).sockets_mut().recv(c, &mut buf) {
            back.extend_from_slice(&buf[..n]);
        }
        back.len() == reply.len()
    });
    assert!(done, "{} of {} bytes back", back.len(), reply.len());
    assert_eq!(back, reply);
    // Now the server closes: LAST_ACK -> CLOSED; the client reads EOF and
    // ends in TIME_WAIT.
    p.sockets(server).close(s).unwrap();
    wait_state(&mut p, client, c, TcpState::TimeWait);
    let (rest, end) = read_all(&mut p, client, c);
    assert!(rest.is_empty());
    assert_eq!(end, Some(RecvError::Eof));
    p.sockets(client).close(c).unwrap();
    let empty_by = p.net.now() + secs(61);
    assert!(p.run_until(empty_by, |net| {
        net.stack(client).sockets().is_empty() && net.stack(server).sockets().is_empty()
    }));
}

/// A server closes first (its connections go to TIME_WAIT), closes its
/// listener, and starts again on the same port: with SO_REUSEADDR that
/// works and new connections are served; without it bind says EADDRINUSE,
/// as on Linux.
#[test]
fn reuseaddr_rebinds_listener_over_time_wait() {
    const PORT: u16 = 8080;
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let server_ip = p.addr(server);
    let listener = p.listen(PORT, 16).expect("listen");
    let mut conns = Vec::new();
    for _ in 0..3 {
        let now = p.net.now();
        let c = p.sockets(client).tcp_socket().unwrap();
        p.sockets(client).connect(now, c, server_ip, PORT).unwrap();
        let mut s = None;
        let limit = now + secs(5);
        assert!(p.run_until(limit, |net| {
            s = net.stack_mut(server).sockets_mut().accept(listener).ok();
            s.is_some()
        }));
        conns.push((c, s.unwrap()));
    }
    // The server closes first ...
    for &(_, s) in &conns {
        p.sockets(server).close(s).unwrap();
    }
    // ... the clients see EOF and close too.
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        conns.iter().all(|&(c, _)| {
            net.stack(client)
                .sockets()
                .readiness(c)
                .is_some_and(|r| r.rdhup)
        })
    }));
    for &(c, _) in &conns {
        p.sockets(client).close(c).unwrap();
    }
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| net.stack(client).sockets().is_empty()));
    assert_eq!(count_state(&p, server, TcpState::TimeWait), 3);
    p.sockets(server).close(listener).unwrap();
    p.net.poll();
    assert_eq!(
        p.net.stack(server).sockets().len(),
        3,
        "{:?}",
        rows(&p, server)
    );

    // Without SO_REUSEADDR: EADDRINUSE while TIME_WAIT holds the port.
    let plain = p.sockets(server).tcp_socket().unwrap();
    assert_eq!(
        p.sockets(server).bind(plain, Ipv4Addr::UNSPECIFIED, PORT),
        Err(BindError::AddrInUse)
    );
    p.sockets(server).close(plain).unwrap();

    // With SO_REUSEADDR: bind and listen succeed, and a client is served.
    let l2 = p.listen(PORT, 16).expect("rebind with SO_REUSEADDR");
    assert_eq!(count_state(&p, server, TcpState::TimeWait), 3);
    let now = p.net.now();
    let c = p.sockets(client).tcp_socket().unwrap();
    p.sockets(client).connect(now, c, server_ip, PORT).unwrap();
    let mut s = None;
    let limit = now + secs(5);
    assert!(p.run_until(limit, |net| {
        s = net.stack_mut(server).sockets_mut().accept(l2).ok();
        s.is_some()
    }));
    let s = s.unwrap();
    assert_eq!(p.sockets(client).send(c, b"ping"), Ok(4));
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| net.stack(server).sockets().readable(s)));
    let (data, _) = read_all(&mut p, server, s);
    assert_eq!(data, b"ping");

    // A second listener on the same port is refused even with SO_REUSEADDR.
    let dup = p.sockets(server).tcp_socket().unwrap();
    p.sockets(server).set_reuse_addr(dup, true).unwrap();
    let r = p
        .sockets(server)
        .bind(dup, Ipv4Addr::UNSPECIFIED, PORT)
        .map_err(|_| ListenError::AddrInUse)
        .and_then(|()| p.sockets(server).listen(dup, 4));
    assert_eq!(r, Err(ListenError::AddrInUse));

    // The old TIME_WAIT connections still expire on time.
    let t = p.net.now() + secs(61);
    p.net.run_until(t);
    assert_eq!(count_state(&p, server, TcpState::TimeWait), 0);
}

/// Closing a listener resets the connections still waiting in its accept
/// queue (Linux `inet_csk_listen_stop`): their clients see ECONNRESET.
#[test]
fn closing_a_listener_resets_unaccepted_connections() {
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let server_ip = p.addr(server);
    let l = p.listen(8000, 16).unwrap();
    let now = p.net.now();
    let cs: Vec<_> = (0..3)
        .map(|_| {
            let c = p.sockets(client).tcp_socket().unwrap();
            p.sockets(client).connect(now, c, server_ip, 8000).unwrap();
            c
        })
        .collect();
    let limit = now + secs(5);
    assert!(p.run_until(limit, |net| {
        cs.iter()
            .all(|&c| net.stack(client).sockets().state(c) == Some(TcpState::Established))
    }));
    assert_eq!(
        p.net.stack(server).sockets().len(),
        4,
        "listener + 3 queued"
    );
    p.sockets(server).close(l).unwrap();
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        cs.iter()
            .all(|&c| net.stack(client).sockets().state(c) == Some(TcpState::Closed))
    }));
    for &c in &cs {
        let mut buf = [0u8; 8];
        assert_eq!(
            p.sockets(client).recv(c, &mut buf),
            Err(RecvError::Error(TcpError::Reset))
        );
        p.sockets(client).close(c).unwrap();
    }
    assert!(p.net.stack(server).sockets().is_empty());
    assert!(p.net.stack(client).sockets().is_empty());
}

/// Data arriving after close(2): RFC 1122 4.2.2.13 says the closed side
/// SHOULD reset ("if new data is received after CLOSE is called, its TCP
/// SHOULD send a RST to show that data was lost"), and Linux does
/// (`tcp_rcv_state_process`, FIN_WAIT1/2 with RCV_SHUTDOWN:
/// LINUX_MIB_TCPABORTONDATA). The server writing to a client that has
/// closed gets ECONNRESET instead of writing into a void.
#[test]
fn data_after_close_resets_the_sender() {
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    p.sockets(client).close(c).unwrap();
    wait_state(&mut p, server, s, TcpState::CloseWait);
    // The server answers anyway.
    let reply = vec![3u8; 100_000];
    let mut sent = 0;
    let mut err = None;
    let limit = p.net.now() + secs(10);
    let stopped = p.run_until(limit, |net| {
        let ss = net.stack_mut(server).sockets_mut();
        if sent < reply.len() {
            match ss.send(s, &reply[sent..]) {
                Ok(n) => sent += n,
                Err(SendError::WouldBlock) => {}
                Err(e) => {
                    err = Some(e);
                    return true;
                }
            }
        }
        ss.state(s) == Some(TcpState::Closed)
    });
    assert!(
        stopped,
        "server still {:?} after writing {sent} B into a closed socket; client rows {:?}",
        p.net.stack(server).sockets().state(s),
        rows(&p, client)
    );
    let mut buf = [0u8; 8];
    let e = p.sockets(server).recv(s, &mut buf);
    assert!(
        matches!(err, Some(SendError::Error(TcpError::Reset)))
            || e == Err(RecvError::Error(TcpError::Reset)),
        "ECONNRESET expected: send {err:?}, recv {e:?}"
    );
    assert!(p.net.stack(client).sockets().tcp_stats().out_rsts >= 1);
}

/// A client closes; the server never does (CLOSE_WAIT). The client's
/// orphan waits in FIN_WAIT2 for tcp_fin_timeout (60 s) and then goes away
/// without TIME_WAIT, as on Linux. When the server finally closes, its FIN
/// meets no socket, the RST that answers it ends LAST_ACK, and both tables
/// are empty.
#[test]
fn orphan_fin_wait2_times_out_then_late_fin_is_reset() {
    let mut p = pair();
    let (client, server) = (p.client, p.server);
    let (c, s) = p.connect(80, Instant::from_secs(5)).expect("connected");
    p.sockets(client).close(c).unwrap();
    wait_state(&mut p, server, s, TcpState::CloseWait);
    let limit = p.net.now() + secs(5);
    assert!(p.run_until(limit, |net| {
        net.stack(client)
            .sockets()
            .snapshot()
            .iter()
            .any(|r| r.state == TcpState::FinWait2)
    }));
    let closed_at = p.net.now();
    p.net.run_until(closed_at + secs(59));
    assert_eq!(
        count_state(&p, client, TcpState::FinWait2),
        1,
        "still waiting at 59 s"
    );
    p.net.run_until(closed_at + secs(61));
    assert!(
        p.net.stack(client).sockets().is_empty(),
        "{:?}",
        rows(&p, client)
    );
    assert_eq!(
        p.net.stack(server).sockets().state(s),
        Some(TcpState::CloseWait)
    );
    p.sockets(server).close(s).unwrap();
    let limit = p.net.now() + secs(5);
    assert!(
        p.run_until(limit, |net| net.stack(server).sockets().is_empty()),
        "{:?}",
        rows(&p, server)
    );
    assert_eq!(p.net.stack(client).sockets().tcp_stats().out_rsts, 1);
}

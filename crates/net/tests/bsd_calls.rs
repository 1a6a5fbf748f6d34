//! The BSD facade between two real-clock stacks on an in-memory wire:
//! connect/accept, data, errors, options, close variants, poll.

mod bsd_common;

use std::time::Duration;

use bsd_common::*;
use sockstack::bsd::{consts::*, Errno, Fd, Linger, PollFd, SockOpt, SockOptName};
use sockstack::proto::TcpState;

#[test]
fn blocking_echo() {
    let (a, b) = pair();
    let (c, s, l) = connected(&a, &b, 7);
    guard(&a, c);
    guard(&b, s);
    assert_eq!(a.send(c, b"hello, world", 0), Ok(12));
    let got = read_n(&b, s, 12).unwrap();
    assert_eq!(b.send(s, &got, 0), Ok(12));
    assert_eq!(read_n(&a, c, 12).unwrap(), b"hello, world");
    assert_eq!(a.getpeername(c), Ok(addr(B, 7)));
    assert_eq!(b.getsockname(s), Ok(addr(B, 7)));
    assert_eq!(b.getpeername(s), a.getsockname(c));
    let port = a.getsockname(c).unwrap().port();
    assert!((32768..=60999).contains(&port), "ephemeral port {port}");
    for (f, fd) in [(&a, c), (&b, s), (&b, l)] {
        f.close(fd).unwrap();
        assert_eq!(f.close(fd), Err(Errno::EBADF));
        assert_eq!(f.send(fd, b"x", 0), Err(Errno::EBADF));
        assert_eq!(f.recv(fd, &mut [0; 1], 0), Err(Errno::EBADF));
        assert_eq!(f.getsockname(fd), Err(Errno::EBADF));
    }
}

/// Poll one descriptor for `events`, waiting up to GUARD.
fn poll1(f: &Facade, fd: Fd, events: i16) -> i16 {
    let mut p = [PollFd::new(fd, events)];
    f.poll(&mut p, Some(GUARD)).unwrap();
    p[0].revents
}

/// Wait (bounded, polling the snapshot) until the stack holds a connection
/// on local `port` in `state`.
fn wait_state(f: &Facade, port: u16, state: TcpState) {
    for _ in 0..2000 {
        let found = f.with_stack(|s| {
            s.sockets()
                .snapshot()
                .iter()
                .any(|r| r.local.port() == port && r.state == state)
        });
        if found {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no connection on port {port} reached {state}");
}

#[test]
fn nonblocking_connect_reports_through_pollout_and_so_error() {
    let (a, b) = pair();
    let l = listener(&b, B, 80);
    let c = a.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert_eq!(a.connect(c, addr(B, 80)), Err(Errno::EINPROGRESS));
    assert_eq!(poll1(&a, c, POLLOUT) & POLLOUT, POLLOUT);
    assert_eq!(a.so_error(c), Ok(0));
    assert_eq!(a.connect(c, addr(B, 80)), Err(Errno::EISCONN));
    assert_eq!(a.connect_ex(c, addr(B, 80)), 106);
    assert_eq!(poll1(&b, l, POLLIN), POLLIN);
    let (s, _) = b.accept(l).unwrap();
    guard(&b, s);
    // The non-blocking socket: recv with nothing there is EAGAIN.
    assert_eq!(a.recv(c, &mut [0; 8], 0), Err(Errno::EAGAIN));
    assert_eq!(a.send(c, b"ping", 0), Ok(4));
    assert_eq!(read_n(&b, s, 4).unwrap(), b"ping");
    // TCP_INFO on an established connection.
    match a.getsockopt(c, SockOptName::Info) {
        Ok(SockOpt::Info(i)) => {
            assert_eq!(i.state, Some(TcpState::Established));
            assert_eq!(sockstack::bsd::linux_tcp_state(TcpState::Established), 1);
            assert!(i.rto > sockstack::proto::Duration::ZERO);
            assert!(i.cwnd > 0);
            assert_eq!(i.retransmits, 0);
        }
        other => panic!("TCP_INFO: {other:?}"),
    }
    match a.getsockopt(c, SockOptName::MaxSeg) {
        Ok(SockOpt::MaxSeg(m)) => assert_eq!(m, 1448, "1500 - 40 - 12 (timestamps)"),
        other => panic!("TCP_MAXSEG: {other:?}"),
    }
}

#[test]
fn connect_to_closed_port_is_refused() {
    let (a, _b) = pair();
    let c = tcp(&a);
    guard(&a, c);
    assert_eq!(a.connect(c, addr(B, 9)), Err(Errno::ECONNREFUSED));
    let c2 = tcp(&a);
    guard(&a, c2);
    assert_eq!(a.connect_ex(c2, addr(B, 9)), 111);
    // Non-blocking: EINPROGRESS, then POLLOUT|POLLERR|POLLHUP and SO_ERROR
    // (read-and-clear: 111 once, then 0).
    let n = a.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert_eq!(a.connect_ex(n, addr(B, 9)), 115);
    let ev = poll1(&a, n, POLLOUT);
    assert_eq!(
        ev & (POLLOUT | POLLERR | POLLHUP),
        POLLOUT | POLLERR | POLLHUP
    );
    assert_eq!(a.so_error(n), Ok(111));
    assert_eq!(a.so_error(n), Ok(0));
    assert_eq!(
        a.getsockopt(n, SockOptName::Error),
        Ok(SockOpt::Error(None))
    );
    // Polling connect() itself (the other non-blocking idiom) reports the
    // failure once.
    let m = a.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert_eq!(a.connect(m, addr(B, 9)), Err(Errno::EINPROGRESS));
    assert_eq!(poll1(&a, m, POLLOUT) & POLLERR, POLLERR);
    assert_eq!(a.connect(m, addr(B, 9)), Err(Errno::ECONNREFUSED));
    assert_eq!(a.so_error(m), Ok(0));
}

#[test]
fn connect_to_silent_host_times_out_with_sndtimeo() {
    let (a, _b) = pair();
    let c = tcp(&a);
    a.setsockopt(c, SockOpt::SndTimeo(Some(Duration::from_millis(150))))
        .unwrap();
    // Nobody answers ARP for .99 on this wire: the handshake cannot finish.
    let silent = sockstack::proto::wire::Ipv4Addr::new(198, 18, 0, 99);
    assert_eq!(a.connect(c, addr(silent, 80)), Err(Errno::EINPROGRESS));
    assert_eq!(a.connect(c, addr(silent, 80)), Err(Errno::EALREADY));
    a.close(c).unwrap();
}

#[test]
fn recv_timeout_gives_eagain() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 81);
    guard(&b, s);
    a.setsockopt(c, SockOpt::RcvTimeo(Some(Duration::from_millis(100))))
        .unwrap();
    assert_eq!(a.recv(c, &mut [0; 16], 0), Err(Errno::EAGAIN));
    assert_eq!(
        a.recv(c, &mut [0; 16], MSG_DONTWAIT),
        Err(Errno::EWOULDBLOCK)
    );
    // Data arriving later is still delivered.
    assert_eq!(b.send(s, b"late", 0), Ok(4));
    let mut buf = [0; 16];
    assert_eq!(a.recv(c, &mut buf, 0), Ok(4));
    assert_eq!(&buf[..4], b"late");
}

#[test]
fn peek_and_waitall() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 82);
    guard(&a, c);
    guard(&b, s);
    assert_eq!(a.send(c, b"abcdef", MSG_NOSIGNAL), Ok(6));
    let mut buf = [0; 6];
    assert_eq!(b.recv(s, &mut buf, MSG_PEEK | MSG_WAITALL), Ok(6));
    assert_eq!(&buf, b"abcdef");
    let mut two = [0; 2];
    assert_eq!(b.recv(s, &mut two, MSG_PEEK), Ok(2));
    assert_eq!(&two, b"ab");
    assert_eq!(b.recv(s, &mut two, 0), Ok(2));
    assert_eq!(&two, b"ab");
    assert_eq!(read_n(&b, s, 4).unwrap(), b"cdef");
    // MSG_WAITALL gathers data sent in pieces over time.
    let sender = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            for piece in [&b"12345"[..], b"678", b"90"] {
                std::thread::sleep(Duration::from_millis(20));
                assert_eq!(a.send(c, piece, 0), Ok(piece.len()));
            }
        });
        let got = read_n(&b, s, 10).unwrap();
        t.join().unwrap();
        got
    });
    assert_eq!(sender, b"1234567890");
    // WAITALL stops early at end of stream with what it has.
    assert_eq!(a.send(c, b"xyz", 0), Ok(3));
    a.shutdown(c, SHUT_WR).unwrap();
    assert_eq!(read_n(&b, s, 100).unwrap(), b"xyz");
    assert_eq!(b.recv(s, &mut buf, MSG_WAITALL), Ok(0));
}

#[test]
fn half_close() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 83);
    guard(&a, c);
    guard(&b, s);
    assert_eq!(a.send(c, b"request", 0), Ok(7));
    a.shutdown(c, SHUT_WR).unwrap();
    assert_eq!(a.send(c, b"more", 0), Err(Errno::EPIPE));
    assert_eq!(read_n(&b, s, 7).unwrap(), b"request");
    assert_eq!(b.recv(s, &mut [0; 8], 0), Ok(0));
    let ev = poll1(&b, s, POLLIN | POLLOUT | POLLRDHUP);
    assert_eq!(ev, POLLIN | POLLOUT | POLLRDHUP);
    // The other direction still works.
    assert_eq!(b.send(s, b"reply", 0), Ok(5));
    assert_eq!(read_n(&a, c, 5).unwrap(), b"reply");
    b.close(s).unwrap();
    assert_eq!(a.recv(c, &mut [0; 8], 0), Ok(0));
    assert_eq!(poll1(&a, c, POLLIN) & (POLLIN | POLLHUP), POLLIN | POLLHUP);
    a.close(c).unwrap();
}

#[test]
fn shutdown_read_then_rdwr() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 84);
    guard(&a, c);
    guard(&b, s);
    a.shutdown(c, SHUT_RD).unwrap();
    assert_eq!(a.recv(c, &mut [0; 8], 0), Ok(0));
    a.shutdown(c, SHUT_RDWR).unwrap();
    assert_eq!(a.send(c, b"x", 0), Err(Errno::EPIPE));
    assert_eq!(b.recv(s, &mut [0; 8], 0), Ok(0));
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 85);
    guard(&a, c);
    guard(&b, s);
    assert_eq!(b.send(s, b"unread", 0), Ok(6));
    assert_eq!(poll1(&a, c, POLLIN), POLLIN);
    a.close(c).unwrap();
    assert_eq!(b.recv(s, &mut [0; 8], 0), Err(Errno::ECONNRESET));
    // The reset is reported once; afterwards the connection is just gone.
    assert_eq!(b.send(s, b"x", 0), Err(Errno::EPIPE));
}

#[test]
fn linger_zero_aborts_with_rst() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 86);
    guard(&b, s);
    let l = Linger { on: true, secs: 0 };
    a.setsockopt(c, SockOpt::Linger(l)).unwrap();
    a.close(c).unwrap();
    assert_eq!(b.recv(s, &mut [0; 8], 0), Err(Errno::ECONNRESET));
}

#[test]
fn linger_n_waits_for_the_fin_to_be_acknowledged() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 87);
    guard(&b, s);
    let data = vec![7u8; 200_000];
    assert_eq!(a.send(c, &data, 0), Ok(data.len()));
    a.setsockopt(c, SockOpt::Linger(Linger { on: true, secs: 10 }))
        .unwrap();
    // b reads concurrently so a's queue can drain.
    std::thread::scope(|scope| {
        let t = scope.spawn(|| read_n(&b, s, 300_000).unwrap());
        a.close(c).unwrap();
        // close returned only after b acknowledged our FIN: b has it already.
        match b.getsockopt(s, SockOptName::Info) {
            Ok(SockOpt::Info(i)) => assert_eq!(i.state, Some(TcpState::CloseWait)),
            other => panic!("TCP_INFO: {other:?}"),
        }
        assert_eq!(t.join().unwrap(), data);
    });
}

#[test]
fn reuseaddr_binds_over_time_wait() {
    let (a, b) = pair();
    // A server sets SO_REUSEADDR on its listener; accepted sockets inherit
    // it, and Linux allows the rebind only when both sides have it.
    let l = tcp(&b);
    b.setsockopt(l, SockOpt::ReuseAddr(true)).unwrap();
    b.bind(l, addr(B, 88)).unwrap();
    b.listen(l, 8).unwrap();
    let c = tcp(&a);
    guard(&a, c);
    a.connect(c, addr(B, 88)).unwrap();
    let (s, _) = b.accept(l).unwrap();
    // The server closes first, so the server's connection ends in TIME_WAIT.
    b.close(s).unwrap();
    assert_eq!(a.recv(c, &mut [0; 4], 0), Ok(0));
    a.close(c).unwrap();
    b.close(l).unwrap();
    wait_state(&b, 88, TcpState::TimeWait);
    let n = tcp(&b);
    assert_eq!(b.bind(n, addr(B, 88)), Err(Errno::EADDRINUSE));
    b.setsockopt(n, SockOpt::ReuseAddr(true)).unwrap();
    b.bind(n, addr(B, 88)).unwrap();
    b.listen(n, 8).unwrap();
    // A second listener on the same port is refused even with SO_REUSEADDR.
    let m = tcp(&b);
    b.setsockopt(m, SockOpt::ReuseAddr(true)).unwrap();
    let second = b.bind(m, addr(B, 88)).and_then(|()| b.listen(m, 8));
    assert_eq!(second, Err(Errno::EADDRINUSE));
    // The new listener works.
    let c2 = tcp(&a);
    guard(&a, c2);
    a.connect(c2, addr(B, 88)).unwrap();
    let (s2, _) = b.accept(n).unwrap();
    assert_eq!(a.send(c2, b"again", 0), Ok(5));
    assert_eq!(read_n(&b, s2, 5).unwrap(), b"again");
}

#[test]
fn poll_over_several_descriptors() {
    let (a, b) = pair();
    let l = listener(&b, B, 89);
    b.set_nonblocking(l, true).unwrap();
    let mut p = [PollFd::new(l, POLLIN)];
    assert_eq!(b.poll(&mut p, Some(Duration::from_millis(20))), Ok(0));
    assert_eq!(p[0].revents, 0);
    let clients: Vec<Fd> = (0..3)
        .map(|_| {
            let c = tcp(&a);
            guard(&a, c);
            a.connect(c, addr(B, 89)).unwrap();
            c
        })
        .collect();
    assert_eq!(poll1(&b, l, POLLIN), POLLIN);
    let mut servers = Vec::new();
    while servers.len() < 3 {
        match b.accept4(l, SOCK_NONBLOCK) {
            Ok((s, _)) => servers.push(s),
            Err(Errno::EAGAIN) => assert_eq!(poll1(&b, l, POLLIN), POLLIN),
            Err(e) => panic!("accept: {e}"),
        }
    }
    assert_eq!(b.accept(l).map(|_| ()), Err(Errno::EAGAIN));
    assert!(b.is_nonblocking(servers[0]).unwrap());
    // Every server socket is writable, none readable.
    let mut p: Vec<PollFd> = servers
        .iter()
        .map(|&s| PollFd::new(s, POLLIN | POLLOUT))
        .collect();
    assert_eq!(b.poll(&mut p, Some(GUARD)), Ok(3));
    assert!(p.iter().all(|p| p.revents == POLLOUT));
    // Data on the middle connection only.
    assert_eq!(a.send(clients[1], b"!", 0), Ok(1));
    assert_eq!(poll1(&b, servers[1], POLLIN), POLLIN);
    let mut p: Vec<PollFd> = servers.iter().map(|&s| PollFd::new(s, POLLIN)).collect();
    p.push(PollFd::new(l, POLLIN));
    p.push(PollFd::new(Fd(-1), POLLIN));
    p.push(PollFd::new(Fd(999), POLLIN));
    assert_eq!(b.poll(&mut p, Some(Duration::ZERO)), Ok(2));
    let rev: Vec<i16> = p.iter().map(|p| p.revents).collect();
    assert_eq!(rev, vec![0, POLLIN, 0, 0, 0, POLLNVAL]);
    // A reset connection reports POLLERR and POLLHUP even when not asked.
    a.setsockopt(clients[2], SockOpt::Linger(Linger { on: true, secs: 0 }))
        .unwrap();
    a.close(clients[2]).unwrap();
    let ev = poll1(&b, servers[2], 0);
    assert_eq!(ev & (POLLERR | POLLHUP), POLLERR | POLLHUP);
    assert_eq!(b.so_error(servers[2]), Ok(104));
}

#[test]
fn full_send_buffer_blocks_nonblocking_send() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 90);
    guard(&b, s);
    a.setsockopt(c, SockOpt::SndBuf(8192)).unwrap();
    a.set_nonblocking(c, true).unwrap();
    let chunk = [1u8; 4096];
    let mut sent = 0usize;
    let mut full = false;
    // b does not read: its window and then our buffer fill up.
    for _ in 0..10_000 {
        match a.send(c, &chunk, 0) {
            Ok(n) => sent += n,
            Err(Errno::EAGAIN) => {
                let mut p = [PollFd::new(c, POLLOUT)];
                if a.poll(&mut p, Some(Duration::from_millis(50))) == Ok(0) {
                    full = true;
                    break;
                }
            }
            Err(e) => panic!("send: {e}"),
        }
    }
    assert!(full, "send buffer never filled ({sent} bytes sent)");
    // Reading on b makes room again.
    let got = read_n(&b, s, sent).unwrap();
    assert_eq!(got.len(), sent);
    assert_eq!(poll1(&a, c, POLLOUT), POLLOUT);
    assert!(a.send(c, &chunk, MSG_DONTWAIT).is_ok());
}

#[test]
fn accepted_socket_inherits_timeouts() {
    let (a, b) = pair();
    let l = listener(&b, B, 91);
    let t = Some(Duration::from_millis(50));
    b.setsockopt(l, SockOpt::RcvTimeo(t)).unwrap();
    let c = tcp(&a);
    a.connect(c, addr(B, 91)).unwrap();
    let (s, _) = b.accept(l).unwrap();
    assert_eq!(
        b.getsockopt(s, SockOptName::RcvTimeo),
        Ok(SockOpt::RcvTimeo(t))
    );
    assert_eq!(b.is_nonblocking(s), Ok(false));
    assert_eq!(b.recv(s, &mut [0; 1], 0), Err(Errno::EAGAIN));
    // The listener's own accept honours SO_RCVTIMEO too.
    assert_eq!(b.accept(l).map(|_| ()), Err(Errno::EAGAIN));
}

#[test]
fn send_after_peer_reset_reports_reset_once_then_epipe() {
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 92);
    guard(&a, c);
    b.setsockopt(s, SockOpt::Linger(Linger { on: true, secs: 0 }))
        .unwrap();
    b.close(s).unwrap();
    assert_eq!(poll1(&a, c, POLLIN) & POLLERR, POLLERR);
    assert_eq!(a.send(c, b"x", MSG_NOSIGNAL), Err(Errno::ECONNRESET));
    assert_eq!(a.send(c, b"x", MSG_NOSIGNAL), Err(Errno::EPIPE));
    assert_eq!(a.recv(c, &mut [0; 4], 0), Ok(0));
    assert_eq!(a.getpeername(c), Err(Errno::ENOTCONN));
}

#[test]
fn close_from_another_thread_ends_a_blocked_recv() {
    let (a, b) = pair();
    let (c, _s, _l) = connected(&a, &b, 93);
    guard(&a, c);
    std::thread::scope(|scope| {
        let t = scope.spawn(|| a.recv(c, &mut [0; 4], 0));
        std::thread::sleep(Duration::from_millis(50));
        a.close(c).unwrap();
        assert_eq!(t.join().unwrap(), Err(Errno::EBADF));
    });
}

#[test]
fn accept4_flags_sendto_recvfrom() {
    let (a, b) = pair();
    let l = listener(&b, B, 94);
    guard(&b, l);
    assert_eq!(b.accept4(l, 0x1234_0000).map(|_| ()), Err(Errno::EINVAL));
    let c = tcp(&a);
    guard(&a, c);
    a.connect(c, addr(B, 94)).unwrap();
    let (s, peer) = b.accept4(l, SOCK_NONBLOCK | SOCK_CLOEXEC).unwrap();
    assert_eq!(b.fcntl(s, F_GETFL, 0), Ok(O_RDWR | O_NONBLOCK));
    assert_eq!(b.fcntl(s, F_GETFD, 0), Ok(FD_CLOEXEC));
    assert_eq!(a.sendto(c, b"dgram?", 0, Some(addr(B, 1))), Ok(6));
    assert_eq!(poll1(&b, s, POLLIN), POLLIN);
    let mut buf = [0; 16];
    assert_eq!(b.recvfrom(s, &mut buf, 0), Ok((6, Some(peer))));
    assert_eq!(&buf[..6], b"dgram?");
    assert_eq!(
        b.setsockopt(s, SockOpt::Type(SOCK_STREAM)),
        Err(Errno::ENOPROTOOPT)
    );
}

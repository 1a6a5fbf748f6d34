//! The facade in virtual time: two hosts of one `VirtualNet`, a
//! single-threaded script of blocking and non-blocking calls. Blocking
//! calls step the whole net, so every run is the same run.

use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::Duration;

use sockstack::bsd::{consts::*, Bsd, Driver, Errno, PollFd, SockOpt, VirtualDriver};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Duration as VDuration, Instant, Stack, StackConfig, TcpState};
use sockstack::runtime::VirtualNet;

const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn stack(last: u8) -> Stack {
    Stack::new(StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    ))
}

/// Hosts a and b, 1 ms apart.
fn net() -> (Bsd<VirtualDriver>, Bsd<VirtualDriver>) {
    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(VDuration::from_millis(1)));
    let mut net = VirtualNet::new();
    let a = net.add_host("a", stack(1), la);
    let b = net.add_host("b", stack(2), lb);
    let net = Rc::new(RefCell::new(net));
    (
        Bsd::new(VirtualDriver::new(Rc::clone(&net), a)),
        Bsd::new(VirtualDriver::new(net, b)),
    )
}

#[test]
fn script_in_virtual_time() {
    let (a, b) = net();
    let l = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    b.bind(l, SocketAddrV4::new(B, 80)).unwrap();
    b.listen(l, 16).unwrap();

    let c = a.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    assert_eq!(
        a.connect(c, SocketAddrV4::new(B, 80)),
        Err(Errno::EINPROGRESS)
    );
    // No time has passed: the handshake is still running.
    assert_eq!(a.connect(c, SocketAddrV4::new(B, 80)), Err(Errno::EALREADY));
    let mut p = [PollFd::new(c, POLLOUT)];
    assert_eq!(a.poll(&mut p, None), Ok(1));
    // ARP, SYN and SYN-ACK on a 1 ms wire: a few milliseconds.
    let t = a.driver().now();
    assert!(
        t >= Instant::from_millis(2) && t <= Instant::from_millis(4),
        "{t}"
    );
    assert_eq!(a.so_error(c), Ok(0));
    assert_eq!(a.connect(c, SocketAddrV4::new(B, 80)), Err(Errno::EISCONN));
    a.set_nonblocking(c, false).unwrap();

    let (s, peer) = b.accept(l).unwrap();
    assert_eq!(peer, a.getsockname(c).unwrap());
    assert_eq!(a.send(c, b"hello", 0), Ok(5));
    let mut buf = [0u8; 5];
    assert_eq!(b.recv(s, &mut buf, MSG_WAITALL), Ok(5));
    assert_eq!(&buf, b"hello");

    // SO_RCVTIMEO expires at exactly the timeout in virtual time.
    b.setsockopt(s, SockOpt::RcvTimeo(Some(Duration::from_millis(500))))
        .unwrap();
    let t0 = b.driver().now();
    assert_eq!(b.recv(s, &mut buf, 0), Err(Errno::EAGAIN));
    assert_eq!(b.driver().now(), t0 + VDuration::from_millis(500));

    // a closes first: a's side goes through TIME_WAIT for 60 s.
    a.close(c).unwrap();
    assert_eq!(b.recv(s, &mut buf, 0), Ok(0));
    b.close(s).unwrap();
    b.close(l).unwrap();
    a.driver()
        .net()
        .borrow_mut()
        .run_for(VDuration::from_millis(100));
    let rows = a.with_stack(|s| s.sockets().snapshot());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, TcpState::TimeWait);
    let closed_at = a.driver().now();
    {
        let net = a.driver().net();
        let mut net = net.borrow_mut();
        net.run_until(closed_at + VDuration::from_secs(59));
        assert_eq!(net.stack(a.driver().host()).sockets().len(), 1);
        net.run_until(closed_at + VDuration::from_secs(61));
        assert_eq!(net.stack(a.driver().host()).sockets().len(), 0);
        assert_eq!(net.stack(b.driver().host()).sockets().len(), 0);
    }
    assert_eq!(a.open_fds(), 0);
    assert_eq!(b.open_fds(), 0);
}

#[test]
fn blocking_connect_refused_and_timed_out_in_virtual_time() {
    let (a, _b) = net();
    let c = a.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(
        a.connect(c, SocketAddrV4::new(B, 9)),
        Err(Errno::ECONNREFUSED)
    );
    // A silent address: SYNs are never answered, and SO_SNDTIMEO ends the
    // wait with EINPROGRESS at exactly 2 s.
    let d = a.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    a.setsockopt(d, SockOpt::SndTimeo(Some(Duration::from_secs(2))))
        .unwrap();
    let t0 = a.driver().now();
    let silent = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 77), 80);
    assert_eq!(a.connect(d, silent), Err(Errno::EINPROGRESS));
    assert_eq!(a.driver().now(), t0 + VDuration::from_secs(2));
    // Without a timeout the connect gives up like Linux (ETIMEDOUT or
    // EHOSTUNREACH when ARP fails), never blocking forever.
    let e = a.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    let r = a.connect(e, silent);
    assert!(
        matches!(r, Err(Errno::ETIMEDOUT | Errno::EHOSTUNREACH)),
        "{r:?} at {}",
        a.driver().now()
    );
}

#[test]
fn linger_timeout_in_virtual_time() {
    let (a, b) = net();
    let l = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    b.setsockopt(l, SockOpt::RcvBuf(8192)).unwrap();
    b.bind(l, SocketAddrV4::new(B, 80)).unwrap();
    b.listen(l, 16).unwrap();
    let c = a.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    a.connect(c, SocketAddrV4::new(B, 80)).unwrap();
    let (s, _) = b.accept(l).unwrap();
    // b does not read yet: a's data fills b's buffer, the rest waits in
    // a's send buffer, and a's FIN cannot go out.
    a.setsockopt(c, SockOpt::SndTimeo(Some(Duration::from_millis(100))))
        .unwrap();
    let data = vec![5u8; 1 << 20];
    let sent = a.send(c, &data, 0).unwrap();
    assert!(sent > 16384 && sent < data.len(), "{sent}");
    assert_eq!(a.send(c, &data, MSG_DONTWAIT), Err(Errno::EAGAIN));
    // SO_LINGER {on, 2}: close waits exactly 2 s for the FIN's ACK, then
    // returns and leaves the rest to the stack.
    a.setsockopt(
        c,
        SockOpt::Linger(sockstack::bsd::Linger { on: true, secs: 2 }),
    )
    .unwrap();
    let t0 = a.driver().now();
    a.close(c).unwrap();
    assert_eq!(a.driver().now(), t0 + VDuration::from_secs(2));
    let rows = a.with_stack(|s| s.sockets().snapshot());
    assert_eq!(rows.len(), 1);
    assert!(rows[0].orphan);
    assert_eq!(rows[0].state, TcpState::FinWait1);
    // b still reads everything a queued before close, then EOF.
    b.setsockopt(s, SockOpt::RcvTimeo(Some(Duration::from_secs(600))))
        .unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 65536];
    loop {
        match b.recv(s, &mut buf, 0) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("recv after {total}: {e}"),
        }
    }
    assert_eq!(total, sent);
}

#[test]
fn a_wait_that_cannot_end_gives_edeadlk() {
    let (a, _b) = net();
    let horizon = a.driver().clone().with_horizon(VDuration::from_millis(500));
    let a = Bsd::new(horizon);
    let c = a.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    // ARP retries keep timers pending for a while; past the driver's
    // horizon the call gives up.
    let silent = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 77), 80);
    assert_eq!(a.connect(c, silent), Err(Errno::EDEADLK));
    assert!(a.driver().now() >= Instant::from_millis(500));
}

#[test]
fn lossy_two_way_transfer_with_nonblocking_calls() {
    use sha2::{Digest, Sha256};
    use sockstack::link::impair::{ImpairConfig, Impaired};
    const N: usize = 1 << 20;

    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(VDuration::from_millis(1)));
    let cfg = ImpairConfig {
        loss: 0.02,
        reorder: 0.05,
        seed: 7,
        ..ImpairConfig::default()
    };
    let mut net = VirtualNet::new();
    let ia = net.add_host("a", stack(1), Impaired::new(la, cfg));
    let ib = net.add_host("b", stack(2), lb);
    let net = Rc::new(RefCell::new(net));
    let a = Bsd::new(VirtualDriver::new(Rc::clone(&net), ia));
    let b = Bsd::new(VirtualDriver::new(net, ib));

    let l = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    b.bind(l, SocketAddrV4::new(B, 9000)).unwrap();
    b.listen(l, 4).unwrap();
    let c = a.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    a.connect(c, SocketAddrV4::new(B, 9000)).unwrap();
    let (s, _) = b.accept(l).unwrap();

    let data: Vec<Vec<u8>> = (0..2u8)
        .map(|k| {
            (0..N)
                .map(|i| (i * 31 + usize::from(k) * 7 + i / 977) as u8)
                .collect()
        })
        .collect();
    let ends = [(&a, c), (&b, s)];
    let mut sent = [0usize; 2];
    let mut shut = [false; 2];
    let mut eof = [false; 2];
    let mut hashes = [Sha256::new(), Sha256::new()];
    let mut got = [0usize; 2];
    let mut buf = vec![0u8; 65536];
    for _ in 0..1_000_000 {
        if eof == [true, true] {
            break;
        }
        let mut progress = false;
        for k in 0..2 {
            let (f, fd) = ends[k];
            if sent[k] < N {
                let end = (sent[k] + 65536).min(N);
                match f.send(fd, &data[k][sent[k]..end], MSG_DONTWAIT) {
                    Ok(n) => {
                        sent[k] += n;
                        progress = true;
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(e) => panic!("send {k}: {e}"),
                }
            } else if !shut[k] {
                f.shutdown(fd, SHUT_WR).unwrap();
                shut[k] = true;
            }
            if !eof[k] {
                match f.recv(fd, &mut buf, MSG_DONTWAIT) {
                    Ok(0) => eof[k] = true,
                    Ok(n) => {
                        hashes[k].update(&buf[..n]);
                        got[k] += n;
                        progress = true;
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(e) => panic!("recv {k}: {e}"),
                }
            }
        }
        if !progress {
            // Let virtual time run until a socket has news (or 10 ms). A
            // socket at EOF is always readable, so stop asking it for POLLIN;
            // both facades step the same virtual net.
            let want = |k: usize| {
                (if eof[k] { 0 } else { POLLIN }) | (if sent[k] < N { POLLOUT } else { 0 })
            };
            let wait = Some(Duration::from_millis(10));
            if want(0) != 0 {
                a.poll(&mut [PollFd::new(c, want(0))], wait).unwrap();
            } else {
                b.poll(&mut [PollFd::new(s, want(1))], wait).unwrap();
            }
        }
    }
    assert_eq!(
        eof,
        [true, true],
        "sent {sent:?} got {got:?} at {}",
        a.driver().now()
    );
    assert_eq!(got, [N, N]);
    // a received what b sent and vice versa.
    let [ha, hb] = hashes;
    assert_eq!(ha.finalize(), Sha256::digest(&data[1]));
    assert_eq!(hb.finalize(), Sha256::digest(&data[0]));
}

#[test]
fn dropping_the_facade_closes_its_descriptors() {
    let (a, b) = net();
    let l = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    b.bind(l, SocketAddrV4::new(B, 80)).unwrap();
    b.listen(l, 16).unwrap();
    // A second facade on host a, like a second process.
    let a2 = Bsd::new(a.driver().clone());
    let c = a2.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    a2.connect(c, SocketAddrV4::new(B, 80)).unwrap();
    assert_eq!(a2.send(c, b"bye", 0), Ok(3));
    let (s, _) = b.accept(l).unwrap();
    drop(a2);
    let mut buf = [0u8; 8];
    assert_eq!(b.recv(s, &mut buf, MSG_WAITALL), Ok(3));
    assert_eq!(&buf[..3], b"bye");
    assert_eq!(b.recv(s, &mut buf, 0), Ok(0));
    assert_eq!(a.open_fds(), 0);
}

//! UDP through the facade: one server socket and many clients, connected
//! sockets hearing ICMP port unreachable as ECONNREFUSED, truncation,
//! SO_BROADCAST, the bounded receive queue, timeouts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use sockstack::bsd::{
    consts::*, Bsd, Driver, Errno, Fd, PollFd, SockOpt, SockOptName, VirtualDriver,
};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Duration as VDuration, Stack, StackConfig};
use sockstack::runtime::VirtualNet;
use sockstack::Host;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

type V = Bsd<VirtualDriver>;

fn stack(last: u8) -> Stack {
    Stack::new(StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    ))
}

/// Hosts a and b in virtual time, 1 ms apart.
fn net() -> (V, V) {
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

fn udp<D: Driver>(f: &Bsd<D>) -> Fd {
    f.socket(AF_INET, SOCK_DGRAM, 0).expect("socket")
}

fn at(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// Resolve ARP both ways (the first datagrams would otherwise wait in the
/// neighbour's small pending queue, as on Linux).
fn warm_up(a: &V, b: &V) {
    let s = udp(b);
    b.bind(s, at(B, 9)).unwrap();
    let c = udp(a);
    a.sendto(c, b"hi", 0, Some(at(B, 9))).unwrap();
    let mut buf = [0u8; 8];
    let (_, from) = b.recvfrom(s, &mut buf, 0).unwrap();
    b.sendto(s, b"hi", 0, from).unwrap();
    a.recv(c, &mut buf, 0).unwrap();
    a.close(c).unwrap();
    b.close(s).unwrap();
}

#[test]
fn ten_thousand_datagrams_one_server_twenty_clients() {
    let (a, b) = net();
    warm_up(&a, &b);
    let server = udp(&b);
    b.bind(server, at(B, 7)).unwrap();
    let clients: Vec<Fd> = (0..20).map(|_| udp(&a)).collect();
    let mut owner: HashMap<SocketAddrV4, u32> = HashMap::new();
    let mut per_client = [0u32; 20];
    let mut buf = [0u8; 64];
    for round in 0..500u32 {
        for (i, &c) in clients.iter().enumerate() {
            let msg = format!("{i}:{round}");
            assert_eq!(
                a.sendto(c, msg.as_bytes(), 0, Some(at(B, 7))),
                Ok(msg.len())
            );
        }
        for _ in 0..clients.len() {
            let (n, from) = b.recvfrom(server, &mut buf, 0).unwrap();
            let from = from.unwrap();
            let text = std::str::from_utf8(&buf[..n]).unwrap().to_string();
            let (who, seq) = text.split_once(':').unwrap();
            let who: u32 = who.parse().unwrap();
            assert_eq!(seq.parse::<u32>().unwrap(), round);
            // Every datagram from one client comes from one address, and
            // no two clients share one.
            assert_eq!(*owner.entry(from).or_insert(who), who, "{from}");
            per_client[who as usize] += 1;
            b.sendto(server, text.as_bytes(), 0, Some(from)).unwrap();
        }
        for (i, &c) in clients.iter().enumerate() {
            let (n, from) = a.recvfrom(c, &mut buf, 0).unwrap();
            assert_eq!(from, Some(at(B, 7)));
            assert_eq!(&buf[..n], format!("{i}:{round}").as_bytes());
        }
    }
    assert_eq!(owner.len(), 20);
    assert!(per_client.iter().all(|&n| n == 500));
    let st = b.with_stack(|s| s.stats().udp.clone());
    assert_eq!(st.rx_queue_full, 0);
    assert!(st.rx_datagrams >= 10_000);
}

#[test]
fn threads_on_real_clock_hosts_keep_peers_apart() {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let a = Arc::new(Bsd::new(Arc::new(Host::spawn("a", stack(1), la).unwrap())));
    let b = Arc::new(Bsd::new(Arc::new(Host::spawn("b", stack(2), lb).unwrap())));
    let server = udp(&*b);
    b.bind(server, at(B, 7)).unwrap();
    b.setsockopt(server, SockOpt::RcvTimeo(Some(Duration::from_secs(20))))
        .unwrap();
    let echo = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let mut served = 0;
            while served < 20 * 50 {
                let Ok((n, from)) = b.recvfrom(server, &mut buf, 0) else {
                    break;
                };
                b.sendto(server, &buf[..n], 0, from).unwrap();
                served += 1;
            }
            served
        })
    };
    let workers: Vec<_> = (0..20)
        .map(|i| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                let c = udp(&*a);
                a.connect(c, at(B, 7)).unwrap();
                a.setsockopt(c, SockOpt::RcvTimeo(Some(Duration::from_millis(200))))
                    .unwrap();
                let mut buf = [0u8; 64];
                for j in 0..50 {
                    let msg = format!("{i}/{j}");
                    // Stop and wait, resending on loss (ARP's first packets).
                    let mut tries = 0;
                    loop {
                        a.send(c, msg.as_bytes(), 0).unwrap();
                        match a.recv(c, &mut buf, 0) {
                            Ok(n) => {
                                assert_eq!(&buf[..n], msg.as_bytes());
                                break;
                            }
                            Err(Errno::EAGAIN) if tries < 50 => tries += 1,
                            Err(e) => panic!("client {i}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(echo.join().unwrap() >= 20 * 50);
}

#[test]
fn port_unreachable_is_econnrefused_on_a_connected_socket() {
    let (a, b) = net();
    warm_up(&a, &b);
    let c = udp(&a);
    a.connect(c, at(B, 9999)).unwrap();
    assert_eq!(a.getpeername(c), Ok(at(B, 9999)));
    a.send(c, b"anyone?", 0).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(a.recv(c, &mut buf, 0), Err(Errno::ECONNREFUSED));
    // Reported once; the socket stays usable.
    assert_eq!(a.recv(c, &mut buf, MSG_DONTWAIT), Err(Errno::EAGAIN));
    a.send(c, b"again", 0).unwrap();
    let mut p = [PollFd::new(c, POLLIN)];
    assert_eq!(a.poll(&mut p, Some(Duration::from_secs(1))), Ok(1));
    assert_ne!(p[0].revents & POLLERR, 0);
    assert_eq!(a.so_error(c), Ok(Errno::ECONNREFUSED.0));
    assert_eq!(a.so_error(c), Ok(0));
    // The next send reports a pending error too (Linux sock_error).
    a.send(c, b"third", 0).unwrap();
    a.with_stack(|_| ());
    let mut p = [PollFd::new(c, POLLIN)];
    a.poll(&mut p, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(a.send(c, b"fourth", 0), Err(Errno::ECONNREFUSED));

    // An unconnected socket ignores ICMP errors.
    let u = udp(&a);
    a.sendto(u, b"x", 0, Some(at(B, 9999))).unwrap();
    a.setsockopt(u, SockOpt::RcvTimeo(Some(Duration::from_millis(50))))
        .unwrap();
    assert_eq!(a.recvfrom(u, &mut buf, 0), Err(Errno::EAGAIN));
    assert_eq!(a.so_error(u), Ok(0));
    assert!(a.with_stack(|s| s.stats().udp.rx_icmp_errors) >= 3);
}

#[test]
fn datagrams_keep_boundaries_and_truncate() {
    let (a, b) = net();
    warm_up(&a, &b);
    let s = udp(&b);
    b.bind(s, at(B, 53)).unwrap();
    let c = udp(&a);
    a.connect(c, at(B, 53)).unwrap();
    let big: Vec<u8> = (0..100u8).collect();
    a.send(c, &big, 0).unwrap();
    a.send(c, b"second", 0).unwrap();
    a.send(c, b"third", 0).unwrap();
    let mut small = [0u8; 10];
    // MSG_PEEK leaves it; MSG_TRUNC reports the real length.
    assert_eq!(b.recv(s, &mut small, MSG_PEEK | MSG_TRUNC), Ok(100));
    assert_eq!(small[..], big[..10]);
    let (n, from) = b.recvfrom(s, &mut small, 0).unwrap();
    assert_eq!((n, from), (10, a.getsockname(c).ok()));
    // The rest of the first datagram is gone: the next recv is the second.
    let mut buf = [0u8; 64];
    assert_eq!(b.recv(s, &mut buf, 0), Ok(6));
    assert_eq!(&buf[..6], b"second");
    assert_eq!(b.recv(s, &mut small[..2], MSG_TRUNC), Ok(5));
    assert_eq!(&small[..2], b"th");
    assert_eq!(
        a.send(c, &vec![0u8; 65_508], 0),
        Err(Errno::EMSGSIZE),
        "more than 65,507 bytes"
    );
    // 65,507 bytes is fine (fragmented on the wire, reassembled).
    assert_eq!(a.send(c, &vec![7u8; 65_507], 0), Ok(65_507));
    let mut huge = vec![0u8; 70_000];
    assert_eq!(b.recv(s, &mut huge, 0), Ok(65_507));
    assert_eq!(
        b.getsockopt(s, SockOptName::Type),
        Ok(SockOpt::Type(SOCK_DGRAM))
    );
}

#[test]
fn broadcast_needs_so_broadcast() {
    let (a, b) = net();
    warm_up(&a, &b);
    let s = udp(&b);
    b.bind(s, at(Ipv4Addr::UNSPECIFIED, 67)).unwrap();
    let c = udp(&a);
    for dst in [Ipv4Addr::BROADCAST, Ipv4Addr::new(198, 18, 0, 255)] {
        assert_eq!(
            a.sendto(c, b"all", 0, Some(at(dst, 67))),
            Err(Errno::EACCES)
        );
    }
    assert_eq!(
        a.connect(c, at(Ipv4Addr::BROADCAST, 67)),
        Err(Errno::EACCES)
    );
    assert_eq!(
        a.getsockopt(c, SockOptName::Broadcast),
        Ok(SockOpt::Broadcast(false))
    );
    a.setsockopt(c, SockOpt::Broadcast(true)).unwrap();
    for dst in [Ipv4Addr::BROADCAST, Ipv4Addr::new(198, 18, 0, 255)] {
        assert_eq!(a.sendto(c, b"all", 0, Some(at(dst, 67))), Ok(3));
        let mut buf = [0u8; 8];
        let (n, from) = b.recvfrom(s, &mut buf, 0).unwrap();
        assert_eq!((n, from.map(|f| *f.ip())), (3, Some(A)));
    }
}

#[test]
fn receive_queue_is_bounded_by_so_rcvbuf() {
    let (a, b) = net();
    warm_up(&a, &b);
    let s = udp(&b);
    b.setsockopt(s, SockOpt::RcvBuf(1000)).unwrap();
    b.bind(s, at(B, 5000)).unwrap();
    assert_eq!(
        b.getsockopt(s, SockOptName::RcvBuf),
        Ok(SockOpt::RcvBuf(2000))
    );
    let c = udp(&a);
    for _ in 0..10 {
        a.sendto(c, &[1u8; 500], 0, Some(at(B, 5000))).unwrap();
    }
    // Let everything arrive.
    b.set_nonblocking(s, true).unwrap();
    let mut p = [PollFd::new(s, POLLIN)];
    assert_eq!(b.poll(&mut p, Some(Duration::from_millis(50))), Ok(1));
    let _ = b.poll(&mut [], Some(Duration::from_millis(50)));
    let mut buf = [0u8; 600];
    let mut got = 0;
    while b.recv(s, &mut buf, 0).is_ok() {
        got += 1;
    }
    assert_eq!(got, 4, "2000 bytes hold four 500-byte datagrams");
    assert_eq!(b.udp_drops(s), Ok(6));
    assert_eq!(b.with_stack(|s| s.stats().udp.rx_queue_full), 6);
}

#[test]
fn blocking_nonblocking_and_timeouts() {
    let (a, _b) = net();
    let s = udp(&a);
    let mut buf = [0u8; 8];
    // Unbound: nothing can arrive.
    assert_eq!(a.recv(s, &mut buf, MSG_DONTWAIT), Err(Errno::EAGAIN));
    assert_eq!(a.send(s, b"x", 0), Err(Errno::EDESTADDRREQ));
    assert_eq!(a.getsockname(s), Ok(at(Ipv4Addr::UNSPECIFIED, 0)));
    assert_eq!(a.getpeername(s), Err(Errno::ENOTCONN));
    a.bind(s, at(A, 0)).unwrap();
    let port = a.getsockname(s).unwrap().port();
    assert!((32768..=60999).contains(&port));
    assert_eq!(a.bind(s, at(A, 0)), Err(Errno::EINVAL));
    let t0 = a.driver().now();
    a.setsockopt(s, SockOpt::RcvTimeo(Some(Duration::from_secs(2))))
        .unwrap();
    assert_eq!(a.recv(s, &mut buf, 0), Err(Errno::EAGAIN));
    assert!(a.driver().now() >= t0 + VDuration::from_secs(2));
    a.set_nonblocking(s, true).unwrap();
    assert_eq!(a.recv(s, &mut buf, 0), Err(Errno::EAGAIN));
    let other = udp(&a);
    assert_eq!(a.bind(other, at(A, port)), Err(Errno::EADDRINUSE));
    assert_eq!(a.listen(s, 1), Err(Errno::EOPNOTSUPP));
    assert_eq!(a.accept(s).map(|_| ()), Err(Errno::EOPNOTSUPP));
    let mut p = [PollFd::new(s, POLLIN | POLLOUT)];
    assert_eq!(a.poll(&mut p, Some(Duration::ZERO)), Ok(1));
    assert_eq!(p[0].revents, POLLOUT);
    a.close(s).unwrap();
    // The port is free again.
    a.bind(other, at(A, port)).unwrap();
}

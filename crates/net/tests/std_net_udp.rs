//! The std::net-shaped UdpSocket.

mod std_net_common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use sockstack::net::UdpSocket;
use std_net_common::{pair, A, B};

const GUARD: Option<Duration> = Some(Duration::from_secs(20));

#[test]
fn send_to_recv_from_peek_and_attribution() {
    let (a, b) = pair();
    let server = UdpSocket::bind_on(&a, (A, 53)).unwrap();
    server.set_read_timeout(GUARD).unwrap();
    assert_eq!(server.read_timeout().unwrap(), GUARD);
    let clients: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind_on(&b, (B, 0)).unwrap())
        .collect();
    for (i, c) in clients.iter().enumerate() {
        c.set_read_timeout(GUARD).unwrap();
        assert_eq!(c.send_to(&[i as u8; 10], (A, 53)).unwrap(), 10);
    }
    let mut buf = [0u8; 64];
    for _ in 0..clients.len() {
        let (n, peek_from) = server.peek_from(&mut buf).unwrap();
        let (m, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!((n, m), (10, 10));
        assert_eq!(peek_from, from);
        let i = usize::from(buf[0]);
        assert_eq!(from, clients[i].local_addr().unwrap());
        server.send_to(&buf[..n], from).unwrap();
    }
    for (i, c) in clients.iter().enumerate() {
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i as u8; 10]);
        assert_eq!(from, format!("{A}:53").parse::<SocketAddr>().unwrap());
    }
    // Boundaries are kept: a short buffer truncates one datagram.
    clients[0].send_to(b"0123456789", (A, 53)).unwrap();
    clients[0].send_to(b"ab", (A, 53)).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(server.recv_from(&mut small).unwrap().0, 4);
    assert_eq!(&small, b"0123");
    assert_eq!(server.recv_from(&mut small).unwrap().0, 2);
    assert_eq!(&small[..2], b"ab");
}

#[test]
fn connect_send_recv_and_refused() {
    let (a, b) = pair();
    let server = UdpSocket::bind_on(&a, (A, 54)).unwrap();
    let c = UdpSocket::bind_on(&b, "0.0.0.0:0").unwrap();
    c.set_read_timeout(GUARD).unwrap();
    assert_eq!(c.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    c.connect((A, 54)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), server.local_addr().unwrap());
    c.send(b"hi").unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hi");
    server.send_to(b"yo", from).unwrap();
    let mut two = [0u8; 2];
    assert_eq!(c.peek(&mut two).unwrap(), 2);
    assert_eq!(c.recv(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"yo");

    // Nobody on port 9: ICMP port unreachable -> ECONNREFUSED next call.
    let d = UdpSocket::bind_on(&b, (B, 0)).unwrap();
    d.set_read_timeout(GUARD).unwrap();
    d.connect((A, 9)).unwrap();
    d.send(b"anyone?").unwrap();
    let e = d.recv(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn timeouts_nonblocking_broadcast_and_errors() {
    let (a, _b) = pair();
    let s = UdpSocket::bind_on(&a, (A, 0)).unwrap();
    assert_ne!(s.local_addr().unwrap().port(), 0);
    s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let e = s.recv_from(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(
        s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    s.set_nonblocking(true).unwrap();
    assert_eq!(
        s.recv(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );

    assert!(!s.broadcast().unwrap());
    let e = s.send_to(b"all", "198.18.0.255:9").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.send_to(b"all", "198.18.0.255:9").unwrap();

    let e = UdpSocket::bind_on(&a, "[::]:0").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = s.send_to(b"x", "[2001:db8::1]:9").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let _taken = UdpSocket::bind_on(&a, (A, 55)).unwrap();
    assert_eq!(
        UdpSocket::bind_on(&a, (A, 55)).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    assert!(s.take_error().unwrap().is_none());
}

#[test]
fn try_clone_across_threads() {
    let (a, b) = pair();
    let server = UdpSocket::bind_on(&a, (A, 56)).unwrap();
    server.set_read_timeout(GUARD).unwrap();
    let reader = server.try_clone().unwrap();
    let t = thread::spawn(move || {
        let mut buf = [0u8; 16];
        let (n, from) = reader.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from)
    });
    let c = UdpSocket::bind_on(&b, (B, 0)).unwrap();
    c.send_to(b"threaded", (A, 56)).unwrap();
    let (got, from) = t.join().unwrap();
    assert_eq!(got, b"threaded");
    assert_eq!(from, c.local_addr().unwrap());
}

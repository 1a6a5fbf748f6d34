//! The std::net-shaped types: the semantics std code relies on.

mod std_net_common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use sockstack::net::{TcpListener, TcpStream};
use std_net_common::{pair, A, B};

const GUARD: Option<Duration> = Some(Duration::from_secs(20));

fn connected(port: u16) -> (TcpStream, TcpStream, TcpListener) {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, port)).unwrap();
    let c = TcpStream::connect_on(&b, format!("{A}:{port}")).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    for x in [&c, &s] {
        x.set_read_timeout(GUARD).unwrap();
        x.set_write_timeout(GUARD).unwrap();
    }
    (c, s, l)
}

#[test]
fn addresses_read_write_peek_shutdown() {
    let (mut c, mut s, l) = connected(7);
    assert_eq!(l.local_addr().unwrap(), format!("{A}:7").parse().unwrap());
    assert_eq!(c.peer_addr().unwrap(), l.local_addr().unwrap());
    assert_eq!(s.local_addr().unwrap(), l.local_addr().unwrap());
    let SocketAddr::V4(local) = c.local_addr().unwrap() else {
        panic!("IPv4 only")
    };
    assert_eq!(local.ip().to_string(), B);
    assert_ne!(local.port(), 0);

    c.write_all(b"hello world").unwrap();
    let mut buf = [0u8; 5];
    // peek waits for data and leaves it queued.
    let n = s.peek(&mut buf).unwrap();
    assert!(n > 0 && b"hello".starts_with(&buf[..n]));
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");

    // Read and Write on &TcpStream, as std allows.
    (&s).write_all(b"back").unwrap();
    let mut four = [0u8; 4];
    (&c).read_exact(&mut four).unwrap();
    assert_eq!(&four, b"back");

    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, " world");
    assert_eq!(s.read(&mut buf).unwrap(), 0);
    assert!(c.take_error().unwrap().is_none());
}

#[test]
fn options_nodelay_timeouts() {
    let (c, _s, _l) = connected(8);
    assert!(!c.nodelay().unwrap());
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    assert_eq!(c.read_timeout().unwrap(), GUARD);
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
    assert_eq!(c.write_timeout().unwrap(), GUARD);
    let zero = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(zero.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        c.set_write_timeout(Some(Duration::ZERO))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn read_timeout_is_would_block() {
    let (mut c, _s, _l) = connected(9);
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let e = c.read(&mut [0u8; 8]).unwrap_err();
    // Linux reports an expired SO_RCVTIMEO as EAGAIN: std says WouldBlock.
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(e.raw_os_error(), Some(11));
}

#[test]
fn nonblocking_stream_and_listener() {
    let (mut c, s, l) = connected(10);
    c.set_nonblocking(true).unwrap();
    assert_eq!(
        c.read(&mut [0u8; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(
        l.incoming().next().unwrap().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    (&s).write_all(b"x").unwrap();
    let mut got = [0u8; 1];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.read(&mut got) {
            Ok(1) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline);
                thread::sleep(Duration::from_millis(1));
            }
            r => panic!("unexpected {r:?}"),
        }
    }
    assert_eq!(&got, b"x");
}

#[test]
fn errors_have_std_kinds_and_linux_errno() {
    let (a, b) = pair();
    // Nothing listens on port 1: RST -> ECONNREFUSED.
    let e = TcpStream::connect_on(&b, (A, 1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(e.raw_os_error(), Some(111));

    let _l = TcpListener::bind_on(&a, (A, 11)).unwrap();
    let e = TcpListener::bind_on(&a, (A, 11)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);

    let e = TcpListener::bind_on(&a, "[::1]:11").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = TcpStream::connect_on(&a, "[2001:db8::1]:80").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);

    // An address that is not ours.
    let e = TcpListener::bind_on(&a, "198.18.0.77:11").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
}

#[test]
fn connect_timeout_success_refused_and_expiry() {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 12)).unwrap();
    let addr = l.local_addr().unwrap();
    let c = TcpStream::connect_timeout_on(&b, &addr, Duration::from_secs(20)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    // The stream is blocking again afterwards.
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(
        (&c).read(&mut [0u8; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );

    let refused: SocketAddr = format!("{A}:13").parse().unwrap();
    let e = TcpStream::connect_timeout_on(&b, &refused, Duration::from_secs(20)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

    // Nobody answers ARP for .99: the timeout fires first.
    let silent: SocketAddr = "198.18.0.99:7".parse().unwrap();
    let e = TcpStream::connect_timeout_on(&b, &silent, Duration::from_millis(100)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);

    let e = TcpStream::connect_timeout_on(&b, &addr, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn try_clone_shares_and_last_drop_closes() {
    let (c, mut s, _l) = connected(14);
    let c2 = c.try_clone().unwrap();
    assert_eq!(c2.local_addr().unwrap(), c.local_addr().unwrap());
    // Options live on the shared descriptor, as after dup(2).
    c.set_nodelay(true).unwrap();
    assert!(c2.nodelay().unwrap());
    drop(c);
    (&c2).write_all(b"still open").unwrap();
    let mut buf = [0u8; 10];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still open");
    drop(c2);
    // The last handle closed the socket: the peer reads end of stream.
    assert_eq!(s.read(&mut buf).unwrap(), 0);
}

#[test]
fn incoming_serves_several_clients_on_threads() {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 15)).unwrap();
    let server = thread::spawn(move || {
        for stream in l.incoming().take(4) {
            let mut stream = stream.unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                let n = stream.read(&mut buf).unwrap();
                stream.write_all(&buf[..n]).unwrap();
            });
        }
    });
    let clients: Vec<_> = (0..4u8)
        .map(|i| {
            let b = b.clone();
            thread::spawn(move || {
                let mut c = TcpStream::connect_on(&b, (A, 15)).unwrap();
                c.set_read_timeout(GUARD).unwrap();
                c.write_all(&[i; 3]).unwrap();
                let mut back = [0u8; 3];
                c.read_exact(&mut back).unwrap();
                assert_eq!(back, [i; 3]);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn default_stack_makes_std_code_work() {
    let (a, b) = pair();
    sockstack::net::set_default(b);
    let l = TcpListener::bind_on(&a, (A, 16)).unwrap();
    let t = thread::spawn(move || (l.accept().unwrap().0, l.accept().unwrap().0));
    // Exactly the std calls.
    let c = TcpStream::connect(format!("{A}:16")).unwrap();
    let addr: SocketAddr = format!("{A}:16").parse().unwrap();
    let c2 = TcpStream::connect_timeout(&addr, Duration::from_secs(20)).unwrap();
    assert_eq!(c2.peer_addr().unwrap(), addr);
    let (s, s2) = t.join().unwrap();
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    assert_eq!(s2.peer_addr().unwrap(), c2.local_addr().unwrap());
    let own = TcpListener::bind("0.0.0.0:0").unwrap();
    assert_ne!(own.local_addr().unwrap().port(), 0);
}

//! `TcpStream::connect_timeout` (issue 6, the std-shaped types): a
//! listening peer connects at once, a closed port is refused, a host that
//! never answers gives `TimedOut` within the timeout, and a zero timeout is
//! `InvalidInput`, as in std.

mod std_net_common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sockstack::net::{TcpListener, TcpStream};
use std_net_common::{pair, A};

#[test]
fn connect_timeout_connects_refuses_and_times_out() {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 7)).unwrap();
    let to: SocketAddr = format!("{A}:7").parse().unwrap();
    let c = TcpStream::connect_timeout_on(&b, &to, Duration::from_secs(5)).unwrap();
    let (_s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());

    let closed: SocketAddr = format!("{A}:9").parse().unwrap();
    let e = TcpStream::connect_timeout_on(&b, &closed, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");

    // Nobody answers ARP for .99: the SYN never leaves, the timeout ends it.
    let silent: SocketAddr = "198.18.0.99:7".parse().unwrap();
    let started = Instant::now();
    let e = TcpStream::connect_timeout_on(&b, &silent, Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(10));

    let e = TcpStream::connect_timeout_on(&b, &to, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

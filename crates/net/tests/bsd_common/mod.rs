//! Two real-clock hosts on a zero-delay memory wire, each with a facade.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use sockstack::bsd::{consts::*, Bsd, Errno, Fd};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Stack, StackConfig};
use sockstack::Host;

pub type Facade = Bsd<Arc<Host>>;

pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub fn addr(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

pub fn stack(last: u8) -> Stack {
    let cfg = StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    );
    Stack::new(cfg)
}

/// Host a (198.18.0.1) and host b (198.18.0.2), wired together.
pub fn pair() -> (Facade, Facade) {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let a = Host::spawn("a", stack(1), la).expect("spawn a");
    let b = Host::spawn("b", stack(2), lb).expect("spawn b");
    (Bsd::new(Arc::new(a)), Bsd::new(Arc::new(b)))
}

/// A blocking TCP socket.
pub fn tcp(f: &Facade) -> Fd {
    f.socket(AF_INET, SOCK_STREAM, 0).expect("socket")
}

/// A listener on `port` of `ip`.
pub fn listener(f: &Facade, ip: Ipv4Addr, port: u16) -> Fd {
    let l = tcp(f);
    f.bind(l, addr(ip, port)).expect("bind");
    f.listen(l, 128).expect("listen");
    l
}

/// A connected pair: (client fd on a, server fd on b), plus the listener.
pub fn connected(a: &Facade, b: &Facade, port: u16) -> (Fd, Fd, Fd) {
    let l = listener(b, B, port);
    let c = tcp(a);
    a.connect(c, addr(B, port)).expect("connect");
    let (s, peer) = b.accept(l).expect("accept");
    assert_eq!(peer, a.getsockname(c).unwrap());
    (c, s, l)
}

/// A timeout long enough never to fire in a passing test, so a hang fails.
pub const GUARD: Duration = Duration::from_secs(20);

/// Set SO_RCVTIMEO and SO_SNDTIMEO to `GUARD` so a bug fails, not hangs.
pub fn guard(f: &Facade, fd: Fd) {
    use sockstack::bsd::SockOpt;
    f.setsockopt(fd, SockOpt::RcvTimeo(Some(GUARD))).unwrap();
    f.setsockopt(fd, SockOpt::SndTimeo(Some(GUARD))).unwrap();
}

/// Read exactly `n` bytes (MSG_WAITALL).
pub fn read_n(f: &Facade, fd: Fd, n: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0; n];
    let got = f.recv(fd, &mut buf, MSG_WAITALL)?;
    buf.truncate(got);
    Ok(buf)
}

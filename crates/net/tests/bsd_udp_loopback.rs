//! Loopback through the facade: TCP and UDP between sockets of one stack,
//! to 127.0.0.1 and to the stack's own address, with nothing on the link.

use std::net::SocketAddrV4;
use std::sync::Arc;

use sockstack::bsd::{consts::*, Bsd, Errno, Fd, SockOpt};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Stack, StackConfig};
use sockstack::Host;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

type F = Bsd<Arc<Host>>;

/// One real-clock host whose link leads nowhere (the peer end is kept
/// but never read), so any frame that left would be visible in its stats.
fn host() -> (F, memory::MemoryLink) {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let cfg = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), A, 24);
    let h = Host::spawn("lo", Stack::new(cfg), la).unwrap();
    (Bsd::new(Arc::new(h)), lb)
}

fn guard(f: &F, fd: Fd) {
    let t = Some(std::time::Duration::from_secs(20));
    f.setsockopt(fd, SockOpt::RcvTimeo(t)).unwrap();
    f.setsockopt(fd, SockOpt::SndTimeo(t)).unwrap();
}

/// Frames sent other than the gratuitous ARP announcement.
fn frames_sent(f: &F) -> u64 {
    f.with_stack(|s| s.stats().ethernet.tx_frames - s.stats().arp.tx_gratuitous)
}

#[test]
fn tcp_to_localhost_and_to_our_address() {
    let (f, _peer) = host();
    let l = f.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    f.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080))
        .unwrap();
    f.listen(l, 16).unwrap();
    guard(&f, l);
    for dst in [LO, A] {
        let c = f.socket(AF_INET, SOCK_STREAM, 0).unwrap();
        guard(&f, c);
        f.connect(c, SocketAddrV4::new(dst, 8080)).unwrap();
        let (s, peer) = f.accept(l).unwrap();
        guard(&f, s);
        assert_eq!(Some(peer), f.getsockname(c).ok());
        assert_eq!(f.getsockname(s).unwrap().ip(), &dst);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let f2 = &f;
        std::thread::scope(|sc| {
            sc.spawn(|| {
                assert_eq!(f2.send(c, &data, 0), Ok(data.len()));
                f2.shutdown(c, SHUT_WR).unwrap();
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                match f2.recv(s, &mut buf, 0) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("recv: {e}"),
                }
            }
            assert_eq!(got, data, "to {dst}");
        });
        f.close(s).unwrap();
        f.close(c).unwrap();
    }
    assert_eq!(frames_sent(&f), 0, "nothing reached the link");
    assert!(f.with_stack(|s| s.stats().loopback.rx_packets) > 100);
}

#[test]
fn udp_to_localhost() {
    let (f, _peer) = host();
    let s = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    f.bind(s, SocketAddrV4::new(LO, 5353)).unwrap();
    guard(&f, s);
    let c = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    guard(&f, c);
    f.connect(c, SocketAddrV4::new(LO, 5353)).unwrap();
    assert_eq!(f.getsockname(c).unwrap().ip(), &LO);
    f.send(c, b"ping", 0).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = f.recvfrom(s, &mut buf, 0).unwrap();
    assert_eq!((n, from), (4, f.getsockname(c).ok()));
    f.sendto(s, b"pong", 0, from).unwrap();
    assert_eq!(f.recv(c, &mut buf, 0), Ok(4));
    assert_eq!(&buf[..4], b"pong");
    // Our own address reaches a wildcard socket too.
    let w = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    guard(&f, w);
    f.bind(w, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000))
        .unwrap();
    f.sendto(c, b"x", 0, Some(SocketAddrV4::new(A, 6000)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.recv(w, &mut buf, 0), Ok(1));
    // A closed loopback port answers with port unreachable.
    let d = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    guard(&f, d);
    f.connect(d, SocketAddrV4::new(LO, 1)).unwrap();
    f.send(d, b"?", 0).unwrap();
    assert_eq!(f.recv(d, &mut buf, 0), Err(Errno::ECONNREFUSED));
    assert_eq!(frames_sent(&f), 0);
}

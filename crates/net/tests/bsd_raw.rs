//! Raw IP through the facade: an ICMP raw socket sees the peer's echo
//! requests (IPv4 header included) and pings the peer; IP_HDRINCL sends the
//! caller's header with the stack filling checksum, ident and source.

use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::Duration;

use sockstack::bsd::{consts::*, Bsd, Errno, Fd, PollFd, SockOpt, SockOptName, VirtualDriver};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{checksum::checksum, Ipv4Addr, MacAddr};
use sockstack::proto::{Duration as VDuration, Stack, StackConfig};
use sockstack::runtime::VirtualNet;

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

fn at(ip: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(ip, 0)
}

/// An ICMP echo request with its checksum (the caller's job on a raw socket).
fn echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

fn icmp_socket(f: &V) -> Fd {
    let r = f.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP).unwrap();
    f.setsockopt(r, SockOpt::RcvTimeo(Some(Duration::from_secs(5))))
        .unwrap();
    r
}

#[test]
fn icmp_raw_socket_sees_requests_and_pings_the_peer() {
    let (a, b) = net();
    let watcher = icmp_socket(&a);
    let pinger = icmp_socket(&b);
    assert_eq!(
        a.getsockopt(watcher, SockOptName::Type),
        Ok(SockOpt::Type(SOCK_RAW))
    );
    for seq in 1..=3u16 {
        let req = echo_request(0x4242, seq, b"abcdefgh");
        assert_eq!(b.sendto(pinger, &req, 0, Some(at(A))), Ok(req.len()));
        // a's raw socket gets the request, IPv4 header first.
        let mut buf = [0u8; 256];
        let (n, from) = a.recvfrom(watcher, &mut buf, 0).unwrap();
        assert_eq!(from, Some(at(B)));
        assert_eq!(n, 20 + req.len());
        assert_eq!(buf[0] >> 4, 4);
        assert_eq!(buf[9], 1, "protocol ICMP");
        assert_eq!(&buf[12..16], &B.octets());
        assert_eq!(&buf[20..n], &req[..]);
        // a's stack answers; b's raw socket sees the reply.
        let (n, from) = b.recvfrom(pinger, &mut buf, 0).unwrap();
        assert_eq!(from, Some(at(A)));
        assert_eq!(buf[20], 0, "echo reply");
        assert_eq!(&buf[24..28], &[0x42, 0x42, 0, seq as u8]);
        assert_eq!(&buf[28..n], b"abcdefgh");
        // a's raw socket also sees the reply a sent? No: only what a receives.
        assert_eq!(a.recv(watcher, &mut buf, MSG_DONTWAIT), Err(Errno::EAGAIN));
    }
    // Truncation with MSG_TRUNC, like UDP.
    b.sendto(pinger, &echo_request(1, 9, &[0; 100]), 0, Some(at(A)))
        .unwrap();
    let mut small = [0u8; 20];
    assert_eq!(a.recv(watcher, &mut small, MSG_TRUNC), Ok(128));
    // connect sets the default destination and filters senders.
    b.connect(pinger, at(A)).unwrap();
    b.send(pinger, &echo_request(2, 1, b"c"), 0).unwrap();
    let mut p = [PollFd::new(pinger, POLLIN)];
    assert_eq!(b.poll(&mut p, Some(Duration::from_secs(1))), Ok(1));
    assert_eq!(b.getpeername(pinger), Ok(at(A)));
}

#[test]
fn hdrincl_fills_checksum_ident_and_source() {
    let (a, b) = net();
    let rx = a.socket(AF_INET, SOCK_RAW, 253).unwrap();
    a.setsockopt(rx, SockOpt::RcvTimeo(Some(Duration::from_secs(5))))
        .unwrap();
    let tx = b.socket(AF_INET, SOCK_RAW, 253).unwrap();
    assert_eq!(
        b.getsockopt(tx, SockOptName::HdrIncl),
        Ok(SockOpt::HdrIncl(false))
    );
    b.setsockopt(tx, SockOpt::HdrIncl(true)).unwrap();
    // Version/IHL, TOS, length (wrong on purpose), ident 0, no frag,
    // TTL 9, protocol 253, checksum 0, source 0, destination A.
    let mut pkt = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 9, 253, 0, 0, 0, 0, 0, 0];
    pkt.extend_from_slice(&A.octets());
    pkt.extend_from_slice(b"experimental payload");
    assert_eq!(b.send(tx, &pkt, 0), Ok(pkt.len()));
    let mut buf = [0u8; 128];
    let (n, from) = a.recvfrom(rx, &mut buf, 0).unwrap();
    assert_eq!(from, Some(at(B)));
    assert_eq!(n, pkt.len());
    assert_eq!(&buf[12..16], &B.octets(), "source filled in");
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]) as usize, pkt.len());
    assert_ne!(&buf[4..6], &[0, 0], "ident filled in");
    assert_eq!(buf[8], 9, "the caller's TTL");
    assert_eq!(checksum(&buf[..20]), 0, "valid header checksum");
    assert_eq!(&buf[20..n], b"experimental payload");
    // Without IP_HDRINCL the stack builds the header for protocol 253.
    let tx2 = b.socket(AF_INET, SOCK_RAW, 253).unwrap();
    b.sendto(tx2, b"built", 0, Some(at(A))).unwrap();
    let (n, _) = a.recvfrom(rx, &mut buf, 0).unwrap();
    assert_eq!((buf[9], &buf[20..n]), (253, &b"built"[..]));
    // A protocol no raw socket wants is answered with protocol unreachable;
    // one that a raw socket takes is not.
    assert_eq!(a.with_stack(|s| s.stats().icmp.tx_dest_unreachable), 0);
    assert_eq!(b.socket(AF_INET, SOCK_RAW, 0), Err(Errno::EPROTONOSUPPORT));
    let r = b.socket(AF_INET, SOCK_RAW, IPPROTO_RAW).unwrap();
    assert_eq!(
        b.getsockopt(r, SockOptName::HdrIncl),
        Ok(SockOpt::HdrIncl(true))
    );
}

#[test]
fn raw_ping_over_loopback() {
    let (a, _b) = net();
    let r = icmp_socket(&a);
    a.sendto(
        r,
        &echo_request(7, 1, b"me"),
        0,
        Some(at(Ipv4Addr::LOCALHOST)),
    )
    .unwrap();
    let mut types = Vec::new();
    let mut buf = [0u8; 128];
    for _ in 0..2 {
        let (n, from) = a.recvfrom(r, &mut buf, 0).unwrap();
        assert_eq!(from, Some(at(Ipv4Addr::LOCALHOST)));
        assert!(n > 20);
        types.push(buf[20]);
    }
    assert_eq!(types, vec![8, 0], "request, then the reply");
    assert_eq!(
        a.with_stack(|s| s.stats().ethernet.tx_frames - s.stats().arp.tx_gratuitous),
        0
    );
}

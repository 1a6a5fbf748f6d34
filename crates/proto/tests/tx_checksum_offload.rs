//! Transmit checksum offload (`StackConfig::tx_checksum_offload`, Linux
//! CHECKSUM_PARTIAL): TCP segments leave with the folded pseudo-header sum
//! in the checksum field and a `PartialChecksum` saying where to finish it;
//! finishing it gives the checksum etherparse computes, and the very frame
//! the stack sends with the offload off. Loopback and ARP-parked segments
//! are finished inside the stack. Two stacks in lockstep, virtual time.

use std::net::SocketAddrV4;

use etherparse as ep;
use sha2::{Digest, Sha256};
use sockstack_proto::wire::checksum;
use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{
    Duration, Instant, PartialChecksum, RecvError, SendError, Stack, StackConfig, TcpState,
};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const BUF: usize = 65_535 + 14;

/// What one frame from A carried.
#[derive(Default)]
struct Seen {
    partial: usize,
    syn: usize,
    pure_ack: usize,
    data: usize,
    fin: usize,
    rst: usize,
    tso: usize,
    udp: usize,
    /// TCP frames that came complete although the offload was on (parked
    /// for ARP, then released from the queue).
    tcp_complete: usize,
}

struct Run {
    /// Every frame A sent, checksums finished.
    frames: Vec<Vec<u8>>,
    received: Vec<u8>,
    seen: Seen,
}

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The folded (not complemented) IPv4 pseudo-header sum of a TCP segment,
/// computed here from the frame independently of the stack's helpers.
fn pseudo_folded(frame: &[u8]) -> u16 {
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let mut s: u32 = 6 + (total - ihl) as u32;
    for w in ip[12..20].chunks(2) {
        s += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Check a frame from A, finish its checksum if partial, and count it.
fn check_frame(frame: &mut [u8], partial: Option<PartialChecksum>, seen: &mut Seen) {
    if let Some(p) = partial {
        seen.partial += 1;
        assert_eq!((p.start, p.offset), (34, 16), "TCP behind a 20-byte header");
        let at = usize::from(p.start + p.offset);
        let field = u16::from_be_bytes([frame[at], frame[at + 1]]);
        assert_eq!(field, pseudo_folded(frame), "field holds the pseudo sum");
        assert!(p.complete(frame));
    }
    let Ok(pkt) = ep::SlicedPacket::from_ethernet(frame) else {
        return;
    };
    let Some(ep::NetSlice::Ipv4(ip)) = &pkt.net else {
        return; // ARP
    };
    let h = ip.header().to_header();
    match &pkt.transport {
        Some(ep::TransportSlice::Tcp(t)) => {
            let hdr = t.to_header();
            let payload = t.payload();
            assert_eq!(
                hdr.checksum,
                hdr.calc_checksum_ipv4(&h, payload).unwrap(),
                "TCP checksum after finishing"
            );
            if partial.is_none() {
                seen.tcp_complete += 1;
            }
            seen.syn += usize::from(hdr.syn);
            seen.fin += usize::from(hdr.fin);
            seen.rst += usize::from(hdr.rst);
            seen.data += usize::from(!payload.is_empty());
            seen.pure_ack +=
                usize::from(payload.is_empty() && hdr.ack && !(hdr.syn || hdr.fin || hdr.rst));
            seen.tso += usize::from(frame.len() > 14 + 1500);
        }
        Some(ep::TransportSlice::Udp(u)) => {
            assert!(partial.is_none(), "UDP keeps software checksums");
            let hdr = u.to_header();
            assert_eq!(
                hdr.checksum,
                hdr.calc_checksum_ipv4(&h, u.payload()).unwrap()
            );
            seen.udp += 1;
        }
        _ => assert!(partial.is_none()),
    }
}

/// A sends `payload` to B over TCP (and a UDP datagram, and provokes a
/// RST), with A's checksum offload (and TSO) as given.
fn transfer(payload: &[u8], offload: bool, tso: bool) -> Run {
    let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
    ca.seed = 11;
    ca.tx_checksum_offload = offload;
    if tso {
        ca.tso_max = 65_535;
    }
    let mut cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), B, 24);
    cb.seed = 12;
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let mut now = Instant::ZERO;
    let l = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().bind(l, B, 5001).unwrap();
    b.sockets_mut().listen(l, 4).unwrap();
    let c = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().connect(now, c, B, 5001).unwrap();
    let ua = a.udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    let ub = b.udp_bind(B, 4001).unwrap();
    a.udp_send_to(ua, SocketAddrV4::new(B, 4001), b"a datagram")
        .unwrap();
    // B knocks on a closed port of A: A answers with a RST.
    let knock = b.sockets_mut().tcp_socket().unwrap();
    let mut run = Run {
        frames: Vec::new(),
        received: Vec::new(),
        seen: Seen::default(),
    };
    let mut accepted = None;
    let (mut sent, mut closed, mut knocked, mut done) = (0, false, false, false);
    let mut linger = 0;
    let mut buf = vec![0u8; BUF];
    let mut rbuf = vec![0u8; 64 * 1024];
    for _round in 0..100_000 {
        if sent < payload.len() {
            match a.sockets_mut().send(c, &payload[sent..]) {
                Ok(k) => sent += k,
                Err(SendError::WouldBlock) => {}
                Err(e) => panic!("send: {e:?}"),
            }
        } else if !closed {
            a.sockets_mut().close(c).unwrap();
            closed = true;
        }
        if accepted.is_none() {
            accepted = b.sockets_mut().accept(l).ok();
            if accepted.is_some() && !knocked {
                b.sockets_mut().connect(now, knock, A, 9).unwrap();
                knocked = true;
            }
        }
        if let Some(h) = accepted.filter(|_| !done) {
            loop {
                match b.sockets_mut().recv(h, &mut rbuf) {
                    Ok(k) => run.received.extend_from_slice(&rbuf[..k]),
                    Err(RecvError::WouldBlock) => break,
                    Err(RecvError::Eof) => {
                        // B closes too: A acknowledges B's FIN (a pure ACK).
                        let _ = b.sockets_mut().close(h);
                        done = true;
                        break;
                    }
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
        }
        while let Some(f) = a.poll_transmit_frame(now, &mut buf) {
            if !offload {
                assert_eq!(f.partial_checksum, None);
            }
            let frame = &mut buf[..f.len];
            check_frame(frame, f.partial_checksum, &mut run.seen);
            run.frames.push(frame.to_vec());
            b.handle_frame(now, frame);
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle_frame(now, &buf[..n]);
        }
        // A's closed socket has no handle any more: give the last FIN and
        // its ACK 100 rounds (20 ms), far beyond the lockstep round trip.
        linger += usize::from(done);
        if linger > 100 && b.sockets_mut().state(knock) == Some(TcpState::Closed) {
            let mut d = [0u8; 64];
            let m = b.udp_recv_msg(ub, &mut d, false).unwrap();
            assert_eq!(&d[..m.copied], b"a datagram");
            assert_eq!(b.stats().tcp.rx_bad_checksum, 0);
            assert_eq!(b.stats().udp.rx_bad_checksum, 0);
            return run;
        }
        now += Duration::from_micros(200);
        if a.poll_at().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        if b.poll_at().is_some_and(|t| t <= now) {
            b.handle_timeout(now);
        }
    }
    panic!(
        "transfer did not finish: {} of {} bytes",
        run.received.len(),
        payload.len()
    );
}

#[test]
fn partial_checksums_finish_to_valid_ones_for_every_kind_of_segment() {
    let d = data(1 << 20);
    for tso in [false, true] {
        let r = transfer(&d, true, tso);
        assert!(Sha256::digest(&r.received) == Sha256::digest(&d));
        let s = &r.seen;
        assert!(s.partial > 0);
        assert!(s.syn > 0 && s.pure_ack > 0 && s.data > 0, "tso {tso}");
        assert!(
            s.fin > 0 && s.rst > 0 && s.udp > 0,
            "tso {tso}: fin {} rst {} udp {}",
            s.fin,
            s.rst,
            s.udp
        );
        assert_eq!(s.tso > 0, tso);
        // Only the first SYN waited for ARP; everything else was partial.
        assert_eq!(s.tcp_complete, 1, "tso {tso}");
    }
}

#[test]
fn finished_partial_frames_equal_the_software_checksummed_ones() {
    let d = data(256 << 10);
    for tso in [false, true] {
        let off = transfer(&d, false, tso);
        let on = transfer(&d, true, tso);
        assert_eq!(off.seen.partial, 0);
        assert_eq!(off.frames.len(), on.frames.len());
        for (i, (x, y)) in off.frames.iter().zip(&on.frames).enumerate() {
            assert!(x == y, "frame {i} differs (tso {tso})");
        }
    }
}

#[test]
fn poll_transmit_finishes_partial_checksums_itself() {
    let mut c = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
    c.tx_checksum_offload = true;
    let mut a = Stack::new(c);
    let mut b = Stack::new(StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), B, 24));
    let l = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().bind(l, B, 80).unwrap();
    b.sockets_mut().listen(l, 1).unwrap();
    let s = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().connect(Instant::ZERO, s, B, 80).unwrap();
    let mut buf = vec![0u8; 2048];
    for _ in 0..10 {
        while let Some(n) = a.poll_transmit(Instant::ZERO, &mut buf) {
            check_frame(&mut buf[..n], None, &mut Seen::default());
            b.handle_frame(Instant::ZERO, &buf[..n]);
        }
        while let Some(n) = b.poll_transmit(Instant::ZERO, &mut buf) {
            a.handle_frame(Instant::ZERO, &buf[..n]);
        }
    }
    assert_eq!(a.sockets_mut().state(s), Some(TcpState::Established));
    assert_eq!(b.stats().tcp.rx_bad_checksum, 0);
}

#[test]
fn loopback_tcp_verifies_with_the_offload_on() {
    for dst in [Ipv4Addr::LOCALHOST, A] {
        let mut c = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
        c.tx_checksum_offload = true;
        c.tso_max = 65_535;
        let mut s = Stack::new(c);
        let mut buf = vec![0u8; BUF];
        let mut drain = |s: &mut Stack| {
            let mut link = 0;
            for _ in 0..10_000 {
                match s.poll_transmit_frame(Instant::ZERO, &mut buf) {
                    Some(_) => link += 1,
                    None => break,
                }
            }
            link
        };
        assert_eq!(drain(&mut s), 1, "the gratuitous ARP only");
        let ss = s.sockets_mut();
        let l = ss.tcp_socket().unwrap();
        ss.bind(l, Ipv4Addr::UNSPECIFIED, 8080).unwrap();
        ss.listen(l, 8).unwrap();
        let cl = ss.tcp_socket().unwrap();
        ss.connect(Instant::ZERO, cl, dst, 8080).unwrap();
        assert_eq!(drain(&mut s), 0);
        let acc = s.sockets_mut().accept(l).unwrap();
        let d = data(200_000);
        let (mut sent, mut got) = (0, Vec::new());
        let mut r = vec![0u8; 65_536];
        for _ in 0..1000 {
            if sent < d.len() {
                sent += s.sockets_mut().send(cl, &d[sent..]).unwrap_or(0);
            }
            assert_eq!(drain(&mut s), 0, "nothing reaches the link");
            while let Ok(k) = s.sockets_mut().recv(acc, &mut r) {
                got.extend_from_slice(&r[..k]);
            }
            if got.len() == d.len() {
                break;
            }
        }
        assert!(got == d, "to {dst}: {} of {} bytes", got.len(), d.len());
        assert_eq!(s.stats().tcp.rx_bad_checksum, 0);
        assert!(s.stats().loopback.rx_packets > 4);
    }
}

#[test]
fn partial_and_complete_helpers_agree() {
    // The field holds fold(pseudo); finishing sums from `start` on.
    let mut seg = vec![0u8; 40];
    seg[20..].copy_from_slice(&data(20));
    let ph = 0x1234_5678u64;
    seg[16..18].copy_from_slice(&checksum::fold(ph).to_be_bytes());
    assert!(checksum::complete_partial(&mut seg, 0, 16));
    let c = u16::from_be_bytes([seg[16], seg[17]]);
    seg[16..18].copy_from_slice(&[0, 0]);
    assert_eq!(c, !checksum::fold(checksum::sum(&seg, ph)));
    assert!(!checksum::complete_partial(&mut seg, 30, 16));
}

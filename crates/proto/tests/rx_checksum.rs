//! Receive checksums through the whole stack (issue 7): a bad TCP or UDP
//! checksum is dropped and counted on `handle_frame` (also on the folded
//! copy-and-sum path), and skipped on `handle_frame_verified`, which a link
//! uses only when the kernel vouched for the frame.

mod iface_common;
use iface_common::*;

use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::{IpProtocol, Ipv4Addr, TcpFlags, TcpRepr};
use sockstack_proto::{Duration, Instant, Stack, StackConfig};

/// A SYN from PEER:40000 to US:80, its TCP checksum deliberately wrong.
fn bad_syn() -> Vec<u8> {
    let mut t = TcpRepr::new(
        40000,
        80,
        SeqNum(1000),
        SeqNum(0),
        TcpFlags(TcpFlags::SYN),
        8192,
    );
    t.mss = Some(1460);
    let mut b = vec![0u8; t.buffer_len()];
    t.emit(&mut b, PEER, US).unwrap();
    b[16] ^= 0x01;
    ip_frame(&ip_from_peer(IpProtocol::Tcp, b.len()), &b)
}

fn is_synack(frame: &[u8]) -> bool {
    let (_, _, p) = expect_ip(frame);
    p.get(13).is_some_and(|f| f & 0x12 == 0x12)
}

#[test]
fn verified_entry_point_skips_the_transport_checksum_only() {
    for fold in [false, true] {
        verified_entry_point(fold);
    }
}

fn verified_entry_point(fold: bool) {
    let mut c = config();
    c.rx_checksum_fold = fold;
    let mut s = stack_with(c);
    learn_peer(&mut s, ms(0));
    let l = s.sockets_mut().tcp_socket().unwrap();
    s.sockets_mut().bind(l, US, 80).unwrap();
    s.sockets_mut().listen(l, 8).unwrap();
    // The normal path drops and counts it.
    s.handle_frame(ms(1), &bad_syn());
    assert_eq!(s.stats().tcp.rx_bad_checksum, 1);
    assert_eq!(s.stats().tcp.rx_segments, 0);
    assert!(drain(&mut s, ms(1)).is_empty());
    // The verified path takes the same frame: a SYN-ACK.
    s.handle_frame_verified(ms(2), &bad_syn());
    assert_eq!(s.stats().tcp.rx_bad_checksum, 1);
    assert_eq!(s.stats().tcp.rx_segments, 1);
    let out = drain(&mut s, ms(2));
    assert_eq!(out.len(), 1);
    assert!(is_synack(&out[0]));
    // ...and the flag does not outlive the call.
    s.handle_frame(ms(3), &bad_syn());
    assert_eq!(s.stats().tcp.rx_bad_checksum, 2);

    // UDP the same.
    let h = s.udp_bind(Ipv4Addr::UNSPECIFIED, 53).unwrap();
    let mut udp = udp_bytes(PEER, US, 5555, 53, b"query");
    udp[6] ^= 0xff;
    let f = ip_frame(&ip_from_peer(IpProtocol::Udp, udp.len()), &udp);
    s.handle_frame(ms(4), &f);
    assert_eq!(s.stats().udp.rx_bad_checksum, 1);
    assert_eq!(s.udp_queued(h), Some(0));
    s.handle_frame_verified(ms(5), &f);
    assert_eq!(s.udp_queued(h), Some(1));

    // The IPv4 header checksum is still ours to check.
    let mut f = ip_frame(&ip_from_peer(IpProtocol::Udp, udp.len()), &udp);
    f[14 + 10] ^= 0x01;
    s.handle_frame_verified(ms(6), &f);
    assert_eq!(s.stats().ipv4.rx_bad_checksum, 1);
    assert_eq!(s.udp_queued(h), Some(1));
}

/// xorshift, seeded.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Move frames both ways; `pct` of them get one bit flipped past the
/// Ethernet header (always detectable: RFC 1071 sums catch any one-bit error).
fn exchange(a: &mut Stack, b: &mut Stack, now: Instant, rng: &mut Rng, pct: u64) {
    let mut buf = vec![0u8; 1514];
    for _ in 0..10_000 {
        let mut any = false;
        for dir in 0..2 {
            let (from, to) = if dir == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(n) = from.poll_transmit(now, &mut buf) {
                any = true;
                let mut f = buf[..n].to_vec();
                if n > 14 && rng.next() % 100 < pct {
                    let at = 14 + (rng.next() as usize) % (n - 14);
                    f[at] ^= 1 << (rng.next() % 8);
                }
                to.handle_frame(now, &f);
            }
        }
        if !any {
            return;
        }
    }
    panic!("runaway exchange");
}

#[test]
fn bulk_transfer_through_corruption_delivers_the_exact_stream() {
    bulk_through_corruption(false);
}

#[test]
fn bulk_transfer_through_corruption_with_the_receive_fold() {
    bulk_through_corruption(true);
}

fn bulk_through_corruption(fold: bool) {
    let a_ip = Ipv4Addr::new(198, 18, 0, 1);
    let b_ip = Ipv4Addr::new(198, 18, 0, 2);
    let mut cb = StackConfig::ethernet(US_MAC, b_ip, 24);
    cb.rx_checksum_fold = fold;
    let (mut a, mut b) = (
        Stack::new(StackConfig::ethernet(PEER_MAC, a_ip, 24)),
        Stack::new(cb),
    );
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut now = Instant::ZERO;
    let l = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().bind(l, b_ip, 80).unwrap();
    b.sockets_mut().listen(l, 16).unwrap();
    let c = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().connect(now, c, b_ip, 80).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 37 % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut server = None;
    let mut buf = vec![0u8; 65536];
    for _ in 0..200_000 {
        a.handle_timeout(now);
        b.handle_timeout(now);
        if sent < data.len() {
            if let Ok(n) = a.sockets_mut().send(c, &data[sent..]) {
                sent += n;
            }
        }
        exchange(&mut a, &mut b, now, &mut rng, 5);
        if server.is_none() {
            server = b.sockets_mut().accept(l).ok();
        }
        if let Some(s) = server {
            while let Ok(n) = b.sockets_mut().recv(s, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        if got.len() == data.len() {
            break;
        }
        let next = [a.poll_at(), b.poll_at()]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
            .unwrap_or(now + Duration::from_millis(1));
        now = next.min(now + Duration::from_millis(10));
    }
    assert_eq!(got.len(), data.len(), "transfer incomplete at {now}");
    assert!(got == data, "delivered bytes differ");
    let bad = b.stats().tcp.rx_bad_checksum + b.stats().ipv4.rx_bad_checksum;
    assert!(bad > 5, "corruption was exercised ({bad})");
}

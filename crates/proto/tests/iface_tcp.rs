//! TCP through the whole interface layer: two stacks on a lossy in-test
//! wire, ARP first, then a handshake and a bulk transfer checked byte for byte.

mod iface_common;
use iface_common::*;

use sockstack_proto::wire::Ipv4Addr;
use sockstack_proto::{Duration, Instant, Stack, StackConfig};

struct Rng(u64);
impl Rng {
    fn chance(&mut self, pct: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100 < pct
    }
}

fn exchange(a: &mut Stack, b: &mut Stack, now: Instant, rng: &mut Rng, loss: u64) {
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
                if !rng.chance(loss) {
                    to.handle_frame(now, &buf[..n]);
                }
            }
        }
        if !any {
            return;
        }
    }
    panic!("runaway exchange");
}

fn transfer(loss: u64, seed: u64) -> (Vec<u8>, u64) {
    let a_ip = Ipv4Addr::new(198, 18, 0, 1);
    let b_ip = Ipv4Addr::new(198, 18, 0, 2);
    let mut ca = StackConfig::ethernet(PEER_MAC, a_ip, 24);
    ca.seed = seed;
    let mut cb = StackConfig::ethernet(US_MAC, b_ip, 24);
    cb.seed = seed + 1;
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut now = Instant::ZERO;
    let l = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().bind(l, b_ip, 80).unwrap();
    b.sockets_mut().listen(l, 16).unwrap();
    let c = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().connect(now, c, b_ip, 80).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 256) as u8).collect();
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
        exchange(&mut a, &mut b, now, &mut rng, loss);
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
        exchange(&mut a, &mut b, now, &mut rng, loss);
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
    assert_eq!(got, data);
    (got, a.stats().tcp.tx_segments + b.stats().tcp.tx_segments)
}

#[test]
fn tcp_bulk_transfer_over_ethernet_and_arp() {
    let (_, segs) = transfer(0, 7);
    assert!(segs > 100);
}

#[test]
fn tcp_bulk_transfer_with_loss_is_reproducible() {
    let first = transfer(3, 11);
    let again = transfer(3, 11);
    assert!(first == again);
}

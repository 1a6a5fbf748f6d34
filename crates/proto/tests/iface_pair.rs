//! Two stacks on a tiny in-test wire, pinging each other in virtual time
//! with seeded loss: the run is a function of the seed.

mod iface_common;
use iface_common::*;

use sockstack_proto::wire::{Icmpv4Repr, Ipv4Addr};
use sockstack_proto::{Duration, Instant, RawHandle, Stack, StackConfig};

/// xorshift64*: tiny, seeded, good enough to drop frames.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// Move frames both ways until neither side has anything to send.
fn exchange(a: &mut Stack, b: &mut Stack, now: Instant, rng: &mut Rng, loss: u64) -> usize {
    let mut buf = vec![0u8; 1600];
    let mut moved = 0;
    loop {
        let mut any = false;
        for dir in 0..2 {
            let (from, to) = if dir == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(n) = from.poll_transmit(now, &mut buf) {
                any = true;
                moved += 1;
                if !rng.chance(loss) {
                    to.handle_frame(now, &buf[..n]);
                }
                assert!(moved < 1_000_000, "runaway exchange");
            }
        }
        if !any {
            return moved;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// (seq, time of arrival in ms) of every echo reply A received from B.
    replies: Vec<(u16, u64)>,
    /// The same for B's pings to A.
    replies_b: Vec<(u16, u64)>,
    frames: usize,
    stats_a: Vec<(&'static str, &'static str, u64)>,
    stats_b: Vec<(&'static str, &'static str, u64)>,
}

/// Take every echo reply waiting on a raw socket.
fn collect(s: &mut Stack, r: RawHandle, now: Instant, data: &[u8], out: &mut Vec<(u16, u64)>) {
    let mut buf = [0u8; 256];
    while let Ok(n) = s.raw_icmp_recv(r, &mut buf) {
        let (_, p) = parse_ip(&buf[..n]);
        if let Icmp::EchoReply {
            seq_no, data: d, ..
        } = parse_icmp(&p)
        {
            assert_eq!(d, data);
            out.push((seq_no, now.total_millis()));
        }
    }
}

/// A and B each ping the other `pings` times, 10 ms apart, over a wire that
/// drops `loss` percent of frames.
fn run(seed: u64, pings: u16, loss: u64) -> Outcome {
    let a_ip = Ipv4Addr::new(198, 18, 0, 1);
    let b_ip = Ipv4Addr::new(198, 18, 0, 2);
    let mut ca = StackConfig::ethernet(PEER_MAC, a_ip, 24);
    ca.seed = seed;
    let mut cb = StackConfig::ethernet(US_MAC, b_ip, 24);
    cb.seed = seed.wrapping_add(1);
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let ra = a.raw_icmp_open().unwrap();
    let rb = b.raw_icmp_open().unwrap();
    let interval = Duration::from_millis(10);
    let mut now = Instant::ZERO;
    let (mut replies, mut replies_b) = (Vec::new(), Vec::new());
    let mut frames = 0;
    let data = [0x5a_u8; 56];
    for seq in 0..pings {
        let req = |ident| {
            icmp_bytes(&Icmpv4Repr::EchoRequest {
                ident,
                seq_no: seq,
                data: &data,
            })
        };
        a.raw_icmp_send(ra, b_ip, &req(0x77)).unwrap();
        b.raw_icmp_send(rb, a_ip, &req(0x78)).unwrap();
        let next = now + interval;
        for _ in 0..1000 {
            a.handle_timeout(now);
            b.handle_timeout(now);
            frames += exchange(&mut a, &mut b, now, &mut rng, loss);
            collect(&mut a, ra, now, &data, &mut replies);
            collect(&mut b, rb, now, &data, &mut replies_b);
            let due = [a.poll_at(), b.poll_at()]
                .into_iter()
                .flatten()
                .filter(|t| *t > now)
                .min();
            match due {
                Some(t) if t < next => now = t,
                _ => break,
            }
        }
        now = next;
    }
    let rows = |s: &Stack| {
        s.stats_rows()
            .into_iter()
            .map(|r| (r.layer, r.name, r.value))
            .collect()
    };
    Outcome {
        replies,
        replies_b,
        frames,
        stats_a: rows(&a),
        stats_b: rows(&b),
    }
}

#[test]
fn lossless_pair_answers_every_ping() {
    let o = run(1, 100, 0);
    assert_eq!(o.replies.len(), 100);
    assert!(o
        .replies
        .iter()
        .enumerate()
        .all(|(i, (s, _))| *s as usize == i));
}

#[test]
fn thousand_pings_with_ten_percent_loss_replay_from_the_seed() {
    let first = run(42, 1000, 10);
    let again = run(42, 1000, 10);
    assert!(first == again, "same seed, same run");
    // Each ping survives two 10 % losses (~81 %), minus ARP hiccups.
    for n in [first.replies.len(), first.replies_b.len()] {
        assert!((700..=900).contains(&n), "{n} replies");
    }
    let other = run(43, 1000, 10);
    assert!(first.replies != other.replies, "the seed matters");
    let get = |rows: &[(&str, &str, u64)], l: &str, k: &str| {
        rows.iter().find(|r| r.0 == l && r.1 == k).map(|r| r.2)
    };
    assert_eq!(
        get(&first.stats_b, "icmp", "rx_echo_requests"),
        Some(echo_replies_sent(&first))
    );
    assert!(get(&first.stats_a, "arp", "tx_requests").unwrap_or(0) >= 1);
}

fn echo_replies_sent(o: &Outcome) -> u64 {
    o.stats_b
        .iter()
        .find(|r| r.0 == "icmp" && r.1 == "tx_echo_replies")
        .map(|r| r.2)
        .unwrap_or(0)
}

//! The virtual-time driver: clock movement, scheduled actions, exact link
//! timing, and whole runs replayed from a seed.

mod link_common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use link_common::*;
use sockstack::link::impair::{ImpairConfig, Impaired};
use sockstack::link::memory::{self, Hub, HubMode, WireConfig};
use sockstack::link::pcap::{Captured, LinkType, PcapWriter};
use sockstack::proto::wire::MacAddr;
use sockstack::proto::{Duration, Instant, Stack, StackConfig};
use sockstack::runtime::{HostId, VirtualNet};

fn stack(last: u8) -> Stack {
    Stack::new(StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    ))
}

fn ms(x: u64) -> Instant {
    Instant::from_millis(x)
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);
impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// (timestamp in us, frame) of every record in a pcap byte stream.
fn records(pcap: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 24;
    let u32_at = |i: usize| u64::from(u32::from_ne_bytes(pcap[i..i + 4].try_into().unwrap()));
    while at + 16 <= pcap.len() {
        let ts = u32_at(at) * 1_000_000 + u32_at(at + 4);
        let len = u32_at(at + 8) as usize;
        out.push((ts, pcap[at + 16..at + 16 + len].to_vec()));
        at += 16 + len;
    }
    out
}

/// Only the test's own numbered frames (the stacks also talk: ARP).
fn numbered_only(recs: Vec<(u64, Vec<u8>)>) -> Vec<(u64, u32)> {
    recs.into_iter()
        .filter(|(_, f)| f.len() >= 18 && f[12..14] == [0x88, 0xb5])
        .map(|(t, f)| (t, number_of(&f)))
        .collect()
}

#[test]
fn clock_moves_only_forward_and_where_told() {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let mut net = VirtualNet::new();
    net.add_host("a", stack(1), la);
    net.add_host("b", stack(2), lb);
    net.run_until(ms(250));
    assert_eq!(net.now(), ms(250));
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.now(), ms(300));
    // Never backwards.
    net.run_until(ms(10));
    assert_eq!(net.now(), ms(300));
    // A step lands exactly on the next event.
    if let Some(next) = net.next_event() {
        assert_eq!(
            net.step(),
            Some(next.max(ms(300) + Duration::from_micros(1)))
        );
    }
}

#[test]
fn empty_net_is_idle() {
    let mut net = VirtualNet::new();
    assert_eq!(net.next_event(), None);
    assert_eq!(net.step(), None);
    assert!(net.run_until_idle(ms(1000)));
    assert_eq!(net.now(), Instant::ZERO);
}

#[test]
fn actions_run_at_their_time_in_order() {
    let mut net = VirtualNet::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for (t, tag) in [(30, "c"), (10, "a"), (30, "d"), (20, "b")] {
        let log = Arc::clone(&log);
        net.at(ms(t), move |net| log.lock().unwrap().push((net.now(), tag)));
    }
    let log2 = Arc::clone(&log);
    net.at(ms(40), move |net| {
        // Actions may schedule more actions.
        let log3 = Arc::clone(&log2);
        net.after(Duration::from_millis(5), move |net| {
            log3.lock().unwrap().push((net.now(), "e"))
        });
    });
    assert_eq!(net.step(), Some(ms(10)));
    assert!(net.run_until_idle(ms(1000)));
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            (ms(10), "a"),
            (ms(20), "b"),
            (ms(30), "c"),
            (ms(30), "d"),
            (ms(45), "e")
        ]
    );
    assert_eq!(net.now(), ms(45));
}

#[test]
fn frames_arrive_exactly_at_their_delivery_time() {
    // 1 Mbit/s: a 125-byte frame serialises in 1 ms, plus 500 us propagation.
    let cfg = WireConfig::ethernet()
        .with_bandwidth(1_000_000)
        .with_delay(Duration::from_micros(500));
    let (la, lb) = memory::pair(cfg);
    let capture = SharedBuf::default();
    let writer = PcapWriter::new(capture.clone(), LinkType::Ethernet).unwrap();
    let mut net = VirtualNet::new();
    let a = net.add_host("a", stack(1), la);
    net.add_host("b", stack(2), Captured::new(lb, writer));
    // At 2 s, long after any start-up chatter of the stacks has drained.
    net.at(ms(2000), move |net| {
        let now = net.now();
        for n in 0..3 {
            net.link_mut(a)
                .send(now, &numbered(MAC_A, MAC_B, n, 125))
                .unwrap();
        }
    });
    let seen = || numbered_only(records(&capture.0.lock().unwrap())).len();
    assert!(net.run_until_cond(ms(3000), |_| seen() == 3));
    let got = numbered_only(records(&capture.0.lock().unwrap()));
    assert_eq!(got, vec![(2_001_500, 0), (2_002_500, 1), (2_003_500, 2)]);
    assert!(!net.run_until_cond(ms(3500), |_| false));
}

/// Inject 2000 frames from host a onto an impaired switching hub and record
/// what host c sees, with timestamps, as pcap bytes.
fn impaired_run(seed: u64) -> Vec<u8> {
    let wire = WireConfig::ethernet()
        .with_delay(Duration::from_micros(200))
        .with_bandwidth(100_000_000);
    let hub = Hub::new(wire, HubMode::Switch);
    let imp = ImpairConfig {
        loss: 0.1,
        dup: 0.05,
        reorder: 0.1,
        corrupt: 0.01,
        jitter: Duration::from_micros(100),
        delay: Duration::from_micros(300),
        seed,
        ..ImpairConfig::default()
    };
    let capture = SharedBuf::default();
    let writer = PcapWriter::new(capture.clone(), LinkType::Ethernet).unwrap();
    let mut net = VirtualNet::new();
    let a: HostId = net.add_host("a", stack(1), Impaired::new(hub.endpoint(), imp.clone()));
    net.add_host("b", stack(2), hub.endpoint());
    let c = net.add_host("c", stack(3), Captured::new(hub.endpoint(), writer));
    for n in 0..2000u32 {
        net.at(Instant::from_micros(u64::from(n) * 50), move |net| {
            let now = net.now();
            let dst = if n % 3 == 0 { BROADCAST } else { MAC_C };
            net.link_mut(a)
                .send(now, &numbered(MAC_A, dst, n, 64 + (n as usize % 200)))
                .unwrap();
        });
    }
    net.run_until(Instant::from_secs(2));
    assert!(net.link(c).stats().rx_frames > 1500);
    drop(net);
    let bytes = capture.0.lock().unwrap().clone();
    bytes
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let one = impaired_run(1234);
    let again = impaired_run(1234);
    let other = impaired_run(4321);
    assert!(one.len() > 100_000);
    assert_eq!(one, again);
    assert_ne!(one, other);
}

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

#[test]
fn idle_net_moves_only_when_told() {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let mut net = VirtualNet::new();
    net.add_host("a", stack(1), la);
    net.add_host("b", stack(2), lb);
    assert_eq!(net.next_event(), None);
    assert_eq!(net.step(), None);
    assert!(net.run_until_idle(ms(1000)));
    assert_eq!(net.now(), Instant::ZERO);
    net.run_until(ms(250));
    assert_eq!(net.now(), ms(250));
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.now(), ms(300));
    // Never backwards.
    net.run_until(ms(10));
    assert_eq!(net.now(), ms(300));
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
    let mut net = VirtualNet::new();
    let a = net.add_host("a", stack(1), la);
    let b = net.add_host("b", stack(2), lb);
    net.at(ms(2), move |net| {
        let now = net.now();
        for n in 0..3 {
            net.link_mut(a)
                .send(now, &numbered(MAC_A, MAC_B, n, 125))
                .unwrap();
        }
    });
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let got = net.run_until_cond(ms(100), |net| {
        let rx = net.link(b).stats().rx_frames;
        let mut v = arrivals.lock().unwrap();
        if v.len() < rx as usize {
            v.push(net.now());
        }
        rx == 3
    });
    assert!(got);
    assert_eq!(
        *arrivals.lock().unwrap(),
        vec![
            Instant::from_micros(3500),
            Instant::from_micros(4500),
            Instant::from_micros(5500)
        ]
    );
    assert!(!net.run_until_cond(ms(200), |_| false));
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
    assert!(net.run_until_idle(Instant::from_secs(10)));
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

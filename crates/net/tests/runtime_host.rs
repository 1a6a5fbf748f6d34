//! The real-clock host: sleeps when idle, wakes on frames and on
//! application calls, stops cleanly, reports link failures.

mod link_common;

use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use link_common::netns::Netns;
use link_common::*;
use sockstack::link::memory::{self, WireConfig};
use sockstack::link::tap::TapLink;
use sockstack::link::{Link, LinkStats};
use sockstack::proto::wire::MacAddr;
use sockstack::proto::{Duration, Instant, Medium, Stack, StackConfig};
use sockstack::runtime::{Host, RealClock};

fn stack(last: u8) -> Stack {
    Stack::new(StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    ))
}

fn soon(secs: u64) -> Option<StdInstant> {
    Some(StdInstant::now() + StdDuration::from_secs(secs))
}

#[test]
fn idle_host_sleeps_and_shuts_down() {
    let (la, _lb) = memory::pair(WireConfig::ethernet());
    let host = Host::spawn("idle", stack(1), la).unwrap();
    assert_eq!(host.name(), "idle");
    std::thread::sleep(StdDuration::from_millis(200));
    let n = host.iterations();
    assert!(host.is_running());
    // A busy loop would count millions here; a sleeping host a handful.
    eprintln!("idle host: {n} iterations in 200 ms");
    assert!(n <= 50, "{n} iterations while idle");
    host.shutdown().unwrap();
}

#[test]
fn with_stack_runs_under_the_lock_and_wakes_the_runtime() {
    let (la, _lb) = memory::pair(WireConfig::ethernet());
    let host = Host::spawn("ws", stack(1), la).unwrap();
    let before = host.iterations();
    let addr = host.with_stack(|s| s.config().addr);
    assert_eq!(addr, Ipv4Addr::new(198, 18, 0, 1));
    let start = StdInstant::now();
    while host.iterations() == before && start.elapsed() < StdDuration::from_secs(5) {
        std::thread::sleep(StdDuration::from_millis(1));
    }
    assert!(host.iterations() > before, "runtime was not woken");
    drop(host); // Drop joins too.
}

#[test]
fn frames_from_another_thread_wake_the_host() {
    let cfg = WireConfig::ethernet().with_delay(Duration::from_millis(30));
    let (la, mut lb) = memory::pair(cfg);
    let host = Host::spawn("rx", stack(1), la).unwrap();
    let clock = RealClock::shared();
    let sent_at = StdInstant::now();
    lb.send(clock.now(), &numbered(MAC_B, MAC_A, 1, 60))
        .unwrap();
    let seen = host.wait_until(soon(5), |_| (host_rx(&host) == 1).then(StdInstant::now));
    let seen = seen.expect("host received the frame");
    // The frame cannot be delivered before its propagation delay.
    assert!(seen.duration_since(sent_at) >= StdDuration::from_millis(30));
    assert_eq!(host.link_stats().rx_frames, 1);
    host.shutdown().unwrap();
}

fn host_rx(host: &Host) -> u64 {
    host.link_stats().rx_frames
}

#[test]
fn wait_until_times_out() {
    let (la, _lb) = memory::pair(WireConfig::ethernet());
    let host = Host::spawn("wait", stack(1), la).unwrap();
    let deadline = StdInstant::now() + StdDuration::from_millis(50);
    let r: Option<()> = host.wait_until(Some(deadline), |_| None);
    assert!(r.is_none());
    assert!(StdInstant::now() >= deadline);
    assert_eq!(
        host.wait_until(None, |s| Some(s.config().prefix_len)),
        Some(24)
    );
}

/// A link that fails on demand.
struct FailingLink {
    fail: Arc<AtomicBool>,
}
impl Link for FailingLink {
    fn medium(&self) -> Medium {
        Medium::Ethernet
    }
    fn mtu(&self) -> usize {
        1500
    }
    fn send(&mut self, _now: Instant, _frame: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn recv(&mut self, _now: Instant, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("device vanished"));
        }
        Ok(None)
    }
    fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
}

#[test]
fn link_failure_stops_the_host_and_is_reported() {
    let fail = Arc::new(AtomicBool::new(false));
    let link = FailingLink {
        fail: Arc::clone(&fail),
    };
    let host = Host::spawn("fail", stack(1), link).unwrap();
    fail.store(true, Ordering::SeqCst);
    host.with_stack(|_| ()); // wake it so it notices
                             // A waiter with no deadline is released when the runtime stops.
    let r: Option<()> = host.wait_until(None, |_| None);
    assert!(r.is_none());
    assert!(!host.is_running());
    let err = host.shutdown().unwrap_err();
    assert!(err.to_string().contains("device vanished"), "{err}");
}

#[test]
fn several_hosts_share_a_clock_and_stop_in_any_order() {
    let hub = memory::Hub::new(WireConfig::ethernet(), memory::HubMode::Broadcast);
    let hosts: Vec<Host> = (1..=4)
        .map(|i| Host::spawn(&format!("h{i}"), stack(i), hub.endpoint()).unwrap())
        .collect();
    let t0 = hosts[0].now();
    let t1 = hosts[3].now();
    assert!(t1 >= t0);
    for (i, h) in hosts.into_iter().enumerate() {
        if i % 2 == 0 {
            h.shutdown().unwrap();
        } else {
            drop(h);
        }
    }
}

/// The runtime also sleeps on a TAP fd and wakes when the kernel writes.
#[test]
fn host_on_a_tap_wakes_on_kernel_frames() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let tap = TapLink::open_in_netns(&ns.name, "sshost0").unwrap();
    ns.run(&[
        "ip",
        "addr",
        "add",
        &format!("{}/24", ns.addr(1)),
        "dev",
        "sshost0",
    ]);
    ns.run(&["ip", "link", "set", "sshost0", "up"]);
    let host = Host::spawn("tap", stack(2), tap).unwrap();
    // The kernel ARPs for 198.18.<n>.2 when asked to ping it (no answer yet:
    // the stack stub does not reply). One probe, short wait.
    let _ = ns.try_run(&["ping", "-c", "1", "-W", "1", &ns.addr(2)]);
    let got = host.wait_until(soon(5), |_| {
        None::<()>.or((host_rx(&host) > 0).then_some(()))
    });
    assert!(got.is_some(), "no frame from the kernel reached the host");
    host.shutdown().unwrap();
}

//! End to end through the drivers with the real stack: ICMP echo between two
//! virtual hosts on a lossy link (replayed from its seed), and the Linux
//! kernel pinging a real-clock host over TAP (root only).

mod link_common;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use link_common::netns::Netns;
use link_common::*;
use sockstack::link::impair::{ImpairConfig, Impaired};
use sockstack::link::memory::{self, MemoryLink, WireConfig};
use sockstack::link::pcap::Captured;
use sockstack::link::tap::TapLink;
use sockstack::proto::wire::MacAddr;
use sockstack::proto::{Duration, Instant, Stack, StackConfig};
use sockstack::runtime::{Host, RealClock, VirtualNet};

fn config(net: u8, last: u8) -> StackConfig {
    let mut cfg = StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, net, last]),
        Ipv4Addr::new(198, 18, net, last),
        24,
    );
    cfg.seed = u64::from(last);
    cfg
}

/// ICMP echo request message (checksum filled in by the stack).
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&[0x61; 56]);
    m
}

/// Echo reply sequence numbers found in raw ICMP packets (IPv4 header first).
fn reply_seq(packet: &[u8]) -> Option<u16> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    let icmp = packet.get(ihl..)?;
    (icmp.first() == Some(&0)).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// 200 pings, one every 10 ms, over a link losing 10% each way.
fn lossy_pings(seed: u64) -> Vec<u16> {
    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(Duration::from_millis(1)));
    let la = Impaired::new(la, ImpairConfig::loss(0.1, seed));
    let mut net = VirtualNet::new();
    let a = net.add_host("a", Stack::new(config(0, 1)), la);
    net.add_host("b", Stack::new(config(0, 2)), lb);
    let sock = net.stack_mut(a).raw_icmp_open().unwrap();
    let dst = Ipv4Addr::new(198, 18, 0, 2);
    for seq in 0..200u16 {
        net.at(Instant::from_millis(10 * u64::from(seq)), move |net| {
            let _ = net
                .stack_mut(a)
                .raw_icmp_send(sock, dst, &echo_request(1, seq));
        });
    }
    let replies = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&replies);
    let mut buf = vec![0u8; 2048];
    net.run_until_cond(Instant::from_secs(5), move |net| {
        while let Ok(n) = net.stack_mut(a).raw_icmp_recv(sock, &mut buf) {
            if let Some(seq) = reply_seq(&buf[..n]) {
                sink.lock().unwrap().push(seq);
            }
        }
        false
    });
    let stats = net.link_as::<Impaired<MemoryLink>>(a).unwrap();
    let lost = stats.tx_stats().lost + stats.rx_stats().lost;
    assert!(lost > 0 && lost < 100, "{lost}");
    let v = replies.lock().unwrap().clone();
    v
}

#[test]
fn virtual_pings_over_a_lossy_link_replay_from_the_seed() {
    let one = lossy_pings(5);
    assert_eq!(one, lossy_pings(5));
    assert_ne!(one, lossy_pings(6));
    // About 81% come back (0.9 each way); loose bounds.
    assert!((120..=190).contains(&one.len()), "{} replies", one.len());
}

#[test]
fn two_real_clock_hosts_ping_over_a_memory_link() {
    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(Duration::from_millis(1)));
    let a = Host::spawn("a", Stack::new(config(0, 1)), la).unwrap();
    let b = Host::spawn("b", Stack::new(config(0, 2)), lb).unwrap();
    let sock = a.with_stack(|s| s.raw_icmp_open()).unwrap();
    let dst = Ipv4Addr::new(198, 18, 0, 2);
    let mut buf = vec![0u8; 2048];
    for seq in 0..5u16 {
        a.with_stack(|s| s.raw_icmp_send(sock, dst, &echo_request(3, seq)))
            .unwrap();
        let deadline = StdInstant::now() + StdDuration::from_secs(3);
        let got = a.wait_until(Some(deadline), |s| {
            while let Ok(n) = s.raw_icmp_recv(sock, &mut buf) {
                if reply_seq(&buf[..n]) == Some(seq) {
                    return Some(());
                }
            }
            None
        });
        assert!(got.is_some(), "no reply to echo {seq}");
    }
    assert!(a.link_stats().rx_frames >= 5);
    b.shutdown().unwrap();
    a.shutdown().unwrap();
}

#[test]
fn kernel_pings_a_real_clock_host_over_tap() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let tap = TapLink::open_in_netns(&ns.name, "ssping0").unwrap();
    ns.run(&[
        "ip",
        "addr",
        "add",
        &format!("{}/24", ns.addr(1)),
        "dev",
        "ssping0",
    ]);
    ns.run(&["ip", "link", "set", "ssping0", "up"]);
    let pcap = std::env::temp_dir().join(format!("sockstack-ping-{}.pcap", std::process::id()));
    let clock = RealClock::shared();
    let link = Captured::create_wall_clock(tap, &pcap, &clock).unwrap();
    let host = Host::spawn("tap", Stack::new(config(ns.n, 2)), link).unwrap();

    let out = ns.run(&["ping", "-c", "5", "-i", "0.2", "-W", "2", &ns.addr(2)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("5 received"), "{text}");

    // And the other way: the host pings the kernel.
    let sock = host.with_stack(|s| s.raw_icmp_open()).unwrap();
    let kernel: Ipv4Addr = ns.addr(1).parse().unwrap();
    host.with_stack(|s| s.raw_icmp_send(sock, kernel, &echo_request(9, 77)))
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let got = host.wait_until(Some(StdInstant::now() + StdDuration::from_secs(3)), |s| {
        while let Ok(n) = s.raw_icmp_recv(sock, &mut buf) {
            if reply_seq(&buf[..n]) == Some(77) {
                return Some(());
            }
        }
        None
    });
    assert!(got.is_some(), "no echo reply from the kernel");
    host.shutdown().unwrap();

    let shark = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-Y", "_ws.malformed"])
        .output();
    match shark {
        Ok(o) => {
            assert!(o.status.success());
            assert!(
                o.stdout.is_empty(),
                "{}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
        Err(_) => eprintln!("SKIP: tshark not installed; pcap not checked"),
    }
    let _ = std::fs::remove_file(&pcap);
}

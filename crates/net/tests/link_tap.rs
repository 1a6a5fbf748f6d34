//! TAP and TUN devices against the Linux kernel, inside a throw-away network
//! namespace (root only; skipped visibly otherwise). Addresses: 198.18.0.0/15.

mod link_common;

use std::net::Ipv4Addr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use link_common::netns::Netns;
use link_common::*;
use sockstack::link::tap::TapLink;
use sockstack::link::tun::TunLink;
use sockstack::link::Link;
use sockstack::proto::Instant;

/// Receive until `pred` accepts a frame or 3 s pass; frames it rejects are skipped.
fn recv_matching(link: &mut impl Link, mut pred: impl FnMut(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; link.frame_capacity()];
    let start = StdInstant::now();
    while start.elapsed() < StdDuration::from_secs(3) {
        match link.recv(Instant::ZERO, &mut buf).unwrap() {
            Some(n) if pred(&buf[..n]) => return Some(buf[..n].to_vec()),
            Some(_) => {}
            None => std::thread::sleep(StdDuration::from_millis(5)),
        }
    }
    None
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn tap_exchanges_arp_and_icmp_with_the_kernel() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let mut tap = TapLink::open_in_netns(&ns.name, "sstap0").unwrap();
    assert_eq!(tap.name(), "sstap0");
    assert!(tap.raw_fd().is_some());
    let kernel_ip = ns.addr(1);
    let our_ip = ns.addr(2);
    ns.run(&[
        "ip",
        "addr",
        "add",
        &format!("{kernel_ip}/24"),
        "dev",
        "sstap0",
    ]);
    ns.run(&["ip", "link", "set", "sstap0", "up"]);

    tap.send(
        Instant::ZERO,
        &arp_request(MAC_A, ip(&our_ip), ip(&kernel_ip)),
    )
    .unwrap();
    let reply = recv_matching(&mut tap, |f| {
        f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2]
    })
    .expect("kernel answers our ARP request");
    assert_eq!(&reply[0..6], &MAC_A, "reply addressed to us");
    assert_eq!(
        &reply[28..32],
        &ip(&kernel_ip).octets(),
        "sender is the kernel's address"
    );
    let kernel_mac: [u8; 6] = reply[22..28].try_into().unwrap();

    // The kernel learnt our MAC from the request: a ping is answered.
    let ping = icmp_echo(ip(&our_ip), ip(&kernel_ip), 0x5353, 1, &[0x42; 56]);
    tap.send(Instant::ZERO, &ethernet(kernel_mac, MAC_A, 0x0800, &ping))
        .unwrap();
    let pong = recv_matching(&mut tap, |f| {
        f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == 1 && f[34] == 0
    })
    .expect("kernel answers our ping");
    assert_eq!(&pong[30..34], &ip(&our_ip).octets());
    assert_eq!(&pong[38..40], &0x5353u16.to_be_bytes());
    let s = tap.stats();
    assert_eq!(s.tx_frames, 2);
    assert!(s.rx_frames >= 2);
}

#[test]
fn tun_exchanges_icmp_with_the_kernel() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let mut tun = TunLink::open_in_netns(&ns.name, "sstun0").unwrap();
    assert_eq!(tun.frame_capacity(), 1500);
    let kernel_ip = ns.addr(1);
    let our_ip = ns.addr(2);
    ns.run(&[
        "ip", "addr", "add", &kernel_ip, "peer", &our_ip, "dev", "sstun0",
    ]);
    ns.run(&["ip", "link", "set", "sstun0", "up"]);
    let ping = icmp_echo(ip(&our_ip), ip(&kernel_ip), 7, 3, b"sockstack tun test");
    tun.send(Instant::ZERO, &ping).unwrap();
    let pong = recv_matching(&mut tun, |p| {
        p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 1 && p[20] == 0
    })
    .expect("kernel answers our ping over TUN");
    assert_eq!(&pong[12..16], &ip(&kernel_ip).octets());
    assert_eq!(&pong[28..], b"sockstack tun test");
}

#[test]
fn attaches_to_an_existing_persistent_tap() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    ns.run(&["ip", "tuntap", "add", "dev", "sspersist0", "mode", "tap"]);
    let tap = TapLink::open_in_netns(&ns.name, "sspersist0").unwrap();
    assert_eq!(tap.name(), "sspersist0");
    drop(tap);
    // Persistent: still there after we let go.
    let out = ns.run(&["ip", "link", "show", "sspersist0"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("sspersist0"));
}

#[test]
fn kernel_chosen_name_is_reported() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let tap = TapLink::open_in_netns(&ns.name, "").unwrap();
    assert!(tap.name().starts_with("tap"), "{}", tap.name());
}

#[test]
fn open_errors_are_one_clear_line() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let _first = TapLink::open_in_netns(&ns.name, "ssbusy0").unwrap();
    let busy = TapLink::open_in_netns(&ns.name, "ssbusy0")
        .unwrap_err()
        .to_string();
    assert!(busy.contains("busy"), "{busy}");

    let _tun = TunLink::open_in_netns(&ns.name, "sskind0").unwrap();
    let kind = TapLink::open_in_netns(&ns.name, "sskind0")
        .unwrap_err()
        .to_string();
    assert!(kind.contains("not a TAP device"), "{kind}");

    let long = TapLink::open("a-name-longer-than-15")
        .unwrap_err()
        .to_string();
    assert!(long.contains("invalid interface name"), "{long}");

    let missing = TapLink::open_in_netns("ss-no-such-namespace", "x")
        .unwrap_err()
        .to_string();
    assert!(missing.contains("ss-no-such-namespace"), "{missing}");

    for msg in [busy, kind, long, missing] {
        assert!(!msg.contains('\n'), "{msg}");
    }
}

/// Without privilege the error says what is needed. Runs this test binary
/// again as `nobody` (setpriv) and checks the message it prints.
#[test]
fn unprivileged_open_says_needs_root() {
    if std::env::var_os("SOCKSTACK_UNPRIV_CHILD").is_some() {
        match TapLink::open("ssnopriv0") {
            Ok(_) => println!("UNEXPECTED-OK"),
            Err(e) => println!("ERR:{e}"),
        }
        return;
    }
    if !root_or_skip() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(exe)
        .args([
            "--exact",
            "unprivileged_open_says_needs_root",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOCKSTACK_UNPRIV_CHILD", "1")
        .output();
    let Ok(out) = out else {
        eprintln!("SKIP: setpriv not available");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness prints "test NAME ... " before the child's own output.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("ERR:").map(|(_, e)| e))
        .unwrap_or_else(|| {
            panic!(
                "child printed no error: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(line.contains("needs root or CAP_NET_ADMIN"), "{line}");
    assert!(line.contains("ssnopriv0"), "{line}");
}

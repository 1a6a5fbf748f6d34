//! TAP with IFF_VNET_HDR and offloads (TSO4 + checksum) against the Linux
//! kernel, inside a throw-away namespace (root only; skipped visibly
//! otherwise). Addresses: 198.18.0.0/15, nothing routed out.
//!
//! The kernel side is python3 under `ip netns exec` (plain sockets and
//! hashlib); tcpdump in the namespace records the TAP device so the test
//! can count the segments longer than the MTU that crossed it. Every child
//! is killed by its PID on drop and every wait is bounded.

mod link_common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant as Wall};

use link_common::netns::Netns;
use link_common::root_or_skip;
use sha2::{Digest, Sha256};
use sockstack::link::tap::{Offload, TapLink};
use sockstack::link::tun::TunLink;
use sockstack::link::Link;
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{RecvError, SendError, Stack, StackConfig};
use sockstack::Host;

const LIMIT: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;

/// The kernel's end of a transfer, run by python3 in the namespace.
const PEER_PY: &str = r#"
import hashlib, os, socket, sys, time
mode, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "sink":
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(1); l.settimeout(60)
    print("ready", flush=True)
    c, _ = l.accept(); c.settimeout(60)
    h = hashlib.sha256(); got = 0; buf = bytearray(1 << 20); mv = memoryview(buf)
    while True:
        k = c.recv_into(buf)
        if not k: break
        h.update(mv[:k]); got += k
    print("done", got, h.hexdigest(), flush=True)
else:
    data = os.urandom(n)
    end = time.time() + 10
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=2); break
        except OSError:
            if time.time() > end: raise
            time.sleep(0.05)
    c.settimeout(60)
    c.sendall(data); c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
    print("done", n, hashlib.sha256(data).hexdigest(), flush=True)
"#;

/// A child process killed (by its PID) on drop.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `args` in `ns` with stdout and stderr lines sent to a channel.
fn spawn(ns: &Netns, args: &[&str]) -> (Kid, mpsc::Receiver<String>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn in namespace");
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (Kid(child), rx)
}

/// The first line containing `needle`, within `within`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> String {
    let end = Wall::now() + within;
    loop {
        let left = end.saturating_duration_since(Wall::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no {needle:?} line within {within:?}"),
        }
    }
}

/// "done BYTES SHA" -> (bytes, sha hex).
fn done(line: &str) -> (usize, String) {
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "{line}");
    (parts[1].parse().unwrap(), parts[2].to_string())
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seeded bytes (xorshift), so a failure replays.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

struct Setup {
    ns: Netns,
    host: Host,
    dev: String,
    kernel: String,
    ours: Ipv4Addr,
    /// Where the kernel's end of a transfer runs when it is not `ns` (the
    /// forwarding test's second namespace).
    peer: Option<Netns>,
}

impl Setup {
    fn peer_ns(&self) -> &Netns {
        self.peer.as_ref().unwrap_or(&self.ns)
    }
}

/// A namespace, a TAP opened with `offload`, the kernel at .1 and a
/// sockstack host at .2 whose `tso_max` comes from the link.
fn setup(offload: Offload, check: impl FnOnce(&TapLink)) -> Setup {
    let ns = Netns::new();
    let dev = format!("ssoff{}", ns.n);
    let link = TapLink::open_with(&dev, Some(&ns.name), offload).unwrap();
    check(&link);
    let kernel = ns.addr(1);
    let ours: Ipv4Addr = ns.addr(2).parse().unwrap();
    ns.run(&["ip", "addr", "add", &format!("{kernel}/24"), "dev", &dev]);
    ns.run(&["ip", "link", "set", &dev, "up"]);
    let mut cfg = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0x0f, ns.n]), ours, 24);
    cfg.seed = 11;
    cfg.tso_max = link.capabilities().tso_max;
    cfg.tx_checksum_offload = link.capabilities().tx_checksum;
    let host = Host::spawn("tap-offload", Stack::new(cfg), link).unwrap();
    Setup {
        ns,
        host,
        dev,
        kernel,
        ours,
        peer: None,
    }
}

/// As [`setup`] over a TUN device (IP medium, no ARP).
fn setup_tun(offload: Offload) -> (Setup, bool) {
    let ns = Netns::new();
    let dev = format!("ssofu{}", ns.n);
    let link = TunLink::open_with(&dev, Some(&ns.name), offload).unwrap();
    let offloaded = link.offloaded();
    let kernel = ns.addr(1);
    let ours: Ipv4Addr = ns.addr(2).parse().unwrap();
    let ours_s = ours.to_string();
    ns.run(&["ip", "addr", "add", &kernel, "peer", &ours_s, "dev", &dev]);
    ns.run(&["ip", "link", "set", &dev, "up"]);
    let mut cfg = StackConfig::ip(ours, 24);
    cfg.seed = 12;
    cfg.tso_max = link.capabilities().tso_max;
    cfg.tx_checksum_offload = link.capabilities().tx_checksum;
    let host = Host::spawn("tun-offload", Stack::new(cfg), link).unwrap();
    let s = Setup {
        ns,
        host,
        dev,
        kernel,
        ours,
        peer: None,
    };
    (s, offloaded)
}

/// sockstack sends `len` seeded bytes to the kernel; the kernel's hash must match.
fn send_to_kernel(s: &Setup, len: usize) {
    let (_sink, rx) = spawn(
        s.peer_ns(),
        &["python3", "-c", PEER_PY, "sink", &s.kernel, "5301", "0"],
    );
    wait_line(&rx, "ready", Duration::from_secs(10));
    let deadline = Some(Wall::now() + LIMIT);
    let now = s.host.now();
    let kernel: Ipv4Addr = s.kernel.parse().unwrap();
    let h = s.host.with_stack(|st| {
        let so = st.sockets_mut();
        let h = so.tcp_socket().unwrap();
        so.connect(now, h, kernel, 5301).unwrap();
        h
    });
    s.host
        .wait_until(deadline, |st| st.sockets().writable(h).then_some(()))
        .expect("connect to the kernel");
    let payload = data(len, 0x5eed);
    let mut sent = 0;
    while sent < len {
        let chunk = &payload[sent..(sent + 64 * 1024).min(len)];
        sent += s
            .host
            .wait_until(deadline, |st| match st.sockets_mut().send(h, chunk) {
                Ok(k) => Some(k),
                Err(SendError::WouldBlock) => None,
                Err(e) => panic!("send: {e:?}"),
            })
            .expect("send timed out");
    }
    s.host.with_stack(|st| st.sockets_mut().close(h).unwrap());
    let (got, sha) = done(&wait_line(&rx, "done", LIMIT));
    assert_eq!(got, len, "kernel received all bytes");
    assert_eq!(sha, hex(&Sha256::digest(&payload)), "kernel's SHA-256");
}

/// The kernel sends `len` random bytes to sockstack; our hash must match its.
fn receive_from_kernel(s: &Setup, len: usize) {
    let l = s.host.with_stack(|st| {
        let so = st.sockets_mut();
        let l = so.tcp_socket().unwrap();
        so.bind(l, s.ours, 5302).unwrap();
        so.listen(l, 4).unwrap();
        l
    });
    let ours = s.ours.to_string();
    let n = len.to_string();
    let (_src, rx) = spawn(
        s.peer_ns(),
        &["python3", "-c", PEER_PY, "source", &ours, "5302", &n],
    );
    let deadline = Some(Wall::now() + LIMIT);
    let c = s
        .host
        .wait_until(deadline, |st| st.sockets_mut().accept(l).ok())
        .expect("accept timed out");
    let mut hash = Sha256::new();
    let mut got = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = s
            .host
            .wait_until(deadline, |st| match st.sockets_mut().recv(c, &mut buf) {
                Ok(k) => Some(k),
                Err(RecvError::WouldBlock) => None,
                Err(RecvError::Eof) => Some(0),
                Err(e) => panic!("recv: {e:?}"),
            })
            .expect("receive timed out");
        if k == 0 {
            break;
        }
        hash.update(&buf[..k]);
        got += k;
    }
    s.host.with_stack(|st| {
        let _ = st.sockets_mut().close(c);
        let _ = st.sockets_mut().close(l);
    });
    let (sent, sha) = done(&wait_line(&rx, "done", LIMIT));
    assert_eq!(got, sent, "all bytes arrived");
    assert_eq!(
        hex(&hash.finalize()),
        sha,
        "SHA-256 of what the kernel sent"
    );
}

/// Lengths of the IPv4 packets in a pcap (original lengths minus 14),
/// with their source address.
fn pcap_packets(path: &std::path::Path) -> Vec<(usize, [u8; 4])> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let u = |o: usize| u32::from_le_bytes(bytes[at + o..at + o + 4].try_into().unwrap());
        let (incl, orig) = (u(8) as usize, u(12) as usize);
        let rec = &bytes[(at + 16).min(bytes.len())..(at + 16 + incl).min(bytes.len())];
        if rec.len() >= 34 && rec[12..14] == [0x08, 0x00] {
            out.push((orig - 14, rec[26..30].try_into().unwrap()));
        }
        at += 16 + incl;
    }
    out
}

#[test]
fn tso_and_gro_with_the_kernel_64_mib_each_way() {
    if !root_or_skip() {
        return;
    }
    let s = setup(Offload::Tso, |l| {
        assert!(l.offloaded(), "kernel refused: {:?}", l.offload_refused());
        assert_eq!(l.capabilities().tso_max, 65_535);
        assert_eq!(l.frame_capacity(), 65_535 + 14);
    });
    let pcap = std::env::temp_dir().join(format!("sockstack-tso-{}.pcap", s.ns.name));
    let pcap_s = pcap.to_string_lossy().to_string();
    let dump = spawn(
        &s.ns,
        &[
            "tcpdump", "-i", &s.dev, "-n", "-s", "128", "-U", "-w", &pcap_s, "tcp",
        ],
    );
    wait_line(&dump.1, "listening on", Duration::from_secs(10));

    send_to_kernel(&s, 64 * MIB);
    receive_from_kernel(&s, 64 * MIB);

    let stats = s.host.link_stats();
    // Let tcpdump write out what it still holds before it is killed: with
    // receive autotuning the last 64 MiB arrive in well under a second and
    // a CPU-starved tcpdump lagged behind by all of them.
    std::thread::sleep(Duration::from_millis(1500));
    drop(dump);
    let pkts = pcap_packets(&pcap);
    let _ = std::fs::remove_file(&pcap);
    let ours = s.ours.octets();
    let big_ours = pkts.iter().filter(|p| p.1 == ours && p.0 > 1500).count();
    let big_kernel = pkts.iter().filter(|p| p.1 != ours && p.0 > 1500).count();
    let largest = pkts.iter().map(|p| p.0).max().unwrap_or(0);
    eprintln!(
        "tso: {} packets captured, {big_ours} of ours and {big_kernel} of the kernel's longer than the MTU, largest {largest}; {stats:?}",
        pkts.len()
    );
    assert!(
        stats.tx_tso_frames > 0 && big_ours > 0,
        "no large segment sent"
    );
    assert!(
        stats.rx_large_frames > 0 && big_kernel > 0,
        "no large segment received"
    );
    assert!(stats.rx_csum_completed > 0);
    assert!(stats.tx_csum_offloaded > 0, "checksums left to the kernel");
    assert!(largest > 30_000, "largest packet {largest}");
    assert_eq!(stats.offload_fallbacks, 0);
    s.host.shutdown().unwrap();
}

#[test]
fn refused_offloads_fall_back_to_plain_frames() {
    if !root_or_skip() {
        return;
    }
    // An unknown TUN_F_* bit makes TUNSETOFFLOAD fail with EINVAL.
    let s = setup(
        Offload::Flags(libc::TUN_F_CSUM | libc::TUN_F_TSO4 | 0x4000_0000),
        |l| {
            assert!(!l.offloaded());
            let why = l.offload_refused().expect("refusal recorded");
            assert!(why.contains("TUNSETOFFLOAD"), "{why}");
            assert_eq!(l.capabilities().tso_max, 0);
            assert_eq!(l.frame_capacity(), 1514);
            assert_eq!(l.stats().offload_fallbacks, 1);
        },
    );
    send_to_kernel(&s, 8 * MIB);
    receive_from_kernel(&s, 8 * MIB);
    let stats = s.host.link_stats();
    assert_eq!(stats.tx_tso_frames + stats.rx_large_frames, 0, "{stats:?}");
    assert_eq!(stats.tx_csum_offloaded, 0, "software checksums");
    assert_eq!(stats.offload_fallbacks, 1);
    s.host.shutdown().unwrap();
}

#[test]
fn offload_off_by_choice_keeps_plain_frames() {
    if !root_or_skip() {
        return;
    }
    let s = setup(Offload::Off, |l| {
        assert!(!l.offloaded());
        assert!(l.offload_refused().is_none());
        assert_eq!(l.capabilities().tso_max, 0);
    });
    send_to_kernel(&s, 4 * MIB);
    receive_from_kernel(&s, 4 * MIB);
    let stats = s.host.link_stats();
    assert_eq!(stats.tx_tso_frames + stats.rx_large_frames, 0, "{stats:?}");
    assert_eq!(stats.offload_fallbacks, 0);
    s.host.shutdown().unwrap();
}

#[test]
fn tun_with_offloads_16_mib_each_way() {
    if !root_or_skip() {
        return;
    }
    let (s, offloaded) = setup_tun(Offload::Tso);
    assert!(offloaded);
    send_to_kernel(&s, 16 * MIB);
    receive_from_kernel(&s, 16 * MIB);
    let stats = s.host.link_stats();
    eprintln!("tun {}: {stats:?}", s.dev);
    assert!(stats.tx_tso_frames > 0, "{stats:?}");
    assert!(stats.rx_large_frames > 0, "{stats:?}");
    s.host.shutdown().unwrap();
}

/// One counter of the kernel's `/proc/net/snmp` in `ns` (`proto` "Tcp",
/// `name` "InCsumErrors"): the header line names the columns.
fn snmp(ns: &Netns, proto: &str, name: &str) -> u64 {
    let out = ns.run(&["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{proto}:")))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let col = rows[0]
        .split_whitespace()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no {name} in {}", rows[0]));
    rows[1]
        .split_whitespace()
        .nth(col)
        .unwrap()
        .parse()
        .unwrap()
}

/// Transmit checksum offload, checked by a kernel that must finish the
/// checksums: the kernel in namespace `ns` receives our partial-checksum
/// (and TSO) frames on the TAP and forwards them to a veth whose checksum
/// offload is off, so it completes every checksum in software (Linux
/// `skb_checksum_help`, or software GSO); the peer namespace takes them on
/// a veth with receive checksum offload off and verifies them, counting
/// failures in InCsumErrors. (Delivered locally, a CHECKSUM_PARTIAL packet
/// is never verified: the kernel trusts it, so a plain TAP test would not
/// notice a wrong partial sum.) 16 MiB each way, hashed.
#[test]
fn tx_checksum_offload_verified_by_a_forwarding_kernel() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new();
    let peer = Netns::new();
    let n = ns.n;
    let dev = format!("ssoff{n}");
    let link = TapLink::open_with(&dev, Some(&ns.name), Offload::Tso).unwrap();
    assert!(link.offloaded(), "refused: {:?}", link.offload_refused());
    let caps = link.capabilities();
    assert!(caps.tx_checksum && caps.tso_max > 0);
    let router = ns.addr(1);
    let ours: Ipv4Addr = ns.addr(2).parse().unwrap();
    let (vk, vp) = (format!("ssvk{n}"), format!("ssvp{n}"));
    // The forwarding link, 198.19.<n>.0/24: inside the two namespaces only.
    let (rk, rp) = (format!("198.19.{n}.1"), format!("198.19.{n}.2"));
    ns.run(&["ip", "addr", "add", &format!("{router}/24"), "dev", &dev]);
    ns.run(&["ip", "link", "set", &dev, "up"]);
    ns.run(&[
        "ip", "link", "add", &vk, "type", "veth", "peer", "name", &vp, "netns", &peer.name,
    ]);
    ns.run(&["ip", "addr", "add", &format!("{rk}/24"), "dev", &vk]);
    ns.run(&["ip", "link", "set", &vk, "up"]);
    ns.run(&["ethtool", "-K", &vk, "tx", "off"]);
    ns.run(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
    peer.run(&["ip", "addr", "add", &format!("{rp}/24"), "dev", &vp]);
    peer.run(&["ip", "link", "set", &vp, "up"]);
    peer.run(&["ip", "link", "set", "lo", "up"]);
    peer.run(&["ethtool", "-K", &vp, "rx", "off"]);
    let ours_net = format!("198.18.{n}.0/24");
    peer.run(&["ip", "route", "add", &ours_net, "via", &rk]);
    let mut cfg = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0x1f, n]), ours, 24);
    cfg.seed = 13;
    cfg.gateway = Some(router.parse().unwrap());
    cfg.tso_max = caps.tso_max;
    cfg.tx_checksum_offload = caps.tx_checksum;
    let host = Host::spawn("tap-txcsum", Stack::new(cfg), link).unwrap();
    let errors_before = snmp(&peer, "Tcp", "InCsumErrors");
    let s = Setup {
        ns,
        host,
        dev,
        kernel: rp,
        ours,
        peer: Some(peer),
    };

    send_to_kernel(&s, 16 * MIB);
    receive_from_kernel(&s, 16 * MIB);

    let stats = s.host.link_stats();
    let peer = s.peer_ns();
    let csum_errors = snmp(peer, "Tcp", "InCsumErrors") - errors_before;
    let in_segs = snmp(peer, "Tcp", "InSegs");
    eprintln!("tx csum offload via a forwarding kernel: {stats:?}; peer InSegs {in_segs}");
    assert!(stats.tx_csum_offloaded > 0, "{stats:?}");
    assert!(stats.tx_tso_frames > 0, "{stats:?}");
    assert_eq!(csum_errors, 0, "the peer kernel found bad TCP checksums");
    assert!(in_segs > 1000, "the peer verified our segments ({in_segs})");
    s.host.shutdown().unwrap();
}

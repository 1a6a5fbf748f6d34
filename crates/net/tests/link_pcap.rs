//! pcap capture: exact bytes, and files tshark reads with no warnings.

mod link_common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use link_common::*;
use sockstack::link::memory::{self, WireConfig};
use sockstack::link::pcap::{Captured, LinkType, PcapWriter};
use sockstack::link::Link;
use sockstack::proto::{Duration, Instant};

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sockstack-pcap-{}-{tag}.pcap", std::process::id()))
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP: tshark not installed (apt-get install -y tshark)");
    }
    ok
}

/// Run tshark on `file`, insist on a clean exit and an empty stderr, and
/// return one line of `frame.protocols` per packet.
fn tshark_protocols(file: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-T", "fields", "-e", "frame.protocols"])
        .output()
        .expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    // tshark's note about running as root concerns the process, not the file.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Running as user \"root\""))
        .collect();
    assert!(warnings.is_empty(), "tshark warned: {warnings:?}");
    let malformed = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", "_ws.malformed"])
        .output()
        .expect("run tshark");
    assert!(
        malformed.stdout.is_empty(),
        "malformed packets: {}",
        String::from_utf8_lossy(&malformed.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn header_and_record_bytes_are_classic_pcap() {
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet).unwrap();
    w.write_frame(Instant::from_micros(3_000_042), &[1, 2, 3])
        .unwrap();
    let big = vec![0u8; 300_000];
    w.write_frame(Instant::from_micros(4_000_000), &big)
        .unwrap();
    assert_eq!(w.records(), 2);
    let bytes = w.into_inner().unwrap();
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_ne_bytes(bytes[at..at + 2].try_into().unwrap());
    assert_eq!(u32_at(0), 0xa1b2c3d4);
    assert_eq!((u16_at(4), u16_at(6)), (2, 4));
    assert_eq!(u32_at(16), 262_144);
    assert_eq!(u32_at(20), 1);
    // First record: ts 3.000042, 3 bytes.
    assert_eq!(
        (u32_at(24), u32_at(28), u32_at(32), u32_at(36)),
        (3, 42, 3, 3)
    );
    assert_eq!(&bytes[40..43], &[1, 2, 3]);
    // Second: truncated to the snaplen, original length kept.
    assert_eq!((u32_at(43 + 8), u32_at(43 + 12)), (262_144, 300_000));
    assert_eq!(bytes.len(), 24 + 16 + 3 + 16 + 262_144);

    let raw = PcapWriter::new(Vec::new(), LinkType::Raw)
        .unwrap()
        .into_inner()
        .unwrap();
    assert_eq!(u32::from_ne_bytes(raw[20..24].try_into().unwrap()), 101);
}

#[test]
fn time_offset_shifts_timestamps() {
    let w = PcapWriter::new(Vec::new(), LinkType::Raw)
        .unwrap()
        .with_time_offset(Duration::from_secs(1_700_000_000));
    let mut w = w;
    w.write_frame(Instant::from_micros(1_500_000), &[0x45])
        .unwrap();
    let b = w.into_inner().unwrap();
    assert_eq!(
        u32::from_ne_bytes(b[24..28].try_into().unwrap()),
        1_700_000_001
    );
    assert_eq!(u32::from_ne_bytes(b[28..32].try_into().unwrap()), 500_000);
}

#[test]
fn ethernet_capture_of_both_directions_reads_cleanly_in_tshark() {
    let path = temp_path("eth");
    let _cleanup = RemoveOnDrop(path.clone());
    let (a, mut b) = memory::pair(WireConfig::ethernet());
    let mut a = Captured::create(a, &path).unwrap();
    let mut buf = vec![0u8; 1514];
    let now = Instant::from_millis(1);
    a.send(now, &arp_request(MAC_A, A_IP, B_IP)).unwrap();
    let ping = icmp_echo(A_IP, B_IP, 0x1234, 1, &[0x55; 56]);
    a.send(now, &ethernet(MAC_B, MAC_A, 0x0800, &ping)).unwrap();
    while b.recv(now, &mut buf).unwrap().is_some() {}
    let reply = icmp_echo(B_IP, A_IP, 0x4321, 2, &[0xaa; 1000]);
    b.send(now, &ethernet(MAC_A, MAC_B, 0x0800, &reply))
        .unwrap();
    assert!(a.recv(now, &mut buf).unwrap().is_some());
    // Flushing once per iteration makes the file complete so far, with the
    // capture still open (what survives a crash).
    a.flush(now).unwrap();
    assert_eq!(a.records(), 3);
    let on_disk = std::fs::metadata(&path).unwrap().len();
    assert_eq!(on_disk, 24 + 3 * 16 + 42 + (14 + 84) + (14 + 1028));
    if !have_tshark() {
        return;
    }
    let protos = tshark_protocols(&path);
    assert_eq!(
        protos,
        vec![
            "eth:ethertype:arp",
            "eth:ethertype:ip:icmp:data",
            "eth:ethertype:ip:icmp:data"
        ]
    );
}

#[test]
fn raw_ip_capture_reads_cleanly_in_tshark() {
    let path = temp_path("raw");
    let _cleanup = RemoveOnDrop(path.clone());
    let (a, mut b) = memory::pair(WireConfig::ip());
    let mut a = Captured::create(a, &path).unwrap();
    let mut buf = vec![0u8; 1500];
    for seq in 0..5u16 {
        let now = Instant::from_millis(u64::from(seq) * 1000);
        a.send(now, &icmp_echo(A_IP, B_IP, 7, seq, &[seq as u8; 64]))
            .unwrap();
        assert!(b.recv(now, &mut buf).unwrap().is_some());
        a.flush(now).unwrap();
    }
    drop(a);
    if !have_tshark() {
        return;
    }
    let protos = tshark_protocols(&path);
    assert_eq!(protos.len(), 5);
    assert!(protos.iter().all(|p| p == "raw:ip:icmp:data"), "{protos:?}");
}

#[test]
fn wall_clock_capture_has_unix_timestamps() {
    let path = temp_path("wall");
    let _cleanup = RemoveOnDrop(path.clone());
    let clock = sockstack::runtime::RealClock::shared();
    let (a, _b) = memory::pair(WireConfig::ethernet());
    let mut a = Captured::create_wall_clock(a, &path, &clock).unwrap();
    a.send(clock.now(), &arp_request(MAC_A, A_IP, B_IP))
        .unwrap();
    drop(a);
    let bytes = std::fs::read(&path).unwrap();
    let secs = u32::from_ne_bytes(bytes[24..28].try_into().unwrap());
    assert!(secs > 1_600_000_000, "{secs}");
}

/// A link that finishes checksums itself: it keeps what `send_partial` got.
#[derive(Default)]
struct Offloading {
    partial: Vec<Vec<u8>>,
}

impl Link for Offloading {
    fn medium(&self) -> sockstack::proto::Medium {
        sockstack::proto::Medium::Ethernet
    }
    fn mtu(&self) -> usize {
        1500
    }
    fn send(&mut self, _now: Instant, _frame: &[u8]) -> std::io::Result<()> {
        panic!("a partial frame must go through send_partial");
    }
    fn send_partial(
        &mut self,
        _now: Instant,
        frame: &mut [u8],
        _csum: sockstack::proto::PartialChecksum,
    ) -> std::io::Result<()> {
        self.partial.push(frame.to_vec());
        Ok(())
    }
    fn recv(&mut self, _now: Instant, _buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        Ok(None)
    }
    fn stats(&self) -> sockstack::link::LinkStats {
        sockstack::link::LinkStats::default()
    }
    fn capabilities(&self) -> sockstack::link::LinkCaps {
        sockstack::link::LinkCaps {
            tx_checksum: true,
            ..Default::default()
        }
    }
}

/// An Ethernet + IPv4 + TCP frame from A to B with a partial checksum.
fn partial_tcp_frame() -> (Vec<u8>, sockstack::proto::PartialChecksum) {
    use sockstack::proto::tcp::SeqNum;
    use sockstack::proto::wire::{IpProtocol, Ipv4Repr, TcpFlags, TcpRepr};
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let tcp = TcpRepr::new(
        40000,
        80,
        SeqNum(7),
        SeqNum(9),
        TcpFlags(TcpFlags::ACK),
        512,
    );
    let tl = tcp.header_len() + payload.len();
    let ip = Ipv4Repr::new(A_IP, B_IP, IpProtocol::Tcp, tl);
    let mut seg = vec![0u8; tl];
    seg[tcp.header_len()..].copy_from_slice(&payload);
    tcp.emit_header_partial(&mut seg, A_IP, B_IP).unwrap();
    let mut pkt = vec![0u8; 20];
    ip.emit(&mut pkt).unwrap();
    pkt.extend_from_slice(&seg);
    let csum = sockstack::proto::PartialChecksum {
        start: 34,
        offset: 16,
    };
    (ethernet(MAC_B, MAC_A, 0x0800, &pkt), csum)
}

#[test]
fn partial_checksums_are_finished_in_the_capture_only() {
    let path = temp_path("partial");
    let _cleanup = RemoveOnDrop(path.clone());
    let mut a = Captured::create(Offloading::default(), &path).unwrap();
    let (frame, csum) = partial_tcp_frame();
    let mut sent = frame.clone();
    a.send_partial(Instant::from_millis(1), &mut sent, csum)
        .unwrap();
    assert_eq!(sent, frame, "the link's frame stays partial");
    let (inner, _) = a.finish().unwrap();
    assert_eq!(inner.partial, vec![frame.clone()]);
    let bytes = std::fs::read(&path).unwrap();
    let rec = &bytes[24 + 16..];
    assert_eq!(rec.len(), frame.len());
    let mut done = frame.clone();
    assert!(csum.complete(&mut done));
    assert_eq!(rec, &done[..], "the capture has the finished checksum");
    let tcp = sockstack::proto::wire::TcpPacket::parse(&rec[34..]).unwrap();
    assert!(tcp.verify_checksum(A_IP, B_IP));
    if !have_tshark() {
        return;
    }
    let out = Command::new("tshark")
        .args(["-n", "-o", "tcp.check_checksum:TRUE", "-r"])
        .arg(&path)
        .args(["-T", "fields", "-e", "tcp.checksum.status"])
        .output()
        .expect("run tshark");
    // Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

#[test]
fn partial_checksums_are_finished_for_a_link_without_offload() {
    // The default `send_partial` finishes the checksum, then sends.
    let (a, mut b) = memory::pair(WireConfig::ethernet());
    let mut a = Captured::new(a, PcapWriter::new(Vec::new(), LinkType::Ethernet).unwrap());
    let (frame, csum) = partial_tcp_frame();
    let mut f = frame.clone();
    let now = Instant::from_millis(1);
    a.send_partial(now, &mut f, csum).unwrap();
    let mut buf = vec![0u8; 1514];
    let n = b.recv(now, &mut buf).unwrap().expect("delivered");
    let tcp = sockstack::proto::wire::TcpPacket::parse(&buf[34..n]).unwrap();
    assert!(tcp.verify_checksum(A_IP, B_IP));
    let (_, w) = a.finish().unwrap();
    assert_eq!(&w.unwrap()[24 + 16..], &buf[..n]);
}

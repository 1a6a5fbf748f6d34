//! Interoperability with the Linux kernel across a TAP device (issue 3).
//!
//! Each test makes its own network namespace (see `common::netns`) holding
//! a TAP device: the kernel side has 198.18.0.1/24 and `sockstack serve` (or
//! `sockstack ping`) attaches to the device as 198.18.0.2/24. The tests need
//! root, iproute2 and the iputils/tshark tools that `.ci/run` installs;
//! without them each prints `SKIP: <test>: <reason>` to stderr and passes.
//! The notice bypasses libtest's capture, so it shows in a plain
//! `cargo test` run.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{unavailable, NetNs};
use common::process::{run_within, Background, Finished};
use common::skip;

const TAP: &str = "sstap0";
const TUN: &str = "sstun0";
const KERNEL: &str = "198.18.0.1";
const KERNEL_CIDR: &str = "198.18.0.1/24";
const OURS: &str = "198.18.0.2";
const OURS_CIDR: &str = "198.18.0.2/24";
const OUR_MAC: &str = "02:00:00:5e:00:02";

/// Generous upper bounds: these are limits against hangs, not timings.
const RUN_LIMIT: Duration = Duration::from_secs(60);
const STOP_LIMIT: Duration = Duration::from_secs(10);
const ATTACH_LIMIT: Duration = Duration::from_secs(10);

fn sockstack() -> &'static str {
    env!("CARGO_BIN_EXE_sockstack")
}

fn pcap_path(test: &str) -> PathBuf {
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}.pcap", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// `sockstack serve` on a TAP device in a fresh namespace. Fields drop in
/// order: the server is killed before its namespace is deleted.
struct Served {
    server: Option<Background>,
    ns: NetNs,
    pcap: PathBuf,
}

impl Served {
    fn start(test: &str, extra: &[&str]) -> Served {
        Served::start_on("--tap", test, extra)
    }

    /// `device` is `--tap` or `--tun`.
    fn start_on(device: &str, test: &str, extra: &[&str]) -> Served {
        let ns = NetNs::new();
        let ifname = if device == "--tun" {
            ns.add_tun(TUN, KERNEL_CIDR);
            TUN
        } else {
            ns.add_tap(TAP, KERNEL_CIDR);
            TAP
        };
        let pcap = pcap_path(test);
        let mut cmd = ns.command(sockstack());
        cmd.args(["serve", device, ifname, "--addr", OURS_CIDR, "--pcap"])
            .arg(&pcap)
            .args(extra);
        let mut server = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = ns.wait_until_attached(ifname, ATTACH_LIMIT, &mut server) {
            let out = server.terminate(Duration::ZERO);
            panic!("{e}\n{}", out.describe());
        }
        Served {
            server: Some(server),
            ns,
            pcap,
        }
    }

    /// SIGTERM (or `signal`) and require a clean exit with status 0.
    fn stop_with(&mut self, signal: i32) -> Finished {
        let mut server = self.server.take().expect("server already stopped");
        server.signal(signal);
        let out = match server.wait_within(STOP_LIMIT) {
            Some(_) => server.terminate(STOP_LIMIT),
            None => server.terminate(Duration::ZERO),
        };
        assert!(
            out.status.success(),
            "sockstack serve did not exit 0 after signal {signal}\n{}",
            out.describe()
        );
        out
    }

    fn stop(&mut self) -> Finished {
        self.stop_with(libc::SIGTERM)
    }
}

impl Drop for Served {
    /// Keep the capture of a failed test for inspection; drop the others.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.pcap);
        }
    }
}

fn assert_no_loss(out: &Finished, count: u32) {
    let want = format!("{count} packets transmitted, {count} received, 0% packet loss");
    assert!(
        out.status.success() && out.stdout.contains(&want),
        "expected `{want}`\n{}",
        out.describe()
    );
}

fn tshark(args: &[&str]) -> Finished {
    run_within(Command::new("tshark").args(args), RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

/// The fields of one captured frame that the tests look at.
#[derive(Debug, Default)]
struct Frame {
    ip_src: String,
    icmp_type: String,
    more_frags: bool,
    arp_opcode: String,
    arp_sender: String,
}

/// The capture opens in tshark with no malformed packet and no warning;
/// returns its frames. (Two tshark runs per capture: each costs ~1 s.)
fn clean_pcap(pcap: &Path) -> Vec<Frame> {
    let file = pcap.to_str().expect("utf-8 path");
    let malformed = tshark(&["-n", "-r", file, "-Y", "_ws.malformed"]);
    let stderr = malformed.stderr.to_lowercase();
    assert!(
        malformed.status.success()
            && malformed.stdout.trim().is_empty()
            && !stderr.contains("warning")
            && !stderr.contains("cut short"),
        "tshark found problems in {file}\n{}",
        malformed.describe()
    );
    let fields = tshark(&[
        "-n",
        "-r",
        file,
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "ip.src",
        "-e",
        "icmp.type",
        "-e",
        "ip.flags.mf",
        "-e",
        "arp.opcode",
        "-e",
        "arp.src.proto_ipv4",
    ]);
    assert!(fields.status.success(), "{}", fields.describe());
    let frames: Vec<Frame> = fields
        .stdout
        .lines()
        .map(|line| {
            let mut f = line.split(',').map(str::to_string);
            let mut next = || f.next().unwrap_or_default();
            Frame {
                ip_src: next(),
                icmp_type: next(),
                more_frags: next() == "1",
                arp_opcode: next(),
                arp_sender: next(),
            }
        })
        .collect();
    assert!(!frames.is_empty(), "{file} holds no frames");
    frames
}

fn assert_any(frames: &[Frame], what: &str, pred: impl Fn(&Frame) -> bool) {
    assert!(
        frames.iter().any(pred),
        "no captured frame is {what}: {frames:#?}"
    );
}

fn kernel_pings_sockstack(test: &str, size: usize) {
    kernel_pings_sockstack_on("--tap", test, size);
}

fn kernel_pings_sockstack_on(device: &str, test: &str, size: usize) {
    if let Some(why) = unavailable(&["ping", "tshark"]) {
        return skip(test, &why);
    }
    let mut s = Served::start_on(device, test, &[]);
    let size_arg = size.to_string();
    let out = s.ns.run(
        "ping",
        &[
            "-n", "-c", "20", "-i", "0.05", "-s", &size_arg, "-W", "2", OURS,
        ],
        RUN_LIMIT,
    );
    s.stop();
    assert_no_loss(&out, 20);
    let frames = clean_pcap(&s.pcap);
    assert_any(&frames, "an echo request from the kernel", |f| {
        f.ip_src == KERNEL && f.icmp_type == "8"
    });
    assert_any(&frames, "an echo reply from sockstack", |f| {
        f.ip_src == OURS && f.icmp_type == "0"
    });
    if size + 28 > 1500 {
        // Fragmented both ways: each side sent fragments with MF set.
        assert_any(&frames, "a kernel fragment", |f| {
            f.ip_src == KERNEL && f.more_frags
        });
        assert_any(&frames, "a sockstack fragment", |f| {
            f.ip_src == OURS && f.more_frags
        });
    }
}

#[test]
fn kernel_ping_56_bytes() {
    kernel_pings_sockstack("kernel_ping_56_bytes", 56);
}

#[test]
fn kernel_ping_1472_bytes() {
    kernel_pings_sockstack("kernel_ping_1472_bytes", 1472);
}

#[test]
fn kernel_ping_4000_bytes_fragmented() {
    kernel_pings_sockstack("kernel_ping_4000_bytes_fragmented", 4000);
}

/// The IP medium: a TUN device, no Ethernet and no ARP; the capture is
/// raw IPv4 (pcap link type 101).
#[test]
fn kernel_ping_over_tun_fragmented() {
    kernel_pings_sockstack_on("--tun", "kernel_ping_over_tun_fragmented", 4000);
}

fn sockstack_pings_kernel(test: &str, size: usize) {
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let ns = NetNs::new();
    ns.add_tap(TAP, KERNEL_CIDR);
    let size_arg = size.to_string();
    let out = ns.run(
        sockstack(),
        &[
            "ping", "--tap", TAP, "--addr", OURS_CIDR, "-c", "20", "-i", "0.05", "-s", &size_arg,
            "-W", "2", KERNEL,
        ],
        RUN_LIMIT,
    );
    assert_no_loss(&out, 20);
    let first = out.stdout.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!(
            "PING {KERNEL} ({KERNEL}) {size}({}) bytes of data.",
            size + 28
        )
    );
    assert!(
        out.stdout.contains(&format!(
            "{} bytes from {KERNEL}: icmp_seq=20 ttl=64 time=",
            size + 8
        )),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("rtt min/avg/max/mdev = "),
        "{}",
        out.describe()
    );
}

#[test]
fn sockstack_ping_to_kernel() {
    sockstack_pings_kernel("sockstack_ping_to_kernel", 56);
}

#[test]
fn sockstack_ping_to_kernel_fragmented() {
    sockstack_pings_kernel("sockstack_ping_to_kernel_fragmented", 4000);
}

#[test]
fn kernel_arping_is_answered() {
    let test = "kernel_arping_is_answered";
    if let Some(why) = unavailable(&["arping", "tshark"]) {
        return skip(test, &why);
    }
    let mut s = Served::start(test, &["--mac", OUR_MAC]);
    let out = s.ns.run(
        "arping",
        &["-c", "3", "-w", "10", "-I", TAP, OURS],
        RUN_LIMIT,
    );
    s.stop();
    let text = out.stdout.to_lowercase();
    assert!(
        out.status.success() && text.contains("received 3 response"),
        "arping was not answered 3 times\n{}",
        out.describe()
    );
    assert!(
        text.contains(&format!("[{OUR_MAC}]")),
        "reply not from {OUR_MAC}\n{}",
        out.describe()
    );
    let frames = clean_pcap(&s.pcap);
    assert_any(&frames, "an ARP reply from sockstack", |f| {
        f.arp_opcode == "2" && f.arp_sender == OURS
    });
}

/// SIGINT ends `serve` like SIGTERM: exit 0, and the capture was already
/// being written while it ran (incremental), then complete at the end.
#[test]
fn serve_stops_cleanly_on_sigint() {
    let test = "serve_stops_cleanly_on_sigint";
    if let Some(why) = unavailable(&["ping", "tshark"]) {
        return skip(test, &why);
    }
    let mut s = Served::start(test, &[]);
    let out = s.ns.run(
        "ping",
        &["-n", "-c", "3", "-i", "0.05", "-W", "2", OURS],
        RUN_LIMIT,
    );
    assert_no_loss(&out, 3);
    // pcap global header (24 bytes) plus at least one record, before exit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&s.pcap).map(|m| m.len()).unwrap_or(0) <= 24 {
        assert!(
            Instant::now() < deadline,
            "pcap not written while serve runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.stop_with(libc::SIGINT);
    let frames = clean_pcap(&s.pcap);
    assert_any(&frames, "an echo reply", |f| f.icmp_type == "0");
}

/// Device and capture problems end `serve` with one line and status 1.
#[test]
fn serve_device_errors_are_one_line() {
    let test = "serve_device_errors_are_one_line";
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let ns = NetNs::new();
    ns.add_tap(TAP, KERNEL_CIDR);
    let cases: [(&[&str], &str); 2] = [
        // A TAP device opened as TUN: the kernel refuses (EINVAL).
        (
            &["serve", "--tun", TAP, "--addr", OURS_CIDR],
            "not a TUN device",
        ),
        (
            &[
                "serve",
                "--tap",
                TAP,
                "--addr",
                OURS_CIDR,
                "--pcap",
                "/nonexistent-dir/x.pcap",
            ],
            "pcap",
        ),
    ];
    for (args, needle) in cases {
        let out = ns.run(sockstack(), args, RUN_LIMIT);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", out.describe());
        assert_eq!(lines.len(), 1, "{args:?}\n{}", out.describe());
        assert!(lines[0].contains(needle), "{args:?}: {}", lines[0]);
    }
}

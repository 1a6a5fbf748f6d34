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
        let ns = NetNs::new();
        ns.add_tap(TAP, KERNEL_CIDR);
        let pcap = pcap_path(test);
        let mut cmd = ns.command(sockstack());
        cmd.args(["serve", "--tap", TAP, "--addr", OURS_CIDR, "--pcap"])
            .arg(&pcap)
            .args(extra);
        let mut server = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = ns.wait_until_attached(TAP, ATTACH_LIMIT, &mut server) {
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

/// The capture opens in tshark with no malformed packets and no warning,
/// and it holds what `filter` selects.
fn assert_clean_pcap(pcap: &Path, must_match: &[&str]) {
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
    for filter in must_match {
        let hits = tshark(&["-n", "-r", file, "-Y", filter]);
        assert!(
            hits.status.success() && !hits.stdout.trim().is_empty(),
            "no packet in {file} matches `{filter}`\n{}",
            hits.describe()
        );
    }
}

fn kernel_pings_sockstack(test: &str, size: usize) {
    if let Some(why) = unavailable(&["ping", "tshark"]) {
        return skip(test, &why);
    }
    let mut s = Served::start(test, &[]);
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
    let mut filters = vec![
        format!("icmp.type == 8 && ip.src == {KERNEL}"),
        format!("icmp.type == 0 && ip.src == {OURS}"),
    ];
    if size + 28 > 1500 {
        // Fragmented both ways: each side sent first fragments (MF set).
        filters.push(format!("ip.flags.mf == 1 && ip.src == {KERNEL}"));
        filters.push(format!("ip.flags.mf == 1 && ip.src == {OURS}"));
    }
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    assert_clean_pcap(&s.pcap, &filters);
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
    assert_clean_pcap(
        &s.pcap,
        &[&format!("arp.opcode == 2 && arp.src.proto_ipv4 == {OURS}")],
    );
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
    assert_clean_pcap(&s.pcap, &["icmp.type == 0"]);
}

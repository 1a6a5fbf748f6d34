//! TCP with the Linux kernel as the peer, over a TAP device (issue 4):
//! bulk transfers both ways with SHA-256 checks, many sequential and
//! concurrent connections, and the same bulk transfer through sockstack's
//! impairment wrapper.
//!
//! Each test makes its own namespace (`common::netns`): the kernel at
//! 198.18.0.1/24 on the TAP device, sockstack (`serve` or `nc`) attached
//! as 198.18.0.2/24. The kernel's side is a Python script
//! (`common/kernel_peer.py`). Root, iproute2 and python3 are needed;
//! without them each test prints `SKIP: <test>: <reason>` and passes.
//! Throughput is printed (`THROUGHPUT: ...`), never asserted.

#[allow(dead_code)]
mod common;

use std::io::Write;
use std::time::Duration;

use common::netns::unavailable;
use common::skip;
use common::tcp::{
    field, kernel, kernel_server, lab, num, run_nc, Input, Served, KERNEL, OURS, OURS_CIDR, TAP,
};

const MIB: u64 = 1 << 20;
/// Limits against hangs, not timings: a healthy run takes seconds.
const BULK_LIMIT: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn report(what: &str, bytes: u64, secs: f64) {
    let mbps = bytes as f64 * 8.0 / secs.max(1e-9) / 1e6;
    let _ = writeln!(
        std::io::stderr(),
        "THROUGHPUT: {what}: {} MiB in {secs:.2} s = {mbps:.0} Mbit/s",
        bytes / MIB
    );
}

/// The kernel sends 100 MiB to `sockstack serve --echo` and reads the echo
/// back at the same time; what comes back is what went out.
#[test]
fn kernel_client_echo_100mib() {
    let test = "kernel_client_echo_100mib";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--echo", "7"]);
    let n = (100 * MIB).to_string();
    let out = kernel(&ns, "echo", &[OURS, "7", &n, "1"], BULK_LIMIT);
    s.stop();
    assert_eq!(
        field(&out, "recv_len").as_deref(),
        Some(n.as_str()),
        "{out}"
    );
    assert_eq!(field(&out, "sent_sha"), field(&out, "recv_sha"), "{out}");
    assert_eq!(field(&out, "send_error"), None, "{out}");
    report(
        "kernel -> sockstack echo -> kernel over TAP (each way at once)",
        100 * MIB,
        num(&out, "secs"),
    );
    // The same through the kernel's own loopback, for scale.
    let reference = kernel_loopback_echo(&ns, 100 * MIB);
    report(
        "kernel <-> kernel on loopback (reference)",
        100 * MIB,
        reference,
    );
}

/// Seconds for the kernel to move `n` bytes each way through its own
/// loopback in the same namespace (the peer script on both ends).
fn kernel_loopback_echo(ns: &common::netns::NetNs, n: u64) -> f64 {
    let n = n.to_string();
    let server = kernel_server(ns, "serve-both-ways", 7070, &[&n, "2"]);
    let client = kernel(ns, "echo", &["127.0.0.1", "7070", &n, "3"], BULK_LIMIT);
    let _ = common::tcp::finish_kernel(server, BULK_LIMIT);
    num(&client, "secs")
}

/// `sockstack nc` to a kernel server: 100 MiB each way at once, stdin to
/// the kernel and the kernel to stdout, both SHA-256 equal.
#[test]
fn sockstack_nc_to_kernel_100mib_each_way() {
    bulk_nc_to_kernel("sockstack_nc_to_kernel_100mib_each_way", None);
}

/// The same through `--impair loss=0.03,reorder=0.10` (both directions of
/// sockstack's link). About a minute: without RACK-TLP every lost
/// retransmission and tail loss waits for a 200 ms RTO (see TCP_BUGS.md).
#[test]
fn sockstack_nc_to_kernel_100mib_impaired() {
    bulk_nc_to_kernel(
        "sockstack_nc_to_kernel_100mib_impaired",
        Some("loss=0.03,reorder=0.10,seed=7"),
    );
}

fn bulk_nc_to_kernel(test: &str, impair: Option<&str>) {
    bulk_nc_to_kernel_sized(test, impair, 100 * MIB);
}

fn bulk_nc_to_kernel_sized(test: &str, impair: Option<&str>, n: u64) {
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let n_s = n.to_string();
    let server = kernel_server(&ns, "serve-both-ways", 5001, &[&n_s, "5"]);
    let pcap = common::tcp::pcap_path(test);
    let pcap_s = pcap.to_str().expect("utf-8 path").to_string();
    let mut args = vec!["--tap", TAP, "--addr", OURS_CIDR];
    if let Some(spec) = impair {
        args.extend(["--impair", spec, "--pcap", &pcap_s]);
    }
    args.extend([KERNEL, "5001"]);
    let run = run_nc(&ns, &args, Input::Bytes { n, seed: 9 }, BULK_LIMIT * 4);
    let out = common::tcp::finish_kernel(server, RUN_LIMIT);
    assert!(
        run.status.is_some_and(|s| s.success()),
        "sockstack nc failed: {run:?}\nkernel: {out}"
    );
    assert_eq!(run.sent_len, n);
    assert_eq!(field(&out, "recv_len"), Some(n_s.clone()), "{out}");
    assert_eq!(field(&out, "recv_sha"), Some(run.sent_sha.clone()), "{out}");
    assert_eq!(run.recv_len, n, "{run:?}");
    assert_eq!(field(&out, "sent_sha"), Some(run.recv_sha.clone()), "{out}");
    let what = match impair {
        Some(spec) => {
            format!("sockstack nc <-> kernel over TAP, impaired {spec} (each way at once)")
        }
        None => "sockstack nc <-> kernel over TAP (each way at once)".to_string(),
    };
    report(&what, n, num(&out, "secs"));
    let _ = std::fs::remove_file(&pcap);
}

/// 200 connections one after another, each echoing 4 KiB.
#[test]
fn kernel_200_sequential_connections() {
    let test = "kernel_200_sequential_connections";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--echo", "7"]);
    let out = kernel(&ns, "sequential", &[OURS, "7", "200", "4096"], RUN_LIMIT);
    s.stop();
    assert_eq!(field(&out, "ok").as_deref(), Some("200"), "{out}");
}

/// 50 connections open at once, each echoing 256 KiB concurrently.
#[test]
fn kernel_50_concurrent_connections() {
    let test = "kernel_50_concurrent_connections";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--echo", "7", "--discard", "9"]);
    let out = kernel(&ns, "concurrent", &[OURS, "7", "50", "262144"], RUN_LIMIT);
    s.stop();
    assert_eq!(field(&out, "ok").as_deref(), Some("50"), "{out}");
}

/// SIGTERM with a connection open: `serve` closes it (the kernel reads
/// EOF, no reset) and exits 0.
#[test]
fn serve_sigterm_closes_open_connections() {
    let test = "serve_sigterm_closes_open_connections";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--echo", "7"]);
    let mut cmd = ns.command("python3");
    cmd.args(["-c", common::tcp::PEER_SCRIPT, "hold-open", OURS, "7"]);
    let mut peer = common::process::Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    // Wait until the kernel's connection is established.
    let deadline = std::time::Instant::now() + RUN_LIMIT;
    while !common::tcp::kernel_sockets(&ns)
        .lines()
        .any(|l| l.starts_with("ESTAB") && l.contains(&format!("{OURS}:7")))
    {
        assert!(peer.is_running(), "the kernel peer exited early");
        assert!(std::time::Instant::now() < deadline, "no connection");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.stop();
    let out = common::tcp::finish_kernel(peer, RUN_LIMIT);
    assert_eq!(field(&out, "eof").as_deref(), Some("true"), "{out}");
}

/// `sockstack nc --listen`: the kernel connects (retrying until sockstack
/// listens) and 4 MiB go each way at once.
#[test]
fn kernel_client_to_nc_listen_both_ways() {
    let test = "kernel_client_to_nc_listen_both_ways";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let n = 4 * MIB;
    let n_s = n.to_string();
    let peer = {
        let mut cmd = ns.command("python3");
        cmd.args([
            "-c",
            common::tcp::PEER_SCRIPT,
            "echo",
            OURS,
            "5009",
            &n_s,
            "8",
        ]);
        common::process::Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"))
    };
    let run = run_nc(
        &ns,
        &["--tap", TAP, "--addr", OURS_CIDR, "--listen", "5009"],
        Input::Bytes { n, seed: 12 },
        RUN_LIMIT,
    );
    let out = common::tcp::finish_kernel(peer, RUN_LIMIT);
    assert!(run.status.is_some_and(|s| s.success()), "{run:?}");
    assert_eq!(run.recv_len, n, "{run:?}");
    assert_eq!(field(&out, "sent_sha"), Some(run.recv_sha.clone()), "{out}");
    assert_eq!(field(&out, "recv_len"), Some(n_s), "{out}");
    assert_eq!(field(&out, "recv_sha"), Some(run.sent_sha.clone()), "{out}");
}

/// One way at a time, for the throughput figures: the kernel sends 100 MiB
/// to `serve --discard`, then `sockstack nc` sends 100 MiB to the kernel.
#[test]
fn one_way_100mib_each_direction() {
    let test = "one_way_100mib_each_direction";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let n = 100 * MIB;
    let n_s = n.to_string();
    {
        let mut s = Served::start(&ns, test, &["--discard", "9"]);
        // The peer's "echo" mode against discard: 100 MiB out, EOF back.
        let out = kernel(&ns, "echo", &[OURS, "9", &n_s, "13"], BULK_LIMIT);
        s.stop();
        assert_eq!(field(&out, "sent_len"), Some(n_s.clone()), "{out}");
        assert_eq!(field(&out, "recv_len").as_deref(), Some("0"), "{out}");
        report(
            "kernel -> sockstack serve --discard over TAP",
            n,
            num(&out, "secs"),
        );
    }
    let server = kernel_server(&ns, "serve-both-ways", 5010, &["0", "14"]);
    let run = run_nc(
        &ns,
        &["--tap", TAP, "--addr", OURS_CIDR, KERNEL, "5010"],
        Input::Bytes { n, seed: 15 },
        BULK_LIMIT,
    );
    let out = common::tcp::finish_kernel(server, RUN_LIMIT);
    assert!(run.status.is_some_and(|s| s.success()), "{run:?}");
    assert_eq!(field(&out, "recv_sha"), Some(run.sent_sha.clone()), "{out}");
    report("sockstack nc -> kernel over TAP", n, num(&out, "secs"));
}

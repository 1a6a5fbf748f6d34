//! TCP endings with the Linux kernel as the peer, over a TAP device (issue
//! 4): connect to a closed port, close with unread data (RST, RFC 2525),
//! half-close in each direction, and TIME_WAIT on the side that closed
//! first. Same lab as `tap_tcp.rs`: the kernel at 198.18.0.1/24 (Python,
//! `common/kernel_peer.py`), sockstack at 198.18.0.2/24; without root the
//! tests print `SKIP: <test>: <reason>` and pass.

#[allow(dead_code)]
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::netns::unavailable;
use common::skip;
use common::tcp::{
    field, finish_child, finish_kernel, kernel, kernel_server, kernel_sockets, lab, run_nc,
    run_nc_simple, spawn_nc, Input, Served, KERNEL, OURS, OURS_CIDR, TAP,
};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn nc_args<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--tap", TAP, "--addr", OURS_CIDR];
    args.extend_from_slice(rest);
    args
}

/// The kernel refuses sockstack (RST to our SYN) and sockstack refuses
/// the kernel: both report ECONNREFUSED.
#[test]
fn closed_port_is_refused_both_ways() {
    let test = "closed_port_is_refused_both_ways";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let out = run_nc_simple(&ns, &nc_args(&[KERNEL, "9"]), Stdio::null(), RUN_LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert_eq!(
        out.stderr.trim(),
        format!("sockstack: connect to {KERNEL}:9: Connection refused (ECONNREFUSED)"),
        "{}",
        out.describe()
    );

    let mut s = Served::start(&ns, test, &["--echo", "7"]);
    let out = kernel(&ns, "connect-ex", &[OURS, "9"], RUN_LIMIT);
    s.stop();
    assert_eq!(
        field(&out, "errno").as_deref(),
        Some("ECONNREFUSED"),
        "{out}"
    );
}

/// The kernel closes with data it has not read: it sends RST (RFC 2525,
/// 2.17) and `sockstack nc` fails with ECONNRESET.
#[test]
fn kernel_close_with_unread_data_resets_sockstack() {
    let test = "kernel_close_with_unread_data_resets_sockstack";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-reset-unread", 5002, &[]);
    // More than the kernel's receive buffer, so sockstack is still
    // sending when the RST arrives.
    let run = run_nc(
        &ns,
        &nc_args(&[KERNEL, "5002"]),
        Input::Bytes {
            n: 64 << 20,
            seed: 3,
        },
        RUN_LIMIT,
    );
    let out = finish_kernel(server, RUN_LIMIT);
    assert_eq!(field(&out, "closed").as_deref(), Some("true"), "{out}");
    assert_eq!(run.status.and_then(|s| s.code()), Some(1), "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        format!("sockstack: connection to {KERNEL}:5002: Connection reset by peer (ECONNRESET)"),
        "{run:?}"
    );
}

/// sockstack closes with data it has not read (its stdout fails, so `nc`
/// stops reading and closes): the kernel's send fails with ECONNRESET.
#[test]
fn sockstack_close_with_unread_data_resets_kernel() {
    let test = "sockstack_close_with_unread_data_resets_kernel";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let nc = spawn_nc(&ns, &nc_args(&["--listen", "5003"]), Stdio::from(full));
    // The kernel retries its connect until sockstack listens.
    let out = kernel(
        &ns,
        "send-until-error",
        &[OURS, "5003", "16777216"],
        RUN_LIMIT,
    );
    let nc_out = finish_child(nc, Duration::from_secs(10));
    assert!(nc_out.status.success(), "{}", nc_out.describe());
    let err = field(&out, "error");
    assert!(
        matches!(err.as_deref(), Some("ECONNRESET" | "EPIPE")),
        "the kernel was not reset: {out}"
    );
}

/// sockstack half-closes (stdin EOF) and still receives: the kernel reads
/// to EOF, then answers with what it got, then closes.
#[test]
fn half_close_by_sockstack() {
    let test = "half_close_by_sockstack";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-reply-after-eof", 5004, &[]);
    let run = run_nc(
        &ns,
        &nc_args(&[KERNEL, "5004"]),
        Input::Bytes {
            n: 1 << 20,
            seed: 4,
        },
        RUN_LIMIT,
    );
    let out = finish_kernel(server, RUN_LIMIT);
    assert!(run.status.is_some_and(|s| s.success()), "{run:?}");
    let reply = String::from_utf8_lossy(&run.head).to_string();
    assert_eq!(reply, format!("{} {}\n", 1 << 20, run.sent_sha), "{out}");
}

/// The kernel half-closes first (after a greeting) and still receives:
/// sockstack sends its data after the kernel's FIN, then closes.
#[test]
fn half_close_by_kernel() {
    let test = "half_close_by_kernel";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-hello-then-sink", 5005, &[]);
    let data = b"sent after the kernel's FIN\n".repeat(1000);
    let run = run_nc(
        &ns,
        &nc_args(&[KERNEL, "5005"]),
        Input::AfterOutput {
            wait_for: 1,
            data: data.clone(),
        },
        RUN_LIMIT,
    );
    let out = finish_kernel(server, RUN_LIMIT);
    assert!(run.status.is_some_and(|s| s.success()), "{run:?}");
    assert_eq!(run.head, b"hello from the kernel\n", "{run:?}");
    assert_eq!(
        field(&out, "recv_len"),
        Some(data.len().to_string()),
        "{out}"
    );
    assert_eq!(field(&out, "recv_sha"), Some(run.sent_sha), "{out}");
}

/// The kernel closes first: `ss -tan` shows its socket in TIME-WAIT, and
/// sockstack ends without one (LAST_ACK, then CLOSE as ss names it).
#[test]
fn time_wait_on_the_kernel_when_it_closes_first() {
    let test = "time_wait_on_the_kernel_when_it_closes_first";
    if let Some(why) = unavailable(&["python3", "ss"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-close-first", 5006, &[]);
    let run = run_nc(
        &ns,
        &nc_args(&["-v", KERNEL, "5006"]),
        // EOF on stdin a second after the kernel's FIN had time to arrive.
        Input::Delayed(Duration::from_secs(1)),
        RUN_LIMIT,
    );
    finish_kernel(server, RUN_LIMIT);
    assert!(run.status.is_some_and(|s| s.success()), "{run:?}");
    assert!(
        run.stderr.contains("closed, TCP state CLOSE\n"),
        "sockstack should not be in TIME_WAIT: {}",
        run.stderr
    );
    let sockets = kernel_sockets(&ns);
    assert!(
        sockets
            .lines()
            .any(|l| l.starts_with("TIME-WAIT") && l.contains(&format!("{KERNEL}:5006"))),
        "no kernel TIME-WAIT for port 5006:\n{sockets}"
    );
}

/// sockstack closes first (stdin EOF, then the kernel's FIN): sockstack
/// reports TIME_WAIT and the kernel has none.
#[test]
fn time_wait_on_sockstack_when_it_closes_first() {
    let test = "time_wait_on_sockstack_when_it_closes_first";
    if let Some(why) = unavailable(&["python3", "ss"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-reply-after-eof", 5007, &[]);
    let run = run_nc(
        &ns,
        &nc_args(&["-v", KERNEL, "5007"]),
        Input::Bytes { n: 100, seed: 5 },
        RUN_LIMIT,
    );
    finish_kernel(server, RUN_LIMIT);
    assert!(run.status.is_some_and(|s| s.success()), "{run:?}");
    assert!(
        run.stderr.contains("closed, TCP state TIME_WAIT"),
        "sockstack should be in TIME_WAIT: {}",
        run.stderr
    );
    let sockets = kernel_sockets(&ns);
    assert!(
        !sockets.lines().any(|l| l.starts_with("TIME-WAIT")),
        "the kernel closed second but shows TIME-WAIT:\n{sockets}"
    );
}

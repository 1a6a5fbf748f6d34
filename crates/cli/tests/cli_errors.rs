//! Bad input ends `sockstack` with one line on stderr and a non-zero exit,
//! never a panic or a backtrace. These need no privileges.

#[allow(dead_code)]
mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{run_within, Finished};

fn sockstack(args: &[&str]) -> Finished {
    run_within(
        Command::new(env!("CARGO_BIN_EXE_sockstack"))
            .args(args)
            .env("RUST_BACKTRACE", "1"),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn assert_one_line_error(args: &[&str], code: i32, needle: &str) {
    let out = sockstack(args);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\n{}",
        out.describe()
    );
    assert_eq!(lines.len(), 1, "{args:?}: not one line\n{}", out.describe());
    assert!(
        lines[0].starts_with("sockstack: "),
        "{args:?}: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(needle),
        "{args:?}: `{}` lacks `{needle}`",
        lines[0]
    );
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("backtrace"));
}

#[test]
fn usage_errors_are_one_line_with_status_2() {
    let tap = ["serve", "--tap", "sstap0"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["serve", "--tap", "sstap0", "--addr", "198.18.0.2/24"];
        v.extend_from_slice(extra);
        v
    };
    assert_one_line_error(&tap, 2, "--addr");
    assert_one_line_error(
        &["serve", "--tap", "a", "--addr", "198.18.0.2"],
        2,
        "PREFIX",
    );
    assert_one_line_error(
        &["serve", "--tap", "a", "--addr", "198.18.0.2/40"],
        2,
        "prefix",
    );
    assert_one_line_error(
        &["serve", "--tap", "a", "--addr", "198.18.0.300/24"],
        2,
        "IPv4",
    );
    assert_one_line_error(&with(&["--mac", "02:00:00:00:00"]), 2, "MAC");
    assert_one_line_error(&with(&["--mtu", "67"]), 2, "68..=65535");
    assert_one_line_error(&with(&["--mtu", "65536"]), 2, "68..=65535");
    assert_one_line_error(&with(&["--impair", "loss=0.1,bogus=1"]), 2, "bogus");
    assert_one_line_error(&with(&["--impair", "loss=1.5"]), 2, "loss");
    assert_one_line_error(&with(&["--gateway", "198.18.1.1"]), 2, "gateway");
    assert_one_line_error(&["serve", "--addr", "198.18.0.2/24"], 2, "--tap");
    assert_one_line_error(&["ping", "198.18.0.1", "-c", "0"], 2, "-c");
    assert_one_line_error(&["ping", "198.18.0.1", "-s", "70000"], 2, "size");
    assert_one_line_error(&["ping", "198.18.0.1", "-i", "-1"], 2, "-i");
    assert_one_line_error(&["ping", "not-an-address"], 2, "IPv4");
    assert_one_line_error(&["ping", "--tap", "sstap0", "198.18.0.1"], 2, "--addr");
    assert_one_line_error(&["frobnicate"], 2, "frobnicate");
    // Off our subnet with no gateway: unreachable before anything is sent.
    assert_one_line_error(&["ping", "198.19.5.1"], 1, "Network is unreachable");
}

#[test]
fn help_and_version_exit_0() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["serve", "--help"],
        &["ping", "--help"],
    ] {
        let out = sockstack(args);
        assert!(out.status.success(), "{args:?}\n{}", out.describe());
        assert!(out.stdout.contains("sockstack") || out.stdout.contains("Usage"));
    }
}

/// Every tool's `--help` ends with examples of its use.
#[test]
fn every_tool_help_has_examples() {
    let top = sockstack(&["--help"]);
    assert!(
        top.stdout.contains("Examples:\n  sockstack demo"),
        "{}",
        top.stdout
    );
    for tool in [
        "demo",
        "serve",
        "ping",
        "nc",
        "netstat",
        "send-file",
        "recv-file",
    ] {
        let out = sockstack(&[tool, "--help"]);
        assert!(out.status.success(), "{tool}\n{}", out.describe());
        let examples = out
            .stdout
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{tool} --help has no examples\n{}", out.stdout));
        assert!(
            examples.contains(&format!("sockstack {tool}")),
            "{tool}: {examples}"
        );
    }
}

/// Without privilege, opening a TAP device fails with one line naming it,
/// for every tool that opens one. As root we drop to `nobody` with
/// setpriv(1) when it is available.
#[test]
fn tap_without_privilege_says_root_or_cap_net_admin() {
    let test = "tap_without_privilege_says_root_or_cap_net_admin";
    let bin = env!("CARGO_BIN_EXE_sockstack");
    let scratch = std::env::temp_dir().join(format!("sockstack-priv-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let file = scratch.join("f.bin");
    let _ = std::fs::write(&file, b"x");
    let (file, out_dir) = (
        file.to_str().unwrap_or("f.bin").to_string(),
        scratch.join("in").to_str().unwrap_or("in").to_string(),
    );
    let tap = ["--tap", "sstap0", "--addr", "198.18.0.2/24"];
    let runs: Vec<Vec<&str>> = vec![
        [&["serve"][..], &tap].concat(),
        [&["nc"][..], &tap, &["198.18.0.1", "9"]].concat(),
        [&["ping"][..], &tap, &["198.18.0.1"]].concat(),
        [
            &["send-file"][..],
            &tap,
            &[file.as_str(), "198.18.0.1", "9"],
        ]
        .concat(),
        [
            &["recv-file"][..],
            &tap,
            &["--listen", "9000", "--out", out_dir.as_str()],
        ]
        .concat(),
    ];
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    for args in runs {
        let mut cmd = if is_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
            c
        } else {
            Command::new(bin)
        };
        cmd.args(&args).env("SOCKSTACK_CONTROL_DIR", &scratch);
        let out = match run_within(&mut cmd, Duration::from_secs(30)) {
            Ok(out) => out,
            Err(e) => return common::skip(test, &e),
        };
        if is_root && out.stderr.contains("setpriv:") {
            return common::skip(test, "setpriv could not drop privileges");
        }
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", out.describe());
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "{args:?}\n{}",
            out.describe()
        );
        assert!(
            out.stderr.contains("needs root or CAP_NET_ADMIN"),
            "{args:?}\n{}",
            out.describe()
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

//! `sockstack send-file` / `recv-file` with `--memory` (both ends in one
//! process, no privileges), and `sockstack netstat --control` watching a
//! transfer while it runs.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{run_within, Finished};

fn tmp(tag: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("files-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sockstack(args: &[&str], control_dir: &Path) -> Finished {
    run_within(
        Command::new(env!("CARGO_BIN_EXE_sockstack"))
            .env("SOCKSTACK_CONTROL_DIR", control_dir)
            .args(args),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Deterministic pseudo-random bytes.
fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn memory_transfer_verifies_and_refuses_to_overwrite() {
    let d = tmp("ok");
    let src = d.join("payload.bin");
    let body = data(3 << 20);
    std::fs::write(&src, &body).unwrap();
    let out = d.join("in");
    let (s, o) = (src.to_str().unwrap(), out.to_str().unwrap());
    let r = sockstack(&["send-file", "--memory", s, "--out", o], &d);
    assert!(r.status.success(), "{}", r.describe());
    assert!(r.stdout.contains("SHA-256 verified"), "{}", r.describe());
    assert_eq!(std::fs::read(out.join("payload.bin")).unwrap(), body);

    let again = sockstack(&["send-file", "--memory", s, "--out", o], &d);
    assert_eq!(again.status.code(), Some(1), "{}", again.describe());
    assert!(
        again.stderr.contains("exists (use --force"),
        "{}",
        again.describe()
    );
    assert_eq!(std::fs::read(out.join("payload.bin")).unwrap(), body);

    let forced = sockstack(&["send-file", "--memory", s, "--out", o, "--force"], &d);
    assert!(forced.status.success(), "{}", forced.describe());
    // Every control socket was removed on exit.
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "sock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let d = tmp("args");
    let r = sockstack(&["send-file", "--memory", "/nonexistent/file"], &d);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.describe());
    let r = sockstack(&["send-file", "x"], &d);
    assert_ne!(r.status.code(), Some(0), "{}", r.describe());
    let r = sockstack(
        &["recv-file", "--memory", "--listen", "9000", "--out", "x"],
        &d,
    );
    assert_eq!(r.status.code(), Some(2), "{}", r.describe());
    let _ = std::fs::remove_dir_all(&d);
}

/// While a slow transfer runs, netstat through its control socket shows
/// the connection ESTABLISHED with bytes queued; the socket is mode 0600.
#[test]
fn netstat_shows_a_running_transfer() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp("netstat");
    let src = d.join("slow.bin");
    std::fs::write(&src, data(4 << 20)).unwrap();
    let out = d.join("in");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockstack"))
        .env("SOCKSTACK_CONTROL_DIR", &d)
        .args([
            "send-file",
            "--memory",
            "--memory-bandwidth",
            "8000000",
            "--name",
            "slowsend",
        ])
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let sock = d.join(format!("{}-slowsend.sock", child.id()));
    let mut seen = None;
    while Instant::now() < deadline && seen.is_none() {
        std::thread::sleep(Duration::from_millis(100));
        if !sock.exists() {
            continue;
        }
        let r = sockstack(&["netstat", "--control", sock.to_str().unwrap()], &d);
        let row = r.stdout.lines().find(|l| {
            let f: Vec<_> = l.split_whitespace().collect();
            f.len() >= 7 && f[5] == "ESTABLISHED" && f[4] == "198.18.0.2:9000" && f[2] != "0"
        });
        if let Some(row) = row {
            // The same stack as JSON and as per-layer counters.
            let j = sockstack(
                &["netstat", "--json", "--control", sock.to_str().unwrap()],
                &d,
            );
            let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("netstat --json");
            assert_eq!(v[0]["name"], "slowsend", "{}", j.stdout);
            assert!(v[0]["sockets"][0]["state"].is_string(), "{}", j.stdout);
            let st = sockstack(&["netstat", "-s", "--control", sock.to_str().unwrap()], &d);
            assert!(
                st.stdout.contains("Tcp:") && st.stdout.contains("active opens"),
                "{}",
                st.stdout
            );
            // `-tom`: the same connection with its timer and buffers (ss -tom).
            let om = sockstack(
                &["netstat", "-tom", "--control", sock.to_str().unwrap()],
                &d,
            );
            let extra = om
                .stdout
                .lines()
                .find(|l| l.contains(" 198.18.0.2:9000 ") && l.contains("ESTABLISHED"));
            if let Some(l) = extra {
                assert!(l.contains(" skmem:(r"), "{}", om.stdout);
                let send_q = l.split_whitespace().nth(2).unwrap_or("0");
                if send_q != "0" {
                    // Bytes in flight: the retransmission (or persist) timer runs.
                    assert!(
                        l.contains(" timer:(on,") || l.contains(" timer:(persist,"),
                        "{}",
                        om.stdout
                    );
                }
            }
            let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
            seen = Some((row.to_string(), mode, r.stdout.clone()));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let (row, mode, table) = seen.expect("never saw the transfer ESTABLISHED with a send queue");
    assert_eq!(mode, 0o600);
    assert!(
        row.ends_with(&format!("{}/slowsend", child.id())),
        "{table}"
    );
    assert!(table.starts_with("Active Internet connections"), "{table}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Without `SOCKSTACK_CONTROL_DIR` the control socket lives in
/// `$XDG_RUNTIME_DIR/sockstack/` (directory 0700, socket 0600), where
/// `sockstack netstat -c` finds it and refreshes every second until
/// SIGINT.
#[test]
fn control_socket_in_xdg_runtime_dir_and_netstat_refreshes() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp("xdg");
    let src = d.join("slow.bin");
    std::fs::write(&src, data(4 << 20)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockstack"))
        .env_remove("SOCKSTACK_CONTROL_DIR")
        .env("XDG_RUNTIME_DIR", &d)
        .args([
            "send-file",
            "--memory",
            "--memory-bandwidth",
            "8000000",
            "--name",
            "xdgsend",
        ])
        .arg(&src)
        .arg("--out")
        .arg(d.join("in"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = d
        .join("sockstack")
        .join(format!("{}-xdgsend.sock", child.id()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut netstat = common::process::Background::spawn(
        Command::new(env!("CARGO_BIN_EXE_sockstack"))
            .env_remove("SOCKSTACK_CONTROL_DIR")
            .env("XDG_RUNTIME_DIR", &d)
            .args(["netstat", "-c"]),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    netstat.signal(libc::SIGINT);
    let status = netstat.wait_within(Duration::from_secs(10));
    let out = netstat.terminate(Duration::ZERO);
    let sock_mode = std::fs::metadata(&sock).map(|m| m.permissions().mode() & 0o777);
    let dir_mode = std::fs::metadata(d.join("sockstack")).map(|m| m.permissions().mode() & 0o777);
    let _ = child.kill();
    let _ = child.wait();
    assert!(sock_mode.is_ok(), "no control socket at {}", sock.display());
    assert_eq!(sock_mode.unwrap(), 0o600);
    assert_eq!(dir_mode.unwrap(), 0o700);
    assert!(
        status.is_some(),
        "netstat -c ignored SIGINT\n{}",
        out.describe()
    );
    let tables = out.stdout.matches("Active Internet connections").count();
    assert!(tables >= 2, "{tables} tables\n{}", out.describe());
    // Every running stack: the sender's and the receiver's.
    assert!(out.stdout.contains("/xdgsend"), "{}", out.describe());
    assert!(out.stdout.contains("/recv-file"), "{}", out.describe());
    let _ = std::fs::remove_dir_all(&d);
}

/// On a terminal (a pty from script(1)) both ends draw an indicatif bar
/// with the rate and the ETA; off a terminal (every other test) it is
/// hidden.
#[test]
fn progress_bar_on_a_terminal_shows_rate_and_eta() {
    let test = "progress_bar_on_a_terminal_shows_rate_and_eta";
    if !common::netns::has_tool("script", &["--version"]) {
        return common::skip(test, "needs script(1) from util-linux");
    }
    let d = tmp("pty");
    let src = d.join("bar.bin");
    std::fs::write(&src, data(3 << 20)).unwrap();
    let line = format!(
        "{} send-file --memory --memory-bandwidth 8000000 {} --out {}",
        env!("CARGO_BIN_EXE_sockstack"),
        src.display(),
        d.join("in").display()
    );
    let r = run_within(
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("SOCKSTACK_CONTROL_DIR", &d),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status.success(), "{}", r.describe());
    let bar = r
        .stdout
        .split(['\r', '\n'])
        .find(|l| l.contains("send bar.bin [") && l.contains("ETA"))
        .unwrap_or_else(|| panic!("no progress bar\n{}", r.stdout));
    assert!(bar.contains("/s ETA"), "{bar}");
    assert!(r.stdout.contains("recv bar.bin ["), "{}", r.stdout);
    assert!(r.stdout.contains("SHA-256 verified"), "{}", r.stdout);
    let _ = std::fs::remove_dir_all(&d);
}

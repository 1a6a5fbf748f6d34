//! `sockstack demo`: its transcript for the default seed is checked in
//! (`tests/expected/demo-seed-1.txt`) and compared byte for byte; a change
//! fails with a line diff. After an intended change, regenerate it with
//! `SOCKSTACK_BLESS=1 cargo test -p sockstack-cli --test demo_snapshot`.
//! The pcap it writes must open in tshark without malformed packets.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::{run_within, Finished};

const EXPECTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/expected/demo-seed-1.txt"
);

fn sockstack(args: &[&str]) -> Finished {
    let out = run_within(
        Command::new(env!("CARGO_BIN_EXE_sockstack")).args(args),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{args:?}\n{}", out.describe());
    out
}

/// Lines that differ, marked `-` (expected) and `+` (actual), with the
/// line number; a plain positional diff is enough for a transcript.
fn line_diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i), a.get(i));
        if x != y {
            if let Some(x) = x {
                out.push_str(&format!("{:>4} - {x}\n", i + 1));
            }
            if let Some(y) = y {
                out.push_str(&format!("{:>4} + {y}\n", i + 1));
            }
        }
    }
    out
}

#[test]
fn demo_transcript_matches_the_checked_in_one() {
    let actual = sockstack(&["demo"]).stdout;
    if std::env::var_os("SOCKSTACK_BLESS").is_some() {
        std::fs::write(EXPECTED, &actual).expect("write expected transcript");
        return;
    }
    let expected = std::fs::read_to_string(EXPECTED).expect("expected transcript");
    assert!(
        actual == expected,
        "the demo's output changed (SOCKSTACK_BLESS=1 to accept):\n{}",
        line_diff(&expected, &actual)
    );
    // The seed is the only input.
    assert_eq!(actual, sockstack(&["demo", "--seed", "1"]).stdout);
    assert_ne!(actual, sockstack(&["demo", "--seed", "2"]).stdout);
}

#[test]
fn demo_tells_the_whole_story() {
    let text = sockstack(&["demo", "--seed", "9"]).stdout;
    for needle in [
        "[server] tcp 0.0.0.0:8080: ",
        "new socket, SYN_SENT",
        "Flags [S],",
        "Flags [S.],",
        "new socket, SYN_RECV",
        "SYN_RECV -> ESTABLISHED",
        "= 10: \"helloworld\"",
        "read_frame(afd) = \"hello\"",
        "read_frame(afd) = \"world\"",
        "ESTABLISHED -> FIN_WAIT1",
        "FIN_WAIT1 -> FIN_WAIT2",
        "ESTABLISHED -> CLOSE_WAIT",
        "CLOSE_WAIT -> LAST_ACK",
        "FIN_WAIT2 -> TIME_WAIT",
        "<-- lost on the wire",
        "LAST_ACK -> CLOSED",
        "TIME_WAIT -> CLOSED",
        "TIME_WAIT ended 60.000 s after",
        "from client 1\" from 198.18.0.1:",
        "from client 2\" from 198.18.0.1:",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    // netstat shows the listener and the accepted socket on one port.
    assert!(text.contains("0.0.0.0:8080            0.0.0.0:*               LISTEN      -/server"));
    assert!(text.contains("ESTABLISHED -/server"));
    // The server retransmitted its FIN exactly once.
    assert!(
        text.contains("server: 0 active opens, 1 passive opens"),
        "{text}"
    );
    assert!(text.contains(", 1 retransmitted"), "{text}");
}

#[test]
fn demo_pcap_is_a_clean_capture() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("demo-snap-{}.pcap", std::process::id()));
    let file = path.to_str().expect("utf-8 path");
    sockstack(&["demo", "--seed", "2", "--pcap", file]);
    let bytes = std::fs::read(&path).expect("pcap written");
    // Classic pcap, native byte order, link type Ethernet.
    assert_eq!(bytes[..4], 0xa1b2_c3d4u32.to_ne_bytes());
    assert_eq!(bytes[20..24], 1u32.to_ne_bytes());
    assert!(bytes.len() > 24 + 16, "no records");
    if common::netns::has_tool("tshark", &["--version"]) {
        let out = run_within(
            Command::new("tshark").args(["-n", "-r", file, "-Y", "_ws.malformed || tcp.analysis.flags && !tcp.analysis.retransmission && !tcp.analysis.keep_alive && !tcp.analysis.window_update && !tcp.analysis.duplicate_ack"]),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stderr = out.stderr.to_lowercase();
        assert!(
            out.status.success()
                && out.stdout.trim().is_empty()
                && !stderr.contains("warning")
                && !stderr.contains("cut short"),
            "{}",
            out.describe()
        );
        let all = run_within(
            Command::new("tshark").args(["-n", "-r", file]),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(all.stdout.contains("[SYN]"), "{}", all.stdout);
        assert!(
            all.stdout.contains("ECHO") || all.stdout.contains("UDP"),
            "{}",
            all.stdout
        );
    } else {
        common::skip("demo_pcap_is_a_clean_capture (tshark part)", "needs tshark");
    }
    let _ = std::fs::remove_file(&path);
}

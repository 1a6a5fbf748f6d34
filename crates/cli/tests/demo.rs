//! `sockstack demo` and `sockstack ping --memory`: in-memory hosts in
//! virtual time, so no privileges are needed and every run with one seed
//! prints the same bytes.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::{run_within, Finished};

fn sockstack(args: &[&str]) -> Finished {
    let out = run_within(
        Command::new(env!("CARGO_BIN_EXE_sockstack")).args(args),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{args:?}\n{}", out.describe());
    out
}

#[test]
fn demo_replays_from_its_seed() {
    let one = sockstack(&["demo", "--seed", "5"]);
    let two = sockstack(&["demo", "--seed", "5"]);
    assert_eq!(one.stdout, two.stdout);
    let text = &one.stdout;
    assert!(
        text.contains("ARP, Request who-has 198.18.0.2 tell 198.18.0.1"),
        "{text}"
    );
    assert!(
        text.contains("PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data."),
        "{text}"
    );
    assert!(text.contains("bytes from 198.18.0.2: icmp_seq="), "{text}");
    assert!(text.contains("10 packets transmitted, "), "{text}");
    let other = sockstack(&["demo", "--seed", "6"]);
    assert_ne!(
        one.stdout, other.stdout,
        "seeds 5 and 6 told the same story"
    );
}

#[test]
fn demo_pcap_is_a_clean_capture() {
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-{}.pcap", std::process::id()));
    let file = path.to_str().expect("utf-8 path");
    sockstack(&["demo", "--seed", "2", "--pcap", file]);
    let bytes = std::fs::read(&path).expect("pcap written");
    // Classic pcap, native byte order, link type Ethernet.
    assert_eq!(bytes[..4], 0xa1b2_c3d4u32.to_ne_bytes());
    assert_eq!(bytes[20..24], 1u32.to_ne_bytes());
    assert!(bytes.len() > 24 + 16, "no records");
    if common::netns::has_tool("tshark", &["--version"]) {
        let out = run_within(
            Command::new("tshark").args(["-n", "-r", file, "-Y", "_ws.malformed"]),
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
    } else {
        common::skip("demo_pcap_is_a_clean_capture (tshark part)", "needs tshark");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn memory_ping_is_lossless_and_deterministic() {
    let args = [
        "ping",
        "--memory",
        "-c",
        "20",
        "-i",
        "0.2",
        "-s",
        "4000",
        "198.18.0.2",
    ];
    let one = sockstack(&args);
    assert!(
        one.stdout
            .contains("20 packets transmitted, 20 received, 0% packet loss"),
        "{}",
        one.describe()
    );
    assert!(one
        .stdout
        .contains("4008 bytes from 198.18.0.2: icmp_seq=20 ttl=64"));
    assert_eq!(one.stdout, sockstack(&args).stdout);
}

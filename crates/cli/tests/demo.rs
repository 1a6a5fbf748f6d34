//! `sockstack ping --memory`: in-memory hosts in virtual time, so no
//! privileges are needed and every run with one seed prints the same bytes.
//! (`sockstack demo` is tested in `demo_snapshot.rs`.)

#[allow(dead_code)]
mod common;

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

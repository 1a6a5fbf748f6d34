//! `sockstack send-file` / `recv-file` over real TAP devices (issue 6).
//!
//! * Two sockstack hosts, each on its own TAP device, the two devices
//!   enslaved to a Linux bridge inside a test namespace: the whole device
//!   path (our frames through the kernel's bridge) on both ends of our own
//!   protocol: 256 MiB, with the wall time and rate printed.
//! * The kernel's TCP on the other end, speaking the same protocol from
//!   Python: a kernel receiver for `send-file`, a kernel sender for
//!   `recv-file`.
//!
//! The files are seeded pseudo-random bytes and every transfer is checked
//! by SHA-256. Without root, iproute2 or python3 the tests print
//! `SKIP: <test>: <reason>` and pass.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{unavailable, NetNs};
use common::process::{run_within, Background, Finished};
use common::tcp::{lab, sockstack, wait_listening, Gen, KERNEL, OURS, OURS_CIDR, TAP};
use common::{skip, Scratch};
use sha2::{Digest, Sha256};

const PORT: u16 = 9000;
const ATTACH_LIMIT: Duration = Duration::from_secs(10);

/// The kernel's end of the file protocol (see `recv_file.rs`), in Python.
const FILE_PEER: &str = r#"
import hashlib, json, os, socket, struct, sys

def recv_exact(c, n):
    b = bytearray()
    while len(b) < n:
        d = c.recv(min(1 << 20, n - len(b)))
        if not d:
            break
        b += d
    return bytes(b)

def read_line(c):
    b = b""
    while not b.endswith(b"\n") and len(b) < 512:
        d = c.recv(1)
        if not d:
            break
        b += d
    return b.decode().strip()

mode = sys.argv[1]
if mode == "receive":  # ADDR PORT: accept one file, hash it, answer OK
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3])))
    s.listen(1)
    s.settimeout(60)
    c, peer = s.accept()
    c.settimeout(60)
    (hlen,) = struct.unpack(">I", recv_exact(c, 4))
    h = recv_exact(c, hlen)
    (nlen,) = struct.unpack(">H", h[:2])
    name = h[2:2 + nlen].decode()
    (size,) = struct.unpack(">Q", h[2 + nlen:10 + nlen])
    want = h[10 + nlen:42 + nlen].hex()
    c.sendall(b"GO\n")
    got, n = hashlib.sha256(), 0
    while n < size:
        d = c.recv(min(1 << 20, size - n))
        if not d:
            break
        got.update(d)
        n += len(d)
    ok = n == size and got.hexdigest() == want
    c.sendall(b"OK\n" if ok else b"ERR mismatch\n")
    c.close()
    print(json.dumps({"name": name, "size": size, "recv_len": n, "sha": got.hexdigest(), "ok": ok}))
elif mode == "send":  # HOST PORT FILE: send one file, print the verdict
    path = sys.argv[4]
    data = open(path, "rb").read()
    name = os.path.basename(path).encode()
    body = struct.pack(">H", len(name)) + name + struct.pack(">Q", len(data)) + hashlib.sha256(data).digest()
    c = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=60)
    c.sendall(struct.pack(">I", len(body)) + body)
    go = read_line(c)
    if go == "GO":
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
    verdict = read_line(c)
    c.close()
    print(json.dumps({"go": go, "verdict": verdict}))
"#;

/// Write `size` seeded bytes to `path`; returns their SHA-256 (hex).
fn seeded_file(path: &Path, size: usize, seed: u64) -> String {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut g = Gen::new(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len());
        g.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
    common::tcp::hex(&h.finalize())
}

fn sha256_file(path: &Path) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    common::tcp::hex(&h.finalize())
}

/// `sockstack recv-file` in the namespace, up and listening on `PORT`
/// (seen through its control socket in `ctl`).
fn start_receiver(ns: &NetNs, tap: &str, addr: &str, out: &Path, ctl: &Path) -> Background {
    let mut cmd = ns.command(sockstack());
    cmd.args(["recv-file", "--tap", tap, "--addr", addr, "--listen"])
        .arg(PORT.to_string())
        .arg("--out")
        .arg(out)
        .args(["--name", "rx"])
        .env("SOCKSTACK_CONTROL_DIR", ctl);
    let mut rx = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = ns.wait_until_attached(tap, ATTACH_LIMIT, &mut rx) {
        let out = rx.terminate(Duration::ZERO);
        panic!("{e}\n{}", out.describe());
    }
    let deadline = Instant::now() + ATTACH_LIMIT;
    loop {
        let r = run_within(
            Command::new(sockstack())
                .args(["netstat", "-lt"])
                .env("SOCKSTACK_CONTROL_DIR", ctl),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        if r.stdout.contains(&format!("0.0.0.0:{PORT}")) && r.stdout.contains("LISTEN") {
            return rx;
        }
        assert!(rx.is_running(), "recv-file exited before listening");
        assert!(Instant::now() < deadline, "recv-file never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sockstack send-file ... FILE DEST PORT` in the namespace.
fn send_file_cmd(
    ns: &NetNs,
    tap: &str,
    addr: &str,
    file: &Path,
    dest: &str,
    ctl: &Path,
) -> Command {
    let mut cmd = ns.command(sockstack());
    cmd.args(["send-file", "--tap", tap, "--addr", addr])
        .arg(file)
        .args([dest, &PORT.to_string()])
        .env("SOCKSTACK_CONTROL_DIR", ctl);
    cmd
}

/// `sockstack send-file` in the namespace, to completion.
fn send_file(ns: &NetNs, tap: &str, addr: &str, file: &Path, dest: &str, ctl: &Path) -> Finished {
    let mut cmd = send_file_cmd(ns, tap, addr, file, dest, ctl);
    run_within(&mut cmd, Duration::from_secs(300)).unwrap_or_else(|e| panic!("{e}"))
}

/// The stacks `sockstack netstat --json` finds in `ctl`: for each
/// ESTABLISHED row with bytes queued, the program name.
fn busy_programs(ctl: &Path) -> Vec<String> {
    let Ok(r) = run_within(
        Command::new(sockstack())
            .args(["netstat", "--json", "-t"])
            .env("SOCKSTACK_CONTROL_DIR", ctl),
        Duration::from_secs(10),
    ) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.stdout) else {
        return Vec::new();
    };
    let rows = v.as_array().into_iter().flatten();
    rows.flat_map(|s| s["sockets"].as_array().cloned().unwrap_or_default())
        .filter(|r| {
            r["state"] == "ESTABLISHED"
                && (r["recv_q"].as_u64() > Some(0) || r["send_q"].as_u64() > Some(0))
        })
        .filter_map(|r| r["program"].as_str().map(str::to_string))
        .collect()
}

/// Two TAP devices on one bridge: sockstack at .2 sends to sockstack at .3.
fn bridged_transfer(test: &str, size: usize, seed: u64) {
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapfiles", test);
    let dir = scratch.path();
    let (ctl, out) = (dir.join("ctl"), dir.join("in"));
    std::fs::create_dir_all(&ctl).unwrap();
    let src = dir.join("payload.bin");
    let want = seeded_file(&src, size, seed);

    let ns = NetNs::new();
    ns.ip(&[
        "link",
        "add",
        "ssbr0",
        "type",
        "bridge",
        "forward_delay",
        "0",
    ]);
    for tap in ["sstapa", "sstapb"] {
        ns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]);
        ns.ip(&["link", "set", tap, "master", "ssbr0"]);
        ns.ip(&["link", "set", tap, "up"]);
    }
    ns.ip(&["link", "set", "ssbr0", "up"]);

    let rx = start_receiver(&ns, "sstapb", "198.18.0.3/24", &out, &ctl);
    let started = Instant::now();
    let mut cmd = send_file_cmd(&ns, "sstapa", OURS_CIDR, &src, "198.18.0.3", &ctl);
    cmd.args(["--name", "tx"]);
    let mut tx = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    // While it runs, netstat shows the connection ESTABLISHED with bytes
    // queued on the sending or the receiving stack.
    let mut busy = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while tx.is_running() && Instant::now() < deadline {
        busy.extend(busy_programs(&ctl));
        std::thread::sleep(Duration::from_millis(100));
    }
    let finished = tx.wait_within(deadline.saturating_duration_since(Instant::now()));
    let secs = started.elapsed().as_secs_f64();
    let sent = tx.terminate(Duration::ZERO);
    assert!(finished.is_some(), "send-file hung\n{}", sent.describe());
    let mut rx = rx;
    let done = rx.wait_within(Duration::from_secs(20));
    let got = rx.terminate(Duration::ZERO);
    assert!(sent.status.success(), "send-file\n{}", sent.describe());
    assert!(
        done.is_some_and(|s| s.success()),
        "recv-file\n{}",
        got.describe()
    );
    assert!(
        got.stdout.contains("SHA-256 verified"),
        "{}",
        got.describe()
    );
    assert_eq!(sha256_file(&out.join("payload.bin")), want);
    assert!(
        !busy.is_empty(),
        "netstat never showed the transfer with bytes queued"
    );
    let mib = size as f64 / f64::from(1 << 20);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "{test}: {mib:.0} MiB (seed {seed}) sockstack -> bridge -> sockstack in {secs:.2} s \
             (hashing included), {:.1} MiB/s; netstat saw queues on {busy:?}\n",
            mib / secs
        )
        .as_bytes(),
    );
}

/// The issue's 256 MiB transfer (about 6 s of wall time here).
#[test]
fn send_file_256mib_over_bridged_taps() {
    bridged_transfer("send_file_256mib_over_bridged_taps", 256 << 20, 256);
}

/// A closed port on the kernel: one line naming ECONNREFUSED, status 1.
#[test]
fn send_file_to_a_closed_port_is_refused() {
    let test = "send_file_to_a_closed_port_is_refused";
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapfiles", test);
    let dir = scratch.path();
    let src = dir.join("x.bin");
    std::fs::write(&src, b"x").unwrap();
    let ns = lab();
    let r = send_file(&ns, TAP, OURS_CIDR, &src, KERNEL, &dir);
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(
        r.stderr.trim(),
        format!("sockstack: connect to {KERNEL}:{PORT}: Connection refused (ECONNREFUSED)"),
        "{}",
        r.describe()
    );
}

/// `send-file -w 1` to an address nobody answers: ETIMEDOUT spelled out.
#[test]
fn send_file_connect_timeout_is_etimedout() {
    let test = "send_file_connect_timeout_is_etimedout";
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapfiles", test);
    let dir = scratch.path();
    let src = dir.join("x.bin");
    std::fs::write(&src, b"x").unwrap();
    let ns = lab();
    let mut cmd = send_file_cmd(&ns, TAP, OURS_CIDR, &src, "198.18.0.99", &dir);
    cmd.args(["-w", "1"]);
    let r = run_within(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert_eq!(
        r.stderr.trim(),
        format!("sockstack: connect to 198.18.0.99:{PORT}: Connection timed out (ETIMEDOUT)"),
        "{}",
        r.describe()
    );
}

/// `sockstack send-file` to a kernel receiver speaking the protocol.
#[test]
fn send_file_to_a_kernel_receiver() {
    let test = "send_file_to_a_kernel_receiver";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapfiles", test);
    let dir = scratch.path();
    let src = dir.join("to-kernel.bin");
    let want = seeded_file(&src, 32 << 20, 7);
    let ns = lab();
    let mut cmd = ns.command("python3");
    cmd.args(["-c", FILE_PEER, "receive", KERNEL, &PORT.to_string()]);
    let mut peer = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    wait_listening(&ns, PORT, &mut peer);
    let sent = send_file(&ns, TAP, OURS_CIDR, &src, KERNEL, &dir);
    let status = peer.wait_within(Duration::from_secs(30));
    let got = peer.terminate(Duration::ZERO);
    assert!(sent.status.success(), "{}", sent.describe());
    assert!(sent.stdout.contains(&want), "{}", sent.describe());
    assert!(status.is_some_and(|s| s.success()), "{}", got.describe());
    let line = got.stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).expect("peer JSON");
    assert_eq!(v["ok"], true, "{line}");
    assert_eq!(v["sha"], want.as_str(), "{line}");
    assert_eq!(v["name"], "to-kernel.bin", "{line}");
}

/// A kernel sender speaking the protocol to `sockstack recv-file`.
#[test]
fn recv_file_from_a_kernel_sender() {
    let test = "recv_file_from_a_kernel_sender";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapfiles", test);
    let dir = scratch.path();
    let (ctl, out) = (dir.join("ctl"), dir.join("in"));
    std::fs::create_dir_all(&ctl).unwrap();
    let src = dir.join("from-kernel.bin");
    let want = seeded_file(&src, 32 << 20, 8);
    let ns = lab();
    let mut rx = start_receiver(&ns, TAP, OURS_CIDR, &out, &ctl);
    let sent = ns.run(
        "python3",
        &[
            "-c",
            FILE_PEER,
            "send",
            OURS,
            &PORT.to_string(),
            src.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    let status = rx.wait_within(Duration::from_secs(20));
    let got = rx.terminate(Duration::ZERO);
    assert!(sent.status.success(), "{}", sent.describe());
    assert!(
        sent.stdout.contains(r#""go": "GO", "verdict": "OK""#),
        "{}",
        sent.describe()
    );
    assert!(status.is_some_and(|s| s.success()), "{}", got.describe());
    assert_eq!(sha256_file(&out.join("from-kernel.bin")), want);
}

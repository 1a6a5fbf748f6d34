//! TCP interop helpers: a namespace with a TAP device (the kernel at
//! 198.18.0.1/24, sockstack at 198.18.0.2/24), the kernel's side as a
//! Python script (`kernel_peer.py`), `sockstack serve` in the background,
//! and `sockstack nc` with its stdin fed and its stdout hashed by threads.
//! Every wait is bounded; children are killed by PID on drop.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::netns::NetNs;
use super::process::{run_within, Background, Finished};

pub const TAP: &str = "sstap0";
pub const KERNEL: &str = "198.18.0.1";
pub const KERNEL_CIDR: &str = "198.18.0.1/24";
pub const OURS: &str = "198.18.0.2";
pub const OURS_CIDR: &str = "198.18.0.2/24";

/// The kernel's side of every test.
pub const PEER_SCRIPT: &str = include_str!("kernel_peer.py");

const ATTACH_LIMIT: Duration = Duration::from_secs(10);
const STOP_LIMIT: Duration = Duration::from_secs(10);

pub fn sockstack() -> &'static str {
    env!("CARGO_BIN_EXE_sockstack")
}

/// A capture file for `test` in cargo's scratch directory.
pub fn pcap_path(test: &str) -> PathBuf {
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}.pcap", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A namespace holding the TAP device with the kernel's address.
pub fn lab() -> NetNs {
    let ns = NetNs::new();
    ns.add_tap(TAP, KERNEL_CIDR);
    ns
}

/// Run the kernel peer in `mode` to completion and return its JSON line.
pub fn kernel(ns: &NetNs, mode: &str, args: &[&str], limit: Duration) -> String {
    let mut full = vec!["-c", PEER_SCRIPT, mode];
    full.extend_from_slice(args);
    let out = ns.run("python3", &full, limit);
    result_line(&out)
}

/// Start the kernel peer in a server `mode` on `port` and wait until the
/// kernel listens there.
pub fn kernel_server(ns: &NetNs, mode: &str, port: u16, args: &[&str]) -> Background {
    let port_s = port.to_string();
    let mut cmd = ns.command("python3");
    cmd.args(["-c", PEER_SCRIPT, mode, &port_s]).args(args);
    let mut bg = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    wait_listening(ns, port, &mut bg);
    bg
}

/// The JSON result a finished peer printed (its last stdout line).
pub fn finish_kernel(bg: Background, limit: Duration) -> String {
    let mut bg = bg;
    let status = bg.wait_within(limit);
    let out = bg.terminate(Duration::ZERO);
    assert!(status.is_some(), "the kernel peer hung\n{}", out.describe());
    result_line(&out)
}

fn result_line(out: &Finished) -> String {
    assert!(
        out.status.success(),
        "the kernel peer failed\n{}",
        out.describe()
    );
    out.stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON from the kernel peer\n{}", out.describe()))
        .to_string()
}

/// The value of `key` in a flat JSON object (strings without quotes).
pub fn field(json: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\": ");
    let at = json.find(&pat)? + pat.len();
    let rest = json.get(at..)?;
    let value = if let Some(s) = rest.strip_prefix('"') {
        s.split('"').next()?
    } else {
        rest.split([',', '}']).next()?.trim()
    };
    Some(value.to_string())
}

pub fn num(json: &str, key: &str) -> f64 {
    field(json, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {json}"))
}

/// Wait until something listens on `port` in the namespace.
pub fn wait_listening(ns: &NetNs, port: u16, child: &mut Background) {
    let deadline = Instant::now() + ATTACH_LIMIT;
    let filter = format!("sport = :{port}");
    loop {
        let out = ns.run("ss", &["-Htln", &filter], Duration::from_secs(10));
        if out.stdout.contains("LISTEN") {
            return;
        }
        assert!(
            child.is_running(),
            "the kernel peer exited before listening"
        );
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Wait up to `limit` until the TAP device `ifname` has carrier and is up
/// (something attached to it and the kernel started transmitting).
pub fn wait_carrier(ns: &NetNs, ifname: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let out = run_within(
            Command::new("ip").args(["-n", ns.name(), "-o", "link", "show", "dev", ifname]),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        if out.stdout.contains("LOWER_UP") && out.stdout.contains("state UP") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ifname} never came up: {}",
            out.stdout
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// `ss -tan` inside the namespace.
pub fn kernel_sockets(ns: &NetNs) -> String {
    ns.run("ss", &["-Htan"], Duration::from_secs(10)).stdout
}

/// `sockstack serve` on the lab's TAP; killed (SIGTERM) before the
/// namespace goes, fields dropping in order.
pub struct Served {
    pub server: Option<Background>,
    pub pcap: PathBuf,
}

impl Served {
    pub fn start(ns: &NetNs, test: &str, extra: &[&str]) -> Served {
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
            pcap,
        }
    }

    /// SIGTERM and require a clean exit with status 0.
    pub fn stop(&mut self) -> Finished {
        let server = self.server.take().expect("server already stopped");
        let out = server.terminate(STOP_LIMIT);
        assert!(
            out.status.success(),
            "sockstack serve did not exit 0 after SIGTERM\n{}",
            out.describe()
        );
        out
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_file(&self.pcap);
        }
    }
}

/// Seeded bytes (xorshift64*), the same for one seed every run.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What one `sockstack nc` run moved.
#[derive(Debug)]
pub struct NcRun {
    pub status: Option<ExitStatus>,
    pub sent_len: u64,
    pub sent_sha: String,
    pub recv_len: u64,
    pub recv_sha: String,
    /// The first bytes of stdout, for small replies.
    pub head: Vec<u8>,
    pub stderr: String,
    pub secs: f64,
}

/// What to feed `sockstack nc` on stdin.
pub enum Input {
    /// `n` seeded bytes, then EOF.
    Bytes { n: u64, seed: u64 },
    /// Nothing until `wait_for` chunks of stdout arrived, then `data`, EOF.
    AfterOutput { wait_for: usize, data: Vec<u8> },
    /// Nothing for this long, then EOF.
    Delayed(Duration),
}

/// Run `sockstack nc ARGS` in the namespace with `input` on stdin; hash
/// stdout. Killed (by PID) after `limit`.
pub fn run_nc(ns: &NetNs, args: &[&str], input: Input, limit: Duration) -> NcRun {
    let mut cmd = ns.command(sockstack());
    cmd.arg("nc").args(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sockstack nc: {e}"));
    let started = Instant::now();
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let mut h = Sha256::new();
        let mut head = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    if head.len() < 4096 {
                        head.extend_from_slice(&buf[..n.min(4096 - head.len())]);
                    }
                    total += n as u64;
                    let _ = seen_tx.send(());
                }
            }
        }
        (total, hex(&h.finalize()), head)
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let writer = thread::spawn(move || {
        let mut h = Sha256::new();
        let mut sent = 0u64;
        match input {
            Input::Bytes { n, seed } => {
                let mut g = Gen::new(seed);
                let mut buf = vec![0u8; 1 << 16];
                while sent < n {
                    let len = (n - sent).min(buf.len() as u64) as usize;
                    g.fill(&mut buf[..len]);
                    if stdin.write_all(&buf[..len]).is_err() {
                        break;
                    }
                    h.update(&buf[..len]);
                    sent += len as u64;
                }
            }
            Input::Delayed(d) => thread::sleep(d),
            Input::AfterOutput { wait_for, data } => {
                let mut seen = 0;
                while seen < wait_for {
                    if seen_rx.recv_timeout(Duration::from_secs(30)).is_err() {
                        break;
                    }
                    seen += 1;
                }
                if stdin.write_all(&data).is_ok() {
                    h.update(&data);
                    sent = data.len() as u64;
                }
            }
        }
        drop(stdin);
        (sent, hex(&h.finalize()))
    });
    let status = wait_child(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let secs = started.elapsed().as_secs_f64();
    let (recv_len, recv_sha, head) = reader.join().expect("stdout reader");
    let (sent_len, sent_sha) = writer.join().expect("stdin writer");
    let stderr = err_reader.join().unwrap_or_default();
    NcRun {
        status,
        sent_len,
        sent_sha,
        recv_len,
        recv_sha,
        head,
        stderr,
        secs,
    }
}

/// Start `sockstack nc ARGS` with stdin from /dev/null, `stdout` as given
/// and stderr piped; reap it with [`finish_child`].
pub fn spawn_nc(ns: &NetNs, args: &[&str], stdout: Stdio) -> Child {
    let mut cmd = ns.command(sockstack());
    cmd.arg("nc").args(args);
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sockstack nc: {e}"))
}

/// Wait up to `limit` for `child` (SIGKILL by PID after that) and collect
/// its stderr.
pub fn finish_child(mut child: Child, limit: Duration) -> Finished {
    let status = wait_child(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        child.wait().expect("wait")
    });
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Finished {
        status,
        stdout: String::new(),
        stderr,
    }
}

/// Run `sockstack nc ARGS` with stdin from /dev/null and stdout to `out`.
pub fn run_nc_simple(ns: &NetNs, args: &[&str], stdout: Stdio, limit: Duration) -> Finished {
    finish_child(spawn_nc(ns, args, stdout), limit)
}

fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Run tshark over a capture and return its stdout.
pub fn tshark(args: &[&str]) -> Finished {
    run_within(Command::new("tshark").args(args), Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"))
}

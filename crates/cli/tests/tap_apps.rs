//! The `sockstack` tools against the kernel's own applications, over a TAP
//! device in a test namespace (issue 6; lab from `common::tcp`: the kernel
//! at 198.18.0.1/24, sockstack at 198.18.0.2/24):
//!
//! * `python3 -m http.server` serves a 10 MiB file to `sockstack nc`
//!   (a GET request on stdin); the body's SHA-256 equals the file's.
//! * The kernel's UDP clients (`socat`, a Python socket client) against
//!   `sockstack serve --udp-echo`: every datagram comes back unchanged.
//! * `wrk -c 50 -t 2 -d 5s` against `serve --http` and against
//!   `python3 -m http.server` on the same file: both print requests/s
//!   (not asserted) and sockstack has no socket errors.
//! * `sockstack nc` appears in `sockstack netstat` (name and PID) while
//!   its connection is open; `nc -w` spells out ETIMEDOUT.
//!
//! Without root or a tool the tests print `SKIP: <test>: <reason>` and pass.

#[allow(dead_code)]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{unavailable, NetNs};
use common::process::{run_within, Background, Finished};
use common::tcp::{lab, sockstack, wait_listening, Gen, Served, KERNEL, OURS, OURS_CIDR, TAP};
use common::{skip, Scratch};
use sha2::{Digest, Sha256};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn seeded(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Gen::new(seed).fill(&mut v);
    v
}

/// `python3 -m http.server` on the kernel's address, serving `root`.
fn python_http(ns: &NetNs, port: u16, root: &Path) -> Background {
    let mut cmd = ns.command("python3");
    cmd.args(["-m", "http.server", &port.to_string(), "--bind", KERNEL])
        .arg("--directory")
        .arg(root);
    let mut bg = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    wait_listening(ns, port, &mut bg);
    bg
}

/// Run `sockstack nc ARGS` in the namespace with `input` on stdin (then
/// EOF) and stdout into `out`; killed by PID after `limit`.
fn nc_to_file(ns: &NetNs, args: &[&str], input: &[u8], out: &Path, limit: Duration) -> Finished {
    let mut cmd = ns.command(sockstack());
    cmd.arg("nc").args(args);
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sockstack nc: {e}"));
    let mut child = child;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).unwrap();
    drop(stdin);
    common::tcp::finish_child(child, limit)
}

#[test]
fn python_http_server_serves_sockstack_nc() {
    let test = "python_http_server_serves_sockstack_nc";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapapps", test);
    let dir = scratch.path();
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    let body = seeded(10 << 20, 61);
    std::fs::write(root.join("big.bin"), &body).unwrap();
    let ns = lab();
    let server = python_http(&ns, 8000, &root);
    let out = dir.join("response");
    let started = Instant::now();
    let r = nc_to_file(
        &ns,
        &["--tap", TAP, "--addr", OURS_CIDR, KERNEL, "8000"],
        b"GET /big.bin HTTP/1.0\r\nHost: 198.18.0.1\r\n\r\n",
        &out,
        RUN_LIMIT,
    );
    let secs = started.elapsed().as_secs_f64();
    drop(server);
    assert!(r.status.success(), "{}", r.describe());
    let resp = std::fs::read(&out).unwrap();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    let got = &resp[split + 4..];
    assert_eq!(got.len(), body.len(), "{head}");
    assert_eq!(Sha256::digest(got), Sha256::digest(&body));
    say(&format!(
        "{test}: 10 MiB from python3 -m http.server to sockstack nc in {secs:.2} s"
    ));
}

/// The kernel's UDP clients against `serve --udp-echo 7`.
#[test]
fn kernel_udp_clients_against_udp_echo() {
    let test = "kernel_udp_clients_against_udp_echo";
    if let Some(why) = unavailable(&["python3", "socat"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--udp-echo", "7"]);
    // socat: one datagram per run, the reply on stdout.
    for i in 0..5 {
        let msg = format!("socat datagram {i}\n");
        let r = ns.run(
            "sh",
            &[
                "-c",
                &format!("printf '{}' | socat -T 3 - UDP:{OURS}:7", msg.trim_end()),
            ],
            Duration::from_secs(20),
        );
        assert!(r.status.success(), "{}", r.describe());
        assert_eq!(r.stdout, msg.trim_end(), "{}", r.describe());
    }
    // Python: 1,000 datagrams from 4 sockets (4 peers), sizes 1..1472
    // plus a few that IP fragments both ways; each echo compared.
    let script = r#"
import json, random, socket, sys
rnd = random.Random(6)
socks = []
for _ in range(4):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((sys.argv[1], 7))
    socks.append(s)
ok = retries = 0
for i in range(1000):
    size = 4000 if i % 250 == 0 else rnd.randint(1, 1472)
    data = bytes(rnd.getrandbits(8) for _ in range(size))
    s = socks[i % 4]
    for attempt in range(3):
        s.send(data)
        try:
            back = s.recv(65536)
        except socket.timeout:
            retries += 1
            continue
        if back == data:
            ok += 1
        break
print(json.dumps({"ok": ok, "retries": retries}))
"#;
    let r = ns.run("python3", &["-c", script, OURS], Duration::from_secs(120));
    s.stop();
    assert!(r.status.success(), "{}", r.describe());
    assert!(r.stdout.contains(r#""ok": 1000"#), "{}", r.describe());
    say(&format!("{test}: python {}", r.stdout.trim()));
}

/// What one wrk run printed: requests/s and whether it saw socket errors.
fn wrk(ns: &NetNs, url: &str) -> (String, Finished) {
    let r = ns.run(
        "wrk",
        &["-c", "50", "-t", "2", "-d", "5s", url],
        Duration::from_secs(60),
    );
    let rps = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .unwrap_or("?")
        .trim()
        .to_string();
    (rps, r)
}

/// wrk against `serve --http` and against `python3 -m http.server`, the
/// same 4 KiB file, the same arguments; figures printed, not asserted.
#[test]
fn wrk_sockstack_http_next_to_python_http_server() {
    let test = "wrk_sockstack_http_next_to_python_http_server";
    if let Some(why) = unavailable(&["python3", "wrk"]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapapps", test);
    let dir = scratch.path();
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("page.bin"), seeded(4096, 4)).unwrap();
    let ns = lab();
    let root_s = root.to_str().unwrap();
    let mut s = Served::start(&ns, test, &["--http", "8080", "--root", root_s]);
    let py = python_http(&ns, 8000, &root);
    let (ours, r_ours) = wrk(&ns, &format!("http://{OURS}:8080/page.bin"));
    let (theirs, r_py) = wrk(&ns, &format!("http://{KERNEL}:8000/page.bin"));
    drop(py);
    s.stop();
    say(&format!(
        "{test}: wrk -c 50 -t 2 -d 5s, 4 KiB file: sockstack serve --http {ours} req/s; \
         python3 -m http.server on the kernel {theirs} req/s"
    ));
    for line in r_py.stdout.lines().filter(|l| l.contains("errors")) {
        say(&format!("{test}: python3 -m http.server: {}", line.trim()));
    }
    assert!(r_ours.status.success(), "{}", r_ours.describe());
    assert!(r_py.status.success(), "{}", r_py.describe());
    assert_ne!(ours, "?", "{}", r_ours.describe());
    assert_ne!(theirs, "?", "{}", r_py.describe());
    assert!(
        !r_ours.stdout.contains("Socket errors"),
        "{}",
        r_ours.describe()
    );
    assert!(!r_ours.stdout.contains("Non-2xx"), "{}", r_ours.describe());
}

/// `sockstack nc` registers a control socket: while its connection is
/// open, `sockstack netstat` shows it ESTABLISHED as PID/name.
#[test]
fn nc_connection_shows_in_netstat() {
    let test = "nc_connection_shows_in_netstat";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapapps", test);
    let dir = scratch.path();
    let ns = lab();
    let mut peer = common::tcp::kernel_server(&ns, "serve-reply-after-eof", 5005, &[]);
    let mut cmd = ns.command(sockstack());
    cmd.args(["nc", "--tap", TAP, "--addr", OURS_CIDR, "--name", "chat"])
        .args([KERNEL, "5005"])
        .env("SOCKSTACK_CONTROL_DIR", &dir);
    let mut nc = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sockstack nc: {e}"));
    let pid = nc.id();
    let mut stdin = nc.stdin.take().expect("piped stdin");
    let netstat = |args: &[&str]| {
        run_within(
            Command::new(sockstack())
                .arg("netstat")
                .args(args)
                .env("SOCKSTACK_CONTROL_DIR", &dir),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let deadline = Instant::now() + RUN_LIMIT;
    let foreign = format!("{KERNEL}:5005");
    let mut seen = None;
    while seen.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let j = netstat(&["--json", "-p", &pid.to_string()]);
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&j.stdout) else {
            continue;
        };
        let row = v.as_array().into_iter().flatten().find_map(|stack| {
            stack["sockets"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["state"] == "ESTABLISHED" && r["foreign"] == foreign.as_str())
        });
        if let Some(row) = row {
            seen = Some((row.clone(), netstat(&["-t"]).stdout));
        }
    }
    // Let the connection finish: EOF on stdin, the peer answers and closes.
    let _ = stdin.write_all(b"hello\n");
    drop(stdin);
    let done = common::tcp::finish_child(nc, RUN_LIMIT);
    let _ = peer.wait_within(Duration::from_secs(10));
    let (row, table) = seen.expect("nc never showed ESTABLISHED in netstat");
    assert_eq!(row["pid"], pid, "{row}");
    assert_eq!(row["program"], "chat", "{row}");
    assert_eq!(row["proto"], "tcp", "{row}");
    let line = table
        .lines()
        .find(|l| l.contains(&foreign))
        .unwrap_or_else(|| panic!("no row for {foreign}:\n{table}"));
    assert!(line.ends_with(&format!("{pid}/chat")), "{table}");
    assert!(done.status.success(), "{}", done.describe());
    // The control socket is gone once nc exits.
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `nc -w 1` to an address nobody answers: ETIMEDOUT spelled out, status 1.
#[test]
fn nc_connect_timeout_is_etimedout() {
    let test = "nc_connect_timeout_is_etimedout";
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let ns = lab();
    let started = Instant::now();
    let out = common::tcp::run_nc_simple(
        &ns,
        &[
            "--tap",
            TAP,
            "--addr",
            OURS_CIDR,
            "-w",
            "1",
            "198.18.0.99",
            "80",
        ],
        Stdio::null(),
        RUN_LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert_eq!(
        out.stderr.trim(),
        "sockstack: connect to 198.18.0.99:80: Connection timed out (ETIMEDOUT)",
        "{}",
        out.describe()
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// `serve --http` answers the kernel's HEAD (headers, no body) and a
/// malformed request with 400.
#[test]
fn http_head_and_malformed_request_from_the_kernel() {
    let test = "http_head_and_malformed_request_from_the_kernel";
    if let Some(why) = unavailable(&["curl", "socat"]) {
        return skip(test, &why);
    }
    let scratch = Scratch::new("tapapps", test);
    let dir = scratch.path();
    std::fs::write(dir.join("page.bin"), seeded(5000, 5)).unwrap();
    let ns = lab();
    let mut s = Served::start(
        &ns,
        test,
        &["--http", "8080", "--root", dir.to_str().unwrap()],
    );
    let head = ns.run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "20",
            "-I",
            &format!("http://{OURS}:8080/page.bin"),
        ],
        Duration::from_secs(30),
    );
    let bad = ns.run(
        "sh",
        &[
            "-c",
            &format!("printf 'NOT A REQUEST\\r\\n\\r\\n' | socat -T 5 - TCP:{OURS}:8080"),
        ],
        Duration::from_secs(30),
    );
    s.stop();
    assert!(head.status.success(), "{}", head.describe());
    assert!(head.stdout.starts_with("HTTP/1.1 200"), "{}", head.stdout);
    assert!(
        head.stdout
            .to_ascii_lowercase()
            .contains("content-length: 5000"),
        "{}",
        head.stdout
    );
    assert!(bad.stdout.starts_with("HTTP/1.1 400"), "{}", bad.describe());
}

/// `sockstack ping` to an address nobody answers over TAP: iputils'
/// summary with 100% packet loss and status 1.
#[test]
fn ping_to_a_silent_host_reports_loss_and_fails() {
    let test = "ping_to_a_silent_host_reports_loss_and_fails";
    if let Some(why) = unavailable(&[]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut cmd = ns.command(sockstack());
    cmd.args(["ping", "--tap", TAP, "--addr", OURS_CIDR]).args([
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "1",
        "198.18.0.99",
    ]);
    let r = run_within(&mut cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status.code(), Some(1), "{}", r.describe());
    assert!(
        r.stdout
            .contains("2 packets transmitted, 0 received, 100% packet loss"),
        "{}",
        r.describe()
    );
}

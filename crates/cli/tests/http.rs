//! `sockstack serve --http` over a TAP device, with the kernel's `curl` in
//! a test namespace (see `common::netns`): a 10 MiB file arrives with the
//! same SHA-256, keep-alive, 404 and 400; `wrk` (when installed) runs
//! `-c 50 -d 5s` with zero socket errors and its requests/s is printed, not
//! asserted. Needs root, iproute2 and curl; otherwise prints SKIP and passes.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::netns::{unavailable, NetNs};
use common::process::Background;
use common::skip;
use sha2::{Digest, Sha256};

const TAP: &str = "sshttp0";
const KERNEL_CIDR: &str = "198.18.1.1/24";
const OURS_CIDR: &str = "198.18.1.2/24";
const URL: &str = "http://198.18.1.2:8080";

struct Served {
    server: Option<Background>,
    ns: NetNs,
    root: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.terminate(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn start(root: &Path) -> Served {
    let ns = NetNs::new();
    ns.add_tap(TAP, KERNEL_CIDR);
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_sockstack"));
    cmd.args([
        "serve", "--tap", TAP, "--addr", OURS_CIDR, "--http", "8080", "--root",
    ])
    .arg(root)
    .args(["--udp-echo", "7", "--name", "web"])
    .env("SOCKSTACK_CONTROL_DIR", root.join("ctl"));
    let mut server = Background::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = ns.wait_until_attached(TAP, Duration::from_secs(10), &mut server) {
        let out = server.terminate(Duration::ZERO);
        panic!("{e}\n{}", out.describe());
    }
    Served {
        server: Some(server),
        ns,
        root: root.to_path_buf(),
    }
}

#[test]
fn curl_fetches_files_over_tap() {
    if let Some(why) = unavailable(&["curl"]) {
        skip("curl_fetches_files_over_tap", &why);
        return;
    }
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("http-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("ctl")).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let body: Vec<u8> = (0..10 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(root.join("big.bin"), &body).unwrap();
    std::fs::write(root.join("index.html"), b"hello\n").unwrap();
    let s = start(&root);
    let out_file = root.join("ctl").join("got.bin");
    let r = s.ns.run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "60",
            "-o",
            out_file.to_str().unwrap(),
            "-w",
            "%{http_code}",
            &format!("{URL}/big.bin"),
        ],
        Duration::from_secs(90),
    );
    assert_eq!(r.stdout.trim(), "200", "{}", r.describe());
    let got = std::fs::read(&out_file).unwrap();
    assert_eq!(got.len(), body.len());
    assert_eq!(Sha256::digest(&got), Sha256::digest(&body));

    // `--name web`: netstat lists the HTTP listener and the UDP echo
    // socket under that name with serve's PID.
    let pid = s.server.as_ref().map(Background::pid).unwrap_or_default();
    let ls = common::process::run_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_sockstack"))
            .args(["netstat", "-l", "-t", "-u"])
            .env("SOCKSTACK_CONTROL_DIR", root.join("ctl")),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let has = |proto: &str, local: &str| {
        ls.stdout.lines().any(|l| {
            let f: Vec<_> = l.split_whitespace().collect();
            f.first() == Some(&proto)
                && f.get(3) == Some(&local)
                && l.ends_with(&format!("{pid}/web"))
        })
    };
    assert!(has("tcp", "0.0.0.0:8080"), "{}", ls.describe());
    assert!(ls.stdout.contains("LISTEN"), "{}", ls.describe());
    assert!(has("udp", "0.0.0.0:7"), "{}", ls.describe());

    // Keep-alive: two URLs on one connection; 404; path escape refused.
    let r = s.ns.run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "20",
            "-w",
            " %{http_code} %{num_connects}\n",
            &format!("{URL}/"),
            &format!("{URL}/index.html"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        r.stdout,
        "hello\n 200 1\nhello\n 200 0\n",
        "{}",
        r.describe()
    );
    let code = |path: &str| {
        let r = s.ns.run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "20",
                "--path-as-is",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{URL}{path}"),
            ],
            Duration::from_secs(30),
        );
        r.stdout.trim().to_string()
    };
    assert_eq!(code("/missing"), "404");
    assert_eq!(code("/../../etc/passwd"), "400");
    assert_eq!(code("/%2e%2e/etc/passwd"), "400");

    // `Connection: close`: the server closes first, so sockstack holds the
    // TIME_WAIT, and `netstat -to` shows the time it has left (ss -o). Which
    // side closes first is a race: curl has the whole body (Content-Length)
    // and closes too, and on a loaded machine its FIN can reach the server
    // before the server's `close` runs (then the kernel holds TIME_WAIT and
    // the server's socket goes through LAST_ACK). Both are correct TCP, so
    // up to five fetches are made until one leaves the TIME_WAIT here.
    let mut tries = Vec::new();
    let tw = loop {
        let r = s.ns.run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "20",
                "-H",
                "Connection: close",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{URL}/index.html"),
            ],
            Duration::from_secs(30),
        );
        assert_eq!(r.stdout.trim(), "200", "{}", r.describe());
        let to = common::process::run_within(
            std::process::Command::new(env!("CARGO_BIN_EXE_sockstack"))
                .args(["netstat", "-to"])
                .env("SOCKSTACK_CONTROL_DIR", root.join("ctl")),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let row = to
            .stdout
            .lines()
            .find(|l| l.contains(" TIME_WAIT ") && l.contains("198.18.1.2:8080"))
            .map(str::to_string);
        if let Some(row) = row {
            break row;
        }
        tries.push(to.describe());
        assert!(
            tries.len() < 5,
            "no TIME_WAIT row in five fetches\n{}",
            tries.join("\n")
        );
    };
    let timer = tw
        .split(" timer:(timewait,")
        .nth(1)
        .unwrap_or_else(|| panic!("no timewait timer: {tw}"));
    let secs: u32 = timer
        .split("sec,0)")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("timer not in whole seconds: {tw}"));
    assert!((1..=60).contains(&secs), "{tw}");

    if std::path::Path::new("/usr/bin/wrk").exists() {
        let r = s.ns.run(
            "wrk",
            &[
                "-c",
                "50",
                "-t",
                "2",
                "-d",
                "5s",
                &format!("{URL}/index.html"),
            ],
            Duration::from_secs(60),
        );
        let rps = r
            .stdout
            .lines()
            .find(|l| l.starts_with("Requests/sec"))
            .unwrap_or("?");
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("wrk -c 50 -d 5s against sockstack --http: {rps}\n").as_bytes(),
        );
        assert!(!r.stdout.contains("Socket errors"), "{}", r.describe());
    } else {
        skip("curl_fetches_files_over_tap (wrk part)", "needs wrk");
    }
}

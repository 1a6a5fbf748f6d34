//! A network namespace for one test, deleted when the guard drops (also
//! when the test panics). Inside it: loopback up and a TAP device with the
//! kernel's address; nothing else. No default route, no link to any other
//! namespace, and addresses only from 198.18.0.0/15 (RFC 2544's range for
//! benchmarking), so nothing a test sends can leave the namespace.
//!
//! Names are `ss<pid>x<counter>`: unique across the parallel test threads of
//! one process and across concurrent test processes.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::process::{run_within, Background, Finished};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Every `ip` invocation gets this long.
const IP_LIMIT: Duration = Duration::from_secs(10);

/// Why the real-network tests cannot run here, if they cannot.
pub fn unavailable(tools: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("needs root/iproute2 (not root)".into());
    }
    if !has_tool("ip", &["-V"]) {
        return Some("needs root/iproute2 (no `ip`)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("needs /dev/net/tun".into());
    }
    for tool in tools {
        let probe: &[&str] = match *tool {
            "tshark" | "tcpdump" => &["--version"],
            _ => &["-V"],
        };
        if !has_tool(tool, probe) {
            return Some(format!(
                "needs {tool} (run .ci/run to install the test tools)"
            ));
        }
    }
    None
}

fn is_root() -> bool {
    // Effective UID: the second field of the "Uid:" line.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

pub fn has_tool(tool: &str, probe: &[&str]) -> bool {
    run_within(Command::new(tool).args(probe), Duration::from_secs(10)).is_ok()
}

/// A test network namespace; dropped = deleted.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Create a namespace with loopback up. Panics (failing the test) if
    /// `ip netns add` fails even though we are root: CI must run these.
    pub fn new() -> NetNs {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ss{}x{}", std::process::id(), n);
        ip(&["netns", "add", &name]).unwrap_or_else(|e| panic!("{e}"));
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS ARGS...`, panicking with the output on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full).unwrap_or_else(|e| panic!("{e}"));
    }

    /// A persistent TAP device `ifname` inside the namespace, up, with the
    /// kernel's address `kernel_addr` (must be in 198.18.0.0/15).
    pub fn add_tap(&self, ifname: &str, kernel_addr: &str) {
        self.add_tuntap("tap", ifname, kernel_addr);
    }

    /// The same with a TUN device (bare IP packets, no ARP).
    pub fn add_tun(&self, ifname: &str, kernel_addr: &str) {
        self.add_tuntap("tun", ifname, kernel_addr);
    }

    fn add_tuntap(&self, mode: &str, ifname: &str, kernel_addr: &str) {
        assert!(
            in_benchmark_range(kernel_addr),
            "test addresses must be in 198.18.0.0/15, not {kernel_addr}"
        );
        self.ip(&["tuntap", "add", "dev", ifname, "mode", mode]);
        self.ip(&["addr", "add", kernel_addr, "dev", ifname]);
        self.ip(&["link", "set", ifname, "up"]);
    }

    /// A command to run inside the namespace: `ip netns exec NS PROGRAM`.
    /// `ip netns exec` execs PROGRAM in place, so the child's PID is the
    /// program's own (signals reach it directly).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Run a program inside the namespace to completion within `limit`.
    pub fn run(&self, program: &str, args: &[&str], limit: Duration) -> Finished {
        let mut cmd = self.command(program);
        cmd.args(args);
        run_within(&mut cmd, limit).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Wait up to `limit` until a process has attached to the TAP device
    /// `ifname` and the kernel has brought it up: carrier (`LOWER_UP`) and
    /// operstate `UP`. Only then does the kernel transmit on it; before, its
    /// frames toward the TAP are dropped. Err when `server` exits first.
    pub fn wait_until_attached(
        &self,
        ifname: &str,
        limit: Duration,
        server: &mut Background,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let out = run_within(
                Command::new("ip").args(["-n", &self.name, "-o", "link", "show", "dev", ifname]),
                IP_LIMIT,
            )?;
            if out.status.success()
                && out.stdout.contains("LOWER_UP")
                && out.stdout.contains("state UP")
            {
                return Ok(());
            }
            if !server.is_running() {
                return Err(format!("the server exited before attaching to {ifname}"));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{ifname} has no carrier after {limit:?}: {}",
                    out.stdout
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the TAP device inside it.
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("warning: could not delete netns {}: {e}\n", self.name).as_bytes(),
            );
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = run_within(Command::new("ip").args(args), IP_LIMIT)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {} failed: {}", args.join(" "), out.describe()))
    }
}

/// True for `a.b.c.d` or `a.b.c.d/p` inside 198.18.0.0/15.
pub fn in_benchmark_range(addr: &str) -> bool {
    let ip = addr.split('/').next().unwrap_or("");
    match ip.parse::<std::net::Ipv4Addr>() {
        Ok(a) => {
            let o = a.octets();
            o[0] == 198 && (o[1] & 0xfe) == 18
        }
        Err(_) => false,
    }
}

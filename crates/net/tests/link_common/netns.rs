//! A network namespace for one test, deleted on drop (also on failure).

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Netns {
    pub name: String,
    /// Per-namespace number, for picking a 198.18.<n>.0/24 subnet.
    pub n: u8,
}

impl Netns {
    /// `ss-<pid>-<n>`, with IPv6 disabled by default inside so the kernel stays quiet.
    pub fn new() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("ss-{}-{n}", std::process::id());
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Netns {
            name,
            // Spread over 198.18.100..=199 (the subnet never leaves the namespace).
            n: 100 + (n % 100) as u8,
        };
        // Plain sh, not sysctl(8): one less package for CI. A kernel without
        // IPv6 has no such file, which is fine.
        for key in ["all", "default"] {
            let path = format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6");
            let _ = ns.try_run(&["sh", "-c", &format!("test ! -e {path} || echo 1 > {path}")]);
        }
        ns
    }

    /// Run a command inside the namespace; panic with its stderr if it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.try_run(args);
        assert!(
            out.status.success(),
            "in {}: {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn try_run(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    /// 198.18.<n>.<host> as a string.
    pub fn addr(&self, host: u8) -> String {
        format!("198.18.{}.{host}", self.n)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes every device inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

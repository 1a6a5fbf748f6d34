//! Two real-clock hosts on a memory wire, as `sockstack::Net`s.
#![allow(dead_code)] // each test binary uses a different part

use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Stack, StackConfig};
use sockstack::{Host, Net};

/// Host a's address.
pub const A: &str = "198.18.0.1";
/// Host b's address.
pub const B: &str = "198.18.0.2";

pub fn stack(last: u8) -> Stack {
    Stack::new(StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    ))
}

/// Host a (198.18.0.1) and host b (198.18.0.2), wired together.
pub fn pair() -> (Net, Net) {
    pair_named("a", "b")
}

/// As [`pair`], with host (and thread) names.
pub fn pair_named(a: &str, b: &str) -> (Net, Net) {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let a = Host::spawn(a, stack(1), la).expect("spawn a");
    let b = Host::spawn(b, stack(2), lb).expect("spawn b");
    (Net::new(a), Net::new(b))
}

/// Threads of this process whose name starts with `prefix` (Linux names
/// are cut to 15 bytes).
pub fn threads_named(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Deterministic bytes (xorshift from `seed`).
pub fn fill(seed: &mut u64, buf: &mut [u8]) {
    for b in buf {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = (*seed >> 24) as u8;
    }
}

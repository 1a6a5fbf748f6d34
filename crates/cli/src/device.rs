//! What the CLI adds around real devices: one-line errors for opening them,
//! and the default MAC address of a host.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sockstack_proto::wire::MacAddr;

use crate::error::CliError;

/// Turn an error from opening a TAP/TUN device or a capture file into a CLI
/// error. `sockstack::link` already words them as one line ("opening TAP
/// device "x": needs root or CAP_NET_ADMIN"); we only classify them.
pub fn open_error(err: &io::Error) -> CliError {
    let msg = err.to_string().replace('\n', " ");
    match err.kind() {
        io::ErrorKind::PermissionDenied => CliError::Privilege(msg),
        _ => CliError::Device(msg),
    }
}

/// How long `serve` and `ping` wait for a freshly attached device.
pub const UP_LIMIT: Duration = Duration::from_secs(3);

/// Wait up to `limit` until the kernel reports the device `ifname` as
/// operationally up, and say whether it did (`None`: cannot tell).
///
/// Why: attaching to a TAP/TUN device turns its carrier on at once, but the
/// kernel activates the device's transmit queue only when its link-watch
/// work runs, which can take up to a second; until then every frame the
/// kernel sends us (an ARP reply, an echo reply) is dropped. Operstate
/// turns "up" at that same moment. Without sysfs for the device (another
/// mount namespace) we cannot tell, and do not wait.
pub fn wait_until_up(ifname: &str, limit: Duration) -> Option<bool> {
    let path = Path::new("/sys/class/net").join(ifname).join("operstate");
    let deadline = Instant::now() + limit;
    loop {
        match std::fs::read_to_string(&path) {
            Ok(state) if state.trim() == "up" => return Some(true),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(_) => return Some(false),
            Err(_) => return None,
        }
    }
}

/// `wait_until_up`, then a one-line warning on stderr if the device is
/// still not up (the run goes on: it may come up later).
pub fn expect_up(kind: &str, ifname: &str) {
    if wait_until_up(ifname, UP_LIMIT) == Some(false) {
        eprintln!(
            "sockstack: warning: {kind} {ifname} is not up on the kernel side after {}s \
             (ip link set {ifname} up?); the kernel drops frames toward us until it is",
            UP_LIMIT.as_secs()
        );
    }
}

/// A random locally administered unicast MAC address (02:xx:xx:xx:xx:xx
/// style: bit 1 of the first octet set, bit 0 clear), seeded from the pid
/// and the clock. Determinism is not wanted here: two `serve` processes on
/// one bridge must not collide.
pub fn random_mac() -> MacAddr {
    mac_from_seed(random_seed())
}

/// A seed that differs between processes and runs (pid and clock).
pub fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// A locally administered unicast MAC derived from `seed` (splitmix64).
pub fn mac_from_seed(seed: u64) -> MacAddr {
    let b = splitmix64(seed).to_be_bytes();
    MacAddr([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
}

/// One step of splitmix64: a well-mixed 64-bit value from any seed.
pub fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_local_unicast() {
        for seed in 0..1000u64 {
            let m = mac_from_seed(seed);
            assert_eq!(m.0[0] & 0x03, 0x02, "{seed}");
        }
        assert_ne!(mac_from_seed(1), mac_from_seed(2));
        assert_eq!(random_mac().0[0] & 0x03, 0x02);
    }

    #[test]
    fn permission_errors_are_privilege_errors() {
        let e = open_error(&io::Error::new(
            io::ErrorKind::PermissionDenied,
            "opening TAP device \"t0\": needs root or CAP_NET_ADMIN",
        ));
        assert!(matches!(e, CliError::Privilege(_)));
        let e = open_error(&io::Error::from_raw_os_error(libc::EBUSY));
        assert!(matches!(e, CliError::Device(_)));
        assert!(!e.to_string().contains('\n'));
    }
}

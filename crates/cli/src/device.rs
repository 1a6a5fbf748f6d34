//! Checks made before touching a real device, so that the usual mistakes
//! (no tun driver, no privilege) end with one line that says what to do.

use std::fs::OpenOptions;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use sockstack_proto::wire::MacAddr;

use crate::error::CliError;

const TUN_PATH: &str = "/dev/net/tun";

/// Probe `/dev/net/tun` for read and write access, the first thing TAP/TUN
/// need. `what` names the device for the message ("TAP device ss0").
pub fn check_tun_access(what: &str) -> Result<(), CliError> {
    match OpenOptions::new().read(true).write(true).open(TUN_PATH) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CliError::Device(format!(
            "{TUN_PATH} is missing, so {what} cannot be opened (load the tun module: modprobe tun)"
        ))),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(CliError::Privilege(format!(
            "opening {what} needs root or CAP_NET_ADMIN ({TUN_PATH}: {e})"
        ))),
        Err(e) => Err(CliError::Device(format!(
            "cannot open {TUN_PATH} for {what}: {e}"
        ))),
    }
}

/// Map the error from opening a TAP/TUN device to a one-line CLI error.
/// The kernel answers EPERM when creating or attaching needs CAP_NET_ADMIN,
/// EBUSY when another process holds a single-queue device, and EINVAL when
/// a device of that name exists with another type.
pub fn open_error(what: &str, err: &io::Error) -> CliError {
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => CliError::Privilege(format!(
            "opening {what} needs root or CAP_NET_ADMIN ({err})"
        )),
        Some(libc::EBUSY) => CliError::Device(format!("{what} is in use by another process")),
        Some(libc::EINVAL) => CliError::Device(format!(
            "{what} exists but is not of that type (TAP vs TUN) or flags differ ({err})"
        )),
        Some(libc::ENODEV) | Some(libc::ENOENT) => {
            CliError::Device(format!("{what} does not exist ({err})"))
        }
        _ => CliError::open(what, err),
    }
}

/// A random locally administered unicast MAC address (02:xx:xx:xx:xx:xx
/// style: bit 1 of the first octet set, bit 0 clear), seeded from the pid
/// and the clock. Determinism is not wanted here: two `serve` processes on
/// one bridge must not collide.
pub fn random_mac() -> MacAddr {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mac_from_seed(nanos ^ (u64::from(std::process::id()) << 32))
}

/// A locally administered unicast MAC derived from `seed` (splitmix64).
pub fn mac_from_seed(seed: u64) -> MacAddr {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let b = z.to_be_bytes();
    MacAddr([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
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
    fn open_errors_are_one_line_and_specific() {
        let e = open_error("TAP device t0", &io::Error::from_raw_os_error(libc::EPERM));
        assert!(matches!(e, CliError::Privilege(_)));
        assert!(e.to_string().contains("needs root or CAP_NET_ADMIN"));
        let e = open_error("TAP device t0", &io::Error::from_raw_os_error(libc::EBUSY));
        assert!(e.to_string().contains("in use"));
        for errno in [
            libc::EPERM,
            libc::EBUSY,
            libc::EINVAL,
            libc::ENODEV,
            libc::EIO,
        ] {
            let e = open_error("TUN device t0", &io::Error::from_raw_os_error(errno));
            assert!(!e.to_string().contains('\n'));
        }
    }
}

//! TAP devices: Ethernet frames to and from the Linux kernel.
//!
//! CONTRACT: [`TapLink::open`] attaches to the TAP device `name` if it
//! exists (a persistent device made with `ip tuntap add NAME mode tap`) or
//! creates one that disappears when the link is dropped; the kernel side is
//! configured with `ip` by whoever set the test or host up. The fd is
//! non-blocking; `recv` returns `Ok(None)` when the kernel has nothing
//! queued. A frame the kernel refuses (queue full, interface down) is
//! dropped and counted, like on a real wire.
//!
//! Namespaces: [`TapLink::open_in_netns`] opens the device from a short-lived
//! thread that joined `/var/run/netns/NS` (as made by `ip netns add NS`);
//! the device lives in that namespace and the fd keeps working from any
//! thread of the caller, which never changes namespace itself.
//!
//! Errors read as one line, e.g. `opening TAP device "tap0": needs root or
//! CAP_NET_ADMIN`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use sockstack_proto::{Instant, Medium};

use super::sys::{self, TunKind};
use super::{Link, LinkStats};

/// An open /dev/net/tun attachment (shared by TAP and TUN links).
#[derive(Debug)]
pub(crate) struct Device {
    fd: OwnedFd,
    name: String,
    mtu: usize,
    stats: LinkStats,
}

fn what(kind: TunKind) -> &'static str {
    match kind {
        TunKind::Tap => "TAP",
        TunKind::Tun => "TUN",
    }
}

/// Turn an OS error from opening `name` into a one-line message.
fn open_error(kind: TunKind, name: &str, e: io::Error) -> io::Error {
    let dev = what(kind);
    let reason = match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => {
            "/dev/net/tun is missing (load the tun module: modprobe tun)".to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) => "needs root or CAP_NET_ADMIN".to_string(),
        Some(libc::EBUSY) => "device is busy (another process has it open)".to_string(),
        Some(libc::EINVAL) => format!(
            "a device with this name exists and is not a {dev} device (or was created with other flags)"
        ),
        _ => e.to_string(),
    };
    io::Error::new(e.kind(), format!("opening {dev} device {name:?}: {reason}"))
}

impl Device {
    pub(crate) fn open(kind: TunKind, name: &str, netns: Option<&str>) -> io::Result<Device> {
        let opened = match netns {
            None => sys::open_tun(name, kind),
            Some(ns) => sys::in_netns(ns, || sys::open_tun(name, kind)),
        };
        let (fd, name) = opened.map_err(|e| {
            if e.raw_os_error().is_some() {
                open_error(kind, name, e)
            } else {
                e
            }
        })?;
        Ok(Device {
            fd,
            name,
            mtu: 1500,
            stats: LinkStats::default(),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
    pub(crate) fn mtu(&self) -> usize {
        self.mtu
    }
    pub(crate) fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu;
    }
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    pub(crate) fn stats(&self) -> LinkStats {
        self.stats
    }

    pub(crate) fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match sys::write_nonblocking(self.fd.as_raw_fd(), frame) {
            Ok(true) => {
                self.stats.tx_frames += 1;
                self.stats.tx_bytes += frame.len() as u64;
            }
            Ok(false) => self.stats.tx_dropped += 1,
            // EIO: interface down; EINVAL: malformed for the kernel. The wire
            // lost the frame; the device itself still works.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL)) => {
                tracing::debug!(dev = %self.name, "frame refused by kernel: {e}");
                self.stats.tx_dropped += 1;
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("writing to {}: {e}", self.name),
                ))
            }
        }
        Ok(())
    }

    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let got = sys::read_nonblocking(self.fd.as_raw_fd(), buf)
            .map_err(|e| io::Error::new(e.kind(), format!("reading from {}: {e}", self.name)))?;
        if let Some(n) = got {
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += n as u64;
        }
        Ok(got)
    }
}

/// A TAP device (Ethernet medium).
#[derive(Debug)]
pub struct TapLink {
    dev: Device,
}

impl TapLink {
    /// Attach to TAP device `name`, creating it if missing. An empty name
    /// lets the kernel pick one (see [`TapLink::name`]).
    pub fn open(name: &str) -> io::Result<TapLink> {
        Ok(TapLink {
            dev: Device::open(TunKind::Tap, name, None)?,
        })
    }

    /// Like [`TapLink::open`], inside network namespace `netns`
    /// (`/var/run/netns/<netns>`).
    pub fn open_in_netns(netns: &str, name: &str) -> io::Result<TapLink> {
        Ok(TapLink {
            dev: Device::open(TunKind::Tap, name, Some(netns))?,
        })
    }

    /// Set the IP MTU this link reports (default 1500); match the device's.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.dev.set_mtu(mtu);
        self
    }

    /// The device name the kernel used.
    pub fn name(&self) -> &str {
        self.dev.name()
    }
}

impl Link for TapLink {
    fn medium(&self) -> Medium {
        Medium::Ethernet
    }
    fn mtu(&self) -> usize {
        self.dev.mtu()
    }
    fn send(&mut self, _now: Instant, frame: &[u8]) -> io::Result<()> {
        self.dev.send(frame)
    }
    fn recv(&mut self, _now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.dev.recv(buf)
    }
    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.dev.raw_fd())
    }
    fn stats(&self) -> LinkStats {
        self.dev.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(errno: i32) -> String {
        open_error(TunKind::Tap, "tap9", io::Error::from_raw_os_error(errno)).to_string()
    }

    #[test]
    fn open_errors_name_the_device_and_the_cause() {
        assert_eq!(
            msg(libc::EPERM),
            "opening TAP device \"tap9\": needs root or CAP_NET_ADMIN"
        );
        assert!(msg(libc::EACCES).ends_with("needs root or CAP_NET_ADMIN"));
        assert!(msg(libc::ENOENT).contains("/dev/net/tun is missing"));
        assert!(msg(libc::EBUSY).contains("busy"));
        assert!(msg(libc::EINVAL).contains("not a TAP device"));
        let other = open_error(
            TunKind::Tun,
            "tun1",
            io::Error::from_raw_os_error(libc::ENOMEM),
        );
        assert!(other
            .to_string()
            .starts_with("opening TUN device \"tun1\": "));
        assert_eq!(other.kind(), io::ErrorKind::OutOfMemory);
    }
}

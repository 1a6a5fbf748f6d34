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
//! Offloads: [`TapLink::open_with`] and [`Offload::Tso`] open the device
//! with IFF_VNET_HDR (a 12-byte virtio-net header before every frame,
//! TUNSETVNETHDRSZ) and TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 (UDP
//! segmentation stays off: nothing here would use it). Then `send` takes
//! IPv4 TCP packets of up to 65,535 bytes whose pieces fill the MTU, and the
//! kernel cuts them (see `vnet.rs`); `recv` may return the kernel's large
//! TCP segments (give it [`Link::frame_capacity`] bytes) with their partial
//! checksums completed. [`Link::capabilities`] says so (`tso_max`), for
//! `StackConfig::tso_max`; and `tx_checksum`, for
//! `StackConfig::tx_checksum_offload`: `send_partial` then hands the
//! stack's partial TCP checksums to the kernel (`NEEDS_CSUM`) unfinished.
//! If the kernel refuses, the device is reopened
//! plain, the refusal is logged once and counted (`offload_fallbacks`).
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

use sockstack_proto::{Instant, Medium, PartialChecksum};

use super::sys::{self, TunKind};
use super::vnet;
use super::{Link, LinkCaps, LinkStats};

/// Offloads to ask of a TAP device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Offload {
    /// Plain frames: one frame per read and per write (the default).
    #[default]
    Off,
    /// IFF_VNET_HDR with checksum and TCPv4 segmentation offload
    /// (TUN_F_CSUM | TUN_F_TSO4): `send` takes TCP segments of up to 64 KiB
    /// that the kernel cuts into MTU-sized frames, and `recv` may return
    /// the kernel's large (GRO'd) TCP segments. Falls back to `Off`, logged
    /// once and counted in `offload_fallbacks`, when the kernel refuses.
    Tso,
    /// Like `Tso` with these TUN_F_* bits instead (tests use it to make the
    /// kernel refuse: unknown bits are EINVAL).
    #[doc(hidden)]
    Flags(u32),
}

impl Offload {
    fn flags(self) -> Option<u32> {
        match self {
            Offload::Off => None,
            Offload::Tso => Some(libc::TUN_F_CSUM | libc::TUN_F_TSO4),
            Offload::Flags(f) => Some(f),
        }
    }
}

/// The largest IPv4 packet we hand the kernel to segment, and accept whole.
const TSO_MAX: usize = sockstack_proto::wire::ipv4::MAX_PACKET_LEN;

/// Bad received frames skipped per `recv` call before it returns `None`.
const RX_SKIP_LIMIT: usize = 64;

/// An open /dev/net/tun attachment (shared by TAP and TUN links).
#[derive(Debug)]
pub(crate) struct Device {
    fd: OwnedFd,
    name: String,
    mtu: usize,
    /// Link header bytes (14 on a TAP, 0 on a TUN).
    l2: usize,
    /// Frames carry a virtio-net header and the kernel takes/gives TSO4.
    offload: bool,
    /// Why offloads are off although they were asked for.
    refused: Option<String>,
    /// Receive space for callers whose buffer is smaller than a whole
    /// offloaded frame (a short read would fail in the kernel).
    rx_spill: Vec<u8>,
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

/// Set the header length and the offloads on a device opened with IFF_VNET_HDR.
fn set_offloads(fd: &OwnedFd, flags: u32) -> Result<(), String> {
    sys::tun_set_vnet_hdr_len(fd.as_raw_fd(), vnet::HDR_LEN)
        .map_err(|e| format!("TUNSETVNETHDRSZ {}: {e}", vnet::HDR_LEN))?;
    sys::tun_set_offload(fd.as_raw_fd(), flags)
        .map_err(|e| format!("TUNSETOFFLOAD {flags:#x}: {e}"))
}

impl Device {
    pub(crate) fn open(kind: TunKind, name: &str, netns: Option<&str>) -> io::Result<Device> {
        Device::open_with(kind, name, netns, Offload::Off)
    }

    pub(crate) fn open_with(
        kind: TunKind,
        name: &str,
        netns: Option<&str>,
        offload: Offload,
    ) -> io::Result<Device> {
        let plain = || sys::open_tun(name, kind, false);
        let mut refused = None;
        let opened = match offload.flags() {
            None => in_ns(netns, plain),
            Some(flags) => match in_ns(netns, || sys::open_tun(name, kind, true)) {
                // EINVAL: no IFF_VNET_HDR here; anything else (permission,
                // busy, no namespace) would fail without offloads too.
                Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(e),
                Err(e) => {
                    refused = Some(format!("IFF_VNET_HDR: {e}"));
                    in_ns(netns, plain)
                }
                Ok((fd, actual)) => match set_offloads(&fd, flags) {
                    Ok(()) => Ok((fd, actual)),
                    Err(why) => {
                        // Closing the fd removes a device we created; the
                        // plain open makes it again (or re-attaches).
                        drop(fd);
                        refused = Some(why);
                        reopen_plain(|| in_ns(netns, plain))
                    }
                },
            },
        };
        if let Some(why) = &refused {
            tracing::warn!(
                dev = name,
                "{} offloads refused, using plain frames: {why}",
                what(kind)
            );
        }
        let (fd, name) = opened.map_err(|e| {
            if e.raw_os_error().is_some() {
                open_error(kind, name, e)
            } else {
                e
            }
        })?;
        let stats = LinkStats {
            offload_fallbacks: u64::from(refused.is_some()),
            ..LinkStats::default()
        };
        Ok(Device {
            fd,
            name,
            mtu: 1500,
            l2: match kind {
                TunKind::Tap => 14,
                TunKind::Tun => 0,
            },
            offload: offload.flags().is_some() && refused.is_none(),
            refused,
            rx_spill: Vec::new(),
            stats,
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
    pub(crate) fn offloaded(&self) -> bool {
        self.offload
    }
    pub(crate) fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// Largest frame a `recv` may return.
    pub(crate) fn frame_capacity(&self) -> usize {
        self.l2 + if self.offload { TSO_MAX } else { self.mtu }
    }

    pub(crate) fn caps(&self) -> LinkCaps {
        LinkCaps {
            tso_max: if self.offload && self.mtu < TSO_MAX {
                TSO_MAX
            } else {
                0
            },
            // IFF_VNET_HDR: the kernel takes NEEDS_CSUM on anything we
            // write (TUNSETOFFLOAD only says what we take from it).
            tx_checksum: self.offload,
        }
    }

    /// Send a frame whose checksum the stack left partial: the kernel
    /// finishes it (`NEEDS_CSUM`; per piece when it also segments). Without
    /// offloads, or with offsets that do not fit, it is finished here.
    pub(crate) fn send_partial(&mut self, frame: &mut [u8], p: PartialChecksum) -> io::Result<()> {
        let hdr = match self.offload {
            true => vnet::partial_header(frame, self.l2, self.mtu, p.start.into(), p.offset.into()),
            false => None,
        };
        let Some(hdr) = hdr else {
            p.complete(frame);
            return self.send(frame);
        };
        let tso = hdr.gso_type != vnet::GSO_NONE;
        let sent = sys::write_parts_nonblocking(self.fd.as_raw_fd(), &[&hdr.bytes(), frame]);
        if matches!(sent, Ok(true)) {
            self.stats.tx_csum_offloaded += 1;
        }
        self.sent(frame.len(), tso, sent)
    }

    pub(crate) fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        let mut tso = false;
        let sent = if !self.offload {
            sys::write_nonblocking(fd, frame)
        } else if let Some(t) = vnet::tso_headers(frame, self.l2, self.mtu) {
            tso = true;
            let payload = frame.get(t.headers().len()..).unwrap_or_default();
            sys::write_parts_nonblocking(fd, &[&t.vnet.bytes(), t.headers(), payload])
        } else {
            // Complete checksums, no segmentation: an all-zero header.
            sys::write_parts_nonblocking(fd, &[&[0u8; vnet::HDR_LEN], frame])
        };
        self.sent(frame.len(), tso, sent)
    }

    /// Count one write of a `len`-byte frame (`tso`: handed over to segment).
    fn sent(&mut self, len: usize, tso: bool, sent: io::Result<bool>) -> io::Result<()> {
        match sent {
            Ok(true) => {
                self.stats.tx_frames += 1;
                self.stats.tx_bytes += len as u64;
                self.stats.tx_tso_frames += u64::from(tso);
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
        Ok(self.recv_info(buf)?.map(|(n, _)| n))
    }

    /// `recv`, and whether the kernel's virtio header vouched for the
    /// frame's checksum (`RxInfo`).
    pub(crate) fn recv_info(
        &mut self,
        buf: &mut [u8],
    ) -> io::Result<Option<(usize, super::RxInfo)>> {
        let got = if self.offload {
            self.recv_offloaded(buf)
        } else {
            sys::read_nonblocking(self.fd.as_raw_fd(), buf)
                .map(|n| n.map(|n| (n, super::RxInfo::default())))
        }
        .map_err(|e| io::Error::new(e.kind(), format!("reading from {}: {e}", self.name)))?;
        if let Some((n, _)) = got {
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += n as u64;
            if n > self.l2 + self.mtu {
                self.stats.rx_large_frames += 1;
            }
        }
        Ok(got)
    }

    /// Read header + frame; complete partial checksums; skip (and count)
    /// frames the header makes unusable. A partial checksum is still
    /// finished here (one pass), so captures and raw sockets see the packet
    /// as a wire would carry it; the stack then need not verify it again.
    fn recv_offloaded(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, super::RxInfo)>> {
        let cap = self.frame_capacity();
        for _ in 0..RX_SKIP_LIMIT {
            let mut head = [0u8; vnet::HDR_LEN];
            let spill = buf.len() < cap;
            if spill && self.rx_spill.len() < cap {
                self.rx_spill.resize(cap, 0);
            }
            let dst: &mut [u8] = if spill { &mut self.rx_spill } else { buf };
            let Some(n) = sys::read2_nonblocking(self.fd.as_raw_fd(), &mut head, dst)? else {
                return Ok(None);
            };
            let Some(hdr) = vnet::VnetHdr::parse(&head).filter(|_| n >= vnet::HDR_LEN) else {
                self.stats.rx_dropped += 1;
                continue;
            };
            let len = n - vnet::HDR_LEN;
            let frame = dst.get_mut(..len).unwrap_or_default();
            if let Err(e) = vnet::finish_rx(&hdr, frame) {
                tracing::debug!(dev = %self.name, "dropped a received frame: {e:?} in {hdr:?}");
                self.stats.rx_dropped += 1;
                continue;
            }
            if hdr.flags & vnet::F_NEEDS_CSUM != 0 {
                self.stats.rx_csum_completed += 1;
            }
            let info = super::RxInfo {
                checksum_verified: vnet::rx_checksum_verified(&hdr),
            };
            if !spill {
                return Ok(Some((len, info)));
            }
            // A frame longer than `buf` is truncated, as the contract says.
            let k = len.min(buf.len());
            if let (Some(d), Some(s)) = (buf.get_mut(..k), self.rx_spill.get(..k)) {
                d.copy_from_slice(s);
            }
            // Truncated: the stack must not trust (nor could verify) it.
            let info = super::RxInfo {
                checksum_verified: info.checksum_verified && k == len,
            };
            return Ok(Some((k, info)));
        }
        Ok(None)
    }
}

/// Run `f` in namespace `netns` (or here).
/// The device we just closed may still be going away in the kernel, and
/// opening its name again says EBUSY until it has: retry for a bounded
/// time (50 tries, 10 ms apart), then report what the kernel said.
fn reopen_plain<T>(mut open: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match open() {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn in_ns<T: Send>(netns: Option<&str>, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    match netns {
        None => f(),
        Some(ns) => sys::in_netns(ns, f),
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

    /// Attach (or create) with `offload`, in `netns` if given. Offloads
    /// the kernel refuses fall back to plain frames (see
    /// [`TapLink::offload_refused`]); other errors are as for `open`.
    pub fn open_with(name: &str, netns: Option<&str>, offload: Offload) -> io::Result<TapLink> {
        Ok(TapLink {
            dev: Device::open_with(TunKind::Tap, name, netns, offload)?,
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

    /// True when frames carry virtio headers and the kernel segments our
    /// large TCP segments (and may hand us large ones).
    pub fn offloaded(&self) -> bool {
        self.dev.offloaded()
    }

    /// Why the offloads asked for are off (the kernel's refusal), if so.
    pub fn offload_refused(&self) -> Option<&str> {
        self.dev.refused()
    }
}

impl Link for TapLink {
    fn medium(&self) -> Medium {
        Medium::Ethernet
    }
    fn mtu(&self) -> usize {
        self.dev.mtu()
    }
    fn frame_capacity(&self) -> usize {
        self.dev.frame_capacity()
    }
    fn capabilities(&self) -> LinkCaps {
        self.dev.caps()
    }
    fn send(&mut self, _now: Instant, frame: &[u8]) -> io::Result<()> {
        self.dev.send(frame)
    }
    fn send_partial(
        &mut self,
        _now: Instant,
        frame: &mut [u8],
        csum: PartialChecksum,
    ) -> io::Result<()> {
        self.dev.send_partial(frame, csum)
    }
    fn recv(&mut self, _now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.dev.recv(buf)
    }
    fn recv_info(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
    ) -> io::Result<Option<(usize, super::RxInfo)>> {
        self.dev.recv_info(buf)
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

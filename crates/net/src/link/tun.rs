//! TUN devices: bare IPv4 packets to and from the Linux kernel.
//!
//! CONTRACT: as for [`super::tap::TapLink`] (attach or create, non-blocking,
//! refused packets dropped and counted, namespace-aware opening), with the
//! IP medium: no Ethernet header and no ARP. The kernel may also hand us
//! IPv6 packets; the stack drops and counts them.

use std::io;
use std::os::fd::RawFd;

use sockstack_proto::{Instant, Medium, PartialChecksum};

use super::sys::TunKind;
use super::tap::{Device, Offload};
use super::{Link, LinkCaps, LinkStats};

/// A TUN device (IP medium).
#[derive(Debug)]
pub struct TunLink {
    dev: Device,
}

impl TunLink {
    /// Attach to TUN device `name`, creating it if missing. An empty name
    /// lets the kernel pick one (see [`TunLink::name`]).
    pub fn open(name: &str) -> io::Result<TunLink> {
        Ok(TunLink {
            dev: Device::open(TunKind::Tun, name, None)?,
        })
    }

    /// Like [`TunLink::open`], inside network namespace `netns`
    /// (`/var/run/netns/<netns>`).
    pub fn open_in_netns(netns: &str, name: &str) -> io::Result<TunLink> {
        Ok(TunLink {
            dev: Device::open(TunKind::Tun, name, Some(netns))?,
        })
    }

    /// Attach (or create) with `offload`, in `netns` if given; as
    /// [`super::tap::TapLink::open_with`] (refused offloads fall back to
    /// plain packets).
    pub fn open_with(name: &str, netns: Option<&str>, offload: Offload) -> io::Result<TunLink> {
        Ok(TunLink {
            dev: Device::open_with(TunKind::Tun, name, netns, offload)?,
        })
    }

    /// True when packets carry virtio headers and TSO/GRO is on.
    pub fn offloaded(&self) -> bool {
        self.dev.offloaded()
    }

    /// Why the offloads asked for are off (the kernel's refusal), if so.
    pub fn offload_refused(&self) -> Option<&str> {
        self.dev.refused()
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

impl Link for TunLink {
    fn medium(&self) -> Medium {
        Medium::Ip
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

//! Links: where a stack's frames go in and out.
//!
//! CONTRACT: a [`Link`] moves whole frames (Ethernet II or bare IPv4, per
//! [`Link::medium`]). `send` and `recv` never block. A driver (the real-clock
//! runtime or the virtual-time driver) uses them like this, once per
//! iteration:
//!
//! 1. `recv` until it returns `Ok(None)`, handing each frame to the stack;
//! 2. `send` every frame the stack produces;
//! 3. `flush(now)` so time-driven work inside the link happens (delayed frames
//!    released, pcap records written out);
//! 4. sleep until [`Link::raw_fd`] is readable, the [`Waker`] given through
//!    [`Link::set_waker`] rings, or [`Link::next_event`] is reached.
//!
//! Every `now` is the driver's clock (proto's [`Instant`]); memory links and
//! impairments schedule deliveries in that clock, so all endpoints of one
//! memory link must be driven from the same clock (the virtual net, or real
//! hosts sharing [`crate::runtime::RealClock::shared`]).
//!
//! Wrappers compose: `Captured<Impaired<TapLink>>` records what the stack
//! sends and receives; `Impaired<Captured<TapLink>>` records the wire.
//!
//! ```
//! use sockstack::link::impair::Impaired;
//! use sockstack::link::memory::{self, WireConfig};
//! use sockstack::link::Link;
//! use sockstack::proto::{Duration, Instant};
//!
//! let wire = WireConfig::ethernet().with_delay(Duration::from_millis(2)).with_bandwidth(10_000_000);
//! let (a, mut b) = memory::pair(wire);
//! let mut a = Impaired::new(a, "loss=0.1,seed=7".parse().unwrap());
//! a.send(Instant::ZERO, &[0u8; 60]).unwrap();
//! let mut buf = vec![0u8; b.frame_capacity()];
//! // Delivered after 48 us on the wire plus 2 ms, unless the seed lost it.
//! if let Some(at) = b.next_event() {
//!     assert_eq!(at, Instant::from_micros(2048));
//!     assert_eq!(b.recv(at, &mut buf).unwrap(), Some(60));
//! }
//! ```

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use sockstack_proto::{Instant, Medium, PartialChecksum, TxFrame};

pub mod impair;
pub mod memory;
pub mod pcap;
#[allow(unsafe_code)] // the one module allowed to call into libc
pub(crate) mod sys;
pub mod tap;
pub mod tun;
mod vnet;

/// Bytes of link header before the IP packet for `medium`.
pub const fn link_header_len(medium: Medium) -> usize {
    match medium {
        Medium::Ethernet => 14,
        Medium::Ip => 0,
    }
}

/// Frame counters every link keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames accepted by `send`.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames returned by `recv`.
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Frames given to `send` that never left: queue full, oversize, device busy.
    pub tx_dropped: u64,
    /// Frames that arrived but were dropped before `recv` (receive queue full).
    pub rx_dropped: u64,
    /// Frames longer than the MTU handed to the device to segment (TSO).
    pub tx_tso_frames: u64,
    /// Frames handed to the device with their checksum left for it to
    /// finish (`send_partial` with checksum offload).
    pub tx_csum_offloaded: u64,
    /// Frames longer than the MTU received whole (GRO'd or TSO'd by the peer).
    pub rx_large_frames: u64,
    /// Received frames whose partial checksum the link completed.
    pub rx_csum_completed: u64,
    /// Times the device refused the offloads asked for and the link fell
    /// back to plain frames (0 or 1 per device).
    pub offload_fallbacks: u64,
}

/// What a link can do beyond moving MTU-sized frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCaps {
    /// Largest IPv4 packet (header included) `send` takes when it is one TCP
    /// segment that fills the MTU per piece: the device cuts it into
    /// MTU-sized frames (TCP segmentation offload). 0: no offload. Give it
    /// to the stack as `StackConfig::tso_max`.
    pub tso_max: usize,
    /// The device finishes TCP checksums that hold only the pseudo-header
    /// sum (`send_partial` without a software pass; virtio-net
    /// `NEEDS_CSUM`). Give it to the stack as
    /// `StackConfig::tx_checksum_offload`.
    pub tx_checksum: bool,
}

/// What a link knows about a frame it received (`Link::recv_info`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxInfo {
    /// The frame's TCP or UDP checksum is known to be right: the kernel
    /// verified it (virtio-net `DATA_VALID`, Linux `CHECKSUM_UNNECESSARY`)
    /// or the packet never left the peer kernel's memory and the link
    /// finished its partial checksum (`NEEDS_CSUM`; Linux
    /// `skb_csum_unnecessary` trusts `CHECKSUM_PARTIAL` the same way). Hand
    /// such a frame to `Stack::handle_frame_verified`, which skips the
    /// check ([`deliver_frame`]).
    pub checksum_verified: bool,
}

/// Give a received frame to the stack: `handle_frame_verified` when the
/// link vouched for its checksum, else `handle_frame`.
pub fn deliver_frame(stack: &mut sockstack_proto::Stack, now: Instant, frame: &[u8], info: RxInfo) {
    if info.checksum_verified {
        stack.handle_frame_verified(now, frame);
    } else {
        stack.handle_frame(now, frame);
    }
}

/// A frame-level network attachment. See the module doc for the contract.
pub trait Link: Send {
    /// What the frames carry.
    fn medium(&self) -> Medium;

    /// IP MTU: the largest IP packet one frame carries. A `recv` buffer of
    /// [`Link::frame_capacity`] bytes always holds a whole frame.
    fn mtu(&self) -> usize;

    /// Largest frame, link header included.
    fn frame_capacity(&self) -> usize {
        self.mtu() + link_header_len(self.medium())
    }

    /// Queue one frame for transmission. A frame the link cannot carry (too
    /// big, queue full) is dropped and counted in `tx_dropped`, not an error;
    /// errors mean the link itself failed.
    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()>;

    /// Like `send` for a frame whose checksum is partial (from
    /// `Stack::poll_transmit_frame` with `StackConfig::tx_checksum_offload`):
    /// a link with [`LinkCaps::tx_checksum`] lets the device finish it; any
    /// other link (the default) finishes it in software first, in `frame`,
    /// so nothing with a partial checksum ever reaches a wire, a capture or
    /// a peer that would verify it.
    fn send_partial(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        csum: PartialChecksum,
    ) -> io::Result<()> {
        csum.complete(frame);
        self.send(now, frame)
    }

    /// Copy the next deliverable frame into `buf` and return its length;
    /// `Ok(None)` when nothing is deliverable at `now`. A frame longer than
    /// `buf` is truncated (give a buffer of `frame_capacity()`).
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// `recv`, also telling what the link vouches for about the frame
    /// ([`RxInfo`]). The default knows nothing: only links that hear it
    /// from the kernel (a TAP or TUN with IFF_VNET_HDR) say more, and
    /// wrappers that may change bytes (impairment) must keep the default.
    fn recv_info(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<(usize, RxInfo)>> {
        Ok(self.recv(now, buf)?.map(|n| (n, RxInfo::default())))
    }

    /// Do time-driven work due at `now` (release delayed frames, write out
    /// capture records). Drivers call it once per iteration, after sending.
    fn flush(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }

    /// Earliest time at which `recv` or `flush` has work that is not signalled
    /// through the fd or the waker (a frame in flight on a memory link, a
    /// delayed frame in an impairment). `None`: nothing scheduled.
    fn next_event(&self) -> Option<Instant> {
        None
    }

    /// A file descriptor that becomes readable when `recv` may return a frame
    /// (TAP, TUN). `None` for links that signal through the waker instead.
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    /// Register the bell to ring when a frame is queued for this endpoint by
    /// another thread (memory links). Links with an fd may ignore it.
    fn set_waker(&mut self, _waker: Waker) {}

    /// Counters so far.
    fn stats(&self) -> LinkStats;

    /// Offloads this link performs (none by default).
    fn capabilities(&self) -> LinkCaps {
        LinkCaps::default()
    }
}

impl<L: Link + ?Sized> Link for Box<L> {
    fn medium(&self) -> Medium {
        (**self).medium()
    }
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn frame_capacity(&self) -> usize {
        (**self).frame_capacity()
    }
    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        (**self).send(now, frame)
    }
    fn send_partial(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        csum: PartialChecksum,
    ) -> io::Result<()> {
        (**self).send_partial(now, frame, csum)
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(now, buf)
    }
    fn recv_info(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<(usize, RxInfo)>> {
        (**self).recv_info(now, buf)
    }
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        (**self).flush(now)
    }
    fn next_event(&self) -> Option<Instant> {
        (**self).next_event()
    }
    fn raw_fd(&self) -> Option<RawFd> {
        (**self).raw_fd()
    }
    fn set_waker(&mut self, waker: Waker) {
        (**self).set_waker(waker)
    }
    fn stats(&self) -> LinkStats {
        (**self).stats()
    }
    fn capabilities(&self) -> LinkCaps {
        (**self).capabilities()
    }
}

/// Hand `link` the frame that `Stack::poll_transmit_frame` wrote into
/// `buf` and described as `f`: through `send_partial` when its checksum is
/// partial, else `send`.
pub fn send_frame<L: Link + ?Sized>(
    link: &mut L,
    now: Instant,
    buf: &mut [u8],
    f: TxFrame,
) -> io::Result<()> {
    let frame = buf.get_mut(..f.len).unwrap_or_default();
    match f.partial_checksum {
        Some(p) => link.send_partial(now, frame, p),
        None => link.send(now, frame),
    }
}

/// A wake-up bell shared between threads (an eventfd underneath). The
/// real-clock runtime polls [`Waker::raw_fd`] next to the link's own fd.
#[derive(Debug, Clone)]
pub struct Waker {
    inner: Arc<sys::EventFd>,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        Ok(Waker {
            inner: Arc::new(sys::EventFd::new()?),
        })
    }
    /// Ring: the waiter's poll returns. Cheap, never blocks.
    pub fn wake(&self) {
        self.inner.wake();
    }
    /// Clear pending rings (the waiter calls this after waking).
    pub fn drain(&self) {
        self.inner.drain();
    }
    pub fn raw_fd(&self) -> RawFd {
        self.inner.raw_fd()
    }
}

/// Earlier of two optional deadlines (`None` = never).
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

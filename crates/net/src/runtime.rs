//! Drivers that run a [`Stack`](sockstack_proto::Stack) over a [`Link`](crate::link::Link).
//!
//! CONTRACT: two drivers, one loop shape. Each iteration reads the clock,
//! drains the link into `handle_frame`, runs `handle_timeout` when
//! `poll_at` has passed, drains `poll_transmit` into the link, calls
//! `Link::flush`, then waits for the next thing to do.
//!
//! * [`Host`]: the real clock. One thread per host sleeps in `ppoll(2)` on the
//!   link's fd and a wake-up eventfd, with a timeout at the earlier of the
//!   stack's `poll_at` and the link's `next_event`. An idle host uses no CPU.
//!   Application threads reach the stack through [`Host::with_stack`] (which
//!   wakes the runtime so new output leaves at once) and block on readiness
//!   with [`Host::wait_until`] (woken after every iteration that moved a
//!   frame or ran a timer). Dropping the host, or [`Host::shutdown`], stops
//!   and joins the thread.
//! * [`VirtualNet`]: virtual time. Several hosts, each a stack plus a link
//!   endpoint (usually [`memory`](crate::link::memory) links), advanced from
//!   event to event as fast as the CPU allows. Nothing reads a clock, so a
//!   run is a pure function of its seeds.
//!
//! ```
//! use sockstack::link::memory::{self, WireConfig};
//! use sockstack::proto::{wire::{Ipv4Addr, MacAddr}, Duration, Instant, Stack, StackConfig};
//! use sockstack::runtime::VirtualNet;
//!
//! let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(Duration::from_millis(5)));
//! let cfg = |last: u8| StackConfig::ethernet(
//!     MacAddr([2, 0, 0, 0, 0, last]), Ipv4Addr::new(198, 18, 0, last), 24);
//! let mut net = VirtualNet::new();
//! let a = net.add_host("a", Stack::new(cfg(1)), la);
//! let _b = net.add_host("b", Stack::new(cfg(2)), lb);
//! net.at(Instant::from_millis(10), move |net| {
//!     let _ = net.stack_mut(a).sockets_mut(); // act on a host at t = 10 ms
//! });
//! net.run_until(Instant::from_secs(1));
//! assert_eq!(net.now(), Instant::from_secs(1));
//! ```
//!
//! A real-clock host (needs a clock shared by both ends of a memory link,
//! which [`RealClock::shared`] is):
//!
//! ```
//! # use sockstack::link::memory::{self, WireConfig};
//! # use sockstack::proto::{wire::{Ipv4Addr, MacAddr}, Stack, StackConfig};
//! use sockstack::runtime::Host;
//! let (la, _lb) = memory::pair(WireConfig::ethernet());
//! let cfg = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(198, 18, 0, 1), 24);
//! let host = Host::spawn("a", Stack::new(cfg), la).unwrap();
//! let mtu = host.with_stack(|s| s.config().mtu);
//! assert_eq!(mtu, 1500);
//! host.shutdown().unwrap();
//! ```

use std::sync::OnceLock;
use std::time::SystemTime;

use sockstack_proto::{Duration, Instant};

mod host;
mod rx_batch;
mod virtual_time;

pub use host::Host;
pub use virtual_time::{HostId, VirtualNet};

/// Maps `std::time::Instant` to proto's [`Instant`] (microseconds since an
/// epoch). Hosts that share a memory link must share a clock.
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    epoch: std::time::Instant,
    unix_at_epoch: Duration,
}

impl RealClock {
    /// A clock whose epoch is now.
    pub fn new() -> RealClock {
        let unix_at_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(Duration::from)
            .unwrap_or(Duration::ZERO);
        RealClock {
            epoch: std::time::Instant::now(),
            unix_at_epoch,
        }
    }

    /// The process-wide clock (epoch: its first use). [`Host::spawn`] uses it.
    pub fn shared() -> RealClock {
        static SHARED: OnceLock<RealClock> = OnceLock::new();
        *SHARED.get_or_init(RealClock::new)
    }

    pub fn now(&self) -> Instant {
        self.from_std(std::time::Instant::now())
    }

    /// The proto instant of a std instant (zero before the epoch).
    pub fn from_std(&self, t: std::time::Instant) -> Instant {
        Instant::ZERO + Duration::from(t.saturating_duration_since(self.epoch))
    }

    /// The std instant of a proto instant.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        let since = core::time::Duration::from(t.saturating_duration_since(Instant::ZERO));
        self.epoch.checked_add(since).unwrap_or(self.epoch)
    }

    /// Unix time at the epoch: add it to an [`Instant`] for wall-clock time
    /// (pcap timestamps: [`crate::link::pcap::PcapWriter::with_time_offset`]).
    pub fn unix_offset(&self) -> Duration {
        self.unix_at_epoch
    }
}

impl Default for RealClock {
    fn default() -> Self {
        RealClock::new()
    }
}

//! In-memory links: a point-to-point [`pair`] and a multi-port [`Hub`].
//!
//! CONTRACT: a frame sent at `now` by one endpoint becomes receivable by the
//! others at `deliver_at = start + len*8/bps + delay`, where `start` is when
//! the sender's transmitter is free (frames from one sender serialise one
//! after another, FIFO) and `delay` is the propagation delay. With no
//! bandwidth set, serialisation takes no time. A frame that would push the
//! sender's untransmitted backlog over `queue_bytes` is dropped and counted
//! (`tx_dropped`), like a full router queue; a frame arriving at an endpoint
//! that already holds `rx_queue_frames` undelivered frames is dropped and
//! counted there (`rx_dropped`). Frames longer than the frame capacity are
//! dropped and counted as `tx_dropped`. Receivers see frames in `deliver_at`
//! order (ties in send order).
//!
//! Times come from the callers' `now`, so every endpoint of one link must be
//! driven by the same clock. [`Link::next_event`] tells the driver the next
//! delivery time. Endpoints are `Send`; a memory link shared between real
//! threads rings the receiver's [`Waker`] on every enqueue.
//!
//! Steady state allocates nothing per frame: frame buffers are recycled
//! through a capped pool inside the link.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use sockstack_proto::{Duration, Instant, Medium};

use super::{link_header_len, Link, LinkStats, Waker};

/// Most recycled buffers kept per link.
const POOL_CAP: usize = 4096;
/// Most MAC addresses a switching hub learns.
const MAC_TABLE_CAP: usize = 4096;

/// Physical model of a memory link (shared by every endpoint of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireConfig {
    pub medium: Medium,
    /// IP MTU carried per frame.
    pub mtu: usize,
    /// Propagation delay added to every frame.
    pub delay: Duration,
    /// Bits per second of each sender's transmitter; `None`: infinitely fast.
    pub bandwidth_bps: Option<u64>,
    /// Cap on bytes waiting for the transmitter (only with a bandwidth).
    pub queue_bytes: usize,
    /// Cap on frames in flight to, or waiting at, one endpoint.
    pub rx_queue_frames: usize,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            medium: Medium::Ethernet,
            mtu: 1500,
            delay: Duration::ZERO,
            bandwidth_bps: None,
            queue_bytes: 1 << 20,
            rx_queue_frames: 8192,
        }
    }
}

impl WireConfig {
    /// Ethernet, 1500 bytes MTU, no delay, unlimited bandwidth.
    pub fn ethernet() -> Self {
        WireConfig::default()
    }
    /// Bare IPv4 packets (like TUN), 1500 bytes MTU.
    pub fn ip() -> Self {
        WireConfig {
            medium: Medium::Ip,
            ..WireConfig::default()
        }
    }
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn with_bandwidth(mut self, bps: u64) -> Self {
        self.bandwidth_bps = (bps > 0).then_some(bps);
        self
    }
    pub fn with_queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }
    pub fn with_rx_queue_frames(mut self, frames: usize) -> Self {
        self.rx_queue_frames = frames;
        self
    }
    fn frame_capacity(&self) -> usize {
        self.mtu + link_header_len(self.medium)
    }
}

/// How a hub forwards a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubMode {
    /// Every frame goes to every other endpoint.
    Broadcast,
    /// Learning switch: unicast to the port that last sent from the
    /// destination MAC, flood when unknown or broadcast/multicast (Ethernet
    /// only; an IP hub always floods).
    Switch,
}

struct Queued {
    deliver_at: Instant,
    /// Send order, to break `deliver_at` ties.
    seq: u64,
    data: Vec<u8>,
}

struct Port {
    open: bool,
    inbox: VecDeque<Queued>,
    /// When this port's transmitter finishes its backlog.
    tx_free_at: Instant,
    waker: Option<Waker>,
    stats: LinkStats,
}

struct Core {
    cfg: WireConfig,
    mode: HubMode,
    ports: Vec<Port>,
    macs: HashMap<[u8; 6], usize>,
    pool: Vec<Vec<u8>>,
    next_seq: u64,
}

impl Core {
    fn take_buf(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut buf = self
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.cfg.frame_capacity()));
        buf.clear();
        buf.extend_from_slice(frame);
        buf
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_CAP {
            self.pool.push(buf);
        }
    }

    /// Serialisation time of `len` bytes, rounded up to a microsecond.
    fn serialisation(&self, len: usize) -> Duration {
        match self.cfg.bandwidth_bps {
            None => Duration::ZERO,
            Some(bps) => {
                let bits = (len as u128) * 8 * 1_000_000;
                let micros = bits.div_ceil(u128::from(bps));
                Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
            }
        }
    }

    /// Bytes still waiting for the transmitter of `port` at `now`.
    fn backlog_bytes(&self, port: usize, now: Instant) -> usize {
        let (Some(bps), Some(p)) = (self.cfg.bandwidth_bps, self.ports.get(port)) else {
            return 0;
        };
        let busy = p.tx_free_at.saturating_duration_since(now).total_micros();
        let bytes = u128::from(busy) * u128::from(bps) / 8_000_000;
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    fn send(&mut self, from: usize, now: Instant, frame: &[u8]) {
        let len = frame.len();
        if len > self.cfg.frame_capacity() {
            self.count_tx_drop(from);
            return;
        }
        let backlog = self.backlog_bytes(from, now);
        if backlog > 0 && backlog + len > self.cfg.queue_bytes {
            self.count_tx_drop(from);
            return;
        }
        let ser = self.serialisation(len);
        let Some(port) = self.ports.get_mut(from) else {
            return;
        };
        let start = port.tx_free_at.max(now);
        port.tx_free_at = start + ser;
        port.stats.tx_frames += 1;
        port.stats.tx_bytes += len as u64;
        let deliver_at = port.tx_free_at + self.cfg.delay;
        let seq = self.next_seq;
        self.next_seq += 1;

        match self.unicast_target(from, frame) {
            Some(to) => self.enqueue(to, deliver_at, seq, frame),
            None => {
                for to in 0..self.ports.len() {
                    if to != from {
                        self.enqueue(to, deliver_at, seq, frame);
                    }
                }
            }
        }
    }

    /// The one port a switching hub sends `frame` to, learning its source.
    fn unicast_target(&mut self, from: usize, frame: &[u8]) -> Option<usize> {
        if self.ports.len() == 2 {
            return Some(1 - from);
        }
        if self.mode != HubMode::Switch || self.cfg.medium != Medium::Ethernet {
            return None;
        }
        let dst: [u8; 6] = frame.get(0..6)?.try_into().ok()?;
        let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
        // Group bit (I/G) clear: a unicast address worth learning.
        if src[0] & 1 == 0 && (self.macs.len() < MAC_TABLE_CAP || self.macs.contains_key(&src)) {
            self.macs.insert(src, from);
        }
        if dst[0] & 1 != 0 {
            return None;
        }
        self.macs.get(&dst).copied().filter(|&p| p != from)
    }

    fn enqueue(&mut self, to: usize, deliver_at: Instant, seq: u64, frame: &[u8]) {
        let cap = self.cfg.rx_queue_frames;
        let Some(port) = self.ports.get(to) else {
            return;
        };
        if !port.open {
            return;
        }
        if port.inbox.len() >= cap {
            if let Some(p) = self.ports.get_mut(to) {
                p.stats.rx_dropped += 1;
            }
            return;
        }
        let data = self.take_buf(frame);
        let Some(port) = self.ports.get_mut(to) else {
            return;
        };
        // Keep the inbox sorted by (deliver_at, seq); new frames almost always
        // go at the back, so search from there.
        let pos = port
            .inbox
            .iter()
            .rposition(|q| (q.deliver_at, q.seq) <= (deliver_at, seq))
            .map_or(0, |i| i + 1);
        port.inbox.insert(
            pos,
            Queued {
                deliver_at,
                seq,
                data,
            },
        );
        if let Some(w) = &port.waker {
            w.wake();
        }
    }

    fn count_tx_drop(&mut self, port: usize) {
        if let Some(p) = self.ports.get_mut(port) {
            p.stats.tx_dropped += 1;
        }
    }

    fn add_port(&mut self) -> usize {
        self.ports.push(Port {
            open: true,
            inbox: VecDeque::new(),
            tx_free_at: Instant::ZERO,
            waker: None,
            stats: LinkStats::default(),
        });
        self.ports.len() - 1
    }
}

type SharedCore = Arc<Mutex<Core>>;

fn lock(core: &SharedCore) -> MutexGuard<'_, Core> {
    // A panic while holding the lock leaves only counters and queues behind,
    // which stay consistent enough to keep going.
    core.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_core(cfg: WireConfig, mode: HubMode) -> SharedCore {
    Arc::new(Mutex::new(Core {
        cfg,
        mode,
        ports: Vec::new(),
        macs: HashMap::new(),
        pool: Vec::new(),
        next_seq: 0,
    }))
}

/// One endpoint of a memory link or hub.
pub struct MemoryLink {
    core: SharedCore,
    port: usize,
    medium: Medium,
    mtu: usize,
}

impl std::fmt::Debug for MemoryLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLink")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Two endpoints joined by one wire (one transmitter per direction).
pub fn pair(cfg: WireConfig) -> (MemoryLink, MemoryLink) {
    let hub = Hub::new(cfg, HubMode::Broadcast);
    (hub.endpoint(), hub.endpoint())
}

/// A shared segment with any number of endpoints. Each endpoint's
/// transmitter has the configured bandwidth; propagation delay applies from
/// sender to every receiver. Dropping the `Hub` keeps its endpoints working.
#[derive(Clone)]
pub struct Hub {
    core: SharedCore,
}

impl Hub {
    pub fn new(cfg: WireConfig, mode: HubMode) -> Hub {
        Hub {
            core: new_core(cfg, mode),
        }
    }

    /// Plug in a new endpoint. (A two-port hub forwards like a [`pair`].)
    pub fn endpoint(&self) -> MemoryLink {
        let mut core = lock(&self.core);
        let port = core.add_port();
        MemoryLink {
            core: Arc::clone(&self.core),
            port,
            medium: core.cfg.medium,
            mtu: core.cfg.mtu,
        }
    }

    /// Counters of every endpoint, by port number.
    pub fn port_stats(&self) -> Vec<LinkStats> {
        lock(&self.core).ports.iter().map(|p| p.stats).collect()
    }
}

impl MemoryLink {
    /// This endpoint's port number on its hub (0 and 1 for a pair).
    pub fn port(&self) -> usize {
        self.port
    }
    /// Frames in flight to, or waiting at, this endpoint.
    pub fn queued_frames(&self) -> usize {
        lock(&self.core)
            .ports
            .get(self.port)
            .map_or(0, |p| p.inbox.len())
    }
}

impl Link for MemoryLink {
    fn medium(&self) -> Medium {
        self.medium
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        lock(&self.core).send(self.port, now, frame);
        Ok(())
    }

    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut core = lock(&self.core);
        let Some(port) = core.ports.get_mut(self.port) else {
            return Ok(None);
        };
        if port.inbox.front().is_none_or(|q| q.deliver_at > now) {
            return Ok(None);
        }
        let Some(q) = port.inbox.pop_front() else {
            return Ok(None);
        };
        let n = q.data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), q.data.get(..n)) {
            dst.copy_from_slice(src);
        }
        port.stats.rx_frames += 1;
        port.stats.rx_bytes += q.data.len() as u64;
        core.recycle(q.data);
        Ok(Some(n))
    }

    fn next_event(&self) -> Option<Instant> {
        lock(&self.core)
            .ports
            .get(self.port)
            .and_then(|p| p.inbox.front().map(|q| q.deliver_at))
    }

    fn set_waker(&mut self, waker: Waker) {
        if let Some(p) = lock(&self.core).ports.get_mut(self.port) {
            if !p.inbox.is_empty() {
                waker.wake();
            }
            p.waker = Some(waker);
        }
    }

    fn stats(&self) -> LinkStats {
        lock(&self.core)
            .ports
            .get(self.port)
            .map_or_else(LinkStats::default, |p| p.stats)
    }
}

impl Drop for MemoryLink {
    fn drop(&mut self) {
        let mut core = lock(&self.core);
        let mut freed = Vec::new();
        if let Some(p) = core.ports.get_mut(self.port) {
            p.open = false;
            p.waker = None;
            freed.extend(p.inbox.drain(..).map(|q| q.data));
        }
        for buf in freed {
            core.recycle(buf);
        }
    }
}

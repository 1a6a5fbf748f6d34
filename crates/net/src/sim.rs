//! Two sockstack hosts on one in-memory wire in virtual time, ready for TCP.
//!
//! CONTRACT: [`TcpPair::new`] builds a [`VirtualNet`] with a client host
//! (198.18.0.1) and a server host (198.18.0.2) on one memory link (a
//! [`WireConfig`] of the caller's choice), each endpoint wrapped in an
//! [`Impaired`] link that disturbs the frames it sends (`Direction::Tx`, so
//! every frame is disturbed once, with a seed derived from the pair's seed
//! and the host), in a [`Filtered`] link that loses the frames a test's
//! [`DropRule`] picks (none by default), and in a [`Captured`] link that
//! records what the host sends and receives (into memory when asked,
//! otherwise nowhere). Everything is
//! derived from [`PairConfig::seed`]: the same configuration replays the
//! same run, frame for frame.
//!
//! Applications run between virtual-time steps: a closure given to
//! [`VirtualNet::run_until_cond`] (through [`TcpPair::run_until`]) reads and
//! writes sockets through `net.stack_mut(id).sockets_mut()`; the stacks send
//! what it queued at the next step. (So two writes in one closure call leave
//! as one segment where a kernel would push the first at once; call
//! `net.poll()` between them to model that.) [`Source`] and [`Sink`] are the two ends
//! of a seeded bulk stream for such closures: a source keeps a socket's send
//! buffer full of reproducible bytes, a sink drains a socket, and both show
//! every byte to an observer (a hash, a comparison) on the way.
//!
//! ```
//! use sockstack::sim::{PairConfig, TcpPair};
//! use sockstack::proto::Instant;
//!
//! let mut pair = TcpPair::new(PairConfig::default());
//! let (c, s) = pair.connect(80, Instant::from_secs(5)).expect("handshake");
//! let sent = pair.net.stack_mut(pair.client).sockets_mut().send(c, b"hello").unwrap();
//! assert_eq!(sent, 5);
//! let mut buf = [0u8; 16];
//! let server = pair.server;
//! let got = pair.run_until(Instant::from_secs(10), |net| {
//!     net.stack_mut(server).sockets_mut().recv(s, &mut buf).is_ok()
//! });
//! assert!(got);
//! assert_eq!(&buf[..5], b"hello");
//!
//! // A checked bulk transfer both ways at once, for demos and benchmarks.
//! let t = pair.transfer((c, s), 1 << 20, 1 << 20, Instant::from_secs(60)).unwrap();
//! assert_eq!((t.up, t.down), (1 << 20, 1 << 20));
//! ```

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{
    Duration, Instant, Profile, RecvError, SendError, Shutdown, SocketHandle, SocketSet, Stack,
    StackConfig, TcpError,
};

use crate::link::impair::{Direction, ImpairConfig, ImpairStats, Impaired};
use crate::link::memory::{self, MemoryLink, WireConfig};
use crate::link::pcap::{Captured, LinkType, PcapWriter};
use crate::link::{Link, LinkStats};
use crate::runtime::{HostId, VirtualNet};

/// The link type of each host in a [`TcpPair`]: capture, then a test's
/// drop rule, then the seeded impairment, then the wire.
pub type SimLink = Captured<Filtered<Impaired<MemoryLink>>, CaptureBuf>;

/// Decides, per frame a host sends, whether the wire loses it.
pub type DropRule = Box<dyn FnMut(Instant, &[u8]) -> bool + Send>;

/// A link that loses the frames a [`DropRule`] picks (scripted loss: "drop
/// the first FIN", "black out both directions for a second").
pub struct Filtered<L: Link> {
    inner: L,
    rule: Option<DropRule>,
    dropped: u64,
}

impl<L: Link> Filtered<L> {
    /// Pass everything until a rule is set.
    pub fn new(inner: L) -> Self {
        Filtered {
            inner,
            rule: None,
            dropped: 0,
        }
    }
    pub fn set_rule(&mut self, rule: Option<DropRule>) {
        self.rule = rule;
    }
    /// Frames the rule dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    pub fn inner(&self) -> &L {
        &self.inner
    }
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }
}

impl<L: Link> Link for Filtered<L> {
    fn medium(&self) -> sockstack_proto::Medium {
        self.inner.medium()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn frame_capacity(&self) -> usize {
        self.inner.frame_capacity()
    }
    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        if let Some(rule) = &mut self.rule {
            if rule(now, frame) {
                self.dropped += 1;
                return Ok(());
            }
        }
        self.inner.send(now, frame)
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.inner.recv(now, buf)
    }
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush(now)
    }
    fn next_event(&self) -> Option<Instant> {
        self.inner.next_event()
    }
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.raw_fd()
    }
    fn set_waker(&mut self, waker: crate::link::Waker) {
        self.inner.set_waker(waker);
    }
    fn stats(&self) -> LinkStats {
        self.inner.stats()
    }
}

/// How to build a [`TcpPair`].
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// Seeds both stacks and both impairments.
    pub seed: u64,
    /// The wire between the hosts (medium must be Ethernet).
    pub wire: WireConfig,
    /// Disturbance applied to each host's outgoing frames; its `seed` and
    /// `direction` are replaced (derived from `seed`, `Direction::Tx`).
    pub impair: ImpairConfig,
    /// TCP profile of both hosts.
    pub profile: Profile,
    /// A different profile for the client, to pair unlike peers.
    pub client_profile: Option<Profile>,
    /// Record each host's frames in memory (see [`TcpPair::pcap`]).
    pub capture: bool,
}

impl Default for PairConfig {
    /// A clean gigabit wire with 100 us propagation delay, Linux profile,
    /// no capture, seed 1.
    fn default() -> Self {
        PairConfig {
            seed: 1,
            wire: WireConfig::ethernet()
                .with_delay(Duration::from_micros(100))
                .with_bandwidth(1_000_000_000)
                .with_queue_bytes(4 << 20)
                .with_rx_queue_frames(1 << 16),
            impair: ImpairConfig::default(),
            profile: Profile::linux(),
            client_profile: None,
            capture: false,
        }
    }
}

impl PairConfig {
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn with_wire(mut self, wire: WireConfig) -> Self {
        self.wire = wire;
        self
    }
    pub fn with_impair(mut self, impair: ImpairConfig) -> Self {
        self.impair = impair;
        self
    }
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
    pub fn with_client_profile(mut self, profile: Profile) -> Self {
        self.client_profile = Some(profile);
        self
    }
    pub fn with_capture(mut self, on: bool) -> Self {
        self.capture = on;
        self
    }
}

/// A pcap sink in memory, or nowhere. Clones share the bytes.
#[derive(Debug, Clone, Default)]
pub struct CaptureBuf(Option<Arc<Mutex<Vec<u8>>>>);

impl CaptureBuf {
    /// Keep what is written.
    pub fn memory() -> Self {
        CaptureBuf(Some(Arc::default()))
    }
    /// Discard what is written.
    pub fn discard() -> Self {
        CaptureBuf(None)
    }
    /// A copy of the bytes so far (empty when discarding).
    pub fn bytes(&self) -> Vec<u8> {
        self.0.as_ref().map_or_else(Vec::new, |m| {
            m.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }
}

impl Write for CaptureBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if let Some(m) = &self.0 {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Two hosts on one wire in virtual time. See the module doc.
pub struct TcpPair {
    pub net: VirtualNet,
    /// 198.18.0.1
    pub client: HostId,
    /// 198.18.0.2
    pub server: HostId,
    captures: [CaptureBuf; 2],
}

/// The address of host number `n` (1: client, 2: server).
fn host_addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, n)
}

impl TcpPair {
    /// Build the two hosts. See the module doc for what is derived from what.
    pub fn new(cfg: PairConfig) -> TcpPair {
        let (la, lb) = memory::pair(cfg.wire.clone());
        let mut net = VirtualNet::new();
        let mut captures = [CaptureBuf::discard(), CaptureBuf::discard()];
        let mut ids = Vec::with_capacity(2);
        for (i, link) in [la, lb].into_iter().enumerate() {
            let n = i as u8 + 1;
            let mut sc = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, n]), host_addr(n), 24);
            sc.mtu = cfg.wire.mtu;
            sc.seed = mix(cfg.seed, u64::from(n));
            let mut stack = Stack::new(sc);
            let profile = match (&cfg.client_profile, n) {
                (Some(p), 1) => p.clone(),
                _ => cfg.profile.clone(),
            };
            stack.sockets_mut().set_profile(profile);
            let impair = ImpairConfig {
                seed: mix(cfg.seed, 0x100 + u64::from(n)),
                direction: Direction::Tx,
                ..cfg.impair.clone()
            };
            let sink = if cfg.capture {
                CaptureBuf::memory()
            } else {
                CaptureBuf::discard()
            };
            captures[i] = sink.clone();
            let lt = LinkType::for_medium(cfg.wire.medium);
            // Writing 24 bytes into memory cannot fail.
            let writer = match PcapWriter::new(sink, lt) {
                Ok(w) => w,
                Err(e) => unreachable!("in-memory pcap header: {e}"),
            };
            let link = Captured::new(Filtered::new(Impaired::new(link, impair)), writer);
            let name = if n == 1 { "client" } else { "server" };
            ids.push(net.add_host(name, stack, link));
        }
        TcpPair {
            net,
            client: ids[0],
            server: ids[1],
            captures,
        }
    }

    /// The IPv4 address of `id`.
    pub fn addr(&self, id: HostId) -> Ipv4Addr {
        self.net.stack(id).config().addr
    }

    /// The other host.
    pub fn peer(&self, id: HostId) -> HostId {
        if id == self.client {
            self.server
        } else {
            self.client
        }
    }

    /// The TCP sockets of `id`.
    pub fn sockets(&mut self, id: HostId) -> &mut SocketSet {
        self.net.stack_mut(id).sockets_mut()
    }

    /// The link of `id` as built.
    pub fn link(&self, id: HostId) -> &SimLink {
        match self.net.link_as::<SimLink>(id) {
            Some(l) => l,
            None => unreachable!("TcpPair hosts always have a SimLink"),
        }
    }

    /// Frame counters of `id`'s memory link endpoint.
    pub fn link_stats(&self, id: HostId) -> LinkStats {
        self.link(id).stats()
    }

    /// What the impairment did to the frames `id` sent.
    pub fn impair_stats(&self, id: HostId) -> ImpairStats {
        self.link(id).inner().inner().tx_stats()
    }

    /// Lose the frames `rule` picks among those `id` sends from now on
    /// (`None`: lose nothing). Applies before the impairment.
    pub fn set_drop_rule(&mut self, id: HostId, rule: Option<DropRule>) {
        if let Some(l) = self.net.link_as_mut::<SimLink>(id) {
            l.inner_mut().set_rule(rule);
        }
    }

    /// Frames of `id` lost to drop rules so far.
    pub fn rule_dropped(&self, id: HostId) -> u64 {
        self.link(id).inner().dropped()
    }

    /// The capture of `id` so far, as pcap file bytes; empty unless
    /// [`PairConfig::capture`] was set.
    pub fn pcap(&self, id: HostId) -> Vec<u8> {
        self.captures[id.index()].bytes()
    }

    /// Run `app` between steps until it returns true (true) or the clock
    /// would pass `limit` or nothing is pending (false).
    pub fn run_until(&mut self, limit: Instant, app: impl FnMut(&mut VirtualNet) -> bool) -> bool {
        self.net.run_until_cond(limit, app)
    }

    /// Listen on the server's `port` (SO_REUSEADDR on, backlog 128), connect
    /// from the client, and accept; the two connected handles, or `None` if
    /// the handshake has not finished by `limit`.
    pub fn connect(&mut self, port: u16, limit: Instant) -> Option<(SocketHandle, SocketHandle)> {
        let server_ip = self.addr(self.server);
        let l = self.listen(port, 128)?;
        let now = self.net.now();
        let sc = self.sockets(self.client);
        let c = sc.tcp_socket()?;
        sc.connect(now, c, server_ip, port).ok()?;
        let server = self.server;
        let mut accepted = None;
        let done = self.run_until(limit, |net| {
            if accepted.is_none() {
                accepted = net.stack_mut(server).sockets_mut().accept(l).ok();
            }
            accepted.is_some()
        });
        let s = accepted.filter(|_| done)?;
        // The listener is not needed any more; its accepted child stays.
        let _ = self.sockets(self.server).close(l);
        Some((c, s))
    }

    /// Ping the server from the client (a raw ICMP echo) so that both
    /// neighbour caches are filled before a test opens many connections at
    /// once (a burst to an unresolved neighbour is mostly dropped, as on
    /// Linux). True when the reply came back by `limit`.
    pub fn resolve_neighbours(&mut self, limit: Instant) -> bool {
        let server_ip = self.addr(self.server);
        let client = self.client;
        let stack = self.net.stack_mut(client);
        let Ok(h) = stack.raw_icmp_open() else {
            return false;
        };
        // Echo request: type 8, code 0, checksum (filled in), id, sequence.
        let echo = [8u8, 0, 0, 0, 0x53, 0x53, 0, 1, b's', b'i', b'm', 0];
        if stack.raw_icmp_send(h, server_ip, &echo).is_err() {
            stack.raw_icmp_close(h);
            return false;
        }
        let mut buf = [0u8; 128];
        let done = self.run_until(limit, |net| {
            let stack = net.stack_mut(client);
            // The raw socket sees every ICMP packet; wait for the reply (type 0).
            while let Ok(n) = stack.raw_icmp_recv(h, &mut buf) {
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                if n > ihl && buf.get(ihl) == Some(&0) {
                    return true;
                }
            }
            false
        });
        self.net.stack_mut(client).raw_icmp_close(h);
        done
    }

    /// Send `up` seeded bytes client -> server and `down` bytes server ->
    /// client over the connected pair `(c, s)` at the same time, half-close
    /// each direction when its bytes are written, and read both to EOF.
    /// Each byte read is compared with the byte the [`Source`] generated.
    /// The sockets stay open (both half-closed) for the caller to close.
    pub fn transfer(
        &mut self,
        (c, s): (SocketHandle, SocketHandle),
        up: u64,
        down: u64,
        limit: Instant,
    ) -> Result<Transfer, TransferError> {
        let start = self.net.now();
        let ids = [(self.client, c, 0x7570), (self.server, s, 0x646f)];
        let mut ends = ids.map(|(id, h, k)| {
            let len = if k == 0x7570 { up } else { down };
            let seed = mix(k, len);
            (
                id,
                h,
                Source::new(seed, len),
                Sink::new(),
                Source::new(seed, len),
                false,
            )
        });
        let mut failure = None;
        let mut expect = Vec::new();
        let done = self.run_until(limit, |net| {
            for end in ends.iter_mut() {
                let (id, h) = (end.0, end.1);
                let ss = net.stack_mut(id).sockets_mut();
                if let Err(e) = end.2.pump(ss, h, |_| {}) {
                    failure = Some(TransferError::Send(e));
                    return true;
                }
                if end.2.done() && !end.5 {
                    end.5 = ss.shutdown(h, Shutdown::Write).is_ok();
                }
            }
            for i in 0..2 {
                // What host i reads was generated by the other end's twin source.
                let (id, h) = (ends[i].0, ends[i].1);
                let ss = net.stack_mut(id).sockets_mut();
                let (left, right) = ends.split_at_mut(1);
                let (mine, theirs) = if i == 0 {
                    (&mut left[0], &mut right[0])
                } else {
                    (&mut right[0], &mut left[0])
                };
                let twin = &mut theirs.4;
                let mut bad = false;
                let r = mine.3.drain(ss, h, |b| {
                    expect.resize(b.len(), 0);
                    twin.fill(&mut expect);
                    bad |= expect != b;
                });
                if bad {
                    failure = Some(TransferError::Corrupt);
                    return true;
                }
                if let Err(e) = r {
                    failure = Some(TransferError::Recv(e));
                    return true;
                }
            }
            ends.iter().all(|e| e.5 && e.3.eof())
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if !done {
            return Err(TransferError::Unfinished);
        }
        let retrans = |id: HostId, h| {
            self.net
                .stack(id)
                .sockets()
                .info(h)
                .map_or(0, |i| i.total_retrans)
        };
        Ok(Transfer {
            up: ends[1].3.received(),
            down: ends[0].3.received(),
            elapsed: self.net.now().saturating_duration_since(start),
            retrans: (retrans(self.client, c), retrans(self.server, s)),
        })
    }

    /// A listening socket on the server's `port` with SO_REUSEADDR.
    pub fn listen(&mut self, port: u16, backlog: u32) -> Option<SocketHandle> {
        let ss = self.sockets(self.server);
        let l = ss.tcp_socket()?;
        ss.set_reuse_addr(l, true).ok()?;
        ss.bind(l, Ipv4Addr::UNSPECIFIED, port).ok()?;
        ss.listen(l, backlog).ok()?;
        Some(l)
    }
}

/// SplitMix64 of `a` and `b`: distinct, well-spread seeds from one seed.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bytes generated per refill of a [`Source`].
const CHUNK: usize = 64 * 1024;

/// The sending end of a seeded bulk stream: `len` bytes of ChaCha8 output.
pub struct Source {
    rng: ChaCha8Rng,
    /// Bytes not yet generated.
    left: u64,
    chunk: Vec<u8>,
    /// Bytes of `chunk` already accepted by the socket.
    at: usize,
    sent: u64,
}

impl Source {
    pub fn new(seed: u64, len: u64) -> Source {
        Source {
            rng: ChaCha8Rng::seed_from_u64(seed),
            left: len,
            chunk: Vec::new(),
            at: 0,
            sent: 0,
        }
    }

    /// Generate the next `out.len()` bytes of the stream into `out` without
    /// a socket (a twin source built with the same seed checks a receiver).
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut at = 0;
        while at < out.len() {
            if self.at == self.chunk.len() {
                let len = CHUNK.min(usize::try_from(self.left).unwrap_or(CHUNK));
                if len == 0 {
                    return;
                }
                self.chunk.resize(len, 0);
                self.rng.fill_bytes(&mut self.chunk);
                self.at = 0;
                self.left -= len as u64;
            }
            let n = (self.chunk.len() - self.at).min(out.len() - at);
            if let (Some(dst), Some(src)) = (
                out.get_mut(at..at + n),
                self.chunk.get(self.at..self.at + n),
            ) {
                dst.copy_from_slice(src);
            }
            self.at += n;
            self.sent += n as u64;
            at += n;
        }
    }

    /// Bytes the socket has accepted so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Every byte has been handed to the socket.
    pub fn done(&self) -> bool {
        self.left == 0 && self.at == self.chunk.len()
    }

    /// Send until the socket's buffer is full or the stream ends; `observe`
    /// sees each newly generated chunk once, in order. Returns bytes sent
    /// now, or the socket's error (`WouldBlock` is not an error here).
    pub fn pump(
        &mut self,
        sockets: &mut SocketSet,
        h: SocketHandle,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<u64, SendError> {
        let mut n = 0u64;
        loop {
            if self.at == self.chunk.len() {
                if self.left == 0 {
                    return Ok(n);
                }
                let len = CHUNK.min(usize::try_from(self.left).unwrap_or(CHUNK));
                self.chunk.resize(len, 0);
                self.rng.fill_bytes(&mut self.chunk);
                self.at = 0;
                self.left -= len as u64;
                observe(&self.chunk);
            }
            let rest = self.chunk.get(self.at..).unwrap_or_default();
            match sockets.send(h, rest) {
                Ok(k) => {
                    self.at += k;
                    self.sent += k as u64;
                    n += k as u64;
                }
                Err(SendError::WouldBlock) => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    }
}

/// What [`TcpPair::transfer`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes the server read, and the client read.
    pub up: u64,
    pub down: u64,
    /// Virtual time from the first write to both EOFs.
    pub elapsed: Duration,
    /// TCP_INFO total_retrans of the client's and the server's socket.
    pub retrans: (u64, u64),
}

/// Why [`TcpPair::transfer`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    Send(SendError),
    Recv(SinkError),
    /// A byte read differs from the byte sent.
    Corrupt,
    /// Not done by the time limit (or nothing left to happen).
    Unfinished,
}

/// Why a [`Sink`] stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError {
    /// The connection failed (reset, timeout ...).
    Tcp(TcpError),
    /// Any other `recv` failure.
    Recv(RecvError),
}

/// The receiving end of a bulk stream: drains a socket, counting bytes.
#[derive(Default)]
pub struct Sink {
    buf: Vec<u8>,
    received: u64,
    eof: bool,
}

impl Sink {
    pub fn new() -> Sink {
        Sink {
            buf: vec![0; CHUNK],
            received: 0,
            eof: false,
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// The peer's FIN has been read.
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Read everything readable now; `observe` sees the bytes in order.
    /// Returns bytes read now.
    pub fn drain(
        &mut self,
        sockets: &mut SocketSet,
        h: SocketHandle,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<u64, SinkError> {
        if self.buf.is_empty() {
            self.buf.resize(CHUNK, 0);
        }
        let mut n = 0u64;
        while !self.eof {
            match sockets.recv(h, &mut self.buf) {
                Ok(k) => {
                    observe(self.buf.get(..k).unwrap_or_default());
                    self.received += k as u64;
                    n += k as u64;
                }
                Err(RecvError::WouldBlock) => break,
                Err(RecvError::Eof) => self.eof = true,
                Err(RecvError::Error(e)) => return Err(SinkError::Tcp(e)),
                Err(e) => return Err(SinkError::Recv(e)),
            }
        }
        Ok(n)
    }
}

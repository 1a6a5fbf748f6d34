//! The stack: one interface plus its sockets, driven by the caller.
//!
//! CONTRACT: `handle_frame` takes one received frame (Ethernet or raw IPv4,
//! per `Medium`); `poll_transmit` writes the next outgoing frame into `buf`
//! and returns its length, `None` when nothing is ready (call it until
//! `None` after every `handle_*` and after sending on a socket);
//! `handle_timeout` runs expired timers; `poll_at` gives the earliest
//! deadline (`None`: idle until input arrives; a time not after the last
//! `now` seen means "output is ready, call `poll_transmit`"). None of them
//! panic on any input, and every queue they fill is capped by `Limits`.
//!
//! The interface logic lives in `iface/` as further `impl Stack` blocks:
//! `link.rs` (Ethernet, ARP), `ipv4_in.rs`, `ipv4_out.rs`, `icmp.rs`.
//! Datagrams to 127.0.0.0/8 and to our own address go through the loopback
//! queue (`iface/loopback.rs`) and never reach the link; UDP and raw
//! sockets may bind to a loopback address.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::iface::arp_cache::ArpCache;
use crate::iface::config::Limits;
use crate::iface::gso::GsoTrain;
use crate::iface::icmp::{PeerLimiter, TokenBucket};
use crate::iface::ipv4_out::{PartialChecksum, TxFrame, TxQueue};
use crate::iface::loopback::LoopbackQueue;
use crate::iface::reassembly::Reassembler;
use crate::raw::{OpenError, RawHandle, RawMeta, RawTable};
use crate::snapshot::{StatRow, Stats, UdpRow};
use crate::sockets::{IcmpError, SocketSet};
use crate::time::Instant;
use crate::udp::{BindError, IcmpReport, RecvError, RecvMeta, SendError, UdpHandle, UdpTable};
use crate::wire::{ArpRepr, IpProtocol, Ipv4Addr, Ipv4Repr, MacAddr};

/// What the link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// Ethernet II frames (TAP, memory links); ARP resolves neighbours.
    Ethernet,
    /// Bare IPv4 packets (TUN); no ARP. Every destination goes to the link.
    Ip,
}

/// Interface configuration.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub medium: Medium,
    pub mac: MacAddr,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    /// Next hop for off-link destinations; without one they are dropped and
    /// counted (`ipv4.tx_no_route`). Ignored on `Medium::Ip`.
    pub gateway: Option<Ipv4Addr>,
    /// IP MTU (bytes of IPv4 header + payload per frame).
    pub mtu: usize,
    /// TCP segmentation offload: the largest IPv4 packet the link takes
    /// from TCP and cuts itself into MTU-sized pieces (a TAP with
    /// IFF_VNET_HDR: `Link::capabilities().tso_max`). At most `mtu` (0 by
    /// default): off. When on, a connection whose MSS fills the MTU sends
    /// segments of several MSS (`tcp/tso.rs`); the MSS on the wire and in
    /// the SYN is unchanged. Received packets may exceed the MTU either way.
    pub tso_max: usize,
    /// Generic segmentation offload in software (Linux GSO; on by default,
    /// 65,536 as Linux's `gso_max_size`): on a link that does not segment
    /// (`tso_max` not above `mtu`) and without `tx_checksum_offload`, the
    /// largest TCP segment the stack builds and then cuts into MTU-sized
    /// frames itself, one per `poll_transmit` call (`iface/gso.rs`). The
    /// frames are the segments TCP would have sent one MSS at a time; TCP's
    /// per-segment work runs once per up to 45 of them. 0 (or at most
    /// `mtu`) turns it off.
    pub gso_max: usize,
    /// Transmit checksum offload (Linux CHECKSUM_PARTIAL; a TAP with
    /// IFF_VNET_HDR and TUN_F_CSUM: `Link::capabilities().tx_checksum`).
    /// When on, TCP segments leave with only the pseudo-header sum in their
    /// checksum field and the payload is copied from the send ring without
    /// being summed; [`Stack::poll_transmit_frame`] says where the link must
    /// finish the checksum ([`TxFrame::partial_checksum`]), and
    /// [`Stack::poll_transmit`] finishes it itself. Segments looped back to
    /// our own address, or parked for ARP, are finished inside the stack.
    /// UDP, ICMP, raw sockets and fragments keep full checksums. Off by
    /// default: every frame carries a complete checksum.
    pub tx_checksum_offload: bool,
    /// Seed for every random choice the stack makes (ISNs, ports, ident...).
    pub seed: u64,
    /// Caps and timers of the interface layer and datagram sockets.
    pub limits: Limits,
    /// Receive checksum folded into the copy (issue 7, Linux
    /// `skb_copy_and_csum_datagram`): an in-order data segment's payload is
    /// copied into the receive ring while it is summed, and the segment
    /// processed once the sum verifies (a bad one changes nothing). Off by
    /// default: measured on the in-memory bulk benchmark it did not help
    /// (the payload is hot in L1 right after the frame was read, so a
    /// vectorised memcpy plus a separate sum costs no more than the scalar
    /// copy-and-sum; docs/PERF_NOTES.md). Frames from
    /// `handle_frame_verified` skip the sum either way.
    pub rx_checksum_fold: bool,
}

/// Linux's `GSO_LEGACY_MAX_SIZE`: the default `StackConfig::gso_max`.
pub const GSO_MAX: usize = 65_536;

impl StackConfig {
    /// An Ethernet host (TAP or memory link) with Linux defaults.
    pub fn ethernet(mac: MacAddr, addr: Ipv4Addr, prefix_len: u8) -> Self {
        StackConfig {
            medium: Medium::Ethernet,
            mac,
            addr,
            prefix_len,
            gateway: None,
            mtu: 1500,
            tso_max: 0,
            gso_max: GSO_MAX,
            tx_checksum_offload: false,
            seed: 0,
            limits: Limits::default(),
            rx_checksum_fold: false,
        }
    }

    /// An IP-medium host (TUN) with Linux defaults.
    pub fn ip(addr: Ipv4Addr, prefix_len: u8) -> Self {
        StackConfig {
            medium: Medium::Ip,
            mac: MacAddr::default(),
            ..StackConfig::ethernet(MacAddr::default(), addr, prefix_len)
        }
    }

    /// The subnet mask as a u32 (prefix lengths above 32 act as 32).
    pub(crate) fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        }
    }

    /// True when `a` is on our subnet.
    pub(crate) fn on_link(&self, a: Ipv4Addr) -> bool {
        (u32::from(a) & self.mask()) == (u32::from(self.addr) & self.mask())
    }

    /// The directed broadcast address of our subnet.
    pub(crate) fn subnet_broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
}

/// A TCP/IP host: interface, neighbour cache, sockets.
pub struct Stack {
    pub(crate) config: StackConfig,
    pub(crate) sockets: SocketSet,
    pub(crate) udp: UdpTable,
    pub(crate) raw: RawTable,
    pub(crate) arp: ArpCache,
    /// ARP replies waiting for `poll_transmit`: (destination MAC, packet).
    pub(crate) arp_replies: VecDeque<(MacAddr, ArpRepr)>,
    /// The gratuitous ARP has been sent (RFC 5227, 2.3).
    pub(crate) announced: bool,
    pub(crate) reasm: Reassembler,
    pub(crate) tx: TxQueue,
    /// The loopback interface's queue.
    pub(crate) lo: LoopbackQueue,
    pub(crate) echo_bucket: TokenBucket,
    pub(crate) error_bucket: TokenBucket,
    pub(crate) peer_limiter: PeerLimiter,
    pub(crate) ident: u16,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) stats: Stats,
    /// The latest `now` passed in, for `poll_at` when output is ready.
    pub(crate) last_now: Instant,
    /// The last (destination, next hop) the socket path routed: a route
    /// depends only on the configuration, which never changes after `new`.
    pub(crate) last_route: Option<(Ipv4Addr, crate::iface::ipv4_out::NextHop)>,
    /// Where the frame `transmit` just wrote has its checksum left partial.
    pub(crate) tx_partial: Option<PartialChecksum>,
    /// The segment being cut into frames (software GSO).
    pub(crate) gso: Option<GsoTrain>,
    /// `Stack::gso_packet` of the configuration.
    pub(crate) gso_packet: usize,
}

impl Stack {
    pub fn new(config: StackConfig) -> Self {
        let mut sockets = SocketSet::new(config.addr, config.seed);
        sockets.set_mtu(config.mtu);
        let gso_packet = Stack::gso_packet(&config);
        sockets.set_tso(config.tso_max > config.mtu || gso_packet > 0);
        sockets.tx_csum_partial = config.tx_checksum_offload;
        // A stream distinct from the socket layer's, derived from the same seed.
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6966_6163_6500_0001);
        let ident = (rng.next_u32() & 0xffff) as u16;
        let l = &config.limits;
        Stack {
            udp: UdpTable::new(l),
            raw: RawTable::new(l),
            arp: ArpCache::new(l, crate::storage::HashKey::from_seed(config.seed, 1)),
            arp_replies: VecDeque::new(),
            announced: config.medium == Medium::Ip,
            reasm: Reassembler::new(l),
            tx: TxQueue::default(),
            lo: LoopbackQueue::default(),
            echo_bucket: TokenBucket::new(l.icmp_rate, l.icmp_burst),
            error_bucket: TokenBucket::new(l.icmp_rate, l.icmp_burst),
            peer_limiter: PeerLimiter::new(l.icmp_peer_rate, l.icmp_peer_burst, l.icmp_peer_max),
            ident,
            rng,
            stats: Stats::default(),
            last_now: Instant::ZERO,
            last_route: None,
            tx_partial: None,
            gso: None,
            gso_packet,
            sockets,
            config,
        }
    }
    pub fn config(&self) -> &StackConfig {
        &self.config
    }
    /// The sockets of this stack (the socket API lives on `SocketSet`).
    pub fn sockets(&self) -> &SocketSet {
        &self.sockets
    }
    pub fn sockets_mut(&mut self) -> &mut SocketSet {
        &mut self.sockets
    }
    /// Counters per layer, like `netstat -s`.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Every counter as `(layer, name, value)`: the interface layer's, then
    /// the socket layer's TCP counters, in a fixed order.
    pub fn stats_rows(&self) -> Vec<StatRow> {
        let mut rows = self.stats.rows();
        Stats::push_tcp_socket_rows(self.sockets.tcp_stats(), &mut rows);
        Stats::push_tcp_mem_rows(&self.sockets.mem_totals(), &mut rows);
        rows
    }

    /// Take one received frame. Malformed or foreign input is counted and dropped.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.last_now = self.last_now.max(now);
        self.ingress(now, frame, false);
    }

    /// `handle_frame` for a frame whose TCP or UDP checksum the link has
    /// already verified (receive checksum offload: a TAP with IFF_VNET_HDR
    /// reports `VIRTIO_NET_HDR_F_DATA_VALID`, Linux `CHECKSUM_UNNECESSARY`),
    /// so the stack does not sum the payload again. Only an unfragmented
    /// TCP or UDP packet skips its check; the IPv4 header, ICMP and
    /// reassembled datagrams are verified as always. A link that cannot
    /// vouch for the checksum must call `handle_frame`.
    pub fn handle_frame_verified(&mut self, now: Instant, frame: &[u8]) {
        self.last_now = self.last_now.max(now);
        self.ingress(now, frame, true);
    }

    /// Write the next outgoing frame into `buf`; `None` when nothing is ready.
    /// Every checksum in it is complete (a partial one from
    /// `tx_checksum_offload` is finished here).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.last_now = self.last_now.max(now);
        if !self.config.tx_checksum_offload {
            return self.transmit(now, buf);
        }
        let f = self.poll_transmit_frame(now, buf)?;
        if let Some(p) = f.partial_checksum {
            if let Some(frame) = buf.get_mut(..f.len) {
                p.complete(frame);
            }
        }
        Some(f.len)
    }

    /// Like [`Stack::poll_transmit`], for a link that finishes checksums:
    /// with `tx_checksum_offload` on, a TCP segment's checksum is left
    /// partial and the returned [`TxFrame`] says where.
    pub fn poll_transmit_frame(&mut self, now: Instant, buf: &mut [u8]) -> Option<TxFrame> {
        self.last_now = self.last_now.max(now);
        self.tx_partial = None;
        let len = self.transmit(now, buf)?;
        Some(TxFrame {
            len,
            partial_checksum: self.tx_partial.take(),
        })
    }

    /// Run every timer due at `now`: ARP give-ups, reassembly timeouts, sockets.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        // A driver calls this whenever `poll_at` is due, which on a busy
        // connection is every time output is ready: the neighbour and
        // reassembly scans (and their result vectors) only when those
        // tables have anything that can expire.
        if self.arp.resolving() {
            self.expire_arp(now);
        }
        if self.reasm.in_progress() > 0 {
            self.expire_reasm(now);
        }
        self.sockets.handle_timeout(now);
    }

    /// `handle_timeout`'s ARP give-ups.
    #[inline(never)]
    fn expire_arp(&mut self, now: Instant) {
        for g in self.arp.expire(now) {
            self.stats.arp.resolution_failed += 1;
            self.stats.arp.pending_dropped += g.dropped.len() as u64;
            // Linux reports a failed resolution to the sender as host
            // unreachable (arp_error_report); our sockets hear it the same way.
            for packet in &g.dropped {
                self.local_error(now, IcmpError::Unreachable { code: 1 }, packet);
            }
        }
    }

    /// `handle_timeout`'s reassembly timeouts.
    #[inline(never)]
    fn expire_reasm(&mut self, now: Instant) {
        for e in self.reasm.expire(now) {
            self.stats.ipv4.reasm_timeout += 1;
            if let (Some((ip, quoted)), true) = (e.first, self.config.limits.reasm_time_exceeded) {
                self.send_reasm_time_exceeded(now, &ip, &quoted);
            }
        }
    }

    /// The earliest time `handle_timeout` or `poll_transmit` has work.
    pub fn poll_at(&self) -> Option<Instant> {
        let ready = !self.tx.is_empty()
            || !self.lo.is_empty()
            || !self.arp_replies.is_empty()
            || !self.announced
            || self.gso.is_some();
        let soon = [
            self.sockets.poll_at(),
            self.arp.poll_at(),
            self.reasm.poll_at(),
            ready.then_some(self.last_now),
        ];
        soon.into_iter().flatten().min()
    }

    /// Entries in the neighbour cache.
    pub fn arp_cache_len(&self) -> usize {
        self.arp.len()
    }

    /// Reassembly in progress: (datagrams, bytes charged).
    pub fn reassembly_usage(&self) -> (usize, usize) {
        (self.reasm.in_progress(), self.reasm.mem())
    }

    /// True for addresses that name this host: ours and 127.0.0.0/8.
    pub fn is_local_addr(&self, a: Ipv4Addr) -> bool {
        a == self.config.addr || a.is_loopback()
    }

    /// True for the limited broadcast and our subnet's directed broadcast
    /// (sending there needs SO_BROADCAST in the facade).
    pub fn is_broadcast_addr(&self, a: Ipv4Addr) -> bool {
        a.is_broadcast() || (self.config.prefix_len < 31 && a == self.config.subnet_broadcast())
    }

    /// The source address for a datagram to `dst` from a socket bound to
    /// `bound`: the bound address if any; else 127.0.0.1 toward loopback
    /// (Linux picks `lo`'s address) and our address otherwise.
    pub(crate) fn source_for(&self, bound: Ipv4Addr, dst: Ipv4Addr) -> Result<Ipv4Addr, SendError> {
        if !bound.is_unspecified() {
            // Linux: a loopback source cannot leave the host (EINVAL).
            if bound.is_loopback() && !self.is_local_addr(dst) {
                return Err(SendError::BadDestination);
            }
            return Ok(bound);
        }
        Ok(if dst.is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            self.config.addr
        })
    }

    /// The next IPv4 identification (a per-stack counter from a seeded start).
    pub(crate) fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// A header for a datagram from us, with the next identification.
    pub(crate) fn ip_header(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        len: usize,
    ) -> Ipv4Repr {
        let mut ip = Ipv4Repr::new(self.config.addr, dst, protocol, len);
        ip.ttl = self.config.limits.ttl;
        ip.ident = self.next_ident();
        ip
    }

    // ---- UDP sockets -------------------------------------------------------

    /// Bind a UDP socket to `addr:port` (`addr` ours or unspecified; `port`
    /// 0 picks an ephemeral port, 32768-60999, at a seeded random start).
    pub fn udp_bind(&mut self, addr: Ipv4Addr, port: u16) -> Result<UdpHandle, BindError> {
        let hint = self.rng.next_u32();
        self.udp.bind(self.config.addr, addr, port, hint)
    }

    /// Queue one datagram to `dst`; it leaves through `poll_transmit`.
    /// Larger than the MTU: sent as fragments. Returns the payload length.
    /// Broadcast destinations are allowed (no SO_BROADCAST gate yet); a
    /// datagram to our own address is delivered locally.
    pub fn udp_send_to(
        &mut self,
        h: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> Result<usize, SendError> {
        let r = self.udp_send_inner(h, dst, data);
        match r {
            Ok(_) => self.stats.udp.tx_datagrams += 1,
            Err(_) => self.stats.udp.tx_errors += 1,
        }
        r
    }

    fn udp_send_inner(
        &mut self,
        h: UdpHandle,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> Result<usize, SendError> {
        if !self.udp.is_open(h) {
            return Err(SendError::InvalidHandle);
        }
        if dst.port() == 0 || dst.ip().is_unspecified() {
            return Err(SendError::BadDestination);
        }
        // 65,535 minus the IPv4 and UDP headers.
        if data.len() > 65_507 {
            return Err(SendError::MessageTooLong);
        }
        let bound = self.udp.local_addr(h).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let src = self.source_for(bound, *dst.ip())?;
        let udp = crate::wire::UdpRepr {
            src_port: h.port(),
            dst_port: dst.port(),
        };
        let mut dgram = vec![0u8; udp.buffer_len(data.len())];
        // Always a full checksum, also with `tx_checksum_offload`: the
        // datagram is copied into the tx queue and may be fragmented (a
        // partial sum cannot span fragments, and queued packets carry no
        // note of one); the checksum is folded into this copy anyway.
        udp.emit(&mut dgram, src, *dst.ip(), data)
            .map_err(|_| SendError::MessageTooLong)?;
        let mut ip = self.ip_header(*dst.ip(), IpProtocol::Udp, dgram.len());
        ip.src = src;
        // Linux's IP_PMTUDISC_WANT: DF on what fits, local fragmentation otherwise.
        ip.dont_frag = ip.buffer_len() <= self.config.mtu;
        self.send_datagram(ip, &dgram)?;
        Ok(data.len())
    }

    /// Take the oldest datagram: bytes copied into `buf` (the rest of a
    /// longer datagram is discarded, as recvfrom does) and the sender.
    pub fn udp_recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), RecvError> {
        self.udp.recv(h, buf)
    }

    /// Take (or with `peek`, copy) the oldest datagram: bytes copied, its
    /// whole length (for MSG_TRUNC) and the sender.
    pub fn udp_recv_msg(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<RecvMeta, RecvError> {
        self.udp.recv_msg(h, buf, peek)
    }

    /// Datagrams queued on the socket (`None`: no such socket).
    pub fn udp_queued(&self, h: UdpHandle) -> Option<usize> {
        self.udp.queued(h)
    }

    /// The length of the next datagram (`None`: none queued).
    pub fn udp_next_len(&self, h: UdpHandle) -> Option<usize> {
        self.udp.next_len(h)
    }

    /// connect(2) on a UDP socket: only `peer` may send to it from now on
    /// (`None` disconnects). False if the handle is not open.
    pub fn udp_connect(&mut self, h: UdpHandle, peer: Option<SocketAddrV4>) -> bool {
        self.udp.connect(h, peer)
    }

    /// The connected peer, if any.
    pub fn udp_peer(&self, h: UdpHandle) -> Option<SocketAddrV4> {
        self.udp.peer(h)
    }

    /// SO_RCVBUF: queue at most `bytes` payload bytes (capped by
    /// `udp_recv_queue_bytes`). False if the handle is not open.
    pub fn udp_set_recv_buffer(&mut self, h: UdpHandle, bytes: usize) -> bool {
        self.udp.set_recv_cap(h, bytes)
    }

    /// The socket's receive byte cap.
    pub fn udp_recv_buffer(&self, h: UdpHandle) -> Option<usize> {
        self.udp.recv_cap(h)
    }

    /// Datagrams this socket dropped because its queue was full.
    pub fn udp_drops(&self, h: UdpHandle) -> Option<u64> {
        self.udp.drops(h)
    }

    /// True when an ICMP error waits for the socket (not cleared).
    pub fn udp_has_error(&self, h: UdpHandle) -> bool {
        self.udp.has_error(h)
    }

    /// The last ICMP error reported for the socket's traffic, cleared on read.
    pub fn udp_take_error(&mut self, h: UdpHandle) -> Option<IcmpReport> {
        self.udp.take_error(h)
    }

    /// The address the socket is bound to (unspecified: any of ours).
    pub fn udp_local_addr(&self, h: UdpHandle) -> Option<SocketAddrV4> {
        self.udp
            .local_addr(h)
            .map(|a| SocketAddrV4::new(a, h.port()))
    }

    /// Close the socket; false if it was not open. Queued datagrams are dropped.
    pub fn udp_close(&mut self, h: UdpHandle) -> bool {
        self.udp.close(h)
    }

    /// One row per UDP socket for netstat, sorted by port. Scans the
    /// table; meant for tools, not per-packet paths.
    pub fn udp_snapshot(&self) -> Vec<UdpRow> {
        self.udp
            .rows()
            .into_iter()
            .map(|(addr, port, recv_q)| UdpRow {
                local: SocketAddrV4::new(addr, port),
                recv_q,
            })
            .collect()
    }

    // ---- raw ICMP sockets --------------------------------------------------

    /// Open a raw ICMP socket: it receives a copy of every ICMP packet to us.
    pub fn raw_icmp_open(&mut self) -> Result<RawHandle, OpenError> {
        self.raw.open(1)
    }

    /// Open a raw socket for IP protocol `protocol`: it receives a copy of
    /// every datagram of that protocol to us, IPv4 header first.
    pub fn raw_open(&mut self, protocol: u8) -> Result<RawHandle, OpenError> {
        self.raw.open(protocol)
    }

    /// The protocol number of a raw socket.
    pub fn raw_protocol(&self, h: RawHandle) -> Option<u8> {
        self.raw.protocol(h)
    }

    /// bind(2) / connect(2) filters of a raw socket: only datagrams to
    /// `local` and from `peer` (each `None`: any). A `local` that is not
    /// ours is refused (false), as is a closed handle.
    pub fn raw_set_filter(
        &mut self,
        h: RawHandle,
        local: Option<Ipv4Addr>,
        peer: Option<Ipv4Addr>,
    ) -> bool {
        if local.is_some_and(|a| !self.is_local_addr(a)) {
            return false;
        }
        self.raw.set_filter(h, local, peer)
    }

    /// (bound address, connected peer) of a raw socket.
    pub fn raw_filter(&self, h: RawHandle) -> Option<(Option<Ipv4Addr>, Option<Ipv4Addr>)> {
        self.raw.filter(h)
    }

    /// Send `payload` to `dst` as one datagram of the socket's protocol; the
    /// stack builds the IPv4 header (source: the bound address, else as
    /// for UDP) and leaves the payload as is (no checksum is filled in,
    /// as Linux). Larger than the MTU: fragmented. Returns `payload.len()`.
    pub fn raw_send(
        &mut self,
        h: RawHandle,
        dst: Ipv4Addr,
        payload: &[u8],
    ) -> Result<usize, SendError> {
        let r = self.raw_send_built(h, dst, payload);
        match r {
            Ok(_) => self.stats.raw.tx_packets += 1,
            Err(_) => self.stats.raw.tx_errors += 1,
        }
        r
    }

    fn raw_send_built(
        &mut self,
        h: RawHandle,
        dst: Ipv4Addr,
        payload: &[u8],
    ) -> Result<usize, SendError> {
        let Some(proto) = self.raw.protocol(h) else {
            return Err(SendError::InvalidHandle);
        };
        if dst.is_unspecified() {
            return Err(SendError::BadDestination);
        }
        if payload.len() > 65_515 {
            return Err(SendError::MessageTooLong);
        }
        let bound = self.raw.filter(h).and_then(|f| f.0);
        let src = self.source_for(bound.unwrap_or(Ipv4Addr::UNSPECIFIED), dst)?;
        let mut ip = self.ip_header(dst, IpProtocol::from(proto), payload.len());
        ip.src = src;
        ip.dont_frag = false;
        self.send_datagram(ip, payload)?;
        if proto == 1 {
            self.stats.icmp.tx_messages += 1;
        }
        Ok(payload.len())
    }

    /// IP_HDRINCL: send `packet`, a whole IPv4 datagram with the caller's
    /// header. As Linux `raw_send_hdrinc`: the total length and header
    /// checksum are always set by the stack, a zero identification and a
    /// zero source address are filled in; the header must be well formed
    /// (version 4, a header length that fits), and the packet must fit the
    /// MTU (no fragmentation: MessageTooLong). Returns `packet.len()`.
    pub fn raw_send_hdrincl(&mut self, h: RawHandle, packet: &[u8]) -> Result<usize, SendError> {
        let r = self.raw_send_hdrincl_inner(h, packet);
        match r {
            Ok(_) => self.stats.raw.tx_packets += 1,
            Err(_) => self.stats.raw.tx_errors += 1,
        }
        r
    }

    fn raw_send_hdrincl_inner(&mut self, h: RawHandle, packet: &[u8]) -> Result<usize, SendError> {
        if !self.raw.is_open(h) {
            return Err(SendError::InvalidHandle);
        }
        if packet.len() > crate::wire::ipv4::MAX_PACKET_LEN {
            return Err(SendError::MessageTooLong);
        }
        let first = *packet.first().ok_or(SendError::InvalidMessage)?;
        let hl = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || hl < 20 || hl > packet.len() {
            return Err(SendError::InvalidMessage);
        }
        let mut p = packet.to_vec();
        let dst = match p.get(16..20) {
            Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
            _ => return Err(SendError::InvalidMessage),
        };
        if dst.is_unspecified() {
            return Err(SendError::BadDestination);
        }
        let len = u16::try_from(p.len()).map_err(|_| SendError::MessageTooLong)?;
        let zero_src = p.get(12..16) == Some(&[0, 0, 0, 0][..]);
        if zero_src {
            let src = self.source_for(Ipv4Addr::UNSPECIFIED, dst)?;
            if let Some(s) = p.get_mut(12..16) {
                s.copy_from_slice(&src.octets());
            }
        }
        if p.get(4..6) == Some(&[0, 0][..]) {
            let id = self.next_ident();
            if let Some(s) = p.get_mut(4..6) {
                s.copy_from_slice(&id.to_be_bytes());
            }
        }
        if let Some(s) = p.get_mut(2..4) {
            s.copy_from_slice(&len.to_be_bytes());
        }
        if let Some(s) = p.get_mut(10..12) {
            s.copy_from_slice(&[0, 0]);
        }
        let sum = crate::wire::checksum::checksum(p.get(..hl).unwrap_or(&[]));
        if let Some(s) = p.get_mut(10..12) {
            s.copy_from_slice(&sum.to_be_bytes());
        }
        self.send_ip_packet(p, dst)?;
        Ok(packet.len())
    }

    /// Take (or with `peek`, copy) the oldest packet of a raw socket, IPv4
    /// header first: bytes copied, whole length and source address.
    pub fn raw_recv_msg(
        &mut self,
        h: RawHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<RawMeta, RecvError> {
        self.raw.recv_msg(h, buf, peek)
    }

    /// Packets queued on a raw socket (`None`: no such socket).
    pub fn raw_queued(&self, h: RawHandle) -> Option<usize> {
        self.raw.queued(h)
    }

    /// Send the ICMP message `msg` (type, code, checksum, rest) to `dst`. The
    /// stack computes the ICMP checksum and builds the IPv4 header; messages
    /// beyond the MTU are fragmented. Returns `msg.len()`.
    pub fn raw_icmp_send(
        &mut self,
        h: RawHandle,
        dst: Ipv4Addr,
        msg: &[u8],
    ) -> Result<usize, SendError> {
        let r = self.raw_send_inner(h, dst, msg);
        match r {
            Ok(_) => self.stats.raw.tx_packets += 1,
            Err(_) => self.stats.raw.tx_errors += 1,
        }
        r
    }

    fn raw_send_inner(
        &mut self,
        h: RawHandle,
        dst: Ipv4Addr,
        msg: &[u8],
    ) -> Result<usize, SendError> {
        if !self.raw.is_open(h) {
            return Err(SendError::InvalidHandle);
        }
        if dst.is_unspecified() {
            return Err(SendError::BadDestination);
        }
        if msg.len() < 8 {
            return Err(SendError::InvalidMessage);
        }
        if msg.len() > 65_515 {
            return Err(SendError::MessageTooLong);
        }
        let mut m = msg.to_vec();
        if let Some(c) = m.get_mut(2..4) {
            c.copy_from_slice(&[0, 0]);
        }
        let sum = crate::wire::checksum::checksum(&m);
        if let Some(c) = m.get_mut(2..4) {
            c.copy_from_slice(&sum.to_be_bytes());
        }
        let mut ip = self.ip_header(dst, IpProtocol::Icmp, m.len());
        ip.dont_frag = false;
        self.send_datagram(ip, &m)?;
        self.stats.icmp.tx_messages += 1;
        Ok(msg.len())
    }

    /// Copy the oldest received ICMP packet, IPv4 header first, into `buf`.
    pub fn raw_icmp_recv(&mut self, h: RawHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.raw.recv(h, buf)
    }

    /// Close the raw socket; false if it was not open.
    pub fn raw_icmp_close(&mut self, h: RawHandle) -> bool {
        self.raw.close(h)
    }
}

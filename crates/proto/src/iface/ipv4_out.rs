//! IPv4 egress: routing to a next hop, fragmentation, the outgoing queue,
//! and `poll_transmit`'s order of work.
//!
//! CONTRACT: datagrams built inside the stack (ICMP, UDP, raw, fragments)
//! wait in a queue capped by `tx_queue_packets` / `tx_queue_bytes`; packets
//! waiting for ARP live in the neighbour cache (capped per neighbour).
//! `poll_transmit` emits, in order: ARP (announcement, replies, requests),
//! queued datagrams, then segments from the socket layer, which writes
//! straight into the caller's buffer (no copy unless ARP must wait).
//! A datagram over the MTU is fragmented (RFC 791 3.2) when DF is clear and
//! refused (`tx_frag_fails`) when it is set. Fragments carry no options:
//! the stack never sends options.
//!
//! Checksum offload (`StackConfig::tx_checksum_offload`): a TCP segment
//! that goes to the link leaves with a partial checksum and a
//! [`PartialChecksum`] beside it; one looped back or parked for ARP is
//! finished here first, so only frames handed out with that note are
//! partial. Queued datagrams (UDP, ICMP, raw, fragments) are always complete.

use std::collections::VecDeque;

use crate::iface::arp_cache::QueueError;
use crate::iface::gso::GsoTrain;
use crate::stack::{Medium, Stack};
use crate::time::Instant;
use crate::udp::SendError;
use crate::wire::ipv4::{emit_unfragmented, MIN_HEADER_LEN};
use crate::wire::{EtherType, EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Repr, MacAddr};

/// Where a frame's checksum is to be finished (virtio-net `csum_start` and
/// `csum_offset`; Linux `skb->csum_start`/`csum_offset`): the 16-bit field
/// at `start + offset` holds the folded pseudo-header sum, and the checksum
/// covers everything from `start` (the transport header) to the frame's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialChecksum {
    /// Bytes from the start of the frame (link header included) to the
    /// transport header.
    pub start: u16,
    /// Bytes from `start` to the checksum field (16 for TCP).
    pub offset: u16,
}

impl PartialChecksum {
    /// Finish the checksum in `frame` in software (what the kernel does for
    /// `NEEDS_CSUM`). False, with `frame` untouched, if it is too short.
    pub fn complete(&self, frame: &mut [u8]) -> bool {
        crate::wire::checksum::complete_partial(frame, self.start.into(), self.offset.into())
    }
}

/// One frame written by [`Stack::poll_transmit_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxFrame {
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// `Some` when the checksum is left for the link to finish (only with
    /// `StackConfig::tx_checksum_offload`).
    pub partial_checksum: Option<PartialChecksum>,
}

/// Where a datagram goes on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextHop {
    /// Our own address or 127.0.0.0/8: the loopback queue, then back into
    /// ingress (Linux routes it via `lo`).
    Local,
    Broadcast,
    Neighbour(Ipv4Addr),
}

#[derive(Debug)]
pub(crate) struct TxPacket {
    hop: NextHop,
    /// A whole IPv4 datagram (or fragment), header included.
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct TxQueue {
    q: VecDeque<TxPacket>,
    bytes: usize,
}

impl TxQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
    fn has_room(&self, packets: usize, bytes: usize, limits: &super::config::Limits) -> bool {
        self.q.len() + packets <= limits.tx_queue_packets
            && self.bytes + bytes <= limits.tx_queue_bytes
    }
    /// Queue without a cap check: packets released by ARP were already
    /// bounded by the per-neighbour cap.
    fn push(&mut self, p: TxPacket) {
        self.bytes += p.bytes.len();
        self.q.push_back(p);
    }
    fn pop(&mut self) -> Option<TxPacket> {
        let p = self.q.pop_front()?;
        self.bytes = self.bytes.saturating_sub(p.bytes.len());
        Some(p)
    }
}

/// What one attempt at the socket layer produced.
enum SocketStep {
    Sent(usize),
    Again,
    Idle,
}

impl Stack {
    pub(super) fn l2_len(&self) -> usize {
        match self.config.medium {
            Medium::Ethernet => crate::wire::ethernet::HEADER_LEN,
            Medium::Ip => 0,
        }
    }

    /// The next hop for `dst`, `None` when there is no route.
    pub(crate) fn route(&self, dst: Ipv4Addr) -> Option<NextHop> {
        if self.is_local_addr(dst) {
            return Some(NextHop::Local);
        }
        if self.config.medium == Medium::Ip {
            return Some(NextHop::Neighbour(dst));
        }
        if dst.is_broadcast() || dst == self.config.subnet_broadcast() {
            return Some(NextHop::Broadcast);
        }
        if self.config.on_link(dst) {
            return Some(NextHop::Neighbour(dst));
        }
        self.config.gateway.map(NextHop::Neighbour)
    }

    /// Queue one datagram: `ip` (ident already set) and its whole payload.
    pub(crate) fn send_datagram(
        &mut self,
        mut ip: Ipv4Repr,
        payload: &[u8],
    ) -> Result<(), SendError> {
        self.stats.ipv4.tx_requests += 1;
        let Some(hop) = self.route(ip.dst) else {
            self.stats.ipv4.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        ip.payload_len = payload.len();
        let hl = ip.header_len();
        // Loopback never fragments (its MTU is 64 KiB, as Linux's `lo`).
        let mtu = match hop {
            NextHop::Local => crate::wire::ipv4::MAX_PACKET_LEN,
            _ => self.config.mtu,
        };
        if hl + payload.len() > 65_535 {
            return Err(SendError::MessageTooLong);
        }
        if hl + payload.len() <= mtu {
            if hop != NextHop::Local
                && !self.tx.has_room(1, hl + payload.len(), &self.config.limits)
            {
                self.stats.ipv4.tx_queue_full += 1;
                return Err(SendError::QueueFull);
            }
            return self.queue_packet(hop, &ip, payload);
        }
        // RFC 791 3.2: fragment on 8-byte boundaries, unless DF forbids it.
        let chunk = mtu.saturating_sub(hl) & !7;
        if ip.dont_frag || chunk == 0 {
            self.stats.ipv4.tx_frag_fails += 1;
            return Err(SendError::MessageTooLong);
        }
        let count = payload.len().div_ceil(chunk);
        if !self
            .tx
            .has_room(count, payload.len() + count * hl, &self.config.limits)
        {
            self.stats.ipv4.tx_queue_full += 1;
            return Err(SendError::QueueFull);
        }
        for (i, piece) in payload.chunks(chunk).enumerate() {
            let mut f = ip;
            f.frag_offset = i * chunk;
            f.more_frags = (i + 1) * chunk < payload.len();
            f.payload_len = piece.len();
            self.queue_packet(hop, &f, piece)?;
        }
        self.stats.ipv4.frag_oks += 1;
        self.stats.ipv4.frag_creates += count as u64;
        Ok(())
    }

    fn queue_packet(
        &mut self,
        hop: NextHop,
        ip: &Ipv4Repr,
        payload: &[u8],
    ) -> Result<(), SendError> {
        let hl = ip.header_len();
        let mut bytes = vec![0u8; hl + payload.len()];
        let Some(h) = bytes.get_mut(..hl) else {
            return Err(SendError::MessageTooLong);
        };
        ip.emit(h).map_err(|_| SendError::MessageTooLong)?;
        if let Some(dst) = bytes.get_mut(hl..) {
            dst.copy_from_slice(payload);
        }
        if hop == NextHop::Local {
            return self.loop_back(bytes);
        }
        self.tx.push(TxPacket { hop, bytes });
        Ok(())
    }

    /// Queue a whole packet on the loopback interface.
    fn loop_back(&mut self, bytes: Vec<u8>) -> Result<(), SendError> {
        if !self.lo.push(bytes, &self.config.limits) {
            self.stats.loopback.tx_queue_full += 1;
            self.stats.ipv4.tx_queue_full += 1;
            return Err(SendError::QueueFull);
        }
        self.stats.loopback.tx_packets += 1;
        Ok(())
    }

    /// Queue a packet whose IPv4 header the caller built (IP_HDRINCL):
    /// routed by its destination, never fragmented (Linux
    /// `raw_send_hdrinc`: EMSGSIZE beyond the MTU).
    pub(crate) fn send_ip_packet(
        &mut self,
        bytes: Vec<u8>,
        dst: Ipv4Addr,
    ) -> Result<(), SendError> {
        self.stats.ipv4.tx_requests += 1;
        let Some(hop) = self.route(dst) else {
            self.stats.ipv4.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        if hop == NextHop::Local {
            return self.loop_back(bytes);
        }
        if bytes.len() > self.config.mtu {
            self.stats.ipv4.tx_frag_fails += 1;
            return Err(SendError::MessageTooLong);
        }
        if !self.tx.has_room(1, bytes.len(), &self.config.limits) {
            self.stats.ipv4.tx_queue_full += 1;
            return Err(SendError::QueueFull);
        }
        self.tx.push(TxPacket { hop, bytes });
        Ok(())
    }

    /// The MAC for a next hop, or `None` if ARP must resolve it first.
    #[inline]
    fn neighbour_mac(&mut self, now: Instant, hop: NextHop) -> Option<MacAddr> {
        match hop {
            NextHop::Local => None,
            NextHop::Broadcast => Some(MacAddr::BROADCAST),
            NextHop::Neighbour(a) => {
                let (mac, expired) = self.arp.lookup(now, a)?;
                if expired {
                    self.stats.arp.expired += 1;
                }
                Some(mac)
            }
        }
    }

    /// Park a datagram until its neighbour resolves; count if it cannot be.
    fn park(&mut self, now: Instant, hop: NextHop, bytes: Vec<u8>) {
        let NextHop::Neighbour(a) = hop else {
            return;
        };
        match self.arp.enqueue(now, a, bytes) {
            Ok(()) => {}
            Err(QueueError::CacheFull) => self.stats.arp.cache_full += 1,
            Err(QueueError::PendingFull) => self.stats.arp.pending_overflow += 1,
        }
    }

    /// Packets that were waiting for `ip` to resolve go to the queue.
    pub(crate) fn release_pending(&mut self, ip: Ipv4Addr, pending: VecDeque<Vec<u8>>) {
        for bytes in pending {
            self.tx.push(TxPacket {
                hop: NextHop::Neighbour(ip),
                bytes,
            });
        }
    }

    /// Write a link header for `mac` and count; `ip_len` bytes of IPv4
    /// already sit after the link header in `buf`.
    fn finish_frame(&mut self, buf: &mut [u8], mac: MacAddr, ip_len: usize) -> Option<usize> {
        if self.config.medium == Medium::Ethernet {
            let eth = EthernetRepr {
                src: self.config.mac,
                dst: mac,
                ethertype: EtherType::Ipv4,
            };
            eth.emit(buf).ok()?;
        }
        self.stats.ipv4.tx_packets += 1;
        self.stats.ethernet.tx_frames += 1;
        Some(self.l2_len() + ip_len)
    }

    /// Copy a queued datagram into `buf` as a frame.
    fn emit_queued(&mut self, buf: &mut [u8], mac: MacAddr, bytes: &[u8]) -> Option<usize> {
        let l2 = self.l2_len();
        let Some(dst) = buf.get_mut(l2..l2 + bytes.len()) else {
            self.stats.ethernet.tx_buffer_too_small += 1;
            return None;
        };
        dst.copy_from_slice(bytes);
        self.finish_frame(buf, mac, bytes.len())
    }

    /// The body of `poll_transmit`.
    /// A TCP segment whose checksum is left partial notes where in
    /// `self.tx_partial` (cleared by the caller before).
    ///
    /// While no ARP frame, looped-back packet or queued datagram waits (a
    /// bulk flow's every call), the socket layer is asked directly; the
    /// order of work is `transmit_queued`'s, whose first three steps would
    /// find nothing.
    pub(crate) fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // The rest of a segment being cut into frames goes first: TCP
        // counts it as sent already (iface/gso.rs).
        if self.gso.is_some() {
            if let Some(n) = self.gso_next(buf) {
                return Some(n);
            }
        }
        while !self.tx_waiting() {
            match self.poll_socket(now, buf) {
                SocketStep::Sent(n) => return Some(n),
                SocketStep::Again => {}
                SocketStep::Idle => return None,
            }
        }
        self.transmit_queued(now, buf)
    }

    /// True when `poll_arp_frame`, the loopback queue or the datagram
    /// queue may have something to send. It may say so when
    /// `poll_arp_frame` then finds no request due yet; it never misses one.
    #[inline]
    fn tx_waiting(&self) -> bool {
        let arp = self.config.medium == Medium::Ethernet
            && (!self.announced || !self.arp_replies.is_empty() || self.arp.resolving());
        arp || !self.lo.is_empty() || !self.tx.is_empty()
    }

    /// `transmit` with something waiting: ARP (announcement, replies,
    /// requests), then the loopback queue, then queued datagrams, then the
    /// socket layer, until a frame is written or nothing is left.
    #[inline(never)]
    fn transmit_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        loop {
            if let Some(n) = self.poll_arp_frame(now, buf) {
                return Some(n);
            }
            if let Some(bytes) = self.lo.pop() {
                self.stats.loopback.rx_packets += 1;
                self.handle_ipv4_local(now, &bytes);
                continue;
            }
            if let Some(p) = self.tx.pop() {
                let mac = match self.config.medium {
                    Medium::Ip => Some(MacAddr::default()),
                    Medium::Ethernet => self.neighbour_mac(now, p.hop),
                };
                match mac {
                    Some(mac) => {
                        if let Some(n) = self.emit_queued(buf, mac, &p.bytes) {
                            return Some(n);
                        }
                    }
                    None => self.park(now, p.hop, p.bytes),
                }
                continue;
            }
            match self.poll_socket(now, buf) {
                SocketStep::Sent(n) => return Some(n),
                SocketStep::Again => continue,
                SocketStep::Idle => return None,
            }
        }
    }

    /// Ask the socket layer for one segment, written in place after the
    /// link and IPv4 headers, and wrap it. Inlined into `transmit`'s
    /// direct path: out of line it cost more than the queue checks saved
    /// (callgrind, session 9b).
    #[inline(always)]
    fn poll_socket(&mut self, now: Instant, buf: &mut [u8]) -> SocketStep {
        // Nothing queued at the socket layer (a driver's last call of each
        // round): answered before the room and region are worked out.
        if self.sockets.output_idle(now) {
            return SocketStep::Idle;
        }
        let l2 = self.l2_len();
        let hl = MIN_HEADER_LEN;
        // An IPv4 datagram never exceeds 65,535 bytes, whatever the MTU.
        // With segmentation offload, TCP may fill up to `tso_max`.
        let ip_room = self
            .config
            .mtu
            .max(self.config.tso_max)
            .min(buf.len().saturating_sub(l2))
            .min(crate::wire::ipv4::MAX_PACKET_LEN);
        if ip_room <= hl {
            return SocketStep::Idle;
        }
        let Some(region) = buf.get_mut(l2 + hl..l2 + ip_room) else {
            return SocketStep::Idle;
        };
        let room = region.len();
        // Software GSO: TCP may build up to `gso_max` (iface/gso.rs).
        let tcp_room = self.gso_packet.saturating_sub(hl).max(room);
        let Some(eg) = self.sockets.poll_transmit(now, region, tcp_room) else {
            return SocketStep::Idle;
        };
        if eg.len > room {
            // The socket layer broke its contract; drop rather than read past.
            self.stats.ipv4.tx_bad_egress += 1;
            return SocketStep::Again;
        }
        self.stats.ipv4.tx_requests += 1;
        let hop = match self.last_route {
            Some((dst, hop)) if dst == eg.dst => hop,
            _ => {
                let Some(hop) = self.route(eg.dst) else {
                    self.stats.ipv4.tx_no_route += 1;
                    return SocketStep::Again;
                };
                self.last_route = Some((eg.dst, hop));
                hop
            }
        };
        let ident = self.next_ident();
        let Some(h) = buf
            .get_mut(l2..l2 + hl)
            .and_then(|h| <&mut [u8; MIN_HEADER_LEN]>::try_from(h).ok())
        else {
            return SocketStep::Idle;
        };
        // What `Ipv4Repr::emit` writes, without building the `Ipv4Repr`.
        let (ttl, df) = (eg.ttl, eg.dont_frag);
        if emit_unfragmented(h, eg.src, eg.dst, eg.protocol, eg.len, ttl, ident, df).is_err() {
            self.stats.ipv4.tx_bad_egress += 1;
            return SocketStep::Again;
        }
        if eg.protocol == IpProtocol::Tcp {
            self.stats.tcp.tx_segments += 1;
        }
        // The socket layer left a TCP checksum partial (it does exactly when
        // this is on); the offsets count from the frame's start.
        let partial =
            (self.config.tx_checksum_offload && eg.protocol == IpProtocol::Tcp).then(|| {
                // At most 14 + 20, and 16: both fit a u16.
                PartialChecksum {
                    start: (l2 + hl) as u16,
                    offset: crate::wire::tcp::TCP_CHECKSUM_OFFSET as u16,
                }
            });
        // The rest of a segment longer than the frame (software GSO).
        // Its train is made from the first frame's headers once they are
        // complete (the link header last).
        let rest = match self.sockets.gso_rest.is_some() {
            true => self.sockets.gso_rest.take(),
            false => None,
        };
        let gso = rest.and_then(|r| Some((r, eg.len.checked_sub(r.piece)?)));
        let train = |buf: &[u8]| {
            let (r, tcp) = gso?;
            GsoTrain::new(r, buf, l2, tcp, eg.src, eg.dst)
        };
        if gso.is_some() {
            self.stats.tcp.tx_gso_segments += 1;
        }
        if hop == NextHop::Local {
            let bytes = buf.get(l2..l2 + hl + eg.len).map(<[u8]>::to_vec);
            if let Some(bytes) = bytes {
                // A full loopback queue drops the segment; TCP retransmits.
                let _ = self.loop_back(finished(bytes, partial, l2));
            }
            if let Some(t) = train(buf) {
                for p in self.gso_packets(t) {
                    let _ = self.loop_back(p);
                }
            }
            return SocketStep::Again;
        }
        let mac = match self.config.medium {
            Medium::Ip => Some(MacAddr::default()),
            Medium::Ethernet => self.neighbour_mac(now, hop),
        };
        match mac {
            Some(mac) => match self.finish_frame(buf, mac, hl + eg.len) {
                Some(n) => {
                    self.tx_partial = partial;
                    if gso.is_some() {
                        self.gso = train(buf);
                    }
                    SocketStep::Sent(n)
                }
                None => SocketStep::Again,
            },
            None => {
                let bytes = buf.get(l2..l2 + hl + eg.len).map(<[u8]>::to_vec);
                if let Some(bytes) = bytes {
                    // Parked packets leave later without a note: finish now.
                    self.park(now, hop, finished(bytes, partial, l2));
                }
                if let Some(t) = train(buf) {
                    for p in self.gso_packets(t) {
                        self.park(now, hop, p);
                    }
                }
                SocketStep::Again
            }
        }
    }
}

/// `packet` (an IPv4 packet cut from a frame with `l2` bytes of link
/// header) with its partial checksum, if any, finished: it will be read by
/// our own ingress (loopback) or leave without a [`PartialChecksum`].
fn finished(mut packet: Vec<u8>, partial: Option<PartialChecksum>, l2: usize) -> Vec<u8> {
    if let Some(p) = partial {
        let start = usize::from(p.start).saturating_sub(l2);
        crate::wire::checksum::complete_partial(&mut packet, start, p.offset.into());
    }
    packet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackConfig;
    use crate::wire::{ArpOperation, ArpRepr};
    use std::net::SocketAddrV4;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const US_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn drain(s: &mut Stack, now: Instant) -> usize {
        let mut buf = [0u8; 1600];
        let mut n = 0;
        while s.transmit(now, &mut buf).is_some() {
            n += 1;
            assert!(n < 100, "runaway transmit");
        }
        n
    }

    /// `transmit` skips the ARP, loopback and datagram queues only when
    /// `tx_waiting` says none of them holds anything: the announcement, an
    /// ARP reply, a resolution in progress, a looped-back and a queued
    /// datagram each make it true, and a drained stack makes it false.
    #[test]
    fn tx_waiting_sees_every_queue() {
        let now = Instant::from_millis(0);
        let mut s = Stack::new(StackConfig::ethernet(US_MAC, US, 24));
        assert!(s.tx_waiting(), "the announcement");
        assert_eq!(drain(&mut s, now), 1);
        assert!(!s.tx_waiting());

        let h = s.udp_bind(US, 4000).unwrap();
        s.udp_send_to(h, SocketAddrV4::new(US, 9), b"me").unwrap();
        assert!(!s.lo.is_empty() && s.tx_waiting(), "a looped-back datagram");
        drain(&mut s, now);
        assert!(!s.tx_waiting());

        s.udp_send_to(h, SocketAddrV4::new(PEER, 9), b"hi").unwrap();
        assert!(!s.tx.is_empty() && s.tx_waiting(), "a queued datagram");
        assert_eq!(drain(&mut s, now), 1, "the ARP request");
        assert!(s.arp.resolving() && s.tx_waiting(), "a resolution");

        // The peer asks for us (a reply queued) and so resolves itself.
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: US_MAC,
            sender_ip: US,
            target_mac: PEER_MAC,
            target_ip: PEER,
        };
        s.arp_replies.push_back((PEER_MAC, reply));
        s.arp.learn(now, PEER, PEER_MAC, false);
        assert!(!s.arp.resolving() && s.tx_waiting(), "an ARP reply");
        drain(&mut s, now);
        assert!(!s.tx_waiting());
    }
}

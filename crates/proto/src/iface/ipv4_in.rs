//! IPv4 ingress: validation (RFC 791, RFC 1122 3.2.1), reassembly, and
//! demultiplexing to ICMP, UDP and TCP.
//!
//! CONTRACT: a packet reaches a transport only if its header parses, its
//! checksum verifies, its source is a unique unicast address, its
//! destination is ours or a broadcast (limited or our subnet's), and its
//! TTL is not zero. Each rejection increments one counter. Fragments go to
//! the reassembler; a completed datagram is handled like an unfragmented one.
//!
//! Transport checksums: verified before the transport sees the packet. With
//! `StackConfig::rx_checksum_fold`, a TCP segment's pseudo-header and header
//! are summed here and its payload summed by the socket layer, while it is
//! copied into the receive ring when that is safe (issue 7,
//! `handle_tcp_unverified`); the segment is processed only once the sum
//! verifies. A whole packet
//! from `Stack::handle_frame_verified` (the link says the TCP or UDP
//! checksum was verified, virtio `DATA_VALID`) skips that check; fragments,
//! ICMP and the IPv4 header are always checked.

use std::net::SocketAddrV4;

use crate::iface::reassembly::Outcome;
use crate::stack::Stack;
use crate::time::Instant;
use crate::udp::Deliver;
use crate::wire::ipv4::Ipv4Addrs;
use crate::wire::tcp;
use crate::wire::{
    checksum, DstUnreachable, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, TcpRepr, UdpPacket,
    WireError,
};

impl Stack {
    /// One IPv4 packet from the link. `link_broadcast`: it came to the
    /// Ethernet broadcast address; `l4_verified`: the link verified its
    /// TCP/UDP checksum.
    pub(crate) fn handle_ipv4(
        &mut self,
        now: Instant,
        bytes: &[u8],
        link_broadcast: bool,
        l4_verified: bool,
    ) {
        self.ipv4_input(now, bytes, link_broadcast, false, l4_verified);
    }

    /// A datagram we sent to ourselves (the loopback queue): our own and
    /// loopback addresses are valid sources and destinations.
    pub(crate) fn handle_ipv4_local(&mut self, now: Instant, bytes: &[u8]) {
        self.ipv4_input(now, bytes, false, true, false);
    }

    /// `l4_verified`: the link verified the TCP/UDP checksum of this packet.
    fn ipv4_input(
        &mut self,
        now: Instant,
        bytes: &[u8],
        link_broadcast: bool,
        local: bool,
        l4_verified: bool,
    ) {
        self.stats.ipv4.rx_packets += 1;
        let p = match Ipv4Packet::parse_plain(bytes) {
            Ok(p) => p,
            Err(WireError::BadChecksum) => {
                self.stats.ipv4.rx_bad_checksum += 1;
                return;
            }
            Err(e) => {
                self.stats.ipv4.malformed.count(e);
                return;
            }
        };
        // The checks read the fixed header only; the full `Ipv4Repr` is
        // built for what needs it (fragments, raw sockets, ICMP, UDP).
        let head = p.head();
        let (src, dst) = (head.addrs.src, head.addrs.dst);
        let subnet_broadcast = self.config.subnet_broadcast();
        let ip_broadcast = dst.is_broadcast() || dst == subnet_broadcast;
        // RFC 1122 3.2.1.3 (g): 127.0.0.0/8 only through our loopback.
        let ours = dst == self.config.addr || (local && dst.is_loopback());
        if !ours && !ip_broadcast {
            // RFC 1122 3.2.1.3: a host silently discards what is not for it.
            self.stats.ipv4.rx_not_ours += 1;
            return;
        }
        if !local && !self.valid_source(src, dst, subnet_broadcast) {
            self.stats.ipv4.rx_bad_source += 1;
            return;
        }
        if head.ttl == 0 {
            self.stats.ipv4.rx_ttl_zero += 1;
            return;
        }
        let broadcast = ip_broadcast || link_broadcast;
        if !head.fragment && head.protocol == u8::from(IpProtocol::Tcp) && self.raw.is_empty() {
            // `deliver_ip` for TCP with no raw socket to copy to.
            self.stats.ipv4.rx_delivered += 1;
            self.handle_tcp(now, head.addrs, p.payload(), broadcast, l4_verified);
            return;
        }
        self.ipv4_deliver_slow(now, &p, broadcast, l4_verified);
    }

    /// The rest of `ipv4_input`: fragments and everything but TCP without
    /// raw sockets, through a full `Ipv4Repr`.
    #[inline(never)]
    fn ipv4_deliver_slow(
        &mut self,
        now: Instant,
        p: &Ipv4Packet<&[u8]>,
        broadcast: bool,
        l4_verified: bool,
    ) {
        let ip = Ipv4Repr::parse(p);
        if ip.more_frags || ip.frag_offset != 0 {
            self.stats.ipv4.reasm_reqds += 1;
            let s = &mut self.stats.ipv4;
            match self.reasm.add(now, &ip, p.payload()) {
                Outcome::Held => {}
                Outcome::Complete(whole, payload) => {
                    s.reasm_oks += 1;
                    // The link vouched for single frames, not for a
                    // datagram put together from several: verify it.
                    self.deliver_ip(now, &whole, &payload, broadcast, false);
                }
                Outcome::Duplicate => s.reasm_duplicates += 1,
                Outcome::Overlap => s.reasm_overlap += 1,
                Outcome::OverMem => s.reasm_over_mem += 1,
                Outcome::TooMany => s.reasm_too_many += 1,
                Outcome::TooBig => s.reasm_too_big += 1,
                Outcome::BadFragment => s.reasm_bad_fragment += 1,
            }
            return;
        }
        self.deliver_ip(now, &ip, p.payload(), broadcast, l4_verified);
    }

    /// RFC 1122 3.2.1.3: the source must name one host. 0.0.0.0 is allowed
    /// only toward the limited broadcast (a host without an address yet).
    /// `subnet_broadcast`: `config.subnet_broadcast()`, computed once per packet.
    pub(super) fn valid_source(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        subnet_broadcast: Ipv4Addr,
    ) -> bool {
        if src.is_unspecified() {
            return dst.is_broadcast();
        }
        !(src.is_broadcast()
            || src.is_multicast()
            || src.is_loopback()
            || src == self.config.addr
            || src == subnet_broadcast)
    }

    /// Copy a datagram to the raw sockets of its protocol (Linux
    /// `raw_local_deliver`, before the protocol's own handler); the count
    /// of copies delivered.
    pub(crate) fn deliver_raw(&mut self, ip: &Ipv4Repr, payload: &[u8]) -> u64 {
        if self.raw.is_empty() {
            return 0;
        }
        let Some((h, hl)) = crate::iface::icmp::header_bytes(ip) else {
            return 0;
        };
        let proto = u8::from(ip.protocol);
        let header = h.get(..hl).unwrap_or(&[]);
        let (ok, full) = self.raw.deliver(proto, ip.src, ip.dst, header, payload);
        self.stats.raw.rx_delivered += ok;
        self.stats.raw.rx_queue_full += full;
        ok
    }

    /// A whole datagram for us: hand it to its protocol. `l4_verified`: the
    /// TCP or UDP checksum needs no check.
    fn deliver_ip(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        broadcast: bool,
        l4_verified: bool,
    ) {
        // ICMP copies go to raw sockets once the checksum verifies (icmp.rs).
        let raw_copies = match ip.protocol {
            IpProtocol::Icmp => 0,
            _ => self.deliver_raw(ip, payload),
        };
        match ip.protocol {
            IpProtocol::Icmp => {
                self.stats.ipv4.rx_delivered += 1;
                self.handle_icmp(now, ip, payload, broadcast);
            }
            IpProtocol::Udp => {
                self.stats.ipv4.rx_delivered += 1;
                self.handle_udp(now, ip, payload, broadcast, l4_verified);
            }
            IpProtocol::Tcp => {
                self.stats.ipv4.rx_delivered += 1;
                self.handle_tcp(now, ip.into(), payload, broadcast, l4_verified);
            }
            IpProtocol::Other(_) if raw_copies > 0 => self.stats.ipv4.rx_delivered += 1,
            IpProtocol::Other(_) => {
                self.stats.ipv4.rx_unknown_protocol += 1;
                // RFC 1122 3.2.2.1: protocol unreachable, as Linux sends.
                if !broadcast {
                    self.send_unreachable(now, DstUnreachable::ProtoUnreachable, ip, payload);
                }
            }
        }
    }

    fn handle_udp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        broadcast: bool,
        verified: bool,
    ) {
        let p = match UdpPacket::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                self.stats.udp.malformed.count(e);
                return;
            }
        };
        if !verified && !p.verify_checksum(ip.src, ip.dst) {
            self.stats.udp.rx_bad_checksum += 1;
            return;
        }
        let from = SocketAddrV4::new(ip.src, p.src_port());
        let to = SocketAddrV4::new(ip.dst, p.dst_port());
        match self.udp.deliver(to, from, p.payload()) {
            Deliver::Queued => self.stats.udp.rx_datagrams += 1,
            Deliver::QueueFull => self.stats.udp.rx_queue_full += 1,
            Deliver::NoSocket => {
                self.stats.udp.rx_no_ports += 1;
                // RFC 1122 3.2.2: never an error in reply to a broadcast.
                if !broadcast {
                    self.send_unreachable(now, DstUnreachable::PortUnreachable, ip, payload);
                }
            }
        }
    }

    /// Inlined into `ipv4_input`, where nearly every segment comes from.
    #[inline(always)]
    fn handle_tcp(
        &mut self,
        now: Instant,
        ip: Ipv4Addrs,
        payload: &[u8],
        broadcast: bool,
        verified: bool,
    ) {
        if broadcast {
            // RFC 1122 4.2.3.10: TCP ignores segments to a broadcast address.
            self.stats.tcp.rx_broadcast += 1;
            return;
        }
        // `TcpPacket::parse` and `TcpRepr::parse` in one pass. `seg` borrows
        // the result in place: moving the ~100-byte repr out of the
        // `Result` read back, in 16-byte pieces, fields just written in
        // narrower stores, and the store-to-load forwarding stalls took
        // half of this function's time (perf, session 9).
        let parsed = TcpRepr::parse_segment(payload);
        let seg = match &parsed {
            Ok(s) => s,
            Err(e) => {
                self.stats.tcp.malformed.count(*e);
                return;
            }
        };
        let fold = !verified && self.config.rx_checksum_fold;
        if !verified && !fold && !tcp::checksum_ok(payload, ip.src, ip.dst) {
            self.stats.tcp.rx_bad_checksum += 1;
            return;
        }
        if !fold {
            self.stats.tcp.rx_segments += 1;
            self.sockets.handle_tcp_from(now, ip, seg);
            return;
        }
        // The pseudo-header and the header here; the payload where it is
        // copied (issue 7). `parse_segment` checked that the header fits.
        let Ok(len) = u16::try_from(payload.len()) else {
            self.stats.tcp.rx_bad_checksum += 1;
            return;
        };
        let header_len = payload.len().saturating_sub(seg.payload.len());
        let header = payload.get(..header_len).unwrap_or(&[]);
        let ph = checksum::pseudo_header(ip.src, ip.dst, IpProtocol::Tcp, len);
        let header_sum = checksum::sum(header, ph);
        if self
            .sockets
            .handle_tcp_unverified_from(now, ip, seg, header_sum)
        {
            self.stats.tcp.rx_segments += 1;
        } else {
            self.stats.tcp.rx_bad_checksum += 1;
        }
    }
}

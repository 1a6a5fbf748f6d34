//! Plain-data snapshots for `netstat`: counters per layer, like `netstat -s`.
//!
//! CONTRACT: every counter only ever grows (wrapping is not a concern at u64).
//! Every drop the stack makes increments exactly one drop counter, named after
//! its reason; `Stats::rows` lists every counter as `(layer, name, value)` in a
//! fixed order so tabular output is stable.

use crate::wire::WireError;

/// One line of `netstat -s`-like output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatRow {
    pub layer: &'static str,
    pub name: &'static str,
    pub value: u64,
}

/// One UDP socket, for netstat (`Stack::udp_snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRow {
    /// Bound address and port (the address may be 0.0.0.0).
    pub local: std::net::SocketAddrV4,
    /// Payload bytes queued for the application.
    pub recv_q: usize,
}

/// Headers rejected by the wire parsers, one counter per `WireError` kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Malformed {
    pub truncated: u64,
    pub bad_version: u64,
    pub bad_header_len: u64,
    pub bad_length: u64,
    pub bad_checksum: u64,
    pub bad_option: u64,
    pub unsupported: u64,
}

impl Malformed {
    /// Count one rejected header.
    pub fn count(&mut self, err: WireError) {
        let c = match err {
            WireError::Truncated => &mut self.truncated,
            WireError::BadVersion => &mut self.bad_version,
            WireError::BadHeaderLen => &mut self.bad_header_len,
            WireError::BadLength => &mut self.bad_length,
            WireError::BadChecksum => &mut self.bad_checksum,
            WireError::BadOption => &mut self.bad_option,
            WireError::Unsupported => &mut self.unsupported,
        };
        *c += 1;
    }
    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.truncated
            + self.bad_version
            + self.bad_header_len
            + self.bad_length
            + self.bad_checksum
            + self.bad_option
            + self.unsupported
    }
    fn push_rows(&self, layer: &'static str, out: &mut Vec<StatRow>) {
        let rows = [
            ("malformed_truncated", self.truncated),
            ("malformed_bad_version", self.bad_version),
            ("malformed_bad_header_len", self.bad_header_len),
            ("malformed_bad_length", self.bad_length),
            ("malformed_bad_checksum", self.bad_checksum),
            ("malformed_bad_option", self.bad_option),
            ("malformed_unsupported", self.unsupported),
        ];
        for (name, value) in rows {
            out.push(StatRow { layer, name, value });
        }
    }
}

/// Define one layer's counter struct; every layer also has a `malformed` slot.
macro_rules! counters {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fm])* pub $field: u64,)*
            /// Headers the parser rejected, by reason.
            pub malformed: Malformed,
        }
        impl $name {
            fn push_rows(&self, layer: &'static str, out: &mut Vec<StatRow>) {
                $(out.push(StatRow { layer, name: stringify!($field), value: self.$field });)*
                self.malformed.push_rows(layer, out);
            }
        }
    };
}

counters! {
    /// Link layer (Ethernet II or, on the IP medium, whole packets).
    EthernetStats {
        /// Frames handed to `handle_frame`.
        rx_frames,
        /// Destination MAC neither ours nor broadcast.
        rx_not_ours,
        /// EtherType other than IPv4 and ARP.
        rx_unknown_ethertype,
        /// Frames written by `poll_transmit`.
        tx_frames,
        /// Outgoing frames dropped because the caller's buffer was too small.
        tx_buffer_too_small,
    }
}

counters! {
    /// ARP (RFC 826) and the neighbour cache.
    ArpStats {
        rx_packets,
        rx_requests,
        rx_replies,
        /// Requests for an address that is not ours.
        rx_not_for_us,
        /// Our own packets seen coming back.
        rx_looped,
        /// A packet claiming our own address from another MAC (RFC 5227).
        rx_address_conflict,
        /// A sender address that cannot be a neighbour (broadcast, multicast, ours...).
        rx_bad_sender,
        tx_requests,
        tx_replies,
        tx_gratuitous,
        /// Entries created from a reply or a request targeting us.
        learned,
        /// Existing entries refreshed.
        updated,
        /// Reachable entries that went stale and were re-probed.
        expired,
        /// A new entry was needed but every slot held an unresolved one.
        cache_full,
        /// Packets dropped because a neighbour's pending queue was full.
        pending_overflow,
        /// Addresses given up on after the last request went unanswered.
        resolution_failed,
        /// Packets dropped with an address that could not be resolved.
        pending_dropped,
        /// Replies dropped because the reply queue was full.
        reply_queue_full,
    }
}

counters! {
    /// IPv4 (RFC 791, RFC 1122 3.2.1), with reassembly and fragmentation.
    Ipv4Stats {
        /// Packets received (ipInReceives).
        rx_packets,
        /// Datagrams handed to a transport or ICMP (ipInDelivers).
        rx_delivered,
        /// Header checksum did not verify (ipInHdrErrors).
        rx_bad_checksum,
        /// Destination neither ours nor a broadcast (ipInAddrErrors).
        rx_not_ours,
        /// Source address broadcast, multicast or otherwise invalid (RFC 1122 3.2.1.3).
        rx_bad_source,
        /// TTL zero on arrival.
        rx_ttl_zero,
        /// Protocol we do not speak (ipInUnknownProtos).
        rx_unknown_protocol,
        /// Datagrams the stack wanted to send (ipOutRequests).
        tx_requests,
        /// Packets written to the link.
        tx_packets,
        /// Off-link destination without a gateway (ipOutNoRoutes).
        tx_no_route,
        /// Outgoing queue full (ipOutDiscards).
        tx_queue_full,
        /// Larger than the MTU with DF set (ipFragFails).
        tx_frag_fails,
        /// Segments from the socket layer that could not be wrapped (a bug there).
        tx_bad_egress,
        /// Datagrams fragmented (ipFragOKs).
        frag_oks,
        /// Fragments created (ipFragCreates).
        frag_creates,
        /// Fragments received (ipReasmReqds).
        reasm_reqds,
        /// Datagrams reassembled (ipReasmOKs).
        reasm_oks,
        /// Datagrams dropped after the reassembly timeout.
        reasm_timeout,
        /// Datagrams discarded for overlapping fragments (RFC 5722).
        reasm_overlap,
        /// Fragments dropped because reassembly memory was full.
        reasm_over_mem,
        /// Fragments dropped because too many datagrams were in progress.
        reasm_too_many,
        /// Datagrams discarded for exceeding 65,535 bytes.
        reasm_too_big,
        /// Exact duplicates of a fragment already held (ignored).
        reasm_duplicates,
        /// Fragments with inconsistent length or end (discarded).
        reasm_bad_fragment,
    }
}

counters! {
    /// ICMPv4 (RFC 792).
    IcmpStats {
        rx_messages,
        rx_bad_checksum,
        rx_echo_requests,
        rx_echo_replies,
        rx_dest_unreachable,
        rx_time_exceeded,
        /// Errors whose quoted header is not one of ours or too short.
        rx_bad_quote,
        /// Echo requests to a broadcast address (ignored, as Linux does by default).
        rx_echo_broadcast_ignored,
        tx_messages,
        tx_echo_replies,
        tx_dest_unreachable,
        tx_time_exceeded,
        /// Errors about a UDP port with no socket any more.
        rx_errors_no_socket,
        /// Errors not sent because RFC 1122 3.2.2 forbids them (about an
        /// ICMP error, a non-first fragment, or a non-unicast source).
        tx_errors_suppressed,
        /// Echo replies suppressed by the rate limit.
        ratelimited_echo,
        /// Errors suppressed by the rate limit (RFC 1812 4.3.2.8).
        ratelimited_errors,
    }
}

counters! {
    /// UDP (RFC 768).
    UdpStats {
        /// Datagrams delivered to a socket (udpInDatagrams).
        rx_datagrams,
        rx_bad_checksum,
        /// No socket on the port (udpNoPorts).
        rx_no_ports,
        /// Socket receive queue full (RcvbufErrors).
        rx_queue_full,
        /// ICMP errors delivered to a socket.
        rx_icmp_errors,
        tx_datagrams,
        /// Send failures (queue full, no route, too big).
        tx_errors,
    }
}

counters! {
    /// What the interface layer sees of TCP; the socket layer keeps its own
    /// (`SocketSet::tcp_stats`, merged into `Stack::stats_rows`).
    TcpIfaceStats {
        /// Segments passed to the socket layer.
        rx_segments,
        rx_bad_checksum,
        /// Segments to a broadcast address (RFC 1122 4.2.3.10).
        rx_broadcast,
        /// ICMP errors passed to the socket layer.
        rx_icmp_errors,
        /// Runs of in-order segments merged and passed up as one (software
        /// GRO, `Stack::handle_frames`); their segments count in
        /// `rx_segments` each.
        rx_gro_segments,
        /// Segments written to the link.
        tx_segments,
        /// Segments longer than a frame that the stack cut into frames
        /// itself (software GSO, `StackConfig::gso_max`).
        tx_gso_segments,
    }
}

counters! {
    /// Raw IP sockets.
    RawStats {
        /// Copies delivered to raw sockets.
        rx_delivered,
        /// Copies dropped because a raw socket's queue was full.
        rx_queue_full,
        tx_packets,
        tx_errors,
    }
}

counters! {
    /// The loopback interface (127.0.0.0/8 and our own addresses).
    LoopbackStats {
        /// Packets queued for loopback delivery.
        tx_packets,
        /// Packets dropped because the loopback queue was full.
        tx_queue_full,
        /// Packets handed back to IPv4 ingress.
        rx_packets,
    }
}

/// The timer `ss -o` shows for a socket (Linux `/proc/net/tcp`
/// `timer_active`: 1 on, 2 keepalive, 3 timewait, 4 persist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Retransmission or tail loss probe (RFC 6298, RFC 8985).
    On,
    /// SO_KEEPALIVE probing (RFC 1122 4.2.3.6).
    Keepalive,
    /// End of TIME_WAIT (2 MSL) or of an orphaned FIN_WAIT_2.
    TimeWait,
    /// Zero-window probe (RFC 9293 3.8.6.1).
    Persist,
}

impl TimerKind {
    /// The name `ss -o` prints.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::On => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Persist => "persist",
        }
    }
}

impl core::fmt::Display for TimerKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A socket's pending timer: kind, time left when the snapshot was taken,
/// and the retransmission backoff or probe count (`ss -o`
/// `timer:(on,200ms,0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTimer {
    pub kind: TimerKind,
    pub remaining: crate::time::Duration,
    pub count: u32,
}

/// One connection's buffer memory, like `ss -m` (skmem `rb`, `tb`, `r`,
/// `t`), plus the autotuning behind it (`SocketSet::mem_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpMemInfo {
    /// Receive and send capacities now: as set with SO_RCVBUF/SO_SNDBUF,
    /// or as autotuning grew them (Linux `sk_rcvbuf`, `sk_sndbuf`).
    pub rcvbuf: usize,
    pub sndbuf: usize,
    /// Ring bytes allocated behind them (zero after the idle release).
    pub rcv_alloc: usize,
    pub snd_alloc: usize,
    /// The receiver's RTT estimate and the bytes the application read in
    /// the last measured RTT (Linux `tcpi_rcv_rtt`, `tcpi_rcv_space`).
    pub rcv_rtt: crate::time::Duration,
    pub rcv_space: usize,
    /// Times the receive / send capacity grew, and idle ring releases.
    pub rcvbuf_grows: u32,
    pub sndbuf_grows: u32,
    pub idle_releases: u32,
    /// Stack-wide totals only (0 per connection): empty first-size ring
    /// buffers the stack keeps for the next connections
    /// (`storage/ring_pool.rs`), counted in no connection's `*_alloc`.
    pub ring_pool: usize,
}

/// Counters for every layer of one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub ethernet: EthernetStats,
    pub arp: ArpStats,
    pub ipv4: Ipv4Stats,
    pub icmp: IcmpStats,
    pub udp: UdpStats,
    pub tcp: TcpIfaceStats,
    pub raw: RawStats,
    pub loopback: LoopbackStats,
}

impl Stats {
    /// Every counter as `(layer, name, value)`, in a fixed order.
    pub fn rows(&self) -> Vec<StatRow> {
        let mut out = Vec::with_capacity(160);
        self.ethernet.push_rows("ethernet", &mut out);
        self.arp.push_rows("arp", &mut out);
        self.ipv4.push_rows("ipv4", &mut out);
        self.icmp.push_rows("icmp", &mut out);
        self.udp.push_rows("udp", &mut out);
        self.tcp.push_rows("tcp", &mut out);
        self.raw.push_rows("raw", &mut out);
        self.loopback.push_rows("loopback", &mut out);
        out
    }
    /// Append the socket layer's TCP counters as rows of layer "tcp".
    pub fn push_tcp_socket_rows(t: &crate::sockets::TcpStats, out: &mut Vec<StatRow>) {
        let rows = [
            ("active_opens", t.active_opens),
            ("passive_opens", t.passive_opens),
            ("attempt_fails", t.attempt_fails),
            ("estab_resets", t.estab_resets),
            ("in_segs", t.in_segs),
            ("out_segs", t.out_segs),
            ("retrans_segs", t.retrans_segs),
            ("out_rsts", t.out_rsts),
            ("no_socket", t.no_socket),
            ("closed_port_syns", t.closed_port_syns),
            ("listen_overflows", t.listen_overflows),
            ("listen_drops", t.listen_drops),
            ("dropped", t.dropped),
            ("timeouts", t.timeouts),
            ("rst_queue_full", t.rst_queue_full),
            ("cookie_queue_full", t.cookie_queue_full),
            ("icmp_errors", t.icmp_errors),
            ("emit_errors", t.emit_errors),
            ("paws_rejected", t.paws_rejected),
            ("paws_tw_rejected", t.paws_tw_rejected),
            ("paws_old_ack", t.paws_old_ack),
            ("tsecr_rejected", t.tsecr_rejected),
            ("challenge_acks", t.challenge_acks),
            ("challenge_acks_limited", t.challenge_acks_limited),
            ("rto_fired", t.rto_fired),
            ("spurious_rto_undos", t.spurious_rto_undos),
            ("fast_retrans", t.fast_retrans),
            ("sack_retrans", t.sack_retrans),
            ("sack_blocks_rx", t.sack_blocks_rx),
            ("sack_blocks_invalid", t.sack_blocks_invalid),
            ("dsack_rx", t.dsack_rx),
            ("dsack_tx", t.dsack_tx),
            ("syncookies_sent", t.syncookies_sent),
            ("syncookies_recv", t.syncookies_recv),
            ("syncookies_failed", t.syncookies_failed),
            ("bad_flags", t.bad_flags),
            ("tw_overflow", t.tw_overflow),
        ];
        for (name, value) in rows {
            out.push(StatRow {
                layer: "tcp",
                name,
                value,
            });
        }
    }
    /// Append the live connections' buffer figures (`SocketSet::mem_totals`)
    /// as rows of layer "tcp": gauges, not monotonic counters.
    pub fn push_tcp_mem_rows(m: &TcpMemInfo, out: &mut Vec<StatRow>) {
        let rows = [
            ("mem_rcvbuf_bytes", m.rcvbuf as u64),
            ("mem_sndbuf_bytes", m.sndbuf as u64),
            ("mem_rcv_ring_bytes", m.rcv_alloc as u64),
            ("mem_snd_ring_bytes", m.snd_alloc as u64),
            ("mem_rcvbuf_grows", u64::from(m.rcvbuf_grows)),
            ("mem_sndbuf_grows", u64::from(m.sndbuf_grows)),
            ("mem_idle_releases", u64::from(m.idle_releases)),
            ("mem_ring_pool_bytes", m.ring_pool as u64),
        ];
        for (name, value) in rows {
            out.push(StatRow {
                layer: "tcp",
                name,
                value,
            });
        }
    }
    /// The value of one counter by layer and name, for tests and tools.
    pub fn get(&self, layer: &str, name: &str) -> Option<u64> {
        self.rows()
            .into_iter()
            .find(|r| r.layer == layer && r.name == name)
            .map(|r| r.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_every_counter() {
        let mut s = Stats::default();
        s.ipv4.reasm_overlap = 3;
        s.udp.malformed.count(WireError::Truncated);
        assert_eq!(s.get("ipv4", "reasm_overlap"), Some(3));
        assert_eq!(s.get("udp", "malformed_truncated"), Some(1));
        assert_eq!(s.get("udp", "nope"), None);
        let rows = s.rows();
        let mut names: Vec<_> = rows.iter().map(|r| (r.layer, r.name)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), rows.len());
    }
}

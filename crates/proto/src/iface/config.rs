//! Caps and timers of the interface layer, with Linux's defaults.
//!
//! CONTRACT: every queue and cache the interface layer (and the UDP and raw
//! socket tables) keeps is bounded by one of these numbers. `Limits::default()`
//! gives the Linux 6.x values where Linux has one.

use crate::time::Duration;

/// Bounds and timers for the interface layer. Change a field, keep the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most neighbour entries (Linux `gc_thresh3` = 1024).
    pub arp_cache_size: usize,
    /// Packets queued per unresolved neighbour; more are dropped (Linux
    /// bounds this by `unres_qlen_bytes`; 3 packets is the old `unres_qlen`).
    pub arp_pending_per_neighbour: usize,
    /// How long a confirmed entry stays reachable (Linux `base_reachable_time` 30 s).
    pub arp_reachable: Duration,
    /// Time between requests for one address (Linux `retrans_time_ms` 1 s).
    pub arp_retry_interval: Duration,
    /// Requests sent before giving up (Linux `mcast_solicit` 3).
    pub arp_max_tries: u32,
    /// ARP replies waiting for `poll_transmit`.
    pub arp_reply_queue: usize,
    /// Reassembly memory, fragment bytes plus per-fragment overhead
    /// (Linux `ipfrag_high_thresh` 4 MiB).
    pub reasm_mem: usize,
    /// Datagrams being reassembled at once.
    pub reasm_max_datagrams: usize,
    /// Reassembly timeout (Linux `ipfrag_time` 30 s).
    pub reasm_timeout: Duration,
    /// Send ICMP time exceeded (code 1) when reassembly of a datagram whose
    /// first fragment arrived times out (RFC 792; Linux does).
    pub reasm_time_exceeded: bool,
    /// ICMP messages per second per bucket (Linux `icmp_msgs_per_sec` 1000).
    pub icmp_rate: u32,
    /// Token bucket depth (Linux `icmp_msgs_burst` 50).
    pub icmp_burst: u32,
    /// ICMP errors per second to one destination (Linux `icmp_ratelimit`
    /// 1000 ms: one token per second).
    pub icmp_peer_rate: u32,
    /// Per-destination bucket depth (Linux `XRLIM_BURST_FACTOR` 6).
    pub icmp_peer_burst: u32,
    /// Destinations with a bucket; the lowest address is forgotten first.
    pub icmp_peer_max: usize,
    /// Datagrams waiting for `poll_transmit` (fragments, ICMP, UDP, raw).
    pub tx_queue_packets: usize,
    /// Bytes waiting for `poll_transmit`.
    pub tx_queue_bytes: usize,
    /// Default TTL of outgoing datagrams (Linux `ip_default_ttl` 64).
    pub ttl: u8,
    /// Most UDP sockets.
    pub udp_max_sockets: usize,
    /// Bytes queued per UDP socket (Linux `rmem_default` 212992).
    pub udp_recv_queue_bytes: usize,
    /// Datagrams queued per UDP socket.
    pub udp_recv_queue_datagrams: usize,
    /// Most raw sockets.
    pub raw_max_sockets: usize,
    /// Bytes queued per raw socket (Linux `rmem_default` 212992).
    pub raw_recv_queue_bytes: usize,
    /// Packets queued per raw socket.
    pub raw_recv_queue_packets: usize,
    /// Packets waiting in the loopback queue (Linux `netdev_max_backlog` 1000).
    pub loopback_queue_packets: usize,
    /// Bytes waiting in the loopback queue.
    pub loopback_queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            arp_cache_size: 1024,
            // Linux parks up to unres_qlen_bytes (212992) per neighbour: ~100 packets.
            arp_pending_per_neighbour: 100,
            arp_reachable: Duration::from_secs(30),
            arp_retry_interval: Duration::from_secs(1),
            arp_max_tries: 3,
            arp_reply_queue: 64,
            reasm_mem: 4 * 1024 * 1024,
            reasm_max_datagrams: 1024,
            reasm_timeout: Duration::from_secs(30),
            reasm_time_exceeded: true,
            icmp_rate: 1000,
            icmp_burst: 50,
            icmp_peer_rate: 1,
            icmp_peer_burst: 6,
            icmp_peer_max: 1024,
            tx_queue_packets: 1024,
            tx_queue_bytes: 1024 * 1024,
            ttl: 64,
            udp_max_sockets: 4096,
            udp_recv_queue_bytes: 212_992,
            udp_recv_queue_datagrams: 1024,
            raw_max_sockets: 64,
            raw_recv_queue_bytes: 212_992,
            raw_recv_queue_packets: 256,
            loopback_queue_packets: 1000,
            loopback_queue_bytes: 4 * 1024 * 1024,
        }
    }
}

//! Socket bookkeeping: the arena of sockets, handles, port allocation and the
//! O(1) 4-tuple demux. The interface layer hands transport segments in and
//! asks for segments out through the `pub(crate)` methods below (the
//! contract between `stack.rs` and the socket layer).

use crate::time::Instant;
use crate::wire::{IpProtocol, Ipv4Addr, Ipv4Repr, TcpRepr};

/// What the interface layer needs to wrap a transport segment that the socket
/// layer wrote into the IP payload region of the frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Egress {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes written at the start of the payload buffer (transport header + data).
    pub len: usize,
    pub ttl: u8,
    pub dont_frag: bool,
}

/// An ICMP error delivered to the socket layer (RFC 1122 3.2.2, RFC 5927).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IcmpError {
    /// Destination unreachable with the given code (0..=15).
    Unreachable {
        code: u8,
    },
    /// Fragmentation needed; the next-hop MTU (RFC 1191).
    FragNeeded {
        mtu: u16,
    },
    TimeExceeded,
}

/// Every transport socket of one stack. Public socket operations (added by the
/// TCP work) take `now` and return small error enums, never errno.
pub struct SocketSet {
    local_addr: Ipv4Addr,
}

impl SocketSet {
    pub(crate) fn new(local_addr: Ipv4Addr, _seed: u64) -> Self {
        SocketSet { local_addr }
    }

    /// A TCP segment addressed to us with a verified checksum.
    pub(crate) fn handle_tcp(&mut self, _now: Instant, _ip: &Ipv4Repr, _seg: &TcpRepr<'_>) {}

    /// An ICMP error quoting one of our packets: `quoted_ip` is the quoted
    /// header, `quoted_payload` the (at least 8) quoted transport bytes.
    pub(crate) fn handle_icmp_error(
        &mut self,
        _now: Instant,
        _err: IcmpError,
        _quoted_ip: &Ipv4Repr,
        _quoted_payload: &[u8],
    ) {
    }

    /// Write the next transport segment into `buf` (the IP payload region,
    /// at most `buf.len()` bytes = MTU minus IP header) and describe it.
    pub(crate) fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<Egress> {
        let _ = self.local_addr;
        None
    }

    pub(crate) fn handle_timeout(&mut self, _now: Instant) {}

    pub(crate) fn poll_at(&self) -> Option<Instant> {
        None
    }
}

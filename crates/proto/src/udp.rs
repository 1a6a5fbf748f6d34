//! UDP sockets (RFC 768, RFC 1122 4.1): a table of bound ports, each with a
//! bounded receive queue.
//!
//! CONTRACT: one socket per local port, found in O(1) by port. A handle names
//! one socket for its whole life: after `udp_close` (or a rebind of the same
//! port) an old handle is rejected with `InvalidHandle`, never aliased. Each
//! receive queue holds at most `udp_recv_queue_datagrams` datagrams and
//! `udp_recv_queue_bytes` payload bytes (or the socket's own smaller byte
//! cap, SO_RCVBUF); arrivals beyond that are dropped and counted
//! (`udp.rx_queue_full` and the socket's `drops`). A connected socket
//! (`udp_connect`) only receives from its peer, as Linux's lookup scoring
//! does: a datagram from anyone else finds no socket (port unreachable).
//! Sending goes through `Stack::udp_send_to`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;

use crate::iface::config::Limits;
use crate::sockets::IcmpError;
use crate::wire::Ipv4Addr;

/// Linux's default ephemeral range (`ip_local_port_range`).
const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;

/// Names one UDP socket of one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpHandle {
    port: u16,
    id: u32,
}

impl UdpHandle {
    /// The local port the socket is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Why `udp_bind` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// The port is taken (EADDRINUSE).
    AddrInUse,
    /// The address is neither ours nor unspecified (EADDRNOTAVAIL).
    AddrNotAvailable,
    /// Port 0 asked and every ephemeral port is taken, or the socket cap is reached.
    NoPortsAvailable,
}

/// Why a datagram could not be sent (UDP and raw sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The handle does not name an open socket (EBADF).
    InvalidHandle,
    /// Larger than one IPv4 datagram can carry, or than the MTU with DF (EMSGSIZE).
    MessageTooLong,
    /// Off-link destination and no gateway (ENETUNREACH).
    NoRoute,
    /// The outgoing queue is full; try again after `poll_transmit` (ENOBUFS).
    QueueFull,
    /// Destination address or port that cannot be sent to (EINVAL).
    BadDestination,
    /// A raw ICMP message shorter than the 8-byte ICMP header (EINVAL).
    InvalidMessage,
}

/// Why a receive returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The handle does not name an open socket (EBADF).
    InvalidHandle,
    /// Nothing queued (EAGAIN).
    WouldBlock,
}

/// An ICMP error reported for a socket's traffic (RFC 1122 4.1.3.3); the
/// BSD layer maps it to errno (ECONNREFUSED for port unreachable, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpReport {
    /// Destination unreachable with its code (3 = port unreachable).
    Unreachable {
        code: u8,
    },
    /// Fragmentation needed, with the next-hop MTU (RFC 1191).
    FragNeeded {
        mtu: u16,
    },
    TimeExceeded,
}

impl From<IcmpError> for IcmpReport {
    fn from(e: IcmpError) -> Self {
        match e {
            IcmpError::Unreachable { code } => IcmpReport::Unreachable { code },
            IcmpError::FragNeeded { mtu } => IcmpReport::FragNeeded { mtu },
            IcmpError::TimeExceeded => IcmpReport::TimeExceeded,
        }
    }
}

#[derive(Debug)]
struct Datagram {
    from: SocketAddrV4,
    data: Vec<u8>,
}

/// One received datagram as `recv` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// The datagram's whole length (larger than `copied`: truncated).
    pub len: usize,
    pub from: SocketAddrV4,
}

#[derive(Debug)]
struct Socket {
    id: u32,
    local_addr: Ipv4Addr,
    /// The connected peer (`udp_connect`): the only sender we accept.
    peer: Option<SocketAddrV4>,
    /// SO_RCVBUF: payload bytes queued at most (below the table's cap).
    recv_cap: usize,
    /// Datagrams dropped because the queue was full.
    drops: u64,
    queue: VecDeque<Datagram>,
    queued_bytes: usize,
    error: Option<IcmpReport>,
}

/// Result of offering a received datagram to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deliver {
    Queued,
    QueueFull,
    NoSocket,
}

#[derive(Debug)]
pub(crate) struct UdpTable {
    sockets: HashMap<u16, Socket>,
    next_id: u32,
    limits: Limits,
}

impl UdpTable {
    pub(crate) fn new(limits: &Limits) -> Self {
        UdpTable {
            sockets: HashMap::new(),
            next_id: 1,
            limits: limits.clone(),
        }
    }

    /// Bind `addr:port` (`port` 0: an ephemeral port starting at `hint`).
    pub(crate) fn bind(
        &mut self,
        our_addr: Ipv4Addr,
        addr: Ipv4Addr,
        port: u16,
        hint: u32,
    ) -> Result<UdpHandle, BindError> {
        // Loopback addresses are ours too (RFC 1122 3.2.1.3 (g)).
        if addr != our_addr && !addr.is_unspecified() && !addr.is_loopback() {
            return Err(BindError::AddrNotAvailable);
        }
        if self.sockets.len() >= self.limits.udp_max_sockets {
            return Err(BindError::NoPortsAvailable);
        }
        let port = if port == 0 {
            self.ephemeral(hint).ok_or(BindError::NoPortsAvailable)?
        } else if self.sockets.contains_key(&port) {
            return Err(BindError::AddrInUse);
        } else {
            port
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.sockets.insert(
            port,
            Socket {
                id,
                local_addr: addr,
                peer: None,
                recv_cap: self.limits.udp_recv_queue_bytes,
                drops: 0,
                queue: VecDeque::new(),
                queued_bytes: 0,
                error: None,
            },
        );
        Ok(UdpHandle { port, id })
    }

    /// RFC 6056, 3.3.1 (algorithm 1): a random start, then the next free port.
    fn ephemeral(&self, hint: u32) -> Option<u16> {
        let lo = u32::from(*EPHEMERAL.start());
        let n = u32::from(*EPHEMERAL.end()) - lo + 1;
        (0..n)
            .map(|i| lo + (hint.wrapping_add(i)) % n)
            .filter_map(|p| u16::try_from(p).ok())
            .find(|p| !self.sockets.contains_key(p))
    }

    fn get(&self, h: UdpHandle) -> Option<&Socket> {
        self.sockets.get(&h.port).filter(|s| s.id == h.id)
    }

    fn get_mut(&mut self, h: UdpHandle) -> Option<&mut Socket> {
        self.sockets.get_mut(&h.port).filter(|s| s.id == h.id)
    }

    pub(crate) fn is_open(&self, h: UdpHandle) -> bool {
        self.get(h).is_some()
    }

    /// The address a socket is bound to (unspecified: any of ours).
    pub(crate) fn local_addr(&self, h: UdpHandle) -> Option<Ipv4Addr> {
        self.get(h).map(|s| s.local_addr)
    }

    pub(crate) fn close(&mut self, h: UdpHandle) -> bool {
        if self.get(h).is_some() {
            self.sockets.remove(&h.port);
            true
        } else {
            false
        }
    }

    /// Offer a received datagram to the socket on `dst_port`.
    /// A socket bound to a specific address only gets datagrams sent to it
    /// (not broadcasts), as on Linux.
    pub(crate) fn deliver(
        &mut self,
        dst: SocketAddrV4,
        from: SocketAddrV4,
        data: &[u8],
    ) -> Deliver {
        let Some(s) = self.sockets.get_mut(&dst.port()) else {
            return Deliver::NoSocket;
        };
        if !s.local_addr.is_unspecified() && s.local_addr != *dst.ip() {
            return Deliver::NoSocket;
        }
        if s.peer.is_some_and(|p| p != from) {
            return Deliver::NoSocket;
        }
        if s.queue.len() >= self.limits.udp_recv_queue_datagrams
            || s.queued_bytes + data.len() > s.recv_cap.min(self.limits.udp_recv_queue_bytes)
        {
            s.drops += 1;
            return Deliver::QueueFull;
        }
        s.queued_bytes += data.len();
        s.queue.push_back(Datagram {
            from,
            data: data.to_vec(),
        });
        Deliver::Queued
    }

    /// Record an ICMP error for the socket on `port` about a datagram it
    /// sent to `dst` (RFC 1122 4.1.3.3). A connected socket only hears
    /// about its peer (Linux finds the socket by the quoted 4-tuple).
    pub(crate) fn set_error(&mut self, port: u16, dst: SocketAddrV4, err: IcmpError) -> bool {
        match self.sockets.get_mut(&port) {
            Some(s) if s.peer.is_some_and(|p| p != dst) => false,
            Some(s) => {
                s.error = Some(err.into());
                true
            }
            None => false,
        }
    }

    /// Take the pending ICMP error, if any.
    pub(crate) fn take_error(&mut self, h: UdpHandle) -> Option<IcmpReport> {
        self.get_mut(h)?.error.take()
    }

    /// Copy the oldest datagram into `buf` (truncating, as recvfrom does).
    pub(crate) fn recv(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), RecvError> {
        self.recv_msg(h, buf, false).map(|m| (m.copied, m.from))
    }

    /// Copy the oldest datagram into `buf`; `peek` leaves it queued.
    pub(crate) fn recv_msg(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<RecvMeta, RecvError> {
        let s = self.get_mut(h).ok_or(RecvError::InvalidHandle)?;
        let d = s.queue.front().ok_or(RecvError::WouldBlock)?;
        let n = d.data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), d.data.get(..n)) {
            dst.copy_from_slice(src);
        }
        let meta = RecvMeta {
            copied: n,
            len: d.data.len(),
            from: d.from,
        };
        if !peek {
            s.queue.pop_front();
            s.queued_bytes = s.queued_bytes.saturating_sub(meta.len);
        }
        Ok(meta)
    }

    /// Connect to `peer` (`None`: disconnect, AF_UNSPEC).
    pub(crate) fn connect(&mut self, h: UdpHandle, peer: Option<SocketAddrV4>) -> bool {
        match self.get_mut(h) {
            Some(s) => {
                s.peer = peer;
                true
            }
            None => false,
        }
    }

    pub(crate) fn peer(&self, h: UdpHandle) -> Option<SocketAddrV4> {
        self.get(h)?.peer
    }

    /// Set the socket's receive byte cap (never above the table's).
    pub(crate) fn set_recv_cap(&mut self, h: UdpHandle, bytes: usize) -> bool {
        let max = self.limits.udp_recv_queue_bytes;
        match self.get_mut(h) {
            Some(s) => {
                s.recv_cap = bytes.min(max);
                true
            }
            None => false,
        }
    }

    pub(crate) fn recv_cap(&self, h: UdpHandle) -> Option<usize> {
        self.get(h).map(|s| s.recv_cap)
    }

    /// Datagrams dropped on this socket for a full queue.
    pub(crate) fn drops(&self, h: UdpHandle) -> Option<u64> {
        self.get(h).map(|s| s.drops)
    }

    /// True when an ICMP error waits (without taking it).
    pub(crate) fn has_error(&self, h: UdpHandle) -> bool {
        self.get(h).is_some_and(|s| s.error.is_some())
    }

    /// Bytes of the oldest datagram (`None`: queue empty or no socket).
    pub(crate) fn next_len(&self, h: UdpHandle) -> Option<usize> {
        self.get(h)?.queue.front().map(|d| d.data.len())
    }

    /// Datagrams waiting on a socket.
    pub(crate) fn queued(&self, h: UdpHandle) -> Option<usize> {
        self.get(h).map(|s| s.queue.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn bind_close_rebind_never_aliases() {
        let mut t = UdpTable::new(&Limits::default());
        let a = t.bind(US, US, 53, 0).unwrap();
        assert_eq!(t.bind(US, US, 53, 0), Err(BindError::AddrInUse));
        assert_eq!(
            t.bind(US, Ipv4Addr::new(1, 2, 3, 4), 54, 0),
            Err(BindError::AddrNotAvailable)
        );
        assert!(t.close(a));
        let b = t.bind(US, Ipv4Addr::UNSPECIFIED, 53, 0).unwrap();
        assert!(!t.is_open(a));
        assert!(t.is_open(b));
        let e = t.bind(US, US, 0, 5).unwrap();
        assert!(EPHEMERAL.contains(&e.port()));
    }

    #[test]
    fn queue_is_bounded_and_truncates() {
        let limits = Limits {
            udp_recv_queue_datagrams: 2,
            ..Limits::default()
        };
        let mut t = UdpTable::new(&limits);
        let h = t.bind(US, US, 7, 0).unwrap();
        let from = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 9);
        let to = |p| SocketAddrV4::new(US, p);
        assert_eq!(t.deliver(to(7), from, b"hello"), Deliver::Queued);
        assert_eq!(t.deliver(to(7), from, b"x"), Deliver::Queued);
        assert_eq!(t.deliver(to(7), from, b"y"), Deliver::QueueFull);
        assert_eq!(t.deliver(to(8), from, b"y"), Deliver::NoSocket);
        let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 7);
        assert_eq!(t.deliver(bcast, from, b"y"), Deliver::NoSocket);
        let mut buf = [0u8; 3];
        assert_eq!(t.recv(h, &mut buf), Ok((3, from)));
        assert_eq!(&buf, b"hel");
        assert_eq!(t.queued(h), Some(1));
        assert_eq!(t.recv(h, &mut buf), Ok((1, from)));
        assert_eq!(t.recv(h, &mut buf), Err(RecvError::WouldBlock));
    }
}

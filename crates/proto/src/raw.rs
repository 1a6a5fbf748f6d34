//! Raw IP sockets by protocol number (Linux `socket(AF_INET, SOCK_RAW,
//! protocol)`), enough for ping and for tools that speak their own protocol.
//!
//! CONTRACT: every IPv4 datagram the stack accepts for a protocol (after
//! reassembly; for ICMP only with a good checksum) is copied, IPv4 header
//! included as on Linux, into the queue of every open raw socket of that
//! protocol whose filters match (a bound local address, a connected peer),
//! in the order the sockets were opened; a full queue
//! (`raw_recv_queue_packets` / `raw_recv_queue_bytes`) drops the copy and
//! counts it. Sending goes through `Stack::raw_send` (the stack builds the
//! IPv4 header), `Stack::raw_send_hdrincl` (the caller's header, IP_HDRINCL)
//! or `Stack::raw_icmp_send` (ICMP with the checksum filled in). At most
//! `raw_max_sockets` are open.

use std::collections::{BTreeMap, VecDeque};

use crate::iface::config::Limits;
use crate::udp::RecvError;
use crate::wire::Ipv4Addr;

/// Names one raw socket of one stack; never reused after close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawHandle(u32);

/// Why a raw socket could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// `raw_max_sockets` are already open (EMFILE-like).
    TooManySockets,
}

/// One received packet as `raw_recv` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMeta {
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// The packet's whole length, IPv4 header included.
    pub len: usize,
    /// The packet's source address.
    pub from: Ipv4Addr,
}

#[derive(Debug)]
struct Packet {
    from: Ipv4Addr,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct Socket {
    protocol: u8,
    /// bind(2): only packets to this address.
    local: Option<Ipv4Addr>,
    /// connect(2): only packets from this address.
    peer: Option<Ipv4Addr>,
    queue: VecDeque<Packet>,
    queued_bytes: usize,
}

#[derive(Debug)]
pub(crate) struct RawTable {
    sockets: BTreeMap<RawHandle, Socket>,
    next_id: u32,
    limits: Limits,
}

impl RawTable {
    pub(crate) fn new(limits: &Limits) -> Self {
        RawTable {
            sockets: BTreeMap::new(),
            next_id: 1,
            limits: limits.clone(),
        }
    }

    pub(crate) fn open(&mut self, protocol: u8) -> Result<RawHandle, OpenError> {
        if self.sockets.len() >= self.limits.raw_max_sockets {
            return Err(OpenError::TooManySockets);
        }
        let h = RawHandle(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.sockets.insert(
            h,
            Socket {
                protocol,
                local: None,
                peer: None,
                queue: VecDeque::new(),
                queued_bytes: 0,
            },
        );
        Ok(h)
    }

    pub(crate) fn close(&mut self, h: RawHandle) -> bool {
        self.sockets.remove(&h).is_some()
    }

    pub(crate) fn is_open(&self, h: RawHandle) -> bool {
        self.sockets.contains_key(&h)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    pub(crate) fn protocol(&self, h: RawHandle) -> Option<u8> {
        self.sockets.get(&h).map(|s| s.protocol)
    }

    /// Set the bound address and connected peer filters.
    pub(crate) fn set_filter(
        &mut self,
        h: RawHandle,
        local: Option<Ipv4Addr>,
        peer: Option<Ipv4Addr>,
    ) -> bool {
        match self.sockets.get_mut(&h) {
            Some(s) => {
                s.local = local;
                s.peer = peer;
                true
            }
            None => false,
        }
    }

    /// (bound address, connected peer).
    pub(crate) fn filter(&self, h: RawHandle) -> Option<(Option<Ipv4Addr>, Option<Ipv4Addr>)> {
        self.sockets.get(&h).map(|s| (s.local, s.peer))
    }

    /// Copy one packet (`header` then `payload`) of `protocol` from `src`
    /// to `dst` to every matching socket. Returns (delivered, dropped).
    pub(crate) fn deliver(
        &mut self,
        protocol: u8,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        header: &[u8],
        payload: &[u8],
    ) -> (u64, u64) {
        let len = header.len() + payload.len();
        let (mut ok, mut full) = (0, 0);
        let matching = self.sockets.values_mut().filter(|s| {
            s.protocol == protocol
                && s.local.is_none_or(|a| a == dst)
                && s.peer.is_none_or(|a| a == src)
        });
        for s in matching {
            if s.queue.len() >= self.limits.raw_recv_queue_packets
                || s.queued_bytes + len > self.limits.raw_recv_queue_bytes
            {
                full += 1;
                continue;
            }
            let mut v = Vec::with_capacity(len);
            v.extend_from_slice(header);
            v.extend_from_slice(payload);
            s.queued_bytes += len;
            s.queue.push_back(Packet {
                from: src,
                bytes: v,
            });
            ok += 1;
        }
        (ok, full)
    }

    /// Copy the oldest packet into `buf`, truncating; returns the bytes copied.
    pub(crate) fn recv(&mut self, h: RawHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_msg(h, buf, false).map(|m| m.copied)
    }

    /// Copy the oldest packet into `buf`; `peek` leaves it queued.
    pub(crate) fn recv_msg(
        &mut self,
        h: RawHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<RawMeta, RecvError> {
        let s = self.sockets.get_mut(&h).ok_or(RecvError::InvalidHandle)?;
        let p = s.queue.front().ok_or(RecvError::WouldBlock)?;
        let n = p.bytes.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), p.bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        let meta = RawMeta {
            copied: n,
            len: p.bytes.len(),
            from: p.from,
        };
        if !peek {
            s.queue.pop_front();
            s.queued_bytes = s.queued_bytes.saturating_sub(meta.len);
        }
        Ok(meta)
    }

    /// Packets waiting on a socket.
    pub(crate) fn queued(&self, h: RawHandle) -> Option<usize> {
        self.sockets.get(&h).map(|s| s.queue.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn fan_out_and_caps() {
        let limits = Limits {
            raw_max_sockets: 2,
            raw_recv_queue_packets: 1,
            ..Limits::default()
        };
        let mut t = RawTable::new(&limits);
        let a = t.open(1).unwrap();
        let b = t.open(1).unwrap();
        assert_eq!(t.open(1), Err(OpenError::TooManySockets));
        assert_eq!(t.deliver(1, A, B, b"hd", b"pl"), (2, 0));
        assert_eq!(t.deliver(1, A, B, b"hd", b"pl"), (0, 2));
        let mut buf = [0u8; 8];
        assert_eq!(t.recv(a, &mut buf), Ok(4));
        assert_eq!(&buf[..4], b"hdpl");
        assert_eq!(t.recv(a, &mut buf), Err(RecvError::WouldBlock));
        assert!(t.close(b));
        assert_eq!(t.recv(b, &mut buf), Err(RecvError::InvalidHandle));
    }

    #[test]
    fn protocol_and_filters_select_sockets() {
        let mut t = RawTable::new(&Limits::default());
        let icmp = t.open(1).unwrap();
        let other = t.open(253).unwrap();
        assert_eq!(t.deliver(253, A, B, b"h", b"p"), (1, 0));
        assert_eq!(t.queued(icmp), Some(0));
        assert!(t.set_filter(other, Some(B), Some(B)));
        assert_eq!(t.deliver(253, A, B, b"h", b"p"), (0, 0), "peer filter");
        let mut buf = [0u8; 1];
        let m = t.recv_msg(other, &mut buf, true).unwrap();
        assert_eq!((m.copied, m.len, m.from), (1, 2, A));
        assert_eq!(t.queued(other), Some(1), "peek keeps it");
    }
}

//! Raw ICMP sockets, enough for ping (Linux `socket(AF_INET, SOCK_RAW,
//! IPPROTO_ICMP)`).
//!
//! CONTRACT: every ICMP message the stack accepts (good checksum, addressed
//! to us) is copied, IPv4 header included as on Linux, into the queue of
//! every open raw socket, in the order the sockets were opened; a full queue
//! (`raw_recv_queue_packets` / `raw_recv_queue_bytes`) drops the copy and
//! counts it. Sending goes through `Stack::raw_icmp_send`, which builds the
//! IPv4 header. At most `raw_max_sockets` are open.

use std::collections::{BTreeMap, VecDeque};

use crate::iface::config::Limits;
use crate::udp::RecvError;

/// Names one raw ICMP socket of one stack; never reused after close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawHandle(u32);

/// Why a raw socket could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// `raw_max_sockets` are already open (EMFILE-like).
    TooManySockets,
}

#[derive(Debug, Default)]
struct Socket {
    queue: VecDeque<Vec<u8>>,
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

    pub(crate) fn open(&mut self) -> Result<RawHandle, OpenError> {
        if self.sockets.len() >= self.limits.raw_max_sockets {
            return Err(OpenError::TooManySockets);
        }
        let h = RawHandle(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.sockets.insert(h, Socket::default());
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

    /// Copy one ICMP packet (`header` then `payload`) to every socket.
    /// Returns (delivered, dropped) counts.
    pub(crate) fn deliver(&mut self, header: &[u8], payload: &[u8]) -> (u64, u64) {
        let len = header.len() + payload.len();
        let (mut ok, mut full) = (0, 0);
        for s in self.sockets.values_mut() {
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
            s.queue.push_back(v);
            ok += 1;
        }
        (ok, full)
    }

    /// Copy the oldest packet into `buf`, truncating; returns the bytes copied.
    pub(crate) fn recv(&mut self, h: RawHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        let s = self.sockets.get_mut(&h).ok_or(RecvError::InvalidHandle)?;
        let p = s.queue.pop_front().ok_or(RecvError::WouldBlock)?;
        s.queued_bytes = s.queued_bytes.saturating_sub(p.len());
        let n = p.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), p.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_and_caps() {
        let limits = Limits {
            raw_max_sockets: 2,
            raw_recv_queue_packets: 1,
            ..Limits::default()
        };
        let mut t = RawTable::new(&limits);
        let a = t.open().unwrap();
        let b = t.open().unwrap();
        assert_eq!(t.open(), Err(OpenError::TooManySockets));
        assert_eq!(t.deliver(b"hd", b"pl"), (2, 0));
        assert_eq!(t.deliver(b"hd", b"pl"), (0, 2));
        let mut buf = [0u8; 8];
        assert_eq!(t.recv(a, &mut buf), Ok(4));
        assert_eq!(&buf[..4], b"hdpl");
        assert_eq!(t.recv(a, &mut buf), Err(RecvError::WouldBlock));
        assert!(t.close(b));
        assert_eq!(t.recv(b, &mut buf), Err(RecvError::InvalidHandle));
    }
}

//! The loopback interface: datagrams to 127.0.0.0/8 or to one of our own
//! addresses never touch the link (RFC 1122 3.2.1.3 (g): loopback
//! addresses must not appear outside a host). Like Linux's `lo`, they wait
//! in a queue and come back in through IPv4 ingress.
//!
//! CONTRACT: the queue holds at most `loopback_queue_packets` packets and
//! `loopback_queue_bytes` bytes; a packet beyond that is dropped and counted
//! (`loopback.tx_queue_full`). `poll_transmit` drains it before the link's
//! queue, and `poll_at` reports "ready now" while it holds anything.
//! Looped datagrams are never fragmented (Linux's `lo` MTU is 65536).

use std::collections::VecDeque;

use crate::iface::config::Limits;

#[derive(Debug, Default)]
pub(crate) struct LoopbackQueue {
    q: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl LoopbackQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Queue one whole IPv4 packet; false (dropped) when full.
    pub(crate) fn push(&mut self, packet: Vec<u8>, limits: &Limits) -> bool {
        if self.q.len() >= limits.loopback_queue_packets
            || self.bytes + packet.len() > limits.loopback_queue_bytes
        {
            return false;
        }
        self.bytes += packet.len();
        self.q.push_back(packet);
        true
    }

    pub(crate) fn pop(&mut self) -> Option<Vec<u8>> {
        let p = self.q.pop_front()?;
        self.bytes = self.bytes.saturating_sub(p.len());
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let limits = Limits {
            loopback_queue_packets: 2,
            ..Limits::default()
        };
        let mut q = LoopbackQueue::default();
        assert!(q.push(vec![1], &limits));
        assert!(q.push(vec![2, 2], &limits));
        assert!(!q.push(vec![3], &limits));
        assert_eq!(q.pop(), Some(vec![1]));
        assert_eq!(q.pop(), Some(vec![2, 2]));
        assert!(q.is_empty());
    }
}

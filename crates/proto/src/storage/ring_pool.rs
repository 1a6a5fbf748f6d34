//! A small per-stack pool of first-size ring buffers. Short connections
//! write a few bytes each way and then go away: without the pool every one
//! of them mallocs and frees four `MIN_ALLOC`-byte ring buffers, which glibc
//! serves from its slow bins once its per-size cache (7 entries) is full.
//! With it, a first-size ring goes to the pool as soon as it is empty (the
//! receive ring read out, the send ring fully acknowledged, or the
//! connection closing: `sockets/api.rs`, `sockets/input.rs`), and the next
//! small write or arrival on any connection takes it back, still in cache.
//! At a million connections that keeps malloc and cold memory off a
//! request-response exchange (docs/PERF_NOTES.md 17).
//!
//! Contract: the pool holds at most `POOL_CAP` buffers, each of exactly
//! `MIN_ALLOC` bytes capacity, all empty; a ring given a pooled buffer is
//! exactly as if its first write had allocated it (same physical size), so
//! nothing else about the ring changes. The pool's own `Vec` reaches its cap
//! once and never reallocates after (no steady-state allocation).

use super::ring::{RingBuffer, MIN_ALLOC};

/// Spare buffers kept (256 x 256 B = 64 KiB per stack at most): enough for
/// a burst of closes to feed the next burst of opens.
const POOL_CAP: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct RingPool {
    spare: Vec<Vec<u8>>,
}

impl RingPool {
    /// Before a write of `n` bytes into `ring`: if the ring holds no storage
    /// and its first allocation would be `MIN_ALLOC`, give it a spare.
    #[inline(always)]
    pub(crate) fn provision(&mut self, ring: &mut RingBuffer, n: usize) {
        if n > MIN_ALLOC || ring.capacity() < MIN_ALLOC || !ring.is_unallocated() {
            return;
        }
        if let Some(v) = self.spare.pop() {
            if let Err(v) = ring.adopt(v) {
                self.spare.push(v);
            }
        }
    }

    /// `ring` is going away or idle and empty: keep its storage if it is a
    /// first-size buffer and there is room. The caller guarantees what
    /// `RingBuffer::release_if_empty` asks (no out-of-order bytes held).
    /// Returns whether the storage was taken.
    #[inline(always)]
    pub(crate) fn reclaim(&mut self, ring: &mut RingBuffer) -> bool {
        if self.spare.len() >= POOL_CAP || ring.allocated() != MIN_ALLOC {
            return false;
        }
        match ring.take_if_empty() {
            Some(v) => {
                self.spare.push(v);
                true
            }
            None => false,
        }
    }

    /// Bytes of spare storage held (each buffer `MIN_ALLOC` bytes), for
    /// the stack-wide memory totals.
    pub(crate) fn bytes(&self) -> usize {
        self.spare.iter().map(Vec::capacity).sum()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_buffer_behaves_like_a_first_allocation() {
        let mut pool = RingPool::default();
        let mut a = RingBuffer::new(4096);
        assert_eq!(a.enqueue(b"hello"), 5);
        assert_eq!(a.allocated(), MIN_ALLOC);
        // Not empty: stays.
        assert!(!pool.reclaim(&mut a));
        let mut out = [0u8; 8];
        assert_eq!(a.dequeue(&mut out), 5);
        assert!(pool.reclaim(&mut a));
        assert_eq!((a.allocated(), pool.len()), (0, 1));
        // A fresh ring takes it for a small write and works as usual,
        // including growth past the first size.
        let mut b = RingBuffer::new(4096);
        pool.provision(&mut b, 3);
        assert_eq!((b.allocated(), pool.len()), (MIN_ALLOC, 0));
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        assert_eq!(b.enqueue(&data), 1000);
        let mut back = vec![0u8; 1000];
        assert_eq!(b.dequeue(&mut back), 1000);
        assert_eq!(back, data);
    }

    #[test]
    fn only_first_size_buffers_and_fitting_rings() {
        let mut pool = RingPool::default();
        // A grown ring's storage is not pooled.
        let mut big = RingBuffer::new(8192);
        big.enqueue(&[0u8; 2000]);
        big.discard(2000);
        assert!(!pool.reclaim(&mut big));
        let mut a = RingBuffer::new(4096);
        a.enqueue(b"x");
        a.discard(1);
        assert!(pool.reclaim(&mut a));
        // Too large a first write, or a ring smaller than a pooled buffer,
        // or a ring with storage: nothing handed out.
        let mut c = RingBuffer::new(4096);
        pool.provision(&mut c, MIN_ALLOC + 1);
        let mut tiny = RingBuffer::new(100);
        pool.provision(&mut tiny, 10);
        let mut held = RingBuffer::new(4096);
        held.enqueue(b"y");
        pool.provision(&mut held, 10);
        assert_eq!(pool.len(), 1);
        assert_eq!((c.allocated(), tiny.allocated()), (0, 0));
    }

    #[test]
    fn capped() {
        let mut pool = RingPool::default();
        for _ in 0..POOL_CAP + 10 {
            let mut r = RingBuffer::new(4096);
            r.enqueue(b"z");
            r.discard(1);
            pool.reclaim(&mut r);
        }
        assert_eq!(pool.len(), POOL_CAP);
    }
}

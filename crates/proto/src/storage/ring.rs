//! A byte ring with a logical capacity and lazily grown physical storage.
//!
//! Contract: `len() <= capacity()` always. Bytes may also be written *beyond*
//! `len()` (but within capacity) with `write_at`, for out-of-order TCP data;
//! `commit` then makes them part of the readable region. Reads never consume
//! more than `len()` bytes. No method panics.

/// The smallest physical allocation, so tiny writes do not reallocate often.
const MIN_ALLOC: usize = 2048;

#[derive(Debug, Clone, Default)]
pub(crate) struct RingBuffer {
    /// Physical storage; its length is the physical capacity (<= `cap`).
    buf: Vec<u8>,
    /// Index of the first readable byte in `buf`.
    head: usize,
    /// Readable bytes.
    len: usize,
    /// Logical capacity.
    cap: usize,
}

impl RingBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        RingBuffer {
            buf: Vec::new(),
            head: 0,
            len: 0,
            cap,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bytes that can still be enqueued.
    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.len)
    }

    /// Change the logical capacity; never below the bytes held.
    pub(crate) fn set_capacity(&mut self, cap: usize) {
        let cap = cap.max(self.len);
        if cap < self.buf.len() {
            // Shrink physical storage too, keeping the readable bytes.
            self.reallocate(cap, self.len);
        }
        self.cap = cap;
    }

    /// Drop every byte, release the memory.
    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
        self.len = 0;
    }

    /// Make `need` logical bytes (from the head) physically addressable.
    fn reserve(&mut self, need: usize) {
        if need <= self.buf.len() {
            return;
        }
        let target = need
            .max(self.buf.len().saturating_mul(2))
            .max(MIN_ALLOC)
            .min(self.cap);
        // Keep everything physically present (readable and out-of-order).
        self.reallocate(target, self.buf.len());
    }

    /// Move `keep` bytes from the head into a fresh buffer of size `size`.
    fn reallocate(&mut self, size: usize, keep: usize) {
        let mut fresh = vec![0u8; size];
        let keep = keep.min(size);
        self.copy_out(0, &mut fresh[..keep]);
        self.buf = fresh;
        self.head = 0;
    }

    /// Copy physical bytes starting `off` after the head into `out`, without
    /// checking `len` (used internally to move out-of-order bytes as well).
    fn copy_out(&self, off: usize, out: &mut [u8]) -> usize {
        let phys = self.buf.len();
        if phys == 0 || out.is_empty() {
            return 0;
        }
        let n = out.len().min(phys.saturating_sub(off));
        let start = (self.head + off) % phys;
        let first = n.min(phys - start);
        if let (Some(dst), Some(src)) = (out.get_mut(..first), self.buf.get(start..start + first)) {
            dst.copy_from_slice(src);
        }
        if let (Some(dst), Some(src)) = (out.get_mut(first..n), self.buf.get(..n - first)) {
            dst.copy_from_slice(src);
        }
        n
    }

    /// Append as much of `data` as fits; returns the count.
    pub(crate) fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.len += n;
        n
    }

    /// Write `data` at `off` bytes past the readable end, as much as fits
    /// within capacity; returns the count written. Does not change `len`.
    pub(crate) fn write_at(&mut self, off: usize, data: &[u8]) -> usize {
        let room = self.free().saturating_sub(off);
        let n = data.len().min(room);
        if n == 0 {
            return 0;
        }
        let end = self.len + off + n;
        self.reserve(end);
        let phys = self.buf.len();
        if phys == 0 {
            return 0;
        }
        let start = (self.head + self.len + off) % phys;
        let first = n.min(phys - start);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..start + first), data.get(..first))
        {
            dst.copy_from_slice(src);
        }
        if let (Some(dst), Some(src)) = (self.buf.get_mut(..n - first), data.get(first..n)) {
            dst.copy_from_slice(src);
        }
        n
    }

    /// Make `n` bytes written past the end by `write_at` readable.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.cap).min(self.buf.len());
    }

    /// Copy readable bytes starting at `off` into `out`; returns the count.
    pub(crate) fn read_at(&self, off: usize, out: &mut [u8]) -> usize {
        let avail = self.len.saturating_sub(off);
        let n = out.len().min(avail);
        match out.get_mut(..n) {
            Some(dst) => self.copy_out(off, dst),
            None => 0,
        }
    }

    /// Remove up to `n` bytes from the front; returns the count.
    pub(crate) fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        if n == 0 {
            return 0;
        }
        let phys = self.buf.len();
        self.head = (self.head + n) % phys.max(1);
        self.len -= n;
        n
    }

    /// Copy out and remove up to `out.len()` bytes; returns the count.
    pub(crate) fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let n = self.read_at(0, out);
        self.discard(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enqueue_dequeue_wraps() {
        let mut r = RingBuffer::new(5000);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(r.enqueue(&data), 3000);
        let mut out = vec![0; 2500];
        assert_eq!(r.dequeue(&mut out), 2500);
        assert_eq!(&out[..], &data[..2500]);
        assert_eq!(r.enqueue(&data), 3000);
        assert_eq!(r.len(), 3500);
        assert_eq!(r.enqueue(&data), 1500);
        let mut all = vec![0; 6000];
        assert_eq!(r.dequeue(&mut all), 5000);
        assert_eq!(&all[..500], &data[2500..]);
        assert_eq!(&all[500..3500], &data[..]);
        assert_eq!(&all[3500..5000], &data[..1500]);
    }

    #[test]
    fn write_beyond_then_commit() {
        let mut r = RingBuffer::new(100);
        assert_eq!(r.write_at(10, &[7; 20]), 20);
        assert_eq!(r.len(), 0);
        assert_eq!(r.write_at(0, &[1; 10]), 10);
        r.commit(30);
        let mut out = [0; 40];
        assert_eq!(r.read_at(0, &mut out), 30);
        assert_eq!(&out[..10], &[1; 10]);
        assert_eq!(&out[10..30], &[7; 20]);
        assert_eq!(r.write_at(80, &[1; 10]), 0);
        assert_eq!(r.write_at(60, &[1; 20]), 10);
    }

    #[test]
    fn grows_keeping_out_of_order_bytes() {
        let mut r = RingBuffer::new(100_000);
        r.enqueue(&[1; 1000]);
        r.discard(900);
        r.write_at(500, &[9; 100]);
        r.write_at(0, &[2; 5000]); // forces growth past 2048 with a wrapped head
        r.commit(5000);
        let mut out = vec![0; 5100];
        assert_eq!(r.read_at(0, &mut out), 5100);
        assert_eq!(&out[..100], &[1; 100]);
        assert!(out[100..5100].iter().all(|&b| b == 2));
    }
}

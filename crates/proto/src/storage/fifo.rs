//! A first-in first-out queue of small `Copy` items in a power-of-two ring:
//! the socket layer's ready-to-send queue, pushed at nearly every event and
//! popped at every segment out.
//!
//! `VecDeque` does the same job, but its `push_back` stayed an out-of-line
//! call and its index arithmetic wraps by compare and subtract; here the
//! push, the front and the pop are a handful of inline instructions (a mask
//! wraps the index) and only growing is a call. It grows by doubling and
//! never shrinks, like `VecDeque`.

/// A FIFO queue (`push_back`, `front`, `pop_front`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fifo<T> {
    /// The ring: empty, or a power of two long.
    buf: Vec<T>,
    /// Where the front item is (`< buf.len()` once `buf` is not empty).
    head: usize,
    /// Items queued.
    len: usize,
}

impl<T: Copy> Fifo<T> {
    pub(crate) fn new() -> Self {
        Fifo {
            buf: Vec::new(),
            head: 0,
            len: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item queued longest, if any.
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.buf.get(self.head).copied()
    }

    /// Take the item queued longest.
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let x = self.front()?;
        self.head = (self.head + 1) & self.buf.len().wrapping_sub(1);
        self.len -= 1;
        Some(x)
    }

    /// Queue `x` behind the others.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, x: T) {
        if self.len == self.buf.len() {
            self.grow(x);
        }
        let at = (self.head + self.len) & self.buf.len().wrapping_sub(1);
        if let Some(place) = self.buf.get_mut(at) {
            *place = x;
            self.len += 1;
        }
    }

    /// Double the ring (at least 8 places), the items in order from the
    /// start; `fill` takes the unused places.
    #[inline(never)]
    fn grow(&mut self, fill: T) {
        let cap = (self.buf.len() * 2).max(8);
        let mut v = Vec::with_capacity(cap);
        // Full: the items run from `head` to the end, then from the start.
        if let Some((wrapped, first)) = self.buf.split_at_checked(self.head) {
            v.extend_from_slice(first);
            v.extend_from_slice(wrapped);
        }
        v.resize(cap, fill);
        self.buf = v;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Pushes and pops in every mix of runs, across wraps and growth,
    /// give what a `VecDeque` gives.
    #[test]
    fn matches_vecdeque() {
        let mut f = Fifo::new();
        let mut d = VecDeque::new();
        let mut x = 0u32;
        let mut rng = 0x9e37_79b9u32;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            if rng % 5 < 3 {
                f.push_back(x);
                d.push_back(x);
                x += 1;
            } else {
                assert_eq!(f.pop_front(), d.pop_front());
            }
            assert_eq!(f.len(), d.len());
            assert_eq!(f.is_empty(), d.is_empty());
            assert_eq!(f.front(), d.front().copied());
        }
        while let Some(v) = d.pop_front() {
            assert_eq!(f.pop_front(), Some(v));
        }
        assert_eq!(f.pop_front(), None);
    }
}

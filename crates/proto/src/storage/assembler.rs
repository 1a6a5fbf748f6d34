//! Out-of-order ranges received ahead of `rcv_nxt`, as offsets from it.
//!
//! Contract: ranges are kept sorted, disjoint and non-adjacent; at most
//! `max_ranges` of them (a hostile peer cannot make us track more). The bytes
//! themselves live in the receive ring beyond its readable end, so memory is
//! bounded by the receive buffer, never by the peer.

#[derive(Debug, Clone)]
pub(crate) struct Assembler {
    /// (start, end) offsets from the current front, end exclusive.
    ranges: Vec<(usize, usize)>,
    max_ranges: usize,
}

/// The range could not be recorded: too many holes already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyHoles;

impl Assembler {
    pub(crate) fn new(max_ranges: usize) -> Self {
        Assembler {
            ranges: Vec::new(),
            max_ranges,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
    }

    /// The recorded ranges, sorted (for SACK blocks and tests).
    pub(crate) fn ranges(&self) -> &[(usize, usize)] {
        &self.ranges
    }

    /// Record bytes `[start, start + len)`; merges with neighbours.
    pub(crate) fn add(&mut self, start: usize, len: usize) -> Result<(), TooManyHoles> {
        if len == 0 {
            return Ok(());
        }
        let end = start.saturating_add(len);
        // First range whose end reaches our start (could merge or follow us).
        let first = self.ranges.partition_point(|&(_, e)| e < start);
        // Ranges with start <= end overlap or touch ours.
        let last = self.ranges.partition_point(|&(s, _)| s <= end);
        if first >= last {
            if self.ranges.len() >= self.max_ranges {
                return Err(TooManyHoles);
            }
            self.ranges.insert(first, (start, end));
            return Ok(());
        }
        let (lo, hi) = match (self.ranges.get(first), self.ranges.get(last - 1)) {
            (Some(a), Some(b)) => (a.0.min(start), b.1.max(end)),
            _ => (start, end),
        };
        self.ranges.drain(first + 1..last);
        if let Some(r) = self.ranges.get_mut(first) {
            *r = (lo, hi);
        }
        Ok(())
    }

    /// The front advanced by `n` bytes (in-order data arrived). Returns how
    /// many further bytes are now contiguous from the new front (and removes
    /// them, shifting every offset so the new front is 0 again).
    pub(crate) fn advance(&mut self, n: usize) -> usize {
        let mut front = n;
        let mut covered = 0;
        for &(s, e) in &self.ranges {
            if s > front {
                break;
            }
            front = front.max(e);
            covered += 1;
        }
        self.ranges.drain(..covered);
        let extra = front - n;
        let shift = front;
        self.ranges.retain_mut(|r| {
            r.0 = r.0.saturating_sub(shift);
            r.1 = r.1.saturating_sub(shift);
            r.1 > 0
        });
        extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_advance() {
        let mut a = Assembler::new(4);
        a.add(10, 5).unwrap();
        a.add(20, 5).unwrap();
        a.add(15, 5).unwrap();
        assert_eq!(a.ranges(), &[(10, 25)]);
        a.add(30, 2).unwrap();
        a.add(0, 3).unwrap();
        assert_eq!(a.ranges(), &[(0, 3), (10, 25), (30, 32)]);
        // In-order data of 3 bytes: range (0,3) overlaps the front.
        assert_eq!(a.advance(3), 0);
        assert_eq!(a.ranges(), &[(7, 22), (27, 29)]);
        assert_eq!(a.advance(7), 15);
        assert_eq!(a.ranges(), &[(5, 7)]);
    }

    #[test]
    fn caps_holes() {
        let mut a = Assembler::new(2);
        a.add(10, 1).unwrap();
        a.add(20, 1).unwrap();
        assert_eq!(a.add(30, 1), Err(TooManyHoles));
        a.add(11, 9).unwrap();
        assert_eq!(a.ranges(), &[(10, 21)]);
        a.add(0, 100).unwrap();
        assert_eq!(a.ranges(), &[(0, 100)]);
    }
}

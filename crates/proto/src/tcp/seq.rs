//! TCP sequence numbers: arithmetic modulo 2^32 (RFC 9293, 3.4).

use core::fmt;
use core::ops::{Add, Sub};

/// A TCP sequence number. Comparisons are modulo 2^32 and only meaningful
/// for numbers less than 2^31 apart, as RFC 9293 3.4 assumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// True when `self` comes before `other` (RFC 9293, 3.4).
    pub fn lt(self, other: SeqNum) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }
    pub fn le(self, other: SeqNum) -> bool {
        self == other || self.lt(other)
    }
    pub fn gt(self, other: SeqNum) -> bool {
        other.lt(self)
    }
    pub fn ge(self, other: SeqNum) -> bool {
        other.le(self)
    }
    /// The later of two sequence numbers.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.lt(other) {
            other
        } else {
            self
        }
    }
    /// The earlier of two sequence numbers.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.lt(other) {
            self
        } else {
            other
        }
    }
    /// `other - self` as a distance, when `self <= other`; zero otherwise.
    pub fn distance_to(self, other: SeqNum) -> usize {
        let d = other.0.wrapping_sub(self.0) as i32;
        if d < 0 {
            0
        } else {
            d as usize
        }
    }
    /// True when `lo <= self < hi`.
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        lo.le(self) && self.lt(hi)
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: usize) -> SeqNum {
        // Sequence space is modulo 2^32: truncation is the intent.
        SeqNum(self.0.wrapping_add(n as u32))
    }
}
impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n as u32))
    }
}
impl Sub<SeqNum> for SeqNum {
    type Output = i64;
    /// Signed distance `self - rhs` in modulo-2^32 order.
    fn sub(self, rhs: SeqNum) -> i64 {
        i64::from(self.0.wrapping_sub(rhs.0) as i32)
    }
}
impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn wraps() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 4;
        assert_eq!(b, SeqNum(2));
        assert!(a.lt(b));
        assert!(b.gt(a));
        assert_eq!(b - a, 4);
        assert_eq!(a.distance_to(b), 4);
        assert_eq!(b.distance_to(a), 0);
        assert!(SeqNum(1).in_range(a, b));
    }
}

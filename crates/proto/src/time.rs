//! Time as plain numbers: microseconds since an arbitrary epoch chosen by the caller.
//!
//! proto never reads a clock; the runtime (real or virtual) passes `now` in.

use core::fmt;
use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A point in time, in microseconds since the caller's epoch.
///
/// Stored as `micros + 1` in a `NonZeroU64`, so that `Option<Instant>` is
/// 8 bytes, not 16: a connection holds a dozen optional deadlines, and at a
/// million connections every byte of the slot is memory traffic (issue 7,
/// `scale`). The cost is one value: the latest instant is `u64::MAX - 1` µs
/// (584,000 years), and everything later saturates there, as `+` already
/// saturated at `u64::MAX`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    plus_one: NonZeroU64,
}

/// A span of time, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Instant {
    pub const ZERO: Instant = Instant {
        plus_one: NonZeroU64::MIN,
    };
    /// The latest representable instant (`u64::MAX - 1` µs).
    pub const MAX: Instant = Instant {
        plus_one: NonZeroU64::MAX,
    };

    /// `micros` saturates at `Instant::MAX`.
    pub const fn from_micros(micros: u64) -> Self {
        match NonZeroU64::new(micros.saturating_add(1)) {
            Some(plus_one) => Instant { plus_one },
            // Unreachable: a saturating `+ 1` is never zero.
            None => Instant::MAX,
        }
    }
    pub const fn from_millis(millis: u64) -> Self {
        Instant::from_micros(millis.saturating_mul(1000))
    }
    pub const fn from_secs(secs: u64) -> Self {
        Instant::from_micros(secs.saturating_mul(1_000_000))
    }
    pub const fn total_micros(self) -> u64 {
        self.plus_one.get() - 1
    }
    pub const fn total_millis(self) -> u64 {
        self.total_micros() / 1000
    }
    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration {
            micros: self.plus_one.get().saturating_sub(earlier.plus_one.get()),
        }
    }
}

impl Default for Instant {
    fn default() -> Self {
        Instant::ZERO
    }
}

/// As the derived form was when the field was `micros`.
impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instant")
            .field("micros", &self.total_micros())
            .finish()
    }
}

impl Duration {
    pub const ZERO: Duration = Duration { micros: 0 };
    pub const MAX: Duration = Duration { micros: u64::MAX };

    pub const fn from_micros(micros: u64) -> Self {
        Duration { micros }
    }
    pub const fn from_millis(millis: u64) -> Self {
        Duration {
            micros: millis.saturating_mul(1000),
        }
    }
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            micros: secs.saturating_mul(1_000_000),
        }
    }
    pub const fn total_micros(self) -> u64 {
        self.micros
    }
    pub const fn total_millis(self) -> u64 {
        self.micros / 1000
    }
    pub const fn saturating_mul(self, k: u64) -> Self {
        Duration {
            micros: self.micros.saturating_mul(k),
        }
    }
    pub const fn min(self, other: Duration) -> Duration {
        if self.micros < other.micros {
            self
        } else {
            other
        }
    }
    pub const fn max(self, other: Duration) -> Duration {
        if self.micros > other.micros {
            self
        } else {
            other
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn add(self, d: Duration) -> Instant {
        // Saturates at `NonZeroU64::MAX`, that is at `Instant::MAX`.
        Instant {
            plus_one: self.plus_one.saturating_add(d.micros),
        }
    }
}
impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}
impl Sub<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn sub(self, d: Duration) -> Instant {
        // Saturates at zero micros (`plus_one` 1).
        Instant::from_micros(self.total_micros().saturating_sub(d.micros))
    }
}
impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later than `self`.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(d.micros),
        }
    }
}
impl AddAssign for Duration {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}
impl Sub for Duration {
    type Output = Duration;
    fn sub(self, d: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(d.micros),
        }
    }
}
impl SubAssign for Duration {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.total_micros() / 1_000_000,
            self.total_micros() % 1_000_000
        )
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}ms", self.micros / 1000, self.micros % 1000)
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> Self {
        core::time::Duration::from_micros(d.micros)
    }
}
impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Self {
        Duration {
            micros: u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_optional_instant_is_one_word() {
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
        assert_eq!(core::mem::size_of::<Instant>(), 8);
    }

    #[test]
    fn extremes_saturate() {
        assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
        assert_eq!(Instant::MAX.total_micros(), u64::MAX - 1);
        assert_eq!(Instant::MAX + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::MAX, Instant::ZERO);
        assert_eq!(Instant::default(), Instant::ZERO);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
        assert_eq!(
            format!("{:?}", Instant::from_micros(7)),
            "Instant { micros: 7 }"
        );
        assert_eq!(Instant::from_micros(1_500_000).to_string(), "1.500000");
    }

    /// The reference: plain microseconds, saturating at `u64::MAX - 1`.
    fn clamp(m: u64) -> u64 {
        m.min(u64::MAX - 1)
    }

    fn micros() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..10_000_000,
            Just(0),
            Just(u64::MAX - 2),
            Just(u64::MAX - 1),
            Just(u64::MAX),
            any::<u64>(),
        ]
    }

    proptest! {
        /// Every operation agrees with the same operation on plain
        /// (clamped) microseconds, ordering included.
        #[test]
        fn instant_matches_plain_micros(a in micros(), b in micros(), d in micros()) {
            let (ia, ib, dd) = (Instant::from_micros(a), Instant::from_micros(b), Duration::from_micros(d));
            let (a, b) = (clamp(a), clamp(b));
            prop_assert_eq!(ia.total_micros(), a);
            prop_assert_eq!(ia.cmp(&ib), a.cmp(&b));
            prop_assert_eq!(ia == ib, a == b);
            prop_assert_eq!((ia + dd).total_micros(), clamp(a.saturating_add(d)));
            prop_assert_eq!((ia - dd).total_micros(), a.saturating_sub(d));
            prop_assert_eq!((ia - ib).total_micros(), a.saturating_sub(b));
            prop_assert_eq!(ia.saturating_duration_since(ib).total_micros(), a.saturating_sub(b));
            prop_assert_eq!(ia.total_millis(), a / 1000);
            let opt = [Some(ia), None];
            prop_assert_eq!(opt.map(|o| o.map(Instant::total_micros)), [Some(a), None]);
        }
    }
}

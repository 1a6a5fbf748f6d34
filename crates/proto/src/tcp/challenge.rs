//! The global challenge-ACK budget (RFC 5961 7): at most `limit` challenge
//! ACKs per second across the whole stack, on top of each connection's own
//! `invalid_ratelimit`. Linux before 6.0 used 1000 per second
//! (`tcp_challenge_ack_limit`) with a randomised budget; Linux 6.0+ keeps
//! the knob but defaults it to "unlimited" and relies on the per-socket
//! limit. We keep RFC 5961's recommendation as the default and make it a
//! profile knob (`u32::MAX` disables it). The budget is not randomised:
//! the side channel of CVE-2016-5696 came from one shared counter that an
//! attacker could observe, which the per-socket limit already breaks.
//!
//! Contract: `allow` is O(1), holds two integers, never panics.

use crate::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChallengeLimiter {
    /// Start of the current one-second window.
    window_start: Option<Instant>,
    /// Challenge ACKs allowed in it so far.
    sent: u32,
}

impl ChallengeLimiter {
    /// May one more challenge ACK go out at `now`?
    pub(crate) fn allow(&mut self, now: Instant, limit: u32) -> bool {
        let fresh = match self.window_start {
            Some(t) => now - t >= Duration::from_secs(1),
            None => true,
        };
        if fresh {
            self.window_start = Some(now);
            self.sent = 0;
        }
        if self.sent >= limit {
            return false;
        }
        self.sent += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_per_second() {
        let mut l = ChallengeLimiter::default();
        let t0 = Instant::from_millis(5);
        assert!(l.allow(t0, 2));
        assert!(l.allow(t0, 2));
        assert!(!l.allow(Instant::from_millis(900), 2));
        assert!(l.allow(Instant::from_millis(1005), 2));
        assert!(!ChallengeLimiter::default().allow(t0, 0));
    }
}

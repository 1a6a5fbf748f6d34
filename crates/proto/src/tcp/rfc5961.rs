//! RFC 5961 (blind in-window attacks): the token bucket behind the
//! challenge-ACK rate limits.
//!
//! The decisions themselves (RST at 3.2, SYN at 4.2, ACK at 5.2) are made
//! inline in `tcp/input.rs` (`process_synchronized`) and answered through
//! `oow_ack`, with Linux's per-socket `tcp_invalid_ratelimit`; the stack-wide
//! `tcp_challenge_ack_limit` is a `TokenBucket` in `sockets/input.rs`.
//! Scripted cases: `tcp/tests/rfc5961.rs`.
//!
//! Contract: pure (time is a parameter), no panics, O(1).

use crate::time::{Duration, Instant};

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    burst: u32,
    interval: Duration,
    tokens: u32,
    /// When the next token arrives (None: bucket full, clock not started).
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(burst: u32, interval: Duration) -> Self {
        TokenBucket {
            burst,
            interval,
            tokens: burst,
            last: None,
        }
    }

    /// `per_second` tokens a second, bursting to one second's worth.
    pub(crate) fn per_second(per_second: u32) -> Self {
        let n = u64::from(per_second.max(1));
        TokenBucket::new(per_second, Duration::from_micros(1_000_000 / n))
    }

    fn refill(&mut self, now: Instant) {
        let Some(last) = self.last else {
            self.last = Some(now);
            return;
        };
        let step = self.interval.total_micros().max(1);
        let elapsed = now.saturating_duration_since(last).total_micros();
        let new = elapsed / step;
        if new == 0 {
            return;
        }
        let room = u64::from(self.burst - self.tokens.min(self.burst));
        if new >= room {
            self.tokens = self.burst;
            self.last = Some(now);
        } else {
            // `new < room <= u32::MAX`, so the cast is exact.
            self.tokens += new as u32;
            self.last = Some(last + Duration::from_micros(new * step));
        }
    }

    /// Take one token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_survives_time_going_backwards() {
        let mut b = TokenBucket::new(2, Duration::from_millis(100));
        let t = Instant::from_secs(5);
        assert!(b.take(t));
        assert!(b.take(t));
        assert!(!b.take(Instant::from_secs(1)));
        assert!(b.take(t + Duration::from_millis(100)));
        let mut z = TokenBucket::per_second(0);
        assert!(!z.take(t));
    }
}

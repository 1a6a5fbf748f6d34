//! RFC 5961 (blind in-window attacks): the decisions as pure functions, and
//! the challenge-ACK rate limits as token buckets.
//!
//! This is the table-tested reference for what `tcp/input.rs` does inline
//! today (`process_synchronized`: RST at 3.2, SYN at 4.2, ACK at 5.2, all
//! answered through `oow_ack` with the per-socket `tcp_invalid_ratelimit`).
//! Switching means replacing those branches with calls to `rst_action`,
//! `syn_in_sync_action` and `ack_action`, and `oow_ack` with
//! `ChallengeLimiter::allow` (which adds the per-stack limit Linux has as
//! `tcp_challenge_ack_limit`).
//!
//! Contract: pure (time is a parameter), no panics, O(1).

use super::{SeqNum, State};
use crate::time::{Duration, Instant};

/// What to do with a segment carrying RST in a synchronized state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RstAction {
    /// Exactly at `rcv_nxt`: tear the connection down.
    Reset,
    /// In the window but not at `rcv_nxt`: send a challenge ACK, drop.
    Challenge,
    /// Outside the window: drop silently.
    Drop,
}

/// RFC 5961 3.2: judge a RST by its sequence number alone.
pub(crate) fn rst_action(seq: SeqNum, rcv_nxt: SeqNum, rcv_wnd: usize) -> RstAction {
    if seq == rcv_nxt {
        // 3.2 1): exactly the next expected sequence number.
        RstAction::Reset
    } else if rcv_wnd > 0 && seq.in_range(rcv_nxt, rcv_nxt + rcv_wnd.min(1 << 30)) {
        // 3.2 3): in window, not exact.
        RstAction::Challenge
    } else {
        // 3.2 2): outside the window (a zero window only admits rcv_nxt).
        RstAction::Drop
    }
}

/// What to do with a SYN in a synchronized state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SynAction {
    /// RFC 5961 4.2: whatever its sequence number, answer with a challenge
    /// ACK and drop it (never reset the connection).
    Challenge,
    /// SYN_RECEIVED and it is the peer's SYN again (same ISN): our SYN-ACK
    /// was lost, send it again (Linux `tcp_check_req`).
    ResendSynAck,
    /// TIME_WAIT and the SYN is clearly a new incarnation (sequence above
    /// `rcv_nxt`, or a newer timestamp: RFC 6191, Linux
    /// `tcp_timewait_state_process`): the listener may take it.
    NewConnection,
}

/// RFC 5961 4.2 (with RFC 9293 3.10.7.4 and RFC 6191 for the special
/// states). `ts` is `(segment TSval, TS.Recent)` when both sides use
/// timestamps.
pub(crate) fn syn_in_sync_action(
    state: State,
    seq: SeqNum,
    irs: SeqNum,
    rcv_nxt: SeqNum,
    ts: Option<(u32, u32)>,
) -> SynAction {
    match state {
        State::SynReceived if seq == irs => SynAction::ResendSynAck,
        State::TimeWait => {
            let newer = match ts {
                // RFC 6191 2: with timestamps, the TSval decides.
                Some((tsval, recent)) => (tsval.wrapping_sub(recent) as i32) > 0,
                // RFC 9293 / Linux: without, the ISN must be above rcv_nxt.
                None => seq.gt(rcv_nxt),
            };
            if newer {
                SynAction::NewConnection
            } else {
                SynAction::Challenge
            }
        }
        _ => SynAction::Challenge,
    }
}

/// What to do with the ACK field of a segment in a synchronized state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckAction {
    /// Within `[snd_una - max_snd_wnd, snd_nxt]`: process it (old ones are
    /// duplicates and leave `snd_una` alone).
    Accept,
    /// Outside that range: drop the segment and send a challenge ACK.
    Challenge,
    /// No ACK bit: drop (RFC 9293 3.10.7.4 fifth step).
    Drop,
}

/// RFC 5961 5.2: the stricter ACK acceptability test. `ack` is `None` when
/// the ACK bit is off; `snd_nxt` is the highest sequence number sent
/// (`snd_max`), and `max_snd_wnd` the largest window the peer ever offered.
pub(crate) fn ack_action(
    ack: Option<SeqNum>,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    max_snd_wnd: usize,
) -> AckAction {
    let Some(ack) = ack else {
        return AckAction::Drop;
    };
    // Keep the span below 2^31 so modulo comparisons stay meaningful.
    let low = snd_una - max_snd_wnd.min(1 << 30);
    if low.le(ack) && ack.le(snd_nxt) {
        AckAction::Accept
    } else {
        // 5.2: "MUST be discarded and an ACK sent back" (RFC 9293 agrees
        // for SEG.ACK > SND.NXT; Linux drops those silently, but an RFC
        // MUST is not a choice).
        AckAction::Challenge
    }
}

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

/// Linux `tcp_invalid_ratelimit`: one challenge/out-of-window ACK per
/// socket per 500 ms.
pub(crate) const SOCKET_INTERVAL: Duration = Duration::from_millis(500);
/// Linux `tcp_challenge_ack_limit` before 6.0 (1000 a second per stack).
pub(crate) const GLOBAL_PER_SECOND: u32 = 1000;

/// Why a challenge ACK was or was not sent (for counters: Linux
/// `TCPChallengeACK`, `TCPACKSkippedChallenge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    SkippedSocket,
    SkippedGlobal,
}

/// The per-stack half of the limiter; each socket owns a `socket_bucket()`.
#[derive(Debug, Clone)]
pub(crate) struct ChallengeLimiter {
    global: TokenBucket,
    pub(crate) sent: u64,
    pub(crate) skipped_socket: u64,
    pub(crate) skipped_global: u64,
}

impl ChallengeLimiter {
    pub(crate) fn new(global_per_second: u32) -> Self {
        ChallengeLimiter {
            global: TokenBucket::per_second(global_per_second),
            sent: 0,
            skipped_socket: 0,
            skipped_global: 0,
        }
    }

    /// A fresh per-socket bucket (one ACK, then one per 500 ms).
    pub(crate) fn socket_bucket() -> TokenBucket {
        TokenBucket::new(1, SOCKET_INTERVAL)
    }

    /// May this socket send a challenge ACK now? The socket's own limit is
    /// checked first, as in Linux `tcp_send_challenge_ack`, so one noisy
    /// connection cannot drain the stack's budget.
    pub(crate) fn allow(&mut self, now: Instant, socket: &mut TokenBucket) -> Verdict {
        if !socket.take(now) {
            self.skipped_socket += 1;
            return Verdict::SkippedSocket;
        }
        if !self.global.take(now) {
            self.skipped_global += 1;
            return Verdict::SkippedGlobal;
        }
        self.sent += 1;
        Verdict::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NXT: SeqNum = SeqNum(1000);

    #[test]
    fn rst_table() {
        let cases = [
            // (seq, rcv_wnd, expected)
            (1000, 100, RstAction::Reset),
            (1001, 100, RstAction::Challenge),
            (1099, 100, RstAction::Challenge),
            (1100, 100, RstAction::Drop),
            (999, 100, RstAction::Drop),
            (1000, 0, RstAction::Reset),
            (1001, 0, RstAction::Drop),
            (0x8000_0000, 100, RstAction::Drop),
        ];
        for (seq, wnd, want) in cases {
            assert_eq!(
                rst_action(SeqNum(seq), NXT, wnd),
                want,
                "seq {seq} wnd {wnd}"
            );
        }
        // Across the wrap.
        let nxt = SeqNum(u32::MAX - 10);
        assert_eq!(rst_action(SeqNum(5), nxt, 100), RstAction::Challenge);
        assert_eq!(rst_action(SeqNum(95), nxt, 100), RstAction::Drop);
    }

    #[test]
    fn syn_table() {
        let irs = SeqNum(500);
        use State::*;
        for st in [Established, FinWait1, FinWait2, CloseWait, Closing, LastAck] {
            for seq in [499u32, 500, 1000, 1001, 5000, 0x9000_0000] {
                assert_eq!(
                    syn_in_sync_action(st, SeqNum(seq), irs, NXT, None),
                    SynAction::Challenge,
                    "{st:?} seq {seq}"
                );
            }
        }
        assert_eq!(
            syn_in_sync_action(SynReceived, irs, irs, NXT, None),
            SynAction::ResendSynAck
        );
        assert_eq!(
            syn_in_sync_action(SynReceived, SeqNum(501), irs, NXT, None),
            SynAction::Challenge
        );
        // TIME_WAIT: above rcv_nxt, or a newer timestamp, is a new connection.
        let tw = |seq, ts| syn_in_sync_action(TimeWait, SeqNum(seq), irs, NXT, ts);
        assert_eq!(tw(1001, None), SynAction::NewConnection);
        assert_eq!(tw(1000, None), SynAction::Challenge);
        assert_eq!(tw(900, None), SynAction::Challenge);
        assert_eq!(tw(900, Some((11, 10))), SynAction::NewConnection);
        assert_eq!(tw(5000, Some((10, 10))), SynAction::Challenge);
        assert_eq!(tw(5000, Some((1, u32::MAX))), SynAction::NewConnection);
    }

    #[test]
    fn ack_table() {
        let una = SeqNum(10_000);
        let nxt = SeqNum(12_000);
        let cases = [
            (Some(12_000), AckAction::Accept),
            (Some(10_000), AckAction::Accept),
            (Some(11_000), AckAction::Accept),
            // Old, but within MAX.SND.WND below snd_una: a duplicate.
            (Some(5_000), AckAction::Accept),
            (Some(4_999), AckAction::Challenge),
            (Some(12_001), AckAction::Challenge),
            (Some(0x9000_0000), AckAction::Challenge),
            (None, AckAction::Drop),
        ];
        for (ack, want) in cases {
            assert_eq!(
                ack_action(ack.map(SeqNum), una, nxt, 5_000),
                want,
                "{ack:?}"
            );
        }
        // Across the wrap, and with an absurd window clamped to 2^30.
        let una = SeqNum(100);
        assert_eq!(
            ack_action(Some(SeqNum(u32::MAX - 100)), una, una + 10, 1000),
            AckAction::Accept
        );
        assert_eq!(
            ack_action(Some(SeqNum(0x8000_0000)), una, una + 10, usize::MAX),
            AckAction::Challenge
        );
    }

    #[test]
    fn per_socket_limit_is_one_per_500ms() {
        let mut g = ChallengeLimiter::new(GLOBAL_PER_SECOND);
        let mut s = ChallengeLimiter::socket_bucket();
        let t0 = Instant::from_secs(10);
        assert_eq!(g.allow(t0, &mut s), Verdict::Send);
        assert_eq!(g.allow(t0, &mut s), Verdict::SkippedSocket);
        let t = t0 + Duration::from_millis(499);
        assert_eq!(g.allow(t, &mut s), Verdict::SkippedSocket);
        let t = t0 + Duration::from_millis(500);
        assert_eq!(g.allow(t, &mut s), Verdict::Send);
        // A long silence does not bank more than one.
        let t = t + Duration::from_secs(60);
        assert_eq!(g.allow(t, &mut s), Verdict::Send);
        assert_eq!(g.allow(t, &mut s), Verdict::SkippedSocket);
        assert_eq!((g.sent, g.skipped_socket, g.skipped_global), (3, 3, 0));
    }

    #[test]
    fn global_limit_caps_many_sockets() {
        let mut g = ChallengeLimiter::new(1000);
        let mut socks: Vec<TokenBucket> = (0..3000)
            .map(|_| ChallengeLimiter::socket_bucket())
            .collect();
        let t0 = Instant::from_secs(1);
        let mut sent = 0;
        for s in socks.iter_mut() {
            sent += usize::from(g.allow(t0, s) == Verdict::Send);
        }
        assert_eq!(sent, 1000);
        assert_eq!(g.skipped_global, 2000);
        // Half a second later: 500 new global tokens, and every socket has
        // its own token again.
        let t1 = t0 + Duration::from_millis(500);
        let mut sent = 0;
        for s in socks.iter_mut() {
            sent += usize::from(g.allow(t1, s) == Verdict::Send);
        }
        assert_eq!(sent, 500);
        // Over ten seconds of flood, at most burst + rate * time.
        let mut total = 0;
        for ms in (1000..11_000).step_by(10) {
            let t = Instant::from_millis(ms);
            for s in socks.iter_mut().take(100) {
                total += usize::from(g.allow(t, s) == Verdict::Send);
            }
        }
        assert!(total <= 1000 + 10 * 1000, "{total}");
    }

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

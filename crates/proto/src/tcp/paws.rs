//! PAWS (RFC 7323 5): the tests shared by connections and TIME_WAIT, after
//! Linux `tcp_paws_check`, `tcp_paws_reject` and `tcp_disordered_ack_check`
//! (Linux 6.18, the reference of REFERENCES.md).
//!
//! Contract: pure decisions on values; nothing here changes state. TS.Recent's
//! age is measured in whole seconds of the stack's clock (`ts_stamp`, Linux
//! `ts_recent_stamp` from `ktime_get_seconds`), so a full connection and a
//! compact TIME_WAIT record judge a segment at the same second.

use super::connection::Connection;
use crate::time::Instant;
use crate::wire::TcpRepr;

/// RFC 7323 5.5: TS.Recent older than this is no longer valid and PAWS must
/// not reject on it. The RFC's figure is 24 days (2^31 ticks of the fastest
/// clock it allows, 1 ms; Linux's `TCP_PAWS_24DAYS` until 6.6). Linux 6.7+
/// uses `TCP_PAWS_WRAP` = `INT_MAX / USEC_PER_SEC` = 2147 s instead, because
/// a peer may tick in microseconds (Linux `tcp_usec_ts`): its TSval's sign
/// bit turns over after 2^31 us, and a receiver holding on to TS.Recent for
/// 24 days would then reject every segment of a connection idle for 36
/// minutes. This stack follows Linux: the shorter bound only ever accepts
/// more (an old duplicate after 36 minutes idle is the RFC 9293 MSL
/// problem, not PAWS's), and it keeps us talking to microsecond peers.
pub(crate) const PAWS_WRAP_SECS: u32 = (i32::MAX as u32) / 1_000_000;

/// Linux `TCP_PAWS_MSL`: TIME_WAIT and half-open passive connections
/// (Linux's SYN_RECV request socks; both use `tcp_paws_reject`) judge a
/// reset by PAWS only while TS.Recent is younger than this (seconds).
pub(crate) const PAWS_MSL_SECS: u32 = 60;

/// Linux `TCP_PAWS_WINDOW`: a synchronized connection accepts a TSval up
/// to this much older than TS.Recent (`tcp_paws_check(.., 1)` in
/// `tcp_validate_incoming`); TIME_WAIT uses 0.
pub(crate) const PAWS_WINDOW: u32 = 1;

/// The seconds clock TS.Recent's age is kept in (Linux `ts_recent_stamp`,
/// `ktime_get_seconds`).
pub(crate) fn ts_stamp(t: Instant) -> u32 {
    (t.total_micros() / 1_000_000) as u32
}

/// Linux `tcp_paws_check`: whether TS.Recent lets a segment with `tsval`
/// pass (true) — it is at most `win` older than TS.Recent (RFC 7323 5.3
/// R1, modulo 2^32), or TS.Recent went stale (`PAWS_WRAP_SECS` since
/// `stamp`, RFC 7323 5.5), or TS.Recent is 0 (some stacks send TSval 0 in
/// their SYN and real values after it; Linux never holds 0 against them).
pub(crate) fn paws_check(ts_recent: u32, stamp: u32, tsval: u32, now: Instant, win: u32) -> bool {
    let behind = ts_recent.wrapping_sub(tsval) as i32;
    behind <= win as i32 || ts_stamp(now).wrapping_sub(stamp) >= PAWS_WRAP_SECS || ts_recent == 0
}

/// Linux `tcp_paws_reject` (TIME_WAIT): `paws_check` with no window, and a
/// reset is judged only while TS.Recent is younger than `TCP_PAWS_MSL`.
/// RFC 7323 5.3 exempts resets outright; Linux's comment says a peer that
/// rebooted with a reset clock could otherwise never reset a half-open
/// connection, and relaxes the bound to one MSL instead. We follow Linux.
pub(crate) fn paws_reject_tw(
    ts_recent: u32,
    stamp: u32,
    tsval: u32,
    now: Instant,
    rst: bool,
) -> bool {
    if paws_check(ts_recent, stamp, tsval, now, 0) {
        return false;
    }
    !(rst && ts_stamp(now).wrapping_sub(stamp) >= PAWS_MSL_SECS)
}

/// Linux `tcp_check_req`'s PAWS for a half-open passive connection (a
/// request sock): `tcp_paws_reject` against TS.Recent from the SYN, with a
/// TS.Recent stamp Linux does not keep but estimates as "now minus the
/// current SYN-ACK timeout" (`ktime_get_seconds() - reqsk_timeout(req,
/// TCP_RTO_MAX) / HZ`, whole seconds). So a reset that fails PAWS is
/// accepted only once the SYN-ACK timeout has backed off to `TCP_PAWS_MSL`
/// (60 s): with a 1 s initial RTO after six timeouts (64 s), which the
/// default five SYN-ACK retries never reach; until then it is dropped.
/// `synack_timeout` is that timeout (the RTO after `backoff` doublings,
/// capped at `rto_max`).
pub(crate) fn paws_reject_req(
    ts_recent: u32,
    tsval: u32,
    now: Instant,
    synack_timeout_secs: u64,
    rst: bool,
) -> bool {
    let age = u32::try_from(synack_timeout_secs).unwrap_or(u32::MAX);
    paws_reject_tw(ts_recent, ts_stamp(now).wrapping_sub(age), tsval, now, rst)
}

/// Why PAWS drops a segment (Linux's two drop reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PawsDrop {
    /// `SKB_DROP_REASON_TCP_RFC7323_PAWS`: answered with a duplicate ACK
    /// (rate-limited), counted as `PAWSEstab`.
    Paws,
    /// `SKB_DROP_REASON_TCP_RFC7323_PAWS_ACK` (Linux 6.14+): a pure ACK
    /// from below `rcv_nxt`, an ACK overtaken by later data; dropped
    /// silently and counted as `PAWSOldAck`.
    OldAck,
}

impl Connection {
    /// Linux `tcp_disordered_ack_check` for a segment that failed
    /// `tcp_paws_check`: `None` (not dropped) for a pure duplicate ACK at
    /// `rcv_nxt` that would not update the send window and whose TSval sits
    /// within one RTO of ticks behind TS.Recent (1.2 ticks per millisecond:
    /// Linux `tcp_tsval_replay` allows 1200 Hz peers) — such ACKs are
    /// reordered, not old, and fast retransmit must count them; `OldAck`
    /// for a pure ACK below `rcv_nxt`; `Paws` for anything else.
    pub(super) fn disordered_ack_check(&self, seg: &TcpRepr<'_>, tsval: u32) -> Option<PawsDrop> {
        if !seg.flags.ack() || seg.segment_len() != 0 {
            return Some(PawsDrop::Paws);
        }
        if seg.seq != self.rcv_nxt {
            return Some(if seg.seq.lt(self.rcv_nxt) {
                PawsDrop::OldAck
            } else {
                PawsDrop::Paws
            });
        }
        if seg.ack != self.snd_una {
            return Some(PawsDrop::Paws);
        }
        // Linux `tcp_may_update_window` (the ACK itself equals snd_una).
        let nwin = usize::from(seg.window) << self.snd_wscale;
        let updates = seg.seq.gt(self.snd_wl1)
            || (seg.seq == self.snd_wl1 && (nwin > self.snd_wnd || nwin == 0));
        // Linux `tcp_tsval_replay`: `icsk_rto` (backoff included) x 1.2.
        let replay = self.icsk_rto().total_millis().saturating_mul(6) / 5;
        if updates || u64::from(self.ts_recent.wrapping_sub(tsval)) > replay {
            return Some(PawsDrop::Paws);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn paws_check_rules() {
        // ts_recent 1000 stamped at 100 s.
        let ok = |tsval, now, win| paws_check(1_000, 100, tsval, secs(now), win);
        assert!(ok(1_000, 101, 0), "equal");
        assert!(ok(1_001, 101, 0), "newer");
        assert!(!ok(999, 101, 0), "older");
        assert!(ok(999, 101, 1), "inside TCP_PAWS_WINDOW");
        assert!(!ok(998, 101, 1), "outside TCP_PAWS_WINDOW");
        // TCP_PAWS_WRAP: stale 2147 s after the stamp.
        assert_eq!(PAWS_WRAP_SECS, 2147);
        assert!(!ok(999, 100 + 2146, 0));
        assert!(ok(999, 100 + 2147, 0));
        // Modulo 2^32: more than 2^31 ahead is older; 2^31 ahead is not.
        assert!(!ok(1_000u32.wrapping_add(0x8000_0001), 101, 0));
        assert!(ok(1_000u32.wrapping_add(0x8000_0000), 101, 0));
        // TS.Recent 0 rejects nothing.
        assert!(paws_check(0, 100, u32::MAX, secs(101), 0));
    }

    #[test]
    fn paws_reject_tw_relaxes_resets_after_one_msl() {
        let rej = |rst, now| paws_reject_tw(1_000, 100, 999, secs(now), rst);
        assert!(rej(false, 101));
        assert!(rej(true, 159), "a reset within TCP_PAWS_MSL");
        assert!(!rej(true, 160), "a reset after TCP_PAWS_MSL");
        assert!(rej(false, 160), "not a reset: still rejected");
        assert!(!rej(false, 100 + 2147), "stale");
        assert!(!paws_reject_tw(1_000, 100, 1_000, secs(101), false));
    }

    #[test]
    fn paws_reject_req_ages_ts_recent_by_the_synack_timeout() {
        // TS.Recent 1000 from the SYN; a TSval one tick older.
        let rej = |timeout, rst| paws_reject_req(1_000, 999, secs(500), timeout, rst);
        assert!(rej(1, false) && rej(1, true), "a reset before TCP_PAWS_MSL");
        assert!(rej(32, true), "after five SYN-ACK timeouts (Linux default)");
        assert!(!rej(64, true), "after six: a reset passes");
        assert!(rej(64, false), "not a reset: still rejected");
        assert!(
            !paws_reject_req(1_000, 1_000, secs(500), 1, true),
            "not older"
        );
        assert!(
            !paws_reject_req(0, 999, secs(500), 1, false),
            "no TS.Recent"
        );
        // Early in the clock (stamp before 0): the age still counts.
        assert!(!paws_reject_req(1_000, 999, secs(3), 64, true));
    }
}

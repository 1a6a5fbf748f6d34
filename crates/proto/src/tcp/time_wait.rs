//! A compact TIME_WAIT record (Linux `inet_timewait_sock`): what a closed
//! connection still needs for its 2 MSL wait (RFC 9293 3.10.7.4) once the
//! application has closed it, so the full `Connection` (buffers, congestion
//! and recovery state) can be freed.
//!
//! Contract: a record answers every segment exactly as a `Connection` in
//! TIME_WAIT does; both run the same decisions (`TwKeys::step`,
//! `TwKeys::syn_ends`, after Linux `tcp_timewait_state_process`). A
//! segment whose timestamp is older than a valid TS.Recent is rejected by
//! PAWS (RFC 7323 5.3 R1, 5.5), answered with a rate-limited ACK and
//! counted (`paws_rejected`, Linux `PAWSEstabRejected`); a SYN may end
//! TIME_WAIT only when PAWS accepts it and its sequence number or
//! timestamp is newer (RFC 6191). A reset is dropped (RFC 1337; Linux
//! `tcp_rfc1337` = 0 lets a reset kill TIME_WAIT, but this stack does
//! not), a retransmitted FIN is ACKed and restarts the timer, an
//! unacceptable segment or a SYN earns a rate-limited ACK, an in-window
//! bare ACK at `rcv_nxt` updates TS.Recent, anything else is dropped. The
//! ACK it sends is the one the connection would send: `snd_nxt` (the
//! connection's `snd_max`), `rcv_nxt`, the window frozen when TIME_WAIT
//! began (Linux `tw_rcv_wnd`), and timestamps when they were agreed. A
//! record is only made when nothing else is owed (no SACK or D-SACK block,
//! no queued data), so that ACK carries nothing else.

use super::connection::Connection;
use super::{Profile, SeqNum, State};
use crate::snapshot::TimerKind;
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpRepr, TcpTimestamp};

/// RFC 7323 5.5: TS.Recent older than 24 days is no longer valid and PAWS
/// must not reject on it (Linux `TCP_PAWS_24DAYS`), in seconds.
const PAWS_24DAYS_SECS: u32 = 24 * 86_400;

/// Linux `TCP_PAWS_MSL`: a reset is only judged by PAWS while TS.Recent is
/// younger than this (seconds).
const PAWS_MSL_SECS: u32 = 60;

/// `last_oow_ack` of a record that never answered (a record keeps a plain
/// `Instant` so it stays 48 bytes).
const NEVER: Instant = Instant::from_micros(u64::MAX);

/// The seconds clock TS.Recent's age is kept in (Linux `ts_recent_stamp`,
/// `ktime_get_seconds`): a record stores it in 4 bytes, and a full
/// connection converts its `ts_recent_at` the same way so both judge a
/// segment at the same second.
pub(crate) fn ts_stamp(t: Instant) -> u32 {
    (t.total_micros() / 1_000_000) as u32
}

/// The state a TIME_WAIT connection keeps (48 bytes, test
/// `record_stays_48_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWait {
    /// Sequence number of our ACKs (the connection's `snd_max`).
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Receive window from `rcv_nxt` (the last right edge we advertised).
    pub rcv_wnd: u32,
    /// The window field of our ACKs (already scaled down).
    pub window: u16,
    pub ts_ok: bool,
    /// An ACK is owed (the socket layer queued it).
    pub ack_now: bool,
    pub ts_recent: u32,
    /// When TS.Recent was last updated, in `ts_stamp` seconds (Linux
    /// `tw_ts_recent_stamp`), for the 24-day rule of RFC 7323 5.5.
    pub ts_recent_stamp: u32,
    pub ts_offset: u32,
    /// When we last answered an out-of-window segment (rate limit);
    /// `NEVER` before the first.
    pub last_oow_ack: Instant,
    /// End of TIME_WAIT.
    pub expires: Instant,
}

/// What a segment did to a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TwOutcome {
    /// Dropped as unacceptable (counted like a connection's drop).
    pub dropped: bool,
    /// Dropped by PAWS (RFC 7323 5.3; Linux `PAWSEstabRejected`).
    pub paws_rejected: bool,
    /// An ACK became owed by this segment.
    pub ack: bool,
}

/// What TIME_WAIT remembers of the peer, whichever form it lives in: the
/// input of the decisions shared by a full connection and a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TwKeys {
    pub ts_ok: bool,
    pub ts_recent: u32,
    /// `ts_stamp` of the last TS.Recent update.
    pub ts_recent_stamp: u32,
    pub rcv_nxt: SeqNum,
    pub rcv_wnd: usize,
}

/// What TIME_WAIT does with a segment that did not end it (Linux
/// `tcp_timewait_state_process`, with RFC 1337's reset rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TwStep {
    /// A reset: dropped, TIME_WAIT holds (RFC 1337). `paws`: it was also
    /// older than TS.Recent within `TCP_PAWS_MSL` (Linux counts it).
    Reset { paws: bool },
    /// RFC 7323 5.3 R1: older than TS.Recent, which is valid. Not
    /// acceptable: answered with a (rate-limited) ACK and dropped.
    Paws,
    /// The peer's FIN again: ACK it and restart the 2 MSL timer.
    Fin,
    /// Unacceptable, or a SYN that may not reopen: a rate-limited ACK.
    Oow,
    /// An in-window bare ACK at `rcv_nxt`: dropped silently, its
    /// timestamp (if any) becomes TS.Recent (Linux).
    Bare { tsval: Option<u32> },
    /// Anything else: dropped silently.
    Drop,
}

impl TwKeys {
    /// RFC 7323 5.3 R1 in TIME_WAIT, as Linux `tcp_paws_reject`: the
    /// segment's TSval is older than TS.Recent, and TS.Recent is valid
    /// (younger than 24 days, RFC 7323 5.5; not zero, Linux
    /// `tcp_paws_check`). RFC 7323 5.3 exempts resets outright; Linux still
    /// rejects a reset while TS.Recent is younger than `TCP_PAWS_MSL`, and
    /// so does this (in TIME_WAIT a reset is ignored either way, RFC 1337;
    /// only the counter differs).
    pub(crate) fn paws_reject(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let Some(ts) = seg.timestamp.filter(|_| self.ts_ok) else {
            return false;
        };
        if self.ts_recent.wrapping_sub(ts.tsval) as i32 <= 0 || self.ts_recent == 0 {
            return false;
        }
        let age = ts_stamp(now).wrapping_sub(self.ts_recent_stamp);
        if age >= PAWS_24DAYS_SECS {
            return false;
        }
        !(seg.flags.rst() && age >= PAWS_MSL_SECS)
    }

    /// The TIME_WAIT reuse rule (Linux `tcp_timewait_state_process`,
    /// TCP_TW_SYN): a SYN without ACK or RST that PAWS does not reject and
    /// whose sequence number lies past the old `rcv_nxt` (RFC 9293
    /// 3.10.7.4, RFC 1122 4.2.2.13) or whose timestamp is newer than
    /// TS.Recent (RFC 6191 3).
    pub(crate) fn syn_ends(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let f = seg.flags;
        if !f.syn() || f.ack() || f.rst() || self.paws_reject(now, seg) {
            return false;
        }
        let newer_ts = self.ts_ok
            && seg
                .timestamp
                .is_some_and(|ts| ts.tsval.wrapping_sub(self.ts_recent) as i32 > 0);
        seg.seq.gt(self.rcv_nxt) || newer_ts
    }

    /// TIME_WAIT processing of a segment that did not end it (RFC 9293
    /// 3.10.7.4, RFC 1337, RFC 7323 5.3; Linux `tcp_timewait_state_process`).
    pub(crate) fn step(&self, now: Instant, seg: &TcpRepr<'_>) -> TwStep {
        let f = seg.flags;
        // RFC 7323 5.3: PAWS runs before anything else.
        let paws = self.paws_reject(now, seg);
        if f.rst() {
            // RFC 1337: a reset must not cut TIME_WAIT short.
            return TwStep::Reset { paws };
        }
        if paws {
            return TwStep::Paws;
        }
        if f.fin() {
            // The peer's FIN again: our last ACK was lost (RFC 9293
            // 3.10.7.4, eighth step).
            return TwStep::Fin;
        }
        if f.syn() || !super::input::acceptable(self.rcv_nxt, self.rcv_wnd, seg) {
            return TwStep::Oow;
        }
        if seg.seq == self.rcv_nxt && seg.segment_len() == 0 {
            return TwStep::Bare {
                tsval: seg.timestamp.filter(|_| self.ts_ok).map(|ts| ts.tsval),
            };
        }
        TwStep::Drop
    }
}

impl Connection {
    /// The compact record for this TIME_WAIT connection, or `None` while it
    /// still owes something a record cannot send (SACK or D-SACK blocks,
    /// unread or out-of-order data) or is not in TIME_WAIT. Freezes the
    /// window the next ACK would carry, as Linux `tcp_time_wait` does.
    pub(crate) fn time_wait_record(&mut self, default_expiry: Instant) -> Option<TimeWait> {
        if self.state != State::TimeWait
            || self.sack_count() != 0
            || !self.rcv_buf.is_empty()
            || !self.assembler.is_empty()
            || self.delack_at.is_some()
        {
            return None;
        }
        let window = self.select_window();
        let rcv_wnd = u32::try_from(self.rcv_nxt.distance_to(self.rcv_adv)).ok()?;
        Some(TimeWait {
            snd_nxt: self.snd_max,
            rcv_nxt: self.rcv_nxt,
            rcv_wnd,
            window,
            ts_ok: self.ts_ok,
            ack_now: self.ack_now,
            ts_recent: self.ts_recent,
            ts_recent_stamp: ts_stamp(self.ts_recent_at),
            ts_offset: self.ts_offset,
            last_oow_ack: self.last_oow_ack.unwrap_or(NEVER),
            expires: self.close_at.unwrap_or(default_expiry),
        })
    }

    /// This connection's TIME_WAIT view (`TwKeys`).
    fn tw_keys(&self) -> TwKeys {
        TwKeys {
            ts_ok: self.ts_ok,
            ts_recent: self.ts_recent,
            ts_recent_stamp: ts_stamp(self.ts_recent_at),
            rcv_nxt: self.rcv_nxt,
            rcv_wnd: self.rcv_nxt.distance_to(self.rcv_adv),
        }
    }

    /// Whether a SYN ends this TIME_WAIT connection (`TwKeys::syn_ends`).
    pub(crate) fn time_wait_yields(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        self.state == State::TimeWait && self.tw_keys().syn_ends(now, seg)
    }

    /// TIME_WAIT (`TwKeys::step`): the same decisions as a record's
    /// `TimeWait::process`.
    pub(super) fn process_time_wait(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
    ) -> super::input::InputResult {
        let mut res = super::input::InputResult {
            dropped: true,
            ..Default::default()
        };
        match self.tw_keys().step(now, seg) {
            TwStep::Reset { paws } => res.paws_rejected = paws,
            TwStep::Paws => {
                res.paws_rejected = true;
                self.ack_now |= super::input::oow_ack_allowed(&mut self.last_oow_ack, now, p, seg);
            }
            TwStep::Fin => {
                self.ack_now = true;
                self.close_at = Some(now + p.time_wait);
                res.dropped = false;
            }
            TwStep::Oow => {
                self.ack_now |= super::input::oow_ack_allowed(&mut self.last_oow_ack, now, p, seg);
            }
            TwStep::Bare { tsval } => {
                if let Some(v) = tsval {
                    self.ts_recent = v;
                    self.ts_recent_at = now;
                }
            }
            TwStep::Drop => {}
        }
        res
    }

    /// The pending timer `ss -o` would show (Linux `get_tcp4_sock`
    /// order: retransmission or loss probe, then the zero-window probe,
    /// then TIME_WAIT / FIN_WAIT_2 end, then keepalive), with the backoff
    /// or probe count beside it.
    pub(crate) fn shown_timer(&self) -> Option<(TimerKind, Instant, u32)> {
        use TimerKind as K;
        let rto = match (self.rto_at, self.tlp_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = rto {
            return Some((K::On, at, self.backoff));
        }
        if let Some(at) = self.persist_at {
            return Some((K::Persist, at, self.probes_out));
        }
        if let Some(at) = self.close_at {
            return Some((K::TimeWait, at, 0));
        }
        self.keepalive_at
            .filter(|_| self.keepalive)
            .map(|at| (K::Keepalive, at, self.keepalive_probes))
    }
}

impl TimeWait {
    /// This record's TIME_WAIT view (`TwKeys`).
    fn keys(&self) -> TwKeys {
        TwKeys {
            ts_ok: self.ts_ok,
            ts_recent: self.ts_recent,
            ts_recent_stamp: self.ts_recent_stamp,
            rcv_nxt: self.rcv_nxt,
            rcv_wnd: self.rcv_wnd as usize,
        }
    }

    /// TIME_WAIT processing (`TwKeys::step`), the same decisions as
    /// `Connection::process_time_wait`.
    pub(crate) fn process(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) -> TwOutcome {
        let was = self.ack_now;
        let mut out = TwOutcome {
            dropped: true,
            ..TwOutcome::default()
        };
        match self.keys().step(now, seg) {
            TwStep::Reset { paws } => out.paws_rejected = paws,
            TwStep::Paws => {
                out.paws_rejected = true;
                self.oow_ack(now, p, seg);
            }
            TwStep::Fin => {
                self.ack_now = true;
                self.expires = now + p.time_wait;
                out.dropped = false;
            }
            TwStep::Oow => self.oow_ack(now, p, seg),
            TwStep::Bare { tsval } => {
                if let Some(v) = tsval {
                    self.ts_recent = v;
                    self.ts_recent_stamp = ts_stamp(now);
                }
            }
            TwStep::Drop => {}
        }
        out.ack = self.ack_now && !was;
        out
    }

    /// Linux `tcp_oow_rate_limited`, as a connection answers.
    fn oow_ack(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) {
        let mut last = (self.last_oow_ack != NEVER).then_some(self.last_oow_ack);
        self.ack_now |= super::input::oow_ack_allowed(&mut last, now, p, seg);
        self.last_oow_ack = last.unwrap_or(NEVER);
    }

    /// A SYN that ends TIME_WAIT and may open a new connection on the same
    /// 4-tuple (`TwKeys::syn_ends`).
    pub(crate) fn yields_to(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        self.keys().syn_ends(now, seg)
    }

    /// Time left until TIME_WAIT ends (`ss -o` timewait timer).
    pub(crate) fn remaining(&self, now: Instant) -> crate::time::Duration {
        self.expires.saturating_duration_since(now)
    }

    /// The owed ACK, built at `now` (the TSval is taken at send time, as
    /// the connection's would be); clears the debt.
    pub(crate) fn take_ack(
        &mut self,
        now: Instant,
        local_port: u16,
        remote_port: u16,
    ) -> TcpRepr<'static> {
        self.ack_now = false;
        let mut repr = TcpRepr::new(
            local_port,
            remote_port,
            self.snd_nxt,
            self.rcv_nxt,
            TcpFlags(TcpFlags::ACK),
            self.window,
        );
        if self.ts_ok {
            // RFC 7323 5.4: a millisecond clock plus the connection's offset.
            let tsval = (now.total_millis() as u32).wrapping_add(self.ts_offset);
            repr.timestamp = Some(TcpTimestamp {
                tsval,
                tsecr: self.ts_recent,
            });
        }
        repr
    }
}

//! A compact TIME_WAIT record (Linux `inet_timewait_sock`): what a closed
//! connection still needs for its 2 MSL wait (RFC 9293 3.10.7.4) once the
//! application has closed it, so the full `Connection` (buffers, congestion
//! and recovery state) can be freed.
//!
//! Contract: a record answers every segment exactly as a `Connection` in
//! TIME_WAIT does; both run the same decisions (`TwKeys::step`,
//! `TwKeys::syn_ends`), which are Linux's `tcp_timewait_state_process`
//! (TIME_WAIT substate), not RFC 9293's literal text:
//! - PAWS first (RFC 7323 5.3 R1, Linux `tcp_paws_reject`, `tcp/paws.rs`).
//! - A segment at `rcv_nxt` that occupies no sequence space, or a reset at
//!   `rcv_nxt`, is "in window" if PAWS accepts it. A reset there ends
//!   TIME_WAIT at once (`tcp_rfc1337` = 0, Linux's default) or is ignored
//!   (`Profile::rfc1337`, RFC 1337's advice); anything else there restarts
//!   the 2 MSL timer (`inet_twsk_reschedule`). Its timestamp becomes
//!   TS.Recent (also a reset's, with `rfc1337`). Nothing is sent.
//! - A SYN without ACK may end TIME_WAIT (`syn_ends`, RFC 6191, RFC 9293
//!   3.10.7.4); the socket layer asks before `step`.
//! - Every other segment is "out of window": a reset is dropped; anything
//!   else is answered with an ACK and, if it carries ACK or failed PAWS,
//!   restarts the timer. The ACK is rate-limited (Linux
//!   `tcp_oow_rate_limited`, `Profile::invalid_ratelimit`) unless the
//!   segment occupies sequence space and is no SYN: data and the peer's
//!   retransmitted FIN are always answered. RFC 9293 3.10.7.4 would drop
//!   in-window data after the FIN silently; Linux ACKs it, and so do we.
//!
//! An orphan in FIN_WAIT_2 becomes a record too (Linux `tcp_close` /
//! `tcp_rcv_state_process` -> `tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)`), in
//! the FIN_WAIT_2 substate (`fin_wait2`), for `tcp_fin_timeout` (at least
//! 3.5 RTO, Linux `tcp_fin_time`). It follows `tcp_timewait_state_process`
//! for that substate ("repeat all the checks of tcp_rcv_state_process"):
//! - PAWS failing or out of the window (`tcp_in_window` against `rcv_nxt`
//!   and the window last advertised, `tw_rcv_wnd`): an ACK, rate-limited
//!   like TIME_WAIT's (`tcp_timewait_check_oow_rate_limit`).
//! - In the window: a reset ends the record (no challenge ACK); a SYN at
//!   or after `rcv_nxt` is answered with a reset and ends it (TCP_TW_RST);
//!   a segment without ACK, without new sequence space or with none at all
//!   is dropped silently; new data, or a FIN not exactly at `rcv_nxt`, is
//!   answered with a reset and ends it ("new data arrive after half-duplex
//!   close"); the FIN at `rcv_nxt` moves the record to TIME_WAIT: `rcv_nxt`
//!   past it, its TSval as TS.Recent, the 2 MSL timer, an ACK.
//!
//! The substate's expiry sends nothing (`inet_twsk_kill`).
//!
//! A PAWS rejection is counted (`paws_tw_rejected`, Linux `PAWSTimewait`).
//! The ACK a record sends is the one the connection would send: `snd_nxt`
//! (the connection's `snd_max`), `rcv_nxt`, the window frozen when
//! TIME_WAIT began (Linux `tw_rcv_wnd`), and timestamps when they were
//! agreed. A record is only made when nothing else is owed (no SACK or
//! D-SACK block, no queued data), so that ACK carries nothing else.

use super::connection::Connection;
use super::input::Note;
use super::paws::{paws_reject_tw, ts_stamp};
use super::{Profile, SeqNum, State};
use crate::snapshot::TimerKind;
use crate::time::{Duration, Instant};
use crate::wire::{TcpFlags, TcpRepr, TcpTimestamp};

/// `last_oow_ack` of a record that never answered (a record keeps a plain
/// `Instant` so it stays 48 bytes).
const NEVER: Instant = Instant::from_micros(u64::MAX);

/// The state a TIME_WAIT connection keeps (at most 48 bytes, test
/// `record_stays_48_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWait {
    /// Sequence number of our ACKs (the connection's `snd_max`).
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    /// The window field of our ACKs (already scaled down).
    pub window: u16,
    pub ts_ok: bool,
    /// An ACK is owed (the socket layer queued it).
    pub ack_now: bool,
    pub ts_recent: u32,
    /// When TS.Recent was last updated, in `ts_stamp` seconds (Linux
    /// `tw_ts_recent_stamp`), for RFC 7323 5.5.
    pub ts_recent_stamp: u32,
    pub ts_offset: u32,
    /// When we last answered an out-of-window segment (rate limit) since
    /// TIME_WAIT began (`enter_time_wait` starts the limiter afresh, as
    /// Linux `tcp_time_wait` does); `NEVER` before the first.
    pub last_oow_ack: Instant,
    /// End of TIME_WAIT, or of the FIN_WAIT_2 substate.
    pub expires: Instant,
    /// FIN_WAIT_2 substate only: the receive window last advertised, from
    /// `rcv_nxt` (Linux `tw_rcv_wnd`), for the window test.
    pub rcv_wnd: u32,
    /// The FIN_WAIT_2 substate (Linux `tw_substate == TCP_FIN_WAIT2`): our
    /// FIN is acknowledged, the peer's has not come.
    pub fin_wait2: bool,
}

/// What a segment did to a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TwOutcome {
    /// Dropped as unacceptable (counted like a connection's drop).
    pub dropped: bool,
    /// Dropped by PAWS (RFC 7323 5.3; Linux `PAWSTimewait`).
    pub paws_rejected: bool,
    /// An ACK became owed by this segment.
    pub ack: bool,
    /// A reset ended TIME_WAIT (`tcp_rfc1337` = 0), or anything ended the
    /// FIN_WAIT_2 substate but the FIN: the record must go.
    pub killed: bool,
    /// FIN_WAIT_2 substate: answer the segment with a reset (Linux
    /// TCP_TW_RST, `tcp_v4_send_reset`); `killed` is set too.
    pub reset: bool,
    /// FIN_WAIT_2 substate: the peer's FIN moved the record to TIME_WAIT
    /// (its expiry is now the 2 MSL one).
    pub time_wait: bool,
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
}

/// What TIME_WAIT does with a segment that did not end it by reopening
/// (Linux `tcp_timewait_state_process`, TIME_WAIT substate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TwStep {
    /// A reset at `rcv_nxt` that PAWS accepts, `tcp_rfc1337` = 0: TIME_WAIT
    /// ends now ("TIME-WAIT assassination", RFC 1337 2; Linux's default).
    Kill,
    /// In window (at `rcv_nxt`, no sequence space, PAWS accepts; or with
    /// `rfc1337` a reset there): nothing sent. `restart`: the 2 MSL timer
    /// starts again (not for a reset); `tsval` becomes TS.Recent.
    Quiet { restart: bool, tsval: Option<u32> },
    /// Out of window (anything else but a reset): an ACK, rate-limited
    /// when `limited`; the timer restarts when `restart` (the segment
    /// carries ACK or failed PAWS; not for an ACK-less SYN, which may be a
    /// new connection's with a random ISN below `rcv_nxt`). `paws`: it
    /// failed PAWS (counted).
    Ack {
        restart: bool,
        limited: bool,
        paws: bool,
    },
    /// A reset out of window or failing PAWS: dropped, timer untouched.
    Drop { paws: bool },
}

impl TwStep {
    /// Whether the segment counts as dropped: everything but a reset that
    /// ended TIME_WAIT and the peer's FIN again (our last ACK was lost:
    /// RFC 9293 3.10.7.4 "acknowledge it, and restart the 2 MSL timeout").
    fn dropped(self, seg: &TcpRepr<'_>) -> bool {
        match self {
            TwStep::Kill => false,
            TwStep::Ack { paws, .. } => paws || !seg.flags.fin(),
            _ => true,
        }
    }
}

impl TwKeys {
    /// RFC 7323 5.3 R1 in TIME_WAIT, Linux `tcp_paws_reject`
    /// (`paws::paws_reject_tw`): the segment's TSval is older than a valid,
    /// non-zero TS.Recent; a reset only while TS.Recent is younger than
    /// `TCP_PAWS_MSL`.
    pub(crate) fn paws_reject(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        match seg.timestamp.filter(|_| self.ts_ok) {
            Some(ts) => paws_reject_tw(
                self.ts_recent,
                self.ts_recent_stamp,
                ts.tsval,
                now,
                seg.flags.rst(),
            ),
            None => false,
        }
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

    /// TIME_WAIT processing of a segment that did not end it by reopening
    /// (Linux `tcp_timewait_state_process`; see the module doc). `rfc1337`:
    /// `Profile::rfc1337`.
    pub(crate) fn step(&self, now: Instant, seg: &TcpRepr<'_>, rfc1337: bool) -> TwStep {
        let f = seg.flags;
        // RFC 7323 5.3: PAWS runs before anything else.
        let paws = self.paws_reject(now, seg);
        if !paws && seg.seq == self.rcv_nxt && (seg.segment_len() == 0 || f.rst()) {
            let tsval = seg.timestamp.filter(|_| self.ts_ok).map(|ts| ts.tsval);
            if f.rst() && !rfc1337 {
                // Linux `tcp_rfc1337` = 0: the peer has finished; so do we.
                return TwStep::Kill;
            }
            return TwStep::Quiet {
                restart: !f.rst(),
                tsval,
            };
        }
        if f.rst() {
            return TwStep::Drop { paws };
        }
        TwStep::Ack {
            restart: paws || f.ack(),
            // Linux `tcp_oow_rate_limited`: a segment occupying sequence
            // space (data, FIN) and carrying no SYN is always answered.
            limited: seg.segment_len() == 0 || f.syn(),
            paws,
        }
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
        let last_oow_ack = self.last_oow_ack.unwrap_or(NEVER);
        let expires = self.close_at.unwrap_or(default_expiry);
        Some(self.record(window, last_oow_ack, expires, 0, false))
    }

    /// The compact record for an orphan in FIN_WAIT_2 (Linux `tcp_close` or
    /// `tcp_rcv_state_process` -> `tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)`),
    /// or `None` when this is not one. Held out-of-order bytes, a pending
    /// D-SACK and a delayed ACK are dropped, as Linux's `tcp_done` drops
    /// them with the full socket. The record ends at `close_at` (set to
    /// `tcp_fin_timeout` when the orphan reached FIN_WAIT_2), but not before
    /// 3.5 RTO from `now` (`tcp_time_wait`: `timeo` at least
    /// `(icsk_rto << 2) - (icsk_rto >> 1)`; `tcp_fin_time` has the same
    /// floor).
    pub(crate) fn fin_wait2_record(&mut self, now: Instant) -> Option<TimeWait> {
        if self.state != State::FinWait2 || !self.orphan || !self.rcv_buf.is_empty() {
            return None;
        }
        self.assembler.clear();
        self.dsack_pending = None;
        self.delack_at = None;
        let window = self.select_window();
        let rto = self.icsk_rto();
        let floor = now + Duration::from_micros(rto.total_micros().saturating_mul(7) / 2);
        let expires = self.close_at.map_or(floor, |at| at.max(floor));
        let rcv_wnd = u32::try_from(self.rcv_wnd()).unwrap_or(u32::MAX);
        // `tcp_time_wait`: `tw_last_oow_ack_time = 0`.
        Some(self.record(window, NEVER, expires, rcv_wnd, true))
    }

    /// The record's fields taken from this connection; `window` is the one
    /// the next ACK would carry, frozen (Linux `tcp_time_wait`).
    fn record(
        &self,
        window: u16,
        last_oow_ack: Instant,
        expires: Instant,
        rcv_wnd: u32,
        fin_wait2: bool,
    ) -> TimeWait {
        TimeWait {
            snd_nxt: self.snd_max,
            rcv_nxt: self.rcv_nxt,
            window,
            ts_ok: self.ts_ok,
            ack_now: self.ack_now,
            ts_recent: self.ts_recent,
            ts_recent_stamp: ts_stamp(self.ts_recent_at),
            ts_offset: self.ts_offset,
            last_oow_ack,
            expires,
            rcv_wnd,
            fin_wait2,
        }
    }

    /// This connection's TIME_WAIT view (`TwKeys`).
    fn tw_keys(&self) -> TwKeys {
        TwKeys {
            ts_ok: self.ts_ok,
            ts_recent: self.ts_recent,
            ts_recent_stamp: ts_stamp(self.ts_recent_at),
            rcv_nxt: self.rcv_nxt,
        }
    }

    /// Whether a SYN ends this TIME_WAIT connection (`TwKeys::syn_ends`).
    pub(crate) fn time_wait_yields(&self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        self.state == State::TimeWait && self.tw_keys().syn_ends(now, seg)
    }

    /// TIME_WAIT (`TwKeys::step`): the same decisions as a record's
    /// `TimeWait::process`. A reset that ends TIME_WAIT closes the
    /// connection (no error: the application already read the peer's FIN).
    pub(super) fn process_time_wait(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
    ) -> super::input::InputResult {
        let step = self.tw_keys().step(now, seg, p.rfc1337);
        let mut res = super::input::InputResult::default();
        res.set(Note::Dropped, step.dropped(seg));
        match step {
            TwStep::Kill => self.enter_closed(),
            TwStep::Quiet { restart, tsval } => {
                if restart {
                    self.close_at = Some(now + p.time_wait);
                }
                if let Some(v) = tsval {
                    self.ts_recent = v;
                    self.ts_recent_at = now;
                }
            }
            TwStep::Ack {
                restart,
                limited,
                paws,
            } => {
                res.set(Note::PawsRejected, paws);
                if restart {
                    self.close_at = Some(now + p.time_wait);
                }
                self.ack_now |=
                    !limited || super::input::oow_ack_allowed(&mut self.last_oow_ack, now, p, seg);
            }
            TwStep::Drop { paws } => res.set(Note::PawsRejected, paws),
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
        }
    }

    /// TIME_WAIT processing (`TwKeys::step`), the same decisions as
    /// `Connection::process_time_wait`; in the FIN_WAIT_2 substate,
    /// `process_fin_wait2`.
    pub(crate) fn process(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) -> TwOutcome {
        if self.fin_wait2 {
            return self.process_fin_wait2(now, p, seg);
        }
        let was = self.ack_now;
        let step = self.keys().step(now, seg, p.rfc1337);
        let mut out = TwOutcome {
            dropped: step.dropped(seg),
            ..TwOutcome::default()
        };
        match step {
            TwStep::Kill => out.killed = true,
            TwStep::Quiet { restart, tsval } => {
                if restart {
                    self.expires = now + p.time_wait;
                }
                if let Some(v) = tsval {
                    self.ts_recent = v;
                    self.ts_recent_stamp = ts_stamp(now);
                }
            }
            TwStep::Ack {
                restart,
                limited,
                paws,
            } => {
                out.paws_rejected = paws;
                if restart {
                    self.expires = now + p.time_wait;
                }
                if limited {
                    self.oow_ack(now, p, seg);
                } else {
                    self.ack_now = true;
                }
            }
            TwStep::Drop { paws } => out.paws_rejected = paws,
        }
        out.ack = self.ack_now && !was;
        out
    }

    /// The FIN_WAIT_2 substate (Linux `tcp_timewait_state_process`, `if
    /// (tw->tw_substate == TCP_FIN_WAIT2)`; see the module doc).
    fn process_fin_wait2(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) -> TwOutcome {
        let was = self.ack_now;
        let f = seg.flags;
        let mut out = TwOutcome::default();
        let paws = self.keys().paws_reject(now, seg);
        let end = seg.seq + seg.segment_len();
        let win_end = self.rcv_nxt + self.rcv_wnd as usize;
        // Linux `tcp_in_window(seq, end_seq, rcv_nxt, rcv_nxt + tw_rcv_wnd)`.
        let in_window = seg.seq == self.rcv_nxt
            || (end.gt(self.rcv_nxt) && seg.seq.lt(win_end))
            || (seg.seq == win_end && seg.seq == end);
        if paws || !in_window {
            // "Out of window, send ACK" (`tcp_timewait_check_oow_rate_limit`).
            out.dropped = true;
            self.oow_ack(now, p, seg);
        } else if f.rst() {
            // "goto kill": any reset in the window ends it.
            out.killed = true;
        } else if f.syn() && seg.seq.ge(self.rcv_nxt) {
            out.dropped = true;
            out.killed = true;
            out.reset = true;
        } else if !f.ack() || !end.gt(self.rcv_nxt) || seg.segment_len() == 0 {
            // "Dup ACK?": nothing new, dropped without an answer.
            out.dropped = true;
        } else if !f.fin() || end != self.rcv_nxt + 1 {
            // "If new data arrive after half-duplex close, reset."
            out.dropped = true;
            out.killed = true;
            out.reset = true;
        } else {
            // "FIN arrived, enter true time-wait state."
            self.fin_wait2 = false;
            self.rcv_nxt = end;
            if self.ts_ok {
                if let Some(ts) = seg.timestamp {
                    self.ts_recent = ts.tsval;
                    self.ts_recent_stamp = ts_stamp(now);
                }
            }
            self.expires = now + p.time_wait;
            self.ack_now = true;
            out.time_wait = true;
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
        // FIN_WAIT_2 answers a SYN itself (`process_fin_wait2`).
        !self.fin_wait2 && self.keys().syn_ends(now, seg)
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

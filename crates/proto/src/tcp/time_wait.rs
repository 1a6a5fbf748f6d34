//! A compact TIME_WAIT record (Linux `inet_timewait_sock`): what a closed
//! connection still needs for its 2 MSL wait (RFC 9293 3.10.7.4) once the
//! application has closed it, so the full `Connection` (buffers, congestion
//! and recovery state) can be freed.
//!
//! Contract: a record answers every segment exactly as a `Connection` in
//! TIME_WAIT does (`Connection::process_time_wait`): a reset is dropped
//! (RFC 1337; Linux `tcp_rfc1337` = 0 lets a reset kill TIME_WAIT, but this
//! stack's full connection ignores it, and the record must agree), a
//! retransmitted FIN is ACKed and restarts the timer, an unacceptable
//! segment or a SYN earns a rate-limited ACK, anything else is dropped. The
//! ACK it sends is the one the connection would send: `snd_nxt` (the
//! connection's `snd_max`), `rcv_nxt`, the window frozen when TIME_WAIT
//! began (Linux `tw_rcv_wnd`), and timestamps when they were agreed. A
//! record is only made when nothing else is owed (no SACK or D-SACK block,
//! no queued data), so that ACK carries nothing else.

use super::connection::Connection;
use super::{Profile, SeqNum, State};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpRepr, TcpTimestamp};

/// The state a TIME_WAIT connection keeps.
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
    pub ts_offset: u32,
    /// When we last answered an out-of-window segment (rate limit).
    pub last_oow_ack: Option<Instant>,
    /// End of TIME_WAIT.
    pub expires: Instant,
}

/// What a segment did to a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TwOutcome {
    /// Dropped as unacceptable (counted like a connection's drop).
    pub dropped: bool,
    /// An ACK became owed by this segment.
    pub ack: bool,
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
            ts_offset: self.ts_offset,
            last_oow_ack: self.last_oow_ack,
            expires: self.close_at.unwrap_or(default_expiry),
        })
    }
}

impl TimeWait {
    /// TIME_WAIT processing (RFC 9293 3.10.7.4, RFC 1337), the same
    /// decisions as `Connection::process_time_wait`.
    pub(crate) fn process(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) -> TwOutcome {
        let f = seg.flags;
        let was = self.ack_now;
        if f.rst() {
            // RFC 1337: a reset must not cut TIME_WAIT short.
            return TwOutcome {
                dropped: true,
                ack: false,
            };
        }
        if f.fin() {
            // The peer's FIN again: our last ACK was lost. ACK it and
            // restart the 2 MSL timer (RFC 9293 3.10.7.4, eighth step).
            self.ack_now = true;
            self.expires = now + p.time_wait;
            return TwOutcome {
                dropped: false,
                ack: !was,
            };
        }
        if !self.acceptable(seg) || f.syn() {
            self.oow_ack(now, p, seg);
        }
        TwOutcome {
            dropped: true,
            ack: self.ack_now && !was,
        }
    }

    /// RFC 9293 3.10.7.4: the segment acceptability test.
    fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        super::input::acceptable(self.rcv_nxt, self.rcv_wnd as usize, seg)
    }

    /// Linux `tcp_oow_rate_limited`, as a connection answers.
    fn oow_ack(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) {
        self.ack_now |= super::input::oow_ack_allowed(&mut self.last_oow_ack, now, p, seg);
    }

    /// A SYN (no ACK, no RST) that may end TIME_WAIT and open a new
    /// connection on the same 4-tuple: its timestamp is newer than
    /// TS.Recent (RFC 6191), or without timestamps its sequence number lies
    /// past the old `rcv_nxt` (RFC 9293 3.10.7.4; Linux
    /// `tcp_timewait_state_process`, TCP_TW_SYN).
    pub(crate) fn yields_to(&self, seg: &TcpRepr<'_>) -> bool {
        syn_ends_time_wait(self.ts_ok, self.ts_recent, self.rcv_nxt, seg)
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

/// The TIME_WAIT reuse rule for a full connection or a record: a SYN (no
/// ACK, no RST) whose timestamp is newer than TS.Recent (RFC 6191), or
/// without timestamps whose sequence number lies past the old `rcv_nxt`
/// (RFC 9293 3.10.7.4; Linux `tcp_timewait_state_process`, TCP_TW_SYN).
pub(crate) fn syn_ends_time_wait(
    ts_ok: bool,
    ts_recent: u32,
    rcv_nxt: SeqNum,
    seg: &TcpRepr<'_>,
) -> bool {
    let f = seg.flags;
    if !f.syn() || f.ack() || f.rst() {
        return false;
    }
    match (ts_ok, seg.timestamp) {
        (true, Some(ts)) => ts.tsval.wrapping_sub(ts_recent) as i32 > 0,
        _ => seg.seq.gt(rcv_nxt),
    }
}

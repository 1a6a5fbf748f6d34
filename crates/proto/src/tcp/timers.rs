//! Connection timers: retransmission (RFC 6298), persist (RFC 9293 3.8.6.1),
//! delayed ACK (RFC 1122 4.2.3.2), TIME_WAIT (2 MSL) and the orphaned
//! FIN_WAIT_2 timeout. Each is a deadline; the socket layer keeps the
//! earliest one in its timer queue.

use super::connection::{Connection, TcpError};
use super::{Profile, State};
use crate::time::Instant;

impl Connection {
    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.rto_at, self.persist_at, self.delack_at, self.close_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Run every timer whose deadline is at or before `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, p: &Profile) {
        if matches!(self.close_at, Some(t) if t <= now) {
            self.close_at = None;
            if matches!(self.state, State::TimeWait | State::FinWait2) {
                self.enter_closed();
                return;
            }
        }
        if matches!(self.delack_at, Some(t) if t <= now) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if matches!(self.rto_at, Some(t) if t <= now) {
            self.rto_at = None;
            self.retransmit_timeout(now, p);
        }
        if matches!(self.persist_at, Some(t) if t <= now) {
            self.persist_at = None;
            self.persist_timeout(now, p);
        }
    }

    /// RFC 6298 5.4-5.7: retransmit the earliest unacknowledged segment,
    /// back off, and give up after the profile's retry count.
    fn retransmit_timeout(&mut self, now: Instant, p: &Profile) {
        let limit = match self.state {
            State::SynSent => p.syn_retries,
            State::SynReceived => p.synack_retries,
            State::Closed | State::Listen | State::TimeWait => return,
            _ => p.retries2,
        };
        if self.snd_una == self.snd_max && self.state.is_synchronized() {
            // Nothing outstanding (a stale timer).
            return;
        }
        if self.backoff >= limit {
            if self.state == State::SynReceived && self.passive {
                // A half-open connection simply disappears (Linux reqsk timer).
                self.enter_closed();
            } else {
                let err = self.soft_error.unwrap_or(TcpError::TimedOut);
                self.fail(err);
            }
            return;
        }
        self.backoff += 1;
        let flight = self.in_flight();
        if self.state.is_synchronized() {
            self.cc.on_rto(flight, self.snd_mss);
        }
        self.dupacks = 0;
        self.fast_rtx = false;
        // Go back to the first unacknowledged byte (or the SYN).
        self.snd_nxt = self.snd_una;
        self.rtt_seq = None;
        self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
    }

    /// RFC 9293 3.8.6.1: probe a zero window, backing off like the RTO.
    fn persist_timeout(&mut self, now: Instant, p: &Profile) {
        if !self.state.is_synchronized() || self.snd_buf.is_empty() {
            self.persist_backoff = 0;
            return;
        }
        if self.probes_out >= p.retries2 {
            // The peer stopped answering our probes (Linux tcp_probe_timer).
            let err = self.soft_error.unwrap_or(TcpError::TimedOut);
            self.fail(err);
            return;
        }
        self.probes_out += 1;
        self.probe_pending = true;
        self.persist_backoff = self.persist_backoff.saturating_add(1);
        self.persist_at = Some(now + self.rtt.backed_off(self.persist_backoff));
    }
}

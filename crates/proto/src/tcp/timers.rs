//! Connection timers: retransmission (RFC 6298), persist (RFC 9293 3.8.6.1),
//! delayed ACK (RFC 1122 4.2.3.2), TIME_WAIT (2 MSL), the orphaned
//! FIN_WAIT_2 timeout and the idle ring release (`autotune.rs`). Each is a
//! deadline; the socket layer keeps the earliest one in its timer queue.

use super::connection::{Connection, TcpError};
use super::{Profile, State};
use crate::time::{Duration, Instant};

/// Floor on the probe timeout (Linux `TCP_TIMEOUT_MIN`, 2 ms).
const TLP_MIN: Duration = Duration::from_millis(2);

impl Connection {
    /// The earliest pending deadline. Runs after every segment in and out,
    /// so it is a branchless min over plain microseconds (an unarmed timer
    /// counts as `u64::MAX`) rather than an iterator over `Option`s. An
    /// armed timer is never at `u64::MAX` microseconds (`Instant` stops
    /// one short of it), so the min alone says whether any is armed.
    /// Inlined: a call from `touch` cost more than the min itself.
    #[inline(always)]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let at = |t: Option<Instant>| t.map_or(u64::MAX, Instant::total_micros);
        let m = at(self.rto_at)
            .min(at(self.persist_at))
            .min(at(self.delack_at))
            .min(at(self.close_at))
            .min(at(self.keepalive_at))
            .min(at(self.tlp_at))
            .min(at(self.tune.idle_at));
        (m != u64::MAX).then_some(Instant::from_micros(m))
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
            // Linux `tcp_delack_timer_handler`: the reply the ACK waited
            // for did not come, so the exchange is not interactive.
            self.pingpong = false;
        }
        if matches!(self.rto_at, Some(t) if t <= now) {
            self.rto_at = None;
            self.retransmit_timeout(now, p);
        }
        if matches!(self.tlp_at, Some(t) if t <= now) {
            self.tlp_at = None;
            self.tlp_timeout(now);
        }
        if matches!(self.persist_at, Some(t) if t <= now) {
            self.persist_at = None;
            self.persist_timeout(now, p);
        }
        if matches!(self.keepalive_at, Some(t) if t <= now) {
            self.keepalive_at = None;
            self.keepalive_timeout(now, p);
        }
        // Idle ring release (autotune.rs).
        if matches!(self.tune.idle_at, Some(t) if t <= now) {
            self.tune.idle_at = None;
            self.idle_timeout(now, p);
        }
    }

    /// RFC 1122 4.2.3.6 with Linux's numbers: after `keepalive_time` idle,
    /// probe every `keepalive_intvl`; `keepalive_probes` unanswered probes
    /// end the connection with ETIMEDOUT.
    fn keepalive_timeout(&mut self, now: Instant, p: &Profile) {
        if !self.keepalive || !self.keepalive_applies() {
            return;
        }
        if !self.snd_buf.is_empty() || self.rto_at.is_some() || self.persist_at.is_some() {
            // Data in flight: the retransmission timer watches the peer.
            self.keepalive_at = Some(now + p.keepalive_time);
            return;
        }
        if self.keepalive_probes >= p.keepalive_probes {
            let err = self.soft_error.unwrap_or(TcpError::TimedOut);
            self.fail(err);
            return;
        }
        self.keepalive_probes += 1;
        self.probe_pending = true;
        self.keepalive_at = Some(now + p.keepalive_intvl);
    }

    /// RFC 6298 5.4-5.7: retransmit the earliest unacknowledged segment,
    /// back off, and give up after the profile's retry count.
    fn retransmit_timeout(&mut self, now: Instant, p: &Profile) {
        let limit = match self.state {
            State::SynSent => p.syn_retries,
            State::SynReceived => p.synack_retries,
            State::Closed | State::Listen | State::TimeWait => return,
            // Linux `tcp_orphan_retries`: orphans give up sooner.
            _ if self.orphan => p.retries2.min(p.orphan_retries),
            _ => p.retries2,
        };
        if self.snd_una == self.snd_max && self.state.is_synchronized() {
            // Nothing outstanding (a stale timer).
            return;
        }
        if self.state.is_synchronized() && self.snd_wnd == 0 && !self.orphan {
            // Linux `tcp_retransmit_timer`: the receiver closed its window;
            // retransmissions become window probes and the connection only
            // times out when the peer has been silent for RTO_MAX.
            if now - self.last_rcv > p.rto_max {
                let err = self.soft_error.unwrap_or(TcpError::TimedOut);
                self.fail(err);
                return;
            }
            self.backoff = self.backoff.saturating_add(1);
            self.snd_nxt = self.snd_una;
            self.probe_pending = true;
            self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
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
        self.loss.rtos += 1;
        let flight = self.in_flight();
        if self.state.is_synchronized() {
            self.cc.on_rto(flight, self.snd_mss);
            // RFC 3522 2: RetransmitTS for the Eifel check, from the first
            // retransmission of the episode only (Linux `retrans_stamp`).
            // Taken now; the retransmission goes at this poll or later, so
            // its TSval is never smaller and the check errs to "genuine".
            if self.rto_undo_ts.is_none() {
                self.rto_undo_ts = (p.rto_undo && self.ts_ok).then(|| self.tsval(now));
            }
            // RFC 6582 3.2 step 1 / RFC 6675 5.1: RecoveryPoint = HighData;
            // SACK recovery ends and none starts until snd_una reaches it.
            self.rto_recover = Some(self.snd_max);
            if self.backoff > 1 {
                // A second timeout on the same data: stop trusting the
                // SACK marks (RFC 2018 8: the receiver may have reneged).
                self.scoreboard.clear();
            }
            // Otherwise the scoreboard is kept (RFC 6675 5.1 keeps Update()
            // running; Linux keeps the SACKed marks unless it saw reneging)
            // so the go-back-N below skips what the peer holds.
        }
        self.sack_recovery = false;
        self.tlp_at = None;
        self.tlp_pending = false;
        self.tlp_end = None;
        self.high_rxt = self.snd_una;
        self.rtx_lost_to = self.snd_una;
        self.high_rxt2 = self.snd_una;
        self.head_rtx = None;
        self.dupacks = 0;
        self.fast_rtx = false;
        // Go back to the first unacknowledged byte (or the SYN).
        self.snd_nxt = self.snd_una;
        self.rtt_seq = None;
        self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
    }

    /// RFC 8985 7.2: (re)arm the probe timeout when the connection is in
    /// the open state (no recovery, nothing being resent, no probe out)
    /// with data in flight: PTO = 2 SRTT, or 1.5 SRTT + the worst-case
    /// delayed ACK when only one segment is out (Linux
    /// `tcp_schedule_loss_probe`), never later than the RTO.
    pub(crate) fn arm_tlp(&mut self, now: Instant, p: &Profile) {
        self.tlp_at = None;
        let open = self.cc.recover.is_none()
            && self.rto_recover.is_none()
            && self.snd_nxt == self.snd_max
            && self.tlp_end.is_none()
            && !self.tlp_pending
            && self.snd_max.gt(self.snd_una)
            && self.snd_wnd > 0
            && matches!(self.state, State::Established | State::CloseWait);
        if !(p.tlp && self.sack_ok && open) {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let us = srtt.total_micros();
        let pto_us = if self.in_flight() <= self.snd_mss {
            (2 * us).max(us + us / 2 + p.delack_max.total_micros())
        } else {
            (2 * us).max(TLP_MIN.total_micros())
        };
        let mut at = now + Duration::from_micros(pto_us);
        if let Some(rto) = self.rto_at {
            at = at.min(rto);
        }
        self.tlp_at = Some(at);
    }

    /// RFC 8985 7.3: the PTO fired: send one probe at the next poll (new
    /// data if the windows allow, else the last segment again) and re-arm
    /// the RTO.
    fn tlp_timeout(&mut self, now: Instant) {
        let still_open = self.cc.recover.is_none()
            && self.rto_recover.is_none()
            && self.snd_max.gt(self.snd_una)
            && self.tlp_end.is_none();
        if !still_open || !self.state.is_synchronized() {
            return;
        }
        self.tlp_pending = true;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::connection::ConnParams;
    use crate::tcp::SeqNum;
    use crate::wire::Ipv4Addr;
    use proptest::prelude::*;

    proptest! {
        /// The branchless `next_deadline` equals the plain min over the armed
        /// timers under any sequence of arms and disarms (extremes included).
        #[test]
        fn next_deadline_is_min_of_armed(
            ops in proptest::collection::vec(
                (0usize..6, prop_oneof![
                    Just(None),
                    Just(Some(0u64)),
                    Just(Some(u64::MAX)),
                    (0u64..1_000_000).prop_map(Some),
                ]),
                0..64,
            ),
        ) {
            let p = Profile::linux();
            let a = Ipv4Addr::new(198, 18, 0, 1);
            let params = ConnParams {
                local: (a, 1),
                remote: (a, 2),
                iss: SeqNum(7),
                ts_offset: 0,
                mtu: 1500,
                user_mss: None,
                rcvbuf: 4096,
                sndbuf: 4096,
                nodelay: false,
                keepalive: false,
            };
            let mut c = Connection::connect(&p, &params);
            for (which, at) in ops {
                let t = at.map(Instant::from_micros);
                match which {
                    0 => c.rto_at = t,
                    1 => c.persist_at = t,
                    2 => c.delack_at = t,
                    3 => c.close_at = t,
                    4 => c.keepalive_at = t,
                    _ => c.tlp_at = t,
                }
                let want = [c.rto_at, c.persist_at, c.delack_at, c.close_at, c.keepalive_at, c.tlp_at]
                    .into_iter()
                    .flatten()
                    .min();
                prop_assert_eq!(c.next_deadline(), want);
            }
        }
    }
}

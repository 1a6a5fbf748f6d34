//! Header prediction (Van Jacobson, RFC 1323 era; Linux
//! `tcp_rcv_established` fast path): the common segments of a bulk
//! transfer on an ESTABLISHED connection, in-order data at `rcv_nxt` and
//! pure ACKs of new data, processed without the general checks of RFC 9293
//! 3.10.7.4 that cannot apply to them.
//!
//! Contract: `Connection::fast_path` either leaves the connection exactly as
//! it found it and returns false (the slow path then runs), or returns true
//! having made exactly the changes `process_synchronized` would have made
//! for that segment, with a default `InputResult` (no reset, nothing
//! dropped, no SACK blocks, no undo). Nothing on the wire may differ; the
//! tests (`tests/fastpath.rs`) run every segment both ways and compare.
//!
//! The prediction (every condition must hold, else the slow path):
//! - ESTABLISHED, flags ACK with at most PSH beside it (no SYN, RST, FIN, URG);
//! - `seq == rcv_nxt` (so the RFC 9293 acceptability test passes for a
//!   window-fitting segment), nothing held out of order, no FIN pending;
//! - timestamps negotiated: the option is present and TSval is not older
//!   than TS.Recent (RFC 7323 5.3 PAWS cannot reject it); not negotiated:
//!   any option is ignored, as the slow path ignores it;
//! - no SACK blocks and an empty scoreboard (RFC 6675 has nothing to do);
//! - the advertised window equals SND.WND (no window update logic);
//! - no tail-loss probe outstanding (RFC 8985 7.4 has nothing to do);
//! - `ack == snd_una` with a payload (data; a pure ACK here is a duplicate
//!   or a window probe), or `snd_una < ack <= snd_max` outside any recovery,
//!   RTO episode and FIN (a plain cumulative ACK of new data);
//! - a payload fits the window we advertised and the receive ring.

use super::connection::Connection;
use super::sack::DUP_THRESH;
use super::{Profile, State};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpRepr};

impl Connection {
    /// Process `seg` on the predicted path if it qualifies (see the module
    /// doc); false, with nothing changed, when it must take the slow path.
    /// `prewritten` is as for `process` (0, or the whole payload).
    pub(super) fn fast_path(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        prewritten: usize,
    ) -> bool {
        let len = seg.payload.len();
        self.fast_path_len(now, p, seg, len, prewritten == len)
    }

    /// A run of in-order data segments merged by the stack (software GRO,
    /// iface/gro.rs): `seg` is the first one's header (and payload), `len`
    /// the run's payload, all of it already in the receive ring at
    /// `rcv_nxt` (uncommitted). Processed as one segment of `len` bytes on
    /// the predicted path, as Linux processes a GRO packet; false, with
    /// nothing changed but the liveness marks every segment sets, when it
    /// does not qualify (the caller then hands in the segments one by one).
    pub(crate) fn gro_fast_path(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        len: usize,
    ) -> bool {
        self.note_alive(now, p);
        len > 0 && self.fast_path_len(now, p, seg, len, true)
    }

    /// `fast_path` for a payload of `len` bytes: `seg.payload` itself, or
    /// (`prewritten`) bytes already in the ring.
    #[inline(always)]
    fn fast_path_len(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        len: usize,
        prewritten: bool,
    ) -> bool {
        #[cfg(fuzzing)]
        if p.fuzz_slow_path_only {
            return false;
        }
        if seg.flags.0 & !TcpFlags::PSH != TcpFlags::ACK
            || self.state != State::Established
            || seg.seq != self.rcv_nxt
            || seg.sack_len != 0
            || !self.scoreboard.is_empty()
            || !self.assembler.is_empty()
            || self.rcv_fin.is_some()
            || self.tlp_end.is_some()
        {
            return false;
        }
        // RFC 7323 5.3: PAWS would pass (TSval >= TS.Recent).
        let tsval = match (self.ts_ok, seg.timestamp) {
            (false, _) => None,
            (true, Some(ts)) if ts.tsval.wrapping_sub(self.ts_recent) as i32 >= 0 => Some(ts.tsval),
            (true, _) => return false,
        };
        let window = usize::from(seg.window) << self.snd_wscale;
        if window != self.snd_wnd {
            return false;
        }
        let newly = if seg.ack == self.snd_una {
            // Nothing new acknowledged: only data qualifies, and only while
            // fast recovery cannot start from it (`maybe_enter_recovery`
            // is a no-op with fewer than DupThresh duplicates and no SACKs).
            if len == 0 || usize::try_from(self.dupacks).map_or(true, |d| d >= DUP_THRESH) {
                return false;
            }
            0
        } else if seg.ack.gt(self.snd_una)
            && seg.ack.le(self.snd_max)
            && self.cc.recover.is_none()
            && self.rto_recover.is_none()
            && self.rto_undo_ts.is_none()
            && self.fin_seq.is_none()
        {
            self.snd_una.distance_to(seg.ack)
        } else {
            return false;
        };
        if len > 0 {
            if self.shut_rd || len > self.rcv_wnd() {
                return false;
            }
            // The only change before the prediction is settled: bytes past
            // the readable end, invisible until committed (as `fold_receive`).
            let written = if prewritten {
                len
            } else {
                self.rcv_buf.write_at(0, seg.payload)
            };
            if written != len {
                return false;
            }
        }

        // RFC 7323 4.3: the timestamp to echo, from a segment at or before
        // the point we last acknowledged.
        if let Some(tsval) = tsval {
            if seg.seq.le(self.rcv_wup) {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }

        // RFC 9293 3.10.7.4 fifth step: an acceptable ACK.
        self.probes_out = 0;
        if newly > 0 {
            self.fast_ack(now, seg, newly);
        }
        // The send window update (SND.WL1/WL2, RFC 9293 3.10.7.4); the
        // window itself is unchanged (and so MAX.SND.WND already covers it,
        // kept here so the equivalence does not rest on that invariant).
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack)) {
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            if window > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
        if newly > 0 {
            // RFC 8985 7.2: an ACK of new data (re)arms the probe timeout.
            self.arm_tlp(now, p);
        }

        // Seventh step: the text, in order and in window.
        if len > 0 {
            self.note_pushed(len, self.rcv_mss);
            self.learn_rcv_mss(len);
            self.rcv_buf.commit(len);
            self.rcv_nxt = self.rcv_nxt + len;
            self.rcv_rtt_measure(now, seg, len);
            self.schedule_ack(now, p);
        }
        true
    }

    /// A cumulative ACK of `newly` bytes of data, outside recovery: the
    /// new-data branch of `process_ack` with the branches that cannot
    /// apply (FIN, recovery, RTO undo, SACK) left out.
    fn fast_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, newly: usize) {
        self.advance_snd_una(seg.ack, newly);
        // RFC 7323 4.1 / RFC 6298 3 (Karn), as the slow path.
        let _ = self.rtt_on_new_ack(now, seg);
        self.backoff = 0;
        // RFC 5681 congestion avoidance / slow start.
        let flight = self.in_flight() + newly;
        let srtt = self.rtt.srtt();
        self.cc.on_ack_at(now, newly, self.snd_mss, srtt, flight);
        self.dupacks = 0;
        self.rto_on_new_ack(now);
    }
}

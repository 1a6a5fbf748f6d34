//! Loss detection and repair decisions (RFC 6675 SACK recovery, RFC 6582
//! NewReno entry, RFC 8985 tail loss probe and its lost-retransmission rule
//! by sequence and send order, RFC 3522 / RFC 4015 spurious-RTO undo).
//!
//! Contract: everything here is bookkeeping on the connection; `input.rs`
//! calls the ACK side (`take_sack`, `maybe_enter_recovery`, `tlp_on_ack`,
//! `check_spurious_rto`),
//! `output.rs` the sending side (`pipe`, `flight`, the second pass and the
//! probe). The scoreboard is capped (`Profile::sack_scoreboard_cap`), so a
//! hostile peer costs bounded memory and O(cap) work per ACK.

use super::connection::{Connection, OutSegment};
use super::input::InputResult;
use super::sack::DUP_THRESH;
use super::SeqNum;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

impl Connection {
    /// RFC 8985 7.4: the ACK of a probe. A probe that resent the last
    /// segment and was not reported as a duplicate (D-SACK) repaired a
    /// loss: reduce the window once, as for a fast recovery that ended.
    pub(super) fn tlp_on_ack(&mut self, dsack: bool) {
        let Some(end) = self.tlp_end else {
            return;
        };
        if dsack {
            self.tlp_dsack = true;
        }
        if self.cc.recover.is_some() {
            // Fast recovery took over the repair.
            self.tlp_end = None;
            return;
        }
        if self.snd_una.ge(end) {
            if self.tlp_rtx && !self.tlp_dsack {
                self.cc
                    .on_fast_retransmit(self.cc.cwnd, self.snd_mss, self.snd_max);
                self.cc.on_recovery_exit();
                self.loss.tlp_recoveries += 1;
            }
            self.tlp_end = None;
        }
    }

    /// The Eifel detection algorithm (RFC 3522 2) on the first ACK that
    /// advances `snd_una` after an RTO (called once `snd_una` moved): if it
    /// echoes a TSval older than the first retransmission's, it acknowledges
    /// the original transmission and the RTO was spurious. The response
    /// (RFC 4015 4): restore cwnd and ssthresh, cancel the rest of the
    /// go-back-N (SND.NXT = SND.MAX, so nothing more is resent needlessly),
    /// leave RTO recovery, and, when `adapt` (`Profile::rto_undo_adapt` and
    /// no D-SACK on this ACK, see below), make the timer more conservative
    /// from the ACK's RTT sample `rtt`. Without timestamps there is no
    /// detection (the ACK cannot tell which copy it acknowledges). Returns
    /// true on undo.
    pub(super) fn check_spurious_rto(
        &mut self,
        seg: &TcpRepr<'_>,
        rtt: Option<Duration>,
        adapt: bool,
    ) -> bool {
        let Some(retransmit_ts) = self.rto_undo_ts.take() else {
            return false;
        };
        let tsecr = seg.timestamp.filter(|_| self.ts_ok).map_or(0, |t| t.tsecr);
        // RFC 3522 2 step (4): TSecr < RetransmitTS, modulo 2^32 (RFC 7323
        // 5.2). A zero echo is no echo (Linux ignores it too).
        let older = (tsecr.wrapping_sub(retransmit_ts) as i32) < 0;
        if tsecr == 0 || !older {
            self.cc.forget_undo();
            return false;
        }
        if !self.cc.undo_rto() {
            return false;
        }
        self.snd_nxt = self.snd_max;
        self.rto_recover = None;
        self.high_rxt = self.snd_una;
        self.rtx_lost_to = self.snd_una;
        self.high_rxt2 = self.snd_una;
        // RFC 4015 4 adapts the timer because the path's delay jumped. A
        // D-SACK on this very ACK says otherwise: the retransmission reached
        // the peer as a duplicate, so the original had arrived and only its
        // ACK was lost; the sample (now - TSecr) measures that loss, not the
        // path, so the caller passes `adapt` false (the ordinary RTT sample
        // of this ACK has already been taken). Linux never adapts at all
        // (`rto_undo_adapt` off).
        if let Some(r) = rtt.filter(|_| adapt) {
            self.rtt.adapt_spurious(r);
        }
        self.loss.spurious_rto_undos += 1;
        true
    }

    /// Start fast recovery when the loss signal is there: DupThresh
    /// duplicate ACKs (RFC 5681 3.2), or with SACK also IsLost(HighACK + 1)
    /// (RFC 6675 5, like Linux `tcp_time_to_recover`). Not while already in
    /// recovery, nor before `snd_una` passes the HighData of the last RTO
    /// (RFC 6582 3.2 step 1, RFC 6675 5.1).
    pub(super) fn maybe_enter_recovery(&mut self) {
        if self.cc.recover.is_some() || self.rto_recover.is_some() {
            return;
        }
        if !self.snd_max.gt(self.snd_una) || self.snd_nxt.lt(self.snd_max) {
            return;
        }
        let dup_thresh = self.dupacks as usize >= DUP_THRESH;
        let sack = self.sack_ok && !self.scoreboard.ranges().is_empty();
        let lost = sack && self.scoreboard.is_lost(self.snd_una, self.snd_mss);
        if !(dup_thresh || lost) {
            return;
        }
        // RFC 6675 5 (4.1) / RFC 6582 3.2 step 2: RecoveryPoint = HighData,
        // ssthresh from FlightSize.
        let flight = self.snd_una.distance_to(self.snd_max);
        self.cc
            .on_fast_retransmit(flight, self.snd_mss, self.snd_max);
        self.loss.recoveries += 1;
        if sack {
            // RFC 6675 5 (4.2): cwnd = ssthresh. No artificial inflation:
            // pipe already leaves out what the receiver holds.
            self.cc.cwnd = self.cc.ssthresh;
            self.sack_recovery = true;
            self.loss.sack_recoveries += 1;
        } else {
            self.sack_recovery = false;
        }
        // RFC 6675 5 (4.3): retransmit HighACK + 1 first.
        self.high_rxt = self.snd_una;
        self.rtx_lost_to = self.snd_una;
        self.high_rxt2 = self.snd_una;
        self.head_rtx = None;
        self.fast_rtx = true;
    }

    /// Feed the segment's SACK blocks to the scoreboard (RFC 6675 Update(),
    /// validated as RFC 2018 and Linux `tcp_is_sackblock_valid` do, D-SACKs
    /// recognised per RFC 2883 4). Returns the bytes newly SACKed.
    pub(super) fn take_sack(&mut self, seg: &TcpRepr<'_>, res: &mut InputResult) -> usize {
        if !self.sack_ok {
            return 0;
        }
        let blocks = seg.sack_blocks.get(..seg.sack_len).unwrap_or(&[]);
        if blocks.is_empty() && self.scoreboard.is_empty() {
            // No blocks and nothing SACKed (every in-order segment and ACK
            // of a loss-free flow): every step below is a no-op.
            res.sack_blocks = 0;
            res.sack_invalid = 0;
            res.dsack = 0;
            return 0;
        }
        res.sack_blocks = u8::try_from(blocks.len()).unwrap_or(u8::MAX);
        let una = if seg.ack.gt(self.snd_una) {
            seg.ack
        } else {
            self.snd_una
        };
        let zone_before = self.scoreboard.sacked_between(una, self.high_rxt);
        let u = self.scoreboard.update(una, self.snd_max, blocks);
        res.sack_invalid = u8::try_from(u.ignored).unwrap_or(u8::MAX);
        res.dsack = u8::from(u.dsack);
        self.loss.sack_invalid += u.ignored as u64;
        self.loss.dsack_rx += u64::from(u.dsack);
        // A lost retransmission (RFC 8985 6.2's rule, ordered by sequence
        // instead of time, since NextSeg retransmits in sequence order):
        // data we retransmitted was newly SACKed, and the first block holds
        // the segment that triggered this ACK (RFC 2018 4). Every
        // retransmission sent before it, i.e. below that block, should have
        // arrived first; the holes there still unSACKed were lost again.
        let zone_grew = self.scoreboard.sacked_between(una, self.high_rxt) > zone_before;
        let first = blocks.get(usize::from(u.dsack)).copied();
        if let (true, true, Some((l, _))) = (self.sack_recovery, zone_grew, first) {
            if l.gt(una) && l.le(self.high_rxt) && l.gt(self.rtx_lost_to) {
                self.rtx_lost_to = l;
            }
        }
        // The same rule by send order for the head hole: data sent after
        // its last retransmission is being SACKed while it is still missing.
        if let (true, Some((s, fence))) = (self.sack_recovery, self.head_rtx) {
            let after = self.scoreboard.sacked_between(fence, self.snd_max);
            if s == una && after > (DUP_THRESH - 1) * self.snd_mss {
                let end = self
                    .scoreboard
                    .next_sacked_after(una)
                    .map_or(self.high_rxt, |l| l.min(self.high_rxt));
                if end.gt(una) {
                    self.rtx_lost_to = self.rtx_lost_to.max(end);
                    self.high_rxt2 = una;
                }
                self.head_rtx = None;
            }
        }
        // Linux `tcp_check_sack_reneging`: an ACK that stops inside data
        // the peer SACKed means it dropped that data; forget the SACKs so
        // the data goes again.
        if self.scoreboard.is_sacked(una) {
            self.scoreboard.clear();
            self.loss.sack_reneging += 1;
        }
        u.newly_sacked
    }

    /// The probe as a retransmission of the last segment sent (RFC 8985
    /// 7.3), the FIN with it if the FIN was sent.
    pub(super) fn probe_last(
        &mut self,
        now: Instant,
        mss: usize,
        data_end: SeqNum,
        fin_wanted: bool,
    ) -> Option<OutSegment> {
        if !self.snd_max.gt(self.snd_una) {
            return None;
        }
        let sent_end = if self.fin_seq.is_some() {
            data_end
        } else {
            self.snd_max.min(data_end)
        };
        let len = self.snd_una.distance_to(sent_end).min(mss);
        let seq = sent_end - len;
        let fin = fin_wanted && self.fin_seq == Some(sent_end);
        if len == 0 && !fin {
            return None;
        }
        self.tlp_sent(true);
        Some(self.retransmit(now, seq, len, fin))
    }

    /// Bookkeeping once a probe went out (RFC 8985 7.3: TLP.end_seq).
    pub(super) fn tlp_sent(&mut self, rtx: bool) {
        self.tlp_end = Some(self.snd_max);
        self.tlp_rtx = rtx;
        self.tlp_dsack = false;
        self.loss.tlp_probes += 1;
    }

    /// Second pass of SACK recovery: the next unSACKed piece below
    /// `rtx_lost_to` (whose first retransmission was lost), if any.
    pub(super) fn resend_lost_retransmission(
        &mut self,
        now: Instant,
        mss: usize,
        data_end: SeqNum,
        buffered: usize,
    ) -> Option<OutSegment> {
        let mut at = self.high_rxt2.max(self.snd_una);
        if let Some(end) = self.scoreboard.sacked_end(at) {
            at = end;
        }
        if !at.lt(self.rtx_lost_to) || !at.lt(data_end) {
            return None;
        }
        let edge = self
            .scoreboard
            .next_sacked_after(at)
            .map_or(self.rtx_lost_to, |l| l.min(self.rtx_lost_to));
        let len = at
            .distance_to(edge)
            .min(at.distance_to(data_end))
            .min(buffered)
            .min(mss);
        if len == 0 {
            return None;
        }
        self.high_rxt2 = at + len;
        self.loss.sack_retrans += 1;
        self.loss.lost_retrans += 1;
        Some(self.retransmit(now, at, len, false))
    }

    /// RFC 6675 SetPipe during SACK recovery, where retransmissions known
    /// lost (below `rtx_lost_to`) count only once sent again.
    pub(crate) fn pipe(&self) -> usize {
        let pipe = self
            .scoreboard
            .pipe(self.snd_una, self.snd_max, self.high_rxt, self.snd_mss);
        if !self.rtx_lost_to.gt(self.snd_una) {
            return pipe;
        }
        let unsacked = |to: SeqNum| {
            if !to.gt(self.snd_una) {
                return 0;
            }
            self.snd_una
                .distance_to(to)
                .saturating_sub(self.scoreboard.sacked_between(self.snd_una, to))
        };
        let lost_end = self.rtx_lost_to.min(self.high_rxt);
        let resent_end = self.high_rxt2.min(lost_end);
        pipe.saturating_sub(unsacked(lost_end)) + unsacked(resent_end)
    }

    /// The flight estimate that cwnd limits.
    pub(super) fn flight(&self) -> usize {
        let span = self.in_flight();
        if !self.sack_ok || self.scoreboard.ranges().is_empty() {
            return span;
        }
        if self.sack_recovery {
            return self.pipe();
        }
        span.saturating_sub(self.scoreboard.sacked_between(self.snd_una, self.snd_nxt))
    }
}

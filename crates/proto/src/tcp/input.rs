//! Segment arrival (RFC 9293 3.10.7): SYN_SENT, the synchronized states and
//! TIME_WAIT. LISTEN is handled by the socket layer (it creates connections).
//!
//! Contract: `Connection::process` never panics on any segment; it updates
//! the connection and reports what the socket layer must do (send a reset,
//! move a child to the accept queue, drop for accept-queue overflow).
//! `fold_receive` (issue 7) may copy an unverified in-order payload into
//! the receive ring before `process`; it changes nothing visible, and
//! `process` then commits those bytes instead of copying them again.

use super::connection::{Connection, RstReply, TcpError};
use super::paws::PawsDrop;
use super::{Profile, SeqNum, State};
use crate::storage::RingPool;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

/// What the socket layer must do after a segment was processed.
///
/// The events to count or act on are bits of one byte (`Note`), so that
/// "nothing happened" (`is_quiet`, asked after every segment) is one
/// compare of that byte rather than eight of separate flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct InputResult {
    /// Send this reset (addressed to the segment's source).
    pub reset: Option<RstReply>,
    /// `Note` bits.
    notes: u8,
    /// SACK blocks in the segment (RFC 2018), and of them: ignored as
    /// outside SND.UNA..SND.MAX or empty, and D-SACK reports (RFC 2883).
    pub sack_blocks: u8,
    pub sack_invalid: u8,
    pub dsack: u8,
}

/// An event of `InputResult` (one bit of its `notes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Note {
    /// SYN_RECEIVED -> ESTABLISHED happened (a listener child is ready).
    Established = 1,
    /// The handshake-completing ACK was dropped: the accept queue is full.
    Overflow = 2,
    /// The segment was dropped as unacceptable or invalid.
    Dropped = 4,
    /// Dropped by PAWS (RFC 7323 5.3), Linux `PAWSEstabRejected`.
    PawsRejected = 8,
    /// An old pure ACK (below `rcv_nxt`) failed PAWS and was dropped
    /// without a duplicate ACK, Linux 6.14+ `PAWSOldAck`.
    PawsOldAck = 16,
    /// A passive SYN_RECEIVED child dropped a segment whose TSecr echoes
    /// none of our SYN-ACKs' TSvals (Linux 6.15+ `TSEcrRejected`).
    TsecrRejected = 32,
    /// A challenge ACK (RFC 5961 3.2, 4.2, 5.2) passed the per-socket limit
    /// and was scheduled; the socket layer applies the global limit and
    /// cancels it (`ack_now`) when the budget is spent.
    ChallengeAck = 64,
    /// The segment showed the last RTO spurious and it was undone.
    SpuriousRto = 128,
}

impl InputResult {
    /// A result with only `n` noted.
    pub(crate) fn with(n: Note) -> Self {
        InputResult {
            notes: n as u8,
            ..InputResult::default()
        }
    }

    /// Note that `n` happened.
    #[inline(always)]
    pub(crate) fn note(&mut self, n: Note) {
        self.notes |= n as u8;
    }

    /// Note `n` as happened or not, as `on` says.
    #[inline(always)]
    pub(crate) fn set(&mut self, n: Note, on: bool) {
        self.notes = (self.notes & !(n as u8)) | (u8::from(on) * n as u8);
    }

    /// Whether `n` happened.
    #[inline(always)]
    pub(crate) fn has(&self, n: Note) -> bool {
        self.notes & n as u8 != 0
    }

    /// `*self == InputResult::default()`, read field by field. The derived
    /// comparison loaded the struct in 8-byte pieces right after `process`
    /// had stored it a field at a time: a store-to-load forwarding stall on
    /// every segment, ~40 % of `segment_to_conn`'s time (perf, session 9).
    /// The destructuring names every field, so a new one must be added here.
    #[inline(always)]
    pub(crate) fn is_quiet(&self) -> bool {
        let InputResult {
            reset,
            notes,
            sack_blocks,
            sack_invalid,
            dsack,
        } = *self;
        reset.is_none() && notes == 0 && sack_blocks == 0 && sack_invalid == 0 && dsack == 0
    }
}

/// RFC 7323 5.5: after this long idle TS.Recent is no longer valid and may
/// be replaced by an older TSval (Linux 6.7+ `TCP_PAWS_WRAP`, see `paws.rs`).
const PAWS_IDLE: Duration = Duration::from_secs(super::paws::PAWS_WRAP_SECS as u64);

/// Linux `tcp_rtt_tsopt_us`: echoes older than this are not believed.
const TS_RTT_MAX_MS: u32 = (i32::MAX as u32) / 1000;

impl Connection {
    /// Issue 7, one pass over the payload on receive (Linux
    /// `tcp_rcv_established` with `skb_copy_and_csum_datagram`): when it is
    /// safe, copy the payload of a segment whose checksum is not yet
    /// verified into the receive ring, just past the readable bytes and not
    /// committed, and return the sum of the bytes copied; `None` when the
    /// segment must be verified first. Safe means the bytes land exactly
    /// where `accept_text` would put them and cannot clobber anything: a
    /// receiving state (ESTABLISHED, FIN_WAIT_1/2), not shut for reading,
    /// nothing held out of order (so no byte past the readable end is
    /// anyone's yet), `seq == rcv_nxt`, a non-empty payload that fits both
    /// the window we advertised and the ring, and ACK with at most PSH and
    /// FIN beside it (a FIN only follows the data; SYN, RST and URG take the
    /// verify-first path). Nothing else changes: should the checksum fail,
    /// the uncommitted bytes stay invisible and are overwritten by the next
    /// write at the same place.
    pub(crate) fn fold_receive(&mut self, seg: &TcpRepr<'_>, pool: &mut RingPool) -> Option<u64> {
        let f = seg.flags;
        let len = seg.payload.len();
        let safe = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) && f.ack()
            && !(f.syn() || f.rst() || f.urg())
            && !self.shut_rd
            && self.assembler.is_empty()
            && seg.seq == self.rcv_nxt
            && len > 0
            && len <= self.rcv_wnd()
            && len <= self.rcv_buf.free();
        if !safe {
            return None;
        }
        // A first small arrival takes a pooled buffer, as the slow path does.
        pool.provision(&mut self.rcv_buf, len);
        match self.rcv_buf.write_at_sum(0, seg.payload) {
            (n, s) if n == len => Some(s),
            // Cannot happen (`len <= free`); the bytes are invisible anyway.
            _ => None,
        }
    }

    /// Process one segment addressed to this connection. `accept_room` is
    /// false when this is a listener's child whose accept queue is full.
    /// `prewritten`: the payload bytes `fold_receive` already put in the
    /// ring (0: none), which the text step commits instead of copying again.
    pub(crate) fn process(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        accept_room: bool,
        prewritten: usize,
    ) -> InputResult {
        self.process_with(now, p, seg, accept_room, prewritten, true)
    }

    /// `process` with the header-prediction fast path (`fastpath.rs`) off:
    /// every segment takes the general path. Tests only (they compare both).
    #[cfg(test)]
    pub(crate) fn process_slow(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        accept_room: bool,
        prewritten: usize,
    ) -> InputResult {
        self.process_with(now, p, seg, accept_room, prewritten, false)
    }

    /// `process`; `fast`: try the fast path first (always, outside tests).
    #[inline(always)]
    fn process_with(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        accept_room: bool,
        prewritten: usize,
        fast: bool,
    ) -> InputResult {
        self.note_alive(now, p);
        if fast && self.fast_path(now, p, seg, prewritten) {
            return InputResult::default();
        }
        match self.state {
            State::Closed | State::Listen => InputResult {
                reset: (!seg.flags.rst()).then(|| RstReply::for_segment(seg)),
                ..InputResult::with(Note::Dropped)
            },
            State::SynSent => self.process_syn_sent(now, p, seg),
            State::TimeWait => self.process_time_wait(now, p, seg),
            _ => self.process_synchronized(now, p, seg, accept_room, prewritten),
        }
    }

    /// Any segment from the peer proves it alive: the last arrival, and the
    /// keepalive idle timer restarted.
    #[inline(always)]
    pub(super) fn note_alive(&mut self, now: Instant, p: &Profile) {
        self.last_rcv = now;
        if self.keepalive {
            self.keepalive_probes = 0;
            self.keepalive_at = Some(now + p.keepalive_time);
        }
    }

    /// RFC 9293 3.10.7.3: SYN-SENT.
    fn process_syn_sent(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) -> InputResult {
        let mut res = InputResult::default();
        let f = seg.flags;
        if f.ack() && (seg.ack.le(self.iss) || seg.ack.gt(self.snd_max)) {
            // An ACK for something we never sent.
            if !f.rst() {
                res.reset = Some(RstReply {
                    seq: seg.ack,
                    ack: None,
                });
            }
            res.note(Note::Dropped);
            return res;
        }
        if f.rst() {
            if f.ack() {
                // RST answering our SYN: ECONNREFUSED.
                self.fail(TcpError::Refused);
            } else {
                res.note(Note::Dropped);
            }
            return res;
        }
        if !f.syn() {
            res.note(Note::Dropped);
            return res;
        }
        self.take_syn(now, p, seg);
        if f.ack() {
            self.snd_una = seg.ack;
        }
        if self.snd_una.gt(self.iss) {
            // Our SYN is acknowledged: ESTABLISHED. ACK at once.
            self.state = State::Established;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.ack_syn(now, seg);
            self.ack_now = true;
            if self.fin_queued {
                self.state = State::FinWait1;
            }
            self.accept_text(now, p, seg, seg.seq + 1, 0, &mut res);
        } else {
            // Simultaneous open (RFC 9293 3.10.7.3, figure 8): SYN_RECEIVED,
            // our SYN goes again with an ACK.
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
        }
        res
    }

    /// The SYN was acknowledged: stop its timer, take an RTT sample.
    fn ack_syn(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let timed = self.rtt_seq.take();
        if let Some(r) = self.ts_rtt(now, seg) {
            self.rtt.sample(r);
        } else if let Some((end, t)) = timed {
            if self.snd_una.ge(end) {
                self.rtt.sample(now - t);
            }
        }
        self.backoff = 0;
        self.rto_at = None;
        if self.snd_nxt.lt(self.snd_una) {
            self.snd_nxt = self.snd_una;
        }
    }

    /// Answer an unacceptable segment with an ACK, rate-limited like Linux
    /// `tcp_oow_rate_limited` so two confused peers cannot ACK each other
    /// forever; segments carrying data are always answered.
    /// Returns whether an ACK was scheduled.
    fn oow_ack(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>) -> bool {
        let ok = oow_ack_allowed(&mut self.last_oow_ack, now, p, seg);
        self.ack_now |= ok;
        ok
    }

    /// RFC 5961 challenge ACK (Linux `tcp_send_challenge_ack`): the
    /// per-socket limit here, the global one in the socket layer. Always
    /// rate-limited, data or not.
    fn challenge_ack(&mut self, now: Instant, p: &Profile, res: &mut InputResult) {
        if oow_rate_ok(&mut self.last_oow_ack, now, p) {
            self.ack_now = true;
            res.note(Note::ChallengeAck);
        }
    }

    /// The receive window we promised (RCV.WND).
    pub(crate) fn rcv_wnd(&self) -> usize {
        self.rcv_nxt.distance_to(self.rcv_adv)
    }

    /// An ACK of new data up to `ack`, `data` bytes of it from the send
    /// ring (the rest our FIN): release them and move SND.UNA, with SND.NXT
    /// and HighRxt (RFC 6675) never behind it.
    pub(super) fn advance_snd_una(&mut self, ack: SeqNum, data: usize) {
        self.snd_buf.discard(data);
        self.snd_una = ack;
        if self.snd_nxt.lt(self.snd_una) {
            self.snd_nxt = self.snd_una;
        }
        if self.high_rxt.lt(self.snd_una) {
            self.high_rxt = self.snd_una;
        }
    }

    /// RFC 6298 5.2 / 5.3 on an ACK of new data: stop the retransmission
    /// timer when nothing is outstanding, else restart it.
    pub(super) fn rto_on_new_ack(&mut self, now: Instant) {
        self.rto_at = if self.snd_una == self.snd_max {
            None
        } else {
            Some(now + self.rtt.rto())
        };
    }

    /// RTT sample from an ACK of new data. RFC 7323 4.1: with timestamps
    /// every such ACK gives one; without them only the one timed segment
    /// does (Karn, RFC 6298 3). Returns the timestamp sample, if any.
    pub(super) fn rtt_on_new_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Option<Duration> {
        let ts_sample = self.ts_rtt(now, seg);
        if let Some(r) = ts_sample {
            self.rtt.sample(r);
            self.rtt_seq = None;
        } else if let Some((end, t)) = self.rtt_seq {
            if seg.ack.ge(end) {
                self.rtt.sample(now - t);
                self.rtt_seq = None;
            }
        }
        ts_sample
    }

    /// An RTT sample from the echoed timestamp (RFC 7323 4.1, RFC 6298):
    /// valid for retransmitted segments too, so Karn's rule is not needed
    /// when timestamps are on. Millisecond resolution, at least 1 ms like
    /// Linux `tcp_rtt_tsopt_us`; a zero or future echo gives no sample.
    pub(crate) fn ts_rtt(&self, now: Instant, seg: &TcpRepr<'_>) -> Option<Duration> {
        if !self.ts_ok {
            return None;
        }
        let ts = seg.timestamp?;
        if ts.tsecr == 0 {
            return None;
        }
        let delta = self.tsval(now).wrapping_sub(ts.tsecr);
        if delta > TS_RTT_MAX_MS {
            return None;
        }
        Some(Duration::from_millis(u64::from(delta.max(1))))
    }

    /// RFC 7323 5.3 R1 as Linux 6.18 `tcp_validate_incoming` applies it:
    /// whether PAWS drops this segment before the sequence-number check.
    /// Not dropped: a segment without a timestamp (the RFC's SHOULD drop is
    /// not followed, like Linux); one at most `TCP_PAWS_WINDOW` (1) tick
    /// older than TS.Recent; any segment once TS.Recent is stale
    /// (`TCP_PAWS_WRAP`, 2147 s; RFC 7323 5.5, see `paws.rs`) or 0
    /// (`tcp_paws_check`); a reordered pure duplicate ACK that updates no
    /// window (`tcp_disordered_ack_check`), so fast retransmit still counts
    /// it; a reset, whatever its timestamp (RFC 7323 5.3; Linux "Reset is
    /// accepted even if it did not pass PAWS"; a half-open passive child
    /// judges resets by `TCP_PAWS_MSL` in `check_req` first);
    /// a SYN, which Linux answers with a challenge ACK instead of a PAWS
    /// dupack (RFC 5961 4.2; here the SYN step below does so for an
    /// acceptable SYN, the sequence check for any other). A dropped pure
    /// ACK from below `rcv_nxt` is `OldAck` (see `PawsDrop`).
    fn paws_verdict(&self, now: Instant, seg: &TcpRepr<'_>) -> Option<PawsDrop> {
        use super::paws::{paws_check, ts_stamp, PAWS_WINDOW};
        let ts = seg.timestamp.filter(|_| self.ts_ok)?;
        // The common case (in order, not older) first, without the clock.
        let behind = self.ts_recent.wrapping_sub(ts.tsval) as i32;
        if behind <= PAWS_WINDOW as i32 || seg.flags.rst() || seg.flags.syn() {
            return None;
        }
        let stamp = ts_stamp(self.ts_recent_at);
        if paws_check(self.ts_recent, stamp, ts.tsval, now, PAWS_WINDOW) {
            return None;
        }
        self.disordered_ack_check(seg, ts.tsval)
    }

    /// RFC 9293 3.10.7.4: the segment acceptability test.
    fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        acceptable(self.rcv_nxt, self.rcv_wnd(), seg)
    }

    /// RFC 9293 3.10.7.4: every state from SYN_RECEIVED on, except TIME_WAIT.
    fn process_synchronized(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        accept_room: bool,
        prewritten: usize,
    ) -> InputResult {
        if self.state == State::SynReceived && self.passive {
            // A half-open child judges like a Linux request sock first
            // (`tcp_check_req`, see `tcp/listener.rs`).
            if let Some(res) = self.check_req(now, p, seg) {
                return res;
            }
        }
        let mut res = InputResult::default();
        let f = seg.flags;

        // RFC 7323 5.3: PAWS runs before the sequence number check. A reset
        // is accepted regardless of its timestamp (RFC 7323 5.3, Linux).
        // Linux 6.14+ (`SKB_DROP_REASON_TCP_RFC7323_PAWS_ACK`): an old pure
        // ACK, from before the data that moved `rcv_nxt`, is common (ACK and
        // data reordered on the way) and gets no duplicate ACK.
        match self.paws_verdict(now, seg) {
            None => {}
            Some(PawsDrop::OldAck) => {
                res.note(Note::Dropped);
                res.note(Note::PawsOldAck);
                return res;
            }
            Some(PawsDrop::Paws) => {
                let _ = self.oow_ack(now, p, seg);
                res.note(Note::Dropped);
                res.note(Note::PawsRejected);
                return res;
            }
        }

        // First: sequence number check.
        if !self.acceptable(seg) {
            // RCV.WND == 0: still take ACKs (and RSTs) at rcv_nxt (RFC 9293 3.10.7.4).
            let zero_window_ok = self.rcv_wnd() == 0 && seg.seq == self.rcv_nxt;
            if !zero_window_ok {
                if self.state == State::SynReceived && f.syn() && !f.ack() && seg.seq == self.irs {
                    // The peer's SYN again: send the SYN-ACK again (Linux tcp_check_req).
                    self.snd_nxt = self.iss;
                } else if !f.rst() {
                    // RFC 2883 4.1.1 (Linux `tcp_send_dupack`): data wholly
                    // below rcv_nxt is a duplicate; report it in a D-SACK.
                    let end = seg.seq + seg.payload.len();
                    if !seg.payload.is_empty() && end.le(self.rcv_nxt) {
                        self.note_dsack(seg.seq, end);
                    }
                    if seg.segment_len() > 0 && seg.seq.lt(self.rcv_nxt) {
                        // Our ACK of it was lost or late (DELAYEDACKLOST).
                        self.enter_quickack_mode(p);
                    }
                    let _ = self.oow_ack(now, p, seg);
                }
                res.note(Note::Dropped);
                return res;
            }
        }

        // RFC 7323 4.3: remember the peer's timestamp to echo, from segments
        // that start at or before the point we last acknowledged.
        // Linux `tcp_replace_ts_recent`: taken when the value is not older,
        // when TS.Recent has gone stale (RFC 7323 5.5), or when it is still
        // 0 (`tcp_paws_check` treats 0 as unset).
        if let (true, Some(ts)) = (self.ts_ok, seg.timestamp) {
            let newer = ts.tsval.wrapping_sub(self.ts_recent) as i32 >= 0;
            let stale = now - self.ts_recent_at >= PAWS_IDLE;
            if (newer || stale || self.ts_recent == 0) && seg.seq.le(self.rcv_wup) {
                self.ts_recent = ts.tsval;
                self.ts_recent_at = now;
            }
        }

        // Second: RST (RFC 9293 3.10.7.4 with RFC 5961 3.2).
        if f.rst() {
            if seg.seq != self.rcv_nxt {
                // In window but not exact: a challenge ACK (RFC 5961 3.2).
                self.challenge_ack(now, p, &mut res);
                res.note(Note::Dropped);
                return res;
            }
            match self.state {
                State::SynReceived if self.passive => self.enter_closed(),
                State::SynReceived => self.fail(TcpError::Refused),
                State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                    self.fail(TcpError::Reset)
                }
                _ => self.enter_closed(),
            }
            return res;
        }

        // Fourth: a SYN in a synchronized state earns a challenge ACK
        // (RFC 5961 4.2), in window or not; the connection is untouched.
        if f.syn() {
            self.challenge_ack(now, p, &mut res);
            res.note(Note::Dropped);
            return res;
        }

        // Fifth: the ACK field.
        if !f.ack() {
            res.note(Note::Dropped);
            return res;
        }
        if self.state == State::SynReceived {
            if !(seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max)) {
                res.reset = Some(RstReply {
                    seq: seg.ack,
                    ack: None,
                });
                res.note(Note::Dropped);
                return res;
            }
            if !accept_room {
                // Linux (tcp_abort_on_overflow = 0): drop the final ACK; the
                // SYN-ACK timer will offer the handshake again.
                res.note(Note::Overflow);
                res.note(Note::Dropped);
                return res;
            }
            self.state = State::Established;
            self.snd_una = seg.ack;
            self.ack_syn(now, seg);
            self.snd_wnd = usize::from(seg.window) << self.snd_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            res.note(Note::Established);
            if self.fin_queued {
                self.state = State::FinWait1;
            }
        }
        // RFC 5961 5.2: acceptable ACKs lie in
        // [SND.UNA - MAX.SND.WND, SND.NXT]; anything else (an ACK of data not
        // yet sent, or older than any window the peer could have seen) is
        // answered with a challenge ACK and the segment dropped.
        let oldest = self.snd_una - self.max_snd_wnd.min(0x7fff_ffff);
        if seg.ack.gt(self.snd_max) || seg.ack.lt(oldest) {
            self.challenge_ack(now, p, &mut res);
            res.note(Note::Dropped);
            return res;
        }
        let una_before = self.snd_una;
        self.process_ack(now, p, seg, &mut res);
        self.tlp_on_ack(res.dsack > 0);
        if self.snd_una != una_before {
            // RFC 8985 7.2: an ACK of new data (re)arms the probe timeout.
            self.arm_tlp(now, p);
        }
        match self.state {
            State::FinWait1 if self.fin_acked() => {
                self.state = State::FinWait2;
                if self.orphan {
                    // Linux tcp_fin_timeout for orphans.
                    self.close_at = Some(now + p.fin_timeout);
                }
            }
            State::Closing if self.fin_acked() => {
                self.enter_time_wait(now, p);
                return res;
            }
            State::LastAck if self.fin_acked() => {
                self.enter_closed();
                return res;
            }
            _ => {}
        }

        // Seventh and eighth: text and FIN.
        self.accept_text(now, p, seg, seg.seq, prewritten, &mut res);
        res
    }

    /// RFC 9293 3.10.7.4 fifth step for ESTABLISHED and later states.
    fn process_ack(&mut self, now: Instant, p: &Profile, seg: &TcpRepr<'_>, res: &mut InputResult) {
        if seg.ack.lt(self.snd_una) {
            // An old duplicate ACK: ignore (no window update either).
            return;
        }
        let window = usize::from(seg.window) << self.snd_wscale;
        // Any acceptable ACK resets the probe counter (Linux icsk_probes_out).
        self.probes_out = 0;
        let newly = self.snd_una.distance_to(seg.ack);
        let newly_sacked = self.take_sack(seg, res);
        if newly > 0 {
            let fin_acked_now =
                matches!(self.fin_seq, Some(fs) if seg.ack.gt(fs) && !self.snd_una.gt(fs));
            let data = newly.saturating_sub(usize::from(fin_acked_now));
            self.advance_snd_una(seg.ack, data);
            if self.rto_recover.is_some_and(|r| self.snd_una.ge(r)) {
                self.rto_recover = None;
            }
            let ts_sample = self.rtt_on_new_ack(now, seg);
            self.backoff = 0;
            let undone =
                self.check_spurious_rto(seg, ts_sample, p.rto_undo_adapt && res.dsack == 0);
            res.set(Note::SpuriousRto, undone);
            // Congestion control (RFC 5681).
            match self.cc.recover {
                Some(rec) if seg.ack.lt(rec) && self.sack_recovery => {
                    // RFC 6675 5 (C): a partial ACK only updates the
                    // scoreboard; the sender goes on by pipe and NextSeg.
                    // The new head, if already resent, was resent before
                    // now: date it (late, so never too early) for the
                    // lost-retransmission check.
                    self.head_rtx = self
                        .snd_una
                        .lt(self.high_rxt)
                        .then_some((self.snd_una, self.snd_max));
                }
                Some(rec) if seg.ack.lt(rec) => {
                    // A partial ACK in NewReno recovery: retransmit the next
                    // hole and deflate by what was acknowledged (RFC 6582 3.2
                    // step 5).
                    self.fast_rtx = true;
                    self.cc.cwnd =
                        self.cc.cwnd.saturating_sub(data).max(self.snd_mss) + self.snd_mss;
                }
                Some(_) => {
                    // RFC 6582 3.2 step 6 / RFC 6675 5 (B): recovery ends.
                    self.cc.on_recovery_exit();
                    self.sack_recovery = false;
                }
                None => {
                    let flight = self.in_flight() + data;
                    let srtt = self.rtt.srtt();
                    self.cc.on_ack_at(now, data, self.snd_mss, srtt, flight);
                }
            }
            // RFC 6675 5: a cumulative ACK resets DupAcks.
            self.dupacks = 0;
            self.rto_on_new_ack(now);
        } else if self.snd_max.gt(self.snd_una)
            && (newly_sacked > 0
                || (seg.payload.is_empty() && !seg.flags.fin() && window == self.snd_wnd))
        {
            // RFC 5681 2: a duplicate ACK. An ACK that SACKs new data counts
            // too, even on a data segment or with a moved window (RFC 6675 2:
            // it proves another segment arrived past a hole).
            self.dupacks = self.dupacks.saturating_add(1);
            if self.cc.recover.is_some() && !self.sack_recovery && self.dupacks > 3 {
                // RFC 5681 3.2 step 4 (NewReno only; SACK recovery counts
                // what left the network in `pipe` instead).
                self.cc.on_dup_ack_in_recovery(self.snd_mss);
            }
        }
        self.maybe_enter_recovery();
        // RFC 9293 3.10.7.4: update the send window from newer segments only.
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack)) {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            if window > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
    }

    /// Seventh (text) and eighth (FIN) steps. `seq` is where the segment's
    /// payload starts (after the SYN's sequence number, if any);
    /// `prewritten` payload bytes are already in the ring at `rcv_nxt`
    /// (`fold_receive`).
    fn accept_text(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
        seq: SeqNum,
        prewritten: usize,
        res: &mut InputResult,
    ) {
        let mut payload = seg.payload;
        let mut seq = seq;
        // An ACK owed before this segment goes at once whatever the FIN
        // rule, and so does one for a FIN that waited out of order (Linux
        // queues it out of order; taking it empties that queue: ACK_NOW).
        let owed = self.ack_now || self.rcv_fin.is_some();
        // Trim what we already have (RFC 9293 3.10.7.4, "trim off any portions").
        let dup = seq.distance_to(self.rcv_nxt);
        if dup > 0 {
            if dup > payload.len() {
                // Entirely old (a FIN we already took, say): nothing to keep.
                return;
            }
            if !payload.is_empty() {
                // RFC 2883 4.1.1: the old part is a duplicate.
                self.note_dsack(seq, self.rcv_nxt);
            }
            payload = payload.get(dup..).unwrap_or(&[]);
            seq = self.rcv_nxt;
        }
        let mut fin = seg.flags.fin();
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        if !payload.is_empty() && receiving {
            if self.shut_rd && self.orphan {
                // Data for a socket that was closed: Linux answers with a
                // reset (LINUX_MIB_TCPABORTONDATA).
                res.reset = Some(RstReply {
                    seq: seg.ack,
                    ack: None,
                });
                self.fail(TcpError::Reset);
                return;
            }
            let rcv_mss_before = self.rcv_mss;
            // An offloaded super-segment must not stretch the delayed-ACK
            // threshold either.
            self.learn_rcv_mss(payload.len());
            let off = self.rcv_nxt.distance_to(seq);
            if self.dsack_pending.is_none() {
                // RFC 2883 4.1.2-3 (Linux `tcp_data_queue_ofo`): bytes we
                // already hold out of order are a duplicate too.
                self.dsack_overlap(off, payload.len());
            }
            let written = if self.shut_rd {
                // SHUT_RD: accept and discard.
                if off == 0 {
                    payload.len()
                } else {
                    0
                }
            } else if off == 0 && prewritten > 0 && prewritten == payload.len() {
                // Issue 7: copied while the checksum was summed; nothing has
                // touched the ring since (no step before this one writes it).
                prewritten
            } else {
                self.rcv_buf.write_at(off, payload)
            };
            if written < payload.len() {
                // Beyond our buffer: the tail (and any FIN) will come again.
                fin = false;
            }
            if off == 0 && written == 0 {
                // No room at all (a zero window): Linux `tcp_data_queue`
                // drops it (TCPZeroWindowDrop) through `out_of_window`,
                // which enters quick-ACK mode and ACKs at once.
                self.enter_quickack_mode(p);
                self.ack_now = true;
            } else if off == 0 {
                self.note_pushed(payload.len(), rcv_mss_before);
                let had_holes = !self.assembler.is_empty();
                if !self.shut_rd {
                    self.rcv_buf.commit(written);
                }
                let extra = self.assembler.advance(written);
                self.rcv_buf.commit(extra);
                self.rcv_nxt = self.rcv_nxt + (written + extra);
                self.rcv_rtt_measure(now, seg, payload.len());
                if had_holes {
                    // Filled (part of) a hole: ACK at once (RFC 5681 4.2).
                    if self.quickacks == QUICKACK_FIRST {
                        self.first_quickack(p);
                    }
                    self.note_data_rcvd(now, p);
                    self.ack_now = true;
                    self.ack_urgent = true;
                } else {
                    self.schedule_ack(now, p);
                }
            } else {
                if written > 0 && self.assembler.add(off, written).is_err() {
                    fin = false;
                }
                self.last_ooo = seq;
                // Out of order: an immediate duplicate ACK (RFC 5681 4.2).
                self.ack_now = true;
                self.ack_urgent = true;
            }
            if fin {
                self.rcv_fin = Some(seq + payload.len());
            }
        } else if fin && receiving {
            self.rcv_fin = Some(seq);
            if seq != self.rcv_nxt {
                // Out of order: an immediate duplicate ACK (RFC 5681 4.2).
                // In order, `take_fin` decides.
                self.ack_now = true;
            }
        } else if fin && !self.fin_received {
            // A FIN in SYN_RECEIVED handled above; other states already have one.
            self.rcv_fin = Some(seq);
        } else if fin {
            self.ack_now = true;
        }
        if self.rcv_fin == Some(self.rcv_nxt) && !self.fin_received {
            self.rcv_fin = None;
            self.take_fin(now, p, owed);
        }
    }

    /// Remember a duplicate `[l, r)` for the next ACK's D-SACK block (RFC
    /// 2883; one per ACK, the first one wins like Linux `tcp_dsack_set`),
    /// and ACK at once.
    fn note_dsack(&mut self, l: SeqNum, r: SeqNum) {
        if !self.sack_ok || !l.lt(r) {
            return;
        }
        if self.dsack_pending.is_none() {
            self.dsack_pending = Some((l, r));
        }
        self.ack_now = true;
        self.ack_urgent = true;
    }

    /// The first part of `[off, off + len)` (offsets from rcv_nxt) that the
    /// assembler already holds, reported as a duplicate.
    fn dsack_overlap(&mut self, off: usize, len: usize) {
        let end = off.saturating_add(len);
        let hit = self
            .assembler
            .ranges()
            .iter()
            .map(|&(a, b)| (a.max(off), b.min(end)))
            .find(|&(a, b)| a < b);
        if let Some((a, b)) = hit {
            self.note_dsack(self.rcv_nxt + a, self.rcv_nxt + b);
        }
    }

    /// In-order data arrived (Linux `tcp_event_data_recv`). The first data
    /// starts quick-ACK mode (`icsk_ack.ato == 0`: `tcp_incr_quickack(sk,
    /// TCP_MAX_QUICKACKS)`, so the count depends on the window, as after a
    /// gap; `quickacks` holds `QUICKACK_FIRST` until then, resolved by
    /// `first_quickack`). After a silence longer than the RTO the sender is
    /// restarting (RFC 5681 4.1), so its next segments are ACKed at once
    /// rather than every second one or after the delayed-ACK timer. The RTO
    /// is Linux's `icsk_rto`, backoff included (`Connection::icsk_rto`).
    #[inline]
    pub(super) fn note_data_rcvd(&mut self, now: Instant, p: &Profile) {
        // Truncation to 32 bits wraps like Linux's jiffies.
        let ms = now.total_millis() as u32;
        let gap = ms.wrapping_sub(self.lrcv_ms);
        self.lrcv_ms = ms;
        // `gap > icsk_rto` in whole milliseconds, without a division.
        if u64::from(gap) * 1000 > self.icsk_rto().total_micros() {
            self.incr_quickack(p);
        }
    }

    /// The first data segment (`quickacks == QUICKACK_FIRST`, Linux
    /// `icsk_ack.ato == 0`): the start count, `tcp_incr_quickack`.
    #[inline(never)]
    fn first_quickack(&mut self, p: &Profile) {
        self.quickacks = 0;
        self.incr_quickack(p);
    }

    /// Linux `icsk_rto`: the RTO with the retransmission timer's backoff
    /// (`tcp_retransmit_timer` doubles `icsk_rto`; the next RTT sample
    /// resets it, `tcp_ack_update_rtt` -> `tcp_set_rto`). The idle checks
    /// (`note_data_rcvd`, `idle_restart_check`) compare against it.
    #[inline(always)]
    pub(crate) fn icsk_rto(&self) -> Duration {
        if self.backoff == 0 {
            self.rtt.rto()
        } else {
            self.rtt.backed_off(self.backoff)
        }
    }

    /// Linux `tcp_incr_quickack`: half the advertised window in segments
    /// (at least two), at most `Profile::quickacks`; never lowers the count.
    fn incr_quickack(&mut self, p: &Profile) {
        let wnd = self.rcv_wup.distance_to(self.rcv_adv);
        let n = wnd.checked_div(2 * self.rcv_mss).unwrap_or(0);
        let n = u16::try_from(n)
            .unwrap_or(u16::MAX)
            .max(2)
            .min(p.quickack_cap());
        self.quickacks = self.quickacks.max(n);
    }

    /// Linux `tcp_enter_quickack_mode`: more quick ACKs, and out of
    /// ping-pong mode (a zero-window drop, a duplicate whose ACK was lost).
    fn enter_quickack_mode(&mut self, p: &Profile) {
        self.incr_quickack(p);
        self.pingpong = false;
    }

    /// Data goes out (Linux `tcp_event_data_sent`): sent within `ato` of
    /// the last data received, it is a reply, so the exchange is
    /// interactive and ping-pong mode begins: the peer's next data is ACKed
    /// after the delayed-ACK time, usually on our next reply, not at once.
    /// `ato` is `delack_min` once data has arrived (Linux starts it at
    /// `TCP_ATO_MIN` and adapts it; sockstack keeps it fixed) and zero
    /// before, so a pure sender never enters it. One compare on the bulk
    /// sender's path. Called for the send path's data segments (new, or
    /// resent after an RTO rewinds `snd_nxt`), not for `retransmit`'s
    /// fast, SACK and probe resends (Linux counts every data segment).
    #[inline(always)]
    pub(super) fn note_data_sent(&mut self, now: Instant, p: &Profile) {
        if !self.pingpong && self.quickacks != QUICKACK_FIRST {
            let since = (now.total_millis() as u32).wrapping_sub(self.lrcv_ms);
            self.pingpong = u64::from(since) < p.delack_min.total_millis();
        }
    }

    /// Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2) with Linux's quick-ACK
    /// start and restart (`note_data_rcvd`).
    #[inline]
    pub(super) fn schedule_ack(&mut self, now: Instant, p: &Profile) {
        if self.quickacks == QUICKACK_FIRST {
            self.first_quickack(p);
        }
        self.note_data_rcvd(now, p);
        if self.quickacks > 0 && !self.pingpong {
            self.quickacks -= 1;
            self.ack_now = true;
        } else {
            self.ack_full_or_delay(now, p);
        }
    }

    /// The rest of Linux `__tcp_ack_snd_check` once no quick ACK is due:
    /// more than one full segment unacknowledged ACKs now, anything less
    /// waits for the delayed-ACK timer.
    #[inline]
    fn ack_full_or_delay(&mut self, now: Instant, p: &Profile) {
        if self.rcv_wup.distance_to(self.rcv_nxt) > self.rcv_mss {
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(now + p.delack_min);
        }
    }

    /// The eighth step: our peer finished sending (RFC 9293 3.10.7.4).
    ///
    /// The ACK: Linux `tcp_fin` sends one at once from FIN_WAIT_1 and
    /// FIN_WAIT_2 (`tcp_send_ack`), but on the way to CLOSE_WAIT it enters
    /// ping-pong mode, which turns quick ACKs off, so `__tcp_ack_snd_check`
    /// delays it unless an immediate reason holds: more than one full
    /// segment unacknowledged, or an `ICSK_ACK_NOW` one (a filled gap, a
    /// duplicate: `ack_urgent` here). The delayed ACK usually rides on the
    /// application's own FIN, as on the wire between two Linux hosts (a
    /// request, its response, then FIN / FIN-ACK / ACK). `owed`: an ACK
    /// was already due before this segment, or the FIN waited out of order
    /// (it goes at once).
    fn take_fin(&mut self, now: Instant, p: &Profile, owed: bool) {
        self.rcv_nxt = self.rcv_nxt + 1;
        self.fin_received = true;
        self.ack_now = true;
        match self.state {
            State::SynReceived | State::Established => {
                self.state = State::CloseWait;
                self.pingpong = true;
                if !(owed || self.ack_urgent) {
                    self.ack_now = false;
                    self.ack_full_or_delay(now, p);
                }
            }
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now, p);
                } else {
                    // Simultaneous close.
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(now, p),
            _ => {}
        }
    }
}

/// RFC 9293 3.10.7.4: the segment acceptability test against a receive
/// window of `wnd` bytes from `rcv_nxt` (connections and TIME_WAIT records).
pub(crate) fn acceptable(rcv_nxt: SeqNum, wnd: usize, seg: &TcpRepr<'_>) -> bool {
    let len = seg.segment_len();
    let end = rcv_nxt + wnd;
    match (len, wnd) {
        (0, 0) => seg.seq == rcv_nxt,
        (0, _) => seg.seq.in_range(rcv_nxt, end),
        (_, 0) => false,
        (_, _) => seg.seq.in_range(rcv_nxt, end) || (seg.seq + (len - 1)).in_range(rcv_nxt, end),
    }
}

/// `Connection::quickacks` before the first data segment (Linux
/// `icsk_ack.ato == 0`); `Profile::quickack_cap` stays below it.
pub(crate) const QUICKACK_FIRST: u16 = u16::MAX;

/// Linux `tcp_oow_rate_limited`: whether an ACK to an unacceptable
/// segment may go now (data is always answered); stamps `last` when the
/// rate limit lets it go.
pub(crate) fn oow_ack_allowed(
    last: &mut Option<Instant>,
    now: Instant,
    p: &Profile,
    seg: &TcpRepr<'_>,
) -> bool {
    // Linux `tcp_oow_rate_limited`: a segment that takes sequence space
    // (data or FIN) and is not a SYN is unlikely to be part of an ACK loop.
    let occupies = !seg.payload.is_empty() || seg.flags.fin();
    (occupies && !seg.flags.syn()) || oow_rate_ok(last, now, p)
}

/// At most one rate-limited ACK per `invalid_ratelimit`; stamps `last`
/// when one may go.
fn oow_rate_ok(last: &mut Option<Instant>, now: Instant, p: &Profile) -> bool {
    if last.is_some_and(|t| now - t < p.invalid_ratelimit) {
        return false;
    }
    *last = Some(now);
    true
}

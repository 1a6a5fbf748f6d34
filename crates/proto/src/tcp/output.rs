//! Segment departure: what the connection sends next, if anything.
//!
//! Contract: `Connection::poll_output` returns at most one segment per call
//! and updates the send state as if it went out (the socket layer always
//! sends what it is given). Decisions follow RFC 9293 3.8.6.2 (silly window
//! avoidance), RFC 896 / TCP_NODELAY (Nagle), RFC 5681 (cwnd), RFC 6298
//! (timer start) and RFC 7323 (timestamps on every segment once agreed).
//! Loss repair: with SACK, RFC 6675 (NextSeg while pipe < cwnd, HighRxt),
//! a second pass for lost retransmissions, and the RFC 8985 tail loss
//! probe; without SACK, NewReno (RFC 6582). After an RTO, go-back-N skips
//! what the peer SACKed. D-SACK blocks go first in the next ACK (RFC 2883).

use super::connection::{Connection, OutSegment};
use super::sack::{receiver_blocks, Rule};
use super::{Profile, SeqNum, State};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpRepr, TcpTimestamp};

const FIN: u8 = TcpFlags::FIN;
const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const PSH: u8 = TcpFlags::PSH;

/// Bytes of TCP header for a non-SYN segment with our options.
pub(crate) fn data_header_len(ts: bool) -> usize {
    20 + if ts { 12 } else { 0 }
}

impl Connection {
    /// The next segment to send. `max_payload` bounds the payload (the
    /// caller's buffer minus headers; above one MSS only under TSO, tso.rs).
    pub(crate) fn poll_output(
        &mut self,
        now: Instant,
        p: &Profile,
        max_payload: usize,
    ) -> Option<OutSegment> {
        self.poll_output_with(now, p, max_payload, true)
    }

    /// `poll_output` without the bulk straight path (tests compare the two).
    #[cfg(test)]
    pub(crate) fn poll_output_general(
        &mut self,
        now: Instant,
        p: &Profile,
        max_payload: usize,
    ) -> Option<OutSegment> {
        self.poll_output_with(now, p, max_payload, false)
    }

    #[inline(always)]
    fn poll_output_with(
        &mut self,
        now: Instant,
        p: &Profile,
        max_payload: usize,
        bulk: bool,
    ) -> Option<OutSegment> {
        // The fuzz differential's twin runs the general path (fuzz/README.md).
        #[cfg(fuzzing)]
        let bulk = bulk && !p.fuzz_slow_path_only;
        // A connection with less than one MSS buffered (every segment of a
        // request-response exchange) never takes the straight path: asked
        // first, that answers before `bulk_ready`'s reads and `poll_bulk`'s
        // window arithmetic.
        if bulk && self.may_fill_a_segment(max_payload) && self.bulk_ready() {
            if let Some(seg) = self.poll_bulk(now, p, max_payload) {
                return Some(seg);
            }
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => {
                if self.snd_nxt == self.iss {
                    Some(self.send_syn(now, p, false))
                } else {
                    None
                }
            }
            State::SynReceived => {
                if self.snd_nxt == self.iss {
                    Some(self.send_syn(now, p, true))
                } else if self.ack_now {
                    Some(self.send_ack(now, self.snd_max))
                } else {
                    None
                }
            }
            State::TimeWait => {
                if self.ack_now {
                    Some(self.send_ack(now, self.snd_max))
                } else {
                    None
                }
            }
            // A pure ACK or nothing (every ACK of a request-response
            // exchange): `poll_data`'s decision without its arithmetic.
            _ if bulk && self.only_control_due() => self.poll_control(now),
            _ => self.poll_data(now, p, max_payload),
        }
    }

    /// Whether `poll_data` comes straight to `poll_control`: nothing to
    /// repair or probe (no fast retransmit, tail loss probe or SACK
    /// recovery), `snd_nxt` not rewound, no unsent data and no FIN to send
    /// (`poll_data`'s `fin_now`: a FIN wanted at the end of the data).
    /// Then its segment length is 0, its persist check needs unsent data,
    /// and nothing it computes on the way changes the connection.
    #[inline(always)]
    fn only_control_due(&self) -> bool {
        let off = self.snd_una.distance_to(self.snd_nxt);
        let buffered = self.snd_buf.len();
        let fin_wanted = self.fin_queued && !self.fin_acked();
        !(self.fast_rtx | self.tlp_pending | self.sack_recovery)
            && self.snd_nxt == self.snd_max
            && buffered <= off
            && !(fin_wanted && off == buffered)
    }

    /// SYN or SYN-ACK with options in Linux's order: mss, sackOK, TS, nop, wscale.
    fn send_syn(&mut self, now: Instant, p: &Profile, with_ack: bool) -> OutSegment {
        let flags = if with_ack { SYN | ACK } else { SYN };
        let mut repr = self.header(self.iss, flags);
        repr.mss = Some(self.adv_mss);
        // A SYN-ACK only echoes options the peer offered (RFC 7323, RFC 2018).
        let (sack, ts, ws) = if with_ack {
            (self.sack_ok, self.ts_ok, self.wscale_ok)
        } else {
            (p.sack, p.timestamps, p.window_scaling)
        };
        repr.sack_permitted = sack;
        if ts {
            let tsval = self.tsval(now);
            if with_ack {
                self.note_synack_tsval(tsval);
            }
            repr.timestamp = Some(TcpTimestamp {
                tsval,
                tsecr: if with_ack { self.ts_recent } else { 0 },
            });
        }
        if ws {
            repr.window_scale = Some(p.window_scale());
        }
        if !with_ack {
            repr.ack = SeqNum(0);
        }
        // The window in a SYN is never scaled (RFC 7323 2.2).
        let wnd = self.rcv_buf.free().min(0xffff);
        repr.window = wnd as u16;
        if with_ack {
            self.rcv_adv = self.rcv_nxt + wnd;
            self.acked_now();
        }
        let retransmit = self.snd_max.gt(self.iss);
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if retransmit {
            self.total_retrans += 1;
            self.rtt_seq = None;
        } else {
            self.rtt_seq = Some((self.snd_nxt, now));
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
        }
        OutSegment {
            repr,
            data_off: 0,
            data_len: 0,
        }
    }

    /// Fill in ACK, window and timestamp for a non-SYN segment and note that
    /// an ACK went out.
    #[inline(always)]
    fn finish(&mut self, now: Instant, repr: &mut TcpRepr<'static>) {
        repr.ack = self.rcv_nxt;
        repr.window = self.select_window();
        self.fill_sack(repr);
        if self.ts_ok {
            repr.timestamp = Some(TcpTimestamp {
                tsval: self.tsval(now),
                tsecr: self.ts_recent,
            });
        }
        self.acked_now();
    }

    /// How many SACK blocks the next segment carries (RFC 2018 3: three fit
    /// beside timestamps, four without), a pending D-SACK included.
    #[inline]
    pub(crate) fn sack_count(&self) -> usize {
        // In order (the common case): no blocks, whatever was agreed.
        let n = self.assembler.ranges().len() + usize::from(self.dsack_pending.is_some());
        if n == 0 || !self.sack_ok {
            return 0;
        }
        n.min(if self.ts_ok { 3 } else { 4 })
    }

    /// Option bytes the SACK blocks take.
    #[inline]
    pub(crate) fn sack_option_len(&self) -> usize {
        match self.sack_count() {
            0 => 0,
            n => 4 + 8 * n,
        }
    }

    /// RFC 2883 4: a pending D-SACK block first; then RFC 2018 4: the block
    /// holding the most recent segment, then the blocks reported most
    /// recently, then the others (`sack::receiver_blocks`).
    #[inline(always)]
    fn fill_sack(&mut self, repr: &mut TcpRepr<'static>) {
        // In order (every bulk segment): nothing to add, no call.
        let n = self.sack_count();
        if n != 0 {
            self.write_sack(repr, n);
        }
    }

    /// `fill_sack` for `n` > 0 blocks.
    fn write_sack(&mut self, repr: &mut TcpRepr<'static>, n: usize) {
        let base = self.rcv_nxt;
        let ooo = self
            .assembler
            .ranges()
            .iter()
            .map(move |&(a, b)| (base + a, base + b));
        let latest = Some((self.last_ooo, self.last_ooo + 1));
        let out = receiver_blocks(
            ooo,
            latest,
            self.sack_sent.sack_part(),
            self.dsack_pending.take(),
            n,
        );
        for (slot, &b) in repr.sack_blocks.iter_mut().zip(out.as_slice()) {
            *slot = b;
        }
        repr.sack_len = out.len;
        if out.dsack {
            self.loss.dsack_tx += 1;
        }
        self.sack_sent = out;
    }

    fn acked_now(&mut self) {
        self.ack_now = false;
        self.ack_urgent = false;
        self.delack_at = None;
        self.pushed = 0;
        self.rcv_wup = self.rcv_nxt;
    }

    /// The pending immediate ACK as a bare segment, taken out before the
    /// next segment of a batch is processed (RFC 5681 4.2: one duplicate
    /// ACK per out-of-order segment, as Linux, whose GRO never merges
    /// across a hole, sends). None when no such ACK is pending.
    pub(crate) fn take_urgent_ack(&mut self, now: Instant) -> Option<TcpRepr<'static>> {
        if !(self.ack_now && self.ack_urgent && self.state.is_synchronized()) {
            return None;
        }
        Some(self.send_ack(now, self.snd_max).repr)
    }

    /// A bare ACK. Pure ACKs carry `snd_max`, not a rewound `snd_nxt`: after
    /// a go-back-N rewind an older sequence number would be unacceptable to
    /// the peer (RFC 9293 3.10.7.4) and its ACK field ignored (Linux uses
    /// `tcp_acceptable_seq` for the same reason).
    fn send_ack(&mut self, now: Instant, seq: SeqNum) -> OutSegment {
        let mut repr = self.header(seq, ACK);
        self.finish(now, &mut repr);
        OutSegment {
            repr,
            data_off: 0,
            data_len: 0,
        }
    }

    /// The window field to advertise; records the new right edge. Receiver
    /// SWS avoidance (RFC 9293 3.8.6.2.2) and never shrinking the window
    /// (RFC 9293 3.8.6, rounding up to the scale like Linux `tcp_select_window`).
    pub(crate) fn select_window(&mut self) -> u16 {
        let cap = self.rcv_buf.capacity();
        let free = if self.shut_rd {
            cap
        } else {
            self.rcv_buf.free()
        };
        let cur = self.rcv_nxt.distance_to(self.rcv_adv);
        let sws = (cap / 2).min(usize::from(self.adv_mss));
        let mut wnd = if free > cur && free - cur < sws {
            cur
        } else {
            free
        };
        wnd = wnd.max(cur);
        // Round DOWN to the scale unit so the promise never exceeds the free
        // space (every promised byte must fit). The field may then describe an
        // edge up to 2^shift - 1 bytes left of the one already promised: that
        // is the truncation RFC 7323 2.4 tells senders to expect, and we keep
        // honouring the old edge (`rcv_adv` never moves left, RFC 9293 3.8.6).
        let shift = self.rcv_wscale;
        let mut field = wnd >> shift;
        // Keep the edge already promised when its rounded-up form still fits
        // in the buffer, so a window does not shrink by truncation alone.
        if (field << shift) < cur && ((field + 1) << shift) <= free {
            field += 1;
        }
        let field = field.min(0xffff);
        let edge = self.rcv_nxt + (field << shift);
        if edge.gt(self.rcv_adv) {
            self.rcv_adv = edge;
        }
        field as u16
    }

    /// ESTABLISHED with at least one MSS (bounded by `max_payload`)
    /// buffered: without it `poll_bulk` returns None (its segment is never
    /// longer than the unsent bytes, `segment_len`, which are at most the
    /// buffered ones).
    #[inline(always)]
    fn may_fill_a_segment(&self, max_payload: usize) -> bool {
        self.state == State::Established && self.snd_buf.len() >= self.snd_mss.min(max_payload)
    }

    /// Whether `poll_bulk` may decide the next segment: ESTABLISHED with
    /// nothing to repair, probe, close or SACK (every rule of `poll_data`
    /// but new data within the windows is idle), no duplicate ACKs (no
    /// RFC 3042 allowance), nothing rewound.
    #[inline(always)]
    pub(crate) fn bulk_ready(&self) -> bool {
        self.state == State::Established
            && !(self.fast_rtx
                | self.tlp_pending
                | self.sack_recovery
                | self.probe_pending
                | self.fin_queued)
            && self.snd_nxt == self.snd_max
            && self.dupacks == 0
            && self.assembler.is_empty()
            && self.dsack_pending.is_none()
            && self.scoreboard.is_empty()
    }

    /// Whether a poll now, with this `max_payload`, would return None and
    /// change nothing because the windows hold less than one MSS while data
    /// is in flight: a bulk sender that just filled them. Then `poll_bulk`
    /// finds no full segment, and so does `poll_data` (no repair, probe,
    /// rewind or FIN by `bulk_ready`; its segment is at most the usable
    /// window; Nagle holds a partial one while data is in flight; the
    /// persist timer is for an empty flight), and `poll_control` owes no
    /// ACK. The ACK that opens the windows queues the socket again. Out of
    /// line: asked once per segment that leaves more to send, and inline it
    /// cost conn-rate instructions.
    #[inline(never)]
    pub(crate) fn window_bound(&self, max_payload: usize) -> bool {
        let off = self.snd_una.distance_to(self.snd_nxt);
        off > 0
            && !(self.nodelay | self.ack_now)
            && self.bulk_ready()
            // `poll_data`'s MSS, and its usable window under `bulk_ready`
            // (no limited transmit; the flight is `off`).
            && self.usable_window(off) < self.data_mss(max_payload)
    }

    /// The payload room of one segment as `poll_data` sizes it: the MSS
    /// less the SACK blocks it would carry (Linux `tcp_current_mss`),
    /// within `max_payload`, at least 1.
    #[inline(always)]
    fn data_mss(&self, max_payload: usize) -> usize {
        self.snd_mss
            .saturating_sub(self.sack_option_len())
            .min(max_payload)
            .max(1)
    }

    /// New bytes both windows allow with `off` bytes in flight (RFC 5681:
    /// within cwnd and the peer's window).
    #[inline(always)]
    fn usable_window(&self, off: usize) -> usize {
        self.snd_wnd
            .saturating_sub(off)
            .min(self.cc.cwnd.saturating_sub(off))
    }

    /// The bulk sender's straight path (Linux `tcp_write_xmit` with nothing
    /// to repair), for a connection where `bulk_ready` holds: the next
    /// segment when at least one full MSS of new data fits both windows,
    /// else None with nothing changed (`poll_data` then decides). Makes
    /// exactly `poll_data`'s decision and state changes for this case: no
    /// SACK blocks (full MSS), flight = bytes in flight (empty scoreboard),
    /// no limited transmit (no duplicate ACKs), no FIN, not a retransmission,
    /// a full segment passes Nagle and SWS avoidance (RFC 9293 3.8.6.2.1).
    /// Test: tcp/tests/fastpath.rs runs a twin on `poll_output_general`.
    #[inline(always)]
    pub(super) fn poll_bulk(
        &mut self,
        now: Instant,
        p: &Profile,
        max_payload: usize,
    ) -> Option<OutSegment> {
        let mss = self.snd_mss.min(max_payload).max(1);
        let buffered = self.snd_buf.len();
        let off = self.snd_una.distance_to(self.snd_nxt);
        let unsent = buffered.saturating_sub(off);
        let usable = self.usable_window(off);
        let len = self.segment_len(unsent, usable, mss, max_payload, off);
        if len < mss {
            return None;
        }
        let flags = if off + len == buffered {
            ACK | PSH
        } else {
            ACK
        };
        let seq = self.snd_nxt;
        let mut repr = self.header(seq, flags);
        // No SACK block to add: `bulk_ready` saw none pending.
        self.finish(now, &mut repr);
        self.snd_nxt = seq + len;
        if self.rtt_seq.is_none() && self.backoff == 0 {
            self.rtt_seq = Some((self.snd_nxt, now));
        }
        self.snd_max = self.snd_nxt;
        if self.rto_at.is_none() {
            // RFC 6298 5.1
            self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
        }
        self.persist_at = None;
        // RFC 8985 7.2: new data (re)arms the probe timeout.
        self.arm_tlp(now, p);
        self.cc.on_data_sent(now, off);
        self.note_data_sent(now, p);
        Some(OutSegment {
            repr,
            data_off: off,
            data_len: len,
        })
    }

    /// ESTABLISHED and later: retransmission, new data, FIN, probes, ACKs.
    fn poll_data(&mut self, now: Instant, p: &Profile, max_payload: usize) -> Option<OutSegment> {
        // SACK blocks take room from the payload, as in Linux `tcp_current_mss`.
        let mss = self.data_mss(max_payload);
        let buffered = self.snd_buf.len();
        let fin_done = self.fin_acked();
        let data_end = self.snd_una + buffered;
        let fin_wanted = self.fin_queued && !fin_done;

        if self.fast_rtx {
            // Fast retransmit / partial ACK: resend the head (RFC 5681 3.2,
            // RFC 6675 5 (4.3)).
            self.fast_rtx = false;
            // Only bytes sent before: never stretch past snd_max here, nor
            // into data the peer SACKed.
            let mut sent = self.snd_una.distance_to(self.snd_max).min(buffered);
            if self.sack_ok {
                if let Some(l) = self.scoreboard.next_sacked_after(self.snd_una) {
                    sent = sent.min(self.snd_una.distance_to(l));
                }
            }
            let len = sent.min(mss);
            if len > 0 || (fin_wanted && self.snd_max.gt(self.snd_una)) {
                self.loss.fast_retrans += 1;
                if self.sack_recovery {
                    self.high_rxt = self.high_rxt.max(self.snd_una + len);
                }
                return Some(self.retransmit(now, self.snd_una, len, fin_wanted));
            }
        }

        // RFC 8985 7.3: the tail loss probe: new data if the peer's window
        // allows (cwnd does not apply), else the last segment again.
        let mut tlp_new = false;
        if self.tlp_pending {
            self.tlp_pending = false;
            let off = self.snd_una.distance_to(self.snd_nxt);
            if buffered > off && self.snd_wnd > off && self.snd_nxt == self.snd_max {
                tlp_new = true;
            } else if let Some(seg) = self.probe_last(now, mss, data_end, fin_wanted) {
                return Some(seg);
            }
        }

        if self.sack_recovery {
            // RFC 6675 5 (C): while cwnd - pipe >= 1 SMSS, send NextSeg.
            let pipe = self.pipe();
            if self.cc.cwnd.saturating_sub(pipe) < self.snd_mss {
                return self.poll_control(now);
            }
            if let Some(seg) = self.resend_lost_retransmission(now, mss, data_end, buffered) {
                return Some(seg);
            }
            let off = self.snd_una.distance_to(self.snd_max);
            let room = self.snd_wnd.saturating_sub(off);
            let unsent = buffered > off && room > 0 && self.snd_nxt == self.snd_max;
            let next = self.scoreboard.next_seg(
                self.snd_una,
                self.snd_max,
                self.high_rxt,
                self.snd_mss,
                unsent,
            );
            match next {
                Some(ns) if ns.rule != Rule::NewData => {
                    let avail = ns
                        .seq
                        .distance_to(data_end)
                        .min(buffered)
                        .min(ns.len)
                        .min(mss);
                    let fin = fin_wanted
                        && self.fin_seq == Some(ns.seq + avail)
                        && (ns.seq + avail).lt(ns.seq + ns.len);
                    if avail > 0 || fin {
                        self.high_rxt = self.high_rxt.max(ns.seq + (avail + usize::from(fin)));
                        self.loss.sack_retrans += 1;
                        return Some(self.retransmit(now, ns.seq, avail, fin));
                    }
                    return self.poll_control(now);
                }
                // Rule 2 (new data), or nothing to repair: the ordinary path
                // below sends new data or a FIN within cwnd - pipe.
                _ => {}
            }
        }

        if self.sack_ok && self.snd_nxt.lt(self.snd_max) {
            // Go-back-N after an RTO: never resend what the peer SACKed
            // (RFC 6675 5.1, Linux keeps the SACK marks across an RTO).
            if let Some(end) = self.scoreboard.sacked_end(self.snd_nxt) {
                self.snd_nxt = end.min(self.snd_max);
            }
        }
        let off = self.snd_una.distance_to(self.snd_nxt);
        let unsent = buffered.saturating_sub(off);
        let in_flight = self.in_flight();
        let flight = self.flight();
        // RFC 3042 limited transmit: the first two duplicate ACKs each let
        // one new segment out beyond cwnd (never beyond the peer's window).
        // With SACK the SACKed bytes already leave the flight estimate.
        let limited = if self.cc.recover.is_none() && flight == in_flight {
            self.dupacks.min(2) as usize * self.snd_mss
        } else {
            0
        };
        let usable = if tlp_new {
            self.snd_wnd.saturating_sub(in_flight)
        } else {
            self.snd_wnd
                .saturating_sub(in_flight)
                .min((self.cc.cwnd + limited).saturating_sub(flight))
        };
        // Several MSS in one segment when the link segments them (tso.rs);
        // a tail loss probe is one segment (RFC 8985 7.3).
        let mut len = self.segment_len(unsent, usable, mss, max_payload, in_flight);
        if tlp_new {
            len = len.min(mss);
        }
        // A resent piece that ends where SACKed data begins is as big as it
        // can be: not a silly window, so Nagle and SWS avoidance let it go.
        let mut to_edge = false;
        if self.sack_ok && self.snd_nxt.lt(self.snd_max) {
            if let Some(l) = self.scoreboard.next_sacked_after(self.snd_nxt) {
                let edge = self.snd_nxt.distance_to(l);
                len = len.min(edge);
                to_edge = len > 0 && len == edge;
            }
        }
        let at_data_end = off + len == buffered;
        let fin_now = fin_wanted && at_data_end && self.snd_nxt.le(data_end);

        let send_data = len > 0 && {
            // Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 896).
            let full = len >= mss;
            let nagle_ok = self.nodelay || in_flight == 0 || fin_now;
            let big = self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2;
            // (d) the override timeout: the persist timer fired on a small window.
            full || to_edge
                || tlp_new
                || (at_data_end && nagle_ok)
                || (big && nagle_ok)
                || self.probe_pending
        };
        if send_data || (fin_now && len == 0) {
            let mut flags = ACK;
            if at_data_end && len > 0 {
                flags |= PSH;
            }
            if fin_now {
                flags |= FIN;
            }
            let seq = self.snd_nxt;
            let mut repr = self.header(seq, flags);
            self.finish(now, &mut repr);
            let is_retransmit = seq.lt(self.snd_max);
            self.cc.on_data_sent(now, in_flight);
            if len > 0 {
                self.note_data_sent(now, p);
            }
            self.snd_nxt = seq + len;
            if fin_now {
                self.fin_seq = Some(self.snd_nxt);
                self.snd_nxt = self.snd_nxt + 1;
            }
            if is_retransmit {
                self.total_retrans += 1;
                // Karn: never time a retransmitted segment (RFC 6298 3).
                if matches!(self.rtt_seq, Some((end, _)) if end.gt(seq)) {
                    self.rtt_seq = None;
                }
            } else if self.rtt_seq.is_none() && self.backoff == 0 {
                self.rtt_seq = Some((self.snd_nxt, now));
            }
            self.snd_max = self.snd_max.max(self.snd_nxt);
            if self.rto_at.is_none() {
                // RFC 6298 5.1
                self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
            }
            self.persist_at = None;
            self.probe_pending = false;
            if tlp_new {
                self.tlp_sent(false);
                self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
            } else if !is_retransmit {
                // RFC 8985 7.2: new data (re)arms the probe timeout.
                self.arm_tlp(now, p);
            }
            return Some(OutSegment {
                repr,
                data_off: off,
                data_len: len,
            });
        }

        // Data waits on a closed window with nothing in flight: the persist
        // timer probes it (RFC 9293 3.8.6.1).
        if unsent > 0 && in_flight == 0 && usable < unsent.min(mss) && self.persist_at.is_none() {
            let when = self.rtt.backed_off(self.persist_backoff);
            self.persist_at = Some(now + when);
        }
        self.poll_control(now)
    }

    /// Nothing (more) to send with data: a window probe or an ACK if due.
    fn poll_control(&mut self, now: Instant) -> Option<OutSegment> {
        if self.probe_pending {
            // Linux `tcp_xmit_probe_skb`: an old sequence number makes the
            // peer answer with an ACK carrying its current window.
            self.probe_pending = false;
            return Some(self.send_ack(now, self.snd_una - 1));
        }
        if self.ack_now {
            return Some(self.send_ack(now, self.snd_max));
        }
        None
    }

    /// Resend `len` bytes from `seq` (below snd_max), with FIN when `fin`
    /// and the FIN follows them.
    pub(super) fn retransmit(
        &mut self,
        now: Instant,
        seq: SeqNum,
        len: usize,
        fin: bool,
    ) -> OutSegment {
        let fin = fin && self.fin_seq == Some(seq + len);
        let mut flags = ACK;
        if fin {
            flags |= FIN;
        }
        let mut repr = self.header(seq, flags);
        self.finish(now, &mut repr);
        self.cc.on_data_sent(now, self.in_flight());
        self.total_retrans += 1;
        if self.sack_recovery && seq == self.snd_una {
            self.head_rtx = Some((seq, self.snd_max));
        }
        // Karn: the timed segment is ambiguous once resent (RFC 6298 3).
        if matches!(self.rtt_seq, Some((end, _)) if end.gt(seq)) {
            self.rtt_seq = None;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
        }
        OutSegment {
            repr,
            data_off: self.snd_una.distance_to(seq),
            data_len: len,
        }
    }
}

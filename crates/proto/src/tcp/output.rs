//! Segment departure: what the connection sends next, if anything.
//!
//! Contract: `Connection::poll_output` returns at most one segment per call
//! and updates the send state as if it went out (the socket layer always
//! sends what it is given). Decisions follow RFC 9293 3.8.6.2 (silly window
//! avoidance), RFC 896 / TCP_NODELAY (Nagle), RFC 5681 (cwnd), RFC 6298
//! (timer start) and RFC 7323 (timestamps on every segment once agreed).

use super::connection::{Connection, OutSegment};
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
            _ => self.poll_data(now, max_payload),
        }
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
            repr.timestamp = Some(TcpTimestamp {
                tsval: self.tsval(now),
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
    /// beside timestamps, four without).
    pub(crate) fn sack_count(&self) -> usize {
        if !self.sack_ok {
            return 0;
        }
        self.assembler
            .ranges()
            .len()
            .min(if self.ts_ok { 3 } else { 4 })
    }

    /// Option bytes the SACK blocks take.
    pub(crate) fn sack_option_len(&self) -> usize {
        match self.sack_count() {
            0 => 0,
            n => 4 + 8 * n,
        }
    }

    /// RFC 2018 4: the block holding the most recent segment first, then
    /// the others in order.
    fn fill_sack(&self, repr: &mut TcpRepr<'static>) {
        let n = self.sack_count();
        if n == 0 {
            return;
        }
        let recent = self.rcv_nxt.distance_to(self.last_ooo);
        let ranges = self.assembler.ranges();
        let first = ranges.iter().position(|&(a, b)| a <= recent && recent < b);
        let order = first
            .into_iter()
            .chain((0..ranges.len()).filter(|&i| Some(i) != first));
        let mut k = 0;
        for i in order.take(n) {
            if let (Some(&(a, b)), Some(slot)) = (ranges.get(i), repr.sack_blocks.get_mut(k)) {
                *slot = (self.rcv_nxt + a, self.rcv_nxt + b);
                k += 1;
            }
        }
        repr.sack_len = k;
    }

    fn acked_now(&mut self) {
        self.ack_now = false;
        self.delack_at = None;
        self.rcv_wup = self.rcv_nxt;
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

    /// ESTABLISHED and later: retransmission, new data, FIN, probes, ACKs.
    fn poll_data(&mut self, now: Instant, max_payload: usize) -> Option<OutSegment> {
        // SACK blocks take room from the payload, as in Linux `tcp_current_mss`.
        let mss = self
            .snd_mss
            .saturating_sub(self.sack_option_len())
            .min(max_payload)
            .max(1);
        let buffered = self.snd_buf.len();
        let fin_done = self.fin_acked();
        let data_end = self.snd_una + buffered;
        let fin_wanted = self.fin_queued && !fin_done;

        if self.fast_rtx {
            // Fast retransmit / partial ACK: resend the head (RFC 5681 3.2).
            self.fast_rtx = false;
            // Only bytes sent before: never stretch past snd_max here.
            let sent = self.snd_una.distance_to(self.snd_max).min(buffered);
            let len = sent.min(mss);
            if len > 0 || (fin_wanted && self.snd_max.gt(self.snd_una)) {
                let fin = fin_wanted && len == buffered && self.fin_seq.is_some();
                let mut flags = ACK;
                if fin {
                    flags |= FIN;
                }
                let mut repr = self.header(self.snd_una, flags);
                self.finish(now, &mut repr);
                self.total_retrans += 1;
                self.rtt_seq = None;
                if self.rto_at.is_none() {
                    self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
                }
                return Some(OutSegment {
                    repr,
                    data_off: 0,
                    data_len: len,
                });
            }
        }

        let off = self.snd_una.distance_to(self.snd_nxt);
        let unsent = buffered.saturating_sub(off);
        let in_flight = self.in_flight();
        // RFC 3042 limited transmit: the first two duplicate ACKs each let
        // one new segment out beyond cwnd (never beyond the peer's window).
        let limited = if self.cc.recover.is_none() {
            self.dupacks.min(2) as usize * self.snd_mss
        } else {
            0
        };
        let limit = self.snd_wnd.min(self.cc.cwnd + limited);
        let usable = limit.saturating_sub(in_flight);
        // Several MSS in one segment when the link segments them (tso.rs).
        let len = self.segment_len(unsent, usable, mss, max_payload, in_flight);
        let at_data_end = off + len == buffered;
        let fin_now = fin_wanted && at_data_end && self.snd_nxt.le(data_end);

        let send_data = len > 0 && {
            // Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 896).
            let full = len >= mss;
            let nagle_ok = self.nodelay || in_flight == 0 || fin_now;
            let big = self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2;
            // (d) the override timeout: the persist timer fired on a small window.
            full || (at_data_end && nagle_ok) || (big && nagle_ok) || self.probe_pending
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
}

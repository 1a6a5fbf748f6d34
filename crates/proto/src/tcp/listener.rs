//! A listening socket's queues (Linux semantics, see REFERENCES.md).
//!
//! Contract: the SYN queue holds half-open children (SYN_RECV) up to
//! `syn_cap`; the accept queue holds established children, at most
//! `backlog + 1` of them (Linux `sk_acceptq_is_full` is `>`), with the
//! backlog capped by somaxconn. Children are socket handles owned by the
//! socket layer; the listener only remembers them.
//!
//! A full SYN queue does not stop new connections when SYN cookies are on:
//! the listener answers statelessly (`tcp/syncookie.rs`) and only notes when
//! it last did so, so cookie ACKs are checked only while that is recent.
//!
//! A half-open child (passive SYN_RECEIVED) judges a segment first as a
//! Linux request sock does (`Connection::check_req`, Linux `tcp_check_req`
//! in `net/ipv4/tcp_minisocks.c`), which differs from a synchronized
//! connection's `tcp_validate_incoming` in four ways a peer can see: PAWS
//! has no one-tick window, also judges resets (`TCP_PAWS_MSL` rule) and
//! SYNs; a wrong ACK number is reset before PAWS and the window are
//! checked (a reset carrying one is dropped); a SYN anywhere in the window
//! ends the child with a reset (no RFC 5961 challenge ACK); and the SYN-ACK
//! answering a retransmitted SYN is rate-limited like any out-of-window
//! ACK. A reset that passes PAWS goes on to the synchronized path: at
//! `rcv_nxt` it ends the child, elsewhere in the window it gets a challenge
//! ACK (RFC 5961 3.2), as Linux 6.18 does on the wire (kernel test
//! `kernel_syn_recv_paws_and_resets`: `TCPChallengeACK` + 1, the request
//! lives on), although the `tcp_check_req` text of older kernels resets
//! the request on any reset in the window.
//!
//! With timestamps, a non-zero TSecr must echo the TSval of one of our
//! SYN-ACKs, from the first to the latest (Linux 6.15+ `tsecr_reject`,
//! `TSEcrRejected`); any other is "send ACK and drop" like a PAWS failure.

use std::collections::{HashSet, VecDeque};

use super::connection::{Connection, RstReply};
use super::input::{oow_ack_allowed, InputResult, Note};
use super::paws::paws_reject_req;
use super::{Profile, State};
use crate::sockets::SocketHandle;
use crate::storage::HashKey;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

/// Linux `TCP_SYNCOOKIE_VALID`: ACKs are checked as cookies only this long
/// after the SYN queue last overflowed (`tcp_synq_no_recent_overflow`).
const SYNCOOKIE_VALID: Duration = Duration::from_secs(120);

/// The half-open children of a listener (Linux keeps request socks in the
/// established hash and counts them in `qlen`): a hash set, so a child
/// joins and leaves in a few instructions with no allocation once the
/// table has grown (a B-tree set allocated a node every few children).
/// Closing the listener takes them in handle order (`into_sorted`), the
/// order the B-tree gave, so the resets stay replayable.
#[derive(Debug, Clone, Default)]
pub(crate) struct SynQueue(HashSet<SocketHandle, HashKey>);

impl SynQueue {
    pub(crate) fn insert(&mut self, h: SocketHandle) -> bool {
        self.0.insert(h)
    }
    pub(crate) fn remove(&mut self, h: &SocketHandle) -> bool {
        // Most children leave an emptied queue's table behind; the probe
        // of an empty set reads nothing.
        !self.0.is_empty() && self.0.remove(h)
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    #[cfg(any(test, fuzzing))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SocketHandle> {
        self.0.iter()
    }
    /// The children in handle order.
    pub(crate) fn into_sorted(self) -> Vec<SocketHandle> {
        let mut v: Vec<SocketHandle> = self.0.into_iter().collect();
        v.sort_unstable();
        v
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Listener {
    pub(crate) backlog: usize,
    /// The largest backlog since listen(): a smaller backlog from a later
    /// listen() keeps the children already queued (as Linux does), so the
    /// accept queue is bounded by this plus one, not by the current backlog.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) backlog_peak: usize,
    pub(crate) syn_cap: usize,
    pub(crate) syn_queue: SynQueue,
    pub(crate) accept_queue: VecDeque<SocketHandle>,
    /// When a SYN last found the SYN queue full and got a cookie.
    pub(crate) last_overflow: Option<Instant>,
}

impl Listener {
    pub(crate) fn new(backlog: u32, somaxconn: u32, max_syn_backlog: u32) -> Self {
        // listen(2): a backlog above somaxconn is silently capped; Linux
        // lets a negative/zero backlog mean 0 (one connection still fits).
        let backlog = backlog.min(somaxconn) as usize;
        Listener {
            backlog,
            backlog_peak: backlog,
            syn_cap: max_syn_backlog.max(1) as usize,
            syn_queue: SynQueue::default(),
            accept_queue: VecDeque::new(),
            last_overflow: None,
        }
    }

    /// A cookie was sent (Linux `tcp_synq_overflow`).
    pub(crate) fn note_overflow(&mut self, now: Instant) {
        self.last_overflow = Some(now);
    }

    /// Did the SYN queue overflow recently enough that an ACK with no
    /// half-open child may carry a cookie?
    pub(crate) fn recent_overflow(&self, now: Instant) -> bool {
        self.last_overflow
            .is_some_and(|t| now.saturating_duration_since(t) <= SYNCOOKIE_VALID)
    }

    /// Linux `sk_acceptq_is_full`: more than `backlog` already queued.
    pub(crate) fn accept_full(&self) -> bool {
        self.accept_queue.len() > self.backlog
    }

    pub(crate) fn syn_full(&self) -> bool {
        self.syn_queue.len() >= self.syn_cap
    }

    /// listen() again on a listening socket updates the backlog.
    pub(crate) fn set_backlog(&mut self, backlog: u32, somaxconn: u32) {
        self.backlog = backlog.min(somaxconn) as usize;
        self.backlog_peak = self.backlog_peak.max(self.backlog);
    }

    /// Forget a child wherever it is queued.
    pub(crate) fn forget(&mut self, h: SocketHandle) {
        if !self.syn_queue.remove(&h) {
            if let Some(i) = self.accept_queue.iter().position(|&x| x == h) {
                self.accept_queue.remove(i);
            }
        }
    }

    /// A child finished its handshake: move it to the accept queue.
    pub(crate) fn promote(&mut self, h: SocketHandle) {
        self.syn_queue.remove(&h);
        self.accept_queue.push_back(h);
    }
}

impl Connection {
    /// Linux `tcp_check_req` for a passive SYN_RECEIVED connection, the
    /// steps that differ from `process_synchronized`, in Linux's order.
    /// `Some` when the segment was dealt with here (always dropped);
    /// `None` when the synchronized path takes it (window, ACK, data).
    pub(super) fn check_req(
        &mut self,
        now: Instant,
        p: &Profile,
        seg: &TcpRepr<'_>,
    ) -> Option<InputResult> {
        debug_assert!(self.state == State::SynReceived && self.passive);
        let f = seg.flags;
        let mut res = InputResult::with(Note::Dropped);
        // `tcp_paws_reject(&tmp_opt, th->rst)` with TS.Recent from the SYN
        // (0 when timestamps are off: nothing is rejected).
        let ts = seg.timestamp.filter(|_| self.ts_ok);
        let paws = match ts {
            Some(ts) => {
                let timeout = self.rtt.backed_off(self.backoff).total_millis() / 1000;
                paws_reject_req(self.ts_recent, ts.tsval, now, timeout, f.rst())
            }
            None => false,
        };
        // Linux 6.15+ `tsecr_reject` (commit 3ba075278c11, "be less liberal
        // in TSEcr received while in SYN_RECV state"): a non-zero TSecr must
        // echo the TSval of one of our SYN-ACKs (RFC 7323 3.2: TSecr echoes
        // a TSval the other side sent), i.e. lie in `between(tsecr,
        // snt_tsval_first, snt_tsval_last)`. A child a cookie ACK made sent
        // no SYN-ACK (`None`): Linux never runs `tcp_check_req` for those.
        let tsecr = match (ts, self.synack_tsval) {
            (Some(ts), Some((first, last))) if ts.tsecr != 0 => {
                ts.tsecr.wrapping_sub(first) > last.wrapping_sub(first)
            }
            _ => false,
        };
        // "Check for pure retransmitted SYN": the SYN-ACK again, limited by
        // `tcp_oow_rate_limited` (a SYN always is), and the SYN-ACK timer
        // restarts at the current timeout ("Reset timer after
        // retransmitting SYNACK": `mod_timer_pending(.., jiffies +
        // reqsk_timeout(req, TCP_RTO_MAX))`; the backoff stays).
        if seg.seq == self.irs && f.syn() && !f.ack() && !f.rst() && !paws {
            if oow_ack_allowed(&mut self.last_oow_ack, now, p, seg) {
                self.snd_nxt = self.iss;
                self.rto_at = Some(now + self.rtt.backed_off(self.backoff));
            }
            return Some(res);
        }
        // RFC 9293 3.10.7.4 (SYN-RECEIVED, an unacceptable ACK): Linux
        // returns the segment to the listener, which resets it
        // (`tcp_v4_send_reset`, seq = SEG.ACK) unless it is a reset.
        if f.ack() && seg.ack != self.iss + 1 {
            if !f.rst() {
                res.reset = Some(RstReply {
                    seq: seg.ack,
                    ack: None,
                });
            }
            return Some(res);
        }
        // RFC 7323 5.3: "Out of window: send ACK and drop", counted as
        // `PAWSEstabRejected`, else (a TSecr we never sent) as
        // `TSEcrRejected`; a reset gets no answer.
        if paws || tsecr {
            if !f.rst() {
                self.ack_now |= oow_ack_allowed(&mut self.last_oow_ack, now, p, seg);
            }
            res.set(Note::PawsRejected, paws);
            res.set(Note::TsecrRejected, !paws);
            return Some(res);
        }
        // "fourth, check the SYN bit" (the SYN at IRS is the ACK of our
        // SYN-ACK, truncated): in the window (`tcp_in_window`),
        // `embryonic_reset` answers with a reset and ends the child. Out
        // of the window, the synchronized path ACKs it as Linux does.
        // Resets go on to the synchronized path (module doc).
        if f.syn() && !f.rst() && seg.seq != self.irs && self.req_in_window(seg) {
            res.reset = Some(RstReply::for_segment(seg));
            self.enter_closed();
            return Some(res);
        }
        None
    }

    /// Linux `tcp_synack_options`: remember the TSval of the first and of
    /// the latest SYN-ACK (`snt_tsval_first`, `snt_tsval_last`).
    pub(super) fn note_synack_tsval(&mut self, tsval: u32) {
        let first = self.synack_tsval.map_or(tsval, |(f, _)| f);
        self.synack_tsval = Some((first, tsval));
    }

    /// Linux `tcp_in_window(seq, end_seq, rcv_nxt, rcv_nxt + window)` in
    /// `tcp_minisocks.c`: starts at `rcv_nxt`, or overlaps the window, or
    /// is empty at its right edge.
    fn req_in_window(&self, seg: &TcpRepr<'_>) -> bool {
        let (s, e) = (self.rcv_nxt, self.rcv_nxt + self.rcv_wnd());
        let end = seg.seq + seg.segment_len();
        seg.seq == s || (end.gt(s) && seg.seq.lt(e)) || (seg.seq == e && end == e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SynQueue` against the B-tree set it replaced: same membership
    /// answers, same length, and closing order = handle order.
    #[test]
    fn syn_queue_matches_an_ordered_set() {
        let mut q = SynQueue::default();
        let mut model = std::collections::BTreeSet::new();
        let mut x: u32 = 12345;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let h = SocketHandle {
                index: (x >> 8) % 64,
                gen: (x >> 20) % 3,
            };
            if x & 1 == 0 {
                assert_eq!(q.insert(h), model.insert(h));
            } else {
                assert_eq!(q.remove(&h), model.remove(&h));
            }
            assert_eq!(q.len(), model.len());
        }
        assert!(!model.is_empty());
        let want: Vec<_> = model.into_iter().collect();
        assert_eq!(q.into_sorted(), want);
    }
}

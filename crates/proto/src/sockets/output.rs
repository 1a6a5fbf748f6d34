//! Segment departure and timers: stateless resets first, then cookie
//! SYN-ACKs, then sockets from the ready queue in round-robin order; timers
//! from the deadline heap.

use std::cmp::Reverse;

use super::{Egress, GsoRest, Pending, SocketHandle, SocketSet};
use crate::tcp::connection::{Connection, OutSegment, TcpError};
use crate::tcp::output::data_header_len;
use crate::tcp::{SeqNum, State};
use crate::time::Instant;
use crate::wire::{IpProtocol, Ipv4Addr, TcpFlags, TcpRepr};

#[cfg(test)]
thread_local! {
    /// Tests: the rule before `Connection::may_send_more` (poll every
    /// queued socket, requeue every socket that sent a segment), to
    /// compare the wire traces.
    static OLD_RULE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The tests' old rule: every socket stays queued (false outside tests).
#[inline(always)]
fn old_rule() -> bool {
    #[cfg(test)]
    return OLD_RULE.with(std::cell::Cell::get);
    #[cfg(not(test))]
    false
}

/// Whether a socket stays in (or is worth a poll from) the ready queue:
/// `Connection::may_send_more`, or always under the tests' old rule.
#[inline]
pub(super) fn may_send_more(conn: &Connection) -> bool {
    old_rule() || conn.may_send_more()
}

/// Whether a socket that just sent a segment stays in the ready queue:
/// `may_send_more`, unless the segment filled the windows
/// (`Connection::window_bound`): a bulk sender's visit after its train
/// would poll connection lines the copies have pushed out of cache to
/// find nothing. Always under the tests' old rule.
#[inline(always)]
fn stays_queued(conn: &Connection, max_payload: usize) -> bool {
    old_rule() || (conn.may_send_more() && !conn.window_bound(max_payload))
}

impl SocketSet {
    // ----- output ---------------------------------------------------------

    /// Choose the next segment and hand it to `emit` with its payload
    /// source (send ring, offset, length), while the connection is still
    /// borrowed: no intermediate copy of the header, no second lookup.
    #[cfg_attr(not(test), allow(dead_code))]
    fn next_pending<R>(
        &mut self,
        now: Instant,
        max_len: usize,
        emit: impl FnOnce(Pending<'_>) -> R,
    ) -> Option<R> {
        if let Some((src, dst, repr)) = self.next_reply(now) {
            return Some(emit(Pending {
                h: None,
                src,
                dst,
                repr: &repr,
                data: None,
            }));
        }
        self.next_conn_pending(now, max_len, emit)
    }

    /// The next stateless reply (a reset, an immediate ACK, a SYN-ACK
    /// with a cookie, an ACK owed by a compact TIME_WAIT record).
    #[inline(always)]
    fn next_reply(&mut self, now: Instant) -> Option<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)> {
        self.now = self.now.max(now);
        // Stateless replies: resets, then SYN-ACKs carrying cookies.
        match self.resets.pop_front() {
            Some(r) => {
                self.stats.out_rsts += 1;
                Some(r)
            }
            // Then immediate ACKs, ACKs owed by compact TIME_WAIT records.
            None => self
                .acks
                .pop_front()
                .or_else(|| self.cookies.pop_front())
                .or_else(|| self.next_time_wait_ack(now)),
        }
    }

    /// `next_pending` for the sockets in the ready queue only: `emit` has
    /// one call site, so it inlines.
    #[inline(always)]
    fn next_conn_pending<R>(
        &mut self,
        now: Instant,
        max_len: usize,
        emit: impl FnOnce(Pending<'_>) -> R,
    ) -> Option<R> {
        let mut emit = Some(emit);
        while let Some(h) = self.ready.front() {
            // Whether the socket stays queued (more to send after this
            // visit), and the segment it sent.
            let (stays, sent) = 'visit: {
                let profile = &self.profile;
                let Some(sock) = super::slot_sock(&mut self.slots, h) else {
                    break 'visit (false, None);
                };
                sock.queued_tx = false;
                let Some(conn) = sock.conn.as_mut() else {
                    break 'visit (false, None);
                };
                // Nothing to send and nothing `poll_output` would change:
                // leave the queue without the poll. The timer stays as
                // `touch` noted it (every change to a connection goes
                // through `touch`).
                if !may_send_more(conn) {
                    break 'visit (false, None);
                }
                let max_payload = max_len
                    .saturating_sub(data_header_len(conn.ts_ok))
                    .saturating_sub(conn.sack_option_len());
                let max_payload = conn.tso_payload(max_payload, self.tso, self.mtu);
                let before = conn.total_retrans;
                // Only the three counters the stack totals, not all of `loss`.
                let counters =
                    |c: &Connection| (c.loss.fast_retrans, c.loss.sack_retrans, c.loss.dsack_tx);
                // They move only in a fast retransmit, SACK recovery, or an
                // ACK carrying a pending D-SACK block (tcp/output.rs,
                // recovery.rs): otherwise their cache line is not read at all.
                let recovering =
                    conn.fast_rtx || conn.sack_recovery || conn.dsack_pending.is_some();
                let loss_before = if recovering {
                    counters(conn)
                } else {
                    (0, 0, 0)
                };
                let out: Option<OutSegment> = conn.poll_output(now, profile, max_payload);
                let retrans = conn.total_retrans - before;
                if recovering {
                    let loss = counters(conn);
                    self.stats.fast_retrans += loss.0 - loss_before.0;
                    self.stats.sack_retrans += loss.1 - loss_before.1;
                    self.stats.dsack_tx += loss.2 - loss_before.2;
                }
                let (src, dst) = (conn.local.0, conn.remote.0);
                // The timer bookkeeping of `touch`, on the borrow we hold.
                let deadline = conn.next_deadline();
                let rearm = super::arm(&mut sock.timer_at, &mut sock.heap_at, deadline);
                let mut visit = (false, None);
                // Borrowed in place: moving the ~110-byte segment out of the
                // `Option` read it back in 16-byte pieces over the narrower
                // stores `poll_output` had just made, a store-to-load
                // forwarding stall per segment (perf, session 9).
                if let Some(out) = &out {
                    self.stats.retrans_segs += retrans;
                    if out.repr.flags.rst() {
                        self.stats.out_rsts += 1;
                    }
                    let emit = emit.take()?;
                    let r = emit(Pending {
                        h: Some(h),
                        src,
                        dst,
                        repr: &out.repr,
                        data: (out.data_len > 0).then_some((
                            &conn.snd_buf,
                            out.data_off,
                            out.data_len,
                        )),
                    });
                    // More to send: stays queued. Otherwise the socket
                    // leaves the queue now instead of at a later visit that
                    // would send nothing; any event that makes output due
                    // queues it again (`touch`).
                    let more = stays_queued(conn, max_payload);
                    sock.queued_tx = more;
                    visit = (more, Some(r));
                }
                if let Some(t) = rearm {
                    self.push_timer(t, h);
                }
                visit
            };
            // Off the queue, or to its back (round robin). A lone socket
            // that stays keeps its place: no pop and push to the same spot
            // (a bulk sender, every segment).
            if !(stays && self.ready.len() == 1) {
                self.ready.pop_front();
                if stays {
                    self.ready.push_back(h);
                }
            }
            if sent.is_some() {
                return sent;
            }
        }
        None
    }

    /// True when `poll_transmit` would find nothing (no stateless reply,
    /// no TIME_WAIT ACK, no socket queued); it then notes `now` as that
    /// call would. A driver's last call of each round is such a call: the
    /// stack answers it without setting up a segment.
    #[inline(always)]
    pub(crate) fn output_idle(&mut self, now: Instant) -> bool {
        let idle = !self.output_queued() && !self.tw.acks_queued();
        if idle {
            self.now = self.now.max(now);
        }
        idle
    }

    /// Write the next transport segment into `buf` (the IP payload region,
    /// at most `buf.len()` bytes = MTU minus IP header) and describe it.
    /// TCP may build a segment of up to `room` bytes (`room > buf.len()`:
    /// software GSO); what does not fit is left in `gso_rest` for the
    /// stack to write as further frames.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        room: usize,
    ) -> Option<Egress> {
        loop {
            // With checksum offload the link sums the payload: plain copy.
            let partial = self.tx_csum_partial;
            // Set by the first piece of a segment longer than the frame:
            // outside the closure's return value, which stays small enough
            // for registers.
            let mut rest = None;
            let written = match self.next_reply(now) {
                Some((src, dst, repr)) => {
                    let p = Pending {
                        h: None,
                        src,
                        dst,
                        repr: &repr,
                        data: None,
                    };
                    write_segment(&p, buf, partial, &mut rest)
                }
                None => self.next_conn_pending(now, room.max(buf.len()), |p| {
                    write_segment(&p, buf, partial, &mut rest)
                })?,
            };
            let Some((src, dst, len)) = written else {
                // Counted and treated as lost; retransmission recovers.
                self.stats.emit_errors += 1;
                continue;
            };
            self.stats.out_segs += 1;
            if rest.is_some() {
                self.gso_rest = rest;
            }
            return Some(Egress {
                src,
                dst,
                protocol: IpProtocol::Tcp,
                len,
                ttl: 64,
                dont_frag: true,
            });
        }
    }

    /// Where the rest of a GSO segment of `h` comes from: its send ring,
    /// `snd_una` (the ring's first byte) and `snd_nxt` (bytes past it were
    /// taken back by a retransmission timeout and are not to be sent).
    /// `None` once the connection is gone or closed.
    pub(crate) fn gso_source(
        &self,
        h: SocketHandle,
    ) -> Option<(&crate::storage::RingBuffer, SeqNum, SeqNum)> {
        let c = self.sock(h)?.conn.as_ref()?;
        c.state
            .is_synchronized()
            .then_some((&c.snd_buf, c.snd_una, c.snd_nxt))
    }

    /// A GSO piece left: one more segment out (Linux counts each).
    pub(crate) fn note_gso_piece(&mut self) {
        self.stats.out_segs += 1;
    }

    /// The next segment as an owned value (tests and the pair harness use
    /// this instead of bytes): (source, destination, header, payload).
    #[allow(dead_code)] // used by tests and pair harnesses
    pub(crate) fn poll_segment(
        &mut self,
        now: Instant,
    ) -> Option<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>, Vec<u8>)> {
        let max = self.mtu.saturating_sub(20);
        let out = self.next_pending(now, max, |p| {
            let mut payload = Vec::new();
            if let Some((ring, off, len)) = p.data {
                payload.resize(len, 0);
                let n = ring.read_at(off, &mut payload);
                payload.truncate(n);
            }
            (p.src, p.dst, *p.repr, payload)
        })?;
        self.stats.out_segs += 1;
        Some(out)
    }

    // ----- timers ---------------------------------------------------------

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.expire_time_wait(now);
        // Defensive bound: a timer that re-armed itself in the past must not
        // spin here; whatever is left runs at the next call.
        let mut budget = 2 * self.timers.len() + 16;
        while let Some(&Reverse((t, h))) = self.timers.peek() {
            if t > now || budget == 0 {
                break;
            }
            budget -= 1;
            self.timers.pop();
            let profile = &self.profile;
            let Some(sock) = super::slot_sock(&mut self.slots, h) else {
                continue;
            };
            if sock.heap_at != Some(t) {
                continue; // stale entry
            }
            sock.heap_at = None;
            match sock.timer_at {
                // Cancelled since.
                None => continue,
                // Moved later since: this entry was early, push the real one.
                Some(d) if d > now => {
                    sock.heap_at = Some(d);
                    self.push_timer(d, h);
                    continue;
                }
                Some(_) => {}
            }
            sock.timer_at = None;
            let Some(conn) = sock.conn.as_mut() else {
                continue;
            };
            let was = conn.state;
            let backoff = conn.backoff;
            conn.on_timeout(now, profile);
            if conn.backoff > backoff {
                self.stats.rto_fired += 1;
            }
            if conn.state == State::Closed && was != State::Closed {
                if matches!(conn.error, Some(TcpError::TimedOut)) {
                    self.stats.timeouts += 1;
                }
                if was == State::SynSent {
                    self.stats.attempt_fails += 1;
                }
            }
            self.touch(h);
        }
    }

    /// A socket or a stateless reply (reset, ACK, SYN cookie) is queued to
    /// send. The ready queue first: on a busy stack it answers alone.
    #[inline(always)]
    fn output_queued(&self) -> bool {
        !self.ready.is_empty()
            || !self.resets.is_empty()
            || !self.acks.is_empty()
            || !self.cookies.is_empty()
    }

    pub(crate) fn poll_at(&self) -> Option<Instant> {
        if self.output_queued() {
            // Something is ready to send: as soon as possible.
            return Some(Instant::ZERO);
        }
        let heap = self.timers.peek().map(|Reverse((t, _))| *t);
        match (heap, self.tw.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Write `p` into `buf` (the IP payload region): the payload straight
/// from the send ring into the frame, checksummed on the way (one pass),
/// then the header in front. `partial`: leave the checksum to the link.
/// A segment longer than the frame goes to `first_piece`.
#[inline(always)]
fn write_segment(
    p: &Pending<'_>,
    buf: &mut [u8],
    partial: bool,
    rest: &mut Option<GsoRest>,
) -> Option<(Ipv4Addr, Ipv4Addr, usize)> {
    let hl = p.repr.header_len();
    let want = p.data.map_or(0, |(_, _, len)| len);
    if want > buf.len().saturating_sub(hl) {
        // Longer than the frame (software GSO): out of line.
        return first_piece(p, buf, want, partial, rest);
    }
    let body = buf.get_mut(hl..hl + want)?;
    let (n, payload_sum) = match (p.data, partial) {
        (Some((ring, off, _)), false) => ring.read_at_sum(off, body),
        (Some((ring, off, _)), true) => (ring.read_at(off, body), 0),
        (None, _) => (0, 0),
    };
    let len = hl + n;
    let seg = buf.get_mut(..len)?;
    match partial {
        false => p.repr.emit_header(seg, p.src, p.dst, payload_sum),
        true => p.repr.emit_header_partial(seg, p.src, p.dst),
    }
    .ok()?;
    Some((p.src, p.dst, len))
}

/// The first piece of a segment longer than the frame (software GSO),
/// written into `buf` (the IP payload region): as much payload as fits,
/// and the segment's own header without PSH and FIN, which go on the last
/// piece. What is left to write goes to `rest`. Out of line, so that
/// `poll_transmit`'s closure stays small enough to inline.
#[inline(never)]
fn first_piece(
    p: &Pending<'_>,
    buf: &mut [u8],
    want: usize,
    partial: bool,
    rest: &mut Option<GsoRest>,
) -> Option<(Ipv4Addr, Ipv4Addr, usize)> {
    // The stack cuts only segments it sums itself (no checksum offload).
    if partial {
        return None;
    }
    let hl = p.repr.header_len();
    let fit = buf.len().checked_sub(hl)?.min(want);
    let (ring, off, _) = p.data?;
    let body = buf.get_mut(hl..hl + fit)?;
    let (n, payload_sum) = ring.read_at_sum(off, body);
    if n != fit || n == 0 {
        return None;
    }
    let mut first = *p.repr;
    first.flags = TcpFlags(first.flags.0 & !(TcpFlags::PSH | TcpFlags::FIN));
    first
        .emit_header(buf.get_mut(..hl + n)?, p.src, p.dst, payload_sum)
        .ok()?;
    *rest = Some(GsoRest {
        h: p.h?,
        seq: p.repr.seq + n,
        end: p.repr.seq + want,
        piece: n,
        flags: p.repr.flags,
    });
    Some((p.src, p.dst, hl + n))
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;

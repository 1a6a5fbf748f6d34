//! Buffer autotuning, the Linux way: the receive buffer grows with what the
//! application reads per round trip (dynamic right-sizing), the send buffer
//! grows with the congestion window, and an idle connection gives its ring
//! memory back.
//!
//! Contract:
//! - Receive (Linux `tcp_rcv_space_adjust`, `tcp_moderate_rcvbuf` = 1):
//!   unless SO_RCVBUF was set (Linux `SOCK_RCVBUF_LOCK`) a connection's
//!   receive capacity starts at `tcp_rmem[1]` (`Profile::rcvbuf_default`).
//!   At most once per receiver RTT, when the application copied more bytes
//!   in the last RTT than in the one before (`space`), the capacity becomes
//!   `rcvwin = 2 * copied + 16 * advmss`, plus twice the growth of `copied`
//!   scaled to `rcvwin` (Linux's cushion for a sender still in slow start),
//!   capped at `tcp_rmem[2]`. It only grows. Byte rule: the ring holds
//!   payload bytes only, so Linux's `tcp_space_from_win` overhead ratio
//!   (sk_buff truesize over payload) is 1 here and the window is the free
//!   ring space. The advertised window follows through `select_window`
//!   (free space), which never moves the right edge left (RFC 9293 3.8.6,
//!   RFC 7323 2.4); the window scale was fixed at SYN time from
//!   `tcp_rmem[2]` (RFC 7323 2.3, Linux `tcp_select_initial_window`).
//! - Receiver RTT (Linux `tcp_rcv_rtt_measure_ts` / `tcp_rcv_rtt_measure`):
//!   with timestamps, `now - TSecr` of an in-order full-sized segment
//!   carrying a new echo (smoothed by 1/8); without, the time to receive
//!   one advertised window of data (a min filter). No sample: no growth.
//! - Send (Linux `tcp_sndbuf_expand`): unless SO_SNDBUF was set, the
//!   capacity starts at `tcp_wmem[1]` and, when a write does not fit,
//!   becomes `2 * max(cwnd segments, 10) * per_mss`, capped at
//!   `tcp_wmem[2]`; it only grows. The 2 is Linux's cushion for CUBIC's
//!   fast recovery and an application slow to refill. `per_mss` is Linux's
//!   per-segment cost: the MSS plus `MAX_TCP_HEADER` and the shared info
//!   (320 + 320 bytes), rounded up to a power of two, plus the `sk_buff`
//!   (256): 4352 bytes at MSS 1460, so the size reads like Linux's (87040
//!   after the handshake). We count it as payload bytes: Linux queues GSO
//!   super-segments whose truesize is close to their payload, so its
//!   payload room is close to this figure too. Linux expands when an ACK
//!   frees space for a blocked writer; the writer's next send is that
//!   moment seen from our side.
//! - Idle (issue 7): a first-size (256-byte) ring is pooled the moment it
//!   empties (`storage/ring_pool.rs`); a grown one waits for this timer.
//!   The first send or read arms one timer. When it fires
//!   and the peer has been silent for `Profile::buffer_idle` (1 s) or one
//!   RTO, whichever is longer, each empty ring is freed (the receive ring
//!   only with no out-of-order data held); capacities, and so the promised
//!   window, are unchanged, and a ring grows again lazily on the next
//!   write. One RTO of silence is RFC 5681 4.1's idle period (after which
//!   the sender restarts from its restart window, `tcp/idle.rs`, timed from
//!   the last data sent rather than from the peer's last segment); the 1 s floor
//!   keeps request/response traffic on a LAN from freeing and reallocating
//!   between requests. While a quiet connection's ring still holds bytes
//!   the timer re-arms at doubling intervals (up to 64 times the idle
//!   period); with nothing held it stops until the next send or read. No
//!   scan over sockets, and no work in the bulk path but one test per call.

use super::{Profile, SeqNum, State};
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

use super::connection::Connection;

/// Linux `TCP_INIT_CWND`: the send buffer always fits twice this many segments.
const INIT_CWND_SEGS: usize = 10;
/// Linux x86-64 `MAX_TCP_HEADER` plus `SKB_DATA_ALIGN(sizeof(struct
/// skb_shared_info))`, and `SKB_DATA_ALIGN(sizeof(struct sk_buff))`: the
/// per-segment overhead `tcp_sndbuf_expand` charges.
const SKB_HEAD_EXTRA: usize = 320 + 320;
const SKB_STRUCT: usize = 256;
/// The idle check's interval doubles at most this many times (64 s at 1 s).
const MAX_IDLE_BACKOFF: u8 = 6;

/// The profile knobs the user calls need, copied out before the socket is
/// borrowed (a few words).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TuneKnobs {
    pub moderate_rcvbuf: bool,
    pub rmem_max: usize,
    pub wmem_max: usize,
    pub idle: Duration,
    /// The restart after idle (`tcp/idle.rs`): on, and the initial window
    /// in segments it restarts from.
    pub slow_start_after_idle: bool,
    pub initial_cwnd: u32,
}

impl TuneKnobs {
    pub(crate) fn of(p: &Profile) -> Self {
        TuneKnobs {
            moderate_rcvbuf: p.moderate_rcvbuf,
            rmem_max: p.rcvbuf_max,
            wmem_max: p.sndbuf_max,
            idle: p.buffer_idle,
            slow_start_after_idle: p.slow_start_after_idle,
            initial_cwnd: p.initial_cwnd,
        }
    }
}

/// Per-connection autotuning state (Linux `rcvq_space`, `rcv_rtt_est`,
/// `sk_userlocks`) and what it did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Autotune {
    /// SO_RCVBUF / SO_SNDBUF set by the application: that buffer is fixed.
    pub rcv_locked: bool,
    pub snd_locked: bool,
    /// Bytes copied to the application in the last measured RTT.
    space: u32,
    /// The copy counter and the time when the current measurement began;
    /// `space_time` ZERO: not started (no data yet).
    space_seq: u32,
    space_time: Instant,
    /// Bytes copied to the application, modulo 2^32 (Linux `copied_seq`).
    copied: u32,
    /// Receiver RTT in microseconds times 8; 0: no sample yet.
    rcv_rtt8: u32,
    /// The last TSecr sampled (one sample per echo).
    rtt_last_tsecr: u32,
    /// Window-based measurement: when `rcv_nxt` passes `rtt_seq`, one
    /// window took `now - rtt_time` (ZERO: not started).
    rtt_seq: SeqNum,
    rtt_time: Instant,
    /// The idle check (see the module doc), and how many times in a row it
    /// found a quiet connection still holding bytes (its interval doubles).
    pub idle_at: Option<Instant>,
    idle_backoff: u8,
    /// Times the receive / send capacity grew, and idle releases.
    pub rcvbuf_grows: u32,
    pub sndbuf_grows: u32,
    pub idle_releases: u32,
}

impl Autotune {
    /// The receiver's RTT estimate (zero before a sample).
    pub(crate) fn rcv_rtt(&self) -> Duration {
        Duration::from_micros(u64::from(self.rcv_rtt8 >> 3))
    }
    /// Bytes the application read in the last measured RTT (Linux `rcv_space`).
    pub(crate) fn rcv_space(&self) -> usize {
        self.space as usize
    }
}

impl Connection {
    /// In-order data arrived (`len` payload bytes of `seg`): start the DRS
    /// measurement and take a receiver RTT sample.
    #[inline]
    pub(crate) fn rcv_rtt_measure(&mut self, now: Instant, seg: &TcpRepr<'_>, len: usize) {
        // A fixed buffer needs no measurement: one test in the data path.
        if !self.tune.rcv_locked {
            self.rcv_rtt_measure_unlocked(now, seg, len);
        }
    }

    fn rcv_rtt_measure_unlocked(&mut self, now: Instant, seg: &TcpRepr<'_>, len: usize) {
        let t = &mut self.tune;
        if t.space_time == Instant::ZERO {
            // Linux `tcp_init_buffer_space`: the first RTT's yardstick is
            // min(window, TCP_INIT_CWND * advmss).
            let init = self
                .rcv_buf
                .capacity()
                .min(INIT_CWND_SEGS * usize::from(self.adv_mss));
            t.space = u32::try_from(init).unwrap_or(u32::MAX).max(1);
            t.space_seq = t.copied;
            t.space_time = now;
        }
        // Linux `tcp_rcv_rtt_measure_ts`: one sample per new echo, from a
        // full-sized segment (a small one may have waited on Nagle).
        if let Some(ts) = seg.timestamp.filter(|_| self.ts_ok) {
            if ts.tsecr != self.tune.rtt_last_tsecr {
                self.tune.rtt_last_tsecr = ts.tsecr;
                if len >= self.rcv_mss {
                    if let Some(d) = self.ts_rtt(now, seg) {
                        self.rcv_rtt_update(d, false);
                    }
                }
            }
        }
        // Linux `tcp_rcv_rtt_measure`: the time one window takes to arrive.
        let t = &mut self.tune;
        if t.rtt_time != Instant::ZERO && self.rcv_nxt.lt(t.rtt_seq) {
            return;
        }
        let started = t.rtt_time;
        t.rtt_seq = self.rcv_nxt + self.rcv_nxt.distance_to(self.rcv_adv);
        t.rtt_time = now;
        if started != Instant::ZERO {
            let d = now.saturating_duration_since(started);
            self.rcv_rtt_update(d.max(Duration::from_micros(1)), true);
        }
    }

    /// Linux `tcp_rcv_rtt_update`: timestamp samples are smoothed (1/8),
    /// window samples only lower the estimate (they over-estimate).
    fn rcv_rtt_update(&mut self, sample: Duration, win_dep: bool) {
        let m8 = u32::try_from(sample.total_micros().saturating_mul(8)).unwrap_or(u32::MAX);
        let cur = self.tune.rcv_rtt8;
        self.tune.rcv_rtt8 = if cur == 0 {
            m8
        } else if win_dep {
            cur.min(m8)
        } else {
            // cur + (m - cur / 8), in units of 1/8 us.
            let m = i64::from(m8 >> 3) - i64::from(cur >> 3);
            u32::try_from((i64::from(cur) + m).max(1)).unwrap_or(u32::MAX)
        };
    }

    /// The application copied `n` bytes out (Linux `tcp_rcv_space_adjust`,
    /// called from recvmsg): once per receiver RTT, grow the receive
    /// capacity when the reader is faster than the last measurement.
    pub(crate) fn rcv_space_adjust(&mut self, now: Instant, k: &TuneKnobs, n: usize) {
        let t = &mut self.tune;
        t.copied = t.copied.wrapping_add(n as u32);
        if t.rcv_locked || !k.moderate_rcvbuf || t.space_time == Instant::ZERO {
            return;
        }
        let rtt = u64::from(t.rcv_rtt8 >> 3);
        if rtt == 0 || now.saturating_duration_since(t.space_time).total_micros() < rtt {
            return;
        }
        let copied = t.copied.wrapping_sub(t.space_seq);
        if copied > t.space {
            let (copied64, space) = (u64::from(copied), u64::from(t.space.max(1)));
            // Twice the last RTT's bytes against losses, plus a cushion...
            let mut rcvwin = 2 * copied64 + 16 * u64::from(self.adv_mss);
            // ...and a sender that grows its window each RTT (slow start).
            let grow = rcvwin.saturating_mul(copied64 - space) / space;
            rcvwin = rcvwin.saturating_add(grow.saturating_mul(2));
            let want = usize::try_from(rcvwin)
                .unwrap_or(usize::MAX)
                .min(k.rmem_max);
            if want > self.rcv_buf.capacity() && self.state != State::TimeWait {
                self.rcv_buf.set_capacity(want);
                t.rcvbuf_grows = t.rcvbuf_grows.saturating_add(1);
            }
            t.space = copied;
        }
        t.space_seq = t.copied;
        t.space_time = now;
    }

    /// A write does not fit: grow the send capacity with
    /// cwnd (Linux `tcp_sndbuf_expand`).
    pub(crate) fn sndbuf_expand(&mut self, k: &TuneKnobs) {
        if self.tune.snd_locked {
            return;
        }
        let mss = self.snd_mss.max(1);
        let per_mss = (mss + SKB_HEAD_EXTRA)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX / 4)
            .saturating_add(SKB_STRUCT);
        let segs = (self.cc.cwnd / mss).max(INIT_CWND_SEGS);
        let want = segs
            .saturating_mul(per_mss)
            .saturating_mul(2)
            .min(k.wmem_max);
        if want > self.snd_buf.capacity() {
            self.snd_buf.set_capacity(want);
            self.tune.sndbuf_grows = self.tune.sndbuf_grows.saturating_add(1);
        }
    }

    /// Data moved through a ring: make sure the idle check is armed.
    pub(crate) fn arm_idle(&mut self, now: Instant, k: &TuneKnobs) {
        if self.tune.idle_at.is_none() || self.tune.idle_backoff > 0 {
            // New activity also ends a backed-off wait.
            let at = now + k.idle;
            self.tune.idle_at = Some(self.tune.idle_at.map_or(at, |t| t.min(at)));
            self.tune.idle_backoff = 0;
        }
    }

    /// The idle timer fired: free the empty rings of a quiet connection.
    pub(crate) fn idle_timeout(&mut self, now: Instant, p: &Profile) {
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        let quiet = p.buffer_idle.max(self.rtt.rto());
        let until = self.last_rcv + quiet;
        if now < until {
            self.tune.idle_at = Some(until);
            self.tune.idle_backoff = 0;
            return;
        }
        let mut released = false;
        if self.assembler.is_empty() {
            released |= self.rcv_buf.release_if_empty();
        }
        released |= self.snd_buf.release_if_empty();
        if released {
            self.tune.idle_releases = self.tune.idle_releases.saturating_add(1);
        }
        if self.rcv_buf.allocated() > 0 || self.snd_buf.allocated() > 0 {
            // Still holding bytes (unread, or not yet acknowledged): look
            // again later, backing off so a connection that keeps bytes for
            // hours costs a few checks, not one per second.
            let t = &mut self.tune;
            t.idle_backoff = t.idle_backoff.saturating_add(1).min(MAX_IDLE_BACKOFF);
            let wait = quiet.total_micros() << t.idle_backoff;
            t.idle_at = Some(now + Duration::from_micros(wait));
        } else {
            self.tune.idle_backoff = 0;
        }
    }
}

//! One TCP connection: the transmission control block of RFC 9293 3.3.1 and
//! the calls a user makes on it.
//!
//! Contract: a `Connection` never panics and never holds more bytes than its
//! buffer capacities. Input lives in `input.rs`, output in `output.rs`,
//! timers in `timers.rs`; all three take the caller's `now` and `Profile`.
//! The socket layer owns the connection and the demux; when the connection
//! needs a reset sent for a segment it cannot own, it returns a `RstReply`.

use super::autotune::{Autotune, TuneKnobs};
use super::congestion::Congestion;
use super::rtt::RttEstimator;
use super::sack::{Block, Blocks, Scoreboard};
use super::{Profile, SeqNum, State};
use crate::storage::{Assembler, RingBuffer};
use crate::time::Instant;
use crate::wire::{Ipv4Addr, TcpFlags, TcpRepr};

/// Why a connection failed; the facade maps each to an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpError {
    /// ECONNREFUSED: RST answering our SYN, or ICMP port/protocol unreachable.
    Refused,
    /// ECONNRESET: the peer reset an established connection.
    Reset,
    /// ETIMEDOUT: retransmissions exhausted.
    TimedOut,
    /// EHOSTUNREACH: ICMP host unreachable (or time exceeded, filtered).
    HostUnreachable,
    /// ENETUNREACH: ICMP network unreachable.
    NetUnreachable,
}

/// A reset the socket layer must send on the connection's behalf (RFC 9293
/// 3.10.7): `ack` set means RST|ACK with that acknowledgment number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RstReply {
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
}

impl RstReply {
    /// The reset RFC 9293 3.10.7.1 prescribes in answer to `seg`.
    pub(crate) fn for_segment(seg: &TcpRepr<'_>) -> Self {
        if seg.flags.ack() {
            RstReply {
                seq: seg.ack,
                ack: None,
            }
        } else {
            RstReply {
                seq: SeqNum(0),
                ack: Some(seg.seq + seg.segment_len()),
            }
        }
    }
}

/// A segment the connection wants sent: the header (payload left empty) plus
/// where its payload lies in the send buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutSegment {
    pub repr: TcpRepr<'static>,
    pub data_off: usize,
    pub data_len: usize,
}

/// Options agreed during the handshake.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PeerOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack: bool,
    pub tsval: Option<u32>,
}

impl PeerOptions {
    pub(crate) fn of(seg: &TcpRepr<'_>) -> Self {
        PeerOptions {
            mss: seg.mss,
            wscale: seg.window_scale,
            sack: seg.sack_permitted,
            tsval: seg.timestamp.map(|t| t.tsval),
        }
    }
}

/// The per-connection state (RFC 9293 3.3.1 names).
///
/// `repr(C)`: fields lie in the order written, hot ones first, so the
/// fields a segment touches share a few cache lines (with a hundred
/// connections in turn, each visit starts from a cold L1).
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Connection {
    // Hot: read or written by every segment in and out and by every send and
    // recv call, packed into the fewest cache lines (the struct is `repr(C)`,
    // so this order is the memory order): the scale benchmark's round trip
    // over a million connections pays one miss per line (PERF_NOTES 16).
    pub(crate) state: State,
    /// Shift applied to the peer's window field (RFC 7323 2.2).
    pub(crate) snd_wscale: u8,
    /// Shift we apply to our window field.
    pub(crate) rcv_wscale: u8,
    pub(crate) ack_now: bool,
    /// The pending ACK answers an out-of-order segment, a filled gap or a
    /// duplicate (RFC 5681 4.2 "immediate"): it must not be merged with
    /// the ACK of the next segment of the same batch (sockets/input.rs).
    pub(crate) ack_urgent: bool,
    /// The user closed the write side; FIN goes after the buffered data.
    pub(crate) fin_queued: bool,
    pub(crate) fin_received: bool,
    pub(crate) ts_ok: bool,
    pub(crate) sack_ok: bool,
    /// Peer offered window scaling in its SYN.
    pub(crate) wscale_ok: bool,
    /// Created by a listener: a reset in SYN_RECV returns it to LISTEN
    /// (i.e. it disappears) instead of reporting ECONNREFUSED.
    pub(crate) passive: bool,
    pub(crate) probe_pending: bool,
    /// Retransmit the segment at `snd_una` at the next poll.
    pub(crate) fast_rtx: bool,
    pub(crate) tlp_pending: bool,
    /// The current fast recovery is SACK-based (RFC 6675), else NewReno
    /// (RFC 6582). Recovery itself is `cc.recover` (RecoveryPoint).
    pub(crate) sack_recovery: bool,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: bool,
    pub(crate) shut_rd: bool,
    /// The user closed the socket; the stack finishes the close alone.
    pub(crate) orphan: bool,
    /// The connection ended abnormally (RST, timeout): send fails afterwards.
    pub(crate) aborted: bool,
    /// Pending error, taken once (SO_ERROR).
    pub(crate) error: Option<TcpError>,
    /// Soft error (ICMP while established), reported if we later time out.
    pub(crate) soft_error: Option<TcpError>,
    pub(crate) tlp_rtx: bool,
    pub(crate) tlp_dsack: bool,
    /// Linux ping-pong mode (`icsk_ack.pingpong` at its threshold, 1):
    /// an interactive exchange, so data is ACKed after the delayed-ACK time
    /// (usually on the reply) instead of quick ACKs (`input.rs`).
    pub(crate) pingpong: bool,
    /// Linux `ICSK_ACK_PUSHED` (bit 0) and `ICSK_ACK_PUSHED2` (bit 1): data
    /// smaller than the receive MSS arrived since the last ACK (twice, for
    /// bit 1), so reading it out ACKs at once (`Connection::recv`).
    pub(crate) pushed: u8,
    pub(crate) local: (Ipv4Addr, u16),
    pub(crate) remote: (Ipv4Addr, u16),
    pub(crate) snd_una: SeqNum,
    pub(crate) snd_nxt: SeqNum,
    /// One past the highest sequence number ever sent.
    pub(crate) snd_max: SeqNum,
    pub(crate) snd_wl1: SeqNum,
    pub(crate) snd_wl2: SeqNum,
    pub(crate) rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised.
    pub(crate) rcv_adv: SeqNum,
    /// `rcv_nxt` when we last sent an ACK (Linux `rcv_wup`).
    pub(crate) rcv_wup: SeqNum,
    pub(crate) ts_recent: u32,
    pub(crate) ts_offset: u32,
    /// When in-order data last arrived, in milliseconds modulo 2^32 (Linux
    /// `icsk_ack.lrcvtime`; `last_rcv` counts pure ACKs too): a longer
    /// silence than the RTO re-enters quick-ACK mode (`input.rs`).
    pub(crate) lrcv_ms: u32,
    pub(crate) dupacks: u32,
    /// Consecutive retransmission timeouts (exponential backoff).
    pub(crate) backoff: u32,
    pub(crate) probes_out: u32,
    pub(crate) persist_backoff: u32,
    /// MSS we advertise (MTU - 40, or TCP_MAXSEG).
    pub(crate) adv_mss: u16,
    /// Segments still to ACK at once (Linux `icsk_ack.quick`); a `u16`
    /// in the hole after `adv_mss` (at most `Profile::quickacks`), or
    /// `input::QUICKACK_FIRST` before the first data (Linux `ato == 0`).
    pub(crate) quickacks: u16,
    pub(crate) snd_wnd: usize,
    pub(crate) max_snd_wnd: usize,
    /// Largest payload per segment we send (peer MSS minus our options).
    pub(crate) snd_mss: usize,
    /// Largest segment payload seen from the peer (delayed-ACK threshold).
    pub(crate) rcv_mss: usize,
    /// When the peer last sent us anything (Linux `rcv_tstamp`).
    pub(crate) last_rcv: Instant,
    /// When `ts_recent` was last updated (RFC 7323 5.5 idle check).
    pub(crate) ts_recent_at: Instant,
    /// Sequence number of our FIN once sent.
    pub(crate) fin_seq: Option<SeqNum>,
    /// A FIN received out of order, at this sequence number.
    pub(crate) rcv_fin: Option<SeqNum>,
    pub(crate) tlp_end: Option<SeqNum>,
    /// RFC 6582 3.2 / RFC 6675 5.1: HighData when the last RTO fired; no
    /// new fast recovery starts until `snd_una` reaches it.
    pub(crate) rto_recover: Option<SeqNum>,
    /// RFC 3522 RetransmitTS: the TSval of the first retransmission of the
    /// current RTO episode, until the first ACK that advances `snd_una`
    /// decides whether the RTO was spurious (timestamps only).
    pub(crate) rto_undo_ts: Option<u32>,
    /// Receiver: a duplicate segment arrived; the next ACK reports it first
    /// (RFC 2883 D-SACK).
    pub(crate) dsack_pending: Option<Block>,
    pub(crate) total_retrans: u64,
    // Timers (`next_deadline` reads them all), RTT, autotuning, buffers, the
    // reassembly and SACK state (empty-checked per segment), then congestion
    // control, whose per-ACK fields come first in `Congestion`.
    pub(crate) rto_at: Option<Instant>,
    pub(crate) delack_at: Option<Instant>,
    pub(crate) persist_at: Option<Instant>,
    /// TIME_WAIT end, or orphaned FIN_WAIT_2 end.
    pub(crate) close_at: Option<Instant>,
    /// Next keepalive probe (RFC 1122 4.2.3.6), when SO_KEEPALIVE is on.
    pub(crate) keepalive_at: Option<Instant>,
    /// Tail loss probe (RFC 8985 7): the PTO deadline, a probe due at the
    /// next poll, and the probe in flight (TLP.end_seq, whether it was a
    /// retransmission, and whether a D-SACK showed it needless).
    pub(crate) tlp_at: Option<Instant>,
    pub(crate) rtt: RttEstimator,
    /// The segment being timed: (end sequence, send time), Karn's rule.
    pub(crate) rtt_seq: Option<(SeqNum, Instant)>,
    /// Buffer autotuning and the idle release (`autotune.rs`).
    pub(crate) tune: Autotune,
    pub(crate) snd_buf: RingBuffer,
    pub(crate) rcv_buf: RingBuffer,
    pub(crate) assembler: Assembler,
    /// The peer's SACK information (RFC 6675 scoreboard, capped).
    pub(crate) scoreboard: Scoreboard,
    pub(crate) cc: Congestion,
    // Cold: loss counters, handshake numbers, SACK blocks sent, recovery marks.
    /// Loss-recovery counters (Linux `TCPFastRetrans`, `TCPSackRecovery`...).
    pub(crate) loss: LossCounters,
    pub(crate) keepalive_probes: u32,
    pub(crate) iss: SeqNum,
    pub(crate) irs: SeqNum,
    /// Start of the most recent out-of-order segment (first SACK block, RFC 2018 4).
    pub(crate) last_ooo: SeqNum,
    /// Receiver: the SACK blocks of the last ACK, D-SACK excluded (RFC 2018
    /// 4: blocks reported recently are repeated).
    pub(crate) sack_sent: Blocks,
    /// The last retransmission of the head hole: (its start, snd_max when
    /// it went). Data above that snd_max was sent after it; when more than
    /// DupThresh - 1 segments of it are SACKed while the head is still
    /// missing, that retransmission was lost (RFC 8985 6.2).
    pub(crate) head_rtx: Option<(SeqNum, SeqNum)>,
    /// RFC 6675 HighRxt: one past the highest byte retransmitted in this
    /// recovery (`snd_una` at its start).
    pub(crate) high_rxt: SeqNum,
    /// Lost retransmissions (the RACK idea of RFC 8985 2, by sequence
    /// order): a retransmission below this point was overtaken by a later
    /// one that arrived, so unSACKed holes below it go once more, from
    /// `high_rxt2` on.
    pub(crate) rtx_lost_to: SeqNum,
    pub(crate) high_rxt2: SeqNum,
    /// When we last answered an out-of-window segment (rate limit).
    pub(crate) last_oow_ack: Option<Instant>,
    /// Passive SYN_RECEIVED: the TSvals of our first and latest SYN-ACK
    /// (Linux `snt_tsval_first`, `snt_tsval_last`); the completing ACK must
    /// echo one of them (`Connection::check_req`).
    pub(crate) synack_tsval: Option<(u32, u32)>,
}

/// Loss-recovery events of one connection (all monotonic).
///
/// `repr(C)`: the counters the socket layer totals after every output
/// poll come first, in one cache line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct LossCounters {
    /// D-SACK blocks sent (`TCPDSACKOldSent` plus `TCPDSACKOfoSent`; read
    /// around every data segment's urgent-ACK check, so first, next to
    /// `cc`) and received (`TCPDSACKRecv`, below).
    pub dsack_tx: u64,
    /// Segments resent by fast retransmit and NewReno partial ACKs
    /// (Linux `TCPFastRetrans` counts these plus the SACK ones).
    pub fast_retrans: u64,
    /// Segments resent per RFC 6675 NextSeg during SACK recovery, and of
    /// them resent again because the first retransmission was lost
    /// (Linux `TCPLostRetransmit`).
    pub sack_retrans: u64,
    pub lost_retrans: u64,
    pub dsack_rx: u64,
    /// Fast recovery episodes entered (RFC 5681 3.2 / RFC 6675 5).
    pub recoveries: u64,
    /// Of those, SACK-based ones (Linux `TCPSackRecovery`).
    pub sack_recoveries: u64,
    /// Tail loss probes sent (Linux `TCPLossProbes`) and losses they
    /// repaired (`TCPLossProbeRecovery`).
    pub tlp_probes: u64,
    pub tlp_recoveries: u64,
    /// Retransmission timer expiries (Linux `TCPTimeouts`).
    pub rtos: u64,
    /// RTOs found spurious and undone (RFC 3522 / RFC 4015; Linux
    /// `TCPSpuriousRTOs`).
    pub spurious_rto_undos: u64,
    /// SACK blocks the sender ignored (`TCPSACKDiscard`), and times the
    /// scoreboard was dropped because the peer reneged (`TCPSACKReneging`).
    pub sack_invalid: u64,
    pub sack_reneging: u64,
}

/// Parameters for a new connection that come from the socket and stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnParams {
    pub local: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
    pub iss: SeqNum,
    pub ts_offset: u32,
    pub mtu: usize,
    pub user_mss: Option<u16>,
    pub rcvbuf: usize,
    pub sndbuf: usize,
    pub nodelay: bool,
    pub keepalive: bool,
}

impl Connection {
    fn blank(p: &Profile, c: &ConnParams, state: State) -> Self {
        let mtu_mss = c.mtu.saturating_sub(40).clamp(88, 65_495) as u16;
        let adv_mss = match c.user_mss {
            Some(m) => m.min(mtu_mss).max(88),
            None => mtu_mss,
        };
        Connection {
            state,
            local: c.local,
            remote: c.remote,
            passive: false,
            iss: c.iss,
            snd_una: c.iss,
            snd_nxt: c.iss,
            snd_max: c.iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: c.iss,
            snd_wscale: 0,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_wup: SeqNum(0),
            rcv_wscale: 0,
            rcv_mss: usize::from(p.default_mss).min(usize::from(adv_mss)),
            last_ooo: SeqNum(0),
            rcv_fin: None,
            fin_received: false,
            snd_buf: RingBuffer::new(c.sndbuf),
            rcv_buf: RingBuffer::new(c.rcvbuf),
            assembler: Assembler::new(p.max_ooo_ranges),
            tune: Autotune::default(),
            fin_queued: false,
            fin_seq: None,
            snd_mss: usize::from(p.default_mss),
            adv_mss,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: Instant::ZERO,
            ts_offset: c.ts_offset,
            wscale_ok: false,
            rtt: RttEstimator::new(p.rto_initial, p.rto_min, p.rto_max),
            rtt_seq: None,
            rto_at: None,
            backoff: 0,
            total_retrans: 0,
            persist_at: None,
            persist_backoff: 0,
            probes_out: 0,
            probe_pending: false,
            delack_at: None,
            ack_now: false,
            ack_urgent: false,
            quickacks: super::input::QUICKACK_FIRST,
            last_oow_ack: None,
            synack_tsval: None,
            last_rcv: Instant::ZERO,
            keepalive_at: None,
            keepalive_probes: 0,
            lrcv_ms: 0,
            close_at: None,
            cc: Congestion::with_algorithm(
                p.congestion,
                p.initial_cwnd,
                usize::from(p.default_mss),
            )
            .with_abc_limit(p.abc_limit_segments),
            dupacks: 0,
            scoreboard: Scoreboard::new(p.sack_scoreboard_cap),
            sack_recovery: false,
            high_rxt: c.iss,
            rtx_lost_to: c.iss,
            high_rxt2: c.iss,
            head_rtx: None,
            tlp_at: None,
            tlp_pending: false,
            tlp_end: None,
            tlp_rtx: false,
            tlp_dsack: false,
            pingpong: false,
            pushed: 0,
            rto_recover: None,
            rto_undo_ts: None,
            fast_rtx: false,
            dsack_pending: None,
            sack_sent: Blocks::default(),
            loss: LossCounters::default(),
            nodelay: c.nodelay,
            keepalive: c.keepalive,
            shut_rd: false,
            orphan: false,
            error: None,
            soft_error: None,
            aborted: false,
        }
    }

    /// `blank`, built in the socket's own place (`slot`, whose old
    /// connection is dropped first): the fields are written there, not
    /// into a ~900-byte value built aside and moved in (a copy per open).
    /// Out of line, so `slot` is an argument LLVM knows the extent of.
    #[inline(never)]
    fn blank_in<'a>(
        slot: &'a mut Option<Connection>,
        p: &Profile,
        c: &ConnParams,
        state: State,
    ) -> &'a mut Connection {
        *slot = None;
        slot.insert(Connection::blank(p, c, state))
    }

    /// Active open (RFC 9293 3.10.1): SYN_SENT; the SYN goes out at the next poll.
    #[cfg(test)]
    pub(crate) fn connect(p: &Profile, c: &ConnParams) -> Self {
        Connection::blank(p, c, State::SynSent)
    }

    /// `connect` in the socket's place (`blank_in`).
    pub(crate) fn connect_in<'a>(
        slot: &'a mut Option<Connection>,
        p: &Profile,
        c: &ConnParams,
    ) -> &'a mut Connection {
        Connection::blank_in(slot, p, c, State::SynSent)
    }

    /// `accept_syn` in the socket's place (`blank_in`).
    pub(crate) fn accept_syn_in<'a>(
        slot: &'a mut Option<Connection>,
        now: Instant,
        p: &Profile,
        c: &ConnParams,
        syn: &TcpRepr<'_>,
    ) -> &'a mut Connection {
        let conn = Connection::blank_in(slot, p, c, State::SynReceived);
        conn.passive = true;
        conn.take_syn(now, p, syn);
        conn
    }

    /// Passive open from a listener's SYN (RFC 9293 3.10.7.2): SYN_RECEIVED.
    pub(crate) fn accept_syn(now: Instant, p: &Profile, c: &ConnParams, syn: &TcpRepr<'_>) -> Self {
        let mut conn = Connection::blank(p, c, State::SynReceived);
        conn.passive = true;
        conn.take_syn(now, p, syn);
        conn
    }

    /// Record the peer's SYN: IRS and the options (RFC 7323, RFC 2018, RFC 6691).
    pub(crate) fn take_syn(&mut self, now: Instant, p: &Profile, syn: &TcpRepr<'_>) {
        let opts = PeerOptions::of(syn);
        self.irs = syn.seq;
        self.rcv_nxt = syn.seq + 1;
        self.rcv_wup = self.rcv_nxt;
        // The window our SYN (or SYN-ACK) offers, unscaled (RFC 7323 2.2).
        self.rcv_adv = self.rcv_nxt + self.rcv_buf.free().min(0xffff);
        // RFC 7323 2.2: scaling only when both sides offered it; shift <= 14.
        if p.window_scaling {
            if let Some(ws) = opts.wscale {
                self.wscale_ok = true;
                self.snd_wscale = ws.min(14);
                self.rcv_wscale = p.window_scale();
            }
        }
        if !self.wscale_ok {
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.sack_ok = p.sack && opts.sack;
        match opts.tsval {
            Some(v) if p.timestamps => {
                self.ts_ok = true;
                self.ts_recent = v;
                self.ts_recent_at = now;
            }
            _ => self.ts_ok = false,
        }
        // RFC 9293 3.7.1: 536 when absent; floor like Linux's tcp_min_snd_mss.
        let peer = opts.mss.unwrap_or(p.default_mss).max(p.min_snd_mss);
        let mss = usize::from(peer.min(self.adv_mss));
        let opt_overhead = if self.ts_ok { 12 } else { 0 };
        self.snd_mss = mss.saturating_sub(opt_overhead).max(8);
        self.cc.reset_initial(p.initial_cwnd, self.snd_mss);
        // Window in a SYN is never scaled (RFC 7323 2.2).
        self.snd_wnd = usize::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq;
    }

    // ----- user calls -----------------------------------------------------

    pub(crate) fn can_send(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait) && !self.fin_queued
    }

    /// Copy into the send buffer (RFC 9293 3.10.2); partial writes allowed.
    /// A write that does not fit grows an autotuned send buffer first.
    pub(crate) fn send(&mut self, now: Instant, k: &TuneKnobs, data: &[u8]) -> usize {
        if data.len() > self.snd_buf.free() {
            self.sndbuf_expand(k);
        }
        let n = self.snd_buf.enqueue(data);
        if n > 0 {
            self.arm_idle(now, k);
            self.idle_restart_check(now, k);
        }
        n
    }

    /// Copy out (or peek) received bytes; may grow an autotuned receive
    /// buffer and schedule a window update.
    pub(crate) fn recv(
        &mut self,
        now: Instant,
        k: &TuneKnobs,
        buf: &mut [u8],
        peek: bool,
    ) -> usize {
        if peek {
            return self.rcv_buf.read_at(0, buf);
        }
        let n = self.rcv_buf.dequeue(buf);
        if n > 0 {
            self.rcv_space_adjust(now, k, n);
            self.arm_idle(now, k);
            self.maybe_window_update();
            if self.pushed != 0 {
                self.ack_pushed_read();
            }
        }
        n
    }

    /// Linux `tcp_cleanup_rbuf`: the application read everything and a
    /// delayed ACK waits for data that came in small (pushed) segments:
    /// ACK now, unless this is an interactive exchange (ping-pong mode,
    /// where the reply will carry it) and only one such segment came.
    #[inline(never)]
    fn ack_pushed_read(&mut self) {
        let pushed2 = self.pushed & 2 != 0;
        if self.delack_at.is_some() && self.rcv_buf.is_empty() && (pushed2 || !self.pingpong) {
            self.ack_now = true;
        }
    }

    /// Linux `tcp_measure_rcv_mss`: the largest segment payload seen, at
    /// most what the peer can put in one segment to us (our MSS less the
    /// timestamp option each of its segments then carries). An offloaded
    /// super-segment counts as its segments (Linux measures its
    /// `gso_size`): taking its length up to our MSS instead, 1460 rather
    /// than 1448 with timestamps, made every full segment read as a short
    /// (pushed) one.
    #[inline(always)]
    pub(crate) fn learn_rcv_mss(&mut self, len: usize) {
        // The header beyond its fixed 20 bytes: the timestamp option.
        let opts = super::output::data_header_len(self.ts_ok) - 20;
        let most = usize::from(self.adv_mss).saturating_sub(opts);
        self.rcv_mss = self.rcv_mss.max(len.min(most));
    }

    /// Linux `tcp_measure_rcv_mss`'s marks for an in-order data segment of
    /// `len` bytes against the receive MSS before it learned from this
    /// segment: smaller marks the data pushed (a second time, pushed
    /// twice); a full one clears the first mark.
    #[inline(always)]
    pub(crate) fn note_pushed(&mut self, len: usize, rcv_mss: usize) {
        if len < rcv_mss {
            self.pushed |= 1 | (self.pushed & 1) << 1;
        } else {
            self.pushed &= !1;
        }
    }

    /// After the application read: send a window update when the window we
    /// could offer is at least twice what the peer sees now (Linux
    /// `tcp_cleanup_rbuf`), which also covers reopening a zero window.
    fn maybe_window_update(&mut self) {
        if !matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            return;
        }
        let cur = self.rcv_nxt.distance_to(self.rcv_adv);
        let cap = self.rcv_buf.capacity();
        // What the window field could say (Linux compares the window it
        // would select): without scaling a buffer beyond 64 KiB reads as
        // 65,535 however much is free, and an update saying the same again
        // is an ACK for nothing.
        let free = self.rcv_buf.free().min(0xffff << self.rcv_wscale);
        // Receiver SWS avoidance (RFC 9293 3.8.6.2.2).
        let sws = (cap / 2).min(usize::from(self.adv_mss));
        if free >= cur.saturating_mul(2) && free.saturating_sub(cur) >= sws {
            self.ack_now = true;
        }
    }

    /// shutdown(SHUT_WR) / the write half of close (RFC 9293 3.10.4).
    pub(crate) fn shutdown_write(&mut self) {
        match self.state {
            State::Established => {
                self.state = State::FinWait1;
                self.fin_queued = true;
            }
            State::CloseWait => {
                self.state = State::LastAck;
                self.fin_queued = true;
            }
            // The FIN follows once the handshake completes.
            State::SynReceived => self.fin_queued = true,
            State::SynSent | State::Listen => self.state = State::Closed,
            _ => {}
        }
    }

    /// shutdown(SHUT_RD): further reads see EOF; queued data is discarded.
    pub(crate) fn shutdown_read(&mut self) {
        self.shut_rd = true;
        self.rcv_buf.clear();
        self.assembler.clear();
    }

    /// Abort (RFC 9293 3.10.5 ABORT, SO_LINGER {on, 0}): the reset to send, if any.
    pub(crate) fn abort(&mut self) -> Option<RstReply> {
        let rst = match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(RstReply {
                seq: self.snd_nxt,
                ack: None,
            }),
            _ => None,
        };
        self.enter_closed();
        rst
    }

    /// Move to CLOSED and stop every timer; buffered output is dropped.
    pub(crate) fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.close_at = None;
        self.keepalive_at = None;
        self.ack_now = false;
        self.probe_pending = false;
        self.fast_rtx = false;
        self.tlp_at = None;
        self.tlp_pending = false;
        self.tune.idle_at = None;
        self.snd_buf.clear();
    }

    /// Closed by an error: record it for the user.
    pub(crate) fn fail(&mut self, err: TcpError) {
        self.error = Some(err);
        self.aborted = true;
        self.enter_closed();
    }

    pub(crate) fn enter_time_wait(&mut self, now: Instant, p: &Profile) {
        self.state = State::TimeWait;
        // Linux `tcp_time_wait`: the TIME_WAIT sock's out-of-window ACK
        // limiter starts afresh (`tw_last_oow_ack_time = 0`).
        self.last_oow_ack = None;
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.keepalive_at = None;
        self.probe_pending = false;
        self.fast_rtx = false;
        self.tlp_at = None;
        self.tlp_pending = false;
        self.tune.idle_at = None;
        self.snd_buf.clear();
        // Out-of-order bytes past the peer's FIN will never be readable
        // (Linux `tcp_fin` purges the out-of-order queue); drop them before
        // the ring shrinks to the bytes held, so no range points past it.
        self.assembler.clear();
        self.rcv_buf.set_capacity(self.rcv_buf.len());
        self.close_at = Some(now + p.time_wait);
    }

    /// SO_KEEPALIVE on or off; the idle timer starts at `now`.
    pub(crate) fn set_keepalive(&mut self, now: Instant, p: &Profile, on: bool) {
        self.keepalive = on;
        self.keepalive_probes = 0;
        self.keepalive_at = (on && self.keepalive_applies()).then(|| now + p.keepalive_time);
    }

    /// Keepalive runs on established connections (Linux: not in LISTEN,
    /// SYN states or TIME_WAIT/CLOSE).
    pub(crate) fn keepalive_applies(&self) -> bool {
        matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait1 | State::FinWait2
        )
    }

    // ----- readiness ------------------------------------------------------

    /// End of stream for the reader: FIN received (all data before it is
    /// in the buffer), SHUT_RD, or the connection is closed.
    pub(crate) fn read_eof(&self) -> bool {
        self.fin_received || self.shut_rd || self.state == State::Closed
    }

    pub(crate) fn readable(&self) -> bool {
        !self.rcv_buf.is_empty() || self.read_eof() || self.error.is_some()
    }

    /// Writable like Linux `sk_stream_is_writeable`: free space at least
    /// half of what is queued.
    pub(crate) fn writable(&self) -> bool {
        if self.error.is_some() {
            return true;
        }
        if !self.can_send() {
            // A failed or shut-down socket polls writable (the send fails fast).
            return self.state == State::Closed || self.fin_queued;
        }
        let free = self.snd_buf.free();
        free > 0 && free >= self.snd_buf.len() / 2
    }

    /// POLLHUP: both directions are finished.
    pub(crate) fn hup(&self) -> bool {
        self.state == State::Closed || (self.read_eof() && self.fin_queued)
    }

    /// Bytes in flight (sent, not yet acknowledged).
    pub(crate) fn in_flight(&self) -> usize {
        self.snd_una.distance_to(self.snd_nxt)
    }

    /// Whether `poll_output` may return a segment or change any state when
    /// called now (false: it would return None and touch nothing). Errs
    /// towards true. The output loop keeps a socket queued after it sent a
    /// segment only when this holds; every later event that can make
    /// output due (input, a user call, a timer) goes through the socket
    /// layer's `touch`, which queues the socket again.
    ///
    /// Mirrors `poll_output`/`poll_data` (tcp/output.rs): the handshake
    /// states by their exact conditions; after it, every flag that makes
    /// `poll_data` act (fast retransmit, TLP, SACK recovery, a window
    /// probe, an owed ACK), a go-back-N rewind, bytes not yet sent (also
    /// when the window or Nagle holds them: that visit may arm the persist
    /// timer) and a FIN not yet sent.
    #[inline(always)]
    pub(crate) fn may_send_more(&self) -> bool {
        match self.state {
            State::Closed | State::Listen => false,
            State::SynSent => self.snd_nxt == self.iss,
            State::SynReceived => self.snd_nxt == self.iss || self.ack_now,
            State::TimeWait => self.ack_now,
            _ => {
                // Unsent bytes first: a bulk sender stops here.
                let buffered = self.snd_buf.len();
                buffered > self.in_flight()
                    || self.ack_now
                        | self.fast_rtx
                        | self.tlp_pending
                        | self.probe_pending
                        | self.sack_recovery
                    || self.snd_nxt.lt(self.snd_max)
                    || (self.fin_queued
                        && !self.fin_acked()
                        && self.snd_nxt.le(self.snd_una + buffered))
            }
        }
    }

    /// Our FIN has been sent and acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        match self.fin_seq {
            Some(f) => self.snd_una.gt(f),
            None => false,
        }
    }

    /// TSval for a segment sent now: a millisecond clock plus a per-connection
    /// offset (RFC 7323 5.4).
    pub(crate) fn tsval(&self, now: Instant) -> u32 {
        // Truncation to 32 bits is the timestamp clock's wrap-around.
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// A bare header with our addresses filled in.
    pub(crate) fn header(&self, seq: SeqNum, flags: u8) -> TcpRepr<'static> {
        TcpRepr::new(
            self.local.1,
            self.remote.1,
            seq,
            self.rcv_nxt,
            TcpFlags(flags),
            0,
        )
    }
}

impl Connection {
    /// One plain load in each cache line of the hot span (see the layout
    /// test), issued together before the work that needs them. `send` on a
    /// connection idle long enough to be out of cache otherwise reads these
    /// lines as its code reaches them; the core's out-of-order window fills
    /// while it waits on the first, so loads further along the code issue
    /// only after it arrives, and the misses queue one behind another. At
    /// a million connections this took the round trip's `send` 0.39-0.44
    /// -> 0.35 µs and the client's next output and input another ~0.1 µs
    /// each (PERF_NOTES 17). In cache it costs a dozen instructions.
    /// Session 10 found no gain from the same loads while malloc and the
    /// 4-tuple table's second line were still on the path.
    #[inline(always)]
    pub(crate) fn warm(&self) {
        let x = (self.state as u64)
            ^ u64::from(self.local.1)
            ^ u64::from(self.ts_recent)
            ^ self.snd_wnd as u64
            ^ self.last_rcv.total_micros()
            ^ self.fin_seq.map_or(4, |s| u64::from(s.0))
            ^ self.total_retrans
            ^ self.tlp_at.map_or(1, Instant::total_micros)
            ^ self.rtt_seq.map_or(2, |(s, _)| u64::from(s.0))
            ^ self.tune.idle_at.map_or(3, Instant::total_micros)
            ^ self.snd_buf.len() as u64
            ^ self.rcv_buf.len() as u64
            ^ u64::from(self.assembler.is_empty())
            ^ u64::from(self.scoreboard.dsacks)
            ^ self.cc.cwnd as u64;
        core::hint::black_box(x);
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use core::mem::offset_of;

    /// Everything a segment, a `send` or a `recv` reads or writes lies in
    /// one span from the start to the end of the congestion state's
    /// per-ACK fields; the cold state (loss counters, handshake numbers,
    /// SACK blocks sent, recovery marks) lies after it. The scale
    /// benchmark's round trip over 1M connections pays about one cache
    /// miss per line of that span (PERF_NOTES 16).
    #[test]
    fn per_segment_fields_come_first() {
        let cc = offset_of!(Connection, cc);
        let hot_end = cc + crate::tcp::congestion::Congestion::HOT_BYTES;
        for off in [
            offset_of!(Connection, total_retrans),
            offset_of!(Connection, tlp_at),
            offset_of!(Connection, rtt_seq),
            offset_of!(Connection, tune),
            offset_of!(Connection, rcv_buf),
            offset_of!(Connection, scoreboard),
        ] {
            assert!(off < cc, "hot field at {off}, after cc at {cc}");
        }
        // 680 bytes before this layout (session 10), now 616.
        assert!(hot_end <= 620, "hot span ends at {hot_end}");
        for off in [
            offset_of!(Connection, loss),
            offset_of!(Connection, iss),
            offset_of!(Connection, irs),
            offset_of!(Connection, last_ooo),
            offset_of!(Connection, keepalive_probes),
            offset_of!(Connection, sack_sent),
            offset_of!(Connection, head_rtx),
            offset_of!(Connection, high_rxt),
            offset_of!(Connection, last_oow_ack),
        ] {
            assert!(off >= hot_end, "cold field at {off}, in the hot span");
        }
        let size = core::mem::size_of::<Connection>();
        assert!(size <= 920, "Connection is {size} bytes");
    }

    /// `warm` reads a field of each of these, in order: no 64-byte window of
    /// the hot span may lack one (each part is at most 64 bytes long).
    #[test]
    fn warm_reaches_every_hot_line() {
        let hot_end = offset_of!(Connection, cc) + crate::tcp::congestion::Congestion::HOT_BYTES;
        let read = [
            offset_of!(Connection, state),
            offset_of!(Connection, local),
            offset_of!(Connection, ts_recent),
            offset_of!(Connection, snd_wnd),
            offset_of!(Connection, last_rcv),
            offset_of!(Connection, fin_seq),
            offset_of!(Connection, total_retrans),
            offset_of!(Connection, tlp_at),
            offset_of!(Connection, rtt_seq),
            offset_of!(Connection, tune),
            offset_of!(Connection, snd_buf),
            offset_of!(Connection, rcv_buf),
            offset_of!(Connection, assembler),
            offset_of!(Connection, scoreboard),
            offset_of!(Connection, cc),
        ];
        for w in read.windows(2) {
            assert!(w[1] > w[0] && w[1] - w[0] <= 64, "gap {w:?}");
        }
        for size in [
            core::mem::size_of::<Autotune>(),
            core::mem::size_of::<RingBuffer>(),
            core::mem::size_of::<Assembler>(),
            core::mem::size_of::<Scoreboard>(),
        ] {
            assert!(size <= 64, "a part of {size} bytes");
        }
        let last = read.last().copied().unwrap_or(0);
        assert!(hot_end - last <= 64, "the tail from {last} to {hot_end}");
    }
}

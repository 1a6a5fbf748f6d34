//! Every tunable number of the TCP implementation, in one place.
//!
//! Where an RFC leaves a choice sockstack does what Linux does; `Profile::linux()`
//! holds those numbers (Linux 6.x sysctls and constants, see REFERENCES.md).
//! Tests may shorten timers by editing a copy.

use super::congestion::CongestionAlgorithm;
use crate::time::Duration;

/// TCP behaviour knobs. All durations are virtual-time durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// MSS assumed when the peer sends none (RFC 9293 3.7.1: 536).
    pub default_mss: u16,
    /// Floor on the peer's MSS (`tcp_min_snd_mss`), so MSS 0/1 cannot make us
    /// send a flood of tiny segments.
    pub min_snd_mss: u16,
    /// RTO before any RTT sample (RFC 6298 2.1: 1 s).
    pub rto_initial: Duration,
    /// Lower bound on RTO (Linux `TCP_RTO_MIN`, 200 ms; RFC 6298 says 1 s).
    pub rto_min: Duration,
    /// Upper bound on RTO (`TCP_RTO_MAX`, 120 s).
    pub rto_max: Duration,
    /// SYN retransmissions before ETIMEDOUT (`tcp_syn_retries`).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a half-open connection is dropped
    /// (`tcp_synack_retries`).
    pub synack_retries: u32,
    /// Data retransmissions before ETIMEDOUT (`tcp_retries2`).
    pub retries2: u32,
    /// Retransmissions for an orphaned (closed) connection; Linux
    /// `tcp_orphan_retries` = 0 means 8.
    pub orphan_retries: u32,
    /// At most one ACK per this interval in answer to out-of-window or
    /// challenge-worthy empty segments (`tcp_invalid_ratelimit`, RFC 5961 7).
    pub invalid_ratelimit: Duration,
    /// Challenge ACKs per second for the whole stack (RFC 5961 7; Linux's
    /// `tcp_challenge_ack_limit` before 6.0). `u32::MAX` disables it.
    pub challenge_ack_limit: u32,
    /// Delayed-ACK timeout (`TCP_DELACK_MIN`, 40 ms).
    pub delack_min: Duration,
    /// Upper bound for the delayed-ACK timeout (`TCP_DELACK_MAX`, 200 ms).
    pub delack_max: Duration,
    /// At most this many segments are ACKed at once when quick-ACK mode
    /// starts (`TCP_MAX_QUICKACKS`): at the first data and after a gap
    /// longer than the RTO, Linux `tcp_incr_quickack` gives half the
    /// advertised window in segments, at least 2, capped here.
    pub quickacks: u32,
    /// TIME_WAIT length, 2*MSL (`TCP_TIMEWAIT_LEN`, 60 s).
    pub time_wait: Duration,
    /// Orphaned FIN_WAIT_2 lifetime (`tcp_fin_timeout`, 60 s).
    pub fin_timeout: Duration,
    /// Backlog cap (`net.core.somaxconn`).
    pub somaxconn: u32,
    /// Half-open connections per listener (`tcp_max_syn_backlog`).
    pub max_syn_backlog: u32,
    /// Answer SYNs with SYN cookies (RFC 4987 3.6) once a listener's SYN
    /// queue is full, and accept cookie ACKs (`tcp_syncookies` = 1).
    pub syncookies: bool,
    /// Ephemeral port range, inclusive (`ip_local_port_range`).
    pub ephemeral_ports: (u16, u16),
    /// Default receive buffer (`tcp_rmem[1]`): where an autotuned receive
    /// buffer starts (see `moderate_rcvbuf`).
    pub rcvbuf_default: usize,
    /// Smallest receive buffer (`tcp_rmem[0]`).
    pub rcvbuf_min: usize,
    /// Largest receive buffer (`tcp_rmem[2]`); the window scale is chosen so
    /// that this fits in 16 bits (RFC 7323 2.3, Linux `tcp_select_initial_window`).
    pub rcvbuf_max: usize,
    /// Receive-buffer autotuning (`tcp_moderate_rcvbuf` = 1): a socket
    /// without SO_RCVBUF starts at `rcvbuf_default` and grows toward
    /// `rcvbuf_max` as the application reads (Linux `tcp_rcv_space_adjust`,
    /// see `tcp/autotune.rs`).
    pub moderate_rcvbuf: bool,
    /// Send buffer (`tcp_wmem`: 4096 / 16384 / 4194304). A socket without
    /// SO_SNDBUF starts at `sndbuf_default` and grows with cwnd up to
    /// `sndbuf_max` (Linux `tcp_sndbuf_expand`, always on unless locked).
    pub sndbuf_default: usize,
    pub sndbuf_min: usize,
    pub sndbuf_max: usize,
    /// An ESTABLISHED (or closing) connection whose peer has been silent
    /// this long (or one RTO, if longer) gives its empty rings' memory back
    /// (issue 7: shrink when idle; see `tcp/autotune.rs`). Not a Linux
    /// knob: Linux frees each sk_buff as soon as it is read or acknowledged.
    pub buffer_idle: Duration,
    /// Initial congestion window in segments (RFC 6928, Linux `TCP_INIT_CWND`).
    pub initial_cwnd: u32,
    /// Slow start's per-ACK growth limit L in segments (RFC 3465 2.2;
    /// 0: no limit). Default 2, the largest RFC 3465 2.3 allows (RFC 5681
    /// 3.1 recommends at most 1), so the RFC wins over Linux here. Linux
    /// (`tcp_slow_start`) has no limit: it grows by every segment acked, up
    /// to ssthresh, so a peer whose GRO/LRO acknowledges 64 KiB (about 45
    /// segments) per ACK does not slow its slow start (with L = 2 such a
    /// peer roughly halves the ramp-up rate per RTT). The limit bounds the
    /// line-rate burst one stretch ACK may release (RFC 3465 3.2); 0 trades
    /// that for Linux's ramp-up. Read when a connection is created.
    pub abc_limit_segments: u32,
    /// Restart the congestion window after idle (`tcp_slow_start_after_idle`
    /// = 1): data queued when nothing is in flight and no data went out for
    /// more than one RTO starts from the restart window (RFC 5681 4.1,
    /// Linux `tcp_cwnd_restart`, see `tcp/idle.rs`). Off: cwnd survives any
    /// pause. Read at every write.
    pub slow_start_after_idle: bool,
    /// Congestion control for new sockets (`tcp_congestion_control`; Linux
    /// builds default to CUBIC). A socket may pick another with
    /// `SocketSet::set_congestion` (TCP_CONGESTION).
    pub congestion: CongestionAlgorithm,
    /// Offer and accept SACK (`tcp_sack`).
    pub sack: bool,
    /// Tail loss probes (RFC 8985 7; Linux `tcp_early_retrans` = 3), used
    /// when SACK was agreed.
    pub tlp: bool,
    /// Undo a retransmission timeout that the echoed timestamp shows was
    /// spurious (RFC 3522 detection, RFC 4015 response; Linux always does
    /// this with timestamps, `tcp_try_undo_loss`).
    pub rto_undo: bool,
    /// On such an undo, also make the timer more conservative from the
    /// ACK's RTT sample (RFC 4015 4 "adapt the RTO": SRTT and RTTVAR at
    /// least the sample and half of it). Linux does not (`tcp_try_undo_loss`
    /// restores the window only). The sample of a detection is never much
    /// shorter than one RTO (the ACK echoes a TSval sent before the timer
    /// fired), and when an ACK was lost rather than delayed (an RFC 7323
    /// receiver echoes the original's TSval for the duplicate) the RTO feeds
    /// itself: about three times longer per undo, 14 s seen. 10 % loss
    /// matrix cell, 64 MiB, seeds 5-9: 4.24 Mbit/s mean with it, 4.79
    /// without, 4.70 with no undo at all. On for now: without it, seed 5 of
    /// `matrix_ci` has SACK off beat SACK on at 1 % on the slow link (2.91
    /// vs 2.84 Mbit/s; with it they tie at 2.84). Either way no adaptation
    /// follows an ACK that carries a D-SACK: that ACK shows the original
    /// arrived and its ACK was lost (recovery.rs `check_spurious_rto`).
    pub rto_undo_adapt: bool,
    /// Offer and accept timestamps (`tcp_timestamps`).
    pub timestamps: bool,
    /// Offer and accept window scaling (`tcp_window_scaling`).
    pub window_scaling: bool,
    /// Keepalive idle time, interval, probe count (`tcp_keepalive_*`).
    pub keepalive_time: Duration,
    pub keepalive_intvl: Duration,
    pub keepalive_probes: u32,
    /// Cap on out-of-order ranges held per connection.
    pub max_ooo_ranges: usize,
    /// Cap on SACKed ranges the sender remembers per connection (the RFC
    /// 6675 scoreboard); blocks beyond it are ignored and counted.
    pub sack_scoreboard_cap: usize,
    /// Cap on TCP sockets per stack (every queue has a cap). The 4-tuple
    /// demux holds 24-bit slot indexes, so a stack never holds more than
    /// 16,777,215 sockets whatever this says (`sockets/demux.rs`).
    pub max_sockets: usize,
    /// RFC 1337 (`tcp_rfc1337`): a reset at `rcv_nxt` in TIME_WAIT is
    /// ignored (true) or ends TIME_WAIT at once (false, Linux's default:
    /// `tcp_timewait_state_process` kills the timewait socket). Either way
    /// a reset elsewhere in the sequence space, or one PAWS rejects, is
    /// dropped. Read per segment.
    pub rfc1337: bool,
    /// Cap on TIME_WAIT connections (`tcp_max_tw_buckets`); beyond it a
    /// closing connection skips TIME_WAIT as Linux does.
    pub max_tw_buckets: usize,
    /// Cap on queued stateless replies (RSTs to closed ports).
    pub max_pending_resets: usize,
    /// Cap on queued cookie SYN-ACKs (RFC 4987 3.6), separate from the RST
    /// cap. Linux sends a cookie SYN-ACK at once; we queue it until the
    /// runtime polls, so the cap must hold every SYN of one receive batch
    /// (the host runtime moves 256 frames per direction per iteration; the
    /// virtual-time runtime drains its whole link at one instant). At most
    /// this many headers (about 100 bytes each) are held.
    pub max_pending_cookies: usize,
    /// Fuzzing only (`--cfg fuzzing`): every segment takes the general
    /// path, so `fuzz/tcp_segments` can run a twin stack without the
    /// header-prediction fast path and compare (the `tcp/fastpath.rs`
    /// contract: nothing observable may differ).
    #[cfg(fuzzing)]
    pub fuzz_slow_path_only: bool,
}

impl Profile {
    /// `quickacks` as a connection counts it (a `u16`, saturating below
    /// `input::QUICKACK_FIRST`, the connection's "no data yet" mark).
    pub(crate) fn quickack_cap(&self) -> u16 {
        u16::try_from(self.quickacks)
            .unwrap_or(u16::MAX)
            .min(super::input::QUICKACK_FIRST - 1)
    }

    /// Linux's defaults.
    pub fn linux() -> Self {
        Profile {
            default_mss: 536,
            min_snd_mss: 48,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            syn_retries: 6,
            synack_retries: 5,
            retries2: 15,
            orphan_retries: 8,
            invalid_ratelimit: Duration::from_millis(500),
            challenge_ack_limit: 1000,
            delack_min: Duration::from_millis(40),
            delack_max: Duration::from_millis(200),
            quickacks: 16,
            time_wait: Duration::from_secs(60),
            fin_timeout: Duration::from_secs(60),
            somaxconn: 4096,
            max_syn_backlog: 2048,
            syncookies: true,
            ephemeral_ports: (32768, 60999),
            rcvbuf_default: 131_072,
            rcvbuf_min: 4096,
            rcvbuf_max: 33_554_432,
            moderate_rcvbuf: true,
            sndbuf_default: 16_384,
            sndbuf_min: 4096,
            sndbuf_max: 4_194_304,
            buffer_idle: Duration::from_secs(1),
            initial_cwnd: 10,
            abc_limit_segments: 2,
            slow_start_after_idle: true,
            congestion: CongestionAlgorithm::Cubic,
            sack: true,
            tlp: true,
            rto_undo: true,
            rto_undo_adapt: true,
            timestamps: true,
            window_scaling: true,
            keepalive_time: Duration::from_secs(7200),
            keepalive_intvl: Duration::from_secs(75),
            keepalive_probes: 9,
            max_ooo_ranges: 64,
            sack_scoreboard_cap: 64,
            max_sockets: 1 << 20,
            rfc1337: false,
            max_tw_buckets: 131_072,
            max_pending_resets: 256,
            max_pending_cookies: 1024,
            #[cfg(fuzzing)]
            fuzz_slow_path_only: false,
        }
    }

    /// The window-scale shift we offer: shift until the largest receive
    /// buffer fits in 16 bits, at most 14 (RFC 7323 2.3).
    pub fn window_scale(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        let mut shift = 0u8;
        while shift < 14 && (self.rcvbuf_max >> shift) > 0xffff {
            shift += 1;
        }
        shift
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::linux()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn linux_wscale_is_10() {
        assert_eq!(Profile::linux().window_scale(), 10);
    }
}

//! Congestion control: the window the sender may have in flight.
//!
//! CONTRACT: `Congestion` owns `cwnd`, `ssthresh` and `recover` (bytes and
//! a sequence number; the connection reads them and may deflate `cwnd` on
//! a partial ACK) and everything every algorithm shares: the initial
//! window (RFC 6928, IW10), slow start with byte counting (RFC 5681 3.1,
//! RFC 3465 with L = 2*SMSS, or no limit like Linux: `with_abc_limit`),
//! the loss window after an RTO, and the Reno
//! fast-recovery window (RFC 5681 3.2, RFC 6582: inflate by three
//! segments, one per further duplicate ACK, deflate to ssthresh on exit).
//! The selected algorithm (TCP_CONGESTION) decides only the two things
//! where algorithms differ: how cwnd grows in congestion avoidance and
//! what ssthresh becomes at a congestion event. Dispatch is a plain enum
//! (`Algo`): no allocation, per-ACK work is a match.
//!
//! Algorithms: `reno` (RFC 5681 AIMD, beta 1/2 of FlightSize; with the
//! connection's partial-ACK handling this is NewReno, RFC 6582) and
//! `cubic` (RFC 9438, beta 0.7, `cubic.rs`), the default as in Linux.
//! HyStart/HyStart++ (RFC 9406) is not implemented: slow start runs until
//! the first loss for both.
//!
//! Idle (`idle.rs`): `Congestion` keeps the time data last went out (Linux
//! `lsndtime`). The first transmission with nothing in flight tells the
//! algorithm how long the sender was quiet (Linux `CA_EVENT_TX_START`;
//! CUBIC moves its epoch by that much), and data queued after more than
//! one RTO of silence restarts the window (`restart_after_idle`, RFC 5681
//! 4.1 in Linux's form `tcp_cwnd_restart`). A window not in use at any ACK
//! for one RTO decays halfway towards the window used
//! (`application_limited`, Linux `tcp_cwnd_application_limited`).

use core::fmt;
use core::num::NonZeroUsize;
use core::str::FromStr;

use super::cubic::Cubic;
use super::SeqNum;
use crate::time::{Duration, Instant};

/// A congestion-control algorithm, as named by Linux's TCP_CONGESTION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CongestionAlgorithm {
    /// Reno/NewReno (RFC 5681, RFC 6582).
    Reno,
    /// CUBIC (RFC 9438), Linux's default.
    #[default]
    Cubic,
}

impl CongestionAlgorithm {
    /// Every algorithm, as `/proc/sys/net/ipv4/tcp_available_congestion_control` lists them.
    pub const ALL: [CongestionAlgorithm; 2] =
        [CongestionAlgorithm::Reno, CongestionAlgorithm::Cubic];

    /// The Linux name ("reno", "cubic").
    pub fn name(self) -> &'static str {
        match self {
            CongestionAlgorithm::Reno => "reno",
            CongestionAlgorithm::Cubic => "cubic",
        }
    }

    /// Look an algorithm up by its Linux name; `None` where Linux says ENOENT.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for CongestionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given to TCP_CONGESTION is not an algorithm we have (ENOENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAlgorithm;

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown congestion-control algorithm")
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for CongestionAlgorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, UnknownAlgorithm> {
        Self::from_name(s).ok_or(UnknownAlgorithm)
    }
}

/// What an algorithm decides; `Congestion` does the rest.
pub(crate) trait CongestionControl {
    /// Congestion avoidance (cwnd >= ssthresh): the new cwnd after `acked`
    /// bytes were newly acknowledged. `rtt` is the smoothed RTT if known.
    fn avoid(
        &mut self,
        now: Instant,
        cwnd: usize,
        acked: usize,
        mss: usize,
        rtt: Option<Duration>,
    ) -> usize;
    /// A congestion event (fast retransmit or the first RTO of an
    /// episode): the new ssthresh, at least 2 SMSS.
    fn loss_ssthresh(&mut self, cwnd: usize, flight: usize, mss: usize) -> usize;
    /// Recovery ended; cwnd was set to ssthresh.
    fn on_recovery_exit(&mut self) {}
    /// Data goes out at `now` with nothing in flight, `idle` after the
    /// last data sent (Linux `CA_EVENT_TX_START`).
    fn on_tx_start(&mut self, _now: Instant, _idle: Duration) {}
}

/// Reno congestion avoidance (RFC 5681 3.1): one SMSS per cwnd acknowledged.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reno {
    /// Bytes acked in congestion avoidance since the last cwnd increase.
    acked_ca: usize,
}

impl CongestionControl for Reno {
    fn avoid(
        &mut self,
        _now: Instant,
        cwnd: usize,
        acked: usize,
        mss: usize,
        _rtt: Option<Duration>,
    ) -> usize {
        // RFC 3465 2.1: count bytes; one SMSS per cwnd of data acknowledged.
        self.acked_ca = self.acked_ca.saturating_add(acked);
        if self.acked_ca >= cwnd {
            self.acked_ca -= cwnd;
            cwnd.saturating_add(mss)
        } else {
            cwnd
        }
    }

    fn loss_ssthresh(&mut self, _cwnd: usize, flight: usize, mss: usize) -> usize {
        // RFC 5681 3.1 eq. 4: max(FlightSize / 2, 2 * SMSS).
        self.acked_ca = 0;
        (flight / 2).max(2 * mss)
    }

    fn on_recovery_exit(&mut self) {
        self.acked_ca = 0;
    }
}

/// The selected algorithm's own state.
#[derive(Debug, Clone)]
enum Algo {
    Reno(Reno),
    Cubic(Cubic),
}

impl Algo {
    fn new(a: CongestionAlgorithm) -> Self {
        match a {
            CongestionAlgorithm::Reno => Algo::Reno(Reno::default()),
            CongestionAlgorithm::Cubic => Algo::Cubic(Cubic::default()),
        }
    }

    fn kind(&self) -> CongestionAlgorithm {
        match self {
            Algo::Reno(_) => CongestionAlgorithm::Reno,
            Algo::Cubic(_) => CongestionAlgorithm::Cubic,
        }
    }

    fn get(&mut self) -> &mut dyn CongestionControl {
        match self {
            Algo::Reno(r) => r,
            Algo::Cubic(c) => c,
        }
    }
}

/// The congestion window and the algorithm behind it, in bytes.
///
/// `repr(C)`, in the order written: what every ACK reads and writes
/// (`on_ack_at` in slow start) first; the algorithm's state, used only in
/// congestion avoidance and at loss, last.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Congestion {
    pub(crate) cwnd: usize,
    pub(crate) ssthresh: usize,
    /// The most in flight during the current round (about one SRTT since
    /// `peak_since`), like Linux's `max_packets_out`: an ACK train that
    /// drains the pipe before anything is sent still counts as a full pipe.
    /// Bytes, saturating: a TCP window (at most 2^30) fits; u32 keeps
    /// `Congestion` at 152 bytes with the two fields below.
    flight_peak: u32,
    /// Linux `snd_cwnd_used`: the most in flight at an ACK since the
    /// window was last in use (`cwnd_stamp`); 0 while it is in use. Kept
    /// in bytes like `flight_peak` (no division per ACK); counted in
    /// segments, rounded up as Linux counts `packets_out`, when used.
    cwnd_used: u32,
    peak_since: Instant,
    /// Linux `snd_cwnd_stamp`: the last ACK that found the window in use,
    /// or the last application-limited decay or idle restart. None until
    /// the first data segment goes out (`tx_start`; Linux stamps when the
    /// handshake completes, `tcp_init_transfer`).
    cwnd_stamp: Option<Instant>,
    /// In fast recovery until `snd_una` passes this point.
    pub(crate) recover: Option<SeqNum>,
    /// When data last went out (Linux `lsndtime`; `on_data_sent`); None
    /// before the first data segment.
    last_send: Option<Instant>,
    /// RFC 3465 2.2's L in segments (`Profile::abc_limit_segments`; 0: no
    /// limit, up to ssthresh, as Linux `tcp_slow_start`).
    abc_limit: u32,
    /// An RTO happened and no new data has been acknowledged since: a
    /// repeated RTO keeps ssthresh (RFC 5681 3.1, note after eq. 4).
    in_loss: bool,
    /// cwnd and ssthresh before the first RTO of the current loss episode,
    /// for the Eifel response (RFC 4015) when the RTO proves spurious.
    /// cwnd is never zero (at least one SMSS), so the niche makes this 16
    /// bytes, not 24.
    prior: Option<(NonZeroUsize, usize)>,
    algo: Algo,
}

impl Congestion {
    /// Bytes from the start that every ACK and send may touch (the
    /// connection's hot span ends here, `Connection` layout test).
    #[cfg(test)]
    pub(crate) const HOT_BYTES: usize = core::mem::offset_of!(Congestion, prior);

    /// RFC 5681 3.1: ssthresh starts arbitrarily high; RFC 6928 IW.
    /// The profile's default algorithm is CUBIC; use `with_algorithm` to pick.
    #[cfg(test)]
    pub(crate) fn new(initial_segments: u32, mss: usize) -> Self {
        Self::with_algorithm(CongestionAlgorithm::default(), initial_segments, mss)
    }

    pub(crate) fn with_algorithm(
        algorithm: CongestionAlgorithm,
        initial_segments: u32,
        mss: usize,
    ) -> Self {
        Congestion {
            cwnd: (initial_segments.max(1) as usize).saturating_mul(mss),
            ssthresh: usize::MAX / 2,
            recover: None,
            in_loss: false,
            prior: None,
            flight_peak: 0,
            cwnd_used: 0,
            peak_since: Instant::ZERO,
            cwnd_stamp: None,
            abc_limit: 2,
            last_send: None,
            algo: Algo::new(algorithm),
        }
    }

    /// The algorithm in use.
    pub(crate) fn algorithm(&self) -> CongestionAlgorithm {
        self.algo.kind()
    }

    /// Switch algorithm (TCP_CONGESTION on a live socket, as Linux allows):
    /// cwnd, ssthresh and any recovery carry over; the new algorithm starts
    /// with fresh state. Choosing the current one changes nothing.
    pub(crate) fn set_algorithm(&mut self, algorithm: CongestionAlgorithm) {
        if algorithm != self.algo.kind() {
            self.algo = Algo::new(algorithm);
        }
    }

    pub(crate) fn reset_initial(&mut self, initial_segments: u32, mss: usize) {
        self.cwnd = (initial_segments.max(1) as usize).saturating_mul(mss);
    }

    /// Slow start's per-ACK limit L in segments (0: none); see the profile.
    pub(crate) fn with_abc_limit(mut self, segments: u32) -> Self {
        self.abc_limit = segments;
        self
    }

    /// New data was cumulatively acknowledged (not during recovery) at
    /// `now`. `srtt` is the smoothed RTT if known; `flight` is what was in
    /// flight before this ACK (`usize::MAX` if unknown).
    pub(crate) fn on_ack_at(
        &mut self,
        now: Instant,
        acked: usize,
        mss: usize,
        srtt: Option<Duration>,
        flight: usize,
    ) {
        self.in_loss = false;
        let mss = mss.max(1);
        // RFC 7661 / Linux `tcp_is_cwnd_limited`: grow only a window that
        // is in use, so an application- or receiver-limited sender cannot
        // build a cwnd (and, for CUBIC, a W_max) it never tested.
        let round = srtt.unwrap_or(Duration::ZERO);
        let flight32 = u32::try_from(flight).unwrap_or(u32::MAX);
        if now.saturating_duration_since(self.peak_since) > round {
            self.peak_since = now;
            self.flight_peak = flight32;
        } else {
            self.flight_peak = self.flight_peak.max(flight32);
        }
        let flight = self.flight_peak as usize;
        let ss = self.cwnd < self.ssthresh;
        let used = if ss {
            flight.saturating_mul(2) > self.cwnd
        } else {
            flight.saturating_add(3 * mss) >= self.cwnd
        };
        if !used {
            // Linux `tcp_cwnd_validate`, "network starves": remember the
            // most in flight.
            self.cwnd_used = self.cwnd_used.max(self.flight_peak);
            return;
        }
        // The window is in use ("network is fed fully"): restart the clock
        // of `tcp_cwnd_application_limited`.
        self.cwnd_used = 0;
        self.cwnd_stamp = Some(now);
        if ss {
            // RFC 5681 3.1 slow start, RFC 3465 2.2 byte counting with
            // L = abc_limit SMSS (2 by default, RFC 3465 2.3's largest).
            // Without a limit a stretch ACK counts in full but stops at
            // ssthresh, as Linux `tcp_slow_start` (the rest is dropped, not
            // carried into avoidance).
            self.cwnd = match self.abc_limit {
                0 => (self.cwnd.saturating_add(acked)).min(self.ssthresh.max(self.cwnd)),
                l => self
                    .cwnd
                    .saturating_add(acked.min((l as usize).saturating_mul(mss))),
            };
        } else {
            self.cwnd = self.algo.get().avoid(now, self.cwnd, acked, mss, srtt);
        }
    }

    /// Retransmission timeout: ssthresh from the algorithm (only for the
    /// first RTO of an episode, RFC 5681 3.1), then the loss window of
    /// one SMSS (RFC 5681 3.1, RFC 9438 4.8).
    pub(crate) fn on_rto(&mut self, flight: usize, mss: usize) {
        if !self.in_loss {
            // Remember the window for an undo (RFC 4015 4, Linux
            // `tcp_init_undo`). An RTO in fast recovery undoes only to the
            // recovery's exit window, never to the inflated one.
            let cwnd = if self.recover.is_some() {
                self.ssthresh.min(self.cwnd)
            } else {
                self.cwnd
            };
            self.prior = NonZeroUsize::new(cwnd).map(|c| (c, self.ssthresh));
            self.ssthresh = self.algo.get().loss_ssthresh(self.cwnd, flight, mss);
        }
        self.in_loss = true;
        self.cwnd = mss;
        self.recover = None;
    }

    /// The last RTO was spurious (RFC 3522 detection): restore the window
    /// from before the episode's first RTO (RFC 4015 4, in Linux's form
    /// `tcp_undo_cwnd_reduction`: cwnd and ssthresh never shrink by the
    /// undo). The algorithm's own state (CUBIC's W_max and epoch) stays as
    /// the loss left it, as in Linux. Returns false if nothing was saved.
    pub(crate) fn undo_rto(&mut self) -> bool {
        let Some((cwnd, ssthresh)) = self.prior.take() else {
            return false;
        };
        self.cwnd = self.cwnd.max(cwnd.get());
        self.ssthresh = self.ssthresh.max(ssthresh);
        self.in_loss = false;
        self.recover = None;
        true
    }

    /// The RTO proved genuine (or cannot be checked): drop the saved window.
    pub(crate) fn forget_undo(&mut self) {
        self.prior = None;
    }

    /// Third duplicate ACK: enter fast recovery (RFC 5681 3.2 steps 2-3;
    /// RFC 9438 4.6 for CUBIC's ssthresh).
    pub(crate) fn on_fast_retransmit(&mut self, flight: usize, mss: usize, recover: SeqNum) {
        self.ssthresh = self.algo.get().loss_ssthresh(self.cwnd, flight, mss);
        self.cwnd = self.ssthresh.saturating_add(3 * mss);
        self.recover = Some(recover);
    }

    /// A further duplicate ACK during recovery inflates the window (step 4).
    pub(crate) fn on_dup_ack_in_recovery(&mut self, mss: usize) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }

    /// Recovery ends (step 6): deflate to ssthresh.
    pub(crate) fn on_recovery_exit(&mut self) {
        self.cwnd = self.ssthresh;
        self.recover = None;
        self.algo.get().on_recovery_exit();
    }

    /// A segment carrying data (new or resent) goes out at `now` with
    /// `in_flight` bytes already outstanding (Linux `tcp_event_data_sent`).
    /// One compare and one store on the bulk path.
    #[inline(always)]
    pub(crate) fn on_data_sent(&mut self, now: Instant, in_flight: usize) {
        if in_flight == 0 {
            self.tx_start(now);
        }
        self.last_send = Some(now);
    }

    /// The first transmission with nothing in flight: the algorithm hears
    /// how long the sender was quiet (Linux `CA_EVENT_TX_START`).
    #[inline(never)]
    fn tx_start(&mut self, now: Instant) {
        let Some(last) = self.last_send else {
            // The first data: start the application-limited clock.
            self.cwnd_stamp = Some(now);
            return;
        };
        let idle = now.saturating_duration_since(last);
        if idle > Duration::ZERO {
            self.algo.get().on_tx_start(now, idle);
        }
    }

    /// When data last went out (Linux `lsndtime`).
    #[cfg(test)]
    pub(crate) fn last_send(&self) -> Option<Instant> {
        self.last_send
    }

    /// The application queues data at `now` with nothing in flight (the
    /// caller checks; Linux `tcp_slow_start_after_idle_check`). If no data
    /// went out for more than `rto`, restart from the restart window
    /// `min(initial_segments * mss, cwnd)` (RFC 5681 4.1), in Linux's form
    /// (`tcp_cwnd_restart`): ssthresh keeps at least 3/4 of cwnd (outside
    /// recovery, `tcp_current_ssthresh`), and cwnd halves once for every
    /// further RTO of silence, never below the restart window. Windows
    /// are counted in whole segments as Linux counts them. Returns true if
    /// it restarted.
    ///
    /// The idle time is handed to the algorithm at once (as the first
    /// transmission would, `tx_start`) and the send time moves to `now`, so
    /// a second write before anything went out does not halve again; the
    /// epoch shift adds up to the same total either way.
    pub(crate) fn restart_after_idle(
        &mut self,
        now: Instant,
        rto: Duration,
        initial_segments: u32,
        mss: usize,
    ) -> bool {
        // Never sent data: not idle (Linux starts `lsndtime` at the
        // handshake; a restart before any data could only raise ssthresh).
        let Some(last) = self.last_send else {
            return false;
        };
        let mut idle = now.saturating_duration_since(last);
        if idle <= rto {
            return false;
        }
        let mss = mss.max(1);
        if self.recover.is_none() {
            self.ssthresh = self.current_ssthresh(mss);
        }
        let restart = (initial_segments.max(1) as usize)
            .saturating_mul(mss)
            .min(self.cwnd);
        let mut cwnd = self.cwnd;
        // One halving per RTO of silence beyond the first (Linux: while
        // (delta -= rto) > 0 && cwnd > restart). Ends within 64 rounds: a
        // window that halves reaches the restart window or zero.
        while idle > rto && cwnd > restart {
            cwnd = ((cwnd / mss) >> 1).saturating_mul(mss);
            idle -= rto;
        }
        self.cwnd = cwnd.max(restart);
        self.tx_start(now);
        self.last_send = Some(now);
        // Linux `tcp_cwnd_restart` also restarts the application-limited
        // clock.
        self.cwnd_stamp = Some(now);
        self.cwnd_used = 0;
        true
    }

    /// Linux `tcp_current_ssthresh` outside a cwnd reduction:
    /// max(ssthresh, 3/4 cwnd), cwnd counted in whole segments as Linux
    /// counts packets (25 -> 12 + 6 = 18).
    fn current_ssthresh(&self, mss: usize) -> usize {
        let segs = self.cwnd / mss.max(1);
        let three_quarters = ((segs >> 1) + (segs >> 2)).saturating_mul(mss);
        self.ssthresh.max(three_quarters)
    }

    /// Linux `snd_cwnd_stamp` (see `application_limited`).
    #[inline(always)]
    pub(crate) fn cwnd_stamp(&self) -> Option<Instant> {
        self.cwnd_stamp
    }

    /// Linux `tcp_cwnd_application_limited` (RFC 2861's slow part), called
    /// when one RTO passed since `cwnd_stamp` without an ACK that found
    /// the window in use. `open` is the caller's Linux `TCP_CA_Open` and
    /// no `SOCK_NOSPACE`. Then, if the most used (`cwnd_used`, at least the
    /// initial window) is below cwnd, ssthresh keeps 3/4 of cwnd and cwnd
    /// moves halfway down to the window used, in whole segments: 5
    /// segments used with cwnd 40 gives 40 -> 25 -> 17 -> 13 -> 11 -> 10
    /// over successive RTOs. The clock restarts either way.
    pub(crate) fn application_limited(
        &mut self,
        now: Instant,
        open: bool,
        initial_segments: u32,
        mss: usize,
    ) {
        if open {
            let mss = mss.max(1);
            let segs = self.cwnd / mss;
            // Segments as Linux counts `packets_out`: a partial one is one.
            let used = (self.cwnd_used as usize).div_ceil(mss);
            let win_used = used.max(initial_segments.max(1) as usize);
            if win_used < segs {
                self.ssthresh = self.current_ssthresh(mss);
                self.cwnd = ((segs + win_used) >> 1).saturating_mul(mss);
            }
            self.cwnd_used = 0;
        }
        self.cwnd_stamp = Some(now);
    }

    /// Neither in recovery nor after an RTO (Linux `TCP_CA_Open` as far as
    /// `Congestion` knows; the caller adds duplicate ACKs).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.recover.is_none() && !self.in_loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// Slow start to `w` segments, then a loss with `w` in flight and
    /// recovery ending at once.
    fn after_loss(a: CongestionAlgorithm, w: usize) -> Congestion {
        let mut c = Congestion::with_algorithm(a, 10, MSS);
        while c.cwnd < w * MSS {
            c.on_ack_at(ms(0), MSS, MSS, None, c.cwnd);
        }
        assert_eq!(c.cwnd, w * MSS);
        c.on_fast_retransmit(w * MSS, MSS, SeqNum(0));
        c.on_recovery_exit();
        c
    }

    #[test]
    fn names_round_trip_and_default_is_cubic() {
        assert_eq!(CongestionAlgorithm::default(), CongestionAlgorithm::Cubic);
        for a in CongestionAlgorithm::ALL {
            assert_eq!(a.name().parse::<CongestionAlgorithm>(), Ok(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert_eq!("bbr".parse::<CongestionAlgorithm>(), Err(UnknownAlgorithm));
        assert_eq!(CongestionAlgorithm::from_name("CUBIC"), None);
        assert_eq!(
            Congestion::new(10, MSS).algorithm(),
            CongestionAlgorithm::Cubic
        );
    }

    #[test]
    fn slow_start_and_iw_are_shared() {
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 10, MSS);
            assert_eq!(c.cwnd, 10 * MSS);
            // RFC 3465: at most 2 SMSS per ACK in slow start.
            c.on_ack_at(ms(1), 5 * MSS, MSS, None, 10 * MSS);
            assert_eq!(c.cwnd, 12 * MSS, "{a}");
            c.reset_initial(4, 500);
            assert_eq!(c.cwnd, 2000);
        }
    }

    #[test]
    fn loss_reduces_by_beta() {
        // Reno halves (RFC 5681 eq. 4), CUBIC keeps 0.7 (RFC 9438 4.6).
        let r = after_loss(CongestionAlgorithm::Reno, 100);
        assert_eq!((r.cwnd, r.ssthresh), (50 * MSS, 50 * MSS));
        let c = after_loss(CongestionAlgorithm::Cubic, 100);
        assert_eq!((c.cwnd, c.ssthresh), (70 * MSS, 70 * MSS));
        // Never below two segments.
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 1, MSS);
            c.on_fast_retransmit(MSS, MSS, SeqNum(0));
            assert_eq!(c.ssthresh, 2 * MSS, "{a}");
        }
    }

    #[test]
    fn fast_recovery_window_is_shared() {
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 20, MSS);
            c.on_fast_retransmit(20 * MSS, MSS, SeqNum(77));
            let ss = c.ssthresh;
            assert_eq!(c.recover, Some(SeqNum(77)));
            assert_eq!(c.cwnd, ss + 3 * MSS, "{a}: RFC 5681 3.2 step 3");
            c.on_dup_ack_in_recovery(MSS);
            assert_eq!(c.cwnd, ss + 4 * MSS, "{a}: step 4");
            c.on_recovery_exit();
            assert_eq!((c.cwnd, c.recover), (ss, None), "{a}: step 6");
        }
    }

    #[test]
    fn repeated_rto_keeps_ssthresh() {
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 40, MSS);
            c.on_rto(40 * MSS, MSS);
            let ss = c.ssthresh;
            assert!(ss >= 20 * MSS, "{a}: {ss}");
            assert_eq!(c.cwnd, MSS);
            // The retransmission is lost too: backoff, same ssthresh.
            c.on_rto(40 * MSS, MSS);
            assert_eq!((c.cwnd, c.ssthresh), (MSS, ss), "{a}");
            // New data acknowledged ends the episode: the next RTO reduces.
            c.on_ack_at(ms(5), MSS, MSS, None, 40 * MSS);
            c.on_rto(10 * MSS, MSS);
            assert!(c.ssthresh < ss, "{a}");
        }
    }

    #[test]
    fn undo_restores_the_window_of_the_first_rto() {
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 40, MSS);
            c.ssthresh = 30 * MSS;
            c.on_rto(40 * MSS, MSS);
            c.on_rto(40 * MSS, MSS);
            assert_eq!(c.cwnd, MSS);
            assert!(c.undo_rto(), "{a}");
            assert_eq!((c.cwnd, c.ssthresh), (40 * MSS, 30 * MSS), "{a}");
            // Once only; a forgotten undo does nothing.
            assert!(!c.undo_rto());
            c.on_rto(40 * MSS, MSS);
            c.forget_undo();
            assert!(!c.undo_rto());
            assert_eq!(c.cwnd, MSS);
            // An RTO in fast recovery undoes to the recovery's window.
            let mut c = Congestion::with_algorithm(a, 20, MSS);
            c.on_fast_retransmit(20 * MSS, MSS, SeqNum(9));
            let ss = c.ssthresh;
            c.on_rto(20 * MSS, MSS);
            assert!(c.undo_rto());
            assert_eq!((c.cwnd, c.ssthresh, c.recover), (ss, ss, None), "{a}");
        }
    }

    #[test]
    fn an_unused_window_does_not_grow() {
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 10, MSS);
            // Slow start: one segment in flight out of ten.
            c.on_ack_at(ms(1), MSS, MSS, None, MSS);
            assert_eq!(c.cwnd, 10 * MSS, "{a}");
            c.ssthresh = 5 * MSS;
            c.on_ack_at(ms(1), 10 * MSS, MSS, None, 2 * MSS);
            assert_eq!(c.cwnd, 10 * MSS, "{a}");
        }
    }

    #[test]
    fn avoidance_follows_the_algorithm() {
        // Reno: one SMSS per window. CUBIC at 100 ms RTT far below W_max:
        // the concave region gives more than one SMSS per RTT at first.
        let mut r = after_loss(CongestionAlgorithm::Reno, 100);
        let mut c = after_loss(CongestionAlgorithm::Cubic, 100);
        for round in 1..=10u64 {
            for cc in [&mut r, &mut c] {
                let w = cc.cwnd / MSS;
                for _ in 0..w {
                    let f = cc.cwnd;
                    cc.on_ack_at(
                        ms(round * 100),
                        MSS,
                        MSS,
                        Some(Duration::from_millis(100)),
                        f,
                    );
                }
            }
        }
        assert_eq!(r.cwnd, 60 * MSS);
        assert!(c.cwnd > 75 * MSS && c.cwnd <= 100 * MSS, "{}", c.cwnd);
    }

    #[test]
    fn restart_after_idle_follows_tcp_cwnd_restart() {
        let rto = Duration::from_millis(200);
        for a in CongestionAlgorithm::ALL {
            // 80 segments, last data at 1 s; (idle ms, cwnd segments).
            for (idle, want) in [
                (0, 80),
                (200, 80),
                (201, 40),
                (400, 40),
                (401, 20),
                (601, 10),
                (60_000, 10),
            ] {
                let mut c = Congestion::with_algorithm(a, 10, MSS);
                c.cwnd = 80 * MSS;
                c.on_data_sent(ms(1000), 5 * MSS);
                let restarted = c.restart_after_idle(ms(1000 + idle), rto, 10, MSS);
                assert_eq!(restarted, want != 80, "{a} {idle}");
                assert_eq!(c.cwnd, want * MSS, "{a} idle {idle} ms");
                // ssthresh infinite: max(ssthresh, 3/4 cwnd) keeps it.
                assert_eq!(c.ssthresh, usize::MAX / 2);
                if restarted {
                    // The clock moved: no second halving for the same pause.
                    assert_eq!(c.last_send(), Some(ms(1000 + idle)));
                    assert!(!c.restart_after_idle(ms(1000 + idle), rto, 10, MSS));
                }
            }
            // A finite ssthresh rises to 3/4 of the window in whole
            // segments (Linux counts packets: 25 -> 12 + 6 = 18), and a
            // window of 25 halves to 12.
            let mut c = Congestion::with_algorithm(a, 10, MSS);
            c.cwnd = 25 * MSS + 700;
            c.ssthresh = 5 * MSS;
            c.on_data_sent(ms(0), MSS);
            assert!(c.restart_after_idle(ms(300), rto, 10, MSS));
            assert_eq!((c.cwnd, c.ssthresh), (12 * MSS, 18 * MSS), "{a}");
            // In recovery ssthresh stays (`tcp_in_cwnd_reduction`).
            let mut c = Congestion::with_algorithm(a, 10, MSS);
            c.on_fast_retransmit(40 * MSS, MSS, SeqNum(3));
            c.on_data_sent(ms(0), MSS);
            let ss = c.ssthresh;
            assert!(c.restart_after_idle(ms(10_000), rto, 10, MSS));
            assert_eq!((c.cwnd, c.ssthresh), (10 * MSS, ss), "{a}");
            // Below the initial window the window is its own restart window.
            let mut c = Congestion::with_algorithm(a, 10, MSS);
            c.cwnd = 3 * MSS;
            c.on_data_sent(ms(0), MSS);
            assert!(c.restart_after_idle(ms(10_000), rto, 10, MSS));
            assert_eq!(c.cwnd, 3 * MSS, "{a}");
        }
    }

    #[test]
    fn data_sent_keeps_the_send_time() {
        let mut c = Congestion::new(10, MSS);
        assert_eq!(c.last_send(), None);
        // No data sent yet: nothing to restart.
        c.cwnd = 40 * MSS;
        let rto = Duration::from_millis(200);
        assert!(!c.restart_after_idle(ms(5000), rto, 10, MSS));
        c.on_data_sent(ms(7), 0);
        c.on_data_sent(ms(9), MSS);
        assert_eq!(c.last_send(), Some(ms(9)));
        // Only the quiet time since the last send counts.
        assert!(!c.restart_after_idle(ms(209), rto, 10, MSS));
        assert!(c.restart_after_idle(ms(210), rto, 10, MSS));
        assert_eq!(c.cwnd, 20 * MSS);
    }

    #[test]
    fn application_limited_moves_halfway_to_the_window_used() {
        for a in CongestionAlgorithm::ALL {
            let mut c = Congestion::with_algorithm(a, 10, MSS);
            c.cwnd = 40 * MSS;
            // The first data segment starts the clock.
            assert_eq!(c.cwnd_stamp(), None);
            c.on_data_sent(ms(0), 0);
            assert_eq!((c.cwnd, c.cwnd_stamp()), (40 * MSS, Some(ms(0))), "{a}");
            // 5 in flight at ACKs (slow start: not in use): used = 5, but
            // never below IW10; (cwnd + 10) / 2 in whole segments.
            let mut t = 0;
            for want in [25, 17, 13, 11, 10, 10] {
                c.on_ack_at(ms(t + 10), MSS, MSS, None, 5 * MSS);
                assert_eq!(c.cwnd_stamp(), Some(ms(t)), "{a}: not in use");
                t += 200;
                c.application_limited(ms(t), true, 10, MSS);
                assert_eq!(c.cwnd, want * MSS, "{a} at {t}");
                assert_eq!(c.ssthresh, usize::MAX / 2, "{a}");
            }
            // ssthresh keeps 3/4 of the window (Linux `tcp_current_ssthresh`);
            // a partial segment in flight counts as one (`packets_out`).
            c.cwnd = 40 * MSS + 300;
            c.ssthresh = 20 * MSS;
            c.on_ack_at(ms(t + 10), 100, MSS, None, 16 * MSS - 500);
            c.application_limited(ms(t + 200), true, 10, MSS);
            assert_eq!((c.cwnd, c.ssthresh), (28 * MSS, 30 * MSS), "{a}");
            // Not open (recovery, loss, SOCK_NOSPACE): only the clock moves.
            c.on_ack_at(ms(t + 210), 100, MSS, None, 2 * MSS);
            c.application_limited(ms(t + 400), false, 10, MSS);
            assert_eq!(
                (c.cwnd, c.cwnd_stamp()),
                (28 * MSS, Some(ms(t + 400))),
                "{a}"
            );
            // An ACK that finds the window in use restamps and forgets.
            c.on_ack_at(ms(t + 410), MSS, MSS, None, 27 * MSS);
            assert_eq!((c.cwnd_stamp(), c.cwnd_used), (Some(ms(t + 410)), 0), "{a}");
            // Recovery and an RTO episode are not open.
            c.on_fast_retransmit(28 * MSS, MSS, SeqNum(5));
            assert!(!c.is_open());
            c.on_recovery_exit();
            assert!(c.is_open());
            c.on_rto(10 * MSS, MSS);
            assert!(!c.is_open());
        }
    }

    #[test]
    fn switching_algorithm_keeps_the_window() {
        let mut c = after_loss(CongestionAlgorithm::Cubic, 100);
        c.set_algorithm(CongestionAlgorithm::Reno);
        assert_eq!(c.algorithm(), CongestionAlgorithm::Reno);
        assert_eq!((c.cwnd, c.ssthresh), (70 * MSS, 70 * MSS));
        c.on_fast_retransmit(70 * MSS, MSS, SeqNum(1));
        assert_eq!(c.ssthresh, 35 * MSS);
    }
}

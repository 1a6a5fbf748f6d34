//! CUBIC congestion control (RFC 9438), Linux's default.
//!
//! CONTRACT: `Cubic` is the algorithm half of `Congestion` (congestion.rs):
//! it keeps only CUBIC's own state and answers the two questions where
//! algorithms differ, the window growth in congestion avoidance (RFC 9438
//! 4.2-4.5) and ssthresh at a congestion event (4.6-4.7). Slow start, the
//! RTO loss window (4.8) and the fast-recovery window are shared and live
//! in `Congestion`. Windows are bytes at the interface and segments inside
//! the formulas; `f64` is fine here: it is deterministic, and proto reads
//! no clock (`now` and the RTT are parameters).
//!
//! Like Linux (and as RFC 9438 4.6 allows), the reduction applies beta to
//! cwnd, not FlightSize; `Congestion` only grows a window that is in use,
//! which is the guard the RFC asks for. Time the sender spends idle does
//! not count towards t (RFC 9438 5.8): the first transmission with nothing
//! in flight moves the epoch forward by the time since data last went out,
//! never past now (Linux `cubictcp_cwnd_event`, `CA_EVENT_TX_START`); and
//! a pause in growth longer than an RTT with data in flight (application-
//! limited) moves it forward by the pause, which Linux does not do.
//! HyStart++ (RFC 9406, recommended by 4.10) is not here: slow start is
//! plain RFC 5681 with byte counting.

use super::congestion::CongestionControl;
use crate::time::{Duration, Instant};

/// RFC 9438 4.1: C.
pub(crate) const C: f64 = 0.4;
/// RFC 9438 4.6: beta_cubic.
pub(crate) const BETA: f64 = 0.7;

/// CUBIC state (segments unless noted).
#[derive(Debug, Clone)]
pub(crate) struct Cubic {
    /// W_max and the W_max before it (fast convergence, 4.7).
    w_max: f64,
    w_last_max: f64,
    /// cwnd at the last congestion event (4.3 switches alpha to 1 there).
    cwnd_prior: f64,
    /// Start of the current congestion-avoidance epoch (cwnd_epoch, the
    /// window then, enters only K and is not kept).
    epoch: Option<Instant>,
    /// The last growth step: a longer pause than an RTT with data in
    /// flight (application-limited) moves the epoch forward by the pause.
    /// `on_tx_start` clears it: an idle sender's pause is already counted.
    last_step: Option<Instant>,
    k: f64,
    /// RFC 9438 4.3: the Reno-friendly estimate.
    w_est: f64,
    /// Growth not yet applied, in bytes (below one byte).
    pending: f64,
    pub(crate) fast_convergence: bool,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic {
            w_max: 0.0,
            w_last_max: 0.0,
            cwnd_prior: 0.0,
            epoch: None,
            last_step: None,
            k: 0.0,
            w_est: 0.0,
            pending: 0.0,
            fast_convergence: true,
        }
    }
}

impl Cubic {
    /// RFC 9438 eq. 1: W_cubic(t) in segments, `t` in seconds.
    pub(crate) fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    #[cfg(test)]
    pub(crate) fn k(&self) -> f64 {
        self.k
    }

    #[cfg(test)]
    pub(crate) fn w_max(&self) -> f64 {
        self.w_max
    }

    #[cfg(test)]
    pub(crate) fn epoch(&self) -> Option<Instant> {
        self.epoch
    }

    /// RFC 9438 4.2: a new congestion-avoidance epoch starts at `now`.
    fn start_epoch(&mut self, now: Instant, cwnd: f64) {
        self.epoch = Some(now);
        self.w_est = cwnd;
        // RFC 9438 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), 0 above W_max.
        self.k = if self.w_max > cwnd {
            ((self.w_max - cwnd) / C).cbrt()
        } else {
            0.0
        };
        if self.w_max < cwnd {
            self.w_max = cwnd;
        }
    }
}

impl CongestionControl for Cubic {
    fn avoid(
        &mut self,
        now: Instant,
        cwnd_bytes: usize,
        acked: usize,
        mss: usize,
        rtt: Option<Duration>,
    ) -> usize {
        let mss_f = mss.max(1) as f64;
        let cwnd = (cwnd_bytes as f64 / mss_f).max(1.0);
        let rtt_d = rtt.unwrap_or(Duration::ZERO);
        let epoch = match (self.epoch, self.last_step) {
            (Some(e), Some(last)) => {
                // RFC 9438 5.8: time the window was not in use (here an
                // application-limited stretch with data in flight; a fully
                // idle sender was handled by `on_tx_start`) does not count
                // towards t, or the curve would jump on the first ACKs.
                let pause = now.saturating_duration_since(last);
                let e = if pause > rtt_d { e + pause } else { e };
                self.epoch = Some(e);
                e
            }
            (Some(e), None) => e,
            (None, _) => {
                self.start_epoch(now, cwnd);
                now
            }
        };
        self.last_step = Some(now);
        let acked_seg = acked as f64 / mss_f;
        let t = now.saturating_duration_since(epoch).total_micros() as f64 / 1e6;
        let rtt = rtt_d.total_micros() as f64 / 1e6;
        // 4.2: the target one RTT ahead, clamped to [cwnd, 1.5 cwnd].
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        // 4.3: Reno-friendly estimate; alpha becomes 1 once W_est reaches
        // the window before the last reduction.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            3.0 * (1.0 - BETA) / (1.0 + BETA)
        };
        self.w_est += alpha * acked_seg / cwnd;
        let next = if self.w_cubic(t) < self.w_est {
            // Reno-friendly region: follow the estimate.
            self.w_est.max(cwnd)
        } else {
            // 4.4 / 4.5: concave or convex, grow (target - cwnd) / cwnd per segment.
            cwnd + (target - cwnd) / cwnd * acked_seg
        };
        self.pending += (next - cwnd) * mss_f;
        if self.pending < 1.0 {
            return cwnd_bytes;
        }
        let add = self.pending.floor();
        self.pending -= add;
        // `add` is finite and non-negative; the cast saturates.
        cwnd_bytes.saturating_add(add as usize)
    }

    fn on_tx_start(&mut self, now: Instant, idle: Duration) {
        // Linux `cubictcp_cwnd_event`: the sender was idle (application
        // limited) for `idle`; shift the epoch so cwnd keeps to the cubic
        // curve, but never into the future.
        if let Some(e) = self.epoch {
            self.epoch = Some((e + idle).min(now));
            // The pause is accounted for: the next ACK must not shift the
            // epoch again for the same silence.
            self.last_step = None;
        }
    }

    fn loss_ssthresh(&mut self, cwnd_bytes: usize, _flight: usize, mss: usize) -> usize {
        let mss = mss.max(1);
        let mss_f = mss as f64;
        let cwnd = cwnd_bytes as f64 / mss_f;
        // 4.7 fast convergence: release bandwidth for newer flows.
        if self.fast_convergence && cwnd < self.w_last_max {
            self.w_last_max = cwnd;
            self.w_max = cwnd * (1.0 + BETA) / 2.0;
        } else {
            self.w_last_max = cwnd;
            self.w_max = cwnd;
        }
        self.cwnd_prior = cwnd;
        self.epoch = None;
        self.last_step = None;
        self.pending = 0.0;
        // 4.6: ssthresh = cwnd * beta, at least 2 segments.
        let ss = (cwnd * BETA * mss_f) as usize;
        ss.max(2 * mss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// The algorithm and its window, as `Congestion` drives them.
    struct Flow {
        c: Cubic,
        cwnd: usize,
    }

    impl Flow {
        /// A flow at `w` segments that just lost: in congestion avoidance.
        fn after_loss(w: usize) -> Flow {
            let mut c = Cubic::default();
            let cwnd = c.loss_ssthresh(w * MSS, w * MSS, MSS);
            Flow { c, cwnd }
        }
        fn loss(&mut self) {
            self.cwnd = self.c.loss_ssthresh(self.cwnd, self.cwnd, MSS);
        }
    }

    #[test]
    fn multiplicative_decrease_is_0_7() {
        let f = Flow::after_loss(100);
        assert_eq!(f.cwnd, 70 * MSS);
        assert!((f.c.w_max() - 100.0).abs() < 1e-9);
        // Never below two segments.
        assert_eq!(Flow::after_loss(2).cwnd, 2 * MSS);
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut f = Flow::after_loss(100);
        // Loss again before regaining W_max (at 80 segments).
        f.cwnd = 80 * MSS;
        f.loss();
        assert!((f.c.w_max() - 80.0 * 1.7 / 2.0).abs() < 1e-9);
        let mut f = Flow::after_loss(100);
        f.c.fast_convergence = false;
        f.cwnd = 80 * MSS;
        f.loss();
        assert!((f.c.w_max() - 80.0).abs() < 1e-9);
    }

    #[test]
    fn k_and_curve_match_rfc_formula() {
        let mut f = Flow::after_loss(100);
        f.c.start_epoch(ms(0), 70.0);
        // K = cbrt(W_max (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) = cbrt(75).
        assert!((f.c.k() - 75f64.cbrt()).abs() < 1e-9);
        for t in [0.0, 1.0, 2.0, f.c.k(), 5.0, 8.0] {
            let want = 0.4 * (t - 75f64.cbrt()).powi(3) + 100.0;
            assert!((f.c.w_cubic(t) - want).abs() < 1e-9);
        }
        assert!((f.c.w_cubic(0.0) - 70.0).abs() < 1e-9);
        assert!((f.c.w_cubic(f.c.k()) - 100.0).abs() < 1e-9);
    }

    /// Drive a full window of ACKs per RTT; returns cwnd in segments per RTT.
    fn run(f: &mut Flow, rtt_ms: u64, rounds: u64) -> Vec<f64> {
        let mut out = Vec::new();
        for i in 0..rounds {
            let now = ms(i * rtt_ms);
            let segs = f.cwnd / MSS;
            for _ in 0..segs {
                let rtt = Some(Duration::from_millis(rtt_ms));
                f.cwnd = f.c.avoid(now, f.cwnd, MSS, MSS, rtt);
            }
            out.push(f.cwnd as f64 / MSS as f64);
        }
        out
    }

    #[test]
    fn growth_follows_the_cubic_curve() {
        // Long RTT, big window: the CUBIC region (not Reno-friendly).
        let mut f = Flow::after_loss(1000);
        let rtt = 100;
        let w = run(&mut f, rtt, 150);
        let k = (1000.0f64 * 0.3 / 0.4).cbrt();
        for (i, &got) in w.iter().enumerate() {
            let t = (i as u64 * rtt) as f64 / 1000.0;
            // cwnd tracks W_cubic(t + RTT) within a window's worth of lag.
            let want = (0.4 * (t + 0.1 - k).powi(3) + 1000.0).max(700.0);
            let lag = 0.4 * (t + 0.2 - k).powi(3) + 1000.0;
            assert!(
                got <= want.max(lag) + 2.0
                    && got >= (0.4 * (t - 0.1 - k).powi(3) + 1000.0).min(want) - 2.0,
                "round {i}: cwnd {got} vs W_cubic {want}"
            );
        }
        // Concave then convex: flattest around K.
        let ki = (k * 10.0) as usize;
        let d = |i: usize| w[i + 1] - w[i];
        assert!(d(2) > d(ki) && d(ki + 40) > d(ki));
    }

    #[test]
    fn reno_friendly_at_small_rtt() {
        // At 1 ms RTT and a small window the cubic curve is nearly flat for
        // the first rounds; the Reno estimate must win (RFC 9438 4.3).
        let mut f = Flow::after_loss(20);
        let w = run(&mut f, 1, 100);
        let w_cubic_100ms = {
            let mut probe = Flow::after_loss(20);
            probe.c.start_epoch(ms(0), 14.0);
            probe.c.w_cubic(0.1)
        };
        // Reno-friendly grows about 0.53 segments per RTT: ~14 + 0.53 * 100.
        assert!(
            w[99] > w_cubic_100ms + 20.0,
            "cwnd {} vs cubic {w_cubic_100ms}",
            w[99]
        );
        assert!(w[99] < 14.0 + 100.0, "no faster than Reno: {}", w[99]);
    }

    #[test]
    fn first_epoch_without_loss_is_convex_from_cwnd() {
        // Slow start ended without a loss (W_max 0): K = 0, growth only up.
        let mut f = Flow {
            c: Cubic::default(),
            cwnd: 50 * MSS,
        };
        let w = run(&mut f, 50, 40);
        assert!((f.c.w_max() - 50.0).abs() < 1e-9);
        assert!(w.windows(2).all(|p| p[1] >= p[0]));
        assert!(w[39] > 55.0, "{}", w[39]);
    }

    #[test]
    fn an_idle_pause_does_not_count_towards_t() {
        // Two flows 50 rounds into an epoch; one then pauses for 10 s. Its
        // next round grows as if no time had passed, not by the 1.5x cap.
        let rtt = Some(Duration::from_millis(100));
        let mut busy = Flow::after_loss(100);
        run(&mut busy, 100, 20);
        let mut idle = Flow::after_loss(100);
        run(&mut idle, 100, 20);
        assert_eq!(busy.cwnd, idle.cwnd);
        // One window of ACKs: the busy flow right on time, the idle one 10 s late.
        let w = busy.cwnd;
        for (f, at) in [(&mut busy, 2000), (&mut idle, 12_000)] {
            for _ in 0..w / MSS {
                f.cwnd = f.c.avoid(ms(at), f.cwnd, MSS, MSS, rtt);
            }
        }
        // (The idle flow's t lags by the one RTT the pause shift removes.)
        assert!(idle.cwnd <= busy.cwnd && idle.cwnd + w / 100 >= busy.cwnd);
        assert!(idle.cwnd < w + w / 10, "{} from {w}", idle.cwnd);
    }

    #[test]
    fn tx_start_moves_the_epoch_by_the_idle_time() {
        // Linux `cubictcp_cwnd_event(CA_EVENT_TX_START)`.
        let mut f = Flow::after_loss(100);
        // No epoch yet (right after a loss): nothing to move.
        f.c.on_tx_start(ms(500), Duration::from_millis(300));
        assert_eq!(f.c.epoch(), None);
        run(&mut f, 100, 5);
        assert_eq!(f.c.epoch(), Some(ms(0)));
        f.c.on_tx_start(ms(5000), Duration::from_millis(3000));
        assert_eq!(f.c.epoch(), Some(ms(3000)));
        // Never into the future.
        f.c.on_tx_start(ms(6000), Duration::from_secs(3600));
        assert_eq!(f.c.epoch(), Some(ms(6000)));
        // The next ACK does not move it again for the same pause.
        let rtt = Some(Duration::from_millis(100));
        f.cwnd = f.c.avoid(ms(6100), f.cwnd, MSS, MSS, rtt);
        assert_eq!(f.c.epoch(), Some(ms(6000)));
    }

    #[test]
    fn after_tx_start_the_curve_continues_as_if_no_time_had_passed() {
        // Two flows 20 rounds into an epoch (last data at 1.9 s). One goes
        // on at once; the other sends again 10 s later, which moves its
        // epoch by those 10 s. A window of ACKs one RTT after each resumed
        // gives both exactly the same window.
        let rtt = Some(Duration::from_millis(100));
        let mut busy = Flow::after_loss(100);
        run(&mut busy, 100, 20);
        let mut idle = Flow::after_loss(100);
        run(&mut idle, 100, 20);
        idle.c
            .on_tx_start(ms(11_900), Duration::from_millis(10_000));
        let w = busy.cwnd;
        for (f, at) in [(&mut busy, 2000), (&mut idle, 12_000)] {
            for _ in 0..w / MSS {
                f.cwnd = f.c.avoid(ms(at), f.cwnd, MSS, MSS, rtt);
            }
        }
        assert_eq!(idle.cwnd, busy.cwnd);
        assert!(idle.cwnd < w + w / 10, "{} from {w}", idle.cwnd);
    }
}

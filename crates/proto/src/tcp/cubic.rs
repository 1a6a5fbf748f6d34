//! CUBIC congestion control (RFC 9438), Linux's default, and the small
//! trait both it and Reno (`congestion.rs`) implement.
//!
//! Windows are bytes at the interface (like `Congestion`) and segments
//! inside the formulas. `f64` is fine here: it is deterministic and proto
//! reads no clock (`now` and RTT samples are parameters).
//!
//! Proposed selection (TCP_CONGESTION): the connection holds
//! `Box<dyn CongestionControl>` or, closer to house style, an enum
//! `Cc { Reno(Congestion), Cubic(Cubic) }` whose methods forward to the
//! trait; `Profile::congestion` ("reno" | "cubic", default "cubic" like
//! Linux) picks it at connect/accept, and a socket option can switch it
//! before the connection starts.
//!
//! HyStart (RFC 9438 4.10 recommends HyStart++, RFC 9406) is not here yet:
//! slow start is plain RFC 5681 with byte counting.

use super::congestion::Congestion;
use super::SeqNum;
use crate::time::{Duration, Instant};

/// What every congestion controller offers the connection.
pub(crate) trait CongestionControl {
    fn cwnd(&self) -> usize;
    fn ssthresh(&self) -> usize;
    /// New data cumulatively acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, rtt: Option<Duration>);
    /// Retransmission timeout.
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize);
    /// Loss detected by duplicate ACKs or SACK: enter recovery.
    fn on_fast_retransmit(&mut self, now: Instant, flight: usize, mss: usize, recover: SeqNum);
    fn on_dup_ack_in_recovery(&mut self, mss: usize);
    fn on_recovery_exit(&mut self);
}

impl CongestionControl for Congestion {
    fn cwnd(&self) -> usize {
        self.cwnd
    }
    fn ssthresh(&self) -> usize {
        self.ssthresh
    }
    fn on_ack(&mut self, _now: Instant, acked: usize, mss: usize, _rtt: Option<Duration>) {
        Congestion::on_ack(self, acked, mss);
    }
    fn on_rto(&mut self, _now: Instant, flight: usize, mss: usize) {
        Congestion::on_rto(self, flight, mss);
    }
    fn on_fast_retransmit(&mut self, _now: Instant, flight: usize, mss: usize, recover: SeqNum) {
        Congestion::on_fast_retransmit(self, flight, mss, recover);
    }
    fn on_dup_ack_in_recovery(&mut self, mss: usize) {
        Congestion::on_dup_ack_in_recovery(self, mss);
    }
    fn on_recovery_exit(&mut self) {
        Congestion::on_recovery_exit(self);
    }
}

/// RFC 9438 4.1: C.
pub(crate) const C: f64 = 0.4;
/// RFC 9438 4.6: beta_cubic.
pub(crate) const BETA: f64 = 0.7;

/// CUBIC state.
#[derive(Debug, Clone)]
pub(crate) struct Cubic {
    pub(crate) cwnd: usize,
    pub(crate) ssthresh: usize,
    pub(crate) recover: Option<SeqNum>,
    /// W_max and the previous W_max (fast convergence), in segments.
    w_max: f64,
    w_last_max: f64,
    /// Start of the current congestion-avoidance epoch, and cwnd then.
    epoch: Option<Instant>,
    cwnd_epoch: f64,
    k: f64,
    /// RFC 9438 4.3: the Reno-friendly estimate, in segments.
    w_est: f64,
    /// Fractional segments of growth not yet applied.
    pending: f64,
    /// Smoothed-enough RTT for the `t + RTT` target (latest sample).
    rtt: Option<Duration>,
    pub(crate) fast_convergence: bool,
}

impl Cubic {
    pub(crate) fn new(initial_segments: u32, mss: usize) -> Self {
        Cubic {
            cwnd: (initial_segments.max(1) as usize).saturating_mul(mss),
            ssthresh: usize::MAX / 2,
            recover: None,
            w_max: 0.0,
            w_last_max: 0.0,
            epoch: None,
            cwnd_epoch: 0.0,
            k: 0.0,
            w_est: 0.0,
            pending: 0.0,
            rtt: None,
            fast_convergence: true,
        }
    }

    /// RFC 9438 eq. 1: W_cubic(t) in segments, `t` in seconds.
    pub(crate) fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    pub(crate) fn k(&self) -> f64 {
        self.k
    }

    pub(crate) fn w_max(&self) -> f64 {
        self.w_max
    }

    /// RFC 9438 4.6-4.7: a congestion event (loss or RTO).
    fn reduce(&mut self, mss: usize) {
        let mss_f = mss.max(1) as f64;
        let cwnd = self.cwnd as f64 / mss_f;
        // 4.7 fast convergence: release bandwidth for newer flows.
        if self.fast_convergence && cwnd < self.w_last_max {
            self.w_last_max = cwnd;
            self.w_max = cwnd * (1.0 + BETA) / 2.0;
        } else {
            self.w_last_max = cwnd;
            self.w_max = cwnd;
        }
        // 4.6: ssthresh = cwnd * beta, at least 2 segments.
        let ss = ((cwnd * BETA) * mss_f) as usize;
        self.ssthresh = ss.max(2 * mss);
        self.epoch = None;
        self.pending = 0.0;
    }

    fn start_epoch(&mut self, now: Instant, mss: usize) {
        let cwnd = self.cwnd as f64 / mss.max(1) as f64;
        self.epoch = Some(now);
        self.cwnd_epoch = cwnd;
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
    fn cwnd(&self) -> usize {
        self.cwnd
    }
    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, rtt: Option<Duration>) {
        if let Some(r) = rtt {
            self.rtt = Some(r);
        }
        let mss = mss.max(1);
        if self.cwnd < self.ssthresh {
            // RFC 9438 4.10 / RFC 5681 3.1 slow start, RFC 3465 L = 2 SMSS.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
            return;
        }
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                self.start_epoch(now, mss);
                now
            }
        };
        let mss_f = mss as f64;
        let cwnd = self.cwnd as f64 / mss_f;
        let acked_seg = acked as f64 / mss_f;
        let t = now.saturating_duration_since(epoch).total_micros() as f64 / 1e6;
        let rtt = self.rtt.map_or(0.0, |r| r.total_micros() as f64 / 1e6);
        // 4.2: the target one RTT ahead, clamped to [cwnd, 1.5 cwnd].
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        // 4.3: Reno-friendly estimate; alpha becomes 1 once W_est >= W_max.
        let alpha = if self.w_est >= self.w_max {
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
        if self.pending >= 1.0 {
            let add = self.pending.floor();
            self.pending -= add;
            // `add` is finite and non-negative; the cast saturates.
            self.cwnd = self.cwnd.saturating_add(add as usize);
        }
    }

    fn on_rto(&mut self, _now: Instant, _flight: usize, mss: usize) {
        // RFC 9438 4.8: ssthresh as for a loss; cwnd restarts at 1 SMSS.
        self.reduce(mss);
        self.cwnd = mss;
        self.recover = None;
    }

    fn on_fast_retransmit(&mut self, _now: Instant, _flight: usize, mss: usize, recover: SeqNum) {
        self.reduce(mss);
        // 4.6: cwnd = ssthresh (no 3-segment inflation: SACK/PRR account
        // for the dup ACKs; Reno's inflation follows with dup ACKs).
        self.cwnd = self.ssthresh;
        self.recover = Some(recover);
    }

    fn on_dup_ack_in_recovery(&mut self, _mss: usize) {}

    fn on_recovery_exit(&mut self) {
        self.cwnd = self.ssthresh;
        self.recover = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// A flow at `w` segments that just lost: in congestion avoidance.
    fn after_loss(w: usize) -> Cubic {
        let mut c = Cubic::new(10, MSS);
        c.cwnd = w * MSS;
        c.on_fast_retransmit(ms(0), w * MSS, MSS, SeqNum(0));
        c.on_recovery_exit();
        c
    }

    #[test]
    fn multiplicative_decrease_is_0_7() {
        let c = after_loss(100);
        assert_eq!(c.ssthresh, 70 * MSS);
        assert_eq!(c.cwnd, 70 * MSS);
        assert!((c.w_max() - 100.0).abs() < 1e-9);
        let mut r = Cubic::new(10, MSS);
        r.cwnd = 50 * MSS;
        r.on_rto(ms(0), 0, MSS);
        assert_eq!((r.cwnd, r.ssthresh), (MSS, 35 * MSS));
        // Never below two segments.
        let c = after_loss(2);
        assert_eq!(c.ssthresh, 2 * MSS);
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut c = after_loss(100);
        // Loss again before regaining W_max (at 80 segments).
        c.cwnd = 80 * MSS;
        c.on_fast_retransmit(ms(0), 0, MSS, SeqNum(0));
        assert!((c.w_max() - 80.0 * 1.7 / 2.0).abs() < 1e-9);
        let mut c = after_loss(100);
        c.fast_convergence = false;
        c.cwnd = 80 * MSS;
        c.on_fast_retransmit(ms(0), 0, MSS, SeqNum(0));
        assert!((c.w_max() - 80.0).abs() < 1e-9);
    }

    #[test]
    fn k_and_curve_match_rfc_formula() {
        let mut c = after_loss(100);
        c.start_epoch(ms(0), MSS);
        // K = cbrt(W_max (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) = cbrt(75).
        assert!((c.k() - 75f64.cbrt()).abs() < 1e-9);
        for t in [0.0, 1.0, 2.0, c.k(), 5.0, 8.0] {
            let want = 0.4 * (t - 75f64.cbrt()).powi(3) + 100.0;
            assert!((c.w_cubic(t) - want).abs() < 1e-9);
        }
        assert!((c.w_cubic(0.0) - 70.0).abs() < 1e-9);
        assert!((c.w_cubic(c.k()) - 100.0).abs() < 1e-9);
    }

    /// Drive a full window of ACKs per RTT; returns cwnd in segments per RTT.
    fn run(c: &mut Cubic, rtt_ms: u64, rounds: u64) -> Vec<f64> {
        let mut out = Vec::new();
        for i in 0..rounds {
            let now = ms(i * rtt_ms);
            let segs = c.cwnd / MSS;
            for _ in 0..segs {
                c.on_ack(now, MSS, MSS, Some(Duration::from_millis(rtt_ms)));
            }
            out.push(c.cwnd as f64 / MSS as f64);
        }
        out
    }

    #[test]
    fn growth_follows_the_cubic_curve() {
        // Long RTT, big window: the CUBIC region (not Reno-friendly).
        let mut c = after_loss(1000);
        let rtt = 100;
        let w = run(&mut c, rtt, 150);
        let k = (1000.0f64 * 0.3 / 0.4).cbrt();
        // Growth slows near W_max (plateau) and speeds up after.
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
        let mut c = after_loss(20);
        let w = run(&mut c, 1, 100);
        let w_cubic_100ms = {
            let mut probe = after_loss(20);
            probe.start_epoch(ms(0), MSS);
            probe.w_cubic(0.1)
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
    fn slow_start_and_trait_dispatch() {
        let mut algos: Vec<Box<dyn CongestionControl>> = vec![
            Box::new(Congestion::new(10, MSS)),
            Box::new(Cubic::new(10, MSS)),
        ];
        for a in algos.iter_mut() {
            assert_eq!(a.cwnd(), 10 * MSS);
            a.on_ack(ms(1), 2 * MSS, MSS, None);
            assert_eq!(a.cwnd(), 12 * MSS, "slow start byte counting");
            a.on_fast_retransmit(ms(2), 12 * MSS, MSS, SeqNum(5));
            a.on_dup_ack_in_recovery(MSS);
            a.on_recovery_exit();
            assert_eq!(a.cwnd(), a.ssthresh());
            a.on_rto(ms(3), 8 * MSS, MSS);
            assert_eq!(a.cwnd(), MSS);
        }
    }
}

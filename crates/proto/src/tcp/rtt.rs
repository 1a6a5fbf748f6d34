//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::Duration;

/// SRTT/RTTVAR per RFC 6298 2, with Linux's bounds on RTO.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            // RFC 6298 2.1: RTO starts at 1 s (profile value).
            rto: initial,
            min,
            max,
        }
    }

    /// Feed one sample (never from a retransmitted segment: Karn's rule,
    /// RFC 6298 3, is enforced by the caller).
    pub(crate) fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                // RFC 6298 2.2
                self.srtt = Some(r);
                self.rttvar = Duration::from_micros(r.total_micros() / 2);
            }
            Some(srtt) => {
                // RFC 6298 2.3 with alpha = 1/8, beta = 1/4.
                let diff = srtt.total_micros().abs_diff(r.total_micros());
                let rttvar =
                    (self.rttvar.total_micros().saturating_mul(3)).saturating_add(diff) / 4;
                let srtt =
                    (srtt.total_micros().saturating_mul(7)).saturating_add(r.total_micros()) / 8;
                self.rttvar = Duration::from_micros(rttvar);
                self.srtt = Some(Duration::from_micros(srtt));
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        // RFC 6298 2.3: RTO = SRTT + max(G, 4 * RTTVAR); G is our 1 us tick.
        let var = self.rttvar.saturating_mul(4).max(Duration::from_micros(1));
        self.rto = (srtt + var).max(self.min).min(self.max);
    }

    /// A spurious RTO was detected on an ACK whose RTT sample is `r`
    /// (RFC 4015 4, adapting the retransmission timer): the path's delay
    /// jumped, so SRTT and RTTVAR become at least the sample and half of
    /// it, making the next RTO more conservative at once.
    pub(crate) fn adapt_spurious(&mut self, r: Duration) {
        let srtt = self.srtt.unwrap_or(r).max(r);
        let half = Duration::from_micros(r.total_micros() / 2);
        self.srtt = Some(srtt);
        self.rttvar = self.rttvar.max(half);
        let var = self.rttvar.saturating_mul(4).max(Duration::from_micros(1));
        self.rto = (srtt + var).max(self.min).min(self.max);
    }

    /// The RTO before backoff.
    pub(crate) fn rto(&self) -> Duration {
        self.rto
    }
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }
    /// RTO after `backoff` doublings (RFC 6298 5.5), capped at the maximum.
    pub(crate) fn backed_off(&self, backoff: u32) -> Duration {
        let k = 1u64 << backoff.min(30);
        self.rto.saturating_mul(k).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn first_sample_and_floor() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        assert_eq!(r.rto(), Duration::from_secs(1));
        r.sample(Duration::from_millis(10));
        // 10 + 4 * 5 = 30 ms, floored at 200 ms.
        assert_eq!(r.rto(), Duration::from_millis(200));
        r.sample(Duration::from_millis(1000));
        assert!(r.rto() > Duration::from_millis(1000));
        assert_eq!(r.backed_off(20), Duration::from_secs(120));
    }

    #[test]
    fn spurious_timeout_adapts_to_the_delay_spike() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        r.sample(Duration::from_millis(100));
        r.adapt_spurious(Duration::from_millis(600));
        // RFC 4015 4: SRTT = 600, RTTVAR = 300, RTO = 600 + 4 * 300 ms.
        assert_eq!(r.srtt(), Some(Duration::from_millis(600)));
        assert_eq!(r.rttvar(), Duration::from_millis(300));
        assert_eq!(r.rto(), Duration::from_millis(1800));
    }
}

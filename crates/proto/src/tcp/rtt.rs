//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::Duration;

/// SRTT/RTTVAR per RFC 6298 2, with Linux's bounds on RTO.
///
/// Microseconds in `u32` (20 bytes, not 48: the estimator sits on the
/// per-segment cache lines of `Connection`). Values saturate at
/// `u32::MAX - 1` µs (71 minutes), far above any RTO bound; `NO_SRTT`
/// marks "no sample yet".
#[derive(Debug, Clone, Copy)]
pub(crate) struct RttEstimator {
    srtt: u32,
    rttvar: u32,
    rto: u32,
    min: u32,
    max: u32,
}

const NO_SRTT: u32 = u32::MAX;

/// A duration in whole microseconds, saturating below `NO_SRTT`.
fn us(d: Duration) -> u32 {
    // In range after the `min`: the cast keeps the value.
    d.total_micros().min(u64::from(NO_SRTT - 1)) as u32
}

fn dur(v: u32) -> Duration {
    Duration::from_micros(u64::from(v))
}

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator {
            srtt: NO_SRTT,
            rttvar: 0,
            // RFC 6298 2.1: RTO starts at 1 s (profile value).
            rto: us(initial),
            min: us(min),
            max: us(max),
        }
    }

    /// RTO = SRTT + max(G, 4 * RTTVAR) within [min, max] (RFC 6298 2.3;
    /// G is our 1 µs tick).
    fn set_rto(&mut self, srtt: u32) {
        let var = u64::from(self.rttvar).saturating_mul(4).max(1);
        let rto = (u64::from(srtt) + var)
            .max(u64::from(self.min))
            .min(u64::from(self.max));
        self.rto = u32::try_from(rto).unwrap_or(self.max);
    }

    /// Feed one sample (never from a retransmitted segment: Karn's rule,
    /// RFC 6298 3, is enforced by the caller).
    pub(crate) fn sample(&mut self, r: Duration) {
        let r = us(r);
        if self.srtt == NO_SRTT {
            // RFC 6298 2.2
            self.srtt = r;
            self.rttvar = r / 2;
        } else {
            // RFC 6298 2.3 with alpha = 1/8, beta = 1/4 (in u64: no overflow).
            let (srtt, r64) = (u64::from(self.srtt), u64::from(r));
            let rttvar = (u64::from(self.rttvar) * 3 + srtt.abs_diff(r64)) / 4;
            let srtt = (srtt * 7 + r64) / 8;
            // Weighted means of values below `NO_SRTT`: they fit.
            self.rttvar = rttvar.min(u64::from(NO_SRTT - 1)) as u32;
            self.srtt = srtt.min(u64::from(NO_SRTT - 1)) as u32;
        }
        self.set_rto(self.srtt);
    }

    /// A spurious RTO was detected on an ACK whose RTT sample is `r`
    /// (RFC 4015 4, adapting the retransmission timer): the path's delay
    /// jumped, so SRTT and RTTVAR become at least the sample and half of
    /// it, making the next RTO more conservative at once.
    pub(crate) fn adapt_spurious(&mut self, r: Duration) {
        let r = us(r);
        let srtt = if self.srtt == NO_SRTT {
            r
        } else {
            self.srtt.max(r)
        };
        self.srtt = srtt;
        self.rttvar = self.rttvar.max(r / 2);
        self.set_rto(srtt);
    }

    /// The RTO before backoff.
    pub(crate) fn rto(&self) -> Duration {
        dur(self.rto)
    }
    pub(crate) fn srtt(&self) -> Option<Duration> {
        (self.srtt != NO_SRTT).then(|| dur(self.srtt))
    }
    pub(crate) fn rttvar(&self) -> Duration {
        dur(self.rttvar)
    }
    /// RTO after `backoff` doublings (RFC 6298 5.5), capped at the maximum.
    pub(crate) fn backed_off(&self, backoff: u32) -> Duration {
        let k = 1u64 << backoff.min(30);
        dur(self.rto).saturating_mul(k).min(dur(self.max))
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

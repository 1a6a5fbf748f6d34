//! Congestion control: a minimal Reno (RFC 5681) with IW10 (RFC 6928) and
//! byte counting (RFC 3465, L = 2*SMSS). Loss recovery beyond basic fast
//! retransmit (SACK, RACK, NewReno partial ACKs, CUBIC) comes later; the hooks
//! below are what a different algorithm implements.

/// Reno state, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Congestion {
    pub(crate) cwnd: usize,
    pub(crate) ssthresh: usize,
    /// Bytes acked in congestion avoidance since the last cwnd increase.
    acked_ca: usize,
    /// In fast recovery until `snd_una` passes this point.
    pub(crate) recover: Option<crate::tcp::SeqNum>,
}

impl Congestion {
    /// RFC 5681 3.1: ssthresh starts arbitrarily high; RFC 6928 IW.
    pub(crate) fn new(initial_segments: u32, mss: usize) -> Self {
        Congestion {
            cwnd: (initial_segments.max(1) as usize).saturating_mul(mss),
            ssthresh: usize::MAX / 2,
            acked_ca: 0,
            recover: None,
        }
    }

    pub(crate) fn reset_initial(&mut self, initial_segments: u32, mss: usize) {
        self.cwnd = (initial_segments.max(1) as usize).saturating_mul(mss);
    }

    /// New data was cumulatively acknowledged (not during recovery).
    pub(crate) fn on_ack(&mut self, acked: usize, mss: usize) {
        if self.cwnd < self.ssthresh {
            // RFC 5681 3.1 slow start, RFC 3465 byte counting with L = 2 SMSS.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        } else {
            // Congestion avoidance: one SMSS per cwnd of data acknowledged.
            self.acked_ca = self.acked_ca.saturating_add(acked);
            if self.acked_ca >= self.cwnd {
                self.acked_ca -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    /// Retransmission timeout (RFC 5681 3.1 eq. 4, then loss window 1 SMSS).
    pub(crate) fn on_rto(&mut self, flight: usize, mss: usize) {
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.acked_ca = 0;
        self.recover = None;
    }

    /// Third duplicate ACK: enter fast recovery (RFC 5681 3.2 steps 2-3).
    pub(crate) fn on_fast_retransmit(
        &mut self,
        flight: usize,
        mss: usize,
        recover: crate::tcp::SeqNum,
    ) {
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh + 3 * mss;
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
        self.acked_ca = 0;
    }
}

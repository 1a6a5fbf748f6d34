//! The congestion window after idle: RFC 5681 4.1's restart window, the
//! way Linux applies it (`tcp_slow_start_after_idle` = 1).
//!
//! Contract:
//! - `Congestion` keeps the time data last went out (Linux `lsndtime`):
//!   every segment carrying data, new or resent, updates it
//!   (`Congestion::on_data_sent`, called where segments leave in
//!   `output.rs`). One carrying data while nothing is in flight also tells
//!   the algorithm how long the sender was quiet (Linux
//!   `CA_EVENT_TX_START`; CUBIC moves its epoch forward by that much,
//!   never past now, `cubictcp_cwnd_event`). That part does not depend on
//!   the knob.
//! - When the application queues data (`Connection::send`; Linux
//!   `tcp_skb_entail` -> `tcp_slow_start_after_idle_check`) with nothing
//!   outstanding (`snd_una == snd_max`, Linux `packets_out == 0`) and no
//!   data went out for more than one RTO (Linux's `icsk_rto`: the RTO
//!   with the retransmission backoff, `Connection::icsk_rto`), the window
//!   restarts (`Congestion::restart_after_idle`, Linux `tcp_cwnd_restart`): ssthresh = max(ssthresh, 3/4 cwnd) outside
//!   recovery; RW = min(initial window, cwnd); cwnd halves once per RTO of
//!   silence beyond the first, never below RW. So a sender idle for more
//!   than one and up to two RTOs keeps half its window, and after a long
//!   pause it starts again from IW10 in slow start towards the old
//!   ssthresh. RFC 5681 4.1 itself asks for RW at once; Linux's gentler
//!   decay is RFC 2861's. RFC 7661 (new-CWV) is not what Linux does and is
//!   not done here.
//! - A connection that has sent no data yet is not idle (Linux starts
//!   `lsndtime` at the handshake, after which a restart could only raise
//!   ssthresh, cwnd being the initial window at most).
//! - `Profile::slow_start_after_idle` false: cwnd survives any pause, as
//!   with Linux's sysctl at 0.
//! - The backoff in `icsk_rto` rarely shows here: our backoff resets on
//!   any ACK of new data, Linux's only on a valid RTT sample
//!   (`tcp_ack_update_rtt`), so after an RTO on a connection without
//!   timestamps Linux's threshold stays doubled a little longer.
//! - Application-limited decay (Linux `tcp_cwnd_validate` ->
//!   `tcp_cwnd_application_limited`, RFC 2861's slow part, also under
//!   `tcp_slow_start_after_idle`): every ACK that finds the window in use
//!   (the test that gates growth in `Congestion::on_ack_at`: flight * 2 >
//!   cwnd in slow start, flight + 3 SMSS >= cwnd in avoidance) stamps
//!   `cwnd_stamp`; other ACKs remember the most in flight
//!   (`cwnd_used`). When the application queues data one `icsk_rto` or
//!   more after the stamp, outside recovery and loss, with no duplicate
//!   ACKs pending and the send buffer not full (our SOCK_NOSPACE), cwnd
//!   moves halfway down to max(used, IW) and ssthresh keeps 3/4 of cwnd
//!   (`Congestion::application_limited`). Linux checks after each
//!   transmission (`tcp_write_xmit`); we check at `send()`, out of line.
//!   Linux also stamps at `tcp_enter_loss`, at the end of a cwnd reduction
//!   and at an undo; we do not (the check waits for CA_Open, and the first
//!   ACK in use after it stamps).
//! - The receiver's counterpart of the restart (quick ACKs after a gap) is
//!   `Connection::note_data_rcvd`.

use super::autotune::TuneKnobs;
use super::connection::Connection;
use crate::time::Instant;

impl Connection {
    /// The application queued data at `now` (RFC 5681 4.1, Linux
    /// `tcp_slow_start_after_idle_check`): restart an idle window. One
    /// test when something is in flight.
    ///
    /// Then the application-limited check (Linux `tcp_cwnd_validate`):
    /// one load and compare until an RTO passed since the window was last
    /// in use.
    #[inline]
    pub(crate) fn idle_restart_check(&mut self, now: Instant, k: &TuneKnobs) {
        if !k.slow_start_after_idle {
            return;
        }
        // Linux compares with `icsk_rto`, backoff included.
        if self.snd_una == self.snd_max {
            let rto = self.icsk_rto();
            self.cc
                .restart_after_idle(now, rto, k.initial_cwnd, self.snd_mss);
        }
        // No stamp: no data sent yet, nothing to decay.
        if let Some(stamp) = self.cc.cwnd_stamp() {
            if now.saturating_duration_since(stamp) >= self.icsk_rto() {
                self.cwnd_application_limited(now, k);
            }
        }
    }

    /// Linux `tcp_cwnd_application_limited`: decay a window not used for
    /// an RTO, only in `TCP_CA_Open` (no recovery, no RTO episode, no
    /// duplicate ACKs: CA_Disorder) and without SOCK_NOSPACE (here: the
    /// write left the send buffer full; Linux keeps the flag until a
    /// third of the buffer is free again, `sk_stream_write_space`).
    #[inline(never)]
    fn cwnd_application_limited(&mut self, now: Instant, k: &TuneKnobs) {
        let open = self.cc.is_open() && self.dupacks == 0 && self.snd_buf.free() > 0;
        self.cc
            .application_limited(now, open, k.initial_cwnd, self.snd_mss);
    }
}

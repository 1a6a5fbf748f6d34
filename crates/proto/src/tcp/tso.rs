//! TCP segmentation offload (TSO): segments of several MSS for a link that
//! cuts them into MTU-sized pieces itself (a TAP with IFF_VNET_HDR).
//!
//! CONTRACT: a connection builds a segment longer than one MSS only when
//! the stack says the link segments (`StackConfig::tso_max`) and its MSS
//! fills the MTU exactly (MSS + TCP header with our options + 20 = MTU), so
//! a link that cuts at "MTU minus the headers" produces exactly the
//! segments we would have sent; otherwise (a smaller peer MSS, a lowered
//! path MTU, TCP_MAXSEG) every segment is at most one MSS as before. A
//! multi-MSS segment ends on an MSS boundary unless it carries the last
//! queued bytes and Nagle lets a short segment leave now (Linux
//! `tcp_mss_split_point`), so the pieces on the wire are what sender SWS
//! avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 896) allow.

use super::connection::Connection;
use super::output::data_header_len;

impl Connection {
    /// The payload bound for the next segment: `room` (the caller's buffer
    /// minus headers) when the link segments and our MSS fills the MTU,
    /// else at most one MSS.
    pub(crate) fn tso_payload(&self, room: usize, tso: bool, mtu: usize) -> usize {
        let fills_mtu = self.snd_mss + data_header_len(self.ts_ok) + 20 == mtu;
        if tso && fills_mtu {
            room
        } else {
            room.min(self.snd_mss.saturating_sub(self.sack_option_len()))
        }
    }

    /// Bytes of new data for the next segment: `unsent` bounded by the
    /// usable window and by `max_payload` (several MSS only under TSO; see
    /// [`Connection::tso_payload`]), trimmed to whole MSS as the module doc says.
    pub(crate) fn segment_len(
        &self,
        unsent: usize,
        usable: usize,
        mss: usize,
        max_payload: usize,
        in_flight: usize,
    ) -> usize {
        let len = unsent.min(max_payload.max(mss)).min(usable);
        if len <= mss {
            return len;
        }
        let tail = len % mss;
        let last = len == unsent;
        let nagle_ok = self.nodelay || in_flight == 0 || self.fin_queued;
        if tail != 0 && !(last && nagle_ok) {
            len - tail
        } else {
            len
        }
    }
}

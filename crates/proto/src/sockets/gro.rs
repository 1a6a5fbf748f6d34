//! A run of in-order data segments the stack merged (software GRO,
//! iface/gro.rs), handed to their connection as one.
//!
//! CONTRACT: `gro_segments` either delivers the whole run, with every
//! piece's checksum verified as its payload is copied into the receive
//! ring, and returns true, or changes nothing a peer or the application
//! can see and returns false, and the caller hands the segments in one by
//! one (where a bad checksum, a window that does not fit, or anything off
//! the predicted path is dealt with and counted as for any segment).

use super::{FourTuple, SocketSet};
use crate::tcp::State;
use crate::time::Instant;
use crate::wire::ipv4::Ipv4Addrs;
use crate::wire::{checksum, IpProtocol, TcpFlags, TcpRepr};

impl SocketSet {
    /// Deliver `pieces` (whole TCP segments, header first, each verified
    /// only at the IPv4 layer) from `ip` as one segment of `len` payload
    /// bytes. `first` is the first piece parsed; every piece has the same
    /// header as it but for the sequence number (contiguous) and PSH, which
    /// only the last may carry.
    pub(crate) fn gro_segments(
        &mut self,
        now: Instant,
        ip: Ipv4Addrs,
        first: &TcpRepr<'_>,
        pieces: &[&[u8]],
        len: usize,
    ) -> bool {
        self.now = self.now.max(now);
        let tuple = FourTuple {
            local: (ip.dst, first.dst_port),
            remote: (ip.src, first.src_port),
        };
        let Some(h) = self.demux(&tuple) else {
            return false;
        };
        // Field borrows: the profile, the socket's slot and the pool.
        let profile = &self.profile;
        let pool = &mut self.ring_pool;
        let Some(sock) = super::slot_sock(&mut self.slots, h) else {
            return false;
        };
        let Some(conn) = sock.conn.as_mut() else {
            return false;
        };
        // What the predicted path needs, checked before a byte is written;
        // an ACK owed at once to an earlier segment takes the general path.
        if conn.state != State::Established
            || first.seq != conn.rcv_nxt
            || conn.ack_urgent
            || conn.shut_rd
            || !conn.assembler.is_empty()
            || len > conn.rcv_wnd()
        {
            return false;
        }
        pool.provision(&mut conn.rcv_buf, len);
        if len > conn.rcv_buf.free() {
            return false;
        }
        // Each piece verified, then its payload put into the ring past the
        // readable end (invisible until committed). Summing the frame and
        // then copying it (both vectorised, the second from L1) costs less
        // than a copy that sums as it goes (ring.rs `write_at_sum`).
        let mut at = 0;
        for piece in pieces {
            let hl = usize::from(piece.get(12).map_or(0, |b| b >> 4)) * 4;
            let (Some(payload), Ok(seg_len)) = (piece.get(hl..), u16::try_from(piece.len())) else {
                return false;
            };
            let ph = checksum::pseudo_header(ip.src, ip.dst, IpProtocol::Tcp, seg_len);
            if !checksum::verifies(checksum::sum(piece, ph))
                || conn.rcv_buf.write_at(at, payload) != payload.len()
            {
                pool.reclaim(&mut conn.rcv_buf);
                return false;
            }
            at += payload.len();
        }
        if at != len {
            return false;
        }
        // One segment with the run's PSH (on its last piece, if any).
        let last_psh = pieces
            .last()
            .and_then(|p| p.get(13))
            .is_some_and(|f| f & TcpFlags::PSH != 0);
        let mut seg = *first;
        seg.flags = TcpFlags(first.flags.0 | if last_psh { TcpFlags::PSH } else { 0 });
        if !conn.gro_fast_path(now, profile, &seg, len) {
            pool.reclaim(&mut conn.rcv_buf);
            return false;
        }
        // As `segment_to_conn` after a quiet segment.
        pool.reclaim(&mut conn.snd_buf);
        let refreshed = sock.refresh_only().then(|| sock.refresh());
        self.stats.in_segs += pieces.len() as u64;
        match refreshed {
            Some((changed, queue, timer)) => self.note_refresh(h, changed, queue, timer),
            None => self.touch(h),
        }
        true
    }
}

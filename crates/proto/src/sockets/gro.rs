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

/// An IPv4 header without options.
const IP_HEADER: usize = 20;

impl SocketSet {
    /// Deliver `pieces` (whole IPv4 packets, each a 20-byte header without
    /// options and a TCP segment, their checksums not yet verified) from
    /// `ip` as one segment of `len` payload bytes. `first` is the first
    /// piece's segment parsed; every piece has the same
    /// header as it but for the sequence number (contiguous) and PSH, which
    /// only the last may carry. `last_first`: the run ends its batch
    /// (`copy_pieces`).
    pub(crate) fn gro_segments(
        &mut self,
        now: Instant,
        ip: Ipv4Addrs,
        first: &TcpRepr<'_>,
        pieces: &[&[u8]],
        len: usize,
        last_first: bool,
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
        let ph = checksum::pseudo_header(ip.src, ip.dst, IpProtocol::Tcp, 0);
        // Into the ring's storage for the whole run when it is there (the
        // usual case: plain copies), else piece by piece with `write_at`.
        let mut dst = match conn.rcv_buf.spans_mut(0, len) {
            Some((a, b)) => Dst::Spans(a, b),
            None => Dst::Ring(&mut conn.rcv_buf),
        };
        if copy_pieces(pieces, ph, &mut dst, len, last_first) != Some(len) {
            pool.reclaim(&mut conn.rcv_buf);
            return false;
        }
        // One segment with the run's PSH (on its last piece, if any).
        let last_psh = pieces
            .last()
            .and_then(|p| p.get(IP_HEADER + 13))
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

/// Verify each piece's TCP checksum (`ph`: the pseudo-header's sum without
/// the length) and then put its payload at its offset in the run; the bytes
/// put, or `None` at the first piece that fails. `last_first` (a run that
/// ends its batch): the pieces go last first. The sender wrote the frames
/// in order just before, so the last ones are still in L1 and the first
/// were pushed out to L2 (LRU evicts the oldest first); taken last first,
/// the sums start on lines in L1, and the ring's bytes written last (the
/// run's start) are the first the application reads. For an earlier run
/// of a batch the frames are cold either way, and a ring written in
/// descending pieces was slower there (1 MiB buffers: -1.2 %).
#[inline(always)]
fn copy_pieces(
    pieces: &[&[u8]],
    ph: u64,
    dst: &mut Dst<'_>,
    len: usize,
    last_first: bool,
) -> Option<usize> {
    if last_first {
        let mut end = len;
        for piece in pieces.iter().rev() {
            let payload = verified_payload(piece, ph)?;
            let at = end.checked_sub(payload.len())?;
            if !dst.put(at, payload) {
                return None;
            }
            end = at;
        }
        return (end == 0).then_some(len);
    }
    let mut at = 0;
    for piece in pieces {
        let payload = verified_payload(piece, ph)?;
        if !dst.put(at, payload) {
            return None;
        }
        at += payload.len();
    }
    Some(at)
}

/// The TCP payload of `piece` (an IPv4 packet: a header without options,
/// then a whole TCP segment) when both its checksums verify (RFC 791, RFC
/// 9293 3.1). The IPv4 header is the line the TCP sum starts on, so its
/// check here costs no pass of its own over the frame.
#[inline(always)]
fn verified_payload(piece: &[u8], ph: u64) -> Option<&[u8]> {
    let (ip, seg) = piece.split_first_chunk::<IP_HEADER>()?;
    let hl = usize::from(seg.get(12).map_or(0, |b| b >> 4)) * 4;
    let (Some(payload), Ok(seg_len)) = (seg.get(hl..), u16::try_from(seg.len())) else {
        return None;
    };
    let ip_ok = checksum::verifies(checksum::sum_array(ip, 0));
    let tcp_ok = checksum::verifies(checksum::sum(seg, ph + u64::from(seg_len)));
    (ip_ok && tcp_ok).then_some(payload)
}

/// Where a run's payloads go: the ring's storage for the whole run (one
/// span, or two when it wraps), or the ring itself, piece by piece.
enum Dst<'r> {
    Spans(&'r mut [u8], &'r mut [u8]),
    Ring(&'r mut crate::storage::RingBuffer),
}

impl Dst<'_> {
    #[inline(always)]
    fn put(&mut self, at: usize, p: &[u8]) -> bool {
        match self {
            Dst::Spans(a, b) => put(a, b, at, p),
            Dst::Ring(r) => r.write_at(at, p) == p.len(),
        }
    }
}

/// Copy `p` to offset `at` of the storage made of `a` then `b`.
#[inline(always)]
fn put(a: &mut [u8], b: &mut [u8], at: usize, p: &[u8]) -> bool {
    if let Some(d) = a.get_mut(at..at + p.len()) {
        d.copy_from_slice(p);
        return true;
    }
    // Past `a`'s end, or across it.
    if let Some(from) = at.checked_sub(a.len()) {
        return match b.get_mut(from..from + p.len()) {
            Some(d) => {
                d.copy_from_slice(p);
                true
            }
            None => false,
        };
    }
    let Some((p1, p2)) = p.split_at_checked(a.len() - at) else {
        return false;
    };
    match (a.get_mut(at..), b.get_mut(..p2.len())) {
        (Some(d1), Some(d2)) => {
            d1.copy_from_slice(p1);
            d2.copy_from_slice(p2);
            true
        }
        _ => false,
    }
}

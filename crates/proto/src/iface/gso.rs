//! Generic segmentation offload in software (Linux GSO): TCP builds one
//! segment of several MSS, and the stack cuts it into MTU-sized frames as
//! `poll_transmit` is called, instead of TCP choosing, checking and
//! building every frame's segment on its own.
//!
//! CONTRACT: on a link that does not segment (`StackConfig::tso_max` not
//! above the MTU) and without transmit checksum offload, a connection whose
//! MSS fills the MTU may send up to `StackConfig::gso_max` bytes at once
//! (`tcp/tso.rs` decides how much, exactly as for a TAP with TSO). The
//! first frame is written by the socket layer; the others reuse its link,
//! IPv4 and TCP headers with the sequence number, IPv4 length and
//! identification, and both checksums redone, and carry the same
//! timestamp, ACK and window, as the pieces a NIC cuts from a TSO segment
//! do (Linux `tcp_gso_segment`: PSH and FIN on the last piece only). The
//! wire sees the segments a per-MSS sender would send. The payload is
//! copied from the send ring when each frame is written, so nothing is
//! held but the headers: a piece the peer has already acknowledged is
//! skipped, bytes a retransmission timeout took back (`snd_nxt` rewound)
//! are left to TCP, and a connection that closed or went away ends the
//! train. Until the last piece is out, the pieces go before anything
//! else and `poll_at` says output is ready.

use crate::sockets::{GsoRest, SocketSet};
use crate::stack::Stack;
use crate::wire::{checksum, IpProtocol, Ipv4Addr, TcpFlags};

/// Link (14), IPv4 (20) and the longest TCP header (60).
const MAX_HEADERS: usize = 14 + 20 + 60;
const IP_HEADER: usize = 20;

/// A segment being cut into frames: its first frame's headers and what is
/// left of it.
#[derive(Debug, Clone)]
pub(crate) struct GsoTrain {
    rest: GsoRest,
    /// Link, IPv4 and TCP headers of the first frame.
    head: [u8; MAX_HEADERS],
    /// Bytes of link header in `head`.
    l2: usize,
    /// Bytes of TCP header in `head`.
    tcp: usize,
    /// Sums of the parts of the headers every piece shares, so a piece's
    /// checksums add only what changes and never read back the bytes just
    /// written (a narrow store then a wide load of it stalls store
    /// forwarding): the IPv4 header without length, identification and
    /// checksum; the TCP header without sequence number, flags and
    /// checksum, plus the pseudo-header without the length.
    ip_sum: u64,
    tcp_sum: u64,
}

/// What writing one piece did, returned with the frame's length (0 unless
/// written): a field-less enum, so the pair comes back in two registers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// A frame was written, and more pieces follow.
    More,
    /// A frame was written, the train's last.
    Last,
    /// Nothing left to send (or the connection is gone).
    Done,
    /// The caller's buffer cannot hold the next piece: the rest is given
    /// up (counted; TCP retransmits it, as any frame lost on the way).
    NoRoom,
}

/// The big-endian 16-bit word at `at` of `b`.
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*b.get(at..)?.first_chunk::<2>()?))
}

impl GsoTrain {
    /// The train for `rest`, from the first frame `frame` (link header of
    /// `l2` bytes, IPv4 header, TCP header of `tcp` bytes).
    pub(crate) fn new(
        rest: GsoRest,
        frame: &[u8],
        l2: usize,
        tcp: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Option<Self> {
        let n = l2 + IP_HEADER + tcp;
        let mut head = [0u8; MAX_HEADERS];
        head.get_mut(..n)?.copy_from_slice(frame.get(..n)?);
        let (ip, th) = head.get(l2..n)?.split_at(IP_HEADER);
        // The whole headers summed, less the fields each piece sets (a
        // word's negative mod 0xffff is 0xffff - word; the sums are only
        // ever used mod 0xffff): the fields zeroed in a copy and summed
        // made narrow stores that the sum's word loads then waited for.
        let word = |b: &[u8], at: usize| be16(b, at).map(|w| 0xffff - u64::from(w));
        let ip_sum = checksum::sum(ip, 0) + word(ip, 2)? + word(ip, 4)? + word(ip, 10)?;
        // TCP: sequence number (4..8), flags (the low byte of the word at
        // 12), checksum (16).
        let flags = 0xffff - u64::from(*th.get(13)?);
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp, 0);
        let tcp_sum = checksum::sum(th, ph) + word(th, 4)? + word(th, 6)? + flags + word(th, 16)?;
        Some(GsoTrain {
            rest,
            head,
            l2,
            tcp,
            ip_sum,
            tcp_sum,
        })
    }

    fn headers(&self) -> usize {
        self.l2 + IP_HEADER + self.tcp
    }

    /// Write the next piece into `buf` with IPv4 identification `ident`.
    fn write(&mut self, sockets: &SocketSet, ident: u16, buf: &mut [u8]) -> (usize, Piece) {
        let Some((ring, una, nxt)) = sockets.gso_source(self.rest.h) else {
            return (0, Piece::Done);
        };
        let end = self.rest.end.min(nxt);
        // Acknowledged already (the peer may ACK up to snd_nxt): skip it.
        let seq = self.rest.seq.max(una);
        if !seq.lt(end) {
            return (0, Piece::Done);
        }
        let n = seq.distance_to(end).min(self.rest.piece);
        let next = seq + n;
        let last = next == self.rest.end;
        let (l2, tcp) = (self.l2, self.tcp);
        let hl = l2 + IP_HEADER + tcp;
        // The headers first, as one fixed-size copy (inline moves, not a
        // `memcpy` call) when the buffer has room; the payload then
        // overwrites what lies past them.
        match buf.first_chunk_mut::<MAX_HEADERS>() {
            Some(b) => *b = self.head,
            None => {
                if !self.copy_short_head(buf) {
                    return (0, Piece::NoRoom);
                }
            }
        }
        let Some((head, body)) = buf.get_mut(..hl + n).map(|f| f.split_at_mut(hl)) else {
            return (0, Piece::NoRoom);
        };
        let (k, payload_sum) = ring.read_at_sum(una.distance_to(seq), body);
        if k != n {
            return (0, Piece::Done);
        }
        // The IPv4 header and the TCP header's first 20 bytes, as one
        // fixed-size array: the field writes below need no bounds checks.
        let Some(h) = head
            .get_mut(l2..)
            .and_then(|x| x.first_chunk_mut::<{ IP_HEADER + 20 }>())
        else {
            return (0, Piece::Done);
        };
        // IPv4: total length, identification, header checksum (RFC 791).
        let total = (IP_HEADER + tcp + n) as u16;
        // Both sums are non-zero (each adds a length of at least 20), as
        // `fold_nonzero` needs.
        let ip_c = !checksum::fold_nonzero(self.ip_sum + u64::from(total) + u64::from(ident));
        // TCP: sequence number, flags, checksum (RFC 9293 3.1). The flags
        // are the low byte of the 16-bit word at offset 12.
        let flags = if last {
            self.rest.flags.0
        } else {
            self.rest.flags.0 & !(TcpFlags::PSH | TcpFlags::FIN)
        };
        let changed = u64::from(seq.0 >> 16)
            + u64::from(seq.0 & 0xffff)
            + u64::from(flags)
            + (tcp + n) as u64;
        let c = !checksum::fold_nonzero(checksum::add(self.tcp_sum + changed, payload_sum));
        let [t0, t1] = total.to_be_bytes();
        let [i0, i1] = ident.to_be_bytes();
        let [c0, c1] = ip_c.to_be_bytes();
        let [s0, s1, s2, s3] = seq.0.to_be_bytes();
        let [k0, k1] = c.to_be_bytes();
        (h[2], h[3], h[4], h[5], h[10], h[11]) = (t0, t1, i0, i1, c0, c1);
        (h[24], h[25], h[26], h[27], h[33]) = (s0, s1, s2, s3, flags);
        (h[36], h[37]) = (k0, k1);
        self.rest.seq = next;
        let step = match last || next == end {
            true => Piece::Last,
            false => Piece::More,
        };
        (hl + n, step)
    }

    /// The headers into a buffer shorter than `MAX_HEADERS` (out of line,
    /// so the usual fixed-size copy stays inline moves); false when it
    /// cannot hold them.
    #[cold]
    #[inline(never)]
    fn copy_short_head(&self, buf: &mut [u8]) -> bool {
        match (
            buf.get_mut(..self.headers()),
            self.head.get(..self.headers()),
        ) {
            (Some(b), Some(h)) => {
                b.copy_from_slice(h);
                true
            }
            _ => false,
        }
    }
}

impl Stack {
    /// The largest IPv4 packet TCP may build for the stack to cut (see the
    /// module doc); 0 when software GSO is off.
    pub(crate) fn gso_packet(c: &crate::stack::StackConfig) -> usize {
        if c.gso_max > c.mtu && c.tso_max <= c.mtu && !c.tx_checksum_offload {
            c.gso_max.min(crate::wire::ipv4::MAX_PACKET_LEN)
        } else {
            0
        }
    }

    /// Write the train's next piece into `buf` as a frame; `None` (and the
    /// train dropped) when it has nothing left.
    pub(crate) fn gso_next(&mut self, buf: &mut [u8]) -> Option<usize> {
        let ident = self.next_ident();
        // In place: the train is ~150 bytes, not worth moving per frame.
        let t = self.gso.as_mut()?;
        match t.write(&self.sockets, ident, buf) {
            (n, step @ (Piece::More | Piece::Last)) => {
                if step == Piece::Last {
                    self.gso = None;
                }
                self.note_gso_piece();
                Some(n)
            }
            (_, Piece::Done) => {
                self.gso = None;
                None
            }
            (_, Piece::NoRoom) => {
                self.gso = None;
                self.stats.ethernet.tx_buffer_too_small += 1;
                None
            }
        }
    }

    /// A piece written: the counts a segment from the socket layer adds
    /// on its way to IPv4.
    fn note_gso_segment(&mut self) {
        self.sockets.note_gso_piece();
        self.stats.ipv4.tx_requests += 1;
        self.stats.tcp.tx_segments += 1;
    }

    /// A piece left as a frame: `note_gso_segment` and the frame's counts.
    fn note_gso_piece(&mut self) {
        self.note_gso_segment();
        self.stats.ipv4.tx_packets += 1;
        if self.config.medium == crate::stack::Medium::Ethernet {
            self.stats.ethernet.tx_frames += 1;
        }
    }

    /// Every remaining piece of `t` as a packet (without link header), for
    /// the loopback queue or the neighbour cache: their frames cannot be
    /// handed out one per call.
    pub(crate) fn gso_packets(&mut self, mut t: GsoTrain) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let size = t.headers() + t.rest.piece;
        // Bounded: every piece carries at least one byte of the segment.
        loop {
            let mut frame = vec![0u8; size];
            let ident = self.next_ident();
            match t.write(&self.sockets, ident, &mut frame) {
                (n, step @ (Piece::More | Piece::Last)) => {
                    self.note_gso_segment();
                    frame.truncate(n);
                    frame.drain(..t.l2);
                    out.push(frame);
                    if step == Piece::Last {
                        break;
                    }
                }
                (_, Piece::Done | Piece::NoRoom) => break,
            }
        }
        out
    }
}

//! Generic receive offload in software (Linux GRO, `tcp_gro_receive`):
//! a batch of frames from the link, with consecutive in-order data
//! segments of one connection merged and handed to TCP as one, so the
//! per-segment work of IPv4 delivery, demultiplexing, header prediction,
//! ACK scheduling and readiness runs once per run instead of per frame.
//!
//! CONTRACT: [`Stack::handle_frames`] has the effect of `handle_frame` on
//! each frame in order, except that a run merged here is processed as one
//! segment, as a Linux receiver processes a GRO packet. A frame joins the
//! run before it when both are unfragmented IPv4 without options to our
//! address, TCP with flags ACK (PSH allowed on the last of a run only), a
//! payload, the same addresses, ports, ACK number, window and option bytes
//! (so the same timestamps), a sequence number that continues the run,
//! and the run's earlier pieces were all as long as its first (a shorter
//! one, or one with PSH, ends it, as in Linux). The IPv4 header checksum
//! is verified here; each TCP checksum as its payload is copied into the
//! receive ring. A run is at most 64 KiB (`GRO_MAX`). Whatever the
//! connection cannot take on the predicted path (socket layer, gro.rs)
//! is handed in frame by frame, so every drop and count is the same as
//! without merging. With raw sockets open nothing is merged (each of them
//! must see every packet).

use crate::stack::{Medium, Stack};
use crate::time::Instant;
use crate::wire::ipv4::Ipv4Addrs;
use crate::wire::{Ipv4Addr, TcpFlags, TcpRepr};

/// Most bytes of payload in one run (Linux `GRO_LEGACY_MAX_SIZE`).
pub(crate) const GRO_MAX: usize = 65_536;
/// Most frames in one run (64 KiB of 1448-byte payloads).
const MAX_PIECES: usize = 46;
const IP_HEADER: usize = 20;
const PSH_ACK: u8 = TcpFlags::PSH | TcpFlags::ACK;

/// Where a mergeable frame's parts are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cut {
    /// Offset of the TCP header in the frame.
    tcp: usize,
    /// TCP header length.
    thl: usize,
    seq: u32,
    /// Payload length.
    len: usize,
    psh: bool,
    /// The IPv4 source and destination addresses as they are on the wire.
    addrs: u64,
}

/// Frames merged so far: `frames[start..start + n]` of the batch.
#[derive(Default)]
struct Run<'a> {
    start: usize,
    /// The first frame.
    head: &'a [u8],
    n: usize,
    /// The first frame's cut (meaningful when `n > 0`).
    first: Cut,
    next_seq: u32,
    bytes: usize,
    /// The last piece was full-sized and without PSH: more may join.
    open: bool,
    /// The first frame's usual headers (`Same`), when it has them: a
    /// frame continues the run when its own match them under `SAME_MASK`.
    same: Option<Same>,
}

/// Bytes of the usual data frame's headers: Ethernet (14), IPv4 without
/// options (20), TCP with the timestamp option (32).
const SAME_LEN: usize = 14 + IP_HEADER + 32;

/// Which bits of the `SAME_LEN` header bytes a frame that continues a run
/// shares with its first frame (1: must be equal): what `mergeable` and
/// `Run::takes` require of a frame with the first frame's addresses. Not
/// compared: the source MAC (6..12), TOS (15), total length (16..18,
/// checked against the frame's length), identification (18..20), DF and
/// the reserved flag (20: 0xc0; the fragment bits must be 0, as the first
/// frame's are), TTL (22, checked non-zero), the header checksum (24..26,
/// verified when the run is delivered), the sequence number (38..42,
/// checked against the run's next), PSH (47: 0x08) and the TCP checksum
/// (50..52).
// Evaluated at compile time: an index out of bounds fails the build.
#[allow(clippy::indexing_slicing)]
const SAME_MASK: Same = {
    let mut m = [0xffu8; SAME_LEN];
    let ignore: [(usize, usize); 7] = [
        (6, 12),
        (15, 16),
        (16, 20),
        (22, 23),
        (24, 26),
        (38, 42),
        (50, 52),
    ];
    let mut k = 0;
    while k < ignore.len() {
        let mut b = ignore[k].0;
        while b < ignore[k].1 {
            m[b] = 0;
            b += 1;
        }
        k += 1;
    }
    m[20] = 0x3f;
    m[47] = !TcpFlags::PSH;
    let mut w = [0u64; 8];
    let mut k = 0;
    while k < 8 {
        let mut b = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            b[j] = m[8 * k + j];
            j += 1;
        }
        w[k] = u64::from_le_bytes(b);
        k += 1;
    }
    Same(w, u16::from_le_bytes([m[64], m[65]]))
};

/// `SAME_LEN` header bytes as eight little-endian words and a tail.
#[derive(Clone, Copy)]
struct Same([u64; 8], u16);

impl Same {
    #[inline(always)]
    fn of(h: &[u8; SAME_LEN]) -> Same {
        let w = |at: usize| {
            h.get(at..)
                .and_then(|x| x.first_chunk::<8>())
                .map_or(0, |b| u64::from_le_bytes(*b))
        };
        Same(
            [w(0), w(8), w(16), w(24), w(32), w(40), w(48), w(56)],
            u16::from_le_bytes([h[64], h[65]]),
        )
    }

    /// Whether `other` equals `self` in the bits of `SAME_MASK`, and
    /// `odd` is 0.
    #[inline(always)]
    fn matches_with(&self, other: &Same, odd: u64) -> bool {
        let m = &SAME_MASK;
        let mut diff = odd | u64::from((self.1 ^ other.1) & m.1);
        for ((a, b), m) in self.0.iter().zip(&other.0).zip(&m.0) {
            diff |= (a ^ b) & m;
        }
        diff == 0
    }
}

impl<'a> Run<'a> {
    /// Whether `f` (cut as `c`) continues this run.
    #[inline(always)]
    fn takes(&self, f: &[u8], c: &Cut) -> bool {
        let head = self.head;
        let first = self.first;
        if self.n == 0
            || !self.open
            || self.n >= MAX_PIECES
            || c.seq != self.next_seq
            || c.tcp != first.tcp
            || c.thl != first.thl
            || c.len > first.len
            || self.bytes + c.len > GRO_MAX
        {
            return false;
        }
        // From the source address to the end of the TCP header, all but
        // the sequence number, flags and checksum: addresses and ports
        // (0..12), ACK number and data offset (16..21), window (22..24),
        // urgent pointer and options (26..). Fixed-size compares inline.
        let (ip, end) = (first.tcp - IP_HEADER + 12, first.tcp + first.thl);
        let (Some(x), Some(y)) = (f.get(ip..end), head.get(ip..end)) else {
            return false;
        };
        let (Some(xa), Some(ya)) = (x.first_chunk::<26>(), y.first_chunk::<26>()) else {
            return false;
        };
        if !(xa[..12] == ya[..12] && xa[16..21] == ya[16..21] && xa[22..24] == ya[22..24]) {
            return false;
        }
        // The urgent pointer and options: a fixed-size compare for the
        // usual header with timestamps (32 bytes: 40 from the source
        // address), a `memcmp` call otherwise.
        match (x.first_chunk::<40>(), y.first_chunk::<40>()) {
            (Some(xa), Some(ya)) if x.len() == 40 => xa[26..] == ya[26..],
            _ => same_tail(x, y),
        }
    }

    /// The cut of `f` when it surely continues this run (see `SAME_MASK`):
    /// one masked compare of its headers with the first frame's instead of
    /// `mergeable`'s and `takes`'s field checks, which ended in branches on
    /// each loaded byte. `None` says only that those checks must decide.
    #[inline(always)]
    fn continues(&self, f: &[u8]) -> Option<Cut> {
        let same = self.same.as_ref()?;
        let h = f.first_chunk::<SAME_LEN>()?;
        let first = &self.first;
        let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
        let len = f.len().wrapping_sub(SAME_LEN);
        let seq = u32::from_be_bytes([h[38], h[39], h[40], h[41]]);
        // The sequence number and the IPv4 length, which must equal known
        // values, join the masked compare's difference (one branch for the
        // three instead of one each; folding the inequalities in as well
        // measured slower).
        let odd = u64::from(seq ^ self.next_seq) | (total ^ (f.len() - 14)) as u64;
        if !self.open
            || self.n >= MAX_PIECES
            || len.wrapping_sub(1) >= first.len
            || self.bytes + len > GRO_MAX
            || h[22] == 0
            || !same.matches_with(&Same::of(h), odd)
        {
            return None;
        }
        Some(Cut {
            seq,
            len,
            psh: h[47] & TcpFlags::PSH != 0,
            ..*first
        })
    }

    /// Frame `i` of the batch, `f` (cut as `c`), joins; the first starts
    /// the run.
    #[inline(always)]
    fn push(&mut self, i: usize, f: &'a [u8], c: Cut) {
        if self.n == 0 {
            self.start = i;
            self.head = f;
            self.first = c;
            self.same = match (c.tcp, c.thl, f.first_chunk::<SAME_LEN>()) {
                (34, 32, Some(h)) => Some(Same::of(h)),
                _ => None,
            };
        }
        self.n += 1;
        self.next_seq = c.seq.wrapping_add(c.len as u32);
        self.bytes += c.len;
        self.open = self.first.len == c.len && !c.psh;
    }
}

/// `Run::takes`'s compare of other option lengths (out of line, so LLVM
/// does not merge it with the fixed-size one into one `memcmp` call).
#[inline(never)]
fn same_tail(x: &[u8], y: &[u8]) -> bool {
    x.get(26..) == y.get(26..)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*b.get(at..)?.first_chunk::<2>()?))
}

impl Stack {
    /// Every frame of `frames` from the link, in order, as `handle_frame`
    /// would, merging runs of in-order TCP data (see the module doc): a
    /// NIC driver's batch of received frames (Linux NAPI with GRO).
    pub fn handle_frames<F: AsRef<[u8]>>(&mut self, now: Instant, frames: &[F]) {
        self.last_now = self.last_now.max(now);
        // One frame (a pure ACK, a handshake, a request): a run of one
        // goes in as itself (`flush_run`), so it skips the run checks.
        if let [f] = frames {
            self.ingress(now, f.as_ref(), false);
            return;
        }
        let mut run = Run::default();
        // Where a TCP header's flags byte would be (IPv4 without options).
        let flags_at = match self.config.medium {
            Medium::Ethernet => 14 + IP_HEADER + 13,
            Medium::Ip => IP_HEADER + 13,
        };
        for (i, f) in frames.iter().enumerate() {
            let f = f.as_ref();
            // The usual frame: the next piece of the open run.
            if let Some(c) = run.continues(f) {
                run.push(i, f, c);
                continue;
            }
            // A segment with PSH ends a run, so none starts with one: a
            // request or a reply goes straight in, without the checks; so
            // does one with flags other than ACK (and PSH), which
            // `mergeable` turns away (the byte is its flags byte whenever
            // the frame is IPv4 without options, as it requires).
            let may = match f.get(flags_at).copied() {
                Some(TcpFlags::ACK) => true,
                Some(PSH_ACK) => run.n > 0,
                _ => false,
            };
            let c = match may {
                true => self.mergeable(f, &run),
                false => None,
            };
            let Some(c) = c else {
                if run.n > 0 {
                    self.flush_run(now, frames, &mut run);
                }
                self.ingress(now, f, false);
                continue;
            };
            if run.n > 0 && !run.takes(f, &c) {
                self.flush_run(now, frames, &mut run);
            }
            run.push(i, f, c);
        }
        if run.n > 0 {
            self.flush_run(now, frames, &mut run);
        }
    }

    /// Where a frame's parts are if it may join a run: unfragmented IPv4
    /// without options to us, header checksum good, TCP ACK (PSH allowed)
    /// with a payload, no raw socket open. The first frame of an open `run`
    /// passed the checks of the addresses, whose outcome depends on the
    /// addresses and the configuration only: a frame with the same ones
    /// skips them.
    #[inline(always)]
    fn mergeable(&self, f: &[u8], run: &Run) -> Option<Cut> {
        if !self.raw.is_empty() {
            return None;
        }
        let l2 = match self.config.medium {
            Medium::Ethernet => {
                let eth = f.first_chunk::<14>()?;
                if eth[..6] != self.config.mac.0 || eth[12..] != [0x08, 0x00] {
                    return None;
                }
                14
            }
            Medium::Ip => 0,
        };
        let ip = f.get(l2..)?;
        // IPv4 without options carrying TCP, and in it data with ACK (and
        // PSH) only: what else arrives (handshakes, pure ACKs, FINs)
        // leaves at these first tests.
        let h = ip.first_chunk::<{ IP_HEADER + 20 }>()?;
        let (thl, flags) = (usize::from(h[32] >> 4) * 4, h[33]);
        let total = usize::from(be16(h, 2)?);
        if h[0] != 0x45
            || h[9] != 6
            || flags & !TcpFlags::PSH != TcpFlags::ACK
            || thl < 20
            || total != ip.len()
            || total <= IP_HEADER + thl
        {
            return None;
        }
        if be16(h, 6)? & 0x3fff != 0 || h[8] == 0 {
            return None;
        }
        let addrs = u64::from_ne_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
        if (run.n == 0 || run.first.addrs != addrs) && !self.addressed_to_us(h) {
            return None;
        }
        // The header checksum waits for `deliver_run` (a lone frame takes
        // the full path, which checks it anyway).
        let tcp = ip.get(IP_HEADER..)?;
        let seq = u32::from_be_bytes(*tcp.get(4..)?.first_chunk::<4>()?);
        Some(Cut {
            tcp: l2 + IP_HEADER,
            thl,
            seq,
            len: tcp.len() - thl,
            psh: flags & TcpFlags::PSH != 0,
            addrs,
        })
    }

    /// `mergeable`'s checks of the addresses of IPv4 header `h`: to our
    /// address, from a valid source.
    #[inline(always)]
    fn addressed_to_us(&self, h: &[u8; IP_HEADER + 20]) -> bool {
        let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
        let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
        dst == self.config.addr && self.valid_source(src, dst, self.config.subnet_broadcast())
    }

    /// Hand a run to TCP: one frame as itself, several merged, or (when the
    /// connection cannot take them merged) one by one.
    #[inline(never)]
    fn flush_run<F: AsRef<[u8]>>(&mut self, now: Instant, batch: &[F], run: &mut Run) {
        let r = std::mem::take(run);
        if r.n == 0 {
            return;
        }
        let c = r.first;
        let frames = batch.get(r.start..r.start + r.n).unwrap_or(&[]);
        let ends_batch = r.start + r.n == batch.len();
        if r.n > 1 && self.deliver_run(now, frames, c, r.bytes, ends_batch) {
            return;
        }
        for f in frames {
            self.ingress(now, f.as_ref(), false);
        }
    }

    /// `flush_run` for two or more frames: false (nothing done) when the
    /// socket layer does not take them merged.
    fn deliver_run<F: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        frames: &[F],
        c: Cut,
        bytes: usize,
        ends_batch: bool,
    ) -> bool {
        // The IPv4 packets (header without options, then TCP); their header
        // checksums, left by `mergeable`, are verified with the TCP ones as
        // the payloads are copied, in the same pass over each frame.
        let mut pieces: [&[u8]; MAX_PIECES] = [&[]; MAX_PIECES];
        for (p, f) in pieces.iter_mut().zip(frames) {
            *p = f.as_ref().get(c.tcp - IP_HEADER..).unwrap_or(&[]);
        }
        let pieces = pieces.get(..frames.len()).unwrap_or(&[]);
        let Some(seg0) = pieces.first().and_then(|p| p.get(IP_HEADER..)) else {
            return false;
        };
        // The addresses `mergeable` read, in wire order.
        let [s0, s1, s2, s3, d0, d1, d2, d3] = c.addrs.to_ne_bytes();
        let ip = Ipv4Addrs {
            src: Ipv4Addr::new(s0, s1, s2, s3),
            dst: Ipv4Addr::new(d0, d1, d2, d3),
        };
        let Ok(first) = TcpRepr::parse_segment(seg0) else {
            return false;
        };
        if !self
            .sockets
            .gro_segments(now, ip, &first, pieces, bytes, ends_batch)
        {
            return false;
        }
        let k = frames.len() as u64;
        self.stats.ethernet.rx_frames += k;
        self.stats.ipv4.rx_packets += k;
        self.stats.ipv4.rx_delivered += k;
        self.stats.tcp.rx_segments += k;
        self.stats.tcp.rx_gro_segments += 1;
        true
    }
}

#[cfg(test)]
#[path = "gro_tests.rs"]
mod tests;

//! TCP headers and options (RFC 9293 3.1, RFC 7323, RFC 2018).
//!
//! Options understood: EOL, NOP, MSS, window scale, SACK-permitted, SACK
//! blocks, timestamps. Unknown options are skipped by their length; an option
//! whose length is illegal (0, 1, past the header, or wrong for its kind)
//! rejects the segment with `BadOption`.
//!
//! CONTRACT: `TcpPacket::parse` needs 20 bytes (else `Truncated`), a data
//! offset of at least 5 within the buffer (else `BadHeaderLen`) and a
//! well-formed option list (else `BadOption`): EOL ends the list; every other
//! kind but NOP carries a length byte of at least 2 that stays inside the
//! header; MSS is 4 bytes, window scale 3, SACK-permitted 2, SACK 10/18/26/34,
//! timestamps 10 (RFC 9293 3.1, RFC 7323 2.2/3.2, RFC 2018 2-3). The view
//! spans the whole segment (the IPv4 payload). Values are not judged here:
//! a window scale above 14 is carried as sent and the TCP layer clamps it
//! (RFC 7323 2.3).
//!
//! `TcpRepr::emit` lays options out as Linux's `tcp_options_write` does, in
//! this order, each present field only: `mss` (4); `sackOK,TS` (12) or
//! `nop,nop,TS` (12); `nop,nop,sackOK` (4, without TS); `nop,wscale` (4);
//! `nop,nop,sack` (4 + 8n). All parts are 4-byte aligned, so no padding is
//! ever needed; SACK blocks are clamped to what fits in 40 option bytes
//! (4 alone, 3 with timestamps).

use super::checksum;
use super::{be16, be32, byte, put, put16, put32, IpProtocol, Ipv4Addr, WireError};
use crate::tcp::SeqNum;
use core::fmt;

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_HEADER_LEN: usize = 60;
/// At most four SACK blocks fit in 40 option bytes; three with timestamps.
pub const MAX_SACK_BLOCKS: usize = 4;
/// Most option bytes a header can carry.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - MIN_HEADER_LEN;
/// Where the checksum field sits in the header (RFC 9293 3.1); the
/// `csum_offset` of a partial checksum.
pub const TCP_CHECKSUM_OFFSET: usize = 16;

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
}

/// The TCP flag bits (the low 8 bits of byte 13; NS is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
    pub fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// tcpdump's letters in tcpdump's order: `S.` for SYN-ACK, `none` for no flags.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        const LETTERS: [(u8, char); 8] = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ];
        for (bit, c) in LETTERS {
            if self.0 & bit != 0 {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// The timestamps option (RFC 7323 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamp {
    pub tsval: u32,
    pub tsecr: u32,
}

/// One TCP option as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOperation,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    /// The SACK blocks, 8 bytes each (left edge, right edge); see `sack_blocks`.
    Sack(&'a [u8]),
    Timestamp(TcpTimestamp),
    /// A kind we do not interpret, with its data (after kind and length).
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// The (left, right) edges of the SACK blocks in a `TcpOption::Sack` body.
pub fn sack_blocks(data: &[u8]) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
    data.chunks_exact(8)
        .map(|b| (SeqNum(be32(b, 0)), SeqNum(be32(b, 4))))
}

/// tcpdump's spelling: `mss 1460`, `sackOK`, `TS val 1 ecr 0`, `nop`, `wscale 7`, `sack 1 {a:b}`.
impl fmt::Display for TcpOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TcpOption::EndOfList => f.write_str("eol"),
            TcpOption::NoOperation => f.write_str("nop"),
            TcpOption::Mss(m) => write!(f, "mss {m}"),
            TcpOption::WindowScale(w) => write!(f, "wscale {w}"),
            TcpOption::SackPermitted => f.write_str("sackOK"),
            TcpOption::Sack(data) => {
                write!(f, "sack {} ", data.len() / 8)?;
                for (l, r) in sack_blocks(data) {
                    write!(f, "{{{}:{}}}", l.0, r.0)?;
                }
                Ok(())
            }
            TcpOption::Timestamp(ts) => write!(f, "TS val {} ecr {}", ts.tsval, ts.tsecr),
            TcpOption::Unknown { kind, .. } => write!(f, "unknown-{kind}"),
        }
    }
}

/// Walks an option list. Yields `Err(BadOption)` once for a malformed option
/// and then stops; stops after `EndOfList` or at the end of the bytes.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    pub fn new(options: &'a [u8]) -> Self {
        TcpOptions { rest: options }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let k = *rest.first()?;
        match k {
            kind::EOL => {
                // RFC 9293 3.1: end of the option list; the rest is padding.
                self.rest = &[];
                return Some(Ok(TcpOption::EndOfList));
            }
            kind::NOP => {
                self.rest = rest.get(1..).unwrap_or(&[]);
                return Some(Ok(TcpOption::NoOperation));
            }
            _ => {}
        }
        let len = usize::from(byte(rest, 1));
        let (Some(data), Some(after)) = (
            rest.get(2..len.max(2)).filter(|_| len >= 2),
            rest.get(len..),
        ) else {
            self.rest = &[];
            return Some(Err(WireError::BadOption));
        };
        let opt = match (k, len) {
            (kind::MSS, 4) => TcpOption::Mss(be16(data, 0)),
            (kind::WINDOW_SCALE, 3) => TcpOption::WindowScale(byte(data, 0)),
            (kind::SACK_PERMITTED, 2) => TcpOption::SackPermitted,
            (kind::SACK, 10 | 18 | 26 | 34) => TcpOption::Sack(data),
            (kind::TIMESTAMP, 10) => TcpOption::Timestamp(TcpTimestamp {
                tsval: be32(data, 0),
                tsecr: be32(data, 4),
            }),
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMP,
                _,
            ) => {
                self.rest = &[];
                return Some(Err(WireError::BadOption));
            }
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        self.rest = after;
        Some(Ok(opt))
    }
}

/// The layout of nearly every segment once timestamps are agreed (RFC 7323
/// Appendix A: NOP, NOP, TS = 0x0101080a): read without walking the option
/// list, as Linux `tcp_fast_parse_options` does. `None` for any other layout.
fn fast_timestamp(opts: &[u8]) -> Option<TcpTimestamp> {
    let o: &[u8; 12] = opts.try_into().ok()?;
    let [k0, k1, k2, k3, a0, a1, a2, a3, b0, b1, b2, b3] = *o;
    if u32::from_be_bytes([k0, k1, k2, k3]) != 0x0101_080a {
        return None;
    }
    Some(TcpTimestamp {
        tsval: u32::from_be_bytes([a0, a1, a2, a3]),
        tsecr: u32::from_be_bytes([b0, b1, b2, b3]),
    })
}

/// The options of a segment whose list is made only of the 4-byte-aligned
/// words Linux (and this stack) write (`tcp_options_write`): `mss`,
/// `sackOK,TS`, `nop,nop,TS`, `nop,nop,sackOK`, `nop,wscale`, in any order
/// and number (the last of a kind wins, as in the general walk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct AlignedOptions {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamp: Option<TcpTimestamp>,
}

/// Read an option list made only of the aligned words of `AlignedOptions`
/// (every SYN and SYN-ACK from Linux or from us) without the general walk,
/// as Linux `tcp_fast_parse_options` does for the timestamp word. `None` for
/// anything else (SACK blocks, EOL, unknown kinds, other alignments,
/// malformed lengths): the general walk then decides. Each word recognised
/// is exactly what the general walk reads from those bytes.
fn aligned_options(opts: &[u8]) -> Option<AlignedOptions> {
    let mut o = AlignedOptions::default();
    let mut rest = opts;
    while let Some((w, tail)) = rest.split_first_chunk::<4>() {
        rest = tail;
        match *w {
            [kind::MSS, 4, a, b] => o.mss = Some(u16::from_be_bytes([a, b])),
            [kind::NOP, kind::WINDOW_SCALE, 3, s] => o.window_scale = Some(s),
            [kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2] => o.sack_permitted = true,
            [k0, k1, kind::TIMESTAMP, 10] => {
                match (k0, k1) {
                    (kind::NOP, kind::NOP) => {}
                    (kind::SACK_PERMITTED, 2) => o.sack_permitted = true,
                    _ => return None,
                }
                let ([a0, a1, a2, a3, b0, b1, b2, b3], tail) = rest.split_first_chunk::<8>()?;
                rest = tail;
                o.timestamp = Some(TcpTimestamp {
                    tsval: u32::from_be_bytes([*a0, *a1, *a2, *a3]),
                    tsecr: u32::from_be_bytes([*b0, *b1, *b2, *b3]),
                });
            }
            _ => return None,
        }
    }
    // The header length is a multiple of 4, so nothing is left over; a
    // list that somehow is not goes to the general walk.
    rest.is_empty().then_some(o)
}

/// The options of the layouts nearly every segment carries, without the
/// general walk: NOP, NOP, TS (one word compare), else the aligned words.
#[inline(always)]
fn common_options(opts: &[u8]) -> Option<AlignedOptions> {
    if let Some(ts) = fast_timestamp(opts) {
        return Some(AlignedOptions {
            timestamp: Some(ts),
            ..AlignedOptions::default()
        });
    }
    aligned_options(opts)
}

/// A validated TCP segment: data offset >= 5 and within the buffer, options
/// well-formed. The checksum is checked separately (`verify_checksum`).
#[derive(Debug, Clone)]
pub struct TcpPacket<B: AsRef<[u8]>> {
    bytes: B,
}

/// The header length a segment's data offset gives, checked against the
/// fixed header and the bytes present (RFC 9293 3.1: Data Offset in 32-bit
/// words, at least 5).
#[inline(always)]
fn header_len(b: &[u8]) -> Result<usize, WireError> {
    if b.len() < MIN_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let hl = usize::from(byte(b, 12) >> 4) * 4;
    if hl < MIN_HEADER_LEN || hl > b.len() {
        return Err(WireError::BadHeaderLen);
    }
    Ok(hl)
}

/// Whether the segment `b` (header and payload) from `src` to `dst` has a
/// checksum that verifies (RFC 9293 3.1: it covers the pseudo-header and
/// the whole segment; a length past 16 bits cannot verify).
/// Always inlined: at `handle_tcp`'s call site the pseudo-header is built
/// in registers and the call to `checksum::sum` is the only one left.
#[inline(always)]
pub(crate) fn checksum_ok(b: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let Ok(len) = u16::try_from(b.len()) else {
        return false;
    };
    let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp, len);
    // Most segments are a header with no or a few bytes of payload.
    let sum = if b.len() < 64 {
        checksum::sum_short(b, ph)
    } else {
        checksum::sum(b, ph)
    };
    checksum::verifies(sum)
}

impl<B: AsRef<[u8]>> TcpPacket<B> {
    #[inline]
    pub fn parse(bytes: B) -> Result<Self, WireError> {
        let b = bytes.as_ref();
        let hl = header_len(b)?;
        let opts = b.get(MIN_HEADER_LEN..hl).unwrap_or(&[]);
        if common_options(opts).is_none() && TcpOptions::new(opts).any(|o| o.is_err()) {
            return Err(WireError::BadOption);
        }
        Ok(TcpPacket { bytes })
    }
    /// True when the checksum over the pseudo-header and the whole segment
    /// verifies (RFC 9293 3.1).
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum_ok(self.bytes.as_ref(), src, dst)
    }
    pub fn src_port(&self) -> u16 {
        be16(self.bytes.as_ref(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes.as_ref(), 2)
    }
    pub fn seq(&self) -> SeqNum {
        SeqNum(be32(self.bytes.as_ref(), 4))
    }
    pub fn ack(&self) -> SeqNum {
        SeqNum(be32(self.bytes.as_ref(), 8))
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(byte(self.bytes.as_ref(), 13))
    }
    pub fn window(&self) -> u16 {
        be16(self.bytes.as_ref(), 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.bytes.as_ref(), 16)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.bytes.as_ref(), 18)
    }
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.bytes.as_ref(), 12) >> 4) * 4
    }
    pub fn options(&self) -> &[u8] {
        self.bytes
            .as_ref()
            .get(MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }
    /// The options, already validated by `parse` (so every item is `Ok`).
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }
    pub fn payload(&self) -> &[u8] {
        self.bytes.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
}

/// The meaning of a TCP segment. `ack` is meaningful only when the ACK flag is
/// set. `sack_blocks[..sack_len]` are the SACK blocks present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    /// The raw (unscaled) window field.
    pub window: u16,
    pub urgent: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<TcpTimestamp>,
    pub sack_blocks: [(SeqNum, SeqNum); MAX_SACK_BLOCKS],
    pub sack_len: usize,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// A segment with no options and no payload.
    pub fn new(
        src_port: u16,
        dst_port: u16,
        seq: SeqNum,
        ack: SeqNum,
        flags: TcpFlags,
        window: u16,
    ) -> Self {
        TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            mss: None,
            window_scale: None,
            sack_permitted: false,
            timestamp: None,
            sack_blocks: [(SeqNum(0), SeqNum(0)); MAX_SACK_BLOCKS],
            sack_len: 0,
            payload: &[],
        }
    }
    /// Read the header and options. Of repeated options the last wins; more
    /// than `MAX_SACK_BLOCKS` blocks cannot occur (the SACK length is checked).
    /// The packet view may be a temporary: the result borrows only the bytes.
    #[inline]
    pub fn parse(packet: &TcpPacket<&'a [u8]>) -> TcpRepr<'a> {
        let b: &'a [u8] = packet.bytes;
        let hl = usize::from(byte(b, 12) >> 4) * 4;
        let opts: &'a [u8] = b.get(MIN_HEADER_LEN..hl).unwrap_or(&[]);
        if let Some(o) = common_options(opts) {
            return Self::with_options(b, hl, o);
        }
        let mut r = Self::with_options(b, hl, AlignedOptions::default());
        // Validated by `TcpPacket::parse`: the walk reads every option.
        let _ = r.parse_options(opts);
        r
    }

    /// `TcpPacket::parse` and `TcpRepr::parse` in one pass: the checks of
    /// the former (same errors, same order), the result of the latter, the
    /// option list read once (the two-step form walks it twice).
    #[inline(always)]
    pub fn parse_segment(b: &'a [u8]) -> Result<TcpRepr<'a>, WireError> {
        let hl = header_len(b)?;
        let opts = b.get(MIN_HEADER_LEN..hl).unwrap_or(&[]);
        // NOP,NOP,TS (nearly every segment) is built once, in place, from
        // the words just read. With the aligned layouts on the same path,
        // the timestamp went through an `AlignedOptions` on the stack and
        // was read back 8 bytes at a time over two 4-byte stores, a
        // store-to-load forwarding stall per segment (perf, session 9).
        match fast_timestamp(opts) {
            Some(ts) => Ok(Self::with_options(
                b,
                hl,
                AlignedOptions {
                    timestamp: Some(ts),
                    ..AlignedOptions::default()
                },
            )),
            None => Self::parse_segment_aligned(b, hl, opts),
        }
    }

    /// `parse_segment` for every layout but NOP,NOP,TS: the aligned words
    /// of `aligned_options` (SYNs, SYN-ACKs), else the general walk.
    #[inline(never)]
    fn parse_segment_aligned(
        b: &'a [u8],
        hl: usize,
        opts: &'a [u8],
    ) -> Result<TcpRepr<'a>, WireError> {
        match aligned_options(opts) {
            Some(o) => Ok(Self::with_options(b, hl, o)),
            None => Self::parse_segment_general(b, hl, opts),
        }
    }

    /// `parse_segment` for option lists outside the common layouts (SACK
    /// blocks, unknown kinds, odd alignments, malformed).
    #[inline(never)]
    fn parse_segment_general(
        b: &'a [u8],
        hl: usize,
        opts: &'a [u8],
    ) -> Result<TcpRepr<'a>, WireError> {
        let mut r = Self::with_options(b, hl, AlignedOptions::default());
        if r.parse_options(opts) {
            Ok(r)
        } else {
            Err(WireError::BadOption)
        }
    }

    /// The fixed header of `b` (at least 20 bytes, data offset `hl` within
    /// it; both checked by the caller) with options `o`.
    #[inline(always)]
    fn with_options(b: &'a [u8], hl: usize, o: AlignedOptions) -> TcpRepr<'a> {
        // The fixed header read once.
        let h = super::array::<MIN_HEADER_LEN>(b, 0);
        let [p0, p1, q0, q1, s0, s1, s2, s3, a0, a1, a2, a3, _, flags, w0, w1, _, _, u0, u1] = h;
        TcpRepr {
            src_port: u16::from_be_bytes([p0, p1]),
            dst_port: u16::from_be_bytes([q0, q1]),
            seq: SeqNum(u32::from_be_bytes([s0, s1, s2, s3])),
            ack: SeqNum(u32::from_be_bytes([a0, a1, a2, a3])),
            flags: TcpFlags(flags),
            window: u16::from_be_bytes([w0, w1]),
            urgent: u16::from_be_bytes([u0, u1]),
            mss: o.mss,
            window_scale: o.window_scale,
            sack_permitted: o.sack_permitted,
            timestamp: o.timestamp,
            sack_blocks: [(SeqNum(0), SeqNum(0)); MAX_SACK_BLOCKS],
            sack_len: 0,
            payload: b.get(hl..).unwrap_or(&[]),
        }
    }

    /// The general option walk of `parse` (every layout but the aligned
    /// ones); false for a malformed list (the walk stops there).
    #[inline(never)]
    fn parse_options(&mut self, opts: &'a [u8]) -> bool {
        let r = self;
        for opt in TcpOptions::new(opts) {
            match opt {
                Ok(TcpOption::Mss(m)) => r.mss = Some(m),
                Ok(TcpOption::WindowScale(w)) => r.window_scale = Some(w),
                Ok(TcpOption::SackPermitted) => r.sack_permitted = true,
                Ok(TcpOption::Timestamp(ts)) => r.timestamp = Some(ts),
                Ok(TcpOption::Sack(data)) => {
                    r.sack_blocks = [(SeqNum(0), SeqNum(0)); MAX_SACK_BLOCKS];
                    r.sack_len = 0;
                    for (slot, blk) in r.sack_blocks.iter_mut().zip(sack_blocks(data)) {
                        *slot = blk;
                        r.sack_len += 1;
                    }
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Option bytes before the SACK blocks (see the module doc for the layout).
    fn base_options_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() {
            n += 12; // sackOK rides in the timestamp word's padding
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        n
    }

    /// How many SACK blocks `emit` will send: `sack_len` clamped to what fits.
    pub fn sack_blocks_sent(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.base_options_len() + 4) / 8;
        self.sack_len.min(MAX_SACK_BLOCKS).min(room)
    }

    fn options_len(&self) -> usize {
        let sacks = self.sack_blocks_sent();
        self.base_options_len() + if sacks > 0 { 4 + 8 * sacks } else { 0 }
    }

    /// Write the options as `emit` does into `out`; returns their length.
    pub fn emit_options(&self, out: &mut [u8; MAX_OPTIONS_LEN]) -> usize {
        let mut at = 0;
        if let Some(mss) = self.mss {
            put(out, at, &[kind::MSS, 4]);
            put16(out, at + 2, mss);
            at += 4;
        }
        if let Some(ts) = self.timestamp {
            let lead = if self.sack_permitted {
                [kind::SACK_PERMITTED, 2]
            } else {
                [kind::NOP, kind::NOP]
            };
            put(out, at, &lead);
            put(out, at + 2, &[kind::TIMESTAMP, 10]);
            put32(out, at + 4, ts.tsval);
            put32(out, at + 8, ts.tsecr);
            at += 12;
        } else if self.sack_permitted {
            put(out, at, &[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]);
            at += 4;
        }
        if let Some(ws) = self.window_scale {
            put(out, at, &[kind::NOP, kind::WINDOW_SCALE, 3, ws]);
            at += 4;
        }
        let sacks = self.sack_blocks_sent();
        if sacks > 0 {
            put(
                out,
                at,
                &[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * sacks) as u8],
            );
            at += 4;
            for (l, r) in self.sack_blocks.iter().take(sacks) {
                put32(out, at, l.0);
                put32(out, at + 4, r.0);
                at += 8;
            }
        }
        at
    }
    /// Sequence space taken: payload length plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }
    /// Header length with options, padded to a multiple of 4. Option layout
    /// follows Linux: on SYN `mss, sackOK, TS, nop, wscale` (20 bytes); on
    /// other segments `nop, nop, TS` then `nop, nop, SACK`.
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options_len()
    }
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }
    /// Write header, options and payload with the checksum over the IPv4 pseudo-header.
    /// `BadLength` if the segment would exceed 65535 bytes; `Truncated` if
    /// `buf` is shorter than `buffer_len()` (bytes past it are untouched).
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), WireError> {
        let hl = self.header_len();
        let len = hl + self.payload.len();
        let Some(out) = buf.get_mut(..len) else {
            return Err(if u16::try_from(len).is_err() {
                WireError::BadLength
            } else {
                WireError::Truncated
            });
        };
        let (_, body) = out.split_at_mut(hl);
        let payload_sum = checksum::copy_and_sum(body, self.payload);
        self.emit_header(out, src, dst, payload_sum)
    }

    /// Write header and options into `segment`, whose bytes after the header
    /// already hold the payload (written in place by the caller, e.g. copied
    /// straight from a send ring), with `payload_sum` = `checksum::sum` of
    /// those bytes; `self.payload` is ignored. `segment.len()` is the whole
    /// segment's length.
    pub fn emit_header(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: u64,
    ) -> Result<(), WireError> {
        self.emit_header_with(segment, src, dst, Some(payload_sum))
    }

    /// Like [`TcpRepr::emit_header`] for a link that finishes checksums
    /// (Linux CHECKSUM_PARTIAL, virtio-net `NEEDS_CSUM`): the checksum field
    /// gets only the folded pseudo-header sum, not complemented, as Linux
    /// `__tcp_v4_send_check` leaves it; whoever completes it sums from the
    /// TCP header ([`TCP_CHECKSUM_OFFSET`] bytes in) to the end of the
    /// segment ([`super::checksum::complete_partial`]). The payload is
    /// neither read nor summed.
    pub fn emit_header_partial(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<(), WireError> {
        self.emit_header_with(segment, src, dst, None)
    }

    /// Header and options, then the checksum: complete over `payload_sum`,
    /// or the pseudo-header part only (`None`).
    #[inline(always)]
    fn emit_header_with(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: Option<u64>,
    ) -> Result<(), WireError> {
        if self.timestamp.is_some()
            && self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && self.sack_len == 0
        {
            return self.emit_ts_header(segment, src, dst, payload_sum);
        }
        self.emit_header_other(segment, src, dst, payload_sum)
    }

    /// `emit_header_with` for the layouts other than the established one:
    /// Linux's full SYN layout by its fixed-size writer, the rest by the
    /// general one (out of line, so the established path stays as small).
    #[inline(never)]
    fn emit_header_other(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: Option<u64>,
    ) -> Result<(), WireError> {
        if let (Some(mss), Some(ts), Some(ws), 0) =
            (self.mss, self.timestamp, self.window_scale, self.sack_len)
        {
            return self.emit_syn_header(segment, src, dst, payload_sum, mss, ts, ws);
        }
        self.emit_header_general(segment, src, dst, payload_sum)
    }

    /// The 20-byte fixed header for a header of `hl` bytes, checksum zero.
    #[inline(always)]
    fn fixed_header(&self, hl: usize) -> [u8; MIN_HEADER_LEN] {
        let (sp, dp) = (self.src_port.to_be_bytes(), self.dst_port.to_be_bytes());
        let (sq, ak) = (self.seq.0.to_be_bytes(), self.ack.0.to_be_bytes());
        let (wn, ur) = (self.window.to_be_bytes(), self.urgent.to_be_bytes());
        [
            sp[0],
            sp[1],
            dp[0],
            dp[1],
            sq[0],
            sq[1],
            sq[2],
            sq[3],
            ak[0],
            ak[1],
            ak[2],
            ak[3],
            ((hl / 4) as u8) << 4,
            self.flags.0,
            wn[0],
            wn[1],
            0,
            0,
            ur[0],
            ur[1],
        ]
    }

    /// `emit_header_with` for any option set.
    fn emit_header_general(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: Option<u64>,
    ) -> Result<(), WireError> {
        // Header and options are built on the stack, then copied out once.
        let mut head = [0u8; MIN_HEADER_LEN + MAX_OPTIONS_LEN];
        let (h_fixed, h_opts) = head.split_at_mut(MIN_HEADER_LEN);
        let olen = match <&mut [u8; MAX_OPTIONS_LEN]>::try_from(h_opts) {
            Ok(o) => self.emit_options(o),
            Err(_) => 0, // unreachable: the split leaves exactly MAX_OPTIONS_LEN
        };
        let hl = MIN_HEADER_LEN + olen;
        let len = segment.len();
        let Ok(len16) = u16::try_from(len) else {
            return Err(WireError::BadLength);
        };
        if len < hl {
            return Err(WireError::Truncated);
        }
        let out = segment;
        h_fixed.copy_from_slice(&self.fixed_header(hl));
        let header = head.get(..hl).unwrap_or(&[]);
        put(out, 0, header);
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp, len16);
        let c = match payload_sum {
            // The header is a multiple of 4 bytes: the payload's sum adds as is.
            Some(ps) => !checksum::fold(checksum::sum(header, checksum::add(ph, ps))),
            None => checksum::fold(ph),
        };
        put16(out, TCP_CHECKSUM_OFFSET, c);
        Ok(())
    }

    /// `emit_header_with` for the layout of every established-state segment
    /// without SACK blocks (Linux `tcp_options_write`: `nop, nop, TS`): the
    /// 32-byte header is one fixed-size array, written and summed without the
    /// general option walk or a variable-length copy (the bulk fast path).
    #[inline(always)]
    fn emit_ts_header(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: Option<u64>,
    ) -> Result<(), WireError> {
        let ts = self.timestamp.unwrap_or_default();
        let opts = [
            u32::from_be_bytes([kind::NOP, kind::NOP, kind::TIMESTAMP, 10]),
            ts.tsval,
            ts.tsecr,
        ];
        self.emit_words::<3, 32>(segment, src, dst, payload_sum, opts)
    }

    /// `emit_header_with` for the SYN and SYN-ACK layout Linux writes when
    /// MSS, timestamps and window scaling are all on (`mss, sackOK or
    /// nop nop, TS, nop, wscale`: `emit_options`' order): one fixed-size
    /// 40-byte header, as `emit_ts_header` writes the established one.
    #[allow(clippy::too_many_arguments)] // the option values, already unpacked
    fn emit_syn_header(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: Option<u64>,
        mss: u16,
        ts: TcpTimestamp,
        ws: u8,
    ) -> Result<(), WireError> {
        let lead = if self.sack_permitted {
            [kind::SACK_PERMITTED, 2]
        } else {
            [kind::NOP, kind::NOP]
        };
        let opts = [
            u32::from(kind::MSS) << 24 | 4 << 16 | u32::from(mss),
            u32::from_be_bytes([lead[0], lead[1], kind::TIMESTAMP, 10]),
            ts.tsval,
            ts.tsecr,
            u32::from_be_bytes([kind::NOP, kind::WINDOW_SCALE, 3, ws]),
        ];
        self.emit_words::<5, 40>(segment, src, dst, payload_sum, opts)
    }

    /// Write the header with `K` option words (`HL` = 4 (5 + `K`) bytes) and
    /// its checksum: complete over `payload_sum`, or the pseudo-header part
    /// only (`None`).
    #[inline(always)]
    fn emit_words<const K: usize, const HL: usize>(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: Option<u64>,
        opts: [u32; K],
    ) -> Result<(), WireError> {
        const { assert!(HL == 4 * (5 + K) && HL <= 60) };
        let len = segment.len();
        let Ok(len16) = u16::try_from(len) else {
            return Err(WireError::BadLength);
        };
        let Some(out) = segment.get_mut(..HL) else {
            return Err(WireError::Truncated);
        };
        // The header as big-endian words, checksum field (the high half of
        // word 4) zero. RFC 1071 sums them as they are (2^16 = 1 mod
        // 0xffff): no byte swap, and one fold with the pseudo-header and
        // the payload.
        let mut fixed = [
            u32::from(self.src_port) << 16 | u32::from(self.dst_port),
            self.seq.0,
            self.ack.0,
            ((HL / 4) as u32) << 28 | u32::from(self.flags.0) << 16 | u32::from(self.window),
            u32::from(self.urgent),
        ];
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp, len16);
        let c = match payload_sum {
            Some(ps) => {
                // Below 2^38: at most fifteen 32-bit words and the
                // pseudo-header sum.
                let hs = fixed.iter().chain(&opts).fold(ph, |s, &x| s + u64::from(x));
                !checksum::fold(checksum::add(hs, ps))
            }
            None => checksum::fold(ph),
        };
        fixed[4] |= u32::from(c) << 16;
        let mut head = [0u8; HL];
        for (d, x) in head.chunks_exact_mut(4).zip(fixed.into_iter().chain(opts)) {
            d.copy_from_slice(&x.to_be_bytes());
        }
        out.copy_from_slice(&head);
        Ok(())
    }

    /// A tcpdump-like line with addresses:
    /// `IP 198.18.0.1.40000 > 198.18.0.2.5000: Flags [S], seq 1, ...`.
    pub fn display_with(&self, src: Ipv4Addr, dst: Ipv4Addr) -> impl fmt::Display + '_ {
        TcpLine {
            repr: self,
            src,
            dst,
        }
    }
}

struct TcpLine<'r, 'a> {
    repr: &'r TcpRepr<'a>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl fmt::Display for TcpLine<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP {}.{} > {}.{}: {}",
            self.src, self.repr.src_port, self.dst, self.repr.dst_port, self.repr
        )
    }
}

/// tcpdump -S style: `Flags [S.], seq 1, ack 2, win 64240, options [mss
/// 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0`. Options are shown as
/// `emit` would lay them out.
impl fmt::Display for TcpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags [{}]", self.flags)?;
        // tcpdump shows seq only when the segment takes sequence space or is a RST.
        if !self.payload.is_empty() || self.flags.syn() || self.flags.fin() || self.flags.rst() {
            write!(f, ", seq {}", self.seq.0)?;
            if !self.payload.is_empty() {
                let end = self.seq.0.wrapping_add(self.payload.len() as u32);
                write!(f, ":{end}")?;
            }
        }
        if self.flags.ack() {
            write!(f, ", ack {}", self.ack.0)?;
        }
        write!(f, ", win {}", self.window)?;
        if self.flags.urg() {
            write!(f, ", urg {}", self.urgent)?;
        }
        let mut opts = [0u8; MAX_OPTIONS_LEN];
        let olen = self.emit_options(&mut opts);
        if olen > 0 {
            f.write_str(", options [")?;
            for (i, o) in TcpOptions::new(opts.get(..olen).unwrap_or(&[])).enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                match o {
                    Ok(o) => write!(f, "{o}")?,
                    Err(_) => f.write_str("bad opt")?,
                }
            }
            f.write_str("]")?;
        }
        write!(f, ", length {}", self.payload.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    proptest::proptest! {
        /// The NOP, NOP, TS fast path answers exactly what walking the
        /// option list answers, and declines every other 12-byte layout.
        #[test]
        fn fast_timestamp_matches_option_walk(
            lead in proptest::prop_oneof![
                proptest::strategy::Just([1u8, 1, 8, 10]),
                proptest::array::uniform4(0u8..12),
            ],
            tail in proptest::array::uniform8(proptest::num::u8::ANY),
        ) {
            let mut opts = [0u8; 12];
            opts[..4].copy_from_slice(&lead);
            opts[4..].copy_from_slice(&tail);
            let walked: Vec<_> = TcpOptions::new(&opts).collect();
            match fast_timestamp(&opts) {
                Some(ts) => proptest::prop_assert_eq!(
                    walked,
                    vec![Ok(TcpOption::NoOperation), Ok(TcpOption::NoOperation), Ok(TcpOption::Timestamp(ts))]
                ),
                None => proptest::prop_assert_ne!(&lead, &[1u8, 1, 8, 10]),
            }
            // Through the packet parser too: a data segment with these options.
            let mut seg = [0u8; 40];
            seg[12] = 8 << 4;
            seg[13] = TcpFlags::ACK;
            seg[20..32].copy_from_slice(&opts);
            if let Ok(p) = TcpPacket::parse(&seg[..]) {
                let r = TcpRepr::parse(&p);
                if let Some(ts) = fast_timestamp(&opts) {
                    proptest::prop_assert_eq!(r.timestamp, Some(ts));
                    proptest::prop_assert_eq!((r.mss, r.window_scale, r.sack_permitted, r.sack_len), (None, None, false, 0));
                    proptest::prop_assert_eq!(r.payload.len(), 8);
                }
            } else {
                proptest::prop_assert!(fast_timestamp(&opts).is_none());
            }
        }

        /// The fixed 32-byte `nop, nop, TS` header writer produces exactly
        /// the bytes of the general option writer, complete or partial
        /// checksum, for any field values and payload, and leaves the payload
        /// untouched.
        #[test]
        fn ts_header_fast_path_matches_general(
            ports in proptest::array::uniform2(proptest::num::u16::ANY),
            seqs in proptest::array::uniform4(proptest::num::u32::ANY),
            flags in proptest::num::u8::ANY,
            window in proptest::num::u16::ANY,
            urgent in proptest::num::u16::ANY,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            partial in proptest::bool::ANY,
        ) {
            let mut r = TcpRepr::new(ports[0], ports[1], SeqNum(seqs[0]), SeqNum(seqs[1]), TcpFlags(flags), window);
            r.urgent = urgent;
            r.timestamp = Some(TcpTimestamp { tsval: seqs[2], tsecr: seqs[3] });
            let mut fast = vec![0xeeu8; 32 + payload.len()];
            fast[32..].copy_from_slice(&payload);
            let mut general = fast.clone();
            let psum = checksum::sum(&payload, 0);
            let ps = (!partial).then_some(psum);
            proptest::prop_assert!(r.emit_header_with(&mut fast, A, B, ps).is_ok());
            proptest::prop_assert!(r.emit_header_general(&mut general, A, B, ps).is_ok());
            proptest::prop_assert_eq!(&fast, &general);
            proptest::prop_assert_eq!(&fast[32..], &payload[..]);
            if !partial {
                let p = TcpPacket::parse(&fast[..]).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
                proptest::prop_assert!(p.verify_checksum(A, B));
            }
        }
    }

    proptest::proptest! {
        /// The fixed 40-byte SYN header writer (`mss, sackOK or nop nop, TS,
        /// nop, wscale`) produces exactly the bytes of the general option
        /// writer, complete or partial checksum, for any field values.
        #[test]
        fn syn_header_fast_path_matches_general(
            ports in proptest::array::uniform2(proptest::num::u16::ANY),
            seqs in proptest::array::uniform4(proptest::num::u32::ANY),
            flags in proptest::num::u8::ANY,
            window in proptest::num::u16::ANY,
            mss in proptest::num::u16::ANY,
            ws in proptest::num::u8::ANY,
            sack_ok in proptest::bool::ANY,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            partial in proptest::bool::ANY,
        ) {
            let mut r = TcpRepr::new(ports[0], ports[1], SeqNum(seqs[0]), SeqNum(seqs[1]), TcpFlags(flags), window);
            r.mss = Some(mss);
            r.window_scale = Some(ws);
            r.sack_permitted = sack_ok;
            r.timestamp = Some(TcpTimestamp { tsval: seqs[2], tsecr: seqs[3] });
            proptest::prop_assert_eq!(r.header_len(), 40);
            let mut fast = vec![0xeeu8; 40 + payload.len()];
            fast[40..].copy_from_slice(&payload);
            let mut general = fast.clone();
            let ps = (!partial).then_some(checksum::sum(&payload, 0));
            proptest::prop_assert!(r.emit_header_with(&mut fast, A, B, ps).is_ok());
            proptest::prop_assert!(r.emit_header_general(&mut general, A, B, ps).is_ok());
            proptest::prop_assert_eq!(&fast, &general);
            if !partial {
                let p = TcpPacket::parse(&fast[..]).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
                proptest::prop_assert!(p.verify_checksum(A, B));
            }
        }
    }

    /// An option list made of the aligned words `aligned_options` knows,
    /// mixed with arbitrary 4-byte words, at most 40 bytes.
    fn option_words() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let word = prop_oneof![
            any::<u16>().prop_map(|m| {
                let [a, b] = m.to_be_bytes();
                vec![kind::MSS, 4, a, b]
            }),
            any::<u8>().prop_map(|s| vec![kind::NOP, kind::WINDOW_SCALE, 3, s]),
            Just(vec![kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (any::<bool>(), any::<[u8; 8]>()).prop_map(|(sack, v)| {
                let mut w = if sack {
                    vec![kind::SACK_PERMITTED, 2]
                } else {
                    vec![kind::NOP, kind::NOP]
                };
                w.extend_from_slice(&[kind::TIMESTAMP, 10]);
                w.extend_from_slice(&v);
                w
            }),
            any::<[u8; 4]>().prop_map(|w| w.to_vec()),
            (0u8..12, 0u8..12, 0u8..12, 0u8..12).prop_map(|(a, b, c, d)| vec![a, b, c, d]),
        ];
        proptest::collection::vec(word, 0..8).prop_map(|ws| {
            let mut o: Vec<u8> = ws.concat();
            o.truncate(MAX_OPTIONS_LEN);
            o.truncate(o.len() / 4 * 4);
            o
        })
    }

    /// The general reading of a segment: `TcpPacket::parse` checks, then
    /// the fixed header and the full option walk (no fast path).
    fn parse_general(b: &[u8]) -> Result<TcpRepr<'_>, WireError> {
        let p = TcpPacket::parse(b)?;
        let opts = b.get(MIN_HEADER_LEN..p.header_len()).unwrap_or(&[]);
        let mut r = TcpRepr::with_options(b, p.header_len(), AlignedOptions::default());
        let walked = r.parse_options(opts);
        assert!(walked, "TcpPacket::parse accepted a list the walk rejects");
        Ok(r)
    }

    proptest::proptest! {
        /// The aligned-word reader answers exactly what the general walk
        /// answers whenever it answers, and answers for every list made of
        /// its words only.
        #[test]
        fn aligned_options_match_option_walk(opts in option_words()) {
            let mut walked = TcpRepr::new(0, 0, SeqNum(0), SeqNum(0), TcpFlags(0), 0);
            let ok = walked.parse_options(&opts);
            let known_only = {
                let mut rest = &opts[..];
                let mut all = true;
                while let Some((w, tail)) = rest.split_first_chunk::<4>() {
                    rest = tail;
                    match *w {
                        [kind::MSS, 4, _, _] | [kind::NOP, kind::WINDOW_SCALE, 3, _] | [kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2] => {}
                        [kind::NOP, kind::NOP, kind::TIMESTAMP, 10] | [kind::SACK_PERMITTED, 2, kind::TIMESTAMP, 10] if rest.len() >= 8 => rest = &rest[8..],
                        _ => all = false,
                    }
                }
                all
            };
            match aligned_options(&opts) {
                Some(o) => {
                    proptest::prop_assert!(ok);
                    proptest::prop_assert_eq!(
                        (o.mss, o.window_scale, o.sack_permitted, o.timestamp),
                        (walked.mss, walked.window_scale, walked.sack_permitted, walked.timestamp)
                    );
                    proptest::prop_assert_eq!(walked.sack_len, 0);
                }
                None => proptest::prop_assert!(!known_only, "declined {:?}", opts),
            }
        }

        /// `parse_segment` (one pass) and `TcpPacket::parse` + `TcpRepr::parse`
        /// (two passes, fast paths on) both equal the general reading, for
        /// any header, data offset, option list and payload.
        #[test]
        fn parse_segment_matches_general(
            head in proptest::array::uniform20(proptest::num::u8::ANY),
            opts in option_words(),
            offset in proptest::prop_oneof![proptest::strategy::Just(None), proptest::strategy::Strategy::prop_map(0u8..16, Some)],
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
            cut in 0usize..100,
        ) {
            let mut seg = head.to_vec();
            let off = offset.unwrap_or((5 + opts.len() / 4) as u8);
            seg[12] = off << 4 | (seg[12] & 0x0f);
            seg.extend_from_slice(&opts);
            seg.extend_from_slice(&payload);
            seg.truncate(seg.len().min(cut.max(10)));
            let want = parse_general(&seg);
            proptest::prop_assert_eq!(TcpRepr::parse_segment(&seg), want);
            let two = TcpPacket::parse(&seg[..]).map(|p| TcpRepr::parse(&p));
            proptest::prop_assert_eq!(two, want);
        }
    }

    #[test]
    fn aligned_syn_layouts() {
        // Linux's SYN: mss, sackOK+TS, nop+wscale.
        let linux = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = aligned_options(&linux).expect("Linux SYN layout");
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamp, Some(TcpTimestamp { tsval: 1, tsecr: 0 }));
        // Without timestamps: mss, nop+nop+sackOK, nop+wscale.
        let no_ts = [2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7];
        let o = aligned_options(&no_ts).expect("no-TS layout");
        assert_eq!(
            (o.mss, o.window_scale, o.sack_permitted, o.timestamp),
            (Some(1460), Some(7), true, None)
        );
        // A timestamp word cut short, EOL, SACK blocks: the general walk.
        assert_eq!(aligned_options(&[1, 1, 8, 10, 0, 0, 0, 1]), None);
        assert_eq!(aligned_options(&[2, 4, 5, 0xb4, 0, 0, 0, 0]), None);
        assert_eq!(
            aligned_options(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            None
        );
        assert_eq!(aligned_options(&[]), Some(AlignedOptions::default()));
    }

    #[test]
    fn ts_header_fast_path_rejects_short_and_long() {
        let mut r = TcpRepr::new(1, 2, SeqNum(3), SeqNum(4), TcpFlags(TcpFlags::ACK), 5);
        r.timestamp = Some(TcpTimestamp { tsval: 6, tsecr: 7 });
        let mut short = [0u8; 31];
        assert_eq!(
            r.emit_header(&mut short, A, B, 0),
            Err(WireError::Truncated)
        );
        assert_eq!(short, [0u8; 31]);
        let mut long = vec![0u8; 65536];
        assert_eq!(r.emit_header(&mut long, A, B, 0), Err(WireError::BadLength));
    }

    fn syn_ack() -> TcpRepr<'static> {
        let mut r = TcpRepr::new(
            5000,
            40000,
            SeqNum(1),
            SeqNum(2),
            TcpFlags(TcpFlags::SYN | TcpFlags::ACK),
            64240,
        );
        r.mss = Some(1460);
        r.sack_permitted = true;
        r.timestamp = Some(TcpTimestamp { tsval: 1, tsecr: 0 });
        r.window_scale = Some(7);
        r
    }

    #[test]
    fn syn_layout_like_linux() {
        let r = syn_ack();
        assert_eq!(r.header_len(), 40);
        let mut buf = [0u8; 40];
        r.emit(&mut buf, A, B).unwrap();
        assert_eq!(
            &buf[20..],
            &[2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
        );
        let p = TcpPacket::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum(A, B));
        assert!(!p.verify_checksum(B, A.to_bits().wrapping_add(1).into()));
        assert_eq!(TcpRepr::parse(&p), r);
        assert_eq!(
            r.to_string(),
            "Flags [S.], seq 1, ack 2, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"
        );
    }

    #[test]
    fn data_with_sack_clamped() {
        let mut r = TcpRepr::new(1, 2, SeqNum(100), SeqNum(200), TcpFlags(TcpFlags::ACK), 501);
        r.timestamp = Some(TcpTimestamp { tsval: 5, tsecr: 6 });
        r.sack_blocks = [
            (SeqNum(10), SeqNum(20)),
            (SeqNum(30), SeqNum(40)),
            (SeqNum(50), SeqNum(60)),
            (SeqNum(70), SeqNum(80)),
        ];
        r.sack_len = 4;
        r.payload = b"abc";
        assert_eq!(r.sack_blocks_sent(), 3);
        assert_eq!(r.header_len(), 20 + 12 + 4 + 24);
        let mut buf = [0u8; 63];
        r.emit(&mut buf, A, B).unwrap();
        let p = TcpPacket::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum(A, B));
        let back = TcpRepr::parse(&p);
        assert_eq!(back.sack_len, 3);
        assert_eq!(back.payload, b"abc");
        assert_eq!(
            back.to_string(),
            "Flags [.], seq 100:103, ack 200, win 501, options [nop,nop,TS val 5 ecr 6,nop,nop,sack 3 {10:20}{30:40}{50:60}], length 3"
        );
        r.timestamp = None;
        assert_eq!(r.sack_blocks_sent(), 4);
        assert_eq!(r.header_len(), 56);
    }

    fn with_opts(opts: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 20];
        v[12] = (((20 + opts.len()) / 4) as u8) << 4;
        v.extend_from_slice(opts);
        v
    }

    #[test]
    fn option_validation() {
        let ok: &[&[u8]] = &[
            &[1, 1, 1, 1],
            &[0, 9, 9, 9],
            &[2, 4, 5, 0xb4],
            &[99, 4, 0, 0],
            &[1, 3, 3, 14],
            &[4, 2, 1, 1],
            &[30, 2, 0, 0],
        ];
        for o in ok {
            assert!(TcpPacket::parse(&with_opts(o)[..]).is_ok(), "{o:?}");
        }
        let bad: &[&[u8]] = &[
            &[2, 3, 0, 0],
            &[99, 5, 0, 0],
            &[99, 1, 0, 0],
            &[99, 0, 0, 0],
            &[1, 1, 1, 2],
            &[3, 4, 0, 0],
            &[4, 3, 0, 0],
            &[5, 4, 0, 0],
            &[8, 8, 0, 0, 0, 0, 0, 0],
        ];
        for o in bad {
            assert_eq!(
                TcpPacket::parse(&with_opts(o)[..]).unwrap_err(),
                WireError::BadOption,
                "{o:?}"
            );
        }
        let mut short = with_opts(&[]);
        short[12] = 0x40;
        assert_eq!(
            TcpPacket::parse(&short[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
        short[12] = 0x60;
        assert_eq!(
            TcpPacket::parse(&short[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
        assert_eq!(
            TcpPacket::parse(&short[..19]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn flags_display() {
        assert_eq!(TcpFlags(0).to_string(), "none");
        assert_eq!(
            TcpFlags(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK).to_string(),
            "FP."
        );
        assert_eq!(
            syn_ack().display_with(A, B).to_string(),
            "IP 198.18.0.1.5000 > 198.18.0.2.40000: Flags [S.], seq 1, ack 2, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"
        );
    }
}

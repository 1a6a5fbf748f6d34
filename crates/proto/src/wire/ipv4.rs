//! IPv4 headers (RFC 791), options carried but not interpreted.
//!
//! CONTRACT: `Ipv4Packet::parse` checks, in this order (RFC 1122 3.2.1.1-2,
//! and Linux's `ip_rcv_core` for which counter each failure lands in):
//! fewer than 20 bytes: `Truncated`; version != 4: `BadVersion`; IHL < 5 or
//! IHL*4 beyond the buffer: `BadHeaderLen`; total length < IHL*4: `BadLength`;
//! total length beyond the buffer: `Truncated`. Bytes past the total length
//! (Ethernet padding) are ignored. The checksum is left to `verify_checksum`.

use super::checksum;
use super::{array, be16, byte, put, put16, put32, Ipv4Addr, WireError};
use core::fmt;

/// IP protocol numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Icmp,
    Tcp,
    Udp,
    Other(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            n => IpProtocol::Other(n),
        }
    }
}
impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Other(n) => n,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP (1)"),
            IpProtocol::Tcp => f.write_str("TCP (6)"),
            IpProtocol::Udp => f.write_str("UDP (17)"),
            IpProtocol::Other(n) => write!(f, "unknown ({n})"),
        }
    }
}

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_OPTIONS_LEN: usize = 40;
/// Largest total length the 16-bit field can express.
pub const MAX_PACKET_LEN: usize = 65535;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A validated IPv4 packet: version 4, IHL >= 5, IHL and total length within
/// the buffer (extra trailing bytes, e.g. Ethernet padding, are ignored by
/// `payload`). The header checksum is NOT checked by `parse`: call
/// `verify_checksum` so the stack can count that drop separately.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> Ipv4Packet<B> {
    pub fn parse(bytes: B) -> Result<Self, WireError> {
        let b = bytes.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let vihl = byte(b, 0);
        if vihl >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = usize::from(vihl & 0x0f) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(WireError::BadHeaderLen);
        }
        let total = usize::from(be16(b, 2));
        if total < hl {
            return Err(WireError::BadLength);
        }
        if total > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { bytes })
    }
    /// `parse`, then `verify_checksum`, as the receive path needs them:
    /// `Err(BadChecksum)` (which `parse` never returns) when the header is
    /// well formed but its checksum fails, any other error exactly as
    /// `parse` gives it. An option-less header (IHL 5, nearly every packet)
    /// is judged in one pass over its five words: the checks of RFC 791 3.1
    /// and RFC 1122 3.2.1.1-2 that `parse` makes (version, IHL, total
    /// length against the header and the buffer, in `parse`'s order), then
    /// the RFC 1071 sum of the same words (2(A): 32-bit words added in a
    /// u64 fold like the 16-bit ones, since 2^16 = 1 mod 0xffff). Anything
    /// else takes `parse` and `verify_checksum`.
    #[inline]
    pub(crate) fn parse_plain(bytes: B) -> Result<Self, WireError> {
        let Some(h) = bytes.as_ref().first_chunk::<MIN_HEADER_LEN>() else {
            return Err(WireError::Truncated);
        };
        let w = |i: usize| super::be32(h, i);
        let w0 = w(0);
        if w0 >> 24 != 0x45 {
            return Self::parse_general_checked(bytes);
        }
        let total = (w0 & 0xffff) as usize;
        if total < MIN_HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if total > bytes.as_ref().len() {
            return Err(WireError::Truncated);
        }
        let sum = u64::from(w0) + u64::from(w(4)) + u64::from(w(8));
        if !checksum::verifies(sum + u64::from(w(12)) + u64::from(w(16))) {
            return Err(WireError::BadChecksum);
        }
        Ok(Ipv4Packet { bytes })
    }
    /// `parse_plain` for a header that is not a plain IPv4 one.
    #[inline(never)]
    fn parse_general_checked(bytes: B) -> Result<Self, WireError> {
        let p = Ipv4Packet::parse(bytes)?;
        if !p.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        Ok(p)
    }
    /// Parse the datagram quoted in an ICMP error (RFC 792: the header plus
    /// at least 8 bytes of its payload). Like `parse`, except that the total
    /// length may exceed the buffer: `payload` and `as_bytes` then hold what
    /// was quoted.
    pub fn parse_quoted(bytes: B) -> Result<Self, WireError> {
        match Ipv4Packet::parse(bytes.as_ref()) {
            Ok(_) => Ok(Ipv4Packet { bytes }),
            // With 20 bytes present, `Truncated` can only mean the total length.
            Err(WireError::Truncated) if bytes.as_ref().len() >= MIN_HEADER_LEN => {
                Ok(Ipv4Packet { bytes })
            }
            Err(e) => Err(e),
        }
    }
    /// The fields the receive path judges every packet by, read from the
    /// fixed header at once (no `Ipv4Repr`, whose options alone are 40
    /// bytes to clear and copy).
    #[inline]
    pub(crate) fn head(&self) -> Ipv4Head {
        let h = array::<MIN_HEADER_LEN>(self.bytes.as_ref(), 0);
        let [_, _, _, _, _, _, f0, f1, ttl, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = h;
        Ipv4Head {
            addrs: Ipv4Addrs {
                src: Ipv4Addr::new(s0, s1, s2, s3),
                dst: Ipv4Addr::new(d0, d1, d2, d3),
            },
            ttl,
            protocol: proto,
            fragment: u16::from_be_bytes([f0, f1]) & (FLAG_MF | OFFSET_MASK) != 0,
        }
    }
    /// True when the header checksum verifies (RFC 791 3.1).
    pub fn verify_checksum(&self) -> bool {
        if let Ok(h) = <&[u8; MIN_HEADER_LEN]>::try_from(self.header()) {
            // No options (nearly every packet): ten words, no loop.
            return fold_header(h) == 0xffff;
        }
        checksum::verifies(checksum::sum(self.header(), 0))
    }
    fn header(&self) -> &[u8] {
        self.bytes.as_ref().get(..self.header_len()).unwrap_or(&[])
    }
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.bytes.as_ref(), 0) & 0x0f) * 4
    }
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.bytes.as_ref(), 2))
    }
    pub fn tos(&self) -> u8 {
        byte(self.bytes.as_ref(), 1)
    }
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.bytes.as_ref(), 12))
    }
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.bytes.as_ref(), 16))
    }
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(byte(self.bytes.as_ref(), 9))
    }
    pub fn ttl(&self) -> u8 {
        byte(self.bytes.as_ref(), 8)
    }
    pub fn ident(&self) -> u16 {
        be16(self.bytes.as_ref(), 4)
    }
    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.bytes.as_ref(), 10)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.bytes.as_ref(), 6) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.bytes.as_ref(), 6) & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        usize::from(be16(self.bytes.as_ref(), 6) & OFFSET_MASK) * 8
    }
    /// True for any fragment of a fragmented datagram (MF set or offset > 0).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    pub fn options(&self) -> &[u8] {
        self.bytes
            .as_ref()
            .get(MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }
    /// The bytes after the header, up to the total length.
    pub fn payload(&self) -> &[u8] {
        self.as_bytes().get(self.header_len()..).unwrap_or(&[])
    }
    /// The header and payload, up to the total length.
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.bytes.as_ref();
        b.get(..self.total_len().min(b.len())).unwrap_or(&[])
    }
    pub fn into_inner(self) -> B {
        self.bytes
    }
}

/// The ones'-complement sum (RFC 1071) of an option-less header, folded to
/// 16 bits: five big-endian 32-bit words added in a u64 (2^16 = 1 mod
/// 0xffff, so this equals the sum of the ten 16-bit words once folded).
fn fold_header(h: &[u8; MIN_HEADER_LEN]) -> u16 {
    let w = |i: usize| u64::from(super::be32(h, i));
    checksum::fold(w(0) + w(4) + w(8) + w(12) + w(16))
}

/// A datagram's source and destination: all the TCP layer needs of its
/// IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ipv4Addrs {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl From<&Ipv4Repr> for Ipv4Addrs {
    fn from(ip: &Ipv4Repr) -> Self {
        Ipv4Addrs {
            src: ip.src,
            dst: ip.dst,
        }
    }
}

/// What `Ipv4Packet::head` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ipv4Head {
    pub addrs: Ipv4Addrs,
    pub ttl: u8,
    /// The protocol number (`IpProtocol` as a byte).
    pub protocol: u8,
    /// MF set or a non-zero offset: a fragment (`Ipv4Packet::is_fragment`).
    pub fragment: bool,
}

/// The meaning of an IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Length of the payload that follows the header (of this fragment).
    pub payload_len: usize,
    pub ttl: u8,
    /// Type of service byte (DSCP + ECN).
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: usize,
    /// Options bytes (already padded to a multiple of 4), `options_len` of them used.
    pub options: [u8; MAX_OPTIONS_LEN],
    pub options_len: usize,
}

impl Ipv4Repr {
    /// A plain header with no options, TTL 64, DF set, ident 0.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload_len: usize) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol,
            payload_len,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: [0; MAX_OPTIONS_LEN],
            options_len: 0,
        }
    }
    #[inline]
    pub fn parse<B: AsRef<[u8]>>(packet: &Ipv4Packet<B>) -> Ipv4Repr {
        // The fixed header read once (validated by `Ipv4Packet::parse`).
        let h = array::<MIN_HEADER_LEN>(packet.bytes.as_ref(), 0);
        let [_, tos, _, _, i0, i1, f0, f1, ttl, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = h;
        let frag = u16::from_be_bytes([f0, f1]);
        let opts = packet.options();
        let mut options = [0; MAX_OPTIONS_LEN];
        if !opts.is_empty() {
            put(&mut options, 0, opts);
        }
        Ipv4Repr {
            src: Ipv4Addr::new(s0, s1, s2, s3),
            dst: Ipv4Addr::new(d0, d1, d2, d3),
            protocol: IpProtocol::from(proto),
            payload_len: packet.payload().len(),
            ttl,
            tos,
            ident: u16::from_be_bytes([i0, i1]),
            dont_frag: frag & FLAG_DF != 0,
            more_frags: frag & FLAG_MF != 0,
            frag_offset: usize::from(frag & OFFSET_MASK) * 8,
            options,
            options_len: opts.len().min(MAX_OPTIONS_LEN),
        }
    }
    /// The options in use.
    pub fn options(&self) -> &[u8] {
        self.options.get(..self.options_len).unwrap_or(&[])
    }
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options_len
    }
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }
    /// Write the header (with checksum) at the start of `buf`; the payload is the caller's.
    ///
    /// `BadOption` if `options_len` exceeds 40 or is not a multiple of 4;
    /// `BadLength` if the total length exceeds 65535 or the fragment offset is
    /// not a multiple of 8 below 65536; `Truncated` if `buf` is shorter than
    /// the header.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if self.options_len > MAX_OPTIONS_LEN || self.options_len % 4 != 0 {
            return Err(WireError::BadOption);
        }
        let hl = self.header_len();
        let total = hl
            .checked_add(self.payload_len)
            .filter(|&t| t <= MAX_PACKET_LEN)
            .ok_or(WireError::BadLength)?;
        if self.frag_offset % 8 != 0 || self.frag_offset / 8 > usize::from(OFFSET_MASK) {
            return Err(WireError::BadLength);
        }
        let Some(hdr) = buf.get_mut(..hl) else {
            return Err(WireError::Truncated);
        };
        if let Ok(hdr) = <&mut [u8; MIN_HEADER_LEN]>::try_from(&mut *hdr) {
            // No options (every segment the stack sends): five word stores.
            let mut frag = (self.frag_offset / 8) as u16;
            if self.dont_frag {
                frag |= FLAG_DF;
            }
            if self.more_frags {
                frag |= FLAG_MF;
            }
            let w0 = 0x4500_0000 | u32::from(self.tos) << 16 | total as u32;
            let w1 = u32::from(self.ident) << 16 | u32::from(frag);
            let w2 = u32::from(self.ttl) << 24 | u32::from(u8::from(self.protocol)) << 16;
            put_words(hdr, [w0, w1, w2, u32::from(self.src), u32::from(self.dst)]);
            return Ok(());
        }
        hdr[..].fill(0);
        put(hdr, 0, &[0x40 | (hl / 4) as u8, self.tos]);
        put16(hdr, 2, total as u16);
        put16(hdr, 4, self.ident);
        let mut frag = (self.frag_offset / 8) as u16;
        if self.dont_frag {
            frag |= FLAG_DF;
        }
        if self.more_frags {
            frag |= FLAG_MF;
        }
        put16(hdr, 6, frag);
        put(hdr, 8, &[self.ttl, self.protocol.into()]);
        put(hdr, 12, &self.src.octets());
        put(hdr, 16, &self.dst.octets());
        put(hdr, MIN_HEADER_LEN, self.options());
        let c = checksum::checksum(hdr);
        put16(hdr, 10, c);
        Ok(())
    }
}

/// tcpdump -v style: `IP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto
/// TCP (6), length 60) 198.18.0.1 > 198.18.0.2`.
impl fmt::Display for Ipv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = match (self.dont_frag, self.more_frags) {
            (true, true) => "DF+",
            (true, false) => "DF",
            (false, true) => "+",
            (false, false) => "none",
        };
        write!(
            f,
            "IP (tos 0x{:x}, ttl {}, id {}, offset {}, flags [{}], proto {}, length {}",
            self.tos,
            self.ttl,
            self.ident,
            self.frag_offset,
            flags,
            self.protocol,
            self.buffer_len()
        )?;
        if self.options_len > 0 {
            write!(f, ", options ({} bytes)", self.options_len)?;
        }
        write!(f, ") {} > {}", self.src, self.dst)
    }
}

/// Store an option-less header given as five big-endian words, the
/// checksum field (low half of the third word) zero, with its checksum.
/// RFC 1071 sums the words directly (2^16 = 1 mod 0xffff, so 32-bit words
/// fold like the ten 16-bit ones).
#[inline(always)]
fn put_words(hdr: &mut [u8; MIN_HEADER_LEN], w: [u32; 5]) {
    let [w0, w1, w2, w3, w4] = w;
    let sum = u64::from(w0) + u64::from(w1) + u64::from(w2) + u64::from(w3) + u64::from(w4);
    let w2 = w2 | u32::from(!checksum::fold(sum));
    let hdr: &mut [u8] = hdr;
    put32(hdr, 0, w0);
    put32(hdr, 4, w1);
    put32(hdr, 8, w2);
    put32(hdr, 12, w3);
    put32(hdr, 16, w4);
}

/// The header [`Ipv4Repr::emit`] writes for `Ipv4Repr::new(src, dst,
/// protocol, payload_len)` with `ttl`, `ident` and DF set as given (TOS 0,
/// not a fragment, no options), without building the `Ipv4Repr`: the
/// per-segment transmit path. `BadLength` if the total length exceeds 65535.
#[allow(clippy::too_many_arguments)] // the header's fields, one each
#[inline]
pub(crate) fn emit_unfragmented(
    hdr: &mut [u8; MIN_HEADER_LEN],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
    ttl: u8,
    ident: u16,
    dont_frag: bool,
) -> Result<(), WireError> {
    let total = MIN_HEADER_LEN
        .checked_add(payload_len)
        .filter(|&t| t <= MAX_PACKET_LEN)
        .ok_or(WireError::BadLength)?;
    let frag = if dont_frag { FLAG_DF } else { 0 };
    put_words(
        hdr,
        [
            0x4500_0000 | total as u32,
            u32::from(ident) << 16 | u32::from(frag),
            u32::from(ttl) << 24 | u32::from(u8::from(protocol)) << 16,
            u32::from(src),
            u32::from(dst),
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Ipv4Repr {
        let mut r = Ipv4Repr::new(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            IpProtocol::Udp,
            4,
        );
        r.ident = 0x1234;
        r
    }

    proptest::proptest! {
        /// The option-less fast path of `emit` writes what the general one
        /// does (header fields, then the RFC 1071 checksum over them), and
        /// `verify_checksum`'s fast sum agrees with `checksum::sum`.
        #[test]
        fn plain_header_emit_and_verify(
            src in proptest::num::u32::ANY,
            dst in proptest::num::u32::ANY,
            proto in proptest::num::u8::ANY,
            len in 0usize..65_000,
            ttl in proptest::num::u8::ANY,
            tos in proptest::num::u8::ANY,
            ident in proptest::num::u16::ANY,
            df in proptest::bool::ANY,
            mf in proptest::bool::ANY,
            off in 0usize..8191,
            noise in proptest::array::uniform20(proptest::num::u8::ANY),
        ) {
            let mut r = Ipv4Repr::new(Ipv4Addr::from(src), Ipv4Addr::from(dst), IpProtocol::from(proto), len);
            r.ttl = ttl;
            r.tos = tos;
            r.ident = ident;
            r.dont_frag = df;
            r.more_frags = mf;
            r.frag_offset = off * 8;
            let mut buf = noise;
            r.emit(&mut buf).unwrap();
            let mut want = [0u8; 20];
            want[0] = 0x45;
            want[1] = tos;
            want[2..4].copy_from_slice(&((len + 20) as u16).to_be_bytes());
            want[4..6].copy_from_slice(&ident.to_be_bytes());
            let frag = off as u16 | if df { FLAG_DF } else { 0 } | if mf { FLAG_MF } else { 0 };
            want[6..8].copy_from_slice(&frag.to_be_bytes());
            want[8] = ttl;
            want[9] = proto;
            want[12..16].copy_from_slice(&src.to_be_bytes());
            want[16..20].copy_from_slice(&dst.to_be_bytes());
            let c = checksum::checksum(&want);
            want[10..12].copy_from_slice(&c.to_be_bytes());
            proptest::prop_assert_eq!(buf, want);
            let p = Ipv4Packet::parse_quoted(&buf[..]).unwrap();
            proptest::prop_assert!(p.verify_checksum());
            // Any header: the fast verify agrees with the general sum.
            let mut n = noise;
            n[0] = 0x45;
            n[2] = 0;
            n[3] = 20;
            let q = Ipv4Packet::parse_quoted(&n[..]).unwrap();
            let slow = checksum::fold(checksum::sum(&n, 0)) == 0xffff;
            proptest::prop_assert_eq!(q.verify_checksum(), slow);
        }

        /// `parse_plain` gives what `parse` then `verify_checksum` give
        /// (`BadChecksum` standing for a failed sum), errors included: for
        /// arbitrary bytes, for arbitrary option-less headers whose checksum
        /// is made to verify (any total length), and for valid headers with
        /// or without options, cut short or padded, with one byte changed.
        #[test]
        fn parse_plain_matches_the_general_parse(
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            fix_sum in proptest::bool::ANY,
            plain in proptest::bool::ANY,
            src in proptest::num::u32::ANY,
            dst in proptest::num::u32::ANY,
            proto in proptest::num::u8::ANY,
            payload_len in 0usize..64,
            options_words in 0usize..=10,
            ttl in proptest::num::u8::ANY,
            ident in proptest::num::u16::ANY,
            total_delta in -24i32..4,
            small_total in proptest::option::of(0u16..24),
            cut_back in proptest::prop_oneof![0usize..24, 0usize..160],
            flip in proptest::option::of((0usize..64, 1u8..=255)),
        ) {
            fn general(b: &[u8]) -> Result<&[u8], WireError> {
                let p = Ipv4Packet::parse(b)?;
                if p.verify_checksum() { Ok(p.into_inner()) } else { Err(WireError::BadChecksum) }
            }
            let check = |b: &[u8]| -> Result<(), proptest::test_runner::TestCaseError> {
                let got = Ipv4Packet::parse_plain(b).map(Ipv4Packet::into_inner);
                proptest::prop_assert_eq!(got, general(b));
                Ok(())
            };
            // Arbitrary bytes; as a plain header with a total length near
            // the buffer's and a sum that verifies.
            let mut b = noise;
            check(&b)?;
            if b.len() >= MIN_HEADER_LEN && plain {
                b[0] = 0x45;
                let near = (b.len() as i32 + total_delta).max(0) as u16;
                let total = small_total.unwrap_or(near);
                b[2..4].copy_from_slice(&total.to_be_bytes());
                if fix_sum {
                    b[10] = 0;
                    b[11] = 0;
                    let c = checksum::checksum(&b[..MIN_HEADER_LEN]);
                    b[10..12].copy_from_slice(&c.to_be_bytes());
                    proptest::prop_assert!(Ipv4Packet::parse_plain(&b[..]).map_or(true, |p| p.verify_checksum()));
                }
                check(&b)?;
            }
            // A valid header (options or not) and payload, cut or padded,
            // maybe with one byte changed.
            let mut r = Ipv4Repr::new(Ipv4Addr::from(src), Ipv4Addr::from(dst), IpProtocol::from(proto), payload_len);
            r.ttl = ttl;
            r.ident = ident;
            r.options_len = 4 * options_words;
            let mut v = vec![0xa5u8; r.buffer_len() + 16];
            r.emit(&mut v).unwrap();
            check(&v)?;
            v.truncate(v.len().saturating_sub(cut_back));
            if let Some((at, x)) = flip {
                if let Some(byte) = v.get_mut(at) {
                    *byte ^= x;
                }
            }
            check(&v)?;
        }

        /// `emit_unfragmented` (the transmit path's header) writes exactly
        /// what `Ipv4Repr::emit` writes for the same fields, and refuses
        /// the same oversized lengths.
        #[test]
        fn unfragmented_emit_matches_repr(
            src in proptest::num::u32::ANY,
            dst in proptest::num::u32::ANY,
            proto in proptest::num::u8::ANY,
            len in proptest::prop_oneof![0usize..70_000, 65_510usize..65_520],
            ttl in proptest::num::u8::ANY,
            ident in proptest::num::u16::ANY,
            df in proptest::bool::ANY,
            noise in proptest::array::uniform20(proptest::num::u8::ANY),
        ) {
            let (s, d, p) = (Ipv4Addr::from(src), Ipv4Addr::from(dst), IpProtocol::from(proto));
            let mut r = Ipv4Repr::new(s, d, p, len);
            r.ttl = ttl;
            r.ident = ident;
            r.dont_frag = df;
            let (mut want, mut got) = (noise, noise);
            let a = r.emit(&mut want);
            let b = emit_unfragmented(&mut got, s, d, p, len, ttl, ident, df);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn round_trip_with_padding() {
        let r = repr();
        let mut buf = [0xeeu8; 30];
        r.emit(&mut buf).unwrap();
        let p = Ipv4Packet::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 4);
        assert_eq!(p.as_bytes().len(), 24);
        assert_eq!(Ipv4Repr::parse(&p), r);
        assert_eq!(
            r.to_string(),
            "IP (tos 0x0, ttl 64, id 4660, offset 0, flags [DF], proto UDP (17), length 24) 198.18.0.1 > 198.18.0.2"
        );
    }

    #[test]
    fn options_and_fragments() {
        let mut r = repr();
        r.options[..4].copy_from_slice(&[0x94, 4, 0, 0]);
        r.options_len = 4;
        r.dont_frag = false;
        r.more_frags = true;
        r.frag_offset = 1480;
        let mut buf = [0u8; 28];
        r.emit(&mut buf).unwrap();
        let p = Ipv4Packet::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[0x94, 4, 0, 0]);
        assert!(p.is_fragment());
        assert_eq!(Ipv4Repr::parse(&p), r);
        r.options_len = 3;
        assert_eq!(r.emit(&mut buf), Err(WireError::BadOption));
        r.options_len = 4;
        r.frag_offset = 3;
        assert_eq!(r.emit(&mut buf), Err(WireError::BadLength));
    }

    #[test]
    fn rejects() {
        let mut buf = [0u8; 24];
        repr().emit(&mut buf).unwrap();
        assert_eq!(
            Ipv4Packet::parse(&buf[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            Ipv4Packet::parse(&buf[..23]).unwrap_err(),
            WireError::Truncated
        );
        let mut b = buf;
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::parse(&b[..]).unwrap_err(),
            WireError::BadVersion
        );
        let mut b = buf;
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::parse(&b[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
        let mut b = buf;
        b[0] = 0x47;
        assert_eq!(
            Ipv4Packet::parse(&b[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
        let mut b = buf;
        b[3] = 19;
        assert_eq!(Ipv4Packet::parse(&b[..]).unwrap_err(), WireError::BadLength);
        let mut b = buf;
        b[10] ^= 1;
        assert!(!Ipv4Packet::parse(&b[..]).unwrap().verify_checksum());
    }
}

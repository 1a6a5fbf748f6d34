//! Wire formats: one file per header.
//!
//! Each header is a zero-copy view (`XxxPacket<B>` / `EthernetFrame<B>`)
//! validated once by `parse`, after which every accessor is infallible, plus a
//! `XxxRepr` that holds the meaning and knows `parse`, `emit` and `buffer_len`.
//! Nothing here panics on any input.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
pub use icmpv4::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use std::net::Ipv4Addr;
pub use tcp::{TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr, TcpTimestamp};
pub use udp::{UdpPacket, UdpRepr};

/// Why a header was rejected. Each variant is counted separately by the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header or the length it declares.
    Truncated,
    /// A version field that is not ours (IPv4: not 4).
    BadVersion,
    /// A header length field below the minimum or beyond the buffer.
    BadHeaderLen,
    /// A total/payload length field inconsistent with the buffer.
    BadLength,
    /// A checksum that does not verify.
    BadChecksum,
    /// An option with an illegal length or contents.
    BadOption,
    /// Well-formed but not something we speak (e.g. ARP for another hardware type).
    Unsupported,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad version",
            WireError::BadHeaderLen => "bad header length",
            WireError::BadLength => "bad length",
            WireError::BadChecksum => "bad checksum",
            WireError::BadOption => "bad option",
            WireError::Unsupported => "unsupported",
        };
        f.write_str(s)
    }
}

/// Read a big-endian u16 at `at`; callers have validated the length.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2).and_then(|s| <[u8; 2]>::try_from(s).ok()) {
        Some(a) => u16::from_be_bytes(a),
        None => 0,
    }
}

/// Read a big-endian u32 at `at`; callers have validated the length.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
        Some(a) => u32::from_be_bytes(a),
        None => 0,
    }
}

/// Read `N` bytes at `at`; zeros if out of range (callers have validated the length).
#[inline]
pub(crate) fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..)
        .and_then(|s| s.get(..N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// Read the byte at `at`; zero if out of range (callers have validated the length).
#[inline]
pub(crate) fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Copy `src` into `buf` at `at`, clipped to what fits (callers check the
/// length first, so nothing is clipped in practice). Never panics.
#[inline]
pub(crate) fn put(buf: &mut [u8], at: usize, src: &[u8]) {
    if let Some(dst) = buf.get_mut(at..) {
        let n = dst.len().min(src.len());
        if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
    }
}

/// Write a big-endian u16 at `at` (see `put`).
#[inline]
pub(crate) fn put16(buf: &mut [u8], at: usize, v: u16) {
    put(buf, at, &v.to_be_bytes());
}

/// Write a big-endian u32 at `at` (see `put`).
#[inline]
pub(crate) fn put32(buf: &mut [u8], at: usize, v: u32) {
    put(buf, at, &v.to_be_bytes());
}

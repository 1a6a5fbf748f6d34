//! The Internet checksum (RFC 1071) with the IPv4 pseudo-header, and its
//! incremental update (RFC 1624).
//!
//! CONTRACT (to implement): `sum` processes 8 bytes per step.

use super::{IpProtocol, Ipv4Addr};

/// One's-complement sum of `data` added to `initial`, not yet folded.
pub fn sum(_data: &[u8], _initial: u64) -> u64 {
    todo!()
}

/// Fold a wide one's-complement sum to 16 bits (not complemented).
pub fn fold(_sum: u64) -> u16 {
    todo!()
}

/// The checksum of `data`: folded and complemented, ready for the header.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Sum of the IPv4 pseudo-header (RFC 793 / 768) for a transport segment of `len` bytes.
pub fn pseudo_header(_src: Ipv4Addr, _dst: Ipv4Addr, _proto: IpProtocol, _len: u16) -> u64 {
    todo!()
}

/// RFC 1624 eqn. 3: the new checksum when one 16-bit word changes from `old` to `new`.
pub fn update(_checksum: u16, _old: u16, _new: u16) -> u16 {
    todo!()
}

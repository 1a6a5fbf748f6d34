//! IPv4 headers (RFC 791), options carried but not interpreted.

use super::{Ipv4Addr, WireError};

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

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_OPTIONS_LEN: usize = 40;

/// A validated IPv4 packet: version 4, IHL >= 5, IHL and total length within
/// the buffer (extra trailing bytes, e.g. Ethernet padding, are ignored by
/// `payload`). The header checksum is NOT checked by `parse`: call
/// `verify_checksum` so the stack can count that drop separately.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> Ipv4Packet<B> {
    pub fn parse(_bytes: B) -> Result<Self, WireError> {
        todo!()
    }
    pub fn verify_checksum(&self) -> bool {
        let _ = &self.bytes;
        todo!()
    }
    pub fn header_len(&self) -> usize {
        todo!()
    }
    pub fn total_len(&self) -> usize {
        todo!()
    }
    pub fn src(&self) -> Ipv4Addr {
        todo!()
    }
    pub fn dst(&self) -> Ipv4Addr {
        todo!()
    }
    pub fn protocol(&self) -> IpProtocol {
        todo!()
    }
    pub fn ttl(&self) -> u8 {
        todo!()
    }
    pub fn ident(&self) -> u16 {
        todo!()
    }
    pub fn dont_frag(&self) -> bool {
        todo!()
    }
    pub fn more_frags(&self) -> bool {
        todo!()
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        todo!()
    }
    pub fn options(&self) -> &[u8] {
        todo!()
    }
    /// The bytes after the header, up to the total length.
    pub fn payload(&self) -> &[u8] {
        todo!()
    }
    /// The header and payload, up to the total length.
    pub fn as_bytes(&self) -> &[u8] {
        todo!()
    }
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
    pub fn parse<B: AsRef<[u8]>>(_packet: &Ipv4Packet<B>) -> Ipv4Repr {
        todo!()
    }
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options_len
    }
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }
    /// Write the header (with checksum) at the start of `buf`; the payload is the caller's.
    pub fn emit(&self, _buf: &mut [u8]) -> Result<(), WireError> {
        todo!()
    }
}

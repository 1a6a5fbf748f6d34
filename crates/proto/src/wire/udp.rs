//! UDP headers (RFC 768).

use super::{Ipv4Addr, WireError};

pub const HEADER_LEN: usize = 8;

/// A validated UDP datagram: length field >= 8 and within the buffer.
#[derive(Debug, Clone)]
pub struct UdpPacket<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> UdpPacket<B> {
    pub fn parse(_bytes: B) -> Result<Self, WireError> {
        todo!()
    }
    /// A zero checksum means "none" (RFC 768) and verifies.
    pub fn verify_checksum(&self, _src: Ipv4Addr, _dst: Ipv4Addr) -> bool {
        let _ = &self.bytes;
        todo!()
    }
    pub fn src_port(&self) -> u16 {
        todo!()
    }
    pub fn dst_port(&self) -> u16 {
        todo!()
    }
    pub fn payload(&self) -> &[u8] {
        todo!()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    pub fn parse<B: AsRef<[u8]>>(_packet: &UdpPacket<B>) -> UdpRepr {
        todo!()
    }
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }
    /// Write header and `payload` with checksum (0 sent as 0xffff).
    pub fn emit(
        &self,
        _buf: &mut [u8],
        _src: Ipv4Addr,
        _dst: Ipv4Addr,
        _payload: &[u8],
    ) -> Result<(), WireError> {
        todo!()
    }
}

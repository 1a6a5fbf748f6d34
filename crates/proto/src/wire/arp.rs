//! ARP for IPv4 over Ethernet (RFC 826).

use super::{Ipv4Addr, MacAddr, WireError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    Request,
    Reply,
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// A validated ARP packet (hardware type 1, protocol 0x0800, lengths 6 and 4).
#[derive(Debug, Clone)]
pub struct ArpPacket<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> ArpPacket<B> {
    /// `Unsupported` for other hardware/protocol types or operations.
    pub fn parse(_bytes: B) -> Result<Self, WireError> {
        let _ = PACKET_LEN;
        todo!()
    }
    pub fn operation(&self) -> ArpOperation {
        let _ = &self.bytes;
        todo!()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse<B: AsRef<[u8]>>(_packet: &ArpPacket<B>) -> ArpRepr {
        todo!()
    }
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }
    pub fn emit(&self, _buf: &mut [u8]) -> Result<(), WireError> {
        todo!()
    }
}

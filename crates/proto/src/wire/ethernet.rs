//! Ethernet II frames (RFC 894).

use super::WireError;
use core::fmt;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// EtherType values we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    Other(u16),
}

pub const HEADER_LEN: usize = 14;

/// A validated Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> EthernetFrame<B> {
    /// Check the frame is at least one header long.
    pub fn parse(_bytes: B) -> Result<Self, WireError> {
        todo!()
    }
    pub fn dst(&self) -> MacAddr {
        todo!()
    }
    pub fn src(&self) -> MacAddr {
        todo!()
    }
    pub fn ethertype(&self) -> EtherType {
        todo!()
    }
    pub fn payload(&self) -> &[u8] {
        let _ = &self.bytes;
        todo!()
    }
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    pub fn parse<B: AsRef<[u8]>>(_frame: &EthernetFrame<B>) -> EthernetRepr {
        todo!()
    }
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Write the 14-byte header at the start of `buf`; `Truncated` if it does not fit.
    pub fn emit(&self, _buf: &mut [u8]) -> Result<(), WireError> {
        todo!()
    }
}

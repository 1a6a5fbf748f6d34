//! Ethernet II frames (RFC 894).
//!
//! CONTRACT: `EthernetFrame::parse` accepts any buffer of at least 14 bytes;
//! everything after the header (including any padding to 60 bytes) is the
//! payload, which the IPv4 layer trims by its total length.

use super::{array, be16, put, put16, WireError};
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

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            n => EtherType::Other(n),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Other(n) => n,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4 (0x0800)"),
            EtherType::Arp => f.write_str("ARP (0x0806)"),
            EtherType::Other(n) => write!(f, "Unknown (0x{n:04x})"),
        }
    }
}

pub const HEADER_LEN: usize = 14;

/// A validated Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> EthernetFrame<B> {
    /// Check the frame is at least one header long.
    pub fn parse(bytes: B) -> Result<Self, WireError> {
        if bytes.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EthernetFrame { bytes })
    }
    pub fn dst(&self) -> MacAddr {
        MacAddr(array(self.bytes.as_ref(), 0))
    }
    pub fn src(&self) -> MacAddr {
        MacAddr(array(self.bytes.as_ref(), 6))
    }
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(be16(self.bytes.as_ref(), 12))
    }
    pub fn payload(&self) -> &[u8] {
        self.bytes.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
    /// The whole frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
    pub fn into_inner(self) -> B {
        self.bytes
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
    pub fn parse<B: AsRef<[u8]>>(frame: &EthernetFrame<B>) -> EthernetRepr {
        EthernetRepr {
            src: frame.src(),
            dst: frame.dst(),
            ethertype: frame.ethertype(),
        }
    }
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Write the 14-byte header at the start of `buf`; `Truncated` if it does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        put(buf, 0, &self.dst.0);
        put(buf, 6, &self.src.0);
        put16(buf, 12, self.ethertype.into());
        Ok(())
    }
}

/// tcpdump -e style: `aa:bb:.. > cc:dd:.., ethertype IPv4 (0x0800)`.
impl fmt::Display for EthernetRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {}, ethertype {}",
            self.src, self.dst, self.ethertype
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit() {
        let bytes = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0xaa,
        ];
        let f = EthernetFrame::parse(&bytes[..]).unwrap();
        let r = EthernetRepr::parse(&f);
        assert!(r.dst.is_broadcast());
        assert_eq!(r.src, MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.ethertype, EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa]);
        let mut out = [0u8; 14];
        r.emit(&mut out).unwrap();
        assert_eq!(&out[..], &bytes[..14]);
        assert_eq!(
            EthernetFrame::parse(&bytes[..13]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(r.emit(&mut out[..13]), Err(WireError::Truncated));
        assert_eq!(
            r.to_string(),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)"
        );
    }
}

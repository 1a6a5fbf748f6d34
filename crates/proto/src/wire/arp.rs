//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! CONTRACT: `ArpPacket::parse` accepts only hardware type 1 (Ethernet),
//! protocol 0x0800, address lengths 6 and 4, and operations 1 (request) and
//! 2 (reply); anything else is `Unsupported`, fewer than 28 bytes is
//! `Truncated`. Bytes after the 28 (Ethernet padding) are ignored.

use super::{array, be16, put, put16, Ipv4Addr, MacAddr, WireError};
use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    Request,
    Reply,
}

impl ArpOperation {
    /// The `ar$op` value (RFC 826).
    pub fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        }
    }
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// A validated ARP packet (hardware type 1, protocol 0x0800, lengths 6 and 4).
#[derive(Debug, Clone)]
pub struct ArpPacket<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> ArpPacket<B> {
    /// `Unsupported` for other hardware/protocol types or operations.
    pub fn parse(bytes: B) -> Result<Self, WireError> {
        let b = bytes.as_ref();
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        let op = be16(b, 6);
        if be16(b, 0) != HTYPE_ETHERNET
            || be16(b, 2) != PTYPE_IPV4
            || b.get(4..6) != Some(&[6, 4][..])
            || !(op == 1 || op == 2)
        {
            return Err(WireError::Unsupported);
        }
        Ok(ArpPacket { bytes })
    }
    pub fn operation(&self) -> ArpOperation {
        if be16(self.bytes.as_ref(), 6) == 1 {
            ArpOperation::Request
        } else {
            ArpOperation::Reply
        }
    }
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(array(self.bytes.as_ref(), 8))
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.bytes.as_ref(), 14))
    }
    pub fn target_mac(&self) -> MacAddr {
        MacAddr(array(self.bytes.as_ref(), 18))
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.bytes.as_ref(), 24))
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
    pub fn parse<B: AsRef<[u8]>>(packet: &ArpPacket<B>) -> ArpRepr {
        ArpRepr {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        }
    }
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }
    /// Write the 28-byte packet at the start of `buf`; `Truncated` if it does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if buf.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        put16(buf, 0, HTYPE_ETHERNET);
        put16(buf, 2, PTYPE_IPV4);
        put(buf, 4, &[6, 4]);
        put16(buf, 6, self.operation.code());
        put(buf, 8, &self.sender_mac.0);
        put(buf, 14, &self.sender_ip.octets());
        put(buf, 18, &self.target_mac.0);
        put(buf, 24, &self.target_ip.octets());
        Ok(())
    }
}

/// tcpdump style: `ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28`.
impl fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operation {
            ArpOperation::Request => {
                write!(f, "ARP, Request who-has {}", self.target_ip)?;
                if self.target_mac != MacAddr([0; 6]) {
                    write!(f, " ({})", self.target_mac)?;
                }
                write!(f, " tell {}, length {}", self.sender_ip, PACKET_LEN)
            }
            ArpOperation::Reply => write!(
                f,
                "ARP, Reply {} is-at {}, length {}",
                self.sender_ip, self.sender_mac, PACKET_LEN
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(198, 18, 0, 1),
            target_mac: MacAddr([0; 6]),
            target_ip: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn round_trip() {
        let r = repr();
        let mut buf = [0u8; PACKET_LEN];
        r.emit(&mut buf).unwrap();
        assert_eq!(&buf[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        let p = ArpPacket::parse(&buf[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), r);
        assert_eq!(
            r.to_string(),
            "ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28"
        );
    }

    #[test]
    fn rejects() {
        let mut buf = [0u8; PACKET_LEN];
        repr().emit(&mut buf).unwrap();
        assert_eq!(
            ArpPacket::parse(&buf[..27]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = buf;
        bad[7] = 3;
        assert_eq!(
            ArpPacket::parse(&bad[..]).unwrap_err(),
            WireError::Unsupported
        );
        let mut bad = buf;
        bad[1] = 6;
        assert_eq!(
            ArpPacket::parse(&bad[..]).unwrap_err(),
            WireError::Unsupported
        );
    }
}

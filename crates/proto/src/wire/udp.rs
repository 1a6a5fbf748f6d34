//! UDP headers (RFC 768).
//!
//! CONTRACT: `UdpPacket::parse` needs 8 bytes (else `Truncated`), a length
//! field of at least 8 (else `BadLength`) and no larger than the buffer (else
//! `Truncated`); bytes past the length field are ignored. A zero checksum
//! means none was sent (RFC 768) and verifies; `emit` always computes one and
//! sends a computed zero as 0xffff.

use super::checksum;
use super::{be16, put, put16, IpProtocol, Ipv4Addr, WireError};
use core::fmt;

pub const HEADER_LEN: usize = 8;

/// A validated UDP datagram: length field >= 8 and within the buffer.
#[derive(Debug, Clone)]
pub struct UdpPacket<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> UdpPacket<B> {
    pub fn parse(bytes: B) -> Result<Self, WireError> {
        let b = bytes.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(be16(b, 4));
        if len < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(UdpPacket { bytes })
    }
    /// A zero checksum means "none" (RFC 768) and verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.length();
        let data = self.bytes.as_ref().get(..usize::from(len)).unwrap_or(&[]);
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Udp, len);
        checksum::verifies(checksum::sum(data, ph))
    }
    pub fn src_port(&self) -> u16 {
        be16(self.bytes.as_ref(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.bytes.as_ref(), 2)
    }
    /// The length field: header plus payload.
    pub fn length(&self) -> u16 {
        be16(self.bytes.as_ref(), 4)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.bytes.as_ref(), 6)
    }
    pub fn payload(&self) -> &[u8] {
        self.bytes
            .as_ref()
            .get(HEADER_LEN..usize::from(self.length()))
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    pub fn parse<B: AsRef<[u8]>>(packet: &UdpPacket<B>) -> UdpRepr {
        UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        }
    }
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }
    /// Write header and `payload` with checksum (0 sent as 0xffff).
    /// `BadLength` if the datagram would exceed 65535 bytes; `Truncated` if
    /// `buf` is shorter than `buffer_len(payload.len())`.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
    ) -> Result<(), WireError> {
        let len = self.buffer_len(payload.len());
        let Ok(len16) = u16::try_from(len) else {
            return Err(WireError::BadLength);
        };
        let Some(out) = buf.get_mut(..len) else {
            return Err(WireError::Truncated);
        };
        put16(out, 0, self.src_port);
        put16(out, 2, self.dst_port);
        put16(out, 4, len16);
        put16(out, 6, 0);
        put(out, HEADER_LEN, payload);
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Udp, len16);
        let c = !checksum::fold(checksum::sum(out, ph));
        // RFC 768: a computed zero is transmitted as all ones.
        put16(out, 6, if c == 0 { 0xffff } else { c });
        Ok(())
    }
}

/// tcpdump style (without addresses): `UDP, 5000 > 9, length 4`.
impl fmt::Display for UdpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UDP, {} > {}", self.src_port, self.dst_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn round_trip() {
        let r = UdpRepr {
            src_port: 5000,
            dst_port: 9,
        };
        let mut buf = [0u8; 13];
        r.emit(&mut buf, A, B, b"hello").unwrap();
        let p = UdpPacket::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum(A, B));
        assert!(!p.verify_checksum(A, Ipv4Addr::new(198, 18, 0, 3)));
        assert_eq!(UdpRepr::parse(&p), r);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(
            r.emit(&mut buf[..12], A, B, b"hello"),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn zero_checksum_sent_as_ones() {
        // Find a payload whose checksum computes to zero: adjust two bytes.
        let r = UdpRepr {
            src_port: 1,
            dst_port: 2,
        };
        let mut buf = [0u8; 10];
        r.emit(&mut buf, A, B, &[0, 0]).unwrap();
        // Adding the current checksum into the payload word drives the sum to 0xffff.
        let c = be16(&buf, 6);
        let mut out = [0u8; 10];
        r.emit(&mut out, A, B, &c.to_be_bytes()).unwrap();
        assert_eq!(be16(&out, 6), 0xffff);
        assert!(UdpPacket::parse(&out[..]).unwrap().verify_checksum(A, B));
    }

    #[test]
    fn rejects() {
        let mut b = [0u8; 8];
        b[5] = 7;
        assert_eq!(UdpPacket::parse(&b[..]).unwrap_err(), WireError::BadLength);
        b[5] = 9;
        assert_eq!(UdpPacket::parse(&b[..]).unwrap_err(), WireError::Truncated);
        assert_eq!(UdpPacket::parse(&b[..7]).unwrap_err(), WireError::Truncated);
    }
}

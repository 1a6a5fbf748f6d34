//! ICMPv4 (RFC 792): echo, destination unreachable (with the RFC 1191
//! next-hop MTU), time exceeded. Errors give access to the quoted header.
//!
//! CONTRACT: `Icmpv4Packet::parse` needs the 8-byte header (else
//! `Truncated`); the view spans the whole message (the IPv4 payload), so the
//! checksum covers all of it. `Icmpv4Repr::parse` understands types 0, 3, 8
//! and 11 and returns `Unsupported` for the rest; it does not check the
//! checksum. `next_hop_mtu` is read from bytes 6..8 only for code 4
//! (fragmentation needed, RFC 1191 4) and is zero otherwise; `emit` writes
//! it only for that code, leaving the unused field zero as RFC 792 asks.

use super::checksum;
use super::{be16, byte, put, put16, IpProtocol, Ipv4Addr, WireError};
use core::fmt;

pub const HEADER_LEN: usize = 8;

/// ICMP message types (RFC 792).
pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    NetUnreachable,
    HostUnreachable,
    ProtoUnreachable,
    PortUnreachable,
    /// Fragmentation needed and DF set (RFC 1191).
    FragRequired,
    SourceRouteFailed,
    AdminProhibited,
    Other(u8),
}

impl From<u8> for DstUnreachable {
    fn from(code: u8) -> Self {
        match code {
            0 => DstUnreachable::NetUnreachable,
            1 => DstUnreachable::HostUnreachable,
            2 => DstUnreachable::ProtoUnreachable,
            3 => DstUnreachable::PortUnreachable,
            4 => DstUnreachable::FragRequired,
            5 => DstUnreachable::SourceRouteFailed,
            // RFC 1812 5.2.7.1: communication administratively prohibited.
            13 => DstUnreachable::AdminProhibited,
            n => DstUnreachable::Other(n),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(r: DstUnreachable) -> u8 {
        match r {
            DstUnreachable::NetUnreachable => 0,
            DstUnreachable::HostUnreachable => 1,
            DstUnreachable::ProtoUnreachable => 2,
            DstUnreachable::PortUnreachable => 3,
            DstUnreachable::FragRequired => 4,
            DstUnreachable::SourceRouteFailed => 5,
            DstUnreachable::AdminProhibited => 13,
            DstUnreachable::Other(n) => n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    TtlExpired,
    FragReassembly,
    Other(u8),
}

impl From<u8> for TimeExceeded {
    fn from(code: u8) -> Self {
        match code {
            0 => TimeExceeded::TtlExpired,
            1 => TimeExceeded::FragReassembly,
            n => TimeExceeded::Other(n),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(r: TimeExceeded) -> u8 {
        match r {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragReassembly => 1,
            TimeExceeded::Other(n) => n,
        }
    }
}

/// A validated ICMPv4 message (length >= 8). Checksum checked separately.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> Icmpv4Packet<B> {
    pub fn parse(bytes: B) -> Result<Self, WireError> {
        if bytes.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv4Packet { bytes })
    }
    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(checksum::sum(self.bytes.as_ref(), 0))
    }
    pub fn msg_type(&self) -> u8 {
        byte(self.bytes.as_ref(), 0)
    }
    pub fn code(&self) -> u8 {
        byte(self.bytes.as_ref(), 1)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.bytes.as_ref(), 2)
    }
    /// Echo identifier (bytes 4..6).
    pub fn ident(&self) -> u16 {
        be16(self.bytes.as_ref(), 4)
    }
    /// Echo sequence number (bytes 6..8).
    pub fn seq_no(&self) -> u16 {
        be16(self.bytes.as_ref(), 6)
    }
    /// RFC 1191 4: the next-hop MTU of a fragmentation-needed message (bytes 6..8).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.bytes.as_ref(), 6)
    }
    /// Everything after the 8-byte header: echo data or the quoted datagram.
    pub fn data(&self) -> &[u8] {
        self.bytes.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
}

/// The meaning of an ICMPv4 message. `quoted` is the offending IPv4 header and
/// at least the first 8 bytes of its payload, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    DstUnreachable {
        reason: DstUnreachable,
        next_hop_mtu: u16,
        quoted: &'a [u8],
    },
    TimeExceeded {
        reason: TimeExceeded,
        quoted: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// `Unsupported` for message types not listed above.
    ///
    /// The packet view may be a temporary: the result borrows only the bytes.
    pub fn parse(packet: &Icmpv4Packet<&'a [u8]>) -> Result<Icmpv4Repr<'a>, WireError> {
        let rest: &'a [u8] = packet.bytes.get(HEADER_LEN..).unwrap_or(&[]);
        match packet.msg_type() {
            TYPE_ECHO_REQUEST => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.ident(),
                seq_no: packet.seq_no(),
                data: rest,
            }),
            TYPE_ECHO_REPLY => Ok(Icmpv4Repr::EchoReply {
                ident: packet.ident(),
                seq_no: packet.seq_no(),
                data: rest,
            }),
            TYPE_DST_UNREACHABLE => {
                let reason = DstUnreachable::from(packet.code());
                let next_hop_mtu = if reason == DstUnreachable::FragRequired {
                    packet.next_hop_mtu()
                } else {
                    0
                };
                Ok(Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    quoted: rest,
                })
            }
            TYPE_TIME_EXCEEDED => Ok(Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::from(packet.code()),
                quoted: rest,
            }),
            _ => Err(WireError::Unsupported),
        }
    }
    fn body(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => data,
            Icmpv4Repr::DstUnreachable { quoted, .. } | Icmpv4Repr::TimeExceeded { quoted, .. } => {
                quoted
            }
        }
    }
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body().len()
    }
    /// Write the whole message with checksum. `Truncated` if `buf` is
    /// shorter than `buffer_len()`; bytes of `buf` past it are untouched.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let len = self.buffer_len();
        let Some(out) = buf.get_mut(..len) else {
            return Err(WireError::Truncated);
        };
        let (ty, code, w1, w2) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => (TYPE_ECHO_REQUEST, 0, ident, seq_no),
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => (TYPE_ECHO_REPLY, 0, ident, seq_no),
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => {
                let mtu = if reason == DstUnreachable::FragRequired {
                    next_hop_mtu
                } else {
                    0
                };
                (TYPE_DST_UNREACHABLE, reason.into(), 0, mtu)
            }
            Icmpv4Repr::TimeExceeded { reason, .. } => (TYPE_TIME_EXCEEDED, reason.into(), 0, 0),
        };
        put(out, 0, &[ty, code, 0, 0]);
        put16(out, 4, w1);
        put16(out, 6, w2);
        put(out, HEADER_LEN, self.body());
        let c = checksum::checksum(out);
        put16(out, 2, c);
        Ok(())
    }
}

/// The parts of a quoted datagram tcpdump shows: destination, protocol and
/// destination port (0 if the quote is too short).
fn quoted_summary(q: &[u8]) -> Option<(Ipv4Addr, IpProtocol, u16)> {
    if q.len() < 20 || byte(q, 0) >> 4 != 4 {
        return None;
    }
    let dst = Ipv4Addr::new(byte(q, 16), byte(q, 17), byte(q, 18), byte(q, 19));
    let hl = usize::from(byte(q, 0) & 0x0f) * 4;
    Some((dst, IpProtocol::from(byte(q, 9)), be16(q, hl + 2)))
}

/// tcpdump style: `ICMP echo request, id 1, seq 2, length 64`,
/// `ICMP 198.18.0.2 udp port 9 unreachable, length 36`.
impl fmt::Display for Icmpv4Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.buffer_len();
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                write!(
                    f,
                    "ICMP echo request, id {ident}, seq {seq_no}, length {len}"
                )
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                write!(f, "ICMP echo reply, id {ident}, seq {seq_no}, length {len}")
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                quoted,
            } => {
                let Some((dst, proto, port)) = quoted_summary(quoted) else {
                    return write!(
                        f,
                        "ICMP dst unreachable code {}, length {len}",
                        u8::from(reason)
                    );
                };
                match reason {
                    DstUnreachable::NetUnreachable => write!(f, "ICMP net {dst} unreachable"),
                    DstUnreachable::HostUnreachable => write!(f, "ICMP host {dst} unreachable"),
                    DstUnreachable::ProtoUnreachable => {
                        write!(f, "ICMP {dst} protocol {} unreachable", u8::from(proto))
                    }
                    DstUnreachable::PortUnreachable => {
                        let p = match proto {
                            IpProtocol::Tcp => "tcp",
                            IpProtocol::Udp => "udp",
                            _ => "ip",
                        };
                        write!(f, "ICMP {dst} {p} port {port} unreachable")
                    }
                    DstUnreachable::FragRequired => write!(
                        f,
                        "ICMP {dst} unreachable - need to frag (mtu {next_hop_mtu})"
                    ),
                    DstUnreachable::SourceRouteFailed => {
                        write!(f, "ICMP {dst} unreachable - source route failed")
                    }
                    DstUnreachable::AdminProhibited => {
                        write!(f, "ICMP {dst} unreachable - admin prohibited filter")
                    }
                    DstUnreachable::Other(c) => write!(f, "ICMP {dst} unreachable - code {c}"),
                }?;
                write!(f, ", length {len}")
            }
            Icmpv4Repr::TimeExceeded { reason, .. } => match reason {
                TimeExceeded::TtlExpired => {
                    write!(f, "ICMP time exceeded in-transit, length {len}")
                }
                TimeExceeded::FragReassembly => {
                    write!(f, "ICMP ip reassembly time exceeded, length {len}")
                }
                TimeExceeded::Other(c) => write!(f, "ICMP time exceeded code {c}, length {len}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip() {
        let r = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 7,
            data: b"hello",
        };
        let mut buf = [0u8; 13];
        r.emit(&mut buf).unwrap();
        let p = Icmpv4Packet::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        assert_eq!(
            r.to_string(),
            "ICMP echo request, id 4660, seq 7, length 13"
        );
        assert_eq!(r.emit(&mut buf[..12]), Err(WireError::Truncated));
    }

    #[test]
    fn frag_needed() {
        let quoted = [
            0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 0x30, 0x39,
            0, 9, 0, 8, 0, 0,
        ];
        let r = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1400,
            quoted: &quoted,
        };
        let mut buf = [0u8; 36];
        r.emit(&mut buf).unwrap();
        assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x78]);
        let p = Icmpv4Packet::parse(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        assert_eq!(
            r.to_string(),
            "ICMP 198.18.0.2 unreachable - need to frag (mtu 1400), length 36"
        );
        let port = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
            quoted: &quoted,
        };
        assert_eq!(
            port.to_string(),
            "ICMP 198.18.0.2 udp port 9 unreachable, length 36"
        );
    }

    #[test]
    fn unsupported_and_truncated() {
        let b = [13u8, 0, 0, 0, 0, 0, 0, 0];
        let p = Icmpv4Packet::parse(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p), Err(WireError::Unsupported));
        assert_eq!(
            Icmpv4Packet::parse(&b[..7]).unwrap_err(),
            WireError::Truncated
        );
    }
}

//! ICMPv4 (RFC 792): echo, destination unreachable (with the RFC 1191
//! next-hop MTU), time exceeded. Errors give access to the quoted header.

use super::WireError;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    TtlExpired,
    FragReassembly,
    Other(u8),
}

/// A validated ICMPv4 message (length >= 8). Checksum checked separately.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> Icmpv4Packet<B> {
    pub fn parse(_bytes: B) -> Result<Self, WireError> {
        todo!()
    }
    pub fn verify_checksum(&self) -> bool {
        let _ = &self.bytes;
        todo!()
    }
    pub fn msg_type(&self) -> u8 {
        todo!()
    }
    pub fn code(&self) -> u8 {
        todo!()
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
    pub fn parse(_packet: &'a Icmpv4Packet<&'a [u8]>) -> Result<Icmpv4Repr<'a>, WireError> {
        todo!()
    }
    pub fn buffer_len(&self) -> usize {
        todo!()
    }
    /// Write the whole message with checksum.
    pub fn emit(&self, _buf: &mut [u8]) -> Result<(), WireError> {
        todo!()
    }
}

//! TCP headers and options (RFC 9293 3.1, RFC 7323, RFC 2018).
//!
//! Options understood: EOL, NOP, MSS, window scale, SACK-permitted, SACK
//! blocks, timestamps. Unknown options are skipped by their length; an option
//! whose length is illegal (0, 1, past the header, or wrong for its kind)
//! rejects the segment with `BadOption`.

use super::{Ipv4Addr, WireError};
use crate::tcp::SeqNum;

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_HEADER_LEN: usize = 60;
/// At most four SACK blocks fit in 40 option bytes; three with timestamps.
pub const MAX_SACK_BLOCKS: usize = 4;

/// The TCP flag bits (the low 8 bits of byte 13; NS is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
    pub fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// The timestamps option (RFC 7323 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamp {
    pub tsval: u32,
    pub tsecr: u32,
}

/// A validated TCP segment: data offset >= 5 and within the buffer, options
/// well-formed. The checksum is checked separately (`verify_checksum`).
#[derive(Debug, Clone)]
pub struct TcpPacket<B: AsRef<[u8]>> {
    bytes: B,
}

impl<B: AsRef<[u8]>> TcpPacket<B> {
    pub fn parse(_bytes: B) -> Result<Self, WireError> {
        todo!()
    }
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
    pub fn seq(&self) -> SeqNum {
        todo!()
    }
    pub fn ack(&self) -> SeqNum {
        todo!()
    }
    pub fn flags(&self) -> TcpFlags {
        todo!()
    }
    pub fn window(&self) -> u16 {
        todo!()
    }
    pub fn header_len(&self) -> usize {
        todo!()
    }
    pub fn options(&self) -> &[u8] {
        todo!()
    }
    pub fn payload(&self) -> &[u8] {
        todo!()
    }
}

/// The meaning of a TCP segment. `ack` is meaningful only when the ACK flag is
/// set. `sack_blocks[..sack_len]` are the SACK blocks present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    /// The raw (unscaled) window field.
    pub window: u16,
    pub urgent: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<TcpTimestamp>,
    pub sack_blocks: [(SeqNum, SeqNum); MAX_SACK_BLOCKS],
    pub sack_len: usize,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// A segment with no options and no payload.
    pub fn new(
        src_port: u16,
        dst_port: u16,
        seq: SeqNum,
        ack: SeqNum,
        flags: TcpFlags,
        window: u16,
    ) -> Self {
        TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            mss: None,
            window_scale: None,
            sack_permitted: false,
            timestamp: None,
            sack_blocks: [(SeqNum(0), SeqNum(0)); MAX_SACK_BLOCKS],
            sack_len: 0,
            payload: &[],
        }
    }
    pub fn parse(_packet: &'a TcpPacket<&'a [u8]>) -> TcpRepr<'a> {
        todo!()
    }
    /// Sequence space taken: payload length plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }
    /// Header length with options, padded to a multiple of 4. Option layout
    /// follows Linux: on SYN `mss, sackOK, TS, nop, wscale` (20 bytes); on
    /// other segments `nop, nop, TS` then `nop, nop, SACK`.
    pub fn header_len(&self) -> usize {
        todo!()
    }
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }
    /// Write header, options and payload with the checksum over the IPv4 pseudo-header.
    pub fn emit(&self, _buf: &mut [u8], _src: Ipv4Addr, _dst: Ipv4Addr) -> Result<(), WireError> {
        todo!()
    }
}

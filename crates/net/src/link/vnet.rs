//! The virtio-net header (`struct virtio_net_hdr_v1`, virtio 1.x 5.1.6)
//! that precedes every frame on a TAP or TUN device opened with
//! IFF_VNET_HDR, and the two things a link does with it.
//!
//! CONTRACT:
//! * Out: [`tso_headers`] takes a frame holding one IPv4 TCP packet longer
//!   than the MTU (the stack built it because the link advertised TSO) and
//!   returns the virtio header asking the kernel to cut it (`gso_type`
//!   TCPV4, `gso_size` = MTU minus the IP and TCP headers, so every piece
//!   fills the MTU exactly as the stack's MSS does) plus a copy of the
//!   frame's headers whose TCP checksum holds only the pseudo-header sum
//!   (`NEEDS_CSUM`: the kernel finishes it per piece from `csum_start`,
//!   storing it `csum_offset` bytes further). The payload is not touched,
//!   so the caller writes header, header copy and payload with one writev.
//!   Anything else goes out with an all-zero header (`GSO_NONE`, checksum
//!   complete).
//! * Out, checksum offload: [`partial_header`] is the header for a frame
//!   whose checksum the stack already left partial (`Link::send_partial`):
//!   `NEEDS_CSUM` at the stack's offsets, and segmentation as above when
//!   the frame is longer than the MTU; no header copy, nothing rewritten.
//! * In: [`finish_rx`] checks the header the kernel wrote before a frame
//!   (possibly a 64 KiB GRO'd TCP segment) and, for `NEEDS_CSUM`, completes
//!   the partial checksum so the frame reads like one from a wire.
//!   `DATA_VALID` (2) frames already carry a complete, verified checksum.
//!
//! Fields are in the host's byte order: the legacy tun default (no
//! TUNSETVNETLE/BE), which is little-endian on every host we run on.

use sockstack_proto::wire::checksum;

/// Bytes of the header we ask for (TUNSETVNETHDRSZ): the v1 layout with
/// `num_buffers`, which keeps the field offsets of the 10-byte legacy one.
pub(crate) const HDR_LEN: usize = 12;

/// `flags`: the checksum from `csum_start` on is partial (pseudo-header only).
pub(crate) const F_NEEDS_CSUM: u8 = 1;
/// `gso_type` values.
pub(crate) const GSO_NONE: u8 = 0;
pub(crate) const GSO_TCPV4: u8 = 1;
/// Set beside a GSO type when the segment carries CWR (RFC 3168).
pub(crate) const GSO_ECN: u8 = 0x80;

/// Link headers plus the longest IPv4 and TCP headers (60 + 60).
const MAX_HEADERS: usize = 14 + 60 + 60;

/// One virtio-net header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Bytes of headers (link + IP + TCP) before the payload.
    pub hdr_len: u16,
    /// Payload bytes per piece after segmentation.
    pub gso_size: u16,
    /// Where checksumming starts (the transport header), from the frame start.
    pub csum_start: u16,
    /// Where, after `csum_start`, the checksum is stored (16 for TCP).
    pub csum_offset: u16,
}

fn ne16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|w| <[u8; 2]>::try_from(w).ok())
        .map_or(0, u16::from_ne_bytes)
}

fn be16(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map_or(0, |w| usize::from(u16::from_be_bytes([w[0], w[1]])))
}

impl VnetHdr {
    /// Read a header from the first [`HDR_LEN`] bytes (`None` if shorter).
    pub(crate) fn parse(b: &[u8]) -> Option<VnetHdr> {
        if b.len() < HDR_LEN {
            return None;
        }
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: ne16(b, 2),
            gso_size: ne16(b, 4),
            csum_start: ne16(b, 6),
            csum_offset: ne16(b, 8),
        })
    }

    /// The header's bytes (`num_buffers` 0, unused on a TAP).
    pub(crate) fn bytes(&self) -> [u8; HDR_LEN] {
        let mut b = [0u8; HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// A frame's headers, prepared for segmentation offload.
#[derive(Debug, Clone)]
pub(crate) struct TsoHeaders {
    pub vnet: VnetHdr,
    /// Copy of the frame's link, IP and TCP headers with the partial checksum.
    buf: [u8; MAX_HEADERS],
    len: usize,
}

impl TsoHeaders {
    /// The header copy; the frame's payload follows it on the wire.
    pub(crate) fn headers(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// The segmentation request for `frame` (`l2` bytes of link header, then
/// IPv4) when it holds a TCP packet longer than `mtu` that the kernel can
/// cut into MTU-sized pieces: the virtio header (checksum from the TCP
/// header on, `NEEDS_CSUM`) and the IPv4 header length.
fn gso_request(frame: &[u8], l2: usize, mtu: usize) -> Option<(VnetHdr, usize)> {
    let ip = frame.get(l2..)?;
    if ip.len() <= mtu || l2 > 14 {
        return None;
    }
    if l2 == 14 && frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let first = *ip.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    // IPv4, TCP, not a fragment (MF clear, offset 0), lengths consistent.
    if first >> 4 != 4 || ihl < 20 || *ip.get(9)? != 6 || be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    let total = be16(ip, 2);
    if total != ip.len() {
        return None;
    }
    let thl = usize::from(*ip.get(ihl + 12)? >> 4) * 4;
    if thl < 20 || ihl + thl >= total || ihl + thl >= mtu {
        return None;
    }
    let cwr = ip.get(ihl + 13).is_some_and(|f| f & 0x80 != 0);
    let vnet = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4 | if cwr { GSO_ECN } else { 0 },
        hdr_len: u16::try_from(l2 + ihl + thl).ok()?,
        gso_size: u16::try_from(mtu - ihl - thl).ok()?,
        csum_start: u16::try_from(l2 + ihl).ok()?,
        csum_offset: 16,
    };
    Some((vnet, ihl))
}

/// The offload request for `frame` (`l2` bytes of link header, then IPv4)
/// when it holds a TCP packet longer than `mtu` that the kernel should cut
/// into MTU-sized pieces; `None` for anything else (sent as it is).
pub(crate) fn tso_headers(frame: &[u8], l2: usize, mtu: usize) -> Option<TsoHeaders> {
    let (vnet, ihl) = gso_request(frame, l2, mtu)?;
    let ip = frame.get(l2..)?;
    let total = ip.len();
    let hdrs = usize::from(vnet.hdr_len);
    let mut buf = [0u8; MAX_HEADERS];
    buf.get_mut(..hdrs)?.copy_from_slice(frame.get(..hdrs)?);
    // Only the pseudo-header goes into the checksum field, folded and not
    // complemented (Linux `__tcp_v4_send_check` for CHECKSUM_PARTIAL); the
    // kernel adds the header and payload of each piece.
    let src = u32::from_be_bytes(ip.get(12..16)?.try_into().ok()?);
    let dst = u32::from_be_bytes(ip.get(16..20)?.try_into().ok()?);
    let tcp_len = u16::try_from(total - ihl).ok()?;
    let pseudo = checksum::pseudo_header(
        src.into(),
        dst.into(),
        sockstack_proto::wire::IpProtocol::Tcp,
        tcp_len,
    );
    let at = l2 + ihl + 16;
    buf.get_mut(at..at + 2)?
        .copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
    Some(TsoHeaders {
        vnet,
        buf,
        len: hdrs,
    })
}

/// The virtio header for `frame`, whose checksum the stack left partial
/// (`start`/`offset` from `PartialChecksum`, the field holding the folded
/// pseudo-header sum): `NEEDS_CSUM`, plus segmentation when it is a TCP
/// packet longer than `mtu` (the stack's pseudo-header sum already covers
/// the whole segment's length, as `tso_headers` writes it). The frame goes
/// out unchanged behind it. `None` when the offsets do not fit the frame
/// (the caller finishes the checksum itself).
pub(crate) fn partial_header(
    frame: &[u8],
    l2: usize,
    mtu: usize,
    start: usize,
    offset: usize,
) -> Option<VnetHdr> {
    let end = start.checked_add(offset)?.checked_add(2)?;
    if end > frame.len() {
        return None;
    }
    let csum_start = u16::try_from(start).ok()?;
    let csum_offset = u16::try_from(offset).ok()?;
    if let Some((g, _)) = gso_request(frame, l2, mtu) {
        if (g.csum_start, g.csum_offset) == (csum_start, csum_offset) {
            return Some(g);
        }
    }
    Some(VnetHdr {
        flags: F_NEEDS_CSUM,
        hdr_len: u16::try_from(end).ok()?,
        csum_start,
        csum_offset,
        ..VnetHdr::default()
    })
}

/// Why a received frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxError {
    /// A GSO type we never enabled (UDP, TCPv6): the kernel should not send it.
    UnexpectedGso,
    /// `csum_start`/`csum_offset` point outside the frame.
    BadChecksumOffsets,
}

/// Make `frame` (the bytes after the virtio header `h`) read like a frame
/// from a wire: complete a partial checksum. Large (GRO'd or TSO'd by the
/// sending kernel) TCP segments need nothing else: their IPv4 total length
/// already covers the whole packet.
pub(crate) fn finish_rx(h: &VnetHdr, frame: &mut [u8]) -> Result<(), RxError> {
    let gso = h.gso_type & !GSO_ECN;
    if gso != GSO_NONE && gso != GSO_TCPV4 {
        return Err(RxError::UnexpectedGso);
    }
    if h.flags & F_NEEDS_CSUM != 0 {
        let start = usize::from(h.csum_start);
        let at = start + usize::from(h.csum_offset);
        if at + 2 > frame.len() {
            return Err(RxError::BadChecksumOffsets);
        }
        // The field holds the pseudo-header sum; summing it with the rest
        // gives the full sum (Linux `skb_checksum_help`).
        let sum = checksum::sum(frame.get(start..).unwrap_or_default(), 0);
        let field = (!checksum::fold(sum)).to_be_bytes();
        frame
            .get_mut(at..at + 2)
            .ok_or(RxError::BadChecksumOffsets)?
            .copy_from_slice(&field);
    }
    Ok(())
}

/// `flags`: the checksum was verified by the kernel (CHECKSUM_UNNECESSARY).
pub(crate) const F_DATA_VALID: u8 = 2;

/// Whether the stack may skip verifying the TCP/UDP checksum of a frame
/// that `finish_rx` accepted: `DATA_VALID` (the kernel verified it) or
/// `NEEDS_CSUM` (the peer kernel's own packet, its checksum just finished
/// by `finish_rx`; Linux `skb_csum_unnecessary` trusts CHECKSUM_PARTIAL).
pub(crate) fn rx_checksum_verified(h: &VnetHdr) -> bool {
    h.flags & (F_DATA_VALID | F_NEEDS_CSUM) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_proto::tcp::SeqNum;
    use sockstack_proto::wire::{Ipv4Addr, Ipv4Repr, TcpFlags, TcpRepr};

    fn frame(payload: &[u8]) -> Vec<u8> {
        let src = Ipv4Addr::new(198, 18, 0, 2);
        let dst = Ipv4Addr::new(198, 18, 0, 1);
        let mut tcp = TcpRepr::new(
            40000,
            5201,
            SeqNum(1),
            SeqNum(2),
            TcpFlags(TcpFlags::ACK),
            512,
        );
        tcp.payload = payload;
        let tl = tcp.buffer_len();
        let ip = Ipv4Repr::new(src, dst, sockstack_proto::wire::IpProtocol::Tcp, tl);
        let mut f = vec![0u8; 14 + 20 + tl];
        f[12] = 0x08;
        ip.emit(&mut f[14..34]).unwrap();
        tcp.emit(&mut f[34..], src, dst).unwrap();
        f
    }

    #[test]
    fn header_round_trips_in_host_order() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let b = h.bytes();
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert_eq!(&b[4..6], &1448u16.to_ne_bytes());
        assert_eq!(VnetHdr::parse(&b[..10]), None);
    }

    #[test]
    fn small_frames_need_no_offload() {
        assert!(tso_headers(&frame(&[7; 1000]), 14, 1500).is_none());
    }

    #[test]
    fn large_tcp_frame_gets_gso_header_and_partial_checksum() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let f = frame(&payload);
        let t = tso_headers(&f, 14, 1500).unwrap();
        assert_eq!(t.vnet.gso_type, GSO_TCPV4);
        assert_eq!(t.vnet.flags, F_NEEDS_CSUM);
        assert_eq!(t.vnet.gso_size, 1460);
        assert_eq!(t.vnet.hdr_len, 54);
        assert_eq!(t.vnet.csum_start, 34);
        assert_eq!(t.headers().len(), 54);
        // Completing the partial checksum as the kernel does gives the
        // checksum the stack computed.
        let mut whole = t.headers().to_vec();
        whole.extend_from_slice(&f[54..]);
        finish_rx(&t.vnet, &mut whole).unwrap();
        assert_eq!(whole, f);
    }

    /// `f` with its TCP checksum replaced by the partial one the stack
    /// writes with checksum offload (folded pseudo-header sum).
    fn partial(f: &[u8]) -> Vec<u8> {
        let mut p = f.to_vec();
        let src = Ipv4Addr::new(198, 18, 0, 2);
        let dst = Ipv4Addr::new(198, 18, 0, 1);
        let ph = checksum::pseudo_header(
            src,
            dst,
            sockstack_proto::wire::IpProtocol::Tcp,
            (f.len() - 34) as u16,
        );
        p[50..52].copy_from_slice(&checksum::fold(ph).to_be_bytes());
        p
    }

    #[test]
    fn partial_frames_get_needs_csum_and_gso_when_large() {
        // Small: NEEDS_CSUM at the stack's offsets, no segmentation; the
        // kernel's completion gives the software checksum.
        let f = frame(&[9; 1000]);
        let mut p = partial(&f);
        let h = partial_header(&p, 14, 1500, 34, 16).unwrap();
        assert_eq!((h.flags, h.gso_type), (F_NEEDS_CSUM, GSO_NONE));
        assert_eq!((h.csum_start, h.csum_offset, h.hdr_len), (34, 16, 52));
        finish_rx(&h, &mut p).unwrap();
        assert_eq!(p, f);
        // Large: the same header `tso_headers` asks for, frame unchanged.
        let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 3) as u8).collect();
        let f = frame(&payload);
        let mut p = partial(&f);
        let h = partial_header(&p, 14, 1500, 34, 16).unwrap();
        let t = tso_headers(&f, 14, 1500).unwrap();
        assert_eq!(h, t.vnet);
        assert_eq!(t.headers(), &p[..54], "same partial field as tso_headers");
        finish_rx(&h, &mut p).unwrap();
        assert_eq!(p, f);
        // Offsets past the frame: the caller finishes it in software.
        assert!(partial_header(&p[..40], 14, 1500, 34, 16).is_none());
    }

    #[test]
    fn rx_rejects_what_was_not_enabled() {
        let mut f = frame(&[1; 100]);
        let udp = VnetHdr {
            gso_type: 3,
            ..VnetHdr::default()
        };
        assert_eq!(finish_rx(&udp, &mut f), Err(RxError::UnexpectedGso));
        let wild = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 60_000,
            ..VnetHdr::default()
        };
        assert_eq!(finish_rx(&wild, &mut f), Err(RxError::BadChecksumOffsets));
        let valid = VnetHdr {
            flags: 2, // DATA_VALID
            ..VnetHdr::default()
        };
        let before = f.clone();
        assert_eq!(finish_rx(&valid, &mut f), Ok(()));
        assert_eq!(f, before);
    }

    #[test]
    fn rx_verified_only_when_the_kernel_says_so() {
        let h = |flags| VnetHdr {
            flags,
            ..VnetHdr::default()
        };
        assert!(!rx_checksum_verified(&h(0)));
        assert!(rx_checksum_verified(&h(F_DATA_VALID)));
        assert!(rx_checksum_verified(&h(F_NEEDS_CSUM)));
    }
}

//! ICMP echo on a sockstack raw ICMP socket: build requests, and read what
//! the socket hands back (IPv4 header first, as on Linux) into the ping
//! loop's terms, keeping only messages about our identifier.

use std::net::Ipv4Addr;

use sockstack_proto::udp::SendError;
use sockstack_proto::wire::{
    DstUnreachable, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, TimeExceeded,
};

use super::pinger::Incoming;
use crate::error::CliError;

/// An echo request message (type 8), checksum filled in.
pub fn request(ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident,
        seq_no: seq,
        data: payload,
    };
    let mut msg = vec![0u8; repr.buffer_len()];
    // The buffer is exactly buffer_len() long, so emit cannot fail.
    let _ = repr.emit(&mut msg);
    msg
}

/// Interpret one packet from the raw socket. `None` for anything that is not
/// a reply to, or an error about, an echo request with our `ident`.
pub fn parse(packet: &[u8], ident: u16, expected: &[u8]) -> Option<Incoming> {
    let ip = Ipv4Packet::parse(packet).ok()?;
    if ip.protocol() != IpProtocol::Icmp {
        return None;
    }
    let icmp = Icmpv4Packet::parse(ip.payload()).ok()?;
    match Icmpv4Repr::parse(&icmp).ok()? {
        Icmpv4Repr::EchoReply {
            ident: id,
            seq_no,
            data,
        } if id == ident => Some(Incoming::Reply {
            from: ip.src(),
            seq: seq_no,
            ttl: ip.ttl(),
            icmp_len: icmp.as_bytes().len(),
            payload_ok: data == expected,
        }),
        Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            quoted,
        } => {
            let seq = quoted_echo_seq(quoted, ident)?;
            Some(Incoming::Error {
                from: ip.src(),
                seq,
                what: unreachable_text(reason, next_hop_mtu),
            })
        }
        Icmpv4Repr::TimeExceeded { reason, quoted } => {
            let seq = quoted_echo_seq(quoted, ident)?;
            let what = match reason {
                TimeExceeded::TtlExpired => "Time to live exceeded".to_string(),
                TimeExceeded::FragReassembly => "Frag reassembly time exceeded".to_string(),
                TimeExceeded::Other(c) => format!("Time exceeded, Bad Code: {c}"),
            };
            Some(Incoming::Error {
                from: ip.src(),
                seq,
                what,
            })
        }
        _ => None,
    }
}

/// The sequence number of our echo request quoted in an ICMP error: the
/// quote is the IPv4 header plus at least 8 bytes of the ICMP message.
fn quoted_echo_seq(quoted: &[u8], ident: u16) -> Option<u16> {
    let ihl = usize::from(quoted.first()? & 0x0f) * 4;
    if quoted.first()? >> 4 != 4 || *quoted.get(9)? != 1 {
        return None;
    }
    let icmp = quoted.get(ihl..ihl + 8)?;
    let (ty, id, seq) = (
        icmp[0],
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    );
    (ty == 8 && id == ident).then_some(seq)
}

/// iputils' wording for destination unreachable codes.
fn unreachable_text(reason: DstUnreachable, mtu: u16) -> String {
    match reason {
        DstUnreachable::NetUnreachable => "Destination Net Unreachable".into(),
        DstUnreachable::HostUnreachable => "Destination Host Unreachable".into(),
        DstUnreachable::ProtoUnreachable => "Destination Protocol Unreachable".into(),
        DstUnreachable::PortUnreachable => "Destination Port Unreachable".into(),
        DstUnreachable::FragRequired => format!("Frag needed and DF set (mtu = {mtu})"),
        DstUnreachable::SourceRouteFailed => "Source Route Failed".into(),
        DstUnreachable::AdminProhibited => "Communication administratively prohibited".into(),
        DstUnreachable::Other(c) => format!("Dest Unreachable, Bad Code: {c}"),
    }
}

/// A send failure as ping(8) words it.
pub fn send_error(err: SendError, dst: Ipv4Addr) -> CliError {
    let what = match err {
        SendError::NoRoute => format!("connect: Network is unreachable ({dst})"),
        SendError::MessageTooLong => "sendmsg: Message too long".into(),
        SendError::QueueFull => "sendmsg: No buffer space available".into(),
        SendError::BadDestination => format!("{dst}: invalid destination"),
        SendError::InvalidHandle | SendError::InvalidMessage => {
            format!("sendmsg: internal error ({err:?})")
        }
    };
    CliError::Runtime(format!("ping: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_proto::wire::Ipv4Repr;

    fn ip_packet(src: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let repr = Ipv4Repr::new(src, dst, IpProtocol::Icmp, icmp.len());
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        let hl = repr.header_len();
        buf[hl..].copy_from_slice(icmp);
        buf
    }

    #[test]
    fn reply_for_our_ident_is_parsed() {
        let from = Ipv4Addr::new(198, 18, 0, 1);
        let payload = [1u8, 2, 3, 4];
        let mut reply = request(77, 5, &payload);
        reply[0] = 0; // echo reply; checksum is not checked here
        let pkt = ip_packet(from, &reply);
        match parse(&pkt, 77, &payload) {
            Some(Incoming::Reply {
                from: f,
                seq,
                icmp_len,
                payload_ok,
                ..
            }) => {
                assert_eq!((f, seq, icmp_len, payload_ok), (from, 5, 12, true));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(&pkt, 78, &payload), None);
        assert_eq!(parse(&pkt[..10], 77, &payload), None);
        // Our own request type is not a reply.
        let req = ip_packet(from, &request(77, 5, &payload));
        assert_eq!(parse(&req, 77, &payload), None);
    }

    #[test]
    fn unreachable_quoting_our_request_is_an_error_line() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let original = {
            let icmp = request(9, 3, &[0; 8]);
            let repr = Ipv4Repr::new(
                us,
                Ipv4Addr::new(198, 18, 0, 9),
                IpProtocol::Icmp,
                icmp.len(),
            );
            let mut b = vec![0u8; repr.buffer_len()];
            repr.emit(&mut b).unwrap();
            b[20..].copy_from_slice(&icmp);
            b
        };
        let err = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::HostUnreachable,
            next_hop_mtu: 0,
            quoted: &original[..28],
        };
        let mut msg = vec![0u8; err.buffer_len()];
        err.emit(&mut msg).unwrap();
        let router = Ipv4Addr::new(198, 18, 0, 1);
        let pkt = ip_packet(router, &msg);
        assert_eq!(
            parse(&pkt, 9, &[]),
            Some(Incoming::Error {
                from: router,
                seq: 3,
                what: "Destination Host Unreachable".into()
            })
        );
        assert_eq!(parse(&pkt, 10, &[]), None);
    }
}

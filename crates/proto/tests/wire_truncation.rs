//! Every truncation of every captured frame: the whole-frame decode rejects
//! it, and each layer's parser either rejects its truncated bytes or (where
//! the format has no length field, e.g. Ethernet, TCP, ICMP) accepts a valid
//! shorter prefix. Nothing panics.

mod wire_util;

use sockstack_proto::wire::*;
use wire_util::*;

#[test]
fn every_truncated_frame_is_rejected() {
    for f in frames() {
        for n in 0..f.bytes.len() {
            assert!(
                decode(&f.bytes[..n]).is_err(),
                "frame {} truncated to {n} decoded",
                f.no
            );
        }
    }
}

#[test]
fn every_truncated_layer_is_rejected_or_a_valid_prefix() {
    for f in frames() {
        let b = &f.bytes[..];
        for n in 0..=b.len() {
            assert_eq!(EthernetFrame::parse(&b[..n]).is_ok(), n >= 14);
        }
        let l3 = &b[14..];
        let eth = EthernetFrame::parse(b).unwrap();
        if eth.ethertype() == EtherType::Arp {
            for n in 0..=l3.len() {
                assert_eq!(ArpPacket::parse(&l3[..n]).is_ok(), n >= arp::PACKET_LEN);
            }
            continue;
        }
        let ip = Ipv4Packet::parse(l3).unwrap();
        let (hl, total) = (ip.header_len(), ip.total_len());
        for n in 0..=l3.len() {
            let r = Ipv4Packet::parse(&l3[..n]);
            assert_eq!(r.is_ok(), n >= total, "frame {} ip prefix {n}", f.no);
            if let Ok(p) = r {
                assert_eq!(p.payload().len(), total - hl);
            }
            // The quoted-datagram parser accepts any prefix holding the header.
            if let Ok(q) = Ipv4Packet::parse_quoted(&l3[..n]) {
                assert!(n >= hl);
                assert_eq!(q.payload(), &l3[hl..n.min(total)]);
            }
        }
        if ip.is_fragment() {
            continue;
        }
        let l4 = ip.payload();
        for n in 0..=l4.len() {
            let t = &l4[..n];
            match ip.protocol() {
                IpProtocol::Tcp => {
                    let full = TcpPacket::parse(l4).unwrap();
                    let r = TcpPacket::parse(t);
                    assert_eq!(r.is_ok(), n >= full.header_len(), "frame {} tcp {n}", f.no);
                    if let Ok(p) = r {
                        let repr = TcpRepr::parse(&p);
                        assert_eq!(repr.payload, &full.payload()[..n - full.header_len()]);
                        // A shorter segment no longer matches its checksum.
                        assert_eq!(
                            p.verify_checksum(ip.src(), ip.dst()),
                            n == l4.len(),
                            "frame {} tcp {n}",
                            f.no
                        );
                    }
                }
                IpProtocol::Udp => {
                    assert_eq!(UdpPacket::parse(t).is_ok(), n == l4.len());
                }
                IpProtocol::Icmp => {
                    let r = Icmpv4Packet::parse(t);
                    assert_eq!(r.is_ok(), n >= 8);
                    if let Ok(p) = r {
                        assert!(Icmpv4Repr::parse(&p).is_ok());
                        // No "shorter fails" here: a quoted IPv4 header and a quoted
                        // ICMP message each sum to zero, so cutting them off keeps
                        // an error's checksum valid.
                        if n == l4.len() {
                            assert!(p.verify_checksum());
                        }
                    }
                }
                IpProtocol::Other(_) => unreachable!(),
            }
        }
    }
}

/// Shorter IPv4 total lengths and header lengths inside an intact buffer.
#[test]
fn inconsistent_length_fields_are_rejected() {
    for f in frames() {
        let l3 = &f.bytes[14..];
        let Ok(ip) = Ipv4Packet::parse(l3) else {
            continue;
        };
        let mut b = l3.to_vec();
        b[2..4].copy_from_slice(&((ip.header_len() - 1) as u16).to_be_bytes());
        assert_eq!(Ipv4Packet::parse(&b[..]).unwrap_err(), WireError::BadLength);
        b[2..4].copy_from_slice(&((l3.len() + 1) as u16).to_be_bytes());
        assert_eq!(Ipv4Packet::parse(&b[..]).unwrap_err(), WireError::Truncated);
        for ihl in 0..5u8 {
            let mut b = l3.to_vec();
            b[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::parse(&b[..]).unwrap_err(),
                WireError::BadHeaderLen
            );
        }
        if ip.protocol() == IpProtocol::Tcp {
            for off in 0..16u8 {
                let mut t = ip.payload().to_vec();
                t[12] = off << 4;
                let r = TcpPacket::parse(&t[..]);
                if off < 5 || usize::from(off) * 4 > t.len() {
                    assert_eq!(r.unwrap_err(), WireError::BadHeaderLen);
                }
            }
        }
        if ip.protocol() == IpProtocol::Udp {
            let mut u = ip.payload().to_vec();
            for len in [0u16, 7] {
                u[4..6].copy_from_slice(&len.to_be_bytes());
                assert_eq!(UdpPacket::parse(&u[..]).unwrap_err(), WireError::BadLength);
            }
        }
    }
}

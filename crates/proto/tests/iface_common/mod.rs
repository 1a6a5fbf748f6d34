//! Shared harness for the interface-layer tests: a stack under test ("us",
//! 198.18.0.2) and a scripted peer (198.18.0.1) whose frames are built with
//! the wire Reprs.
#![allow(dead_code)]

use sockstack_proto::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, MacAddr, UdpPacket, UdpRepr,
};
use sockstack_proto::{Instant, Stack, StackConfig};

pub const US_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub fn config() -> StackConfig {
    StackConfig::ethernet(US_MAC, US, 24)
}

/// A stack whose gratuitous ARP has already gone out.
pub fn stack_with(config: StackConfig) -> Stack {
    let mut s = Stack::new(config);
    let _ = drain(&mut s, ms(0));
    s
}

pub fn stack() -> Stack {
    stack_with(config())
}

/// Every frame `poll_transmit` has at `now`.
pub fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1600];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 10_000, "runaway poll_transmit");
    }
    out
}

pub fn eth(dst: MacAddr, src: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let e = EthernetRepr {
        src,
        dst,
        ethertype,
    };
    let mut f = vec![0u8; e.buffer_len() + payload.len()];
    e.emit(&mut f).unwrap();
    f[e.buffer_len()..].copy_from_slice(payload);
    f
}

pub fn arp(
    op: ArpOperation,
    smac: MacAddr,
    sip: Ipv4Addr,
    tmac: MacAddr,
    tip: Ipv4Addr,
) -> Vec<u8> {
    let a = ArpRepr {
        operation: op,
        sender_mac: smac,
        sender_ip: sip,
        target_mac: tmac,
        target_ip: tip,
    };
    let mut p = vec![0u8; a.buffer_len()];
    a.emit(&mut p).unwrap();
    let dst = if op == ArpOperation::Request {
        MacAddr::BROADCAST
    } else {
        tmac
    };
    eth(dst, smac, EtherType::Arp, &p)
}

/// Teach `s` that PEER is at PEER_MAC (a request from the peer for us).
pub fn learn_peer(s: &mut Stack, now: Instant) {
    let f = arp(
        ArpOperation::Request,
        PEER_MAC,
        PEER,
        MacAddr::default(),
        US,
    );
    s.handle_frame(now, &f);
    let out = drain(s, now);
    assert_eq!(out.len(), 1, "one ARP reply");
}

pub fn ip_bytes(ip: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ip.header_len() + payload.len()];
    ip.emit(&mut p).unwrap();
    p[ip.header_len()..].copy_from_slice(payload);
    p
}

/// An IPv4 frame from the peer to us.
pub fn ip_frame(ip: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    eth(US_MAC, PEER_MAC, EtherType::Ipv4, &ip_bytes(ip, payload))
}

pub fn ip_from_peer(protocol: IpProtocol, len: usize) -> Ipv4Repr {
    let mut ip = Ipv4Repr::new(PEER, US, protocol, len);
    ip.ident = 4242;
    ip
}

pub fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let u = UdpRepr {
        src_port: sport,
        dst_port: dport,
    };
    let mut b = vec![0u8; u.buffer_len(data.len())];
    u.emit(&mut b, src, dst, data).unwrap();
    b
}

pub fn icmp_bytes(m: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; m.buffer_len()];
    m.emit(&mut b).unwrap();
    b
}

/// An echo request frame from the peer.
pub fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    });
    ip_frame(&ip_from_peer(IpProtocol::Icmp, icmp.len()), &icmp)
}

/// A parsed outgoing frame.
#[derive(Debug)]
pub enum Out {
    Arp(EthernetRepr, ArpRepr),
    Ip(EthernetRepr, Ipv4Repr, Vec<u8>),
}

pub fn parse_out(frame: &[u8]) -> Out {
    let f = EthernetFrame::parse(frame).expect("ethernet");
    let e = EthernetRepr::parse(&f);
    match e.ethertype {
        EtherType::Arp => {
            let p = ArpPacket::parse(f.payload()).expect("arp");
            Out::Arp(e, ArpRepr::parse(&p))
        }
        EtherType::Ipv4 => {
            let (ip, payload) = parse_ip(f.payload());
            Out::Ip(e, ip, payload)
        }
        other => panic!("unexpected ethertype {other:?}"),
    }
}

pub fn parse_ip(bytes: &[u8]) -> (Ipv4Repr, Vec<u8>) {
    let p = Ipv4Packet::parse(bytes).expect("ipv4");
    assert!(p.verify_checksum(), "ip checksum");
    (Ipv4Repr::parse(&p), p.payload().to_vec())
}

pub fn expect_arp(frame: &[u8]) -> (EthernetRepr, ArpRepr) {
    match parse_out(frame) {
        Out::Arp(e, a) => (e, a),
        other => panic!("expected ARP, got {other:?}"),
    }
}

pub fn expect_ip(frame: &[u8]) -> (EthernetRepr, Ipv4Repr, Vec<u8>) {
    match parse_out(frame) {
        Out::Ip(e, ip, p) => (e, ip, p),
        other => panic!("expected IPv4, got {other:?}"),
    }
}

/// Owned view of an ICMP message.
#[derive(Debug, PartialEq, Eq)]
pub enum Icmp {
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    Unreachable {
        code: u8,
        quoted: Vec<u8>,
    },
    TimeExceeded {
        code: u8,
        quoted: Vec<u8>,
    },
}

pub fn parse_icmp(bytes: &[u8]) -> Icmp {
    let p = Icmpv4Packet::parse(bytes).expect("icmp");
    assert!(p.verify_checksum(), "icmp checksum");
    let code = p.code();
    match Icmpv4Repr::parse(&p).expect("icmp repr") {
        Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        } => Icmp::EchoReply {
            ident,
            seq_no,
            data: data.to_vec(),
        },
        Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } => Icmp::EchoRequest {
            ident,
            seq_no,
            data: data.to_vec(),
        },
        Icmpv4Repr::DstUnreachable { quoted, .. } => Icmp::Unreachable {
            code,
            quoted: quoted.to_vec(),
        },
        Icmpv4Repr::TimeExceeded { quoted, .. } => Icmp::TimeExceeded {
            code,
            quoted: quoted.to_vec(),
        },
    }
}

pub fn parse_udp(ip: &Ipv4Repr, bytes: &[u8]) -> (u16, u16, Vec<u8>) {
    let p = UdpPacket::parse(bytes).expect("udp");
    assert!(p.verify_checksum(ip.src, ip.dst), "udp checksum");
    (p.src_port(), p.dst_port(), p.payload().to_vec())
}

//! Every parser on arbitrary bytes: nothing panics, accessors are total,
//! and whatever parses re-emits to something that parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_proto::wire::{
    ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr, Ipv4Addr,
    Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn ethernet(data: &[u8]) {
    let Ok(f) = EthernetFrame::parse(data) else {
        return;
    };
    let r = EthernetRepr::parse(&f);
    let _ = (f.payload(), r.to_string());
    let mut out = [0u8; 14];
    r.emit(&mut out).unwrap();
    assert_eq!(&out[..], &data[..14]);
}

fn arp(data: &[u8]) {
    let Ok(p) = ArpPacket::parse(data) else {
        return;
    };
    let r = ArpRepr::parse(&p);
    let _ = r.to_string();
    let mut out = [0u8; 28];
    r.emit(&mut out).unwrap();
    assert_eq!(&out[..], &data[..28]);
}

fn ipv4(data: &[u8]) {
    for p in [Ipv4Packet::parse(data), Ipv4Packet::parse_quoted(data)]
        .into_iter()
        .flatten()
    {
        let r = Ipv4Repr::parse(&p);
        let _ = (
            p.verify_checksum(),
            p.options(),
            p.as_bytes(),
            r.to_string(),
        );
        assert!(p.payload().len() <= data.len());
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut out).unwrap();
        let back = Ipv4Packet::parse(&out[..]).unwrap();
        assert!(back.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&back), r);
    }
}

fn icmp(data: &[u8]) {
    let Ok(p) = Icmpv4Packet::parse(data) else {
        return;
    };
    let _ = p.verify_checksum();
    let Ok(r) = Icmpv4Repr::parse(&p) else { return };
    let _ = r.to_string();
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut out).unwrap();
    let back = Icmpv4Packet::parse(&out[..]).unwrap();
    assert!(back.verify_checksum());
    assert_eq!(Icmpv4Repr::parse(&back).unwrap(), r);
}

fn udp(data: &[u8]) {
    let Ok(p) = UdpPacket::parse(data) else {
        return;
    };
    let _ = p.verify_checksum(A, B);
    let r = UdpRepr::parse(&p);
    let payload = p.payload();
    let mut out = vec![0u8; r.buffer_len(payload.len())];
    r.emit(&mut out, A, B, payload).unwrap();
    let back = UdpPacket::parse(&out[..]).unwrap();
    assert!(back.verify_checksum(A, B));
    assert_eq!(UdpRepr::parse(&back), r);
    assert_eq!(back.payload(), payload);
}

fn tcp(data: &[u8]) {
    let Ok(p) = TcpPacket::parse(data) else {
        return;
    };
    let _ = p.verify_checksum(A, B);
    let r = TcpRepr::parse(&p);
    let _ = (r.to_string(), r.display_with(A, B).to_string());
    if r.buffer_len() > 65535 {
        return;
    }
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut out, A, B).unwrap();
    let back = TcpPacket::parse(&out[..]).unwrap();
    assert!(back.verify_checksum(A, B));
}

fuzz_target!(|data: &[u8]| {
    ethernet(data);
    arp(data);
    ipv4(data);
    icmp(data);
    udp(data);
    tcp(data);
    // The same bytes as a frame's payload, as the stack would see them.
    if let Ok(f) = EthernetFrame::parse(data) {
        arp(f.payload());
        ipv4(f.payload());
        if let Ok(ip) = Ipv4Packet::parse(f.payload()) {
            icmp(ip.payload());
            udp(ip.payload());
            tcp(ip.payload());
        }
    }
});

//! Every parser on arbitrary bytes: nothing panics, accessors are total,
//! and whatever parses re-emits to something that parses back equal. The
//! checksum helpers behind TX offload and the RX fold agree with a naive
//! RFC 1071 sum on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_proto::wire::{
    checksum, ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr, Ipv4Addr,
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

/// RFC 1071 the slow way: big-endian 16-bit words, an odd last byte padded.
fn naive(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for w in data.chunks(2) {
        let hi = u64::from(w[0]) << 8;
        s += hi | w.get(1).map_or(0, |&b| u64::from(b));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// `sum`, `copy_and_sum` (the RX fold), split sums joined with `add` and
/// `at_odd_offset`, and `complete_partial` (TX offload) against `naive`.
fn sums(data: &[u8]) {
    // 0 and 0xffff are the same one's-complement number.
    let same = |a: u16, b: u16| a == b || (a | b == 0xffff && (a == 0 || b == 0));
    let want = naive(data);
    assert!(same(checksum::fold(checksum::sum(data, 0)), want));
    let mut dst = vec![0u8; data.len()];
    let s = checksum::copy_and_sum(&mut dst, data);
    assert_eq!(dst, data);
    assert!(same(checksum::fold(s), want), "copy_and_sum");
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(cut);
    let tail = if cut % 2 == 0 {
        checksum::sum(b, 0)
    } else {
        checksum::at_odd_offset(checksum::sum(b, 0))
    };
    assert!(same(
        checksum::fold(checksum::add(checksum::sum(a, 0), tail)),
        want
    ));
    // A partial checksum at offset 16 from `start`, seeded with a
    // pseudo-header sum, verifies once completed.
    let start = cut.min(data.len().saturating_sub(18));
    if data.len() >= start + 18 {
        let mut f = data.to_vec();
        let ph = checksum::pseudo_header(A, B, sockstack_proto::wire::IpProtocol::Tcp, 99);
        f[start + 16..start + 18].copy_from_slice(&checksum::fold(ph).to_be_bytes());
        assert!(checksum::complete_partial(&mut f, start, 16));
        let mut check = f[start..].to_vec();
        let field = u16::from_be_bytes([check[16], check[17]]);
        check[16] = 0;
        check[17] = 0;
        let expect = !checksum::fold(checksum::add(
            checksum::fold(ph).into(),
            checksum::sum(&check, 0),
        ));
        assert!(same(field, expect), "complete_partial");
    } else {
        let mut f = data.to_vec();
        assert!(!checksum::complete_partial(&mut f, data.len(), 16) || data.len() >= 18);
        assert_eq!(f, data);
    }
}

fuzz_target!(|data: &[u8]| {
    sums(data);
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

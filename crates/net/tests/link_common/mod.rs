//! Hand-built frames shared by the link and runtime tests (independent of
//! proto's wire module, so these tests check links, not the stack).
#![allow(dead_code)] // each test crate uses a subset

use std::net::Ipv4Addr;

pub const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];
pub const MAC_C: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0c];
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// RFC 1071 Internet checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet ARP request "who has `target`? tell `sender_ip`".
pub fn arp_request(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut arp = Vec::with_capacity(28);
    arp.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    arp.extend_from_slice(&sender_mac);
    arp.extend_from_slice(&sender_ip.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target.octets());
    ethernet(BROADCAST, sender_mac, 0x0806, &arp)
}

/// A bare IPv4 packet carrying an ICMP echo request.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&seq.to_be_bytes()); // identification
    ip.extend_from_slice(&[0x40, 0, 64, 1, 0, 0]); // DF, TTL 64, ICMP
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// A frame whose payload encodes `n`, for ordering checks.
pub fn numbered(src: [u8; 6], dst: [u8; 6], n: u32, len: usize) -> Vec<u8> {
    let mut payload = vec![0u8; len.saturating_sub(14).max(4)];
    payload[..4].copy_from_slice(&n.to_be_bytes());
    ethernet(dst, src, 0x88b5, &payload) // local experimental ethertype
}

/// The number `numbered` put in a frame.
pub fn number_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes([frame[14], frame[15], frame[16], frame[17]])
}

/// True when running as root (TAP/TUN and namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

pub mod netns;

/// Print the skip line and return false when not root.
pub fn root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    eprintln!("SKIP: needs root (CAP_NET_ADMIN)");
    false
}

//! Shared by the Stack targets: a configured host, frame builders, and
//! bounded loops that drain output and run timers.
#![allow(dead_code)]

use sockstack_proto::wire::{
    checksum, EtherType, EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Repr, MacAddr,
};
use sockstack_proto::{Duration, Instant, Stack, StackConfig};

pub const OUR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x12, 0x00, 0x02]);
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x12, 0x00, 0x01]);
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

pub fn new_stack() -> Stack {
    let mut cfg = StackConfig::ethernet(OUR_MAC, OUR_IP, 24);
    cfg.seed = 7;
    Stack::new(cfg)
}

/// Pull every ready frame (bounded), checking each is at least a sane length.
pub fn drain(stack: &mut Stack, now: Instant, buf: &mut [u8]) {
    for _ in 0..512 {
        match stack.poll_transmit(now, buf) {
            Some(n) => assert!(n <= buf.len(), "poll_transmit overran its buffer"),
            None => break,
        }
    }
}

/// Run the stack's timers forward for a while (bounded), draining as we go.
pub fn run_timers(stack: &mut Stack, mut now: Instant, buf: &mut [u8]) -> Instant {
    let end = now + Duration::from_secs(300);
    for _ in 0..128 {
        let Some(at) = stack.poll_at() else { break };
        if at > end {
            break;
        }
        // Never go back in time, always move forward a little.
        now = if at > now {
            at
        } else {
            now + Duration::from_millis(1)
        };
        stack.handle_timeout(now);
        drain(stack, now, buf);
    }
    now
}

pub fn ethernet(dst: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let repr = EthernetRepr {
        src: PEER_MAC,
        dst,
        ethertype,
    };
    let mut f = vec![0u8; 14 + payload.len()];
    repr.emit(&mut f).expect("14 bytes fit");
    f[14..].copy_from_slice(payload);
    f
}

/// An IPv4 packet from the peer to us with a correct header checksum; with
/// `fix_l4`, the transport checksum of an unfragmented ICMP/UDP/TCP payload
/// is made correct too, so the fuzzer gets past it.
pub fn ipv4(
    proto: u8,
    ident: u16,
    frag_offset: usize,
    more_frags: bool,
    payload: &[u8],
    fix_l4: bool,
) -> Vec<u8> {
    let mut repr = Ipv4Repr::new(PEER_IP, OUR_IP, IpProtocol::from(proto), payload.len());
    repr.ident = ident;
    repr.dont_frag = false;
    repr.more_frags = more_frags;
    repr.frag_offset = frag_offset & !7 & 0xfff8;
    let mut p = vec![0u8; repr.buffer_len()];
    if repr.emit(&mut p).is_err() {
        return Vec::new();
    }
    p[20..].copy_from_slice(payload);
    if fix_l4 && frag_offset == 0 && !more_frags {
        let l4 = &mut p[20..];
        let at = match IpProtocol::from(proto) {
            IpProtocol::Icmp => Some(2),
            IpProtocol::Udp => Some(6),
            IpProtocol::Tcp => Some(16),
            IpProtocol::Other(_) => None,
        };
        if let Some(at) = at {
            if l4.len() >= at + 2 {
                l4[at] = 0;
                l4[at + 1] = 0;
                let ph = match IpProtocol::from(proto) {
                    IpProtocol::Icmp => 0,
                    pr => checksum::pseudo_header(PEER_IP, OUR_IP, pr, l4.len() as u16),
                };
                let c = !checksum::fold(checksum::sum(l4, ph));
                l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
    p
}

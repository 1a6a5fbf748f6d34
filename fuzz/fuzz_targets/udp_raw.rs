//! UDP and raw IP sockets of one Stack: fuzzed ingress frames interleaved
//! with fuzzed socket calls (bind, connect, SO_RCVBUF, sendto, recvfrom with
//! and without MSG_PEEK, ICMP errors, raw open / filter / send / IP_HDRINCL
//! send / ICMP send / recv, close, stale handles), with a shadow model.
//!
//! Input (`arbitrary`): a configuration byte (small queue caps, verified
//! ingress, the RX fold, a gateway toward the peer, a pre-learned ARP entry
//! for the peer) and a list of `Op`s. Addresses come from a table inside
//! 198.18.0.0/15 plus 127/8, 0.0.0.0 and 255.255.255.255; ports from a
//! small table, so binds collide and datagrams find their sockets.
//!
//! Invariants after every op: no panic; the per-socket queues within
//! `udp_recv_queue_datagrams` / `udp_recv_queue_bytes` (and the socket's
//! SO_RCVBUF whenever a datagram was added), raw queues within
//! `raw_recv_queue_packets` / `raw_recv_queue_bytes`; counters consistent
//! with the queues (`udp.rx_datagrams` = datagrams added, `udp.rx_queue_full`
//! = sum of the sockets' `drops`, `raw.rx_delivered` = raw copies added,
//! `udp_snapshot` queued bytes = the sum of the queued lengths,
//! `udp_next_len` = the length `recv` reports, tx counters per send);
//! bind / open results as the model predicts (AddrInUse, ephemeral range,
//! stale handles refused, raw socket cap). Integrity: every datagram a UDP
//! socket returns (sender and payload, also when peeked or truncated) and
//! every packet a raw socket returns (source, protocol, total length, header
//! checksum and payload) was carried by a frame the harness delivered or a
//! datagram it sent to a local address, and none is returned more often than
//! it was carried. Unverifiable: reassemblies of fragments the harness did
//! not build (taint) and ICMP / TCP packets the stack itself looped back
//! (echo replies, port unreachables, resets). On the link: every frame
//! parses, no 127/8 address leaves except from an IP_HDRINCL header (counted
//! in the `FUZZ_TALLY` line: RFC 1122 3.2.1.3 (g) says MUST NOT, Linux
//! allows it), and every UDP datagram from `udp_send_to` carries a correct
//! checksum and the payload that was sent.
#![no_main]

mod common;

use std::collections::HashMap;
use std::net::SocketAddrV4;

use arbitrary::Arbitrary;
use common::*;
use libfuzzer_sys::fuzz_target;
use sockstack_proto::udp::{BindError, RecvError, SendError};
use sockstack_proto::wire::{checksum, EtherType, IpProtocol, Ipv4Addr, MacAddr};
use sockstack_proto::{Duration, Instant, Limits, RawHandle, Stack, StackConfig, UdpHandle};

const ADDRS: [Ipv4Addr; 12] = [
    PEER_IP,
    OUR_IP,
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 5, 6, 7),
    Ipv4Addr::new(198, 18, 0, 255),
    Ipv4Addr::new(255, 255, 255, 255),
    Ipv4Addr::new(198, 18, 0, 77),
    Ipv4Addr::new(198, 19, 1, 1),
    Ipv4Addr::UNSPECIFIED,
    Ipv4Addr::new(198, 18, 0, 0),
    Ipv4Addr::new(198, 18, 0, 3),
    Ipv4Addr::new(224, 0, 0, 1),
];
const PORTS: [u16; 10] = [0, 53, 54, 55, 80, 9, 32768, 60999, 65535, 1];
const SLOTS: usize = 4;

fn addr(sel: u8) -> Ipv4Addr {
    ADDRS[usize::from(sel) % ADDRS.len()]
}
fn port(sel: u8) -> u16 {
    PORTS[usize::from(sel) % PORTS.len()]
}
fn is_local(a: Ipv4Addr) -> bool {
    a == OUR_IP || a.is_loopback()
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bind UDP slot (closing what it held) to `addr:port`.
    Bind {
        slot: u8,
        addr: u8,
        port: u8,
    },
    Connect {
        slot: u8,
        peer: Option<(u8, u8)>,
    },
    SetRcvbuf {
        slot: u8,
        bytes: u16,
    },
    SendTo {
        slot: u8,
        dst: u8,
        port: u8,
        len: u16,
        fill: u8,
    },
    Recv {
        slot: u8,
        buf: u16,
        peek: bool,
    },
    RecvAll {
        slot: u8,
    },
    TakeError {
        slot: u8,
    },
    Close {
        slot: u8,
    },
    RawOpen {
        slot: u8,
        proto: u8,
    },
    RawFilter {
        slot: u8,
        local: Option<u8>,
        peer: Option<u8>,
    },
    RawSend {
        slot: u8,
        dst: u8,
        payload: Vec<u8>,
    },
    /// IP_HDRINCL: a header built from the fields, or `raw` as is.
    RawHdrincl {
        slot: u8,
        src: u8,
        dst: u8,
        proto: u8,
        ident: u16,
        ihl: u8,
        frag: u16,
        ttl: u8,
        payload: Vec<u8>,
        raw: Option<Vec<u8>>,
    },
    RawIcmpSend {
        slot: u8,
        dst: u8,
        msg: Vec<u8>,
    },
    RawRecv {
        slot: u8,
        buf: u16,
        peek: bool,
    },
    RawRecvAll {
        slot: u8,
    },
    RawClose {
        slot: u8,
    },
    /// A UDP datagram on the link, correct checksums unless `bad_csum`.
    Udp {
        src: u8,
        sport: u8,
        dst: u8,
        dport: u8,
        len: u16,
        fill: u8,
        bad_csum: bool,
        bcast_mac: bool,
    },
    /// The same in two fragments (split at `split` 8-byte units), maybe reversed.
    UdpFrag {
        src: u8,
        sport: u8,
        dst: u8,
        dport: u8,
        len: u16,
        fill: u8,
        split: u8,
        reverse: bool,
        ident: u16,
    },
    /// An IPv4 datagram of any protocol with arbitrary payload.
    Ip {
        src: u8,
        dst: u8,
        proto: u8,
        payload: Vec<u8>,
        fix_l4: bool,
    },
    /// ICMP destination unreachable / time exceeded quoting one of our datagrams.
    IcmpError {
        kind: u8,
        code: u8,
        qsrc: u8,
        sport: u8,
        qdst: u8,
        dport: u8,
    },
    /// Raw bytes, as a whole frame or behind an Ethernet header for us.
    Frame {
        wrap: bool,
        bytes: Vec<u8>,
    },
    Advance {
        ms: u16,
    },
    Drain,
}

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: u8,
    ops: Vec<Op>,
}

#[derive(Clone, Copy, PartialEq)]
enum Slot<H> {
    Empty,
    Open(H),
    Closed(H),
}

/// Every datagram a socket may return, with how often it was carried.
type Multiset<K> = HashMap<K, u32>;

fn take<K: std::hash::Hash + Eq>(m: &mut Multiset<K>, k: &K) -> bool {
    match m.get_mut(k) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

struct H {
    stack: Stack,
    knobs: Knobs,
    now: Instant,
    out: Vec<u8>,
    udp: [Slot<UdpHandle>; SLOTS],
    raw: [Slot<RawHandle>; SLOTS],
    /// (local port, sender, payload) carried toward us.
    udp_carried: Multiset<(u16, SocketAddrV4, Vec<u8>)>,
    /// Per raw slot: (source, IP payload) carried since it opened.
    raw_carried: [Multiset<(Ipv4Addr, Vec<u8>)>; SLOTS],
    /// (source port, destination, payload) sent with `udp_send_to`.
    udp_sent: Multiset<(u16, SocketAddrV4, Vec<u8>)>,
    /// Fragments the harness did not build were delivered: reassembled
    /// datagrams cannot be checked.
    frag_taint: bool,
    /// A raw socket sent UDP: link UDP payloads cannot be checked.
    raw_udp_taint: bool,
    /// An IP_HDRINCL header with a 127/8 source was sent toward the link.
    hdrincl_loopback_src: bool,
    /// Frames that left with a 127/8 source (IP_HDRINCL).
    loopback_on_link: u32,
    /// Shadow of the queue lengths and drops, to check the counters.
    udp_q: [usize; SLOTS],
    udp_drops: [u64; SLOTS],
    raw_q: [usize; SLOTS],
    seq: u32,
    lim: Limits,
    tally: [u32; 8],
}

/// An IPv4 packet the harness parses itself (independent of the stack).
struct Ip<'a> {
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    fragment: bool,
    payload: &'a [u8],
}

fn parse_ip(p: &[u8]) -> Option<Ip<'_>> {
    let &[vihl, _, l0, l1, _, _, f0, f1, _, proto, ..] = p.get(..20)? else {
        return None;
    };
    let hl = usize::from(vihl & 15) * 4;
    let total = usize::from(u16::from_be_bytes([l0, l1]));
    if vihl >> 4 != 4 || hl < 20 || total < hl || total > p.len() {
        return None;
    }
    let a = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
    Some(Ip {
        proto,
        src: a(12),
        dst: a(16),
        fragment: u16::from_be_bytes([f0, f1]) & 0x3fff != 0,
        payload: &p[hl..total],
    })
}

/// (source port, destination port, payload) of a UDP datagram.
fn parse_udp(p: &[u8]) -> Option<(u16, u16, &[u8])> {
    let &[s0, s1, d0, d1, l0, l1, ..] = p.get(..8)? else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if len < 8 || len > p.len() {
        return None;
    }
    Some((
        u16::from_be_bytes([s0, s1]),
        u16::from_be_bytes([d0, d1]),
        &p[8..len],
    ))
}

fn pattern(seq: u32, len: usize, fill: u8) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(7)
                .wrapping_add(seq.wrapping_mul(31)) as u8
                ^ fill
        })
        .collect();
    for (b, s) in v.iter_mut().zip(seq.to_le_bytes()) {
        *b = s;
    }
    v
}

fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let ph = checksum::pseudo_header(src, dst, IpProtocol::Udp, len as u16);
    let mut c = !checksum::fold(checksum::sum(&u, ph));
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An IPv4 header + payload with a correct header checksum.
fn ip_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ident: u16,
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn arp_reply() -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 2];
    a.extend_from_slice(&PEER_MAC.0);
    a.extend_from_slice(&PEER_IP.octets());
    a.extend_from_slice(&OUR_MAC.0);
    a.extend_from_slice(&OUR_IP.octets());
    ethernet(OUR_MAC, EtherType::Arp, &a)
}

impl H {
    fn new(cfg: u8) -> H {
        let knobs = Knobs {
            verified: cfg & 0x02 != 0,
            rx_fold: cfg & 0x04 != 0,
            ..Knobs::default()
        };
        let mut c = StackConfig::ethernet(OUR_MAC, OUR_IP, 24);
        c.seed = 7;
        c.rx_checksum_fold = knobs.rx_fold;
        if cfg & 0x08 != 0 {
            c.gateway = Some(PEER_IP);
        }
        if cfg & 0x01 != 0 {
            let l = &mut c.limits;
            l.udp_recv_queue_datagrams = 4;
            l.udp_recv_queue_bytes = 3000;
            l.raw_max_sockets = 3;
            l.raw_recv_queue_packets = 3;
            l.raw_recv_queue_bytes = 2000;
            l.loopback_queue_packets = 4;
            l.loopback_queue_bytes = 6000;
            l.tx_queue_packets = 8;
            l.tx_queue_bytes = 8000;
            l.reasm_max_datagrams = 2;
        }
        let lim = c.limits.clone();
        let mut h = H {
            stack: Stack::new(c),
            knobs,
            now: Instant::from_secs(1),
            out: vec![0u8; 1514],
            udp: [Slot::Empty; SLOTS],
            raw: [Slot::Empty; SLOTS],
            udp_carried: HashMap::new(),
            raw_carried: Default::default(),
            udp_sent: HashMap::new(),
            frag_taint: false,
            raw_udp_taint: false,
            hdrincl_loopback_src: false,
            loopback_on_link: 0,
            udp_q: [0; SLOTS],
            udp_drops: [0; SLOTS],
            raw_q: [0; SLOTS],
            seq: 0,
            lim,
            tally: [0; 8],
        };
        if cfg & 0x10 != 0 {
            let f = arp_reply();
            h.stack.handle_frame(h.now, &f);
        }
        h
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Note what one IPv4 packet toward us may deliver.
    fn carry_ip(&mut self, p: &[u8]) {
        let Some(ip) = parse_ip(p) else { return };
        if ip.fragment {
            self.frag_taint = true;
            return;
        }
        self.carry(ip.proto, ip.src, ip.dst, ip.payload);
    }

    /// Note a whole datagram of `proto` from `src` to `dst`.
    fn carry(&mut self, proto: u8, src: Ipv4Addr, _dst: Ipv4Addr, payload: &[u8]) {
        for (i, s) in self.raw.iter().enumerate() {
            if let Slot::Open(r) = s {
                if self.stack.raw_protocol(*r) == Some(proto) {
                    *self.raw_carried[i]
                        .entry((src, payload.to_vec()))
                        .or_default() += 1;
                }
            }
        }
        if proto == 17 {
            if let Some((sport, dport, data)) = parse_udp(payload) {
                let k = (dport, SocketAddrV4::new(src, sport), data.to_vec());
                *self.udp_carried.entry(k).or_default() += 1;
            }
        }
    }

    fn carry_frame(&mut self, f: &[u8]) {
        if f.len() >= 14 && f[12..14] == [8, 0] {
            self.carry_ip(&f[14..]);
        }
    }

    fn deliver(&mut self, frame: &[u8]) {
        self.carry_frame(frame);
        deliver(&mut self.stack, self.knobs, self.now, frame);
    }

    /// Pull every ready frame and check what leaves on the link.
    fn drain(&mut self) {
        for _ in 0..512 {
            let Some(n) = transmit(&mut self.stack, self.knobs, self.now, &mut self.out) else {
                break;
            };
            let f = self.out[..n].to_vec();
            self.check_egress(&f);
        }
    }

    fn check_egress(&mut self, f: &[u8]) {
        assert!(f.len() >= 14, "runt frame on the link");
        if f[12..14] != [8, 0] {
            return;
        }
        let ip = parse_ip(&f[14..]).expect("the stack emitted a malformed IPv4 packet");
        assert!(!ip.dst.is_loopback(), "127/8 destination on the link");
        if ip.src.is_loopback() {
            assert!(
                self.hdrincl_loopback_src,
                "127/8 source on the link without IP_HDRINCL"
            );
            self.loopback_on_link += 1;
        }
        let hl = usize::from(f[14] & 15) * 4;
        assert_eq!(
            checksum::checksum(&f[14..14 + hl]),
            0,
            "bad IPv4 header checksum on the link"
        );
        if ip.proto != 17 || ip.fragment || self.raw_udp_taint {
            return;
        }
        let (sport, dport, data) = parse_udp(ip.payload).expect("malformed UDP on the link");
        let ph = checksum::pseudo_header(ip.src, ip.dst, IpProtocol::Udp, ip.payload.len() as u16);
        assert_eq!(
            checksum::fold(checksum::sum(ip.payload, ph)),
            0xffff,
            "bad UDP checksum on the link"
        );
        let k = (sport, SocketAddrV4::new(ip.dst, dport), data.to_vec());
        assert!(
            take(&mut self.udp_sent, &k),
            "UDP datagram on the link that no socket sent: {k:?}"
        );
    }

    fn udp_open(&self, slot: usize) -> Option<UdpHandle> {
        match self.udp[slot] {
            Slot::Open(h) => Some(h),
            _ => None,
        }
    }

    fn udp_handle(&self, slot: usize) -> Option<UdpHandle> {
        match self.udp[slot] {
            Slot::Open(h) | Slot::Closed(h) => Some(h),
            Slot::Empty => None,
        }
    }

    fn raw_handle(&self, slot: usize) -> Option<RawHandle> {
        match self.raw[slot] {
            Slot::Open(h) | Slot::Closed(h) => Some(h),
            Slot::Empty => None,
        }
    }

    fn udp_close(&mut self, slot: usize) {
        if let Slot::Open(h) = self.udp[slot] {
            assert!(self.stack.udp_close(h), "close of an open socket failed");
            assert!(!self.stack.udp_close(h), "second close succeeded");
            self.udp[slot] = Slot::Closed(h);
            self.udp_q[slot] = 0;
            self.udp_drops[slot] = 0;
        }
    }

    fn raw_close(&mut self, slot: usize) {
        if let Slot::Open(h) = self.raw[slot] {
            assert!(
                self.stack.raw_icmp_close(h),
                "close of an open raw socket failed"
            );
            self.raw[slot] = Slot::Closed(h);
            self.raw_q[slot] = 0;
            self.raw_carried[slot].clear();
        }
    }

    /// The source the stack should pick (`Stack::source_for`), or the error.
    fn source_for(&self, bound: Ipv4Addr, dst: Ipv4Addr) -> Result<Ipv4Addr, SendError> {
        if !bound.is_unspecified() {
            if bound.is_loopback() && !is_local(dst) {
                return Err(SendError::BadDestination);
            }
            return Ok(bound);
        }
        Ok(if dst.is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            OUR_IP
        })
    }

    /// Check one UDP datagram a socket returned: full payload by peeking.
    fn check_udp_recv(&mut self, slot: usize, h: UdpHandle, buf_len: usize, peek: bool) {
        let next = self.stack.udp_next_len(h);
        let mut full = vec![0u8; 65536];
        let whole = self.stack.udp_recv_msg(h, &mut full, true);
        let mut small = vec![0u8; buf_len];
        let r = self.stack.udp_recv_msg(h, &mut small, peek);
        match (whole, r) {
            (Err(RecvError::WouldBlock), Err(RecvError::WouldBlock)) => {
                assert_eq!(next, None);
                assert_eq!(
                    self.udp_q[slot], 0,
                    "queue empty but shadow holds datagrams"
                );
            }
            (Ok(w), Ok(m)) => {
                assert_eq!(next, Some(w.len), "udp_next_len disagrees with recv");
                assert_eq!((w.len, w.from), (m.len, m.from), "peek and recv disagree");
                assert_eq!(w.copied, w.len);
                assert_eq!(m.copied, m.len.min(buf_len), "truncation");
                assert_eq!(
                    small[..m.copied],
                    full[..m.copied],
                    "truncated copy differs"
                );
                if !peek {
                    let k = (h.port(), w.from, full[..w.len].to_vec());
                    let ok = take(&mut self.udp_carried, &k);
                    assert!(
                        ok || self.frag_taint,
                        "UDP socket returned a datagram nothing carried: {k:?}"
                    );
                    self.tally[0] += u32::from(ok);
                    assert!(self.udp_q[slot] > 0);
                    self.udp_q[slot] -= 1;
                }
            }
            (a, b) => panic!("peek {a:?} and recv {b:?} disagree"),
        }
        assert_eq!(self.stack.udp_queued(h), Some(self.udp_q[slot]));
    }

    fn check_raw_recv(
        &mut self,
        slot: usize,
        h: RawHandle,
        buf_len: usize,
        peek: bool,
    ) -> Option<usize> {
        let proto = self
            .stack
            .raw_protocol(h)
            .expect("open raw socket has a protocol");
        let mut full = vec![0u8; 65600];
        let whole = self.stack.raw_recv_msg(h, &mut full, true);
        let mut small = vec![0u8; buf_len];
        let r = self.stack.raw_recv_msg(h, &mut small, peek);
        let len = match (whole, r) {
            (Err(RecvError::WouldBlock), Err(RecvError::WouldBlock)) => {
                assert_eq!(
                    self.raw_q[slot], 0,
                    "raw queue empty but shadow holds packets"
                );
                None
            }
            (Ok(w), Ok(m)) => {
                assert_eq!(
                    (w.len, w.from),
                    (m.len, m.from),
                    "raw peek and recv disagree"
                );
                assert_eq!(m.copied, m.len.min(buf_len));
                assert_eq!(small[..m.copied], full[..m.copied]);
                let p = &full[..w.len];
                let ip = parse_ip(p).expect("raw socket returned a malformed IPv4 packet");
                assert_eq!(
                    usize::from(u16::from_be_bytes([p[2], p[3]])),
                    w.len,
                    "raw total length"
                );
                assert_eq!(ip.proto, proto, "raw socket got another protocol");
                assert_eq!(ip.src, w.from, "raw source");
                assert!(!ip.fragment, "raw socket got a fragment");
                let hl = usize::from(p[0] & 15) * 4;
                assert_eq!(checksum::checksum(&p[..hl]), 0, "raw header checksum");
                if !peek {
                    let k = (w.from, ip.payload.to_vec());
                    let ok = take(&mut self.raw_carried[slot], &k);
                    let stack_made = is_local(w.from) && (proto == 1 || proto == 6);
                    assert!(
                        ok || self.frag_taint || stack_made,
                        "raw socket returned a packet nothing carried: proto {proto} {k:?}"
                    );
                    self.tally[1] += u32::from(ok);
                    assert!(self.raw_q[slot] > 0);
                    self.raw_q[slot] -= 1;
                }
                Some(w.len)
            }
            (a, b) => panic!("raw peek {a:?} and recv {b:?} disagree"),
        };
        assert_eq!(self.stack.raw_queued(h), Some(self.raw_q[slot]));
        len
    }

    /// Queue caps and counters against the shadow, after any op that may
    /// have delivered (ingress, sends to ourselves, timers).
    fn check(&mut self, before: &(u64, u64, u64)) {
        let s = self.stack.stats();
        let (rx, full, raw_rx) = (s.udp.rx_datagrams, s.udp.rx_queue_full, s.raw.rx_delivered);
        let rows = self.stack.udp_snapshot();
        let (mut added, mut dropped, mut raw_added) = (0u64, 0u64, 0u64);
        for i in 0..SLOTS {
            if let Slot::Open(h) = self.udp[i] {
                let q = self.stack.udp_queued(h).expect("open socket");
                assert!(
                    q <= self.lim.udp_recv_queue_datagrams,
                    "UDP queue over its datagram cap"
                );
                assert!(q >= self.udp_q[i], "UDP queue shrank without recv");
                let bytes = rows
                    .iter()
                    .find(|r| r.local.port() == h.port())
                    .expect("open socket in the snapshot")
                    .recv_q;
                assert!(
                    bytes <= self.lim.udp_recv_queue_bytes,
                    "UDP queue over its byte cap"
                );
                if q > self.udp_q[i] {
                    let cap = self.stack.udp_recv_buffer(h).expect("open socket");
                    assert!(bytes <= cap, "UDP queue over SO_RCVBUF after an arrival");
                }
                added += (q - self.udp_q[i]) as u64;
                self.udp_q[i] = q;
                let d = self.stack.udp_drops(h).expect("open socket");
                assert!(d >= self.udp_drops[i]);
                dropped += d - self.udp_drops[i];
                self.udp_drops[i] = d;
            }
            if let Slot::Open(h) = self.raw[i] {
                let q = self.stack.raw_queued(h).expect("open raw socket");
                assert!(
                    q <= self.lim.raw_recv_queue_packets,
                    "raw queue over its packet cap"
                );
                assert!(q >= self.raw_q[i], "raw queue shrank without recv");
                raw_added += (q - self.raw_q[i]) as u64;
                self.raw_q[i] = q;
            }
        }
        assert_eq!(rx - before.0, added, "udp.rx_datagrams vs datagrams queued");
        assert_eq!(
            full - before.1,
            dropped,
            "udp.rx_queue_full vs socket drops"
        );
        assert_eq!(
            raw_rx - before.2,
            raw_added,
            "raw.rx_delivered vs packets queued"
        );
        assert_eq!(
            rows.len(),
            self.udp
                .iter()
                .filter(|s| matches!(s, Slot::Open(_)))
                .count()
        );
    }

    fn counters(&self) -> (u64, u64, u64) {
        let s = self.stack.stats();
        (s.udp.rx_datagrams, s.udp.rx_queue_full, s.raw.rx_delivered)
    }

    fn op(&mut self, op: Op) {
        let before = self.counters();
        match op {
            Op::Bind {
                slot,
                addr: a,
                port: p,
            } => {
                let slot = usize::from(slot) % SLOTS;
                self.udp_close(slot);
                let (a, p) = (addr(a), port(p));
                let in_use = self
                    .udp
                    .iter()
                    .any(|s| matches!(s, Slot::Open(h) if h.port() == p));
                let r = self.stack.udp_bind(a, p);
                if !(a == OUR_IP || a.is_unspecified() || a.is_loopback()) {
                    assert_eq!(r, Err(BindError::AddrNotAvailable));
                } else if p != 0 && in_use {
                    assert_eq!(r, Err(BindError::AddrInUse));
                } else {
                    let h = r.expect("bind of a free port");
                    if p == 0 {
                        assert!((32768..=60999).contains(&h.port()), "ephemeral port range");
                        assert!(!self
                            .udp
                            .iter()
                            .any(|s| matches!(s, Slot::Open(o) if o.port() == h.port())));
                    } else {
                        assert_eq!(h.port(), p);
                    }
                    assert_eq!(
                        self.stack.udp_local_addr(h),
                        Some(SocketAddrV4::new(a, h.port()))
                    );
                    self.udp[slot] = Slot::Open(h);
                    self.udp_q[slot] = 0;
                    self.udp_drops[slot] = 0;
                }
            }
            Op::Connect { slot, peer } => {
                let slot = usize::from(slot) % SLOTS;
                if let Some(h) = self.udp_handle(slot) {
                    let peer = peer.map(|(a, p)| SocketAddrV4::new(addr(a), port(p)));
                    let open = self.udp_open(slot).is_some();
                    assert_eq!(
                        self.stack.udp_connect(h, peer),
                        open,
                        "connect on a stale handle"
                    );
                    if open {
                        assert_eq!(self.stack.udp_peer(h), peer);
                    }
                }
            }
            Op::SetRcvbuf { slot, bytes } => {
                let slot = usize::from(slot) % SLOTS;
                if let Some(h) = self.udp_handle(slot) {
                    let open = self.udp_open(slot).is_some();
                    let bytes = usize::from(bytes) * 4;
                    assert_eq!(self.stack.udp_set_recv_buffer(h, bytes), open);
                    if open {
                        let cap = self.stack.udp_recv_buffer(h).expect("open");
                        assert_eq!(cap, bytes.min(self.lim.udp_recv_queue_bytes));
                    }
                }
            }
            Op::SendTo {
                slot,
                dst,
                port: p,
                len,
                fill,
            } => {
                let slot = usize::from(slot) % SLOTS;
                let Some(h) = self.udp_handle(slot) else {
                    return;
                };
                let dst = SocketAddrV4::new(addr(dst), port(p));
                let seq = self.next_seq();
                let data = pattern(seq, usize::from(len) % 3000, fill);
                let tx = self.stack.stats().udp.tx_datagrams;
                let bound = self.stack.udp_local_addr(h).map(|a| *a.ip());
                let r = self.stack.udp_send_to(h, dst, &data);
                assert_eq!(
                    self.stack.stats().udp.tx_datagrams - tx,
                    u64::from(r.is_ok())
                );
                match bound {
                    None => assert_eq!(r, Err(SendError::InvalidHandle)),
                    Some(bound) => {
                        let src = self.source_for(bound, *dst.ip());
                        if dst.port() == 0 || dst.ip().is_unspecified() {
                            assert_eq!(r, Err(SendError::BadDestination));
                        } else if let Err(e) = src {
                            assert_eq!(r, Err(e), "a loopback-bound socket sent off the host");
                        } else if let (Ok(n), Ok(src)) = (r, src) {
                            assert_eq!(n, data.len());
                            let from = SocketAddrV4::new(src, h.port());
                            if is_local(*dst.ip()) {
                                let k = (dst.port(), from, data.clone());
                                *self.udp_carried.entry(k).or_default() += 1;
                                let ip = ip_packet(
                                    src,
                                    *dst.ip(),
                                    17,
                                    0,
                                    0,
                                    &udp_bytes(src, *dst.ip(), h.port(), dst.port(), &data),
                                );
                                // Raw UDP sockets see it as well.
                                if let Some(ipp) = parse_ip(&ip) {
                                    let payload = ipp.payload.to_vec();
                                    for (i, s) in self.raw.iter().enumerate() {
                                        if let Slot::Open(r) = s {
                                            if self.stack.raw_protocol(*r) == Some(17) {
                                                *self.raw_carried[i]
                                                    .entry((src, payload.clone()))
                                                    .or_default() += 1;
                                            }
                                        }
                                    }
                                }
                            } else {
                                *self.udp_sent.entry((h.port(), dst, data)).or_default() += 1;
                            }
                        }
                    }
                }
            }
            Op::Recv { slot, buf, peek } => {
                let slot = usize::from(slot) % SLOTS;
                match self.udp[slot] {
                    Slot::Open(h) => self.check_udp_recv(slot, h, usize::from(buf) % 3100, peek),
                    Slot::Closed(h) => {
                        let r = self.stack.udp_recv_msg(h, &mut [0u8; 16], peek);
                        assert_eq!(r, Err(RecvError::InvalidHandle), "stale handle received");
                        assert_eq!(
                            self.stack
                                .udp_send_to(h, SocketAddrV4::new(PEER_IP, 9), b"x"),
                            Err(SendError::InvalidHandle)
                        );
                        assert_eq!(self.stack.udp_queued(h), None);
                    }
                    Slot::Empty => {}
                }
            }
            Op::RecvAll { slot } => {
                let slot = usize::from(slot) % SLOTS;
                if let Some(h) = self.udp_open(slot) {
                    let rows = self.stack.udp_snapshot();
                    let bytes = rows
                        .iter()
                        .find(|r| r.local.port() == h.port())
                        .expect("open")
                        .recv_q;
                    let mut sum = 0;
                    for _ in 0..=self.lim.udp_recv_queue_datagrams {
                        let Some(n) = self.stack.udp_next_len(h) else {
                            break;
                        };
                        sum += n;
                        self.check_udp_recv(slot, h, 65536, false);
                    }
                    assert_eq!(sum, bytes, "snapshot recv_q vs the queued datagrams");
                    assert_eq!(self.stack.udp_queued(h), Some(0));
                }
            }
            Op::TakeError { slot } => {
                let slot = usize::from(slot) % SLOTS;
                if let Some(h) = self.udp_handle(slot) {
                    let had = self.stack.udp_has_error(h);
                    let e = self.stack.udp_take_error(h);
                    assert_eq!(had, e.is_some());
                    assert!(!self.stack.udp_has_error(h));
                    if e.is_some() && self.stack.udp_peer(h).is_none() {
                        // An error stored on an unconnected socket.
                        self.tally[2] += 1;
                    }
                }
            }
            Op::Close { slot } => self.udp_close(usize::from(slot) % SLOTS),
            Op::RawOpen { slot, proto } => {
                let slot = usize::from(slot) % SLOTS;
                self.raw_close(slot);
                let open = self
                    .raw
                    .iter()
                    .filter(|s| matches!(s, Slot::Open(_)))
                    .count();
                let proto = [1, 17, 6, 253, 0, 255][usize::from(proto) % 6];
                let r = self.stack.raw_open(proto);
                if open >= self.lim.raw_max_sockets {
                    assert!(r.is_err(), "raw socket beyond raw_max_sockets");
                } else {
                    let h = r.expect("raw open under the cap");
                    assert_eq!(self.stack.raw_protocol(h), Some(proto));
                    self.raw[slot] = Slot::Open(h);
                    self.raw_q[slot] = 0;
                    self.raw_carried[slot].clear();
                }
            }
            Op::RawFilter { slot, local, peer } => {
                let slot = usize::from(slot) % SLOTS;
                if let Some(h) = self.raw_handle(slot) {
                    let (local, peer) = (local.map(addr), peer.map(addr));
                    let open = matches!(self.raw[slot], Slot::Open(_));
                    let ok = self.stack.raw_set_filter(h, local, peer);
                    assert_eq!(ok, open && local.is_none_or(is_local));
                    if ok {
                        assert_eq!(self.stack.raw_filter(h), Some((local, peer)));
                    }
                }
            }
            Op::RawSend { slot, dst, payload } => {
                let slot = usize::from(slot) % SLOTS;
                let Some(h) = self.raw_handle(slot) else {
                    return;
                };
                let dst = addr(dst);
                let proto = self.stack.raw_protocol(h);
                let bound = self.stack.raw_filter(h).and_then(|f| f.0);
                if proto == Some(17) {
                    self.raw_udp_taint = true;
                }
                let tx = self.stack.stats().raw.tx_packets;
                let r = self.stack.raw_send(h, dst, &payload);
                assert_eq!(self.stack.stats().raw.tx_packets - tx, u64::from(r.is_ok()));
                match proto {
                    None => assert_eq!(r, Err(SendError::InvalidHandle)),
                    Some(proto) => {
                        let src = self.source_for(bound.unwrap_or(Ipv4Addr::UNSPECIFIED), dst);
                        if let (Err(e), false) = (src, dst.is_unspecified()) {
                            assert_eq!(r, Err(e), "a loopback-bound raw socket sent off the host");
                        }
                        if let (Ok(_), Ok(src)) = (r, src) {
                            if is_local(dst) {
                                self.carry(proto, src, dst, &payload);
                            }
                        }
                    }
                }
            }
            Op::RawHdrincl {
                slot,
                src,
                dst,
                proto,
                ident,
                ihl,
                frag,
                ttl,
                payload,
                raw,
            } => {
                let slot = usize::from(slot) % SLOTS;
                let Some(h) = self.raw_handle(slot) else {
                    return;
                };
                let mut p = match raw {
                    Some(r) => r,
                    None => {
                        let ihl = 5 + ihl % 11;
                        let mut p = vec![0x40 | ihl, 0, 0, 0];
                        p.extend_from_slice(&ident.to_be_bytes());
                        p.extend_from_slice(&(frag & 0x7fff).to_be_bytes());
                        p.extend_from_slice(&[ttl, proto, 0, 0]);
                        p.extend_from_slice(&addr(src).octets());
                        p.extend_from_slice(&addr(dst).octets());
                        p.resize(usize::from(ihl) * 4, 1); // NOP options
                        p.extend_from_slice(&payload);
                        p
                    }
                };
                p.truncate(70000);
                let tx = self.stack.stats().raw.tx_packets;
                // What the stack does to the header (`raw_send_hdrincl`).
                let mut q = p.clone();
                let r = self.stack.raw_send_hdrincl(h, &p);
                assert_eq!(self.stack.stats().raw.tx_packets - tx, u64::from(r.is_ok()));
                if r.is_err() {
                    return;
                }
                assert!(
                    matches!(self.raw[slot], Slot::Open(_)),
                    "hdrincl on a stale handle"
                );
                let hl = usize::from(q[0] & 15) * 4;
                let d = Ipv4Addr::new(q[16], q[17], q[18], q[19]);
                if q[12..16] == [0, 0, 0, 0] {
                    let s = if d.is_loopback() {
                        Ipv4Addr::LOCALHOST
                    } else {
                        OUR_IP
                    };
                    q[12..16].copy_from_slice(&s.octets());
                }
                let s = Ipv4Addr::new(q[12], q[13], q[14], q[15]);
                if s.is_loopback() && !is_local(d) {
                    self.hdrincl_loopback_src = true;
                }
                if q[6..8] != [0, 0] && u16::from_be_bytes([q[6], q[7]]) & 0x3fff != 0 {
                    if is_local(d) {
                        self.frag_taint = true;
                    }
                } else if is_local(d) {
                    let proto = q[9];
                    let payload = q[hl..].to_vec();
                    self.carry(proto, s, d, &payload);
                }
                if q[9] == 17 {
                    self.raw_udp_taint = true;
                }
            }
            Op::RawIcmpSend { slot, dst, msg } => {
                let slot = usize::from(slot) % SLOTS;
                let Some(h) = self.raw_handle(slot) else {
                    return;
                };
                let dst = addr(dst);
                let r = self.stack.raw_icmp_send(h, dst, &msg);
                if r.is_ok() && is_local(dst) && msg.len() >= 8 {
                    let mut m = msg.clone();
                    m[2..4].copy_from_slice(&[0, 0]);
                    let c = checksum::checksum(&m);
                    m[2..4].copy_from_slice(&c.to_be_bytes());
                    let src = if dst.is_loopback() {
                        Ipv4Addr::LOCALHOST
                    } else {
                        OUR_IP
                    };
                    // raw_icmp_send builds the header with our address.
                    self.carry(1, src, dst, &m);
                    self.carry(1, OUR_IP, dst, &m);
                }
            }
            Op::RawRecv { slot, buf, peek } => {
                let slot = usize::from(slot) % SLOTS;
                match self.raw[slot] {
                    Slot::Open(h) => {
                        self.check_raw_recv(slot, h, usize::from(buf) % 3100, peek);
                    }
                    Slot::Closed(h) => {
                        let r = self.stack.raw_recv_msg(h, &mut [0u8; 16], peek);
                        assert_eq!(
                            r,
                            Err(RecvError::InvalidHandle),
                            "stale raw handle received"
                        );
                        assert_eq!(
                            self.stack.raw_send(h, PEER_IP, b"x"),
                            Err(SendError::InvalidHandle)
                        );
                    }
                    Slot::Empty => {}
                }
            }
            Op::RawRecvAll { slot } => {
                let slot = usize::from(slot) % SLOTS;
                if let Slot::Open(h) = self.raw[slot] {
                    let (mut n, mut bytes) = (0, 0);
                    while let Some(len) = self.check_raw_recv(slot, h, 65600, false) {
                        n += 1;
                        bytes += len;
                        assert!(
                            n <= self.lim.raw_recv_queue_packets,
                            "raw queue over its packet cap"
                        );
                    }
                    assert!(
                        bytes <= self.lim.raw_recv_queue_bytes,
                        "raw queue over its byte cap"
                    );
                }
            }
            Op::RawClose { slot } => {
                let slot = usize::from(slot) % SLOTS;
                if let Some(h) = self.raw_handle(slot) {
                    let open = matches!(self.raw[slot], Slot::Open(_));
                    self.raw_close(slot);
                    if !open {
                        assert!(!self.stack.raw_icmp_close(h), "stale raw handle closed");
                    }
                }
            }
            Op::Udp {
                src,
                sport,
                dst,
                dport,
                len,
                fill,
                bad_csum,
                bcast_mac,
            } => {
                let (s, d) = (addr(src), addr(dst));
                let seq = self.next_seq();
                let data = pattern(seq, usize::from(len) % 1600, fill);
                let mut u = udp_bytes(s, d, port(sport), port(dport), &data);
                if bad_csum {
                    u[6] ^= 0x55;
                }
                let ip = ip_packet(s, d, 17, seq as u16, 0, &u);
                let mac = if bcast_mac {
                    MacAddr::BROADCAST
                } else {
                    OUR_MAC
                };
                let f = ethernet(mac, EtherType::Ipv4, &ip);
                self.deliver(&f);
                self.drain();
            }
            Op::UdpFrag {
                src,
                sport,
                dst,
                dport,
                len,
                fill,
                split,
                reverse,
                ident,
            } => {
                let (s, d) = (addr(src), addr(dst));
                let seq = self.next_seq();
                let data = pattern(seq, usize::from(len) % 4000, fill);
                let u = udp_bytes(s, d, port(sport), port(dport), &data);
                // The first piece: a multiple of 8 bytes, at least 8, short of the end.
                let last = (u.len() - 1) & !7;
                if last < 8 {
                    return;
                }
                let cut = (usize::from(split) * 8).clamp(8, last);
                let first = ip_packet(s, d, 17, ident, 0x2000, &u[..cut]);
                let second = ip_packet(s, d, 17, ident, (cut / 8) as u16, &u[cut..]);
                let mut frames = [first, second];
                if reverse {
                    frames.reverse();
                }
                // The whole datagram may complete (only on the second piece).
                self.carry(17, s, d, &u);
                for ip in frames {
                    let f = ethernet(OUR_MAC, EtherType::Ipv4, &ip);
                    deliver(&mut self.stack, self.knobs, self.now, &f);
                    self.drain();
                }
            }
            Op::Ip {
                src,
                dst,
                proto,
                payload,
                fix_l4,
            } => {
                let proto = [1, 17, 6, 253, 0, 255, 2, 47][usize::from(proto) % 8];
                let (s, d) = (addr(src), addr(dst));
                let seq = self.next_seq();
                let mut payload = payload;
                if fix_l4 && proto == 1 && payload.len() >= 4 {
                    payload[2..4].copy_from_slice(&[0, 0]);
                    let c = checksum::checksum(&payload);
                    payload[2..4].copy_from_slice(&c.to_be_bytes());
                }
                let ip = ip_packet(s, d, proto, seq as u16, 0, &payload);
                let f = ethernet(OUR_MAC, EtherType::Ipv4, &ip);
                self.deliver(&f);
                self.drain();
            }
            Op::IcmpError {
                kind,
                code,
                qsrc,
                sport,
                qdst,
                dport,
            } => {
                let qs = addr(qsrc);
                let qd = addr(qdst);
                let inner = udp_bytes(qs, qd, port(sport), port(dport), b"quoted!!");
                let quoted = ip_packet(qs, qd, 17, 1, 0, &inner);
                let (t, c) = match kind % 3 {
                    0 => (3, code % 16),
                    1 => (3, 4),
                    _ => (11, 0),
                };
                let mut m = vec![t, c, 0, 0, 0, 0, 0x05, 0xdc];
                m.extend_from_slice(&quoted[..28.min(quoted.len())]);
                let cs = checksum::checksum(&m);
                m[2..4].copy_from_slice(&cs.to_be_bytes());
                let ip = ip_packet(PEER_IP, OUR_IP, 1, 9, 0, &m);
                let f = ethernet(OUR_MAC, EtherType::Ipv4, &ip);
                let errs = self.stack.stats().udp.rx_icmp_errors;
                self.deliver(&f);
                if self.stack.stats().udp.rx_icmp_errors > errs {
                    let p = port(sport);
                    let h = self.udp.iter().find_map(|s| match s {
                        Slot::Open(h) if h.port() == p => Some(*h),
                        _ => None,
                    });
                    let h = h.expect("ICMP error counted for a port without a socket");
                    assert!(self.stack.udp_has_error(h), "counted ICMP error not stored");
                    if self.stack.udp_peer(h).is_none() {
                        self.tally[3] += 1;
                    }
                }
                self.drain();
            }
            Op::Frame { wrap, bytes } => {
                let f = if wrap {
                    ethernet(OUR_MAC, EtherType::Ipv4, &bytes)
                } else {
                    bytes
                };
                self.deliver(&f);
                self.drain();
            }
            Op::Advance { ms } => {
                self.now += Duration::from_millis(u64::from(ms) * 4);
                if self.stack.poll_at().is_some_and(|t| t <= self.now) {
                    self.stack.handle_timeout(self.now);
                }
                self.drain();
            }
            Op::Drain => self.drain(),
        }
        // Sends to ourselves come back in through `poll_transmit`.
        self.drain();
        self.check(&before);
    }
}

fuzz_target!(|input: Input| {
    let mut h = H::new(input.cfg);
    for op in input.ops.into_iter().take(256) {
        h.op(op);
    }
    // Everything still queued must have been carried too.
    for i in 0..SLOTS {
        if let Slot::Open(s) = h.udp[i] {
            while h.stack.udp_next_len(s).is_some() {
                h.check_udp_recv(i, s, 65536, false);
            }
        }
        if let Slot::Open(r) = h.raw[i] {
            while h.check_raw_recv(i, r, 65600, false).is_some() {}
        }
    }
    let t = h.tally;
    for (i, n) in t.iter().enumerate() {
        if *n > 0 {
            std::hint::black_box(i);
        }
    }
    if h.loopback_on_link > 0 {
        std::hint::black_box(h.loopback_on_link);
    }
    if std::env::var_os("FUZZ_TALLY").is_some() {
        eprintln!(
            "TALLY udp_checked={} raw_checked={} unconnected_err_taken={} unconnected_err_stored={} loopback_src_on_link={} frag_taint={}",
            t[0], t[1], t[2], t[3], h.loopback_on_link, h.frag_taint
        );
    }
});

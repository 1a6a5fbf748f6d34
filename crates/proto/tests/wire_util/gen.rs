//! proptest strategies for valid Reprs, shared by the round-trip and etherparse tests.

use proptest::prelude::*;
use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::tcp::MAX_SACK_BLOCKS;
use sockstack_proto::wire::*;

pub fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}
pub fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

pub fn ethernet() -> impl Strategy<Value = EthernetRepr> {
    (mac(), mac(), any::<u16>()).prop_map(|(src, dst, t)| EthernetRepr {
        src,
        dst,
        ethertype: EtherType::from(t),
    })
}

pub fn arp() -> impl Strategy<Value = ArpRepr> {
    (any::<bool>(), mac(), addr(), mac(), addr()).prop_map(|(req, sm, si, tm, ti)| ArpRepr {
        operation: if req {
            ArpOperation::Request
        } else {
            ArpOperation::Reply
        },
        sender_mac: sm,
        sender_ip: si,
        target_mac: tm,
        target_ip: ti,
    })
}

pub fn ipv4() -> impl Strategy<Value = Ipv4Repr> {
    (
        (addr(), addr(), any::<u8>(), 0usize..2000),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
        ),
        0usize..8192,
        proptest::collection::vec(any::<u8>(), 0..=10)
            .prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w.len() * 4)),
    )
        .prop_map(
            |((src, dst, proto, payload_len), (ttl, tos, ident, df, mf), off, opts)| {
                let mut r = Ipv4Repr::new(src, dst, IpProtocol::from(proto), payload_len);
                r.ttl = ttl;
                r.tos = tos;
                r.ident = ident;
                r.dont_frag = df;
                r.more_frags = mf;
                r.frag_offset = off * 8;
                r.options[..opts.len()].copy_from_slice(&opts);
                r.options_len = opts.len();
                r
            },
        )
}

#[derive(Debug, Clone)]
pub enum IcmpKind {
    Request,
    Reply,
    Unreach(u8, u16),
    Exceeded(u8),
}

pub fn icmp_parts() -> impl Strategy<Value = (IcmpKind, u16, u16, Vec<u8>)> {
    (
        prop_oneof![
            Just(IcmpKind::Request),
            Just(IcmpKind::Reply),
            (any::<u8>(), any::<u16>()).prop_map(|(c, m)| IcmpKind::Unreach(c, m)),
            any::<u8>().prop_map(IcmpKind::Exceeded),
        ],
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
}

pub fn icmp_repr<'a>(k: &IcmpKind, ident: u16, seq_no: u16, data: &'a [u8]) -> Icmpv4Repr<'a> {
    match *k {
        IcmpKind::Request => Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        },
        IcmpKind::Reply => Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        },
        IcmpKind::Unreach(code, mtu) => {
            let reason = DstUnreachable::from(code);
            Icmpv4Repr::DstUnreachable {
                reason,
                // The MTU field exists only for code 4 (RFC 1191 4).
                next_hop_mtu: if reason == DstUnreachable::FragRequired {
                    mtu
                } else {
                    0
                },
                quoted: data,
            }
        }
        IcmpKind::Exceeded(code) => Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::from(code),
            quoted: data,
        },
    }
}

/// Everything a TcpRepr holds except the payload.
#[derive(Debug, Clone)]
pub struct TcpFields {
    pub ports: (u16, u16),
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack_perm: bool,
    pub ts: Option<(u32, u32)>,
    pub sacks: Vec<(u32, u32)>,
}

pub fn tcp_fields() -> impl Strategy<Value = TcpFields> {
    (
        (any::<(u16, u16)>(), any::<u32>(), any::<u32>(), any::<u8>()),
        (any::<u16>(), any::<u16>()),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
            proptest::collection::vec(any::<(u32, u32)>(), 0..=MAX_SACK_BLOCKS),
        ),
    )
        .prop_map(
            |((ports, seq, ack, flags), (window, urgent), (mss, ws, sack_perm, ts, sacks))| {
                TcpFields {
                    ports,
                    seq,
                    ack,
                    flags,
                    window,
                    urgent,
                    mss,
                    ws,
                    sack_perm,
                    ts,
                    sacks,
                }
            },
        )
}

pub fn tcp_repr<'a>(f: &TcpFields, payload: &'a [u8]) -> TcpRepr<'a> {
    let mut r = TcpRepr::new(
        f.ports.0,
        f.ports.1,
        SeqNum(f.seq),
        SeqNum(f.ack),
        TcpFlags(f.flags),
        f.window,
    );
    r.urgent = f.urgent;
    r.mss = f.mss;
    r.window_scale = f.ws;
    r.sack_permitted = f.sack_perm;
    r.timestamp = f.ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr });
    for (slot, &(l, rr)) in r.sack_blocks.iter_mut().zip(&f.sacks) {
        *slot = (SeqNum(l), SeqNum(rr));
    }
    r.sack_len = f.sacks.len();
    r.payload = payload;
    r
}

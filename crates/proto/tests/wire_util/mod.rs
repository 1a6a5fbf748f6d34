//! Shared helpers for the wire tests: fixture loading and a full-frame decoder.
#![allow(dead_code)] // each test crate uses a different subset

pub mod gen;

use sockstack_proto::wire::*;
use std::collections::HashMap;
use std::sync::OnceLock;

pub const FRAMES: &str = include_str!("../fixtures/frames.hex");
pub const TSHARK: &str = include_str!("../fixtures/tshark.tsv");

/// One captured frame: its number in the capture, tshark's summary, the bytes.
pub struct Frame {
    pub no: usize,
    pub summary: String,
    pub bytes: Vec<u8>,
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// All fixture frames, parsed once.
pub fn frames() -> &'static [Frame] {
    static FRAMES_ONCE: OnceLock<Vec<Frame>> = OnceLock::new();
    FRAMES_ONCE.get_or_init(load_frames)
}

fn load_frames() -> Vec<Frame> {
    let mut out = Vec::new();
    let mut summary = String::new();
    for line in FRAMES.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            summary = c.to_string();
        } else if !line.trim().is_empty() {
            let (no, hex) = line.split_once(' ').unwrap();
            out.push(Frame {
                no: no.parse().unwrap(),
                summary: std::mem::take(&mut summary),
                bytes: unhex(hex.trim()),
            });
        }
    }
    out
}

pub fn frame(no: usize) -> &'static [u8] {
    &frames().iter().find(|f| f.no == no).unwrap().bytes
}

/// tshark's decode of one frame: field name -> occurrences (outer first).
pub struct Row(pub HashMap<String, Vec<String>>);

impl Row {
    /// The first (outermost) occurrence of a field, if tshark showed it.
    pub fn first(&self, field: &str) -> Option<&str> {
        self.0
            .get(field)
            .and_then(|v| v.first())
            .map(|s| s.as_str())
    }
    pub fn nth(&self, field: &str, n: usize) -> Option<&str> {
        self.0.get(field).and_then(|v| v.get(n)).map(|s| s.as_str())
    }
    pub fn num(&self, field: &str) -> Option<u64> {
        self.first(field).map(|v| {
            if let Some(h) = v.strip_prefix("0x") {
                u64::from_str_radix(h, 16).unwrap()
            } else {
                v.parse().unwrap()
            }
        })
    }
}

pub fn tshark_rows() -> HashMap<usize, Row> {
    let mut lines = TSHARK.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut out = HashMap::new();
    for line in lines {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in header.iter().zip(line.split('\t')) {
            if !v.is_empty() {
                m.insert(k.to_string(), v.split(';').map(str::to_string).collect());
            }
        }
        let no = m["frame.number"][0].parse().unwrap();
        out.insert(no, Row(m));
    }
    out
}

/// What a frame carries above IPv4.
pub enum Upper<'a> {
    Arp(ArpRepr),
    Icmp(Icmpv4Repr<'a>),
    Udp(UdpRepr, &'a [u8]),
    Tcp(TcpRepr<'a>),
    /// A fragment: transport headers are not interpreted.
    Fragment(&'a [u8]),
}

pub struct Decoded<'a> {
    pub eth: EthernetRepr,
    pub ip: Option<Ipv4Repr>,
    pub upper: Upper<'a>,
}

/// Decode a whole frame the way a host would, checking every checksum.
pub fn decode(frame: &[u8]) -> Result<Decoded<'_>, WireError> {
    let eth_frame = EthernetFrame::parse(frame)?;
    let eth = EthernetRepr::parse(&eth_frame);
    let payload = &frame[ethernet::HEADER_LEN..];
    match eth.ethertype {
        EtherType::Arp => {
            let arp = ArpPacket::parse(payload)?;
            Ok(Decoded {
                eth,
                ip: None,
                upper: Upper::Arp(ArpRepr::parse(&arp)),
            })
        }
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::parse(payload)?;
            if !ip.verify_checksum() {
                return Err(WireError::BadChecksum);
            }
            let repr = Ipv4Repr::parse(&ip);
            let body: &[u8] = &payload[ip.header_len()..ip.total_len()];
            let upper = if ip.is_fragment() {
                Upper::Fragment(body)
            } else {
                match repr.protocol {
                    IpProtocol::Icmp => {
                        let p = Icmpv4Packet::parse(body)?;
                        if !p.verify_checksum() {
                            return Err(WireError::BadChecksum);
                        }
                        Upper::Icmp(Icmpv4Repr::parse(&p)?)
                    }
                    IpProtocol::Udp => {
                        let p = UdpPacket::parse(body)?;
                        if !p.verify_checksum(repr.src, repr.dst) {
                            return Err(WireError::BadChecksum);
                        }
                        let payload: &[u8] = &body[8..usize::from(p.length())];
                        Upper::Udp(UdpRepr::parse(&p), payload)
                    }
                    IpProtocol::Tcp => {
                        let p = TcpPacket::parse(body)?;
                        if !p.verify_checksum(repr.src, repr.dst) {
                            return Err(WireError::BadChecksum);
                        }
                        Upper::Tcp(TcpRepr::parse(&p))
                    }
                    IpProtocol::Other(_) => return Err(WireError::Unsupported),
                }
            };
            Ok(Decoded {
                eth,
                ip: Some(repr),
                upper,
            })
        }
        EtherType::Other(_) => Err(WireError::Unsupported),
    }
}

/// Emit a decoded frame back into bytes from its Reprs.
pub fn encode(d: &Decoded<'_>) -> Vec<u8> {
    let mut out = vec![0u8; 14];
    d.eth.emit(&mut out).unwrap();
    let Some(ip) = d.ip else {
        let Upper::Arp(arp) = d.upper else {
            panic!("no IP, no ARP")
        };
        out.resize(14 + arp.buffer_len(), 0);
        arp.emit(&mut out[14..]).unwrap();
        return out;
    };
    out.resize(14 + ip.buffer_len(), 0);
    ip.emit(&mut out[14..]).unwrap();
    let body = &mut out[14 + ip.header_len()..];
    match d.upper {
        Upper::Arp(_) => panic!("ARP inside IP"),
        Upper::Icmp(icmp) => icmp.emit(body).unwrap(),
        Upper::Udp(udp, payload) => udp.emit(body, ip.src, ip.dst, payload).unwrap(),
        Upper::Tcp(tcp) => tcp.emit(body, ip.src, ip.dst).unwrap(),
        Upper::Fragment(raw) => body.copy_from_slice(raw),
    }
    out
}

//! Real frames captured from the Linux kernel on this machine (see
//! fixtures/capture.sh): parse each one, compare every field with tshark's
//! decode (fixtures/tshark.tsv), verify checksums, re-emit from the Reprs and
//! compare bytes, and check the Display lines against tcpdump's.

mod wire_util;

use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::*;
use wire_util::*;

fn check_against_tshark(f: &Frame, row: &Row) {
    let ctx = format!("frame {} ({})", f.no, f.summary);
    let d = decode(&f.bytes).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(
        d.eth.src.to_string(),
        row.first("eth.src").unwrap(),
        "{ctx}"
    );
    assert_eq!(
        d.eth.dst.to_string(),
        row.first("eth.dst").unwrap(),
        "{ctx}"
    );
    assert_eq!(
        u64::from(u16::from(d.eth.ethertype)),
        row.num("eth.type").unwrap(),
        "{ctx}"
    );
    if let Some(ip) = d.ip {
        assert_eq!(
            ip.header_len() as u64,
            row.num("ip.hdr_len").unwrap(),
            "{ctx}"
        );
        assert_eq!(ip.buffer_len() as u64, row.num("ip.len").unwrap(), "{ctx}");
        assert_eq!(u64::from(ip.ident), row.num("ip.id").unwrap(), "{ctx}");
        assert_eq!(
            u64::from(ip.dont_frag),
            row.num("ip.flags.df").unwrap(),
            "{ctx}"
        );
        assert_eq!(
            u64::from(ip.more_frags),
            row.num("ip.flags.mf").unwrap(),
            "{ctx}"
        );
        // tshark 4.0 shows the offset in 8-byte units.
        assert_eq!(
            ip.frag_offset as u64 / 8,
            row.num("ip.frag_offset").unwrap(),
            "{ctx}"
        );
        assert_eq!(u64::from(ip.ttl), row.num("ip.ttl").unwrap(), "{ctx}");
        assert_eq!(
            u64::from(u8::from(ip.protocol)),
            row.num("ip.proto").unwrap(),
            "{ctx}"
        );
        assert_eq!(ip.src.to_string(), row.first("ip.src").unwrap(), "{ctx}");
        assert_eq!(ip.dst.to_string(), row.first("ip.dst").unwrap(), "{ctx}");
    }
    match d.upper {
        Upper::Arp(arp) => {
            let op = match arp.operation {
                ArpOperation::Request => 1,
                ArpOperation::Reply => 2,
            };
            assert_eq!(op, row.num("arp.opcode").unwrap(), "{ctx}");
            assert_eq!(
                arp.sender_mac.to_string(),
                row.first("arp.src.hw_mac").unwrap()
            );
            assert_eq!(
                arp.sender_ip.to_string(),
                row.first("arp.src.proto_ipv4").unwrap()
            );
            assert_eq!(
                arp.target_mac.to_string(),
                row.first("arp.dst.hw_mac").unwrap()
            );
            assert_eq!(
                arp.target_ip.to_string(),
                row.first("arp.dst.proto_ipv4").unwrap()
            );
        }
        Upper::Icmp(icmp) => {
            let (ty, code) = match icmp {
                Icmpv4Repr::EchoRequest { ident, seq_no, .. }
                | Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                    assert_eq!(u64::from(ident), row.num("icmp.ident").unwrap(), "{ctx}");
                    assert_eq!(u64::from(seq_no), row.num("icmp.seq").unwrap(), "{ctx}");
                    let ty: u8 = if matches!(icmp, Icmpv4Repr::EchoRequest { .. }) {
                        8
                    } else {
                        0
                    };
                    (ty, 0)
                }
                Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    quoted,
                } => {
                    if reason == DstUnreachable::FragRequired {
                        assert_eq!(u64::from(next_hop_mtu), row.num("icmp.mtu").unwrap());
                    }
                    check_quote(quoted, row, &ctx);
                    (3, u8::from(reason))
                }
                Icmpv4Repr::TimeExceeded { reason, quoted } => {
                    check_quote(quoted, row, &ctx);
                    (11, u8::from(reason))
                }
            };
            assert_eq!(u64::from(ty), row.num("icmp.type").unwrap(), "{ctx}");
            assert_eq!(u64::from(code), row.num("icmp.code").unwrap(), "{ctx}");
        }
        Upper::Udp(udp, payload) => {
            assert_eq!(u64::from(udp.src_port), row.num("udp.srcport").unwrap());
            assert_eq!(u64::from(udp.dst_port), row.num("udp.dstport").unwrap());
            assert_eq!(
                udp.buffer_len(payload.len()) as u64,
                row.num("udp.length").unwrap()
            );
        }
        Upper::Tcp(tcp) => {
            assert_eq!(
                u64::from(tcp.src_port),
                row.num("tcp.srcport").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                u64::from(tcp.dst_port),
                row.num("tcp.dstport").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                u64::from(tcp.seq.0),
                row.num("tcp.seq_raw").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                u64::from(tcp.ack.0),
                row.num("tcp.ack_raw").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                tcp.header_len() as u64,
                row.num("tcp.hdr_len").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                u64::from(tcp.flags.0),
                row.num("tcp.flags").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                u64::from(tcp.window),
                row.num("tcp.window_size_value").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                tcp.payload.len() as u64,
                row.num("tcp.len").unwrap(),
                "{ctx}"
            );
            assert_eq!(
                tcp.mss.map(u64::from),
                row.num("tcp.options.mss_val"),
                "{ctx}"
            );
            assert_eq!(
                tcp.window_scale.map(u64::from),
                row.num("tcp.options.wscale.shift"),
                "{ctx}"
            );
            assert_eq!(
                tcp.sack_permitted,
                row.first("tcp.options.sack_perm").is_some()
            );
            assert_eq!(
                tcp.timestamp.map(|t| u64::from(t.tsval)),
                row.num("tcp.options.timestamp.tsval"),
                "{ctx}"
            );
            assert_eq!(
                tcp.timestamp.map(|t| u64::from(t.tsecr)),
                row.num("tcp.options.timestamp.tsecr"),
                "{ctx}"
            );
            let edges = |f: &str| -> Vec<u64> {
                row.0
                    .get(f)
                    .map(|v| v.iter().map(|x| x.parse().unwrap()).collect())
                    .unwrap_or_default()
            };
            let blocks = &tcp.sack_blocks[..tcp.sack_len];
            let le: Vec<u64> = blocks.iter().map(|b| u64::from(b.0 .0)).collect();
            let re: Vec<u64> = blocks.iter().map(|b| u64::from(b.1 .0)).collect();
            assert_eq!(le, edges("tcp.options.sack_le"), "{ctx}");
            assert_eq!(re, edges("tcp.options.sack_re"), "{ctx}");
        }
        Upper::Fragment(_) => {}
    }
}

/// The datagram quoted by an ICMP error is tshark's second IP header.
fn check_quote(quoted: &[u8], row: &Row, ctx: &str) {
    let q = Ipv4Packet::parse_quoted(quoted).unwrap();
    assert_eq!(q.src().to_string(), row.nth("ip.src", 1).unwrap(), "{ctx}");
    assert_eq!(q.dst().to_string(), row.nth("ip.dst", 1).unwrap(), "{ctx}");
    assert_eq!(
        q.total_len().to_string(),
        row.nth("ip.len", 1).unwrap(),
        "{ctx}"
    );
    assert!(q.verify_checksum(), "{ctx}");
    assert!(q.payload().len() >= 8, "{ctx}");
}

#[test]
fn fixtures_match_tshark() {
    let rows = tshark_rows();
    let frames = frames();
    assert_eq!(frames.len(), 42);
    assert_eq!(rows.len(), frames.len());
    for f in frames {
        check_against_tshark(f, &rows[&f.no]);
    }
}

#[test]
fn fixtures_re_emit_byte_for_byte() {
    for f in frames() {
        let d = decode(&f.bytes).unwrap();
        assert_eq!(encode(&d), f.bytes, "frame {} ({})", f.no, f.summary);
    }
}

/// One line per frame as `tcpdump -nn -S -r` prints it (without timestamps),
/// taken from the capture; UDP and non-first fragments are not rendered by us.
const TCPDUMP: &[(usize, &str)] = &[
    (1, "ARP, Request who-has 198.18.0.2 (ff:ff:ff:ff:ff:ff) tell 198.18.0.1, length 28"),
    (2, "ARP, Reply 198.18.0.2 is-at 02:00:5e:12:00:02, length 28"),
    (3, "ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28"),
    (5, "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 3782, seq 1, length 64"),
    (6, "IP 198.18.0.2 > 198.18.0.1: ICMP echo reply, id 3782, seq 1, length 64"),
    (13, "IP 198.18.0.1.40000 > 198.18.0.2.5000: Flags [S], seq 942482978, win 64240, options [mss 1460,sackOK,TS val 3283575106 ecr 0,nop,wscale 10], length 0"),
    (14, "IP 198.18.0.2.5000 > 198.18.0.1.40000: Flags [S.], seq 2045517685, ack 942482979, win 65160, options [mss 1460,sackOK,TS val 66960821 ecr 3283575106,nop,wscale 10], length 0"),
    (15, "IP 198.18.0.1.40000 > 198.18.0.2.5000: Flags [.], ack 2045517686, win 63, options [nop,nop,TS val 3283575106 ecr 66960821], length 0"),
    (16, "IP 198.18.0.1.40000 > 198.18.0.2.5000: Flags [P.], seq 942482979:942482995, ack 2045517686, win 63, options [nop,nop,TS val 3283575106 ecr 66960821], length 16"),
    (18, "IP 198.18.0.1.40000 > 198.18.0.2.5000: Flags [F.], seq 942482995, ack 2045517686, win 63, options [nop,nop,TS val 3283575106 ecr 66960821], length 0"),
    (19, "IP 198.18.0.2.5000 > 198.18.0.1.40000: Flags [P.], seq 2045517686:2045517692, ack 942482996, win 64, options [nop,nop,TS val 66960821 ecr 3283575106], length 6"),
    (21, "IP 198.18.0.2.5000 > 198.18.0.1.40000: Flags [F.], seq 2045517692, ack 942482996, win 64, options [nop,nop,TS val 66960821 ecr 3283575106], length 0"),
    (24, "IP 198.18.0.2 > 198.18.0.1: ICMP 198.18.0.2 udp port 9 unreachable, length 40"),
    (26, "IP 198.18.0.2 > 198.18.0.1: ICMP time exceeded in-transit, length 92"),
    (28, "IP 198.18.0.2 > 198.18.0.1: ICMP 198.18.1.2 unreachable - need to frag (mtu 1280), length 556"),
    (30, "IP 198.18.0.2 > 198.18.0.1: ICMP net 198.18.2.5 unreachable, length 92"),
    (31, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7], length 0"),
    (32, "IP 198.18.0.2.5001 > 198.18.0.3.40002: Flags [S.], seq 1057757889, ack 1001, win 65160, options [mss 1460,sackOK,TS val 3880282340 ecr 100,nop,wscale 10], length 0"),
    (33, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [.], ack 1057757890, win 502, options [nop,nop,TS val 101 ecr 3880282340], length 0"),
    (34, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [P.], seq 1101:1201, ack 1057757890, win 502, options [nop,nop,TS val 102 ecr 3880282340], length 100"),
    (35, "IP 198.18.0.2.5001 > 198.18.0.3.40002: Flags [.], ack 1001, win 64, options [nop,nop,TS val 3880282340 ecr 101,nop,nop,sack 1 {1101:1201}], length 0"),
    (36, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [P.], seq 1301:1401, ack 1057757890, win 502, options [nop,nop,TS val 103 ecr 3880282340], length 100"),
    (37, "IP 198.18.0.2.5001 > 198.18.0.3.40002: Flags [.], ack 1001, win 64, options [nop,nop,TS val 3880282340 ecr 101,nop,nop,sack 2 {1301:1401}{1101:1201}], length 0"),
    (38, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [P.], seq 1001:1101, ack 1057757890, win 502, options [nop,nop,TS val 104 ecr 3880282340], length 100"),
    (39, "IP 198.18.0.2.5001 > 198.18.0.3.40002: Flags [.], ack 1201, win 64, options [nop,nop,TS val 3880282340 ecr 104,nop,nop,sack 1 {1301:1401}], length 0"),
    (40, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [P.], seq 1001:1101, ack 1057757890, win 502, options [nop,nop,TS val 105 ecr 3880282340], length 100"),
    (41, "IP 198.18.0.2.5001 > 198.18.0.3.40002: Flags [.], ack 1201, win 64, options [nop,nop,TS val 3880282340 ecr 104,nop,nop,sack 2 {1001:1101}{1301:1401}], length 0"),
    (42, "IP 198.18.0.3.40002 > 198.18.0.2.5001: Flags [R.], seq 1201, ack 1057757890, win 502, options [nop,nop,TS val 106 ecr 3880282340], length 0"),
];

#[test]
fn display_matches_tcpdump() {
    for &(no, want) in TCPDUMP {
        let d = decode(frame(no)).unwrap();
        let got = match (d.ip, d.upper) {
            (None, Upper::Arp(arp)) => arp.to_string(),
            (Some(ip), Upper::Tcp(tcp)) => tcp.display_with(ip.src, ip.dst).to_string(),
            (Some(ip), Upper::Icmp(icmp)) => format!("IP {} > {}: {}", ip.src, ip.dst, icmp),
            _ => panic!("frame {no}: unexpected kind"),
        };
        assert_eq!(got, want, "frame {no}");
    }
    // tcpdump -v's IP line for frame 7 (the first fragment of the 4000-byte ping).
    let d = decode(frame(7)).unwrap();
    assert_eq!(
        d.ip.unwrap().to_string(),
        "IP (tos 0x0, ttl 64, id 697, offset 0, flags [+], proto ICMP (1), length 1500) 198.18.0.1 > 198.18.0.2"
    );
}

/// Frames 7-9 (request) and 10-12 (reply) are the fragments of a 4000-byte
/// ping: put them back together and check the ICMP message whole.
#[test]
fn fragments_reassemble() {
    for (nos, is_request) in [([7, 8, 9], true), ([10, 11, 12], false)] {
        let mut whole = vec![0u8; 4008];
        let mut seen = 0;
        for no in nos {
            let bytes = frame(no);
            let ip = Ipv4Packet::parse(&bytes[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.more_frags(), no != nos[2]);
            let at = ip.frag_offset();
            whole[at..at + ip.payload().len()].copy_from_slice(ip.payload());
            seen += ip.payload().len();
        }
        assert_eq!(seen, 4008);
        let p = Icmpv4Packet::parse(&whole[..]).unwrap();
        assert!(p.verify_checksum());
        let (ident, seq_no, data) = match Icmpv4Repr::parse(&p).unwrap() {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } if is_request => (ident, seq_no, data),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } if !is_request => (ident, seq_no, data),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!((ident, seq_no, data.len()), (0x0ec8, 1, 4000));
    }
}

#[test]
fn handpicked_fields() {
    // The SYN: Linux's option layout, which our emit reproduces.
    let syn = frame(13);
    let p = TcpPacket::parse(&syn[34..]).unwrap();
    assert_eq!(
        p.options(),
        &[2, 4, 5, 180, 4, 2, 8, 10, 0xc3, 0xb7, 0x61, 0x42, 0, 0, 0, 0, 1, 3, 3, 10]
    );
    let r = TcpRepr::parse(&p);
    assert_eq!(r.seq, SeqNum(942482978));
    assert_eq!(r.mss, Some(1460));
    assert_eq!(r.window_scale, Some(10));
    assert!(r.sack_permitted);
    assert_eq!(
        r.timestamp,
        Some(TcpTimestamp {
            tsval: 3283575106,
            tsecr: 0
        })
    );
    // The data both ways (the order of the session's segments varies by run).
    let payloads: Vec<&[u8]> = frames()
        .iter()
        .filter_map(|f| match decode(&f.bytes).unwrap().upper {
            Upper::Tcp(t) if !t.payload.is_empty() && t.src_port != 40002 => Some(t.payload),
            _ => None,
        })
        .collect();
    assert_eq!(payloads.len(), 2);
    assert!(payloads.contains(&&b"hello sockstack\n"[..]));
    assert!(payloads.contains(&&b"world\n"[..]));
    // UDP to a closed port and its ICMP port unreachable quoting it.
    let d = decode(frame(23)).unwrap();
    let Upper::Udp(u, payload) = d.upper else {
        panic!()
    };
    assert_eq!((u.src_port, u.dst_port, payload), (40001, 9, &b"ping"[..]));
    let d = decode(frame(24)).unwrap();
    let Upper::Icmp(Icmpv4Repr::DstUnreachable { reason, quoted, .. }) = d.upper else {
        panic!()
    };
    assert_eq!(reason, DstUnreachable::PortUnreachable);
    assert_eq!(quoted, &frame(23)[14..]);
    let q = Ipv4Packet::parse_quoted(quoted).unwrap();
    let qu = UdpPacket::parse(q.payload()).unwrap();
    assert_eq!((qu.src_port(), qu.dst_port()), (40001, 9));
    // Fragmentation needed: next-hop MTU 1280, a truncated quote (528 of 1428 bytes).
    let d = decode(frame(28)).unwrap();
    let Upper::Icmp(Icmpv4Repr::DstUnreachable {
        reason,
        next_hop_mtu,
        quoted,
    }) = d.upper
    else {
        panic!()
    };
    assert_eq!(
        (reason, next_hop_mtu, quoted.len()),
        (DstUnreachable::FragRequired, 1280, 548)
    );
    assert_eq!(Ipv4Packet::parse(quoted).unwrap_err(), WireError::Truncated);
    let q = Ipv4Packet::parse_quoted(quoted).unwrap();
    assert_eq!((q.total_len(), q.payload().len()), (1428, 528));
    // Time exceeded quoting the TTL-1 ping.
    let d = decode(frame(26)).unwrap();
    assert!(matches!(
        d.upper,
        Upper::Icmp(Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            ..
        })
    ));
    // SACK from the kernel (frames 31-42: a scripted peer leaves holes).
    let sack = |no: usize| -> Vec<(u32, u32)> {
        let Upper::Tcp(t) = decode(frame(no)).unwrap().upper else {
            panic!()
        };
        t.sack_blocks[..t.sack_len]
            .iter()
            .map(|(l, r)| (l.0, r.0))
            .collect()
    };
    assert_eq!(sack(35), [(1101, 1201)]);
    assert_eq!(sack(37), [(1301, 1401), (1101, 1201)]);
    assert_eq!(sack(39), [(1301, 1401)]);
    // D-SACK (RFC 2883): the first block reports the duplicate below the ACK.
    assert_eq!(sack(41), [(1001, 1101), (1301, 1401)]);
    // Ethernet padding after the IPv4 total length is ignored.
    let mut padded = frame(23).to_vec();
    padded.resize(60, 0xaa);
    let d = decode(&padded).unwrap();
    assert_eq!(encode(&d), frame(23));
}

#[test]
fn corrupting_any_byte_fails_a_checksum_or_changes_the_decode() {
    for f in frames() {
        if f.bytes.len() > 200 {
            continue; // large frames are covered by the truncation test
        }
        for i in 14..f.bytes.len() {
            let mut b = f.bytes.clone();
            b[i] ^= 0x5a;
            if let Ok(d) = decode(&b) {
                // A corrupted ARP packet or a changed field must re-emit as the corruption.
                assert_eq!(encode(&d), b, "frame {} byte {i}", f.no);
            }
        }
    }
}

//! The loopback interface: 127.0.0.0/8 and our own address reach local
//! sockets without a frame on the link, counted under "loopback".

use std::net::SocketAddrV4;

use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Instant, Stack, StackConfig, TcpState};

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn stack() -> Stack {
    let mut s = Stack::new(StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), US, 24));
    // The gratuitous ARP is the only frame the link may see.
    let mut buf = [0u8; 2048];
    assert!(s.poll_transmit(Instant::ZERO, &mut buf).is_some());
    s
}

/// Run the stack until idle; returns frames that reached the link.
fn run(s: &mut Stack, now: Instant) -> usize {
    let mut buf = vec![0u8; 2048];
    let mut frames = 0;
    for _ in 0..1000 {
        if s.poll_at().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        match s.poll_transmit(now, &mut buf) {
            Some(_) => frames += 1,
            None => return frames,
        }
    }
    frames
}

#[test]
fn udp_over_127_keeps_the_loopback_source() {
    let mut s = stack();
    let srv = s.udp_bind(LO, 7).unwrap();
    let cli = s.udp_bind(Ipv4Addr::UNSPECIFIED, 0).unwrap();
    let big = vec![7u8; 60_000];
    s.udp_send_to(cli, SocketAddrV4::new(LO, 7), &big).unwrap();
    s.udp_send_to(cli, SocketAddrV4::new(Ipv4Addr::new(127, 1, 2, 3), 7), b"x")
        .unwrap();
    assert_eq!(run(&mut s, Instant::ZERO), 0, "nothing on the link");
    let mut buf = vec![0u8; 65_536];
    let m = s.udp_recv_msg(srv, &mut buf, false).unwrap();
    assert_eq!(
        (m.copied, m.from),
        (60_000, SocketAddrV4::new(LO, cli.port()))
    );
    // A socket bound to 127.0.0.1 does not get datagrams to 127.1.2.3.
    assert!(s.udp_recv_msg(srv, &mut buf, false).is_err());
    let st = s.stats();
    assert_eq!(
        st.loopback.tx_packets, 3,
        "two datagrams and one port unreachable"
    );
    assert_eq!(st.loopback.rx_packets, 3);
    assert_eq!(st.ipv4.frag_creates, 0, "loopback never fragments");
    assert!(s.udp_take_error(cli).is_some());
    // A loopback-bound socket cannot reach the outside.
    assert!(s
        .udp_send_to(
            srv,
            SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 9),
            b"no"
        )
        .is_err());
}

#[test]
fn tcp_to_127_and_to_our_address() {
    for dst in [LO, US] {
        let mut s = stack();
        let ss = s.sockets_mut();
        let l = ss.tcp_socket().unwrap();
        ss.bind(l, Ipv4Addr::UNSPECIFIED, 8080).unwrap();
        ss.listen(l, 8).unwrap();
        let c = ss.tcp_socket().unwrap();
        ss.connect(Instant::ZERO, c, dst, 8080).unwrap();
        assert_eq!(run(&mut s, Instant::ZERO), 0);
        let ss = s.sockets_mut();
        assert_eq!(ss.state(c), Some(TcpState::Established), "to {dst}");
        let a = ss.accept(l).unwrap();
        assert_eq!(ss.local_addr(a).map(|a| *a.ip()), Some(dst));
        ss.send(c, b"hello loopback").unwrap();
        assert_eq!(run(&mut s, Instant::ZERO), 0);
        let mut buf = [0u8; 64];
        let n = s.sockets_mut().recv(a, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello loopback");
        assert!(s.stats().loopback.rx_packets >= 4);
    }
}

#[test]
fn loopback_addresses_from_the_link_are_dropped() {
    // RFC 1122 3.2.1.3 (g): 127/8 never arrives from outside.
    let mut s = stack();
    let h = s.udp_bind(LO, 9).unwrap();
    let udp = {
        let mut b = vec![0u8; 8 + 2];
        let r = sockstack_proto::wire::UdpRepr {
            src_port: 1,
            dst_port: 9,
        };
        r.emit(&mut b, Ipv4Addr::new(198, 18, 0, 2), LO, b"hi")
            .unwrap();
        b
    };
    let mut ip = sockstack_proto::wire::Ipv4Repr::new(
        Ipv4Addr::new(198, 18, 0, 2),
        LO,
        sockstack_proto::wire::IpProtocol::Udp,
        udp.len(),
    );
    ip.ttl = 64;
    let mut frame = vec![0u8; 14 + 20 + udp.len()];
    frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    ip.emit(&mut frame[14..34]).unwrap();
    frame[34..].copy_from_slice(&udp);
    s.handle_frame(Instant::ZERO, &frame);
    assert_eq!(s.udp_queued(h), Some(0));
    assert_eq!(s.stats().ipv4.rx_not_ours, 1);
}

/// A looped datagram whose IP_HDRINCL header forges its source earns no
/// ICMP error on the link: none from a 127/8 source (RFC 1122 3.2.1.3 (g);
/// Linux refuses that route) and none to the subnet broadcast (RFC 1122
/// 3.2.2). Found by the `udp_raw` fuzz target.
#[test]
fn forged_hdrincl_source_earns_no_error_on_the_link() {
    let bcast = Ipv4Addr::new(198, 18, 0, 255);
    let cases = [
        (Ipv4Addr::new(198, 18, 0, 9), LO),
        (bcast, US),
        (bcast, Ipv4Addr::new(127, 5, 6, 7)),
    ];
    for (src, dst) in cases {
        let mut s = stack();
        // A raw socket of another protocol: 253 stays unknown (protocol unreachable).
        let r = s.raw_open(17).unwrap();
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 253, 0, 0];
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[1, 2, 3, 4]);
        s.raw_send_hdrincl(r, &p).unwrap();
        assert_eq!(
            run(&mut s, Instant::ZERO),
            0,
            "{src} -> {dst}: a frame left"
        );
        let st = s.stats();
        assert_eq!(st.loopback.rx_packets, 1);
        assert_eq!(st.ipv4.rx_unknown_protocol, 1);
        assert_eq!(st.icmp.tx_dest_unreachable, 0, "{src} -> {dst}");
    }
}

//! A raw ICMP socket of a sockstack host on a TAP device sees the Linux
//! kernel's echo requests (IPv4 header included, as on Linux), while the
//! stack's own ICMP responder answers them, so the kernel's `ping`
//! succeeds. The host runs in this test process, attached from outside to
//! the TAP device of a test namespace (`TapLink::open_in_netns`). Without
//! root or iputils the test prints `SKIP: <test>: <reason>` and passes.

#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use common::netns::unavailable;
use common::skip;
use common::tcp::{lab, wait_carrier, KERNEL, OURS, TAP};
use sockstack::bsd::consts::{AF_INET, IPPROTO_ICMP, SOCK_RAW};
use sockstack::bsd::{Bsd, SockOpt};
use sockstack::link::tap::TapLink;
use sockstack::proto::wire::MacAddr;
use sockstack::proto::{Stack, StackConfig};
use sockstack::Host;

#[test]
fn raw_icmp_socket_sees_the_kernels_echo_requests() {
    let test = "raw_icmp_socket_sees_the_kernels_echo_requests";
    if let Some(why) = unavailable(&["ping"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let link = TapLink::open_in_netns(ns.name(), TAP).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = StackConfig::ethernet(
        MacAddr([0x02, 0, 0x5e, 0, 0, 0x02]),
        Ipv4Addr::new(198, 18, 0, 2),
        24,
    );
    cfg.seed = 66;
    let host = Host::spawn("raw", Stack::new(cfg), link).unwrap_or_else(|e| panic!("{e}"));
    wait_carrier(&ns, TAP, Duration::from_secs(10));
    let bsd = Bsd::new(Arc::new(host));
    let fd = bsd.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP).unwrap();
    bsd.setsockopt(fd, SockOpt::RcvTimeo(Some(Duration::from_secs(10))))
        .unwrap();

    let ping = ns.run(
        "ping",
        &["-c", "3", "-i", "0.2", "-W", "2", "-s", "56", OURS],
        Duration::from_secs(30),
    );
    assert!(ping.status.success(), "{}", ping.describe());
    assert!(ping.stdout.contains("3 received"), "{}", ping.describe());

    let kernel: Ipv4Addr = KERNEL.parse().unwrap();
    let mut seqs = Vec::new();
    let mut buf = [0u8; 2048];
    while seqs.len() < 3 {
        let (n, from) = bsd.recvfrom(fd, &mut buf, 0).unwrap();
        assert_eq!(from, Some(SocketAddrV4::new(kernel, 0)));
        let pkt = &buf[..n];
        // The IPv4 header comes first: version 4, protocol 1, our address.
        assert_eq!(pkt[0] >> 4, 4);
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        assert_eq!(pkt[9], 1);
        assert_eq!(&pkt[12..16], &kernel.octets());
        assert_eq!(&pkt[16..20], &[198, 18, 0, 2]);
        let icmp = &pkt[ihl..];
        // Echo requests only (type 8), with iputils' 56 bytes of data.
        if icmp[0] == 8 {
            assert_eq!(icmp.len(), 8 + 56);
            seqs.push(u16::from_be_bytes([icmp[6], icmp[7]]));
        }
    }
    assert_eq!(seqs, vec![1, 2, 3]);
    let _ = bsd.close(fd);
}

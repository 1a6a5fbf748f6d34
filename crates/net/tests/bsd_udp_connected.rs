//! A connected UDP socket hears only its peer (issue 6: "connect filters
//! peers", as on Linux): a datagram to its address from any other address
//! or port is not delivered to it, while its peer's datagrams are.

use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::Duration;

use sockstack::bsd::{consts::*, Bsd, Errno, Fd, SockOpt, VirtualDriver};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Duration as VDuration, Stack, StackConfig};
use sockstack::runtime::VirtualNet;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

type V = Bsd<VirtualDriver>;

fn stack(last: u8) -> Stack {
    Stack::new(StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, last]),
        Ipv4Addr::new(198, 18, 0, last),
        24,
    ))
}

fn net() -> (V, V) {
    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(VDuration::from_millis(1)));
    let mut net = VirtualNet::new();
    let a = net.add_host("a", stack(1), la);
    let b = net.add_host("b", stack(2), lb);
    let net = Rc::new(RefCell::new(net));
    (
        Bsd::new(VirtualDriver::new(Rc::clone(&net), a)),
        Bsd::new(VirtualDriver::new(net, b)),
    )
}

fn udp_at(f: &V, ip: Ipv4Addr, port: u16) -> Fd {
    let s = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    f.bind(s, SocketAddrV4::new(ip, port)).unwrap();
    f.setsockopt(s, SockOpt::RcvTimeo(Some(Duration::from_millis(200))))
        .unwrap();
    s
}

#[test]
fn connected_socket_hears_only_its_peer() {
    let (a, b) = net();
    let c = udp_at(&a, A, 5000);
    let peer = udp_at(&b, B, 53);
    let stranger = udp_at(&b, B, 54);
    a.connect(c, SocketAddrV4::new(B, 53)).unwrap();
    let to_c = Some(SocketAddrV4::new(A, 5000));
    let mut buf = [0u8; 32];

    // The peer first (also resolves ARP both ways).
    b.sendto(peer, b"from the peer", 0, to_c).unwrap();
    assert_eq!(a.recv(c, &mut buf, 0), Ok(13));
    assert_eq!(&buf[..13], b"from the peer");

    // Another port of the same host: not for a socket connected to :53.
    b.sendto(stranger, b"from a stranger", 0, to_c).unwrap();
    assert_eq!(a.recv(c, &mut buf, 0), Err(Errno::EAGAIN));

    // The peer again: delivered, and nothing of the stranger's before it.
    b.sendto(peer, b"peer again", 0, to_c).unwrap();
    let (n, from) = a.recvfrom(c, &mut buf, 0).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"peer again"[..], Some(SocketAddrV4::new(B, 53)))
    );
}

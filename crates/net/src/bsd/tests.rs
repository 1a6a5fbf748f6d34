//! Unit tests of the facade that need no peer: argument checks, the
//! descriptor numbering, options kept per descriptor.

use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::Duration;

use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Stack, StackConfig};

use super::consts::*;
use super::*;
use crate::link::memory::{self, WireConfig};
use crate::runtime::VirtualNet;

fn one_host() -> Bsd<VirtualDriver> {
    let (la, _lb) = memory::pair(WireConfig::ethernet());
    let cfg = StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, 1]),
        Ipv4Addr::new(198, 18, 0, 1),
        24,
    );
    let mut net = VirtualNet::new();
    let id = net.add_host("a", Stack::new(cfg), la);
    Bsd::new(VirtualDriver::new(Rc::new(RefCell::new(net)), id))
}

#[test]
fn socket_arguments() {
    let b = one_host();
    assert_eq!(b.socket(AF_INET6, SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
    assert_eq!(
        b.socket(AF_INET, SOCK_SEQPACKET, 0),
        Err(Errno::ESOCKTNOSUPPORT)
    );
    assert_eq!(
        b.socket(AF_INET, SOCK_STREAM, 17),
        Err(Errno::EPROTONOSUPPORT)
    );
    let a = b.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP).unwrap();
    let c = b
        .socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        .unwrap();
    assert_eq!((a, c), (Fd(3), Fd(4)));
    assert_eq!(b.fcntl(a, F_GETFL, 0), Ok(O_RDWR));
    assert_eq!(b.fcntl(c, F_GETFL, 0), Ok(O_RDWR | O_NONBLOCK));
    assert_eq!(b.fcntl(c, F_GETFD, 0), Ok(FD_CLOEXEC));
    b.fcntl(a, F_SETFL, O_NONBLOCK).unwrap();
    assert_eq!(b.is_nonblocking(a), Ok(true));
    b.set_nonblocking(a, false).unwrap();
    assert_eq!(b.is_nonblocking(a), Ok(false));
    assert_eq!(b.fcntl(a, 99, 0), Err(Errno::EINVAL));
    b.close(a).unwrap();
    assert_eq!(b.close(a), Err(Errno::EBADF));
    assert_eq!(b.fcntl(a, F_GETFL, 0), Err(Errno::EBADF));
    assert_eq!(b.socket(AF_INET, SOCK_STREAM, 0), Ok(Fd(3)));
    assert_eq!(b.open_fds(), 2);
}

#[test]
fn options_round_trip() {
    let b = one_host();
    let fd = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::Type),
        Ok(SockOpt::Type(SOCK_STREAM))
    );
    assert_eq!(
        b.getsockopt(fd, SockOptName::ReuseAddr),
        Ok(SockOpt::ReuseAddr(false))
    );
    b.setsockopt(fd, SockOpt::ReuseAddr(true)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::ReuseAddr),
        Ok(SockOpt::ReuseAddr(true))
    );
    b.setsockopt(fd, SockOpt::NoDelay(true)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::NoDelay),
        Ok(SockOpt::NoDelay(true))
    );
    b.setsockopt(fd, SockOpt::KeepAlive(true)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::KeepAlive),
        Ok(SockOpt::KeepAlive(true))
    );
    // Linux doubles: setsockopt(SO_RCVBUF, 65536) reads back 131072.
    b.setsockopt(fd, SockOpt::RcvBuf(65536)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::RcvBuf),
        Ok(SockOpt::RcvBuf(131_072))
    );
    b.setsockopt(fd, SockOpt::SndBuf(50_000)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::SndBuf),
        Ok(SockOpt::SndBuf(100_000))
    );
    // ... and caps the request at rmem_max first.
    b.setsockopt(fd, SockOpt::RcvBuf(1 << 30)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::RcvBuf),
        Ok(SockOpt::RcvBuf(2 * RMEM_MAX))
    );
    let l = Linger { on: true, secs: 5 };
    b.setsockopt(fd, SockOpt::Linger(l)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::Linger),
        Ok(SockOpt::Linger(l))
    );
    let t = Some(Duration::from_millis(250));
    b.setsockopt(fd, SockOpt::RcvTimeo(t)).unwrap();
    b.setsockopt(fd, SockOpt::SndTimeo(Some(Duration::ZERO)))
        .unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::RcvTimeo),
        Ok(SockOpt::RcvTimeo(t))
    );
    assert_eq!(
        b.getsockopt(fd, SockOptName::SndTimeo),
        Ok(SockOpt::SndTimeo(None))
    );
    assert_eq!(b.setsockopt(fd, SockOpt::MaxSeg(10)), Err(Errno::EINVAL));
    b.setsockopt(fd, SockOpt::MaxSeg(1000)).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::MaxSeg),
        Ok(SockOpt::MaxSeg(1000))
    );
    assert_eq!(
        b.getsockopt(fd, SockOptName::Error),
        Ok(SockOpt::Error(None))
    );
    assert_eq!(b.so_error(fd), Ok(0));
    assert_eq!(
        b.setsockopt(fd, SockOpt::Error(None)),
        Err(Errno::ENOPROTOOPT)
    );
    match b.getsockopt(fd, SockOptName::Info) {
        Ok(SockOpt::Info(i)) => assert_eq!(i.state, Some(sockstack_proto::TcpState::Closed)),
        other => panic!("TCP_INFO: {other:?}"),
    }
    assert_eq!(
        SockOptName::from_raw(SOL_SOCKET, SO_LINGER),
        Ok(SockOptName::Linger)
    );
    assert_eq!(
        SockOptName::from_raw(IPPROTO_TCP, TCP_INFO),
        Ok(SockOptName::Info)
    );
    assert_eq!(
        SockOptName::from_raw(SOL_SOCKET, 999),
        Err(Errno::ENOPROTOOPT)
    );
    assert_eq!(SockOptName::NoDelay.raw(), (6, 1));
}

#[test]
fn tcp_congestion_option() {
    use sockstack_proto::CongestionAlgorithm as Cc;
    let b = one_host();
    let fd = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    // Linux's default is CUBIC.
    assert_eq!(
        b.getsockopt(fd, SockOptName::Congestion),
        Ok(SockOpt::Congestion(Cc::Cubic))
    );
    let reno = SockOpt::congestion_by_name(b"reno\0\0\0").unwrap();
    assert_eq!(reno, SockOpt::Congestion(Cc::Reno));
    b.setsockopt(fd, reno).unwrap();
    assert_eq!(
        b.getsockopt(fd, SockOptName::Congestion),
        Ok(SockOpt::Congestion(Cc::Reno))
    );
    assert_eq!(
        SockOpt::congestion_by_name(b"cubic"),
        Ok(SockOpt::Congestion(Cc::Cubic))
    );
    // tcp_set_congestion_control: an unknown name is ENOENT.
    assert_eq!(SockOpt::congestion_by_name(b"bbr"), Err(Errno::ENOENT));
    assert_eq!(SockOpt::congestion_by_name(b""), Err(Errno::ENOENT));
    assert_eq!(SockOpt::congestion_by_name(&[0xff; 40]), Err(Errno::ENOENT));
    assert_eq!(
        SockOptName::from_raw(IPPROTO_TCP, TCP_CONGESTION),
        Ok(SockOptName::Congestion)
    );
    assert_eq!(SockOptName::Congestion.raw(), (6, 13));
    // Not a TCP socket: ENOPROTOOPT.
    let u = b.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    assert_eq!(b.setsockopt(u, reno), Err(Errno::ENOPROTOOPT));
    assert_eq!(
        b.getsockopt(u, SockOptName::Congestion),
        Err(Errno::ENOPROTOOPT)
    );
}

#[test]
fn unconnected_calls() {
    let b = one_host();
    let fd = b.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    assert_eq!(b.getsockname(fd), Ok(any));
    assert_eq!(b.getpeername(fd), Err(Errno::ENOTCONN));
    assert_eq!(b.send(fd, b"x", 0), Err(Errno::EPIPE));
    assert_eq!(b.recv(fd, &mut [0; 4], 0), Err(Errno::ENOTCONN));
    assert_eq!(b.shutdown(fd, SHUT_WR), Err(Errno::ENOTCONN));
    assert_eq!(b.shutdown(fd, 7), Err(Errno::EINVAL));
    assert_eq!(b.accept(fd).map(|_| ()), Err(Errno::EINVAL));
    let mut p = [
        PollFd::new(fd, POLLIN | POLLOUT),
        PollFd::new(Fd(77), POLLIN),
    ];
    assert_eq!(b.poll(&mut p, Some(Duration::ZERO)), Ok(2));
    assert_eq!(p[0].revents, POLLOUT | POLLHUP);
    assert_eq!(p[1].revents, POLLNVAL);
    b.bind(fd, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 7000))
        .unwrap();
    assert_eq!(
        b.getsockname(fd),
        Ok(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 7000))
    );
    let other = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(
        b.bind(other, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)),
        Err(Errno::EADDRINUSE)
    );
    assert_eq!(
        b.bind(other, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7001)),
        Err(Errno::EADDRNOTAVAIL)
    );
    b.listen(fd, 8).unwrap();
    assert_eq!(b.accept(fd).map(|_| ()), Err(Errno::EAGAIN));
    let peer = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
    assert_eq!(b.connect(fd, peer), Err(Errno::EISCONN));
    let mut p = [PollFd::new(fd, POLLIN | POLLOUT)];
    assert_eq!(b.poll(&mut p, Some(Duration::ZERO)), Ok(0));
    // Virtual time: a blocking accept with nothing pending anywhere cannot
    // ever finish.
    b.set_nonblocking(fd, false).unwrap();
    assert_eq!(b.accept(fd).map(|_| ()), Err(Errno::EDEADLK));
    b.setsockopt(fd, SockOpt::RcvTimeo(Some(Duration::from_millis(300))))
        .unwrap();
    let t0 = b.driver().now();
    assert_eq!(b.accept(fd).map(|_| ()), Err(Errno::EAGAIN));
    assert_eq!(
        b.driver().now(),
        t0 + sockstack_proto::Duration::from_millis(300)
    );
}

#[test]
fn fd_limit_gives_emfile() {
    let (la, _lb) = memory::pair(WireConfig::ethernet());
    let cfg = StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, 1]),
        Ipv4Addr::new(198, 18, 0, 1),
        24,
    );
    let mut net = VirtualNet::new();
    let id = net.add_host("a", Stack::new(cfg), la);
    let b = Bsd::with_fd_limit(VirtualDriver::new(Rc::new(RefCell::new(net)), id), 2);
    b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    assert_eq!(b.socket(AF_INET, SOCK_STREAM, 0), Err(Errno::EMFILE));
    assert_eq!(b.with_stack(|s| s.sockets().len()), 2);
}

#[test]
fn huge_timeout_means_forever() {
    let b = one_host();
    let fd = b.socket(AF_INET, SOCK_STREAM, 0).unwrap();
    b.listen(fd, 1).unwrap();
    b.setsockopt(fd, SockOpt::RcvTimeo(Some(Duration::MAX)))
        .unwrap();
    // Not an instant EAGAIN: the virtual driver sees a wait that can never end.
    assert_eq!(b.accept(fd).map(|_| ()), Err(Errno::EDEADLK));
    let mut p = [PollFd::new(fd, POLLIN)];
    assert_eq!(b.poll(&mut p, Some(Duration::MAX)), Err(Errno::EDEADLK));
}

//! `UdpSocket`, shaped like std's, over the facade's SOCK_DGRAM sockets.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::bsd::consts::*;
use crate::bsd::{Fd, SockOpt, SockOptName};

use super::{default_net, each_addr, os_err, v4, Net, Socket};

/// A UDP socket, like `std::net::UdpSocket`.
pub struct UdpSocket {
    pub(crate) sock: Arc<Socket>,
}

/// The one address std's `send_to` uses: the first one `addr` resolves to.
pub(crate) fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddrV4> {
    match addr.to_socket_addrs()?.next() {
        Some(a) => v4(&a),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no addresses to send data to",
        )),
    }
}

/// A new UDP descriptor on `net`, bound to `a`.
pub(crate) fn udp_bound(net: &Net, a: SocketAddrV4, flags: i32) -> io::Result<Socket> {
    let fd = net
        .bsd()
        .socket(AF_INET, SOCK_DGRAM | flags, 0)
        .map_err(os_err)?;
    let sock = Socket {
        net: net.clone(),
        fd,
    };
    sock.bsd().bind(fd, a).map_err(os_err)?;
    Ok(sock)
}

/// What `recvfrom` reports as the sender when there is none (after shutdown).
pub(crate) fn from_or_unspecified(a: Option<SocketAddrV4>) -> SocketAddr {
    SocketAddr::V4(a.unwrap_or(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)))
}

impl UdpSocket {
    /// Bind a socket to `addr` on the default stack (port 0: any free port).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::bind_on(&default_net()?, addr)
    }

    /// Bind a socket to `addr` on `net`.
    pub fn bind_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            Ok(UdpSocket {
                sock: Arc::new(udp_bound(net, a, 0)?),
            })
        })
    }

    /// The descriptor in the stack's [`Net::bsd`] facade.
    pub fn fd(&self) -> Fd {
        self.sock.fd
    }

    /// The stack this socket lives on.
    pub fn net(&self) -> &Net {
        &self.sock.net
    }

    /// Receive one datagram (truncated to `buf`) and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .sock
            .bsd()
            .recvfrom(self.sock.fd, buf, 0)
            .map_err(os_err)?;
        Ok((n, from_or_unspecified(from)))
    }

    /// As `recv_from`, leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .sock
            .bsd()
            .recvfrom(self.sock.fd, buf, MSG_PEEK)
            .map_err(os_err)?;
        Ok((n, from_or_unspecified(from)))
    }

    /// Send one datagram to `addr` (its first resolved address, as std).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let a = first_addr(addr)?;
        self.sock
            .bsd()
            .sendto(self.sock.fd, buf, 0, Some(a))
            .map_err(os_err)
    }

    /// Set the default destination and accept datagrams only from it.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| {
            self.sock.bsd().connect(self.sock.fd, a).map_err(os_err)
        })
    }

    /// Send to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.send(buf, 0)
    }

    /// Receive one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, 0)
    }

    /// As `recv`, leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, MSG_PEEK)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The connected peer (ENOTCONN if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Another handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            sock: Arc::clone(&self.sock),
        })
    }

    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.set_timeout(SockOpt::RcvTimeo(dur), dur)
    }

    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.set_timeout(SockOpt::SndTimeo(dur), dur)
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.timeout(SockOptName::RcvTimeo)
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.timeout(SockOptName::SndTimeo)
    }

    /// SO_BROADCAST: allow sending to a broadcast address (else EACCES).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock
            .bsd()
            .setsockopt(self.sock.fd, SockOpt::Broadcast(on))
            .map_err(os_err)
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        match self
            .sock
            .bsd()
            .getsockopt(self.sock.fd, SockOptName::Broadcast)
            .map_err(os_err)?
        {
            SockOpt::Broadcast(on) => Ok(on),
            _ => Ok(false),
        }
    }

    /// SO_ERROR: e.g. ECONNREFUSED after an ICMP port unreachable on a
    /// connected socket.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.sock.fd.0).finish()
    }
}

//! Async `UdpSocket`, shaped like tokio's.

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::bsd::consts::*;
use crate::bsd::{SockOpt, SockOptName};
use crate::std_net::{
    self as std_net, default_net, first_addr, from_or_unspecified, os_err, udp_bound, Net,
};

use super::{Interest, Source};

/// An async UDP socket, like `tokio::net::UdpSocket`.
pub struct UdpSocket {
    src: Source,
}

impl UdpSocket {
    /// Bind to `addr` on the default stack.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::bind_on(&default_net()?, addr).await
    }

    /// Bind to `addr` on `net` (each resolved address in turn).
    pub async fn bind_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<UdpSocket> {
        std_net::each_addr(addr, |a| {
            let sock = udp_bound(net, a, SOCK_NONBLOCK)?;
            Ok(UdpSocket {
                src: Source::new(Arc::new(sock))?,
            })
        })
    }

    /// Turn a blocking socket into an async one.
    pub fn from_std(socket: std_net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            src: Source::new(Arc::clone(&socket.sock))?,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.src.sock.local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.src.sock.peer_addr()
    }

    /// Set the default destination and filter receipt to it.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        std_net::each_addr(addr, |a| {
            self.src.bsd().connect(self.src.fd(), a).map_err(os_err)
        })
    }

    /// Send one datagram to `addr`, waiting for room.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let a = first_addr(addr)?;
        let (bsd, fd) = (self.src.bsd(), self.src.fd());
        poll_fn(|cx| {
            self.src
                .reactor
                .poll_op(cx, &self.src.entry, Interest::Write, || {
                    bsd.sendto(fd, buf, MSG_DONTWAIT, Some(a))
                })
        })
        .await
    }

    /// Receive one datagram and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from_flags(cx, buf, 0)).await
    }

    /// As `recv_from`, leaving the datagram queued.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from_flags(cx, buf, MSG_PEEK)).await
    }

    /// Send to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let (bsd, fd) = (self.src.bsd(), self.src.fd());
        poll_fn(|cx| {
            self.src
                .reactor
                .poll_op(cx, &self.src.entry, Interest::Write, || {
                    bsd.send(fd, buf, MSG_DONTWAIT)
                })
        })
        .await
    }

    /// Receive one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv_from_flags(cx, buf, 0).map_ok(|(n, _)| n)).await
    }

    /// Receive now or fail with `WouldBlock`.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .src
            .bsd()
            .recvfrom(self.src.fd(), buf, MSG_DONTWAIT)
            .map_err(os_err)?;
        Ok((n, from_or_unspecified(from)))
    }

    /// Send now or fail with `WouldBlock`.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let a = std_net::v4(&target)?;
        self.src
            .bsd()
            .sendto(self.src.fd(), buf, MSG_DONTWAIT, Some(a))
            .map_err(os_err)
    }

    /// Wait until a datagram (or an error) is there.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            self.src
                .reactor
                .poll_ready(cx, &self.src.entry, Interest::Read)
        })
        .await
    }

    /// Wait until a send may succeed.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            self.src
                .reactor
                .poll_ready(cx, &self.src.entry, Interest::Write)
        })
        .await
    }

    fn poll_recv_from_flags(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        flags: i32,
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let (bsd, fd) = (self.src.bsd(), self.src.fd());
        self.src
            .reactor
            .poll_op(cx, &self.src.entry, Interest::Read, || {
                bsd.recvfrom(fd, buf, flags | MSG_DONTWAIT)
            })
            .map_ok(|(n, from)| (n, from_or_unspecified(from)))
    }

    /// SO_BROADCAST.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.src
            .bsd()
            .setsockopt(self.src.fd(), SockOpt::Broadcast(on))
            .map_err(os_err)
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        match self
            .src
            .bsd()
            .getsockopt(self.src.fd(), SockOptName::Broadcast)
            .map_err(os_err)?
        {
            SockOpt::Broadcast(on) => Ok(on),
            _ => Ok(false),
        }
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.src.sock.take_error()
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.src.fd().0).finish()
    }
}

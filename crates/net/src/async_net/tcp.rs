//! Async `TcpListener` and `TcpStream`, shaped like tokio's.

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::bsd::consts::*;
use crate::bsd::{Errno, PollFd, SockOpt, SockOptName};
use crate::std_net::{self as std_net, default_net, os_err, v4, Net, Socket};

use super::{Interest, Source};

/// std's (and tokio's) listen backlog on Linux.
const BACKLOG: i32 = 1024;

/// An async TCP connection, like `tokio::net::TcpStream`.
pub struct TcpStream {
    src: Source,
}

/// An async TCP listener, like `tokio::net::TcpListener`.
pub struct TcpListener {
    src: Source,
}

/// The IPv4 addresses `addr` resolves to (IPv6 ones fail as in `crate::net`).
fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<std::net::SocketAddrV4>> {
    let mut out = Vec::new();
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match v4(&a) {
            Ok(a) => out.push(a),
            Err(e) => last = Some(e),
        }
    }
    match (out.is_empty(), last) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )),
        _ => Ok(out),
    }
}

fn tcp_socket(net: &Net) -> io::Result<Arc<Socket>> {
    let fd = net
        .bsd()
        .socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
        .map_err(os_err)?;
    Ok(Arc::new(Socket {
        net: net.clone(),
        fd,
    }))
}

impl TcpStream {
    /// Connect to `addr` on the default stack.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        TcpStream::connect_on(&default_net()?, addr).await
    }

    /// Connect to `addr` on `net`, trying each resolved address in turn.
    pub async fn connect_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve(addr)? {
            match TcpStream::connect_one(net, a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    async fn connect_one(net: &Net, a: std::net::SocketAddrV4) -> io::Result<TcpStream> {
        let src = Source::new(tcp_socket(net)?)?;
        match src.bsd().connect(src.fd(), a) {
            Ok(()) => return Ok(TcpStream { src }),
            Err(Errno::EINPROGRESS) => {}
            Err(e) => return Err(os_err(e)),
        }
        poll_fn(|cx| {
            src.reactor.poll_op(cx, &src.entry, Interest::Write, || {
                let mut p = [PollFd::new(src.fd(), POLLOUT)];
                src.bsd().poll(&mut p, Some(Duration::ZERO))?;
                if p.iter().all(|p| p.revents == 0) {
                    return Err(Errno::EAGAIN);
                }
                match src.bsd().so_error(src.fd())? {
                    0 => src.bsd().getpeername(src.fd()).map(|_| ()),
                    e => Err(Errno(e)),
                }
            })
        })
        .await?;
        Ok(TcpStream { src })
    }

    /// Turn a `sockstack::net::TcpStream` into an async one (it becomes
    /// non-blocking, as with tokio's `from_std`... which requires the
    /// caller to do it).
    pub fn from_std(stream: std_net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            src: Source::new(Arc::clone(&stream.sock))?,
        })
    }

    /// The blocking form of this stream (blocking again).
    pub fn into_std(self) -> io::Result<std_net::TcpStream> {
        self.src.sock.set_nonblocking(false)?;
        Ok(std_net::TcpStream {
            sock: Arc::clone(&self.src.sock),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.src.sock.local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.src.sock.peer_addr()
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.src
            .bsd()
            .setsockopt(self.src.fd(), SockOpt::NoDelay(nodelay))
            .map_err(os_err)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        match self
            .src
            .bsd()
            .getsockopt(self.src.fd(), SockOptName::NoDelay)
            .map_err(os_err)?
        {
            SockOpt::NoDelay(on) => Ok(on),
            _ => Ok(false),
        }
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.src.sock.take_error()
    }

    /// Wait until a read may make progress (data, EOF or an error).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Wait until a write may make progress.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.src
            .reactor
            .poll_ready(cx, &self.src.entry, Interest::Read)
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.src
            .reactor
            .poll_ready(cx, &self.src.entry, Interest::Write)
    }

    /// Read what is there now, or fail with `WouldBlock`.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.src.sock.recv(buf, MSG_DONTWAIT)
    }

    /// Write what fits now, or fail with `WouldBlock`.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.src.sock.send(buf, MSG_DONTWAIT)
    }

    /// Read without consuming (MSG_PEEK), waiting for data.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf, MSG_PEEK)).await
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        flags: i32,
    ) -> Poll<io::Result<usize>> {
        let (bsd, fd) = (self.src.bsd(), self.src.fd());
        self.src
            .reactor
            .poll_op(cx, &self.src.entry, Interest::Read, || {
                bsd.recv(fd, buf, flags | MSG_DONTWAIT)
            })
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = match self.poll_recv(cx, buf.initialize_unfilled(), 0) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let (bsd, fd) = (self.src.bsd(), self.src.fd());
        self.src
            .reactor
            .poll_op(cx, &self.src.entry, Interest::Write, || {
                bsd.send(fd, buf, MSG_DONTWAIT)
            })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every write is handed to the stack at once; there is no buffer here.
        Poll::Ready(Ok(()))
    }

    /// Send FIN (shutdown SHUT_WR).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(
            self.src
                .bsd()
                .shutdown(self.src.fd(), SHUT_WR)
                .map_err(os_err),
        )
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        if let Ok(p) = self.peer_addr() {
            d.field("peer", &p);
        }
        d.field("fd", &self.src.fd().0).finish()
    }
}

impl TcpListener {
    /// Bind a listener to `addr` on the default stack.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_on(&default_net()?, addr).await
    }

    /// Bind a listener to `addr` on `net` (SO_REUSEADDR, backlog 1024, as tokio).
    pub async fn bind_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<TcpListener> {
        let mut last = None;
        for a in resolve(addr)? {
            let bind = || -> io::Result<TcpListener> {
                let src = Source::new(tcp_socket(net)?)?;
                let (bsd, fd) = (src.bsd(), src.fd());
                bsd.setsockopt(fd, SockOpt::ReuseAddr(true))
                    .map_err(os_err)?;
                bsd.bind(fd, a).map_err(os_err)?;
                bsd.listen(fd, BACKLOG).map_err(os_err)?;
                Ok(TcpListener { src })
            };
            match bind() {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// Turn a blocking listener into an async one.
    pub fn from_std(listener: std_net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            src: Source::new(Arc::clone(&listener.sock))?,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.src.sock.local_addr()
    }

    /// Wait for a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (bsd, fd) = (self.src.bsd(), self.src.fd());
        let r = self
            .src
            .reactor
            .poll_op(cx, &self.src.entry, Interest::Read, || {
                bsd.accept4(fd, SOCK_NONBLOCK)
            });
        let (child, peer) = match r {
            Poll::Ready(Ok(v)) => v,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let sock = Arc::new(Socket {
            net: self.src.sock.net.clone(),
            fd: child,
        });
        Poll::Ready(Source::new(sock).map(|src| (TcpStream { src }, SocketAddr::V4(peer))))
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.src.fd().0).finish()
    }
}

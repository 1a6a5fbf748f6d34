//! `TcpListener` and `TcpStream`, shaped like std's.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::bsd::consts::*;
use crate::bsd::{Errno, Fd, PollFd, SockOpt, SockOptName};

use super::{check_timeout, default_net, each_addr, os_err, v4, Net, Socket};

/// std's listen backlog on Linux.
const BACKLOG: i32 = 128;

/// A TCP stream between a local and a remote socket, like
/// `std::net::TcpStream`.
pub struct TcpStream {
    pub(crate) sock: Arc<Socket>,
}

/// A TCP socket server, like `std::net::TcpListener`.
pub struct TcpListener {
    pub(crate) sock: Arc<Socket>,
}

/// The iterator [`TcpListener::incoming`] returns; it never ends.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

/// A new blocking TCP socket on `net`.
fn tcp_socket(net: &Net) -> io::Result<Socket> {
    let fd = net.bsd().socket(AF_INET, SOCK_STREAM, 0).map_err(os_err)?;
    Ok(Socket {
        net: net.clone(),
        fd,
    })
}

fn timeout_opt(opt: SockOpt) -> Option<Duration> {
    match opt {
        SockOpt::RcvTimeo(t) | SockOpt::SndTimeo(t) => t,
        _ => None,
    }
}

/// Shared by both types: the option calls that only need a descriptor.
impl Socket {
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.bsd()
            .getsockname(self.fd)
            .map(SocketAddr::V4)
            .map_err(os_err)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.bsd()
            .getpeername(self.fd)
            .map(SocketAddr::V4)
            .map_err(os_err)
    }

    pub(crate) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.bsd().set_nonblocking(self.fd, on).map_err(os_err)
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = self.bsd().so_error(self.fd).map_err(os_err)?;
        Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
    }

    pub(crate) fn set_timeout(&self, opt: SockOpt, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.bsd().setsockopt(self.fd, opt).map_err(os_err)
    }

    pub(crate) fn timeout(&self, name: SockOptName) -> io::Result<Option<Duration>> {
        self.bsd()
            .getsockopt(self.fd, name)
            .map(timeout_opt)
            .map_err(os_err)
    }

    pub(crate) fn recv(&self, buf: &mut [u8], flags: i32) -> io::Result<usize> {
        self.bsd().recv(self.fd, buf, flags).map_err(os_err)
    }

    pub(crate) fn send(&self, buf: &[u8], flags: i32) -> io::Result<usize> {
        self.bsd().send(self.fd, buf, flags).map_err(os_err)
    }
}

impl TcpStream {
    /// Open a connection to `addr` on the default stack (see
    /// [`set_default`](super::set_default)).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        TcpStream::connect_on(&default_net()?, addr)
    }

    /// Open a connection to `addr` on `net`.
    pub fn connect_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| {
            let sock = tcp_socket(net)?;
            sock.bsd().connect(sock.fd, a).map_err(os_err)?;
            Ok(TcpStream::from_socket(sock))
        })
    }

    /// Open a connection with a timeout on the default stack. A zero
    /// timeout is an `InvalidInput` error, as in std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_timeout_on(&default_net()?, addr, timeout)
    }

    /// [`TcpStream::connect_timeout`] on `net`.
    pub fn connect_timeout_on(
        net: &Net,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        let a = v4(addr)?;
        let sock = tcp_socket(net)?;
        let bsd = sock.bsd();
        // As std does: connect without blocking, then poll for the result.
        bsd.set_nonblocking(sock.fd, true).map_err(os_err)?;
        match bsd.connect(sock.fd, a) {
            Ok(()) => {}
            Err(Errno::EINPROGRESS) => {
                let mut fds = [PollFd::new(sock.fd, POLLOUT)];
                if bsd.poll(&mut fds, Some(timeout)).map_err(os_err)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out",
                    ));
                }
                let err = bsd.so_error(sock.fd).map_err(os_err)?;
                if err != 0 {
                    return Err(io::Error::from_raw_os_error(err));
                }
                bsd.getpeername(sock.fd).map_err(os_err)?;
            }
            Err(e) => return Err(os_err(e)),
        }
        bsd.set_nonblocking(sock.fd, false).map_err(os_err)?;
        Ok(TcpStream::from_socket(sock))
    }

    fn from_socket(sock: Socket) -> TcpStream {
        TcpStream {
            sock: Arc::new(sock),
        }
    }

    /// The descriptor in the stack's [`Net::bsd`] facade.
    pub fn fd(&self) -> Fd {
        self.sock.fd
    }

    /// The stack this stream lives on.
    pub fn net(&self) -> &Net {
        &self.sock.net
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Shut down the read, write, or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => SHUT_RD,
            Shutdown::Write => SHUT_WR,
            Shutdown::Both => SHUT_RDWR,
        };
        self.sock.bsd().shutdown(self.sock.fd, how).map_err(os_err)
    }

    /// Another handle to the same socket (shares options; the socket
    /// closes when the last handle drops).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: Arc::clone(&self.sock),
        })
    }

    /// SO_RCVTIMEO: `None` blocks forever; `Some(0)` is `InvalidInput`.
    /// An expired timeout fails the read with `WouldBlock`, as on Linux.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.set_timeout(SockOpt::RcvTimeo(dur), dur)
    }

    /// SO_SNDTIMEO, as [`TcpStream::set_read_timeout`].
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.set_timeout(SockOpt::SndTimeo(dur), dur)
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.timeout(SockOptName::RcvTimeo)
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.timeout(SockOptName::SndTimeo)
    }

    /// Read without removing the data from the queue (MSG_PEEK).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, MSG_PEEK)
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock
            .bsd()
            .setsockopt(self.sock.fd, SockOpt::NoDelay(nodelay))
            .map_err(os_err)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        match self
            .sock
            .bsd()
            .getsockopt(self.sock.fd, SockOptName::NoDelay)
            .map_err(os_err)?
        {
            SockOpt::NoDelay(on) => Ok(on),
            _ => Ok(false),
        }
    }

    /// TCP_CONGESTION by Linux name ("cubic", the default, or "reno");
    /// an unknown name is ENOENT (`io::ErrorKind::NotFound`).
    pub fn set_congestion(&self, name: &str) -> io::Result<()> {
        let opt = SockOpt::congestion_by_name(name.as_bytes()).map_err(os_err)?;
        self.sock
            .bsd()
            .setsockopt(self.sock.fd, opt)
            .map_err(os_err)
    }

    /// The congestion-control algorithm's Linux name (TCP_CONGESTION).
    pub fn congestion(&self) -> io::Result<&'static str> {
        match self
            .sock
            .bsd()
            .getsockopt(self.sock.fd, SockOptName::Congestion)
            .map_err(os_err)?
        {
            SockOpt::Congestion(a) => Ok(a.name()),
            _ => Err(os_err(Errno::ENOPROTOOPT)),
        }
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }

    /// O_NONBLOCK: reads and writes that would block fail with `WouldBlock`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf, 0)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.send(buf, 0)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
        d.field("fd", &self.sock.fd.0).finish()
    }
}

impl TcpListener {
    /// Bind a listener to `addr` on the default stack (see
    /// [`set_default`](super::set_default)). Port 0 picks a free port.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_on(&default_net()?, addr)
    }

    /// Bind a listener to `addr` on `net`. Like std on Unix it sets
    /// SO_REUSEADDR and listens with a backlog of 128.
    pub fn bind_on<A: ToSocketAddrs>(net: &Net, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let sock = tcp_socket(net)?;
            let bsd = sock.bsd();
            bsd.setsockopt(sock.fd, SockOpt::ReuseAddr(true))
                .map_err(os_err)?;
            bsd.bind(sock.fd, a).map_err(os_err)?;
            bsd.listen(sock.fd, BACKLOG).map_err(os_err)?;
            Ok(TcpListener {
                sock: Arc::new(sock),
            })
        })
    }

    /// The descriptor in the stack's [`Net::bsd`] facade.
    pub fn fd(&self) -> Fd {
        self.sock.fd
    }

    /// The stack this listener lives on.
    pub fn net(&self) -> &Net {
        &self.sock.net
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Another handle to the same listener.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            sock: Arc::clone(&self.sock),
        })
    }

    /// Wait for a connection; the new stream is blocking, as in std.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = self.sock.bsd().accept(self.sock.fd).map_err(os_err)?;
        let stream = TcpStream::from_socket(Socket {
            net: self.sock.net.clone(),
            fd,
        });
        Ok((stream, SocketAddr::V4(peer)))
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.sock.fd.0).finish()
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

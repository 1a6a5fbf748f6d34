//! Sockets shaped like `tokio::net`: [`TcpListener`], [`TcpStream`] (with
//! `tokio::io::AsyncRead` / `AsyncWrite`, so `tokio::io::copy`, hyper via
//! `hyper_util::rt::TokioIo` and tokio-util codecs work over it) and
//! [`UdpSocket`].
//!
//! CONTRACT: every call is non-blocking underneath (the descriptors are
//! O_NONBLOCK); a call that would block registers the task with the
//! stack's notifier thread and returns `Pending` (see `reactor.rs`: no
//! busy polling, an idle stack and idle tasks use no CPU). The types work
//! on any executor; they need no tokio runtime feature. Constructors take
//! the process default [`Net`] (see [`crate::net::set_default`]) or, in
//! the `*_on` forms, an explicit one. Addresses are resolved with
//! `std::net::ToSocketAddrs` (IP literals never block); IPv4 only, as in
//! [`crate::net`]. Errors are `io::Error`s with Linux's errno.
//!
//! ```
//! use sockstack::async_net::{TcpListener, TcpStream};
//! use sockstack::link::memory::{self, WireConfig};
//! use sockstack::proto::{wire::{Ipv4Addr, MacAddr}, Stack, StackConfig};
//! use sockstack::{Host, Net};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (la, lb) = memory::pair(WireConfig::ethernet());
//! let cfg = |last| StackConfig::ethernet(
//!     MacAddr([2, 0, 0, 0, 0, last]), Ipv4Addr::new(198, 18, 0, last), 24);
//! let a = Net::new(Host::spawn("a", Stack::new(cfg(1)), la)?);
//! let b = Net::new(Host::spawn("b", Stack::new(cfg(2)), lb)?);
//!
//! let listener = TcpListener::bind_on(&a, "198.18.0.1:7").await?;
//! let server = tokio::spawn(async move {
//!     let (mut s, _) = listener.accept().await?;
//!     let (mut r, mut w) = tokio::io::split(&mut s);
//!     tokio::io::copy(&mut r, &mut w).await
//! });
//! let mut c = TcpStream::connect_on(&b, "198.18.0.1:7").await?;
//! c.write_all(b"ping").await?;
//! c.shutdown().await?;
//! let mut back = Vec::new();
//! c.read_to_end(&mut back).await?;
//! assert_eq!(back, b"ping");
//! assert_eq!(server.await.unwrap()?, 4);
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod reactor;
mod tcp;
mod udp;

use std::io;
use std::sync::Arc;

use crate::bsd::{Bsd, Fd, FdEntry};
use crate::runtime::Host;
use crate::std_net::{os_err, Net, Socket};

pub(crate) use reactor::Interest;
pub use reactor::Reactor;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;

impl Net {
    /// The notifier of this stack, started on first use.
    pub fn reactor(&self) -> io::Result<Arc<Reactor>> {
        let mut slot = self
            .inner()
            .reactor
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(r) = slot.as_ref() {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(Reactor::start(Arc::clone(self.host()))?);
        *slot = Some(Arc::clone(&r));
        Ok(r)
    }
}

/// A non-blocking descriptor plus the notifier that wakes its tasks.
pub(crate) struct Source {
    pub(crate) sock: Arc<Socket>,
    pub(crate) reactor: Arc<Reactor>,
    pub(crate) entry: Arc<FdEntry>,
}

impl Source {
    /// Make `sock` non-blocking and attach it to its stack's notifier.
    pub(crate) fn new(sock: Arc<Socket>) -> io::Result<Source> {
        let reactor = sock.net.reactor()?;
        let bsd = sock.net.bsd();
        bsd.set_nonblocking(sock.fd, true).map_err(os_err)?;
        let entry = bsd.entry(sock.fd).map_err(os_err)?;
        Ok(Source {
            sock,
            reactor,
            entry,
        })
    }

    pub(crate) fn bsd(&self) -> &Bsd<Arc<Host>> {
        self.sock.net.bsd()
    }

    pub(crate) fn fd(&self) -> Fd {
        self.sock.fd
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.reactor.forget(&self.entry);
    }
}

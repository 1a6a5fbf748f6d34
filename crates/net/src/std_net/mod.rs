//! Sockets shaped like `std::net`: [`TcpListener`], [`TcpStream`] and
//! [`UdpSocket`] over a sockstack [`Net`] (a stack running on a real-clock
//! [`Host`]).
//!
//! CONTRACT: the method names, signatures and semantics are std's, so code
//! ports by changing its `use` line. Two ways to name the stack:
//! [`set_default`] once, after which `TcpListener::bind(addr)`,
//! `TcpStream::connect(addr)` and `UdpSocket::bind(addr)` work exactly as in
//! std; or the `*_on(&net, ...)` constructors for several stacks in one
//! process. Addresses are anything `ToSocketAddrs` accepts; each resolved
//! IPv4 address is tried in turn, IPv6 ones fail with
//! `io::ErrorKind::Unsupported` (EAFNOSUPPORT: the stack is IPv4 only).
//! Errors are `io::Error`s carrying Linux's errno (`raw_os_error`), so
//! `kind()` is what std would report. Blocking calls block only the calling
//! thread; the stack's runtime thread keeps running. `try_clone` shares
//! the descriptor (like `dup`): options such as non-blocking mode and
//! timeouts are shared, and the socket closes when the last clone drops.
//!
//! A real echo server and its client, on two hosts joined by an in-memory
//! wire:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::Shutdown;
//! use std::thread;
//!
//! use sockstack::link::memory::{self, WireConfig};
//! use sockstack::net::{Net, TcpListener, TcpStream};
//! use sockstack::proto::{wire::{Ipv4Addr, MacAddr}, Stack, StackConfig};
//! use sockstack::Host;
//!
//! let (la, lb) = memory::pair(WireConfig::ethernet());
//! let cfg = |last| StackConfig::ethernet(
//!     MacAddr([2, 0, 0, 0, 0, last]), Ipv4Addr::new(198, 18, 0, last), 24);
//! let server_net = Net::new(Host::spawn("server", Stack::new(cfg(1)), la)?);
//! let client_net = Net::new(Host::spawn("client", Stack::new(cfg(2)), lb)?);
//!
//! let listener = TcpListener::bind_on(&server_net, "198.18.0.1:7")?;
//! let server = thread::spawn(move || -> std::io::Result<()> {
//!     for stream in listener.incoming().take(1) {
//!         let mut stream = stream?;
//!         let mut buf = [0u8; 4096];
//!         loop {
//!             let n = stream.read(&mut buf)?;
//!             if n == 0 {
//!                 break;
//!             }
//!             stream.write_all(&buf[..n])?;
//!         }
//!     }
//!     Ok(())
//! });
//!
//! let mut client = TcpStream::connect_on(&client_net, "198.18.0.1:7")?;
//! client.write_all(b"hello, sockstack")?;
//! client.shutdown(Shutdown::Write)?;
//! let mut echoed = String::new();
//! client.read_to_string(&mut echoed)?;
//! assert_eq!(echoed, "hello, sockstack");
//! server.join().expect("server thread")?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod tcp;
mod udp;

use std::io;
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::{Arc, RwLock};

use crate::bsd::{Bsd, Errno, Fd};
use crate::runtime::Host;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(feature = "tokio")]
pub(crate) use udp::{first_addr, from_or_unspecified, udp_bound};

/// One stack for the std-shaped (and tokio-shaped) socket types: a
/// [`Host`] plus its BSD facade. Cheap to clone; the host stops when the
/// last clone and the last socket made from it are dropped.
#[derive(Clone)]
pub struct Net {
    inner: Arc<NetInner>,
}

pub(crate) struct NetInner {
    bsd: Bsd<Arc<Host>>,
    #[cfg(feature = "tokio")]
    pub(crate) reactor: std::sync::Mutex<Option<Arc<crate::async_net::Reactor>>>,
}

impl Drop for NetInner {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        if let Some(r) = self.reactor.get_mut().ok().and_then(|r| r.take()) {
            r.stop(self.bsd.driver());
        }
    }
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("host", &self.host().name())
            .finish_non_exhaustive()
    }
}

impl Net {
    /// Sockets on `host`.
    pub fn new(host: Host) -> Net {
        Net::from_host(Arc::new(host))
    }

    /// Sockets on a shared `host`.
    pub fn from_host(host: Arc<Host>) -> Net {
        Net {
            inner: Arc::new(NetInner {
                bsd: Bsd::new(host),
                #[cfg(feature = "tokio")]
                reactor: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The BSD facade underneath (descriptors of this `Net`'s sockets are
    /// valid there).
    pub fn bsd(&self) -> &Bsd<Arc<Host>> {
        &self.inner.bsd
    }

    /// The host running the stack.
    pub fn host(&self) -> &Arc<Host> {
        self.inner.bsd.driver()
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn inner(&self) -> &NetInner {
        &self.inner
    }
}

fn default_slot() -> &'static RwLock<Option<Net>> {
    static DEFAULT: RwLock<Option<Net>> = RwLock::new(None);
    &DEFAULT
}

/// Make `net` the process's default stack (the one `TcpListener::bind`,
/// `TcpStream::connect` and `UdpSocket::bind` use); returns the previous one.
pub fn set_default(net: Net) -> Option<Net> {
    default_slot()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .replace(net)
}

/// Forget the default stack (sockets already made keep theirs).
pub fn clear_default() -> Option<Net> {
    default_slot()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .take()
}

/// The default stack, or an error (ENETDOWN) if [`set_default`] was never called.
pub fn default_net() -> io::Result<Net> {
    default_slot()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NetworkDown,
                "no default sockstack stack: call sockstack::net::set_default first",
            )
        })
}

/// An io::Error for an errno (raw_os_error is Linux's number).
pub(crate) fn os_err(e: Errno) -> io::Error {
    io::Error::from(e)
}

/// The error for an IPv6 address: the stack speaks IPv4 only.
pub(crate) fn ipv6_unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "sockstack is IPv4 only (EAFNOSUPPORT)",
    )
}

/// The IPv4 form of `addr` (IPv6: Unsupported).
pub(crate) fn v4(addr: &SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(*a),
        SocketAddr::V6(_) => Err(ipv6_unsupported()),
    }
}

/// Try `f` on each address `addr` resolves to, as std does: the first
/// success, else the last error.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddrV4) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match v4(&a).and_then(&mut f) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// std refuses a zero timeout (it would mean "forever" to the OS).
pub(crate) fn check_timeout(t: Option<std::time::Duration>) -> io::Result<()> {
    if t.is_some_and(|t| t.is_zero()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

/// One open descriptor, closed when the last owner drops it.
pub(crate) struct Socket {
    pub(crate) net: Net,
    pub(crate) fd: Fd,
}

impl Socket {
    pub(crate) fn bsd(&self) -> &Bsd<Arc<Host>> {
        self.net.bsd()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Nothing to report to: std also ignores close errors on drop.
        let _ = self.net.bsd().close(self.fd);
    }
}

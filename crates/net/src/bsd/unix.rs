//! AF_UNIX descriptors: the host's own Unix-domain sockets behind the
//! facade's descriptor table, so one API (and one `poll`) covers both
//! families, and other processes can connect to the path.
//!
//! CONTRACT: `socket(AF_UNIX, SOCK_STREAM | SOCK_DGRAM)` (SOCK_SEQPACKET is
//! ESOCKTNOSUPPORT: std has no type for it). Addresses are paths:
//! [`Bsd::bind_unix`], [`Bsd::connect_unix`], [`Bsd::sendto_unix`],
//! [`Bsd::recvfrom_unix`], [`Bsd::accept_unix`]; the generic calls (send,
//! recv, listen, accept, shutdown, close, poll, fcntl, the timeouts,
//! SO_ERROR, SO_TYPE) work as on Linux, and errors are the kernel's own
//! errno. Differences: a stream socket's bind already listens in the
//! kernel (std binds and listens in one step), so a connect before
//! listen() is queued rather than refused; accept before listen() is
//! EINVAL. close does not unlink the path (as on Linux).
//!
//! Blocking: the host sockets are always non-blocking underneath; a
//! blocking call tries, then waits in poll(2) on that one descriptor for
//! at most 100 ms at a time (so a close from another thread is noticed
//! within 100 ms: EBADF), until SO_RCVTIMEO / SO_SNDTIMEO (real time).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::consts::*;
use super::driver::Driver;
use super::errno::{Errno, Result};
use super::family::Sock;
use super::fd_table::{Fd, FdEntry, FdFlags};
use super::Bsd;
use crate::link::sys;

/// Longest single wait in poll(2) before re-checking the descriptor.
const SLICE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnixType {
    Stream,
    Dgram,
}

#[derive(Debug)]
pub(crate) enum UnixState {
    Fresh,
    Listener {
        l: Arc<UnixListener>,
        listening: bool,
    },
    Stream(Arc<UnixStream>),
    Dgram(Arc<UnixDatagram>),
}

#[derive(Debug)]
pub(crate) struct UnixSock {
    pub ty: UnixType,
    state: Mutex<UnixState>,
}

/// A socket usable for I/O, cloned out of the state lock.
enum Io {
    Stream(Arc<UnixStream>),
    Dgram(Arc<UnixDatagram>),
}

impl Io {
    fn fd(&self) -> RawFd {
        match self {
            Io::Stream(s) => s.as_raw_fd(),
            Io::Dgram(d) => d.as_raw_fd(),
        }
    }
}

impl UnixSock {
    pub fn new(ty: UnixType) -> UnixSock {
        UnixSock {
            ty,
            state: Mutex::new(UnixState::Fresh),
        }
    }

    fn lock(&self) -> MutexGuard<'_, UnixState> {
        // Replaced whole under the lock; never torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host descriptor, if the socket exists in the kernel yet.
    pub fn raw_fd(&self) -> Option<RawFd> {
        match &*self.lock() {
            UnixState::Fresh => None,
            UnixState::Listener { l, .. } => Some(l.as_raw_fd()),
            UnixState::Stream(s) => Some(s.as_raw_fd()),
            UnixState::Dgram(d) => Some(d.as_raw_fd()),
        }
    }

    /// Poll bits now (Linux `unix_poll` / `unix_dgram_poll`, from the kernel).
    pub fn mask(&self, events: i16) -> i16 {
        let Some(fd) = self.raw_fd() else {
            // Not connected: a stream socket polls POLLOUT | POLLHUP like an
            // unconnected TCP one; a datagram socket can always send.
            return match self.ty {
                UnixType::Stream => POLLOUT | POLLWRNORM | POLLHUP,
                UnixType::Dgram => POLLOUT | POLLWRNORM,
            };
        };
        let ask = events | POLLIN | POLLOUT;
        match sys::poll_revents(&[(fd, ask)], Duration::ZERO) {
            Ok(r) => r.first().copied().unwrap_or(0),
            Err(_) => POLLERR,
        }
    }

    fn io(&self) -> Option<Io> {
        match &*self.lock() {
            UnixState::Stream(s) => Some(Io::Stream(Arc::clone(s))),
            UnixState::Dgram(d) => Some(Io::Dgram(Arc::clone(d))),
            _ => None,
        }
    }

    /// The datagram socket, created unbound on first use.
    fn dgram(&self) -> Result<Arc<UnixDatagram>> {
        let mut st = self.lock();
        match &*st {
            UnixState::Dgram(d) => Ok(Arc::clone(d)),
            UnixState::Fresh => {
                let d = UnixDatagram::unbound()?;
                d.set_nonblocking(true)?;
                let d = Arc::new(d);
                *st = UnixState::Dgram(Arc::clone(&d));
                Ok(d)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

fn unix_parts(e: &FdEntry) -> Result<&UnixSock> {
    match &e.sock {
        Sock::Unix(u) => Ok(u),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl<D: Driver> Bsd<D> {
    /// Retry `op` until it stops saying EAGAIN, waiting for `events` on
    /// `raw` between tries (see the module doc). EAGAIN at once when
    /// non-blocking, after `timeout` otherwise.
    fn unix_wait<R>(
        &self,
        (fd, e): (Fd, &Arc<FdEntry>),
        raw: RawFd,
        events: i16,
        nonblocking: bool,
        timeout: Option<Duration>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Result<R> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            match op() {
                Ok(r) => return Ok(r),
                Err(err) if would_block(&err) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            }
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => SLICE,
            };
            if left.is_zero() {
                return Err(Errno::EAGAIN);
            }
            sys::poll_revents(&[(raw, events)], left.min(SLICE))?;
            match self.table().get(fd) {
                Ok(now) if Arc::ptr_eq(&now, e) => {}
                _ => return Err(Errno::EBADF),
            }
        }
    }

    pub(crate) fn unix_socket(&self, ty: i32) -> Result<Sock> {
        let t = match ty {
            SOCK_STREAM => UnixType::Stream,
            SOCK_DGRAM => UnixType::Dgram,
            // std has no SOCK_SEQPACKET type; see the module doc.
            _ => return Err(Errno::ESOCKTNOSUPPORT),
        };
        Ok(Sock::Unix(UnixSock::new(t)))
    }

    /// bind(2) on an AF_UNIX descriptor: creates the socket file at `path`
    /// (EADDRINUSE if it exists).
    pub fn bind_unix(&self, fd: Fd, path: impl AsRef<Path>) -> Result<()> {
        let e = self.entry(fd)?;
        let u = unix_parts(&e)?;
        let mut st = u.lock();
        if !matches!(*st, UnixState::Fresh) {
            return Err(Errno::EINVAL);
        }
        *st = match u.ty {
            UnixType::Stream => {
                let l = UnixListener::bind(path)?;
                l.set_nonblocking(true)?;
                UnixState::Listener {
                    l: Arc::new(l),
                    listening: false,
                }
            }
            UnixType::Dgram => {
                let d = UnixDatagram::bind(path)?;
                d.set_nonblocking(true)?;
                UnixState::Dgram(Arc::new(d))
            }
        };
        Ok(())
    }

    pub(crate) fn unix_listen(&self, e: &FdEntry) -> Result<()> {
        let u = unix_parts(e)?;
        if u.ty != UnixType::Stream {
            return Err(Errno::EOPNOTSUPP);
        }
        match &mut *u.lock() {
            UnixState::Listener { listening, .. } => {
                *listening = true;
                Ok(())
            }
            UnixState::Stream(_) => Err(Errno::EINVAL),
            // Linux autobinds to an abstract name here; we need a path.
            _ => Err(Errno::EINVAL),
        }
    }

    /// accept(2) on an AF_UNIX listener: the new descriptor and the
    /// peer's path (`None`: the peer is unbound, the usual case).
    pub fn accept_unix(&self, fd: Fd, flags: i32) -> Result<(Fd, Option<PathBuf>)> {
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let e = self.entry(fd)?;
        let u = unix_parts(&e)?;
        let l = match &*u.lock() {
            UnixState::Listener { l, listening: true } => Arc::clone(l),
            _ if u.ty == UnixType::Dgram => return Err(Errno::EOPNOTSUPP),
            _ => return Err(Errno::EINVAL),
        };
        let lf = e.flags();
        let (s, addr) = self.unix_wait(
            (fd, &e),
            l.as_raw_fd(),
            POLLIN,
            lf.nonblocking,
            lf.rcvtimeo,
            || l.accept(),
        )?;
        s.set_nonblocking(true)?;
        let sock = UnixSock::new(UnixType::Stream);
        *sock.lock() = UnixState::Stream(Arc::new(s));
        let flags = FdFlags {
            nonblocking: flags & SOCK_NONBLOCK != 0,
            cloexec: flags & SOCK_CLOEXEC != 0,
            ..lf
        };
        let new = self
            .table()
            .insert(FdEntry::with_sock(Sock::Unix(sock), flags))?;
        Ok((new, addr.as_pathname().map(Path::to_path_buf)))
    }

    /// connect(2) on an AF_UNIX descriptor to the socket at `path`.
    pub fn connect_unix(&self, fd: Fd, path: impl AsRef<Path>) -> Result<()> {
        let e = self.entry(fd)?;
        let u = unix_parts(&e)?;
        match u.ty {
            UnixType::Stream => {
                let mut st = u.lock();
                match &*st {
                    UnixState::Fresh => {}
                    UnixState::Stream(_) => return Err(Errno::EISCONN),
                    UnixState::Listener { .. } => return Err(Errno::EINVAL),
                    UnixState::Dgram(_) => return Err(Errno::EINVAL),
                }
                // A Unix stream connect completes at once (or is refused).
                let s = UnixStream::connect(path)?;
                s.set_nonblocking(true)?;
                *st = UnixState::Stream(Arc::new(s));
                Ok(())
            }
            UnixType::Dgram => Ok(u.dgram()?.connect(path)?),
        }
    }

    /// sendto(2) on an AF_UNIX datagram socket to the socket at `path`.
    pub fn sendto_unix(
        &self,
        fd: Fd,
        buf: &[u8],
        flags: i32,
        path: impl AsRef<Path>,
    ) -> Result<usize> {
        let e = self.entry(fd)?;
        let u = unix_parts(&e)?;
        if u.ty != UnixType::Dgram {
            return Err(Errno::EISCONN);
        }
        let d = u.dgram()?;
        let f = e.flags();
        let nb = f.nonblocking || flags & MSG_DONTWAIT != 0;
        let path = path.as_ref();
        self.unix_wait((fd, &e), d.as_raw_fd(), POLLOUT, nb, f.sndtimeo, || {
            d.send_to(buf, path)
        })
    }

    /// recvfrom(2) on an AF_UNIX socket: bytes and the sender's path
    /// (`None` for an unbound sender, a stream, or with MSG_PEEK/MSG_TRUNC).
    pub fn recvfrom_unix(
        &self,
        fd: Fd,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<PathBuf>)> {
        let e = self.entry(fd)?;
        let u = unix_parts(&e)?;
        match u.io() {
            Some(Io::Dgram(d)) if flags & (MSG_PEEK | MSG_TRUNC) == 0 => {
                let f = e.flags();
                let nb = f.nonblocking || flags & MSG_DONTWAIT != 0;
                let (n, a) =
                    self.unix_wait((fd, &e), d.as_raw_fd(), POLLIN, nb, f.rcvtimeo, || {
                        d.recv_from(buf)
                    })?;
                Ok((n, a.as_pathname().map(Path::to_path_buf)))
            }
            _ => Ok((self.unix_recv(fd, &e, buf, flags)?, None)),
        }
    }

    /// send(2) on an AF_UNIX descriptor. A blocking stream send returns
    /// once every byte is written (or with the bytes written so far when
    /// the timeout ends it), as for TCP.
    pub(crate) fn unix_send(
        &self,
        fd: Fd,
        e: &Arc<FdEntry>,
        buf: &[u8],
        flags: i32,
    ) -> Result<usize> {
        let u = unix_parts(e)?;
        let io = match u.io() {
            Some(io) => io,
            None if u.ty == UnixType::Dgram => return Err(Errno::ENOTCONN),
            None => return Err(Errno::ENOTCONN),
        };
        let f = e.flags();
        let nb = f.nonblocking || flags & MSG_DONTWAIT != 0;
        let raw = io.fd();
        let kflags = (flags & MSG_NOSIGNAL) | libc::MSG_DONTWAIT;
        if let Io::Dgram(_) = io {
            return self.unix_wait((fd, e), raw, POLLOUT, nb, f.sndtimeo, || {
                sys::send_flags(raw, buf, kflags)
            });
        }
        let mut sent = 0;
        while sent < buf.len() {
            let rest = buf.get(sent..).unwrap_or_default();
            match self.unix_wait((fd, e), raw, POLLOUT, nb, f.sndtimeo, || {
                sys::send_flags(raw, rest, kflags)
            }) {
                Ok(n) => sent += n,
                Err(err) if sent == 0 => return Err(err),
                Err(_) => break,
            }
            if nb {
                break;
            }
        }
        Ok(sent)
    }

    /// recv(2) on an AF_UNIX descriptor (MSG_PEEK, MSG_TRUNC on datagrams,
    /// MSG_WAITALL on streams, MSG_DONTWAIT). 0 at end of stream.
    pub(crate) fn unix_recv(
        &self,
        fd: Fd,
        e: &Arc<FdEntry>,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<usize> {
        let u = unix_parts(e)?;
        let Some(io) = u.io() else {
            return Err(if u.ty == UnixType::Stream {
                Errno::EINVAL
            } else {
                Errno::EAGAIN
            });
        };
        let f = e.flags();
        let nb = f.nonblocking || flags & MSG_DONTWAIT != 0;
        let raw = io.fd();
        let kflags = (flags & (MSG_PEEK | MSG_TRUNC)) | libc::MSG_DONTWAIT;
        let waitall = flags & MSG_WAITALL != 0 && flags & MSG_PEEK == 0;
        if matches!(io, Io::Dgram(_)) || !waitall {
            return self.unix_wait((fd, e), raw, POLLIN, nb, f.rcvtimeo, || {
                sys::recv_flags(raw, buf, kflags)
            });
        }
        let mut got = 0;
        while got < buf.len() {
            let rest = buf.get_mut(got..).unwrap_or_default();
            match self.unix_wait((fd, e), raw, POLLIN, nb, f.rcvtimeo, || {
                sys::recv_flags(raw, rest, kflags)
            }) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(err) if got == 0 => return Err(err),
                Err(_) => break,
            }
        }
        Ok(got)
    }

    pub(crate) fn unix_shutdown(&self, e: &FdEntry, how: i32) -> Result<()> {
        let how = match how {
            SHUT_RD => std::net::Shutdown::Read,
            SHUT_WR => std::net::Shutdown::Write,
            SHUT_RDWR => std::net::Shutdown::Both,
            _ => return Err(Errno::EINVAL),
        };
        match unix_parts(e)?.io() {
            Some(Io::Stream(s)) => Ok(s.shutdown(how)?),
            Some(Io::Dgram(d)) => Ok(d.shutdown(how)?),
            None => Err(Errno::ENOTCONN),
        }
    }

    /// SO_ERROR on an AF_UNIX descriptor (the kernel's, cleared).
    pub(crate) fn unix_so_error(&self, e: &FdEntry) -> Result<Option<Errno>> {
        let u = unix_parts(e)?;
        let r = match &*u.lock() {
            UnixState::Fresh => None,
            UnixState::Listener { l, .. } => l.take_error()?,
            UnixState::Stream(s) => s.take_error()?,
            UnixState::Dgram(d) => d.take_error()?,
        };
        Ok(r.map(Errno::from))
    }

    /// SO_TYPE of an AF_UNIX descriptor.
    pub(crate) fn unix_type(e: &FdEntry) -> Result<i32> {
        Ok(match unix_parts(e)?.ty {
            UnixType::Stream => SOCK_STREAM,
            UnixType::Dgram => SOCK_DGRAM,
        })
    }

    /// getsockname(2) for AF_UNIX: the bound path (`None`: unbound).
    pub fn unix_local_path(&self, fd: Fd) -> Result<Option<PathBuf>> {
        let e = self.entry(fd)?;
        let a = match &*unix_parts(&e)?.lock() {
            UnixState::Fresh => return Ok(None),
            UnixState::Listener { l, .. } => l.local_addr()?,
            UnixState::Stream(s) => s.local_addr()?,
            UnixState::Dgram(d) => d.local_addr()?,
        };
        Ok(a.as_pathname().map(Path::to_path_buf))
    }

    /// getpeername(2) for AF_UNIX: the peer's path (`None`: unbound peer);
    /// ENOTCONN when not connected.
    pub fn unix_peer_path(&self, fd: Fd) -> Result<Option<PathBuf>> {
        let e = self.entry(fd)?;
        let a = match unix_parts(&e)?.io() {
            Some(Io::Stream(s)) => s.peer_addr()?,
            Some(Io::Dgram(d)) => d.peer_addr()?,
            None => return Err(Errno::ENOTCONN),
        };
        Ok(a.as_pathname().map(Path::to_path_buf))
    }

    /// socketpair(2): two connected AF_UNIX descriptors (SOCK_STREAM or
    /// SOCK_DGRAM, optionally with SOCK_NONBLOCK / SOCK_CLOEXEC).
    pub fn socketpair(&self, domain: i32, ty: i32, protocol: i32) -> Result<(Fd, Fd)> {
        if domain != AF_UNIX {
            return Err(Errno::EOPNOTSUPP);
        }
        if protocol != 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let base = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
        let (a, b) = match base {
            SOCK_STREAM => {
                let (a, b) = UnixStream::pair()?;
                a.set_nonblocking(true)?;
                b.set_nonblocking(true)?;
                (
                    (UnixType::Stream, UnixState::Stream(Arc::new(a))),
                    (UnixType::Stream, UnixState::Stream(Arc::new(b))),
                )
            }
            SOCK_DGRAM => {
                let (a, b) = UnixDatagram::pair()?;
                a.set_nonblocking(true)?;
                b.set_nonblocking(true)?;
                (
                    (UnixType::Dgram, UnixState::Dgram(Arc::new(a))),
                    (UnixType::Dgram, UnixState::Dgram(Arc::new(b))),
                )
            }
            _ => return Err(Errno::ESOCKTNOSUPPORT),
        };
        let flags = FdFlags {
            nonblocking: ty & SOCK_NONBLOCK != 0,
            cloexec: ty & SOCK_CLOEXEC != 0,
            ..FdFlags::default()
        };
        let mut fds = [Fd(-1), Fd(-1)];
        for (slot, (t, st)) in fds.iter_mut().zip([a, b]) {
            let sock = UnixSock::new(t);
            *sock.lock() = st;
            match self
                .table()
                .insert(FdEntry::with_sock(Sock::Unix(sock), flags))
            {
                Ok(fd) => *slot = fd,
                Err(err) => {
                    if fds[0].0 >= 0 {
                        let _ = self.table().remove(fds[0]);
                    }
                    return Err(err);
                }
            }
        }
        Ok((fds[0], fds[1]))
    }
}

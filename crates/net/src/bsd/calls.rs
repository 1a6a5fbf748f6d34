//! socket, bind, listen, accept, connect, shutdown, close, getsockname,
//! getpeername and fcntl.

use std::net::SocketAddrV4;

use sockstack_proto::{Duration as ProtoDuration, Shutdown, SocketHandle, Stack, TcpState};

use super::consts::*;
use super::driver::{Driver, WaitError};
use super::errno::{Errno, Result};
use super::fd_table::{Fd, FdEntry, FdFlags};
use super::{Bsd, Step};

/// True while the handshake runs (connect has neither succeeded nor failed).
fn connecting(state: Option<TcpState>) -> bool {
    matches!(state, Some(TcpState::SynSent | TcpState::SynReceived))
}

impl<D: Driver> Bsd<D> {
    /// socket(2): `domain` AF_INET, `ty` SOCK_STREAM optionally or-ed with
    /// SOCK_NONBLOCK / SOCK_CLOEXEC, `protocol` 0 or IPPROTO_TCP.
    ///
    /// Also `SOCK_DGRAM` (UDP, `udp.rs`), `SOCK_RAW` with a protocol number
    /// (`raw.rs`), and `AF_UNIX` with `SOCK_STREAM` / `SOCK_DGRAM` (the
    /// host's own sockets, `unix.rs`).
    pub fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Result<Fd> {
        let base = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
        let flags = FdFlags {
            nonblocking: ty & SOCK_NONBLOCK != 0,
            cloexec: ty & SOCK_CLOEXEC != 0,
            ..FdFlags::default()
        };
        if domain != AF_INET || base != SOCK_STREAM {
            return self.socket_other(domain, base, protocol, flags);
        }
        if protocol != 0 && protocol != IPPROTO_TCP {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let h = self
            .driver
            .with_stack(|s, _| s.sockets_mut().tcp_socket())
            .ok_or(Errno::ENOBUFS)?;
        self.install(h, flags)
    }

    /// Put `h` in the table; on failure (EMFILE) release the socket.
    fn install(&self, h: SocketHandle, flags: FdFlags) -> Result<Fd> {
        let r = self.table().insert(FdEntry::new(h, flags));
        if r.is_err() {
            self.driver.with_stack(|s, _| {
                let _ = s.sockets_mut().abort(h);
            });
        }
        r
    }

    /// bind(2). Port 0 picks an ephemeral port.
    pub fn bind(&self, fd: Fd, addr: SocketAddrV4) -> Result<()> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.bind_other(&e, addr);
        };
        self.driver
            .with_stack(|s, _| s.sockets_mut().bind(h, *addr.ip(), addr.port()))
            .map_err(Errno::from)
    }

    /// listen(2). A negative backlog means "the maximum" (Linux casts it to
    /// unsigned and caps it at somaxconn).
    pub fn listen(&self, fd: Fd, backlog: i32) -> Result<()> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.listen_other(&e);
        };
        let backlog = u32::try_from(backlog).unwrap_or(u32::MAX);
        self.driver
            .with_stack(|s, _| s.sockets_mut().listen(h, backlog))
            .map_err(Errno::from)
    }

    /// accept(2): a new descriptor for the oldest established connection,
    /// and the peer's address. Blocks (up to SO_RCVTIMEO, then EAGAIN)
    /// unless the listener is non-blocking.
    pub fn accept(&self, fd: Fd) -> Result<(Fd, SocketAddrV4)> {
        self.accept4(fd, 0)
    }

    /// accept4(2): `flags` may hold SOCK_NONBLOCK and SOCK_CLOEXEC for the
    /// new descriptor. Like Linux, the new socket inherits the listener's
    /// timeouts and SO_LINGER but not its O_NONBLOCK.
    pub fn accept4(&self, fd: Fd, flags: i32) -> Result<(Fd, SocketAddrV4)> {
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.accept_other(fd, &e, flags);
        };
        let lf = e.flags();
        let take = |s: &mut Stack| {
            let ss = s.sockets_mut();
            ss.accept(h).map(|child| {
                let peer = ss
                    .peer_addr(child)
                    .unwrap_or(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0));
                (child, peer)
            })
        };
        let (child, peer) = if lf.nonblocking {
            self.driver.with_stack(|s, _| take(s))?
        } else {
            let deadline = self.deadline(lf.rcvtimeo);
            self.block_on(deadline, |s, _| match take(s) {
                Err(sockstack_proto::AcceptError::WouldBlock) => Step::Pending,
                r => Step::Done(r),
            })??
        };
        let flags = FdFlags {
            nonblocking: flags & SOCK_NONBLOCK != 0,
            cloexec: flags & SOCK_CLOEXEC != 0,
            ..lf
        };
        Ok((self.install(child, flags)?, peer))
    }

    /// connect(2). Blocking: waits for the handshake (up to SO_SNDTIMEO,
    /// then EINPROGRESS as Linux does) and returns its error
    /// (ECONNREFUSED, ETIMEDOUT, ...). Non-blocking: EINPROGRESS at once;
    /// the result shows as writability (poll POLLOUT) and in SO_ERROR. A
    /// second connect while the first runs gives EALREADY, once connected
    /// EISCONN, and after a failed non-blocking connect the failure itself.
    pub fn connect(&self, fd: Fd, addr: SocketAddrV4) -> Result<()> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.connect_other(&e, addr);
        };
        let flags = e.flags();
        self.driver.with_stack(|s, now| {
            let ss = s.sockets_mut();
            // Linux inet_stream_connect: a listener is "already connected".
            if ss.state(h) == Some(TcpState::Listen) {
                return Err(Errno::EISCONN);
            }
            // ... and a failed attempt reports its error once.
            if ss.state(h) == Some(TcpState::Closed) {
                if let Some(err) = ss.take_error(h) {
                    return Err(Errno::from(err));
                }
            }
            ss.connect(now, h, *addr.ip(), addr.port())
                .map_err(Errno::from)
        })?;
        if flags.nonblocking {
            return Err(Errno::EINPROGRESS);
        }
        self.wait_connected(h, flags)
    }

    fn wait_connected(&self, h: SocketHandle, flags: FdFlags) -> Result<()> {
        let deadline = self.deadline(flags.sndtimeo);
        let waited = self.block_on(deadline, |s, _| {
            let ss = s.sockets();
            if ss.error(h).is_some() || !connecting(ss.state(h)) {
                Step::Done(())
            } else {
                Step::Pending
            }
        });
        match waited {
            Ok(()) => {}
            // Linux: connect interrupted by SO_SNDTIMEO reports EINPROGRESS.
            Err(WaitError::TimedOut) => return Err(Errno::EINPROGRESS),
            Err(w) => return Err(w.into()),
        }
        self.driver.with_stack(|s, _| {
            let ss = s.sockets_mut();
            if let Some(err) = ss.take_error(h) {
                return Err(Errno::from(err));
            }
            match ss.state(h) {
                None => Err(Errno::EBADF),
                Some(st) if st.is_synchronized() => Ok(()),
                Some(_) => Err(Errno::ECONNABORTED),
            }
        })
    }

    /// connect that returns the errno instead of failing, like Python's
    /// `socket.connect_ex`: 0 on success, e.g. 111 for ECONNREFUSED, 115
    /// (EINPROGRESS) for a non-blocking socket.
    pub fn connect_ex(&self, fd: Fd, addr: SocketAddrV4) -> i32 {
        match self.connect(fd, addr) {
            Ok(()) => 0,
            Err(e) => e.0,
        }
    }

    /// shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.
    pub fn shutdown(&self, fd: Fd, how: i32) -> Result<()> {
        let raw_how = how;
        let how = match how {
            SHUT_RD => Shutdown::Read,
            SHUT_WR => Shutdown::Write,
            SHUT_RDWR => Shutdown::Both,
            _ => return Err(Errno::EINVAL),
        };
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.shutdown_other(&e, raw_how);
        };
        self.driver
            .with_stack(|s, _| s.sockets_mut().shutdown(h, how))
            .map_err(Errno::from)
    }

    /// close(2). The descriptor is gone at once (EBADF afterwards).
    /// SO_LINGER {on, 0} aborts with RST. SO_LINGER {on, N} waits up to N
    /// seconds for the FIN to be acknowledged (Linux `sk_stream_wait_close`;
    /// like Linux it waits even on a non-blocking socket), then lets the
    /// stack finish the close. Otherwise the stack finishes in the
    /// background (FIN after the queued data, or RST if unread data remains).
    pub fn close(&self, fd: Fd) -> Result<()> {
        let e = self.table().remove(fd)?;
        let Some(h) = e.tcp() else {
            return self.close_other(&e);
        };
        let linger = e.flags().linger;
        if linger.on && linger.secs == 0 {
            return self
                .driver
                .with_stack(|s, _| s.sockets_mut().abort(h))
                .map_err(Errno::from);
        }
        if linger.on {
            self.linger_wait(h, linger.secs);
        }
        self.driver
            .with_stack(|s, _| s.sockets_mut().close(h))
            .map_err(Errno::from)
    }

    /// Send our FIN now and wait (bounded) until it is acknowledged.
    fn linger_wait(&self, h: SocketHandle, secs: u32) {
        let started = self.driver.with_stack(|s, _| {
            let ss = s.sockets_mut();
            let unread = ss.info(h).map_or(0, |i| i.recv_queue);
            let open = matches!(
                ss.state(h),
                Some(TcpState::Established | TcpState::CloseWait)
            );
            // Unread data means close resets at once (RFC 2525 2.17): nothing to wait for.
            open && unread == 0 && ss.shutdown(h, Shutdown::Write).is_ok()
        });
        if !started {
            return;
        }
        let deadline = self.driver.now() + ProtoDuration::from_secs(u64::from(secs));
        let _ = self.block_on(Some(deadline), |s, _| {
            let ss = s.sockets();
            let waiting = matches!(
                ss.state(h),
                Some(TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck)
            );
            if waiting && ss.error(h).is_none() {
                Step::Pending
            } else {
                Step::Done(())
            }
        });
    }

    /// getsockname(2): 0.0.0.0:0 before bind/connect.
    pub fn getsockname(&self, fd: Fd) -> Result<SocketAddrV4> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.sockname_other(&e);
        };
        self.driver
            .with_stack(|s, _| s.sockets().local_addr(h))
            .ok_or(Errno::EBADF)
    }

    /// getpeername(2): ENOTCONN unless connected.
    pub fn getpeername(&self, fd: Fd) -> Result<SocketAddrV4> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.peername_other(&e);
        };
        self.driver
            .with_stack(|s, _| s.sockets().peer_addr(h))
            .ok_or(Errno::ENOTCONN)
    }

    /// fcntl(2) for F_GETFL / F_SETFL (O_NONBLOCK; other flags ignored as
    /// Linux ignores them on sockets) and F_GETFD / F_SETFD (FD_CLOEXEC,
    /// recorded only). Other commands: EINVAL.
    pub fn fcntl(&self, fd: Fd, cmd: i32, arg: i32) -> Result<i32> {
        let e = self.entry(fd)?;
        match cmd {
            F_GETFL => Ok(O_RDWR | if e.flags().nonblocking { O_NONBLOCK } else { 0 }),
            F_SETFL => {
                e.update(|f| f.nonblocking = arg & O_NONBLOCK != 0);
                Ok(0)
            }
            F_GETFD => Ok(if e.flags().cloexec { FD_CLOEXEC } else { 0 }),
            F_SETFD => {
                e.update(|f| f.cloexec = arg & FD_CLOEXEC != 0);
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Set or clear O_NONBLOCK (`fcntl(F_SETFL)` keeping other flags).
    pub fn set_nonblocking(&self, fd: Fd, on: bool) -> Result<()> {
        self.entry(fd)?.update(|f| f.nonblocking = on);
        Ok(())
    }

    /// Whether O_NONBLOCK is set.
    pub fn is_nonblocking(&self, fd: Fd) -> Result<bool> {
        Ok(self.entry(fd)?.flags().nonblocking)
    }
}

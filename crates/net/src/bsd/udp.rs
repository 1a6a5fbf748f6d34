//! UDP descriptors (`socket(AF_INET, SOCK_DGRAM, 0)`).
//!
//! CONTRACT (as Linux `udp_sendmsg` / `udp_recvmsg`): bind is optional (the
//! first sendto or connect binds an ephemeral port on 0.0.0.0); connect
//! sets the default destination and filters receipt to that peer; sendto
//! with an address works on any socket, send without one needs a peer
//! (EDESTADDRREQ). Datagram boundaries are kept: one recv takes one
//! datagram, truncated to the buffer (its real length with MSG_TRUNC).
//! Sending to a broadcast address without SO_BROADCAST is EACCES; more
//! than 65,507 bytes is EMSGSIZE. A hard ICMP error (port unreachable ->
//! ECONNREFUSED, ...) is reported once by the next call on a connected
//! socket (and by SO_ERROR, and poll shows POLLERR); unconnected sockets
//! ignore ICMP errors. SO_RCVBUF bounds the receive queue (Linux doubles
//! the request); datagrams beyond it are dropped and counted. Blocking,
//! O_NONBLOCK, MSG_DONTWAIT and the timeouts behave as for TCP.

use std::net::SocketAddrV4;
use std::sync::{Mutex, MutexGuard};

use sockstack_proto::udp::SendError;
use sockstack_proto::wire::Ipv4Addr;
use sockstack_proto::{Stack, UdpHandle};

use super::consts::*;
use super::driver::Driver;
use super::errno::{Errno, Result};
use super::fd_table::FdEntry;
use super::map::icmp_hard_error;
use super::{Bsd, Step};

/// The facade's side of a UDP socket; the stack holds the rest.
#[derive(Debug, Default)]
pub(crate) struct UdpState {
    /// `None` until bound (explicitly or by the first send/connect).
    pub handle: Option<UdpHandle>,
    /// SO_BROADCAST.
    pub broadcast: bool,
    /// SO_RCVBUF as set (doubled), applied at bind.
    pub rcvbuf: Option<usize>,
    pub shut_rd: bool,
    pub shut_wr: bool,
}

#[derive(Debug, Default)]
pub(crate) struct UdpSock(Mutex<UdpState>);

impl UdpSock {
    pub fn lock(&self) -> MutexGuard<'_, UdpState> {
        // Plain data: a panic elsewhere cannot leave it torn.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Take the pending error of a connected socket; unconnected sockets drop
/// theirs (Linux reports ICMP errors only on connected UDP sockets).
pub(crate) fn take_udp_error(s: &mut Stack, h: UdpHandle) -> Option<Errno> {
    let connected = s.udp_peer(h).is_some();
    let r = s.udp_take_error(h)?;
    if connected {
        icmp_hard_error(r)
    } else {
        None
    }
}

/// Poll bits of a UDP socket (Linux `udp_poll` / `datagram_poll`).
pub(crate) fn udp_mask(s: &Stack, st: &UdpState) -> i16 {
    let mut m = 0;
    if !st.shut_wr {
        m |= POLLOUT | POLLWRNORM;
    }
    let Some(h) = st.handle else {
        return m;
    };
    if s.udp_queued(h).is_some_and(|n| n > 0) || st.shut_rd {
        m |= POLLIN | POLLRDNORM;
    }
    if s.udp_peer(h).is_some() && s.udp_has_error(h) {
        m |= POLLERR;
    }
    if st.shut_rd && st.shut_wr {
        m |= POLLHUP;
    }
    m
}

impl<D: Driver> Bsd<D> {
    fn udp_parts(e: &FdEntry) -> Result<&UdpSock> {
        match &e.sock {
            super::family::Sock::Udp(u) => Ok(u),
            _ => Err(Errno::EBADF),
        }
    }

    /// Bind `addr`, or an ephemeral port on 0.0.0.0 when `addr` is `None`
    /// (autobind); a socket already bound keeps its port. Lock order
    /// everywhere: the stack, then the socket's state.
    fn udp_ensure_bound(&self, u: &UdpSock, addr: Option<SocketAddrV4>) -> Result<UdpHandle> {
        self.driver.with_stack(|s, _| {
            let mut st = u.lock();
            if let Some(h) = st.handle {
                return if addr.is_some() {
                    Err(Errno::EINVAL)
                } else {
                    Ok(h)
                };
            }
            let a = addr.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            let h = s.udp_bind(*a.ip(), a.port())?;
            if let Some(n) = st.rcvbuf {
                s.udp_set_recv_buffer(h, n);
            }
            st.handle = Some(h);
            Ok(h)
        })
    }

    pub(crate) fn udp_bind(&self, e: &FdEntry, addr: SocketAddrV4) -> Result<()> {
        self.udp_ensure_bound(Self::udp_parts(e)?, Some(addr))
            .map(|_| ())
    }

    /// connect(2): the default destination and the only accepted sender.
    /// 0.0.0.0:0 disconnects (as AF_UNSPEC does).
    pub(crate) fn udp_connect(&self, e: &FdEntry, addr: SocketAddrV4) -> Result<()> {
        let u = Self::udp_parts(e)?;
        if addr.ip().is_unspecified() && addr.port() == 0 {
            if let Some(h) = u.lock().handle {
                self.driver.with_stack(|s, _| s.udp_connect(h, None));
            }
            return Ok(());
        }
        if addr.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let broadcast = u.lock().broadcast;
        let h = self.udp_ensure_bound(u, None)?;
        self.driver.with_stack(|s, _| {
            // Linux ip4_datagram_connect: a broadcast peer needs SO_BROADCAST.
            if s.is_broadcast_addr(*addr.ip()) && !broadcast {
                return Err(Errno::EACCES);
            }
            let _ = s.udp_take_error(h);
            s.udp_connect(h, Some(addr));
            Ok(())
        })
    }

    pub(crate) fn udp_sendto(
        &self,
        e: &FdEntry,
        buf: &[u8],
        flags: i32,
        addr: Option<SocketAddrV4>,
    ) -> Result<usize> {
        let u = Self::udp_parts(e)?;
        let (broadcast, shut_wr) = {
            let st = u.lock();
            (st.broadcast, st.shut_wr)
        };
        if shut_wr {
            return Err(Errno::EPIPE);
        }
        if buf.len() > 65_507 {
            return Err(Errno::EMSGSIZE);
        }
        let handle = u.lock().handle;
        let h = match (addr, handle) {
            (None, None) => return Err(Errno::EDESTADDRREQ),
            (_, Some(h)) => h,
            (Some(_), None) => self.udp_ensure_bound(u, None)?,
        };
        let f = e.flags();
        let nonblocking = f.nonblocking || flags & MSG_DONTWAIT != 0;
        let attempt = |s: &mut Stack| -> Step<Result<usize>> {
            if let Some(err) = take_udp_error(s, h) {
                return Step::Done(Err(err));
            }
            let Some(dst) = addr.or_else(|| s.udp_peer(h)) else {
                return Step::Done(Err(Errno::EDESTADDRREQ));
            };
            if s.is_broadcast_addr(*dst.ip()) && !broadcast {
                return Step::Done(Err(Errno::EACCES));
            }
            match s.udp_send_to(h, dst, buf) {
                Err(SendError::QueueFull) if !nonblocking => Step::Pending,
                r => Step::Done(r.map_err(Errno::from)),
            }
        };
        if nonblocking {
            return match self.driver.with_stack(|s, _| attempt(s)) {
                Step::Done(r) => r,
                _ => Err(Errno::EAGAIN),
            };
        }
        let deadline = self.deadline(f.sndtimeo);
        self.block_on(deadline, |s, _| attempt(s))?
    }

    /// recvfrom(2) on a UDP socket: one datagram (see the module doc).
    pub(crate) fn udp_recvfrom(
        &self,
        e: &FdEntry,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>)> {
        let u = Self::udp_parts(e)?;
        let f = e.flags();
        let peek = flags & MSG_PEEK != 0;
        let trunc = flags & MSG_TRUNC != 0;
        let mut attempt = |s: &mut Stack| -> Step<Result<(usize, Option<SocketAddrV4>)>> {
            let (handle, shut_rd) = {
                let st = u.lock();
                (st.handle, st.shut_rd)
            };
            // Not bound yet: nothing can arrive until someone binds it.
            let Some(h) = handle else {
                return Step::Pending;
            };
            if let Some(err) = take_udp_error(s, h) {
                return Step::Done(Err(err));
            }
            match s.udp_recv_msg(h, buf, peek) {
                Ok(m) => {
                    let n = if trunc { m.len } else { m.copied };
                    Step::Done(Ok((n, Some(m.from))))
                }
                Err(_) if shut_rd => Step::Done(Ok((0, None))),
                Err(sockstack_proto::udp::RecvError::WouldBlock) => Step::Pending,
                Err(err) => Step::Done(Err(err.into())),
            }
        };
        if f.nonblocking || flags & MSG_DONTWAIT != 0 {
            return match self.driver.with_stack(|s, _| attempt(s)) {
                Step::Done(r) => r,
                _ => Err(Errno::EAGAIN),
            };
        }
        let deadline = self.deadline(f.rcvtimeo);
        self.block_on(deadline, |s, _| attempt(s))?
    }

    pub(crate) fn udp_shutdown(&self, e: &FdEntry, how: i32) -> Result<()> {
        let u = Self::udp_parts(e)?;
        let h = u.lock().handle;
        let connected = h.is_some_and(|h| self.driver.with_stack(|s, _| s.udp_peer(h).is_some()));
        // Linux inet_shutdown: an unconnected datagram socket is ENOTCONN
        // (the flags still take effect).
        let mut st = u.lock();
        match how {
            SHUT_RD => st.shut_rd = true,
            SHUT_WR => st.shut_wr = true,
            SHUT_RDWR => {
                st.shut_rd = true;
                st.shut_wr = true;
            }
            _ => return Err(Errno::EINVAL),
        }
        drop(st);
        // Wake blocked readers so they see the shutdown.
        self.driver.with_stack(|_, _| ());
        if connected {
            Ok(())
        } else {
            Err(Errno::ENOTCONN)
        }
    }

    pub(crate) fn udp_close(&self, e: &FdEntry) -> Result<()> {
        let h = Self::udp_parts(e)?.lock().handle.take();
        if let Some(h) = h {
            self.driver.with_stack(|s, _| s.udp_close(h));
        }
        Ok(())
    }

    pub(crate) fn udp_sockname(&self, e: &FdEntry) -> Result<SocketAddrV4> {
        let h = Self::udp_parts(e)?.lock().handle;
        Ok(match h {
            Some(h) => self
                .driver
                .with_stack(|s, _| s.udp_local_addr(h))
                .ok_or(Errno::EBADF)?,
            None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        })
    }

    pub(crate) fn udp_peername(&self, e: &FdEntry) -> Result<SocketAddrV4> {
        let h = Self::udp_parts(e)?.lock().handle.ok_or(Errno::ENOTCONN)?;
        self.driver
            .with_stack(|s, _| s.udp_peer(h))
            .ok_or(Errno::ENOTCONN)
    }

    /// SO_RCVBUF on a UDP socket (already doubled by the caller).
    pub(crate) fn udp_set_rcvbuf(&self, e: &FdEntry, bytes: usize) -> Result<()> {
        let u = Self::udp_parts(e)?;
        self.driver.with_stack(|s, _| {
            let mut st = u.lock();
            st.rcvbuf = Some(bytes);
            if let Some(h) = st.handle {
                s.udp_set_recv_buffer(h, bytes);
            }
        });
        Ok(())
    }

    pub(crate) fn udp_rcvbuf(&self, e: &FdEntry) -> Result<usize> {
        let u = Self::udp_parts(e)?;
        self.driver.with_stack(|s, _| {
            let st = u.lock();
            match st.handle {
                Some(h) => s.udp_recv_buffer(h).ok_or(Errno::EBADF),
                None => Ok(st.rcvbuf.unwrap_or(RMEM_MAX * 2)),
            }
        })
    }

    /// SO_ERROR on a UDP socket: the pending error, cleared.
    pub(crate) fn udp_so_error(&self, e: &FdEntry) -> Result<Option<Errno>> {
        let h = Self::udp_parts(e)?.lock().handle;
        Ok(h.and_then(|h| self.driver.with_stack(|s, _| take_udp_error(s, h))))
    }

    /// Datagrams a UDP descriptor dropped because its receive queue was
    /// full (Linux's per-socket `drops`, shown by `ss -u -m`).
    pub fn udp_drops(&self, fd: super::Fd) -> Result<u64> {
        let e = self.entry(fd)?;
        let h = Self::udp_parts(&e)?.lock().handle;
        Ok(
            h.and_then(|h| self.driver.with_stack(|s, _| s.udp_drops(h)))
                .unwrap_or(0),
        )
    }
}

//! Raw IP descriptors (`socket(AF_INET, SOCK_RAW, protocol)`).
//!
//! CONTRACT (as Linux `raw.c`): protocol 0 is EPROTONOSUPPORT;
//! IPPROTO_RAW (255) implies IP_HDRINCL. recv returns whole IPv4 datagrams
//! of the socket's protocol, header included, one per call (truncated to
//! the buffer; the real length with MSG_TRUNC); recvfrom's address is the
//! sender with port 0. Without IP_HDRINCL, send/sendto give the payload
//! and the stack builds the header (payload sent as is: no checksum is
//! filled in); with it the caller gives the whole datagram and the stack
//! sets the total length and header checksum and fills a zero ident or
//! source. bind filters by our address, connect by the peer's (and sets
//! the default destination). Broadcast needs SO_BROADCAST (EACCES).
//! No privilege is checked: the stack is the caller's own.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};

use sockstack_proto::wire::Ipv4Addr;
use sockstack_proto::{RawHandle, Stack};

use super::consts::*;
use super::driver::Driver;
use super::errno::{Errno, Result};
use super::family::Sock;
use super::fd_table::FdEntry;
use super::{Bsd, Step};

#[derive(Debug)]
pub(crate) struct RawSock {
    pub handle: RawHandle,
    pub hdrincl: AtomicBool,
    pub broadcast: AtomicBool,
}

/// Poll bits of a raw socket.
pub(crate) fn raw_mask(s: &Stack, r: &RawSock) -> i16 {
    let mut m = POLLOUT | POLLWRNORM;
    match s.raw_queued(r.handle) {
        None => return POLLNVAL,
        Some(n) if n > 0 => m |= POLLIN | POLLRDNORM,
        Some(_) => {}
    }
    m
}

impl<D: Driver> Bsd<D> {
    pub(crate) fn raw_open(&self, protocol: i32) -> Result<Sock> {
        let proto = u8::try_from(protocol).map_err(|_| Errno::EINVAL)?;
        if proto == 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let handle = self
            .driver
            .with_stack(|s, _| s.raw_open(proto))
            .map_err(|_| Errno::ENOBUFS)?;
        Ok(Sock::Raw(RawSock {
            handle,
            hdrincl: AtomicBool::new(protocol == IPPROTO_RAW),
            broadcast: AtomicBool::new(false),
        }))
    }

    fn raw_parts(e: &FdEntry) -> Result<&RawSock> {
        match &e.sock {
            Sock::Raw(r) => Ok(r),
            _ => Err(Errno::EBADF),
        }
    }

    pub(crate) fn raw_bind(&self, e: &FdEntry, addr: SocketAddrV4) -> Result<()> {
        let r = Self::raw_parts(e)?;
        let local = Some(*addr.ip()).filter(|a| !a.is_unspecified());
        let ok = self.driver.with_stack(|s, _| {
            let peer = s.raw_filter(r.handle).and_then(|f| f.1);
            s.raw_set_filter(r.handle, local, peer)
        });
        if ok {
            Ok(())
        } else {
            Err(Errno::EADDRNOTAVAIL)
        }
    }

    pub(crate) fn raw_connect(&self, e: &FdEntry, addr: SocketAddrV4) -> Result<()> {
        let r = Self::raw_parts(e)?;
        let broadcast = r.broadcast.load(Ordering::Relaxed);
        let peer = Some(*addr.ip()).filter(|a| !a.is_unspecified());
        self.driver.with_stack(|s, _| {
            if peer.is_some_and(|p| s.is_broadcast_addr(p)) && !broadcast {
                return Err(Errno::EACCES);
            }
            let local = s.raw_filter(r.handle).and_then(|f| f.0);
            s.raw_set_filter(r.handle, local, peer);
            Ok(())
        })
    }

    pub(crate) fn raw_peer(&self, e: &FdEntry) -> Result<Option<Ipv4Addr>> {
        let r = Self::raw_parts(e)?;
        Ok(self
            .driver
            .with_stack(|s, _| s.raw_filter(r.handle).and_then(|f| f.1)))
    }

    pub(crate) fn raw_sockname(&self, e: &FdEntry) -> Result<SocketAddrV4> {
        let r = Self::raw_parts(e)?;
        let local = self
            .driver
            .with_stack(|s, _| s.raw_filter(r.handle).and_then(|f| f.0));
        Ok(SocketAddrV4::new(local.unwrap_or(Ipv4Addr::UNSPECIFIED), 0))
    }

    pub(crate) fn raw_sendto(
        &self,
        e: &FdEntry,
        buf: &[u8],
        flags: i32,
        addr: Option<SocketAddrV4>,
    ) -> Result<usize> {
        let r = Self::raw_parts(e)?;
        let hdrincl = r.hdrincl.load(Ordering::Relaxed);
        let broadcast = r.broadcast.load(Ordering::Relaxed);
        let f = e.flags();
        let nonblocking = f.nonblocking || flags & MSG_DONTWAIT != 0;
        let attempt = |s: &mut Stack| -> Step<Result<usize>> {
            let dst = match addr {
                Some(a) => Some(*a.ip()),
                None => s.raw_filter(r.handle).and_then(|f| f.1),
            };
            let r = if hdrincl {
                let to = match buf.get(16..20) {
                    Some(&[a, b, c, d]) => Some(Ipv4Addr::new(a, b, c, d)),
                    _ => None,
                };
                if to.is_some_and(|a| s.is_broadcast_addr(a)) && !broadcast {
                    return Step::Done(Err(Errno::EACCES));
                }
                s.raw_send_hdrincl(r.handle, buf)
            } else {
                let Some(dst) = dst else {
                    return Step::Done(Err(Errno::EDESTADDRREQ));
                };
                if s.is_broadcast_addr(dst) && !broadcast {
                    return Step::Done(Err(Errno::EACCES));
                }
                s.raw_send(r.handle, dst, buf)
            };
            match r {
                Err(sockstack_proto::udp::SendError::QueueFull) if !nonblocking => Step::Pending,
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

    pub(crate) fn raw_recvfrom(
        &self,
        e: &FdEntry,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>)> {
        let r = Self::raw_parts(e)?;
        let f = e.flags();
        let peek = flags & MSG_PEEK != 0;
        let trunc = flags & MSG_TRUNC != 0;
        let mut attempt = |s: &mut Stack| -> Step<Result<(usize, Option<SocketAddrV4>)>> {
            match s.raw_recv_msg(r.handle, buf, peek) {
                Ok(m) => {
                    let n = if trunc { m.len } else { m.copied };
                    Step::Done(Ok((n, Some(SocketAddrV4::new(m.from, 0)))))
                }
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

    pub(crate) fn raw_close(&self, e: &FdEntry) -> Result<()> {
        let r = Self::raw_parts(e)?;
        self.driver.with_stack(|s, _| s.raw_icmp_close(r.handle));
        Ok(())
    }
}

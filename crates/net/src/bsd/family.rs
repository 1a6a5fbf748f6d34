//! What a descriptor names: a TCP, UDP or raw socket of the stack, or a
//! host AF_UNIX socket; and the dispatch of the generic calls to each.
//!
//! CONTRACT: the TCP code paths are unchanged; every generic call first
//! asks [`FdEntry::tcp`] and otherwise comes here. Calls that make no
//! sense for a type fail as Linux fails them (listen/accept on a datagram
//! socket: EOPNOTSUPP; an AF_INET address on an AF_UNIX socket: EINVAL).

use std::net::SocketAddrV4;
use std::sync::Arc;

use sockstack_proto::SocketHandle;

use super::consts::*;
use super::driver::Driver;
use super::errno::{Errno, Result};
use super::fd_table::{Fd, FdEntry, FdFlags};
use super::options::{timeout, SockOpt, SockOptName};
use super::raw::RawSock;
use super::udp::UdpSock;
use super::unix::UnixSock;
use super::Bsd;
use std::sync::atomic::Ordering;

/// The socket behind a descriptor.
#[derive(Debug)]
pub(crate) enum Sock {
    Tcp(SocketHandle),
    Udp(UdpSock),
    Raw(RawSock),
    Unix(UnixSock),
}

impl<D: Driver> Bsd<D> {
    /// socket(2) for everything but AF_INET/SOCK_STREAM.
    pub(crate) fn socket_other(
        &self,
        domain: i32,
        base: i32,
        protocol: i32,
        flags: FdFlags,
    ) -> Result<Fd> {
        let sock = match (domain, base) {
            (AF_INET, SOCK_DGRAM) => {
                if protocol != 0 && protocol != IPPROTO_UDP {
                    return Err(Errno::EPROTONOSUPPORT);
                }
                Sock::Udp(UdpSock::default())
            }
            (AF_INET, SOCK_RAW) => self.raw_open(protocol)?,
            (AF_INET, _) => return Err(Errno::ESOCKTNOSUPPORT),
            (AF_UNIX, _) => {
                if protocol != 0 {
                    return Err(Errno::EPROTONOSUPPORT);
                }
                self.unix_socket(base)?
            }
            _ => return Err(Errno::EAFNOSUPPORT),
        };
        // On EMFILE the socket drops here; close what the stack holds.
        let entry = Arc::new(FdEntry::with_sock(sock, flags));
        match self.table().insert_arc(Arc::clone(&entry)) {
            Ok(fd) => Ok(fd),
            Err(err) => {
                let _ = self.close_other(&entry);
                Err(err)
            }
        }
    }

    pub(crate) fn bind_other(&self, e: &FdEntry, addr: SocketAddrV4) -> Result<()> {
        match &e.sock {
            Sock::Udp(_) => self.udp_bind(e, addr),
            Sock::Raw(_) => self.raw_bind(e, addr),
            Sock::Unix(_) | Sock::Tcp(_) => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn listen_other(&self, e: &FdEntry, backlog: i32) -> Result<()> {
        match &e.sock {
            Sock::Unix(_) => self.unix_listen(e, backlog),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    pub(crate) fn accept_other(
        &self,
        fd: Fd,
        e: &FdEntry,
        flags: i32,
    ) -> Result<(Fd, SocketAddrV4)> {
        match &e.sock {
            Sock::Unix(_) => {
                let (new, _) = self.accept_unix(fd, flags)?;
                Ok((new, SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)))
            }
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    pub(crate) fn connect_other(&self, e: &FdEntry, addr: SocketAddrV4) -> Result<()> {
        match &e.sock {
            Sock::Udp(_) => self.udp_connect(e, addr),
            Sock::Raw(_) => self.raw_connect(e, addr),
            Sock::Unix(_) | Sock::Tcp(_) => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn sendto_other(
        &self,
        fd: Fd,
        e: &Arc<FdEntry>,
        buf: &[u8],
        flags: i32,
        addr: Option<SocketAddrV4>,
    ) -> Result<usize> {
        match &e.sock {
            Sock::Udp(_) => self.udp_sendto(e, buf, flags, addr),
            Sock::Raw(_) => self.raw_sendto(e, buf, flags, addr),
            Sock::Unix(_) if addr.is_some() => Err(Errno::EINVAL),
            Sock::Unix(_) => self.unix_send(fd, e, buf, flags),
            Sock::Tcp(_) => Err(Errno::EBADF),
        }
    }

    pub(crate) fn recvfrom_other(
        &self,
        fd: Fd,
        e: &Arc<FdEntry>,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>)> {
        match &e.sock {
            Sock::Udp(_) => self.udp_recvfrom(e, buf, flags),
            Sock::Raw(_) => self.raw_recvfrom(e, buf, flags),
            Sock::Unix(_) => Ok((self.unix_recv(fd, e, buf, flags)?, None)),
            Sock::Tcp(_) => Err(Errno::EBADF),
        }
    }

    pub(crate) fn shutdown_other(&self, e: &FdEntry, how: i32) -> Result<()> {
        match &e.sock {
            Sock::Udp(_) => self.udp_shutdown(e, how),
            Sock::Unix(_) => self.unix_shutdown(e, how),
            // Linux: an unconnected raw socket is ENOTCONN.
            Sock::Raw(_) => match self.raw_peer(e)? {
                Some(_) => Ok(()),
                None => Err(Errno::ENOTCONN),
            },
            Sock::Tcp(_) => Err(Errno::EBADF),
        }
    }

    /// Release what the stack holds for a non-TCP descriptor.
    pub(crate) fn close_other(&self, e: &FdEntry) -> Result<()> {
        match &e.sock {
            Sock::Udp(_) => self.udp_close(e),
            Sock::Raw(_) => self.raw_close(e),
            // The host socket closes when the last reference drops.
            Sock::Unix(_) | Sock::Tcp(_) => Ok(()),
        }
    }

    pub(crate) fn sockname_other(&self, e: &FdEntry) -> Result<SocketAddrV4> {
        match &e.sock {
            Sock::Udp(_) => self.udp_sockname(e),
            Sock::Raw(_) => self.raw_sockname(e),
            Sock::Unix(_) | Sock::Tcp(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    pub(crate) fn peername_other(&self, e: &FdEntry) -> Result<SocketAddrV4> {
        match &e.sock {
            Sock::Udp(_) => self.udp_peername(e),
            Sock::Raw(_) => self
                .raw_peer(e)?
                .map(|a| SocketAddrV4::new(a, 0))
                .ok_or(Errno::ENOTCONN),
            Sock::Unix(_) | Sock::Tcp(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    pub(crate) fn setsockopt_other(&self, e: &FdEntry, opt: SockOpt) -> Result<()> {
        match (opt, &e.sock) {
            (SockOpt::Linger(l), _) => e.update(|f| f.linger = l),
            (SockOpt::RcvTimeo(t), _) => e.update(|f| f.rcvtimeo = timeout(t)),
            (SockOpt::SndTimeo(t), _) => e.update(|f| f.sndtimeo = timeout(t)),
            (SockOpt::Error(_) | SockOpt::Type(_) | SockOpt::Info(_), _) => {
                return Err(Errno::ENOPROTOOPT)
            }
            (SockOpt::NoDelay(_) | SockOpt::MaxSeg(_) | SockOpt::Congestion(_), _) => {
                return Err(Errno::ENOPROTOOPT)
            }
            (SockOpt::Broadcast(on), Sock::Udp(u)) => {
                // Under the stack lock: sends check the flag there.
                self.driver.with_stack(|_, _| u.lock().broadcast = on);
            }
            (SockOpt::Broadcast(on), Sock::Raw(r)) => r.broadcast.store(on, Ordering::Relaxed),
            (SockOpt::HdrIncl(on), Sock::Raw(r)) => r.hdrincl.store(on, Ordering::Relaxed),
            (SockOpt::HdrIncl(_), _) => return Err(Errno::ENOPROTOOPT),
            // Linux sock_setsockopt: min(val, rmem_max) * 2.
            (SockOpt::RcvBuf(n), Sock::Udp(_)) => {
                return self.udp_set_rcvbuf(e, n.min(RMEM_MAX) * 2)
            }
            // Recorded by Linux, without effect here.
            (SockOpt::ReuseAddr(_) | SockOpt::KeepAlive(_), _)
            | (SockOpt::RcvBuf(_) | SockOpt::SndBuf(_) | SockOpt::Broadcast(_), _) => {}
        }
        Ok(())
    }

    pub(crate) fn getsockopt_other(&self, e: &FdEntry, name: SockOptName) -> Result<SockOpt> {
        let f = e.flags();
        Ok(match (name, &e.sock) {
            (SockOptName::Linger, _) => SockOpt::Linger(f.linger),
            (SockOptName::RcvTimeo, _) => SockOpt::RcvTimeo(f.rcvtimeo),
            (SockOptName::SndTimeo, _) => SockOpt::SndTimeo(f.sndtimeo),
            (SockOptName::Type, Sock::Udp(_)) => SockOpt::Type(SOCK_DGRAM),
            (SockOptName::Type, Sock::Raw(_)) => SockOpt::Type(SOCK_RAW),
            (SockOptName::Type, _) => SockOpt::Type(Self::unix_type(e)?),
            (SockOptName::Error, Sock::Udp(_)) => SockOpt::Error(self.udp_so_error(e)?),
            (SockOptName::Error, Sock::Unix(_)) => SockOpt::Error(self.unix_so_error(e)?),
            (SockOptName::Error, _) => SockOpt::Error(None),
            (SockOptName::RcvBuf, Sock::Udp(_)) => SockOpt::RcvBuf(self.udp_rcvbuf(e)?),
            (SockOptName::RcvBuf, _) => SockOpt::RcvBuf(RMEM_MAX),
            (SockOptName::SndBuf, _) => SockOpt::SndBuf(WMEM_MAX),
            (SockOptName::Broadcast, Sock::Udp(u)) => {
                SockOpt::Broadcast(self.driver.with_stack(|_, _| u.lock().broadcast))
            }
            (SockOptName::Broadcast, Sock::Raw(r)) => {
                SockOpt::Broadcast(r.broadcast.load(Ordering::Relaxed))
            }
            (SockOptName::Broadcast, _) => SockOpt::Broadcast(false),
            (SockOptName::HdrIncl, Sock::Raw(r)) => {
                SockOpt::HdrIncl(r.hdrincl.load(Ordering::Relaxed))
            }
            (SockOptName::ReuseAddr, _) => SockOpt::ReuseAddr(false),
            (SockOptName::KeepAlive, _) => SockOpt::KeepAlive(false),
            (
                SockOptName::HdrIncl
                | SockOptName::NoDelay
                | SockOptName::MaxSeg
                | SockOptName::Info
                | SockOptName::Congestion,
                _,
            ) => return Err(Errno::ENOPROTOOPT),
        })
    }
}

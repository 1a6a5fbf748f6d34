//! getsockopt / setsockopt with typed values.
//!
//! CONTRACT: [`SockOpt`] carries a value, [`SockOptName`] names one; both
//! know Linux's (level, optname) numbers. Values follow Linux: SO_RCVBUF
//! and SO_SNDBUF requests are capped at rmem_max / wmem_max and doubled,
//! and reading returns the doubled (then stack-clamped) size; SO_ERROR
//! reads and clears the pending error; a zero timeout means "forever".
//! Read-only options (SO_TYPE, SO_ERROR, TCP_INFO) reject setsockopt with
//! ENOPROTOOPT, as Linux does. Options kept by the facade (SO_LINGER and
//! the timeouts) live in the descriptor; the rest live in the stack.

use std::time::Duration;

use sockstack_proto::{CongestionAlgorithm, TcpInfo, TcpState};

use super::consts::*;
use super::driver::Driver;
use super::errno::{Errno, Result};
use super::fd_table::{Fd, Linger};
use super::Bsd;

/// An option with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    /// SO_REUSEADDR.
    ReuseAddr(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// SO_LINGER.
    Linger(Linger),
    /// SO_RCVBUF in bytes (set: requested; get: the doubled size in use).
    RcvBuf(usize),
    /// SO_SNDBUF in bytes (as SO_RCVBUF).
    SndBuf(usize),
    /// SO_RCVTIMEO (`None`: block forever).
    RcvTimeo(Option<Duration>),
    /// SO_SNDTIMEO (`None`: block forever).
    SndTimeo(Option<Duration>),
    /// SO_ERROR (get only): the pending error, cleared by reading.
    Error(Option<Errno>),
    /// SO_TYPE (get only): SOCK_STREAM.
    Type(i32),
    /// TCP_NODELAY.
    NoDelay(bool),
    /// TCP_MAXSEG in bytes.
    MaxSeg(u32),
    /// TCP_INFO (get only).
    Info(TcpInfo),
    /// SO_BROADCAST: datagram and raw sockets may send to a broadcast address.
    Broadcast(bool),
    /// IP_HDRINCL (raw sockets): the caller writes the IPv4 header.
    HdrIncl(bool),
    /// TCP_CONGESTION: the congestion-control algorithm ("cubic", the
    /// default, or "reno"); [`SockOpt::congestion_by_name`] parses Linux's
    /// string form.
    Congestion(CongestionAlgorithm),
}

/// The name of an option, for getsockopt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockOptName {
    ReuseAddr,
    KeepAlive,
    Linger,
    RcvBuf,
    SndBuf,
    RcvTimeo,
    SndTimeo,
    Error,
    Type,
    NoDelay,
    MaxSeg,
    Info,
    Broadcast,
    HdrIncl,
    Congestion,
}

impl SockOptName {
    /// Linux's (level, optname).
    pub fn raw(self) -> (i32, i32) {
        match self {
            SockOptName::ReuseAddr => (SOL_SOCKET, SO_REUSEADDR),
            SockOptName::KeepAlive => (SOL_SOCKET, SO_KEEPALIVE),
            SockOptName::Linger => (SOL_SOCKET, SO_LINGER),
            SockOptName::RcvBuf => (SOL_SOCKET, SO_RCVBUF),
            SockOptName::SndBuf => (SOL_SOCKET, SO_SNDBUF),
            SockOptName::RcvTimeo => (SOL_SOCKET, SO_RCVTIMEO),
            SockOptName::SndTimeo => (SOL_SOCKET, SO_SNDTIMEO),
            SockOptName::Error => (SOL_SOCKET, SO_ERROR),
            SockOptName::Type => (SOL_SOCKET, SO_TYPE),
            SockOptName::NoDelay => (IPPROTO_TCP, TCP_NODELAY),
            SockOptName::MaxSeg => (IPPROTO_TCP, TCP_MAXSEG),
            SockOptName::Info => (IPPROTO_TCP, TCP_INFO),
            SockOptName::Broadcast => (SOL_SOCKET, SO_BROADCAST),
            SockOptName::HdrIncl => (IPPROTO_IP, IP_HDRINCL),
            SockOptName::Congestion => (IPPROTO_TCP, TCP_CONGESTION),
        }
    }

    /// The option Linux calls (level, optname); ENOPROTOOPT if we have none.
    pub fn from_raw(level: i32, optname: i32) -> Result<SockOptName> {
        const ALL: [SockOptName; 15] = [
            SockOptName::ReuseAddr,
            SockOptName::KeepAlive,
            SockOptName::Linger,
            SockOptName::RcvBuf,
            SockOptName::SndBuf,
            SockOptName::RcvTimeo,
            SockOptName::SndTimeo,
            SockOptName::Error,
            SockOptName::Type,
            SockOptName::NoDelay,
            SockOptName::MaxSeg,
            SockOptName::Info,
            SockOptName::Broadcast,
            SockOptName::HdrIncl,
            SockOptName::Congestion,
        ];
        ALL.into_iter()
            .find(|n| n.raw() == (level, optname))
            .ok_or(Errno::ENOPROTOOPT)
    }
}

impl SockOpt {
    pub fn name(&self) -> SockOptName {
        match self {
            SockOpt::ReuseAddr(_) => SockOptName::ReuseAddr,
            SockOpt::KeepAlive(_) => SockOptName::KeepAlive,
            SockOpt::Linger(_) => SockOptName::Linger,
            SockOpt::RcvBuf(_) => SockOptName::RcvBuf,
            SockOpt::SndBuf(_) => SockOptName::SndBuf,
            SockOpt::RcvTimeo(_) => SockOptName::RcvTimeo,
            SockOpt::SndTimeo(_) => SockOptName::SndTimeo,
            SockOpt::Error(_) => SockOptName::Error,
            SockOpt::Type(_) => SockOptName::Type,
            SockOpt::NoDelay(_) => SockOptName::NoDelay,
            SockOpt::MaxSeg(_) => SockOptName::MaxSeg,
            SockOpt::Info(_) => SockOptName::Info,
            SockOpt::Broadcast(_) => SockOptName::Broadcast,
            SockOpt::HdrIncl(_) => SockOptName::HdrIncl,
            SockOpt::Congestion(_) => SockOptName::Congestion,
        }
    }

    /// TCP_CONGESTION from Linux's option bytes: the name, optionally
    /// NUL-terminated, at most `TCP_CA_NAME_MAX` bytes are read. A name we
    /// do not have is ENOENT, as in Linux `tcp_set_congestion_control`.
    pub fn congestion_by_name(name: &[u8]) -> Result<SockOpt> {
        let name = name.get(..TCP_CA_NAME_MAX).unwrap_or(name);
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let name =
            core::str::from_utf8(name.get(..end).unwrap_or(name)).map_err(|_| Errno::ENOENT)?;
        let algo = name.parse::<CongestionAlgorithm>()?;
        Ok(SockOpt::Congestion(algo))
    }
}

/// Linux's `tcpi_state` number for a state (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11).
pub fn linux_tcp_state(s: TcpState) -> u8 {
    match s {
        TcpState::Established => 1,
        TcpState::SynSent => 2,
        TcpState::SynReceived => 3,
        TcpState::FinWait1 => 4,
        TcpState::FinWait2 => 5,
        TcpState::TimeWait => 6,
        TcpState::Closed => 7,
        TcpState::CloseWait => 8,
        TcpState::LastAck => 9,
        TcpState::Listen => 10,
        TcpState::Closing => 11,
    }
}

/// A zero timeout means no timeout (socket(7)).
pub(crate) fn timeout(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

impl<D: Driver> Bsd<D> {
    /// setsockopt(2).
    pub fn setsockopt(&self, fd: Fd, opt: SockOpt) -> Result<()> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.setsockopt_other(&e, opt);
        };
        match opt {
            SockOpt::Linger(l) => {
                e.update(|f| f.linger = l);
                Ok(())
            }
            SockOpt::RcvTimeo(t) => {
                e.update(|f| f.rcvtimeo = timeout(t));
                Ok(())
            }
            SockOpt::SndTimeo(t) => {
                e.update(|f| f.sndtimeo = timeout(t));
                Ok(())
            }
            SockOpt::Error(_) | SockOpt::Type(_) | SockOpt::Info(_) | SockOpt::HdrIncl(_) => {
                Err(Errno::ENOPROTOOPT)
            }
            // Linux records SO_BROADCAST on any socket; TCP never uses it.
            SockOpt::Broadcast(_) => Ok(()),
            SockOpt::MaxSeg(m) if m != 0 && !(TCP_MIN_MSS..=TCP_MAX_MSS).contains(&m) => {
                Err(Errno::EINVAL)
            }
            _ => self.driver.with_stack(|s, _| {
                let ss = s.sockets_mut();
                let r = match opt {
                    SockOpt::ReuseAddr(on) => ss.set_reuse_addr(h, on),
                    SockOpt::KeepAlive(on) => ss.set_keepalive(h, on),
                    SockOpt::NoDelay(on) => ss.set_nodelay(h, on),
                    // Linux sock_setsockopt: min(val, rmem_max) * 2.
                    SockOpt::RcvBuf(n) => ss.set_recv_buffer_size(h, n.min(RMEM_MAX) * 2),
                    SockOpt::SndBuf(n) => ss.set_send_buffer_size(h, n.min(WMEM_MAX) * 2),
                    SockOpt::MaxSeg(m) => ss.set_max_segment(h, u16::try_from(m).unwrap_or(0)),
                    SockOpt::Congestion(a) => ss.set_congestion(h, a),
                    _ => Ok(()),
                };
                r.map_err(Errno::from)
            }),
        }
    }

    /// getsockopt(2).
    pub fn getsockopt(&self, fd: Fd, name: SockOptName) -> Result<SockOpt> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.getsockopt_other(&e, name);
        };
        let f = e.flags();
        match name {
            SockOptName::Linger => return Ok(SockOpt::Linger(f.linger)),
            SockOptName::RcvTimeo => return Ok(SockOpt::RcvTimeo(f.rcvtimeo)),
            SockOptName::SndTimeo => return Ok(SockOpt::SndTimeo(f.sndtimeo)),
            SockOptName::Type => return Ok(SockOpt::Type(SOCK_STREAM)),
            SockOptName::Broadcast => return Ok(SockOpt::Broadcast(false)),
            SockOptName::HdrIncl => return Err(Errno::ENOPROTOOPT),
            _ => {}
        }
        self.driver.with_stack(|s, _| {
            let ss = s.sockets_mut();
            let v = match name {
                SockOptName::ReuseAddr => ss.reuse_addr(h).map(SockOpt::ReuseAddr),
                SockOptName::KeepAlive => ss.keepalive(h).map(SockOpt::KeepAlive),
                SockOptName::NoDelay => ss.nodelay(h).map(SockOpt::NoDelay),
                SockOptName::RcvBuf => ss.recv_buffer_size(h).map(SockOpt::RcvBuf),
                SockOptName::SndBuf => ss.send_buffer_size(h).map(SockOpt::SndBuf),
                SockOptName::MaxSeg => ss
                    .max_segment(h)
                    .map(|m| SockOpt::MaxSeg(u32::try_from(m).unwrap_or(u32::MAX))),
                SockOptName::Info => ss.info(h).map(SockOpt::Info),
                SockOptName::Congestion => ss.congestion(h).map(SockOpt::Congestion),
                SockOptName::Error => ss
                    .state(h)
                    .map(|_| SockOpt::Error(ss.take_error(h).map(Errno::from))),
                SockOptName::Linger
                | SockOptName::RcvTimeo
                | SockOptName::SndTimeo
                | SockOptName::Type
                | SockOptName::Broadcast
                | SockOptName::HdrIncl => None,
            };
            v.ok_or(Errno::EBADF)
        })
    }

    /// SO_ERROR as a number (0 when none), read-and-clear.
    pub fn so_error(&self, fd: Fd) -> Result<i32> {
        match self.getsockopt(fd, SockOptName::Error)? {
            SockOpt::Error(e) => Ok(e.map_or(0, |e| e.0)),
            _ => Ok(0),
        }
    }
}

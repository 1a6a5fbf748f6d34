//! The one place where proto's small error enums become errno values.
//!
//! Each mapping follows what Linux returns for the same situation; where
//! the stack's reason is more precise than errno (e.g. `SendError` on a
//! never-connected socket) the comment says which Linux path we mirror.

use sockstack_proto::{
    AcceptError, BadHandle, BindError, ConnectError, ListenError, RecvError, SendError,
    ShutdownError, TcpError,
};

use sockstack_proto::udp::{self, IcmpReport};

use super::driver::WaitError;
use super::errno::Errno;

impl From<udp::BindError> for Errno {
    fn from(e: udp::BindError) -> Errno {
        match e {
            udp::BindError::AddrInUse => Errno::EADDRINUSE,
            udp::BindError::AddrNotAvailable => Errno::EADDRNOTAVAIL,
            // Linux: bind(port 0) with no port left is EADDRINUSE.
            udp::BindError::NoPortsAvailable => Errno::EADDRINUSE,
        }
    }
}

impl From<udp::SendError> for Errno {
    fn from(e: udp::SendError) -> Errno {
        match e {
            udp::SendError::InvalidHandle => Errno::EBADF,
            udp::SendError::MessageTooLong => Errno::EMSGSIZE,
            udp::SendError::NoRoute => Errno::ENETUNREACH,
            // A blocking caller waits instead; this is what is left.
            udp::SendError::QueueFull => Errno::EAGAIN,
            udp::SendError::BadDestination => Errno::EINVAL,
            udp::SendError::InvalidMessage => Errno::EINVAL,
        }
    }
}

impl From<udp::RecvError> for Errno {
    fn from(e: udp::RecvError) -> Errno {
        match e {
            udp::RecvError::InvalidHandle => Errno::EBADF,
            udp::RecvError::WouldBlock => Errno::EAGAIN,
        }
    }
}

/// The errno a connected datagram socket reports for an ICMP error, or
/// `None` for a soft error Linux does not report without IP_RECVERR
/// (`icmp_err_convert`'s `fatal` column; `__udp4_lib_err`).
pub(crate) fn icmp_hard_error(r: IcmpReport) -> Option<Errno> {
    match r {
        IcmpReport::Unreachable { code } => match code {
            2 => Some(Errno::ENOPROTOOPT),
            3 => Some(Errno::ECONNREFUSED),
            6 | 9 => Some(Errno::ENETUNREACH),
            7 => Some(Errno::EHOSTDOWN),
            8 => Some(Errno::ENONET),
            10 | 13 => Some(Errno::EHOSTUNREACH),
            _ => None,
        },
        IcmpReport::FragNeeded { .. } | IcmpReport::TimeExceeded => None,
    }
}

/// A host socket's error (AF_UNIX): Linux's numbers are the host's.
impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        match e.raw_os_error() {
            Some(n) => Errno(n),
            None => match e.kind() {
                std::io::ErrorKind::WouldBlock => Errno::EAGAIN,
                std::io::ErrorKind::InvalidInput => Errno::EINVAL,
                std::io::ErrorKind::NotFound => Errno::ENOENT,
                std::io::ErrorKind::TimedOut => Errno::EAGAIN,
                _ => Errno::EIO,
            },
        }
    }
}

impl From<TcpError> for Errno {
    fn from(e: TcpError) -> Errno {
        match e {
            TcpError::Refused => Errno::ECONNREFUSED,
            TcpError::Reset => Errno::ECONNRESET,
            TcpError::TimedOut => Errno::ETIMEDOUT,
            TcpError::HostUnreachable => Errno::EHOSTUNREACH,
            TcpError::NetUnreachable => Errno::ENETUNREACH,
        }
    }
}

impl From<BadHandle> for Errno {
    fn from(_: BadHandle) -> Errno {
        Errno::EBADF
    }
}

impl From<BindError> for Errno {
    fn from(e: BindError) -> Errno {
        match e {
            BindError::BadHandle => Errno::EBADF,
            BindError::AddrInUse => Errno::EADDRINUSE,
            BindError::AddrNotAvail => Errno::EADDRNOTAVAIL,
            BindError::Invalid => Errno::EINVAL,
        }
    }
}

impl From<ListenError> for Errno {
    fn from(e: ListenError) -> Errno {
        match e {
            ListenError::BadHandle => Errno::EBADF,
            ListenError::AddrInUse => Errno::EADDRINUSE,
            ListenError::Invalid => Errno::EINVAL,
        }
    }
}

impl From<AcceptError> for Errno {
    fn from(e: AcceptError) -> Errno {
        match e {
            AcceptError::BadHandle => Errno::EBADF,
            AcceptError::WouldBlock => Errno::EAGAIN,
            AcceptError::Invalid => Errno::EINVAL,
        }
    }
}

impl From<ConnectError> for Errno {
    fn from(e: ConnectError) -> Errno {
        match e {
            ConnectError::BadHandle => Errno::EBADF,
            ConnectError::InProgress => Errno::EALREADY,
            ConnectError::AlreadyConnected => Errno::EISCONN,
            ConnectError::AddrNotAvail => Errno::EADDRNOTAVAIL,
            ConnectError::Invalid => Errno::EINVAL,
        }
    }
}

impl From<SendError> for Errno {
    fn from(e: SendError) -> Errno {
        match e {
            SendError::BadHandle => Errno::EBADF,
            SendError::WouldBlock => Errno::EAGAIN,
            // Linux sk_stream_wait_connect: sending on a socket that is
            // neither connected nor connecting is EPIPE, not ENOTCONN.
            SendError::NotConnected => Errno::EPIPE,
            SendError::Shutdown => Errno::EPIPE,
            SendError::Error(e) => e.into(),
        }
    }
}

/// `RecvError::Eof` is not an error (recv returns 0); callers handle it
/// before mapping, so here it maps to the value recv would never return.
impl From<RecvError> for Errno {
    fn from(e: RecvError) -> Errno {
        match e {
            RecvError::BadHandle => Errno::EBADF,
            RecvError::WouldBlock => Errno::EAGAIN,
            RecvError::Eof => Errno::EIO,
            RecvError::NotConnected => Errno::ENOTCONN,
            RecvError::Error(e) => e.into(),
        }
    }
}

impl From<ShutdownError> for Errno {
    fn from(e: ShutdownError) -> Errno {
        match e {
            ShutdownError::BadHandle => Errno::EBADF,
            ShutdownError::NotConnected => Errno::ENOTCONN,
        }
    }
}

impl From<WaitError> for Errno {
    fn from(e: WaitError) -> Errno {
        match e {
            // SO_RCVTIMEO / SO_SNDTIMEO expiry (socket(7)).
            WaitError::TimedOut => Errno::EAGAIN,
            WaitError::Stopped => Errno::ENETDOWN,
            WaitError::Idle => Errno::EDEADLK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_numbers() {
        assert_eq!(Errno::from(TcpError::Refused).0, 111);
        assert_eq!(Errno::from(TcpError::Reset).0, 104);
        assert_eq!(Errno::from(TcpError::TimedOut).0, 110);
        assert_eq!(Errno::from(BindError::AddrInUse).0, 98);
        assert_eq!(Errno::from(ConnectError::InProgress).0, 114);
        assert_eq!(Errno::from(ConnectError::AlreadyConnected).0, 106);
        assert_eq!(Errno::from(SendError::Shutdown).0, 32);
        assert_eq!(Errno::from(RecvError::WouldBlock).0, 11);
        assert_eq!(Errno::from(RecvError::NotConnected).0, 107);
        assert_eq!(Errno::from(AcceptError::Invalid).0, 22);
        assert_eq!(Errno::from(BadHandle).0, 9);
        assert_eq!(Errno::from(WaitError::TimedOut), Errno::EWOULDBLOCK);
        assert_eq!(Errno::from(udp::SendError::MessageTooLong).0, 90);
        assert_eq!(
            icmp_hard_error(IcmpReport::Unreachable { code: 3 }),
            Some(Errno::ECONNREFUSED)
        );
        assert_eq!(icmp_hard_error(IcmpReport::TimeExceeded), None);
        let io = std::io::Error::from_raw_os_error(111);
        assert_eq!(Errno::from(io), Errno::ECONNREFUSED);
    }
}

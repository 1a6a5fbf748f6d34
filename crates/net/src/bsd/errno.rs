//! errno: the one place where socket errors become Linux errno values.
//!
//! Every error the facade returns is an [`Errno`] carrying Linux's number, so
//! code written against the C API sees the values it expects, and
//! `io::Error::from(errno)` gives the matching `io::ErrorKind`.

use core::fmt;
use std::io;

/// A Linux errno value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $num:expr, $msg:expr;)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($num);)*

            /// The symbolic name, e.g. `"ECONNREFUSED"`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($num => stringify!($name),)*
                    _ => "E?",
                }
            }

            /// The message `strerror` gives on Linux.
            pub fn message(self) -> &'static str {
                match self.0 {
                    $($num => $msg,)*
                    _ => "Unknown error",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EINVAL = 22, "Invalid argument";
    EMFILE = 24, "Too many open files";
    EPIPE = 32, "Broken pipe";
    EDEADLK = 35, "Resource deadlock avoided";
    ENONET = 64, "Machine is not on the network";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EDESTADDRREQ = 89, "Destination address required";
    EMSGSIZE = 90, "Message too long";
    EPROTOTYPE = 91, "Protocol wrong type for socket";
    ENOPROTOOPT = 92, "Protocol not available";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    ESOCKTNOSUPPORT = 94, "Socket type not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    EADDRNOTAVAIL = 99, "Cannot assign requested address";
    ENETDOWN = 100, "Network is down";
    ENETUNREACH = 101, "Network is unreachable";
    ECONNABORTED = 103, "Software caused connection abort";
    ECONNRESET = 104, "Connection reset by peer";
    ENOBUFS = 105, "No buffer space available";
    EISCONN = 106, "Transport endpoint is already connected";
    ENOTCONN = 107, "Transport endpoint is not connected";
    ESHUTDOWN = 108, "Cannot send after transport endpoint shutdown";
    ETIMEDOUT = 110, "Connection timed out";
    ECONNREFUSED = 111, "Connection refused";
    EHOSTDOWN = 112, "Host is down";
    EHOSTUNREACH = 113, "No route to host";
    EALREADY = 114, "Operation already in progress";
    EINPROGRESS = 115, "Operation now in progress";
}

impl Errno {
    /// Linux defines EWOULDBLOCK as EAGAIN.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())
    }
}

impl std::error::Error for Errno {}

/// TCP_CONGESTION with a name we do not have: ENOENT, as in Linux.
impl From<sockstack_proto::UnknownAlgorithm> for Errno {
    fn from(_: sockstack_proto::UnknownAlgorithm) -> Errno {
        Errno::ENOENT
    }
}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        // Linux's numbers are the host's numbers here, so the kind matches.
        io::Error::from_raw_os_error(e.0)
    }
}

/// The result of a facade call.
pub type Result<T> = core::result::Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_numbers_and_kinds() {
        assert_eq!(Errno::ECONNREFUSED.0, 111);
        assert_eq!(Errno::EINPROGRESS.0, 115);
        assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
        assert_eq!(
            io::Error::from(Errno::ECONNREFUSED).kind(),
            io::ErrorKind::ConnectionRefused
        );
        assert_eq!(
            io::Error::from(Errno::EAGAIN).kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(Errno::ECONNRESET.name(), "ECONNRESET");
        assert_eq!(
            Errno::ETIMEDOUT.to_string(),
            "Connection timed out (ETIMEDOUT)"
        );
    }
}

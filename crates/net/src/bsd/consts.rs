//! Linux's numbers for the C socket API: families, types, flags, option
//! levels and names, poll bits, fcntl commands.
//!
//! The facade's typed API (`SockOpt`, `Shutdown`, ...) is what callers
//! normally use; these constants exist so code written against the C API
//! ports over unchanged, and so raw values can be decoded.

/// `AF_UNSPEC`.
pub const AF_UNSPEC: i32 = 0;
/// `AF_UNIX` (= `AF_LOCAL`): the host's own Unix-domain sockets.
pub const AF_UNIX: i32 = 1;
/// `AF_INET`.
pub const AF_INET: i32 = 2;
/// `AF_INET6` (not supported: EAFNOSUPPORT).
pub const AF_INET6: i32 = 10;

/// `SOCK_STREAM`.
pub const SOCK_STREAM: i32 = 1;
/// `SOCK_DGRAM`: UDP, or AF_UNIX datagrams.
pub const SOCK_DGRAM: i32 = 2;
/// `SOCK_RAW`: raw IP by protocol number.
pub const SOCK_RAW: i32 = 3;
/// `SOCK_SEQPACKET` (AF_UNIX only).
pub const SOCK_SEQPACKET: i32 = 5;
/// `SOCK_NONBLOCK` (= O_NONBLOCK), or-ed into the type of `socket`/`accept4`.
pub const SOCK_NONBLOCK: i32 = 0o4000;
/// `SOCK_CLOEXEC` (accepted and ignored: there is no exec here).
pub const SOCK_CLOEXEC: i32 = 0o2000000;

/// `IPPROTO_IP`.
pub const IPPROTO_IP: i32 = 0;
/// `IPPROTO_ICMP`.
pub const IPPROTO_ICMP: i32 = 1;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: i32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: i32 = 17;
/// `IPPROTO_RAW`: a send-only raw socket with IP_HDRINCL implied.
pub const IPPROTO_RAW: i32 = 255;

/// `IP_HDRINCL` at level `IPPROTO_IP`: the caller writes the IPv4 header.
pub const IP_HDRINCL: i32 = 3;

/// `MSG_PEEK`: read without consuming.
pub const MSG_PEEK: i32 = 0x2;
/// `MSG_TRUNC`: on a datagram socket, recv returns the real length of a
/// datagram longer than the buffer.
pub const MSG_TRUNC: i32 = 0x20;
/// `MSG_DONTWAIT`: this call only is non-blocking.
pub const MSG_DONTWAIT: i32 = 0x40;
/// `MSG_WAITALL`: block until the whole buffer is filled (or EOF/error/timeout).
pub const MSG_WAITALL: i32 = 0x100;
/// `MSG_NOSIGNAL`: accepted; the facade never raises SIGPIPE anyway.
pub const MSG_NOSIGNAL: i32 = 0x4000;

/// `SHUT_RD`.
pub const SHUT_RD: i32 = 0;
/// `SHUT_WR`.
pub const SHUT_WR: i32 = 1;
/// `SHUT_RDWR`.
pub const SHUT_RDWR: i32 = 2;

/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_BROADCAST: i32 = 6;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_LINGER: i32 = 13;
pub const SO_RCVTIMEO: i32 = 20;
pub const SO_SNDTIMEO: i32 = 21;

/// Options at level `IPPROTO_TCP`.
pub const TCP_NODELAY: i32 = 1;
pub const TCP_MAXSEG: i32 = 2;
pub const TCP_INFO: i32 = 11;
pub const TCP_CONGESTION: i32 = 13;
/// Longest congestion-control name, NUL included (Linux `TCP_CA_NAME_MAX`).
pub const TCP_CA_NAME_MAX: usize = 16;

/// `fcntl` commands.
pub const F_GETFD: i32 = 1;
pub const F_SETFD: i32 = 2;
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;
/// `FD_CLOEXEC` (recorded, no effect).
pub const FD_CLOEXEC: i32 = 1;
/// `O_RDWR`: what F_GETFL reports for every socket.
pub const O_RDWR: i32 = 0o2;
/// `O_NONBLOCK`.
pub const O_NONBLOCK: i32 = 0o4000;

/// `poll` event bits.
pub const POLLIN: i16 = 0x1;
pub const POLLPRI: i16 = 0x2;
pub const POLLOUT: i16 = 0x4;
pub const POLLERR: i16 = 0x8;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;
pub const POLLRDNORM: i16 = 0x40;
pub const POLLWRNORM: i16 = 0x100;
pub const POLLRDHUP: i16 = 0x2000;

/// Linux's `net.core.rmem_max`: SO_RCVBUF requests are capped here, then doubled.
pub const RMEM_MAX: usize = 212_992;
/// Linux's `net.core.wmem_max`: SO_SNDBUF requests are capped here, then doubled.
pub const WMEM_MAX: usize = 212_992;
/// Smallest MSS TCP_MAXSEG accepts (Linux `TCP_MIN_MSS`).
pub const TCP_MIN_MSS: u32 = 88;
/// Largest MSS TCP_MAXSEG accepts (Linux `MAX_TCP_WINDOW`).
pub const TCP_MAX_MSS: u32 = 32_767;

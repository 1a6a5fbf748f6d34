//! Plain public types of the socket API: handles, errors, info rows, counters.

use core::fmt;
use std::net::SocketAddrV4;

use crate::tcp::{State, TcpError};
use crate::time::Duration;

/// A socket in a `SocketSet`: an index plus a generation, so a handle to a
/// freed socket never reaches the socket that later reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(crate) index: u32,
    pub(crate) gen: u32,
}

/// One 64-bit word, so a keyed table (the SYN queue, a port's spilled
/// holders) mixes once per handle instead of once per field (the derived
/// `Hash` writes two `u32`s). Equal handles give equal words.
impl core::hash::Hash for SocketHandle {
    #[inline]
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.index) | u64::from(self.gen) << 32);
    }
}

impl fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.gen)
    }
}

/// The handle names no live socket (EBADF), or a socket the user closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BadHandle;

/// `bind` failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindError {
    BadHandle,
    /// EADDRINUSE: the port is taken (or every ephemeral port is, for port 0).
    AddrInUse,
    /// EADDRNOTAVAIL: not one of our addresses.
    AddrNotAvail,
    /// EINVAL: already bound, listening or connected.
    Invalid,
}

/// `listen` failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenError {
    BadHandle,
    /// EADDRINUSE: another socket listens on the same address and port.
    AddrInUse,
    /// EINVAL: the socket is connected or connecting.
    Invalid,
}

/// `accept` failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcceptError {
    BadHandle,
    /// EAGAIN: no established connection is queued.
    WouldBlock,
    /// EINVAL: the socket is not listening.
    Invalid,
}

/// `connect` failures (the result of the handshake itself is reported later
/// through `state`, `take_error` and readiness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectError {
    BadHandle,
    /// EALREADY: a connect is in progress.
    InProgress,
    /// EISCONN: already connected.
    AlreadyConnected,
    /// EADDRNOTAVAIL: no ephemeral port left, or the 4-tuple is in use.
    AddrNotAvail,
    /// EINVAL: listening socket, or an unusable remote address/port.
    Invalid,
}

/// `send` failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendError {
    BadHandle,
    /// EAGAIN: the send buffer is full (or the handshake is still running).
    WouldBlock,
    /// ENOTCONN: never connected.
    NotConnected,
    /// EPIPE: the write side was shut down or the connection is gone.
    Shutdown,
    /// A pending connection error, reported once (ECONNRESET, ETIMEDOUT, ...).
    Error(TcpError),
}

/// `recv` / `peek` failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvError {
    BadHandle,
    /// EAGAIN: nothing to read yet.
    WouldBlock,
    /// End of stream: recv(2) returns 0.
    Eof,
    /// ENOTCONN: never connected (or a listener).
    NotConnected,
    /// A pending connection error, reported once (ECONNRESET, ...).
    Error(TcpError),
}

/// `shutdown` failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownError {
    BadHandle,
    /// ENOTCONN
    NotConnected,
}

/// Which half to shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// poll(2)-style readiness of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness {
    /// POLLIN: data, EOF, a pending error, or (listener) a queued connection.
    pub readable: bool,
    /// POLLOUT: room in the send buffer (or a failure to report).
    pub writable: bool,
    /// POLLERR: an error is pending.
    pub error: bool,
    /// POLLHUP: both directions finished (or never connected).
    pub hup: bool,
    /// POLLRDHUP: the peer finished sending.
    pub rdhup: bool,
}

impl Readiness {
    pub(crate) const fn bits(self) -> u8 {
        self.readable as u8
            | (self.writable as u8) << 1
            | (self.error as u8) << 2
            | (self.hup as u8) << 3
            | (self.rdhup as u8) << 4
    }

    /// The inverse of `bits`.
    pub(crate) const fn from_bits(b: u8) -> Self {
        Readiness {
            readable: b & 1 != 0,
            writable: b & 1 << 1 != 0,
            error: b & 1 << 2 != 0,
            hup: b & 1 << 3 != 0,
            rdhup: b & 1 << 4 != 0,
        }
    }
}

/// TCP_INFO-like numbers for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    pub state: Option<State>,
    /// Smoothed RTT (zero before the first sample).
    pub rtt: Duration,
    pub rttvar: Duration,
    pub rto: Duration,
    /// Congestion window and slow-start threshold, in bytes.
    pub cwnd: usize,
    pub ssthresh: usize,
    /// Payload bytes per segment we send / we expect.
    pub snd_mss: usize,
    pub rcv_mss: usize,
    pub advmss: u16,
    /// Consecutive timeouts on the current segment (tcpi_retransmits).
    pub retransmits: u32,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u64,
    /// Loss recovery: fast recovery episodes (and of them SACK-based),
    /// segments resent by fast retransmit / NewReno and by SACK recovery
    /// (RFC 6675 NextSeg), RTO expiries, D-SACK blocks received and sent.
    pub recoveries: u64,
    pub sack_recoveries: u64,
    pub fast_retrans: u64,
    pub sack_retrans: u64,
    /// Of the SACK retransmissions, those sent again after the first was lost.
    pub lost_retrans: u64,
    /// Tail loss probes sent, and losses they repaired (RFC 8985 7).
    pub tlp_probes: u64,
    pub tlp_recoveries: u64,
    pub rtos: u64,
    /// RTOs found spurious by the echoed timestamp and undone (RFC 3522,
    /// RFC 4015).
    pub spurious_rto_undos: u64,
    pub dsack_rx: u64,
    pub dsack_tx: u64,
    /// Bytes sent but not acknowledged.
    pub unacked: usize,
    /// Bytes in the send buffer (unsent + unacknowledged).
    pub send_queue: usize,
    /// Bytes readable by the application.
    pub recv_queue: usize,
    /// Peer's window (scaled) and the window we last offered.
    pub snd_wnd: usize,
    pub rcv_wnd: usize,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub sack: bool,
    pub timestamps: bool,
}

/// One row of `netstat -tan` / `ss -tan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRow {
    pub handle: SocketHandle,
    pub proto: &'static str,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub state: State,
    /// Connections: bytes unread. Listeners: connections in the accept queue.
    pub recv_q: usize,
    /// Connections: bytes not yet acknowledged. Listeners: the backlog.
    pub send_q: usize,
    /// Listeners: half-open connections.
    pub syn_queue: usize,
    /// Closed by the user; the stack finishes the close.
    pub orphan: bool,
    /// Receive and send buffer sizes (`ss -m` skmem `rb`, `tb`; Linux
    /// `sk_rcvbuf`, `sk_sndbuf`); 0 for listeners and compact TIME_WAIT
    /// records, which have none. `recv_q` and `send_q` are the bytes in
    /// them (skmem `r`, `t`).
    pub rcvbuf: usize,
    pub sndbuf: usize,
    /// The pending timer, as `ss -o` shows it (`None`: `off`).
    pub timer: Option<crate::snapshot::TcpTimer>,
}

/// TCP counters (the names of Linux's `/proc/net/snmp` and `netstat -s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpStats {
    pub active_opens: u64,
    pub passive_opens: u64,
    pub attempt_fails: u64,
    pub estab_resets: u64,
    pub in_segs: u64,
    pub out_segs: u64,
    pub retrans_segs: u64,
    pub out_rsts: u64,
    /// Segments that matched no socket.
    pub no_socket: u64,
    /// SYNs to a closed port answered with RST.
    pub closed_port_syns: u64,
    /// SYNs or final ACKs dropped because the accept queue was full.
    pub listen_overflows: u64,
    /// SYNs dropped at a listener for any reason.
    pub listen_drops: u64,
    /// Segments dropped by a connection as unacceptable or invalid.
    pub dropped: u64,
    /// Connections closed by retransmission timeout.
    pub timeouts: u64,
    /// Retransmission timer expiries (Linux TCPTimeouts).
    pub rto_fired: u64,
    /// RTOs found spurious and undone (Linux TCPSpuriousRTOs).
    pub spurious_rto_undos: u64,
    /// RSTs we could not queue (the reply queue was full).
    pub rst_queue_full: u64,
    /// Cookie SYN-ACKs we could not queue (their queue was full); each is
    /// also a listen drop.
    pub cookie_queue_full: u64,
    /// ICMP errors matched to a connection.
    pub icmp_errors: u64,
    /// Segments we failed to encode (buffer too small).
    pub emit_errors: u64,
    /// Segments dropped by PAWS (RFC 7323 5.3; Linux PAWSEstabRejected),
    /// except in TIME_WAIT.
    pub paws_rejected: u64,
    /// Segments to a TIME_WAIT connection or record dropped by PAWS (RFC
    /// 7323 5.3; Linux 6.16+ PAWSTimewait, `LINUX_MIB_PAWS_TW_REJECTED`:
    /// older kernels counted them in PAWSEstabRejected).
    pub paws_tw_rejected: u64,
    /// Old pure ACKs (below `rcv_nxt`) dropped by PAWS without a duplicate
    /// ACK (Linux 6.14+ PAWSOldAck).
    pub paws_old_ack: u64,
    /// Segments to a half-open passive child whose TSecr echoes none of
    /// our SYN-ACKs' TSvals (RFC 7323 5.3 checks; Linux 6.15+
    /// TSEcrRejected, `tcp_check_req`).
    pub tsecr_rejected: u64,
    /// Challenge ACKs sent (RFC 5961; Linux TCPChallengeACK).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the global limit (Linux TCPChallengeACK
    /// limit hits).
    pub challenge_acks_limited: u64,
    /// SACK blocks received (Linux TCPSACK* family), blocks ignored as
    /// invalid (TCPSACKDiscard), and D-SACK reports (TCPDSACKRecv).
    pub sack_blocks_rx: u64,
    pub sack_blocks_invalid: u64,
    pub dsack_rx: u64,
    /// D-SACK blocks sent (RFC 2883; Linux TCPDSACKOldSent + TCPDSACKOfoSent).
    pub dsack_tx: u64,
    /// Segments resent by fast retransmit / NewReno partial ACKs, and by
    /// SACK recovery (RFC 6675 NextSeg; Linux TCPFastRetrans covers both).
    pub fast_retrans: u64,
    pub sack_retrans: u64,
    /// SYN cookies sent, cookie ACKs validated, and ACKs to a listener that
    /// failed the cookie check (Linux SyncookiesSent/Recv/Failed).
    pub syncookies_sent: u64,
    pub syncookies_recv: u64,
    pub syncookies_failed: u64,
    /// Segments with an illegal flag combination: SYN with FIN or RST, or
    /// none of SYN, ACK and RST (no flags, FIN|PSH|URG). Each is still
    /// handled as RFC 9293 says (reset from a closed port, dropped at a
    /// listener, dropped or challenged by a connection).
    pub bad_flags: u64,
    /// Connections that skipped TIME_WAIT because `max_tw_buckets` were
    /// held (Linux TCPTimeWaitOverflow).
    pub tw_overflow: u64,
}

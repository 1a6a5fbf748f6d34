//! sockstack-proto: the protocol core of sockstack.
//!
//! Pure and deterministic: no clock reads (every entry point takes `now`), no
//! file descriptors, no threads, and memory bounded by configuration. The
//! caller drives a [`Stack`] with `handle_*` (input) and `poll_*` (output) and
//! asks [`Stack::poll_at`] when to call again.
#![forbid(unsafe_code)]
// STYLE: nothing on a packet path may panic. Outside tests the lints below
// make indexing, unwrap, expect and panic! a build error in this crate.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod time;
pub mod wire;

pub(crate) mod iface;
pub(crate) mod storage;
pub mod tcp;

pub mod raw;
pub mod snapshot;
mod sockets;
mod stack;
pub mod udp;

pub use iface::config::Limits;
pub use iface::ipv4_out::{PartialChecksum, TxFrame};
pub use raw::RawHandle;
pub use raw::RawMeta;
pub use snapshot::{StatRow, Stats, TcpMemInfo, TcpTimer, TimerKind, UdpRow};
pub use sockets::{
    AcceptError, BadHandle, BindError, ConnectError, ListenError, Readiness, RecvError, SendError,
    Shutdown, ShutdownError, SocketHandle, SocketSet, TcpInfo, TcpRow, TcpStats,
};
pub use stack::{Medium, Stack, StackConfig};
pub use tcp::{CongestionAlgorithm, Profile, State as TcpState, TcpError, UnknownAlgorithm};
pub use time::{Duration, Instant};
pub use udp::RecvMeta as UdpRecvMeta;
pub use udp::UdpHandle;

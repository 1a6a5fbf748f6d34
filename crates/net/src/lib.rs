//! sockstack: a user-space TCP/IP stack with BSD socket semantics.
//!
//! This crate owns everything with side effects: links (TAP, TUN, memory,
//! pcap, impairment), the runtime that drives a `sockstack_proto::Stack`
//! with a clock, and the socket facade.

// Unsafe code lives only in `link/sys.rs` (STYLE.md 11), which opts in.
#![deny(unsafe_code)]

pub use sockstack_proto as proto;

pub mod bsd;
pub mod control;
pub mod link;
pub mod runtime;
pub mod sim;
mod std_net;

/// Sockets shaped like `std::net`: change `use std::net::...` to
/// `use sockstack::net::...` (and call [`net::set_default`] once).
pub mod net {
    pub use crate::std_net::{
        clear_default, default_net, set_default, Incoming, Net, TcpListener, TcpStream, UdpSocket,
    };
}

/// Sockets shaped like `tokio::net`, for tokio, hyper and tokio-util.
#[cfg(feature = "tokio")]
pub mod async_net;

pub use bsd::{Bsd, Errno, Fd};
pub use link::{Link, LinkStats, RxInfo, Waker};
pub use runtime::{Host, HostId, RealClock, VirtualNet};
pub use std_net::Net;

//! TCP: sequence arithmetic, the connection state machine (RFC 9293),
//! listeners, timers, RTT estimation and congestion control.
//!
//! The socket layer (`sockets.rs`) owns connections and listeners and
//! routes segments to them; everything here is per-connection logic.

pub(crate) mod autotune;
mod congestion;
pub(crate) mod connection;
mod cubic;
mod fastpath;
mod idle;
pub(crate) mod input;
pub(crate) mod isn;
pub(crate) mod listener;
pub(crate) mod output;
mod paws;
mod profile;
mod recovery;
pub(crate) mod rfc5961;
mod rtt;
pub(crate) mod sack;
mod seq;
mod state;
pub(crate) mod syncookie;
pub(crate) mod time_wait;
mod timers;
mod tso;

#[cfg(test)]
pub(crate) mod tests;

pub use congestion::{CongestionAlgorithm, UnknownAlgorithm};
pub use connection::TcpError;
pub use profile::Profile;
pub use seq::SeqNum;
pub use state::State;

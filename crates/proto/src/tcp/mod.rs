//! TCP: sequence arithmetic, the connection state machine (RFC 9293),
//! listeners, timers, RTT estimation and congestion control.
//!
//! The socket layer (`sockets.rs`) owns connections and listeners and
//! routes segments to them; everything here is per-connection logic.

pub(crate) mod challenge;
mod congestion;
pub(crate) mod connection;
mod input;
pub(crate) mod isn;
pub(crate) mod listener;
pub(crate) mod output;
mod profile;
mod rtt;
mod seq;
mod state;
mod timers;

#[cfg(test)]
mod tests;

pub use connection::TcpError;
pub use profile::Profile;
pub use seq::SeqNum;
pub use state::State;

//! Scripted segment-level scenarios in virtual time, and two-stack pairs.

mod harness;

mod close;
mod data;
mod handshake;
mod listener;
mod pair;
mod prop;
mod rfc5961;
mod sack_recovery;
mod sack_rx;
mod timers;
mod ts;

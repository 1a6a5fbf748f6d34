//! Scripted segment-level scenarios in virtual time, and two-stack pairs.

mod harness;

mod app_limited;
mod autotune;
mod close;
mod congestion;
mod data;
mod fastpath;
mod fin_ack;
mod fin_wait2;
mod flags;
mod handshake;
mod idle;
mod immediate_ack;
mod listener;
pub(crate) mod pair;
mod pingpong;
mod prop;
mod pushed;
mod quickack;
mod rfc5961;
mod rx_fold;
mod sack_recovery;
mod sack_rx;
mod stretch_ack;
mod syn_recv;
mod syncookie;
mod time_wait;
mod timers;
mod ts;
mod undo;

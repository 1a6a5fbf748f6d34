//! TCP: sequence arithmetic, the connection state machine (RFC 9293),
//! listeners, timers, RTT estimation and congestion control.

mod seq;

pub use seq::SeqNum;

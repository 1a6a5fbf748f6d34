//! A listening socket's queues (Linux semantics, see REFERENCES.md).
//!
//! Contract: the SYN queue holds half-open children (SYN_RECV) up to
//! `syn_cap`; the accept queue holds established children, at most
//! `backlog + 1` of them (Linux `sk_acceptq_is_full` is `>`), with the
//! backlog capped by somaxconn. Children are socket handles owned by the
//! socket layer; the listener only remembers them.
//!
//! A full SYN queue does not stop new connections when SYN cookies are on:
//! the listener answers statelessly (`tcp/syncookie.rs`) and only notes when
//! it last did so, so cookie ACKs are checked only while that is recent.

use std::collections::{BTreeSet, VecDeque};

use crate::sockets::SocketHandle;
use crate::time::{Duration, Instant};

/// Linux `TCP_SYNCOOKIE_VALID`: ACKs are checked as cookies only this long
/// after the SYN queue last overflowed (`tcp_synq_no_recent_overflow`).
const SYNCOOKIE_VALID: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub(crate) struct Listener {
    pub(crate) backlog: usize,
    /// The largest backlog since listen(): a smaller backlog from a later
    /// listen() keeps the children already queued (as Linux does), so the
    /// accept queue is bounded by this plus one, not by the current backlog.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) backlog_peak: usize,
    pub(crate) syn_cap: usize,
    /// Ordered, so closing a listener resets its children in a replayable order.
    pub(crate) syn_queue: BTreeSet<SocketHandle>,
    pub(crate) accept_queue: VecDeque<SocketHandle>,
    /// When a SYN last found the SYN queue full and got a cookie.
    pub(crate) last_overflow: Option<Instant>,
}

impl Listener {
    pub(crate) fn new(backlog: u32, somaxconn: u32, max_syn_backlog: u32) -> Self {
        // listen(2): a backlog above somaxconn is silently capped; Linux
        // lets a negative/zero backlog mean 0 (one connection still fits).
        let backlog = backlog.min(somaxconn) as usize;
        Listener {
            backlog,
            backlog_peak: backlog,
            syn_cap: max_syn_backlog.max(1) as usize,
            syn_queue: BTreeSet::new(),
            accept_queue: VecDeque::new(),
            last_overflow: None,
        }
    }

    /// A cookie was sent (Linux `tcp_synq_overflow`).
    pub(crate) fn note_overflow(&mut self, now: Instant) {
        self.last_overflow = Some(now);
    }

    /// Did the SYN queue overflow recently enough that an ACK with no
    /// half-open child may carry a cookie?
    pub(crate) fn recent_overflow(&self, now: Instant) -> bool {
        self.last_overflow
            .is_some_and(|t| now.saturating_duration_since(t) <= SYNCOOKIE_VALID)
    }

    /// Linux `sk_acceptq_is_full`: more than `backlog` already queued.
    pub(crate) fn accept_full(&self) -> bool {
        self.accept_queue.len() > self.backlog
    }

    pub(crate) fn syn_full(&self) -> bool {
        self.syn_queue.len() >= self.syn_cap
    }

    /// listen() again on a listening socket updates the backlog.
    pub(crate) fn set_backlog(&mut self, backlog: u32, somaxconn: u32) {
        self.backlog = backlog.min(somaxconn) as usize;
        self.backlog_peak = self.backlog_peak.max(self.backlog);
    }

    /// Forget a child wherever it is queued.
    pub(crate) fn forget(&mut self, h: SocketHandle) {
        if !self.syn_queue.remove(&h) {
            if let Some(i) = self.accept_queue.iter().position(|&x| x == h) {
                self.accept_queue.remove(i);
            }
        }
    }

    /// A child finished its handshake: move it to the accept queue.
    pub(crate) fn promote(&mut self, h: SocketHandle) {
        self.syn_queue.remove(&h);
        self.accept_queue.push_back(h);
    }
}

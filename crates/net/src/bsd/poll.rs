//! poll(2) over several descriptors.
//!
//! CONTRACT (Linux `tcp_poll`): POLLIN when data, end of stream or an error
//! is readable, or (listener) the accept queue is not empty; POLLOUT when
//! the send buffer has room (or a send would fail at once); POLLERR while an
//! error is pending; POLLHUP when both directions are finished or the socket
//! is not connected; POLLRDHUP once the peer finished sending; POLLNVAL for
//! a descriptor not open. POLLERR, POLLHUP and POLLNVAL are reported
//! whether asked for or not; a negative fd is skipped (revents 0). UDP
//! and raw sockets: POLLIN with a datagram queued, POLLOUT always, POLLERR
//! with an error pending on a connected UDP socket. AF_UNIX descriptors
//! report what the kernel reports for them.

use std::sync::Arc;

use sockstack_proto::{SocketHandle, SocketSet, Stack, TcpState};

use super::consts::*;
use super::driver::{Driver, WaitError};
use super::errno::{Errno, Result};
use super::family::Sock;
use super::fd_table::{Fd, FdEntry};
use super::raw::raw_mask;
use super::udp::udp_mask;
use super::{Bsd, Step};

/// `struct pollfd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollFd {
    pub fd: Fd,
    pub events: i16,
    pub revents: i16,
}

impl PollFd {
    pub fn new(fd: Fd, events: i16) -> PollFd {
        PollFd {
            fd,
            events,
            revents: 0,
        }
    }
}

/// Every event bit that applies to the socket now.
fn mask(ss: &SocketSet, h: SocketHandle) -> i16 {
    let Some(r) = ss.readiness(h) else {
        return POLLNVAL;
    };
    let mut m = 0;
    if r.readable {
        m |= POLLIN | POLLRDNORM;
    }
    if r.writable {
        m |= POLLOUT | POLLWRNORM;
    }
    if r.error {
        m |= POLLERR;
    }
    if r.hup {
        m |= POLLHUP;
    }
    if r.rdhup {
        m |= POLLIN | POLLRDNORM | POLLRDHUP;
    }
    // Linux: an unconnected (TCP_CLOSE) socket polls POLLOUT | POLLHUP.
    if ss.state(h) == Some(TcpState::Closed) {
        m |= POLLOUT | POLLWRNORM | POLLHUP;
    }
    m
}

/// Bits that are reported whether asked for or not.
const ALWAYS: i16 = POLLERR | POLLHUP | POLLNVAL;

/// First wait slice of a poll mixing AF_UNIX and stack descriptors.
const FIRST_SLICE: std::time::Duration = std::time::Duration::from_millis(1);
/// Longest wait slice (the bounded backoff's ceiling).
const MAX_SLICE: std::time::Duration = std::time::Duration::from_millis(50);

/// Every event bit that applies to a stack socket now.
pub(crate) fn stack_mask(s: &Stack, e: &FdEntry) -> i16 {
    match &e.sock {
        Sock::Tcp(h) => mask(s.sockets(), *h),
        Sock::Udp(u) => udp_mask(s, &u.lock()),
        Sock::Raw(r) => raw_mask(s, r),
        Sock::Unix(_) => 0,
    }
}

fn is_unix(e: &Option<Arc<FdEntry>>) -> bool {
    matches!(e.as_deref().map(|e| &e.sock), Some(Sock::Unix(_)))
}

/// Fill `revents` of the stack descriptors (and of closed / negative ones).
fn fill_stack(s: &Stack, fds: &mut [PollFd], entries: &[Option<Arc<FdEntry>>]) -> usize {
    let mut n = 0;
    for (p, e) in fds.iter_mut().zip(entries) {
        if is_unix(e) {
            continue;
        }
        p.revents = match e {
            _ if p.fd.0 < 0 => 0,
            None => POLLNVAL,
            Some(e) => stack_mask(s, e) & (p.events | ALWAYS),
        };
        n += usize::from(p.revents != 0);
    }
    n
}

/// Fill `revents` of the AF_UNIX descriptors (one poll(2) each, no wait).
fn fill_unix(fds: &mut [PollFd], entries: &[Option<Arc<FdEntry>>]) -> usize {
    let mut n = 0;
    for (p, e) in fds.iter_mut().zip(entries) {
        if let Some(Sock::Unix(u)) = e.as_deref().map(|e| &e.sock) {
            p.revents = u.mask(p.events) & (p.events | ALWAYS);
            n += usize::from(p.revents != 0);
        }
    }
    n
}

impl<D: Driver> Bsd<D> {
    /// poll(2): fill each `revents` and return how many are non-zero.
    /// `timeout` `None` waits forever, zero checks once. Like Linux, a
    /// timeout with nothing ready returns Ok(0).
    ///
    /// Descriptors of every family may be mixed. With only stack sockets
    /// the caller sleeps on the driver until the stack changes. With
    /// AF_UNIX descriptors in the set, it alternates: check everything,
    /// wait on the driver for one slice (woken early by the stack), and,
    /// if the driver did not really sleep (virtual time), sleep in poll(2)
    /// on the AF_UNIX descriptors for the rest of the slice; slices grow
    /// from 1 ms to 50 ms (bounded backoff), so an AF_UNIX event is seen
    /// within 50 ms and nothing spins.
    pub fn poll(&self, fds: &mut [PollFd], timeout: Option<std::time::Duration>) -> Result<usize> {
        let entries: Vec<Option<Arc<FdEntry>>> = {
            let table = self.table();
            fds.iter()
                .map(|p| {
                    if p.fd.0 < 0 {
                        None
                    } else {
                        table.get(p.fd).ok()
                    }
                })
                .collect()
        };
        let once = timeout.is_some_and(|t| t.is_zero());
        let deadline = self.deadline(timeout);
        if !entries.iter().any(is_unix) {
            if once {
                return Ok(self.driver.with_stack(|s, _| fill_stack(s, fds, &entries)));
            }
            return match self.block_on(deadline, |s, _| match fill_stack(s, fds, &entries) {
                0 => Step::Pending,
                n => Step::Done(n),
            }) {
                Ok(n) => Ok(n),
                Err(WaitError::TimedOut) => Ok(0),
                Err(w) => Err(Errno::from(w)),
            };
        }
        let unix_fds: Vec<(std::os::fd::RawFd, i16)> = fds
            .iter()
            .zip(&entries)
            .filter_map(|(p, e)| match e.as_deref().map(|e| &e.sock) {
                Some(Sock::Unix(u)) => u.raw_fd().map(|fd| (fd, p.events | POLLIN | POLLOUT)),
                _ => None,
            })
            .collect();
        let mut slice = FIRST_SLICE;
        loop {
            let n = fill_unix(fds, &entries)
                + self.driver.with_stack(|s, _| fill_stack(s, fds, &entries));
            if n > 0 || once {
                return Ok(n);
            }
            let now = self.driver.now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(0);
            }
            let step = now + sockstack_proto::Duration::from(slice);
            let until = deadline.map_or(step, |d| d.min(step));
            let started = std::time::Instant::now();
            match self.block_on(Some(until), |s, _| match fill_stack(s, fds, &entries) {
                0 => Step::Pending,
                n => Step::Done(n),
            }) {
                Ok(n) => return Ok(n + fill_unix(fds, &entries)),
                Err(WaitError::TimedOut) => {}
                Err(w) => return Err(Errno::from(w)),
            }
            let rest = slice.saturating_sub(started.elapsed());
            if !rest.is_zero() && !unix_fds.is_empty() {
                crate::link::sys::poll_revents(&unix_fds, rest).map_err(Errno::from)?;
            } else if !rest.is_zero() {
                // Only unconnected AF_UNIX sockets: nothing to wait on.
                std::thread::sleep(rest);
            }
            slice = (slice * 2).min(MAX_SLICE);
        }
    }
}

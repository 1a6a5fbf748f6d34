//! poll(2) over several descriptors.
//!
//! CONTRACT (Linux `tcp_poll`): POLLIN when data, end of stream or an error
//! is readable, or (listener) the accept queue is not empty; POLLOUT when
//! the send buffer has room (or a send would fail at once); POLLERR while an
//! error is pending; POLLHUP when both directions are finished or the socket
//! is not connected; POLLRDHUP once the peer finished sending; POLLNVAL for
//! a descriptor not open. POLLERR, POLLHUP and POLLNVAL are reported
//! whether asked for or not; a negative fd is skipped (revents 0).

use sockstack_proto::{SocketHandle, SocketSet, TcpState};

use super::consts::*;
use super::driver::{Driver, WaitError};
use super::errno::{Errno, Result};
use super::fd_table::Fd;
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

impl<D: Driver> Bsd<D> {
    /// poll(2): fill each `revents` and return how many are non-zero.
    /// `timeout` `None` waits forever, zero checks once. Like Linux, a
    /// timeout with nothing ready returns Ok(0).
    pub fn poll(&self, fds: &mut [PollFd], timeout: Option<std::time::Duration>) -> Result<usize> {
        let handles: Vec<Option<SocketHandle>> = {
            let table = self.table();
            fds.iter()
                .map(|p| {
                    if p.fd.0 < 0 {
                        None
                    } else {
                        table.get(p.fd).ok().map(|e| e.handle)
                    }
                })
                .collect()
        };
        let fill = |ss: &SocketSet, fds: &mut [PollFd]| {
            let mut n = 0;
            for (p, h) in fds.iter_mut().zip(&handles) {
                p.revents = match h {
                    _ if p.fd.0 < 0 => 0,
                    None => POLLNVAL,
                    Some(h) => mask(ss, *h) & (p.events | POLLERR | POLLHUP | POLLNVAL),
                };
                n += usize::from(p.revents != 0);
            }
            n
        };
        let once = timeout.is_some_and(|t| t.is_zero());
        if once {
            return Ok(self.driver.with_stack(|s, _| fill(s.sockets(), fds)));
        }
        let deadline = self.deadline(timeout);
        match self.block_on(deadline, |s, _| match fill(s.sockets(), fds) {
            0 => Step::Pending,
            n => Step::Done(n),
        }) {
            Ok(n) => Ok(n),
            Err(WaitError::TimedOut) => Ok(0),
            Err(w) => Err(Errno::from(w)),
        }
    }
}

//! The BSD socket facade: descriptors and calls shaped like the C API over
//! one stack.
//!
//! CONTRACT: one [`Bsd`] per stack. Calls take an [`Fd`] and return
//! [`Errno`] errors with Linux's numbers (mapped from proto's enums in
//! `map.rs` only). A blocking call blocks only its own thread, waiting on
//! the [`Driver`] with a deadline (SO_RCVTIMEO / SO_SNDTIMEO, poll's
//! timeout); it never spins and never holds the descriptor table while it
//! waits, so any number of threads may call at once while the runtime
//! thread drives the stack. A descriptor closed by one thread while another
//! blocks on it makes the blocked call fail with EBADF (Linux would keep
//! waiting; we prefer a prompt, visible failure).
//!
//! The calls: [`Bsd::socket`], [`Bsd::bind`], [`Bsd::listen`],
//! [`Bsd::accept`] / [`Bsd::accept4`], [`Bsd::connect`] /
//! [`Bsd::connect_ex`], [`Bsd::send`] / [`Bsd::sendto`], [`Bsd::recv`] /
//! [`Bsd::recvfrom`] (MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL),
//! [`Bsd::shutdown`], [`Bsd::close`] (SO_LINGER), [`Bsd::getsockname`],
//! [`Bsd::getpeername`], [`Bsd::getsockopt`] / [`Bsd::setsockopt`] with
//! typed [`SockOpt`] values, [`Bsd::fcntl`] / [`Bsd::set_nonblocking`] and
//! [`Bsd::poll`]. Linux's constant numbers are in [`consts`].
//!
//! Dropping a [`Bsd`] closes its open descriptors, like a process exit.
//!
//! Two drivers: an `Arc<Host>` (real clock, runtime thread) and a
//! [`VirtualDriver`] (one host of a shared `VirtualNet`; blocking calls
//! step virtual time, so single-threaded scripts are deterministic).
//!
//! ```
//! use std::sync::Arc;
//! use sockstack::bsd::{consts::*, Bsd};
//! use sockstack::link::memory::{self, WireConfig};
//! use sockstack::proto::{wire::{Ipv4Addr, MacAddr}, Stack, StackConfig};
//! use sockstack::Host;
//!
//! let (la, _lb) = memory::pair(WireConfig::ethernet());
//! let cfg = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(198, 18, 0, 1), 24);
//! let bsd = Bsd::new(Arc::new(Host::spawn("a", Stack::new(cfg), la).unwrap()));
//! let fd = bsd.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
//! assert_eq!(fd.0, 3);
//! bsd.close(fd).unwrap();
//! ```

mod calls;
pub mod consts;
mod driver;
pub mod errno;
mod family;
mod fd_table;
mod io;
mod map;
mod options;
mod poll;
mod raw;
mod udp;
mod unix;

use std::sync::{Arc, Mutex, MutexGuard};

use sockstack_proto::{Duration as ProtoDuration, Instant, SocketHandle, Stack};

pub use driver::{Driver, VirtualDriver, WaitError};
pub use errno::{Errno, Result};
pub use fd_table::{Fd, Linger, FIRST_FD};
pub use options::{linux_tcp_state, SockOpt, SockOptName};
pub use poll::PollFd;
pub use sockstack_proto::TcpInfo;

pub(crate) use fd_table::FdEntry;
use fd_table::FdTable;
#[cfg(feature = "tokio")]
pub(crate) use poll::stack_mask;

/// Timeouts beyond this (about a century) mean "no timeout".
const FOREVER: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

/// Default cap on open descriptors (like `ulimit -n`, but generous).
pub const DEFAULT_FD_LIMIT: usize = 1 << 20;

/// The socket calls of one stack. See the module doc.
pub struct Bsd<D: Driver> {
    driver: D,
    table: Mutex<FdTable<FdEntry>>,
}

impl<D: Driver> std::fmt::Debug for Bsd<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bsd")
            .field("open", &self.table().len())
            .finish_non_exhaustive()
    }
}

/// One step of a blocking call: finished, changed the stack (the driver
/// must wake the runtime before waiting again), or nothing to do yet.
pub(crate) enum Step<R> {
    Done(R),
    Progress,
    Pending,
}

impl<D: Driver> Bsd<D> {
    /// A facade over `driver` (an `Arc<Host>` or a [`VirtualDriver`]).
    pub fn new(driver: D) -> Bsd<D> {
        Bsd::with_fd_limit(driver, DEFAULT_FD_LIMIT)
    }

    /// A facade that holds at most `limit` descriptors (EMFILE beyond).
    pub fn with_fd_limit(driver: D, limit: usize) -> Bsd<D> {
        Bsd {
            driver,
            table: Mutex::new(FdTable::new(limit)),
        }
    }

    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// Descriptors open.
    pub fn open_fds(&self) -> usize {
        self.table().len()
    }

    /// Every open descriptor, lowest first.
    pub fn fds(&self) -> Vec<Fd> {
        self.table().fds()
    }

    /// The stack's TCP handle behind `fd` (for snapshots and tests);
    /// ENOTSOCK-like EOPNOTSUPP for other socket types.
    pub fn handle(&self, fd: Fd) -> Result<SocketHandle> {
        self.entry(fd)?.tcp().ok_or(Errno::EOPNOTSUPP)
    }

    /// Run `f` on the locked stack (an escape hatch for tools and tests).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        self.driver.with_stack(|s, _| f(s))
    }

    fn table(&self) -> MutexGuard<'_, FdTable<FdEntry>> {
        // The table's invariants hold between statements; a panic in
        // another thread cannot leave it half-updated.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn entry(&self, fd: Fd) -> Result<Arc<FdEntry>> {
        self.table().get(fd)
    }

    /// The deadline `timeout` from now (`None`: wait forever). Like Linux,
    /// a timeout too large to represent means no timeout at all.
    pub(crate) fn deadline(&self, timeout: Option<std::time::Duration>) -> Option<Instant> {
        timeout
            .filter(|&t| t <= FOREVER)
            .map(|t| self.driver.now() + ProtoDuration::from(t))
    }

    /// Run `attempt` until it is done, waking the runtime after each step
    /// that made progress; blocks the calling thread in between.
    pub(crate) fn block_on<R>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&mut Stack, Instant) -> Step<R>,
    ) -> core::result::Result<R, WaitError> {
        loop {
            let step = self.driver.wait(deadline, |s, now| match attempt(s, now) {
                Step::Pending => None,
                other => Some(other),
            })?;
            if let Step::Done(r) = step {
                return Ok(r);
            }
        }
    }
}

/// Dropping the facade closes every descriptor still open, as a process's
/// exit does: SO_LINGER {on, 0} sockets are reset, the rest closed
/// normally (no lingering wait, as Linux skips it for an exiting process).
impl<D: Driver> Drop for Bsd<D> {
    fn drop(&mut self) {
        let entries: Vec<Arc<FdEntry>> = {
            let mut table = self.table();
            table
                .fds()
                .into_iter()
                .filter_map(|fd| table.remove(fd).ok())
                .collect()
        };
        if entries.is_empty() {
            return;
        }
        let (tcp, other): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.tcp().is_some());
        for e in &other {
            let _ = self.close_other(e);
        }
        self.driver.with_stack(|s, _| {
            let ss = s.sockets_mut();
            for e in tcp {
                let Some(h) = e.tcp() else { continue };
                let l = e.flags().linger;
                // The handle may already be gone (closed through another path).
                let _ = if l.on && l.secs == 0 {
                    ss.abort(h)
                } else {
                    ss.close(h)
                };
            }
        });
    }
}

#[cfg(test)]
mod tests;

//! What the facade needs from whatever drives a stack: lock it, tell the
//! time, and block until something changes.
//!
//! CONTRACT: [`Driver::with_stack`] runs a closure on the locked stack and
//! makes sure output it queued leaves promptly. [`Driver::wait`] runs its
//! closure on the locked stack now and again after every change, and
//! returns the first `Some`; it blocks only the calling thread (condition
//! variable with a deadline for [`Host`], stepping the virtual clock for
//! [`VirtualDriver`]), never spins, and never holds the stack while asleep.
//! A closure that changed the stack (queued data, consumed data) should
//! return `Some` so the driver wakes the runtime before the caller waits
//! again; the facade's blocking loops are built that way.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use sockstack_proto::{Duration, Instant, Stack};

use crate::runtime::{Host, HostId, VirtualNet};

/// How long a virtual wait without a deadline may last.
const DEFAULT_HORIZON: Duration = Duration::from_secs(3600);

/// Why [`Driver::wait`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed.
    TimedOut,
    /// The runtime stopped (host shut down or its link failed).
    Stopped,
    /// Virtual time only: nothing is pending anywhere (or nothing but
    /// timers beyond the driver's horizon), so the call would block forever.
    Idle,
}

/// A stack plus the means to wait for it to change. Implemented for the
/// real-clock [`Host`] and for one host of a [`VirtualNet`].
pub trait Driver {
    /// Now on the stack's clock.
    fn now(&self) -> Instant;

    /// Run `f` on the locked stack (with the current time); output it queues
    /// leaves promptly.
    fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R;

    /// Run `ready` on the locked stack now and after every change until it
    /// returns `Some`, `deadline` passes, or nothing more can happen.
    fn wait<R>(
        &self,
        deadline: Option<Instant>,
        ready: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Result<R, WaitError>;
}

impl Driver for Host {
    fn now(&self) -> Instant {
        Host::now(self)
    }

    fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let clock = self.clock();
        Host::with_stack(self, |s| f(s, clock.now()))
    }

    fn wait<R>(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Result<R, WaitError> {
        let clock = self.clock();
        let std_deadline = deadline.map(|d| clock.to_std(d));
        match self.wait_until(std_deadline, |s| ready(s, clock.now())) {
            Some(r) => Ok(r),
            None if deadline.is_some_and(|d| clock.now() >= d) => Err(WaitError::TimedOut),
            None if !self.is_running() => Err(WaitError::Stopped),
            None => Err(WaitError::TimedOut),
        }
    }
}

impl<T: Driver + ?Sized> Driver for Arc<T> {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        (**self).with_stack(f)
    }
    fn wait<R>(
        &self,
        deadline: Option<Instant>,
        ready: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Result<R, WaitError> {
        (**self).wait(deadline, ready)
    }
}

impl<T: Driver + ?Sized> Driver for &T {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        (**self).with_stack(f)
    }
    fn wait<R>(
        &self,
        deadline: Option<Instant>,
        ready: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Result<R, WaitError> {
        (**self).wait(deadline, ready)
    }
}

/// One host of a [`VirtualNet`] shared by several facades (one per host) on
/// one thread. A blocking call steps the whole net (every host) until its
/// condition holds, so a single-threaded script of blocking calls on
/// several hosts runs deterministically. Actions scheduled on the net must
/// not call back into a facade (the net is borrowed while it steps).
///
/// A wait without a deadline gives up with [`WaitError::Idle`] when nothing
/// is pending anywhere, or after the horizon (default one virtual hour)
/// passes: timers such as zero-window probes can keep a net busy forever.
#[derive(Clone)]
pub struct VirtualDriver {
    net: Rc<RefCell<VirtualNet>>,
    id: HostId,
    horizon: Duration,
}

impl std::fmt::Debug for VirtualDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualDriver")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl VirtualDriver {
    pub fn new(net: Rc<RefCell<VirtualNet>>, id: HostId) -> VirtualDriver {
        VirtualDriver {
            net,
            id,
            horizon: DEFAULT_HORIZON,
        }
    }

    /// Set how long a wait without a deadline may last before it counts as
    /// blocking forever.
    pub fn with_horizon(mut self, horizon: Duration) -> VirtualDriver {
        self.horizon = horizon;
        self
    }

    /// The shared net (borrow it between facade calls, never during one).
    pub fn net(&self) -> &Rc<RefCell<VirtualNet>> {
        &self.net
    }

    pub fn host(&self) -> HostId {
        self.id
    }
}

impl Driver for VirtualDriver {
    fn now(&self) -> Instant {
        self.net.borrow().now()
    }

    fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let mut net = self.net.borrow_mut();
        let now = net.now();
        let r = f(net.stack_mut(self.id), now);
        // Let queued output leave at this instant, as a woken runtime would.
        net.poll();
        r
    }

    fn wait<R>(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> Result<R, WaitError> {
        let mut net = self.net.borrow_mut();
        let horizon = deadline.is_none().then(|| net.now() + self.horizon);
        loop {
            net.poll();
            let now = net.now();
            if let Some(r) = ready(net.stack_mut(self.id), now) {
                net.poll();
                return Ok(r);
            }
            match (net.next_event(), deadline) {
                (Some(next), Some(d)) if next > d => {
                    if now >= d {
                        return Err(WaitError::TimedOut);
                    }
                    net.run_until(d);
                }
                (None, Some(d)) => {
                    if now >= d {
                        return Err(WaitError::TimedOut);
                    }
                    net.run_until(d);
                }
                (None, None) => return Err(WaitError::Idle),
                (Some(_), None) if horizon.is_some_and(|h| now >= h) => {
                    return Err(WaitError::Idle)
                }
                (Some(_), _) => {
                    net.step();
                }
            }
        }
    }
}

//! Readiness for async sockets: one notifier thread per stack wakes the
//! tasks whose sockets became ready.
//!
//! CONTRACT: a task that got EAGAIN calls [`Reactor::poll_op`], which
//! registers its waker for (descriptor, interest) and then checks readiness
//! once more, so a change between the failed call and the registration is
//! never lost. The notifier sleeps in [`Host::wait_until`] (a condition
//! variable the runtime signals after every iteration that changed
//! something, and after every `with_stack`); each time the stack's TCP
//! event counter (`SocketSet::events`) moved, or on every signal while a
//! UDP or raw socket is waited on (those have no counter), it checks the
//! registered sockets under the stack lock (readiness as poll(2) reports
//! it) and wakes those now ready, without ever returning
//! to the runtime. So an idle stack costs no CPU, waiting tasks cost none,
//! and a busy one wakes only the tasks whose sockets changed. The thread
//! ends when the [`Net`](crate::Net) is dropped or the host stops; waiting
//! tasks are then woken and fail with ENETDOWN.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use sockstack_proto::Stack;

use crate::bsd::consts::*;
use crate::bsd::{stack_mask, Errno, FdEntry};
use crate::runtime::Host;
use crate::std_net::os_err;

/// What a task waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Interest {
    /// Data, end of stream, an error, or (listener) a connection to accept.
    Read,
    /// Room to send, a finished handshake, or an error.
    Write,
}

/// The tasks waiting for one interest on one descriptor.
struct Waiting {
    entry: Arc<FdEntry>,
    wakers: Vec<Waker>,
}

/// Keyed by the descriptor entry's address (stable while it is held here).
type Waiters = HashMap<(usize, Interest), Waiting>;

fn key(e: &Arc<FdEntry>, interest: Interest) -> (usize, Interest) {
    (Arc::as_ptr(e) as usize, interest)
}

struct Shared {
    waiters: Mutex<Waiters>,
    /// Asked to stop (the `Net` is gone).
    stop: AtomicBool,
    /// The notifier has ended: nothing will wake a task any more.
    stopped: AtomicBool,
}

impl Shared {
    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        // A map of wakers: a panic elsewhere cannot leave it inconsistent.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_all(&self) {
        let all: Vec<Waker> = self.waiters().drain().flat_map(|(_, w)| w.wakers).collect();
        all.into_iter().for_each(Waker::wake);
    }
}

/// Whether a task waiting for `interest` on `e` should run again. A socket
/// that is gone (POLLNVAL) counts as ready: the retried call reports it.
fn is_ready(s: &Stack, e: &FdEntry, interest: Interest) -> bool {
    let want = match interest {
        Interest::Read => POLLIN | POLLRDHUP,
        Interest::Write => POLLOUT,
    };
    stack_mask(s, e) & (want | POLLERR | POLLHUP | POLLNVAL) != 0
}

/// The notifier of one stack. See the module doc.
pub struct Reactor {
    shared: Arc<Shared>,
    host: Arc<Host>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("host", &self.host.name())
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// Start the notifier thread for `host`.
    pub(crate) fn start(host: Arc<Host>) -> io::Result<Reactor> {
        let shared = Arc::new(Shared {
            waiters: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let (t_host, t_shared) = (Arc::clone(&host), Arc::clone(&shared));
        std::thread::Builder::new()
            .name(format!("sockstack-{}-notify", host.name()))
            .spawn(move || notify_loop(&t_host, &t_shared))?;
        Ok(Reactor { shared, host })
    }

    /// Ask the notifier to end (it does so promptly; not joined, so this
    /// is safe from any thread).
    pub(crate) fn stop(&self, host: &Host) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Signal the host's condition so the notifier sees the flag.
        host.with_stack(|_| ());
    }

    /// Run `op`; while it fails with EAGAIN, wait for `interest` on `h`.
    pub(crate) fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        e: &Arc<FdEntry>,
        interest: Interest,
        mut op: impl FnMut() -> Result<R, Errno>,
    ) -> Poll<io::Result<R>> {
        loop {
            match op() {
                Err(Errno::EAGAIN) => {}
                r => return Poll::Ready(r.map_err(os_err)),
            }
            match self.poll_ready(cx, e, interest) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Ready if `interest` holds on `e` now; otherwise register the task's
    /// waker and return Pending.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        e: &Arc<FdEntry>,
        interest: Interest,
    ) -> Poll<io::Result<()>> {
        if self.shared.stopped.load(Ordering::SeqCst) {
            return Poll::Ready(Err(os_err(Errno::ENETDOWN)));
        }
        {
            let mut w = self.shared.waiters();
            let waiting = w.entry(key(e, interest)).or_insert_with(|| Waiting {
                entry: Arc::clone(e),
                wakers: Vec::new(),
            });
            if !waiting.wakers.iter().any(|k| k.will_wake(cx.waker())) {
                waiting.wakers.push(cx.waker().clone());
            }
        }
        // Check again: the notifier may have scanned before we registered.
        if self.host.with_stack(|s| is_ready(s, e, interest)) {
            return Poll::Ready(Ok(()));
        }
        if self.shared.stopped.load(Ordering::SeqCst) {
            return Poll::Ready(Err(os_err(Errno::ENETDOWN)));
        }
        Poll::Pending
    }

    /// Forget every waiter on `e` (its socket is closing).
    pub(crate) fn forget(&self, e: &Arc<FdEntry>) {
        let mut w = self.shared.waiters();
        w.remove(&key(e, Interest::Read));
        w.remove(&key(e, Interest::Write));
    }

    /// Tasks waiting now (for tests and diagnostics).
    pub fn waiting(&self) -> usize {
        self.shared.waiters().values().map(|w| w.wakers.len()).sum()
    }
}

fn notify_loop(host: &Host, shared: &Shared) {
    let mut last = None;
    let _ = host.wait_until(None, |s| {
        if shared.stop.load(Ordering::SeqCst) {
            return Some(());
        }
        let events = s.sockets().events();
        let mut waiters = shared.waiters();
        // TCP readiness only changes when the counter moves; datagram
        // sockets have no counter, so any signal may concern them.
        let datagram = waiters.values().any(|w| w.entry.tcp().is_none());
        if last == Some(events) && !datagram {
            return None;
        }
        last = Some(events);
        let mut woken = Vec::new();
        waiters.retain(|&(_, interest), w| {
            if is_ready(s, &w.entry, interest) {
                woken.append(&mut w.wakers);
                false
            } else {
                true
            }
        });
        drop(waiters);
        // Waking only schedules a task; it cannot call back into the stack here.
        woken.into_iter().for_each(Waker::wake);
        None
    });
    shared.stopped.store(true, Ordering::SeqCst);
    shared.wake_all();
}

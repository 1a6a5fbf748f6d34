//! A real-clock host: one thread driving one stack over one link.
//!
//! CONTRACT: see the parent module. The runtime thread holds the stack lock
//! only while it moves frames and runs timers, never while it sleeps.
//! Application closures given to [`Host::with_stack`] and
//! [`Host::wait_until`] run under the same lock; keep them short and never
//! call back into the same host from inside them.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sockstack_proto::{Duration, Instant, Stack};

use super::rx_batch::RxBatch;
use super::RealClock;
use crate::link::{earliest, sys, Link, LinkStats, Waker};

/// Frames moved per direction before the runtime looks at the clock again.
const BATCH: usize = 256;
/// Consecutive iterations with nothing to wait for before we insist on a
/// short sleep (guards against a stack whose `poll_at` stays in the past).
const SPIN_LIMIT: u32 = 64;

struct Shared {
    stack: Mutex<Stack>,
    /// Notified after each iteration that changed something, and after each
    /// `with_stack`.
    changed: Condvar,
    waker: Waker,
    stop: AtomicBool,
    running: AtomicBool,
    iterations: AtomicU64,
    link_stats: Mutex<LinkStats>,
    error: Mutex<Option<io::Error>>,
    clock: RealClock,
}

impl Shared {
    fn lock_stack(&self) -> MutexGuard<'_, Stack> {
        // The stack never panics on input (proto's contract); if an
        // application closure panicked, the stack is still structurally valid.
        self.stack.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A stack running on its own thread with the real clock.
pub struct Host {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Start a host named `name` (used for the thread name and logs) on the
    /// process-wide [`RealClock::shared`].
    pub fn spawn(name: &str, stack: Stack, link: impl Link + 'static) -> io::Result<Host> {
        Host::spawn_with_clock(name, stack, link, RealClock::shared())
    }

    /// Start a host on `clock` (all hosts on one memory link need the same).
    pub fn spawn_with_clock(
        name: &str,
        stack: Stack,
        mut link: impl Link + 'static,
        clock: RealClock,
    ) -> io::Result<Host> {
        let waker = Waker::new()?;
        link.set_waker(waker.clone());
        let shared = Arc::new(Shared {
            stack: Mutex::new(stack),
            changed: Condvar::new(),
            waker,
            stop: AtomicBool::new(false),
            running: AtomicBool::new(true),
            iterations: AtomicU64::new(0),
            link_stats: Mutex::new(LinkStats::default()),
            error: Mutex::new(None),
            clock,
        });
        let thread_shared = Arc::clone(&shared);
        let span_name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("sockstack-{name}"))
            .spawn(move || {
                let span = tracing::info_span!("host", name = %span_name);
                let _enter = span.enter();
                let result = run(&thread_shared, &mut link);
                if let Err(e) = result {
                    tracing::error!("host runtime stopped: {e}");
                    *thread_shared
                        .error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(e);
                }
                thread_shared.running.store(false, Ordering::SeqCst);
                // Take the lock so no waiter misses the final notification.
                drop(thread_shared.lock_stack());
                thread_shared.changed.notify_all();
            })?;
        Ok(Host {
            name: name.to_string(),
            shared,
            thread: Some(thread),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The clock this host runs on.
    pub fn clock(&self) -> RealClock {
        self.shared.clock
    }

    /// Now, in the stack's time.
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// Lock the stack, run `f`, then wake the runtime so any output it
    /// queued is sent promptly, and wake `wait_until` callers.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let r = {
            let mut stack = self.shared.lock_stack();
            f(&mut stack)
        };
        self.shared.waker.wake();
        self.shared.changed.notify_all();
        r
    }

    /// Block until `ready` returns `Some` (checked now and after every
    /// runtime iteration that changed something), until `deadline`, or until
    /// the runtime stops; `None` in the last two cases. `ready` runs with
    /// the stack locked and may act on it (e.g. take received data); the
    /// runtime is woken afterwards.
    pub fn wait_until<R>(
        &self,
        deadline: Option<std::time::Instant>,
        mut ready: impl FnMut(&mut Stack) -> Option<R>,
    ) -> Option<R> {
        let mut stack = self.shared.lock_stack();
        let result = loop {
            if let Some(r) = ready(&mut stack) {
                break Some(r);
            }
            if !self.shared.running.load(Ordering::SeqCst) {
                break None;
            }
            match deadline {
                None => {
                    stack = self
                        .shared
                        .changed
                        .wait(stack)
                        .unwrap_or_else(|e| e.into_inner());
                }
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break None;
                    }
                    stack = self
                        .shared
                        .changed
                        .wait_timeout(stack, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(stack);
        self.shared.waker.wake();
        result
    }

    /// Runtime loop iterations so far (an idle host's count stays flat).
    pub fn iterations(&self) -> u64 {
        self.shared.iterations.load(Ordering::Relaxed)
    }

    /// Link counters as of the last iteration.
    pub fn link_stats(&self) -> LinkStats {
        *self
            .shared
            .link_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// False once the runtime thread has stopped (shutdown or link failure).
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Stop the runtime, join its thread, and report a link failure if one
    /// stopped it earlier.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_and_join();
        let err = self
            .shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.waker.wake();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!(host = %self.name, "runtime thread panicked");
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Frames sent after a stop request, at most.
const FINAL_FRAMES: usize = 1024;

/// The runtime loop. Returns on shutdown (Ok) or when the link fails.
fn run(shared: &Shared, link: &mut dyn Link) -> io::Result<()> {
    let mut buf = vec![0u8; link.frame_capacity().max(2048)];
    // Received frames, handed to the stack together (software GRO).
    let mut rx = RxBatch::default();
    let mut spins = 0u32;
    while !shared.stop.load(Ordering::SeqCst) {
        shared.iterations.fetch_add(1, Ordering::Relaxed);
        let now = shared.clock.now();
        let mut changed = false;
        let mut more = false;
        let next_timer = {
            let mut stack = shared.lock_stack();
            let mut received = 0;
            while received < BATCH {
                let Some((n, info)) = link.recv_info(now, &mut buf)? else {
                    break;
                };
                rx.push(&mut stack, now, buf.get(..n).unwrap_or_default(), info);
                received += 1;
            }
            rx.flush(&mut stack, now);
            more |= received == BATCH;
            changed |= received > 0;
            if stack.poll_at().is_some_and(|t| t <= now) {
                stack.handle_timeout(now);
                changed = true;
            }
            let mut sent = 0;
            while sent < BATCH {
                let Some(f) = stack.poll_transmit_frame(now, &mut buf) else {
                    break;
                };
                crate::link::send_frame(link, now, &mut buf, f)?;
                sent += 1;
            }
            more |= sent == BATCH;
            changed |= sent > 0;
            if changed {
                // Under the stack lock, so a waiter that checks link counters
                // in `wait_until` cannot miss the notification below.
                *shared.link_stats.lock().unwrap_or_else(|e| e.into_inner()) = link.stats();
            }
            stack.poll_at()
        };
        link.flush(now)?;
        if changed {
            shared.changed.notify_all();
        }
        if more {
            continue;
        }
        let deadline = earliest(next_timer, link.next_event());
        let mut timeout = deadline
            .map(|d| core::time::Duration::from(d.saturating_duration_since(shared.clock.now())));
        if timeout.is_some_and(|t| t.is_zero()) {
            spins += 1;
            if spins < SPIN_LIMIT {
                continue;
            }
            timeout = Some(core::time::Duration::from(Duration::from_millis(1)));
        }
        spins = 0;
        let mut fds = [shared.waker.raw_fd(), -1];
        let nfds = match link.raw_fd() {
            Some(fd) => {
                fds[1] = fd;
                2
            }
            None => 1,
        };
        sys::poll_fds(fds.get(..nfds).unwrap_or(&fds), timeout)?;
        shared.waker.drain();
    }
    // Send what is already queued (a FIN or RST from a last close) before the
    // thread ends, so stopping a host never swallows its final words. Bounded:
    // a stack that keeps producing output cannot hold shutdown up.
    let now = shared.clock.now();
    {
        let mut stack = shared.lock_stack();
        for _ in 0..FINAL_FRAMES {
            let Some(f) = stack.poll_transmit_frame(now, &mut buf) else {
                break;
            };
            crate::link::send_frame(link, now, &mut buf, f)?;
        }
    }
    link.flush(now)?;
    Ok(())
}

//! Virtual time: several hosts on memory links, run event to event.
//!
//! CONTRACT: [`VirtualNet`] owns each host's stack and link endpoint and a
//! virtual clock that starts at zero. [`VirtualNet::poll`] brings every host
//! up to date at the current time (receive, timers, transmit, flush; rounds
//! repeat while frames keep moving, bounded); stepping moves the clock to the
//! earliest pending event: a stack's `poll_at`, a link's `next_event`, or an
//! action scheduled with [`VirtualNet::at`]. Hosts are served in the order
//! they were added. Nothing here reads a clock or draws random numbers, so a
//! run depends only on its inputs and seeds. Link errors (memory links have
//! none) are logged and counted, not returned.

use std::any::Any;
use std::collections::VecDeque;

use sockstack_proto::{Duration, Instant, Stack};

use super::rx_batch::RxBatch;
use crate::link::{earliest, Link};

/// Rounds of frame exchange within one instant before moving time on
/// (bounds a broadcast storm on zero-delay links).
const MAX_ROUNDS: usize = 10_000;

/// A host in a [`VirtualNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(usize);

impl HostId {
    /// Position in the order hosts were added.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A link the net can also hand back as its concrete type.
trait AnyLink: Link {
    fn as_link(&self) -> &dyn Link;
    fn as_link_mut(&mut self) -> &mut dyn Link;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Link + 'static> AnyLink for T {
    fn as_link(&self) -> &dyn Link {
        self
    }
    fn as_link_mut(&mut self) -> &mut dyn Link {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct VirtualHost {
    name: String,
    stack: Stack,
    /// Deref explicitly (`(*link).as_any()`): `Box<dyn AnyLink>` is itself
    /// an `AnyLink`, so method syntax on the box would downcast the box.
    link: Box<dyn AnyLink>,
    /// Received frames, handed to the stack together (software GRO).
    rx: RxBatch,
}

type Action = Box<dyn FnOnce(&mut VirtualNet)>;

struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

/// Hosts on memory links under one virtual clock. See the module doc.
///
/// Accessors taking a [`HostId`] panic when given an id from another net.
pub struct VirtualNet {
    now: Instant,
    hosts: Vec<VirtualHost>,
    /// Sorted by `(at, seq)`.
    scheduled: VecDeque<Scheduled>,
    next_seq: u64,
    buf: Vec<u8>,
    steps: u64,
    link_errors: u64,
}

impl Default for VirtualNet {
    fn default() -> Self {
        VirtualNet::new()
    }
}

impl VirtualNet {
    /// An empty net at time zero.
    pub fn new() -> VirtualNet {
        VirtualNet {
            now: Instant::ZERO,
            hosts: Vec::new(),
            scheduled: VecDeque::new(),
            next_seq: 0,
            buf: Vec::new(),
            steps: 0,
            link_errors: 0,
        }
    }

    /// Add a host. Its link should be driven only by this net.
    pub fn add_host(&mut self, name: &str, stack: Stack, link: impl Link + 'static) -> HostId {
        let cap = link.frame_capacity();
        if self.buf.len() < cap {
            self.buf.resize(cap, 0);
        }
        self.hosts.push(VirtualHost {
            name: name.to_string(),
            stack,
            link: Box::new(link),
            rx: RxBatch::default(),
        });
        HostId(self.hosts.len() - 1)
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Hosts in the order they were added.
    pub fn host_ids(&self) -> impl Iterator<Item = HostId> {
        (0..self.hosts.len()).map(HostId)
    }

    fn host(&self, id: HostId) -> &VirtualHost {
        // HostIds are only made by add_host and hosts are never removed.
        &self.hosts[id.0]
    }
    fn host_mut(&mut self, id: HostId) -> &mut VirtualHost {
        &mut self.hosts[id.0]
    }

    pub fn name(&self, id: HostId) -> &str {
        &self.host(id).name
    }
    pub fn stack(&self, id: HostId) -> &Stack {
        &self.host(id).stack
    }
    /// Act on a stack between steps (its output leaves at the next poll).
    pub fn stack_mut(&mut self, id: HostId) -> &mut Stack {
        &mut self.host_mut(id).stack
    }
    pub fn link(&self, id: HostId) -> &dyn Link {
        (*self.host(id).link).as_link()
    }
    /// Send on a host's link directly (inject frames) between steps.
    pub fn link_mut(&mut self, id: HostId) -> &mut dyn Link {
        (*self.host_mut(id).link).as_link_mut()
    }
    /// The link as the concrete type it was added as, e.g.
    /// `net.link_as::<Impaired<MemoryLink>>(a).map(|l| l.tx_stats())`.
    pub fn link_as<T: Link + 'static>(&self, id: HostId) -> Option<&T> {
        (*self.host(id).link).as_any().downcast_ref()
    }
    pub fn link_as_mut<T: Link + 'static>(&mut self, id: HostId) -> Option<&mut T> {
        (*self.host_mut(id).link).as_any_mut().downcast_mut()
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Link errors seen (and logged) so far.
    pub fn link_errors(&self) -> u64 {
        self.link_errors
    }

    /// Run `action` when the clock reaches `at` (at once, at the next poll,
    /// if `at` has passed). Actions due at the same time run in the order
    /// they were scheduled.
    pub fn at(&mut self, at: Instant, action: impl FnOnce(&mut VirtualNet) + 'static) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pos = self
            .scheduled
            .iter()
            .rposition(|s| (s.at, s.seq) <= (at, seq))
            .map_or(0, |i| i + 1);
        self.scheduled.insert(
            pos,
            Scheduled {
                at,
                seq,
                action: Box::new(action),
            },
        );
    }

    /// Run `action` after `delay` from now.
    pub fn after(&mut self, delay: Duration, action: impl FnOnce(&mut VirtualNet) + 'static) {
        let at = self.now + delay;
        self.at(at, action);
    }

    /// Earliest pending event: a stack deadline, a frame delivery, an action.
    pub fn next_event(&self) -> Option<Instant> {
        let mut next = self.scheduled.front().map(|s| s.at);
        for h in &self.hosts {
            next = earliest(next, h.stack.poll_at());
            next = earliest(next, h.link.next_event());
        }
        next
    }

    /// Bring every host up to date at the current time. Returns true when a
    /// frame moved or an action ran.
    pub fn poll(&mut self) -> bool {
        let now = self.now;
        let mut any = false;
        for _ in 0..MAX_ROUNDS {
            let mut moved = self.run_due_actions();
            for h in &mut self.hosts {
                moved |= drive(h, now, &mut self.buf, &mut self.link_errors);
            }
            if !moved {
                return any;
            }
            any = true;
        }
        tracing::warn!(%now, "virtual net: frames still moving after {MAX_ROUNDS} rounds");
        any
    }

    fn run_due_actions(&mut self) -> bool {
        let mut ran = false;
        while self.scheduled.front().is_some_and(|s| s.at <= self.now) {
            if let Some(s) = self.scheduled.pop_front() {
                (s.action)(self);
                ran = true;
            }
        }
        ran
    }

    /// Poll, move the clock to the next event (at least 1 us on), and poll
    /// there. Returns the new time, or `None` when nothing is pending (the
    /// clock does not move).
    pub fn step(&mut self) -> Option<Instant> {
        self.poll();
        let next = self.next_event()?;
        self.advance_to(next);
        self.poll();
        Some(self.now)
    }

    fn advance_to(&mut self, t: Instant) {
        self.now = t.max(self.now + Duration::from_micros(1));
        self.steps += 1;
    }

    /// Process every event up to and including `t`; the clock ends at `t`
    /// (or where it was, if later).
    pub fn run_until(&mut self, t: Instant) {
        self.poll();
        while let Some(next) = self.next_event().filter(|&n| n <= t) {
            self.advance_to(next);
            self.poll();
        }
        if t > self.now {
            self.now = t;
            self.poll();
        }
    }

    /// [`VirtualNet::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Step until nothing is pending (true) or the next event lies after
    /// `limit` (false; the clock stays before `limit`).
    pub fn run_until_idle(&mut self, limit: Instant) -> bool {
        self.poll();
        loop {
            match self.next_event() {
                None => return true,
                Some(n) if n > limit => return false,
                Some(n) => {
                    self.advance_to(n);
                    self.poll();
                }
            }
        }
    }

    /// Step until `done(net)` returns true (checked before the first step and
    /// after each) and return true; return false if time would pass `limit`
    /// or nothing is pending first.
    pub fn run_until_cond(
        &mut self,
        limit: Instant,
        mut done: impl FnMut(&mut VirtualNet) -> bool,
    ) -> bool {
        self.poll();
        loop {
            if done(self) {
                return true;
            }
            match self.next_event() {
                Some(n) if n <= limit => {
                    self.advance_to(n);
                    self.poll();
                }
                _ => return false,
            }
        }
    }
}

/// One host's iteration at `now`. Returns true when a frame moved.
fn drive(h: &mut VirtualHost, now: Instant, buf: &mut [u8], errors: &mut u64) -> bool {
    let mut moved = false;
    loop {
        match h.link.recv_info(now, buf) {
            Ok(Some((n, info))) => {
                tracing::trace!(host = %h.name, %now, len = n, "rx");
                let frame = buf.get(..n).unwrap_or_default();
                h.rx.push(&mut h.stack, now, frame, info);
                moved = true;
            }
            Ok(None) => break,
            Err(e) => {
                *errors += 1;
                tracing::warn!(host = %h.name, "link recv: {e}");
                break;
            }
        }
    }
    h.rx.flush(&mut h.stack, now);
    if h.stack.poll_at().is_some_and(|t| t <= now) {
        h.stack.handle_timeout(now);
    }
    while let Some(f) = h.stack.poll_transmit_frame(now, buf) {
        tracing::trace!(host = %h.name, %now, len = f.len, "tx");
        if let Err(e) = crate::link::send_frame(&mut h.link, now, buf, f) {
            *errors += 1;
            tracing::warn!(host = %h.name, "link send: {e}");
        }
        moved = true;
    }
    if let Err(e) = h.link.flush(now) {
        *errors += 1;
        tracing::warn!(host = %h.name, "link flush: {e}");
    }
    moved
}

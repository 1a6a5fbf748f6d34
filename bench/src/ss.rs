//! sockstack on the shared link model: two `Stack`s in one thread, driven
//! through `handle_frame` / `handle_timeout` / `poll_transmit` / `poll_at`.

use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Instant, Stack, StackConfig};

use crate::link::{Frame, Queue, STEP_US};

pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Client `a` and server `b` joined by two queues.
pub struct SsPair {
    pub a: Stack,
    pub b: Stack,
    pub ab: Queue,
    pub ba: Queue,
    pub now_us: u64,
    /// The receive batch, reused.
    batch: Vec<Frame>,
}

impl SsPair {
    pub fn new(loss_ppm: u64, seed: u64) -> Self {
        let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), ADDR_A, 24);
        ca.seed = seed;
        let mut cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), ADDR_B, 24);
        cb.seed = seed ^ 0x5555;
        SsPair {
            a: Stack::new(ca),
            b: Stack::new(cb),
            ab: Queue::new(loss_ppm, seed ^ 0xab),
            ba: Queue::new(loss_ppm, seed ^ 0xba),
            now_us: 0,
            batch: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.now_us)
    }

    /// One step: advance the clock, then for each stack deliver every
    /// queued frame, run due timers and send everything ready. Returns the
    /// frames sent.
    pub fn step(&mut self) -> usize {
        self.now_us += STEP_US;
        let now = self.now();
        let batch = &mut self.batch;
        let n = pump(&mut self.a, &mut self.ba, &mut self.ab, now, batch);
        n + pump(&mut self.b, &mut self.ab, &mut self.ba, now, batch)
    }

    /// Step; when nothing moved and nothing is queued, jump the clock to
    /// the next deadline of either stack (a virtual-time runner's idle skip).
    pub fn step_or_skip(&mut self) -> usize {
        let n = self.step();
        if n == 0 && self.ab.is_empty() && self.ba.is_empty() {
            let next = [self.a.poll_at(), self.b.poll_at()]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = next {
                let t = t.total_micros();
                if t > self.now_us + STEP_US {
                    self.now_us = t - STEP_US;
                }
            }
        }
        n
    }
}

fn pump(
    stack: &mut Stack,
    inq: &mut Queue,
    outq: &mut Queue,
    now: Instant,
    batch: &mut Vec<Frame>,
) -> usize {
    // Every queued frame as one receive batch (a NAPI poll): the stack
    // merges runs of in-order segments (software GRO).
    inq.take_batch(batch);
    if !batch.is_empty() {
        stack.handle_frames(now, batch);
        inq.done_batch(batch);
    }
    if stack.poll_at().is_some_and(|t| t <= now) {
        stack.handle_timeout(now);
    }
    let mut sent = 0;
    // Each frame is built in place in a buffer of the link's, as the
    // smoltcp device's token lends one.
    loop {
        let mut buf = outq.buffer();
        let Some(len) = stack.poll_transmit(now, &mut buf) else {
            outq.recycle(buf);
            break;
        };
        outq.push(buf, len);
        sent += 1;
    }
    sent
}

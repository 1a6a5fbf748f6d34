//! The link model both stacks share: two FIFO queues of Ethernet frames
//! (reused buffers, no delay), optional seeded loss applied on delivery, and a
//! fake monotonic clock advanced per step.

use std::collections::VecDeque;

/// Virtual time added per step, in microseconds.
pub const STEP_US: u64 = 10;
/// Ethernet frame bytes for an IP MTU of 1500.
pub const FRAME: usize = 1514;

/// A small seeded PRNG (xorshift64*), the same for both stacks.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Spare frame buffers one queue keeps for reuse (a NIC ring's worth).
const SPARES: usize = 1024;

/// A frame on the wire: a full-size buffer and the bytes of it in use.
#[derive(Debug)]
pub struct Frame {
    buf: Vec<u8>,
    len: usize,
}

impl Frame {
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// One direction of the wire. Its buffers are recycled as a NIC's ring
/// is: the sender takes a spare (or allocates one while none is free),
/// writes the frame into it in place, and the receiver hands it back once
/// the stack has read it. So neither stack pays an allocation, a zeroing
/// or a copy per frame to the link model itself.
#[derive(Debug)]
pub struct Queue {
    q: VecDeque<Frame>,
    spare: Vec<Vec<u8>>,
    /// Loss probability in parts per million, applied as frames leave.
    loss_ppm: u64,
    rng: Rng,
    pub delivered: u64,
    pub dropped: u64,
}

impl Queue {
    pub fn new(loss_ppm: u64, seed: u64) -> Self {
        Queue {
            q: VecDeque::new(),
            spare: Vec::new(),
            loss_ppm,
            rng: Rng::new(seed),
            delivered: 0,
            dropped: 0,
        }
    }
    /// A buffer of at least `FRAME` bytes to write the next frame into
    /// (its old contents are not cleared).
    pub fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_else(|| vec![0; FRAME])
    }
    /// Queues the first `len` bytes of `buf` as a frame.
    pub fn push(&mut self, buf: Vec<u8>, len: usize) {
        let len = len.min(buf.len());
        self.q.push_back(Frame { buf, len });
    }
    /// Gives a buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < SPARES {
            self.spare.push(buf);
        }
    }
    /// The next frame that survives the loss model.
    pub fn pop(&mut self) -> Option<Frame> {
        loop {
            let f = self.q.pop_front()?;
            if self.loss_ppm > 0 && self.rng.next() % 1_000_000 < self.loss_ppm {
                self.dropped += 1;
                self.recycle(f.buf);
                continue;
            }
            self.delivered += 1;
            return Some(f);
        }
    }
    /// Moves every frame that survives the loss model into `out` (a
    /// driver's receive batch).
    pub fn take_batch(&mut self, out: &mut Vec<Frame>) {
        while let Some(f) = self.pop() {
            out.push(f);
        }
    }
    /// Gives every buffer in `batch` (frames in arrival order) back for
    /// reuse, last first, so the sender takes them again in the order they
    /// were sent: like a NIC ring's slots, the n-th frame of every burst
    /// lands in the same buffer. (Given back first-first, the order
    /// reversed every lap, and which buffer held which frame flipped with
    /// it: PERF_NOTES 27.) Both stacks' drivers return their buffers here.
    pub fn done_batch(&mut self, batch: &mut Vec<Frame>) {
        for f in batch.drain(..).rev() {
            self.recycle(f.buf);
        }
    }
    /// Frees the spare buffers (the memory scenario charges the stacks
    /// only, not the link's ring).
    pub fn drop_spares(&mut self) {
        self.spare = Vec::new();
    }
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// This thread's CPU time in seconds. The machine is shared, so the
/// in-process scenarios time the CPU the benchmark thread used rather than
/// the wall clock (both stacks run in this one thread).
pub fn cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// A stopwatch over this thread's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Cpu(f64);

impl Cpu {
    pub fn start() -> Cpu {
        Cpu(cpu_secs())
    }
    pub fn secs(&self) -> f64 {
        (cpu_secs() - self.0).max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst given back with `done_batch` is taken again in the order it
    /// was sent: the n-th frame of every lap lands in the same buffer.
    #[test]
    fn every_lap_uses_the_same_buffer_per_place() {
        let mut q = Queue::new(0, 1);
        let mut batch = Vec::new();
        let mut places: Vec<*const u8> = Vec::new();
        for lap in 0..3 {
            let mut this = Vec::new();
            for _ in 0..5 {
                let buf = q.buffer();
                this.push(buf.as_ptr());
                q.push(buf, 60);
            }
            if lap == 0 {
                places = this;
            } else {
                assert_eq!(this, places, "lap {lap}");
            }
            q.take_batch(&mut batch);
            assert_eq!(batch.len(), 5);
            q.done_batch(&mut batch);
        }
    }
}

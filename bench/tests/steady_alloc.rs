//! Issue 7: no allocation per segment on the steady-state path.
//!
//! Its own test binary, so the counting `#[global_allocator]` sees only this
//! test. Two stacks joined by two frame queues whose buffers are recycled
//! (the harness itself allocates nothing once warm). After a warm-up that
//! lets rings, queues and maps reach their working size, the allocation calls
//! made while moving N MiB are counted separately for the data direction
//! (sender's output + receiver's input + the application's send/recv) and
//! the ACK direction (receiver's output + sender's input), and must be zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Instant, RecvError, SocketHandle, Stack, StackConfig};

struct Counting;

static CALLS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to `System` with the caller's arguments
// unchanged; the counter never affects the pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const FRAME: usize = 1514;
const APP_IO: usize = 64 * 1024;

/// One direction of the wire with recycled frame buffers.
struct Wire {
    q: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
}

impl Wire {
    fn new() -> Self {
        Wire {
            q: VecDeque::with_capacity(4096),
            pool: (0..4096).map(|_| vec![0u8; FRAME]).collect(),
        }
    }
}

/// Allocation calls charged to each direction.
#[derive(Default, Debug)]
struct Counts {
    data: u64,
    ack: u64,
}

struct Pair {
    a: Stack,
    b: Stack,
    ab: Wire,
    ba: Wire,
    now_us: u64,
}

/// Everything `from` has to send goes onto `w` (in recycled buffers).
fn transmit(from: &mut Stack, w: &mut Wire, now: Instant) {
    loop {
        let Some(mut f) = w.pool.pop() else {
            return; // the pool is the queue's cap; the rest waits.
        };
        f.resize(FRAME, 0);
        match from.poll_transmit(now, &mut f) {
            Some(n) => {
                f.truncate(n);
                w.q.push_back(f);
            }
            None => {
                w.pool.push(f);
                return;
            }
        }
    }
}

/// Deliver every frame on `w` to `to`.
fn receive(to: &mut Stack, w: &mut Wire, now: Instant) {
    while let Some(f) = w.q.pop_front() {
        to.handle_frame(now, &f);
        w.pool.push(f);
    }
}

impl Pair {
    fn new(seed: u64) -> Self {
        let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), ADDR_A, 24);
        ca.seed = seed;
        let mut cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), ADDR_B, 24);
        cb.seed = seed ^ 0x5555;
        Pair {
            a: Stack::new(ca),
            b: Stack::new(cb),
            ab: Wire::new(),
            ba: Wire::new(),
            now_us: 0,
        }
    }

    /// One step of the link; allocation calls charged to the direction
    /// whose work made them.
    fn step(&mut self, counts: &mut Counts) {
        self.now_us += 10;
        let now = Instant::from_micros(self.now_us);
        for stack in [&mut self.a, &mut self.b] {
            if stack.poll_at().is_some_and(|t| t <= now) {
                let c0 = calls();
                stack.handle_timeout(now);
                counts.data += calls() - c0;
            }
        }
        let c0 = calls();
        receive(&mut self.a, &mut self.ba, now); // ACKs in at the sender
        transmit(&mut self.b, &mut self.ba, now); // ACKs out of the receiver
        let c1 = calls();
        transmit(&mut self.a, &mut self.ab, now); // data out of the sender
        receive(&mut self.b, &mut self.ab, now); // data in at the receiver
        let c2 = calls();
        counts.ack += c1 - c0;
        counts.data += c2 - c1;
    }

    fn connect(&mut self, buf: usize) -> (SocketHandle, SocketHandle) {
        let sb = self.b.sockets_mut();
        let l = sb.tcp_socket().expect("socket");
        sb.set_recv_buffer_size(l, buf).expect("rcvbuf");
        sb.set_send_buffer_size(l, buf).expect("sndbuf");
        sb.bind(l, ADDR_B, 5001).expect("bind");
        sb.listen(l, 4).expect("listen");
        let now = Instant::from_micros(self.now_us);
        let sa = self.a.sockets_mut();
        let c = sa.tcp_socket().expect("socket");
        sa.set_recv_buffer_size(c, buf).expect("rcvbuf");
        sa.set_send_buffer_size(c, buf).expect("sndbuf");
        sa.connect(now, c, ADDR_B, 5001).expect("connect");
        let mut ignore = Counts::default();
        for _ in 0..10_000 {
            self.step(&mut ignore);
            if let Ok(child) = self.b.sockets_mut().accept(l) {
                return (c, child);
            }
        }
        panic!("handshake did not finish");
    }
}

/// Move `total` bytes from the client to the server; returns the
/// allocation calls per direction.
fn bulk(p: &mut Pair, c: SocketHandle, s: SocketHandle, total: usize) -> Counts {
    let data = vec![0x5au8; APP_IO];
    let mut rbuf = vec![0u8; APP_IO];
    let (mut sent, mut got) = (0usize, 0usize);
    let mut counts = Counts::default();
    let mut steps = 0u64;
    while got < total {
        let c0 = calls();
        while sent < total {
            let n = (total - sent).min(APP_IO);
            match p.a.sockets_mut().send(c, &data[..n]) {
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        counts.data += calls() - c0;
        p.step(&mut counts);
        let c0 = calls();
        loop {
            match p.b.sockets_mut().recv(s, &mut rbuf) {
                Ok(k) => got += k,
                Err(RecvError::WouldBlock) => break,
                Err(e) => panic!("recv: {e:?}"),
            }
        }
        counts.data += calls() - c0;
        steps += 1;
        assert!(steps < 10_000_000, "stalled at {got} of {total}");
    }
    counts
}

fn steady_state(buf: usize) {
    let mut p = Pair::new(7);
    let (c, s) = p.connect(buf);
    // Warm-up: rings reach their full size, queues and heaps their working
    // capacity.
    let warm = bulk(&mut p, c, s, 16 << 20);
    let steady = bulk(&mut p, c, s, 32 << 20);
    let segs = p.b.sockets().tcp_stats().in_segs;
    assert!(segs > 20_000, "moved data: {segs} segments in");
    assert_eq!(
        (steady.data, steady.ack),
        (0, 0),
        "allocations over 32 MiB after warm-up (buf {buf}; warm-up made {warm:?})"
    );
}

/// One test function for both buffer sizes: the counter is process-wide,
/// so nothing else may run in parallel in this binary.
#[test]
fn no_allocation_per_segment_in_steady_state() {
    steady_state(64 * 1024);
    steady_state(1 << 20);
}

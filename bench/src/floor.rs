//! The data-touching floor of `bulk`: what moving the bytes costs with no
//! protocol at all, so a stack's figure can be read against it.
//!
//! Every stack on this link must touch each byte the same way: copy it from
//! the application's buffer into a send ring, copy it from the ring into a
//! frame and checksum it (summed in the ring just before the copy, the faster
//! order), checksum the frame on arrival and copy it into a
//! receive ring, and copy it out to the application. This runs exactly
//! that, on rings of the socket buffer's size, 1448-byte payloads in
//! 1514-byte frames recycled through a queue, and 64 KiB application reads
//! and writes, with the same checksum code sockstack uses. Its rate bounds
//! what any stack can reach here: a stack at `floor / peer` times the peer
//! would spend no time at all on headers, sequence numbers, ACKs or timers.

use std::collections::VecDeque;

use sockstack_proto::wire::checksum;

use crate::link::{Cpu, FRAME};

/// Payload bytes per frame (MSS 1460 less the 12-byte timestamp option).
const PAYLOAD: usize = 1448;
/// Header bytes in front of the payload (Ethernet 14, IPv4 20, TCP 32).
const HEADERS: usize = FRAME - 1460 + 12;
const APP_IO: usize = 64 * 1024;

/// A byte ring of fixed capacity (the socket buffer).
struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(cap: usize) -> Self {
        Ring {
            buf: vec![0; cap],
            head: 0,
            len: 0,
        }
    }

    fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Append up to `data.len()` bytes; returns how many fit.
    fn write(&mut self, data: &[u8]) -> usize {
        let cap = self.buf.len();
        let n = data.len().min(self.free());
        let at = (self.head + self.len) % cap;
        let first = n.min(cap - at);
        let (a, b) = data[..n].split_at(first);
        self.buf[at..at + first].copy_from_slice(a);
        self.buf[..b.len()].copy_from_slice(b);
        self.len += n;
        n
    }

    /// The one's-complement sum of `n` bytes starting `off` past the head,
    /// read in place (RFC 1071: a second span that starts at an odd offset
    /// has its sum byte-swapped).
    fn sum(&self, off: usize, n: usize) -> u64 {
        let cap = self.buf.len();
        let at = (self.head + off) % cap;
        let first = n.min(cap - at);
        let a = checksum::sum(&self.buf[at..at + first], 0);
        let b = checksum::sum(&self.buf[..n - first], 0);
        let b = if first % 2 == 1 {
            checksum::at_odd_offset(b)
        } else {
            b
        };
        checksum::add(a, b)
    }

    /// Copy `out.len()` bytes starting `off` past the head (no consume).
    fn peek(&self, off: usize, out: &mut [u8]) {
        let cap = self.buf.len();
        let at = (self.head + off) % cap;
        let first = out.len().min(cap - at);
        let (a, b) = out.split_at_mut(first);
        a.copy_from_slice(&self.buf[at..at + first]);
        b.copy_from_slice(&self.buf[..b.len()]);
    }

    fn consume(&mut self, n: usize) {
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
    }

    /// Copy out and consume up to `out.len()` bytes.
    fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        self.peek(0, &mut out[..n]);
        self.consume(n);
        n
    }
}

/// Seconds of CPU to move `total` bytes with `buf`-byte socket buffers.
/// The checksums are folded into a sink so the optimiser keeps them.
pub fn floor_bulk(total: usize, buf: usize) -> (f64, u64) {
    let data = vec![0x5au8; APP_IO];
    let mut rbuf = vec![0u8; APP_IO];
    let (mut snd, mut rcv) = (Ring::new(buf), Ring::new(buf));
    let mut wire: VecDeque<(Vec<u8>, usize)> = VecDeque::new();
    let mut spares: Vec<Vec<u8>> = Vec::new();
    let mut read: Vec<Vec<u8>> = Vec::new();
    // Bytes in the send ring already framed (sent, not yet acknowledged).
    let mut in_flight = 0usize;
    let (mut sent, mut got) = (0usize, 0usize);
    let mut sink = 0u64;
    let t = Cpu::start();
    while got < total {
        while sent < total {
            let n = snd.write(&data[..(total - sent).min(APP_IO)]);
            if n == 0 {
                break;
            }
            sent += n;
        }
        // Frame everything the peer's receive ring has room for.
        let mut window = rcv.free();
        while snd.len > in_flight && window > 0 {
            let n = (snd.len - in_flight).min(PAYLOAD).min(window);
            let mut f = spares.pop().unwrap_or_else(|| vec![0u8; FRAME]);
            // Summed in the ring, then copied (as sockstack's `read_at_sum`
            // does: measured faster than copying first, PERF_NOTES 24).
            sink = sink.wrapping_add(snd.sum(in_flight, n));
            snd.peek(in_flight, &mut f[HEADERS..HEADERS + n]);
            wire.push_back((f, n));
            in_flight += n;
            window -= n;
        }
        // The receiver verifies and stores each frame; the sender frees
        // what is acknowledged.
        while let Some((f, n)) = wire.pop_front() {
            let body = &f[HEADERS..HEADERS + n];
            sink = sink.wrapping_add(checksum::sum(body, 0));
            rcv.write(body);
            snd.consume(n);
            in_flight -= n;
            read.push(f);
        }
        // Given back last first, as `Queue::done_batch` does.
        spares.extend(read.drain(..).rev());
        loop {
            let k = rcv.read(&mut rbuf);
            if k == 0 {
                break;
            }
            got += k;
        }
    }
    (t.secs(), sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sum read in place across the ring's wrap, at odd and even split
    /// points, folds to the sum of the same bytes laid out in a line.
    #[test]
    fn ring_sum_matches_the_bytes_it_covers() {
        let mut r = Ring::new(64);
        let bytes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for head in [0usize, 1, 2, 31, 63] {
            r.head = head;
            r.len = 0;
            assert_eq!(r.write(&bytes), 64);
            for (off, n) in [(0, 64), (1, 40), (5, 59), (30, 33), (63, 1)] {
                let mut line = vec![0u8; n];
                r.peek(off, &mut line);
                assert_eq!(
                    checksum::fold(r.sum(off, n)),
                    checksum::fold(checksum::sum(&line, 0)),
                    "head {head} off {off} n {n}"
                );
            }
        }
    }
}

//! A byte ring with a logical capacity and lazily grown physical storage.
//!
//! Contract: `len() <= capacity()` always. Bytes may also be written *beyond*
//! `len()` (but within capacity) with `write_at`, for out-of-order TCP data;
//! `commit` then makes them part of the readable region. Reads never consume
//! more than `len()` bytes. No method panics. `write_at_sum` / `read_at_sum`
//! also return the Internet checksum sum of the bytes they copy (RFC 1071,
//! an odd-offset wrap handled per 2(B)), so a payload is copied and summed
//! in one pass.
//!
//! Memory: the physical ring starts empty, is first allocated at the size of
//! the first write rounded up to a power of two (at least `MIN_ALLOC`), and
//! doubles when a write needs more, never past `capacity()`. Storage is never
//! zero-filled: the `Vec`'s length is the prefix written so far and grows by
//! `extend_from_slice` until the ring first wraps. `release_if_empty` gives the
//! memory back when nothing is held (for the owner to call when idle).
//!
//! Copies: one `copy_from_slice` per contiguous span, however long. The
//! application's 64 KiB `send`/`recv` copies then go through glibc's
//! `rep movsb` (from `x86_rep_movsb_threshold`, 2112 bytes). On session 9's
//! AMD EPYC (AVX-512, fast `rep movsb`) that moved 64 KiB ~1.3x faster than
//! 2 KiB pieces under the threshold (the vector loop), and bulk ran 6 %
//! faster in CPU time. Session 4's host showed the opposite (pieces 13-30 %
//! faster), so this is a host property; callgrind counts `rep movsb` once
//! per byte, so whole copies show ~1.5 more instructions per byte there
//! without costing that time (docs/PERF_NOTES.md sections 10 and 15).

/// The smallest physical allocation, so tiny writes do not reallocate often.
pub(crate) const MIN_ALLOC: usize = 256;

/// `i % phys` (0 when `phys` is 0) without a division in the common cases:
/// ring indices are a head below `phys` plus an offset below `phys`.
#[inline(always)]
fn wrap(i: usize, phys: usize) -> usize {
    if i < phys {
        i
    } else if i - phys < phys {
        i - phys
    } else {
        i.checked_rem(phys).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RingBuffer {
    /// Physical storage. `buf.len()` is the initialised prefix (`<= phys`);
    /// `buf.capacity() >= phys`. Until the prefix reaches `phys` nothing has
    /// wrapped, so every stored byte lies in `buf[head..]`.
    buf: Vec<u8>,
    /// Physical ring size (the modulus), `<= cap`.
    phys: usize,
    /// Index of the first readable byte in `buf`.
    head: usize,
    /// Readable bytes.
    len: usize,
    /// Logical capacity.
    cap: usize,
}

impl RingBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        RingBuffer {
            buf: Vec::new(),
            phys: 0,
            head: 0,
            len: 0,
            cap,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bytes that can still be enqueued.
    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.len)
    }
    /// Bytes of heap storage held (memory accounting, the idle release, tests).
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Change the logical capacity; never below the bytes held.
    pub(crate) fn set_capacity(&mut self, cap: usize) {
        let cap = cap.max(self.len);
        if cap < self.phys {
            // Shrink physical storage too, keeping the readable bytes.
            self.reallocate(cap, self.len);
        }
        self.cap = cap;
    }

    /// Drop every byte, release the memory.
    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
        self.phys = 0;
        self.head = 0;
        self.len = 0;
    }

    /// Give the storage back when no readable byte is held, so an idle
    /// connection costs no ring memory (issue 7: shrink back when idle). The
    /// caller must know that no out-of-order bytes were written past `len()`
    /// with `write_at` (for a receive ring: its assembler is empty), since
    /// they would be lost. Returns whether memory was released.
    pub(crate) fn release_if_empty(&mut self) -> bool {
        if self.len != 0 || self.buf.capacity() == 0 {
            return false;
        }
        self.clear();
        true
    }

    /// No storage held (never written, or released).
    pub(crate) fn is_unallocated(&self) -> bool {
        self.buf.capacity() == 0
    }

    /// Take `v` (a spare buffer from a pool) as this ring's first storage,
    /// as if the first write had allocated it; `v` comes back when the ring
    /// already holds storage or `v` is larger than the capacity.
    pub(crate) fn adopt(&mut self, mut v: Vec<u8>) -> Result<(), Vec<u8>> {
        if self.buf.capacity() != 0 || v.capacity() == 0 || v.capacity() > self.cap {
            return Err(v);
        }
        v.clear();
        self.buf = v;
        self.phys = self.buf.capacity();
        self.head = 0;
        Ok(())
    }

    /// `release_if_empty` handing the storage to the caller (for a pool);
    /// the same contract on out-of-order bytes.
    pub(crate) fn take_if_empty(&mut self) -> Option<Vec<u8>> {
        if self.len != 0 || self.buf.capacity() == 0 {
            return None;
        }
        let v = core::mem::take(&mut self.buf);
        self.clear();
        Some(v)
    }

    /// Make `need` logical bytes (from the head) physically addressable.
    fn reserve(&mut self, need: usize) {
        if need <= self.phys {
            return;
        }
        let target = need
            .checked_next_power_of_two()
            .unwrap_or(need)
            .max(self.phys.saturating_mul(2))
            .max(MIN_ALLOC)
            .min(self.cap);
        // Keep everything physically present (readable and out-of-order).
        self.reallocate(target, self.phys);
    }

    /// Logical bytes from the head that hold written (initialised) storage.
    fn stored(&self) -> usize {
        if self.buf.len() >= self.phys {
            self.phys
        } else {
            self.buf.len().saturating_sub(self.head)
        }
    }

    /// Move `keep` bytes from the head into a fresh buffer of size `size`,
    /// without zero-filling the rest.
    fn reallocate(&mut self, size: usize, keep: usize) {
        if self.phys == 0 && self.buf.capacity() == 0 {
            // First allocation (or the first after a release): nothing to
            // keep, so no copy and no zero fill.
            self.buf = Vec::with_capacity(size);
            self.phys = size;
            self.head = 0;
            return;
        }
        let keep = keep.min(size).min(self.stored());
        let mut fresh = Vec::with_capacity(size);
        let (a, b) = self.spans(0, keep);
        fresh.extend_from_slice(a);
        fresh.extend_from_slice(b);
        self.buf = fresh;
        self.phys = size;
        self.head = 0;
    }

    /// The stored bytes `off..off + n` after the head, as (up to) two slices.
    fn spans(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        let phys = self.phys;
        if phys == 0 || n == 0 {
            return (&[], &[]);
        }
        let n = n.min(phys.saturating_sub(off));
        let start = wrap(self.head + off, phys);
        let first = n.min(phys - start);
        (
            self.buf.get(start..start + first).unwrap_or(&[]),
            self.buf.get(..n - first).unwrap_or(&[]),
        )
    }

    /// Copy physical bytes starting `off` after the head into `out`, without
    /// checking `len`.
    fn copy_out(&self, off: usize, out: &mut [u8]) -> usize {
        let (a, b) = self.spans(off, out.len());
        let (n1, n2) = (a.len(), b.len());
        if let Some(dst) = out.get_mut(..n1) {
            dst.copy_from_slice(a);
        }
        // Most reads lie in one span: no call to copy nothing.
        if n2 > 0 {
            if let Some(dst) = out.get_mut(n1..n1 + n2) {
                dst.copy_from_slice(b);
            }
        }
        n1 + n2
    }

    /// Store `src` at physical index `at`, extending the initialised prefix
    /// (zero-filling only a gap left by an out-of-order write).
    fn store(&mut self, at: usize, src: &[u8]) {
        let init = self.buf.len();
        if at > init {
            self.buf.resize(at, 0);
        }
        let inside = src.len().min(self.buf.len().saturating_sub(at));
        let (old, new) = src.split_at(inside);
        if let Some(dst) = self.buf.get_mut(at..at + inside) {
            dst.copy_from_slice(old);
        }
        if !new.is_empty() {
            self.buf.extend_from_slice(new);
        }
    }

    /// `store` that also returns the one's-complement sum of `src` (as
    /// `checksum::sum(src, 0)`): the part that lands in initialised storage
    /// (the steady state once the ring has wrapped) is copied and summed in
    /// one pass; the part that extends the prefix (the ring's first fill) is
    /// appended, then summed.
    fn store_sum(&mut self, at: usize, src: &[u8]) -> u64 {
        use crate::wire::checksum;
        if src.is_empty() {
            // The second span of a write that does not wrap.
            return 0;
        }
        let init = self.buf.len();
        if at > init {
            self.buf.resize(at, 0);
        }
        let inside = src.len().min(self.buf.len().saturating_sub(at));
        let (old, new) = src.split_at(inside);
        let s1 = match self.buf.get_mut(at..at + inside) {
            Some(dst) => checksum::copy_and_sum(dst, old),
            None => 0,
        };
        if new.is_empty() {
            return s1;
        }
        self.buf.extend_from_slice(new);
        let mut s2 = checksum::sum(new, 0);
        if inside % 2 == 1 {
            // RFC 1071 2(B): bytes that start at an odd offset sum swapped.
            s2 = checksum::at_odd_offset(s2);
        }
        checksum::add(s1, s2)
    }

    /// Append as much of `data` as fits; returns the count.
    pub(crate) fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.len += n;
        n
    }

    /// Write `data` at `off` bytes past the readable end, as much as fits
    /// within capacity; returns the count written. Does not change `len`.
    #[inline(always)]
    pub(crate) fn write_at(&mut self, off: usize, data: &[u8]) -> usize {
        // The steady state (every in-order segment once the ring is warm):
        // all of `data` fits in the physical ring (no reserve) and lands in
        // one piece of initialised storage; one copy, as `store` would
        // make. The logical end is within `phys` and `head < phys`, so
        // `at < 2 * phys`. A position past the physical end wraps only in a
        // fully initialised ring (else the general path initialises it
        // first, and `get_mut` fails here: `at >= phys > buf.len()`).
        let end = self.len.saturating_add(off).saturating_add(data.len());
        if end <= self.cap && end <= self.phys {
            let mut at = self.head + self.len + off;
            if at >= self.phys && self.buf.len() == self.phys {
                at -= self.phys;
            }
            if let Some(dst) = self.buf.get_mut(at..at + data.len()) {
                dst.copy_from_slice(data);
                return data.len();
            }
            // A fresh or pooled ring's first writes: at the end of the
            // initialised prefix, within the allocation (`phys` is its
            // capacity), so the append never reallocates.
            if at == self.buf.len() && at + data.len() <= self.phys {
                self.buf.extend_from_slice(data);
                return data.len();
            }
        }
        self.write_general(off, data)
    }

    /// The storage `write_at` would copy `n` bytes at `off` into when the
    /// ring need not grow and its storage there is initialised: one span,
    /// or two when the bytes wrap at the physical end (then the second
    /// starts at index 0). `None` otherwise. Copying pieces into them at
    /// their offsets leaves the ring as `write_at` of each piece would.
    pub(crate) fn spans_mut(&mut self, off: usize, n: usize) -> Option<(&mut [u8], &mut [u8])> {
        let end = self.len.saturating_add(off).saturating_add(n);
        if end > self.cap || end > self.phys {
            return None;
        }
        let phys = self.phys;
        let full = self.buf.len() == phys;
        let mut at = self.head + self.len + off;
        if at >= phys {
            if !full {
                return None;
            }
            at -= phys;
        }
        if at + n <= self.buf.len() {
            return Some((self.buf.get_mut(at..at + n)?, &mut []));
        }
        if !full {
            return None;
        }
        // `at < phys < at + n` and `n <= phys`: the second span is shorter
        // than `at`.
        let (lo, hi) = self.buf.split_at_mut_checked(at)?;
        Some((hi, lo.get_mut(..at + n - phys)?))
    }

    /// `write_at` for the cases its fast path leaves out.
    #[inline(never)]
    fn write_general(&mut self, off: usize, data: &[u8]) -> usize {
        self.write_inner(off, data, false).0
    }

    /// `write_at` that also returns the one's-complement sum of the bytes
    /// written (as `checksum::sum(data[..n], 0)` would): the receive path
    /// copies a segment's payload into the ring and checksums it in one
    /// pass (issue 7). The bytes stay invisible until `commit`.
    pub(crate) fn write_at_sum(&mut self, off: usize, data: &[u8]) -> (usize, u64) {
        self.write_inner(off, data, true)
    }

    /// Inlined so `write_at` (`summed` false) keeps no trace of the sum.
    #[inline(always)]
    fn write_inner(&mut self, off: usize, data: &[u8], summed: bool) -> (usize, u64) {
        let room = self.free().saturating_sub(off);
        let n = data.len().min(room);
        if n == 0 {
            return (0, 0);
        }
        let end = self.len + off + n;
        self.reserve(end);
        let phys = self.phys;
        if phys == 0 {
            return (0, 0);
        }
        let at = self.head + self.len + off;
        if at + n > phys && self.buf.len() < phys {
            // This write wraps (an out-of-order one can, before in-order
            // data has reached the end): initialise the whole ring first so
            // the "nothing wrapped below `phys`" rule of `buf` keeps holding.
            self.buf.resize(phys, 0);
        }
        let start = wrap(at, phys);
        let first = n.min(phys - start);
        let (a, b) = data.split_at(first.min(data.len()));
        let b = b.get(..n - first).unwrap_or(&[]);
        if !summed {
            self.store(start, a);
            if !b.is_empty() {
                self.store(0, b);
            }
            return (n, 0);
        }
        use crate::wire::checksum;
        let s1 = self.store_sum(start, a);
        let mut s2 = self.store_sum(0, b);
        if a.len() % 2 == 1 {
            // RFC 1071 2(B): the wrapped span starts at an odd offset.
            s2 = checksum::at_odd_offset(s2);
        }
        (n, checksum::add(s1, s2))
    }

    /// Make `n` bytes written past the end by `write_at` readable.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.cap).min(self.phys);
    }

    /// Copy readable bytes starting at `off` into `out`; returns the count.
    pub(crate) fn read_at(&self, off: usize, out: &mut [u8]) -> usize {
        let avail = self.len.saturating_sub(off);
        let n = out.len().min(avail);
        match out.get_mut(..n) {
            Some(dst) => self.copy_out(off, dst),
            None => 0,
        }
    }

    /// `read_at` that also returns the one's-complement sum of the bytes
    /// copied (as `checksum::sum(out[..n], 0)` would): the send path copies
    /// a segment's payload into the frame and checksums it in one pass.
    #[inline]
    pub(crate) fn read_at_sum(&self, off: usize, out: &mut [u8]) -> (usize, u64) {
        // The usual case inline: the bytes lie in one span of the
        // initialised prefix (`buf.len() <= phys`). `head < phys` and a
        // readable offset is below `phys`, so one subtraction wraps the
        // start (into a fully initialised ring: nothing wraps before).
        let n = out.len().min(self.len.saturating_sub(off));
        let mut start = self.head.saturating_add(off);
        if start >= self.phys {
            start -= self.phys;
        }
        let src = self.buf.get(start..start.saturating_add(n));
        if let (Some(src), Some(dst)) = (src, out.get_mut(..n)) {
            // The sum first: its loads and adds need no store, so they run
            // while the stores of the previous frame drain, and they bring
            // the bytes into L1 for the copy.
            let sum = crate::wire::checksum::sum(src, 0);
            dst.copy_from_slice(src);
            return (n, sum);
        }
        self.read_at_sum_spans(off, out)
    }

    /// `read_at_sum` for bytes that wrap (or lie past the prefix).
    #[inline(never)]
    fn read_at_sum_spans(&self, off: usize, out: &mut [u8]) -> (usize, u64) {
        use crate::wire::checksum;
        let avail = self.len.saturating_sub(off);
        let n = out.len().min(avail);
        let (a, b) = self.spans(off, n);
        let n1 = a.len();
        let s1 = out
            .get_mut(..n1)
            .map_or(0, |d| checksum::copy_and_sum(d, a));
        if b.is_empty() {
            return (n1, s1);
        }
        let Some(rest) = out.get_mut(n1..n1 + b.len()) else {
            return (n1, s1);
        };
        let mut s2 = checksum::copy_and_sum(rest, b);
        if n1 % 2 == 1 {
            s2 = checksum::at_odd_offset(s2);
        }
        (n1 + b.len(), checksum::add(s1, s2))
    }

    /// Remove up to `n` bytes from the front; returns the count.
    pub(crate) fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        if n == 0 {
            return 0;
        }
        self.head = wrap(self.head + n, self.phys);
        self.len -= n;
        n
    }

    /// Copy out and remove up to `out.len()` bytes; returns the count.
    pub(crate) fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let n = self.read_at(0, out);
        self.discard(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enqueue_dequeue_wraps() {
        let mut r = RingBuffer::new(5000);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(r.enqueue(&data), 3000);
        let mut out = vec![0; 2500];
        assert_eq!(r.dequeue(&mut out), 2500);
        assert_eq!(&out[..], &data[..2500]);
        assert_eq!(r.enqueue(&data), 3000);
        assert_eq!(r.len(), 3500);
        assert_eq!(r.enqueue(&data), 1500);
        let mut all = vec![0; 6000];
        assert_eq!(r.dequeue(&mut all), 5000);
        assert_eq!(&all[..500], &data[2500..]);
        assert_eq!(&all[500..3500], &data[..]);
        assert_eq!(&all[3500..5000], &data[..1500]);
    }

    #[test]
    fn wrap_is_remainder() {
        for phys in [0usize, 1, 3, 256, 1000, 65_536] {
            for i in (0..4 * phys + 3).chain([usize::MAX - 1, usize::MAX]) {
                assert_eq!(
                    wrap(i, phys),
                    i.checked_rem(phys).unwrap_or(0),
                    "{i} % {phys}"
                );
            }
        }
    }

    /// Large copies: every length around the old 2 KiB piece size and
    /// glibc's 2112-byte `rep movsb` threshold, wrapped or not, reads back
    /// exactly.
    #[test]
    fn large_copies_round_trip() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for n in [2047, 2048, 2049, 2112, 4099, 9_999, 16_384] {
            for head in [0usize, 1, 5_000, 16_383] {
                let mut r = RingBuffer::new(16_384);
                let mut skip = vec![0u8; head];
                assert_eq!(r.enqueue(&data[..head]), head);
                assert_eq!(r.dequeue(&mut skip), head);
                assert_eq!(r.enqueue(&data[..n]), n, "n {n} head {head}");
                let mut out = vec![0u8; n + 7];
                assert_eq!(r.read_at(0, &mut out), n);
                assert_eq!(&out[..n], &data[..n], "n {n} head {head}");
                assert_eq!(r.dequeue(&mut out), n);
                assert_eq!(&out[..n], &data[..n], "n {n} head {head}");
            }
        }
    }

    #[test]
    fn read_at_sum_matches_checksum_across_the_wrap() {
        use crate::wire::checksum::{fold, sum};
        let mut r = RingBuffer::new(4096);
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 31 + 5) as u8).collect();
        r.enqueue(&data[..3001]);
        r.discard(2999); // head at an odd physical index
        r.enqueue(&data[..3000]); // wraps
        for (off, len) in [(0, 1460), (1, 1460), (7, 3), (500, 2000), (2990, 20)] {
            let mut out = vec![0u8; len];
            let (n, s) = r.read_at_sum(off, &mut out);
            let mut plain = vec![0u8; len];
            assert_eq!(r.read_at(off, &mut plain), n);
            assert_eq!(out[..n], plain[..n]);
            assert_eq!(fold(s), fold(sum(&plain[..n], 0)), "off {off} len {len}");
        }
    }

    /// A 4096-byte ring whose head has moved `shift` bytes on, holding
    /// `keep` bytes of `data` (a 4096-byte pattern); with `prefill`, its
    /// whole storage initialised first (the steady state).
    fn shifted(data: &[u8], prefill: bool, shift: usize, keep: usize) -> RingBuffer {
        let mut r = RingBuffer::new(4096);
        if prefill {
            r.enqueue(data);
            r.discard(4096);
        }
        r.enqueue(&data[..(shift + keep).min(4096)]);
        r.discard(shift);
        r
    }

    /// Bytes copied into `spans_mut` leave the ring as `write_at` does,
    /// across the wrap, in a fresh ring and a fully initialised one.
    #[test]
    fn spans_mut_matches_write_at() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 13 + 1) as u8).collect();
        let (mut spans, mut wrapped) = (0, 0);
        for prefill in [false, true] {
            for (shift, keep, off, len) in [
                (0, 0, 0, 1000),
                (3000, 10, 0, 1500),
                (3000, 10, 7, 1086),
                (4000, 0, 0, 4096),
                (4095, 1, 100, 3000),
                (2000, 0, 2000, 96),
            ] {
                let mut r = shifted(&data, prefill, shift, keep);
                let mut plain = r.clone();
                let want = plain.write_at(off, &data[..len]);
                let Some((a, b)) = r.spans_mut(off, len) else {
                    continue;
                };
                assert_eq!(a.len() + b.len(), len);
                spans += 1;
                wrapped += usize::from(!b.is_empty());
                assert_eq!(want, len);
                let (x, y) = data[..len].split_at(a.len());
                a.copy_from_slice(x);
                b.copy_from_slice(y);
                r.commit(off + len);
                plain.commit(off + want);
                let (mut p, mut q) = (vec![0u8; 8192], vec![0u8; 8192]);
                let got = r.read_at(0, &mut p);
                assert_eq!(got, plain.read_at(0, &mut q));
                assert_eq!(p[..got], q[..got], "shift {shift} off {off} len {len}");
            }
        }
        assert!(spans >= 6 && wrapped >= 2, "{spans} {wrapped}");
    }

    #[test]
    fn write_at_sum_matches_checksum_across_the_wrap() {
        use crate::wire::checksum::{fold, sum};
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 29 + 3) as u8).collect();
        // (bytes committed then consumed first, so the head moves; offset
        // past the readable end; length): fresh ring, first fill with an
        // odd split between initialised storage and the appended prefix,
        // writes that wrap at odd and even physical indices, after growth.
        let cases = [
            (0, 0, 0, 1460),
            (0, 0, 3, 1461),
            (2999, 1, 0, 1460),
            (2999, 1, 1, 1460),
            (3000, 0, 0, 2000),
            (3001, 0, 5, 7),
            (100, 10, 0, 4000),
            (4095, 0, 0, 4096),
        ];
        for (shift, keep, off, len) in cases {
            for prefill in [false, true] {
                let mut r = shifted(&data, prefill, shift, keep);
                let mut plain = r.clone();
                let want = plain.write_at(off, &data[..len]);
                let (n, s) = r.write_at_sum(off, &data[..len]);
                assert_eq!(n, want, "shift {shift} off {off} len {len}");
                assert_eq!(
                    fold(s),
                    fold(sum(&data[..n], 0)),
                    "shift {shift} off {off} len {len} prefill {prefill}"
                );
                r.commit(off + n);
                plain.commit(off + want);
                let (mut a, mut b) = (vec![0u8; 8192], vec![0u8; 8192]);
                let got = r.read_at(0, &mut a);
                assert_eq!(got, plain.read_at(0, &mut b));
                assert_eq!(a[..got], b[..got]);
                assert_eq!(a[keep + off..keep + off + n], data[..n]);
            }
        }
        // A write that lands partly on initialised storage (an odd 15 bytes,
        // left by an out-of-order write) and partly extends the prefix.
        let mut r = RingBuffer::new(4096);
        r.write_at(10, &[9; 5]);
        let (n, s) = r.write_at_sum(0, &data[..40]);
        assert_eq!((n, fold(s)), (40, fold(sum(&data[..40], 0))));
        r.commit(40);
        let mut out = [0u8; 40];
        assert_eq!(r.read_at(0, &mut out), 40);
        assert_eq!(out[..], data[..40]);
    }

    #[test]
    fn write_beyond_then_commit() {
        let mut r = RingBuffer::new(100);
        assert_eq!(r.write_at(10, &[7; 20]), 20);
        assert_eq!(r.len(), 0);
        assert_eq!(r.write_at(0, &[1; 10]), 10);
        r.commit(30);
        let mut out = [0; 40];
        assert_eq!(r.read_at(0, &mut out), 30);
        assert_eq!(&out[..10], &[1; 10]);
        assert_eq!(&out[10..30], &[7; 20]);
        assert_eq!(r.write_at(80, &[1; 10]), 0);
        assert_eq!(r.write_at(60, &[1; 20]), 10);
    }

    #[test]
    fn out_of_order_write_that_wraps_survives_growth() {
        let mut r = RingBuffer::new(100_000);
        r.enqueue(&[1; 210]);
        r.discard(200);
        // Lands wrapped at physical 54 while only 210 bytes are initialised.
        assert_eq!(r.write_at(100, &[9; 10]), 10);
        r.write_at(0, &[2; 100]);
        r.write_at(110, &[3; 1000]); // forces growth
        r.commit(1110);
        let mut out = vec![0; 1120];
        assert_eq!(r.read_at(0, &mut out), 1120);
        assert_eq!(&out[..10], &[1; 10]);
        assert!(out[10..110].iter().all(|&b| b == 2));
        assert!(out[110..120].iter().all(|&b| b == 9));
        assert!(out[120..1120].iter().all(|&b| b == 3));
    }

    #[test]
    fn grows_keeping_out_of_order_bytes() {
        let mut r = RingBuffer::new(100_000);
        r.enqueue(&[1; 1000]);
        r.discard(900);
        r.write_at(500, &[9; 100]);
        r.write_at(0, &[2; 5000]); // forces growth past 2048 with a wrapped head
        r.commit(5000);
        let mut out = vec![0; 5100];
        assert_eq!(r.read_at(0, &mut out), 5100);
        assert_eq!(&out[..100], &[1; 100]);
        assert!(out[100..5100].iter().all(|&b| b == 2));
    }

    #[test]
    fn no_zero_fill_and_release() {
        let mut r = RingBuffer::new(1 << 20);
        assert_eq!(r.enqueue(&[5]), 1);
        assert!(r.allocated() >= MIN_ALLOC && r.allocated() < 2 * MIN_ALLOC);
        assert!(!r.release_if_empty());
        let mut one = [0u8; 1];
        assert_eq!(r.dequeue(&mut one), 1);
        assert_eq!(one, [5]);
        assert!(r.release_if_empty());
        assert_eq!(r.allocated(), 0);
        // Usable again after release.
        assert_eq!(r.enqueue(&[1, 2, 3]), 3);
        let mut out = [0u8; 3];
        assert_eq!(r.dequeue(&mut out), 3);
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn matches_model_under_random_ops() {
        // Seeded LCG; model is a VecDeque plus an out-of-order map.
        let mut seed = 0x1234_5678_u64;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % m.max(1)
        };
        for cap in [1usize, 7, 300, 1000, 5000] {
            let mut r = RingBuffer::new(cap);
            let mut model: std::collections::VecDeque<u8> = Default::default();
            let mut ctr = 0u8;
            for _ in 0..2000 {
                match rnd(4) {
                    0 | 1 => {
                        let n = rnd(cap + 50);
                        let data: Vec<u8> = (0..n)
                            .map(|_| {
                                ctr = ctr.wrapping_add(1);
                                ctr
                            })
                            .collect();
                        let k = r.enqueue(&data);
                        assert_eq!(k, n.min(cap - model.len()));
                        model.extend(&data[..k]);
                    }
                    2 => {
                        let mut out = vec![0; rnd(cap + 50)];
                        let k = r.dequeue(&mut out);
                        let want: Vec<u8> = model.drain(..k.min(model.len())).collect();
                        assert_eq!(&out[..k], &want[..]);
                        assert_eq!(k, want.len());
                    }
                    _ => {
                        if r.is_empty() {
                            r.release_if_empty();
                        }
                    }
                }
                assert_eq!(r.len(), model.len());
                assert!(r.allocated() <= cap.max(MIN_ALLOC).next_power_of_two());
            }
        }
    }

    #[test]
    fn write_at_offsets_matches_model() {
        // Out-of-order writes past the readable end, commits of the written
        // prefix and reads, against a model: the readable bytes plus a map
        // of the positions written past them. Covers the in-place fast path
        // of `write_at` (warm ring, wrapped or not) and the general path.
        let mut seed = 0x9e37_79b9_u64;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % m.max(1)
        };
        for cap in [1usize, 5, 256, 700, 4096, 5000] {
            let mut r = RingBuffer::new(cap);
            let mut readable: std::collections::VecDeque<u8> = Default::default();
            let mut pending: std::collections::BTreeMap<usize, u8> = Default::default();
            let mut ctr = 0u8;
            for _ in 0..3000 {
                match rnd(5) {
                    0 | 1 => {
                        let off = if rnd(2) == 0 { 0 } else { rnd(cap / 2 + 2) };
                        let n = rnd(cap / 3 + 40);
                        let data: Vec<u8> = (0..n)
                            .map(|_| {
                                ctr = ctr.wrapping_add(1);
                                ctr
                            })
                            .collect();
                        let k = r.write_at(off, &data);
                        let room = (cap - readable.len()).saturating_sub(off);
                        assert_eq!(k, n.min(room));
                        for (i, b) in data[..k].iter().enumerate() {
                            pending.insert(off + i, *b);
                        }
                    }
                    2 => {
                        // Commit part of the contiguous written prefix.
                        let mut run = 0;
                        while pending.contains_key(&run) {
                            run += 1;
                        }
                        let k = rnd(run + 1);
                        r.commit(k);
                        let rest = pending.split_off(&k);
                        readable.extend(pending.values());
                        pending = rest.into_iter().map(|(p, b)| (p - k, b)).collect();
                    }
                    _ => {
                        let mut out = vec![0; rnd(cap / 2 + 50)];
                        let expect = out.len().min(readable.len());
                        let k = r.dequeue(&mut out);
                        assert_eq!(k, expect);
                        let want: Vec<u8> = readable.drain(..k).collect();
                        assert_eq!(&out[..k], &want[..]);
                    }
                }
                assert_eq!(r.len(), readable.len());
                assert!(r.len() <= r.capacity());
            }
        }
    }
}

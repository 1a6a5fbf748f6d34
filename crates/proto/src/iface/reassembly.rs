//! IPv4 fragment reassembly (RFC 791 3.2, RFC 815, RFC 5722).
//!
//! CONTRACT: fragments are keyed by (source, destination, protocol,
//! identification). A datagram completes when fragments cover 0..total with
//! no gaps; the result carries the first fragment's header with the offset
//! and MF cleared. Any overlap that is not an exact duplicate discards the
//! whole datagram (RFC 5722, 4, applied to IPv4 as Linux does); exact
//! duplicates are ignored. Memory (fragment bytes plus `FRAG_OVERHEAD` per
//! fragment) never exceeds `reasm_mem`, datagrams in progress never exceed
//! `reasm_max_datagrams`, no datagram exceeds 65,535 bytes, and each is
//! dropped `reasm_timeout` after its first fragment arrived.

use std::collections::BTreeMap;

use super::config::Limits;
use crate::time::Instant;
use crate::wire::{Ipv4Addr, Ipv4Repr};

/// Bookkeeping charged per fragment, so tiny fragments cost memory too.
const FRAG_OVERHEAD: usize = 64;
/// The largest IPv4 datagram (RFC 791: total length is 16 bits).
const MAX_DATAGRAM: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

#[derive(Debug)]
struct Datagram {
    /// Header of the fragment at offset 0, once it arrived.
    first: Option<Ipv4Repr>,
    /// (offset, bytes), sorted by offset, never overlapping.
    frags: Vec<(usize, Vec<u8>)>,
    /// Payload length, known once the last fragment (MF clear) arrived.
    total: Option<usize>,
    received: usize,
    charged: usize,
    deadline: Instant,
}

/// What happened to one fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Held; more fragments needed.
    Held,
    /// The datagram is complete: header and whole payload.
    Complete(Ipv4Repr, Vec<u8>),
    Duplicate,
    /// The datagram was discarded because this fragment overlapped another.
    Overlap,
    /// Dropped: reassembly memory full.
    OverMem,
    /// Dropped: too many datagrams in progress.
    TooMany,
    /// The datagram was discarded: it would exceed 65,535 bytes.
    TooBig,
    /// The fragment (and, if its end contradicts the others, the datagram)
    /// was discarded: bad length or end.
    BadFragment,
}

/// A datagram dropped on timeout; `first` is the quote for ICMP time
/// exceeded (header + 8 bytes) if the first fragment had arrived.
#[derive(Debug)]
pub(crate) struct Expired {
    pub first: Option<(Ipv4Repr, Vec<u8>)>,
}

#[derive(Debug)]
pub(crate) struct Reassembler {
    map: BTreeMap<Key, Datagram>,
    mem: usize,
    limits: Limits,
}

impl Reassembler {
    pub(crate) fn new(limits: &Limits) -> Self {
        Reassembler {
            map: BTreeMap::new(),
            mem: 0,
            limits: limits.clone(),
        }
    }

    /// Bytes currently charged.
    pub(crate) fn mem(&self) -> usize {
        self.mem
    }

    /// Datagrams in progress.
    pub(crate) fn in_progress(&self) -> usize {
        self.map.len()
    }

    /// Add one fragment: `ip` its header, `data` its payload.
    pub(crate) fn add(&mut self, now: Instant, ip: &Ipv4Repr, data: &[u8]) -> Outcome {
        let key = Key {
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol.into(),
            ident: ip.ident,
        };
        let start = ip.frag_offset;
        let end = start.saturating_add(data.len());
        let last = !ip.more_frags;
        // RFC 791: every fragment but the last carries a multiple of 8 bytes;
        // an empty fragment carries nothing (Linux discards both).
        if data.is_empty() || (!last && data.len() % 8 != 0) {
            return Outcome::BadFragment;
        }
        // Ping of death: a datagram that would exceed 65,535 bytes.
        if end.saturating_add(ip.header_len()) > MAX_DATAGRAM {
            self.discard(&key);
            return Outcome::TooBig;
        }
        let charge = data.len() + FRAG_OVERHEAD;
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.limits.reasm_max_datagrams {
                return Outcome::TooMany;
            }
            if self.mem + charge > self.limits.reasm_mem {
                return Outcome::OverMem;
            }
            self.map.insert(
                key,
                Datagram {
                    first: None,
                    frags: Vec::new(),
                    total: None,
                    received: 0,
                    charged: 0,
                    deadline: now + self.limits.reasm_timeout,
                },
            );
        }
        let Some(dg) = self.map.get_mut(&key) else {
            return Outcome::BadFragment;
        };
        // The end of the datagram is fixed by the last fragment.
        let max_end = dg.frags.last().map_or(0, |(s, b)| s + b.len());
        let inconsistent = match dg.total {
            Some(total) => end > total || (last && end != total),
            None => last && end < max_end,
        };
        if inconsistent {
            self.discard(&key);
            return Outcome::BadFragment;
        }
        let pos = dg.frags.partition_point(|(s, _)| *s < start);
        if let Some((s, b)) = dg.frags.get(pos) {
            if *s == start && b.len() == data.len() {
                return Outcome::Duplicate;
            }
            if *s < end {
                self.discard(&key);
                return Outcome::Overlap;
            }
        }
        if let Some((s, b)) = pos.checked_sub(1).and_then(|p| dg.frags.get(p)) {
            if s + b.len() > start {
                self.discard(&key);
                return Outcome::Overlap;
            }
        }
        if self.mem + charge > self.limits.reasm_mem {
            return Outcome::OverMem;
        }
        self.mem += charge;
        dg.charged += charge;
        dg.received += data.len();
        dg.frags.insert(pos, (start, data.to_vec()));
        if start == 0 {
            dg.first = Some(*ip);
        }
        if last {
            dg.total = Some(end);
        }
        if dg.total != Some(dg.received) {
            return Outcome::Held;
        }
        // Complete: no overlaps and received == total means 0..total is covered.
        let Some(dg) = self.map.remove(&key) else {
            return Outcome::BadFragment;
        };
        self.mem = self.mem.saturating_sub(dg.charged);
        let Some(mut header) = dg.first else {
            return Outcome::BadFragment;
        };
        let mut payload = Vec::with_capacity(dg.received);
        for (_, b) in &dg.frags {
            payload.extend_from_slice(b);
        }
        header.more_frags = false;
        header.frag_offset = 0;
        header.payload_len = payload.len();
        Outcome::Complete(header, payload)
    }

    fn discard(&mut self, key: &Key) {
        if let Some(dg) = self.map.remove(key) {
            self.mem = self.mem.saturating_sub(dg.charged);
        }
    }

    /// Drop every datagram whose deadline has passed.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let dead: Vec<Key> = self
            .map
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::with_capacity(dead.len());
        for key in dead {
            let Some(dg) = self.map.remove(&key) else {
                continue;
            };
            self.mem = self.mem.saturating_sub(dg.charged);
            let first = dg.first.and_then(|repr| {
                let (_, bytes) = dg.frags.first()?;
                // RFC 792: the quote is the header plus the first 64 bits.
                let quoted = bytes.get(..8).unwrap_or(bytes).to_vec();
                Some((repr, quoted))
            });
            out.push(Expired { first });
        }
        out
    }

    pub(crate) fn poll_at(&self) -> Option<Instant> {
        self.map.values().map(|d| d.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use crate::wire::IpProtocol;

    fn frag(offset: usize, len: usize, more: bool) -> (Ipv4Repr, Vec<u8>) {
        let mut ip = Ipv4Repr::new(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            IpProtocol::Udp,
            len,
        );
        ip.dont_frag = false;
        ip.ident = 7;
        ip.more_frags = more;
        ip.frag_offset = offset;
        let data = (offset..offset + len).map(|i| i as u8).collect();
        (ip, data)
    }

    fn add(r: &mut Reassembler, offset: usize, len: usize, more: bool) -> Outcome {
        let (ip, data) = frag(offset, len, more);
        r.add(Instant::ZERO, &ip, &data)
    }

    fn expect_complete(o: Outcome, len: usize) {
        match o {
            Outcome::Complete(ip, payload) => {
                assert_eq!(payload.len(), len);
                assert_eq!(ip.payload_len, len);
                assert!(!ip.more_frags);
                assert!(payload.iter().enumerate().all(|(i, b)| *b == i as u8));
            }
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn in_order_and_reverse() {
        let mut r = Reassembler::new(&Limits::default());
        assert_eq!(add(&mut r, 0, 16, true), Outcome::Held);
        assert_eq!(add(&mut r, 16, 16, true), Outcome::Held);
        expect_complete(add(&mut r, 32, 5, false), 37);
        assert_eq!(r.mem(), 0);
        assert_eq!(add(&mut r, 32, 5, false), Outcome::Held);
        assert_eq!(add(&mut r, 16, 16, true), Outcome::Held);
        expect_complete(add(&mut r, 0, 16, true), 37);
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn overlap_discards_duplicate_tolerated() {
        let mut r = Reassembler::new(&Limits::default());
        assert_eq!(add(&mut r, 0, 16, true), Outcome::Held);
        assert_eq!(add(&mut r, 0, 16, true), Outcome::Duplicate);
        assert_eq!(add(&mut r, 8, 16, true), Outcome::Overlap);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.mem(), 0);
        assert_eq!(add(&mut r, 16, 8, false), Outcome::Held);
        assert_eq!(add(&mut r, 8, 16, true), Outcome::Overlap);
    }

    #[test]
    fn bad_fragments_and_too_big() {
        let mut r = Reassembler::new(&Limits::default());
        assert_eq!(add(&mut r, 0, 7, true), Outcome::BadFragment);
        assert_eq!(add(&mut r, 0, 0, false), Outcome::BadFragment);
        assert_eq!(add(&mut r, 65_528, 8, false), Outcome::TooBig);
        assert_eq!(add(&mut r, 16, 8, false), Outcome::Held);
        assert_eq!(add(&mut r, 24, 8, true), Outcome::BadFragment);
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn timeout_quotes_first_fragment() {
        let mut r = Reassembler::new(&Limits::default());
        assert_eq!(add(&mut r, 0, 16, true), Outcome::Held);
        assert_eq!(r.poll_at(), Some(Instant::ZERO + Duration::from_secs(30)));
        assert!(r.expire(Instant::from_secs(29)).is_empty());
        let e = r.expire(Instant::from_secs(30));
        assert_eq!(e.len(), 1);
        let (ip, q) = e[0].first.as_ref().unwrap();
        assert!(ip.more_frags);
        assert_eq!(q.len(), 8);
        assert_eq!(r.mem(), 0);
    }

    #[test]
    fn memory_and_count_caps() {
        let limits = Limits {
            reasm_mem: 1000,
            reasm_max_datagrams: 2,
            ..Limits::default()
        };
        let mut r = Reassembler::new(&limits);
        assert_eq!(add(&mut r, 0, 800, true), Outcome::Held);
        assert_eq!(add(&mut r, 800, 800, true), Outcome::OverMem);
        let (mut ip, data) = frag(0, 8, true);
        ip.ident = 8;
        assert_eq!(r.add(Instant::ZERO, &ip, &data), Outcome::Held);
        ip.ident = 9;
        assert_eq!(r.add(Instant::ZERO, &ip, &data), Outcome::TooMany);
        assert!(r.mem() <= 1000);
    }
}

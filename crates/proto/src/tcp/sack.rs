//! SACK (RFC 2018, RFC 2883, RFC 6675), both directions.
//!
//! Receiver: `receiver_blocks` chooses the blocks for the next ACK: a D-SACK
//! block first when a duplicate arrived (RFC 2883 4), then the block holding
//! the most recent segment (RFC 2018 4), then the blocks reported most
//! recently before, then the rest.
//!
//! Sender: `Scoreboard` keeps what the peer SACKed as sorted, disjoint
//! ranges inside `snd_una..snd_nxt`, at most `cap` of them. Blocks outside
//! that span or malformed are ignored and counted; D-SACKs are detected and
//! counted (never merged). On top of it: `is_lost` (RFC 6675 IsLost),
//! `next_seg` (NextSeg rules 1-3) and `pipe` (SetPipe).
//!
//! Contract: never panics; memory is `cap` ranges whatever the peer sends;
//! every query is O(cap).

use super::SeqNum;
use crate::wire::tcp::MAX_SACK_BLOCKS;

/// RFC 6675 2: DupThresh.
pub(crate) const DUP_THRESH: usize = 3;

/// A SACK block: `[left, right)`.
pub(crate) type Block = (SeqNum, SeqNum);

/// Up to four blocks, in the order they go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Blocks {
    pub blocks: [Block; MAX_SACK_BLOCKS],
    pub len: usize,
    /// The first block is a D-SACK (RFC 2883).
    pub dsack: bool,
}

impl Blocks {
    pub(crate) fn as_slice(&self) -> &[Block] {
        self.blocks.get(..self.len).unwrap_or(&[])
    }

    /// The blocks after the D-SACK one, if any (what "previous" means for
    /// the next ACK).
    pub(crate) fn sack_part(&self) -> &[Block] {
        self.as_slice()
            .get(usize::from(self.dsack)..)
            .unwrap_or(&[])
    }

    fn push_unique(&mut self, b: Block, max: usize) {
        if self.len >= max.min(MAX_SACK_BLOCKS) || self.sack_part().contains(&b) {
            return;
        }
        if let Some(slot) = self.blocks.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
}

/// Receiver side: the SACK blocks for the next ACK.
///
/// * `ooo`: the out-of-order ranges held beyond `rcv_nxt` (any order).
/// * `latest`: the range of the segment that triggered this ACK, if it was
///   out of order.
/// * `previous`: the blocks sent in the last ACK (first = most recent).
/// * `dsack`: a duplicate that just arrived (RFC 2883).
/// * `max`: how many fit (3 with timestamps, 4 without; RFC 2018 3).
pub(crate) fn receiver_blocks<I>(
    ooo: I,
    latest: Option<Block>,
    previous: &[Block],
    dsack: Option<Block>,
    max: usize,
) -> Blocks
where
    I: Iterator<Item = Block> + Clone,
{
    let mut out = Blocks::default();
    // RFC 2883 4 (1): the D-SACK block comes first and only once; it may
    // equal the block that follows it (a duplicate of a whole SACKed range).
    if let Some(d) = dsack {
        out.push_unique(d, max);
        out.dsack = out.len > 0;
    }
    let holding = |s: SeqNum| ooo.clone().find(|&(l, r)| s.in_range(l, r));
    // RFC 2018 4: the first block holds the most recently received segment.
    if let Some(b) = latest.and_then(|(l, _)| holding(l)) {
        out.push_unique(b, max);
    }
    // Then the most recently reported blocks, as they stand now (they may
    // have merged into bigger ones or been acknowledged away).
    for &(l, _) in previous {
        if let Some(b) = holding(l) {
            out.push_unique(b, max);
        }
    }
    // Then any others, highest first (the freshest data tends to be there).
    let mut rest: [Option<Block>; MAX_SACK_BLOCKS] = [None; MAX_SACK_BLOCKS];
    for b in ooo {
        // Keep the MAX_SACK_BLOCKS highest candidates.
        let mut cand = Some(b);
        for slot in rest.iter_mut() {
            match (*slot, cand) {
                (None, c) => {
                    *slot = c;
                    cand = None;
                }
                (Some(s), Some(c)) if c.0.gt(s.0) => {
                    *slot = Some(c);
                    cand = Some(s);
                }
                _ => {}
            }
        }
    }
    for b in rest.into_iter().flatten() {
        out.push_unique(b, max);
    }
    out
}

/// What one ACK's SACK blocks did to the scoreboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SackUpdate {
    /// Bytes newly marked SACKed.
    pub newly_sacked: usize,
    /// The first block was a D-SACK (RFC 2883 4).
    pub dsack: bool,
    /// Blocks ignored as invalid (outside snd_una..snd_nxt, empty, or not
    /// recordable because the scoreboard is at its cap).
    pub ignored: usize,
}

/// Sender side: the peer's SACK information (RFC 6675 scoreboard).
///
/// `repr(C)`: `ranges` (whose emptiness every ACK checks) first, the
/// counters last.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Scoreboard {
    /// Sorted, disjoint, non-adjacent SACKed ranges above `snd_una`.
    ranges: Vec<Block>,
    cap: u32,
    /// Counters (Linux `TCPSACKDiscard`, `TCPDSACKRecv`, ...), saturating;
    /// `u32` keeps the scoreboard at 40 bytes on the connection's hot
    /// lines (the stack's totals come from `LossCounters`, in `u64`).
    pub(crate) invalid_blocks: u32,
    pub(crate) dsacks: u32,
    pub(crate) overflows: u32,
}

impl Scoreboard {
    pub(crate) fn new(cap: usize) -> Self {
        Scoreboard {
            ranges: Vec::new(),
            cap: u32::try_from(cap).unwrap_or(u32::MAX).max(1),
            invalid_blocks: 0,
            dsacks: 0,
            overflows: 0,
        }
    }

    pub(crate) fn ranges(&self) -> &[Block] {
        &self.ranges
    }

    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
    }

    /// RFC 6675 2: HighACK's companion, the highest SACKed sequence
    /// number (the right edge of the highest block).
    #[cfg(test)]
    pub(crate) fn highest_sacked(&self) -> Option<SeqNum> {
        self.ranges.last().map(|&(_, r)| r)
    }

    /// Total bytes SACKed.
    #[cfg(test)]
    pub(crate) fn sacked_bytes(&self) -> usize {
        self.ranges.iter().map(|&(l, r)| l.distance_to(r)).sum()
    }

    /// Nothing is SACKed.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Is `seq` SACKed?
    pub(crate) fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges.iter().any(|&(l, r)| seq.in_range(l, r))
    }

    /// The end of the SACKed range holding `seq`, if `seq` is SACKed.
    pub(crate) fn sacked_end(&self, seq: SeqNum) -> Option<SeqNum> {
        self.ranges
            .iter()
            .find(|&&(l, r)| seq.in_range(l, r))
            .map(|&(_, r)| r)
    }

    /// The start of the first SACKed range strictly above `seq`.
    pub(crate) fn next_sacked_after(&self, seq: SeqNum) -> Option<SeqNum> {
        self.ranges
            .iter()
            .find(|&&(l, _)| l.gt(seq))
            .map(|&(l, _)| l)
    }

    /// SACKed bytes inside `[from, to)`.
    pub(crate) fn sacked_between(&self, from: SeqNum, to: SeqNum) -> usize {
        self.ranges
            .iter()
            .map(|&(l, r)| {
                let (a, b) = (l.max(from), r.min(to));
                if a.lt(b) {
                    a.distance_to(b)
                } else {
                    0
                }
            })
            .sum()
    }

    /// Take a new ACK: drop what `snd_una` covers, then add its blocks.
    pub(crate) fn update(
        &mut self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        blocks: &[Block],
    ) -> SackUpdate {
        let mut res = SackUpdate::default();
        self.trim(snd_una);
        for (i, &(l, r)) in blocks.iter().enumerate() {
            // RFC 2883 4: a first block below the cumulative ACK, or inside
            // the second block, reports a duplicate.
            if i == 0 && l.lt(r) {
                let below = r.le(snd_una);
                let inside = blocks.get(1).is_some_and(|&(l2, r2)| l2.le(l) && r.le(r2));
                if below || inside {
                    res.dsack = true;
                    self.dsacks = self.dsacks.saturating_add(1);
                    continue;
                }
            }
            // RFC 2018 / Linux tcp_is_sackblock_valid: non-empty, within
            // snd_una..snd_nxt (a block may start below snd_una if it ends
            // above it; the covered part is trimmed).
            let valid =
                l.lt(r) && r.le(snd_nxt) && r.gt(snd_una) && snd_una.distance_to(r) <= 1 << 30;
            if !valid {
                res.ignored += 1;
                self.invalid_blocks = self.invalid_blocks.saturating_add(1);
                continue;
            }
            match self.insert(l.max(snd_una), r) {
                Some(n) => res.newly_sacked += n,
                None => {
                    res.ignored += 1;
                    self.overflows = self.overflows.saturating_add(1);
                }
            }
        }
        res
    }

    fn trim(&mut self, snd_una: SeqNum) {
        self.ranges.retain(|&(_, r)| r.gt(snd_una));
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(snd_una);
        }
    }

    /// Merge `[l, r)` in; returns newly covered bytes, None at the cap.
    fn insert(&mut self, l: SeqNum, r: SeqNum) -> Option<usize> {
        let first = self.ranges.partition_point(|&(_, e)| e.lt(l));
        let last = self.ranges.partition_point(|&(s, _)| s.le(r));
        if first >= last {
            if self.ranges.len() >= self.cap as usize {
                return None;
            }
            self.ranges.insert(first, (l, r));
            return Some(l.distance_to(r));
        }
        let before: usize = self
            .ranges
            .get(first..last)
            .map_or(0, |s| s.iter().map(|&(a, b)| a.distance_to(b)).sum());
        let lo = self.ranges.get(first).map_or(l, |&(a, _)| a.min(l));
        let hi = self.ranges.get(last - 1).map_or(r, |&(_, b)| b.max(r));
        self.ranges.drain(first + 1..last);
        if let Some(slot) = self.ranges.get_mut(first) {
            *slot = (lo, hi);
        }
        Some(lo.distance_to(hi).saturating_sub(before))
    }

    /// (SACKed bytes, SACKed ranges) strictly above `seq`.
    fn sacked_above(&self, seq: SeqNum) -> (usize, usize) {
        let mut bytes = 0;
        let mut n = 0;
        for &(l, r) in &self.ranges {
            if r.gt(seq) {
                bytes += l.max(seq + 1).distance_to(r);
                n += 1;
            }
        }
        (bytes, n)
    }

    /// RFC 6675 4 IsLost(seq): DupThresh discontiguous SACKed sequences
    /// above it, or more than (DupThresh - 1) * SMSS SACKed bytes above it.
    pub(crate) fn is_lost(&self, seq: SeqNum, mss: usize) -> bool {
        if self.is_sacked(seq) {
            return false;
        }
        let (bytes, n) = self.sacked_above(seq);
        n >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss.max(1)
    }

    /// The holes (unSACKed ranges) in `[snd_una, min(snd_nxt, highest_sacked))`.
    fn holes(&self, snd_una: SeqNum) -> impl Iterator<Item = Block> + '_ {
        let mut at = snd_una;
        self.ranges.iter().filter_map(move |&(l, r)| {
            let hole = at.lt(l).then_some((at, l));
            at = at.max(r);
            hole
        })
    }

    /// RFC 6675 4 NextSeg: what to send next during SACK recovery.
    ///
    /// `high_rxt` is the highest sequence number retransmitted so far
    /// (HighRxt; `snd_una` when none), `unsent` whether new data can go
    /// (data queued and the receive window allows it).
    pub(crate) fn next_seg(
        &self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        high_rxt: SeqNum,
        mss: usize,
        unsent: bool,
    ) -> Option<NextSeg> {
        let mss = mss.max(1);
        let mut rule3 = None;
        for (hl, hr) in self.holes(snd_una) {
            // S2 > HighRxt (we treat high_rxt as the end of what went again).
            let start = hl.max(high_rxt);
            if !start.lt(hr) || !start.lt(snd_nxt) {
                continue;
            }
            let len = start.distance_to(hr).min(mss);
            // (1.a-c): below HighACK (by construction of holes) and lost.
            if self.is_lost(start, mss) {
                return Some(NextSeg {
                    seq: start,
                    len,
                    rule: Rule::Lost,
                });
            }
            if rule3.is_none() {
                rule3 = Some(NextSeg {
                    seq: start,
                    len,
                    rule: Rule::Rescue,
                });
            }
        }
        // (2): new data.
        if unsent {
            return Some(NextSeg {
                seq: snd_nxt,
                len: mss,
                rule: Rule::NewData,
            });
        }
        // (3): an unSACKed hole below HighACK, even if not yet deemed lost.
        rule3
    }

    /// RFC 6675 4 SetPipe: bytes estimated in the network. `high_rxt` as for
    /// `next_seg`.
    pub(crate) fn pipe(
        &self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        high_rxt: SeqNum,
        mss: usize,
    ) -> usize {
        let mut pipe = 0usize;
        let mut at = snd_una;
        let mut add_hole = |l: SeqNum, r: SeqNum, sb: &Scoreboard| {
            if !l.lt(r) {
                return;
            }
            // The SACK state is constant across a hole, so is IsLost.
            if !sb.is_lost(l, mss) {
                pipe += l.distance_to(r);
            }
            // (b) retransmitted octets are in flight once more.
            let rx_end = high_rxt.min(r);
            if l.lt(rx_end) {
                pipe += l.distance_to(rx_end);
            }
        };
        for &(l, r) in &self.ranges {
            add_hole(at, l.min(snd_nxt), self);
            at = at.max(r);
        }
        add_hole(at, snd_nxt, self);
        pipe
    }
}

/// Which NextSeg rule chose the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// (1): an unSACKed segment deemed lost.
    Lost,
    /// (2): new data.
    NewData,
    /// (3): an unSACKed segment below HighACK not yet deemed lost.
    Rescue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextSeg {
    pub seq: SeqNum,
    pub len: usize,
    pub rule: Rule,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(l: u32, r: u32) -> Block {
        (SeqNum(l), SeqNum(r))
    }

    // RFC 2018 4 / RFC 2883 examples: segments of 500 bytes from 5000.
    #[test]
    fn most_recent_block_first() {
        // 5500 lost, 6000 arrives: block 6000-6500.
        let ooo = [b(6000, 6500)];
        let got = receiver_blocks(ooo.iter().copied(), Some(b(6000, 6500)), &[], None, 3);
        assert_eq!(got.as_slice(), &[b(6000, 6500)]);
        // 7000 arrives after 6500 was lost too: 7000-7500 first, then 6000-6500.
        let ooo = [b(6000, 6500), b(7000, 7500)];
        let got2 = receiver_blocks(
            ooo.iter().copied(),
            Some(b(7000, 7500)),
            got.as_slice(),
            None,
            3,
        );
        assert_eq!(got2.as_slice(), &[b(7000, 7500), b(6000, 6500)]);
        // 6500 arrives: the two merge; the merged block first.
        let ooo = [b(6000, 7500)];
        let got3 = receiver_blocks(
            ooo.iter().copied(),
            Some(b(6500, 7000)),
            got2.as_slice(),
            None,
            3,
        );
        assert_eq!(got3.as_slice(), &[b(6000, 7500)]);
    }

    #[test]
    fn previous_blocks_keep_their_order_and_cap_applies() {
        let ooo = [
            b(100, 200),
            b(300, 400),
            b(500, 600),
            b(700, 800),
            b(900, 1000),
        ];
        let prev = [b(300, 400), b(900, 1000), b(100, 200)];
        let got = receiver_blocks(ooo.iter().copied(), Some(b(500, 600)), &prev, None, 3);
        assert_eq!(got.as_slice(), &[b(500, 600), b(300, 400), b(900, 1000)]);
        let got = receiver_blocks(ooo.iter().copied(), None, &[], None, 4);
        assert_eq!(got.len, 4);
        assert_eq!(got.as_slice()[0], b(900, 1000));
    }

    #[test]
    fn dsack_block_comes_first() {
        // RFC 2883 4.1.1: a duplicate of 3000-3500 below rcv_nxt 4000.
        let got = receiver_blocks([].iter().copied(), None, &[], Some(b(3000, 3500)), 3);
        assert_eq!(got.as_slice(), &[b(3000, 3500)]);
        // 4.1.3: a duplicate inside an out-of-order block: D-SACK then the block.
        let ooo = [b(4500, 5500)];
        let got = receiver_blocks(
            ooo.iter().copied(),
            Some(b(5000, 5500)),
            &[],
            Some(b(5000, 5500)),
            3,
        );
        assert_eq!(got.as_slice(), &[b(5000, 5500), b(4500, 5500)]);
    }

    #[test]
    fn dsack_equal_to_a_whole_block_is_kept_with_it() {
        // RFC 2883 4.1.2 shape: the duplicate is exactly the SACKed block.
        let ooo = [b(5000, 5500)];
        let got = receiver_blocks(ooo.iter().copied(), None, &[], Some(b(5000, 5500)), 3);
        assert_eq!(got.as_slice(), &[b(5000, 5500), b(5000, 5500)]);
        assert!(got.dsack);
        assert_eq!(got.sack_part(), &[b(5000, 5500)]);
        // The sender reads it back as a D-SACK (first inside second).
        let mut sb = Scoreboard::new(8);
        let u = sb.update(SeqNum(4000), SeqNum(9000), got.as_slice());
        assert!(u.dsack);
        assert_eq!(sb.ranges(), &[b(5000, 5500)]);
    }

    #[test]
    fn range_queries() {
        let mut sb = Scoreboard::new(8);
        sb.update(SeqNum(1000), SeqNum(11000), &[b(2000, 3000), b(5000, 7000)]);
        assert_eq!(sb.sacked_end(SeqNum(2500)), Some(SeqNum(3000)));
        assert_eq!(sb.sacked_end(SeqNum(3000)), None);
        assert_eq!(sb.next_sacked_after(SeqNum(1000)), Some(SeqNum(2000)));
        assert_eq!(sb.next_sacked_after(SeqNum(2000)), Some(SeqNum(5000)));
        assert_eq!(sb.next_sacked_after(SeqNum(5000)), None);
        assert_eq!(sb.sacked_between(SeqNum(1000), SeqNum(11000)), 3000);
        assert_eq!(sb.sacked_between(SeqNum(2500), SeqNum(6000)), 1500);
        assert_eq!(sb.sacked_between(SeqNum(3000), SeqNum(5000)), 0);
    }

    // RFC 6675 scoreboard: 1000-byte segments, snd_una 1000, snd_nxt 11000.
    const MSS: usize = 1000;

    #[test]
    fn update_validates_and_merges() {
        let mut sb = Scoreboard::new(32);
        let (una, nxt) = (SeqNum(1000), SeqNum(11000));
        let u = sb.update(una, nxt, &[b(2000, 3000)]);
        assert_eq!((u.newly_sacked, u.dsack, u.ignored), (1000, false, 0));
        let u = sb.update(una, nxt, &[b(3000, 4000), b(2000, 3000)]);
        assert_eq!(u.newly_sacked, 1000);
        assert_eq!(sb.ranges(), &[b(2000, 4000)]);
        // Beyond snd_nxt, empty, reversed, or wholly below snd_una (not first).
        let u = sb.update(
            una,
            nxt,
            &[
                b(5000, 6000),
                b(10_000, 12_000),
                b(7000, 7000),
                b(8000, 7000),
                b(0, 500),
            ],
        );
        assert_eq!((u.newly_sacked, u.ignored), (1000, 4));
        assert_eq!(sb.invalid_blocks, 4);
        assert_eq!(sb.highest_sacked(), Some(SeqNum(6000)));
        // A cumulative ACK past the first range trims it away.
        let u = sb.update(SeqNum(4000), nxt, &[]);
        assert_eq!(u, SackUpdate::default());
        assert_eq!(sb.ranges(), &[b(5000, 6000)]);
        assert_eq!(sb.sacked_bytes(), 1000);
    }

    #[test]
    fn dsack_detected_and_counted() {
        let mut sb = Scoreboard::new(32);
        // RFC 2883 4.1.1: first block below the cumulative ACK.
        let u = sb.update(SeqNum(4000), SeqNum(8000), &[b(3000, 3500)]);
        assert!(u.dsack);
        // 4.1.2: first block inside the second.
        let u = sb.update(SeqNum(4000), SeqNum(8000), &[b(5000, 5500), b(4500, 6000)]);
        assert!(u.dsack);
        assert_eq!(u.newly_sacked, 1500);
        assert_eq!(sb.dsacks, 2);
        assert_eq!(sb.invalid_blocks, 0);
    }

    #[test]
    fn cap_bounds_memory() {
        let mut sb = Scoreboard::new(4);
        let blocks: Vec<Block> = (0..10).map(|i| b(2000 + i * 200, 2100 + i * 200)).collect();
        for c in blocks.chunks(4) {
            sb.update(SeqNum(1000), SeqNum(11000), c);
        }
        assert_eq!(sb.ranges().len(), 4);
        assert_eq!(sb.overflows, 6);
    }

    #[test]
    fn is_lost_dupthresh() {
        let mut sb = Scoreboard::new(32);
        let (una, nxt) = (SeqNum(1000), SeqNum(11000));
        // Segment 1000 lost; 2000 and 3000 SACKed: 2 segments, not lost yet.
        sb.update(una, nxt, &[b(2000, 4000)]);
        assert!(!sb.is_lost(SeqNum(1000), MSS));
        // Third SACKed segment: more than (3 - 1) * SMSS bytes above.
        sb.update(una, nxt, &[b(2000, 5000)]);
        assert!(sb.is_lost(SeqNum(1000), MSS));
        assert!(!sb.is_lost(SeqNum(2000), MSS), "SACKed is never lost");
        assert!(!sb.is_lost(SeqNum(5000), MSS));
        // Three discontiguous small blocks count as three sequences.
        let mut sb = Scoreboard::new(32);
        sb.update(una, nxt, &[b(2000, 2100), b(3000, 3100), b(4000, 4100)]);
        assert!(sb.is_lost(SeqNum(1000), MSS));
        assert!(!sb.is_lost(SeqNum(2500), MSS));
    }

    #[test]
    fn next_seg_rules_in_order() {
        let mut sb = Scoreboard::new(32);
        let (una, nxt) = (SeqNum(1000), SeqNum(11000));
        // Segments 1000 and 4000 lost; 2000-4000 and 5000-8000 SACKed.
        sb.update(una, nxt, &[b(5000, 8000), b(2000, 4000)]);
        // Rule 1: 1000 (5 segments SACKed above), then 4000 (3 above).
        let s = sb.next_seg(una, nxt, una, MSS, true).expect("a segment");
        assert_eq!((s.seq, s.len, s.rule), (SeqNum(1000), 1000, Rule::Lost));
        let s = sb
            .next_seg(una, nxt, SeqNum(2000), MSS, true)
            .expect("a segment");
        assert_eq!((s.seq, s.rule), (SeqNum(4000), Rule::Lost));
        // Both retransmitted: rule 2, new data.
        let s = sb
            .next_seg(una, nxt, SeqNum(5000), MSS, true)
            .expect("a segment");
        assert_eq!((s.seq, s.rule), (nxt, Rule::NewData));
        // Nothing new to send and nothing lost: nothing (holes above HighACK
        // are not candidates).
        assert_eq!(sb.next_seg(una, nxt, SeqNum(5000), MSS, false), None);
        // Rule 3: a hole below HighACK that is not yet lost.
        let mut sb = Scoreboard::new(32);
        sb.update(una, nxt, &[b(2000, 3000)]);
        let s = sb.next_seg(una, nxt, una, MSS, false).expect("a segment");
        assert_eq!((s.seq, s.rule), (SeqNum(1000), Rule::Rescue));
        let s = sb.next_seg(una, nxt, una, MSS, true).expect("a segment");
        assert_eq!(s.rule, Rule::NewData);
    }

    #[test]
    fn pipe_per_rfc6675() {
        let mut sb = Scoreboard::new(32);
        let (una, nxt) = (SeqNum(1000), SeqNum(11000));
        // No SACKs: everything is in flight.
        assert_eq!(sb.pipe(una, nxt, una, MSS), 10_000);
        // 1000 lost, 2000-5000 SACKed, 5000-11000 still out.
        sb.update(una, nxt, &[b(2000, 5000)]);
        assert_eq!(sb.pipe(una, nxt, una, MSS), 6000);
        // After retransmitting 1000-2000 it counts once more.
        assert_eq!(sb.pipe(una, nxt, SeqNum(2000), MSS), 7000);
    }

    #[test]
    fn works_across_the_wrap() {
        let mut sb = Scoreboard::new(8);
        let una = SeqNum(u32::MAX - 1500);
        let nxt = una + 10_000;
        sb.update(una, nxt, &[(una + 1000, una + 4000)]);
        assert!(sb.is_lost(una, MSS));
        assert_eq!(sb.highest_sacked(), Some(una + 4000));
        assert_eq!(sb.pipe(una, nxt, una, MSS), 6000);
    }

    proptest! {
        #[test]
        fn hostile_blocks_stay_bounded(
            una in any::<u32>(), span in 0u32..1 << 20,
            acks in proptest::collection::vec(
                (0u32..1 << 20, proptest::collection::vec((any::<u32>(), any::<u32>()), 0..5)),
                0..40),
        ) {
            let mut sb = Scoreboard::new(8);
            let mut una = SeqNum(una);
            for (adv, blocks) in acks {
                una = una + (adv as usize % 3000);
                let nxt = una + span as usize;
                let bl: Vec<Block> = blocks.iter().map(|&(l, r)| (SeqNum(l), SeqNum(r))).collect();
                sb.update(una, nxt, &bl);
                prop_assert!(sb.ranges().len() <= 8);
                for w in sb.ranges().windows(2) {
                    prop_assert!(w[0].1.lt(w[1].0));
                }
                for &(l, r) in sb.ranges() {
                    prop_assert!(una.le(l) && l.lt(r) && r.le(nxt));
                }
                let _ = sb.next_seg(una, nxt, una, 1000, false);
                prop_assert!(sb.pipe(una, nxt, una, 1000) <= span as usize * 2);
            }
        }
    }
}

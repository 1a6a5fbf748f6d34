//! `Run::continues` (one masked compare) accepts only frames that
//! `mergeable` and `Run::takes` (the field checks) accept, with the same cut.
//!
//! Test code only (`#[cfg(test)]`): its `expect`s are about frames these
//! tests build themselves, never about received input.

use proptest::prelude::*;

use super::{Run, SAME_LEN};
use crate::stack::{Stack, StackConfig};
use crate::wire::{Ipv4Addr, MacAddr, TcpFlags};

const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const MSS: usize = 1448;

fn stack() -> Stack {
    Stack::new(StackConfig::ethernet(MAC, Ipv4Addr::new(198, 18, 0, 2), 24))
}

/// A data frame from 198.18.0.1:40000 to us at port 5001 with the
/// timestamp option (the checksums are not looked at here).
fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC.0);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + 32 + len) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0xab, 0xcd]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&5001u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&77u32.to_be_bytes());
    f.extend_from_slice(&[0x80, TcpFlags::ACK, 0x01, 0xf5, 0x12, 0x34, 0, 0]);
    f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7]);
    assert_eq!(f.len(), SAME_LEN);
    f.resize(SAME_LEN + len, 0x5a);
    f
}

#[test]
fn the_next_full_piece_continues() {
    let s = stack();
    let (f0, f1) = (frame(1000, MSS), frame(1000 + MSS as u32, MSS));
    let mut run = Run::default();
    let c0 = s
        .mergeable(&f0, &run)
        .expect("a well-formed data frame starts a run");
    run.push(0, &f0, c0);
    let c1 = run
        .continues(&f1)
        .expect("the next full piece continues the run");
    assert_eq!(Some(c1), s.mergeable(&f1, &run));
    assert!(run.takes(&f1, &c1));
}

proptest! {
    #[test]
    fn continues_only_what_the_field_checks_take(
        muts in proptest::collection::vec((0usize..SAME_LEN, prop_oneof![Just(0u8), any::<u8>()]), 0..4),
        short in 0usize..3,
        psh: bool,
        pieces in 1usize..4,
    ) {
        let s = stack();
        let frames: Vec<Vec<u8>> = (0..pieces)
            .map(|k| frame(1000 + (k * MSS) as u32, MSS))
            .collect();
        let mut run = Run::default();
        for (k, f) in frames.iter().enumerate() {
            let c = s.mergeable(f, &run).expect("contiguous full pieces merge");
            run.push(k, f, c);
        }
        let mut f = frame(1000 + (pieces * MSS) as u32, MSS - 700 * short);
        if psh {
            f[47] |= TcpFlags::PSH;
        }
        for (at, v) in muts {
            f[at] = v;
        }
        if let Some(c) = run.continues(&f) {
            let slow = s.mergeable(&f, &run);
            prop_assert_eq!(slow, Some(c));
            prop_assert!(run.takes(&f, &c));
        }
    }
}

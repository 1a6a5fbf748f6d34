//! IPv4 fragment sequences into a configured Stack: arbitrary fragments
//! (overlaps, duplicates, gaps, oversize offsets, idents that collide) mixed
//! with valid ICMP echo requests split at fuzzed 8-byte boundaries and sent
//! out of order, with time advancing so reassembly timeouts fire.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::*;
use libfuzzer_sys::fuzz_target;
use sockstack_proto::wire::{checksum, EtherType, Icmpv4Repr};
use sockstack_proto::{Duration, Instant, Stack};

#[derive(Arbitrary, Debug)]
enum Step {
    /// One fragment with fuzzed fields.
    Frag {
        ident: u8,
        offset8: u16,
        more: bool,
        len: u16,
        fill: u8,
        proto: u8,
    },
    /// A valid echo request of `len` bytes split into `pieces`, sent in a
    /// rotated order, optionally with one piece twice.
    Split {
        ident: u8,
        len: u16,
        pieces: u8,
        rotate: u8,
        duplicate: bool,
    },
    Advance {
        ms: u16,
    },
}

fn echo_request(len: usize, ident: u16) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let r = Icmpv4Repr::EchoRequest {
        ident,
        seq_no: 1,
        data: &data,
    };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b).expect("sized by buffer_len");
    debug_assert_eq!(checksum::checksum(&b), 0);
    b
}

fn send(stack: &mut Stack, now: Instant, ip: &[u8], out: &mut [u8]) {
    if ip.is_empty() {
        return;
    }
    stack.handle_frame(now, &ethernet(OUR_MAC, EtherType::Ipv4, ip));
    drain(stack, now, out);
}

fuzz_target!(|steps: Vec<Step>| {
    let mut stack = new_stack();
    let mut now = Instant::from_secs(1);
    let mut out = vec![0u8; 1514];
    for step in steps.iter().take(128) {
        match *step {
            Step::Frag {
                ident,
                offset8,
                more,
                len,
                fill,
                proto,
            } => {
                let payload = vec![fill; usize::from(len % 1480)];
                let ip = ipv4(
                    if proto & 1 == 0 { 1 } else { proto },
                    u16::from(ident % 4),
                    usize::from(offset8 & 0x1fff) * 8,
                    more,
                    &payload,
                    false,
                );
                send(&mut stack, now, &ip, &mut out);
            }
            Step::Split {
                ident,
                len,
                pieces,
                rotate,
                duplicate,
            } => {
                let msg = echo_request(usize::from(len % 9000), 0x1000 | u16::from(ident));
                let n = usize::from(pieces % 8) + 1;
                let chunk = msg.len().div_ceil(n).div_ceil(8) * 8;
                let parts: Vec<(usize, &[u8])> = msg
                    .chunks(chunk.max(8))
                    .enumerate()
                    .map(|(i, c)| (i * chunk.max(8), c))
                    .collect();
                let k = parts.len();
                let mut order: Vec<usize> = (0..k).map(|i| (i + usize::from(rotate)) % k).collect();
                if duplicate {
                    order.push(usize::from(rotate) % k);
                }
                for i in order {
                    let (off, c) = parts[i];
                    let last = off + c.len() == msg.len();
                    let ip = ipv4(1, u16::from(ident), off, !last, c, false);
                    send(&mut stack, now, &ip, &mut out);
                }
            }
            Step::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms) * 10);
                if stack.poll_at().is_some_and(|t| t <= now) {
                    stack.handle_timeout(now);
                    drain(&mut stack, now, &mut out);
                }
            }
        }
    }
    run_timers(&mut stack, now, &mut out);
});

//! Arbitrary frames into a configured Stack: `handle_frame`, then drain
//! `poll_transmit`, then timers with advancing time. Input: a sequence of
//! records `[mode, len_lo, len_hi, body...]`; the mode's low bits shape the
//! body (raw frame, Ethernet + raw, Ethernet + valid IPv4 header, Ethernet +
//! ARP) so that most inputs get past the outer checks; its high bits advance
//! the clock.
#![no_main]

mod common;

use common::*;
use libfuzzer_sys::fuzz_target;
use sockstack_proto::wire::{EtherType, MacAddr};
use sockstack_proto::{Duration, Instant};

fn shape(mode: u8, body: &[u8]) -> Vec<u8> {
    let dst = if mode & 0x04 != 0 {
        MacAddr::BROADCAST
    } else {
        OUR_MAC
    };
    match mode & 0x03 {
        0 => body.to_vec(),
        1 => ethernet(dst, EtherType::Ipv4, body),
        2 => {
            let (proto, ident, rest) = match body {
                [p, i, rest @ ..] => (*p % 20, u16::from(*i), rest),
                _ => (1, 0, body),
            };
            let ip = ipv4(proto, ident, 0, false, rest, mode & 0x08 != 0);
            ethernet(dst, EtherType::Ipv4, &ip)
        }
        _ => ethernet(dst, EtherType::Arp, body),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut stack = new_stack();
    let mut now = Instant::from_secs(1);
    let mut out = vec![0u8; 1514];
    let mut rest = data;
    for _ in 0..64 {
        let [mode, lo, hi, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([*lo, *hi])) % 1600;
        let (body, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let frame = shape(*mode, body);
        stack.handle_frame(now, &frame);
        drain(&mut stack, now, &mut out);
        now += Duration::from_millis(u64::from(*mode >> 4) * 250);
        if stack.poll_at().is_some_and(|t| t <= now) {
            stack.handle_timeout(now);
            drain(&mut stack, now, &mut out);
        }
    }
    run_timers(&mut stack, now, &mut out);
});

//! Arbitrary frames into a configured Stack: `handle_frame`, then drain
//! `poll_transmit`, then timers with advancing time. Input: a sequence of
//! records `[mode, len_lo, len_hi, body...]`; the mode's low bits shape the
//! body (raw frame, Ethernet + raw, Ethernet + valid IPv4 header, Ethernet +
//! ARP) so that most inputs get past the outer checks; its high bits advance
//! the clock. The input's last byte picks the configuration (`Knobs`: TX
//! checksum offload, the RX fold, verified ingress, TIME_WAIT caps, small
//! buffers) and, with its top bit, a listener on port 80 so that SYNs open
//! connections the rest of the input can talk to. Without verified
//! ingress, records that do not advance the clock are held (up to 16) and
//! handed over together through `handle_frames` (software GRO) before the
//! next record that does.
//! `SocketSet::fuzz_check_invariants` must hold after every record.
#![no_main]

mod common;

use common::*;
use libfuzzer_sys::fuzz_target;
use sockstack_proto::wire::Ipv4Addr;
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
    let cfg = data.last().copied().unwrap_or(0);
    let knobs = Knobs::from_byte(cfg);
    let mut stack = new_stack_with(knobs);
    let mut now = Instant::from_secs(1);
    let mut out = vec![0u8; 1514];
    let mut listener = None;
    if cfg & 0x80 != 0 {
        let socks = stack.sockets_mut();
        if let Some(l) = socks.tcp_socket() {
            if socks.bind(l, Ipv4Addr::UNSPECIFIED, 80).is_ok() && socks.listen(l, 8).is_ok() {
                listener = Some(l);
            }
        }
    }
    let mut accepted = Vec::new();
    let mut rbuf = [0u8; 2048];
    let mut rest = data;
    // Frames held for one `handle_frames` batch.
    let mut batch: Vec<Vec<u8>> = Vec::new();
    for _ in 0..64 {
        let [mode, lo, hi, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([*lo, *hi])) % 1600;
        let (body, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let frame = shape(*mode, body);
        if !knobs.verified && *mode >> 4 == 0 && batch.len() < 16 {
            batch.push(frame);
            continue;
        }
        if !batch.is_empty() {
            stack.handle_frames(now, &batch);
            batch.clear();
        }
        deliver(&mut stack, knobs, now, &frame);
        drain_with(&mut stack, knobs, now, &mut out);
        if let Some(l) = listener {
            // Accept, read everything, echo a little, close on odd modes.
            while let Ok(c) = stack.sockets_mut().accept(l) {
                if accepted.len() < 8 {
                    accepted.push(c);
                }
            }
            for &c in &accepted {
                let socks = stack.sockets_mut();
                if let Ok(n) = socks.recv(c, &mut rbuf) {
                    let _ = socks.send(c, &rbuf[..n.min(64)]);
                }
                if *mode & 0x08 != 0 && *mode & 0x01 != 0 {
                    let _ = socks.close(c);
                }
            }
            drain_with(&mut stack, knobs, now, &mut out);
        }
        now += Duration::from_millis(u64::from(*mode >> 4) * 250);
        if stack.poll_at().is_some_and(|t| t <= now) {
            stack.handle_timeout(now);
            drain_with(&mut stack, knobs, now, &mut out);
        }
        // Demux, slot table, timer heap, TIME_WAIT table and reply queues
        // within their caps after every record.
        stack.sockets().fuzz_check_invariants();
    }
    if !batch.is_empty() {
        stack.handle_frames(now, &batch);
        drain_with(&mut stack, knobs, now, &mut out);
    }
    run_timers(&mut stack, now, &mut out);
    stack.sockets().fuzz_check_invariants();
    tally(&stack, knobs);
});

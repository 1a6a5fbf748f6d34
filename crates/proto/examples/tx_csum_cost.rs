//! The sender's transmit cost with and without checksum offload, for
//! callgrind: A sends `MIB` MiB to B with TSO (64 KiB segments, as over a
//! TAP with IFF_VNET_HDR) on an in-memory lockstep wire; only
//! `Stack::poll_transmit_frame` on A is of interest.
//!
//! ```text
//! cargo build --release -p sockstack-proto --example tx_csum_cost
//! valgrind --tool=callgrind --toggle-collect='*poll_transmit_frame*' \
//!     target/release/examples/tx_csum_cost on 64
//! ```
//!
//! With `on`, A leaves TCP checksums partial (`tx_checksum_offload`) and
//! the harness finishes them before B sees the frames, as the kernel would
//! (outside the counted function); with `off`, A checksums in software.

use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Duration, Instant, RecvError, Stack, StackConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let on = args.next().as_deref() == Some("on");
    let mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let total = mib << 20;
    let (a_ip, b_ip) = (Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1));
    let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), a_ip, 24);
    ca.tso_max = 65_535;
    ca.tx_checksum_offload = on;
    let cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), b_ip, 24);
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let l = b.sockets_mut().tcp_socket().expect("socket");
    b.sockets_mut().bind(l, b_ip, 5001).expect("bind");
    b.sockets_mut().listen(l, 4).expect("listen");
    let c = a.sockets_mut().tcp_socket().expect("socket");
    let mut now = Instant::ZERO;
    a.sockets_mut()
        .connect(now, c, b_ip, 5001)
        .expect("connect");
    let data = vec![0x5au8; 64 * 1024];
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut buf = vec![0u8; 65_535 + 14];
    let (mut sent, mut got, mut frames) = (0usize, 0usize, 0u64);
    let mut acc = None;
    for _ in 0..10_000_000 {
        if got >= total {
            break;
        }
        while sent < total {
            match a
                .sockets_mut()
                .send(c, &data[..(total - sent).min(data.len())])
            {
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        while let Some(f) = a.poll_transmit_frame(now, &mut buf) {
            let frame = &mut buf[..f.len];
            if let Some(p) = f.partial_checksum {
                p.complete(frame);
            }
            frames += 1;
            b.handle_frame(now, frame);
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle_frame(now, &buf[..n]);
        }
        if acc.is_none() {
            acc = b.sockets_mut().accept(l).ok();
        }
        if let Some(h) = acc {
            loop {
                match b.sockets_mut().recv(h, &mut rbuf) {
                    Ok(k) => got += k,
                    Err(RecvError::WouldBlock) => break,
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
        }
        now += Duration::from_micros(100);
        if a.poll_at().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        if b.poll_at().is_some_and(|t| t <= now) {
            b.handle_timeout(now);
        }
    }
    println!(
        "offload {}: {got} of {total} bytes, {frames} frames from A",
        if on { "on" } else { "off" }
    );
}

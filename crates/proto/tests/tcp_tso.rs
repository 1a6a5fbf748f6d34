//! TCP segmentation offload at the stack level (`StackConfig::tso_max`):
//! the sender builds segments of several MSS, the receiver takes packets
//! longer than its MTU whole (as from a TAP with GRO), and cutting the
//! large segments at "MTU minus headers" (what the kernel does with the
//! virtio header the TAP link writes) yields exactly MTU-filling frames.
//! Two stacks on an in-test wire in virtual time; payloads checked by hash.

use sha2::{Digest, Sha256};
use sockstack_proto::wire::checksum;
use sockstack_proto::wire::{IpProtocol, Ipv4Addr, MacAddr};
use sockstack_proto::{Instant, RecvError, SendError, Stack, StackConfig};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const BUF: usize = 65_535 + 14;

/// How frames from A reach B.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// As built (B receives packets longer than its MTU).
    Whole,
    /// Cut into MTU-sized pieces first, as the kernel's GSO would.
    Segmented,
}

struct Run {
    /// Longest frame A sent.
    max_frame: usize,
    /// Frames from A longer than MTU + 14.
    large: usize,
    /// Longest frame that reached B.
    max_delivered: usize,
    /// Every piece B got from a cut segment was MTU + 14 long, except the
    /// last piece of each segment.
    pieces_full: bool,
    received: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

/// Cut an Ethernet + IPv4 + TCP frame longer than `mtu` into pieces of
/// `mtu - ip header - tcp header` payload bytes each (software GSO).
fn segment(frame: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    if frame.len() <= 14 + mtu {
        return vec![frame.to_vec()];
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let t = 14 + ihl;
    let thl = usize::from(frame[t + 12] >> 4) * 4;
    let hdrs = t + thl;
    let size = mtu - ihl - thl;
    let seq = u32::from_be_bytes(frame[t + 4..t + 8].try_into().unwrap());
    let flags = frame[t + 13];
    let payload = &frame[hdrs..];
    let chunks: Vec<&[u8]> = payload.chunks(size).collect();
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let mut f = frame[..hdrs].to_vec();
        f.extend_from_slice(chunk);
        let ip_len = (ihl + thl + chunk.len()) as u16;
        f[16..18].copy_from_slice(&ip_len.to_be_bytes());
        f[24..26].copy_from_slice(&[0, 0]);
        let ipc = checksum::checksum(&f[14..t]);
        f[24..26].copy_from_slice(&ipc.to_be_bytes());
        let s = seq.wrapping_add((i * size) as u32);
        f[t + 4..t + 8].copy_from_slice(&s.to_be_bytes());
        // FIN and PSH only on the last piece (Linux tcp_gso_segment).
        f[t + 13] = if last { flags } else { flags & !0x09 };
        f[t + 16..t + 18].copy_from_slice(&[0, 0]);
        let src = Ipv4Addr::from(u32::from_be_bytes(f[26..30].try_into().unwrap()));
        let dst = Ipv4Addr::from(u32::from_be_bytes(f[30..34].try_into().unwrap()));
        let ph = checksum::pseudo_header(src, dst, IpProtocol::Tcp, (f.len() - t) as u16);
        let c = !checksum::fold(checksum::sum(&f[t..], ph));
        f[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(be16(&f, 16), f.len() - 14);
        out.push(f);
    }
    out
}

/// A sends `data` to B; A's link segments (`tso_max` 65535) when `tso`.
fn transfer(data: &[u8], tso: bool, mtu_b: usize, wire: Wire) -> Run {
    let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
    ca.seed = 7;
    if tso {
        ca.tso_max = 65_535;
    }
    let mut cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), B, 24);
    cb.seed = 8;
    cb.mtu = mtu_b;
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let mut now = Instant::ZERO;
    let l = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().bind(l, B, 5001).unwrap();
    b.sockets_mut().listen(l, 4).unwrap();
    let c = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().connect(now, c, B, 5001).unwrap();
    let mut run = Run {
        max_frame: 0,
        large: 0,
        max_delivered: 0,
        pieces_full: true,
        received: Vec::new(),
    };
    let mut accepted = None;
    let (mut sent, mut closed) = (0, false);
    let mut buf = vec![0u8; BUF];
    let mut rbuf = vec![0u8; 64 * 1024];
    for _round in 0..200_000 {
        if sent < data.len() {
            match a.sockets_mut().send(c, &data[sent..]) {
                Ok(k) => sent += k,
                Err(SendError::WouldBlock) => {}
                Err(e) => panic!("send: {e:?}"),
            }
        } else if !closed {
            a.sockets_mut().close(c).unwrap();
            closed = true;
        }
        if accepted.is_none() {
            accepted = b.sockets_mut().accept(l).ok();
        }
        if let Some(h) = accepted {
            loop {
                match b.sockets_mut().recv(h, &mut rbuf) {
                    Ok(k) => run.received.extend_from_slice(&rbuf[..k]),
                    Err(RecvError::WouldBlock) => break,
                    Err(RecvError::Eof) => return run,
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
        }
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            run.max_frame = run.max_frame.max(n);
            run.large += usize::from(n > 14 + 1500);
            let pieces = match wire {
                Wire::Whole => vec![buf[..n].to_vec()],
                Wire::Segmented => segment(&buf[..n], 1500),
            };
            let count = pieces.len();
            for (i, p) in pieces.iter().enumerate() {
                if count > 1 && i + 1 < count && p.len() != 14 + 1500 {
                    run.pieces_full = false;
                }
                run.max_delivered = run.max_delivered.max(p.len());
                b.handle_frame(now, p);
            }
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle_frame(now, &buf[..n]);
        }
        now += sockstack_proto::Duration::from_micros(200);
        if a.poll_at().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        if b.poll_at().is_some_and(|t| t <= now) {
            b.handle_timeout(now);
        }
    }
    panic!(
        "transfer did not finish: {} of {} bytes",
        run.received.len(),
        data.len()
    );
}

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a) == Sha256::digest(b)
}

#[test]
fn tso_sends_large_segments_that_the_peer_takes_whole() {
    let d = data(4 << 20);
    let r = transfer(&d, true, 1500, Wire::Whole);
    assert!(same(&r.received, &d), "payload differs");
    assert!(r.large > 0, "no segment longer than the MTU");
    assert!(r.max_frame > 30_000, "largest frame {}", r.max_frame);
    assert!(r.max_frame <= BUF);
}

#[test]
fn tso_segments_cut_at_the_mtu_are_full_sized() {
    let d = data(4 << 20);
    let r = transfer(&d, true, 1500, Wire::Segmented);
    assert!(same(&r.received, &d), "payload differs");
    assert!(r.large > 0);
    assert!(r.max_delivered <= 14 + 1500, "{}", r.max_delivered);
    assert!(
        r.pieces_full,
        "a piece before the last of a segment was short"
    );
}

#[test]
fn no_large_segments_without_tso_or_when_the_mss_does_not_fill_the_mtu() {
    let d = data(1 << 20);
    let r = transfer(&d, false, 1500, Wire::Whole);
    assert!(same(&r.received, &d));
    assert_eq!((r.large, r.max_frame), (0, 14 + 1500));
    // The peer's MSS (MTU 1400) is below ours: one MSS per segment as before.
    let r = transfer(&d, true, 1400, Wire::Whole);
    assert!(same(&r.received, &d));
    assert_eq!(r.large, 0);
    assert!(r.max_frame <= 14 + 1400, "{}", r.max_frame);
}

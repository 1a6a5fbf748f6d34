//! TCP segmentation offload at the stack level (`StackConfig::tso_max`):
//! the sender builds segments of several MSS, the receiver takes packets
//! longer than its MTU whole (as from a TAP with GRO), and cutting the
//! large segments at "MTU minus headers" (what the kernel does with the
//! virtio header the TAP link writes) yields exactly MTU-filling frames.
//! Software GSO (`StackConfig::gso_max`, on by default) must put on the
//! wire exactly what that cutting yields, frame for frame.
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

/// What A's stack does with long segments.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Offload {
    /// The link segments (`tso_max` 65535): A hands out long frames.
    Tso,
    /// Software GSO (the default): A cuts long segments itself.
    Gso,
    /// Neither (`gso_max` 0): TCP builds every segment one MSS at a time.
    Plain,
}

struct Run {
    /// Long segments A cut itself (`tx_gso_segments`).
    gso_segments: u64,
    /// Every frame B was given, in order.
    frames: Vec<Vec<u8>>,
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
fn transfer(data: &[u8], mode: Offload, mtu_b: usize, wire: Wire) -> Run {
    let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
    ca.seed = 7;
    match mode {
        Offload::Tso => ca.tso_max = 65_535,
        Offload::Gso => {}
        Offload::Plain => ca.gso_max = 0,
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
        gso_segments: 0,
        frames: Vec::new(),
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
                    Err(RecvError::Eof) => {
                        run.gso_segments = a.stats().tcp.tx_gso_segments;
                        return run;
                    }
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
                run.frames.push(p.clone());
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
    let r = transfer(&d, Offload::Tso, 1500, Wire::Whole);
    assert!(same(&r.received, &d), "payload differs");
    assert!(r.large > 0, "no segment longer than the MTU");
    assert!(r.max_frame > 30_000, "largest frame {}", r.max_frame);
    assert!(r.max_frame <= BUF);
}

#[test]
fn tso_segments_cut_at_the_mtu_are_full_sized() {
    let d = data(4 << 20);
    let r = transfer(&d, Offload::Tso, 1500, Wire::Segmented);
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
    let r = transfer(&d, Offload::Plain, 1500, Wire::Whole);
    assert!(same(&r.received, &d));
    assert_eq!((r.large, r.max_frame), (0, 14 + 1500));
    // The peer's MSS (MTU 1400) is below ours: one MSS per segment as before.
    let r = transfer(&d, Offload::Tso, 1400, Wire::Whole);
    assert!(same(&r.received, &d));
    assert_eq!(r.large, 0);
    assert!(r.max_frame <= 14 + 1400, "{}", r.max_frame);
}

/// A frame with the IPv4 identification and header checksum blanked: the
/// only bytes in which software GSO's pieces may differ from the cutting
/// above (which copies the long segment's identification into every piece;
/// the stack gives each piece its own, as Linux does for DF packets).
fn sans_ident(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    f[18..20].copy_from_slice(&[0, 0]);
    f[24..26].copy_from_slice(&[0, 0]);
    f
}

/// (sequence number, payload length) of every data frame.
fn data_frames(frames: &[Vec<u8>]) -> Vec<(u32, usize)> {
    frames
        .iter()
        .filter(|f| f[12..14] == [0x08, 0x00])
        .filter_map(|f| {
            let t = 14 + usize::from(f[14] & 0x0f) * 4;
            let hdrs = t + usize::from(f[t + 12] >> 4) * 4;
            let seq = u32::from_be_bytes(f[t + 4..t + 8].try_into().unwrap());
            (f.len() > hdrs).then_some((seq, f.len() - hdrs))
        })
        .collect()
}

#[test]
fn software_gso_puts_on_the_wire_what_a_segmenting_link_would() {
    let d = data(4 << 20);
    let cut = transfer(&d, Offload::Tso, 1500, Wire::Segmented);
    let gso = transfer(&d, Offload::Gso, 1500, Wire::Whole);
    assert!(same(&gso.received, &d), "payload differs");
    assert_eq!(gso.large, 0, "a frame longer than the MTU left the stack");
    assert!(gso.gso_segments > 50, "{} segments cut", gso.gso_segments);
    assert_eq!(cut.gso_segments, 0, "the link segments: the stack does not");
    assert_eq!(gso.frames.len(), cut.frames.len());
    for (i, (g, c)) in gso.frames.iter().zip(&cut.frames).enumerate() {
        assert_eq!(sans_ident(g), sans_ident(c), "frame {i} differs");
        if g[12..14] != [0x08, 0x00] {
            continue; // ARP
        }
        // Every header checksum and every TCP checksum verifies.
        assert_eq!(checksum::fold(checksum::sum(&g[14..34], 0)), 0xffff);
        let ph = checksum::pseudo_header(A, B, IpProtocol::Tcp, (g.len() - 34) as u16);
        assert_eq!(checksum::fold(checksum::sum(&g[34..], ph)), 0xffff);
    }
    // Each piece has its own identification.
    let ids: std::collections::HashSet<usize> = gso.frames.iter().map(|f| be16(f, 18)).collect();
    assert!(
        ids.len() * 10 > gso.frames.len() * 9,
        "identifications repeat"
    );
    // The same data frames, cut at the same places, as TCP alone sends.
    let plain = transfer(&d, Offload::Plain, 1500, Wire::Whole);
    assert!(same(&plain.received, &d));
    assert_eq!(plain.gso_segments, 0);
    assert_eq!(data_frames(&gso.frames), data_frames(&plain.frames));
    let long = gso.frames.iter().filter(|f| f.len() == 14 + 1500).count();
    assert!(long * 2 > gso.frames.len(), "{long} full frames");
}

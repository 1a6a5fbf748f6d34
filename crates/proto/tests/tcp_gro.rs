//! Software GRO (`Stack::handle_frames`, iface/gro.rs): batches of frames
//! with runs of in-order segments merged. Two stacks on an in-test wire in
//! virtual time; each direction's frames are handed over as one batch per
//! round, and the result is compared with frame-by-frame delivery.

use sha2::{Digest, Sha256};
use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Duration, Instant, RecvError, SendError, Stack, StackConfig};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// What happens to A's frames on their way to B.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Harm {
    None,
    /// Every 97th frame's last byte flipped (a bad TCP checksum).
    Corrupt,
    /// Every 89th frame dropped.
    Drop,
    /// Each batch's 5th and 6th frames swapped.
    Swap,
}

struct Run {
    received: Vec<u8>,
    /// Every frame B sent, in order.
    from_b: Vec<Vec<u8>>,
    gro_runs: u64,
    bad_checksums: u64,
}

fn transfer(data: &[u8], batch: bool, harm: Harm) -> Run {
    let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
    ca.seed = 11;
    let mut cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), B, 24);
    cb.seed = 12;
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let mut now = Instant::ZERO;
    let l = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().bind(l, B, 5001).unwrap();
    b.sockets_mut().listen(l, 4).unwrap();
    let c = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().connect(now, c, B, 5001).unwrap();
    let mut run = Run {
        received: Vec::new(),
        from_b: Vec::new(),
        gro_runs: 0,
        bad_checksums: 0,
    };
    let (mut accepted, mut sent, mut closed, mut count) = (None, 0, false, 0u64);
    let mut buf = vec![0u8; 1514];
    let mut rbuf = vec![0u8; 64 * 1024];
    for _round in 0..100_000 {
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
                        run.gro_runs = b.stats().tcp.rx_gro_segments;
                        run.bad_checksums = b.stats().tcp.rx_bad_checksum;
                        return run;
                    }
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
        }
        let mut frames = Vec::new();
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            count += 1;
            let mut f = buf[..n].to_vec();
            match harm {
                Harm::Corrupt if count % 97 == 0 => *f.last_mut().unwrap() ^= 0x5a,
                Harm::Drop if count % 89 == 0 => continue,
                _ => {}
            }
            frames.push(f);
        }
        if harm == Harm::Swap && frames.len() > 6 {
            frames.swap(4, 5);
        }
        if batch {
            b.handle_frames(now, &frames);
        } else {
            for f in &frames {
                b.handle_frame(now, f);
            }
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            run.from_b.push(buf[..n].to_vec());
            a.handle_frame(now, &buf[..n]);
        }
        now += Duration::from_micros(200);
        for s in [&mut a, &mut b] {
            if s.poll_at().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }
    panic!(
        "transfer did not finish: {} of {}",
        run.received.len(),
        data.len()
    );
}

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
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
fn merged_runs_deliver_the_same_bytes_and_acks() {
    let d = data(4 << 20);
    let merged = transfer(&d, true, Harm::None);
    let single = transfer(&d, false, Harm::None);
    assert!(same(&merged.received, &d), "payload differs");
    assert!(merged.gro_runs > 50, "{} runs merged", merged.gro_runs);
    assert_eq!(single.gro_runs, 0);
    assert_eq!(merged.from_b.len(), single.from_b.len(), "ACK counts");
    assert!(merged.from_b == single.from_b, "B's frames differ");
}

/// A bad checksum, a lost frame or two frames swapped end a run or send it
/// frame by frame: every byte still arrives once, the damaged frame is
/// counted, and B answers exactly as it does frame by frame.
#[test]
fn damaged_batches_fall_back_frame_by_frame() {
    let d = data(2 << 20);
    for harm in [Harm::Corrupt, Harm::Drop, Harm::Swap] {
        let merged = transfer(&d, true, harm);
        let single = transfer(&d, false, harm);
        assert!(same(&merged.received, &d), "{harm:?}: payload differs");
        assert!(merged.gro_runs > 10, "{harm:?}: {} runs", merged.gro_runs);
        assert_eq!(merged.bad_checksums, single.bad_checksums, "{harm:?}");
        if harm == Harm::Corrupt {
            assert!(merged.bad_checksums > 5, "{}", merged.bad_checksums);
        }
        assert!(
            merged.from_b == single.from_b,
            "{harm:?}: B's frames differ"
        );
    }
}

mod differential {
    //! The same frames into two identical receivers, one frame by frame,
    //! one in batches: everything observable must match (frames sent,
    //! bytes read, every counter but the one for merged runs).

    use super::*;
    use proptest::prelude::*;
    use sockstack_proto::SocketHandle;

    /// B with a connection from A accepted, and the frames A then sends
    /// carrying up to `len` bytes (several GSO trains), all at time `now`.
    fn setup(len: usize) -> (Stack, SocketHandle, Vec<Vec<u8>>, Instant) {
        let mut ca = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 2]), A, 24);
        ca.seed = 21;
        let mut cb = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), B, 24);
        cb.seed = 22;
        let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
        let now = Instant::from_millis(5);
        let l = b.sockets_mut().tcp_socket().unwrap();
        b.sockets_mut().bind(l, B, 6001).unwrap();
        b.sockets_mut().listen(l, 4).unwrap();
        let c = a.sockets_mut().tcp_socket().unwrap();
        a.sockets_mut().connect(now, c, B, 6001).unwrap();
        let mut buf = vec![0u8; 1514];
        for _ in 0..10 {
            while let Some(n) = a.poll_transmit(now, &mut buf) {
                b.handle_frame(now, &buf[..n]);
            }
            while let Some(n) = b.poll_transmit(now, &mut buf) {
                a.handle_frame(now, &buf[..n]);
            }
        }
        let s = b.sockets_mut().accept(l).unwrap();
        // A warm-up megabyte opens the congestion window.
        let warm = data(1 << 20);
        let (mut sent, mut got) = (0, 0);
        let mut rbuf = vec![0u8; 65536];
        for _ in 0..10_000 {
            if got == warm.len() {
                break;
            }
            sent += a.sockets_mut().send(c, &warm[sent..]).unwrap_or(0);
            while let Some(n) = a.poll_transmit(now, &mut buf) {
                b.handle_frame(now, &buf[..n]);
            }
            while let Ok(n) = b.sockets_mut().recv(s, &mut rbuf) {
                got += n;
            }
            while let Some(n) = b.poll_transmit(now, &mut buf) {
                a.handle_frame(now, &buf[..n]);
            }
        }
        assert_eq!(got, warm.len());
        // As much as the send buffer takes.
        let payload = data(len);
        assert!(a.sockets_mut().send(c, &payload).is_ok());
        let mut frames = Vec::new();
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            frames.push(buf[..n].to_vec());
        }
        (b, s, frames, now)
    }

    /// What one receiver shows: the frames it sent, the bytes it read,
    /// its counters.
    type Seen = (Vec<Vec<u8>>, Vec<u8>, Vec<(String, u64)>);

    /// What one receiver shows after the frames.
    fn observe(b: &mut Stack, s: SocketHandle, now: Instant) -> Seen {
        let mut buf = vec![0u8; 1514];
        let mut out = Vec::new();
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        let mut got = Vec::new();
        let mut rbuf = vec![0u8; 65536];
        while let Ok(n) = b.sockets_mut().recv(s, &mut rbuf) {
            got.extend_from_slice(&rbuf[..n]);
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        let stats = b
            .stats_rows()
            .into_iter()
            .filter(|r| r.name != "rx_gro_segments")
            .map(|r| (format!("{}.{}", r.layer, r.name), r.value))
            .collect();
        (out, got, stats)
    }

    /// 0 keep, 1 drop, 2 duplicate, 3 flip a payload byte, 4 flip PSH
    /// (checksum left stale), 5 change the window (checksum left stale),
    /// 6 change the IPv4 identification (header checksum left stale: the
    /// frame still continues a run, and must be dropped from it).
    fn harm(frames: &[Vec<u8>], ops: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (f, op) in frames.iter().zip(ops.iter().cycle()) {
            let mut g = f.clone();
            match op {
                1 => continue,
                2 => out.push(g.clone()),
                3 => *g.last_mut().unwrap() ^= 1,
                4 if g.len() > 47 => g[47] ^= 0x08,
                5 if g.len() > 49 => g[49] ^= 1,
                6 if g.len() > 19 => g[19] ^= 1,
                _ => {}
            }
            out.push(g);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn batches_match_frame_by_frame(
            len in 1usize..200_000,
            ops in proptest::collection::vec(
                prop_oneof![60 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8), 1 => Just(4u8), 1 => Just(5u8), 1 => Just(6u8)],
                1..64,
            ),
            cuts in proptest::collection::vec(1usize..64, 1..16),
            swap in 0usize..80,
        ) {
            let (mut b1, s1, frames, now) = setup(len);
            let (mut b2, s2, _, _) = setup(len);
            let mut frames = harm(&frames, &ops);
            if swap + 1 < frames.len() {
                frames.swap(swap, swap + 1);
            }
            for f in &frames {
                b1.handle_frame(now, f);
            }
            let mut rest: &[Vec<u8>] = &frames;
            for c in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (batch, r) = rest.split_at((*c).min(rest.len()));
                b2.handle_frames(now, batch);
                rest = r;
            }
            let one = observe(&mut b1, s1, now);
            let two = observe(&mut b2, s2, now);
            prop_assert_eq!(&one.1, &two.1, "bytes read");
            prop_assert_eq!(&one.2, &two.2, "counters");
            prop_assert!(one.0 == two.0, "frames sent differ");
        }
    }
}

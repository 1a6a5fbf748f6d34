//! Issue 7, receive checksum folded into the copy: a segment's payload is
//! written into the receive ring while it is summed, and processed only once
//! the sum verifies. A segment that fails must change nothing: no state, no
//! readable byte, no byte held out of order.

use proptest::prelude::*;

use super::harness::*;
use crate::sockets::{RecvError, Shutdown, SocketHandle};
use crate::storage::RingPool;
use crate::tcp::{SeqNum, State};
use crate::time::Duration;
use crate::wire::{checksum, IpProtocol, Ipv4Repr, TcpPacket, TcpRepr};

/// Emit `s` with a correct checksum, let `corrupt` change the bytes, then
/// hand it to the socket layer the way `iface/ipv4_in.rs` does (header and
/// pseudo-header summed, payload left to the socket layer). Returns whether
/// the checksum verified.
fn deliver_wire(h: &mut Harness, s: Seg, corrupt: impl FnOnce(&mut [u8])) -> bool {
    let t = h.now;
    let r = s.repr();
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut buf, s.src, LOCAL).expect("emit");
    corrupt(&mut buf);
    let Ok(p) = TcpPacket::parse(&buf[..]) else {
        return false;
    };
    let seg = TcpRepr::parse(&p);
    let ip = Ipv4Repr::new(s.src, LOCAL, IpProtocol::Tcp, buf.len());
    let len = u16::try_from(buf.len()).expect("small segment");
    let ph = checksum::pseudo_header(s.src, LOCAL, IpProtocol::Tcp, len);
    let header_sum = checksum::sum(&buf[..p.header_len()], ph);
    h.set.handle_tcp_unverified(t, &ip, &seg, header_sum)
}

/// Everything a bad segment must leave alone.
#[derive(Debug, PartialEq, Eq)]
struct Snap {
    state: Option<State>,
    rcv_nxt: SeqNum,
    rcv_adv: SeqNum,
    snd_una: SeqNum,
    snd_wnd: usize,
    ts_recent: u32,
    readable: usize,
    held: Vec<(usize, usize)>,
    in_segs: u64,
}

fn snap(h: &Harness, c: SocketHandle) -> Snap {
    let conn = h.set.conn_for_test(c);
    Snap {
        state: h.state(c),
        rcv_nxt: conn.rcv_nxt,
        rcv_adv: conn.rcv_adv,
        snd_una: conn.snd_una,
        snd_wnd: conn.snd_wnd,
        ts_recent: conn.ts_recent,
        readable: conn.rcv_buf.len(),
        held: conn.assembler.ranges().to_vec(),
        in_segs: h.set.tcp_stats().in_segs,
    }
}

/// A passive open with timestamps (peer ISS 1000, TSval 100, 101).
fn passive_ts(h: &mut Harness) -> (SocketHandle, SeqNum, u32) {
    let l = h.listen(8);
    h.deliver(h.now, seg().syn().seq(1000).mss(1460).ts(100, 0));
    let synack = h.expect(h.now);
    let our = synack.repr.timestamp.expect("TS in SYN-ACK").tsval;
    let iss = synack.seq();
    h.deliver(h.now, seg().seq(1001).ack(iss + 1).ts(101, our));
    let c = h.set.accept(l).expect("accept");
    (c, iss, our)
}

fn recv_all(h: &mut Harness, c: SocketHandle) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = h.set.recv(c, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(salt))
        .collect()
}

/// Where a corruption lands: the payload, the header (the window field, so
/// the segment is still plausible) or the TCP checksum field itself.
#[derive(Debug, Clone, Copy)]
enum Flip {
    Payload(usize),
    Window,
    Checksum,
}

fn flip(bytes: &mut [u8], f: Flip) {
    let hl = usize::from(bytes[12] >> 4) * 4;
    let at = match f {
        Flip::Payload(i) => hl + i % (bytes.len() - hl).max(1),
        Flip::Window => 14,
        Flip::Checksum => 17,
    };
    bytes[at] ^= 0x10;
}

#[test]
fn corrupted_in_order_segment_changes_nothing_then_good_copy_is_taken() {
    for f in [
        Flip::Payload(0),
        Flip::Payload(777),
        Flip::Window,
        Flip::Checksum,
    ] {
        let mut h = Harness::new();
        let (c, iss, our) = passive_ts(&mut h);
        // Something of ours in flight, so a bad ACK field could move snd_una.
        h.set.send(c, b"out").expect("send");
        h.expect(ms(0));
        h.at(ms(5));
        let before = snap(&h, c);
        let data = pattern(1400, 3);
        let s = seg()
            .seq(1001)
            .ack(iss + 4)
            .win(1000)
            .ts(500, our)
            .data(&data);
        assert!(!deliver_wire(&mut h, s.clone(), |b| flip(b, f)), "{f:?}");
        assert_eq!(snap(&h, c), before, "{f:?}");
        h.expect_none(ms(5));
        assert_eq!(h.set.recv(c, &mut [0u8; 16]), Err(RecvError::WouldBlock));
        // The good copy goes through the fast path and is all there.
        assert!(deliver_wire(&mut h, s, |_| {}));
        let conn = h.set.conn_for_test(c);
        assert_eq!(conn.rcv_nxt, SeqNum(1001) + 1400);
        assert_eq!(conn.snd_una, iss + 4);
        assert_eq!(conn.snd_wnd, 1000);
        assert_eq!(conn.ts_recent, 500);
        assert_eq!(recv_all(&mut h, c), data, "{f:?}");
    }
}

#[test]
fn bad_checksum_counted_by_the_stack() {
    // The Stack-level counter: through `ipv4_in.rs`, in the
    // `iface::ipv4_in` tests below; here only that the socket layer's
    // segment counter stays put (it counts verified segments).
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let n = h.set.tcp_stats().in_segs;
    let s = seg().seq(1001).ack(iss + 1).data(b"hello");
    assert!(!deliver_wire(&mut h, s.clone(), |b| flip(
        b,
        Flip::Payload(2)
    )));
    assert_eq!(h.set.tcp_stats().in_segs, n);
    assert!(deliver_wire(&mut h, s, |_| {}));
    assert_eq!(h.set.tcp_stats().in_segs, n + 1);
    assert_eq!(recv_all(&mut h, c), b"hello");
}

#[test]
fn corrupted_segment_does_not_touch_held_out_of_order_bytes() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let data = pattern(6000, 11);
    let at = |i: usize| 1001 + i as u32;
    // Hold [2000, 4000) out of order.
    assert!(deliver_wire(
        &mut h,
        seg().seq(at(2000)).ack(iss + 1).data(&data[2000..4000]),
        |_| {}
    ));
    assert_eq!(h.set.conn_for_test(c).assembler.ranges(), &[(2000, 4000)]);
    let _ = h.sent(ms(0));
    // Corrupted segments over the hole, over the held bytes and past them:
    // all dropped, the held bytes untouched.
    for (from, to) in [
        (0, 1460),
        (0, 2500),
        (1000, 3000),
        (2500, 3900),
        (3000, 5000),
    ] {
        let mut wrong = data[from..to].to_vec();
        for b in &mut wrong {
            *b ^= 0x5a;
        }
        let s = seg().seq(at(from)).ack(iss + 1).data(&wrong);
        // Keep the checksum of the right bytes: the payload is wrong.
        let good = seg().seq(at(from)).ack(iss + 1).data(&data[from..to]);
        let r = good.repr();
        let mut ok = vec![0u8; r.buffer_len()];
        r.emit(&mut ok, REMOTE, LOCAL).expect("emit");
        let sum = [ok[16], ok[17]];
        let before = snap(&h, c);
        assert!(!deliver_wire(&mut h, s, |b| b[16..18].copy_from_slice(&sum)));
        assert_eq!(snap(&h, c), before);
    }
    // Fill the hole and the rest: every byte exactly as sent.
    assert!(deliver_wire(
        &mut h,
        seg().seq(at(0)).ack(iss + 1).data(&data[..2000]),
        |_| {}
    ));
    assert!(deliver_wire(
        &mut h,
        seg().seq(at(4000)).ack(iss + 1).data(&data[4000..]),
        |_| {}
    ));
    assert_eq!(recv_all(&mut h, c), data);
}

#[test]
fn fast_path_with_fin_and_in_fin_wait() {
    // In-order data with FIN on the fast path; and data in FIN_WAIT_2.
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Write).expect("shutdown");
    let fin = h.expect(ms(0));
    assert!(fin.is_fin());
    h.deliver(ms(1), seg().seq(1001).ack(iss + 2));
    assert_eq!(h.state(c), Some(State::FinWait2));
    assert!(!deliver_wire(
        &mut h,
        seg().seq(1001).ack(iss + 2).data(b"tail").fin(),
        |b| flip(b, Flip::Payload(1))
    ));
    assert_eq!(h.state(c), Some(State::FinWait2));
    assert!(deliver_wire(
        &mut h,
        seg().seq(1001).ack(iss + 2).data(b"tail").fin(),
        |_| {}
    ));
    assert_eq!(h.state(c), Some(State::TimeWait));
    assert_eq!(recv_all(&mut h, c), b"tail");
}

/// `fold_receive` on a segment built from `s`: whether the fast path took it.
fn folds(h: &mut Harness, c: SocketHandle, s: &Seg) -> bool {
    let r = s.repr();
    let sock = h.set.sock_mut(c).expect("socket");
    let conn = sock.conn.as_mut().expect("connection");
    conn.fold_receive(&r, &mut RingPool::default()).is_some()
}

#[test]
fn fold_receive_only_when_safe() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let d = pattern(1000, 1);
    let ok = seg().seq(1001).ack(iss + 1).data(&d);
    assert!(folds(&mut h, c, &ok));
    assert!(folds(&mut h, c, &ok.clone().fin()));
    // The sum it returns is the payload's.
    let r = ok.repr();
    let sock = h.set.sock_mut(c).expect("socket");
    let sum = sock
        .conn
        .as_mut()
        .expect("conn")
        .fold_receive(&r, &mut RingPool::default());
    assert_eq!(
        sum.map(checksum::fold),
        Some(checksum::fold(checksum::sum(&d, 0)))
    );
    // Not at rcv_nxt, no ACK, SYN, RST, URG, empty.
    assert!(!folds(&mut h, c, &seg().seq(1002).ack(iss + 1).data(&d)));
    assert!(!folds(&mut h, c, &seg().seq(1001).data(&d)));
    assert!(!folds(
        &mut h,
        c,
        &seg().seq(1001).ack(iss + 1).syn().data(&d)
    ));
    assert!(!folds(
        &mut h,
        c,
        &seg().seq(1001).ack(iss + 1).rst().data(&d)
    ));
    let mut urg = ok.clone();
    urg.flags |= crate::wire::TcpFlags::URG;
    assert!(!folds(&mut h, c, &urg));
    assert!(!folds(&mut h, c, &seg().seq(1001).ack(iss + 1)));
    // Larger than the window we advertised.
    let wnd = h
        .set
        .conn_for_test(c)
        .rcv_nxt
        .distance_to(h.set.conn_for_test(c).rcv_adv);
    let big = pattern(wnd + 1, 2);
    assert!(!folds(&mut h, c, &seg().seq(1001).ack(iss + 1).data(&big)));
    // Nothing of that reached the reader.
    assert_eq!(h.set.recv(c, &mut [0u8; 16]), Err(RecvError::WouldBlock));
    // Out-of-order bytes held: never, even at rcv_nxt.
    h.deliver(ms(1), seg().seq(3001).ack(iss + 1).data(&d));
    assert!(!folds(&mut h, c, &ok));
    // Shut for reading: never.
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Read).expect("shutdown");
    assert!(!folds(&mut h, c, &seg().seq(1001).ack(iss + 1).data(&d)));
}

#[derive(Debug, Clone)]
struct Piece {
    /// Start at the receiver's `rcv_nxt` (the fast path's case), else at
    /// `start` as a fraction of the stream; length in bytes.
    at_next: bool,
    start: u16,
    len: u16,
    /// `Some`: corrupt this byte (modulo the segment length) or the header.
    corrupt: Option<(bool, u16)>,
}

fn piece() -> impl Strategy<Value = Piece> {
    (
        any::<bool>(),
        any::<u16>(),
        1u16..3000,
        prop::option::weighted(0.3, (any::<bool>(), any::<u16>())),
    )
        .prop_map(|(at_next, start, len, corrupt)| Piece {
            at_next,
            start,
            len,
            corrupt,
        })
}

fn run_stream(pieces: &[Piece], rcvbuf: usize) {
    const N: usize = 20_000;
    let mut h = Harness::new();
    let l = h.listen(8);
    h.set.set_recv_buffer_size(l, rcvbuf).expect("rcvbuf");
    h.deliver(h.now, seg().syn().seq(1000).mss(1460));
    let synack = h.expect(h.now);
    let iss = synack.seq();
    h.deliver(h.now, seg().seq(1001).ack(iss + 1));
    let c = h.set.accept(l).expect("accept");
    let data = pattern(N, 29);
    let mut got = Vec::new();
    let deliver = |h: &mut Harness, from: usize, to: usize, corrupt: Option<(bool, u16)>| {
        let s = seg()
            .seq(1001 + from as u32)
            .ack(iss + 1)
            .data(&data[from..to]);
        let ok = deliver_wire(h, s, |b| match corrupt {
            Some((true, i)) => flip(b, Flip::Payload(usize::from(i))),
            Some((false, _)) => flip(b, Flip::Window),
            None => {}
        });
        assert_eq!(ok, corrupt.is_none());
    };
    for (k, p) in pieces.iter().enumerate() {
        let next = SeqNum(1001).distance_to(h.set.conn_for_test(c).rcv_nxt);
        let from = if p.at_next {
            next.min(N - 1)
        } else {
            usize::from(p.start) * N / 65536
        };
        let to = (from + usize::from(p.len)).min(N);
        deliver(&mut h, from, to, p.corrupt);
        if k % 3 == 0 {
            got.extend(recv_all(&mut h, c));
        }
        let _ = h.sent(h.now);
    }
    // Then the whole stream in order, cleanly, reading as we go.
    let mut from = 0;
    while from < N {
        let to = (from + 1460).min(N);
        deliver(&mut h, from, to, None);
        got.extend(recv_all(&mut h, c));
        // Past the delayed ACK: the reopened window is advertised.
        let _ = h.sent(h.now + Duration::from_millis(50));
        from = to;
    }
    got.extend(recv_all(&mut h, c));
    assert_eq!(got.len(), N);
    assert!(got == data, "delivered stream differs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_corruption_and_reordering_deliver_the_exact_stream(
        pieces in proptest::collection::vec(piece(), 1..40),
        small in any::<bool>(),
    ) {
        run_stream(&pieces, if small { 4096 } else { 65536 });
    }
}

/// A small in-order segment taken by the folded path gets its ring from the
/// pool, as one on the general path does: a read-out ring pooled by one
/// connection is the next arrival's, and nothing is allocated. One whose
/// checksum fails gives the buffer back.
#[test]
fn a_folded_arrival_takes_a_pooled_ring() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let pooled = |h: &Harness| {
        let t = h.set.mem_totals();
        (t.rcv_alloc, t.ring_pool)
    };
    let one = || seg().seq(1001).ack(iss + 1).data(b"one");
    assert!(deliver_wire(&mut h, one(), |_| {}));
    assert_eq!(pooled(&h), (256, 0));
    assert_eq!(recv_all(&mut h, c), b"one");
    assert_eq!(pooled(&h), (0, 256), "read out: pooled");
    let two = || seg().seq(1004).ack(iss + 1).data(b"two");
    let last = |b: &mut [u8]| {
        if let Some(x) = b.last_mut() {
            *x ^= 1;
        }
    };
    assert!(!deliver_wire(&mut h, two(), last), "bad checksum");
    assert_eq!(pooled(&h), (0, 256), "given back");
    assert!(deliver_wire(&mut h, two(), |_| {}));
    assert_eq!(pooled(&h), (256, 0), "the arrival took the pooled ring");
    assert_eq!(recv_all(&mut h, c), b"two");
    assert_eq!(pooled(&h), (0, 256));
    // The same state takes the fold path (so "two" did too).
    assert!(folds(&mut h, c, &seg().seq(1007).ack(iss + 1).data(b"3")));
}

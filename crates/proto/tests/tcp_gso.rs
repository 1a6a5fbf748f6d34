//! Software GSO (`StackConfig::gso_max`, iface/gso.rs) when the connection
//! changes under a segment being cut: an abort, a retransmission timeout,
//! an ACK for pieces not yet written; and over loopback, where the pieces
//! cannot wait for `poll_transmit`. The frames on the wire are checked
//! against the segment they came from (tcp_tso.rs checks the cut itself).

use etherparse::{PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{Duration, Instant, SocketHandle, Stack, StackConfig};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const A_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const B_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MSS: u32 = 1448;

/// A TCP frame as the test reads it.
#[derive(Debug, Clone)]
struct Seg {
    seq: u32,
    len: usize,
    rst: bool,
    psh: bool,
    tsval: u32,
    sport: u16,
    dport: u16,
}

fn parse(frame: &[u8]) -> Option<Seg> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        return None;
    };
    let mut tsval = 0;
    for o in t.options_iterator().flatten() {
        if let TcpOptionElement::Timestamp(v, _) = o {
            tsval = v;
        }
    }
    Some(Seg {
        seq: t.sequence_number(),
        len: t.payload().len(),
        rst: t.rst(),
        psh: t.psh(),
        tsval,
        sport: t.source_port(),
        dport: t.destination_port(),
    })
}

/// A (server, sending) with a connection from B established, and B's
/// last frame (its handshake ACK) for crafting ACKs.
struct Pair {
    a: Stack,
    now: Instant,
    /// A's accepted socket.
    s: SocketHandle,
    last_b: Seg,
}

fn pair() -> Pair {
    let mut ca = StackConfig::ethernet(MacAddr(A_MAC), A, 24);
    ca.seed = 3;
    let mut cb = StackConfig::ethernet(MacAddr(B_MAC), B, 24);
    cb.seed = 4;
    let (mut a, mut b) = (Stack::new(ca), Stack::new(cb));
    let now = Instant::from_millis(1);
    let l = a.sockets_mut().tcp_socket().unwrap();
    a.sockets_mut().bind(l, A, 7000).unwrap();
    a.sockets_mut().listen(l, 4).unwrap();
    let c = b.sockets_mut().tcp_socket().unwrap();
    b.sockets_mut().connect(now, c, A, 7000).unwrap();
    let mut buf = vec![0u8; 1514];
    let mut last_b = None;
    for _ in 0..20 {
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            last_b = parse(&buf[..n]).or(last_b);
            a.handle_frame(now, &buf[..n]);
        }
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle_frame(now, &buf[..n]);
        }
    }
    let s = a.sockets_mut().accept(l).unwrap();
    Pair {
        a,
        now,
        s,
        last_b: last_b.unwrap(),
    }
}

/// The next frame from A, parsed (ARP and the like skipped).
fn next_a(p: &mut Pair) -> Option<Seg> {
    let mut buf = vec![0u8; 1514];
    for _ in 0..10 {
        let n = p.a.poll_transmit(p.now, &mut buf)?;
        assert!(n <= 1514);
        if let Some(s) = parse(&buf[..n]) {
            return Some(s);
        }
    }
    None
}

/// Queue 64 KiB on A and take its first frame: the first piece of a
/// segment of ten MSS (the initial window).
fn first_piece(p: &mut Pair) -> Seg {
    let data = vec![0x42u8; 64 * 1024];
    assert_eq!(p.a.sockets_mut().send(p.s, &data), Ok(data.len()));
    let s = next_a(p).expect("a first piece");
    assert_eq!(s.len, MSS as usize);
    assert!(!s.psh, "PSH goes on the last piece only");
    assert_eq!(p.a.stats().tcp.tx_gso_segments, 1);
    s
}

#[test]
fn an_aborted_connection_ends_its_segment() {
    let mut p = pair();
    first_piece(&mut p);
    p.a.sockets_mut().abort(p.s).unwrap();
    let rest: Vec<Seg> = std::iter::from_fn(|| next_a(&mut p)).collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].rst && rest[0].len == 0, "{rest:?}");
    assert!(p.a.poll_at().is_none_or(|t| t > p.now));
}

#[test]
fn a_retransmission_timeout_takes_the_rest_back() {
    let mut p = pair();
    let first = first_piece(&mut p);
    let second = next_a(&mut p).unwrap();
    assert_eq!(second.seq, first.seq.wrapping_add(MSS));
    // Nothing reaches B; the RTO (1 s at first) fires with 8 pieces unsent.
    p.now += Duration::from_millis(1500);
    p.a.handle_timeout(p.now);
    let rtx = next_a(&mut p).unwrap();
    assert_eq!((rtx.seq, rtx.len), (first.seq, MSS as usize), "{rtx:?}");
    // cwnd is one segment now: nothing else until an ACK.
    assert!(next_a(&mut p).is_none());
}

#[test]
fn pieces_acknowledged_before_they_leave_are_skipped() {
    let mut p = pair();
    let first = first_piece(&mut p);
    // B (forged) acknowledges five pieces; A takes it: snd_nxt covers them.
    let upto = first.seq.wrapping_add(5 * MSS);
    let b = &p.last_b;
    let builder = PacketBuilder::ethernet2(B_MAC, A_MAC)
        .ipv4(B.octets(), A.octets(), 64)
        .tcp(b.sport, b.dport, b.seq, 1024)
        .ack(upto)
        .options(&[
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(b.tsval, first.tsval),
        ])
        .unwrap();
    let mut frame = Vec::new();
    builder.write(&mut frame, &[]).unwrap();
    p.a.handle_frame(p.now, &frame);
    let mut seqs = Vec::new();
    while let Some(s) = next_a(&mut p) {
        if s.len > 0 {
            seqs.push(s.seq.wrapping_sub(first.seq) / MSS);
        }
    }
    // Pieces 5..9 of the first segment, then new data the ACK let out.
    assert_eq!(&seqs[..5], &[5, 6, 7, 8, 9], "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn over_loopback_every_piece_arrives() {
    let mut s = Stack::new(StackConfig::ethernet(MacAddr(A_MAC), A, 24));
    let now = Instant::ZERO;
    let mut buf = vec![0u8; 1514];
    let drain = |s: &mut Stack, buf: &mut [u8]| {
        for _ in 0..10_000 {
            if s.poll_transmit(now, buf).is_none() {
                return;
            }
        }
        panic!("no end to output");
    };
    let ss = s.sockets_mut();
    let l = ss.tcp_socket().unwrap();
    ss.bind(l, A, 7001).unwrap();
    ss.listen(l, 4).unwrap();
    let c = ss.tcp_socket().unwrap();
    ss.connect(now, c, A, 7001).unwrap();
    drain(&mut s, &mut buf);
    let srv = s.sockets_mut().accept(l).unwrap();
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut rbuf = vec![0u8; 65536];
    for _ in 0..10_000 {
        if sent < data.len() {
            sent += s.sockets_mut().send(c, &data[sent..]).unwrap_or(0);
        }
        drain(&mut s, &mut buf);
        while let Ok(n) = s.sockets_mut().recv(srv, &mut rbuf) {
            got.extend_from_slice(&rbuf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert!(
        got == data,
        "{} of {} bytes, or different",
        got.len(),
        data.len()
    );
    assert!(s.stats().tcp.tx_gso_segments > 0);
}

#[test]
fn a_buffer_too_small_for_a_piece_gives_up_the_rest_and_counts_it() {
    let mut p = pair();
    let first = first_piece(&mut p);
    let mut small = vec![0u8; 200];
    assert_eq!(p.a.poll_transmit(p.now, &mut small), None);
    assert_eq!(p.a.stats().ethernet.tx_buffer_too_small, 1);
    assert!(next_a(&mut p).is_none(), "the rest was given up");
    // Retransmission recovers it: the RTO resends from the first piece.
    p.now += Duration::from_millis(1500);
    p.a.handle_timeout(p.now);
    let rtx = next_a(&mut p).unwrap();
    assert_eq!(rtx.seq, first.seq);
}

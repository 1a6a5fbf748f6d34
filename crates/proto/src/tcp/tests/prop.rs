//! Property test: random interleavings of socket calls, peer segments and
//! time never panic and never break the invariants.

use proptest::prelude::*;

use super::harness::*;
use crate::sockets::{Shutdown, SocketHandle};
use crate::tcp::SeqNum;
use crate::wire::TcpFlags;

#[derive(Debug, Clone)]
enum Op {
    /// A peer segment: flags, sequence offset from what we expect, ack
    /// offset from what we sent, payload length, window.
    Segment(u8, i32, i32, u16, u16),
    Send(u16),
    Recv(u16),
    Shut(u8),
    Close,
    Abort,
    NoDelay(bool),
    RcvBuf(u16),
    Wait(u16),
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), -3000i32..3000, -3000i32..3000, 0u16..3000, any::<u16>())
            .prop_map(|(f, s, a, l, w)| Op::Segment(f, s, a, l, w)),
        3 => (0u16..20_000).prop_map(Op::Send),
        3 => (0u16..20_000).prop_map(Op::Recv),
        1 => (0u8..3).prop_map(Op::Shut),
        1 => Just(Op::Close),
        1 => Just(Op::Abort),
        1 => any::<bool>().prop_map(Op::NoDelay),
        1 => any::<u16>().prop_map(Op::RcvBuf),
        3 => (0u16..5000).prop_map(Op::Wait),
        3 => Just(Op::Drain),
    ]
}

/// What the scripted peer knows: its next sequence number and our last one.
struct Peer {
    seq: u32,
    ack: u32,
}

fn run(ops: Vec<Op>, active: bool) {
    run_mode(ops, if active { 1 } else { 0 });
}

/// Mode 0: passive open done; 1: active open done; 2: SYN sent, no answer.
fn run_mode(ops: Vec<Op>, mode: u8) {
    let active = mode > 0;
    let mut h = Harness::new();
    let (c, port, mut peer): (SocketHandle, u16, Peer) = if mode == 2 {
        let c = h.set.tcp_socket().unwrap();
        h.set.connect(ms(0), c, REMOTE, RPORT).unwrap();
        let syn = h.expect(ms(0));
        (
            c,
            syn.repr.src_port,
            Peer {
                seq: 5000,
                ack: (syn.seq() + 1).0,
            },
        )
    } else if active {
        let (c, iss, port) = h.active();
        (
            c,
            port,
            Peer {
                seq: 5001,
                ack: (iss + 1).0,
            },
        )
    } else {
        let (_l, c, iss) = h.passive();
        (
            c,
            RPORT,
            Peer {
                seq: 1001,
                ack: (iss + 1).0,
            },
        )
    };
    let (sport, dport) = if active {
        (RPORT, port)
    } else {
        (RPORT, LPORT)
    };
    let mut t = 0u64;
    for op in ops {
        match op {
            Op::Segment(flags, ds, da, len, win) => {
                let mut flags = flags & 0x3f;
                if flags & TcpFlags::RST != 0 && ds != 0 {
                    flags &= !TcpFlags::RST;
                }
                let seq = peer.seq.wrapping_add(ds as u32);
                let payload = vec![0x5a; usize::from(len)];
                let mut s = seg()
                    .sport(sport)
                    .dport(dport)
                    .seq(seq)
                    .win(win)
                    .data(&payload);
                s.flags = flags;
                s.ack = peer.ack.wrapping_add(da as u32);
                h.deliver(ms(t), s);
                if ds == 0 && flags & TcpFlags::SYN == 0 {
                    peer.seq = peer.seq.wrapping_add(u32::from(len));
                }
            }
            Op::Send(n) => {
                let _ = h.set.send(c, &vec![1; usize::from(n)]);
            }
            Op::Recv(n) => {
                let mut b = vec![0; usize::from(n)];
                let _ = h.set.recv(c, &mut b);
            }
            Op::Shut(k) => {
                let how = [Shutdown::Read, Shutdown::Write, Shutdown::Both][usize::from(k)];
                let _ = h.set.shutdown(c, how);
            }
            Op::Close => {
                let _ = h.set.close(c);
            }
            Op::Abort => {
                let _ = h.set.abort(c);
            }
            Op::NoDelay(on) => {
                let _ = h.set.set_nodelay(c, on);
            }
            Op::RcvBuf(n) => {
                let _ = h.set.set_recv_buffer_size(c, usize::from(n) * 8);
            }
            Op::Wait(d) => {
                t += u64::from(d);
                h.at(ms(t));
            }
            Op::Drain => {
                for s in h.sent(ms(t)) {
                    // The peer acknowledges what it sees, like a real one would.
                    let end = s.seq() + s.repr.segment_len();
                    if SeqNum(peer.ack).lt(end) && s.repr.dst_port == sport {
                        peer.ack = end.0;
                    }
                }
            }
        }
        h.set.check_invariants();
    }
    // Let everything time out: the table ends bounded and consistent.
    for _ in 0..40 {
        t += 10_000;
        h.sent(ms(t));
        h.set.check_invariants();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_interleavings_keep_invariants_passive(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, false);
    }
    #[test]
    fn random_interleavings_keep_invariants_active(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, true);
    }
    #[test]
    fn random_interleavings_keep_invariants_syn_sent(ops in proptest::collection::vec(op(), 1..60)) {
        run_mode(ops, 2);
    }
}

#[derive(Debug, Clone)]
enum LOp {
    /// A segment from one of a few peer ports: flags, seq, ack, payload length.
    Segment(u8, u8, u32, u32, u16),
    Accept,
    CloseAccepted,
    Wait(u16),
    Drain,
    Backlog(u8),
}

fn lop() -> impl Strategy<Value = LOp> {
    prop_oneof![
        8 => (0u8..6, any::<u8>(), any::<u32>(), any::<u32>(), 0u16..200)
            .prop_map(|(p, f, s, a, l)| LOp::Segment(p, f, s, a, l)),
        2 => Just(LOp::Accept),
        1 => Just(LOp::CloseAccepted),
        2 => (0u16..3000).prop_map(LOp::Wait),
        3 => Just(LOp::Drain),
        1 => (0u8..4).prop_map(LOp::Backlog),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn listener_under_random_segments(ops in proptest::collection::vec(lop(), 1..80)) {
        let mut h = Harness::new();
        let l = h.listen(1);
        let mut accepted = Vec::new();
        // What each peer port last saw from us, to make handshakes likely.
        let mut last: [Option<(u32, u32)>; 6] = [None; 6];
        let mut t = 0u64;
        for op in ops {
            match op {
                LOp::Segment(p, flags, seq, ack, len) => {
                    let i = usize::from(p);
                    let (seq, ack) = match (last[i], flags & 1) {
                        // Half the time, answer what we sent exactly.
                        (Some((s, a)), 1) => (a, s.wrapping_add(1)),
                        _ => (seq, ack),
                    };
                    let payload = vec![1u8; usize::from(len)];
                    let mut s = seg().sport(1000 + u16::from(p)).seq(seq).data(&payload);
                    s.flags = flags >> 1 & 0x3f;
                    s.ack = ack;
                    h.deliver(ms(t), s);
                }
                LOp::Accept => {
                    if let Ok(c) = h.set.accept(l) {
                        accepted.push(c);
                    }
                }
                LOp::CloseAccepted => {
                    if let Some(c) = accepted.pop() {
                        let _ = h.set.close(c);
                    }
                }
                LOp::Wait(d) => {
                    t += u64::from(d);
                    h.at(ms(t));
                }
                LOp::Drain => {
                    for s in h.sent(ms(t)) {
                        let i = usize::from(s.repr.dst_port.wrapping_sub(1000));
                        if let Some(slot) = last.get_mut(i) {
                            *slot = Some((s.seq().0, s.ack().0));
                        }
                    }
                }
                LOp::Backlog(b) => {
                    let _ = h.set.listen(l, u32::from(b));
                }
            }
            h.set.check_invariants();
        }
        let _ = h.set.close(l);
        for c in accepted {
            let _ = h.set.close(c);
        }
        for _ in 0..200 {
            t += 10_000;
            h.sent(ms(t));
            h.set.check_invariants();
        }
        prop_assert!(h.set.is_empty(), "left: {:?}", h.set.snapshot());
    }
}

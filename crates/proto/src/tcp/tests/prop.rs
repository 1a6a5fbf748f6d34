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
    let mut h = Harness::new();
    let (c, port, mut peer): (SocketHandle, u16, Peer) = if active {
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
}

//! ACKs within one batch of arriving segments (RFC 5681 4.2): in-order
//! data shares one ACK per batch (like Linux GRO), but every out-of-order
//! segment, and every segment that fills (part of) a gap, gets an ACK of
//! its own, even when the whole batch arrives before the stack is polled.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::SeqNum;

/// An accepted connection that agreed SACK; the peer's data starts at 1001.
/// Returns it and the ACK number the peer's segments carry.
fn sack_conn(h: &mut Harness) -> (SocketHandle, SeqNum) {
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).mss(1460).sack_perm());
    let sa = h.expect(ms(0));
    let ack = sa.seq() + 1;
    h.deliver(ms(0), seg().seq(1001).ack(ack));
    (h.set.accept(l).unwrap(), ack)
}

fn blocks(s: &Sent) -> Vec<(u32, u32)> {
    s.repr.sack_blocks[..s.repr.sack_len]
        .iter()
        .map(|&(a, b)| (a.0, b.0))
        .collect()
}

#[test]
fn each_out_of_order_or_gap_filling_segment_of_a_batch_is_acked() {
    let mut h = Harness::new();
    let (_c, a) = sack_conn(&mut h);
    // One batch: two segments beyond a hole, then one that fills the
    // first part of it; nobody polls in between.
    h.deliver(ms(1), seg().seq(2001).ack(a).data(&[1; 100]));
    h.deliver(ms(1), seg().seq(3001).ack(a).data(&[2; 100]));
    h.deliver(ms(1), seg().seq(1001).ack(a).data(&[3; 1000]));
    let v = h.sent(ms(1));
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(v.iter().all(|s| s.is_pure_ack()));
    let acks: Vec<u32> = v.iter().map(|s| s.ack().0).collect();
    assert_eq!(acks, vec![1001, 1001, 2101]);
    // RFC 2018 4: the block of the segment that triggered each ACK first.
    assert_eq!(blocks(&v[0]), vec![(2001, 2101)]);
    assert_eq!(blocks(&v[1]), vec![(3001, 3101), (2001, 2101)]);
    assert_eq!(blocks(&v[2]), vec![(3001, 3101)]);
    assert_eq!(h.set.tcp_stats().out_segs, 3 + 1);
}

#[test]
fn in_order_segments_of_a_batch_share_one_ack() {
    let mut h = Harness::new();
    let (_c, a) = sack_conn(&mut h);
    for k in 0..4u32 {
        h.deliver(ms(1), seg().seq(1001 + 1000 * k).ack(a).data(&[5; 1000]));
    }
    let v = h.sent(ms(1));
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].ack(), SeqNum(5001));
}

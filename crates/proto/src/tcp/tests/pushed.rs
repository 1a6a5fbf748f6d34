//! Linux `tcp_cleanup_rbuf`'s ACK at read time: once the quick ACKs are
//! used up, a small (pushed) segment waits for the delayed ACK, but the
//! application reading it out ACKs at once, unless the exchange is
//! interactive (ping-pong mode) and only one such segment came. Two Linux
//! 6.18 hosts in a namespace pair, 22 one-byte writes 60 ms apart to a
//! reader that never replies: every one was ACKed within 0.1 ms.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::SeqNum;

/// One-byte segments 60 ms apart, each read at once, until one is not
/// ACKed on arrival (the quick ACKs are used up); returns its index and
/// the time it came.
fn until_quick_acks_run_out(h: &mut Harness, c: SocketHandle, iss: SeqNum) -> (u32, u64) {
    let mut b = [0u8; 8];
    for k in 0..40u32 {
        let t = 1 + 60 * u64::from(k);
        h.deliver(ms(t), seg().seq(1001 + k).ack(iss + 1).data(b"k"));
        let v = h.sent(ms(t));
        if v.is_empty() {
            return (k, t);
        }
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].ack(), SeqNum(1002 + k));
        assert_eq!(h.set.recv(c, &mut b), Ok(1));
        h.expect_none(ms(t));
    }
    panic!("quick ACKs never ran out");
}

#[test]
fn reading_a_pushed_segment_acks_it_at_once() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    let (k, t) = until_quick_acks_run_out(&mut h, c, iss);
    assert_eq!(k, 16, "Linux's start count");
    let mut b = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut b), Ok(1));
    let a = h.expect(ms(t));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1002 + k));
    // Unread, the next one waits for the delayed-ACK timer.
    h.deliver(ms(t + 60), seg().seq(1002 + k).ack(iss + 1).data(b"k"));
    h.expect_none(ms(t + 99));
    assert_eq!(h.expect(ms(t + 100)).ack(), SeqNum(1003 + k));
}

#[test]
fn in_ping_pong_one_pushed_segment_waits_for_the_reply_but_two_do_not() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"req"));
    h.expect(ms(1));
    let mut b = [0u8; 16];
    assert_eq!(h.set.recv(c, &mut b), Ok(3));
    assert_eq!(h.set.send(c, b"resp"), Ok(4));
    h.expect(ms(2));
    // Ping-pong: one small request, read out, waits for our reply.
    h.deliver(ms(10), seg().seq(1004).ack(iss + 5).data(b"req"));
    assert_eq!(h.set.recv(c, &mut b), Ok(3));
    h.expect_none(ms(10));
    assert_eq!(h.set.send(c, b"resp"), Ok(4));
    let r = h.expect(ms(11));
    assert_eq!(
        (r.payload.as_slice(), r.ack()),
        (&b"resp"[..], SeqNum(1007))
    );
    // Two small segments before the read: ACKed when read (PUSHED2).
    h.deliver(ms(20), seg().seq(1007).ack(iss + 9).data(b"ab"));
    h.deliver(ms(20), seg().seq(1009).ack(iss + 9).data(b"cd"));
    h.expect_none(ms(20));
    assert_eq!(h.set.recv(c, &mut b), Ok(4));
    assert_eq!(h.expect(ms(21)).ack(), SeqNum(1011));
}

/// A segment larger than our MSS (offloaded: a GRO'd or TSO'd batch) counts
/// as its segments: the receive MSS it teaches is what one segment of the
/// peer holds, our MSS less the timestamp option (Linux measures the
/// super-segment's `gso_size`). Taught 1460 instead, every full 1448-byte
/// segment after it read as short (pushed) and was ACKed when read.
#[test]
fn a_super_segment_teaches_the_peers_segment_size() {
    let mut h = Harness::new();
    let (c, iss, tsval) = h.accept_with_timestamps();
    let rcv_mss = |h: &Harness| {
        h.set
            .sock(c)
            .and_then(|s| s.conn.as_ref())
            .map(|c| c.rcv_mss)
    };
    let ack = iss + 1;
    h.deliver(
        ms(2),
        seg().seq(1001).ack(ack).ts(102, tsval).data(&[1; 4 * 1448]),
    );
    assert_eq!(rcv_mss(&h), Some(1448));
    h.sent(ms(2));
    // Full segments after it are not short: read out, no ACK of their own.
    let mut b = vec![0u8; 8 * 1448];
    assert_eq!(h.set.recv(c, &mut b), Ok(4 * 1448));
    h.deliver(
        ms(3),
        seg()
            .seq(1001 + 4 * 1448)
            .ack(ack)
            .ts(103, tsval)
            .data(&[2; 1448]),
    );
    let quick = h.sent(ms(3)).len();
    assert_eq!(h.set.recv(c, &mut b), Ok(1448));
    assert_eq!(h.sent(ms(3)).len(), 0, "after {quick} quick ACK(s)");
    assert_eq!(rcv_mss(&h), Some(1448));
}

//! Linux ping-pong mode (`icsk_ack.pingpong`, threshold 1): data sent within
//! `ato` (40 ms here) of the last data received makes the exchange
//! interactive, and from then on the peer's data is ACKed after the
//! delayed-ACK time (usually on our reply) instead of quick ACKs. The
//! delayed-ACK timer firing, a duplicate whose ACK was lost and a
//! zero-window drop end it (`tcp_enter_quickack_mode`). On the wire between
//! two Linux 6.18 hosts (namespace pair): four requests on one connection,
//! the server quick-ACKs only the first; each later response carries the ACK.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::SeqNum;

/// Request `n` (1-based, 3 bytes each) from the peer at `t`.
fn request(h: &mut Harness, iss: SeqNum, t: u64, n: u32, acked: u32) {
    let seq = 1001 + 3 * (n - 1);
    h.deliver(
        ms(t),
        seg().seq(seq).ack(iss + 1 + acked as usize).data(b"req"),
    );
}

/// The application reads the request and writes a 4-byte reply at `t`.
fn reply(h: &mut Harness, c: SocketHandle, t: u64) -> Vec<Sent> {
    h.at(ms(t));
    let mut b = [0u8; 16];
    assert_eq!(h.set.recv(c, &mut b), Ok(3));
    assert_eq!(h.set.send(c, b"resp"), Ok(4));
    h.sent(ms(t))
}

#[test]
fn a_prompt_reply_enters_ping_pong_and_carries_the_next_ack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    request(&mut h, iss, 1, 1, 0);
    // The first data: a quick ACK, as Linux (`ato` was 0).
    assert!(h.expect(ms(1)).is_pure_ack());
    let r = reply(&mut h, c, 2);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].payload, b"resp");
    // Replied 1 ms after the request: ping-pong. The next request waits.
    request(&mut h, iss, 10, 2, 4);
    h.expect_none(ms(10));
    let r = reply(&mut h, c, 12);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].payload, b"resp");
    assert_eq!(r[0].ack(), SeqNum(1007));
    // And so on for every later request.
    request(&mut h, iss, 20, 3, 8);
    h.expect_none(ms(20));
}

#[test]
fn a_late_reply_keeps_quick_acks() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    request(&mut h, iss, 1, 1, 0);
    assert!(h.expect(ms(1)).is_pure_ack());
    // 99 ms after the request: longer than `ato`, not a reply.
    assert_eq!(reply(&mut h, c, 100).len(), 1);
    request(&mut h, iss, 150, 2, 4);
    let a = h.expect(ms(150));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1007));
}

#[test]
fn the_delayed_ack_timer_ends_ping_pong() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    request(&mut h, iss, 1, 1, 0);
    h.expect(ms(1));
    reply(&mut h, c, 2);
    request(&mut h, iss, 10, 2, 4);
    h.expect_none(ms(49));
    // No reply within the delayed-ACK time: the ACK goes alone ...
    let a = h.expect(ms(50));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1007));
    // ... and the exchange is no longer taken as interactive.
    let mut b = [0u8; 8];
    assert_eq!(h.set.recv(c, &mut b), Ok(3));
    request(&mut h, iss, 60, 3, 4);
    assert!(h.expect(ms(60)).is_pure_ack());
}

#[test]
fn a_duplicate_ends_ping_pong() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    request(&mut h, iss, 1, 1, 0);
    h.expect(ms(1));
    reply(&mut h, c, 2);
    // The first request again (as if our ACK were lost): answered at once,
    // and quick ACKs are back (Linux `tcp_send_dupack`).
    request(&mut h, iss, 5, 1, 4);
    assert_eq!(h.expect(ms(5)).ack(), SeqNum(1004));
    request(&mut h, iss, 6, 2, 4);
    assert_eq!(h.expect(ms(6)).ack(), SeqNum(1007));
}

#[test]
fn a_sender_that_never_received_data_stays_out_of_ping_pong() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    // We speak first (no data received yet: `ato` is 0).
    assert_eq!(h.set.send(c, b"banner"), Ok(6));
    assert_eq!(h.expect(ms(1)).payload, b"banner");
    // The peer's first data soon after still gets a quick ACK.
    h.deliver(ms(2), seg().seq(1001).ack(iss + 7).data(b"req"));
    assert!(h.expect(ms(2)).is_pure_ack());
}

//! The ACK of a FIN (Linux `tcp_fin`, `__tcp_ack_snd_check`): from
//! FIN_WAIT_1/2 it goes at once; on the way to CLOSE_WAIT the connection
//! enters ping-pong mode, so the ACK is delayed and usually rides on the
//! application's own FIN (two Linux 6.18 hosts in a namespace pair: a
//! request, its response, FIN, FIN-ACK 5 ms later, ACK; with the close 100 ms
//! late, a pure ACK at +42 ms). Immediate reasons still hold: more than one
//! full segment unacknowledged, an out-of-order FIN, an ACK already owed.

use super::harness::*;
use crate::sockets::Shutdown;
use crate::tcp::{SeqNum, State};

#[test]
fn a_fin_into_close_wait_is_acked_after_the_delayed_ack_time() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"req"));
    // The first data segment: a quick ACK.
    assert_eq!(h.expect(ms(1)).ack(), SeqNum(1004));
    h.deliver(ms(2), seg().seq(1004).ack(iss + 1).fin());
    assert_eq!(h.state(c), Some(State::CloseWait));
    h.expect_none(ms(2));
    h.expect_none(ms(41));
    let a = h.expect(ms(42));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1005));
    h.expect_none(ms(200));
}

#[test]
fn our_fin_carries_the_delayed_ack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).fin());
    h.expect_none(ms(1));
    h.set.close(c).unwrap();
    let f = h.expect(ms(6));
    assert!(f.is_fin());
    assert_eq!(f.ack(), SeqNum(1002));
    // Nothing left to ACK: the delayed ACK does not fire on its own.
    h.expect_none(ms(100));
    h.deliver(ms(101), seg().seq(1002).ack(iss + 2));
    assert_eq!(h.state(c), None);
}

#[test]
fn a_fin_behind_more_than_a_full_segment_is_acked_at_once() {
    let mut h = Harness::new();
    let (_l, _c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(&[7; 1000]).fin());
    let a = h.expect(ms(1));
    assert_eq!(a.ack(), SeqNum(2002));
}

#[test]
fn an_out_of_order_fin_is_acked_at_once() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1101).ack(iss + 1).fin());
    // A duplicate ACK for the hole (RFC 5681 4.2).
    assert_eq!(h.expect(ms(1)).ack(), SeqNum(1001));
    assert_eq!(h.state(c), Some(State::Established));
    // The hole filled: the FIN is taken and the gap's ACK goes at once.
    h.deliver(ms(2), seg().seq(1001).ack(iss + 1).data(&[1; 100]));
    assert_eq!(h.expect(ms(2)).ack(), SeqNum(1102));
    assert_eq!(h.state(c), Some(State::CloseWait));
}

#[test]
fn an_ack_owed_before_the_fin_is_not_held_back() {
    let mut h = Harness::new();
    let (_l, _c, iss) = h.passive();
    // One batch: the first data (quick ACK due), then the FIN, unpolled.
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"x"));
    h.deliver(ms(1), seg().seq(1002).ack(iss + 1).fin());
    let a = h.expect(ms(1));
    assert_eq!(a.ack(), SeqNum(1003));
}

#[test]
fn a_fin_in_fin_wait_2_is_acked_at_once() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.shutdown(c, Shutdown::Write).unwrap();
    assert!(h.expect(ms(1)).is_fin());
    h.deliver(ms(2), seg().seq(1001).ack(iss + 2));
    assert_eq!(h.state(c), Some(State::FinWait2));
    h.deliver(ms(3), seg().seq(1001).ack(iss + 2).fin());
    assert_eq!(h.expect(ms(3)).ack(), SeqNum(1002));
}

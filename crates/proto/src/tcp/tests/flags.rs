//! Segments with illegal flag combinations (SYN+FIN, no flags at all,
//! FIN|PSH|URG without ACK): each is counted (`bad_flags`) and handled as
//! RFC 9293 says for the state it meets.

use super::harness::*;
use crate::tcp::{SeqNum, State};
use crate::wire::TcpFlags;

fn xmas(s: Seg) -> Seg {
    let mut s = s.fin();
    s.flags |= TcpFlags::PSH | TcpFlags::URG;
    s
}

/// RFC 9293 3.10.7.1: to a closed port every segment without RST is
/// answered by <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (no ACK bit in it).
#[test]
fn illegal_flags_to_a_closed_port_get_rst_ack() {
    let mut h = Harness::new();
    let cases = [
        (seg().syn().fin().seq(100), 102),  // SYN and FIN both count
        (seg().seq(200), 200),              // no flags, no data
        (seg().seq(300).data(b"abc"), 303), // no flags, with data
        (xmas(seg().seq(400)), 401),        // FIN|PSH|URG
    ];
    let n = cases.len() as u64;
    for (s, ack) in cases {
        h.deliver(ms(0), s);
        let r = h.expect(ms(0));
        assert_eq!(r.flags(), TcpFlags(TcpFlags::RST | TcpFlags::ACK));
        assert_eq!((r.seq(), r.ack()), (SeqNum(0), SeqNum(ack)));
    }
    let st = *h.set.tcp_stats();
    assert_eq!((st.bad_flags, st.no_socket, st.out_rsts), (n, n, n));
    // A SYN+RST to a closed port is counted, never answered.
    h.deliver(ms(1), seg().syn().rst().seq(9));
    h.expect_none(ms(1));
    assert_eq!(h.set.tcp_stats().bad_flags, n + 1);
}

/// RFC 9293 3.10.7.2: LISTEN takes only a SYN; a segment without SYN, ACK
/// or RST is dropped ("drop the segment and return"), and so is SYN+FIN
/// (the RFC is silent; Linux drops it, drop reason TCP_FLAGS). Nothing is
/// sent and no connection is made; the listener still works afterwards.
#[test]
fn illegal_flags_to_a_listener_are_dropped() {
    let mut h = Harness::new();
    let l = h.listen(8);
    let cases = [
        seg().syn().fin().seq(100).mss(1460),
        seg().seq(200),
        seg().seq(300).data(b"abc"),
        xmas(seg().seq(400)),
        xmas(seg().seq(500)).syn(),
    ];
    let n = cases.len() as u64;
    for s in cases {
        h.deliver(ms(0), s);
        h.expect_none(ms(0));
    }
    assert_eq!(h.set.len(), 1, "only the listener");
    let st = *h.set.tcp_stats();
    assert_eq!((st.bad_flags, st.dropped, st.passive_opens), (n, n, 0));
    // SYN+RST: the RST is looked at first and the segment ignored.
    h.deliver(ms(1), seg().syn().rst().seq(600));
    h.expect_none(ms(1));
    assert_eq!(h.set.tcp_stats().bad_flags, n + 1);
    assert_eq!(h.set.len(), 1);
    // A plain SYN still opens a connection.
    h.deliver(ms(2), seg().syn().seq(700).mss(1460));
    assert!(h.expect(ms(2)).is_synack());
    assert_eq!(h.set.accept(l).ok(), None);
}

/// In a synchronized state: no ACK bit means drop (RFC 9293 3.10.7.4, fifth
/// step); a SYN (with FIN or not) earns a challenge ACK (RFC 5961 4.2).
#[test]
fn illegal_flags_on_an_established_connection() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(10), seg().seq(1001).data(b"no ack bit"));
    h.deliver(ms(10), xmas(seg().seq(1001)));
    h.expect_none(ms(10));
    assert_eq!(h.state(c), Some(State::Established));
    let mut buf = [0u8; 16];
    assert!(h.set.recv(c, &mut buf).is_err(), "no data taken");
    h.deliver(ms(20), seg().syn().fin().seq(1001));
    let a = h.expect(ms(20));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (iss + 1, SeqNum(1001)));
    assert_eq!(h.state(c), Some(State::Established));
    assert_eq!(h.set.tcp_stats().bad_flags, 3);
}

//! Received SACK blocks: validation and D-SACK counting (RFC 2018, 2883).

use super::harness::*;
use crate::tcp::State;

#[test]
fn sack_blocks_counted_validated_and_dsack_recognised() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).mss(1460).sack_perm());
    let synack = h.expect(ms(0));
    assert!(synack.repr.sack_permitted);
    let iss = synack.seq();
    h.deliver(ms(0), seg().seq(1001).ack(iss + 1));
    let c = h.set.accept(l).unwrap();
    assert_eq!(h.state(c), Some(State::Established));
    assert!(h.set.info(c).unwrap().sack);
    h.set.send(c, &vec![1u8; 5 * 1460]).unwrap();
    assert_eq!(h.sent(ms(0)).len(), 5);
    let base = (iss + 1).0;
    let mut s = seg().seq(1001).ack(iss + 1);
    // A valid block: segments 3..5 arrived.
    s.sack = Some((base + 2 * 1460, base + 5 * 1460));
    h.deliver(ms(10), s.clone());
    // Beyond anything sent: ignored and counted.
    s.sack = Some((base + 5 * 1460, base + 9 * 1460));
    h.deliver(ms(11), s.clone());
    // Empty (left == right): invalid.
    s.sack = Some((base + 1460, base + 1460));
    h.deliver(ms(12), s.clone());
    // D-SACK: below the cumulative ACK (RFC 2883 4).
    let mut d = seg().seq(1001).ack(iss + 1 + 1460);
    d.sack = Some((base, base + 1460));
    h.deliver(ms(13), d);
    let st = *h.set.tcp_stats();
    assert_eq!(st.sack_blocks_rx, 4);
    assert_eq!(st.sack_blocks_invalid, 2);
    assert_eq!(st.dsack_rx, 1);
}

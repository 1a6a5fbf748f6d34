//! SACK-based loss recovery (RFC 6675) and D-SACK generation (RFC 2883),
//! scripted segment by segment. Segments are 1460 bytes; "segment k" starts
//! at `base + k * 1460`. No timestamps, so four SACK blocks fit. The
//! scripts use Reno so the window arithmetic is RFC 5681's (ssthresh = half
//! the flight); CUBIC's own reduction is tested in `tests/congestion.rs`.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::{CongestionAlgorithm, Profile, SeqNum};

const MSS: u32 = 1460;

/// Tail loss probes off: these scripts time their ACKs freely.
fn no_tlp() -> Harness {
    Harness::with_profile(Profile {
        tlp: false,
        congestion: CongestionAlgorithm::Reno,
        ..Profile::linux()
    })
}

/// Linux's profile with Reno (tail loss probes on).
fn reno() -> Harness {
    Harness::with_profile(Profile {
        congestion: CongestionAlgorithm::Reno,
        ..Profile::linux()
    })
}

/// A passive open with SACK permitted and `n` full segments sent at once.
/// Returns (connection, base = first data byte).
fn sack_conn(h: &mut Harness, n: u32) -> (SocketHandle, u32) {
    sack_conn_at(h, n, 0)
}

/// The same with the handshake's last ACK (and the data) at `t` ms, so
/// SRTT = t ms.
fn sack_conn_at(h: &mut Harness, n: u32, t: u64) -> (SocketHandle, u32) {
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).mss(1460).sack_perm());
    let sa = h.expect(ms(0));
    assert!(sa.repr.sack_permitted);
    let iss = sa.seq();
    h.deliver(ms(t), seg().seq(1001).ack(iss + 1));
    let c = h.set.accept(l).unwrap();
    assert!(h.set.info(c).unwrap().sack);
    h.set.send(c, &vec![1u8; (n * MSS) as usize]).unwrap();
    let v = h.sent(ms(t));
    assert_eq!(v.len(), n as usize);
    (c, iss.0 + 1)
}

/// The peer's ACK: cumulative up to segment `cum`, SACK blocks in
/// segment numbers `[from, to)`.
fn ack(base: u32, cum: u32, blocks: &[(u32, u32)]) -> Seg {
    let b: Vec<(u32, u32)> = blocks
        .iter()
        .map(|&(f, t)| (base + f * MSS, base + t * MSS))
        .collect();
    seg().seq(1001).ack(SeqNum(base + cum * MSS)).sacks(&b)
}

/// Segment numbers of what was sent (data segments only).
fn seg_numbers(base: u32, v: &[Sent]) -> Vec<u32> {
    v.iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.seq().0.wrapping_sub(base) / MSS)
        .collect()
}

#[test]
fn scoreboard_follows_acks_and_ignores_bad_blocks() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    h.deliver(ms(10), ack(base, 1, &[(3, 4)]));
    h.deliver(ms(11), ack(base, 1, &[(5, 6), (3, 4)]));
    // Beyond snd_max: ignored and counted; the valid one still counts.
    h.deliver(ms(12), ack(base, 1, &[(11, 12), (6, 7)]));
    let st = *h.set.tcp_stats();
    assert_eq!(st.sack_blocks_invalid, 1);
    let conn = h.set.conn_for_test(c);
    assert_eq!(
        conn.scoreboard.ranges(),
        &[
            (SeqNum(base + 3 * MSS), SeqNum(base + 4 * MSS)),
            (SeqNum(base + 5 * MSS), SeqNum(base + 7 * MSS))
        ]
    );
    // A cumulative ACK past the first range trims it away.
    h.deliver(ms(13), ack(base, 4, &[(5, 7)]));
    let conn = h.set.conn_for_test(c);
    assert_eq!(
        conn.scoreboard.ranges(),
        &[(SeqNum(base + 5 * MSS), SeqNum(base + 7 * MSS))]
    );
}

#[test]
fn sack_recovery_resends_only_the_holes() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    // Segments 1 and 4 are lost.
    h.deliver(ms(10), ack(base, 1, &[]));
    h.expect_none(ms(10));
    h.deliver(ms(11), ack(base, 1, &[(2, 3)]));
    h.deliver(ms(12), ack(base, 1, &[(2, 4)]));
    h.expect_none(ms(12));
    // Third duplicate ACK: RFC 6675 recovery, segment 1 goes again; pipe
    // (4 + 1 segments) is above cwnd = ssthresh = 4.5 segments, so only it.
    h.deliver(ms(13), ack(base, 1, &[(5, 6), (2, 4)]));
    let v = h.sent(ms(13));
    assert_eq!(seg_numbers(base, &v), vec![1]);
    let i = h.set.info(c).unwrap();
    assert_eq!((i.recoveries, i.sack_recoveries, i.fast_retrans), (1, 1, 1));
    assert_eq!(i.cwnd, i.ssthresh, "RFC 6675 5 (4.2): cwnd = ssthresh");
    // Three segments SACKed above 4: lost (IsLost); pipe has room: resend it.
    h.deliver(ms(14), ack(base, 1, &[(5, 8), (2, 4)]));
    let v = h.sent(ms(14));
    assert_eq!(seg_numbers(base, &v), vec![4]);
    assert_eq!(h.set.info(c).unwrap().sack_retrans, 1);
    // Everything else arrives: nothing left to repair, nothing new to send.
    h.deliver(ms(15), ack(base, 1, &[(5, 10), (2, 4)]));
    h.expect_none(ms(15));
    // Partial ACK (the first retransmission arrived): 4 is not sent again.
    h.deliver(ms(20), ack(base, 4, &[(5, 10)]));
    h.expect_none(ms(20));
    // Full ACK: recovery ends at cwnd = ssthresh.
    h.deliver(ms(30), ack(base, 10, &[]));
    h.expect_none(ms(30));
    let i = h.set.info(c).unwrap();
    assert_eq!(i.total_retrans, 2);
    assert_eq!(i.cwnd, i.ssthresh);
    assert_eq!(i.unacked, 0);
    assert_eq!(i.rtos, 0);
    let st = *h.set.tcp_stats();
    assert_eq!((st.fast_retrans, st.sack_retrans), (1, 1));
}

#[test]
fn lost_retransmission_is_resent_before_the_rto() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    h.deliver(ms(10), ack(base, 1, &[]));
    h.deliver(ms(11), ack(base, 1, &[(2, 3)]));
    h.deliver(ms(12), ack(base, 1, &[(2, 4)]));
    h.deliver(ms(13), ack(base, 1, &[(5, 6), (2, 4)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(13))), vec![1]);
    h.deliver(ms(14), ack(base, 1, &[(5, 8), (2, 4)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(14))), vec![4]);
    // The retransmission of 4 arrives (it fills 4 and merges 2..8) but the
    // earlier one of 1 did not: it was lost; send it again now.
    h.deliver(ms(15), ack(base, 1, &[(2, 8)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(15))), vec![1]);
    let i = h.set.info(c).unwrap();
    assert_eq!((i.lost_retrans, i.sack_retrans, i.rtos), (1, 2, 0));
    // Only once: more SACKs do not resend it a third time.
    h.deliver(ms(16), ack(base, 1, &[(2, 9)]));
    h.expect_none(ms(16));
    h.deliver(ms(20), ack(base, 10, &[]));
    h.expect_none(ms(20));
    assert_eq!(h.set.info(c).unwrap().total_retrans, 3);
}

#[test]
fn lost_head_retransmission_found_by_later_new_data() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    h.set.send(c, &vec![2u8; (10 * MSS) as usize]).unwrap();
    // Segment 0 lost; 1..3 SACKed: IsLost, recovery, 0 goes again.
    h.deliver(ms(10), ack(base, 0, &[(1, 4)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(10))), vec![0]);
    // The rest of the window arrives: pipe is the retransmission alone,
    // so four new segments go (cwnd = ssthresh = 5).
    h.deliver(ms(11), ack(base, 0, &[(1, 10)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(11))), vec![10, 11, 12, 13]);
    // Three segments sent after the retransmission are SACKed while 0 is
    // still missing: that retransmission was lost; send it again now.
    h.deliver(ms(20), ack(base, 0, &[(10, 13), (1, 10)]));
    let v = h.sent(ms(20));
    assert_eq!(seg_numbers(base, &v).first(), Some(&0), "{v:#?}");
    let i = h.set.info(c).unwrap();
    assert_eq!((i.lost_retrans, i.rtos), (1, 0));
}

#[test]
fn go_back_n_resends_a_short_piece_up_to_sacked_data() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 4);
    // The peer holds bytes 700.. of segment 0 through segment 1 (its
    // segment boundaries need not be ours): not yet deemed lost.
    let d = seg()
        .seq(1001)
        .ack(SeqNum(base))
        .sacks(&[(base + 700, base + 2 * MSS)]);
    h.deliver(ms(10), d);
    h.expect_none(ms(10));
    // RTO: the 700 bytes before the SACKed data go at once, though short
    // (neither Nagle nor SWS avoidance holds a piece that ends at SACKed
    // data).
    let v = h.sent(ms(200));
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!((v[0].seq(), v[0].payload.len()), (SeqNum(base), 700));
    assert_eq!(h.set.info(c).unwrap().rtos, 1);
}

#[test]
fn is_lost_starts_recovery_before_three_duplicate_acks() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    // One ACK SACKs three segments above the head: IsLost(HighACK + 1)
    // (RFC 6675 5, Linux `tcp_time_to_recover`).
    h.deliver(ms(10), ack(base, 0, &[(1, 4)]));
    let v = h.sent(ms(10));
    assert_eq!(seg_numbers(base, &v).first(), Some(&0));
    assert_eq!(h.set.info(c).unwrap().recoveries, 1);
}

#[test]
fn new_data_flows_in_sack_recovery_when_pipe_allows() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    // More data queued behind the window of 10.
    h.set.send(c, &vec![2u8; (4 * MSS) as usize]).unwrap();
    h.expect_none(ms(1));
    // Segment 0 lost, 1..9 all SACKed: pipe = 0 (+1 for the retransmission).
    h.deliver(ms(10), ack(base, 0, &[(1, 10)]));
    let v = h.sent(ms(10));
    // Head first, then new data (NextSeg rule 2) up to cwnd = 5 segments.
    assert_eq!(seg_numbers(base, &v), vec![0, 10, 11, 12, 13]);
    assert_eq!(h.set.info(c).unwrap().sack_retrans, 0);
}

#[test]
fn rto_with_sack_skips_sacked_data_and_blocks_fast_recovery() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 10);
    // 1 lost; 2 and 5 SACKed: not yet deemed lost (2 segments above).
    h.deliver(ms(10), ack(base, 1, &[(2, 3), (5, 6)]));
    h.expect_none(ms(10));
    assert_eq!(h.set.info(c).unwrap().recoveries, 0);
    // RTO (200 ms after the ACK restarted it): one segment, the head.
    h.expect_none(ms(209));
    let v = h.sent(ms(210));
    assert_eq!(seg_numbers(base, &v), vec![1]);
    let i = h.set.info(c).unwrap();
    assert_eq!((i.rtos, i.cwnd), (1, 1460));
    // Duplicate ACKs that SACK more: no fast recovery before snd_una
    // passes HighData of the RTO (RFC 6582 3.2, RFC 6675 5.1).
    h.deliver(ms(212), ack(base, 1, &[(5, 7), (2, 3)]));
    h.deliver(ms(213), ack(base, 1, &[(5, 8), (2, 3)]));
    h.deliver(ms(214), ack(base, 1, &[(5, 9), (2, 3)]));
    h.expect_none(ms(214));
    assert_eq!(h.set.info(c).unwrap().recoveries, 0);
    // The retransmission arrives: slow start (cwnd 3 segments) resends
    // 3 and 4, skips the SACKed 5..9, and sends 9.
    h.deliver(ms(220), ack(base, 3, &[(5, 9)]));
    let v = h.sent(ms(220));
    assert_eq!(seg_numbers(base, &v), vec![3, 4, 9]);
    h.deliver(ms(230), ack(base, 10, &[]));
    h.expect_none(ms(230));
    let i = h.set.info(c).unwrap();
    assert_eq!(i.total_retrans, 4);
    assert_eq!(i.unacked, 0);
}

#[test]
fn second_rto_forgets_the_sacks() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 4);
    h.deliver(ms(10), ack(base, 1, &[(2, 3)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(210))), vec![1]);
    // No answer: the second RTO (400 ms later) clears the scoreboard (RFC
    // 2018 8: the receiver may have reneged) and goes back to segment 1.
    assert_eq!(seg_numbers(base, &h.sent(ms(610))), vec![1]);
    assert!(h.set.conn_for_test(c).scoreboard.ranges().is_empty());
}

#[test]
fn reneging_peer_clears_the_scoreboard() {
    let mut h = no_tlp();
    let (c, base) = sack_conn(&mut h, 6);
    h.deliver(ms(10), ack(base, 1, &[(2, 4)]));
    // The cumulative ACK stops inside SACKed data: the peer dropped it.
    h.deliver(ms(11), ack(base, 3, &[]));
    assert!(h.set.conn_for_test(c).scoreboard.ranges().is_empty());
}

#[test]
fn dsack_for_a_duplicate_below_rcv_nxt() {
    let mut h = no_tlp();
    let (c, _) = sack_conn(&mut h, 0);
    h.deliver(ms(10), seg().seq(1001).ack(h_ack(&h, c)).data(&[5; 100]));
    let a = h.expect(ms(10));
    assert_eq!((a.ack(), a.repr.sack_len), (SeqNum(1101), 0));
    // The same segment again (our ACK was lost): D-SACK it (RFC 2883 4.1.1).
    h.deliver(ms(20), seg().seq(1001).ack(h_ack(&h, c)).data(&[5; 100]));
    let a = h.expect(ms(20));
    assert_eq!(a.ack(), SeqNum(1101));
    assert_eq!(a.repr.sack_len, 1);
    assert_eq!(a.repr.sack_blocks[0], (SeqNum(1001), SeqNum(1101)));
    // Only once: the next ACK has no D-SACK.
    h.deliver(ms(30), seg().seq(1101).ack(h_ack(&h, c)).data(&[5; 100]));
    let v = h.sent(ms(300));
    assert!(v.iter().all(|s| s.repr.sack_len == 0), "{v:#?}");
    assert_eq!(h.set.info(c).unwrap().dsack_tx, 1);
    assert_eq!(h.set.tcp_stats().dsack_tx, 1);
}

#[test]
fn dsack_for_out_of_order_duplicates() {
    let mut h = no_tlp();
    let (c, _) = sack_conn(&mut h, 0);
    let ack = h_ack(&h, c);
    // 1101..1201 arrives ahead of 1001..1101.
    h.deliver(ms(10), seg().seq(1101).ack(ack).data(&[5; 100]));
    let a = h.expect(ms(10));
    assert_eq!(a.repr.sack_len, 1);
    assert_eq!(a.repr.sack_blocks[0], (SeqNum(1101), SeqNum(1201)));
    // Again: D-SACK first, then the block holding it (RFC 2883 4.1.2).
    h.deliver(ms(20), seg().seq(1101).ack(ack).data(&[5; 100]));
    let a = h.expect(ms(20));
    assert_eq!(a.repr.sack_len, 2);
    assert_eq!(a.repr.sack_blocks[0], (SeqNum(1101), SeqNum(1201)));
    assert_eq!(a.repr.sack_blocks[1], (SeqNum(1101), SeqNum(1201)));
    // A segment that fills the hole and overlaps what we hold: cumulative
    // ACK with the overlap as a D-SACK.
    h.deliver(ms(30), seg().seq(1001).ack(ack).data(&[5; 200]));
    let a = h.expect(ms(30));
    assert_eq!(a.ack(), SeqNum(1201));
    assert_eq!(a.repr.sack_len, 1);
    assert_eq!(a.repr.sack_blocks[0], (SeqNum(1101), SeqNum(1201)));
    assert_eq!(h.set.info(c).unwrap().dsack_tx, 2);
}

#[test]
fn newreno_without_sack_is_unchanged() {
    let mut h = reno();
    let (_l, c, iss) = h.passive();
    h.set.send(c, &vec![1u8; 10 * MSS as usize]).unwrap();
    assert_eq!(h.sent(ms(0)).len(), 10);
    // Segment 1 lost: a cumulative ACK for 0, then three duplicates.
    for t in 10..14 {
        h.deliver(ms(t), seg().seq(1001).ack(iss + 1 + MSS as usize));
    }
    let v = h.sent(ms(14));
    assert_eq!(v.first().map(|s| s.seq()), Some(iss + 1 + MSS as usize));
    let i = h.set.info(c).unwrap();
    assert_eq!((i.recoveries, i.sack_recoveries, i.fast_retrans), (1, 0, 1));
    // RFC 5681 3.2: cwnd = ssthresh + 3 SMSS in NewReno.
    assert_eq!(i.cwnd, i.ssthresh + 3 * MSS as usize);
}

/// What the scripted peer acknowledges: our snd_max (all we sent).
fn h_ack(h: &Harness, c: SocketHandle) -> SeqNum {
    h.set.conn_for_test(c).snd_max
}

#[test]
fn tail_loss_probe_resends_the_last_segment() {
    let mut h = reno();
    // SRTT 20 ms; four segments out, nothing more to send.
    let (c, base) = sack_conn_at(&mut h, 4, 20);
    // PTO = 2 SRTT = 40 ms after the last send (RFC 8985 7.2).
    h.expect_none(ms(59));
    let v = h.sent(ms(60));
    assert_eq!(seg_numbers(base, &v), vec![3]);
    let i = h.set.info(c).unwrap();
    assert_eq!((i.tlp_probes, i.rtos), (1, 0));
    // One probe per episode.
    h.expect_none(ms(150));
    // Segment 3 had been lost: the probe repaired it; the window is
    // reduced once (RFC 8985 7.4).
    h.deliver(ms(160), ack(base, 4, &[]));
    let i = h.set.info(c).unwrap();
    assert_eq!(i.tlp_recoveries, 1);
    // Halved from the initial 10 segments: 4 in flight never filled the
    // window, so slow start did not grow it (Linux `tcp_is_cwnd_limited`:
    // cwnd < 2 * packets out).
    assert_eq!((i.cwnd, i.ssthresh), (5 * 1460, 5 * 1460));
}

#[test]
fn tail_loss_probe_found_needless_by_dsack() {
    let mut h = reno();
    let (c, base) = sack_conn_at(&mut h, 4, 20);
    assert_eq!(seg_numbers(base, &h.sent(ms(60))), vec![3]);
    // Only the ACKs were lost: the probe comes back as a D-SACK.
    h.deliver(ms(80), ack(base, 4, &[(3, 4)]));
    let i = h.set.info(c).unwrap();
    assert_eq!((i.tlp_probes, i.tlp_recoveries, i.dsack_rx), (1, 0, 1));
    // No reduction; and no growth either, as 4 segments in flight never
    // used the 10-segment window (Linux `tcp_is_cwnd_limited`).
    assert_eq!(i.cwnd, 10 * 1460, "window kept");
}

#[test]
fn tail_loss_probe_sends_new_data_past_cwnd() {
    let mut h = reno();
    let (c, base) = sack_conn_at(&mut h, 10, 20);
    // cwnd (10 segments) is full; two more segments wait.
    h.set.send(c, &vec![2u8; 2 * MSS as usize]).unwrap();
    h.expect_none(ms(59));
    // The probe is new data (RFC 8985 7.3), beyond cwnd.
    assert_eq!(seg_numbers(base, &h.sent(ms(60))), vec![10]);
    // It elicits SACKs: the tail 7..9 was lost; 10 arrived. Three
    // duplicate ACKs later, fast recovery (not an RTO) repairs it.
    h.deliver(ms(80), ack(base, 7, &[(10, 11)]));
    // Segment 11 goes as the ACK opens the window.
    assert_eq!(seg_numbers(base, &h.sent(ms(80))), vec![11]);
    h.deliver(ms(81), ack(base, 7, &[(10, 12)]));
    h.deliver(ms(82), ack(base, 7, &[(10, 12)]));
    h.deliver(ms(83), ack(base, 7, &[(10, 12)]));
    assert_eq!(seg_numbers(base, &h.sent(ms(83))), vec![7]);
    let i = h.set.info(c).unwrap();
    assert_eq!((i.tlp_probes, i.recoveries, i.rtos), (1, 1, 0));
}

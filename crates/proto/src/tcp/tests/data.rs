//! Data transfer: delivery, ACK policy, windows, Nagle, out-of-order.

use super::harness::*;
use crate::sockets::{RecvError, SendError};
use crate::tcp::SeqNum;

#[test]
fn receive_in_order_and_quickack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(10), seg().seq(1001).ack(iss + 1).data(b"hello"));
    // Quick-ACK at the start of the connection.
    let a = h.expect(ms(10));
    assert!(a.is_pure_ack());
    assert_eq!(a.ack(), SeqNum(1006));
    let mut buf = [0u8; 16];
    assert_eq!(h.set.recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::WouldBlock));
}

#[test]
fn send_and_ack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    assert_eq!(h.set.send(c, b"abc"), Ok(3));
    let d = h.expect(ms(0));
    assert_eq!(d.payload, b"abc");
    assert_eq!(d.seq(), iss + 1);
    assert!(d.flags().psh());
    h.deliver(ms(5), seg().seq(1001).ack(iss + 4));
    assert_eq!(h.set.info(c).unwrap().unacked, 0);
    assert!(h.set.info(c).unwrap().rtt.total_micros() > 0);
}

#[test]
fn segments_split_at_mss_and_cwnd_iw10() {
    let mut h = Harness::new();
    let (_l, c, _iss) = h.passive();
    // 100 KB in one call needs more than the autotuned first send buffer
    // (87040 B at MSS 1460, as Linux), so set it.
    h.set.set_send_buffer_size(c, 262_144).unwrap();
    let data = vec![7u8; 100_000];
    let n = h.set.send(c, &data).unwrap();
    assert_eq!(n, 100_000);
    let v = h.sent(ms(0));
    // IW10 with MSS 1460.
    assert_eq!(v.len(), 10);
    assert!(v.iter().all(|s| s.payload.len() == 1460));
}

#[test]
fn nagle_holds_small_segment_until_ack() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.set.send(c, b"a").unwrap();
    let first = h.expect(ms(0));
    assert_eq!(first.payload, b"a");
    h.set.send(c, b"b").unwrap();
    h.expect_none(ms(1));
    h.set.send(c, b"c").unwrap();
    h.expect_none(ms(2));
    h.deliver(ms(3), seg().seq(1001).ack(iss + 2));
    let second = h.expect(ms(3));
    assert_eq!(second.payload, b"bc");
}

#[test]
fn nodelay_sends_at_once() {
    let mut h = Harness::new();
    let (_l, c, _iss) = h.passive();
    h.set.set_nodelay(c, true).unwrap();
    h.set.send(c, b"a").unwrap();
    h.expect(ms(0));
    h.set.send(c, b"b").unwrap();
    let s = h.expect(ms(1));
    assert_eq!(s.payload, b"b");
}

#[test]
fn delayed_ack_after_quickacks() {
    let mut p = crate::tcp::Profile::linux();
    p.quickacks = 0;
    let mut h = Harness::with_profile(p);
    let (_l, _c, iss) = h.passive();
    // One small segment: delayed by 40 ms.
    h.deliver(ms(100), seg().seq(1001).ack(iss + 1).data(&[1; 100]));
    h.expect_none(ms(100));
    h.expect_none(ms(139));
    let a = h.expect(ms(140));
    assert_eq!(a.ack(), SeqNum(1101));
    // Two full segments: ACK at the second.
    h.deliver(ms(200), seg().seq(1101).ack(iss + 1).data(&[1; 1460]));
    h.expect_none(ms(200));
    h.deliver(ms(201), seg().seq(2561).ack(iss + 1).data(&[1; 1460]));
    let a = h.expect(ms(201));
    assert_eq!(a.ack(), SeqNum(4021));
}

#[test]
fn out_of_order_is_held_and_dup_acked() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1006).ack(iss + 1).data(b"world"));
    let a = h.expect(ms(1));
    assert_eq!(a.ack(), SeqNum(1001), "duplicate ACK for the hole");
    let mut buf = [0u8; 32];
    assert_eq!(h.set.recv(c, &mut buf), Err(RecvError::WouldBlock));
    h.deliver(ms(2), seg().seq(1001).ack(iss + 1).data(b"hello"));
    let a = h.expect(ms(2));
    assert_eq!(a.ack(), SeqNum(1011));
    assert_eq!(h.set.recv(c, &mut buf), Ok(10));
    assert_eq!(&buf[..10], b"helloworld");
}

#[test]
fn overlapping_retransmission_is_trimmed() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(b"abc"));
    h.deliver(ms(2), seg().seq(1001).ack(iss + 1).data(b"abcdef"));
    let mut buf = [0u8; 32];
    assert_eq!(h.set.recv(c, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"abcdef");
}

#[test]
fn window_fills_then_zero_window_then_update_on_read() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.set.set_recv_buffer_size(l, 4096).unwrap();
    h.deliver(ms(0), seg().syn().seq(1000).mss(1000));
    let sa = h.expect(ms(0));
    assert_eq!(sa.repr.window, 4096);
    h.deliver(ms(0), seg().seq(1001).ack(sa.seq() + 1));
    let c = h.set.accept(l).unwrap();
    let iss = sa.seq();
    let mut seq = 1001u32;
    for i in 0..4 {
        h.deliver(
            ms(1 + i),
            seg().seq(seq).ack(iss + 1).data(&[i as u8; 1024]),
        );
        seq += 1024;
    }
    let acks = h.sent(ms(5));
    let last = acks.last().unwrap();
    assert_eq!(last.ack(), SeqNum(seq));
    assert_eq!(last.repr.window, 0, "buffer full: zero window");
    // More data is not acceptable.
    h.deliver(ms(6), seg().seq(seq).ack(iss + 1).data(&[9; 10]));
    let a = h.expect(ms(6));
    assert_eq!(a.ack(), SeqNum(seq));
    // Reading opens the window and sends an update.
    let mut buf = vec![0u8; 4096];
    assert_eq!(h.set.recv(c, &mut buf), Ok(4096));
    let u = h.expect(ms(7));
    assert_eq!(u.repr.window, 4096);
}

#[test]
fn send_errors() {
    let mut h = Harness::new();
    let s = h.set.tcp_socket().unwrap();
    assert_eq!(h.set.send(s, b"x"), Err(SendError::NotConnected));
    let (_l, c, _) = h.passive();
    h.set.shutdown(c, crate::sockets::Shutdown::Write).unwrap();
    assert_eq!(h.set.send(c, b"x"), Err(SendError::Shutdown));
}

#[test]
fn send_buffer_fills_would_block() {
    let mut h = Harness::new();
    let (_l, c, _) = h.passive();
    h.set.set_send_buffer_size(c, 4096).unwrap();
    assert_eq!(h.set.send(c, &[0; 10000]), Ok(4096));
    assert_eq!(h.set.send(c, &[0; 1]), Err(SendError::WouldBlock));
    assert!(!h.set.writable(c));
}

#[test]
fn timestamps_echo_the_latest_in_order_tsval() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).ts(100, 0));
    let sa = h.expect(ms(0));
    assert_eq!(sa.repr.timestamp.unwrap().tsecr, 100);
    let iss = sa.seq();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).ts(101, 0));
    let c = h.set.accept(l).unwrap();
    h.deliver(ms(2), seg().seq(1001).ack(iss + 1).ts(102, 0).data(b"abc"));
    let a = h.expect(ms(2));
    assert_eq!(a.repr.timestamp.unwrap().tsecr, 102);
    // An out-of-order segment does not update TS.Recent.
    h.deliver(ms(3), seg().seq(2000).ack(iss + 1).ts(150, 0).data(b"x"));
    let a = h.expect(ms(3));
    assert_eq!(a.repr.timestamp.unwrap().tsecr, 102);
    h.set.send(c, b"q").unwrap();
    let d = h.expect(ms(4));
    let ts = d.repr.timestamp.unwrap();
    assert_eq!(ts.tsecr, 102);
    assert_ne!(ts.tsval, 0);
}

#[test]
fn sack_blocks_describe_out_of_order_data() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.deliver(ms(0), seg().syn().seq(1000).sack_perm().mss(1460));
    let sa = h.expect(ms(0));
    let iss = sa.seq();
    h.deliver(ms(0), seg().seq(1001).ack(iss + 1));
    let _c = h.set.accept(l).unwrap();
    h.deliver(ms(1), seg().seq(1101).ack(iss + 1).data(&[1; 100]));
    let a = h.expect(ms(1));
    assert_eq!(a.ack(), SeqNum(1001));
    assert_eq!(a.repr.sack_len, 1);
    assert_eq!(a.repr.sack_blocks[0], (SeqNum(1101), SeqNum(1201)));
    h.deliver(ms(2), seg().seq(1301).ack(iss + 1).data(&[1; 100]));
    let a = h.expect(ms(2));
    assert_eq!(a.repr.sack_len, 2);
    assert_eq!(
        a.repr.sack_blocks[0],
        (SeqNum(1301), SeqNum(1401)),
        "most recent first"
    );
    assert_eq!(a.repr.sack_blocks[1], (SeqNum(1101), SeqNum(1201)));
    h.deliver(ms(3), seg().seq(1001).ack(iss + 1).data(&[1; 100]));
    let a = h.expect(ms(3));
    assert_eq!(a.ack(), SeqNum(1201));
    assert_eq!(a.repr.sack_len, 1);
    assert_eq!(a.repr.sack_blocks[0], (SeqNum(1301), SeqNum(1401)));
}

#[test]
fn sender_sws_avoidance_waits_for_a_useful_window() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    // The peer offered 65535 once; now only 100 bytes.
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).win(100));
    h.set.send(c, &[1; 1000]).unwrap();
    h.expect_none(ms(2));
    // The window opens enough for a full segment's worth: send.
    h.deliver(ms(3), seg().seq(1001).ack(iss + 1).win(2000));
    let d = h.expect(ms(3));
    assert_eq!(d.payload.len(), 1000);
}

#[test]
fn receiver_sws_avoidance_holds_small_window_updates() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.set.set_recv_buffer_size(l, 4096).unwrap();
    h.deliver(ms(0), seg().syn().seq(1000).mss(1000));
    let sa = h.expect(ms(0));
    let iss = sa.seq();
    h.deliver(ms(0), seg().seq(1001).ack(iss + 1));
    let c = h.set.accept(l).unwrap();
    h.deliver(ms(1), seg().seq(1001).ack(iss + 1).data(&[0; 4096]));
    assert_eq!(h.expect(ms(1)).repr.window, 0);
    // Reading 100 bytes would open a silly window: no update.
    let mut buf = vec![0u8; 100];
    assert_eq!(h.set.recv(c, &mut buf), Ok(100));
    h.expect_none(ms(2));
    // A probe sees the window still closed.
    h.deliver(ms(3), seg().seq(5096).ack(iss + 1));
    assert_eq!(h.expect(ms(3)).repr.window, 0);
    // Reading enough for a full segment (our MSS, 1460) reopens it.
    let mut buf = vec![0u8; 1000];
    assert_eq!(h.set.recv(c, &mut buf), Ok(1000));
    h.expect_none(ms(4));
    let mut buf = vec![0u8; 360];
    assert_eq!(h.set.recv(c, &mut buf), Ok(360));
    let u = h.expect(ms(5));
    assert_eq!(u.repr.window, 1460);
}

/// Without window scaling the field says 65,535 at most: a read that frees
/// room beyond it sends no window update (it would repeat the same window;
/// Linux `tcp_cleanup_rbuf` compares the window it would select). Before,
/// every read of a connection with a buffer over 128 KiB sent one.
#[test]
fn no_window_update_when_the_field_cannot_grow() {
    let mut h = Harness::new();
    let (_l, c, iss) = h.passive();
    assert!(
        h.set.recv_buffer_size(c).is_some_and(|n| n > 2 * 65_535),
        "over 128 KiB"
    );
    let mut b = [0u8; 2000];
    for k in 0..4u32 {
        let t = 1 + u64::from(k);
        h.deliver(
            ms(t),
            seg().seq(1001 + 1000 * k).ack(iss + 1).data(&[1; 1000]),
        );
        assert_eq!(h.expect(ms(t)).repr.window, 65_535);
        assert_eq!(h.set.recv(c, &mut b), Ok(1000));
        h.expect_none(ms(t));
    }
}

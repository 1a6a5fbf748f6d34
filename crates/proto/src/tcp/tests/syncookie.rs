//! SYN cookies at the listener (RFC 4987 3.6, Linux `tcp_syncookies` = 1):
//! once the SYN queue is full a SYN gets a cookie SYN-ACK and no state; the
//! ACK that returns the cookie creates the connection with the options the
//! cookie (and, with timestamps, TSecr) carried.

use super::harness::*;
use crate::sockets::SocketHandle;
use crate::tcp::syncookie::CookieTuple;
use crate::tcp::{Profile, SeqNum, State};
use crate::wire::TcpFlags;

/// A stack whose listeners hold two half-open connections.
fn small_syn_queue(cookies: bool) -> Harness {
    let mut p = Profile::linux();
    p.max_syn_backlog = 2;
    p.syncookies = cookies;
    Harness::with_profile(p)
}

/// Fill the SYN queue from ports 1 and 2 (ordinary SYN-ACKs).
fn fill_syn_queue(h: &mut Harness, t: u64) {
    for port in 1..=2 {
        h.deliver(ms(t), seg().sport(port).syn().seq(100).mss(1460));
        assert!(h.expect(ms(t)).is_synack());
    }
}

/// Let time pass to `t` second by second, discarding what is sent (the
/// half-open children's SYN-ACK retries until they give up at 63 s).
fn idle_until(h: &mut Harness, t: u64) {
    let mut now = h.now.total_millis();
    while now < t {
        now = (now + 1000).min(t);
        h.sent(ms(now));
    }
}

fn tuple(port: u16) -> CookieTuple {
    CookieTuple {
        local: (LOCAL, LPORT),
        remote: (REMOTE, port),
    }
}

fn established(h: &Harness) -> usize {
    h.set
        .snapshot()
        .iter()
        .filter(|r| r.state == State::Established)
        .count()
}

#[test]
fn syn_cookie_round_trip_with_options_decoded() {
    let mut h = small_syn_queue(true);
    let l = h.listen(8);
    fill_syn_queue(&mut h, 0);
    let before = h.set.len();

    // The third SYN finds the queue full: a cookie SYN-ACK, no new socket.
    h.deliver(
        ms(10),
        seg()
            .sport(3)
            .syn()
            .seq(5000)
            .mss(1400)
            .sack_perm()
            .ts(777, 0)
            .wscale(7),
    );
    let sa = h.expect(ms(10));
    assert!(sa.is_synack());
    assert_eq!(sa.ack(), SeqNum(5001));
    assert_eq!(h.set.len(), before, "no state kept for a cookie");
    assert_eq!(h.set.tcp_stats().syncookies_sent, 1);
    assert_eq!(h.set.tcp_stats().out_rsts, 0);
    // Our options as a normal SYN-ACK has them (mss, sackOK, TS, wscale).
    assert_eq!(sa.repr.mss, Some(1460));
    assert!(sa.repr.sack_permitted);
    assert_eq!(sa.repr.window_scale, Some(10));
    let ts = sa.repr.timestamp.expect("timestamps echoed");
    assert_eq!(ts.tsecr, 777);
    // Linux's TSval encoding: wscale 7 in bits 0-3, SACK in bit 4.
    assert_eq!(ts.tsval & 0x3f, 7 | 0x10);
    // The ISN decodes: MSS 1400 rounds down to 1300 in Linux's table.
    let d = h
        .set
        .cookie_jar()
        .decode(
            ms(10),
            &tuple(3),
            SeqNum(5001),
            sa.seq() + 1,
            Some(ts.tsval),
        )
        .expect("the SYN-ACK's ISN is a valid cookie");
    assert_eq!(
        (d.mss, d.wscale, d.sack_ok, d.ts_ok),
        (1300, Some(7), true, true)
    );

    // The final ACK, with timestamps and data, creates the connection.
    h.deliver(
        ms(30),
        seg()
            .sport(3)
            .seq(5001)
            .ack(sa.seq() + 1)
            .ts(800, ts.tsval)
            .win(1000)
            .data(b"hello"),
    );
    assert_eq!(h.set.tcp_stats().syncookies_recv, 1);
    assert_eq!(h.set.tcp_stats().syncookies_failed, 0);
    let c = h
        .set
        .accept(l)
        .expect("the cookie connection is in the accept queue");
    assert_eq!(h.state(c), Some(State::Established));
    assert_eq!(h.set.peer_addr(c).map(|a| a.port()), Some(3));
    let info = h.set.info(c).expect("info");
    assert_eq!(info.snd_mss, 1300 - 12, "MSS from the cookie, less TS");
    assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 10));
    assert!(info.sack && info.timestamps);
    assert_eq!(info.snd_wnd, 1000 << 7, "the ACK's window, scaled");
    assert_eq!(
        info.rtt,
        crate::time::Duration::ZERO,
        "no RTT sample from a cookie"
    );
    let mut buf = [0u8; 16];
    assert_eq!(h.set.recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    // The data is acknowledged (quick-ACK at the start) with TS echoing 800.
    let a = h.expect(ms(30));
    assert!(a.is_pure_ack());
    assert_eq!((a.seq(), a.ack()), (sa.seq() + 1, SeqNum(5006)));
    assert_eq!(a.repr.timestamp.map(|t| t.tsecr), Some(800));
    // The half-open children from the full queue are untouched.
    assert_eq!(
        h.set
            .snapshot()
            .iter()
            .find(|r| r.state == State::Listen)
            .map(|r| r.syn_queue),
        Some(2)
    );
    // Data flows both ways on the new connection.
    assert_eq!(h.set.send(c, b"world"), Ok(5));
    let d = h.expect(ms(31));
    assert_eq!(d.payload, b"world");
    assert_eq!(d.seq(), sa.seq() + 1);
}

#[test]
fn syn_cookie_without_timestamps_keeps_only_the_mss() {
    let mut h = small_syn_queue(true);
    let l = h.listen(8);
    fill_syn_queue(&mut h, 0);
    h.deliver(
        ms(5),
        seg().sport(3).syn().seq(70).mss(1460).wscale(7).sack_perm(),
    );
    let sa = h.expect(ms(5));
    assert!(sa.is_synack());
    // Nowhere to keep window scale and SACK: Linux offers neither.
    assert_eq!(sa.repr.mss, Some(1460));
    assert_eq!(sa.repr.window_scale, None);
    assert!(!sa.repr.sack_permitted);
    assert_eq!(sa.repr.timestamp, None);
    h.deliver(ms(6), seg().sport(3).seq(71).ack(sa.seq() + 1).win(5000));
    let c = h.set.accept(l).expect("accepted");
    let info = h.set.info(c).expect("info");
    assert_eq!(info.snd_mss, 1460);
    assert_eq!((info.snd_wscale, info.rcv_wscale), (0, 0));
    assert!(!info.sack && !info.timestamps);
    assert_eq!(info.snd_wnd, 5000);
    h.expect_none(ms(6));
}

#[test]
fn forged_and_aged_cookies_are_rejected_and_counted() {
    let mut h = small_syn_queue(true);
    h.listen(8);
    fill_syn_queue(&mut h, 0);
    // A cookie for port 4, minted at 10 ms (slot 0).
    h.deliver(ms(10), seg().sport(4).syn().seq(400).mss(1460));
    let old = h.expect(ms(10));
    assert!(old.is_synack());

    // Forged: a guessed acknowledgment number. Reset, no connection.
    h.deliver(ms(20), seg().sport(9).seq(901).ack(old.seq() + 1));
    let r = h.expect(ms(20));
    assert!(r.is_rst());
    assert_eq!(r.seq(), old.seq() + 1);
    // The right cookie from the wrong client ISN fails too.
    h.deliver(ms(21), seg().sport(4).seq(999).ack(old.seq() + 1));
    assert!(h.expect(ms(21)).is_rst());
    assert_eq!(h.set.tcp_stats().syncookies_failed, 2);
    assert_eq!(established(&h), 0);

    // Aged: 130 s later (slot 2) the queue overflows again, and the old
    // cookie is past its 64-128 s life.
    idle_until(&mut h, 130_000);
    assert_eq!(h.set.len(), 1, "the half-open children gave up");
    fill_syn_queue(&mut h, 130_000);
    h.deliver(ms(130_000), seg().sport(5).syn().seq(500).mss(1460));
    assert!(h.expect(ms(130_000)).is_synack());
    assert_eq!(h.set.tcp_stats().syncookies_sent, 2);
    h.deliver(ms(130_001), seg().sport(4).seq(401).ack(old.seq() + 1));
    assert!(h.expect(ms(130_001)).is_rst());
    assert_eq!(h.set.tcp_stats().syncookies_failed, 3);
    assert_eq!(h.set.tcp_stats().syncookies_recv, 0);
    assert_eq!(established(&h), 0);
}

/// A listener with room for one half-open and one accepted connection:
/// port 1 completes (the accept queue is then full), and `syn` gets a
/// cookie SYN-ACK. Returns (harness, listener, that SYN-ACK).
fn accept_queue_full_and_a_cookie(syn: Seg) -> (Harness, SocketHandle, Sent) {
    let mut p = Profile::linux();
    p.max_syn_backlog = 1;
    let mut h = Harness::with_profile(p);
    let l = h.listen(0); // the accept queue holds one
    h.deliver(ms(0), seg().sport(1).syn().seq(100));
    let sa1 = h.expect(ms(0));
    h.deliver(ms(0), syn);
    let sa2 = h.expect(ms(0));
    assert_eq!(h.set.tcp_stats().syncookies_sent, 1);
    // Port 1 completes: the accept queue is full.
    h.deliver(ms(1), seg().sport(1).seq(101).ack(sa1.seq() + 1));
    (h, l, sa2)
}

#[test]
fn valid_cookie_ack_waits_for_room_in_the_accept_queue() {
    let (mut h, l, sa2) = accept_queue_full_and_a_cookie(seg().sport(2).syn().seq(200));
    // Port 2's valid cookie ACK is dropped (Linux tcp_v4_syn_recv_sock).
    h.deliver(ms(2), seg().sport(2).seq(201).ack(sa2.seq() + 1));
    h.expect_none(ms(2));
    let st = *h.set.tcp_stats();
    assert_eq!((st.syncookies_recv, st.listen_overflows), (1, 1));
    assert_eq!(established(&h), 1);
    // Once accepted, the client's next segment (its data) gets in.
    let _c1 = h.set.accept(l).expect("port 1");
    h.deliver(ms(3), seg().sport(2).seq(201).ack(sa2.seq() + 1).data(b"x"));
    let c2: SocketHandle = h.set.accept(l).expect("port 2 by cookie");
    let mut b = [0u8; 1];
    assert_eq!(h.set.recv(c2, &mut b), Ok(1));
    assert_eq!(h.set.tcp_stats().syncookies_recv, 2);
}

/// The client's first ACK and first data segment (3 bytes) arrive while
/// the accept queue is full and are dropped; its next segment, 3 bytes
/// further on, must not open the connection there (the 3 bytes would be
/// acknowledged and never delivered: a fuzz finding, session 10). It is
/// not a cookie ACK of ours: answered as RFC 9293 3.10.7.2 says (a
/// reset). The client's retransmission from its first byte then opens
/// the connection with every byte.
#[test]
fn a_cookie_ack_past_the_first_byte_opens_nothing() {
    let (mut h, l, sa2) = accept_queue_full_and_a_cookie(seg().sport(2).syn().seq(200).mss(1460));
    // Port 2's ACK and its first 3 bytes: valid cookies, accept queue full.
    h.deliver(ms(2), seg().sport(2).seq(201).ack(sa2.seq() + 1));
    h.deliver(
        ms(2),
        seg().sport(2).seq(201).ack(sa2.seq() + 1).data(b"abc"),
    );
    h.expect_none(ms(2));
    let _c1 = h.set.accept(l).expect("port 1");
    // Room now; the next segment starts 3 bytes in.
    h.deliver(
        ms(3),
        seg().sport(2).seq(204).ack(sa2.seq() + 1).data(b"defg"),
    );
    assert!(h.set.accept(l).is_err(), "no connection from byte 3 on");
    let rst = h.expect(ms(3));
    assert!(rst.is_rst());
    assert_eq!(h.set.tcp_stats().syncookies_failed, 1);
    // A client that retransmits from its first byte gets in whole.
    h.deliver(
        ms(4),
        seg().sport(2).seq(201).ack(sa2.seq() + 1).data(b"abcdefg"),
    );
    let c2: SocketHandle = h.set.accept(l).expect("port 2 by cookie");
    let mut b = [0u8; 16];
    assert_eq!(h.set.recv(c2, &mut b), Ok(7));
    assert_eq!(&b[..7], b"abcdefg");
}

#[test]
fn without_cookies_a_full_syn_queue_drops_syns() {
    let mut h = small_syn_queue(false);
    h.listen(8);
    fill_syn_queue(&mut h, 0);
    h.deliver(ms(1), seg().sport(3).syn().seq(5000).mss(1460));
    h.expect_none(ms(1));
    let st = *h.set.tcp_stats();
    assert_eq!((st.listen_drops, st.syncookies_sent), (1, 0));
    // An ACK is never taken for a cookie: reset, not counted as one.
    h.deliver(ms(2), seg().sport(3).seq(5001).ack(SeqNum(77)));
    assert!(h.expect(ms(2)).is_rst());
    assert_eq!(h.set.tcp_stats().syncookies_failed, 0);
}

#[test]
fn acks_are_checked_as_cookies_only_after_a_recent_overflow() {
    let mut h = small_syn_queue(true);
    h.listen(8);
    // No overflow yet: a stray ACK is reset without a cookie check.
    h.deliver(ms(0), seg().sport(3).seq(1).ack(SeqNum(2)));
    let r = h.expect(ms(0));
    assert!(r.is_rst() && r.flags() == TcpFlags(TcpFlags::RST));
    assert_eq!(h.set.tcp_stats().syncookies_failed, 0);
    fill_syn_queue(&mut h, 1);
    h.deliver(ms(2), seg().sport(3).syn().seq(1).mss(1460));
    assert!(h.expect(ms(2)).is_synack());
    h.deliver(ms(3), seg().sport(3).seq(1).ack(SeqNum(2)));
    assert!(h.expect(ms(3)).is_rst());
    assert_eq!(h.set.tcp_stats().syncookies_failed, 1);
    // Two minutes after the last overflow (Linux TCP_SYNCOOKIE_VALID):
    // no more cookie checks.
    idle_until(&mut h, 122_003);
    h.deliver(ms(122_003), seg().sport(3).seq(1).ack(SeqNum(2)));
    assert!(h.expect(ms(122_003)).is_rst());
    assert_eq!(h.set.tcp_stats().syncookies_failed, 1);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Blind ACKs at a listener whose SYN queue overflowed: none is
        /// taken for a cookie, each is counted and reset, the tables keep
        /// their invariants.
        #[test]
        fn blind_acks_never_open_a_connection(
            acks in proptest::collection::vec(
                (any::<u16>(), any::<u32>(), any::<u32>(), any::<Option<(u32, u32)>>(), any::<bool>()),
                1..40,
            ),
        ) {
            let mut h = small_syn_queue(true);
            h.listen(8);
            fill_syn_queue(&mut h, 0);
            h.deliver(ms(1), seg().sport(3).syn().seq(1).mss(1460).ts(5, 0));
            prop_assert!(h.expect(ms(1)).is_synack());
            let n = acks.len() as u64;
            for (port, seq, ack, ts, fin) in acks {
                let mut s = seg().sport(port.max(3)).seq(seq).ack(SeqNum(ack)).data(b"x");
                s.ts = ts;
                if fin {
                    s = s.fin();
                }
                h.deliver(ms(2), s);
            }
            h.sent(ms(2));
            h.set.check_invariants();
            prop_assert_eq!(established(&h), 0);
            let st = *h.set.tcp_stats();
            prop_assert_eq!((st.syncookies_failed, st.syncookies_recv), (n, 0));
        }
    }
}

/// A SYN burst far larger than the RST cap arrives within one poll batch,
/// together with more RSTs than their queue holds: every SYN past the full
/// SYN queue gets a cookie SYN-ACK (cookies have their own queue and cap),
/// and the RST queue keeps its own cap and count.
#[test]
fn syn_burst_in_one_batch_all_get_cookies() {
    let mut h = small_syn_queue(true);
    h.listen(4096);
    fill_syn_queue(&mut h, 0);
    let rst_cap = h.set.profile.max_pending_resets;
    // SYNs to a closed port: one RST each, 10 past the RST queue's cap.
    for i in 0..rst_cap + 10 {
        let port = 10_000 + i as u16;
        h.deliver(ms(1), seg().dport(81).sport(port).syn().seq(1));
    }
    for i in 0..1000u16 {
        let s = seg().sport(20_000 + i).syn().seq(7).mss(1460);
        h.deliver(ms(1), s);
    }
    h.set.check_invariants();
    let out = h.sent(ms(1));
    let rsts = out.iter().filter(|s| s.is_rst()).count();
    let cookies = out.iter().filter(|s| s.is_synack()).count();
    assert_eq!((rsts, cookies, out.len()), (rst_cap, 1000, rst_cap + 1000));
    // Resets leave first, as before cookies had their own queue.
    assert!(out.iter().take(rst_cap).all(|s| s.is_rst()));
    let st = *h.set.tcp_stats();
    assert_eq!((st.syncookies_sent, st.listen_drops), (1000, 0));
    assert_eq!((st.rst_queue_full, st.out_rsts), (10, rst_cap as u64));
    assert_eq!(st.cookie_queue_full, 0);
}

/// Past `max_pending_cookies` between two polls a SYN is dropped and
/// counted (bounded memory); the next poll empties the queue.
#[test]
fn cookie_queue_is_capped_and_counted() {
    let mut p = Profile::linux();
    p.max_syn_backlog = 2;
    p.max_pending_cookies = 16;
    let mut h = Harness::with_profile(p);
    h.listen(4096);
    fill_syn_queue(&mut h, 0);
    for i in 0..20u16 {
        h.deliver(ms(1), seg().sport(20_000 + i).syn().seq(7).mss(1460));
    }
    h.set.check_invariants();
    assert_eq!(h.sent(ms(1)).len(), 16);
    let st = *h.set.tcp_stats();
    assert_eq!((st.syncookies_sent, st.cookie_queue_full), (16, 4));
    assert_eq!((st.listen_drops, st.rst_queue_full), (4, 0));
    h.deliver(ms(2), seg().sport(30_000).syn().seq(7).mss(1460));
    assert!(h.expect(ms(2)).is_synack());
}

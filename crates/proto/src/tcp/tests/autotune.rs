//! Buffer autotuning between two stacks in virtual time (`tcp/autotune.rs`):
//! receive DRS, the SO_RCVBUF lock, send growth with cwnd, idle release.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::pair::Pair;
use crate::sockets::{RecvError, SendError, SocketHandle, SocketSet};
use crate::tcp::{Profile, SeqNum};
use crate::time::{Duration, Instant};

/// Move `len` seeded bytes from `tx` (on side A if `a_sends`) to `rx`,
/// reading everything at every step; `watch` sees the pair after each
/// step. Panics unless every byte arrives intact (SHA-256).
fn transfer(
    p: &mut Pair,
    a_sends: bool,
    tx: SocketHandle,
    rx: SocketHandle,
    len: usize,
    seed: u64,
    mut watch: impl FnMut(&Pair),
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut sent_h, mut got_h) = (Sha256::new(), Sha256::new());
    let mut pending: Vec<u8> = Vec::new();
    let (mut left, mut got) = (len, 0usize);
    let mut buf = vec![0u8; 64 * 1024];
    let limit = p.now + Duration::from_secs(600);
    while got < len {
        {
            let set: &mut SocketSet = if a_sends { &mut p.a } else { &mut p.b };
            loop {
                if pending.is_empty() && left > 0 {
                    let n = left.min(64 * 1024);
                    pending = vec![0; n];
                    rng.fill_bytes(&mut pending);
                    sent_h.update(&pending);
                    left -= n;
                }
                if pending.is_empty() {
                    break;
                }
                match set.send(tx, &pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(SendError::WouldBlock) => break,
                    Err(e) => panic!("send: {e:?}"),
                }
            }
        }
        {
            let set: &mut SocketSet = if a_sends { &mut p.b } else { &mut p.a };
            loop {
                match set.recv(rx, &mut buf) {
                    Ok(n) => {
                        got_h.update(&buf[..n]);
                        got += n;
                    }
                    Err(RecvError::WouldBlock) => break,
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
        }
        p.step(limit);
        watch(p);
        assert!(p.now < limit, "transfer stalled at {got} of {len}");
    }
    assert_eq!(got, len);
    assert_eq!(sent_h.finalize(), got_h.finalize(), "stream intact");
}

/// Let virtual time pass with nobody sending.
fn idle(p: &mut Pair, d: Duration) {
    let until = p.now + d;
    while p.now < until {
        p.step(until);
    }
}

fn pair_with(seed: u64, profile: &Profile) -> Pair {
    let mut p = Pair::new(seed, 0, 0);
    p.a.set_profile(profile.clone());
    p.b.set_profile(profile.clone());
    p
}

/// A default socket starts at tcp_rmem[1] and, over a long fast transfer,
/// grows toward tcp_rmem[2] as the reader keeps up; the advertised right
/// edge never moves left (RFC 9293 3.8.6, RFC 7323 2.4).
#[test]
fn receive_buffer_grows_from_rmem1_toward_rmem2() {
    // Linux's slow start (no RFC 3465 limit), so the sender's cwnd, not
    // stretch ACKs, sets the pace and the reader's rate keeps rising.
    let prof = Profile {
        abc_limit_segments: 0,
        ..Profile::linux()
    };
    let mut p = pair_with(71, &prof);
    let (ca, cb) = p.connect(80);
    assert_eq!(p.b.recv_buffer_size(cb), Some(prof.rcvbuf_default));
    assert_eq!(p.b.mem_info(cb).unwrap().rcvbuf, 131_072);
    let mut edge: Option<SeqNum> = None;
    let mut max_wnd = 0;
    let mut caps = Vec::new();
    transfer(&mut p, true, ca, cb, 24 << 20, 1, |p| {
        let c = p.b.conn_for_test(cb);
        if let Some(e) = edge {
            assert!(!c.rcv_adv.lt(e), "right edge moved left");
        }
        edge = Some(c.rcv_adv);
        max_wnd = max_wnd.max(p.b.info(cb).unwrap().rcv_wnd);
        let m = p.b.mem_info(cb).unwrap();
        if caps.last() != Some(&m.rcvbuf) {
            caps.push(m.rcvbuf);
        }
    });
    let i = p.b.mem_info(cb).unwrap();
    println!("receive capacities: {caps:?}; max window {max_wnd}; {i:?}");
    assert!(i.rcv_rtt > Duration::ZERO, "a receiver RTT estimate");
    assert!(i.rcvbuf_grows >= 2, "grew more than once: {caps:?}");
    assert!(caps.windows(2).all(|w| w[0] < w[1]), "only grows: {caps:?}");
    assert!(i.rcvbuf >= 8 * 131_072 && i.rcvbuf <= prof.rcvbuf_max);
    assert!(max_wnd > 4 * 131_072, "the advertised window followed");
    assert_eq!(p.b.recv_buffer_size(cb), Some(i.rcvbuf), "getsockopt");

    // With a small tcp_rmem[2] the growth stops exactly there.
    let mut small = prof.clone();
    small.rcvbuf_max = 1 << 20;
    let mut p = pair_with(72, &small);
    let (ca, cb) = p.connect(80);
    transfer(&mut p, true, ca, cb, 8 << 20, 2, |_| {});
    assert_eq!(p.b.mem_info(cb).unwrap().rcvbuf, 1 << 20);
}

/// SO_RCVBUF (set on the listener, inherited by the accepted socket)
/// fixes the size: no growth, the window never exceeds it.
#[test]
fn so_rcvbuf_disables_receive_autotuning() {
    let mut p = Pair::new(73, 0, 0);
    let l = p.b.tcp_socket().unwrap();
    p.b.set_recv_buffer_size(l, 65_536).unwrap();
    p.b.bind(l, crate::wire::Ipv4Addr::UNSPECIFIED, 81).unwrap();
    p.b.listen(l, 4).unwrap();
    let c = p.a.tcp_socket().unwrap();
    p.a.connect(p.now, c, crate::wire::Ipv4Addr::new(198, 18, 1, 2), 81)
        .unwrap();
    let deadline = p.now + Duration::from_secs(10);
    let s = loop {
        p.step(deadline);
        if let Ok(s) = p.b.accept(l) {
            break s;
        }
        assert!(p.now < deadline);
    };
    let mut max_wnd = 0;
    transfer(&mut p, true, c, s, 4 << 20, 3, |p| {
        max_wnd = max_wnd.max(p.b.info(s).unwrap().rcv_wnd);
    });
    let i = p.b.mem_info(s).unwrap();
    assert_eq!(i.rcvbuf, 65_536);
    assert_eq!(i.rcvbuf_grows, 0);
    assert!(max_wnd <= 65_536, "window {max_wnd}");
    assert_eq!(p.b.recv_buffer_size(s), Some(65_536));

    // Setting it on an established autotuned socket locks it from then on.
    let (ca, cb) = p.connect(82);
    transfer(&mut p, true, ca, cb, 2 << 20, 4, |_| {});
    let grown = p.b.mem_info(cb).unwrap().rcvbuf;
    assert!(grown > 131_072);
    p.b.set_recv_buffer_size(cb, grown).unwrap();
    transfer(&mut p, true, ca, cb, 8 << 20, 5, |_| {});
    assert_eq!(p.b.mem_info(cb).unwrap().rcvbuf, grown);
}

/// A connection that moved 1 MiB each way gives all ring memory back
/// after the idle period, then moves data again byte-exactly.
#[test]
fn idle_connection_gives_ring_memory_back() {
    let mut p = Pair::new(74, 0, 0);
    let (ca, cb) = p.connect(80);
    transfer(&mut p, true, ca, cb, 1 << 20, 6, |_| {});
    transfer(&mut p, false, cb, ca, 1 << 20, 7, |_| {});
    let held = |p: &Pair| {
        let (a, b) = (p.a.mem_info(ca).unwrap(), p.b.mem_info(cb).unwrap());
        a.rcv_alloc + a.snd_alloc + b.rcv_alloc + b.snd_alloc
    };
    assert!(held(&p) > 0, "rings allocated after traffic");
    let totals = p.b.mem_totals();
    assert_eq!(
        totals.rcv_alloc + totals.snd_alloc,
        p.b.mem_info(cb).map_or(0, |m| m.rcv_alloc + m.snd_alloc)
    );
    // Not yet: well within the idle period.
    idle(&mut p, Duration::from_millis(300));
    assert!(held(&p) > 0, "released too early");
    idle(&mut p, Duration::from_secs(2));
    assert_eq!(held(&p), 0, "{:?} {:?}", p.a.mem_info(ca), p.b.mem_info(cb));
    assert!(p.a.mem_info(ca).unwrap().idle_releases >= 1);
    let totals = p.a.mem_totals();
    assert_eq!(totals.rcv_alloc + totals.snd_alloc, 0);
    assert!(totals.idle_releases >= 1);
    assert!(p.b.mem_info(cb).unwrap().idle_releases >= 1);
    // The timer stops once nothing is held.
    assert_eq!(p.a.conn_for_test(ca).tune.idle_at, None);
    assert_eq!(p.b.conn_for_test(cb).tune.idle_at, None);
    // Capacities (and the promised window) are kept.
    assert!(p.b.mem_info(cb).unwrap().rcvbuf > 131_072);
    transfer(&mut p, true, ca, cb, 1 << 20, 8, |_| {});
    transfer(&mut p, false, cb, ca, 256 << 10, 9, |_| {});
    idle(&mut p, Duration::from_secs(3));
    assert_eq!(held(&p), 0);
}

/// Unread bytes keep their ring (the idle release frees only empty
/// rings), the check backs off instead of firing every second, and the
/// bytes read later are intact.
#[test]
fn idle_release_keeps_unread_bytes_and_backs_off() {
    let mut p = Pair::new(76, 0, 0);
    let (ca, cb) = p.connect(80);
    transfer(&mut p, true, ca, cb, 256 << 10, 13, |_| {});
    assert_eq!(p.a.send(ca, b"kept while idle"), Ok(15));
    idle(&mut p, Duration::from_secs(200));
    let (a, b) = (p.a.mem_info(ca).unwrap(), p.b.mem_info(cb).unwrap());
    assert_eq!(a.snd_alloc + a.rcv_alloc, 0, "the sender's rings went back");
    assert!(b.rcv_alloc > 0, "unread bytes keep their ring");
    let next = p.b.conn_for_test(cb).tune.idle_at.expect("still watching");
    assert!(
        next - p.now > Duration::from_secs(8),
        "backed off: {next:?}"
    );
    let mut buf = [0u8; 64];
    assert_eq!(p.b.recv(cb, &mut buf), Ok(15));
    assert_eq!(&buf[..15], b"kept while idle");
    // The read ends the backed-off wait: released within the idle period.
    idle(&mut p, Duration::from_secs(2));
    assert_eq!(p.b.mem_info(cb).unwrap().rcv_alloc, 0);
}

/// Without SO_SNDBUF the send buffer starts at tcp_wmem[1], takes Linux's
/// first expansion (2 x 10 x 4352 = 87040 at MSS 1448) and grows with cwnd
/// up to tcp_wmem[2]; with SO_SNDBUF it stays put.
#[test]
fn send_buffer_grows_with_cwnd_unless_set() {
    let prof = Profile::linux();
    let mut p = Pair::new(75, 0, 0);
    let (ca, cb) = p.connect(80);
    assert_eq!(p.a.send_buffer_size(ca), Some(prof.sndbuf_default));
    assert_eq!(p.a.send(ca, &[1u8; 200_000]), Ok(87_040));
    assert_eq!(p.a.send_buffer_size(ca), Some(87_040));
    let mut last_cap = 0;
    let (mut got, mut buf) = (0, vec![0u8; 65_536]);
    while got < 87_040 {
        p.step(p.now + Duration::from_secs(1));
        while let Ok(n) = p.b.recv(cb, &mut buf) {
            assert!(buf[..n].iter().all(|&x| x == 1));
            got += n;
        }
    }
    let mut sizes = Vec::new();
    transfer(&mut p, true, ca, cb, 16 << 20, 11, |p| {
        let (t, i) = (p.a.info(ca).unwrap(), p.a.mem_info(ca).unwrap());
        assert!(i.sndbuf >= last_cap, "never shrinks");
        // Linux's rule: never more than 2 x cwnd segments x per_mss.
        let segs = (t.cwnd / t.snd_mss).max(10);
        assert!(i.sndbuf <= (2 * segs * 4352).max(87_040) || i.sndbuf == last_cap);
        if i.sndbuf != last_cap {
            sizes.push(i.sndbuf);
        }
        last_cap = i.sndbuf;
    });
    let i = p.a.mem_info(ca).unwrap();
    println!("send capacities {sizes:?}; {i:?}");
    assert!(i.sndbuf_grows >= 2);
    assert!(i.sndbuf > 4 * 87_040 && i.sndbuf <= prof.sndbuf_max);

    // SO_SNDBUF fixes it.
    let (c2, s2) = p.connect(81);
    p.a.set_send_buffer_size(c2, 32_768).unwrap();
    transfer(&mut p, true, c2, s2, 2 << 20, 12, |p| {
        assert_eq!(p.a.mem_info(c2).unwrap().sndbuf, 32_768);
    });
    assert_eq!(p.a.mem_info(c2).unwrap().sndbuf_grows, 0);
    assert_eq!(p.a.send_buffer_size(c2), Some(32_768));
    let _ = Instant::ZERO;
}

//! The ready queue keeps a socket after it sent a segment only while
//! `Connection::may_send_more` holds. These tests run whole exchanges
//! between two socket sets and require (1) after every full drain, no
//! socket outside the ready queue has anything to send (nothing is
//! stranded, every timer noted), and (2) the same bytes on the wire, in
//! the same order, as with the old rule (poll every queued socket, requeue
//! after every segment).

use super::OLD_RULE;
use crate::sockets::{RecvError, SendError, Shutdown, SocketHandle, SocketSet, TcpStats};
use crate::tcp::tests::pair::Pair;
use crate::time::{Duration, Instant};
use crate::wire::Ipv4Addr;

/// Pair's server address.
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
const PORT: u16 = 8080;

/// Byte `k` of every stream.
fn pattern(k: usize) -> u8 {
    (k % 251) as u8
}

/// A socket outside the ready queue must have nothing to send now: a
/// clone of its connection polled at `now` yields no segment. Every
/// socket's noted timer is its connection's next deadline.
fn assert_nothing_stranded(set: &SocketSet, now: Instant) {
    for slot in &set.slots {
        let Some(sock) = &slot.sock else { continue };
        let Some(conn) = &sock.conn else { continue };
        assert_eq!(sock.timer_at, conn.next_deadline(), "stale timer");
        if sock.queued_tx {
            continue;
        }
        // The room `next_pending` offers on a 1500-byte MTU: a full MSS
        // less any SACK blocks (a smaller probe would see a "full" segment
        // where the real room sees a Nagle-held partial one).
        let room = conn.snd_mss.saturating_sub(conn.sack_option_len());
        let mut c = conn.clone();
        let out = c.poll_output(now, &set.profile, room);
        assert!(
            out.is_none(),
            "stranded in {:?}: {:?}",
            conn.state,
            out.map(|o| (o.repr.flags, o.repr.seq, o.data_len))
        );
    }
}

struct Client {
    h: SocketHandle,
    sent: usize,
    got: usize,
    done: bool,
}

struct Server {
    h: SocketHandle,
    got: usize,
    eof: bool,
    sent: usize,
    done: bool,
}

/// The scenario: `conns` clients each send `len` bytes and shut down the
/// write side; each server child reads to EOF, replies `len` bytes and
/// closes; the client reads to EOF and closes.
#[derive(Clone, Copy)]
struct Scenario {
    seed: u64,
    conns: usize,
    len: usize,
    /// Socket buffer sizes (both ends).
    buf: usize,
    /// Loss in parts per thousand.
    loss: u32,
    /// Server children do not read before this time (zero window).
    read_after: Duration,
}

/// The two sets on a wire with `s.loss` loss and 1-4 ms of delay (every
/// segment reordered within that), recording every segment sent and
/// checking `assert_nothing_stranded` after every drain.
fn net(s: &Scenario) -> Pair {
    let mut net = Pair::new(s.seed, s.loss, 1000);
    net.latency = Duration::from_millis(1);
    net.trace = Some(Vec::new());
    net.after_drain = Some(assert_nothing_stranded);
    net
}

/// Send from `*sent` up to `len`; true when all of it is in the buffer.
fn pump(set: &mut SocketSet, h: SocketHandle, sent: &mut usize, len: usize) -> bool {
    while *sent < len {
        let chunk: Vec<u8> = (*sent..len.min(*sent + 4096)).map(pattern).collect();
        match set.send(h, &chunk) {
            Ok(n) => *sent += n,
            Err(SendError::WouldBlock) => return false,
            Err(e) => panic!("send: {e:?}"),
        }
    }
    true
}

/// Read and check everything available; true at EOF.
fn sink(set: &mut SocketSet, h: SocketHandle, got: &mut usize) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match set.recv(h, &mut buf) {
            Ok(n) => {
                for (i, b) in buf[..n].iter().enumerate() {
                    assert_eq!(*b, pattern(*got + i), "byte {}", *got + i);
                }
                *got += n;
            }
            Err(RecvError::WouldBlock) => return false,
            Err(RecvError::Eof) => return true,
            Err(e) => panic!("recv: {e:?}"),
        }
    }
}

/// What a run leaves to compare: the wire trace and both sets' counters.
type Outcome = (Vec<(bool, Vec<u8>)>, TcpStats, TcpStats);

/// Run the scenario under one queue rule.
fn run(s: Scenario, old_rule: bool) -> Outcome {
    OLD_RULE.with(|c| c.set(old_rule));
    let mut net = net(&s);
    let l = net.b.tcp_socket().unwrap();
    net.b.set_recv_buffer_size(l, s.buf).unwrap();
    net.b.set_send_buffer_size(l, s.buf).unwrap();
    net.b.bind(l, B, PORT).unwrap();
    net.b.listen(l, 1024).unwrap();
    let mut clients: Vec<Client> = (0..s.conns)
        .map(|_| {
            let h = net.a.tcp_socket().unwrap();
            net.a.set_recv_buffer_size(h, s.buf).unwrap();
            net.a.set_send_buffer_size(h, s.buf).unwrap();
            net.a.connect(net.now, h, B, PORT).unwrap();
            Client {
                h,
                sent: 0,
                got: 0,
                done: false,
            }
        })
        .collect();
    let mut servers: Vec<Server> = Vec::new();
    let deadline = Instant::ZERO + Duration::from_secs(600);
    while net.now < deadline {
        net.step(deadline);
        while let Ok(h) = net.b.accept(l) {
            servers.push(Server {
                h,
                got: 0,
                eof: false,
                sent: 0,
                done: false,
            });
        }
        let reading = net.now >= Instant::ZERO + s.read_after;
        for sv in servers.iter_mut().filter(|sv| !sv.done) {
            if !sv.eof && reading {
                sv.eof = sink(&mut net.b, sv.h, &mut sv.got);
            }
            if sv.eof && pump(&mut net.b, sv.h, &mut sv.sent, s.len) {
                assert_eq!(sv.got, s.len);
                net.b.close(sv.h).unwrap();
                sv.done = true;
            }
        }
        for c in clients.iter_mut().filter(|c| !c.done) {
            if c.sent < s.len && pump(&mut net.a, c.h, &mut c.sent, s.len) {
                net.a.shutdown(c.h, Shutdown::Write).unwrap();
            }
            if sink(&mut net.a, c.h, &mut c.got) {
                assert_eq!(c.got, s.len);
                net.a.close(c.h).unwrap();
                c.done = true;
            }
        }
        let all_done = clients.iter().all(|c| c.done) && servers.len() == s.conns;
        if all_done && servers.iter().all(|sv| sv.done) && net.wire_is_empty() {
            break;
        }
    }
    assert!(clients.iter().all(|c| c.done), "clients did not finish");
    assert!(servers.iter().all(|sv| sv.done), "servers did not finish");
    OLD_RULE.with(|c| c.set(false));
    let trace = net.trace.take().unwrap_or_default();
    (trace, *net.a.tcp_stats(), *net.b.tcp_stats())
}

/// The same scenario under both rules: identical wire traces and counters.
fn same_wire(s: Scenario) {
    let (new, new_a, new_b) = run(s, false);
    let (old, old_a, old_b) = run(s, true);
    assert_eq!(new.len(), old.len(), "segment count");
    for (i, (n, o)) in new.iter().zip(&old).enumerate() {
        assert_eq!(n, o, "segment {i} differs");
    }
    assert_eq!(new_a, old_a, "counters of A");
    assert_eq!(new_b, old_b, "counters of B");
}

#[test]
fn conn_rate_exchange_sends_the_same_segments() {
    same_wire(Scenario {
        seed: 1,
        conns: 40,
        len: 1,
        buf: 16384,
        loss: 0,
        read_after: Duration::ZERO,
    });
}

/// Several segments per socket in one drain (window-limited, with Nagle
/// tails) and a FIN right after the data.
#[test]
fn several_segments_per_poll_and_fin_after_data() {
    same_wire(Scenario {
        seed: 2,
        conns: 4,
        len: 30_000,
        buf: 4096,
        loss: 0,
        read_after: Duration::ZERO,
    });
}

/// Two connections moving 100,000 bytes through 16 KiB buffers (seed 11):
/// Nagle-held partial segments must not look stranded.
#[test]
fn partial_segments_held_by_nagle_are_not_stranded() {
    same_wire(Scenario {
        seed: 11,
        conns: 2,
        len: 100_000,
        buf: 16 * 1024,
        loss: 0,
        read_after: Duration::ZERO,
    });
}

/// Retransmissions, SACK recovery and tail loss probes.
#[test]
fn lossy_exchanges_send_the_same_segments() {
    for seed in 3..6 {
        same_wire(Scenario {
            seed,
            conns: 6,
            len: 20_000,
            buf: 8192,
            loss: 40,
            read_after: Duration::ZERO,
        });
    }
}

/// Receivers that do not read for two seconds: zero windows, persist
/// probes, then the window opening again.
#[test]
fn zero_window_then_reading_sends_the_same_segments() {
    same_wire(Scenario {
        seed: 7,
        conns: 3,
        len: 40_000,
        buf: 4096,
        loss: 0,
        read_after: Duration::from_secs(2),
    });
}

/// Poll a connection until it has nothing more; whenever
/// `may_send_more` says no, the poll must return nothing and change
/// nothing.
fn poll_until_quiet(c: &mut crate::tcp::connection::Connection, p: &crate::tcp::Profile) {
    let now = Instant::ZERO + Duration::from_millis(10);
    for _ in 0..64 {
        let more = c.may_send_more() && !c.window_bound(1400);
        let before = format!("{c:?}");
        let out = c.poll_output(now, p, 1400);
        if !more {
            assert!(out.is_none(), "sent after a no: {:?}", out.map(|o| o.repr));
            assert_eq!(before, format!("{c:?}"), "changed after a no");
            return;
        }
        if out.is_none() {
            return;
        }
    }
    panic!("no end of segments");
}

/// Every combination of the flags that make output due, on a connection
/// with data in flight and with data acknowledged, in each state after
/// the handshake: a "no" never hides a segment or a state change (a
/// retransmission that goes first while a FIN still waits, an ACK owed
/// beside data, a probe, a go-back-N rewind).
#[test]
fn may_send_more_never_hides_output() {
    use crate::tcp::State;
    let s = Scenario {
        seed: 9,
        conns: 1,
        len: 0,
        buf: 16384,
        loss: 0,
        read_after: Duration::ZERO,
    };
    let mut net = net(&s);
    let l = net.b.tcp_socket().unwrap();
    net.b.bind(l, B, PORT).unwrap();
    net.b.listen(l, 4).unwrap();
    let h = net.a.tcp_socket().unwrap();
    net.a.connect(net.now, h, B, PORT).unwrap();
    let deadline = Instant::ZERO + Duration::from_secs(5);
    while net.b.accept(l).is_err() {
        assert!(net.now < deadline, "no handshake");
        net.step(deadline);
    }
    let data: Vec<u8> = (0..5000).map(pattern).collect();
    assert_eq!(net.a.send(h, &data).unwrap(), 5000);
    let profile = net.a.profile.clone();
    // In flight (sent, not acknowledged), then acknowledged.
    let mut snapshots = Vec::new();
    net.drain();
    snapshots.push(net.a.conn_for_test(h).clone());
    for _ in 0..20 {
        net.step(deadline);
    }
    snapshots.push(net.a.conn_for_test(h).clone());
    let states = [
        State::Established,
        State::FinWait1,
        State::CloseWait,
        State::Closing,
        State::LastAck,
    ];
    for base in &snapshots {
        for state in states {
            for mask in 0u32..128 {
                let mut c = base.clone();
                c.state = state;
                c.ack_now = mask & 1 != 0;
                c.fast_rtx = mask & 2 != 0;
                c.tlp_pending = mask & 4 != 0;
                c.probe_pending = mask & 8 != 0;
                c.fin_queued = mask & 16 != 0;
                if mask & 32 != 0 {
                    // Go-back-N after an RTO.
                    c.snd_nxt = c.snd_una;
                }
                if mask & 64 != 0 {
                    // Nagle off.
                    c.nodelay = true;
                }
                poll_until_quiet(&mut c, &profile);
            }
        }
    }
}

//! Ten thousand concurrent connections to one listener, each echoing 4 KiB,
//! then every one of them through TIME_WAIT, in virtual time.

mod tcp_common;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sockstack::link::memory::WireConfig;
use sockstack::proto::{
    Duration, Instant, RecvError, SendError, SocketHandle, SocketSet, TcpState, TcpStats,
};
use sockstack::sim::{PairConfig, TcpPair};
use tcp_common::*;

const ECHO: usize = 4096;
const PORT: u16 = 7;

/// The bytes connection `i` sends (and must get back).
fn payload(i: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6563_686f ^ i as u64);
    let mut v = vec![0; ECHO];
    rng.fill_bytes(&mut v);
    v
}

/// Connections in TIME_WAIT (a snapshot scan).
fn time_wait(ss: &SocketSet) -> usize {
    ss.snapshot()
        .iter()
        .filter(|r| r.state == TcpState::TimeWait)
        .count()
}

struct Client {
    h: SocketHandle,
    data: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
}

impl Client {
    /// Send what fits, read what came back; true when the echo is complete.
    fn step(&mut self, ss: &mut SocketSet, buf: &mut [u8]) -> bool {
        while self.sent < ECHO {
            match ss.send(self.h, &self.data[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(SendError::WouldBlock) => break,
                Err(e) => panic!("client send: {e:?}"),
            }
        }
        loop {
            match ss.recv(self.h, buf) {
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(RecvError::WouldBlock) => break,
                Err(e) => panic!("client recv after {} bytes: {e:?}", self.got.len()),
            }
        }
        assert!(self.got.len() <= ECHO, "echo longer than sent");
        self.got.len() == ECHO
    }
}

struct Echo {
    h: SocketHandle,
    pending: Vec<u8>,
    echoed: usize,
    eof: bool,
}

impl Echo {
    /// Echo what arrives; close after EOF once everything went back.
    /// True when closed.
    fn step(&mut self, ss: &mut SocketSet, buf: &mut [u8]) -> bool {
        while !self.eof {
            match ss.recv(self.h, buf) {
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(RecvError::WouldBlock) => break,
                Err(RecvError::Eof) => self.eof = true,
                Err(e) => panic!("server recv: {e:?}"),
            }
        }
        while !self.pending.is_empty() {
            match ss.send(self.h, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                    self.echoed += n;
                }
                Err(SendError::WouldBlock) => break,
                Err(e) => panic!("server send: {e:?}"),
            }
        }
        if self.eof && self.pending.is_empty() {
            assert_eq!(self.echoed, ECHO, "server echoed a whole request");
            ss.close(self.h).expect("server close");
            return true;
        }
        false
    }
}

/// Clients and echo servers of one run.
struct EchoRun {
    pair: TcpPair,
    listener: SocketHandle,
    clients: Vec<Client>,
    echoes: Vec<Echo>,
}

impl EchoRun {
    fn new(cfg: PairConfig, backlog: u32) -> EchoRun {
        let mut pair = TcpPair::new(cfg);
        let listener = pair.listen(PORT, backlog).expect("listen");
        // A burst to an unresolved neighbour is mostly dropped (as on
        // Linux): resolve first, retrying on a lossy wire.
        let resolved = (1..=5).any(|i| pair.resolve_neighbours(Instant::from_secs(4 * i)));
        assert!(resolved, "ARP + ping");
        EchoRun {
            pair,
            listener,
            clients: Vec::new(),
            echoes: Vec::new(),
        }
    }

    /// Open `conns` connections, `batch` per virtual millisecond, echo 4 KiB
    /// on each, and return once every client has its echo (none closed).
    fn open_and_echo(&mut self, conns: usize, batch: usize, limit: Duration) {
        self.open_and_echo_accepting_from(conns, batch, limit, Duration::ZERO);
    }

    /// [`EchoRun::open_and_echo`] with a server that starts calling accept
    /// only `accept_after` after the first connect.
    fn open_and_echo_accepting_from(
        &mut self,
        conns: usize,
        batch: usize,
        limit: Duration,
        accept_after: Duration,
    ) {
        let pair = &mut self.pair;
        let (client, server) = (pair.client, pair.server);
        let server_ip = pair.addr(server);
        let listener = self.listener;
        let t0 = pair.net.now();
        // Wake the net for every batch of connects.
        for b in 0..conns.div_ceil(batch) {
            pair.net
                .at(t0 + Duration::from_millis(1 + b as u64), |_net| {});
        }
        let accept_from = t0 + accept_after;
        pair.net.at(accept_from, |_net| {});
        let clients = &mut self.clients;
        let echoes = &mut self.echoes;
        let mut open_clients: Vec<usize> = Vec::new();
        let mut echoed = 0usize;
        let mut buf = vec![0u8; 65536];
        let mut seen = (u64::MAX, u64::MAX);
        let all_echoed = pair.run_until(t0 + limit, |net| {
            let now = net.now();
            // Open this millisecond's batch.
            let ms = now.saturating_duration_since(t0).total_millis() as usize;
            let due = (ms * batch).min(conns);
            while clients.len() < due {
                let ss = net.stack_mut(client).sockets_mut();
                let h = ss.tcp_socket().expect("client socket");
                ss.connect(now, h, server_ip, PORT).expect("connect");
                open_clients.push(clients.len());
                clients.push(Client {
                    h,
                    data: payload(clients.len()),
                    sent: 0,
                    got: Vec::new(),
                });
            }
            let ev = (
                net.stack(client).sockets().events(),
                net.stack(server).sockets().events(),
            );
            if ev == seen && now != accept_from {
                return false;
            }
            seen = ev;
            let ss = net.stack_mut(server).sockets_mut();
            while let Some(h) = (now >= accept_from)
                .then(|| ss.accept(listener).ok())
                .flatten()
            {
                echoes.push(Echo {
                    h,
                    pending: Vec::new(),
                    echoed: 0,
                    eof: false,
                });
            }
            for e in echoes.iter_mut() {
                assert!(!e.step(ss, &mut buf), "no client has closed yet");
            }
            let ss = net.stack_mut(client).sockets_mut();
            open_clients.retain(|&i| {
                let c = &mut clients[i];
                if ss.state(c.h) == Some(TcpState::SynSent) {
                    return true;
                }
                let done = c.step(ss, &mut buf);
                if done {
                    echoed += 1;
                }
                !done
            });
            clients.len() == conns && open_clients.is_empty()
        });
        if !all_echoed {
            for c in clients.iter().filter(|c| c.got.len() < ECHO).take(3) {
                eprintln!(
                    "client {:?} sent {} got {} info {:?}",
                    pair.net.stack(client).sockets().local_addr(c.h),
                    c.sent,
                    c.got.len(),
                    pair.net.stack(client).sockets().info(c.h)
                );
            }
            eprintln!("server rows {:?}", rows(pair, server));
            eprintln!(
                "server stats {:?}",
                pair.net.stack(server).sockets().tcp_stats()
            );
        }
        assert!(
            all_echoed,
            "at {}: {echoed} of {} connections echoed, {} accepted; client {:?}",
            pair.net.now(),
            clients.len(),
            echoes.len(),
            pair.net.stack(client).sockets().tcp_stats()
        );
        for (i, c) in clients.iter().enumerate() {
            assert!(c.got == c.data, "connection {i}: echo differs");
        }
        // All of them are open at once on both sides.
        assert_eq!(echoes.len(), conns);
        assert_eq!(count_state(pair, server, TcpState::Established), conns);
        assert_eq!(count_state(pair, client, TcpState::Established), conns);
    }

    /// Close every client (they close first); run until the server has
    /// closed every connection and all clients sit in TIME_WAIT. Returns
    /// when the first and the last entered TIME_WAIT.
    fn close_all(&mut self, limit: Duration) -> (Instant, Instant) {
        self.close_clients();
        self.wait_all_time_wait(limit)
    }

    fn close_clients(&mut self) {
        let client = self.pair.client;
        for c in &self.clients {
            self.pair.sockets(client).close(c.h).expect("client close");
        }
    }

    fn wait_all_time_wait(&mut self, limit: Duration) -> (Instant, Instant) {
        let pair = &mut self.pair;
        let (client, server) = (pair.client, pair.server);
        let conns = self.clients.len();
        let echoes = &mut self.echoes;
        let mut open_echoes: Vec<usize> = (0..echoes.len()).collect();
        let mut first_tw: Option<Instant> = None;
        let mut buf = vec![0u8; 65536];
        let t0 = pair.net.now();
        let all_tw = pair.run_until(t0 + limit, |net| {
            let ss = net.stack_mut(server).sockets_mut();
            open_echoes.retain(|&i| !echoes[i].step(ss, &mut buf));
            let tw = time_wait(net.stack(client).sockets());
            if tw > 0 && first_tw.is_none() {
                first_tw = Some(net.now());
            }
            open_echoes.is_empty() && tw == conns && net.stack(server).sockets().len() == 1
        });
        assert!(
            all_tw,
            "at {}: {} server connections open, client TIME_WAIT {}; server {:?}",
            pair.net.now(),
            open_echoes.len(),
            time_wait(pair.net.stack(client).sockets()),
            rows(pair, server).iter().take(5).collect::<Vec<_>>()
        );
        assert_eq!(count_state(pair, client, TcpState::TimeWait), conns);
        assert_eq!(pair.net.stack(client).sockets().len(), conns);
        (first_tw.expect("some TIME_WAIT"), pair.net.now())
    }

    /// Run the servers until every connection is closed and gone on both
    /// sides (only the listener left), without asking that all clients be in
    /// TIME_WAIT at once: under heavy loss some leave before others enter.
    fn wait_all_gone(&mut self, limit: Duration) {
        let pair = &mut self.pair;
        let (client, server) = (pair.client, pair.server);
        let echoes = &mut self.echoes;
        let mut open_echoes: Vec<usize> = (0..echoes.len()).collect();
        let mut buf = vec![0u8; 65536];
        let t0 = pair.net.now();
        let gone = pair.run_until(t0 + limit, |net| {
            let ss = net.stack_mut(server).sockets_mut();
            open_echoes.retain(|&i| !echoes[i].step(ss, &mut buf));
            open_echoes.is_empty()
                && net.stack(client).sockets().is_empty()
                && net.stack(server).sockets().len() == 1
        });
        assert!(
            gone,
            "at {}: {} server connections open; client {:?}; server {:?}",
            pair.net.now(),
            open_echoes.len(),
            rows(pair, client).iter().take(5).collect::<Vec<_>>(),
            rows(pair, server).iter().take(5).collect::<Vec<_>>()
        );
    }

    /// Close the listener and check both socket tables are empty.
    fn assert_empty(&mut self) {
        let pair = &mut self.pair;
        let (client, server) = (pair.client, pair.server);
        assert_eq!(
            pair.net.stack(client).sockets().len(),
            0,
            "client sockets left: {:?}",
            rows(pair, client).iter().take(5).collect::<Vec<_>>()
        );
        assert!(pair.net.stack(client).sockets().snapshot().is_empty());
        pair.sockets(server)
            .close(self.listener)
            .expect("close listener");
        pair.net.poll();
        assert!(pair.net.stack(server).sockets().is_empty());
        assert!(pair.net.stack(server).sockets().snapshot().is_empty());
        let st = self.stats();
        assert_eq!(st.0.active_opens, self.clients.len() as u64);
        assert_eq!(st.1.passive_opens, self.clients.len() as u64);
    }

    fn stats(&self) -> (TcpStats, TcpStats) {
        let net = &self.pair.net;
        (
            *net.stack(self.pair.client).sockets().tcp_stats(),
            *net.stack(self.pair.server).sockets().tcp_stats(),
        )
    }
}

/// No bandwidth limit: frames sent at one instant arrive together, so the
/// net steps per burst rather than per frame.
fn burst_wire() -> WireConfig {
    WireConfig::ethernet()
        .with_delay(Duration::from_micros(100))
        .with_rx_queue_frames(1 << 17)
}

#[test]
fn ten_thousand_echo_connections_then_time_wait() {
    const CONNS: usize = 10_000;
    let wall = std::time::Instant::now();
    let cfg = PairConfig::default()
        .with_wire(burst_wire())
        .with_seed(10_000);
    let mut run = EchoRun::new(cfg, 4096);
    run.open_and_echo(CONNS, 500, secs(60));
    let echo_done = run.pair.net.now();
    let (first_tw, last_tw) = run.close_all(secs(30));
    let client = run.pair.client;

    // TIME_WAIT lasts 60 s: nobody leaves early ...
    run.pair
        .net
        .run_until(first_tw + secs(60) - Duration::from_micros(1));
    assert_eq!(
        time_wait(run.pair.net.stack(client).sockets()),
        CONNS,
        "a connection left TIME_WAIT before 60 s"
    );
    // ... and everybody has left 60 s after the last one entered.
    run.pair.net.run_until(last_tw + secs(60));
    run.assert_empty();
    let st = run.stats();
    assert_eq!((st.0.retrans_segs, st.1.retrans_segs), (0, 0), "clean wire");
    println!(
        "{CONNS} connections echoed {ECHO} B each by {echo_done}, TIME_WAIT {first_tw}..{last_tw}, \
         empty by {}; {} steps, {:.2} s wall; client {:?}; server {:?}",
        run.pair.net.now(),
        run.pair.net.steps(),
        wall.elapsed().as_secs_f64(),
        st.0,
        st.1
    );
}

/// The same story on a lossy wire (3 % loss, 10 % reordering): lost SYNs,
/// SYN-ACKs, final ACKs, data, FINs and last ACKs are all recovered, and
/// every socket is gone once TIME_WAIT has run out.
#[test]
fn two_thousand_echo_connections_on_a_lossy_wire() {
    const CONNS: usize = 2_000;
    let wall = std::time::Instant::now();
    let cfg = PairConfig::default()
        .with_wire(burst_wire())
        .with_impair(lossy(0.03, 0.10))
        .with_seed(2_000);
    let mut run = EchoRun::new(cfg, 4096);
    run.open_and_echo(CONNS, 200, secs(120));
    run.close_clients();
    run.wait_all_gone(secs(300));
    run.assert_empty();
    let (client, server) = (run.pair.client, run.pair.server);
    let st = run.stats();
    assert!(st.0.retrans_segs > 0 && st.1.retrans_segs > 0);
    println!(
        "{CONNS} lossy connections done by {}; {} steps, {:.2} s wall; client {:?}; server {:?}; \
         impair {:?} / {:?}",
        run.pair.net.now(),
        run.pair.net.steps(),
        wall.elapsed().as_secs_f64(),
        st.0,
        st.1,
        run.pair.impair_stats(client),
        run.pair.impair_stats(server),
    );
}

/// Backlog 8, 100 clients one per millisecond, and a server that calls
/// accept only after 3 s:
/// the accept queue overflows (Linux: final ACKs dropped, SYN-ACKs
/// retransmitted, further SYNs dropped), clients that believe they are
/// connected send their requests anyway, and once the server accepts,
/// every connection completes and echoes correctly.
#[test]
fn accept_queue_overflow_recovers() {
    const CONNS: usize = 100;
    let cfg = PairConfig::default().with_wire(burst_wire()).with_seed(8);
    let mut run = EchoRun::new(cfg, 8);
    // One connect per millisecond: the clients' timers do not all fire in
    // the same instant (a burst larger than the queue would lose all but
    // backlog + 1 of its final ACKs again, every round).
    run.open_and_echo_accepting_from(CONNS, 1, secs(60), secs(3));
    let st = run.stats();
    assert!(
        st.1.listen_overflows > 0,
        "the queue overflowed: {:?}",
        st.1
    );
    run.close_all(secs(30));
    let (client, server) = (run.pair.client, run.pair.server);
    let t = run.pair.net.now() + secs(61);
    run.pair.net.run_until(t);
    run.assert_empty();
    let st = run.stats();
    assert_eq!(st.0.estab_resets + st.1.estab_resets, 0, "no resets");
    println!(
        "overflow run done by {}: client {:?}; server {:?}; rows {:?}",
        run.pair.net.now(),
        st.0,
        st.1,
        (rows(&run.pair, client).len(), rows(&run.pair, server).len())
    );
}

/// Every SYN-ACK of the server is lost (a one-way outage, or spoofed SYNs):
/// 3,000 connects fill the SYN queue to tcp_max_syn_backlog (2,048), the
/// rest are answered with SYN cookies (no state kept; beyond the stateless
/// reply queue's cap the SYN is dropped) and counted; half-open connections give up after
/// tcp_synack_retries = 5 timeouts, the clients after tcp_syn_retries = 6
/// (127 s, ETIMEDOUT); the tables empty, and once the outage ends a new
/// connection is served at once.
///
/// The clients' retransmitted SYNs each restart the SYN-ACK timer at the
/// current timeout, as Linux's `tcp_check_req` does (`mod_timer_pending`):
/// the timer fires at 2, 5, 11, 23, 47 s (backoff 1 .. 32 s), the last SYN
/// at 63 s pushes the sixth expiry from 79 s to 95 s, and the half-open
/// connections end there (63 s if the clients stayed quiet).
#[test]
fn syn_queue_fills_expires_and_recovers() {
    const CONNS: usize = 3_000;
    let cfg = PairConfig::default()
        .with_wire(burst_wire())
        .with_seed(2048);
    let mut pair = TcpPair::new(cfg);
    let (client, server) = (pair.client, pair.server);
    let server_ip = pair.addr(server);
    let l = pair.listen(PORT, 4096).unwrap();
    assert!(pair.resolve_neighbours(Instant::from_secs(1)));
    pair.set_drop_rule(
        server,
        Some(Box::new(|_, f| {
            tcp_fields(f).is_some_and(|(fl, _, _)| fl & (SYN | ACK) == SYN | ACK)
        })),
    );
    let t0 = pair.net.now();
    let cs: Vec<_> = (0..CONNS)
        .map(|_| {
            let ss = pair.sockets(client);
            let c = ss.tcp_socket().unwrap();
            ss.connect(t0, c, server_ip, PORT).unwrap();
            c
        })
        .collect();
    pair.net.run_until(t0 + secs(1) - Duration::from_micros(1));
    let syn_queue = |pair: &TcpPair| {
        pair.net
            .stack(server)
            .sockets()
            .snapshot()
            .iter()
            .find(|r| r.state == TcpState::Listen)
            .map_or(0, |r| r.syn_queue)
    };
    assert_eq!(syn_queue(&pair), 2048, "tcp_max_syn_backlog");
    let st = *pair.net.stack(server).sockets().tcp_stats();
    // The whole burst arrives within one poll: every SYN past the full SYN
    // queue gets a cookie SYN-ACK, none is dropped (cookies have their own
    // queue, `max_pending_cookies` = 1024; when they shared the 256 RST cap,
    // 256 cookies were sent and 696 SYNs dropped here).
    assert_eq!(st.syncookies_sent, (CONNS - 2048) as u64);
    assert_eq!((st.listen_drops, st.cookie_queue_full), (0, 0));
    // Half-open connections end at 95 s (see above).
    pair.net.run_until(t0 + secs(94));
    assert!(syn_queue(&pair) > 0, "still half-open at 94 s");
    pair.net.run_until(t0 + secs(96));
    assert_eq!(
        pair.net.stack(server).sockets().len(),
        1,
        "only the listener"
    );
    // The clients give up after 1 + 2 + ... + 64 = 127 s.
    pair.net.run_until(t0 + secs(126));
    assert!(pair
        .net
        .stack(client)
        .sockets()
        .state(cs[0])
        .is_some_and(|s| s == TcpState::SynSent));
    pair.net.run_until(t0 + secs(128));
    let ss = pair.sockets(client);
    for &c in &cs {
        assert_eq!(ss.state(c), Some(TcpState::Closed));
        assert_eq!(ss.take_error(c), Some(sockstack::proto::TcpError::TimedOut));
        ss.close(c).unwrap();
    }
    assert!(pair.net.stack(client).sockets().is_empty());
    // The outage ends: the next client is served.
    pair.set_drop_rule(server, None);
    let now = pair.net.now();
    let c = pair.sockets(client).tcp_socket().unwrap();
    pair.sockets(client)
        .connect(now, c, server_ip, PORT)
        .unwrap();
    let mut s = None;
    assert!(pair.run_until(now + secs(1), |net| {
        s = s.or_else(|| net.stack_mut(server).sockets_mut().accept(l).ok());
        s.is_some()
    }));
    println!(
        "SYN flood: client {:?}; server {:?}",
        pair.net.stack(client).sockets().tcp_stats(),
        pair.net.stack(server).sockets().tcp_stats()
    );
}

//! Ten thousand concurrent connections to one listener, each echoing 4 KiB,
//! then every one of them through TIME_WAIT, in virtual time.

mod tcp_common;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sockstack::link::memory::WireConfig;
use sockstack::proto::{
    Duration, Instant, RecvError, SendError, SocketHandle, SocketSet, TcpState,
};
use sockstack::sim::{PairConfig, TcpPair};
use tcp_common::*;

const CONNS: usize = 10_000;
const ECHO: usize = 4096;
const PORT: u16 = 7;
/// New connections per virtual millisecond.
const BATCH: usize = 500;

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

#[test]
fn ten_thousand_echo_connections_then_time_wait() {
    let wall = std::time::Instant::now();
    // No bandwidth limit: frames sent at one instant arrive together, so
    // the net steps per burst rather than per frame.
    let wire = WireConfig::ethernet()
        .with_delay(Duration::from_micros(100))
        .with_rx_queue_frames(1 << 17);
    let mut pair = TcpPair::new(PairConfig::default().with_wire(wire).with_seed(10_000));
    let (client, server) = (pair.client, pair.server);
    let server_ip = pair.addr(server);
    let listener = pair.listen(PORT, 4096).expect("listen");
    assert!(pair.resolve_neighbours(Instant::from_secs(1)), "ARP + ping");
    let t0 = pair.net.now();

    // Wake the net for every batch of connects.
    for b in 0..CONNS.div_ceil(BATCH) {
        pair.net
            .at(t0 + Duration::from_millis(1 + b as u64), |_net| {});
    }

    let mut clients: Vec<Client> = Vec::with_capacity(CONNS);
    let mut open_clients: Vec<usize> = Vec::new();
    let mut echoes: Vec<Echo> = Vec::new();
    let mut echoed = 0usize;
    let mut peak_server = 0usize;
    let mut buf = vec![0u8; 65536];
    let mut seen = (u64::MAX, u64::MAX);

    let all_echoed = pair.run_until(Instant::from_secs(120), |net| {
        let now = net.now();
        // Open this millisecond's batch.
        let ms = now.saturating_duration_since(t0).total_millis() as usize;
        let due = (ms * BATCH).min(CONNS);
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
        if ev == seen {
            return false;
        }
        seen = ev;
        let ss = net.stack_mut(server).sockets_mut();
        while let Ok(h) = ss.accept(listener) {
            echoes.push(Echo {
                h,
                pending: Vec::new(),
                echoed: 0,
                eof: false,
            });
        }
        peak_server = peak_server.max(echoes.len());
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
        clients.len() == CONNS && open_clients.is_empty()
    });
    assert!(
        all_echoed,
        "at {}: {echoed} of {} connections echoed, {} accepted",
        pair.net.now(),
        clients.len(),
        echoes.len()
    );
    for (i, c) in clients.iter().enumerate() {
        assert!(c.got == c.data, "connection {i}: echo differs");
    }
    // All ten thousand are open at once on both sides.
    assert_eq!(echoes.len(), CONNS);
    assert_eq!(count_state(&pair, server, TcpState::Established), CONNS);
    assert_eq!(count_state(&pair, client, TcpState::Established), CONNS);
    let echo_done = pair.net.now();

    // The clients close first: they end in TIME_WAIT; the server passes
    // through LAST_ACK to nothing.
    for c in &clients {
        pair.sockets(client).close(c.h).expect("client close");
    }
    let mut open_echoes: Vec<usize> = (0..echoes.len()).collect();
    let mut first_tw: Option<Instant> = None;
    let all_tw = pair.run_until(echo_done + secs(30), |net| {
        let ss = net.stack_mut(server).sockets_mut();
        open_echoes.retain(|&i| !echoes[i].step(ss, &mut buf));
        let tw = time_wait(net.stack(client).sockets());
        if tw > 0 && first_tw.is_none() {
            first_tw = Some(net.now());
        }
        open_echoes.is_empty() && tw == CONNS && net.stack(server).sockets().len() == 1
    });
    assert!(
        all_tw,
        "at {}: {} server connections open, client TIME_WAIT {}",
        pair.net.now(),
        open_echoes.len(),
        time_wait(pair.net.stack(client).sockets())
    );
    let last_tw = pair.net.now();
    let first_tw = first_tw.expect("some TIME_WAIT");
    assert_eq!(count_state(&pair, client, TcpState::TimeWait), CONNS);
    assert_eq!(pair.net.stack(client).sockets().len(), CONNS);

    // TIME_WAIT lasts 60 s: nobody leaves early ...
    pair.net
        .run_until(first_tw + secs(60) - Duration::from_micros(1));
    assert_eq!(
        time_wait(pair.net.stack(client).sockets()),
        CONNS,
        "a connection left TIME_WAIT before 60 s"
    );
    // ... and everybody has left 60 s after the last one entered.
    pair.net.run_until(last_tw + secs(60));
    assert_eq!(
        pair.net.stack(client).sockets().len(),
        0,
        "client sockets left: {:?}",
        rows(&pair, client).iter().take(5).collect::<Vec<_>>()
    );
    assert!(pair.net.stack(client).sockets().snapshot().is_empty());
    pair.sockets(server)
        .close(listener)
        .expect("close listener");
    pair.net.poll();
    assert!(pair.net.stack(server).sockets().is_empty());
    assert!(pair.net.stack(server).sockets().snapshot().is_empty());
    let st = (
        *pair.net.stack(client).sockets().tcp_stats(),
        *pair.net.stack(server).sockets().tcp_stats(),
    );
    assert_eq!(st.0.active_opens, CONNS as u64);
    assert_eq!(st.1.passive_opens, CONNS as u64);
    assert_eq!((st.0.retrans_segs, st.1.retrans_segs), (0, 0), "clean wire");
    println!(
        "{CONNS} connections echoed {ECHO} B each by {echo_done} (peak {peak_server} accepted), \
         TIME_WAIT {first_tw}..{last_tw}, empty by {}; {} steps, {:.2} s wall; \
         client {:?}; server {:?}",
        pair.net.now(),
        pair.net.steps(),
        wall.elapsed().as_secs_f64(),
        st.0,
        st.1
    );
}

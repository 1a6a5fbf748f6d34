//! The facade from many application threads at once while the runtime
//! threads drive the stacks, and a bulk transfer checked by SHA-256.

mod bsd_common;

use std::sync::Arc;

use bsd_common::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use sockstack::bsd::consts::*;

const CLIENTS: usize = 16;
const ROUNDS: usize = 50;

#[test]
fn many_client_threads_against_one_accept_loop() {
    let (a, b) = pair();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let l = listener(&b, B, 7);
    guard(&b, l);
    let server = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || {
            let mut workers = Vec::new();
            for _ in 0..CLIENTS {
                let (s, _) = b.accept(l).expect("accept");
                guard(&b, s);
                let b = Arc::clone(&b);
                workers.push(std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut echoed = 0;
                    loop {
                        let n = b.recv(s, &mut buf, 0).expect("server recv");
                        if n == 0 {
                            break;
                        }
                        assert_eq!(b.send(s, &buf[..n], 0), Ok(n));
                        echoed += n;
                    }
                    b.close(s).expect("server close");
                    echoed
                }));
            }
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .sum::<usize>()
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                let c = tcp(&a);
                guard(&a, c);
                a.connect(c, addr(B, 7)).expect("connect");
                for r in 0..ROUNDS {
                    let msg = format!("client {i:02} round {r:02} {}", "x".repeat(i * 7 + r));
                    assert_eq!(a.send(c, msg.as_bytes(), 0), Ok(msg.len()));
                    let back = read_n(&a, c, msg.len()).expect("client recv");
                    assert_eq!(back, msg.as_bytes(), "client {i} round {r}");
                }
                a.shutdown(c, SHUT_WR).expect("shutdown");
                assert_eq!(a.recv(c, &mut [0; 8], 0), Ok(0));
                a.close(c).expect("client close");
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
    let echoed = server.join().expect("server thread");
    let expected: usize = (0..CLIENTS)
        .flat_map(|i| (0..ROUNDS).map(move |r| 19 + i * 7 + r))
        .sum();
    assert_eq!(echoed, expected);
    assert_eq!(a.open_fds(), 0);
    assert_eq!(b.open_fds(), 1);
}

#[test]
fn sixteen_mib_with_sha256() {
    const TOTAL: usize = 16 << 20;
    let (a, b) = pair();
    let (c, s, _l) = connected(&a, &b, 5001);
    guard(&a, c);
    guard(&b, s);
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let mut data = vec![0u8; TOTAL];
    rng.fill_bytes(&mut data);
    let sent_hash = Sha256::digest(&data);
    let got_hash = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 65536];
            let mut total = 0;
            loop {
                let n = b.recv(s, &mut buf, 0).expect("recv");
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                total += n;
            }
            assert_eq!(total, TOTAL);
            h.finalize()
        });
        for chunk in data.chunks(100_000) {
            assert_eq!(a.send(c, chunk, 0), Ok(chunk.len()));
        }
        a.shutdown(c, SHUT_WR).expect("shutdown");
        reader.join().expect("reader")
    });
    assert_eq!(got_hash, sent_hash);
}

#[test]
fn descriptor_churn_from_many_threads() {
    use sockstack::bsd::{Fd, SockOpt};
    let (a, _b) = pair();
    let a = Arc::new(a);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                let mut highest = 0;
                for _ in 0..200 {
                    let fd = tcp(&a);
                    highest = highest.max(fd.0);
                    a.setsockopt(fd, SockOpt::NoDelay(true)).unwrap();
                    a.close(fd).unwrap();
                }
                highest
            })
        })
        .collect();
    let highest = threads.into_iter().map(|t| t.join().unwrap()).max();
    // Lowest-free reuse: never more than one descriptor per thread at once.
    assert!(
        highest.is_some_and(|h| (3..3 + 8).contains(&h)),
        "{highest:?}"
    );
    assert_eq!(a.open_fds(), 0);
    assert_eq!(a.with_stack(|s| s.sockets().len()), 0);
    assert_eq!(a.fds(), Vec::<Fd>::new());
}

#[test]
fn several_threads_accept_on_one_listener() {
    const CONNS: usize = 40;
    let (a, b) = pair();
    let b = Arc::new(b);
    let l = listener(&b, B, 8);
    guard(&b, l);
    let acceptors: Vec<_> = (0..4)
        .map(|_| {
            let b = Arc::clone(&b);
            std::thread::spawn(move || {
                let mut n = 0;
                loop {
                    let (s, _) = b.accept(l).expect("accept");
                    guard(&b, s);
                    let mut one = [0u8; 1];
                    assert_eq!(b.recv(s, &mut one, 0), Ok(1));
                    b.close(s).unwrap();
                    if one[0] == b'q' {
                        return n;
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let mut fds = Vec::new();
    for i in 0..CONNS + 4 {
        let c = tcp(&a);
        guard(&a, c);
        a.connect(c, addr(B, 8)).unwrap();
        let byte = if i < CONNS { b'x' } else { b'q' };
        assert_eq!(a.send(c, &[byte], 0), Ok(1));
        fds.push(c);
        if i == CONNS - 1 {
            // Every data connection is handled before the quit messages go out.
            for &c in &fds {
                assert_eq!(a.recv(c, &mut [0; 1], 0), Ok(0));
            }
        }
    }
    let total: usize = acceptors.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, CONNS);
}

//! The tokio-shaped types: tokio::io::copy, tokio-util codecs, many tasks,
//! an idle stack that stays idle, errors.

mod std_net_common;

use std::io::ErrorKind;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use sockstack::async_net::{TcpListener, TcpStream};
use std_net_common::{fill, pair, pair_named, threads_named, A};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};

/// A bound so a bug fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(25);

/// An AsyncWrite that hashes what it is given.
#[derive(Default)]
struct HashSink {
    hash: Sha256,
    len: usize,
}

impl AsyncWrite for HashSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.hash.update(buf);
        self.len += buf.len();
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_io_copy_echoes_64_mib() {
    const TOTAL: usize = 64 << 20;
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 7)).await.unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut r, mut w) = tokio::io::split(s);
        let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        n
    });
    let mut data = vec![0u8; TOTAL];
    fill(&mut 7, &mut data);
    let want: [u8; 32] = Sha256::digest(&data).into();

    let run = async {
        let c = TcpStream::connect_on(&b, (A, 7)).await.unwrap();
        let (mut r, mut w) = tokio::io::split(c);
        let writer = tokio::spawn(async move {
            let n = tokio::io::copy(&mut data.as_slice(), &mut w).await.unwrap();
            w.shutdown().await.unwrap();
            n
        });
        let mut sink = HashSink::default();
        tokio::io::copy(&mut r, &mut sink).await.unwrap();
        (writer.await.unwrap(), sink)
    };
    let (sent, sink) = timeout(GUARD, run).await.expect("64 MiB echo in time");
    assert_eq!(sent as usize, TOTAL);
    assert_eq!(sink.len, TOTAL);
    assert_eq!(<[u8; 32]>::from(sink.hash.finalize()), want);
    assert_eq!(server.await.unwrap() as usize, TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_codec_over_framed() {
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 8)).await.unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut framed = Framed::new(s, LinesCodec::new());
        while let Some(line) = framed.next().await {
            framed.send(line.unwrap().to_uppercase()).await.unwrap();
        }
    });
    let run = async {
        let c = TcpStream::connect_on(&b, (A, 8)).await.unwrap();
        let mut framed = Framed::new(c, LinesCodec::new());
        for i in 0..100 {
            framed.send(format!("line {i} of sockstack")).await.unwrap();
            let back = framed.next().await.unwrap().unwrap();
            assert_eq!(back, format!("LINE {i} OF SOCKSTACK"));
        }
    };
    timeout(GUARD, run)
        .await
        .expect("codec round trips in time");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_tasks() {
    const CLIENTS: usize = 200;
    const ROUNDS: usize = 10;
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 9)).await.unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            });
        }
    });
    let run = async {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move {
                    let mut c = TcpStream::connect_on(&b, (A, 9)).await.unwrap();
                    for r in 0..ROUNDS {
                        let msg = format!("client {i} round {r}");
                        c.write_all(msg.as_bytes()).await.unwrap();
                        let mut back = vec![0u8; msg.len()];
                        c.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    };
    timeout(GUARD, run).await.expect("all clients done in time");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_stack_with_waiting_tasks_stays_idle() {
    const WAITERS: usize = 50;
    let (a, b) = pair();
    let l = TcpListener::bind_on(&a, (A, 10)).await.unwrap();
    let mut servers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..WAITERS {
        let c = TcpStream::connect_on(&b, (A, 10)).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        servers.push(s);
        // Each task waits for data that comes only at the end.
        readers.push(tokio::spawn(async move {
            let mut c = c;
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).await.unwrap();
            buf
        }));
    }
    // A datagram socket waits too (its readiness has no event counter).
    let udp = sockstack::async_net::UdpSocket::bind_on(&b, "0.0.0.0:5353")
        .await
        .unwrap();
    let udp_reader = tokio::spawn(async move {
        let mut buf = [0u8; 8];
        udp.recv_from(&mut buf).await.unwrap().0
    });
    // Let the handshakes' delayed ACKs and the tasks settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reactor = b.reactor().unwrap();
    assert_eq!(reactor.waiting(), WAITERS + 1);
    let before = (a.host().iterations(), b.host().iterations());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = (a.host().iterations(), b.host().iterations());
    // Idle: no runtime iterations beyond a stray wake-up or two (a busy
    // loop would count thousands).
    assert!(
        after.0 - before.0 <= 5,
        "host a iterated {}",
        after.0 - before.0
    );
    assert!(
        after.1 - before.1 <= 5,
        "host b iterated {}",
        after.1 - before.1
    );
    for s in &mut servers {
        s.write_all(b"wake").await.unwrap();
    }
    for r in readers {
        assert_eq!(&timeout(GUARD, r).await.unwrap().unwrap(), b"wake");
    }
    let sender = sockstack::net::UdpSocket::bind_on(&a, (A, 0)).unwrap();
    sender.send_to(b"wake", "198.18.0.2:5353").unwrap();
    assert_eq!(timeout(GUARD, udp_reader).await.unwrap().unwrap(), 4);
    assert_eq!(reactor.waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_conversions() {
    let (a, b) = pair();
    let e = TcpStream::connect_on(&b, (A, 1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(e.raw_os_error(), Some(111));
    let e = TcpListener::bind_on(&a, "[::1]:80").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);

    // A blocking listener and stream become async ones and back.
    let l = sockstack::net::TcpListener::bind_on(&a, (A, 11)).unwrap();
    let l = TcpListener::from_std(l).unwrap();
    let c = TcpStream::connect_on(&b, (A, 11)).await.unwrap();
    let (s, peer) = l.accept().await.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), peer);
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    assert_eq!(
        c.try_read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    c.writable().await.unwrap();
    assert_eq!(c.try_write(b"abc").unwrap(), 3);
    s.readable().await.unwrap();
    let mut buf = [0u8; 3];
    assert_eq!(s.peek(&mut buf).await.unwrap(), 3);
    let mut std_s = s.into_std().unwrap();
    std_s
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::io::Read::read_exact(&mut std_s, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");

    // Dropping the peer: the reader sees end of stream.
    drop(std_s);
    let mut c = c;
    let n = timeout(GUARD, c.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(n, 0);
    assert!(c.take_error().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_echo_between_tasks() {
    use sockstack::async_net::UdpSocket;
    const CLIENTS: usize = 20;
    const EACH: usize = 50;
    let (a, b) = pair();
    let server = UdpSocket::bind_on(&a, (A, 53)).await.unwrap();
    let server = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            server.send_to(&buf[..n], from).await.unwrap();
        }
    });
    // UDP is unreliable: resolve ARP first (only 3 datagrams wait for an
    // unresolved neighbour, as on Linux), resending until the echo arrives.
    let warm = UdpSocket::bind_on(&b, "0.0.0.0:0").await.unwrap();
    let mut buf = [0u8; 8];
    for attempt in 0.. {
        assert!(attempt < 100, "no echo at all");
        warm.send_to(b"warm", (A, 53)).await.unwrap();
        if let Ok(r) = timeout(Duration::from_millis(100), warm.recv_from(&mut buf)).await {
            assert_eq!(r.unwrap().0, 4);
            break;
        }
    }
    let run = async {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move {
                    let c = UdpSocket::bind_on(&b, "0.0.0.0:0").await.unwrap();
                    c.connect((A, 53)).await.unwrap();
                    let mut buf = [0u8; 64];
                    for k in 0..EACH {
                        let msg = format!("{i}/{k}");
                        c.send(msg.as_bytes()).await.unwrap();
                        let n = c.recv(&mut buf).await.unwrap();
                        assert_eq!(&buf[..n], msg.as_bytes());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    };
    timeout(GUARD, run).await.expect("UDP echoes in time");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_net_ends_its_threads() {
    let (a, b) = pair_named("dropa", "dropb");
    let l = TcpListener::bind_on(&a, (A, 12)).await.unwrap();
    let c = TcpStream::connect_on(&b, (A, 12)).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    // Runtime and notifier threads of both hosts.
    assert_eq!(threads_named("sockstack-drop"), 4);
    drop((l, c, s, a, b));
    let mut left = threads_named("sockstack-drop");
    for _ in 0..200 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        left = threads_named("sockstack-drop");
    }
    assert_eq!(left, 0, "threads still running after the Nets were dropped");
}

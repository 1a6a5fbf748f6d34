//! AF_UNIX through the facade: the host's own Unix-domain sockets behind
//! the same descriptor table, reachable by path from std, from python3 and
//! socat (when installed), and pollable together with stack sockets.

use std::io::{Read, Write};
use std::net::SocketAddrV4;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sockstack::bsd::{consts::*, Bsd, Errno, Fd, PollFd, SockOpt, SockOptName};
use sockstack::link::memory::{self, WireConfig};
use sockstack::proto::wire::{Ipv4Addr, MacAddr};
use sockstack::proto::{Stack, StackConfig};
use sockstack::Host;

type F = Bsd<Arc<Host>>;

/// A private directory for socket files, removed on drop (also on failure).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("sockstack-unix-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn facade() -> (F, memory::MemoryLink) {
    let (la, lb) = memory::pair(WireConfig::ethernet());
    let cfg = StackConfig::ethernet(
        MacAddr([2, 0, 0, 0, 0, 1]),
        Ipv4Addr::new(198, 18, 0, 1),
        24,
    );
    let h = Host::spawn("unix", Stack::new(cfg), la).unwrap();
    (Bsd::new(Arc::new(h)), lb)
}

fn guard(f: &F, fd: Fd) {
    let t = Some(Duration::from_secs(10));
    f.setsockopt(fd, SockOpt::RcvTimeo(t)).unwrap();
    f.setsockopt(fd, SockOpt::SndTimeo(t)).unwrap();
}

#[test]
fn stream_listener_served_to_a_std_client() {
    let (f, _l) = facade();
    let dir = TempDir::new();
    let path = dir.path("srv.sock");
    let l = f.socket(AF_UNIX, SOCK_STREAM, 0).unwrap();
    guard(&f, l);
    f.bind_unix(l, &path).unwrap();
    assert_eq!(f.unix_local_path(l), Ok(Some(path.clone())));
    assert_eq!(
        f.accept(l).map(|_| ()),
        Err(Errno::EINVAL),
        "not listening yet"
    );
    f.listen(l, 8).unwrap();
    let p2 = path.clone();
    let client = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&p2).unwrap();
        s.write_all(b"hello from std").unwrap();
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply).unwrap();
        reply
    });
    let (s, _) = f.accept(l).unwrap();
    guard(&f, s);
    let mut buf = [0u8; 14];
    assert_eq!(f.recv(s, &mut buf, MSG_WAITALL), Ok(14));
    assert_eq!(&buf, b"hello from std");
    assert_eq!(f.send(s, b"howdy", 0), Ok(5));
    assert_eq!(&client.join().unwrap(), b"howdy");
    // The peer closed: end of stream.
    assert_eq!(f.recv(s, &mut buf, 0), Ok(0));
    // A second bind to the same path fails like Linux.
    let again = f.socket(AF_UNIX, SOCK_STREAM, 0).unwrap();
    assert_eq!(f.bind_unix(again, &path), Err(Errno::EADDRINUSE));
    assert_eq!(
        f.getsockopt(s, SockOptName::Type),
        Ok(SockOpt::Type(SOCK_STREAM))
    );
    f.close(s).unwrap();
    f.close(l).unwrap();
    assert_eq!(f.recv(s, &mut buf, 0), Err(Errno::EBADF));
}

#[test]
fn stream_client_to_a_std_listener() {
    let (f, _l) = facade();
    let dir = TempDir::new();
    let path = dir.path("std.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let c = f.socket(AF_UNIX, SOCK_STREAM, 0).unwrap();
    guard(&f, c);
    assert_eq!(f.send(c, b"x", 0), Err(Errno::ENOTCONN));
    assert_eq!(
        f.connect_unix(c, dir.path("nobody.sock")),
        Err(Errno::ENOENT)
    );
    f.connect_unix(c, &path).unwrap();
    assert_eq!(f.connect_unix(c, &path), Err(Errno::EISCONN));
    let (mut peer, _) = listener.accept().unwrap();
    let data = vec![0x5au8; 1 << 20];
    let d2 = data.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, d2);
        peer.write_all(b"done").unwrap();
    });
    // A blocking send of 1 MiB returns once every byte is written.
    assert_eq!(f.send(c, &data, 0), Ok(data.len()));
    f.shutdown(c, SHUT_WR).unwrap();
    reader.join().unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(f.recv(c, &mut buf, MSG_WAITALL), Ok(4));
    assert_eq!(&buf, b"done");
    // Non-blocking after the peer left: end of stream at once.
    f.set_nonblocking(c, true).unwrap();
    assert_eq!(f.recv(c, &mut buf, 0), Ok(0), "peer gone: EOF");
}

#[test]
fn datagrams_both_ways_with_paths() {
    let (f, _l) = facade();
    let dir = TempDir::new();
    let path = dir.path("dg.sock");
    let d = f.socket(AF_UNIX, SOCK_DGRAM, 0).unwrap();
    guard(&f, d);
    f.bind_unix(d, &path).unwrap();
    let peer_path = dir.path("peer.sock");
    let peer = UnixDatagram::bind(&peer_path).unwrap();
    peer.send_to(b"one", &path).unwrap();
    peer.send_to(b"second datagram", &path).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = f.recvfrom_unix(d, &mut buf, 0).unwrap();
    assert_eq!((&buf[..n], from), (&b"one"[..], Some(peer_path.clone())));
    let mut small = [0u8; 6];
    assert_eq!(f.recv(d, &mut small, MSG_PEEK | MSG_TRUNC), Ok(15));
    assert_eq!(
        f.recv(d, &mut small, 0),
        Ok(6),
        "boundaries kept, truncated"
    );
    assert_eq!(f.recv(d, &mut small, MSG_DONTWAIT), Err(Errno::EAGAIN));
    assert_eq!(f.sendto_unix(d, b"reply", 0, &peer_path), Ok(5));
    let mut pb = [0u8; 8];
    let (n, _) = peer.recv_from(&mut pb).unwrap();
    assert_eq!(&pb[..n], b"reply");
    // An unbound datagram socket connected by path.
    let c = f.socket(AF_UNIX, SOCK_DGRAM, 0).unwrap();
    guard(&f, c);
    f.connect_unix(c, &peer_path).unwrap();
    f.send(c, b"via connect", 0).unwrap();
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"via connect");
    assert_eq!(f.unix_peer_path(c), Ok(Some(peer_path)));
    assert_eq!(
        f.getsockopt(c, SockOptName::Type),
        Ok(SockOpt::Type(SOCK_DGRAM))
    );
}

#[test]
fn timeouts_socketpair_and_unsupported() {
    let (f, _l) = facade();
    assert_eq!(f.socket(AF_UNIX, SOCK_RAW, 0), Err(Errno::ESOCKTNOSUPPORT));
    let (a, b) = f.socketpair(AF_UNIX, SOCK_STREAM, 0).unwrap();
    f.setsockopt(a, SockOpt::RcvTimeo(Some(Duration::from_millis(120))))
        .unwrap();
    let mut buf = [0u8; 4];
    let t = std::time::Instant::now();
    assert_eq!(f.recv(a, &mut buf, 0), Err(Errno::EAGAIN));
    assert!(t.elapsed() >= Duration::from_millis(120));
    f.send(b, b"ok", 0).unwrap();
    assert_eq!(f.recv(a, &mut buf, 0), Ok(2));
    assert_eq!(
        f.bind(a, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1)),
        Err(Errno::EINVAL),
        "an AF_INET address on an AF_UNIX socket"
    );
    // A blocked recv sees its descriptor closed by another thread.
    f.setsockopt(a, SockOpt::RcvTimeo(None)).unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(|| f.recv(a, &mut [0u8; 4], 0));
        std::thread::sleep(Duration::from_millis(50));
        f.close(a).unwrap();
        assert_eq!(h.join().unwrap(), Err(Errno::EBADF));
    });
}

#[test]
fn seqpacket_keeps_message_boundaries() {
    let (f, _l) = facade();
    let dir = TempDir::new();
    let path = dir.path("seq.sock");
    let l = f.socket(AF_UNIX, SOCK_SEQPACKET, 0).unwrap();
    guard(&f, l);
    assert_eq!(f.listen(l, 4), Err(Errno::EINVAL), "not bound");
    f.bind_unix(l, &path).unwrap();
    let c = f.socket(AF_UNIX, SOCK_SEQPACKET, 0).unwrap();
    guard(&f, c);
    assert_eq!(
        f.connect_unix(c, &path),
        Err(Errno::ECONNREFUSED),
        "bound, not listening"
    );
    f.listen(l, 4).unwrap();
    let c = f.socket(AF_UNIX, SOCK_SEQPACKET, 0).unwrap();
    guard(&f, c);
    f.connect_unix(c, &path).unwrap();
    let (s, peer) = f.accept_unix(l, 0).unwrap();
    guard(&f, s);
    assert_eq!(peer, None);
    f.send(c, b"first message", 0).unwrap();
    f.send(c, b"second", 0).unwrap();
    let mut buf = [0u8; 5];
    assert_eq!(
        f.recv(s, &mut buf, MSG_TRUNC),
        Ok(13),
        "one message, its real length"
    );
    assert_eq!(&buf, b"first");
    let mut buf = [0u8; 64];
    assert_eq!(f.recv(s, &mut buf, 0), Ok(6));
    assert_eq!(&buf[..6], b"second");
    assert_eq!(
        f.getsockopt(s, SockOptName::Type),
        Ok(SockOpt::Type(SOCK_SEQPACKET))
    );
    let mut p = [PollFd::new(s, POLLIN)];
    assert_eq!(f.poll(&mut p, Some(Duration::from_millis(20))), Ok(0));
    f.shutdown(c, SHUT_WR).unwrap();
    assert_eq!(f.recv(s, &mut buf, 0), Ok(0), "end of stream");
}

#[test]
fn poll_mixes_unix_and_inet_descriptors() {
    let (f, _l) = facade();
    let (ua, ub) = f.socketpair(AF_UNIX, SOCK_DGRAM, 0).unwrap();
    let u = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    f.bind(u, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000))
        .unwrap();
    let sender = f.socket(AF_INET, SOCK_DGRAM, 0).unwrap();
    let mut fds = [PollFd::new(ua, POLLIN), PollFd::new(u, POLLIN)];
    assert_eq!(f.poll(&mut fds, Some(Duration::from_millis(30))), Ok(0));
    // The Unix side becomes readable from another thread.
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            f.send(ub, b"unix", 0).unwrap();
        });
        assert_eq!(f.poll(&mut fds, Some(Duration::from_secs(10))), Ok(1));
    });
    assert_eq!((fds[0].revents, fds[1].revents), (POLLIN, 0));
    f.recv(ua, &mut [0u8; 8], 0).unwrap();
    // Then the UDP side, from another thread.
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            f.sendto(
                sender,
                b"inet",
                0,
                Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000)),
            )
            .unwrap();
        });
        assert_eq!(f.poll(&mut fds, Some(Duration::from_secs(10))), Ok(1));
    });
    assert_eq!((fds[0].revents, fds[1].revents), (0, POLLIN));
    // Both, and a closed descriptor reports POLLNVAL.
    f.send(ub, b"again", 0).unwrap();
    let mut fds = [
        PollFd::new(ua, POLLIN | POLLOUT),
        PollFd::new(u, POLLIN),
        PollFd::new(Fd(999), POLLIN),
    ];
    assert_eq!(f.poll(&mut fds, Some(Duration::ZERO)), Ok(3));
    assert_eq!(fds[0].revents, POLLIN | POLLOUT);
    assert_eq!(fds[1].revents, POLLIN);
    assert_eq!(fds[2].revents, POLLNVAL);
}

/// `python3` (and `socat`, when installed) connect to a facade listener by path.
#[test]
fn other_processes_connect_by_path() {
    let (f, _l) = facade();
    let dir = TempDir::new();
    let path = dir.path("ext.sock");
    let l = f.socket(AF_UNIX, SOCK_STREAM, 0).unwrap();
    guard(&f, l);
    f.bind_unix(l, &path).unwrap();
    f.listen(l, 8).unwrap();
    let script = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect({:?}); \
         s.sendall(b'from python'); print(s.recv(64).decode())",
        path.to_str().unwrap()
    );
    let mut clients = Vec::new();
    if let Ok(child) = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        clients.push(("python3", child, &b"from python"[..]));
    } else {
        eprintln!("python3 not found: skipping its half");
    }
    for (name, child, expect) in clients {
        let (s, _) = f.accept(l).unwrap();
        guard(&f, s);
        let mut buf = vec![0u8; expect.len()];
        assert_eq!(f.recv(s, &mut buf, MSG_WAITALL), Ok(expect.len()), "{name}");
        assert_eq!(&buf[..], expect);
        f.send(s, b"hi python", 0).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi python");
        f.close(s).unwrap();
    }
    // socat, if present: one line in, echoed back out.
    let socat = std::process::Command::new("socat")
        .args(["-t", "5", "-", &format!("UNIX-CONNECT:{}", path.display())])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    match socat {
        Ok(mut child) => {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"from socat\n")
                .unwrap();
            let (s, _) = f.accept(l).unwrap();
            guard(&f, s);
            let mut buf = [0u8; 11];
            assert_eq!(f.recv(s, &mut buf, MSG_WAITALL), Ok(11));
            assert_eq!(&buf, b"from socat\n");
            f.send(s, b"echo\n", 0).unwrap();
            f.close(s).unwrap();
            let out = child.wait_with_output().unwrap();
            assert_eq!(&out.stdout[..], b"echo\n");
        }
        Err(_) => eprintln!("socat not found: skipping its half"),
    }
}

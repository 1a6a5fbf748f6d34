//! The TCP services of `sockstack serve`, written against the BSD socket
//! facade like any C program: echo (RFC 862) and discard (RFC 863).
//!
//! CONTRACT: one acceptor thread per listening port and one thread per
//! connection, with at most [`MAX_CONNECTIONS`] connections at once; at the
//! cap the acceptors stop accepting, so new connections wait in the
//! listener's accept queue (and, past it, in the peer's SYN retries) as on
//! a busy Linux server. Every blocking call waits at most [`TICK`], so
//! [`Services::stop`] ends every thread within about one tick; connections
//! still open then are closed normally (FIN after the queued data). An echo
//! connection half-closed by the peer is echoed to the end, then closed.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sockstack::bsd::consts::{AF_INET, POLLIN, SHUT_WR, SOCK_NONBLOCK, SOCK_STREAM};
use sockstack::bsd::{Bsd, PollFd, SockOpt};
use sockstack::{Errno, Fd, Host};

use crate::error::CliError;

/// The facade the services run on.
pub type Facade = Bsd<Arc<Host>>;

/// Connections served at once, over all services.
pub const MAX_CONNECTIONS: usize = 512;
/// listen(2) backlog of each service.
const BACKLOG: i32 = 128;
/// The longest any service thread blocks before it checks for shutdown.
pub const TICK: Duration = Duration::from_millis(200);
/// Bytes moved per recv/send.
const CHUNK: usize = 64 * 1024;
/// Stack of a connection thread (its buffer lives on the heap).
const THREAD_STACK: usize = 128 * 1024;

/// What a service does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Send back every byte received (RFC 862).
    Echo,
    /// Read and drop every byte (RFC 863).
    Discard,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Discard => "discard",
        }
    }
}

/// Connections open now; waiters are woken when one ends.
#[derive(Default)]
struct Live {
    count: Mutex<usize>,
    cond: Condvar,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take a slot, waiting up to `limit` for one; false if none freed.
    fn acquire(&self, limit: Duration) -> bool {
        let guard = self.lock();
        let (mut n, _) = self
            .cond
            .wait_timeout_while(guard, limit, |n| *n >= MAX_CONNECTIONS)
            .unwrap_or_else(PoisonError::into_inner);
        if *n >= MAX_CONNECTIONS {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self) {
        let mut n = self.lock();
        *n = n.saturating_sub(1);
        drop(n);
        self.cond.notify_all();
    }

    /// Wait until no connection is open, at most until `deadline`.
    fn wait_empty(&self, deadline: Instant) -> usize {
        let mut n = self.lock();
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            n = self
                .cond
                .wait_timeout(n, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *n
    }
}

/// State shared by every service thread.
struct Shared {
    bsd: Arc<Facade>,
    stop: AtomicBool,
    live: Live,
}

/// The running services.
pub struct Services {
    shared: Arc<Shared>,
    acceptors: Vec<JoinHandle<()>>,
}

impl Services {
    /// Listen on every port and start serving. Fails, with nothing left
    /// running, if any port cannot be opened (EADDRINUSE, ...).
    pub fn start(bsd: Arc<Facade>, echo: &[u16], discard: &[u16]) -> Result<Services, CliError> {
        let shared = Arc::new(Shared {
            bsd,
            stop: AtomicBool::new(false),
            live: Live::default(),
        });
        let wanted = echo
            .iter()
            .map(|&p| (Kind::Echo, p))
            .chain(discard.iter().map(|&p| (Kind::Discard, p)));
        let mut listeners = Vec::new();
        for (kind, port) in wanted {
            match open_listener(&shared.bsd, port) {
                Ok(fd) => listeners.push((kind, port, fd)),
                Err((call, e)) => {
                    for (_, _, fd) in listeners {
                        let _ = shared.bsd.close(fd);
                    }
                    return Err(CliError::Runtime(format!(
                        "{} on port {port}: {call}: {e}",
                        kind.name()
                    )));
                }
            }
        }
        let mut acceptors = Vec::new();
        for (kind, port, fd) in listeners {
            let s = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{port}", kind.name()))
                .spawn(move || accept_loop(&s, kind, fd));
            match spawned {
                Ok(t) => acceptors.push(t),
                Err(e) => {
                    let _ = shared.bsd.close(fd);
                    let services = Services { shared, acceptors };
                    services.stop(TICK * 5);
                    return Err(CliError::Runtime(format!(
                        "cannot start the {} thread: {e}",
                        kind.name()
                    )));
                }
            }
        }
        Ok(Services { shared, acceptors })
    }

    /// Stop accepting, close every connection, and wait up to `limit` for
    /// the threads; returns how many connections were still open then.
    pub fn stop(self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.acceptors {
            let _ = t.join();
        }
        self.shared.live.wait_empty(deadline)
    }
}

fn open_listener(bsd: &Facade, port: u16) -> Result<Fd, (&'static str, Errno)> {
    let fd = bsd
        .socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
        .map_err(|e| ("socket", e))?;
    let setup = || {
        bsd.setsockopt(fd, SockOpt::ReuseAddr(true))
            .map_err(|e| ("setsockopt(SO_REUSEADDR)", e))?;
        bsd.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| ("bind", e))?;
        bsd.listen(fd, BACKLOG).map_err(|e| ("listen", e))
    };
    match setup() {
        Ok(()) => Ok(fd),
        Err(e) => {
            let _ = bsd.close(fd);
            Err(e)
        }
    }
}

fn accept_loop(s: &Arc<Shared>, kind: Kind, lfd: Fd) {
    while !s.stop.load(Ordering::SeqCst) {
        if !s.live.acquire(TICK) {
            continue;
        }
        let accepted = wait_accept(s, lfd);
        let Some((fd, _peer)) = accepted else {
            s.live.release();
            continue;
        };
        let conn_shared = Arc::clone(s);
        let spawned = std::thread::Builder::new()
            .name(format!("{}-conn", kind.name()))
            .stack_size(THREAD_STACK)
            .spawn(move || {
                serve_connection(&conn_shared, kind, fd);
                let _ = conn_shared.bsd.close(fd);
                conn_shared.live.release();
            });
        if let Err(e) = spawned {
            eprintln!("sockstack: {}: cannot start a thread: {e}", kind.name());
            let _ = s.bsd.close(fd);
            s.live.release();
        }
    }
    let _ = s.bsd.close(lfd);
}

/// One accepted connection within a tick, or `None`.
fn wait_accept(s: &Shared, lfd: Fd) -> Option<(Fd, SocketAddrV4)> {
    let mut p = [PollFd::new(lfd, POLLIN)];
    match s.bsd.poll(&mut p, Some(TICK)) {
        Ok(0) => return None,
        Ok(_) => {}
        Err(e) => {
            eprintln!("sockstack: poll on a listener: {e}");
            std::thread::sleep(TICK);
            return None;
        }
    }
    match s.bsd.accept4(lfd, 0) {
        Ok(a) => Some(a),
        // Raced with a reset of the queued connection, or nothing after all.
        Err(Errno::EAGAIN | Errno::ECONNABORTED) => None,
        Err(e) => {
            eprintln!("sockstack: accept: {e}");
            std::thread::sleep(TICK);
            None
        }
    }
}

fn serve_connection(s: &Shared, kind: Kind, fd: Fd) {
    let bsd = &s.bsd;
    // Bounded waits, so shutdown is noticed within a tick.
    if bsd.setsockopt(fd, SockOpt::RcvTimeo(Some(TICK))).is_err()
        || bsd.setsockopt(fd, SockOpt::SndTimeo(Some(TICK))).is_err()
    {
        return;
    }
    let mut buf = vec![0u8; CHUNK];
    while !s.stop.load(Ordering::SeqCst) {
        let n = match bsd.recv(fd, &mut buf, 0) {
            Ok(0) => {
                // The peer finished sending: so do we (echo has sent all).
                let _ = bsd.shutdown(fd, SHUT_WR);
                return;
            }
            Ok(n) => n,
            Err(Errno::EAGAIN) => continue,
            // Reset, timed out, or the host stopped: nothing more to do.
            Err(_) => return,
        };
        if kind == Kind::Echo && !send_all(s, fd, buf.get(..n).unwrap_or_default()) {
            return;
        }
    }
}

/// Send every byte, in ticks; false when the connection failed or we stop.
fn send_all(s: &Shared, fd: Fd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        if s.stop.load(Ordering::SeqCst) {
            return false;
        }
        match s.bsd.send(fd, data, 0) {
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(Errno::EAGAIN) => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_capped() {
        let live = Live::default();
        for _ in 0..MAX_CONNECTIONS {
            assert!(live.acquire(Duration::ZERO));
        }
        assert!(!live.acquire(Duration::from_millis(5)), "one past the cap");
        live.release();
        assert!(live.acquire(Duration::ZERO));
        for _ in 0..MAX_CONNECTIONS {
            live.release();
        }
        assert_eq!(live.wait_empty(Instant::now()), 0);
    }

    #[test]
    fn a_freed_slot_wakes_a_waiting_acceptor() {
        let live = Arc::new(Live::default());
        for _ in 0..MAX_CONNECTIONS {
            assert!(live.acquire(Duration::ZERO));
        }
        let l = Arc::clone(&live);
        let waiter = std::thread::spawn(move || l.acquire(Duration::from_secs(10)));
        live.release();
        assert!(waiter.join().unwrap());
    }
}

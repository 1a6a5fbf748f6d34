//! `sockstack nc`: one TCP connection through a sockstack host on a TAP or
//! TUN device, like OpenBSD nc(1): stdin goes to the connection and the
//! connection goes to stdout.
//!
//! CONTRACT: `nc HOST PORT` connects; `nc --listen PORT` accepts one
//! connection and stops listening. End of stdin half-closes the connection
//! (shutdown SHUT_WR: our FIN) while the peer's data keeps flowing to
//! stdout; the peer's FIN ends stdout while stdin keeps flowing. We exit 0
//! once both directions are finished and our FIN is acknowledged (bounded
//! wait), so a peer that closes after our half-close ends the run. A closed
//! stdout (EPIPE) closes the connection, with RST if data is left unread
//! (RFC 2525), and exits 0 as nc does. A refused connect, a reset, or any
//! other failure is one line naming the errno (`connect to 198.18.0.1:9:
//! Connection refused (ECONNREFUSED)`) and status 1. SIGINT/SIGTERM close
//! the connection and exit with 128 + the signal. With `-v` the connection
//! and the TCP state it ended in (TIME_WAIT on the side that closed
//! first) are reported on stderr. `-w SECONDS` bounds the connect: past it
//! the attempt is abandoned with ETIMEDOUT, as the SYN retries running out
//! would end it (about two minutes later). The stack registers a control
//! socket (`--name`, default "nc"), so `sockstack netstat` shows the
//! connection with our PID while it runs.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use sockstack::bsd::consts::{AF_INET, POLLIN, POLLOUT, SHUT_WR, SOCK_NONBLOCK, SOCK_STREAM};
use sockstack::bsd::{Bsd, Driver, PollFd, SockOpt, SockOptName};
use sockstack::{Errno, Fd, Host};
use sockstack_proto::TcpState;

use super::attach::{attach, flush};
use super::send_file::register;
use crate::args::NcArgs;
use crate::error::CliError;
use crate::signals::Shutdown;

type Facade = Bsd<Arc<Host>>;

/// The longest the main thread blocks before it checks for signals.
const TICK: Duration = Duration::from_millis(200);
/// Bytes per read from stdin and per recv.
const CHUNK: usize = 64 * 1024;
/// How long we wait for the peer to acknowledge our FIN before exiting.
const FIN_LIMIT: Duration = Duration::from_secs(15);
/// How long the stdin thread may take to let go of the facade at exit.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);

/// How the stdin direction ended.
enum Upstream {
    /// Stdin reached EOF; everything was queued and our FIN follows.
    Finished,
    /// Sending failed (reset, ...).
    Failed(Errno),
    /// Reading stdin failed.
    StdinError(io::Error),
}

/// How the run ended, before cleanup.
enum Outcome {
    Done,
    StdoutClosed,
    Signal(i32),
}

pub fn run(args: NcArgs, shutdown: &Shutdown) -> Result<ExitCode, CliError> {
    let spec = args.net.spec();
    let attached = attach("nc", &spec)?;
    let host = Arc::new(attached.host);
    let control = register(&host, args.name.as_deref().unwrap_or("nc"));
    let bsd = Arc::new(Bsd::new(Arc::clone(&host)));
    let result = converse(&args, &bsd, shutdown);
    // The control server holds the host; stop it before the host.
    drop(control);
    release(bsd, host, args.verbose);
    result
}

/// Connect or accept, then pipe until both directions end.
fn converse(args: &NcArgs, bsd: &Arc<Facade>, shutdown: &Shutdown) -> Result<ExitCode, CliError> {
    let opened = match args.listen {
        Some(port) => accept_one(bsd, port, shutdown, args.verbose)?,
        None => {
            let (Some(host), Some(port)) = (args.host, args.port) else {
                return Err(CliError::Usage("give HOST PORT or --listen PORT".into()));
            };
            connect(bsd, SocketAddrV4::new(host, port), args.wait, shutdown)?
        }
    };
    let Some((fd, peer)) = opened else {
        return Ok(signal_exit(shutdown));
    };
    if args.verbose {
        let local = bsd
            .getsockname(fd)
            .map(|a| a.to_string())
            .unwrap_or_default();
        eprintln!("sockstack: connected {local} -> {peer}");
    }
    let outcome = pipe(bsd, fd, shutdown).map_err(|e| {
        let _ = bsd.close(fd);
        CliError::Runtime(format!("connection to {peer}: {e}"))
    })?;
    match outcome {
        Outcome::Done => {
            let state = wait_fin_acked(bsd, fd, shutdown);
            let _ = bsd.close(fd);
            if args.verbose {
                eprintln!("sockstack: connection to {peer} closed, TCP state {state}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::StdoutClosed => {
            let _ = bsd.close(fd);
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Signal(sig) => {
            let _ = bsd.close(fd);
            Ok(ExitCode::from(128u8.wrapping_add(sig as u8)))
        }
    }
}

fn signal_exit(shutdown: &Shutdown) -> ExitCode {
    let sig = shutdown.requested().unwrap_or(libc::SIGTERM);
    ExitCode::from(128u8.wrapping_add(sig as u8))
}

/// A connected descriptor, or `None` when a signal came first.
fn connect(
    bsd: &Facade,
    to: SocketAddrV4,
    wait: Option<Duration>,
    shutdown: &Shutdown,
) -> Result<Option<(Fd, SocketAddrV4)>, CliError> {
    let fail = |e: Errno| CliError::Runtime(format!("connect to {to}: {e}"));
    let fd = bsd
        .socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
        .map_err(fail)?;
    // Non-blocking, so a signal can interrupt the handshake (SYN retries
    // take minutes).
    match bsd.connect(fd, to) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => return Err(fail(e)),
    }
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        if shutdown.requested().is_some() {
            let _ = bsd.close(fd);
            return Ok(None);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // As the SYN retries running out would: ETIMEDOUT.
            let _ = bsd.close(fd);
            return Err(fail(Errno::ETIMEDOUT));
        }
        let mut p = [PollFd::new(fd, POLLOUT)];
        if bsd.poll(&mut p, Some(TICK)).map_err(fail)? > 0 {
            break;
        }
    }
    if let Ok(SockOpt::Error(Some(e))) = bsd.getsockopt(fd, SockOptName::Error) {
        let _ = bsd.close(fd);
        return Err(fail(e));
    }
    if let Err(e) = bsd.getpeername(fd) {
        let _ = bsd.close(fd);
        return Err(fail(e));
    }
    bsd.set_nonblocking(fd, false).map_err(fail)?;
    Ok(Some((fd, to)))
}

/// Listen on `port`, take one connection, stop listening.
fn accept_one(
    bsd: &Facade,
    port: u16,
    shutdown: &Shutdown,
    verbose: bool,
) -> Result<Option<(Fd, SocketAddrV4)>, CliError> {
    let fail =
        |call: &str, e: Errno| CliError::Runtime(format!("listen on port {port}: {call}: {e}"));
    let lfd = bsd
        .socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
        .map_err(|e| fail("socket", e))?;
    let result = (|| {
        bsd.setsockopt(lfd, SockOpt::ReuseAddr(true))
            .map_err(|e| fail("setsockopt(SO_REUSEADDR)", e))?;
        bsd.bind(lfd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| fail("bind", e))?;
        bsd.listen(lfd, 1).map_err(|e| fail("listen", e))?;
        if verbose {
            eprintln!("sockstack: listening on 0.0.0.0:{port}");
        }
        loop {
            if shutdown.requested().is_some() {
                return Ok(None);
            }
            let mut p = [PollFd::new(lfd, POLLIN)];
            if bsd.poll(&mut p, Some(TICK)).map_err(|e| fail("poll", e))? == 0 {
                continue;
            }
            match bsd.accept4(lfd, 0) {
                Ok(a) => return Ok(Some(a)),
                Err(Errno::EAGAIN | Errno::ECONNABORTED) => continue,
                Err(e) => return Err(fail("accept", e)),
            }
        }
    })();
    let _ = bsd.close(lfd);
    result
}

/// Move bytes both ways until both directions are finished.
fn pipe(bsd: &Arc<Facade>, fd: Fd, shutdown: &Shutdown) -> Result<Outcome, Errno> {
    bsd.setsockopt(fd, SockOpt::RcvTimeo(Some(TICK)))?;
    let upstream = start_upstream(Arc::downgrade(bsd), fd);
    let mut up_done = false;
    let mut down_done = false;
    let mut buf = vec![0u8; CHUNK];
    let stdout = io::stdout();
    let mut out = stdout.lock();
    loop {
        if let Some(sig) = shutdown.requested() {
            return Ok(Outcome::Signal(sig));
        }
        if !up_done {
            match upstream.try_recv() {
                Ok(Upstream::Finished) => up_done = true,
                Ok(Upstream::Failed(e)) => return Err(e),
                Ok(Upstream::StdinError(e)) => {
                    eprintln!("sockstack: reading stdin: {e}");
                    up_done = true;
                    let _ = bsd.shutdown(fd, SHUT_WR);
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => up_done = true,
            }
        }
        if down_done {
            if up_done {
                return Ok(Outcome::Done);
            }
            // Only stdin is left: wait for it, and notice a reset.
            match upstream.recv_timeout(TICK) {
                Ok(Upstream::Finished) | Err(RecvTimeoutError::Disconnected) => up_done = true,
                Ok(Upstream::Failed(e)) => return Err(e),
                Ok(Upstream::StdinError(e)) => {
                    eprintln!("sockstack: reading stdin: {e}");
                    up_done = true;
                    let _ = bsd.shutdown(fd, SHUT_WR);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Ok(SockOpt::Error(Some(e))) = bsd.getsockopt(fd, SockOptName::Error) {
                        return Err(e);
                    }
                }
            }
            continue;
        }
        match bsd.recv(fd, &mut buf, 0) {
            Ok(0) => {
                down_done = true;
                if out.flush().is_err() {
                    return Ok(Outcome::StdoutClosed);
                }
            }
            Ok(n) => {
                let data = buf.get(..n).unwrap_or_default();
                if out.write_all(data).and_then(|()| out.flush()).is_err() {
                    return Ok(Outcome::StdoutClosed);
                }
            }
            Err(Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The thread that copies stdin to the connection. It holds the facade
/// only while it sends, so the host can be shut down while it waits for
/// stdin; closing the descriptor ends a blocked send (EBADF).
fn start_upstream(bsd: Weak<Facade>, fd: Fd) -> Receiver<Upstream> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("nc-stdin".into())
        .spawn(move || {
            let _ = tx.send(copy_stdin(&bsd, fd));
        });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::channel();
        let _ = tx.send(Upstream::StdinError(e));
        return rx;
    }
    rx
}

fn copy_stdin(bsd: &Weak<Facade>, fd: Fd) -> Upstream {
    let mut buf = vec![0u8; CHUNK];
    let mut stdin = io::stdin().lock();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Upstream::StdinError(e),
        };
        let Some(bsd) = bsd.upgrade() else {
            return Upstream::Failed(Errno::EBADF);
        };
        if n == 0 {
            // RFC 9293, 3.6: our FIN goes after the queued data.
            return match bsd.shutdown(fd, SHUT_WR) {
                Ok(()) => Upstream::Finished,
                Err(e) => Upstream::Failed(e),
            };
        }
        let mut data = buf.get(..n).unwrap_or_default();
        while !data.is_empty() {
            match bsd.send(fd, data, 0) {
                Ok(sent) => data = data.get(sent..).unwrap_or_default(),
                Err(e) => return Upstream::Failed(e),
            }
        }
    }
}

/// Wait (bounded) until our FIN is acknowledged, and name the state the
/// connection is in then (TIME_WAIT when the peer's FIN came after ours).
fn wait_fin_acked(bsd: &Facade, fd: Fd, shutdown: &Shutdown) -> String {
    let Ok(h) = bsd.handle(fd) else {
        return TcpState::Closed.to_string();
    };
    let deadline = Instant::now() + FIN_LIMIT;
    let state = loop {
        let step = bsd.driver().now() + sockstack_proto::Duration::from(TICK);
        let state = bsd.driver().wait(Some(step), |s, _| {
            let st = s.sockets().state(h);
            let waiting = matches!(
                st,
                Some(TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck)
            );
            (!waiting).then_some(st)
        });
        match state {
            Ok(st) => break st,
            Err(_) if Instant::now() >= deadline || shutdown.requested().is_some() => {
                break bsd.with_stack(|s| s.sockets().state(h));
            }
            Err(_) => {}
        }
    };
    state.map_or_else(|| TcpState::Closed.to_string(), |s| s.to_string())
}

/// Close everything and stop the host, so the capture is complete.
fn release(bsd: Arc<Facade>, host: Arc<Host>, verbose: bool) {
    let fds = bsd.fds();
    for fd in fds {
        let _ = bsd.close(fd);
    }
    // Let the FIN or RST just queued leave before the runtime stops.
    flush(&host);
    // The stdin thread may hold the facade for the length of one send.
    let deadline = Instant::now() + RELEASE_LIMIT;
    let mut bsd = Some(bsd);
    while let Some(b) = bsd.take() {
        match Arc::try_unwrap(b) {
            Ok(b) => drop(b),
            Err(b) if Instant::now() < deadline => {
                bsd = Some(b);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => {
                if verbose {
                    eprintln!("sockstack: the stdin thread still holds the host; exiting anyway");
                }
                return;
            }
        }
    }
    if let Ok(host) = Arc::try_unwrap(host) {
        if let Err(e) = host.shutdown() {
            eprintln!("sockstack: the link failed: {e}");
        }
    }
}

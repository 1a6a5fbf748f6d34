//! The control socket: a Unix socket through which a running stack serves
//! snapshots of its sockets and counters to `sockstack netstat`.
//!
//! CONTRACT: [`ControlServer::start`] binds `<dir>/<pid>-<name>.sock` in the
//! runtime directory ([`runtime_dir`]: `$SOCKSTACK_CONTROL_DIR`, else
//! `$XDG_RUNTIME_DIR/sockstack`, else `/run/sockstack`, else a per-user
//! directory under the temp dir), creating the directory with mode 0700 and
//! the socket with mode 0600. Nothing is reachable from the network. The
//! protocol is one request line (`snapshot`) answered by one line of JSON
//! (a [`Snapshot`]), then the server closes the connection; any other
//! request gets `{"error": ...}`. Requests are bounded (256 bytes, 2 s).
//! Dropping the server stops its thread and removes the socket file.
//! [`discover`] lists the sockets of live processes and deletes those left
//! behind by dead ones.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddrV4;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sockstack_proto::{Instant, Stack};

/// Longest request line accepted.
const MAX_REQUEST: u64 = 256;
/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// One socket, as netstat shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRow {
    /// "tcp" or "udp".
    pub proto: String,
    /// Connections: bytes unread. Listeners: connections waiting in the
    /// accept queue (as `ss -lt` shows).
    pub recv_q: usize,
    /// Connections: bytes not yet acknowledged. Listeners: the backlog.
    pub send_q: usize,
    pub local: SocketAddrV4,
    pub foreign: SocketAddrV4,
    /// netstat's spelling: LISTEN, ESTABLISHED, TIME_WAIT, ...; empty for UDP.
    pub state: String,
    /// The process serving the stack (`None` in a single-process demo).
    pub pid: Option<u32>,
    /// The stack's name (`--name`, default the command).
    pub program: String,
    /// TCP: receive and send buffer sizes (`ss -m` skmem `rb`, `tb`), 0
    /// when the socket has none (listeners, TIME_WAIT records, UDP).
    /// `recv_q` and `send_q` are the bytes in them (skmem `r`, `t`).
    #[serde(default)]
    pub rcvbuf: usize,
    #[serde(default)]
    pub sndbuf: usize,
    /// TCP: the pending timer (`ss -o`); `None` when no timer runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<TimerRow>,
}

/// A socket's pending timer, as `ss -o` prints it: `timer:(on,200ms,0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerRow {
    /// `on` (retransmission), `persist`, `keepalive` or `timewait`.
    pub kind: String,
    /// Milliseconds left when the snapshot was taken.
    pub remaining_ms: u64,
    /// Retransmission backoff, or unanswered probes.
    pub count: u32,
}

impl TimerRow {
    fn of(t: &sockstack_proto::TcpTimer) -> TimerRow {
        TimerRow {
            kind: t.kind.name().to_string(),
            remaining_ms: t.remaining.total_millis(),
            count: t.count,
        }
    }
}

/// One counter of `netstat -s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub layer: String,
    pub name: String,
    pub value: u64,
}

/// Everything one stack reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub pid: Option<u32>,
    pub name: String,
    pub sockets: Vec<SocketRow>,
    pub counters: Vec<Counter>,
}

impl Snapshot {
    /// The snapshot of `stack`: TCP rows (listeners, connections and
    /// orphans finishing their close), then UDP rows, then every counter.
    /// Timers count from the last time the stack was driven; a server with
    /// a clock uses [`Snapshot::at`].
    pub fn of(stack: &Stack, pid: Option<u32>, name: &str) -> Snapshot {
        Snapshot::at(stack, Instant::ZERO, pid, name)
    }

    /// [`Snapshot::of`] with each timer's time left measured from `now`
    /// (the stack's clock), so an idle stack's TIME_WAIT rows count down.
    pub fn at(stack: &Stack, now: Instant, pid: Option<u32>, name: &str) -> Snapshot {
        let row = |proto: &str, recv_q, send_q, local, foreign, state: String| SocketRow {
            proto: proto.to_string(),
            recv_q,
            send_q,
            local,
            foreign,
            state,
            pid,
            program: name.to_string(),
            rcvbuf: 0,
            sndbuf: 0,
            timer: None,
        };
        let unspec = SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0);
        let mut sockets: Vec<SocketRow> = stack
            .sockets()
            .snapshot_at(now)
            .into_iter()
            .map(|r| SocketRow {
                rcvbuf: r.rcvbuf,
                sndbuf: r.sndbuf,
                timer: r.timer.as_ref().map(TimerRow::of),
                ..row(
                    "tcp",
                    r.recv_q,
                    r.send_q,
                    r.local,
                    r.remote,
                    r.state.to_string(),
                )
            })
            .collect();
        sockets.extend(
            stack
                .udp_snapshot()
                .into_iter()
                .map(|r| row("udp", r.recv_q, 0, r.local, unspec, String::new())),
        );
        let counters = stack
            .stats_rows()
            .into_iter()
            .map(|r| Counter {
                layer: r.layer.to_string(),
                name: r.name.to_string(),
                value: r.value,
            })
            .collect();
        Snapshot {
            pid,
            name: name.to_string(),
            sockets,
            counters,
        }
    }
}

/// The directory control sockets live in (see the module doc).
pub fn runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SOCKSTACK_CONTROL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sockstack");
    }
    let run = Path::new("/run");
    if is_writable_dir(run) {
        return run.join("sockstack");
    }
    // Not root and no XDG session: a private directory per user.
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    std::env::temp_dir().join(format!("sockstack-{uid}"))
}

fn is_writable_dir(p: &Path) -> bool {
    let probe = p.join(format!(".sockstack-probe-{}", std::process::id()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            true
        }
        Err(_) => false,
    }
}

/// Create `dir` (mode 0700) if needed; refuse one that others can enter.
fn prepare_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A file name safe for any `name`: letters, digits, '-', '_' and '.' kept.
fn socket_file_name(pid: u32, name: &str) -> String {
    let clean: String = name
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{pid}-{clean}.sock")
}

/// The PID a control socket's file name starts with.
pub fn pid_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".sock")?;
    stem.split_once('-')?.0.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Serves snapshots on a control socket until dropped.
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ControlServer {
    /// Serve `snapshot()` under this process's PID and `name` in
    /// [`runtime_dir`].
    pub fn start(
        name: &str,
        snapshot: impl Fn() -> Snapshot + Send + 'static,
    ) -> io::Result<ControlServer> {
        let dir = runtime_dir();
        ControlServer::start_in(&dir, name, snapshot)
    }

    /// Serve in `dir` instead of the runtime directory.
    pub fn start_in(
        dir: &Path,
        name: &str,
        snapshot: impl Fn() -> Snapshot + Send + 'static,
    ) -> io::Result<ControlServer> {
        prepare_dir(dir)?;
        // Several stacks of one process may share a name: the second gets
        // "name-2", and so on (a file of a dead process with our PID only
        // costs a suffix; `discover` removes it once it is seen as stale).
        let mut path = dir.join(socket_file_name(std::process::id(), name));
        let mut n = 1;
        let listener = loop {
            match UnixListener::bind(&path) {
                Ok(l) => break l,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && n < 100 => {
                    n += 1;
                    let alt = format!("{name}-{n}");
                    path = dir.join(socket_file_name(std::process::id(), &alt));
                }
                Err(e) => return Err(e),
            }
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sockstack-control".into())
            .spawn(move || serve(&listener, &thread_stop, &snapshot))?;
        Ok(ControlServer {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: &UnixListener, stop: &AtomicBool, snapshot: &dyn Fn() -> Snapshot) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else {
            continue;
        };
        if let Err(e) = answer(conn, snapshot) {
            tracing::debug!("control client: {e}");
        }
    }
}

fn answer(conn: UnixStream, snapshot: &dyn Fn() -> Snapshot) -> io::Result<()> {
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&conn).take(MAX_REQUEST)).read_line(&mut line)?;
    let reply = match line.trim() {
        "snapshot" => serde_json::to_string(&snapshot()).map_err(io::Error::other)?,
        other => serde_json::json!({ "error": format!("unknown request {other:?}") }).to_string(),
    };
    let mut w = &conn;
    w.write_all(reply.as_bytes())?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Ask the stack behind `path` for its snapshot.
pub fn query(path: &Path) -> io::Result<Snapshot> {
    let conn = UnixStream::connect(path)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    (&conn).write_all(b"snapshot\n")?;
    let mut line = String::new();
    BufReader::new((&conn).take(64 << 20)).read_line(&mut line)?;
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
        if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
            return Err(io::Error::other(e.to_string()));
        }
    }
    serde_json::from_str(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Control sockets in `dir` whose process is alive, sorted by PID then
/// name. Sockets of dead processes are removed.
pub fn discover(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = pid_of(&path) else {
            continue;
        };
        if pid_alive(pid) {
            found.push((pid, path));
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sockstack-ctl-{tag}-{}", std::process::id()))
    }

    fn empty() -> Snapshot {
        Snapshot {
            pid: Some(std::process::id()),
            name: "t".into(),
            sockets: vec![SocketRow {
                proto: "tcp".into(),
                recv_q: 1,
                send_q: 2,
                local: "198.18.0.1:80".parse().unwrap(),
                foreign: "198.18.0.2:40000".parse().unwrap(),
                state: "ESTABLISHED".into(),
                pid: Some(std::process::id()),
                program: "t".into(),
                rcvbuf: 131_072,
                sndbuf: 16_384,
                timer: Some(TimerRow {
                    kind: "on".into(),
                    remaining_ms: 200,
                    count: 1,
                }),
            }],
            counters: vec![],
        }
    }

    #[test]
    fn serves_a_snapshot_with_private_modes_and_cleans_up() {
        let dir = tmp("serve");
        let server = ControlServer::start_in(&dir, "web/../x", empty).unwrap();
        let path = server.path().to_path_buf();
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            format!("{}-web_.._x.sock", std::process::id())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(discover(&dir).unwrap(), vec![path.clone()]);
        assert_eq!(query(&path).unwrap(), empty());
        assert_eq!(query(&path).unwrap(), empty());
        // A second stack with the same name gets its own socket.
        let twin = ControlServer::start_in(&dir, "web/../x", empty).unwrap();
        assert_ne!(twin.path(), server.path());
        drop(twin);
        assert_eq!(query(&path).unwrap(), empty());
        drop(server);
        assert!(!path.exists());
        let _ = std::fs::remove_dir(&dir);
    }

    /// A row from a stack without the `ss -m` / `ss -o` fields still
    /// parses; a row without a timer leaves the field out.
    #[test]
    fn rows_without_memory_or_timer_fields_parse() {
        let old = r#"{"proto":"tcp","recv_q":0,"send_q":0,"local":"198.18.0.1:80","foreign":"0.0.0.0:0","state":"LISTEN","pid":null,"program":"x"}"#;
        let row: SocketRow = serde_json::from_str(old).unwrap();
        assert_eq!((row.rcvbuf, row.sndbuf, row.timer.clone()), (0, 0, None));
        let text = serde_json::to_string(&row).unwrap();
        assert!(!text.contains("timer"), "{text}");
        let with = &empty().sockets[0];
        let back: SocketRow = serde_json::from_str(&serde_json::to_string(with).unwrap()).unwrap();
        assert_eq!(&back, with);
    }

    #[test]
    fn stale_sockets_of_dead_pids_are_removed() {
        let dir = tmp("stale");
        prepare_dir(&dir).unwrap();
        // PID max on Linux is below 2^22.
        let stale = dir.join("4194399-gone.sock");
        std::fs::write(&stale, b"").unwrap();
        assert!(discover(&dir).unwrap().is_empty());
        assert!(!stale.exists());
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn unknown_requests_get_an_error_line() {
        let dir = tmp("unknown");
        let server = ControlServer::start_in(&dir, "u", empty).unwrap();
        let mut c = UnixStream::connect(server.path()).unwrap();
        c.write_all(b"bogus\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert!(s.contains("error"), "{s}");
        drop(server);
        let _ = std::fs::remove_dir(&dir);
    }
}

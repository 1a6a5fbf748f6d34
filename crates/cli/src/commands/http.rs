//! The applications `sockstack serve` can run on its stack: a static-file
//! HTTP/1.1 server (`--http PORT --root DIR`), a UDP echo service
//! (`--udp-echo PORT`), and the control socket that `sockstack netstat`
//! reads (`--name`, default "serve").
//!
//! HTTP: GET and HEAD with keep-alive, requests parsed by `httparse`;
//! 400 for a malformed request, 404 for a missing file, 405 for other
//! methods, 431 past 8 KiB of headers, 503 past 256 connections. A path is
//! percent-decoded and refused (400) if any component is `..`, so no
//! request reaches outside the root. Bodies carry Content-Length. An idle
//! keep-alive connection is closed after 15 s.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sockstack::bsd::{consts::*, Bsd, Fd, PollFd, SockOpt};
use sockstack::control::ControlServer;
use sockstack::runtime::Host;

use super::send_file::register;
use crate::error::CliError;

const MAX_HEADER: usize = 8 * 1024;
const MAX_CONNS: usize = 256;
const IDLE: Duration = Duration::from_secs(15);
const TICK: Duration = Duration::from_millis(200);
const CHUNK: usize = 64 * 1024;

type HostBsd = Bsd<Arc<Host>>;

/// The services started for `serve`; dropping stops them.
pub struct Apps {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    _control: Option<ControlServer>,
}

impl Drop for Apps {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Start the control socket and whichever services were asked for.
pub fn start(
    host: &Arc<Host>,
    name: Option<&str>,
    http: Option<(u16, PathBuf)>,
    udp_echo: Option<u16>,
) -> Result<Apps, CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let control = register(host, name.unwrap_or("serve"));
    if let Some((port, root)) = http {
        let root = root
            .canonicalize()
            .map_err(|e| CliError::Usage(format!("--root {}: {e}", root.display())))?;
        let bsd = Arc::new(Bsd::new(Arc::clone(host)));
        let lfd = listen(&bsd, port)?;
        let stop = Arc::clone(&stop);
        threads.push(spawn("http", move || accept_loop(bsd, lfd, root, stop))?);
        println!("sockstack: HTTP on port {port}");
    }
    if let Some(port) = udp_echo {
        let h = host
            .with_stack(|s| s.udp_bind(Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| CliError::Runtime(format!("UDP port {port}: {e:?}")))?;
        let host = Arc::clone(host);
        let stop = Arc::clone(&stop);
        threads.push(spawn("udp-echo", move || udp_echo_loop(&host, h, &stop))?);
        println!("sockstack: UDP echo on port {port}");
    }
    Ok(Apps {
        stop,
        threads,
        _control: control,
    })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, CliError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| CliError::Runtime(format!("cannot start {name}: {e}")))
}

fn listen(bsd: &HostBsd, port: u16) -> Result<Fd, CliError> {
    let err = |e: sockstack::Errno| CliError::Runtime(format!("HTTP port {port}: {e}"));
    let fd = bsd.socket(AF_INET, SOCK_STREAM, 0).map_err(err)?;
    bsd.setsockopt(fd, SockOpt::ReuseAddr(true)).map_err(err)?;
    bsd.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .map_err(err)?;
    bsd.listen(fd, 128).map_err(err)?;
    Ok(fd)
}

fn udp_echo_loop(host: &Host, h: sockstack_proto::UdpHandle, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) && host.is_running() {
        let deadline = std::time::Instant::now() + TICK;
        host.wait_until(Some(deadline), |s| {
            let mut any = None;
            while let Ok((n, from)) = s.udp_recv_from(h, &mut buf) {
                // A full transmit queue drops the echo, as a busy host would.
                let _ = s.udp_send_to(h, from, buf.get(..n).unwrap_or_default());
                any = Some(());
            }
            any
        });
    }
    host.with_stack(|s| s.udp_close(h));
}

fn accept_loop(bsd: Arc<HostBsd>, lfd: Fd, root: PathBuf, stop: Arc<AtomicBool>) {
    let live = Arc::new(AtomicUsize::new(0));
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let mut p = [PollFd::new(lfd, POLLIN)];
        if bsd.poll(&mut p, Some(TICK)).unwrap_or(0) == 0 {
            workers.retain(|w| !w.is_finished());
            continue;
        }
        let Ok((fd, _peer)) = bsd.accept(lfd) else {
            continue;
        };
        if live.load(Ordering::SeqCst) >= MAX_CONNS {
            let _ = respond_error(&bsd, fd, 503, "Service Unavailable", false);
            let _ = bsd.close(fd);
            continue;
        }
        live.fetch_add(1, Ordering::SeqCst);
        let (bsd2, root2, live2, stop2) = (
            Arc::clone(&bsd),
            root.clone(),
            Arc::clone(&live),
            Arc::clone(&stop),
        );
        let w = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                serve_conn(&bsd2, fd, &root2, &stop2);
                let _ = bsd2.close(fd);
                live2.fetch_sub(1, Ordering::SeqCst);
            });
        match w {
            Ok(w) => workers.push(w),
            Err(_) => {
                live.fetch_sub(1, Ordering::SeqCst);
            }
        }
        workers.retain(|w| !w.is_finished());
    }
    let _ = bsd.close(lfd);
    for w in workers {
        let _ = w.join();
    }
}

/// A parsed request: what the server needs of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub keep_alive: bool,
    pub has_body: bool,
    /// Bytes of the buffer the request took.
    pub len: usize,
}

/// Parse a request head from `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(400);
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let conn = header("connection").unwrap_or_default();
    let keep_alive = if version == 1 {
        !conn.contains("close")
    } else {
        conn.contains("keep-alive")
    };
    let has_body = header("content-length").is_some_and(|v| v.trim() != "0")
        || header("transfer-encoding").is_some();
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        keep_alive,
        has_body,
        len,
    }))
}

/// The file a request path names under `root`, or the status to answer.
pub fn resolve(root: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    let mut out = root.to_path_buf();
    for comp in decoded.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(400),
            c if c.contains('\0') || c.contains('\\') => return Err(400),
            c => out.push(c),
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    // Symlinks may point anywhere; only serve what stays under the root.
    match out.canonicalize() {
        Ok(p) if p.starts_with(root) && p.is_file() => Ok(p),
        _ => Err(404),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn send_all(bsd: &HostBsd, fd: Fd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match bsd.send(fd, data, MSG_NOSIGNAL) {
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(_) => return false,
        }
    }
    true
}

fn respond_error(bsd: &HostBsd, fd: Fd, code: u16, reason: &str, keep: bool) -> bool {
    let body = format!("{code} {reason}\n");
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nServer: sockstack\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
        body.len(),
        if keep { "keep-alive" } else { "close" }
    );
    send_all(bsd, fd, head.as_bytes())
}

fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

fn serve_conn(bsd: &HostBsd, fd: Fd, root: &Path, stop: &AtomicBool) {
    let _ = bsd.setsockopt(fd, SockOpt::RcvTimeo(Some(IDLE)));
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_HEADER);
    let mut chunk = vec![0u8; CHUNK];
    while !stop.load(Ordering::SeqCst) {
        let req = match parse_request(&buf) {
            Ok(Some(r)) => r,
            Ok(None) if buf.len() >= MAX_HEADER => {
                respond_error(bsd, fd, 431, reason(431), false);
                return;
            }
            Ok(None) => {
                let room = MAX_HEADER + 1 - buf.len();
                let Some(space) = chunk.get_mut(..room.min(CHUNK)) else {
                    return;
                };
                match bsd.recv(fd, space, 0) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(space.get(..n).unwrap_or_default()),
                }
                continue;
            }
            Err(code) => {
                respond_error(bsd, fd, code, reason(code), false);
                return;
            }
        };
        buf.drain(..req.len.min(buf.len()));
        let head_only = req.method == "HEAD";
        if req.method != "GET" && !head_only {
            respond_error(bsd, fd, 405, reason(405), false);
            return;
        }
        if req.has_body {
            respond_error(bsd, fd, 400, reason(400), false);
            return;
        }
        let keep = req.keep_alive;
        let ok = match resolve(root, &req.path).and_then(|p| File::open(p).map_err(|_| 404)) {
            Ok(file) => send_file(bsd, fd, file, head_only, keep, &mut chunk),
            Err(code) => respond_error(bsd, fd, code, reason(code), keep),
        };
        if !ok || !keep {
            return;
        }
    }
}

fn send_file(
    bsd: &HostBsd,
    fd: Fd,
    mut file: File,
    head_only: bool,
    keep: bool,
    chunk: &mut [u8],
) -> bool {
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return respond_error(bsd, fd, 404, reason(404), keep);
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nServer: sockstack\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nConnection: {}\r\n\r\n",
        if keep { "keep-alive" } else { "close" }
    );
    if !send_all(bsd, fd, head.as_bytes()) {
        return false;
    }
    if head_only {
        return true;
    }
    let mut left = len;
    while left > 0 {
        let Ok(n) = file.read(chunk) else {
            return false;
        };
        if n == 0 {
            // The file shrank: the promised length cannot be kept.
            return false;
        }
        let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
        if !send_all(bsd, fd, chunk.get(..n).unwrap_or_default()) {
            return false;
        }
        left -= n as u64;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_keep_alive_rules() {
        let r = parse_request(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.keep_alive),
            ("GET", "/a", true)
        );
        let r = parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
        let r = parse_request(b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!r.keep_alive);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHo"), Ok(None));
        assert_eq!(parse_request(b"GARBAGE\r\n\r\n"), Err(400));
        assert!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
                .unwrap()
                .unwrap()
                .has_body
        );
    }

    #[test]
    fn paths_never_leave_the_root() {
        let root = std::env::temp_dir().join(format!("sockstack-http-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f.txt"), b"x").unwrap();
        std::fs::write(root.join("index.html"), b"i").unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, "/sub/f.txt").unwrap(),
            root.join("sub/f.txt")
        );
        assert_eq!(
            resolve(&root, "/sub/%66.txt?q=1").unwrap(),
            root.join("sub/f.txt")
        );
        assert_eq!(resolve(&root, "/").unwrap(), root.join("index.html"));
        assert_eq!(resolve(&root, "/missing"), Err(404));
        for bad in [
            "/../etc/passwd",
            "/sub/../../x",
            "/%2e%2e/x",
            "relative",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, bad), Err(400), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}

//! `sockstack recv-file`: accept one connection, read a length-prefixed
//! header (name, size, SHA-256) and then the bytes, and write them into
//! `--out DIR`. The file protocol lives here; `send_file.rs` is the sender.
//!
//! Wire format (all integers big-endian):
//! `u32 header_len`, then the header: `u16 name_len`, the name (UTF-8),
//! `u64 size`, 32 bytes of SHA-256. The receiver answers the header with
//! one line, `GO\n` or `ERR <reason>\n`; after `GO` come exactly `size`
//! bytes, and the receiver's verdict, `OK\n` or `ERR <reason>\n`.
//!
//! The receiver never writes outside DIR: only the last path component of
//! the name is used, and `.`, `..`, empty names and control characters are
//! refused. An existing file is refused unless `--force`. A short
//! transfer or a hash mismatch is an error and the partial file is deleted.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use sockstack::bsd::{consts::*, Bsd, Driver, Fd};

use super::send_file::{start_hosts, HostArgs};
use crate::error::CliError;

/// Largest header accepted (a name is at most 255 bytes on Linux).
pub const MAX_HEADER: usize = 2 + 255 + 8 + 32;
/// Copy buffer size.
pub const CHUNK: usize = 64 * 1024;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack recv-file --tap ss0 --addr 198.18.0.2/24 --listen 9000 --out ./in\n  \
    sockstack send-file --memory big.iso --out /tmp/in    (both ends in one process)")]
pub struct RecvFileArgs {
    /// TCP port to accept the transfer on
    #[arg(long, value_name = "PORT")]
    pub listen: u16,
    /// Directory the file is written into (never outside it)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite a file of the same name
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub host: HostArgs,
}

/// The header that precedes the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl Header {
    /// `u32 len` + header, ready to send.
    pub fn encode(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let name = name.get(..name.len().min(255)).unwrap_or(name);
        let mut h = Vec::with_capacity(4 + MAX_HEADER);
        let len = 2 + name.len() + 8 + 32;
        h.extend_from_slice(&(len as u32).to_be_bytes());
        h.extend_from_slice(&(name.len() as u16).to_be_bytes());
        h.extend_from_slice(name);
        h.extend_from_slice(&self.size.to_be_bytes());
        h.extend_from_slice(&self.sha256);
        h
    }

    /// Parse the header body (after the length).
    pub fn decode(b: &[u8]) -> Result<Header, String> {
        let bad = || "malformed transfer header".to_string();
        let name_len = usize::from(u16::from_be_bytes(
            b.get(..2).ok_or_else(bad)?.try_into().map_err(|_| bad())?,
        ));
        let name = b.get(2..2 + name_len).ok_or_else(bad)?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| "file name is not UTF-8")?;
        let rest = b.get(2 + name_len..).ok_or_else(bad)?;
        if rest.len() != 40 {
            return Err(bad());
        }
        let size = u64::from_be_bytes(
            rest.get(..8)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let sha256 = rest
            .get(8..40)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        Ok(Header { name, size, sha256 })
    }
}

/// The file name to write, from a name the sender chose: its last path
/// component, refused if empty, `.`, `..` or containing control characters.
pub fn safe_name(name: &str) -> Result<String, String> {
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!("refusing file name {name:?}: it contains '..'"));
    }
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    if last.is_empty() || last == "." || last.chars().any(|c| c.is_control()) {
        return Err(format!("refusing file name {name:?}"));
    }
    Ok(last.to_string())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A progress bar on stderr with rate and ETA; hidden when stderr is not a
/// terminal.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

pub fn run(args: RecvFileArgs) -> Result<(), CliError> {
    if args.host.memory {
        return Err(CliError::Usage(
            "recv-file --memory needs a file to send: use `sockstack send-file --memory FILE --out DIR`"
                .into(),
        ));
    }
    let hosts = start_hosts(&args.host, "recv-file", None)?;
    let bsd = hosts
        .receiver()
        .ok_or_else(|| CliError::Runtime("no receiving host".into()))?;
    let lfd = listen(bsd, args.listen)?;
    eprintln!(
        "sockstack: waiting for a file on port {} (into {})",
        args.listen,
        args.out.display()
    );
    let got = receive_one(bsd, lfd, &args.out, args.force)?;
    println!("{got}");
    Ok(())
}

fn sys(what: &str) -> impl Fn(sockstack::Errno) -> CliError + '_ {
    move |e| CliError::Runtime(format!("{what}: {e}"))
}

/// A listening socket on `port`.
pub fn listen<D: Driver>(bsd: &Bsd<D>, port: u16) -> Result<Fd, CliError> {
    let fd = bsd.socket(AF_INET, SOCK_STREAM, 0).map_err(sys("socket"))?;
    bsd.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .map_err(sys("bind"))?;
    bsd.listen(fd, 16).map_err(sys("listen"))?;
    Ok(fd)
}

/// Accept one transfer on `lfd` and store it in `dir`; returns a summary.
pub fn receive_one<D: Driver>(
    bsd: &Bsd<D>,
    lfd: Fd,
    dir: &Path,
    force: bool,
) -> Result<String, CliError> {
    let (fd, peer) = bsd.accept(lfd).map_err(sys("accept"))?;
    let result = receive_on(bsd, fd, dir, force);
    let reply = match &result {
        Ok(_) => "OK".to_string(),
        Err(e) => format!("ERR {e}"),
    };
    let _ = send_line(bsd, fd, &reply);
    let _ = bsd.close(fd);
    result.map(|(path, size)| {
        format!(
            "received {} ({size} bytes) from {peer}, SHA-256 verified",
            path.display()
        )
    })
}

/// Send one protocol line.
pub fn send_line<D: Driver>(bsd: &Bsd<D>, fd: Fd, line: &str) -> Result<(), CliError> {
    let mut data = format!("{line}\n").into_bytes();
    while !data.is_empty() {
        let n = bsd.send(fd, &data, MSG_NOSIGNAL).map_err(sys("send"))?;
        data.drain(..n.min(data.len()));
    }
    Ok(())
}

/// Read one protocol line (at most 512 bytes; `None` at end of stream).
pub fn read_line<D: Driver>(bsd: &Bsd<D>, fd: Fd) -> Result<Option<String>, CliError> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 512 {
        if bsd.recv(fd, &mut b, 0).map_err(sys("recv"))? == 0 {
            break;
        }
        if b[0] == b'\n' {
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
        line.push(b[0]);
    }
    Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()))
}

fn read_exact<D: Driver>(bsd: &Bsd<D>, fd: Fd, buf: &mut [u8]) -> Result<usize, CliError> {
    let mut got = 0;
    while got < buf.len() {
        let rest = buf.get_mut(got..).unwrap_or_default();
        let n = bsd.recv(fd, rest, 0).map_err(sys("recv"))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

fn receive_on<D: Driver>(
    bsd: &Bsd<D>,
    fd: Fd,
    dir: &Path,
    force: bool,
) -> Result<(PathBuf, u64), CliError> {
    let mut len = [0u8; 4];
    if read_exact(bsd, fd, &mut len)? < 4 {
        return Err(CliError::Runtime(
            "the sender closed before the header".into(),
        ));
    }
    let hlen = u32::from_be_bytes(len) as usize;
    if hlen > MAX_HEADER {
        return Err(CliError::Runtime(format!(
            "header of {hlen} bytes is too long"
        )));
    }
    let mut hbuf = vec![0u8; hlen];
    if read_exact(bsd, fd, &mut hbuf)? < hlen {
        return Err(CliError::Runtime(
            "the sender closed inside the header".into(),
        ));
    }
    let header = Header::decode(&hbuf).map_err(CliError::Runtime)?;
    let name = safe_name(&header.name).map_err(CliError::Runtime)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?;
    let path = dir.join(&name);
    let mut opts = OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let file = opts.open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Runtime(format!(
                "{} exists (use --force to overwrite)",
                path.display()
            ))
        } else {
            CliError::Runtime(format!("{}: {e}", path.display()))
        }
    })?;
    if let Err(e) = send_line(bsd, fd, "GO") {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    match copy_in(bsd, fd, file, &header, &path) {
        Ok(()) => Ok((path, header.size)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

fn copy_in<D: Driver>(
    bsd: &Bsd<D>,
    fd: Fd,
    mut file: File,
    header: &Header,
    path: &Path,
) -> Result<(), CliError> {
    let bar = progress(header.size, &format!("recv {}", header.name));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = header.size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = bsd.recv(fd, chunk, 0).map_err(sys("recv"))?;
        if n == 0 {
            bar.abandon();
            return Err(CliError::Runtime(format!(
                "short transfer: {} of {} bytes arrived; deleted {}",
                header.size - left,
                header.size,
                path.display()
            )));
        }
        let data = chunk.get(..n).unwrap_or_default();
        hasher.update(data);
        file.write_all(data)
            .map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
        left -= n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    file.sync_all()
        .map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
    let got: [u8; 32] = hasher.finalize().into();
    if got != header.sha256 {
        return Err(CliError::Runtime(format!(
            "SHA-256 mismatch: expected {}, got {}; deleted {}",
            hex(&header.sha256),
            hex(&got),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_bounds() {
        let h = Header {
            name: "a.bin".into(),
            size: 12345,
            sha256: [7; 32],
        };
        let e = h.encode();
        assert_eq!(
            u32::from_be_bytes(e[..4].try_into().unwrap()) as usize,
            e.len() - 4
        );
        assert_eq!(Header::decode(&e[4..]).unwrap(), h);
        assert!(Header::decode(&e[4..e.len() - 1]).is_err());
        assert!(Header::decode(&[0, 9, 1]).is_err());
    }

    /// Two in-memory hosts; `sender` runs against a receiver on port 9000
    /// writing into a fresh directory; returns (receiver's result, dir).
    fn transfer(
        tag: &str,
        sender: impl FnOnce(&crate::commands::send_file::HostBsd, Fd) + Send,
    ) -> (Result<String, CliError>, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sockstack-rf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let args = HostArgs {
            tap: None,
            addr: None,
            memory: true,
            name: Some(format!("test-{tag}")),
            memory_bandwidth: None,
        };
        let hosts = start_hosts(&args, "recv-file", None).unwrap();
        let (tx, rx) = (hosts.sender().unwrap(), hosts.receiver().unwrap());
        let lfd = listen(rx, 9000).unwrap();
        let r = std::thread::scope(|s| {
            let t = s.spawn(|| receive_one(rx, lfd, &dir, false));
            let fd = tx.socket(AF_INET, SOCK_STREAM, 0).unwrap();
            tx.connect(fd, "198.18.0.2:9000".parse().unwrap()).unwrap();
            sender(tx, fd);
            t.join().unwrap()
        });
        (r, dir)
    }

    #[test]
    fn short_transfer_is_an_error_and_leaves_no_file() {
        let (r, dir) = transfer("short", |tx, fd| {
            let h = Header {
                name: "short.bin".into(),
                size: 1000,
                sha256: [0; 32],
            };
            tx.send(fd, &h.encode(), 0).unwrap();
            assert_eq!(read_line(tx, fd).unwrap().as_deref(), Some("GO"));
            tx.send(fd, &[1u8; 10], 0).unwrap();
            tx.close(fd).unwrap();
        });
        let e = r.unwrap_err().to_string();
        assert!(e.contains("short transfer: 10 of 1000 bytes"), "{e}");
        assert!(!dir.join("short.bin").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hash_mismatch_is_an_error_and_leaves_no_file() {
        let (r, dir) = transfer("hash", |tx, fd| {
            let h = Header {
                name: "x.bin".into(),
                size: 4,
                sha256: [0; 32],
            };
            tx.send(fd, &h.encode(), 0).unwrap();
            assert_eq!(read_line(tx, fd).unwrap().as_deref(), Some("GO"));
            tx.send(fd, b"abcd", 0).unwrap();
            let v = read_line(tx, fd).unwrap().unwrap();
            assert!(v.starts_with("ERR SHA-256 mismatch"), "{v}");
            tx.close(fd).unwrap();
        });
        assert!(r.unwrap_err().to_string().contains("SHA-256 mismatch"));
        assert!(!dir.join("x.bin").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn escaping_names_are_refused_before_any_write() {
        let (r, dir) = transfer("escape", |tx, fd| {
            let h = Header {
                name: "../escape.bin".into(),
                size: 4,
                sha256: [0; 32],
            };
            tx.send(fd, &h.encode(), 0).unwrap();
            let v = read_line(tx, fd).unwrap().unwrap();
            assert!(v.starts_with("ERR refusing file name"), "{v}");
            tx.close(fd).unwrap();
        });
        assert!(r.is_err());
        assert!(!dir.parent().unwrap().join("escape.bin").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_stay_inside_the_directory() {
        assert_eq!(safe_name("a.txt").unwrap(), "a.txt");
        assert_eq!(safe_name("/etc/passwd").unwrap(), "passwd");
        assert_eq!(safe_name("dir/sub/x").unwrap(), "x");
        for bad in ["..", "../x", "a/../../b", "", ".", "dir/", "a\nb", "..\\x"] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
    }
}

//! `sockstack send-file FILE HOST PORT`: send one file to `recv-file`
//! (protocol in `recv_file.rs`) over a stack on a TAP device, or with
//! `--memory` run both ends in this process on two hosts joined by an
//! in-memory wire. Every stack registers a control socket, so
//! `sockstack netstat` shows the transfer while it runs.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use sha2::{Digest, Sha256};
use sockstack::bsd::{consts::*, Bsd, SockOpt};
use sockstack::control::{ControlServer, Snapshot};
use sockstack::link::memory::{self, WireConfig};
use sockstack::link::tap::TapLink;
use sockstack::runtime::Host;
use sockstack_proto::wire::MacAddr;
use sockstack_proto::{Stack, StackConfig};

use super::recv_file::{self, hex, progress, Header, CHUNK};
use crate::args::parse_ifname;
use crate::device;
use crate::error::CliError;
use crate::parse::{parse_seconds, parse_unicast, AddrPrefix};

/// Addresses of the two in-memory hosts.
const MEM_SENDER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const MEM_RECEIVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const MEM_PORT: u16 = 9000;

/// Where the stack runs: a TAP device or the in-memory wire.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// Attach to (or create) the TAP device IFNAME (needs --addr)
    #[arg(long, value_name = "IFNAME", value_parser = parse_ifname, requires = "addr")]
    pub tap: Option<String>,
    /// Our address and prefix length on the TAP device, e.g. 198.18.0.2/24
    #[arg(long, value_name = "A/P")]
    pub addr: Option<AddrPrefix>,
    /// Run both ends in this process on an in-memory wire (no privileges)
    #[arg(long, conflicts_with = "tap")]
    pub memory: bool,
    /// Name shown by `sockstack netstat` (default: the command)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Bits per second on the in-memory wire (default: unlimited)
    #[arg(long, value_name = "BPS", hide = true)]
    pub memory_bandwidth: Option<u64>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack send-file --tap ss0 --addr 198.18.0.1/24 big.iso 198.18.0.2 9000\n  \
    sockstack send-file --tap ss0 --addr 198.18.0.1/24 -w 5 big.iso 198.18.0.2 9000\n  \
    sockstack send-file --memory big.iso --out /tmp/in")]
pub struct SendFileArgs {
    /// The file to send
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The receiver's address (with --memory: the second in-memory host)
    #[arg(value_name = "HOST", value_parser = parse_unicast)]
    pub dest: Option<Ipv4Addr>,
    /// The receiver's port (with --memory: 9000)
    #[arg(value_name = "PORT")]
    pub port: Option<u16>,
    /// With --memory: where the receiving end writes (default: a temporary
    /// directory, removed afterwards)
    #[arg(long, value_name = "DIR", requires = "memory")]
    pub out: Option<PathBuf>,
    /// With --memory: let the receiving end overwrite an existing file
    #[arg(long, requires = "memory")]
    pub force: bool,
    /// Give up connecting after SECONDS (ETIMEDOUT); default: the SYN
    /// retries run out (about two minutes, as on Linux)
    #[arg(short = 'w', long = "wait", value_name = "SECONDS", value_parser = parse_seconds)]
    pub wait: Option<std::time::Duration>,
    #[command(flatten)]
    pub host: HostArgs,
}

pub type HostBsd = Bsd<Arc<Host>>;

/// The running stacks of one command, each with its control socket.
pub struct Hosts {
    sender: Option<HostBsd>,
    receiver: Option<HostBsd>,
    _controls: Vec<ControlServer>,
}

impl Hosts {
    pub fn sender(&self) -> Option<&HostBsd> {
        self.sender.as_ref()
    }
    pub fn receiver(&self) -> Option<&HostBsd> {
        self.receiver.as_ref()
    }
}

/// Serve snapshots of `host` as `name`; a failure only warns.
pub fn register(host: &Arc<Host>, name: &str) -> Option<ControlServer> {
    let h = Arc::clone(host);
    let label = name.to_string();
    let pid = std::process::id();
    match ControlServer::start(name, move || {
        let now = h.now();
        h.with_stack(|s| Snapshot::at(s, now, Some(pid), &label))
    }) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("sockstack: warning: no control socket for netstat: {e}");
            None
        }
    }
}

/// Start the stack(s) `args` ask for. `role` names the command; on a TAP
/// device the one host plays it (`sender: true` for send-file).
pub fn start_hosts(args: &HostArgs, role: &str, sender: Option<()>) -> Result<Hosts, CliError> {
    let name = args.name.clone().unwrap_or_else(|| role.to_string());
    if args.memory {
        let mut wire = WireConfig::ethernet();
        if let Some(bps) = args.memory_bandwidth {
            wire = wire.with_bandwidth(bps);
        }
        let (la, lb) = memory::pair(wire);
        let cfg = |last: u8, ip| {
            let mut c = StackConfig::ethernet(MacAddr([2, 0, 0x5e, 0, 1, last]), ip, 24);
            c.seed = device::random_seed();
            c
        };
        let spawn = |n: &str, c, l| {
            Host::spawn(n, Stack::new(c), l)
                .map(Arc::new)
                .map_err(|e| CliError::Runtime(format!("cannot start the host: {e}")))
        };
        let a = spawn("send-file", cfg(1, MEM_SENDER), la)?;
        let b = spawn("recv-file", cfg(2, MEM_RECEIVER), lb)?;
        let (sname, rname) = if role == "send-file" {
            (name, "recv-file".to_string())
        } else {
            ("send-file".to_string(), name)
        };
        let controls = [register(&a, &sname), register(&b, &rname)]
            .into_iter()
            .flatten()
            .collect();
        return Ok(Hosts {
            sender: Some(Bsd::new(a)),
            receiver: Some(Bsd::new(b)),
            _controls: controls,
        });
    }
    let (Some(tap), Some(addr)) = (&args.tap, &args.addr) else {
        return Err(CliError::Usage(
            "give --tap IFNAME --addr A/P, or --memory".into(),
        ));
    };
    let link = TapLink::open(tap).map_err(|e| device::open_error(&e))?;
    device::expect_up("TAP", link.name());
    let mut cfg = StackConfig::ethernet(device::random_mac(), addr.addr, addr.prefix_len);
    cfg.seed = device::random_seed();
    let host = Host::spawn(role, Stack::new(cfg), link)
        .map(Arc::new)
        .map_err(|e| CliError::Runtime(format!("cannot start the host: {e}")))?;
    let controls = register(&host, &name).into_iter().collect();
    let bsd = Some(Bsd::new(host));
    let (s, r) = if sender.is_some() {
        (bsd, None)
    } else {
        (None, bsd)
    };
    Ok(Hosts {
        sender: s,
        receiver: r,
        _controls: controls,
    })
}

fn file_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::Runtime(format!("{}: {e}", path.display()))
}

pub fn run(args: SendFileArgs) -> Result<(), CliError> {
    let meta = std::fs::metadata(&args.file).map_err(file_err(&args.file))?;
    if !meta.is_file() {
        return Err(CliError::Usage(format!(
            "{} is not a regular file",
            args.file.display()
        )));
    }
    let (dest, port) = match (args.host.memory, args.dest, args.port) {
        (true, d, p) => (d.unwrap_or(MEM_RECEIVER), p.unwrap_or(MEM_PORT)),
        (false, Some(d), Some(p)) => (d, p),
        _ => {
            return Err(CliError::Usage(
                "send-file needs FILE HOST PORT (or --memory FILE)".into(),
            ))
        }
    };
    let hosts = start_hosts(&args.host, "send-file", Some(()))?;
    let sender = hosts
        .sender()
        .ok_or_else(|| CliError::Runtime("no sending host".into()))?;

    // With --memory the receiving end runs on a thread of this process.
    let receiving = match hosts.receiver() {
        Some(rx) if args.host.memory => {
            let lfd = recv_file::listen(rx, port)?;
            let (dir, temp) = match &args.out {
                Some(d) => (d.clone(), false),
                None => (
                    std::env::temp_dir().join(format!("sockstack-recv-{}", std::process::id())),
                    true,
                ),
            };
            Some((lfd, dir, temp))
        }
        _ => None,
    };

    let summary = std::thread::scope(|scope| -> Result<String, CliError> {
        let rx_thread = receiving.as_ref().and_then(|(lfd, dir, _)| {
            let rx = hosts.receiver()?;
            let force = args.force;
            Some(scope.spawn(move || recv_file::receive_one(rx, *lfd, dir, force)))
        });
        let sent = send(
            sender,
            &args.file,
            meta.len(),
            SocketAddrV4::new(dest, port),
            args.wait,
        );
        let received = match rx_thread {
            Some(t) => Some(
                t.join()
                    .map_err(|_| CliError::Runtime("the receiving thread panicked".into()))?,
            ),
            None => None,
        };
        let sent = sent?;
        match received {
            Some(r) => Ok(format!("{sent}\n{}", r?)),
            None => Ok(sent),
        }
    });
    if let Some((_, dir, true)) = &receiving {
        let _ = std::fs::remove_dir_all(dir);
    }
    println!("{}", summary?);
    Ok(())
}

/// Hash the file, connect, send header and bytes, wait for the verdict.
fn send(
    bsd: &HostBsd,
    path: &std::path::Path,
    size: u64,
    dest: SocketAddrV4,
    wait: Option<std::time::Duration>,
) -> Result<String, CliError> {
    let sys = |what: &'static str| {
        move |e: sockstack::Errno| CliError::Runtime(format!("{what} {dest}: {e}"))
    };
    let mut hasher = Sha256::new();
    let mut f = File::open(path).map_err(file_err(path))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf).map_err(file_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    let sha256: [u8; 32] = hasher.finalize().into();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::Usage(format!("{} has no UTF-8 file name", path.display())))?
        .to_string();
    let header = Header {
        name: name.clone(),
        size,
        sha256,
    };

    let fd = bsd.socket(AF_INET, SOCK_STREAM, 0).map_err(sys("socket"))?;
    let result = (|| {
        connect(bsd, fd, dest, wait).map_err(sys("connect to"))?;
        send_all(bsd, fd, &header.encode()).map_err(sys("send to"))?;
        verdict(recv_file::read_line(bsd, fd)?, "GO")?;
        let bar = progress(size, &format!("send {name}"));
        let mut f = File::open(path).map_err(file_err(path))?;
        let mut left = size;
        while left > 0 {
            let n = f.read(&mut buf).map_err(file_err(path))?;
            if n == 0 {
                return Err(CliError::Runtime(format!(
                    "{} shrank while being sent",
                    path.display()
                )));
            }
            let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
            send_all(bsd, fd, buf.get(..n).unwrap_or_default()).map_err(sys("send to"))?;
            left -= n as u64;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        bsd.shutdown(fd, SHUT_WR).map_err(sys("shutdown"))?;
        verdict(recv_file::read_line(bsd, fd)?, "OK")?;
        Ok(format!(
            "sent {name} ({size} bytes) to {dest}, SHA-256 {}",
            hex(&sha256)
        ))
    })();
    let _ = bsd.close(fd);
    result
}

/// connect(2), bounded by `wait` when given: a connect that outlasts
/// SO_SNDTIMEO returns EINPROGRESS (as on Linux), which we report as
/// ETIMEDOUT, the error the exhausted SYN retries would give.
fn connect(
    bsd: &HostBsd,
    fd: sockstack::Fd,
    dest: SocketAddrV4,
    wait: Option<std::time::Duration>,
) -> sockstack::bsd::Result<()> {
    let Some(wait) = wait else {
        return bsd.connect(fd, dest);
    };
    bsd.setsockopt(fd, SockOpt::SndTimeo(Some(wait)))?;
    match bsd.connect(fd, dest) {
        Ok(()) => bsd.setsockopt(fd, SockOpt::SndTimeo(None)),
        Err(sockstack::Errno::EINPROGRESS) => Err(sockstack::Errno::ETIMEDOUT),
        Err(e) => Err(e),
    }
}

/// `Ok` when the receiver said `want`; its reason otherwise.
fn verdict(line: Option<String>, want: &str) -> Result<(), CliError> {
    match line.as_deref().map(str::trim) {
        Some(l) if l == want => Ok(()),
        Some(l) => match l.strip_prefix("ERR ") {
            Some(why) => Err(CliError::Runtime(format!("the receiver refused: {why}"))),
            None => Err(CliError::Runtime(format!("unexpected reply {l:?}"))),
        },
        None => Err(CliError::Runtime(
            "the receiver closed the connection without a verdict".into(),
        )),
    }
}

fn send_all(bsd: &HostBsd, fd: sockstack::Fd, mut data: &[u8]) -> sockstack::bsd::Result<()> {
    while !data.is_empty() {
        let n = bsd.send(fd, data, MSG_NOSIGNAL)?;
        data = data.get(n..).unwrap_or_default();
    }
    Ok(())
}

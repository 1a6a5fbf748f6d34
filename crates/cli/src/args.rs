//! The command line, declared with clap's derive API.
//!
//! Values are validated while parsing (see `parse.rs`), so a command body
//! only sees well-formed addresses, MACs and MTUs.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sockstack::link::impair::ImpairConfig;
use sockstack_proto::wire::MacAddr;

use crate::parse::{
    parse_mac, parse_mtu, parse_ping_size, parse_seconds, parse_unicast, AddrPrefix,
};

#[derive(Debug, Parser)]
#[command(
    name = "sockstack",
    version,
    about = "A user-space TCP/IP stack with BSD socket semantics",
    propagate_version = true,
    after_help = "Examples:\n  \
    sockstack demo                 the socket textbook, live, in virtual time\n  \
    sockstack serve --tap ss0 --addr 198.18.0.2/24 --http 8080 --root ./www\n  \
    sockstack netstat              the sockets of every running stack\n  \
    sockstack send-file --memory big.iso --out /tmp/in\n\n\
    `sockstack <COMMAND> --help` shows each command's own examples."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The socket textbook, live: two in-memory hosts in virtual time (no privileges)
    Demo(DemoArgs),
    /// Run a host on a TAP or TUN device until SIGINT/SIGTERM
    Serve(ServeArgs),
    /// Send ICMP echo requests, like ping(8)
    Ping(PingArgs),
    /// Connect (or listen) over TCP and pipe stdin/stdout, like nc(1)
    Nc(NcArgs),
    /// List the sockets of every running stack, like netstat -tunap
    Netstat(crate::commands::netstat::NetstatArgs),
    /// Send one file (name, size, SHA-256, bytes) to `sockstack recv-file`
    SendFile(crate::commands::send_file::SendFileArgs),
    /// Receive one file into a directory, verifying its SHA-256
    RecvFile(crate::commands::recv_file::RecvFileArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack demo                          the textbook run (seed 1), in milliseconds\n  \
    sockstack demo --seed 7 --pcap d.pcap   another seed; open d.pcap in Wireshark")]
pub struct DemoArgs {
    /// Seed for every random choice (loss, ports, ...); one seed, one run
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every frame on the wire to this pcap file
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// The device a host attaches to: exactly one of `--tap` or `--tun`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct DeviceArgs {
    /// Attach to (or create) the TAP device IFNAME: Ethernet frames
    #[arg(long, value_name = "IFNAME", value_parser = parse_ifname)]
    pub tap: Option<String>,
    /// Attach to (or create) the TUN device IFNAME: bare IPv4 packets
    #[arg(long, value_name = "IFNAME", value_parser = parse_ifname)]
    pub tun: Option<String>,
}

/// How a host attaches to a device: shared by `serve` and `nc`.
#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Our address and prefix length, e.g. 198.18.0.2/24
    #[arg(long, value_name = "A/P")]
    pub addr: AddrPrefix,
    /// Default gateway (must be on the --addr subnet)
    #[arg(long, value_name = "IP", value_parser = parse_unicast)]
    pub gateway: Option<Ipv4Addr>,
    /// Our MAC address (TAP only); default: a random locally administered one
    #[arg(long, value_name = "MAC", value_parser = parse_mac, conflicts_with = "tun")]
    pub mac: Option<MacAddr>,
    /// IP MTU in bytes (68..=65535)
    #[arg(long, value_name = "N", default_value = "1500", value_parser = parse_mtu)]
    pub mtu: usize,
    /// Write every frame sent and received to this pcap file
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Impair the link: loss=P,dup=P,reorder=P,corrupt=P,delay=5ms,jitter=1ms,seed=N
    #[arg(long, value_name = "SPEC")]
    pub impair: Option<ImpairConfig>,
    /// TAP offloads (IFF_VNET_HDR, TSO and checksum: 64 KiB TCP segments
    /// each way); plain frames when off or when the kernel refuses
    #[arg(long, value_name = "on|off", default_value = "on", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub offload: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack serve --tap ss0 --addr 198.18.0.2/24                 answer ARP and ping\n  \
    sockstack serve --tap ss0 --addr 198.18.0.2/24 --echo 7 --discard 9\n  \
    sockstack serve --tap ss0 --addr 198.18.0.2/24 --http 8080 --root ./www --udp-echo 7 --name web\n  \
    sockstack serve --tun ss1 --addr 198.18.0.2/24 --impair loss=1%,seed=3 --pcap run.pcap")]
pub struct ServeArgs {
    #[command(flatten)]
    pub net: HostArgs,
    /// Serve TCP echo (RFC 862) on PORT; repeat for more ports
    #[arg(long = "echo", value_name = "PORT", value_parser = parse_port)]
    pub echo: Vec<u16>,
    /// Serve TCP discard (RFC 863) on PORT; repeat for more ports
    #[arg(long = "discard", value_name = "PORT", value_parser = parse_port)]
    pub discard: Vec<u16>,
    /// Serve the files under --root over HTTP/1.1 on PORT
    #[arg(long, value_name = "PORT", requires = "root")]
    pub http: Option<u16>,
    /// The directory --http serves (nothing outside it)
    #[arg(long, value_name = "DIR", requires = "http")]
    pub root: Option<PathBuf>,
    /// Echo UDP datagrams on PORT back to their sender
    #[arg(long, value_name = "PORT")]
    pub udp_echo: Option<u16>,
    /// Name shown by `sockstack netstat` (default: serve)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack nc --tap ss0 --addr 198.18.0.2/24 198.18.0.1 7       connect, pipe stdin/stdout\n  \
    sockstack nc --tap ss0 --addr 198.18.0.2/24 -w 3 198.18.0.1 80 give up connecting after 3 s\n  \
    sockstack nc --tap ss0 --addr 198.18.0.2/24 -l 5000 > got.bin  accept one connection\n  \
    printf 'GET / HTTP/1.0\\r\\n\\r\\n' | sockstack nc --tap ss0 --addr 198.18.0.2/24 198.18.0.1 80")]
pub struct NcArgs {
    #[command(flatten)]
    pub net: HostArgs,
    /// Accept one connection on PORT instead of connecting
    #[arg(short = 'l', long, value_name = "PORT", value_parser = parse_port,
          conflicts_with_all = ["host", "port"])]
    pub listen: Option<u16>,
    /// Report the connection and how it ended on stderr
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Give up connecting after SECONDS (ETIMEDOUT); default: the SYN
    /// retries run out (about two minutes, as on Linux)
    #[arg(short = 'w', long = "wait", value_name = "SECONDS", value_parser = parse_seconds)]
    pub wait: Option<Duration>,
    /// Name shown by `sockstack netstat` (default: nc)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The host to connect to
    #[arg(value_name = "HOST", value_parser = parse_unicast, required_unless_present = "listen")]
    pub host: Option<Ipv4Addr>,
    /// The TCP port to connect to
    #[arg(value_name = "PORT", value_parser = parse_port, required_unless_present = "listen")]
    pub port: Option<u16>,
}

/// A TCP port other than 0.
pub fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) => Err("port 0 is not a port one can serve or reach".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{s:?} is not a TCP port (1..=65535)")),
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack ping 198.18.0.1                     two in-memory hosts, virtual time\n  \
    sockstack ping --tap ss0 --addr 198.18.0.2/24 -c 3 198.18.0.1\n  \
    sockstack ping --tap ss0 --addr 198.18.0.2/24 -i 0.2 -s 1472 -W 2 198.18.0.1")]
pub struct PingArgs {
    /// Ping over the TAP device IFNAME (needs --addr)
    #[arg(long, value_name = "IFNAME", value_parser = parse_ifname, requires = "addr")]
    pub tap: Option<String>,
    /// Our address on the TAP device (with --tap), or on the in-memory wire
    #[arg(long, value_name = "A/P")]
    pub addr: Option<AddrPrefix>,
    /// Ping between two in-memory hosts in virtual time (the default without --tap)
    #[arg(long, conflicts_with = "tap")]
    pub memory: bool,
    /// Destination address
    #[arg(value_name = "DEST", value_parser = parse_unicast)]
    pub dest: Ipv4Addr,
    /// Stop after sending N echo requests
    #[arg(short = 'c', allow_negative_numbers = true, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub count: u32,
    /// Seconds between echo requests
    #[arg(short = 'i', allow_negative_numbers = true, value_name = "SECONDS", default_value = "1", value_parser = parse_seconds)]
    pub interval: Duration,
    /// Bytes of echo payload
    #[arg(short = 's', allow_negative_numbers = true, value_name = "SIZE", default_value_t = 56, value_parser = parse_ping_size)]
    pub size: usize,
    /// Seconds to wait for a reply
    #[arg(short = 'W', allow_negative_numbers = true, value_name = "TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// Seed for the in-memory run (--memory)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Linux interface names: 1..=15 bytes, no '/', no whitespace, not "." or "..".
pub fn parse_ifname(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() < 16
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(s.to_string())
    } else {
        Err("interface names are 1..=15 characters without '/', ':' or spaces".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sockstack").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_full() {
        let cli = parse(&[
            "serve",
            "--tap",
            "ss0",
            "--addr",
            "198.18.0.2/24",
            "--gateway",
            "198.18.0.1",
            "--mac",
            "02:00:00:00:00:02",
            "--mtu",
            "9000",
            "--pcap",
            "x.pcap",
            "--impair",
            "loss=0.1,seed=3",
        ])
        .unwrap();
        let Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(s.net.device.tap.as_deref(), Some("ss0"));
        assert_eq!(s.net.mtu, 9000);
        assert_eq!(s.net.impair.unwrap().seed, 3);
    }

    #[test]
    fn serve_rejections() {
        for args in [
            &["serve", "--addr", "198.18.0.2/24"][..],
            &[
                "serve",
                "--tap",
                "a",
                "--tun",
                "b",
                "--addr",
                "198.18.0.2/24",
            ],
            &["serve", "--tap", "a"],
            &["serve", "--tap", "a", "--addr", "198.18.0.2"],
            &[
                "serve",
                "--tap",
                "a",
                "--addr",
                "198.18.0.2/24",
                "--mtu",
                "67",
            ],
            &[
                "serve",
                "--tap",
                "a",
                "--addr",
                "198.18.0.2/24",
                "--mac",
                "zz",
            ],
            &[
                "serve",
                "--tun",
                "a",
                "--addr",
                "198.18.0.2/24",
                "--mac",
                "02:00:00:00:00:01",
            ],
            &[
                "serve",
                "--tap",
                "a",
                "--addr",
                "198.18.0.2/24",
                "--impair",
                "loss=3",
            ],
            &[
                "serve",
                "--tap",
                "this-name-is-too-long",
                "--addr",
                "198.18.0.2/24",
            ],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn serve_services_repeat() {
        let cli = parse(&[
            "serve",
            "--tap",
            "t0",
            "--addr",
            "198.18.0.2/24",
            "--echo",
            "7",
            "--echo",
            "7007",
            "--discard",
            "9",
        ])
        .unwrap();
        let Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        assert_eq!((s.echo, s.discard), (vec![7, 7007], vec![9]));
        assert!(parse(&[
            "serve",
            "--tap",
            "t0",
            "--addr",
            "198.18.0.2/24",
            "--echo",
            "0"
        ])
        .is_err());
        assert!(parse(&[
            "serve",
            "--tap",
            "t0",
            "--addr",
            "198.18.0.2/24",
            "--echo",
            "x"
        ])
        .is_err());
    }

    #[test]
    fn nc_connect_and_listen() {
        let cli = parse(&[
            "nc",
            "--tap",
            "t0",
            "--addr",
            "198.18.0.2/24",
            "198.18.0.1",
            "9",
        ])
        .unwrap();
        let Command::Nc(n) = cli.command else {
            panic!("not nc")
        };
        assert_eq!(
            (n.host, n.port, n.listen),
            (Some(Ipv4Addr::new(198, 18, 0, 1)), Some(9), None)
        );
        let cli = parse(&["nc", "--tap", "t0", "--addr", "198.18.0.2/24", "-l", "5000"]).unwrap();
        let Command::Nc(n) = cli.command else {
            panic!("not nc")
        };
        assert_eq!((n.host, n.listen), (None, Some(5000)));
        for args in [
            &["nc", "--tap", "t0", "--addr", "198.18.0.2/24"][..],
            &["nc", "--tap", "t0", "--addr", "198.18.0.2/24", "198.18.0.1"],
            &["nc", "--addr", "198.18.0.2/24", "198.18.0.1", "9"],
            &[
                "nc",
                "--tap",
                "t0",
                "--addr",
                "198.18.0.2/24",
                "-l",
                "1",
                "198.18.0.1",
                "9",
            ],
            &[
                "nc",
                "--tap",
                "t0",
                "--addr",
                "198.18.0.2/24",
                "198.18.0.1",
                "0",
            ],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn ping_defaults_and_flags() {
        let cli = parse(&["ping", "198.18.0.1"]).unwrap();
        let Command::Ping(p) = cli.command else {
            panic!("not ping")
        };
        assert_eq!((p.count, p.size), (4, 56));
        assert_eq!(p.interval, Duration::from_secs(1));
        let cli = parse(&[
            "ping",
            "--tap",
            "t0",
            "--addr",
            "198.18.0.2/24",
            "198.18.0.1",
            "-c",
            "20",
            "-i",
            "0.05",
            "-s",
            "1472",
            "-W",
            "2",
        ])
        .unwrap();
        let Command::Ping(p) = cli.command else {
            panic!("not ping")
        };
        assert_eq!(p.count, 20);
        assert_eq!(p.interval, Duration::from_millis(50));
        assert!(parse(&["ping", "--tap", "t0", "198.18.0.1"]).is_err());
        assert!(parse(&[
            "ping",
            "--tap",
            "t0",
            "--memory",
            "--addr",
            "198.18.0.2/24",
            "x"
        ])
        .is_err());
        assert!(parse(&["ping", "198.18.0.1", "-c", "0"]).is_err());
        assert!(parse(&["ping", "255.255.255.255"]).is_err());
    }
}

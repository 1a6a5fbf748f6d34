//! `sockstack ping`: echo requests from a sockstack host, either on a TAP
//! device (wall clock) or to a second host on an in-memory wire (virtual
//! time, so `-i 1 -c 100` finishes at once and replays exactly).

use std::io::{self, Write};

use sockstack::link::memory::{self, WireConfig};
use sockstack::link::tap::TapLink;
use sockstack::runtime::{Host, VirtualNet};
use sockstack_proto::wire::MacAddr;
use sockstack_proto::{Duration, Stack, StackConfig};

use super::pinger::{self, PingPlan};
use super::transport::{HostTransport, VirtualTransport};
use crate::args::PingArgs;
use crate::device;
use crate::error::CliError;
use crate::parse::AddrPrefix;
use crate::signals::Shutdown;

/// Our address on the in-memory wire when `--addr` is not given.
const MEMORY_DEFAULT: AddrPrefix = AddrPrefix {
    addr: std::net::Ipv4Addr::new(198, 18, 0, 1),
    prefix_len: 24,
};

/// One-way delay of the in-memory wire.
const MEMORY_DELAY: Duration = Duration::from_micros(150);

pub fn plan(args: &PingArgs) -> PingPlan {
    PingPlan {
        dest: args.dest,
        count: args.count,
        interval: args.interval,
        size: args.size,
        timeout: args.timeout,
    }
}

/// Returns whether any reply came back (iputils exits 1 when none did).
pub fn run(args: PingArgs, shutdown: &Shutdown) -> Result<bool, CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stats = match &args.tap {
        Some(name) => {
            let Some(addr) = args.addr else {
                return Err(CliError::Usage("--tap needs --addr A/P".into()));
            };
            on_tap(name, addr, &args, shutdown, &mut out)?
        }
        None => {
            let addr = args.addr.unwrap_or(MEMORY_DEFAULT);
            in_memory(addr, &args, shutdown, &mut out)?
        }
    };
    Ok(stats.received > 0)
}

fn check_dest(addr: AddrPrefix, args: &PingArgs) -> Result<(), CliError> {
    if args.dest == addr.addr {
        return Err(CliError::Usage(format!(
            "{} is our own address (--addr {addr})",
            args.dest
        )));
    }
    // No gateway on the command line: only on-link destinations are
    // reachable, as ping(8) finds out from connect(2) before printing.
    if !addr.contains(args.dest) {
        return Err(CliError::Runtime(format!(
            "ping: connect: Network is unreachable ({} is not on {addr})",
            args.dest
        )));
    }
    Ok(())
}

fn on_tap(
    name: &str,
    addr: AddrPrefix,
    args: &PingArgs,
    shutdown: &Shutdown,
    out: &mut impl Write,
) -> Result<crate::ping_report::PingStats, CliError> {
    check_dest(addr, args)?;
    let link = TapLink::open(name).map_err(|e| device::open_error(&e))?;
    device::expect_up("TAP", link.name());
    let mut cfg = StackConfig::ethernet(device::random_mac(), addr.addr, addr.prefix_len);
    cfg.seed = device::random_seed();
    let host = Host::spawn("ping", Stack::new(cfg), link)
        .map_err(|e| CliError::Runtime(format!("cannot start the host: {e}")))?;
    // iputils uses its pid as the echo identifier; so do we.
    let ident = (std::process::id() & 0xffff) as u16;
    let stats = {
        let mut t = HostTransport::new(&host, ident, pinger::payload(args.size))?;
        pinger::run(&mut t, &plan(args), out, &|| shutdown.requested().is_some())?
    };
    host.shutdown()
        .map_err(|e| CliError::Runtime(format!("link failed: {e}")))?;
    Ok(stats)
}

fn in_memory(
    addr: AddrPrefix,
    args: &PingArgs,
    shutdown: &Shutdown,
    out: &mut impl Write,
) -> Result<crate::ping_report::PingStats, CliError> {
    check_dest(addr, args)?;
    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(MEMORY_DELAY));
    let mut net = VirtualNet::new();
    let host = |last: u8, ip, seed| {
        let mut cfg = StackConfig::ethernet(MacAddr([2, 0, 0x5e, 0, 0, last]), ip, addr.prefix_len);
        cfg.seed = seed;
        Stack::new(cfg)
    };
    let a = net.add_host("a", host(1, addr.addr, args.seed), la);
    net.add_host("b", host(2, args.dest, args.seed.wrapping_add(1)), lb);
    let ident = (device::splitmix64(args.seed) & 0xffff) as u16;
    let mut t = VirtualTransport::new(&mut net, a, ident, pinger::payload(args.size))?;
    pinger::run(&mut t, &plan(args), out, &|| shutdown.requested().is_some())
}

//! `sockstack serve`: one host on a TAP or TUN device, answering ARP and
//! ping until SIGINT or SIGTERM; then the runtime stops, the capture is
//! flushed and complete, and we exit 0.
//!
//! The link is assembled as `Impaired<Captured<device>>`: the capture
//! records the wire as the kernel sees it, and impairments act between the
//! wire and our stack.

use std::io::Write;
use std::time::Duration;

use sockstack::link::impair::Impaired;
use sockstack::link::pcap::{Captured, LinkType, PcapWriter};
use sockstack::link::tap::TapLink;
use sockstack::link::tun::TunLink;
use sockstack::link::Link;
use sockstack::runtime::{Host, RealClock};
use sockstack_proto::{Stack, StackConfig};

use crate::args::ServeArgs;
use crate::device;
use crate::error::CliError;
use crate::signals::Shutdown;

/// How often the main thread checks that the runtime is still alive.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

pub fn run(args: ServeArgs, shutdown: &Shutdown) -> Result<(), CliError> {
    if let Some(gw) = args.gateway {
        if !args.addr.contains(gw) || gw == args.addr.addr {
            return Err(CliError::Usage(format!(
                "gateway {gw} is not another host on {}",
                args.addr
            )));
        }
    }
    let (device, mut link, mut cfg): (String, Box<dyn Link>, StackConfig) =
        match (&args.device.tap, &args.device.tun) {
            (Some(name), None) => {
                let tap = TapLink::open(name)
                    .map_err(|e| device::open_error(&e))?
                    .with_mtu(args.mtu);
                device::expect_up("TAP", tap.name());
                let mac = args.mac.unwrap_or_else(device::random_mac);
                let cfg = StackConfig::ethernet(mac, args.addr.addr, args.addr.prefix_len);
                (format!("TAP {} ({mac})", tap.name()), Box::new(tap), cfg)
            }
            (None, Some(name)) => {
                let tun = TunLink::open(name)
                    .map_err(|e| device::open_error(&e))?
                    .with_mtu(args.mtu);
                device::expect_up("TUN", tun.name());
                let cfg = StackConfig::ip(args.addr.addr, args.addr.prefix_len);
                (format!("TUN {}", tun.name()), Box::new(tun), cfg)
            }
            _ => return Err(CliError::Usage("give exactly one of --tap or --tun".into())),
        };
    cfg.gateway = args.gateway;
    cfg.mtu = args.mtu;
    cfg.seed = device::random_seed();

    if let Some(path) = &args.pcap {
        let clock = RealClock::shared();
        let writer = PcapWriter::create(path, LinkType::for_medium(link.medium()))
            .map_err(|e| device::open_error(&e))?
            .with_time_offset(clock.unix_offset());
        link = Box::new(Captured::new(link, writer));
    }
    if let Some(impair) = &args.impair {
        link = Box::new(Impaired::new(link, impair.clone()));
    }

    let host = Host::spawn("serve", Stack::new(cfg), link)
        .map(std::sync::Arc::new)
        .map_err(|e| CliError::Runtime(format!("cannot start the host: {e}")))?;
    let apps = start_apps(&host, &args)?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "sockstack: serving {} on {device}, mtu {}; SIGINT or SIGTERM stops",
        args.addr, args.mtu
    );
    let _ = out.flush();

    let signal = loop {
        if let Some(sig) = shutdown.wait_timeout(WATCH_INTERVAL) {
            break Some(sig);
        }
        if !host.is_running() {
            break None;
        }
    };
    let stats = host.link_stats();
    drop(apps);
    // Joining the runtime thread drops the link, which flushes the capture.
    let host = std::sync::Arc::try_unwrap(host)
        .map_err(|_| CliError::Runtime("an application still holds the host".into()))?;
    host.shutdown()
        .map_err(|e| CliError::Runtime(format!("{device}: {e}")))?;
    let why = match signal {
        Some(libc::SIGINT) => "SIGINT",
        Some(libc::SIGTERM) => "SIGTERM",
        Some(_) => "a signal",
        None => "runtime exit",
    };
    let _ = writeln!(
        out,
        "sockstack: stopped by {why}: {} frames in, {} frames out",
        stats.rx_frames, stats.tx_frames
    );
    Ok(())
}

/// The control socket and the services of `--http`, `--udp-echo`.
fn start_apps(
    host: &std::sync::Arc<Host>,
    args: &ServeArgs,
) -> Result<super::http::Apps, CliError> {
    let http = args.http.zip(args.root.clone());
    super::http::start(host, args.name.as_deref(), http, args.udp_echo)
}

//! Attach one real-clock host to a TAP or TUN device, as `serve` and `nc`
//! do: check the gateway, open the device, wrap it as
//! `Impaired<Captured<device>>` (the capture records the wire as the kernel
//! sees it; impairments act between the wire and our stack) and start the
//! runtime thread.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use sockstack::link::impair::{ImpairConfig, Impaired};
use sockstack::link::pcap::{Captured, LinkType, PcapWriter};
use sockstack::link::tap::{Offload, TapLink};
use sockstack::link::tun::TunLink;
use sockstack::link::Link;
use sockstack::runtime::{Host, RealClock};
use sockstack_proto::wire::MacAddr;
use sockstack_proto::{Stack, StackConfig};

use crate::device;
use crate::error::CliError;
use crate::parse::AddrPrefix;

/// Everything needed to attach a host to a device.
pub struct HostSpec<'a> {
    pub tap: Option<&'a str>,
    pub tun: Option<&'a str>,
    pub addr: AddrPrefix,
    pub gateway: Option<Ipv4Addr>,
    pub mac: Option<MacAddr>,
    pub mtu: usize,
    pub pcap: Option<&'a Path>,
    pub impair: Option<&'a ImpairConfig>,
    /// Ask the TAP for offloads (TSO/GRO); plain frames if refused.
    pub offload: bool,
}

impl crate::args::HostArgs {
    /// The attach spec these flags describe.
    pub fn spec(&self) -> HostSpec<'_> {
        HostSpec {
            tap: self.device.tap.as_deref(),
            tun: self.device.tun.as_deref(),
            addr: self.addr,
            gateway: self.gateway,
            mac: self.mac,
            mtu: self.mtu,
            pcap: self.pcap.as_deref(),
            impair: self.impair.as_ref(),
            offload: self.offload,
        }
    }
}

/// A running host and a description of its device for messages
/// ("TAP sstap0 (02:..)").
pub struct Attached {
    pub host: Host,
    pub device: String,
}

/// Open the device and start a host named `name` on it.
pub fn attach(name: &str, spec: &HostSpec<'_>) -> Result<Attached, CliError> {
    if let Some(gw) = spec.gateway {
        if !spec.addr.contains(gw) || gw == spec.addr.addr {
            return Err(CliError::Usage(format!(
                "gateway {gw} is not another host on {}",
                spec.addr
            )));
        }
    }
    let (device, mut link, mut cfg): (String, Box<dyn Link>, StackConfig) =
        match (spec.tap, spec.tun) {
            (Some(name), None) => {
                let offload = if spec.offload {
                    Offload::Tso
                } else {
                    Offload::Off
                };
                let tap = TapLink::open_with(name, None, offload)
                    .map_err(|e| device::open_error(&e))?
                    .with_mtu(spec.mtu);
                device::expect_up("TAP", tap.name());
                let mac = spec.mac.unwrap_or_else(device::random_mac);
                let cfg = StackConfig::ethernet(mac, spec.addr.addr, spec.addr.prefix_len);
                (format!("TAP {} ({mac})", tap.name()), Box::new(tap), cfg)
            }
            (None, Some(name)) => {
                let tun = TunLink::open(name)
                    .map_err(|e| device::open_error(&e))?
                    .with_mtu(spec.mtu);
                device::expect_up("TUN", tun.name());
                let cfg = StackConfig::ip(spec.addr.addr, spec.addr.prefix_len);
                (format!("TUN {}", tun.name()), Box::new(tun), cfg)
            }
            _ => return Err(CliError::Usage("give exactly one of --tap or --tun".into())),
        };
    cfg.gateway = spec.gateway;
    cfg.mtu = spec.mtu;
    // TSO and checksum offload when the TAP took the offloads
    // (Impaired/Captured pass them on; both finish checksums in software
    // where they must).
    let caps = link.capabilities();
    cfg.tso_max = caps.tso_max;
    cfg.tx_checksum_offload = caps.tx_checksum;
    cfg.seed = device::random_seed();

    if let Some(path) = spec.pcap {
        let clock = RealClock::shared();
        let writer = PcapWriter::create(path, LinkType::for_medium(link.medium()))
            .map_err(|e| device::open_error(&e))?
            .with_time_offset(clock.unix_offset());
        link = Box::new(Captured::new(link, writer));
    }
    if let Some(impair) = spec.impair {
        link = Box::new(Impaired::new(link, impair.clone()));
    }

    let host = Host::spawn(name, Stack::new(cfg), link)
        .map_err(|e| CliError::Runtime(format!("cannot start the host: {e}")))?;
    Ok(Attached { host, device })
}

/// Longest [`flush`] waits.
const FLUSH_LIMIT: Duration = Duration::from_millis(500);

/// Give the runtime two turns (bounded) to send what the last socket calls
/// queued (a FIN, an RST) before the host is shut down: stopping the
/// runtime does not transmit pending output.
pub fn flush(host: &Host) {
    if !host.is_running() {
        return;
    }
    let start = host.iterations();
    let deadline = Instant::now() + FLUSH_LIMIT;
    host.with_stack(|_| ());
    while host.iterations() < start + 2 && host.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

//! `sockstack serve`: one host on a TAP or TUN device, answering ARP and
//! ping until SIGINT or SIGTERM; then the capture is flushed and we exit 0.

use crate::args::ServeArgs;
use crate::device;
use crate::error::CliError;
use crate::signals::Shutdown;

/// The device `serve` attaches to, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    Tap(String),
    Tun(String),
}

impl Device {
    pub fn describe(&self) -> String {
        match self {
            Device::Tap(n) => format!("TAP device {n}"),
            Device::Tun(n) => format!("TUN device {n}"),
        }
    }
}

pub fn run(args: ServeArgs, shutdown: &Shutdown) -> Result<(), CliError> {
    let dev = match (&args.device.tap, &args.device.tun) {
        (Some(t), None) => Device::Tap(t.clone()),
        (None, Some(t)) => Device::Tun(t.clone()),
        _ => return Err(CliError::Usage("give exactly one of --tap or --tun".into())),
    };
    if let Some(gw) = args.gateway {
        if !args.addr.contains(gw) || gw == args.addr.addr {
            return Err(CliError::Usage(format!(
                "gateway {gw} is not another host on {}",
                args.addr
            )));
        }
    }
    device::check_tun_access(&dev.describe())?;
    let _mac = args.mac.unwrap_or_else(device::random_mac);
    let _ = shutdown;
    Err(CliError::NotAvailable(
        "serve (waiting for the TAP/TUN link and runtime)",
    ))
}

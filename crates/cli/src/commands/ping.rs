//! `sockstack ping`: echo requests from a sockstack host, either on a TAP
//! device (wall clock) or between two in-memory hosts (virtual time).

use crate::args::PingArgs;
use crate::device;
use crate::error::CliError;
use crate::signals::Shutdown;

use super::pinger::PingPlan;

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
    let _plan = plan(&args);
    let _ = shutdown;
    match &args.tap {
        Some(name) => {
            let Some(addr) = args.addr else {
                return Err(CliError::Usage("--tap needs --addr A/P".into()));
            };
            if args.dest == addr.addr {
                return Err(CliError::Usage(format!("{} is our own address", args.dest)));
            }
            device::check_tun_access(&format!("TAP device {name}"))?;
            Err(CliError::NotAvailable(
                "ping --tap (waiting for the TAP link and raw ICMP sockets)",
            ))
        }
        None => Err(CliError::NotAvailable(
            "ping --memory (waiting for memory links and raw ICMP sockets)",
        )),
    }
}

//! `sockstack serve`: one host on a TAP or TUN device, answering ARP and
//! ping, and the TCP services asked for (`--echo PORT`, `--discard PORT`,
//! each repeatable) until SIGINT or SIGTERM; then the services stop (open
//! connections are closed with a FIN), the runtime stops, the capture is
//! flushed and complete, and we exit 0.
//!
//! The link is assembled as `Impaired<Captured<device>>` (see `attach`).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use sockstack::bsd::Bsd;

use super::attach::{attach, flush};
use super::services::Services;
use crate::args::ServeArgs;
use crate::error::CliError;
use crate::signals::Shutdown;

/// How often the main thread checks that the runtime is still alive.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// How long stopping the services may take (threads notice within a tick).
const STOP_LIMIT: Duration = Duration::from_secs(3);

pub fn run(args: ServeArgs, shutdown: &Shutdown) -> Result<(), CliError> {
    let spec = args.net.spec();
    let attached = attach("serve", &spec)?;
    let device = attached.device;
    let host = Arc::new(attached.host);
    let bsd = Arc::new(Bsd::new(Arc::clone(&host)));
    let services = Services::start(Arc::clone(&bsd), &args.echo, &args.discard)?;

    let apps = start_apps(&host, &args)?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "sockstack: serving {} on {device}, mtu {}{}; SIGINT or SIGTERM stops",
        args.net.addr,
        args.net.mtu,
        describe_services(&args.echo, &args.discard)
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
    let any_services = !args.echo.is_empty() || !args.discard.is_empty();
    let left = services.stop(STOP_LIMIT);
    if left > 0 {
        eprintln!("sockstack: warning: {left} connections still open after {STOP_LIMIT:?}");
    }
    // Drop the facade: any descriptor still open is closed (FIN or RST).
    drop(bsd);
    if any_services {
        flush(&host);
    }
    let stats = host.link_stats();
    drop(apps);
    // Joining the runtime thread drops the link, which flushes the capture.
    let host = Arc::try_unwrap(host)
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
    host: &Arc<sockstack::runtime::Host>,
    args: &ServeArgs,
) -> Result<super::http::Apps, CliError> {
    let http = args.http.zip(args.root.clone());
    super::http::start(host, args.name.as_deref(), http, args.udp_echo)
}

/// ", tcp echo 7, 7007, discard 9" (empty without services).
fn describe_services(echo: &[u16], discard: &[u16]) -> String {
    let list = |ports: &[u16]| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !echo.is_empty() {
        parts.push(format!("echo {}", list(echo)));
    }
    if !discard.is_empty() {
        parts.push(format!("discard {}", list(discard)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", tcp {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_described() {
        assert_eq!(describe_services(&[], &[]), "");
        assert_eq!(
            describe_services(&[7, 7007], &[9]),
            ", tcp echo 7, 7007, discard 9"
        );
        assert_eq!(describe_services(&[], &[9]), ", tcp discard 9");
    }
}

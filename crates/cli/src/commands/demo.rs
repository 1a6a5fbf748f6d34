//! `sockstack demo`: two in-memory hosts on a lossy link in virtual time,
//! printing ARP resolution and ping lines; deterministic from `--seed`.

use crate::args::DemoArgs;
use crate::error::CliError;

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let _ = (args.seed, args.pcap);
    Err(CliError::NotAvailable(
        "demo (waiting for memory links and the interface layer)",
    ))
}

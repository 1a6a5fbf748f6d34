//! One module per subcommand. Each takes its parsed arguments, does the
//! checks that need the environment (devices, privileges), runs, and
//! returns `Ok` or one `CliError`.

pub mod demo;
pub mod ping;
// TEMPORARY: the ping loop is wired in once the raw ICMP socket lands.
#[allow(dead_code)]
pub mod pinger;
pub mod serve;

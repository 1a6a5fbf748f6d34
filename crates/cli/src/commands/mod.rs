//! One module per subcommand. Each takes its parsed arguments, does the
//! checks that need the environment (devices, privileges), runs, and
//! returns `Ok` or one `CliError`.

pub mod attach;
pub mod demo;
pub mod echo;
pub mod nc;
pub mod ping;
pub mod pinger;
pub mod serve;
pub mod services;
pub mod transport;

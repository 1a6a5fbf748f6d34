//! One module per subcommand. Each takes its parsed arguments, does the
//! checks that need the environment (devices, privileges), runs, and
//! returns `Ok` or one `CliError`.

pub mod attach;
pub mod demo;
pub mod echo;
pub mod http;
pub mod nc;
pub mod netstat;
pub mod ping;
pub mod pinger;
pub mod recv_file;
pub mod send_file;
pub mod serve;
pub mod services;
pub mod transport;

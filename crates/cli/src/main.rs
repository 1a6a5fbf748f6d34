//! The `sockstack` command: argument parsing, rendering and the user's
//! terminal. Every failure ends as one line on stderr and a non-zero exit
//! status (2 for usage, 1 otherwise); a panic would be a bug, and even then
//! the hook below prints one line instead of a backtrace.

mod args;
mod commands;
mod device;
mod error;
mod parse;
mod ping_report;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use error::CliError;
use signals::Shutdown;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sockstack: internal error: {}{at}", msg.replace('\n', " "));
    }));

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockstack: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Demo(a) => commands::demo::run(a).map(|()| ExitCode::SUCCESS),
        Command::Serve(a) => {
            let shutdown = Shutdown::install()?;
            commands::serve::run(a, &shutdown).map(|()| ExitCode::SUCCESS)
        }
        Command::Ping(a) => {
            let shutdown = Shutdown::install()?;
            let any_reply = commands::ping::run(a, &shutdown)?;
            Ok(if any_reply {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Nc(a) => {
            let shutdown = Shutdown::install()?;
            commands::nc::run(a, &shutdown)
        }
    }
}

/// Help and version go to stdout with status 0; errors become one line.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{}", e.render());
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{}", e.render());
            ExitCode::from(2)
        }
        _ => {
            eprintln!("sockstack: {}", error::one_line(&e.render().to_string()));
            ExitCode::from(2)
        }
    }
}

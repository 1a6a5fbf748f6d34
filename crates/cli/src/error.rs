//! The one error type of the command line: every failure becomes a single
//! line on stderr and a non-zero exit status, never a panic or backtrace.
//!
//! Exit statuses follow common Unix practice: 2 for bad usage (clap uses the
//! same), 1 for everything that went wrong at run time.

use std::fmt;

/// A failure that ends the command.
#[derive(Debug)]
pub enum CliError {
    /// The arguments are wrong; the message names the offending one.
    Usage(String),
    /// Opening a device needs privileges we do not have.
    Privilege(String),
    /// A device or file is missing or unusable.
    Device(String),
    /// Any other run-time failure (I/O on a link or a capture file, ...).
    Runtime(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Privilege(m) | CliError::Device(m) => f.write_str(m),
            CliError::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

/// Collapse a multi-line message into one line (clap renders usage hints
/// over several lines; we keep only the sentences that name the problem).
pub fn one_line(text: &str) -> String {
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more information")
        {
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        parts.push(line);
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_drops_usage_and_hints() {
        let clap_text = "error: the following required arguments were not provided:\n  \
                         --addr <A/P>\n\nUsage: sockstack serve --tap <IFNAME> --addr <A/P>\n\n\
                         For more information, try '--help'.\n";
        assert_eq!(
            one_line(clap_text),
            "the following required arguments were not provided: --addr <A/P>"
        );
    }
}

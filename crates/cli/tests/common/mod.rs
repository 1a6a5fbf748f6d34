//! Shared harness for the `sockstack` integration tests: network namespaces
//! with TAP devices (`netns`) and bounded child processes (`process`).
//!
//! Each test binary uses a different subset, hence the per-module
//! `dead_code` allowance in the test files that include this module.

pub mod netns;
pub mod process;
pub mod tcp;

use std::io::Write;

/// Print a skip notice that is visible even though libtest captures test
/// output: it goes straight to the stderr handle, not through `eprintln!`
/// (which cargo shows only for failing tests).
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why}");
}

//! Shared harness for the `sockstack` integration tests: network namespaces
//! with TAP devices (`netns`) and bounded child processes (`process`).
//!
//! Each test binary uses a different subset, hence the per-module
//! `dead_code` allowance in the test files that include this module.

pub mod netns;
pub mod process;
pub mod tcp;

use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh scratch directory under cargo's test tmpdir, named after the
/// test binary (`prefix`), the test (`tag`) and the PID; it is removed when
/// the guard drops, also when the test fails.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(prefix: &str, tag: &str) -> Self {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{prefix}-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Print a skip notice that is visible even though libtest captures test
/// output: it goes straight to the stderr handle, not through `eprintln!`
/// (which cargo shows only for failing tests).
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why}");
}

//! Child processes with bounded waits: every wait has a deadline, and a
//! child that overstays it is killed by its own PID (never by name).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn describe(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Run `cmd` to completion within `limit`; kill it (SIGKILL by PID) if it
/// takes longer and return an error that includes what it printed.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Result<Finished, String> {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut bg = Background::adopt(child, what.clone());
    match bg.wait_within(limit) {
        Some(status) => Ok(bg.finish(status)),
        None => {
            let out = bg.kill();
            Err(format!(
                "{what} did not finish within {limit:?}\n{}",
                out.describe()
            ))
        }
    }
}

/// A child running in the background whose output is collected by reader
/// threads (so a chatty child never blocks on a full pipe).
pub struct Background {
    child: Child,
    what: String,
    stdout: Option<thread::JoinHandle<String>>,
    stderr: Option<thread::JoinHandle<String>>,
    done: bool,
}

impl Background {
    /// Start `cmd` with piped output.
    pub fn spawn(cmd: &mut Command) -> Result<Background, String> {
        let what = format!("{cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(Background::adopt(child, what))
    }

    fn adopt(mut child: Child, what: String) -> Background {
        let stdout = child.stdout.take().map(|mut s| {
            thread::spawn(move || {
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                buf
            })
        });
        let stderr = child.stderr.take().map(|mut s| {
            thread::spawn(move || {
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                buf
            })
        });
        Background {
            child,
            what,
            stdout,
            stderr,
            done: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait up to `limit` for the child to exit.
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.done = true;
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }

    /// Send `signal` to the child, by its PID only.
    pub fn signal(&mut self, signal: i32) {
        if self.done {
            return;
        }
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with the PID of our own unreaped child: the PID
        // cannot have been reused because we have not waited for it yet.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// SIGTERM, wait up to `limit`, and collect the output; SIGKILL if the
    /// child does not stop in time (then the status says so).
    pub fn terminate(mut self, limit: Duration) -> Finished {
        self.signal(libc::SIGTERM);
        match self.wait_within(limit) {
            Some(status) => self.finish(status),
            None => self.kill(),
        }
    }

    fn kill(mut self) -> Finished {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("wait {}: {e}", self.what));
        self.done = true;
        self.finish(status)
    }

    fn finish(mut self, status: ExitStatus) -> Finished {
        self.done = true;
        let stdout = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Background {
    /// A test that panics mid-way still reaps its child.
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

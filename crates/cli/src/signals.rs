//! SIGINT and SIGTERM as an ordinary event the program waits for.
//!
//! `Shutdown::install` blocks both signals in the calling thread (call it
//! from `main` before any other thread starts, so every thread inherits the
//! mask) and starts one thread that takes them with `sigwait`. No code runs
//! in signal-handler context, so nothing here has async-signal-safety
//! constraints. The first signal sets the shutdown state and wakes waiters;
//! a second one exits at once with status 128+signal, in case a clean
//! shutdown hangs.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::error::CliError;

#[derive(Default)]
struct State {
    signal: Mutex<Option<i32>>,
    cond: Condvar,
}

/// A handle on the process's shutdown request; cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    state: Arc<State>,
}

impl Shutdown {
    /// Block SIGINT/SIGTERM and start the thread that waits for them.
    pub fn install() -> Result<Shutdown, CliError> {
        let set = signal_set();
        // SAFETY: `set` is a valid, initialised sigset_t; the old-mask
        // pointer may be null. This only changes the calling thread's mask.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(CliError::Runtime(format!(
                "cannot block SIGINT/SIGTERM: {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        let state = Arc::new(State::default());
        let for_thread = Arc::clone(&state);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || wait_for_signals(set, &for_thread))
            .map_err(|e| CliError::Runtime(format!("cannot start the signal thread: {e}")))?;
        Ok(Shutdown { state })
    }

    /// The signal that asked us to stop, if one has arrived.
    pub fn requested(&self) -> Option<i32> {
        *self.lock()
    }

    /// Wait up to `timeout` for a shutdown request; return the signal if one came.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<i32> {
        let guard = self.lock();
        let (guard, _) = self
            .state
            .cond
            .wait_timeout_while(guard, timeout, |sig| sig.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<i32>> {
        self.state
            .signal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset is given
    // valid signal numbers. Both only write to `set`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

fn wait_for_signals(set: libc::sigset_t, state: &State) {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is initialised and blocked in this thread (inherited
        // from the installer); `sig` is a valid out-pointer.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            continue;
        }
        let mut slot = state.signal.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            // Second signal: the clean shutdown is taking too long.
            std::process::exit(128 + sig);
        }
        *slot = Some(sig);
        drop(slot);
        state.cond.notify_all();
    }
}

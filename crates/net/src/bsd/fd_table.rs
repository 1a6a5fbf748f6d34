//! The descriptor table: small integers naming sockets, like a process's
//! file descriptors.
//!
//! CONTRACT: numbers start at 3 (0-2 belong to stdio) and `insert` always
//! takes the lowest free number, as Linux does. An entry is an `Arc`, so a
//! call holds its socket even if another thread closes the descriptor
//! meanwhile (the stack then reports the handle closed: EBADF). The table
//! never blocks and is only locked for lookups and updates.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sockstack_proto::SocketHandle;

use super::errno::{Errno, Result};
use super::family::Sock;

/// A socket descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub i32);

impl std::fmt::Display for Fd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Fd> for i32 {
    fn from(fd: Fd) -> i32 {
        fd.0
    }
}

/// The first descriptor number handed out.
pub const FIRST_FD: i32 = 3;

/// SO_LINGER as `struct linger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Linger {
    /// `l_onoff`.
    pub on: bool,
    /// `l_linger`, in seconds.
    pub secs: u32,
}

/// Per-descriptor state the stack does not keep: file flags and the
/// options that shape blocking behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FdFlags {
    pub nonblocking: bool,
    pub cloexec: bool,
    /// SO_RCVTIMEO (`None`: wait forever).
    pub rcvtimeo: Option<Duration>,
    /// SO_SNDTIMEO (`None`: wait forever).
    pub sndtimeo: Option<Duration>,
    pub linger: Linger,
}

/// One open descriptor.
#[derive(Debug)]
pub(crate) struct FdEntry {
    pub sock: Sock,
    flags: Mutex<FdFlags>,
}

impl FdEntry {
    /// A TCP descriptor.
    pub fn new(handle: SocketHandle, flags: FdFlags) -> FdEntry {
        FdEntry::with_sock(Sock::Tcp(handle), flags)
    }

    /// A descriptor of any family and type.
    pub fn with_sock(sock: Sock, flags: FdFlags) -> FdEntry {
        FdEntry {
            sock,
            flags: Mutex::new(flags),
        }
    }

    /// The TCP handle, `None` for other sockets.
    pub fn tcp(&self) -> Option<SocketHandle> {
        match self.sock {
            Sock::Tcp(h) => Some(h),
            _ => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, FdFlags> {
        // FdFlags is plain data; a panic elsewhere cannot leave it torn.
        self.flags.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the flags.
    pub fn flags(&self) -> FdFlags {
        *self.lock()
    }

    /// Change the flags.
    pub fn update(&self, f: impl FnOnce(&mut FdFlags)) {
        f(&mut self.lock());
    }
}

/// Descriptor number -> entry. See the module doc.
#[derive(Debug)]
pub(crate) struct FdTable<T> {
    /// Index `i` holds descriptor `FIRST_FD + i`.
    slots: Vec<Option<Arc<T>>>,
    /// Free indices below `slots.len()`.
    free: BTreeSet<usize>,
    open: usize,
    limit: usize,
}

impl<T> FdTable<T> {
    /// A table holding at most `limit` descriptors (EMFILE beyond).
    pub fn new(limit: usize) -> FdTable<T> {
        FdTable {
            slots: Vec::new(),
            free: BTreeSet::new(),
            open: 0,
            limit,
        }
    }

    /// Store `entry` under the lowest free number.
    pub fn insert(&mut self, entry: T) -> Result<Fd> {
        self.insert_arc(Arc::new(entry))
    }

    /// Store a shared `entry` under the lowest free number.
    pub fn insert_arc(&mut self, entry: Arc<T>) -> Result<Fd> {
        if self.open >= self.limit {
            return Err(Errno::EMFILE);
        }
        let index = match self.free.pop_first() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let fd = i32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(FIRST_FD))
            .ok_or(Errno::EMFILE)?;
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(entry);
        }
        self.open += 1;
        Ok(Fd(fd))
    }

    fn index(fd: Fd) -> Option<usize> {
        usize::try_from(fd.0.checked_sub(FIRST_FD)?).ok()
    }

    /// The entry for `fd` (EBADF if none).
    pub fn get(&self, fd: Fd) -> Result<Arc<T>> {
        Self::index(fd)
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.clone())
            .ok_or(Errno::EBADF)
    }

    /// Remove `fd`, freeing its number (EBADF if none).
    pub fn remove(&mut self, fd: Fd) -> Result<Arc<T>> {
        let i = Self::index(fd).ok_or(Errno::EBADF)?;
        let entry = self
            .slots
            .get_mut(i)
            .and_then(Option::take)
            .ok_or(Errno::EBADF)?;
        self.open -= 1;
        self.free.insert(i);
        // Trim trailing free slots so the table does not stay at its peak.
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
            self.free.remove(&self.slots.len());
        }
        Ok(entry)
    }

    /// Descriptors open.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Every open descriptor, lowest first.
    pub fn fds(&self) -> Vec<Fd> {
        (0..self.slots.len())
            .filter(|&i| matches!(self.slots.get(i), Some(Some(_))))
            .filter_map(|i| i32::try_from(i).ok())
            .map(|i| Fd(i + FIRST_FD))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_number_from_three() {
        let mut t = FdTable::new(4);
        assert_eq!(t.insert(1).unwrap(), Fd(3));
        assert_eq!(t.insert(2).unwrap(), Fd(4));
        assert_eq!(t.insert(3).unwrap(), Fd(5));
        assert_eq!(*t.remove(Fd(4)).unwrap(), 2);
        assert_eq!(t.remove(Fd(4)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.get(Fd(4)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.get(Fd(-1)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.get(Fd(0)).unwrap_err(), Errno::EBADF);
        assert_eq!(t.insert(4).unwrap(), Fd(4));
        assert_eq!(t.insert(5).unwrap(), Fd(6));
        assert_eq!(t.insert(6).unwrap_err(), Errno::EMFILE);
        assert_eq!(t.len(), 4);
        t.remove(Fd(6)).unwrap();
        t.remove(Fd(5)).unwrap();
        t.remove(Fd(3)).unwrap();
        assert_eq!(t.fds(), vec![Fd(4)]);
        assert_eq!(t.insert(7).unwrap(), Fd(3));
        assert_eq!(t.insert(8).unwrap(), Fd(5));
        assert_eq!(*t.get(Fd(5)).unwrap(), 8);
    }
}

//! The only unsafe code in sockstack: thin wrappers over Linux system calls.
//!
//! CONTRACT: every function here takes and returns safe Rust types (`OwnedFd`,
//! slices, `io::Result`); the unsafe blocks never outlive the call. Errors
//! carry the raw OS error so callers can map them to clear messages. Nothing
//! here blocks except [`poll_fds`], which waits at most its timeout.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Which kind of device `/dev/net/tun` should attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TunKind {
    /// Ethernet frames (IFF_TAP).
    Tap,
    /// Bare IP packets (IFF_TUN).
    Tun,
}

/// Longest interface name Linux accepts (IFNAMSIZ includes the NUL).
pub(crate) const MAX_IFNAME_LEN: usize = libc::IFNAMSIZ - 1;

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// Open `/dev/net/tun` non-blocking and attach it to device `name` (created
/// if it does not exist; an empty name lets the kernel choose). Returns the
/// fd and the device name the kernel actually used. No packet-information
/// header (IFF_NO_PI): reads and writes carry the bare frame, preceded by a
/// `virtio_net_hdr` when `vnet_hdr` is set (IFF_VNET_HDR).
pub(crate) fn open_tun(name: &str, kind: TunKind, vnet_hdr: bool) -> io::Result<(OwnedFd, String)> {
    if name.len() > MAX_IFNAME_LEN || name.bytes().any(|b| b == 0 || b == b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid interface name {name:?} (at most {MAX_IFNAME_LEN} bytes, no '/' or NUL)"
            ),
        ));
    }
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a valid NUL-terminated string; open has no other preconditions.
    let raw = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(last_error());
    }
    // SAFETY: `raw` is a freshly opened fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: ifreq is plain old data (chars, ints, a union of such); all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    let flags = match kind {
        TunKind::Tap => libc::IFF_TAP,
        TunKind::Tun => libc::IFF_TUN,
    } | libc::IFF_NO_PI
        | if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
    // IFF_* fit in 16 bits (the kernel's ifr_flags is a short).
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is,
    // and `fd` is an open /dev/net/tun descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut req) };
    if rc < 0 {
        return Err(last_error());
    }
    let actual: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok((fd, String::from_utf8_lossy(&actual).into_owned()))
}

/// TUNSETVNETHDRSZ: the length of the `virtio_net_hdr` before every frame
/// (10, or 12 for the virtio 1.0 layout with `num_buffers`).
pub(crate) fn tun_set_vnet_hdr_len(fd: RawFd, len: usize) -> io::Result<()> {
    let len = libc::c_int::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "vnet header length"))?;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which points
    // to `len`, alive for the call.
    let rc = unsafe { libc::ioctl(fd, libc::TUNSETVNETHDRSZ as _, &len) };
    if rc < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// TUNSETOFFLOAD: the offloads (TUN_F_*) this reader accepts. The argument
/// is passed by value, not through a pointer.
pub(crate) fn tun_set_offload(fd: RawFd, flags: u32) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes an unsigned long by value; no memory is touched.
    let rc = unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD as _, libc::c_ulong::from(flags)) };
    if rc < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Read one frame split over `head` then `tail` (readv); `Ok(None)` when
/// nothing is queued (EAGAIN). Returns the total length read.
pub(crate) fn read2_nonblocking(
    fd: RawFd,
    head: &mut [u8],
    tail: &mut [u8],
) -> io::Result<Option<usize>> {
    let iov = [
        libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: tail.as_mut_ptr().cast(),
            iov_len: tail.len(),
        },
    ];
    loop {
        // SAFETY: both iovecs describe live, writable, non-overlapping slices
        // (`head` and `tail` are distinct &mut borrows) for the whole call.
        let n = unsafe { libc::readv(fd, iov.as_ptr(), 2) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let err = last_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(err),
        }
    }
}

/// Write one frame gathered from up to four `parts` (writev); `Ok(false)`
/// when the device would block (frame not sent).
pub(crate) fn write_parts_nonblocking(fd: RawFd, parts: &[&[u8]]) -> io::Result<bool> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 4];
    let count = parts.len().min(iov.len());
    for (v, p) in iov.iter_mut().zip(parts) {
        // writev never writes through iov_base; the cast only satisfies the type.
        v.iov_base = p.as_ptr().cast_mut().cast();
        v.iov_len = p.len();
    }
    loop {
        // SAFETY: the first `count` iovecs describe live readable slices
        // borrowed from `parts` for the whole call; writev only reads them.
        let n = unsafe { libc::writev(fd, iov.as_ptr(), count as libc::c_int) };
        if n >= 0 {
            return Ok(true);
        }
        let err = last_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Read one frame; `Ok(None)` when nothing is queued (EAGAIN).
pub(crate) fn read_nonblocking(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the whole call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            // n >= 0 and at most buf.len(), so it fits in usize.
            return Ok(Some(n as usize));
        }
        let err = last_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(err),
        }
    }
}

/// Write one frame; `Ok(false)` when the device would block (frame not sent).
pub(crate) fn write_nonblocking(fd: RawFd, frame: &[u8]) -> io::Result<bool> {
    loop {
        // SAFETY: `frame` is a valid readable region of `frame.len()` bytes for the whole call.
        let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
        if n >= 0 {
            return Ok(true);
        }
        let err = last_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Wait until one of `fds` is readable or `timeout` passes (`None`: forever).
/// Returns true when some fd is ready. EINTR counts as a (spurious) wake-up.
pub(crate) fn poll_fds(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let count = fds.len().min(pfds.len());
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        // subsec_nanos < 1e9 fits in c_long.
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `pfds` holds `count` initialised pollfd entries; `ts_ptr` is null
    // or points to `ts`, which lives until the call returns; no signal mask.
    let rc = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            count as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let err = last_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(true);
        }
        return Err(err);
    }
    Ok(rc > 0)
}

/// A Linux eventfd used as a wake-up bell: any thread rings it, one waiter
/// polls its fd and drains it.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd has no memory preconditions.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(last_error());
        }
        // SAFETY: `raw` is a freshly created fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(EventFd { fd })
    }

    /// Ring the bell. Never blocks; a full counter already means "woken".
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own fd.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Clear pending wake-ups.
    pub(crate) fn drain(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 owned by this frame.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Run `f` on a fresh thread that has joined the network namespace
/// `/var/run/netns/<ns>` (as created by `ip netns add`). The calling thread
/// never changes namespace. File descriptors opened by `f` (for instance a
/// TAP device) stay bound to that namespace after the thread ends.
pub(crate) fn in_netns<T: Send>(
    ns: &str,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    if ns.is_empty() || ns.contains('/') || ns.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid network namespace name {ns:?}"),
        ));
    }
    let path = format!("/var/run/netns/{ns}");
    let file = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("network namespace {ns:?} ({path}): {e}")))?;
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            // SAFETY: `file` is an open namespace file; setns only changes this
            // thread's network namespace (allowed in a multi-threaded process).
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc < 0 {
                let e = last_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("entering network namespace {ns:?}: {e}"),
                ));
            }
            f()
        });
        handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns worker thread panicked")))
    })
}

/// poll(2) on `fds` (fd, events) once, waiting at most `timeout` (`None`:
/// forever; zero: just look). Returns each fd's `revents`, in order; EINTR
/// reads as "nothing ready yet". Used by the facade for AF_UNIX sockets.
pub(crate) fn poll_revents(fds: &[(RawFd, i16)], timeout: Duration) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfds` is a live, initialised array of `pfds.len()` pollfd
    // entries that the kernel may write `revents` into during the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let err = last_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
        return Ok(vec![0; fds.len()]);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}

/// recv(2) with `flags` (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT ...) on a socket.
pub(crate) fn recv_flags(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the
    // duration of the call.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
    usize::try_from(n).map_err(|_| last_error())
}

/// send(2) with `flags` (MSG_NOSIGNAL is always added) on a connected socket.
pub(crate) fn send_flags(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes for the
    // duration of the call.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| last_error())
}

/// `struct sockaddr_un` for `path` and its length (ENAMETOOLONG beyond 107 bytes).
fn sockaddr_un(path: &std::path::Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    use std::os::unix::ffi::OsStrExt;
    let mut addr = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

/// A new non-blocking, close-on-exec `AF_UNIX` `SOCK_SEQPACKET` socket
/// (std has no type for it).
pub(crate) fn seqpacket_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; no pointers.
    let raw = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(last_error());
    }
    // SAFETY: `raw` is a fresh descriptor we own exclusively.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// bind(2) an AF_UNIX socket to `path`.
pub(crate) fn unix_bind(fd: RawFd, path: &std::path::Path) -> io::Result<()> {
    let (addr, len) = sockaddr_un(path)?;
    // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes that
    // lives until the call returns.
    let rc = unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) };
    if rc < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// connect(2) an AF_UNIX socket to `path`.
pub(crate) fn unix_connect(fd: RawFd, path: &std::path::Path) -> io::Result<()> {
    let (addr, len) = sockaddr_un(path)?;
    // SAFETY: as in `unix_bind`.
    let rc = unsafe { libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) };
    if rc < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// listen(2).
pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: plain syscall on an fd; no pointers.
    if unsafe { libc::listen(fd, backlog) } < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// accept4(2) a connection as a non-blocking, close-on-exec descriptor
/// (the peer's address is not asked for).
pub(crate) fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed when the address is not wanted.
    let raw = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(last_error());
    }
    // SAFETY: `raw` is a fresh descriptor we own exclusively.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// shutdown(2) with SHUT_RD / SHUT_WR / SHUT_RDWR.
pub(crate) fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: plain syscall on an fd; no pointers.
    if unsafe { libc::shutdown(fd, how) } < 0 {
        return Err(last_error());
    }
    Ok(())
}

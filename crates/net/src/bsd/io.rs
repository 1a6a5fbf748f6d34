//! send and recv with MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL.
//!
//! CONTRACT (as Linux for a TCP socket): a blocking send returns once every
//! byte is queued, or with the bytes queued so far when SO_SNDTIMEO expires
//! or the connection fails (EAGAIN / the error when none were). A blocking
//! recv returns as soon as any byte is readable (all `buf.len()` with
//! MSG_WAITALL, unless EOF, an error or SO_RCVTIMEO ends the wait first);
//! an error that ends a partly done call stays pending for the next one;
//! 0 means end of stream. Non-blocking calls (O_NONBLOCK or MSG_DONTWAIT)
//! try once and fail with EAGAIN. No call ever raises SIGPIPE, so
//! MSG_NOSIGNAL is accepted and changes nothing.

use std::net::SocketAddrV4;

use sockstack_proto::{RecvError, SendError};

use super::consts::*;
use super::driver::{Driver, WaitError};
use super::errno::{Errno, Result};
use super::fd_table::Fd;
use super::{Bsd, Step};

impl<D: Driver> Bsd<D> {
    /// send(2).
    pub fn send(&self, fd: Fd, buf: &[u8], flags: i32) -> Result<usize> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.sendto_other(fd, &e, buf, flags, None);
        };
        let f = e.flags();
        if f.nonblocking || flags & MSG_DONTWAIT != 0 {
            return self
                .driver
                .with_stack(|s, _| s.sockets_mut().send(h, buf))
                .map_err(Errno::from);
        }
        let mut sent = 0usize;
        let deadline = self.deadline(f.sndtimeo);
        let r = self.block_on(deadline, |s, _| {
            let rest = buf.get(sent..).unwrap_or_default();
            let ss = s.sockets_mut();
            // Bytes already queued are this call's result; an error that
            // arrives meanwhile stays pending for the next call (Linux).
            if sent > 0 && ss.error(h).is_some() {
                return Step::Done(Ok(()));
            }
            match ss.send(h, rest) {
                Ok(n) => {
                    sent += n;
                    if sent >= buf.len() {
                        Step::Done(Ok(()))
                    } else {
                        Step::Progress
                    }
                }
                Err(SendError::WouldBlock) => Step::Pending,
                Err(err) => Step::Done(Err(err)),
            }
        });
        match r {
            Ok(Ok(())) => Ok(sent),
            _ if sent > 0 => Ok(sent),
            Ok(Err(err)) => Err(err.into()),
            Err(w) => Err(w.into()),
        }
    }

    /// recv(2). Returns 0 at end of stream.
    pub fn recv(&self, fd: Fd, buf: &mut [u8], flags: i32) -> Result<usize> {
        let e = self.entry(fd)?;
        let Some(h) = e.tcp() else {
            return self.recvfrom_other(fd, &e, buf, flags).map(|r| r.0);
        };
        let f = e.flags();
        let peek = flags & MSG_PEEK != 0;
        let once = |s: &mut sockstack_proto::Stack, buf: &mut [u8]| {
            let ss = s.sockets_mut();
            if peek {
                ss.peek(h, buf)
            } else {
                ss.recv(h, buf)
            }
        };
        if f.nonblocking || flags & MSG_DONTWAIT != 0 {
            return match self.driver.with_stack(|s, _| once(s, buf)) {
                Ok(n) => Ok(n),
                Err(RecvError::Eof) => Ok(0),
                Err(err) => Err(err.into()),
            };
        }
        let deadline = self.deadline(f.rcvtimeo);
        let want = buf.len();
        let waitall = flags & MSG_WAITALL != 0;
        let mut got = 0usize;
        let r: core::result::Result<core::result::Result<(), RecvError>, WaitError> = if !waitall {
            self.block_on(deadline, |s, _| match once(s, buf) {
                Ok(n) => {
                    got = n;
                    Step::Done(Ok(()))
                }
                Err(RecvError::WouldBlock) => Step::Pending,
                Err(err) => Step::Done(Err(err)),
            })
        } else if peek {
            // Peek waits until the whole buffer could be peeked (or EOF).
            self.block_on(deadline, |s, _| {
                let eof = s.sockets().readiness(h).is_some_and(|r| r.rdhup);
                match once(s, buf) {
                    Ok(n) if n >= want || eof => {
                        got = n;
                        Step::Done(Ok(()))
                    }
                    Ok(_) | Err(RecvError::WouldBlock) => Step::Pending,
                    Err(err) => Step::Done(Err(err)),
                }
            })
        } else {
            self.block_on(deadline, |s, _| {
                // As for send: keep a pending error for the next call.
                if got > 0 && s.sockets().error(h).is_some() {
                    return Step::Done(Ok(()));
                }
                let rest = buf.get_mut(got..).unwrap_or_default();
                match once(s, rest) {
                    Ok(n) => {
                        got += n;
                        if got >= want {
                            Step::Done(Ok(()))
                        } else {
                            Step::Progress
                        }
                    }
                    Err(RecvError::WouldBlock) => Step::Pending,
                    Err(err) => Step::Done(Err(err)),
                }
            })
        };
        match r {
            Ok(Ok(())) | Ok(Err(RecvError::Eof)) => Ok(got),
            _ if got > 0 => Ok(got),
            Ok(Err(err)) => Err(err.into()),
            Err(w) => Err(w.into()),
        }
    }

    /// sendto(2) on a stream socket: the address is ignored once connected
    /// (Linux `tcp_sendmsg`); unconnected, it is EPIPE like send. On a
    /// datagram or raw socket the address is the destination.
    pub fn sendto(
        &self,
        fd: Fd,
        buf: &[u8],
        flags: i32,
        addr: Option<SocketAddrV4>,
    ) -> Result<usize> {
        let e = self.entry(fd)?;
        if e.tcp().is_none() {
            return self.sendto_other(fd, &e, buf, flags, addr);
        }
        self.send(fd, buf, flags)
    }

    /// recvfrom(2): recv plus the peer's address (`None` if not connected).
    /// On a datagram or raw socket: one datagram and its sender.
    pub fn recvfrom(
        &self,
        fd: Fd,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>)> {
        let e = self.entry(fd)?;
        if e.tcp().is_none() {
            return self.recvfrom_other(fd, &e, buf, flags);
        }
        let n = self.recv(fd, buf, flags)?;
        Ok((n, self.getpeername(fd).ok()))
    }
}

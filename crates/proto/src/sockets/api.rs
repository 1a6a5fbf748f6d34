//! The public socket API on `SocketSet`, shaped for a BSD facade: every
//! call takes a handle, returns a small error enum, and never blocks (the
//! facade blocks by waiting on `events()` and readiness).
//!
//! Recipes for the facade (Linux errno in brackets):
//! * Blocking `connect`: call `connect`, then wait until `readiness(h)`
//!   shows `writable` or `error`; success when `state(h)` is
//!   `Established` (or later), else `take_error(h)` gives the reason
//!   (`Refused` ECONNREFUSED, `TimedOut` ETIMEDOUT, `HostUnreachable`
//!   EHOSTUNREACH, `NetUnreachable` ENETUNREACH, `Reset` ECONNRESET).
//!   Non-blocking connect returns EINPROGRESS; a second `connect` while the
//!   handshake runs is `InProgress` (EALREADY).
//! * Blocking `accept`/`recv`/`send`: retry on `WouldBlock` after
//!   `events()` moves (it moves on every readiness edge and whenever data
//!   or send-buffer room changes), honouring SO_RCVTIMEO/SO_SNDTIMEO.
//!   `RecvError::Eof` is recv's 0. `SendError::Shutdown` is EPIPE.
//! * `close` never blocks; SO_LINGER {on, 0} is `abort`; SO_LINGER {on, N}
//!   is `shutdown(Write)`, wait for `send_drained(h)` up to N s, then
//!   `close` (or `abort` on timeout).
//! * SO_ERROR is `take_error`; POLLERR is `readiness().error`.
//! * `BadHandle` (or `None` from a getter) is EBADF: the handle was closed.
//!
//! Buffer sizes are taken as given (Linux doubles SO_RCVBUF/SO_SNDBUF on set
//! and reports the doubled value; the facade may do the same).

use std::net::SocketAddrV4;

use super::{
    slot_sock, AcceptError, BadHandle, BindError, ConnectError, FourTuple, ListenError, Readiness,
    RecvError, SendError, Shutdown, ShutdownError, SocketHandle, SocketSet, TcpInfo, TcpRow,
    TcpSocket, TcpStats,
};
use crate::snapshot::{TcpMemInfo, TcpTimer};
use crate::tcp::autotune::TuneKnobs;
use crate::tcp::connection::{ConnParams, Connection};
use crate::tcp::listener::Listener;
use crate::tcp::{CongestionAlgorithm, Profile, State, TcpError};
use crate::time::{Duration, Instant};
use crate::wire::Ipv4Addr;

impl SocketSet {
    /// A new, unbound TCP socket (socket(AF_INET, SOCK_STREAM, 0)).
    /// `None` when the socket table is full (EMFILE/ENOBUFS).
    pub fn tcp_socket(&mut self) -> Option<SocketHandle> {
        self.alloc()
    }

    /// The TCP behaviour profile (Linux defaults). Changing it affects
    /// connections created afterwards (and timers of existing ones).
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
    pub fn set_profile(&mut self, p: Profile) {
        self.profile = p;
    }

    /// Bumps whenever any socket's readiness changes or a socket goes away;
    /// a runtime wakes its waiters when it moves.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn tcp_stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Sockets alive (including orphans finishing their close and
    /// compact TIME_WAIT records).
    pub fn len(&self) -> usize {
        self.live + self.tw.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn user_sock(&self, h: SocketHandle) -> Option<&TcpSocket> {
        self.sock(h).filter(|s| !s.closed)
    }
    fn user_sock_mut(&mut self, h: SocketHandle) -> Option<&mut TcpSocket> {
        self.sock_mut(h).filter(|s| !s.closed)
    }

    /// bind(2). Port 0 picks a free ephemeral port.
    pub fn bind(&mut self, h: SocketHandle, addr: Ipv4Addr, port: u16) -> Result<(), BindError> {
        let local = self.local_addr;
        let s = self.user_sock(h).ok_or(BindError::BadHandle)?;
        if s.bound.is_some() || s.conn.is_some() || s.listener.is_some() {
            return Err(BindError::Invalid);
        }
        // Our address, the wildcard, or anything in 127.0.0.0/8 (the
        // stack's loopback interface answers for the whole block, like Linux).
        if !addr.is_unspecified() && addr != local && !addr.is_loopback() {
            return Err(BindError::AddrNotAvail);
        }
        let reuse = s.reuse_addr;
        let port = if port == 0 {
            // Linux bind(0) with no port left: EADDRINUSE.
            self.pick_bind_port(h, addr).ok_or(BindError::AddrInUse)?
        } else {
            if self.bind_conflict(h, addr, port) {
                return Err(BindError::AddrInUse);
            }
            port
        };
        self.ports.insert(port, h, addr, true, reuse);
        if let Some(s) = self.sock_mut(h) {
            s.bound = Some((addr, port));
        }
        Ok(())
    }

    /// SO_REUSEADDR.
    pub fn set_reuse_addr(&mut self, h: SocketHandle, on: bool) -> Result<(), BadHandle> {
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.reuse_addr = on;
        if let Some((_, port)) = s.bound {
            self.ports.set_reuse(port, h, on);
        }
        Ok(())
    }
    pub fn reuse_addr(&self, h: SocketHandle) -> Option<bool> {
        self.user_sock(h).map(|s| s.reuse_addr)
    }

    /// listen(2): backlog capped by somaxconn; unbound sockets get an
    /// ephemeral port. Calling it again updates the backlog.
    pub fn listen(&mut self, h: SocketHandle, backlog: u32) -> Result<(), ListenError> {
        let somaxconn = self.profile.somaxconn;
        let syn_cap = self.profile.max_syn_backlog;
        let s = self.user_sock_mut(h).ok_or(ListenError::BadHandle)?;
        if let Some(l) = s.listener.as_mut() {
            l.set_backlog(backlog, somaxconn);
            return Ok(());
        }
        if s.conn.is_some() {
            return Err(ListenError::Invalid);
        }
        if s.bound.is_none() {
            self.bind(h, Ipv4Addr::UNSPECIFIED, 0)
                .map_err(|_| ListenError::AddrInUse)?;
        }
        let Some((addr, port)) = self.sock(h).and_then(|s| s.bound) else {
            return Err(ListenError::Invalid);
        };
        // Linux re-checks at listen(): two SO_REUSEADDR sockets may share a
        // port until one listens.
        if self.bind_conflict(h, addr, port) || self.listeners.contains_key(&(addr, port)) {
            return Err(ListenError::AddrInUse);
        }
        self.listeners.insert((addr, port), h);
        if let Some(s) = self.sock_mut(h) {
            s.listener = Some(Box::new(Listener::new(backlog, somaxconn, syn_cap)));
        }
        self.touch(h);
        Ok(())
    }

    /// accept(2): the oldest established connection, sharing our local port.
    pub fn accept(&mut self, h: SocketHandle) -> Result<SocketHandle, AcceptError> {
        let s = self.user_sock_mut(h).ok_or(AcceptError::BadHandle)?;
        let l = s.listener.as_mut().ok_or(AcceptError::Invalid)?;
        let child = l.accept_queue.pop_front().ok_or(AcceptError::WouldBlock)?;
        // A listener's readiness is whether a child waits: it changes only
        // when the queue empties (`touch` notes nothing else for it).
        if l.accept_queue.is_empty() {
            self.touch(h);
        }
        // Only `parent` changes: it matters to the TIME_WAIT and close
        // bookkeeping of `touch`, not to what `refresh` notes, so a child
        // with none of that to do (the common case) needs no `touch`.
        let Some(c) = self.sock_mut(child) else {
            return Ok(child);
        };
        c.parent = None;
        if !c.refresh_only() {
            self.touch(child);
        }
        Ok(child)
    }

    /// connect(2), non-blocking: starts the handshake. Progress shows in
    /// `state`, `readiness` (writable once established) and `take_error`.
    pub fn connect(
        &mut self,
        now: Instant,
        h: SocketHandle,
        addr: Ipv4Addr,
        port: u16,
    ) -> Result<(), ConnectError> {
        self.now = self.now.max(now);
        let s = self.user_sock(h).ok_or(ConnectError::BadHandle)?;
        if s.listener.is_some() {
            return Err(ConnectError::Invalid);
        }
        if let Some(c) = &s.conn {
            match c.state {
                State::SynSent | State::SynReceived => return Err(ConnectError::InProgress),
                State::Closed => {}
                _ => return Err(ConnectError::AlreadyConnected),
            }
        }
        if port == 0 || addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
            return Err(ConnectError::Invalid);
        }
        let remote = (addr, port);
        let local_ip = match s.bound {
            Some((a, _)) if !a.is_unspecified() => a,
            // Loopback destinations leave from the loopback interface.
            _ if addr.is_loopback() => Ipv4Addr::LOCALHOST,
            _ => self.local_addr,
        };
        let (rcvbuf, sndbuf, nodelay, keepalive, user_mss) =
            (s.rcvbuf, s.sndbuf, s.nodelay, s.keepalive, s.user_mss);
        let (congestion, reuse) = (s.congestion, s.reuse_addr);
        let (rcv_locked, snd_locked) = (s.rcvbuf_locked, s.sndbuf_locked);
        let lport = match s.bound {
            Some((_, p)) => {
                let t = FourTuple {
                    local: (local_ip, p),
                    remote,
                };
                if self.conns.contains_key(&t) || self.tw.contains(&t) {
                    return Err(ConnectError::AddrNotAvail);
                }
                p
            }
            None => {
                let p = self
                    .pick_connect_port(local_ip, remote)
                    .ok_or(ConnectError::AddrNotAvail)?;
                self.ports.insert_new(p, h, local_ip, reuse);
                p
            }
        };
        let local = (local_ip, lport);
        let (iss, ts_offset) = self.isn.isn_ts(now, local, remote);
        let params = ConnParams {
            local,
            remote,
            iss,
            ts_offset,
            mtu: self.mtu,
            user_mss,
            rcvbuf,
            sndbuf,
            nodelay,
            keepalive,
        };
        // Absent: a bound port was checked above, and a port `pick_connect_port`
        // chose is free for this destination.
        self.conns.insert_new(FourTuple { local, remote }, h.index);
        let profile = &self.profile;
        if let Some(s) = slot_sock(&mut self.slots, h) {
            if s.bound.is_none() {
                s.bound = Some((local_ip, lport));
            }
            let conn = Connection::connect_in(&mut s.conn, profile, &params);
            conn.cc.set_algorithm(congestion);
            conn.tune.rcv_locked = rcv_locked;
            conn.tune.snd_locked = snd_locked;
            s.in_demux = true;
        }
        self.stats.active_opens += 1;
        self.touch(h);
        Ok(())
    }

    /// send(2): copy as much as fits into the send buffer.
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, SendError> {
        let (now, knobs) = (self.now, TuneKnobs::of(&self.profile));
        let (s, pool) = self.user_sock_and_pool(h).ok_or(SendError::BadHandle)?;
        let c = s.conn.as_mut().ok_or(SendError::NotConnected)?;
        c.warm();
        if let Some(e) = c.error.take() {
            self.touch(h);
            return Err(SendError::Error(e));
        }
        match c.state {
            State::SynSent | State::SynReceived => return Err(SendError::WouldBlock),
            State::Established | State::CloseWait if !c.fin_queued => {}
            _ => return Err(SendError::Shutdown),
        }
        if data.is_empty() {
            return Ok(0);
        }
        pool.provision(&mut c.snd_buf, data.len());
        let n = c.send(now, &knobs, data);
        if n == 0 {
            return Err(SendError::WouldBlock);
        }
        // The connection just written to is the likeliest to receive next
        // (the peer's ACK, or its reply to a request): its segment then
        // finds the socket through the checked demux hint, in lines this
        // call has just read, without a lookup in the 4-tuple table.
        self.demux_hint = Some(h);
        self.touch(h);
        Ok(n)
    }

    fn recv_impl(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<usize, RecvError> {
        let (now, knobs) = (self.now, TuneKnobs::of(&self.profile));
        let (s, pool) = self.user_sock_and_pool(h).ok_or(RecvError::BadHandle)?;
        // Would block at the last event (every change to the buffer, the
        // error or EOF goes through `touch`): answer without reading the
        // connection (`recv` asks this before the call).
        if s.recv_idle && !buf.is_empty() {
            return Err(RecvError::WouldBlock);
        }
        // Not readable at the last event: the buffer is empty, and its
        // cache line need not be read.
        let readable = s.was_readable();
        let c = s.conn.as_mut().ok_or(RecvError::NotConnected)?;
        if buf.is_empty() {
            return Ok(0);
        }
        debug_assert!(readable || c.rcv_buf.is_empty(), "stale readiness");
        // Nothing buffered (a poll-style caller's common case): straight
        // to the error / EOF / would-block answer.
        if readable && !c.rcv_buf.is_empty() {
            let n = c.recv(now, &knobs, buf, peek);
            if n > 0 {
                if c.assembler.is_empty() {
                    // Everything read: a first-size ring goes back to the
                    // pool (Linux frees each skb as it is read), so the next
                    // small arrival anywhere takes a buffer still in cache.
                    pool.reclaim(&mut c.rcv_buf);
                }
                self.touch(h);
                return Ok(n);
            }
        }
        if let Some(e) = c.error {
            if !peek {
                c.error = None;
                self.touch(h);
            }
            return Err(RecvError::Error(e));
        }
        if c.read_eof() {
            return Err(RecvError::Eof);
        }
        Err(RecvError::WouldBlock)
    }

    /// recv(2): copy out and consume received bytes. `Err(Eof)` is recv's 0.
    #[inline]
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        // A poll-style caller's common answer, EWOULDBLOCK from the
        // socket's first line, without `recv_impl`'s call and set-up.
        if self.would_block(h) && !buf.is_empty() {
            return Err(RecvError::WouldBlock);
        }
        self.recv_impl(h, buf, false)
    }

    /// recv(2) with MSG_PEEK.
    pub fn peek(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_impl(h, buf, true)
    }

    /// shutdown(2).
    pub fn shutdown(&mut self, h: SocketHandle, how: Shutdown) -> Result<(), ShutdownError> {
        let s = self.user_sock_mut(h).ok_or(ShutdownError::BadHandle)?;
        let c = s.conn.as_mut().ok_or(ShutdownError::NotConnected)?;
        if c.state == State::Closed && c.error.is_none() && !c.aborted && !c.fin_received {
            return Err(ShutdownError::NotConnected);
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            c.shutdown_read();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            c.shutdown_write();
        }
        self.touch(h);
        Ok(())
    }

    /// close(2): the handle becomes invalid at once. Unread received data
    /// means RST (RFC 9293 3.6, RFC 2525 2.17); otherwise a FIN follows the
    /// buffered data and the stack finishes the close (FIN_WAIT, TIME_WAIT).
    pub fn close(&mut self, h: SocketHandle) -> Result<(), BadHandle> {
        let fin_timeout = self.profile.fin_timeout;
        let now = self.now;
        let (s, pool) = self.user_sock_and_pool(h).ok_or(BadHandle)?;
        s.closed = true;
        if s.listener.is_some() {
            self.free(h);
            return Ok(());
        }
        let Some(c) = s.conn.as_mut() else {
            self.free(h);
            return Ok(());
        };
        match c.state {
            State::Closed | State::SynSent | State::Listen => {
                self.free(h);
                return Ok(());
            }
            _ => {}
        }
        if !c.rcv_buf.is_empty() {
            self.abort_socket(h);
            return Ok(());
        }
        c.orphan = true;
        c.shut_rd = true;
        c.shutdown_write();
        // Nothing more to read or write from here: small empty rings go to
        // the pool for the next connection (a later need allocates anew).
        if c.assembler.is_empty() {
            pool.reclaim(&mut c.rcv_buf);
        }
        pool.reclaim(&mut c.snd_buf);
        if c.state == State::FinWait2 && c.close_at.is_none() {
            // Already half-closed: the orphan timeout starts now (the
            // latest time the stack was driven with).
            c.close_at = Some(now + fin_timeout);
        }
        self.touch(h);
        Ok(())
    }

    /// close(2) with SO_LINGER {on, 0}: reset and forget the connection.
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), BadHandle> {
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.closed = true;
        self.abort_socket(h);
        Ok(())
    }

    // ----- options --------------------------------------------------------

    /// TCP_NODELAY.
    pub fn set_nodelay(&mut self, h: SocketHandle, on: bool) -> Result<(), BadHandle> {
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.nodelay = on;
        if let Some(c) = s.conn.as_mut() {
            c.nodelay = on;
        }
        self.touch(h);
        Ok(())
    }
    pub fn nodelay(&self, h: SocketHandle) -> Option<bool> {
        self.user_sock(h).map(|s| s.nodelay)
    }

    /// TCP_CONGESTION: the congestion-control algorithm. Like Linux it may
    /// change at any time; a live connection keeps its window and starts
    /// the new algorithm's state afresh. A listener passes its choice to
    /// the connections it accepts. Names parse with `str::parse` into
    /// [`CongestionAlgorithm`]; an unknown name is `UnknownAlgorithm`
    /// (ENOENT).
    pub fn set_congestion(
        &mut self,
        h: SocketHandle,
        algorithm: CongestionAlgorithm,
    ) -> Result<(), BadHandle> {
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.congestion = algorithm;
        if let Some(c) = s.conn.as_mut() {
            c.cc.set_algorithm(algorithm);
        }
        Ok(())
    }
    /// The algorithm of the connection if there is one, else the socket's choice.
    pub fn congestion(&self, h: SocketHandle) -> Option<CongestionAlgorithm> {
        let s = self.user_sock(h)?;
        Some(s.conn.as_ref().map_or(s.congestion, |c| c.cc.algorithm()))
    }

    /// SO_KEEPALIVE: probe an idle connection (profile's keepalive numbers).
    pub fn set_keepalive(&mut self, h: SocketHandle, on: bool) -> Result<(), BadHandle> {
        let now = self.now;
        let profile = &self.profile;
        let Some(s) = super::slot_sock(&mut self.slots, h).filter(|s| !s.closed) else {
            return Err(BadHandle);
        };
        s.keepalive = on;
        if let Some(c) = s.conn.as_mut() {
            c.set_keepalive(now, profile, on);
        }
        self.touch(h);
        Ok(())
    }
    pub fn keepalive(&self, h: SocketHandle) -> Option<bool> {
        self.user_sock(h).map(|s| s.keepalive)
    }

    /// SO_RCVBUF in bytes (no doubling here; the facade may double like Linux).
    /// Clamped to the profile's range, never below the bytes held. Setting
    /// it fixes the size: no receive autotuning (Linux `SOCK_RCVBUF_LOCK`),
    /// also for connections accepted from this socket.
    pub fn set_recv_buffer_size(&mut self, h: SocketHandle, size: usize) -> Result<(), BadHandle> {
        let (lo, hi) = (self.profile.rcvbuf_min, self.profile.rcvbuf_max);
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.rcvbuf = size.clamp(lo, hi);
        s.rcvbuf_locked = true;
        let Some(c) = s.conn.as_mut() else {
            // Nothing the size affects yet (readiness, timers): no `touch`.
            return Ok(());
        };
        c.tune.rcv_locked = true;
        if c.assembler.is_empty() {
            c.rcv_buf.set_capacity(s.rcvbuf);
        }
        self.touch(h);
        Ok(())
    }
    /// The current SO_RCVBUF: as set, or as autotuning grew it (like Linux,
    /// which reports `sk_rcvbuf`).
    pub fn recv_buffer_size(&self, h: SocketHandle) -> Option<usize> {
        let s = self.user_sock(h)?;
        Some(match &s.conn {
            Some(c) if !s.rcvbuf_locked => s.rcvbuf.max(c.rcv_buf.capacity()),
            _ => s.rcvbuf,
        })
    }

    /// SO_SNDBUF in bytes, clamped like SO_RCVBUF; fixes the size (no
    /// growth with cwnd, Linux `SOCK_SNDBUF_LOCK`).
    pub fn set_send_buffer_size(&mut self, h: SocketHandle, size: usize) -> Result<(), BadHandle> {
        let (lo, hi) = (self.profile.sndbuf_min, self.profile.sndbuf_max);
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.sndbuf = size.clamp(lo, hi);
        s.sndbuf_locked = true;
        let Some(c) = s.conn.as_mut() else {
            // Nothing the size affects yet (readiness, timers): no `touch`.
            return Ok(());
        };
        c.tune.snd_locked = true;
        c.snd_buf.set_capacity(s.sndbuf);
        self.touch(h);
        Ok(())
    }
    /// The current SO_SNDBUF: as set, or as autotuning grew it.
    pub fn send_buffer_size(&self, h: SocketHandle) -> Option<usize> {
        let s = self.user_sock(h)?;
        Some(match &s.conn {
            Some(c) if !s.sndbuf_locked => s.sndbuf.max(c.snd_buf.capacity()),
            _ => s.sndbuf,
        })
    }

    /// TCP_MAXSEG: caps the MSS we advertise; takes effect at the next connect/listen.
    pub fn set_max_segment(&mut self, h: SocketHandle, mss: u16) -> Result<(), BadHandle> {
        let s = self.user_sock_mut(h).ok_or(BadHandle)?;
        s.user_mss = (mss > 0).then_some(mss);
        Ok(())
    }
    /// TCP_MAXSEG as read back: the payload size we send once connected,
    /// otherwise the configured cap (or the default 536).
    pub fn max_segment(&self, h: SocketHandle) -> Option<usize> {
        let s = self.user_sock(h)?;
        Some(match &s.conn {
            Some(c) if c.state.is_synchronized() => c.snd_mss,
            _ => s
                .user_mss
                .map_or(usize::from(self.profile.default_mss), usize::from),
        })
    }

    // ----- inspection -----------------------------------------------------

    pub fn state(&self, h: SocketHandle) -> Option<State> {
        self.user_sock(h).map(|s| s.state())
    }

    /// getsockname(2): (0.0.0.0, 0) when unbound.
    pub fn local_addr(&self, h: SocketHandle) -> Option<SocketAddrV4> {
        let s = self.user_sock(h)?;
        if let Some(c) = &s.conn {
            return Some(SocketAddrV4::new(c.local.0, c.local.1));
        }
        let (a, p) = s.bound.unwrap_or((Ipv4Addr::UNSPECIFIED, 0));
        Some(SocketAddrV4::new(a, p))
    }

    /// getpeername(2): `None` when not connected (ENOTCONN) or a bad handle.
    pub fn peer_addr(&self, h: SocketHandle) -> Option<SocketAddrV4> {
        let c = self.user_sock(h)?.conn.as_ref()?;
        if c.state == State::Closed {
            return None;
        }
        Some(SocketAddrV4::new(c.remote.0, c.remote.1))
    }

    /// poll(2) for one socket: the readiness noted at the socket's last
    /// event (every change to what readiness depends on goes through
    /// `touch`, `check_invariants` checks the note), read from the
    /// socket's first line instead of the connection's buffers and flags.
    pub fn readiness(&self, h: SocketHandle) -> Option<Readiness> {
        let s = self.user_sock(h)?;
        debug_assert_eq!(s.ready_bits, s.readiness().bits(), "stale readiness");
        Some(Readiness::from_bits(s.ready_bits))
    }
    pub fn readable(&self, h: SocketHandle) -> bool {
        self.readiness(h).is_some_and(|r| r.readable)
    }
    pub fn writable(&self, h: SocketHandle) -> bool {
        self.readiness(h).is_some_and(|r| r.writable)
    }
    pub fn hup(&self, h: SocketHandle) -> bool {
        self.readiness(h).is_some_and(|r| r.hup)
    }
    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&mut self, h: SocketHandle) -> Option<TcpError> {
        let e = self.user_sock_mut(h)?.conn.as_mut()?.error.take();
        if e.is_some() {
            self.touch(h);
        }
        e
    }
    /// The pending error without clearing it (POLLERR).
    pub fn error(&self, h: SocketHandle) -> Option<TcpError> {
        self.user_sock(h)?.conn.as_ref()?.error
    }

    /// Everything written has been acknowledged, including our FIN if one
    /// was queued (for SO_LINGER {on, N}: `shutdown(Write)`, wait for this
    /// or N seconds, then `close` or `abort`). True for a closed connection.
    pub fn send_drained(&self, h: SocketHandle) -> Option<bool> {
        let s = self.user_sock(h)?;
        Some(match &s.conn {
            None => true,
            Some(c) => {
                c.state == State::Closed
                    || (c.snd_buf.is_empty()
                        && c.snd_una == c.snd_max
                        && (!c.fin_queued || c.fin_acked()))
            }
        })
    }

    /// The connection behind `h`, for scripted tests that check internals.
    #[cfg(test)]
    pub(crate) fn conn_for_test(&self, h: SocketHandle) -> &crate::tcp::connection::Connection {
        let conn = self.sock(h).and_then(|s| s.conn.as_ref());
        conn.expect("a connection behind the handle")
    }

    /// TCP_INFO.
    pub fn info(&self, h: SocketHandle) -> Option<TcpInfo> {
        let s = self.user_sock(h)?;
        let Some(c) = &s.conn else {
            return Some(TcpInfo {
                state: Some(s.state()),
                ..TcpInfo::default()
            });
        };
        Some(TcpInfo {
            state: Some(c.state),
            rtt: c.rtt.srtt().unwrap_or(Duration::ZERO),
            rttvar: c.rtt.rttvar(),
            rto: c.rtt.backed_off(c.backoff),
            cwnd: c.cc.cwnd,
            ssthresh: c.cc.ssthresh,
            snd_mss: c.snd_mss,
            rcv_mss: c.rcv_mss,
            advmss: c.adv_mss,
            retransmits: c.backoff,
            total_retrans: c.total_retrans,
            recoveries: c.loss.recoveries,
            sack_recoveries: c.loss.sack_recoveries,
            fast_retrans: c.loss.fast_retrans,
            sack_retrans: c.loss.sack_retrans,
            lost_retrans: c.loss.lost_retrans,
            tlp_probes: c.loss.tlp_probes,
            tlp_recoveries: c.loss.tlp_recoveries,
            rtos: c.loss.rtos,
            spurious_rto_undos: c.loss.spurious_rto_undos,
            dsack_rx: c.loss.dsack_rx,
            dsack_tx: c.loss.dsack_tx,
            unacked: c.in_flight(),
            send_queue: c.snd_buf.len(),
            recv_queue: c.rcv_buf.len(),
            snd_wnd: c.snd_wnd,
            rcv_wnd: c.rcv_nxt.distance_to(c.rcv_adv),
            snd_wscale: c.snd_wscale,
            rcv_wscale: c.rcv_wscale,
            sack: c.sack_ok,
            timestamps: c.ts_ok,
        })
    }

    /// Buffer figures summed over every live connection (capacities and
    /// ring bytes now, autotuning events of the live connections), plus the
    /// spare ring storage the stack pools for new connections
    /// (`ring_pool`), like the `mem` of /proc/net/sockstat. Scans the
    /// table: for tools.
    pub fn mem_totals(&self) -> TcpMemInfo {
        let mut t = TcpMemInfo {
            ring_pool: self.ring_pool.bytes(),
            ..TcpMemInfo::default()
        };
        for c in self
            .slots
            .iter()
            .filter_map(|s| s.sock.as_ref()?.conn.as_ref())
        {
            t.rcvbuf += c.rcv_buf.capacity();
            t.sndbuf += c.snd_buf.capacity();
            t.rcv_alloc += c.rcv_buf.allocated();
            t.snd_alloc += c.snd_buf.allocated();
            t.rcvbuf_grows = t.rcvbuf_grows.saturating_add(c.tune.rcvbuf_grows);
            t.sndbuf_grows = t.sndbuf_grows.saturating_add(c.tune.sndbuf_grows);
            t.idle_releases = t.idle_releases.saturating_add(c.tune.idle_releases);
        }
        t
    }

    /// Buffer memory of a connection, like `ss -m` (and the autotuning
    /// behind it); `None` for a listener or an unconnected socket.
    pub fn mem_info(&self, h: SocketHandle) -> Option<TcpMemInfo> {
        let c = self.user_sock(h)?.conn.as_ref()?;
        Some(TcpMemInfo {
            rcvbuf: c.rcv_buf.capacity(),
            sndbuf: c.snd_buf.capacity(),
            rcv_alloc: c.rcv_buf.allocated(),
            snd_alloc: c.snd_buf.allocated(),
            rcv_rtt: c.tune.rcv_rtt(),
            rcv_space: c.tune.rcv_space(),
            rcvbuf_grows: c.tune.rcvbuf_grows,
            sndbuf_grows: c.tune.sndbuf_grows,
            idle_releases: c.tune.idle_releases,
            ring_pool: 0,
        })
    }

    /// One row per listener or connection (orphans included), for netstat,
    /// timers measured from the latest time the set has seen (which lags
    /// while the stack is idle: tools with a clock use `snapshot_at`).
    /// Scans the table; meant for tools, not per-packet paths.
    pub fn snapshot(&self) -> Vec<TcpRow> {
        self.snapshot_at(self.now)
    }

    /// `snapshot` with each timer's time left measured from `now` (never
    /// earlier than the latest time the set has seen).
    pub fn snapshot_at(&self, now: Instant) -> Vec<TcpRow> {
        let now = now.max(self.now);
        let mut rows = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(s) = &slot.sock else {
                continue;
            };
            let handle = SocketHandle {
                index: i as u32,
                gen: slot.gen,
            };
            let unspec = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
            let bound = s.bound.map_or(unspec, |(a, p)| SocketAddrV4::new(a, p));
            let row = match (&s.listener, &s.conn) {
                (Some(l), _) => TcpRow {
                    handle,
                    proto: "tcp",
                    local: bound,
                    remote: unspec,
                    state: State::Listen,
                    recv_q: l.accept_queue.len(),
                    send_q: l.backlog,
                    syn_queue: l.syn_queue.len(),
                    orphan: s.closed,
                    rcvbuf: 0,
                    sndbuf: 0,
                    timer: None,
                },
                (None, Some(c)) => TcpRow {
                    handle,
                    proto: "tcp",
                    local: SocketAddrV4::new(c.local.0, c.local.1),
                    remote: SocketAddrV4::new(c.remote.0, c.remote.1),
                    state: c.state,
                    recv_q: c.rcv_buf.len(),
                    send_q: c.snd_buf.len(),
                    syn_queue: 0,
                    orphan: s.closed,
                    rcvbuf: c.rcv_buf.capacity(),
                    sndbuf: c.snd_buf.capacity(),
                    timer: c.shown_timer().map(|(kind, at, count)| TcpTimer {
                        kind,
                        remaining: at.saturating_duration_since(now),
                        count,
                    }),
                },
                // Unconnected sockets are in no lookup table; like `ss -tan`,
                // leave them out.
                (None, None) => continue,
            };
            rows.push(row);
        }
        self.time_wait_rows(now, &mut rows);
        rows
    }
}

//! Socket bookkeeping: the arena of sockets, handles, port allocation and the
//! O(1) 4-tuple demux. The interface layer hands transport segments in and
//! asks for segments out through the `pub(crate)` methods below (the
//! contract between `stack.rs` and the socket layer); applications use the
//! public socket API in `api.rs`.
//!
//! Contract: no per-packet path scans the socket table. Segments are routed
//! by a hash map on the 4-tuple, then on (address, port) for listeners, then
//! the wildcard listener. Timers live in a heap of deadlines with lazy
//! invalidation; sockets with something to send sit in a ready queue.

mod api;
mod ports;
mod types;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::tcp::connection::{Connection, OutSegment, RstReply, TcpError};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::listener::Listener;
use crate::tcp::output::data_header_len;
use crate::tcp::{Profile, State};
use crate::time::Instant;
use crate::wire::{IpProtocol, Ipv4Addr, Ipv4Repr, TcpFlags, TcpRepr};

pub use types::{
    AcceptError, BadHandle, BindError, ConnectError, ListenError, Readiness, RecvError, SendError,
    Shutdown, ShutdownError, SocketHandle, TcpInfo, TcpRow, TcpStats,
};

/// What the interface layer needs to wrap a transport segment that the socket
/// layer wrote into the IP payload region of the frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Egress {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes written at the start of the payload buffer (transport header + data).
    pub len: usize,
    pub ttl: u8,
    pub dont_frag: bool,
}

/// An ICMP error delivered to the socket layer (RFC 1122 3.2.2, RFC 5927).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IcmpError {
    /// Destination unreachable with the given code (0..=15).
    Unreachable {
        code: u8,
    },
    /// Fragmentation needed; the next-hop MTU (RFC 1191).
    FragNeeded {
        mtu: u16,
    },
    TimeExceeded,
}

/// A connection's identity: (local address, local port, remote address, remote port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FourTuple {
    pub local: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
}

/// One TCP socket: unbound, bound, listening or connected.
#[derive(Debug)]
pub(crate) struct TcpSocket {
    pub(crate) conn: Option<Connection>,
    pub(crate) listener: Option<Listener>,
    /// Bound (address, port); the address may be 0.0.0.0.
    pub(crate) bound: Option<(Ipv4Addr, u16)>,
    pub(crate) reuse_addr: bool,
    /// The listener this connection came from, until accepted.
    pub(crate) parent: Option<SocketHandle>,
    /// Registered in the 4-tuple map.
    pub(crate) in_demux: bool,
    /// Closed by the user.
    pub(crate) closed: bool,
    pub(crate) rcvbuf: usize,
    pub(crate) sndbuf: usize,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: bool,
    pub(crate) user_mss: Option<u16>,
    /// The deadline this socket has in the timer heap.
    timer_at: Option<Instant>,
    /// In the ready-to-send queue.
    queued_tx: bool,
    /// Readiness at the last event, to detect changes.
    ready_bits: u8,
    /// Counted in the TIME_WAIT total.
    in_tw: bool,
    /// (bytes readable, bytes in the send buffer) at the last event.
    levels: (usize, usize),
}

impl TcpSocket {
    fn new(p: &Profile) -> Self {
        TcpSocket {
            conn: None,
            listener: None,
            bound: None,
            reuse_addr: false,
            parent: None,
            in_demux: false,
            closed: false,
            rcvbuf: p.rcvbuf_default,
            sndbuf: p.sndbuf_default,
            nodelay: false,
            keepalive: false,
            user_mss: None,
            timer_at: None,
            queued_tx: false,
            ready_bits: 0,
            in_tw: false,
            levels: (0, 0),
        }
    }

    pub(crate) fn state(&self) -> State {
        if self.listener.is_some() {
            return State::Listen;
        }
        self.conn.as_ref().map_or(State::Closed, |c| c.state)
    }

    pub(crate) fn readiness(&self) -> Readiness {
        if let Some(l) = &self.listener {
            return Readiness {
                readable: !l.accept_queue.is_empty(),
                ..Readiness::default()
            };
        }
        match &self.conn {
            None => Readiness {
                hup: true,
                ..Readiness::default()
            },
            Some(c) => {
                if matches!(c.state, State::SynSent | State::SynReceived) {
                    return Readiness::default();
                }
                Readiness {
                    readable: c.readable(),
                    writable: c.writable(),
                    error: c.error.is_some(),
                    hup: c.hup(),
                    rdhup: c.read_eof(),
                }
            }
        }
    }
}

#[derive(Debug)]
struct Slot {
    gen: u32,
    sock: Option<TcpSocket>,
}

/// Every transport socket of one stack. Public socket operations take `now`
/// where time matters and return small error enums, never errno.
pub struct SocketSet {
    local_addr: Ipv4Addr,
    mtu: usize,
    pub(crate) profile: Profile,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    live: usize,
    conns: HashMap<FourTuple, SocketHandle>,
    listeners: HashMap<(Ipv4Addr, u16), SocketHandle>,
    ports: ports::Ports,
    timers: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
    ready: VecDeque<SocketHandle>,
    /// Stateless replies: (source, destination, header).
    resets: VecDeque<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)>,
    isn: IsnGenerator,
    rng: ChaCha8Rng,
    stats: TcpStats,
    events: u64,
    time_wait: usize,
    scratch: Vec<u8>,
    /// The latest time any entry point was called with (for calls without `now`).
    now: Instant,
}

/// A segment chosen for sending, before its payload is copied.
struct Pending {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    repr: TcpRepr<'static>,
    /// (socket, offset in its send buffer, length)
    data: Option<(SocketHandle, usize, usize)>,
}

impl SocketSet {
    pub(crate) fn new(local_addr: Ipv4Addr, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let isn = IsnGenerator::new(rng.next_u64(), rng.next_u64());
        SocketSet {
            local_addr,
            mtu: 1500,
            profile: Profile::linux(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            live: 0,
            conns: HashMap::new(),
            listeners: HashMap::new(),
            ports: ports::Ports::new(),
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            resets: VecDeque::new(),
            isn,
            rng,
            stats: TcpStats::default(),
            events: 0,
            time_wait: 0,
            scratch: Vec::new(),
            now: Instant::ZERO,
        }
    }

    /// The IP MTU of the interface; sets the MSS we advertise (MTU - 40).
    pub(crate) fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu.max(68);
    }

    // ----- arena ----------------------------------------------------------

    pub(crate) fn sock(&self, h: SocketHandle) -> Option<&TcpSocket> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.gen != h.gen {
            return None;
        }
        slot.sock.as_ref()
    }

    pub(crate) fn sock_mut(&mut self, h: SocketHandle) -> Option<&mut TcpSocket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.gen != h.gen {
            return None;
        }
        slot.sock.as_mut()
    }

    fn alloc(&mut self, sock: TcpSocket) -> Option<SocketHandle> {
        if self.live >= self.profile.max_sockets {
            return None;
        }
        self.live += 1;
        if let Some(index) = self.free_slots.pop() {
            let slot = self.slots.get_mut(index as usize)?;
            slot.sock = Some(sock);
            return Some(SocketHandle {
                index,
                gen: slot.gen,
            });
        }
        let index = u32::try_from(self.slots.len()).ok()?;
        self.slots.push(Slot {
            gen: 0,
            sock: Some(sock),
        });
        Some(SocketHandle { index, gen: 0 })
    }

    /// Remove a socket for good: demux, ports, parent, children.
    fn free(&mut self, h: SocketHandle) {
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        if slot.gen != h.gen {
            return;
        }
        let Some(sock) = slot.sock.take() else {
            return;
        };
        // Retire the generation so stale handles never match again; a slot
        // whose generation would wrap is never reused.
        slot.gen = slot.gen.wrapping_add(1);
        if slot.gen != 0 {
            self.free_slots.push(h.index);
        }
        self.live -= 1;
        if sock.in_tw {
            self.time_wait -= 1;
        }
        if let Some(c) = &sock.conn {
            let t = FourTuple {
                local: c.local,
                remote: c.remote,
            };
            if sock.in_demux && self.conns.get(&t) == Some(&h) {
                self.conns.remove(&t);
            }
        }
        if let Some((addr, port)) = sock.bound {
            self.ports.remove(port, h);
            if sock.listener.is_some() && self.listeners.get(&(addr, port)) == Some(&h) {
                self.listeners.remove(&(addr, port));
            }
        }
        if let Some(parent) = sock.parent {
            if let Some(l) = self.sock_mut(parent).and_then(|p| p.listener.as_mut()) {
                l.forget(h);
            }
        }
        if let Some(l) = sock.listener {
            // Closing a listener: half-open children vanish, established
            // ones are reset (Linux inet_csk_listen_stop).
            for child in l.syn_queue.into_iter().chain(l.accept_queue) {
                if let Some(c) = self.sock_mut(child) {
                    c.parent = None;
                    c.closed = true;
                }
                self.abort_socket(child);
            }
        }
        self.events += 1;
    }

    /// Send a reset if the connection warrants one, then free the socket.
    pub(crate) fn abort_socket(&mut self, h: SocketHandle) {
        let reply = self.sock_mut(h).and_then(|s| {
            let c = s.conn.as_mut()?;
            let rst = c.abort()?;
            Some((c.local.0, c.remote.0, c.local.1, c.remote.1, rst))
        });
        if let Some((src, dst, sport, dport, rst)) = reply {
            self.queue_reset(src, dst, sport, dport, rst);
        }
        self.free(h);
    }

    // ----- events ---------------------------------------------------------

    /// After anything happened to a socket: free it if finished, keep the
    /// demux, timer heap and ready queue in step, note readiness changes.
    pub(crate) fn touch(&mut self, h: SocketHandle) {
        let max_tw = self.profile.max_tw_buckets;
        let tw_now = self.time_wait;
        let Some(sock) = self.sock_mut(h) else {
            return;
        };
        let mut tw_delta: isize = 0;
        let mut leave_demux = None;
        let mut finished = false;
        if let Some(c) = sock.conn.as_mut() {
            let tw = c.state == State::TimeWait;
            if tw && !sock.in_tw {
                if tw_now >= max_tw {
                    // Linux: beyond tcp_max_tw_buckets, skip TIME_WAIT.
                    c.enter_closed();
                } else {
                    sock.in_tw = true;
                    tw_delta = 1;
                }
            } else if !tw && sock.in_tw {
                sock.in_tw = false;
                tw_delta = -1;
            }
            if c.state == State::Closed {
                if sock.in_demux {
                    sock.in_demux = false;
                    leave_demux = Some(FourTuple {
                        local: c.local,
                        remote: c.remote,
                    });
                }
                // Orphans and never-accepted half-open children go away.
                let unaccepted_halfopen = c.passive
                    && sock.parent.is_some()
                    && !c.state.is_synchronized()
                    && c.error.is_none();
                finished = sock.closed || unaccepted_halfopen;
            }
        }
        if tw_delta > 0 {
            self.time_wait += 1;
        } else if tw_delta < 0 {
            self.time_wait -= 1;
        }
        if let Some(t) = leave_demux {
            if self.conns.get(&t) == Some(&h) {
                self.conns.remove(&t);
            }
        }
        if finished {
            self.free(h);
            return;
        }
        let Some(sock) = self.sock_mut(h) else {
            return;
        };
        let bits = sock.readiness().bits();
        let levels = sock
            .conn
            .as_ref()
            .map_or((0, 0), |c| (c.rcv_buf.len(), c.snd_buf.len()));
        // Readiness edges, and also more data or more room on an already
        // ready socket (a MSG_WAITALL reader or a partial writer is waiting).
        let changed = bits != sock.ready_bits || levels != sock.levels;
        sock.ready_bits = bits;
        sock.levels = levels;
        let queue = !sock.queued_tx && sock.conn.is_some();
        if queue {
            sock.queued_tx = true;
        }
        let deadline = sock.conn.as_ref().and_then(|c| c.next_deadline());
        let reschedule = deadline.is_some() && deadline != sock.timer_at;
        sock.timer_at = deadline;
        if changed {
            self.events += 1;
        }
        if queue {
            self.ready.push_back(h);
        }
        if let (true, Some(t)) = (reschedule, deadline) {
            self.timers.push(Reverse((t, h)));
            self.compact_timers();
        }
    }

    /// Only the timer bookkeeping of `touch` (after output).
    fn reschedule(&mut self, h: SocketHandle) {
        let Some(sock) = self.sock_mut(h) else {
            return;
        };
        let deadline = sock.conn.as_ref().and_then(|c| c.next_deadline());
        if deadline.is_some() && deadline != sock.timer_at {
            sock.timer_at = deadline;
            if let Some(t) = deadline {
                self.timers.push(Reverse((t, h)));
                self.compact_timers();
            }
        } else {
            sock.timer_at = deadline;
        }
    }

    /// Rebuild the heap when stale entries dominate (amortised O(1)).
    fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.live + 1024 {
            return;
        }
        let mut fresh = BinaryHeap::with_capacity(self.live);
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(t) = slot.sock.as_ref().and_then(|s| s.timer_at) {
                let h = SocketHandle {
                    index: i as u32,
                    gen: slot.gen,
                };
                fresh.push(Reverse((t, h)));
            }
        }
        self.timers = fresh;
    }

    fn queue_reset(&mut self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, r: RstReply) {
        if self.resets.len() >= self.profile.max_pending_resets {
            self.stats.rst_queue_full += 1;
            return;
        }
        let mut flags = TcpFlags(TcpFlags::RST);
        let ack = match r.ack {
            Some(a) => {
                flags.set(TcpFlags::ACK, true);
                a
            }
            None => crate::tcp::SeqNum(0),
        };
        let repr = TcpRepr::new(sport, dport, r.seq, ack, flags, 0);
        self.resets.push_back((src, dst, repr));
    }

    // ----- input ----------------------------------------------------------

    /// A TCP segment addressed to us with a verified checksum.
    pub(crate) fn handle_tcp(&mut self, now: Instant, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
        self.stats.in_segs += 1;
        self.now = self.now.max(now);
        let tuple = FourTuple {
            local: (ip.dst, seg.dst_port),
            remote: (ip.src, seg.src_port),
        };
        if let Some(&h) = self.conns.get(&tuple) {
            if !self.time_wait_yields(h, seg) {
                self.segment_to_conn(now, h, seg);
                return;
            }
            // Linux `tcp_timewait_state_process` (TCP_TW_SYN): a new SYN
            // beyond the old connection's sequence space ends TIME_WAIT and
            // goes to the listener, so a peer may reuse the 4-tuple at once.
            self.free(h);
        }
        let listener = self
            .listeners
            .get(&(ip.dst, seg.dst_port))
            .or_else(|| self.listeners.get(&(Ipv4Addr::UNSPECIFIED, seg.dst_port)))
            .copied();
        if let Some(lh) = listener {
            self.segment_to_listener(now, lh, ip, seg);
            return;
        }
        // RFC 9293 3.10.7.1: no socket. Never answer a reset; answer the rest.
        self.stats.no_socket += 1;
        if seg.flags.rst() || seg.src_port == 0 || seg.dst_port == 0 {
            return;
        }
        if seg.flags.syn() && !seg.flags.ack() {
            self.stats.closed_port_syns += 1;
        }
        let rst = RstReply::for_segment(seg);
        self.queue_reset(ip.dst, ip.src, seg.dst_port, seg.src_port, rst);
    }

    /// A SYN (no ACK) for a TIME_WAIT connection with a sequence number past
    /// the old `rcv_nxt` (RFC 9293 3.10.7.4 lets TIME_WAIT accept a new SYN;
    /// RFC 6191 when timestamps say it is newer).
    fn time_wait_yields(&self, h: SocketHandle, seg: &TcpRepr<'_>) -> bool {
        let f = seg.flags;
        if !f.syn() || f.ack() || f.rst() {
            return false;
        }
        let Some(c) = self.sock(h).and_then(|s| s.conn.as_ref()) else {
            return false;
        };
        if c.state != State::TimeWait {
            return false;
        }
        match (c.ts_ok, seg.timestamp) {
            (true, Some(ts)) => ts.tsval.wrapping_sub(c.ts_recent) as i32 > 0,
            _ => seg.seq.gt(c.rcv_nxt),
        }
    }

    fn segment_to_conn(&mut self, now: Instant, h: SocketHandle, seg: &TcpRepr<'_>) {
        let parent = self.sock(h).and_then(|s| s.parent);
        let room = match parent
            .and_then(|p| self.sock(p))
            .and_then(|p| p.listener.as_ref())
        {
            Some(l) => !l.accept_full(),
            None => true,
        };
        let profile = &self.profile;
        let Some(sock) = self
            .slots
            .get_mut(h.index as usize)
            .and_then(|s| s.sock.as_mut())
        else {
            return;
        };
        let Some(conn) = sock.conn.as_mut() else {
            return;
        };
        let before = conn.state;
        let res = conn.process(now, profile, seg, room);
        let after = conn.state;
        let (local, remote) = (conn.local, conn.remote);
        let failed = conn.error;
        if res.dropped {
            self.stats.dropped += 1;
        }
        if res.overflow {
            self.stats.listen_overflows += 1;
        }
        if after == State::Closed && before != State::Closed {
            match failed {
                Some(TcpError::Refused) => self.stats.attempt_fails += 1,
                Some(TcpError::Reset) => self.stats.estab_resets += 1,
                _ => {}
            }
        }
        if let Some(rst) = res.reset {
            self.queue_reset(local.0, remote.0, local.1, remote.1, rst);
        }
        if res.established {
            if let Some(p) = parent {
                if let Some(l) = self.sock_mut(p).and_then(|s| s.listener.as_mut()) {
                    l.promote(h);
                }
                self.touch(p);
            }
        }
        self.touch(h);
    }

    /// RFC 9293 3.10.7.2: LISTEN.
    fn segment_to_listener(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        ip: &Ipv4Repr,
        seg: &TcpRepr<'_>,
    ) {
        let f = seg.flags;
        if f.rst() {
            return;
        }
        if f.ack() {
            let rst = RstReply::for_segment(seg);
            self.queue_reset(ip.dst, ip.src, seg.dst_port, seg.src_port, rst);
            return;
        }
        if !f.syn() || f.fin() {
            self.stats.dropped += 1;
            return;
        }
        let Some(ls) = self.sock(lh) else {
            return;
        };
        let Some(l) = ls.listener.as_ref() else {
            return;
        };
        if l.accept_full() {
            // Linux tcp_conn_request: a full accept queue drops new SYNs.
            self.stats.listen_overflows += 1;
            self.stats.listen_drops += 1;
            return;
        }
        if l.syn_full() {
            self.stats.listen_drops += 1;
            return;
        }
        let local = (ip.dst, seg.dst_port);
        let remote = (ip.src, seg.src_port);
        let params = crate::tcp::connection::ConnParams {
            local,
            remote,
            iss: self.isn.isn(now, local, remote),
            ts_offset: self.isn.ts_offset(local, remote),
            mtu: self.mtu,
            user_mss: ls.user_mss,
            rcvbuf: ls.rcvbuf,
            sndbuf: ls.sndbuf,
            nodelay: ls.nodelay,
            keepalive: ls.keepalive,
        };
        let mut child = TcpSocket::new(&self.profile);
        child.conn = Some(Connection::accept_syn(&self.profile, &params, seg));
        child.bound = Some(local);
        child.reuse_addr = ls.reuse_addr;
        child.parent = Some(lh);
        child.in_demux = true;
        child.rcvbuf = ls.rcvbuf;
        child.sndbuf = ls.sndbuf;
        child.nodelay = ls.nodelay;
        child.keepalive = ls.keepalive;
        child.user_mss = ls.user_mss;
        let Some(ch) = self.alloc(child) else {
            self.stats.listen_drops += 1;
            return;
        };
        self.conns.insert(FourTuple { local, remote }, ch);
        self.ports.insert(local.1, ch, local.0, false);
        if let Some(l) = self.sock_mut(lh).and_then(|s| s.listener.as_mut()) {
            l.syn_queue.insert(ch);
        }
        self.stats.passive_opens += 1;
        self.touch(ch);
    }

    /// An ICMP error quoting one of our packets: `quoted_ip` is the quoted
    /// header, `quoted_payload` the (at least 8) quoted transport bytes.
    pub(crate) fn handle_icmp_error(
        &mut self,
        _now: Instant,
        err: IcmpError,
        quoted_ip: &Ipv4Repr,
        quoted_payload: &[u8],
    ) {
        let (Some(sp), Some(dp), Some(sq)) = (
            quoted_payload.get(0..2),
            quoted_payload.get(2..4),
            quoted_payload.get(4..8),
        ) else {
            return;
        };
        let sport = u16::from_be_bytes([sp[0], sp[1]]);
        let dport = u16::from_be_bytes([dp[0], dp[1]]);
        let seq = crate::tcp::SeqNum(u32::from_be_bytes([sq[0], sq[1], sq[2], sq[3]]));
        let tuple = FourTuple {
            local: (quoted_ip.src, sport),
            remote: (quoted_ip.dst, dport),
        };
        let Some(&h) = self.conns.get(&tuple) else {
            return;
        };
        self.stats.icmp_errors += 1;
        let Some(c) = self.sock_mut(h).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        // RFC 5927 4.1: the quoted sequence number must be in flight.
        if !(c.snd_una.le(seq) && seq.lt(c.snd_max.max(c.snd_una + 1))) {
            return;
        }
        // Linux icmp_err_convert.
        let e = match err {
            IcmpError::Unreachable { code: 0 | 6 } => TcpError::NetUnreachable,
            IcmpError::Unreachable { code: 2 | 3 } => TcpError::Refused,
            IcmpError::Unreachable { code: 4 } => return,
            IcmpError::Unreachable { code } if code <= 15 => TcpError::HostUnreachable,
            IcmpError::Unreachable { .. } => return,
            IcmpError::TimeExceeded => TcpError::HostUnreachable,
            IcmpError::FragNeeded { mtu } => {
                // RFC 1191: lower the segment size (never below 68-byte MTU).
                let mss = usize::from(mtu.max(68)).saturating_sub(40);
                let overhead = if c.ts_ok { 12 } else { 0 };
                c.snd_mss = c.snd_mss.min(mss.saturating_sub(overhead).max(8));
                self.touch(h);
                return;
            }
        };
        let hard = matches!(c.state, State::SynSent | State::SynReceived);
        if hard {
            // Linux tcp_v4_err: any error during the handshake ends it.
            c.fail(e);
        } else {
            c.soft_error = Some(e);
        }
        if hard {
            self.stats.attempt_fails += 1;
        }
        self.touch(h);
    }

    // ----- output ---------------------------------------------------------

    fn next_pending(&mut self, now: Instant, max_len: usize) -> Option<Pending> {
        self.now = self.now.max(now);
        if let Some((src, dst, repr)) = self.resets.pop_front() {
            self.stats.out_rsts += 1;
            return Some(Pending {
                src,
                dst,
                repr,
                data: None,
            });
        }
        while let Some(h) = self.ready.pop_front() {
            let profile = &self.profile;
            let Some(sock) = self
                .slots
                .get_mut(h.index as usize)
                .filter(|s| s.gen == h.gen)
                .and_then(|s| s.sock.as_mut())
            else {
                continue;
            };
            sock.queued_tx = false;
            let Some(conn) = sock.conn.as_mut() else {
                continue;
            };
            let max_payload = max_len.saturating_sub(data_header_len(conn.ts_ok));
            let before = conn.total_retrans;
            let out: Option<OutSegment> = conn.poll_output(now, profile, max_payload);
            let retrans = conn.total_retrans - before;
            let (src, dst) = (conn.local.0, conn.remote.0);
            if let Some(out) = out {
                self.stats.retrans_segs += retrans;
                if out.repr.flags.rst() {
                    self.stats.out_rsts += 1;
                }
                // It may have more to send: back of the queue (round robin).
                sock.queued_tx = true;
                self.ready.push_back(h);
                self.reschedule(h);
                return Some(Pending {
                    src,
                    dst,
                    repr: out.repr,
                    data: (out.data_len > 0).then_some((h, out.data_off, out.data_len)),
                });
            }
            self.reschedule(h);
        }
        None
    }

    /// Write the next transport segment into `buf` (the IP payload region,
    /// at most `buf.len()` bytes = MTU minus IP header) and describe it.
    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Egress> {
        loop {
            let p = self.next_pending(now, buf.len())?;
            let mut scratch = core::mem::take(&mut self.scratch);
            scratch.clear();
            if let Some((h, off, len)) = p.data {
                scratch.resize(len, 0);
                if let Some(c) = self.sock(h).and_then(|s| s.conn.as_ref()) {
                    let n = c.snd_buf.read_at(off, &mut scratch);
                    scratch.truncate(n);
                }
            }
            let mut repr = p.repr;
            repr.payload = &scratch;
            let len = repr.buffer_len();
            let ok = len <= buf.len() && repr.emit(&mut buf[..len], p.src, p.dst).is_ok();
            self.scratch = scratch;
            if !ok {
                // Counted and treated as lost; retransmission recovers.
                self.stats.emit_errors += 1;
                continue;
            }
            self.stats.out_segs += 1;
            return Some(Egress {
                src: p.src,
                dst: p.dst,
                protocol: IpProtocol::Tcp,
                len,
                ttl: 64,
                dont_frag: true,
            });
        }
    }

    /// The next segment as an owned value (tests and the pair harness use
    /// this instead of bytes): (source, destination, header, payload).
    #[allow(dead_code)] // used by tests and pair harnesses
    pub(crate) fn poll_segment(
        &mut self,
        now: Instant,
    ) -> Option<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>, Vec<u8>)> {
        let max = self.mtu.saturating_sub(20);
        let p = self.next_pending(now, max)?;
        let mut payload = Vec::new();
        if let Some((h, off, len)) = p.data {
            payload.resize(len, 0);
            if let Some(c) = self.sock(h).and_then(|s| s.conn.as_ref()) {
                let n = c.snd_buf.read_at(off, &mut payload);
                payload.truncate(n);
            }
        }
        self.stats.out_segs += 1;
        Some((p.src, p.dst, p.repr, payload))
    }

    // ----- timers ---------------------------------------------------------

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        while let Some(&Reverse((t, h))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let profile = &self.profile;
            let Some(sock) = self
                .slots
                .get_mut(h.index as usize)
                .filter(|s| s.gen == h.gen)
                .and_then(|s| s.sock.as_mut())
            else {
                continue;
            };
            if sock.timer_at != Some(t) {
                continue; // stale entry
            }
            sock.timer_at = None;
            let Some(conn) = sock.conn.as_mut() else {
                continue;
            };
            let was = conn.state;
            conn.on_timeout(now, profile);
            if conn.state == State::Closed && was != State::Closed {
                if matches!(conn.error, Some(TcpError::TimedOut)) {
                    self.stats.timeouts += 1;
                }
                if was == State::SynSent {
                    self.stats.attempt_fails += 1;
                }
            }
            self.touch(h);
        }
    }

    pub(crate) fn poll_at(&self) -> Option<Instant> {
        if !self.resets.is_empty() || !self.ready.is_empty() {
            // Something is ready to send: as soon as possible.
            return Some(Instant::ZERO);
        }
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Check every structural invariant (tests and property tests).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut live = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(s) = &slot.sock else {
                continue;
            };
            live += 1;
            let h = SocketHandle {
                index: i as u32,
                gen: slot.gen,
            };
            if let Some(c) = &s.conn {
                assert!(c.snd_una.le(c.snd_nxt), "snd_una <= snd_nxt");
                assert!(c.snd_nxt.le(c.snd_max), "snd_nxt <= snd_max");
                assert!(c.snd_buf.len() <= c.snd_buf.capacity());
                assert!(c.rcv_buf.len() <= c.rcv_buf.capacity());
                assert!(c.snd_una.distance_to(c.snd_max) <= c.snd_buf.len() + 2);
                let cap = c.rcv_buf.capacity();
                assert!(c.assembler.ranges().iter().all(|&(a, b)| a < b && b <= cap));
                if s.in_demux {
                    let t = FourTuple {
                        local: c.local,
                        remote: c.remote,
                    };
                    assert_eq!(self.conns.get(&t), Some(&h), "demux entry");
                }
                if c.state == State::Closed {
                    assert!(!s.in_demux, "closed sockets leave the demux");
                    assert!(!s.closed, "closed orphans are freed");
                }
            }
            if let Some(l) = &s.listener {
                assert!(l.accept_queue.len() <= l.backlog + 1);
                assert!(l.syn_queue.len() <= l.syn_cap);
            }
        }
        assert_eq!(live, self.live);
        for h in self.conns.values() {
            assert!(self.sock(*h).is_some(), "demux points at a live socket");
        }
        assert!(self.resets.len() <= self.profile.max_pending_resets);
    }

    /// A fresh random number from the stack's seeded generator.
    pub(crate) fn random_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }
}

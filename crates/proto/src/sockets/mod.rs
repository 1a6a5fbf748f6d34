//! Socket bookkeeping: the arena of sockets, handles, port allocation and the
//! O(1) 4-tuple demux. The interface layer hands transport segments in and
//! asks for segments out through the `pub(crate)` methods below (the
//! contract between `stack.rs` and the socket layer); applications use the
//! public socket API in `api.rs`.
//!
//! Contract: no per-packet path scans the socket table. Segments are routed
//! by the 4-tuple demux table (`demux.rs`, one cache line per lookup in the
//! common case), then a hash map on (address, port) for listeners, then
//! the wildcard listener. Timers live in a heap of deadlines with lazy
//! invalidation; sockets with something to send sit in a ready queue.

mod api;
mod demux;
mod gro;
mod input;
mod output;
mod ports;
mod time_wait;
mod types;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::storage::{Fifo, HashKey, RingPool};
use crate::tcp::connection::{Connection, RstReply};
use crate::tcp::isn::IsnGenerator;
use crate::tcp::listener::Listener;
use crate::tcp::{CongestionAlgorithm, Profile, SeqNum, State};
use crate::time::Instant;
use crate::wire::{IpProtocol, Ipv4Addr, TcpFlags, TcpRepr};

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

/// The part of a multi-MSS TCP segment not yet written: the stack writes
/// it as further frames of `piece` payload bytes each, copying from the
/// connection's send ring at `seq` as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GsoRest {
    pub h: SocketHandle,
    /// The first byte not yet written.
    pub seq: SeqNum,
    /// The byte after the segment's last data byte.
    pub end: SeqNum,
    /// Payload bytes per frame (the first frame's).
    pub piece: usize,
    /// The segment's flags: PSH and FIN go on its last frame only, as a
    /// segmenting NIC does (Linux `tcp_gso_segment`).
    pub flags: TcpFlags,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FourTuple {
    pub local: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
}

impl Hash for FourTuple {
    /// Two words: (local address, local port, remote port) and the remote
    /// address (the demux runs this on every segment).
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ports = (u64::from(self.local.1) << 16) | u64::from(self.remote.1);
        state.write_u64((u64::from(u32::from(self.local.0)) << 32) | ports);
        state.write_u32(u32::from(self.remote.0));
    }
}

/// One TCP socket: unbound, bound, listening or connected.
///
/// `repr(C)`, in the order written: what `touch` and the output loop read
/// on every event first, next to the connection's hot fields. The flags a
/// polling `recv` reads come first, so with the slot's generation they
/// lie in the first 16 bytes of the slot: one cache line per poll
/// (slots are 16-byte aligned).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct TcpSocket {
    /// At the last event, recv would have blocked: connected, nothing
    /// buffered, no error, no EOF (`!Connection::readable`). Lets a
    /// polling `recv` answer EWOULDBLOCK from this line alone.
    recv_idle: bool,
    /// Closed by the user.
    pub(crate) closed: bool,
    /// Readiness at the last event, to detect changes.
    ready_bits: u8,
    /// In the ready-to-send queue.
    queued_tx: bool,
    /// Counted in the TIME_WAIT total.
    in_tw: bool,
    /// The connection's next deadline, as last noted.
    timer_at: Option<Instant>,
    /// The live timer-heap entry of this socket: never later than
    /// `timer_at` (a deadline that moves later keeps its earlier entry, which
    /// re-pushes the real deadline when it pops: one heap push per earlier
    /// deadline, not per change). Other entries of the socket are stale.
    heap_at: Option<Instant>,
    /// (bytes readable, bytes in the send buffer) at the last event.
    levels: (usize, usize),
    /// A listening socket's state, boxed: `refresh` checks it on
    /// every event, and a pointer here keeps that check on the line the
    /// event reads anyway (allocated once, by `listen`).
    pub(crate) listener: Option<Box<Listener>>,
    /// Registered in the 4-tuple map.
    pub(crate) in_demux: bool,
    pub(crate) reuse_addr: bool,
    /// SO_RCVBUF / SO_SNDBUF were set: no autotuning (Linux `sk_userlocks`).
    pub(crate) rcvbuf_locked: bool,
    pub(crate) sndbuf_locked: bool,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: bool,
    /// TCP_CONGESTION; inherited by accepted connections.
    pub(crate) congestion: CongestionAlgorithm,
    pub(crate) user_mss: Option<u16>,
    /// The listener this connection came from, until accepted.
    pub(crate) parent: Option<SocketHandle>,
    /// Bound (address, port); the address may be 0.0.0.0.
    pub(crate) bound: Option<(Ipv4Addr, u16)>,
    pub(crate) conn: Option<Connection>,
    pub(crate) rcvbuf: usize,
    pub(crate) sndbuf: usize,
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
            rcvbuf_locked: false,
            sndbuf_locked: false,
            nodelay: false,
            keepalive: false,
            user_mss: None,
            congestion: p.congestion,
            timer_at: None,
            heap_at: None,
            queued_tx: false,
            // What `refresh` would note: a socket is born up to date, so
            // calls that change nothing `refresh` reads need no `touch`.
            ready_bits: UNCONNECTED.bits(),
            recv_idle: false,
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

    /// Whether `touch` of this socket is only `refresh`: a connection
    /// neither in, nor entering or leaving, TIME_WAIT and not closed, nor
    /// an orphan in FIN_WAIT_2, or a socket without a connection (a
    /// listener), has no TIME_WAIT, close or free bookkeeping to do.
    #[inline(always)]
    fn refresh_only(&self) -> bool {
        !self.in_tw
            && self.conn.as_ref().is_none_or(|c| {
                !matches!(c.state, State::TimeWait | State::Closed)
                    // An orphan in FIN_WAIT_2 becomes a compact record.
                    && (!self.closed || c.state != State::FinWait2)
            })
    }

    /// Readable at the last event (bit 0 of `Readiness::bits`). Every
    /// change to the receive buffer goes through `touch`, so a socket
    /// that was not readable then has an empty receive buffer.
    #[inline(always)]
    fn was_readable(&self) -> bool {
        self.ready_bits & 1 != 0
    }

    /// Record readiness, levels and the timer deadline after an event;
    /// returns (readiness changed, newly queued for output, timer to push).
    ///
    /// Runs after every segment and user call: one pass over the
    /// connection's fields computes the readiness bits (in place for a
    /// connected socket in its common states; `readiness` for the rest),
    /// `recv_idle`, the levels and the deadline.
    #[inline(always)]
    fn refresh(&mut self) -> (bool, bool, Option<Instant>) {
        let Some(c) = self.conn.as_ref() else {
            return self.refresh_unconnected();
        };
        let levels = (c.rcv_buf.len(), c.snd_buf.len());
        let (bits, idle) = if self.listener.is_some() {
            (self.readiness().bits(), !c.readable())
        } else if matches!(c.state, State::SynSent | State::SynReceived) {
            // `readiness()` of a connection still opening: no events.
            (0, !c.readable())
        } else {
            // `readiness().bits()`, computed in place.
            let error = c.error.is_some();
            let eof = c.read_eof();
            let readable = levels.0 != 0 || eof || error;
            let bits = u8::from(readable)
                | u8::from(c.writable()) << 1
                | u8::from(error) << 2
                | u8::from(c.hup()) << 3
                | u8::from(eof) << 4;
            (bits, !readable)
        };
        debug_assert_eq!(bits, self.readiness().bits());
        let deadline = c.next_deadline();
        // Queued only with something to send (`output::may_send_more`,
        // the rule the output loop applies at the visit): a socket with
        // nothing due is not visited at all; the event that makes output
        // due goes through here again.
        let queue = !self.queued_tx && output::may_send_more(c);
        // Readiness edges, and also more data or more room on an already
        // ready socket (a MSG_WAITALL reader or a partial writer is waiting).
        let changed = bits != self.ready_bits || levels != self.levels;
        self.ready_bits = bits;
        self.levels = levels;
        self.recv_idle = idle;
        if queue {
            self.queued_tx = true;
        }
        (
            changed,
            queue,
            arm(&mut self.timer_at, &mut self.heap_at, deadline),
        )
    }

    /// `refresh` of a socket without a connection (a listener, or not yet
    /// connected): readiness only, no timer, nothing to send.
    #[inline(never)]
    fn refresh_unconnected(&mut self) -> (bool, bool, Option<Instant>) {
        let bits = self.readiness().bits();
        let changed = bits != self.ready_bits || self.levels != (0, 0);
        self.ready_bits = bits;
        self.levels = (0, 0);
        self.recv_idle = false;
        (
            changed,
            false,
            arm(&mut self.timer_at, &mut self.heap_at, None),
        )
    }

    pub(crate) fn readiness(&self) -> Readiness {
        if let Some(l) = &self.listener {
            return Readiness {
                readable: !l.accept_queue.is_empty(),
                ..Readiness::default()
            };
        }
        match &self.conn {
            None => UNCONNECTED,
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

/// Linux `tcp_poll` on a fresh socket: POLLOUT | POLLHUP.
const UNCONNECTED: Readiness = Readiness {
    readable: false,
    writable: true,
    error: false,
    hup: true,
    rdhup: false,
};

/// Note a socket's next deadline (`TcpSocket::timer_at`); returns the time
/// to push on the timer heap when no entry of the socket (`heap_at`) fires
/// at or before it.
fn arm(
    timer_at: &mut Option<Instant>,
    heap_at: &mut Option<Instant>,
    deadline: Option<Instant>,
) -> Option<Instant> {
    *timer_at = deadline;
    let d = deadline?;
    if heap_at.is_some_and(|e| e <= d) {
        return None;
    }
    *heap_at = Some(d);
    Some(d)
}

/// `repr(C)`: the generation sits just before the socket's hot fields.
/// Not cache-line aligned: measured (conn-rate, callgrind), alignment
/// saved no D1 misses and cost LL misses (a slot grows 1,232 -> 1,280 B).
#[derive(Debug)]
#[repr(C)]
struct Slot {
    gen: u32,
    sock: Option<TcpSocket>,
}

/// The live socket `h` names in `slots`: a borrow of the one field, so a
/// caller may hold other fields of the set (the profile, the queues) too.
#[inline(always)]
fn slot_sock(slots: &mut [Slot], h: SocketHandle) -> Option<&mut TcpSocket> {
    slots
        .get_mut(h.index as usize)
        .filter(|s| s.gen == h.gen)
        .and_then(|s| s.sock.as_mut())
}

/// Every transport socket of one stack. Public socket operations take `now`
/// where time matters and return small error enums, never errno.
pub struct SocketSet {
    local_addr: Ipv4Addr,
    mtu: usize,
    /// The link segments TCP packets longer than the MTU (TSO).
    tso: bool,
    /// TCP checksums left partial for the link (`tx_checksum_offload`).
    pub(crate) tx_csum_partial: bool,
    pub(crate) profile: Profile,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    live: usize,
    /// Keyed by a per-stack secret (like Linux's `inet_ehash_secret`);
    /// one cache line per lookup in the common case (`demux.rs`).
    conns: demux::DemuxTable,
    /// The socket the last segment was demultiplexed to, or the last one
    /// written to (`input.rs` `demux`, `api.rs` `send`): a hint, checked
    /// before use, never a second source of truth.
    demux_hint: Option<SocketHandle>,
    listeners: HashMap<(Ipv4Addr, u16), SocketHandle, HashKey>,
    ports: ports::Ports,
    timers: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
    ready: Fifo<SocketHandle>,
    /// Stateless resets: (source, destination, header), capped by
    /// `Profile::max_pending_resets`.
    resets: VecDeque<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)>,
    /// Immediate ACKs taken out of a connection before the next segment of
    /// the same batch (`Connection::take_urgent_ack`), in order; the same
    /// cap. When full, the ACK stays pending and merges as before.
    acks: VecDeque<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)>,
    /// SYN-ACKs carrying cookies (RFC 4987 3.6), capped on their own by
    /// `Profile::max_pending_cookies` so a SYN burst neither starves nor is
    /// starved by the reset queue.
    cookies: VecDeque<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)>,
    isn: IsnGenerator,
    rng: ChaCha8Rng,
    stats: TcpStats,
    /// Global challenge-ACK budget (RFC 5961 7): the limit it was built
    /// for and recovery's token bucket (rebuilt when the profile changes).
    challenge: Option<(u32, crate::tcp::rfc5961::TokenBucket)>,
    events: u64,
    /// TIME_WAIT connections still held as full sockets (not yet closed
    /// by the user, or owing more than a plain ACK).
    time_wait: usize,
    /// Compact TIME_WAIT records of closed connections.
    tw: time_wait::TimeWaitTable,
    /// The latest time any entry point was called with (for calls without `now`).
    now: Instant,
    /// Spare first-size ring buffers of closed connections, for new ones.
    ring_pool: RingPool,
    /// The rest of the segment `poll_transmit` just began, when it was
    /// longer than the buffer: software GSO (the stack cuts it into
    /// frames, `iface/gso.rs`). Kept out of `Egress` so that stays small.
    pub(crate) gso_rest: Option<GsoRest>,
}

/// A segment chosen for sending, before its payload is copied.
struct Pending<'a> {
    /// The connection (none for stateless replies).
    h: Option<SocketHandle>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    repr: &'a TcpRepr<'static>,
    /// (send buffer, offset in it, length)
    data: Option<(&'a crate::storage::RingBuffer, usize, usize)>,
}

impl SocketSet {
    pub(crate) fn new(local_addr: Ipv4Addr, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let isn = IsnGenerator::new(rng.next_u64(), rng.next_u64());
        let key = HashKey::from_seed(seed, 0);
        SocketSet {
            local_addr,
            mtu: 1500,
            tso: false,
            gso_rest: None,
            tx_csum_partial: false,
            profile: Profile::linux(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            live: 0,
            conns: demux::DemuxTable::new(key),
            demux_hint: None,
            listeners: HashMap::with_hasher(key),
            ports: ports::Ports::new(key),
            // `push_timer` compacts a full heap once it holds at least
            // 2 * live + 16 entries, stale ones included: with a few sockets
            // it settles at 32, reached at once rather than by growing
            // while data flows (512 bytes per stack).
            timers: BinaryHeap::with_capacity(32),
            ready: Fifo::new(),
            resets: VecDeque::new(),
            acks: VecDeque::new(),
            cookies: VecDeque::new(),
            isn,
            rng,
            stats: TcpStats::default(),
            challenge: None,
            events: 0,
            time_wait: 0,
            tw: time_wait::TimeWaitTable::new(key),
            now: Instant::ZERO,
            ring_pool: RingPool::default(),
        }
    }

    /// The IP MTU of the interface; sets the MSS we advertise (MTU - 40).
    pub(crate) fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu.max(68);
    }

    /// Whether the link segments large TCP packets (see `tcp/tso.rs`).
    pub(crate) fn set_tso(&mut self, on: bool) {
        self.tso = on;
    }

    // ----- arena ----------------------------------------------------------

    /// The connected socket `t` demultiplexes to. The table holds slot
    /// indexes only: a socket in it is live, so its slot's generation
    /// completes the handle (and the slot is the next line read anyway).
    /// The socket's own 4-tuple is compared too (its line is read next
    /// anyway): were an entry ever left stale, a segment would find no
    /// socket rather than another connection's.
    /// Always inlined: it is on every segment's path.
    #[inline(always)]
    pub(crate) fn conn_handle(&self, t: &FourTuple) -> Option<SocketHandle> {
        self.demuxed_at(self.conns.get(t)?, t)
    }

    /// The socket in slot `index` if it is live, in the demux and has the
    /// 4-tuple `t`, with the slot's generation.
    #[inline(always)]
    fn demuxed_at(&self, index: u32, t: &FourTuple) -> Option<SocketHandle> {
        let slot = self.slots.get(index as usize)?;
        let sock = slot.sock.as_ref().filter(|s| s.in_demux)?;
        let c = sock.conn.as_ref()?;
        (c.local == t.local && c.remote == t.remote).then_some(SocketHandle {
            index,
            gen: slot.gen,
        })
    }

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

    /// A socket and the ring pool, borrowed together.
    pub(crate) fn sock_and_pool(
        &mut self,
        h: SocketHandle,
    ) -> Option<(&mut TcpSocket, &mut RingPool)> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.gen != h.gen {
            return None;
        }
        Some((slot.sock.as_mut()?, &mut self.ring_pool))
    }

    /// A user-visible (not closed) socket and the ring pool, borrowed
    /// together.
    pub(crate) fn user_sock_and_pool(
        &mut self,
        h: SocketHandle,
    ) -> Option<(&mut TcpSocket, &mut RingPool)> {
        self.sock_and_pool(h).filter(|(s, _)| !s.closed)
    }

    /// A user's live socket that would block on `recv` (`recv_idle`, kept
    /// by `touch` at every event): one read of the slot's first line.
    #[inline(always)]
    pub(crate) fn would_block(&self, h: SocketHandle) -> bool {
        let idle = self
            .slots
            .get(h.index as usize)
            .filter(|s| s.gen == h.gen)
            .and_then(|s| s.sock.as_ref())
            .is_some_and(|s| s.recv_idle && !s.closed);
        debug_assert!(
            !idle
                || self
                    .sock(h)
                    .and_then(|s| s.conn.as_ref())
                    .is_some_and(|c| !c.readable()),
            "stale recv_idle"
        );
        idle
    }

    /// A new socket (`TcpSocket::new`) written straight into a free slot:
    /// no socket-sized value is built elsewhere and moved (a slot is over
    /// 1 KiB; a move costs a copy and the write misses of a second place).
    fn alloc(&mut self) -> Option<SocketHandle> {
        if self.live >= self.profile.max_sockets {
            return None;
        }
        self.live += 1;
        let profile = &self.profile;
        if let Some(index) = self.free_slots.pop() {
            let slot = self.slots.get_mut(index as usize)?;
            slot.sock = Some(TcpSocket::new(profile));
            return Some(SocketHandle {
                index,
                gen: slot.gen,
            });
        }
        // The demux holds 24-bit indexes (`demux.rs`): 16.7 million sockets.
        let Some(index) = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i <= demux::MAX_INDEX)
        else {
            self.live -= 1;
            return None;
        };
        if self.slots.len() == self.slots.capacity() {
            // A slot is over 1 KiB: grow by a quarter, not by doubling, so
            // at most a fifth of the arena is empty capacity (amortised O(1)
            // still; a large arena is moved by mremap, not copied).
            self.slots.reserve_exact(self.slots.len() / 4 + 16);
        }
        self.slots.push(Slot {
            gen: 0,
            sock: Some(TcpSocket::new(profile)),
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
        let Some(sock) = slot.sock.as_mut() else {
            return;
        };
        // Take what the bookkeeping below needs, then drop the socket in
        // place (moving the whole socket out would copy ~700 bytes).
        let in_tw = sock.in_tw;
        let demux = sock
            .conn
            .as_ref()
            .filter(|_| sock.in_demux)
            .map(|c| FourTuple {
                local: c.local,
                remote: c.remote,
            });
        let bound = sock.bound;
        let parent = sock.parent;
        let listener = sock.listener.take();
        if let Some(c) = sock.conn.as_mut() {
            // Small empty rings go to the pool for the next connection.
            if c.assembler.is_empty() {
                self.ring_pool.reclaim(&mut c.rcv_buf);
            }
            self.ring_pool.reclaim(&mut c.snd_buf);
        }
        slot.sock = None;
        // Retire the generation so stale handles never match again; a slot
        // whose generation would wrap is never reused.
        slot.gen = slot.gen.wrapping_add(1);
        if slot.gen != 0 {
            self.free_slots.push(h.index);
        }
        self.live -= 1;
        if in_tw {
            self.time_wait -= 1;
        }
        if let Some(t) = demux {
            self.conns.remove_if(&t, h.index);
        }
        if let Some((addr, port)) = bound {
            self.ports.remove(port, h);
            if listener.is_some() && self.listeners.get(&(addr, port)) == Some(&h) {
                self.listeners.remove(&(addr, port));
            }
        }
        if let Some(parent) = parent {
            if let Some(l) = self.sock_mut(parent).and_then(|p| p.listener.as_mut()) {
                l.forget(h);
            }
        }
        if let Some(l) = listener {
            // Closing a listener: half-open children vanish, established
            // ones are reset (Linux inet_csk_listen_stop).
            for child in l.syn_queue.into_sorted().into_iter().chain(l.accept_queue) {
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
        // The common case (runs per segment) only needs readiness and
        // timer refreshed; everything else takes `touch_state`, which does
        // the same for it.
        let Some(sock) = slot_sock(&mut self.slots, h) else {
            return;
        };
        if sock.refresh_only() {
            let (changed, queue, timer) = sock.refresh();
            self.note_refresh(h, changed, queue, timer);
            return;
        }
        self.touch_state(h);
    }

    /// `touch` for a socket whose TIME_WAIT or closed bookkeeping may change.
    #[inline(never)]
    fn touch_state(&mut self, h: SocketHandle) {
        let max_tw = self.profile.max_tw_buckets;
        let tw_now = self.time_wait_count();
        let (now, tw_end) = (self.now, self.now + self.profile.time_wait);
        // Field borrows, not `sock_mut`: the common case (an established
        // connection) finishes with this one lookup (runs per segment).
        let Some(sock) = slot_sock(&mut self.slots, h) else {
            return;
        };
        let mut tw_delta: isize = 0;
        let mut leave_demux = None;
        let mut finished = false;
        let mut compact = false;
        let mut overflow = None;
        if let Some(c) = sock.conn.as_mut() {
            let tw = c.state == State::TimeWait;
            if tw && !sock.in_tw {
                if tw_now >= max_tw {
                    // Linux: beyond tcp_max_tw_buckets, skip TIME_WAIT
                    // (TCPTimeWaitOverflow), after ACKing the FIN.
                    let last_ack = c.ack_now.then(|| c.time_wait_record(tw_end)).flatten();
                    let last_ack = last_ack.map(|mut r| {
                        let repr = r.take_ack(now, c.local.1, c.remote.1);
                        (c.local.0, c.remote.0, repr)
                    });
                    c.enter_closed();
                    overflow = Some(last_ack);
                } else {
                    // Closed by the user: a compact record will do.
                    compact = sock.closed && sock.parent.is_none();
                    sock.in_tw = true;
                    tw_delta = 1;
                    // A TIME_WAIT connection keeps only its sequence state
                    // (Linux swaps in a small inet_timewait_sock): give the
                    // ring storage back. Unread bytes keep the receive ring.
                    // A first-size one goes to the pool, like every empty
                    // first-size ring.
                    if c.assembler.is_empty() && !self.ring_pool.reclaim(&mut c.rcv_buf) {
                        c.rcv_buf.release_if_empty();
                    }
                    if !self.ring_pool.reclaim(&mut c.snd_buf) {
                        c.snd_buf.release_if_empty();
                    }
                }
            } else if tw && sock.closed && sock.parent.is_none() {
                compact = true;
            } else if !tw && sock.in_tw {
                sock.in_tw = false;
                tw_delta = -1;
            } else if c.state == State::FinWait2 && sock.closed && sock.parent.is_none() {
                // An orphan in FIN_WAIT_2 (Linux `tcp_time_wait(sk,
                // TCP_FIN_WAIT2, tmo)`): a compact record, `compact_time_wait`.
                compact = true;
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
        // A socket about to be freed or compacted gets no readiness update.
        if !finished && !compact {
            let (changed, queue, timer) = sock.refresh();
            self.note_refresh(h, changed, queue, timer);
        }
        if tw_delta > 0 {
            self.time_wait += 1;
        } else if tw_delta < 0 {
            self.time_wait -= 1;
        }
        if let Some(last_ack) = overflow {
            self.stats.tw_overflow += 1;
            if let Some((src, dst, repr)) = last_ack {
                self.queue_last_ack(src, dst, repr);
            }
        }
        if let Some(t) = leave_demux {
            self.conns.remove_if(&t, h.index);
        }
        if compact {
            if self.compact_time_wait(h) {
                return;
            }
            // Not compacted after all: a full TIME_WAIT socket.
            if let Some(sock) = self.sock_mut(h) {
                let (changed, queue, timer) = sock.refresh();
                self.note_refresh(h, changed, queue, timer);
            }
        }
        if finished {
            self.free(h);
        }
    }

    /// The set-side effects of `TcpSocket::refresh`.
    #[inline]
    fn note_refresh(
        &mut self,
        h: SocketHandle,
        changed: bool,
        queue: bool,
        timer: Option<Instant>,
    ) {
        if changed {
            self.events += 1;
        }
        if queue {
            self.ready.push_back(h);
        }
        if let Some(t) = timer {
            self.push_timer(t, h);
        }
    }

    /// Add a deadline to the heap. Stale entries (a socket re-armed since)
    /// are dropped lazily: when the heap is full and at least half of it is
    /// stale, it is compacted in place (`retain`) instead of growing, so the
    /// steady state allocates nothing (issue 7) and the work stays amortised
    /// O(1) per push.
    fn push_timer(&mut self, t: Instant, h: SocketHandle) {
        let len = self.timers.len();
        if len == self.timers.capacity() && len >= 2 * self.live + 16 {
            let slots = &self.slots;
            self.timers.retain(|Reverse((t, h))| {
                slots
                    .get(h.index as usize)
                    .filter(|s| s.gen == h.gen)
                    .and_then(|s| s.sock.as_ref())
                    .is_some_and(|s| s.heap_at == Some(*t))
            });
        }
        self.timers.push(Reverse((t, h)));
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

    /// Check every structural invariant (tests, property tests and the
    /// fuzz targets through `fuzz_check_invariants`).
    #[cfg(any(test, fuzzing))]
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
                if c.state != State::Closed {
                    // In flight never exceeds the buffer plus SYN and FIN.
                    assert!(c.snd_una.distance_to(c.snd_max) <= c.snd_buf.len() + 2);
                }
                let cap = c.rcv_buf.capacity();
                assert!(c.assembler.ranges().iter().all(|&(a, b)| a < b && b <= cap));
                if s.in_demux {
                    let t = FourTuple {
                        local: c.local,
                        remote: c.remote,
                    };
                    assert_eq!(self.conn_handle(&t), Some(h), "demux entry");
                }
                if c.state == State::Closed {
                    assert!(!s.in_demux, "closed sockets leave the demux");
                    assert!(!s.closed, "closed orphans are freed");
                }
            }
            // The readiness `readiness()` reports is never stale.
            if !s.closed {
                assert_eq!(s.ready_bits, s.readiness().bits(), "stale ready_bits");
            }
            // `recv`'s early EWOULDBLOCK is never stale.
            if s.recv_idle {
                assert!(
                    s.conn.as_ref().is_some_and(|c| !c.readable()),
                    "stale recv_idle"
                );
            }
            if let Some(d) = s.timer_at {
                // The deadline fires: a live heap entry no later than it.
                let e = s.heap_at.expect("an armed socket has a heap entry");
                assert!(e <= d, "heap entry not after the deadline");
                assert!(
                    self.timers.iter().any(|r| r.0 == (e, h)),
                    "heap entry present"
                );
            }
            if let Some(l) = &s.listener {
                assert!(l.accept_queue.len() <= l.backlog_peak + 1);
                assert!(l.syn_queue.len() <= l.syn_cap);
                // Each half-open child is live and names this listener.
                for c in l.syn_queue.iter() {
                    let child = self.sock(*c).expect("a SYN-queue child is live");
                    assert_eq!(child.parent, Some(h), "child's parent");
                }
            }
        }
        assert_eq!(live, self.live);
        self.conns.check_invariants();
        for (t, index) in self.conns.iter() {
            // The table keeps no generation (`demux.rs`): every entry names
            // a live socket in the demux with this very 4-tuple.
            assert!(
                self.demuxed_at(index, &t).is_some(),
                "demux points at a live socket in the demux with its key"
            );
            // `pick_connect_port` takes a port without holders as free.
            assert!(self.ports.held(t.local.1), "a connection holds its port");
        }
        self.ports.check_invariants();
        self.check_time_wait_invariants();
        assert!(self.resets.len() <= self.profile.max_pending_resets);
        assert!(self.acks.len() <= self.profile.max_pending_resets);
        assert!(self.cookies.len() <= self.profile.max_pending_cookies);
    }

    /// `check_invariants` for the fuzz targets (built with `--cfg fuzzing`
    /// by cargo-fuzz): panics on a broken invariant.
    #[cfg(fuzzing)]
    pub fn fuzz_check_invariants(&self) {
        self.check_invariants();
    }

    /// A fresh random number from the stack's seeded generator.
    pub(crate) fn random_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv4Repr;

    /// `refresh` reads `listener` on every event: it is a pointer in
    /// the socket's first cache line, before the connection.
    #[test]
    fn listener_check_is_on_the_event_line() {
        assert_eq!(core::mem::size_of::<Option<Box<Listener>>>(), 8);
        assert!(core::mem::offset_of!(TcpSocket, listener) < 64);
        assert!(
            core::mem::offset_of!(TcpSocket, listener) < core::mem::offset_of!(TcpSocket, conn)
        );
    }

    /// A polling `recv` reads the generation, `closed` and `recv_idle`:
    /// all in the slot's first 16 bytes, so in one cache line (a slot
    /// starts 16-byte aligned).
    #[test]
    fn polled_recv_reads_one_line() {
        use core::mem::offset_of;
        let sock = offset_of!(Slot, sock);
        assert!(offset_of!(Slot, gen) + 4 <= 16);
        assert!(sock + offset_of!(TcpSocket, recv_idle) < 16);
        assert!(sock + offset_of!(TcpSocket, closed) < 16);
    }

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);

    /// Deliver every segment `from` has to send to `to`; true if any.
    pub(super) fn one_way(from: &mut SocketSet, to: &mut SocketSet, now: Instant) -> bool {
        let mut moved = false;
        while let Some((src, dst, mut repr, payload)) = from.poll_segment(now) {
            repr.payload = &payload;
            let ip = Ipv4Repr::new(src, dst, IpProtocol::Tcp, repr.buffer_len());
            to.handle_tcp(now, &ip, &repr);
            moved = true;
        }
        moved
    }

    /// Deliver everything each side has to send until both are quiet.
    fn pump(a: &mut SocketSet, b: &mut SocketSet, now: Instant) {
        for _ in 0..1000 {
            if !one_way(a, b, now) & !one_way(b, a, now) {
                return;
            }
        }
    }

    /// `a` connected to a listener on `b`:80 at `now`; returns (a, b,
    /// a's socket, b's accepted socket).
    fn connected_pair(now: Instant) -> (SocketSet, SocketSet, SocketHandle, SocketHandle) {
        let (mut a, mut b) = (SocketSet::new(A, 1), SocketSet::new(B, 2));
        let l = b.tcp_socket().expect("socket");
        b.bind(l, B, 80).expect("bind");
        b.listen(l, 4).expect("listen");
        let c = a.tcp_socket().expect("socket");
        a.connect(now, c, B, 80).expect("connect");
        pump(&mut a, &mut b, now);
        let s = b.accept(l).expect("accepted");
        (a, b, c, s)
    }

    fn ring_bytes(set: &SocketSet, h: SocketHandle) -> usize {
        let c = set.conn_for_test(h);
        c.rcv_buf.allocated() + c.snd_buf.allocated()
    }

    /// The memory scenario's 10k pairs (10001 sockets on the server side)
    /// used to sit in a doubled arena of 16384 slots of ~1.2 KiB each.
    #[test]
    fn slot_arena_grows_by_a_quarter() {
        let mut set = SocketSet::new(A, 1);
        for n in 1..=10_001usize {
            assert!(set.tcp_socket().is_some());
            assert!(
                set.slots.capacity() <= n + n / 4 + 16,
                "{n} in {}",
                set.slots.capacity()
            );
        }
    }

    /// `send` points the demux hint at the connection written to (its reply
    /// is the likeliest next segment), but the hint is only ever checked:
    /// a segment for another connection still reaches its own socket, and
    /// the hint follows the segments as before.
    #[test]
    fn the_send_hint_takes_no_other_connections_segment() {
        let now = Instant::from_micros(1000);
        let (mut a, mut b) = (SocketSet::new(A, 1), SocketSet::new(B, 2));
        let l = b.tcp_socket().expect("socket");
        b.bind(l, B, 80).expect("bind");
        b.listen(l, 4).expect("listen");
        let (c1, c2) = (a.tcp_socket().expect("c1"), a.tcp_socket().expect("c2"));
        a.connect(now, c1, B, 80).expect("connect");
        a.connect(now, c2, B, 80).expect("connect");
        pump(&mut a, &mut b, now);
        let s1 = b.accept(l).expect("first");
        let s2 = b.accept(l).expect("second");
        // Which accepted socket is whose does not matter: s1 talks to one.
        let peer1 = b.peer_addr(s1).expect("connected");
        let (mine, other) = if a.local_addr(c1) == Some(peer1) {
            (c1, c2)
        } else {
            (c2, c1)
        };
        assert_eq!(b.send(s1, b"to one"), Ok(6));
        assert_eq!(b.demux_hint, Some(s1));
        assert_eq!(a.send(other, b"for two"), Ok(7));
        pump(&mut a, &mut b, now);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(s2, &mut buf), Ok(7));
        assert_eq!(&buf[..7], b"for two");
        assert_eq!(b.recv(s1, &mut buf), Err(RecvError::WouldBlock));
        assert_eq!(a.recv(mine, &mut buf), Ok(6));
        assert_eq!(&buf[..6], b"to one");
        b.check_invariants();
    }

    /// The demux table keeps slot indexes only; `conn_handle` compares the
    /// socket's own 4-tuple, so even an entry left stale (a bug elsewhere)
    /// cannot hand one connection's segments to another: the segment finds
    /// no connection and is answered as one would be (here a reset).
    #[test]
    fn a_stale_demux_entry_reaches_no_other_connection() {
        let now = Instant::from_micros(1000);
        let (_a, mut b, _c, s) = connected_pair(now);
        let peer = b.peer_addr(s).expect("connected");
        // A tuple of another (absent) connection, pointed at `s`'s slot.
        let other = (*peer.ip(), peer.port().wrapping_add(1));
        b.conns.insert(
            FourTuple {
                local: (B, 80),
                remote: other,
            },
            s.index,
        );
        let conn = b.conn_for_test(s);
        let (rcv_nxt, snd_nxt) = (conn.rcv_nxt, conn.snd_nxt);
        let mut seg = TcpRepr::new(
            other.1,
            80,
            rcv_nxt,
            snd_nxt,
            TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
            1000,
        );
        seg.payload = b"not yours";
        let ip = Ipv4Repr::new(other.0, B, IpProtocol::Tcp, seg.buffer_len());
        b.handle_tcp(now, &ip, &seg);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(s, &mut buf), Err(RecvError::WouldBlock));
        assert_eq!(b.conn_for_test(s).rcv_nxt, rcv_nxt, "nothing taken");
        let (_, dst, rst, _) = b.poll_segment(now).expect("an answer");
        assert!(rst.flags.rst(), "reset for the unknown connection");
        assert_eq!((dst, rst.dst_port), other);
        b.conns.remove_if(
            &FourTuple {
                local: (B, 80),
                remote: other,
            },
            s.index,
        );
        b.check_invariants();
    }

    #[test]
    fn time_wait_gives_ring_memory_back() {
        let mut now = Instant::from_micros(1000);
        let (mut a, mut b, c, s) = connected_pair(now);
        let mut buf = [0u8; 2000];
        a.send(c, &[7; 1000]).expect("send");
        b.send(s, &[8; 1000]).expect("send");
        now += crate::time::Duration::from_millis(1);
        pump(&mut a, &mut b, now);
        assert_eq!(b.recv(s, &mut buf), Ok(1000));
        assert_eq!(a.recv(c, &mut buf), Ok(1000));
        assert!(ring_bytes(&a, c) > 0, "rings were used");
        a.close(c).expect("close");
        pump(&mut a, &mut b, now);
        b.close(s).expect("close");
        pump(&mut a, &mut b, now);
        // The user's handle is gone after close; the connection lives on
        // as a compact TIME_WAIT record, its socket (rings and all) freed.
        assert!(a.sock(c).is_none(), "TIME_WAIT holds no socket");
        let row = a.snapshot().into_iter().find(|r| r.handle == c);
        assert_eq!(row.map(|r| r.state), Some(State::TimeWait));
        assert_eq!(a.time_wait_count(), 1);
        a.check_invariants();
    }

    /// A TIME_WAIT record holds its port with the SO_REUSEADDR its socket
    /// had when it closed, also when the flag changed after bind().
    #[test]
    fn time_wait_record_keeps_the_last_reuse_flag() {
        for (first, last) in [(false, true), (true, false)] {
            let (mut a, mut b) = (SocketSet::new(A, 1), SocketSet::new(B, 2));
            let now = Instant::from_micros(1000);
            let l = b.tcp_socket().expect("socket");
            b.bind(l, B, 80).expect("bind");
            b.listen(l, 4).expect("listen");
            let c = a.tcp_socket().expect("socket");
            a.set_reuse_addr(c, first).expect("reuse");
            a.bind(c, A, 5000).expect("bind");
            a.set_reuse_addr(c, last).expect("reuse");
            a.connect(now, c, B, 80).expect("connect");
            pump(&mut a, &mut b, now);
            let s = b.accept(l).expect("accepted");
            a.close(c).expect("close");
            pump(&mut a, &mut b, now);
            b.close(s).expect("close");
            pump(&mut a, &mut b, now);
            assert!(a.sock(c).is_none(), "a compact record");
            assert_eq!(a.time_wait_count(), 1);
            let x = a.tcp_socket().expect("socket");
            a.set_reuse_addr(x, true).expect("reuse");
            let want = if last {
                Ok(())
            } else {
                Err(BindError::AddrInUse)
            };
            assert_eq!(a.bind(x, A, 5000), want, "reuse {first} then {last}");
            let y = a.tcp_socket().expect("socket");
            assert_eq!(a.bind(y, A, 5000), Err(BindError::AddrInUse));
            a.check_invariants();
        }
    }

    /// An RTO restarted later (an ACK of new data, RFC 6298 5.3) keeps its
    /// earlier heap entry; when that pops nothing is retransmitted, and the
    /// retransmission comes at the restarted deadline.
    #[test]
    fn restarted_timer_fires_at_its_deadline_not_at_the_early_entry() {
        let mut now = Instant::from_micros(1000);
        let (mut a, mut b, c, _s) = connected_pair(now);
        now += crate::time::Duration::from_millis(5);
        a.send(c, &[1; 3000]).expect("send");
        let mut segs = Vec::new();
        while let Some(seg) = a.poll_segment(now) {
            segs.push(seg);
        }
        assert!(segs.len() >= 2, "several segments in flight");
        let first_due = a.conn_for_test(c).rto_at.expect("RTO armed");
        // Only the first segment arrives; its ACK reaches `a` later.
        let (src, dst, mut repr, payload) = segs.swap_remove(0);
        repr.payload = &payload;
        let ip = Ipv4Repr::new(src, dst, IpProtocol::Tcp, repr.buffer_len());
        b.handle_tcp(now, &ip, &repr);
        now += crate::time::Duration::from_millis(50);
        b.handle_timeout(now);
        assert!(one_way(&mut b, &mut a, now), "b acknowledged");
        let due = a.conn_for_test(c).rto_at.expect("RTO restarted");
        assert!(due > first_due, "restarted later");
        a.check_invariants();
        // The early entry pops: nothing to send yet.
        a.handle_timeout(first_due);
        assert!(
            a.poll_segment(first_due).is_none(),
            "no early retransmission"
        );
        assert_eq!(a.conn_for_test(c).rto_at, Some(due));
        a.check_invariants();
        // At the restarted deadline: the retransmission.
        a.handle_timeout(due);
        let rtx = a.poll_segment(due).expect("retransmission at the deadline");
        assert!(!rtx.3.is_empty(), "data retransmitted");
        a.check_invariants();
    }

    /// `recv`'s early EWOULDBLOCK (`TcpSocket::recv_idle`) never hides
    /// data, EOF or an error: a polling reader sees each as it arrives.
    #[test]
    fn polled_recv_sees_data_eof_and_reset() {
        use crate::tcp::tests::pair::Pair;
        use crate::time::Duration;
        fn run(p: &mut Pair, ms: u64) {
            let until = p.now + Duration::from_millis(ms);
            while p.now < until {
                p.step(until);
                p.a.check_invariants();
                p.b.check_invariants();
            }
        }
        let mut p = Pair::new(11, 0, 0);
        let (c, s) = p.connect(9000);
        let mut buf = [0u8; 8];
        assert_eq!(p.b.recv(s, &mut buf), Err(RecvError::WouldBlock));
        assert_eq!(p.b.recv(s, &mut buf), Err(RecvError::WouldBlock));
        p.a.send(c, b"hi").unwrap();
        run(&mut p, 50);
        assert_eq!(p.b.recv(s, &mut buf), Ok(2));
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(p.b.recv(s, &mut buf), Err(RecvError::WouldBlock));
        p.a.shutdown(c, Shutdown::Write).unwrap();
        run(&mut p, 50);
        assert_eq!(p.b.recv(s, &mut buf), Err(RecvError::Eof));
        // `a` closes with unread data: a reset (RFC 9293 3.6).
        p.b.send(s, b"x").unwrap();
        run(&mut p, 50);
        p.a.close(c).unwrap();
        run(&mut p, 50);
        assert_eq!(
            p.b.recv(s, &mut buf),
            Err(RecvError::Error(crate::tcp::TcpError::Reset))
        );
    }
}

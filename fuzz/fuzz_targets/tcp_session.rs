//! Two sockstack hosts over a fuzzer-controlled link, in virtual time.
//!
//! Host A (198.18.0.1) opens connections to host B (198.18.0.2, listening
//! on port 80) over an IP-medium link whose two queues the script controls:
//! deliver a batch of frames without transmitting in between (so the
//! immediate ACKs of a batch queue up, `SocketSet::acks`), drop, duplicate,
//! reorder, flip a bit (the checksum must catch it), replay an old frame
//! (old duplicates into TIME_WAIT records: PAWS), or forge a segment
//! relative to the numbers last seen on the tuple. Between them: clock
//! advances (RTOs, delayed ACKs, idle ring release, TIME_WAIT expiry),
//! application writes and reads on either side, shutdown, close, abort,
//! SO_RCVBUF / SO_SNDBUF (locks autotuning), TCP_NODELAY, new connections
//! (bursts grow the slot table), reconnects from a port whose tuple may sit
//! in TIME_WAIT, and `Run`, a few RTTs of bulk transfer in both directions
//! with optional loss, which is what receive autotuning (DRS) needs to grow.
//!
//! Invariants, after every step, on both hosts: no panic;
//! `SocketSet::fuzz_check_invariants` (demux, timer heap, TIME_WAIT table
//! <= `max_tw_buckets`, pending reset / immediate-ACK / cookie queues <=
//! their caps); every frame we emit parses with correct checksums; ring
//! capacities <= the profile's maxima and allocations within them; queues
//! within their buffers; TIME_WAIT rows <= `max_tw_buckets`. Integrity:
//! the bytes an application reads are exactly the next bytes its peer's
//! application wrote (a position-keyed pattern), and an end of stream comes
//! only after all of them, unless the connection saw a forged segment,
//! an old incarnation's frame, or (with `handle_frame_verified`) a flipped
//! bit, which the stack may legitimately accept.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::{
    IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, TcpFlags, TcpPacket, TcpRepr, TcpTimestamp,
};
use sockstack_proto::{
    Duration, Instant, Profile, RecvError, SendError, Shutdown, SocketHandle, Stack, StackConfig,
    TcpState,
};
use std::collections::VecDeque;

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B_PORT: u16 = 80;
/// Frames held per direction; beyond it the link drops (tail drop).
const LINK_CAP: usize = 256;
/// Old frames kept for `Replay`.
const HISTORY: usize = 64;
/// Connections opened per run.
const MAX_CONNS: usize = 40;
/// The `ring` module's smallest allocation.
const MIN_ALLOC: usize = 256;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Side {
    A,
    B,
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    /// Deliver up to `n` frames from the head of a queue as one batch.
    Deliver {
        to_b: bool,
        n: u8,
    },
    Drop {
        to_b: bool,
    },
    Dup {
        to_b: bool,
    },
    /// Swap the head with the frame `i` places behind it.
    Swap {
        to_b: bool,
        i: u8,
    },
    Flip {
        to_b: bool,
        at: u16,
        bit: u8,
    },
    Replay {
        idx: u8,
    },
    Advance(u16),
    /// `rounds` RTTs of bulk transfer on every open connection.
    Run {
        rounds: u8,
        rtt_ms: u8,
        write: u16,
        read: u16,
        loss: u8,
    },
    Write {
        conn: u8,
        side: Side,
        len: u16,
    },
    Read {
        conn: u8,
        side: Side,
        len: u16,
    },
    Shutdown {
        conn: u8,
        side: Side,
        how: u8,
    },
    Close {
        conn: u8,
        side: Side,
    },
    Abort {
        conn: u8,
        side: Side,
    },
    Open,
    Burst(u8),
    Reopen {
        conn: u8,
    },
    RcvBuf {
        conn: u8,
        side: Side,
        size: u16,
    },
    SndBuf {
        conn: u8,
        side: Side,
        size: u16,
    },
    NoDelay {
        conn: u8,
        side: Side,
        on: bool,
    },
    Forge(Forge),
}

#[derive(Arbitrary, Debug, Clone)]
struct Forge {
    conn: u8,
    to_b: bool,
    flags: u8,
    seq: i32,
    ack: i32,
    window: u16,
    /// (TSval delta from the last one seen, TSecr delta)
    ts: Option<(i32, i32)>,
    sack: Option<(i32, i32)>,
    len: u16,
}

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: u8,
    cfg2: u8,
    /// Connections opened, used and closed before the script runs (fills
    /// the TIME_WAIT table).
    prelude: u8,
    ops: Vec<Op>,
}

/// Period of the stream pattern (4 MiB, more than a run moves per stream).
const PERIOD: usize = 1 << 22;
/// Longest single read or write.
const MAX_IO: usize = 65536;

/// `len` bytes at `pos` of the stream with key `key`: a window into one
/// table of pseudo-random bytes, each stream starting at its own offset,
/// so any misplaced or foreign byte shows (sliced and compared with
/// memcmp: per-byte loops cost a lot under the coverage instrumentation).
fn pattern(key: u32, pos: u64, len: usize) -> &'static [u8] {
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut t: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        // The tail repeats the head: a window across the end wraps.
        t.extend_from_within(..MAX_IO);
        t
    });
    let start = (u64::from(key).wrapping_mul(1_000_003).wrapping_add(pos) % PERIOD as u64) as usize;
    &t[start..start + len.min(MAX_IO)]
}

/// One direction of a connection's byte stream.
#[derive(Debug, Default, Clone)]
struct Stream {
    key: u32,
    written: u64,
    read: u64,
    eof: bool,
}

#[derive(Debug)]
struct Conn {
    a: Option<SocketHandle>,
    b: Option<SocketHandle>,
    port: u16,
    /// A to B, B to A.
    ab: Stream,
    ba: Stream,
    /// The stack may legitimately have taken bytes no application wrote.
    tainted: bool,
    /// Read side shut down (bytes may be discarded): (A, B).
    rd_shut: (bool, bool),
    /// An error (reset, timeout) was reported on either side: the stream
    /// was cut, so an end of stream (a closed socket reads as one once its
    /// error was taken) says nothing about the bytes.
    broken: bool,
    /// B has accepted this incarnation once already.
    b_seen: bool,
    /// ISNs seen in the SYNs (A to B, B to A); `Some(None)`: ambiguous.
    isn: (Option<Option<u32>>, Option<Option<u32>>),
    /// Frame counter when this incarnation started.
    born: u64,
}

/// The last numbers seen on a tuple in one direction (for `Forge`).
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    seq_end: u32,
    tsval: u32,
}

struct World {
    a: Stack,
    b: Stack,
    listener: SocketHandle,
    now: Instant,
    to_b: VecDeque<Vec<u8>>,
    to_a: VecDeque<Vec<u8>>,
    /// (frame counter, towards B, frame)
    history: VecDeque<(u64, bool, Vec<u8>)>,
    frames: u64,
    conns: Vec<Conn>,
    /// Per client port: (A to B, B to A).
    seen: std::collections::HashMap<u16, (Seen, Seen)>,
    tx_offload: bool,
    via_frame: bool,
    verified: bool,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
    /// `FUZZ_PORT`: trace this client port's segments and accepts.
    debug_port: Option<u16>,
}

fn profile(cfg: u8, cfg2: u8) -> Profile {
    let mut p = Profile::linux();
    p.rcvbuf_default = 4096;
    p.rcvbuf_min = 2048;
    p.rcvbuf_max = 65536;
    p.sndbuf_default = 4096;
    p.sndbuf_min = 2048;
    p.sndbuf_max = 65536;
    p.buffer_idle = Duration::from_millis(50);
    p.time_wait = Duration::from_secs(2);
    p.fin_timeout = Duration::from_secs(3);
    p.max_sockets = 64;
    p.timestamps = cfg & 0x08 == 0;
    p.sack = cfg & 0x10 == 0;
    p.window_scaling = cfg2 & 0x10 == 0;
    p.max_tw_buckets = [0, 1, 2, 8][usize::from(cfg2 & 3)];
    p.rto_undo_adapt = cfg2 & 0x04 != 0;
    p.max_pending_resets = if cfg2 & 0x08 != 0 { 2 } else { 16 };
    p.max_syn_backlog = 8;
    p
}

fn new_stack(addr: Ipv4Addr, seed: u64, cfg: u8, cfg2: u8) -> Stack {
    let mut c = StackConfig::ip(addr, 24);
    c.seed = seed;
    c.tx_checksum_offload = cfg & 0x01 != 0;
    c.rx_checksum_fold = cfg & 0x02 != 0;
    let mut s = Stack::new(c);
    s.sockets_mut().set_profile(profile(cfg, cfg2));
    s
}

/// Check a frame we emitted and return (client port, towards B, numbers).
/// What `inspect` finds in a TCP segment we emitted.
struct Emitted {
    port: u16,
    to_b: bool,
    seen: Seen,
    syn: bool,
    seq: u32,
    /// Where the payload sits in the frame.
    data: std::ops::Range<usize>,
}

fn inspect(frame: &[u8]) -> Option<Emitted> {
    let Ok(ip) = Ipv4Packet::parse(frame) else {
        panic!("malformed IPv4 packet emitted");
    };
    assert!(ip.verify_checksum(), "bad IPv4 checksum emitted");
    if ip.protocol() != IpProtocol::Tcp || ip.is_fragment() {
        return None;
    }
    let Ok(tcp) = TcpPacket::parse(ip.payload()) else {
        panic!("malformed TCP segment emitted");
    };
    assert!(
        tcp.verify_checksum(ip.src(), ip.dst()),
        "bad TCP checksum emitted"
    );
    let r = TcpRepr::parse(&tcp);
    let to_b = ip.dst() == B_IP;
    let port = if to_b { r.src_port } else { r.dst_port };
    let ts = r.timestamp.unwrap_or_default();
    let seen = Seen {
        seq_end: r.seq.0.wrapping_add(r.segment_len() as u32),
        tsval: ts.tsval,
    };
    let at = ip.header_len() + tcp.header_len();
    Some(Emitted {
        port,
        to_b,
        seen,
        syn: r.flags.syn(),
        seq: r.seq.0,
        data: at..at + r.payload.len(),
    })
}

impl World {
    fn stack(&mut self, side: Side) -> &mut Stack {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Pull one frame from a host (the configured way), checksums complete.
    fn transmit(&mut self, side: Side) -> Option<Vec<u8>> {
        let (via_frame, offload) = (self.via_frame, self.tx_offload);
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        let stack = self.stack(side);
        let n = if via_frame {
            let f = stack.poll_transmit_frame(now, &mut buf);
            f.map(|f| {
                assert!(f.len <= buf.len(), "poll_transmit_frame overran");
                if let Some(p) = f.partial_checksum {
                    assert!(offload, "partial checksum without offload");
                    assert!(p.complete(&mut buf[..f.len]), "partial checksum outside");
                }
                f.len
            })
        } else {
            stack.poll_transmit(now, &mut buf)
        };
        let out = n.map(|n| buf[..n].to_vec());
        self.buf = buf;
        out
    }

    /// Move everything both hosts want to send onto the link (bounded).
    fn pull(&mut self) {
        for side in [Side::A, Side::B] {
            for _ in 0..512 {
                let Some(f) = self.transmit(side) else { break };
                if let Some(e) = inspect(&f) {
                    if self.debug_port == Some(e.port) {
                        trace(self.now, if e.to_b { "A>B" } else { "B>A" }, &f);
                    }
                    self.check_sent(&f, &e);
                    let s = self.seen.entry(e.port).or_default();
                    if e.to_b {
                        s.0 = e.seen;
                    } else {
                        s.1 = e.seen;
                    }
                }
                let q = match side {
                    Side::A => &mut self.to_b,
                    Side::B => &mut self.to_a,
                };
                if q.len() < LINK_CAP {
                    q.push_back(f);
                }
            }
        }
    }

    /// A data segment carries the bytes its application wrote at that
    /// offset of the stream (relative to the ISN its SYN showed).
    fn check_sent(&mut self, f: &[u8], e: &Emitted) {
        let Some(c) = self.conns.iter_mut().rev().find(|c| c.port == e.port) else {
            return;
        };
        let (isn, st) = if e.to_b {
            (&mut c.isn.0, &c.ab)
        } else {
            (&mut c.isn.1, &c.ba)
        };
        if e.syn {
            // Two different ISNs on one tuple (a cookie SYN-ACK and a
            // normal one, say): which one the peer took is not known here.
            *isn = match *isn {
                Some(Some(x)) if x != e.seq => Some(None),
                None => Some(Some(e.seq)),
                keep => keep,
            };
            return;
        }
        let (Some(Some(isn)), false) = (*isn, c.tainted || e.data.is_empty()) else {
            return;
        };
        let off = u64::from(e.seq.wrapping_sub(isn).wrapping_sub(1));
        let len = e.data.len();
        assert!(
            off + len as u64 <= st.written,
            "sent bytes {off}+{len} past the {} written",
            st.written
        );
        if f[e.data.clone()] != *pattern(st.key, off, len) {
            if std::env::var_os("FUZZ_DEBUG").is_some() {
                let got = &f[e.data.clone()];
                let got = &got[..got.len().min(16)];
                let from = (0..st.written).find(|&p| pattern(st.key, p, got.len()) == got);
                eprintln!(
                    "port {} written {} bytes from stream offset {from:?}",
                    e.port, st.written
                );
            }
            panic!(
                "segment at stream offset {off} (+{len}) carries other bytes, to_b {}",
                e.to_b
            );
        }
    }

    /// Hand one frame to a host, keeping it for replays.
    fn deliver(&mut self, to_b: bool, frame: Vec<u8>) {
        let now = self.now;
        let stack = if to_b { &mut self.b } else { &mut self.a };
        if self.verified {
            stack.handle_frame_verified(now, &frame);
        } else {
            stack.handle_frame(now, &frame);
        }
        self.record(to_b, frame);
    }

    /// Trace (with `debug_port`) and keep a delivered frame for replays.
    fn record(&mut self, to_b: bool, frame: Vec<u8>) {
        if let Some(port) = self.debug_port {
            if inspect_port(&frame) == Some(port) {
                trace(
                    self.now,
                    if to_b { "deliver >B" } else { "deliver >A" },
                    &frame,
                );
            }
        }
        self.frames += 1;
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((self.frames, to_b, frame));
    }

    /// Up to `n` queued frames, less those `loss` drops, in one go: as one
    /// `handle_frames` batch (software GRO merges runs of in-order data),
    /// or frame by frame when the link vouches for checksums.
    fn deliver_batch(&mut self, to_b: bool, n: usize, loss: u8) {
        let mut batch = Vec::new();
        for i in 0..n {
            let q = if to_b { &mut self.to_b } else { &mut self.to_a };
            let Some(f) = q.pop_front() else { break };
            if loss & (1 << (i % 8)) != 0 {
                continue;
            }
            batch.push(f);
        }
        if self.verified {
            for f in batch {
                self.deliver(to_b, f);
            }
        } else {
            let now = self.now;
            let stack = if to_b { &mut self.b } else { &mut self.a };
            stack.handle_frames(now, &batch);
            for f in batch {
                self.record(to_b, f);
            }
        }
        self.pull();
    }

    fn timers(&mut self) {
        for _ in 0..16 {
            let mut fired = false;
            for side in [Side::A, Side::B] {
                let now = self.now;
                let s = self.stack(side);
                if s.poll_at().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                    fired = true;
                }
            }
            self.pull();
            if !fired {
                break;
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.timers();
    }

    fn accept_all(&mut self) {
        for _ in 0..MAX_CONNS {
            let Ok(h) = self.b.sockets_mut().accept(self.listener) else {
                return;
            };
            let port = self.b.sockets().peer_addr(h).map_or(0, |a| a.port());
            if self.debug_port == Some(port) {
                eprintln!("t={:?} B accepted {h:?} for port {port}", self.now);
                eprintln!("{:?}", self.b.sockets().tcp_stats());
            }
            let c = self.conns.iter_mut().rev().find(|c| c.port == port);
            match c {
                Some(c) if c.b.is_none() && !c.b_seen => {
                    c.b = Some(h);
                    c.b_seen = true;
                }
                // A second child for one client incarnation: the server
                // side was closed or aborted and a late segment made a new
                // one (a cookie ACK or a SYN). It is not the stream the
                // client is writing; the client may now talk to it.
                Some(c) => {
                    c.tainted = true;
                    let _ = self.b.sockets_mut().abort(h);
                }
                None => {
                    let _ = self.b.sockets_mut().abort(h);
                }
            }
        }
    }

    fn open(&mut self, port: Option<u16>) {
        if self.conns.len() >= MAX_CONNS {
            return;
        }
        let now = self.now;
        let s = self.a.sockets_mut();
        let Some(h) = s.tcp_socket() else { return };
        if let Some(p) = port {
            let _ = s.set_reuse_addr(h, true);
            if s.bind(h, A_IP, p).is_err() {
                let _ = s.close(h);
                return;
            }
        }
        if s.connect(now, h, B_IP, B_PORT).is_err() {
            let _ = s.close(h);
            return;
        }
        let port = s.local_addr(h).map_or(0, |a| a.port());
        let n = self.conns.len() as u32;
        self.conns.push(Conn {
            a: Some(h),
            b: None,
            port,
            ab: Stream {
                key: 2 * n + 1,
                ..Stream::default()
            },
            ba: Stream {
                key: 2 * n + 2,
                ..Stream::default()
            },
            tainted: false,
            rd_shut: (false, false),
            broken: false,
            b_seen: false,
            isn: (None, None),
            born: self.frames,
        });
        self.pull();
    }

    fn conn(&self, i: u8) -> Option<usize> {
        (!self.conns.is_empty()).then(|| usize::from(i) % self.conns.len())
    }

    fn handle(&self, i: usize, side: Side) -> Option<SocketHandle> {
        let c = self.conns.get(i)?;
        match side {
            Side::A => c.a,
            Side::B => c.b,
        }
    }

    fn write(&mut self, i: usize, side: Side, len: usize) {
        let Some(h) = self.handle(i, side) else {
            return;
        };
        let st = match side {
            Side::A => self.conns[i].ab.clone(),
            Side::B => self.conns[i].ba.clone(),
        };
        let data = pattern(st.key, st.written, len);
        let len = data.len();
        let r = self.stack(side).sockets_mut().send(h, data);
        if let Err(SendError::Error(_)) = r {
            self.conns[i].broken = true;
        }
        if let Ok(n) = r {
            assert!(n <= len, "send accepted more than given");
            let s = match side {
                Side::A => &mut self.conns[i].ab,
                Side::B => &mut self.conns[i].ba,
            };
            s.written += n as u64;
        }
    }

    fn read(&mut self, i: usize, side: Side, len: usize) {
        let Some(h) = self.handle(i, side) else {
            return;
        };
        let mut buf = std::mem::take(&mut self.rbuf);
        let len = len.min(buf.len());
        let r = self.stack(side).sockets_mut().recv(h, &mut buf[..len]);
        let ports: Vec<u16> = self.conns.iter().map(|c| c.port).collect();
        let c = &mut self.conns[i];
        let (s, rd_shut) = match side {
            Side::A => (&mut c.ba, c.rd_shut.0),
            Side::B => (&mut c.ab, c.rd_shut.1),
        };
        let strict = !c.tainted && !rd_shut;
        match r {
            Ok(n) => {
                assert!(n <= len, "recv returned more than asked");
                if strict {
                    assert!(
                        s.read + n as u64 <= s.written,
                        "read {} + {n} past the {} bytes written",
                        s.read,
                        s.written
                    );
                    let want = pattern(s.key, s.read, n);
                    if buf[..n] != *want {
                        let k = buf.iter().zip(want).take_while(|(a, b)| a == b).count();
                        if std::env::var_os("FUZZ_DEBUG").is_some() {
                            // Where in the written stream the bytes came from.
                            let got = &buf[k..n.min(k + 16)];
                            let from =
                                (0..s.written).find(|&p| pattern(s.key, p, got.len()) == got);
                            eprintln!("ports {ports:?}");
                            eprintln!(
                                "conn {i} {side:?} key {} read {} n {n} written {} k {k}: \
                                 bytes at stream offset {from:?}",
                                s.key, s.read, s.written
                            );
                        }
                        panic!("byte {} of the stream differs", s.read + k as u64);
                    }
                }
                s.read += n as u64;
            }
            Err(RecvError::Eof) => {
                if strict && !c.broken && !s.eof {
                    assert_eq!(s.read, s.written, "end of stream before all bytes");
                }
                s.eof = true;
            }
            Err(RecvError::Error(_)) => c.broken = true,
            Err(_) => {}
        }
        self.rbuf = buf;
    }

    fn forge(&mut self, f: &Forge) {
        let Some(i) = self.conn(f.conn) else { return };
        let port = self.conns[i].port;
        self.conns[i].tainted = true;
        let (ab, ba) = self.seen.get(&port).copied().unwrap_or_default();
        // From the sender's view: its last seq, and the last it acked.
        let (from, to) = if f.to_b { (ab, ba) } else { (ba, ab) };
        let seq = SeqNum(from.seq_end.wrapping_add(f.seq as u32));
        let ack = SeqNum(to.seq_end.wrapping_add(f.ack as u32));
        let (sport, dport, src, dst) = if f.to_b {
            (port, B_PORT, A_IP, B_IP)
        } else {
            (B_PORT, port, B_IP, A_IP)
        };
        let payload = vec![0xa5u8; usize::from(f.len) % 1449];
        let mut r = TcpRepr::new(sport, dport, seq, ack, TcpFlags(f.flags), f.window);
        r.payload = &payload;
        r.timestamp = f.ts.map(|(v, e)| TcpTimestamp {
            tsval: from.tsval.wrapping_add(v as u32),
            tsecr: to.tsval.wrapping_add(e as u32),
        });
        if let Some((l, rr)) = f.sack {
            r.sack_blocks[0] = (
                SeqNum(to.seq_end.wrapping_add(l as u32)),
                SeqNum(to.seq_end.wrapping_add(rr as u32)),
            );
            r.sack_len = 1;
        }
        if r.buffer_len() > 1480 {
            return;
        }
        let mut l4 = vec![0u8; r.buffer_len()];
        if r.emit(&mut l4, src, dst).is_err() {
            return;
        }
        let ipr = Ipv4Repr::new(src, dst, IpProtocol::Tcp, l4.len());
        let mut ip = vec![0u8; ipr.buffer_len()];
        if ipr.emit(&mut ip).is_err() {
            return;
        }
        ip[ipr.header_len()..].copy_from_slice(&l4);
        self.deliver(f.to_b, ip);
        self.pull();
    }

    fn replay(&mut self, idx: u8) {
        if self.history.is_empty() {
            return;
        }
        let k = usize::from(idx) % self.history.len();
        let (at, to_b, f) = self.history[k].clone();
        // A frame of an earlier incarnation of a tuple may be accepted by
        // the new one (what TIME_WAIT and PAWS make unlikely, not
        // impossible): no integrity claim for that connection then.
        if let Some(port) = inspect_port(&f) {
            for c in self.conns.iter_mut().filter(|c| c.port == port) {
                if c.born >= at {
                    c.tainted = true;
                }
            }
        }
        self.deliver(to_b, f);
        self.pull();
    }

    fn run(&mut self, rounds: u8, rtt_ms: u8, write: u16, read: u16, loss: u8) {
        let half = u64::from(rtt_ms % 50) + 1;
        let (write, read) = (usize::from(write) % 16384, usize::from(read) % 16384 + 1);
        for round in 0..rounds % 32 {
            for i in 0..self.conns.len() {
                for side in [Side::A, Side::B] {
                    self.write(i, side, write);
                    self.read(i, side, read);
                }
            }
            self.pull();
            let l = if round % 4 == 3 { loss } else { 0 };
            let n = self.to_b.len();
            self.deliver_batch(true, n, l);
            self.accept_all();
            self.advance(half);
            let n = self.to_a.len();
            self.deliver_batch(false, n, l.rotate_left(3));
            self.advance(half);
        }
    }

    fn check(&self) {
        for (stack, name) in [(&self.a, "A"), (&self.b, "B")] {
            let socks = stack.sockets();
            socks.fuzz_check_invariants();
            let p = socks.profile();
            let tw = socks
                .snapshot()
                .iter()
                .filter(|r| r.state == TcpState::TimeWait)
                .count();
            assert!(
                tw <= p.max_tw_buckets,
                "{name}: {tw} TIME_WAIT > {}",
                p.max_tw_buckets
            );
            assert!(socks.len() <= p.max_sockets, "{name}: socket cap");
            let hs = self
                .conns
                .iter()
                .filter_map(|c| if name == "A" { c.a } else { c.b });
            for h in hs {
                let Some(m) = socks.mem_info(h) else { continue };
                assert!(m.rcvbuf <= p.rcvbuf_max, "{name}: rcvbuf {m:?}");
                assert!(m.sndbuf <= p.sndbuf_max, "{name}: sndbuf {m:?}");
                let cap = |c: usize| c.max(MIN_ALLOC).next_power_of_two();
                assert!(m.rcv_alloc <= cap(m.rcvbuf), "{name}: rcv ring {m:?}");
                assert!(m.snd_alloc <= cap(m.sndbuf), "{name}: snd ring {m:?}");
                if let Some(info) = socks.info(h) {
                    assert!(info.recv_queue <= m.rcvbuf, "{name}: {info:?} {m:?}");
                    assert!(info.send_queue <= m.sndbuf, "{name}: {info:?} {m:?}");
                    assert!(info.rto <= Duration::from_secs(120), "{info:?}");
                    assert!(info.snd_wscale <= 14 && info.rcv_wscale <= 14);
                }
            }
        }
        assert!(self.to_b.len() <= LINK_CAP && self.to_a.len() <= LINK_CAP);
    }

    /// Close a handle for good on our side of the bookkeeping.
    fn forget(&mut self, i: usize, side: Side) {
        match side {
            Side::A => self.conns[i].a = None,
            Side::B => self.conns[i].b = None,
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Deliver { to_b, n } => self.deliver_batch(to_b, usize::from(n % 32) + 1, 0),
            Op::Drop { to_b } => {
                let q = if to_b { &mut self.to_b } else { &mut self.to_a };
                q.pop_front();
            }
            Op::Dup { to_b } => {
                let q = if to_b { &mut self.to_b } else { &mut self.to_a };
                if let Some(f) = q.front().cloned() {
                    if q.len() < LINK_CAP {
                        q.push_back(f);
                    }
                }
            }
            Op::Swap { to_b, i } => {
                let q = if to_b { &mut self.to_b } else { &mut self.to_a };
                if q.len() > 1 {
                    let j = 1 + usize::from(i) % (q.len() - 1);
                    q.swap(0, j);
                }
            }
            Op::Flip { to_b, at, bit } => {
                // The head frame with one bit flipped is delivered at once
                // (the original is lost): one flip, which the Internet
                // checksum always catches. Two flips in one frame can
                // cancel out (+2^k in one word, -2^k in another).
                let q = if to_b { &mut self.to_b } else { &mut self.to_a };
                let Some(mut f) = q.pop_front() else { return };
                if f.is_empty() {
                    return;
                }
                if self.verified {
                    // The link vouches for the checksum: the stack may
                    // take the flipped byte.
                    let port = inspect_port(&f);
                    for c in self.conns.iter_mut() {
                        if port.is_none() || Some(c.port) == port {
                            c.tainted = true;
                        }
                    }
                }
                let k = usize::from(at) % f.len();
                f[k] ^= 1 << (bit % 8);
                self.deliver(to_b, f);
                self.pull();
            }
            Op::Replay { idx } => self.replay(idx),
            Op::Advance(ms) => self.advance(u64::from(ms)),
            Op::Run {
                rounds,
                rtt_ms,
                write,
                read,
                loss,
            } => self.run(rounds, rtt_ms, write, read, loss),
            Op::Write { conn, side, len } => {
                if let Some(i) = self.conn(conn) {
                    self.write(i, side, usize::from(len) % 20000);
                    self.pull();
                }
            }
            Op::Read { conn, side, len } => {
                if let Some(i) = self.conn(conn) {
                    self.read(i, side, usize::from(len) % 20000 + 1);
                    self.pull();
                }
            }
            Op::Shutdown { conn, side, how } => {
                let Some(i) = self.conn(conn) else { return };
                let Some(h) = self.handle(i, side) else {
                    return;
                };
                let how = match how % 3 {
                    0 => Shutdown::Read,
                    1 => Shutdown::Write,
                    _ => Shutdown::Both,
                };
                if how != Shutdown::Write {
                    match side {
                        Side::A => self.conns[i].rd_shut.0 = true,
                        Side::B => self.conns[i].rd_shut.1 = true,
                    }
                }
                let _ = self.stack(side).sockets_mut().shutdown(h, how);
                self.pull();
            }
            Op::Close { conn, side } | Op::Abort { conn, side } => {
                let Some(i) = self.conn(conn) else { return };
                let Some(h) = self.handle(i, side) else {
                    return;
                };
                let s = self.stack(side).sockets_mut();
                if matches!(op, Op::Close { .. }) {
                    let _ = s.close(h);
                } else {
                    let _ = s.abort(h);
                }
                self.forget(i, side);
                self.pull();
            }
            Op::Open => self.open(None),
            Op::Burst(n) => {
                for _ in 0..n % 24 {
                    self.open(None);
                }
            }
            Op::Reopen { conn } => {
                let Some(i) = self.conn(conn) else { return };
                let port = self.conns[i].port;
                self.open(Some(port));
            }
            Op::RcvBuf { conn, side, size } | Op::SndBuf { conn, side, size } => {
                let Some(i) = self.conn(conn) else { return };
                let Some(h) = self.handle(i, side) else {
                    return;
                };
                let size = usize::from(size) * 2;
                let s = self.stack(side).sockets_mut();
                let _ = if matches!(op, Op::RcvBuf { .. }) {
                    s.set_recv_buffer_size(h, size)
                } else {
                    s.set_send_buffer_size(h, size)
                };
                self.pull();
            }
            Op::NoDelay { conn, side, on } => {
                let Some(i) = self.conn(conn) else { return };
                if let Some(h) = self.handle(i, side) {
                    let _ = self.stack(side).sockets_mut().set_nodelay(h, on);
                    self.pull();
                }
            }
            Op::Forge(ref f) => self.forge(f),
        }
        self.accept_all();
    }
}

/// One line per segment of the traced port (`FUZZ_PORT`).
fn trace(now: Instant, what: &str, f: &[u8]) {
    let Ok(ip) = Ipv4Packet::parse(f) else {
        return;
    };
    let Ok(tcp) = TcpPacket::parse(ip.payload()) else {
        return;
    };
    let r = TcpRepr::parse(&tcp);
    eprintln!(
        "t={now:?} {what} seq {} ack {} flags {:#x} len {}",
        r.seq.0,
        r.ack.0,
        r.flags.0,
        r.payload.len()
    );
}

fn inspect_port(f: &[u8]) -> Option<u16> {
    let ip = Ipv4Packet::parse(f).ok()?;
    let tcp = TcpPacket::parse(ip.payload()).ok()?;
    Some(if ip.dst() == B_IP {
        tcp.src_port()
    } else {
        tcp.dst_port()
    })
}

fuzz_target!(|input: Input| {
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let (cfg, cfg2) = (input.cfg, input.cfg2);
    let mut b = new_stack(B_IP, 2, cfg, cfg2);
    let Some(listener) = b.sockets_mut().tcp_socket() else {
        return;
    };
    if b.sockets_mut().bind(listener, B_IP, B_PORT).is_err()
        || b.sockets_mut().listen(listener, 16).is_err()
    {
        return;
    }
    let mut w = World {
        a: new_stack(A_IP, 1, cfg, cfg2),
        b,
        listener,
        now: Instant::from_secs(1),
        to_b: VecDeque::new(),
        to_a: VecDeque::new(),
        history: VecDeque::new(),
        frames: 0,
        conns: Vec::new(),
        seen: Default::default(),
        tx_offload: cfg & 0x01 != 0,
        verified: cfg & 0x04 != 0,
        via_frame: cfg & 0x20 != 0,
        buf: vec![0u8; 1500],
        rbuf: vec![0u8; MAX_IO],
        debug_port: std::env::var("FUZZ_PORT").ok().and_then(|p| p.parse().ok()),
    };
    // Prelude: short connections, closed by the client first (its TIME_WAIT)
    // or by the server first (the server's), per bit.
    let prelude = input.prelude % 8;
    for k in 0..prelude {
        w.open(None);
        let i = w.conns.len() - 1;
        // A request and a reply, all read (unread bytes would make the
        // close a reset).
        w.run(2, 1, 100, 4096, 0);
        w.run(3, 1, 0, 4096, 0);
        if std::env::var_os("FUZZ_DEBUG").is_some() {
            let c = &w.conns[i];
            eprintln!(
                "prelude {k}: {:?} {:?} {:?}",
                c,
                c.a.and_then(|h| w.a.sockets().state(h)),
                c.b.and_then(|h| w.b.sockets().state(h))
            );
        }
        let first = if (cfg2 >> 5 >> (k % 3)) & 1 == 0 {
            Side::A
        } else {
            Side::B
        };
        let second = match first {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        for side in [first, second] {
            if let Some(h) = w.handle(i, side) {
                let _ = w.stack(side).sockets_mut().close(h);
                w.forget(i, side);
            }
            w.run(2, 1, 0, 4096, 0);
        }
        w.check();
        if std::env::var_os("FUZZ_DEBUG").is_some() {
            for (n, st) in [("a", &w.a), ("b", &w.b)] {
                for r in st.sockets().snapshot() {
                    eprintln!("{n} {} {} {:?}", r.local, r.remote, r.state);
                }
            }
        }
    }
    for op in input.ops.iter().take(128) {
        w.step(op);
        w.check();
    }
    // Wind down: a clean link until both hosts are quiet (bounded).
    for _ in 0..64 {
        let (nb, na) = (w.to_b.len(), w.to_a.len());
        w.deliver_batch(true, nb, 0);
        w.deliver_batch(false, na, 0);
        for i in 0..w.conns.len() {
            for side in [Side::A, Side::B] {
                w.read(i, side, 65536);
            }
        }
        let next = [w.a.poll_at(), w.b.poll_at()].into_iter().flatten().min();
        match next {
            Some(t) if t <= w.now + Duration::from_secs(600) => {
                w.now = w.now.max(t);
                w.timers();
            }
            _ if w.to_b.is_empty() && w.to_a.is_empty() => break,
            _ => {}
        }
        w.check();
    }
    tally(&w);
});

/// Branch on what the session-3/4 machinery did, so reaching each is new
/// coverage (libFuzzer sees edges), and with `FUZZ_TALLY` set print it.
fn tally(w: &World) {
    let mut seen = Vec::new();
    for (stack, name) in [(&w.a, "a"), (&w.b, "b")] {
        let m = stack.sockets().mem_totals();
        let t = stack.sockets().tcp_stats();
        let rows = [
            ("rcvbuf_grow", m.rcvbuf_grows > 0),
            ("sndbuf_grow", m.sndbuf_grows > 0),
            ("idle_release", m.idle_releases > 0),
            ("tw_overflow", t.tw_overflow > 0),
            ("paws", t.paws_rejected > 0),
            ("rto_undo", t.spurious_rto_undos > 0),
        ];
        for (i, (n, hit)) in rows.iter().enumerate() {
            if *hit {
                std::hint::black_box(i);
                seen.push(format!("{name}.{n}"));
            }
        }
    }
    if std::env::var_os("FUZZ_TALLY").is_some() {
        eprintln!("TALLY conns={} {}", w.conns.len(), seen.join(","));
    }
}

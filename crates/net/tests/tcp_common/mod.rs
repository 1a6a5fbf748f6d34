//! Shared pieces of the whole-stack TCP tests in virtual time: bulk
//! transfers hashed with SHA-256 on both ends, socket-table checks, and a
//! one-line report of what a run cost.
#![allow(dead_code)] // each test crate uses a subset

use std::fmt;
use std::time::Instant as WallInstant;

use sha2::{Digest, Sha256};
use sockstack::link::impair::{ImpairConfig, ImpairStats};
use sockstack::link::memory::WireConfig;
use sockstack::proto::{Duration, Instant, SocketHandle, TcpState, TcpStats};
use sockstack::runtime::HostId;
use sockstack::sim::{PairConfig, Sink, Source, TcpPair};

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub const MIB: u64 = 1 << 20;

/// A gigabit wire with 200 us one-way delay and big queues: loss comes only
/// from the impairment, never from a queue.
pub fn wire() -> WireConfig {
    WireConfig::ethernet()
        .with_delay(Duration::from_micros(200))
        .with_bandwidth(1_000_000_000)
        .with_queue_bytes(16 << 20)
        .with_rx_queue_frames(1 << 17)
}

/// `loss` and `reorder` as probabilities, nothing else.
pub fn lossy(loss: f64, reorder: f64) -> ImpairConfig {
    ImpairConfig {
        loss,
        reorder,
        ..ImpairConfig::default()
    }
}

/// One direction of a bulk run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direction {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub sent_sha256: [u8; 32],
    pub received_sha256: [u8; 32],
}

/// What a bulk run did.
#[derive(Debug, Clone)]
pub struct BulkReport {
    /// client -> server, server -> client
    pub up: Direction,
    pub down: Direction,
    /// Virtual time from connect to both EOFs.
    pub virtual_time: Duration,
    /// Virtual time when both socket tables were empty again.
    pub end: Instant,
    pub wall: std::time::Duration,
    pub steps: u64,
    /// TCP_INFO total_retrans of the client's and server's connection.
    pub retrans: (u64, u64),
    pub tcp: (TcpStats, TcpStats),
    pub impair: (ImpairStats, ImpairStats),
    /// Initial sequence numbers (client, server), when capturing.
    pub isns: Option<(u32, u32)>,
    /// The client's capture (empty unless capturing).
    pub pcap: Vec<u8>,
}

impl fmt::Display for BulkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / MIB as f64;
        let v = self.virtual_time.total_micros() as f64 / 1e6;
        write!(
            f,
            "up {:.0} MiB, down {:.0} MiB in {:.3} s virtual ({:.1} MiB/s up), {:.2} s wall, \
             {} steps; retrans client {} server {} (RetransSegs {} / {}); \
             impair client->server lost {} reordered {}, server->client lost {} reordered {}",
            mib(self.up.bytes_received),
            mib(self.down.bytes_received),
            v,
            mib(self.up.bytes_received) / v.max(1e-9),
            self.wall.as_secs_f64(),
            self.steps,
            self.retrans.0,
            self.retrans.1,
            self.tcp.0.retrans_segs,
            self.tcp.1.retrans_segs,
            self.impair.0.lost,
            self.impair.0.reordered,
            self.impair.1.lost,
            self.impair.1.reordered,
        )
    }
}

/// Send `up` bytes client -> server and `down` bytes server -> client at
/// the same time over one connection, half-close each way when done, read
/// to EOF on both ends, close, and wait until both socket tables are empty
/// (TIME_WAIT included). Panics (with the virtual time) if anything fails
/// or takes longer than `limit` of virtual time.
pub fn bulk(cfg: PairConfig, up: u64, down: u64, limit: Duration) -> BulkReport {
    let wall = WallInstant::now();
    let seed = cfg.seed;
    let mut pair = TcpPair::new(cfg);
    let start = pair.net.now();
    let (c, s) = pair
        .connect(5001, start + secs(60))
        .expect("handshake within 60 s");
    let (client, server) = (pair.client, pair.server);
    let mut ends = [
        End::new(client, c, seed ^ 0x7570, up),
        End::new(server, s, seed ^ 0x646f_776e, down),
    ];
    let done = pair.run_until(start + limit, |net| {
        let mut all = true;
        for e in ends.iter_mut() {
            e.step(net.stack_mut(e.host).sockets_mut());
            all &= e.finished();
        }
        all
    });
    let virtual_time = pair.net.now().saturating_duration_since(start);
    assert!(
        done,
        "bulk transfer unfinished at {} (limit {limit}): up {}/{} bytes, down {}/{} bytes",
        pair.net.now(),
        ends[1].sink.received(),
        up,
        ends[0].sink.received(),
        down
    );
    let info = |pair: &TcpPair, id, h| {
        pair.net
            .stack(id)
            .sockets()
            .info(h)
            .map_or(0, |i| i.total_retrans)
    };
    let retrans = (info(&pair, client, c), info(&pair, server, s));
    for e in &ends {
        pair.sockets(e.host).close(e.sock).expect("close");
    }
    let idle_by = pair.net.now() + secs(180);
    let empty = pair.run_until(idle_by, |net| {
        net.stack(client).sockets().is_empty() && net.stack(server).sockets().is_empty()
    });
    assert!(
        empty,
        "sockets left at {}: client {:?}, server {:?}",
        pair.net.now(),
        rows(&pair, client),
        rows(&pair, server)
    );
    let [ec, es] = ends;
    BulkReport {
        up: Direction {
            bytes_sent: ec.source.sent(),
            bytes_received: es.sink.received(),
            sent_sha256: ec.sent_hash.finalize().into(),
            received_sha256: es.received_hash.finalize().into(),
        },
        down: Direction {
            bytes_sent: es.source.sent(),
            bytes_received: ec.sink.received(),
            sent_sha256: es.sent_hash.finalize().into(),
            received_sha256: ec.received_hash.finalize().into(),
        },
        virtual_time,
        end: pair.net.now(),
        wall: wall.elapsed(),
        steps: pair.net.steps(),
        retrans,
        tcp: (
            *pair.net.stack(client).sockets().tcp_stats(),
            *pair.net.stack(server).sockets().tcp_stats(),
        ),
        impair: (pair.impair_stats(client), pair.impair_stats(server)),
        isns: isns(&pair.pcap(client)),
        pcap: pair.pcap(client),
    }
}

/// Assert both directions arrived whole: lengths and SHA-256 equal.
pub fn assert_intact(r: &BulkReport, up: u64, down: u64) {
    for (name, d, len) in [("up", &r.up, up), ("down", &r.down, down)] {
        assert_eq!(d.bytes_sent, len, "{name}: bytes sent");
        assert_eq!(d.bytes_received, len, "{name}: bytes received");
        assert_eq!(
            hex(&d.sent_sha256),
            hex(&d.received_sha256),
            "{name}: SHA-256 of sent and received bytes"
        );
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One host's end of a bulk run.
struct End {
    host: HostId,
    sock: SocketHandle,
    source: Source,
    sink: Sink,
    sent_hash: Sha256,
    received_hash: Sha256,
    shut: bool,
}

impl End {
    fn new(host: HostId, sock: SocketHandle, seed: u64, len: u64) -> End {
        End {
            host,
            sock,
            source: Source::new(seed, len),
            sink: Sink::new(),
            sent_hash: Sha256::new(),
            received_hash: Sha256::new(),
            shut: false,
        }
    }

    fn step(&mut self, sockets: &mut sockstack::proto::SocketSet) {
        let h = &mut self.sent_hash;
        self.source
            .pump(sockets, self.sock, |b| h.update(b))
            .expect("send");
        if self.source.done() && !self.shut {
            sockets
                .shutdown(self.sock, sockstack::proto::Shutdown::Write)
                .expect("shutdown(SHUT_WR)");
            self.shut = true;
        }
        let h = &mut self.received_hash;
        self.sink
            .drain(sockets, self.sock, |b| h.update(b))
            .expect("recv");
        check_invariants(sockets, self.sock);
    }

    fn finished(&self) -> bool {
        self.shut && self.sink.eof()
    }
}

/// `ss -tan`-like rows of a host, for failure messages.
pub fn rows(pair: &TcpPair, id: HostId) -> Vec<String> {
    pair.net
        .stack(id)
        .sockets()
        .snapshot()
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {} q {}/{}",
                r.state, r.local, r.remote, r.recv_q, r.send_q
            )
        })
        .collect()
}

/// How many sockets of `id` are in `state`.
pub fn count_state(pair: &TcpPair, id: HostId, state: TcpState) -> usize {
    pair.net
        .stack(id)
        .sockets()
        .snapshot()
        .iter()
        .filter(|r| r.state == state)
        .count()
}

/// The frames of a pcap byte stream (classic format, native byte order).
pub fn pcap_frames(pcap: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    if pcap.is_empty() {
        return out;
    }
    let mut at = 24;
    let u32_at = |i: usize| u64::from(u32::from_ne_bytes(pcap[i..i + 4].try_into().unwrap()));
    while at + 16 <= pcap.len() {
        let ts = u32_at(at) * 1_000_000 + u32_at(at + 4);
        let len = u32_at(at + 12) as usize;
        let cap = u32_at(at + 8) as usize;
        assert_eq!(cap, len, "no truncated records");
        out.push((ts, pcap[at + 16..at + 16 + cap].to_vec()));
        at += 16 + cap;
    }
    assert_eq!(at, pcap.len(), "whole records");
    out
}

/// (flags, seq, ack) of a TCP segment in an Ethernet frame, if it is one.
pub fn tcp_fields(frame: &[u8]) -> Option<(u8, u32, u32)> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 6 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let t = frame.get(14 + ihl..)?;
    if t.len() < 20 {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes(t[i..i + 4].try_into().unwrap());
    Some((t[13], be(4), be(8)))
}

/// The ISNs (client, server) of the first handshake in a client capture.
pub fn isns(pcap: &[u8]) -> Option<(u32, u32)> {
    let frames = pcap_frames(pcap);
    let segs: Vec<_> = frames.iter().filter_map(|(_, f)| tcp_fields(f)).collect();
    let syn = segs.iter().find(|s| s.0 & 0x12 == 0x02)?;
    let synack = segs.iter().find(|s| s.0 & 0x12 == 0x12)?;
    Some((syn.1, synack.1))
}

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// Payload bytes of a TCP segment in an Ethernet frame.
pub fn tcp_payload_len(frame: &[u8]) -> Option<usize> {
    tcp_fields(frame)?;
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let doff = usize::from(frame[14 + ihl + 12] >> 4) * 4;
    total.checked_sub(ihl + doff)
}

/// A pure ACK: ACK alone, no payload.
pub fn is_pure_ack(frame: &[u8]) -> bool {
    tcp_fields(frame).is_some_and(|(f, _, _)| f == ACK) && tcp_payload_len(frame) == Some(0)
}

/// What must hold for a connection between any two steps (TCP_INFO view):
/// bytes in flight are bytes in the send buffer, buffers within their
/// configured sizes, timers within the profile's bounds, a sane cwnd.
/// (The receive-window promise is checked by its own test: see
/// TCP_BUGS.md, "receive window over-commit".)
pub fn check_invariants(ss: &sockstack::proto::SocketSet, h: SocketHandle) {
    let Some(i) = ss.info(h) else {
        return;
    };
    if i.state != Some(TcpState::Established) {
        return;
    }
    let p = ss.profile();
    let sndbuf = ss.send_buffer_size(h).unwrap_or(usize::MAX);
    let rcvbuf = ss.recv_buffer_size(h).unwrap_or(usize::MAX);
    assert!(
        i.unacked <= i.send_queue + 1,
        "in flight beyond the buffer: {i:?}"
    );
    assert!(i.send_queue <= sndbuf, "send buffer over its size: {i:?}");
    assert!(
        i.recv_queue <= rcvbuf,
        "receive buffer over its size: {i:?}"
    );
    assert!(i.cwnd >= i.snd_mss, "cwnd below one segment: {i:?}");
    assert!(
        i.rto >= p.rto_min && i.rto <= p.rto_max,
        "RTO out of bounds: {i:?}"
    );
    assert!(
        i.snd_mss >= usize::from(p.min_snd_mss) && i.snd_mss <= 65_535,
        "{i:?}"
    );
}

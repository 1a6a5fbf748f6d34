//! Arbitrary TCP segment sequences into a live connection in every state.
//!
//! One sockstack host ("us") talks to a scripted peer built here. The peer
//! drives the connection into the chosen state with well-formed frames
//! (LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT_1/2, CLOSE_WAIT,
//! LAST_ACK, CLOSING, TIME_WAIT), tracking the real sequence numbers from
//! what we transmit. Then an `arbitrary`-derived script interleaves segments
//! (flags, seq/ack relative to the real numbers or random, window, options,
//! SACK blocks, payload, wrong ports), predicted segments (in-order data
//! or a pure ACK at the real numbers with exactly the window we hold and a
//! fresh timestamp: the header-prediction fast path, `tcp/fastpath.rs`),
//! clock advances and socket calls.
//! Every frame carries valid Ethernet, IPv4 and TCP checksums, so the input
//! reaches the TCP state machine (unless a segment asks for a corrupt
//! one). A configuration byte picks the session-3 switches (`Knobs`: TX
//! checksum offload, the RX fold, verified ingress, TIME_WAIT overflow,
//! small autotuned buffers with a short idle release). Invariants: no
//! panic, every checksum we emit is correct, TCP_INFO stays within the
//! socket's own bounds, and `SocketSet::fuzz_check_invariants` holds after
//! every step. Knob bit 0x80 runs a twin stack with the fast path off
//! (`Profile::fuzz_slow_path_only`) on the same frames, clock and calls:
//! every frame, call result, timer deadline and TCP_INFO must be identical
//! (the `tcp/fastpath.rs` contract).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::*;
use libfuzzer_sys::fuzz_target;
use sockstack_proto::tcp::SeqNum;
use sockstack_proto::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpFlags, TcpPacket, TcpRepr, TcpTimestamp,
};
use sockstack_proto::{Duration, Instant, Shutdown, SocketHandle, SocketSet, Stack, TcpState};
use std::fmt::Debug;

const OUR_PORT: u16 = 80;
const PEER_PORT: u16 = 40000;
const PEER_ISS: u32 = 0xfff0_0000; // close to the wrap on purpose

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Listen,
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    LastAck,
    Closing,
    TimeWait,
}

/// A sequence number relative to what the peer knows, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Rel {
    Near(i16),
    Far(i32),
    Raw(u32),
}

impl Rel {
    fn at(self, base: u32) -> SeqNum {
        match self {
            Rel::Near(d) => SeqNum(base.wrapping_add(d as i32 as u32)),
            Rel::Far(d) => SeqNum(base.wrapping_add(d as u32)),
            Rel::Raw(v) => SeqNum(v),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct Seg {
    flags: u8,
    seq: Rel,
    ack: Rel,
    window: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_perm: bool,
    /// (tsval advance, echo ours or a raw tsecr)
    ts: Option<(u16, Option<u32>)>,
    sack: Vec<(Rel, Rel)>,
    payload_len: u16,
    wrong_port: bool,
    /// Advance the peer's own sequence by what this segment carried.
    consume: bool,
    /// Flip a bit of the TCP checksum (dropped unless the ingress is
    /// "verified", where the link vouches for it).
    corrupt: bool,
}

#[derive(Arbitrary, Debug, Clone)]
enum Step {
    Seg(Seg),
    Advance(u16),
    Send(u16),
    Recv(u16),
    Shutdown(u8),
    Close,
    Abort,
    Accept,
    Timers,
    /// In-order data (`len` 0: a pure ACK) at the peer's real sequence
    /// number, acknowledging what we sent (less `ack_back`), with exactly
    /// the window we hold for the peer and, when negotiated, a fresh
    /// timestamp: the segments header prediction (`tcp/fastpath.rs`)
    /// takes on ESTABLISHED. Random `Seg`s rarely hit that window.
    Predicted {
        len: u16,
        push: bool,
        ack_back: Option<u16>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    start: Start,
    /// Establish actively (connect) instead of passively (listen/accept).
    active: bool,
    /// Offer timestamps, SACK and window scaling in the handshake.
    options: bool,
    /// `Knobs::from_byte`.
    knobs: u8,
    steps: Vec<Step>,
}

/// The stack under test and, in differential mode, its twin without the
/// header-prediction fast path, driven identically. Mutations go through
/// `call` (both, results compared); reads see the first stack.
struct Duo {
    a: Stack,
    b: Option<Stack>,
    knobs: Knobs,
    buf_b: Vec<u8>,
}

impl Duo {
    fn new(knobs: Knobs, differential: bool) -> Self {
        let b = differential.then(|| {
            let mut s = new_stack_with(knobs);
            let mut p = s.sockets().profile().clone();
            p.fuzz_slow_path_only = true;
            s.sockets_mut().set_profile(p);
            s
        });
        Duo {
            a: new_stack_with(knobs),
            b,
            knobs,
            buf_b: vec![0u8; 1514],
        }
    }

    fn call<R: PartialEq + Debug>(&mut self, mut f: impl FnMut(&mut Stack) -> R) -> R {
        let r = f(&mut self.a);
        if let Some(b) = self.b.as_mut() {
            let rb = f(b);
            assert_eq!(r, rb, "fast and slow path stacks answer a call differently");
        }
        r
    }

    fn sockets(&self) -> &SocketSet {
        self.a.sockets()
    }

    fn deliver(&mut self, now: Instant, frame: &[u8]) {
        let k = self.knobs;
        self.call(|s| deliver(s, k, now, frame));
    }

    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = transmit(&mut self.a, self.knobs, now, buf);
        if let Some(b) = self.b.as_mut() {
            let m = transmit(b, self.knobs, now, &mut self.buf_b);
            let fast = n.and_then(|n| buf.get(..n));
            let slow = m.and_then(|m| self.buf_b.get(..m));
            assert_eq!(
                fast, slow,
                "fast and slow path stacks emit different frames"
            );
        }
        n
    }

    fn poll_at(&self) -> Option<Instant> {
        let t = self.a.poll_at();
        if let Some(b) = self.b.as_ref() {
            assert_eq!(
                t,
                b.poll_at(),
                "fast and slow path stacks differ in poll_at"
            );
        }
        t
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.call(|s| s.handle_timeout(now));
    }

    fn check_invariants(&self) {
        self.a.sockets().fuzz_check_invariants();
        if let Some(b) = self.b.as_ref() {
            b.sockets().fuzz_check_invariants();
        }
    }
}

struct Peer {
    /// Next sequence number the peer sends.
    snd_nxt: u32,
    /// Highest sequence number we have sent (seq + segment length).
    ours: u32,
    /// Whether `ours` is known yet.
    synced: bool,
    /// Last TSval we sent (echoed by the peer).
    our_tsval: u32,
    tsval: u32,
    /// Newest TSval any segment carried (a `Seg` may jump ahead).
    ts_hi: u32,
    options: bool,
    out: Vec<u8>,
}

impl Peer {
    fn new(options: bool) -> Self {
        Peer {
            snd_nxt: PEER_ISS,
            ours: 0,
            synced: false,
            our_tsval: 0,
            tsval: 1000,
            ts_hi: 1000,
            options,
            out: vec![0u8; 1514],
        }
    }

    /// Drain what we transmit (bounded): answer ARP, track our sequence space.
    fn drain(&mut self, stack: &mut Duo, now: Instant) {
        for _ in 0..256 {
            let Some(n) = stack.transmit(now, &mut self.out) else {
                break;
            };
            let frame = self.out[..n].to_vec();
            self.observe(stack, now, &frame);
        }
    }

    fn observe(&mut self, stack: &mut Duo, now: Instant, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::parse(frame) else {
            panic!("we emitted a malformed Ethernet frame");
        };
        match eth.ethertype() {
            EtherType::Arp => {
                let Ok(arp) = ArpPacket::parse(eth.payload()) else {
                    panic!("we emitted a malformed ARP packet");
                };
                let req = ArpRepr::parse(&arp);
                if req.operation == ArpOperation::Request && req.target_ip == PEER_IP {
                    let reply = ArpRepr {
                        operation: ArpOperation::Reply,
                        sender_mac: PEER_MAC,
                        sender_ip: PEER_IP,
                        target_mac: req.sender_mac,
                        target_ip: req.sender_ip,
                    };
                    let mut b = vec![0u8; reply.buffer_len()];
                    if reply.emit(&mut b).is_ok() {
                        stack.deliver(now, &ethernet(OUR_MAC, EtherType::Arp, &b));
                    }
                }
            }
            EtherType::Ipv4 => {
                let Ok(ip) = Ipv4Packet::parse(eth.payload()) else {
                    panic!("we emitted a malformed IPv4 packet");
                };
                assert!(ip.verify_checksum(), "bad IPv4 checksum from us");
                if ip.protocol() != IpProtocol::Tcp || ip.is_fragment() {
                    return;
                }
                let Ok(tcp) = TcpPacket::parse(ip.payload()) else {
                    panic!("we emitted a malformed TCP segment");
                };
                assert!(tcp.verify_checksum(ip.src(), ip.dst()), "bad TCP checksum");
                let r = TcpRepr::parse(&tcp);
                let end = r.seq.0.wrapping_add(r.segment_len() as u32);
                if !self.synced || SeqNum(self.ours).lt(SeqNum(end)) {
                    self.ours = end;
                    self.synced = true;
                }
                if let Some(ts) = r.timestamp {
                    self.our_tsval = ts.tsval;
                }
            }
            _ => {}
        }
    }

    /// Build and deliver one segment from the peer.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        stack: &mut Duo,
        now: Instant,
        flags: u8,
        seq: SeqNum,
        ack: SeqNum,
        window: u16,
        opts: impl FnOnce(&mut TcpRepr<'_>),
        payload: &[u8],
        port: u16,
        corrupt: bool,
    ) {
        let mut r = TcpRepr::new(port, OUR_PORT, seq, ack, TcpFlags(flags), window);
        r.payload = payload;
        opts(&mut r);
        if r.buffer_len() > 1480 {
            return;
        }
        let mut l4 = vec![0u8; r.buffer_len()];
        if r.emit(&mut l4, PEER_IP, OUR_IP).is_err() {
            return;
        }
        if corrupt {
            if let Some(b) = l4.get_mut(17) {
                *b ^= 0x01;
            }
        }
        let ipr = Ipv4Repr::new(PEER_IP, OUR_IP, IpProtocol::Tcp, l4.len());
        let mut ip = vec![0u8; ipr.buffer_len()];
        if ipr.emit(&mut ip).is_err() {
            return;
        }
        ip[ipr.header_len()..].copy_from_slice(&l4);
        stack.deliver(now, &ethernet(OUR_MAC, EtherType::Ipv4, &ip));
        self.drain(stack, now);
    }

    /// A well-formed segment at the peer's real numbers.
    fn plain(&mut self, stack: &mut Duo, now: Instant, flags: u8, payload: &[u8]) {
        let (seq, ack) = (SeqNum(self.snd_nxt), SeqNum(self.ours));
        let ts = self.options.then_some(TcpTimestamp {
            tsval: self.tsval,
            tsecr: self.our_tsval,
        });
        let syn = flags & TcpFlags::SYN != 0;
        let options = self.options;
        self.send(
            stack,
            now,
            flags,
            seq,
            ack,
            65535,
            |r| {
                r.timestamp = ts;
                if syn {
                    r.mss = Some(1460);
                    if options {
                        r.sack_permitted = true;
                        r.window_scale = Some(7);
                    }
                }
            },
            payload,
            PEER_PORT,
            false,
        );
        let len = payload.len() + usize::from(syn) + usize::from(flags & TcpFlags::FIN != 0);
        self.snd_nxt = self.snd_nxt.wrapping_add(len as u32);
    }
}

fn state_of(stack: &Duo, h: SocketHandle) -> Option<TcpState> {
    stack.sockets().state(h)
}

/// Drive the connection to `start`; returns the handle to poke (the
/// listener for LISTEN and until accept, else the connection).
fn setup(stack: &mut Duo, peer: &mut Peer, now: Instant, input: &Input) -> Option<SocketHandle> {
    const ACK: u8 = TcpFlags::ACK;
    let start = input.start;
    let s = stack.call(|st| st.sockets_mut().tcp_socket())?;
    let active = input.active && !matches!(start, Start::Listen | Start::SynRecv);
    if start == Start::SynSent || active {
        stack
            .call(|st| st.sockets_mut().bind(s, OUR_IP, OUR_PORT))
            .ok()?;
        stack
            .call(|st| st.sockets_mut().connect(now, s, PEER_IP, PEER_PORT))
            .ok()?;
        peer.drain(stack, now);
        if start == Start::SynSent {
            return Some(s);
        }
        // SYN-ACK from the peer, then our ACK.
        peer.plain(stack, now, TcpFlags::SYN | ACK, &[]);
        if state_of(stack, s) != Some(TcpState::Established) {
            return None;
        }
        establish_rest(stack, peer, now, start, s)
    } else {
        stack
            .call(|st| st.sockets_mut().bind(s, OUR_IP, OUR_PORT))
            .ok()?;
        stack.call(|st| st.sockets_mut().listen(s, 4)).ok()?;
        if start == Start::Listen {
            return Some(s);
        }
        peer.plain(stack, now, TcpFlags::SYN, &[]);
        if start == Start::SynRecv {
            return Some(s);
        }
        peer.plain(stack, now, ACK, &[]);
        let c = stack.call(|st| st.sockets_mut().accept(s)).ok()?;
        establish_rest(stack, peer, now, start, c)
    }
}

fn establish_rest(
    stack: &mut Duo,
    peer: &mut Peer,
    now: Instant,
    start: Start,
    c: SocketHandle,
) -> Option<SocketHandle> {
    const ACK: u8 = TcpFlags::ACK;
    const FIN: u8 = TcpFlags::FIN;
    let want = match start {
        Start::Established => TcpState::Established,
        Start::FinWait1 => {
            stack
                .call(|st| st.sockets_mut().shutdown(c, Shutdown::Write))
                .ok()?;
            peer.drain(stack, now);
            TcpState::FinWait1
        }
        Start::FinWait2 | Start::TimeWait => {
            stack
                .call(|st| st.sockets_mut().shutdown(c, Shutdown::Write))
                .ok()?;
            peer.drain(stack, now);
            peer.plain(stack, now, ACK, &[]);
            if start == Start::TimeWait {
                peer.plain(stack, now, FIN | ACK, &[]);
                if stack.sockets().profile().max_tw_buckets == 0 {
                    // TIME_WAIT overflow: Linux skips it (after the ACK).
                    TcpState::Closed
                } else {
                    TcpState::TimeWait
                }
            } else {
                TcpState::FinWait2
            }
        }
        Start::CloseWait | Start::LastAck => {
            peer.plain(stack, now, FIN | ACK, &[]);
            if start == Start::LastAck {
                stack
                    .call(|st| st.sockets_mut().shutdown(c, Shutdown::Write))
                    .ok()?;
                peer.drain(stack, now);
                TcpState::LastAck
            } else {
                TcpState::CloseWait
            }
        }
        Start::Closing => {
            // Our FIN is out; the peer's FIN crosses it without acking it.
            let before = peer.ours;
            stack
                .call(|st| st.sockets_mut().shutdown(c, Shutdown::Write))
                .ok()?;
            peer.drain(stack, now);
            let ours = peer.ours;
            peer.ours = before;
            peer.plain(stack, now, FIN | ACK, &[]);
            if SeqNum(peer.ours).lt(SeqNum(ours)) {
                peer.ours = ours;
            }
            TcpState::Closing
        }
        Start::Listen | Start::SynSent | Start::SynRecv => return Some(c),
    };
    let got = state_of(stack, c);
    assert_eq!(got, Some(want), "setup for {start:?} failed");
    Some(c)
}

fn check(stack: &Duo, h: SocketHandle) {
    let socks = stack.sockets();
    // Demux, timer heap, TIME_WAIT table and reply queues within their caps.
    stack.check_invariants();
    if let Some(b) = stack.b.as_ref() {
        assert_eq!(
            socks.info(h),
            b.sockets().info(h),
            "fast and slow path stacks differ in TCP_INFO"
        );
    }
    let Some(info) = socks.info(h) else { return };
    if let Some(cap) = socks.send_buffer_size(h) {
        assert!(
            info.send_queue <= cap,
            "send queue {} > {cap}",
            info.send_queue
        );
    }
    if let Some(cap) = socks.recv_buffer_size(h) {
        assert!(
            info.recv_queue <= cap,
            "recv queue {} > {cap}",
            info.recv_queue
        );
    }
    assert!(info.snd_wscale <= 14 && info.rcv_wscale <= 14, "{info:?}");
    assert!(info.rto <= Duration::from_secs(120), "rto {:?}", info.rto);
    assert!(
        info.snd_mss <= 1500 && info.rcv_mss <= 1500 + 40,
        "{info:?}"
    );
    if info.cwnd > 0 {
        assert!(
            info.snd_mss == 0 || info.cwnd >= info.snd_mss.min(536),
            "{info:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    let mut now = Instant::from_secs(1);
    let knobs = Knobs::from_byte(input.knobs);
    let mut stack = Duo::new(knobs, input.knobs & 0x80 != 0);
    let mut peer = Peer::new(input.options);
    let Some(mut h) = setup(&mut stack, &mut peer, now, &input) else {
        return;
    };
    let listener = matches!(input.start, Start::Listen | Start::SynRecv).then_some(h);
    let payload = vec![0x5au8; 2048];
    let mut rbuf = vec![0u8; 4096];
    let mut closed = false;
    for step in input.steps.iter().take(96) {
        match step {
            Step::Seg(s) => {
                peer.tsval = peer.tsval.wrapping_add(1);
                let seq = s.seq.at(peer.snd_nxt);
                let ack = s.ack.at(peer.ours);
                // Up to a full 1448-byte segment with timestamps (the
                // receiver's RTT sample wants one of at least rcv_mss).
                let len = usize::from(s.payload_len) % 1449;
                let port = if s.wrong_port {
                    PEER_PORT.wrapping_add(1)
                } else {
                    PEER_PORT
                };
                let (tsval, our_tsval) = (peer.tsval, peer.our_tsval);
                let (pn, po) = (peer.snd_nxt, peer.ours);
                if let Some((d, _)) = s.ts {
                    let v = tsval.wrapping_add(u32::from(d));
                    if v.wrapping_sub(peer.ts_hi) as i32 > 0 {
                        peer.ts_hi = v;
                    }
                }
                peer.send(
                    &mut stack,
                    now,
                    s.flags,
                    seq,
                    ack,
                    s.window,
                    |r| {
                        r.mss = s.mss;
                        r.window_scale = s.wscale;
                        r.sack_permitted = s.sack_perm;
                        r.timestamp = s.ts.map(|(d, ecr)| TcpTimestamp {
                            tsval: tsval.wrapping_add(u32::from(d)),
                            tsecr: ecr.unwrap_or(our_tsval),
                        });
                        for (slot, (l, rr)) in r.sack_blocks.iter_mut().zip(s.sack.iter()) {
                            *slot = (l.at(po), rr.at(po));
                            r.sack_len += 1;
                        }
                    },
                    &payload[..len],
                    port,
                    s.corrupt,
                );
                if s.consume && seq.0 == pn {
                    let f = TcpFlags(s.flags);
                    let n = len + usize::from(f.syn()) + usize::from(f.fin());
                    peer.snd_nxt = pn.wrapping_add(n as u32);
                }
            }
            Step::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                if stack.poll_at().is_some_and(|t| t <= now) {
                    stack.handle_timeout(now);
                    peer.drain(&mut stack, now);
                }
            }
            Step::Send(n) if !closed => {
                let n = usize::from(*n) % payload.len();
                let _ = stack.call(|st| st.sockets_mut().send(h, &payload[..n]));
                peer.drain(&mut stack, now);
            }
            Step::Recv(n) if !closed => {
                let n = usize::from(*n) % rbuf.len();
                let _ = stack.call(|st| st.sockets_mut().recv(h, &mut rbuf[..n]));
                peer.drain(&mut stack, now);
            }
            Step::Shutdown(how) if !closed => {
                let how = match how % 3 {
                    0 => Shutdown::Read,
                    1 => Shutdown::Write,
                    _ => Shutdown::Both,
                };
                let _ = stack.call(|st| st.sockets_mut().shutdown(h, how));
                peer.drain(&mut stack, now);
            }
            Step::Close if !closed => {
                let _ = stack.call(|st| st.sockets_mut().close(h));
                closed = true;
                peer.drain(&mut stack, now);
            }
            Step::Abort if !closed => {
                let _ = stack.call(|st| st.sockets_mut().abort(h));
                closed = true;
                peer.drain(&mut stack, now);
            }
            Step::Accept if !closed => {
                if let Some(l) = listener {
                    if let Ok(c) = stack.call(|st| st.sockets_mut().accept(l)) {
                        h = c;
                    }
                }
            }
            Step::Timers => {
                for _ in 0..8 {
                    let Some(at) = stack.poll_at() else { break };
                    now = if at > now {
                        at
                    } else {
                        now + Duration::from_millis(1)
                    };
                    stack.handle_timeout(now);
                    peer.drain(&mut stack, now);
                }
            }
            Step::Predicted {
                len,
                push,
                ack_back,
            } => {
                let info = if closed {
                    None
                } else {
                    stack.sockets().info(h)
                };
                // The window field that scales to exactly SND.WND.
                let (window, ts_on, queued) = info.map_or((65535, peer.options, None), |i| {
                    let w = u16::try_from(i.snd_wnd >> i.snd_wscale).unwrap_or(u16::MAX);
                    (w, i.timestamps, Some(i.recv_queue))
                });
                peer.tsval = peer.tsval.wrapping_add(1);
                if peer.ts_hi.wrapping_sub(peer.tsval) as i32 > 0 {
                    peer.tsval = peer.ts_hi;
                }
                peer.ts_hi = peer.tsval;
                let ts = ts_on.then_some(TcpTimestamp {
                    tsval: peer.tsval,
                    tsecr: peer.our_tsval,
                });
                let len = usize::from(*len) % 1449;
                let seq = SeqNum(peer.snd_nxt);
                let ack = SeqNum(peer.ours.wrapping_sub(ack_back.map_or(0, u32::from)));
                let flags = TcpFlags::ACK | if *push { TcpFlags::PSH } else { 0 };
                peer.send(
                    &mut stack,
                    now,
                    flags,
                    seq,
                    ack,
                    window,
                    |r| r.timestamp = ts,
                    &payload[..len],
                    PEER_PORT,
                    false,
                );
                // The peer moves on only if the bytes became readable (a
                // real sender would resend the rest; `Seg` can).
                let after = stack.sockets().info(h).map(|i| i.recv_queue);
                if let (Some(b), Some(a)) = (queued, after) {
                    if len > 0 && a >= b + len {
                        peer.snd_nxt = peer.snd_nxt.wrapping_add(len as u32);
                    }
                }
            }
            _ => {}
        }
        if !closed {
            check(&stack, h);
        } else {
            stack.check_invariants();
        }
    }
    // Let everything time out (bounded) and make sure the stack winds down.
    for _ in 0..256 {
        let Some(at) = stack.poll_at() else { break };
        if at > now + Duration::from_secs(4000) {
            break;
        }
        now = if at > now {
            at
        } else {
            now + Duration::from_millis(1)
        };
        stack.handle_timeout(now);
        peer.drain(&mut stack, now);
    }
    tally(&stack.a, knobs);
});

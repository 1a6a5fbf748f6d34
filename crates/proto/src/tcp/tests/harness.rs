//! A scripted harness: one `SocketSet` at LOCAL talking to a scripted peer
//! at REMOTE, with explicit times and a segment builder, e.g.
//! `h.deliver(ms(0), seg().syn().seq(100).mss(1460)); h.expect(ms(0))`.

use crate::sockets::{SocketHandle, SocketSet};
use crate::tcp::{Profile, SeqNum, State};
use crate::time::Instant;
use crate::wire::{IpProtocol, Ipv4Addr, Ipv4Repr, TcpFlags, TcpRepr, TcpTimestamp};

pub(crate) const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub(crate) const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub(crate) const LPORT: u16 = 80;
pub(crate) const RPORT: u16 = 40000;

pub(crate) fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// A segment from the scripted peer (REMOTE:RPORT -> LOCAL:LPORT by default).
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    pub ts: Option<(u32, u32)>,
    /// One SACK block (left, right).
    pub sack: Option<(u32, u32)>,
    /// Several SACK blocks, in wire order (after `sack`, if both are set).
    pub sacks: Vec<(u32, u32)>,
    pub payload: Vec<u8>,
}

pub(crate) fn seg() -> Seg {
    Seg {
        src: REMOTE,
        src_port: RPORT,
        dst_port: LPORT,
        seq: 0,
        ack: 0,
        flags: 0,
        window: 65535,
        mss: None,
        wscale: None,
        sack_perm: false,
        ts: None,
        sack: None,
        sacks: Vec::new(),
        payload: Vec::new(),
    }
}

impl Seg {
    pub fn syn(mut self) -> Self {
        self.flags |= TcpFlags::SYN;
        self
    }
    pub fn fin(mut self) -> Self {
        self.flags |= TcpFlags::FIN;
        self
    }
    pub fn rst(mut self) -> Self {
        self.flags |= TcpFlags::RST;
        self
    }
    pub fn ack(mut self, n: SeqNum) -> Self {
        self.flags |= TcpFlags::ACK;
        self.ack = n.0;
        self
    }
    pub fn seq(mut self, n: u32) -> Self {
        self.seq = n;
        self
    }
    pub fn win(mut self, w: u16) -> Self {
        self.window = w;
        self
    }
    pub fn mss(mut self, m: u16) -> Self {
        self.mss = Some(m);
        self
    }
    pub fn wscale(mut self, s: u8) -> Self {
        self.wscale = Some(s);
        self
    }
    pub fn sack_perm(mut self) -> Self {
        self.sack_perm = true;
        self
    }
    pub fn ts(mut self, val: u32, ecr: u32) -> Self {
        self.ts = Some((val, ecr));
        self
    }
    /// SACK blocks in wire order (first = most recent / D-SACK).
    pub fn sacks(mut self, b: &[(u32, u32)]) -> Self {
        self.sacks = b.to_vec();
        self
    }
    pub fn data(mut self, d: &[u8]) -> Self {
        self.payload = d.to_vec();
        self
    }
    pub fn sport(mut self, p: u16) -> Self {
        self.src_port = p;
        self
    }
    pub fn dport(mut self, p: u16) -> Self {
        self.dst_port = p;
        self
    }
    pub fn repr(&self) -> TcpRepr<'_> {
        let mut r = TcpRepr::new(
            self.src_port,
            self.dst_port,
            SeqNum(self.seq),
            SeqNum(self.ack),
            TcpFlags(self.flags),
            self.window,
        );
        r.mss = self.mss;
        r.window_scale = self.wscale;
        r.sack_permitted = self.sack_perm;
        r.timestamp = self.ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr });
        if let Some((a, b)) = self.sack {
            r.sack_blocks[0] = (SeqNum(a), SeqNum(b));
            r.sack_len = 1;
        }
        for &(a, b) in &self.sacks {
            if let Some(slot) = r.sack_blocks.get_mut(r.sack_len) {
                *slot = (SeqNum(a), SeqNum(b));
                r.sack_len += 1;
            }
        }
        r.payload = &self.payload;
        r
    }
}

/// A segment the stack sent.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub repr: TcpRepr<'static>,
    pub payload: Vec<u8>,
}

impl Sent {
    pub fn flags(&self) -> TcpFlags {
        self.repr.flags
    }
    pub fn seq(&self) -> SeqNum {
        self.repr.seq
    }
    pub fn ack(&self) -> SeqNum {
        self.repr.ack
    }
    pub fn is_syn(&self) -> bool {
        self.repr.flags.syn() && !self.repr.flags.ack()
    }
    pub fn is_synack(&self) -> bool {
        self.repr.flags.syn() && self.repr.flags.ack()
    }
    pub fn is_rst(&self) -> bool {
        self.repr.flags.rst()
    }
    pub fn is_fin(&self) -> bool {
        self.repr.flags.fin()
    }
    /// A bare ACK: no SYN/FIN/RST and no payload.
    pub fn is_pure_ack(&self) -> bool {
        let f = self.repr.flags;
        f.ack() && !f.syn() && !f.fin() && !f.rst() && self.payload.is_empty()
    }
}

pub(crate) struct Harness {
    pub set: SocketSet,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        Harness::with_profile(Profile::linux())
    }
    pub fn with_profile(p: Profile) -> Self {
        let mut set = SocketSet::new(LOCAL, 7);
        set.set_profile(p);
        Harness {
            set,
            now: Instant::ZERO,
        }
    }

    /// Let time pass: run timers due at `t`.
    pub fn at(&mut self, t: Instant) {
        assert!(t >= self.now, "time runs forward");
        self.now = t;
        self.set.handle_timeout(t);
    }

    /// Deliver a peer segment at `t` (timers due by then run first).
    pub fn deliver(&mut self, t: Instant, s: Seg) {
        self.at(t);
        let r = s.repr();
        let ip = Ipv4Repr::new(s.src, LOCAL, IpProtocol::Tcp, r.segment_len());
        self.set.handle_tcp(t, &ip, &r);
    }

    /// Everything the stack sends at `t`.
    pub fn sent(&mut self, t: Instant) -> Vec<Sent> {
        self.at(t);
        let mut out = Vec::new();
        while let Some((src, dst, repr, payload)) = self.set.poll_segment(t) {
            out.push(Sent {
                src,
                dst,
                repr,
                payload,
            });
            assert!(out.len() < 100_000, "runaway output");
        }
        out
    }

    /// Exactly one segment at `t`.
    pub fn expect(&mut self, t: Instant) -> Sent {
        let mut v = self.sent(t);
        assert_eq!(v.len(), 1, "expected one segment at {t}, got {v:#?}");
        v.remove(0)
    }

    pub fn expect_none(&mut self, t: Instant) {
        let v = self.sent(t);
        assert!(v.is_empty(), "expected nothing at {t}, got {v:#?}");
    }

    pub fn state(&self, h: SocketHandle) -> Option<State> {
        self.set.state(h)
    }

    /// A listener on LPORT.
    pub fn listen(&mut self, backlog: u32) -> SocketHandle {
        let l = self.set.tcp_socket().unwrap();
        self.set.bind(l, Ipv4Addr::UNSPECIFIED, LPORT).unwrap();
        self.set.listen(l, backlog).unwrap();
        l
    }

    /// A passive open from RPORT completed and accepted. Returns (listener,
    /// connection, our ISS); the peer's ISS is 1000, no options.
    pub fn passive(&mut self) -> (SocketHandle, SocketHandle, SeqNum) {
        let l = self.listen(8);
        self.deliver(self.now, seg().syn().seq(1000).mss(1460));
        let synack = self.expect(self.now);
        assert!(synack.is_synack());
        assert_eq!(synack.ack(), SeqNum(1001));
        let iss = synack.seq();
        self.deliver(self.now, seg().seq(1001).ack(iss + 1));
        let c = self.set.accept(l).expect("accept");
        assert_eq!(self.state(c), Some(State::Established));
        (l, c, iss)
    }

    /// A passive open at 0 and 1 ms on a new listener: the peer (ISS 1000,
    /// TSval 100 then 101) offers MSS 1460, window scale 7, SACK and
    /// timestamps. Returns (connection, our ISS, our TSval in the SYN-ACK).
    pub fn accept_with_timestamps(&mut self) -> (SocketHandle, SeqNum, u32) {
        let l = self.listen(8);
        let syn = seg()
            .syn()
            .seq(1000)
            .mss(1460)
            .wscale(7)
            .sack_perm()
            .ts(100, 0);
        self.deliver(ms(0), syn);
        let sa = self.expect(ms(0));
        let iss = sa.seq();
        let tsval = sa.repr.timestamp.expect("timestamps agreed").tsval;
        self.deliver(ms(1), seg().seq(1001).ack(iss + 1).ts(101, tsval));
        (self.set.accept(l).expect("accept"), iss, tsval)
    }

    /// The peer (ISS 1000) ACKs each segment of `flight` one by one at `t`
    /// ms; returns what goes out.
    pub fn ack_each(&mut self, t: u64, flight: &[Sent]) -> Vec<Sent> {
        for s in flight {
            self.deliver(ms(t), seg().seq(1001).ack(s.seq() + s.payload.len()));
        }
        self.sent(ms(t))
    }

    /// Complete a passive open on listener `l` now: the peer (ISS 1000)
    /// offers MSS 1460 and window scale `ws`, no SACK or timestamps.
    pub fn accept_scaled(&mut self, l: SocketHandle, ws: u8) -> SocketHandle {
        self.deliver(self.now, seg().syn().seq(1000).mss(1460).wscale(ws));
        let sa = self.expect(self.now);
        self.deliver(self.now, seg().seq(1001).ack(sa.seq() + 1));
        self.set.accept(l).expect("accept")
    }

    /// An active open to REMOTE:RPORT completed; the peer's ISS is 5000.
    /// Returns (connection, our ISS, our port).
    pub fn active(&mut self) -> (SocketHandle, SeqNum, u16) {
        let c = self.set.tcp_socket().unwrap();
        self.set.connect(self.now, c, REMOTE, RPORT).unwrap();
        let syn = self.expect(self.now);
        assert!(syn.is_syn());
        let iss = syn.seq();
        let port = syn.repr.src_port;
        self.deliver(
            self.now,
            seg()
                .sport(RPORT)
                .dport(port)
                .syn()
                .seq(5000)
                .ack(iss + 1)
                .mss(1460),
        );
        let ack = self.expect(self.now);
        assert!(ack.is_pure_ack());
        assert_eq!(ack.ack(), SeqNum(5001));
        assert_eq!(self.state(c), Some(State::Established));
        (c, iss, port)
    }
}

//! Shared by the Stack targets: a configured host, frame builders, and
//! bounded loops that drain output and run timers.
#![allow(dead_code)]

use sockstack_proto::wire::{
    checksum, EtherType, EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Repr, MacAddr,
};
use sockstack_proto::{Duration, Instant, Profile, Stack, StackConfig};

pub const OUR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x12, 0x00, 0x02]);
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x12, 0x00, 0x01]);
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

pub fn new_stack() -> Stack {
    let mut cfg = StackConfig::ethernet(OUR_MAC, OUR_IP, 24);
    cfg.seed = 7;
    Stack::new(cfg)
}

/// Configuration switches chosen by one input byte, so the fuzzer reaches
/// the session-3 paths (TX checksum offload, the RX fold, the verified
/// ingress flag, TIME_WAIT overflow, autotuning from small buffers and the
/// idle release).
#[derive(Debug, Clone, Copy, Default)]
pub struct Knobs {
    /// `StackConfig::tx_checksum_offload`; frames are pulled with
    /// `poll_transmit_frame` and finished here half of the time.
    pub tx_offload: bool,
    /// `StackConfig::rx_checksum_fold`.
    pub rx_fold: bool,
    /// Deliver frames with `handle_frame_verified`.
    pub verified: bool,
    /// `max_tw_buckets` 0 or 1 (TIME_WAIT overflow, compact records).
    pub few_tw: bool,
    /// Small default buffers (4 KiB), a short idle period (buffer release
    /// within the fuzzer's clock advances) and a short TIME_WAIT.
    pub small_bufs: bool,
    /// Finish partial checksums through `poll_transmit_frame`.
    pub via_frame: bool,
    /// `max_tw_buckets` = 1 instead of 0 when `few_tw`.
    pub one_tw: bool,
}

impl Knobs {
    pub fn from_byte(b: u8) -> Self {
        Knobs {
            tx_offload: b & 0x01 != 0,
            rx_fold: b & 0x02 != 0,
            verified: b & 0x04 != 0,
            few_tw: b & 0x08 != 0,
            small_bufs: b & 0x10 != 0,
            via_frame: b & 0x20 != 0,
            one_tw: b & 0x40 != 0,
        }
    }
}

pub fn new_stack_with(k: Knobs) -> Stack {
    let mut cfg = StackConfig::ethernet(OUR_MAC, OUR_IP, 24);
    cfg.seed = 7;
    cfg.tx_checksum_offload = k.tx_offload;
    cfg.rx_checksum_fold = k.rx_fold;
    let mut stack = Stack::new(cfg);
    let mut p = Profile::linux();
    if k.few_tw {
        p.max_tw_buckets = usize::from(k.one_tw);
    }
    if k.small_bufs {
        p.rcvbuf_default = 4096;
        p.rcvbuf_min = 2048;
        p.rcvbuf_max = 65536;
        p.sndbuf_default = 4096;
        p.sndbuf_min = 2048;
        p.sndbuf_max = 65536;
        p.buffer_idle = Duration::from_millis(50);
        p.time_wait = Duration::from_secs(2);
    }
    stack.sockets_mut().set_profile(p);
    stack
}

/// Deliver one frame the way the knobs say.
pub fn deliver(stack: &mut Stack, k: Knobs, now: Instant, frame: &[u8]) {
    if k.verified {
        stack.handle_frame_verified(now, frame);
    } else {
        stack.handle_frame(now, frame);
    }
}

/// Pull one frame the way the knobs say; every checksum in it is complete.
pub fn transmit(stack: &mut Stack, k: Knobs, now: Instant, buf: &mut [u8]) -> Option<usize> {
    if !k.via_frame {
        let n = stack.poll_transmit(now, buf)?;
        assert!(n <= buf.len(), "poll_transmit overran its buffer");
        return Some(n);
    }
    let f = stack.poll_transmit_frame(now, buf)?;
    assert!(f.len <= buf.len(), "poll_transmit_frame overran its buffer");
    if let Some(p) = f.partial_checksum {
        assert!(k.tx_offload, "partial checksum without tx_checksum_offload");
        assert!(
            p.complete(&mut buf[..f.len]),
            "partial checksum points outside the frame"
        );
    }
    Some(f.len)
}

/// `drain` with the knobs' transmit path.
pub fn drain_with(stack: &mut Stack, k: Knobs, now: Instant, buf: &mut [u8]) {
    for _ in 0..512 {
        if transmit(stack, k, now, buf).is_none() {
            break;
        }
    }
}

/// Pull every ready frame (bounded), checking each is at least a sane length.
pub fn drain(stack: &mut Stack, now: Instant, buf: &mut [u8]) {
    for _ in 0..512 {
        match stack.poll_transmit(now, buf) {
            Some(n) => assert!(n <= buf.len(), "poll_transmit overran its buffer"),
            None => break,
        }
    }
}

/// Run the stack's timers forward for a while (bounded), draining as we go.
pub fn run_timers(stack: &mut Stack, mut now: Instant, buf: &mut [u8]) -> Instant {
    let end = now + Duration::from_secs(300);
    for _ in 0..128 {
        let Some(at) = stack.poll_at() else { break };
        if at > end {
            break;
        }
        // Never go back in time, always move forward a little.
        now = if at > now {
            at
        } else {
            now + Duration::from_millis(1)
        };
        stack.handle_timeout(now);
        drain(stack, now, buf);
    }
    now
}

pub fn ethernet(dst: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let repr = EthernetRepr {
        src: PEER_MAC,
        dst,
        ethertype,
    };
    let mut f = vec![0u8; 14 + payload.len()];
    repr.emit(&mut f).expect("14 bytes fit");
    f[14..].copy_from_slice(payload);
    f
}

/// An IPv4 packet from the peer to us with a correct header checksum; with
/// `fix_l4`, the transport checksum of an unfragmented ICMP/UDP/TCP payload
/// is made correct too, so the fuzzer gets past it.
pub fn ipv4(
    proto: u8,
    ident: u16,
    frag_offset: usize,
    more_frags: bool,
    payload: &[u8],
    fix_l4: bool,
) -> Vec<u8> {
    let mut repr = Ipv4Repr::new(PEER_IP, OUR_IP, IpProtocol::from(proto), payload.len());
    repr.ident = ident;
    repr.dont_frag = false;
    repr.more_frags = more_frags;
    repr.frag_offset = frag_offset & !7 & 0xfff8;
    let mut p = vec![0u8; repr.buffer_len()];
    if repr.emit(&mut p).is_err() {
        return Vec::new();
    }
    p[20..].copy_from_slice(payload);
    if fix_l4 && frag_offset == 0 && !more_frags {
        let l4 = &mut p[20..];
        let at = match IpProtocol::from(proto) {
            IpProtocol::Icmp => Some(2),
            IpProtocol::Udp => Some(6),
            IpProtocol::Tcp => Some(16),
            IpProtocol::Other(_) => None,
        };
        if let Some(at) = at {
            if l4.len() >= at + 2 {
                l4[at] = 0;
                l4[at + 1] = 0;
                let ph = match IpProtocol::from(proto) {
                    IpProtocol::Icmp => 0,
                    pr => checksum::pseudo_header(PEER_IP, OUR_IP, pr, l4.len() as u16),
                };
                let c = !checksum::fold(checksum::sum(l4, ph));
                l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
    p
}

/// Branch on what the session-3 machinery did in this run, so that reaching
/// each of those states is new coverage for the fuzzer (libFuzzer only sees
/// edges), and with `FUZZ_TALLY` set print it (to check that a corpus
/// reaches them: `FUZZ_TALLY=1 fuzz/target/.../tcp_segments corpus -runs=0`).
pub fn tally(stack: &Stack, k: Knobs) {
    let m = stack.sockets().mem_totals();
    let t = stack.sockets().tcp_stats();
    let s = stack.stats();
    let mut seen = [
        ("rcvbuf_grow", m.rcvbuf_grows > 0),
        ("sndbuf_grow", m.sndbuf_grows > 0),
        ("idle_release", m.idle_releases > 0),
        ("tw_overflow", t.tw_overflow > 0),
        ("bad_csum", s.tcp.rx_bad_checksum > 0),
        ("rto_undo", t.spurious_rto_undos > 0),
    ];
    // One distinct edge per (state, knob) pair that matters.
    for (i, (_, hit)) in seen.iter_mut().enumerate() {
        if *hit {
            match (i, k.rx_fold, k.verified, k.tx_offload) {
                (_, true, false, _) => std::hint::black_box(i + 100),
                (_, _, true, _) => std::hint::black_box(i + 200),
                (_, _, _, true) => std::hint::black_box(i + 300),
                _ => std::hint::black_box(i),
            };
        }
    }
    if std::env::var_os("FUZZ_TALLY").is_some() {
        let names: Vec<&str> = seen.iter().filter(|x| x.1).map(|x| x.0).collect();
        eprintln!("TALLY knobs={k:?} {}", names.join(","));
    }
}

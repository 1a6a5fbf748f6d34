//! The ACK pattern of a request-response exchange with the Linux kernel as
//! the peer, over a TAP device (session 12, docs/TCP_FINDINGS.md): a kernel
//! client sends four small requests to `sockstack serve --echo`, 5 ms
//! apart, each after the previous echo, then half-closes. Linux-to-Linux
//! the server quick-ACKs the first request only (ping-pong mode: every
//! later echo carries its request's ACK) and its FIN carries the ACK of
//! the client's FIN; sockstack must put the same on the wire. And a
//! trickle to a reader that never replies: 22 one-byte writes 60 ms apart
//! (TCP_NODELAY) to `sockstack serve --discard`; Linux-to-Linux each was
//! ACKed within 0.1 ms, also after the 16 quick ACKs were used up (reading
//! pushed data out ACKs it, Linux `tcp_cleanup_rbuf`).
//!
//! Same lab as `tap_tcp.rs`: the kernel at 198.18.0.1/24 (Python,
//! `common/kernel_peer.py`), sockstack at 198.18.0.2/24; the capture is
//! sockstack's own (`--pcap`), read with tshark. Root, iproute2, python3
//! and tshark are needed; without them the test prints
//! `SKIP: <test>: <reason>` and passes.

#[allow(dead_code)]
mod common;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use common::netns::unavailable;
use common::skip;
use common::tcp::{field, kernel, lab, tshark, Served, OURS};

const RUN_LIMIT: Duration = Duration::from_secs(60);
const PORT: &str = "7";
const EXCHANGES: usize = 4;
/// Between one echo and the next request: well inside the 40 ms
/// delayed-ACK time, so the exchange is interactive.
const GAP_MS: &str = "5";

const DISCARD_PORT: &str = "9";
/// One more than Linux's 16 quick ACKs at the start, and then some.
const MESSAGES: usize = 22;
/// Between one-byte writes: longer than the 40 ms delayed-ACK time, so
/// each write is its own segment and no ACK covers two.
const TRICKLE_GAP_MS: &str = "60";
/// An ACK this soon after its message was not sent by the 40 ms
/// delayed-ACK timer.
const PROMPT_ACK_MS: f64 = 20.0;

const FIN: u16 = 0x01;
const SYN: u16 = 0x02;
const RST: u16 = 0x04;

/// One TCP segment of the capture (sequence numbers relative, as tshark
/// shows them by default).
struct Seg {
    t: f64,
    ours: bool,
    flags: u16,
    seq: u32,
    ack: u32,
    len: u32,
}

impl Seg {
    fn is(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// No data and no SYN, FIN or RST: a segment that only ACKs.
    fn is_pure_ack(&self) -> bool {
        self.len == 0 && self.flags & (SYN | FIN | RST) == 0
    }
}

/// tcpdump-like, from our side's point of view.
impl fmt::Display for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.ours { "sockstack" } else { "kernel   " };
        let mut flags = String::new();
        for (bit, c) in [(SYN, 'S'), (FIN, 'F'), (RST, 'R'), (0x08, 'P')] {
            if self.is(bit) {
                flags.push(c);
            }
        }
        if self.is(0x10) {
            flags.push('.');
        }
        write!(
            f,
            "{:9.6} {who} Flags [{flags}], seq {}, ack {}, length {}",
            self.t, self.seq, self.ack, self.len
        )
    }
}

/// The TCP segments of `pcap`, in capture order.
fn segments(pcap: &Path) -> Vec<Seg> {
    let file = pcap.to_str().expect("utf-8 path");
    let out = tshark(&[
        "-n",
        "-r",
        file,
        "-Y",
        "tcp",
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "frame.time_relative",
        "-e",
        "ip.src",
        "-e",
        "tcp.flags",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
        "-e",
        "tcp.len",
    ]);
    assert!(out.status.success(), "tshark: {}", out.describe());
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("unexpected tshark line {l:?}")))
        .collect()
}

/// One line of `segments`' tshark fields.
fn parse_line(l: &str) -> Option<Seg> {
    let f: Vec<&str> = l.split(',').collect();
    let [t, src, flags, seq, ack, len] = f.as_slice() else {
        return None;
    };
    Some(Seg {
        t: t.parse().ok()?,
        ours: *src == OURS,
        flags: u16::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?,
        seq: seq.parse().ok()?,
        ack: ack.parse().ok()?,
        len: len.parse().ok()?,
    })
}

/// Four requests, each echoed, then the kernel's FIN: sockstack sends at
/// most one pure ACK, for the first request (a quick ACK, as Linux); each
/// later echo carries the ACK of its request (ping-pong mode); and the
/// FIN the echo service sends on reading EOF carries the ACK of the
/// kernel's FIN, with no pure ACK of it before.
#[test]
fn request_response_acks_ride_on_the_replies() {
    let test = "request_response_acks_ride_on_the_replies";
    if let Some(why) = unavailable(&["python3", "tshark"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--echo", PORT]);
    let n = EXCHANGES.to_string();
    let out = kernel(&ns, "exchanges", &[OURS, PORT, &n, GAP_MS], RUN_LIMIT);
    s.stop();
    assert_eq!(field(&out, "echoed"), Some(n.clone()), "{out}");
    assert_eq!(field(&out, "eof").as_deref(), Some("true"), "{out}");

    let segs = segments(&s.pcap);
    let wire: String = segs.iter().map(|g| format!("  {g}\n")).collect();
    eprintln!("{test}: the capture (sockstack's side):\n{wire}");
    let requests: Vec<&Seg> = segs.iter().filter(|g| !g.ours && g.len > 0).collect();
    let echoes: Vec<&Seg> = segs.iter().filter(|g| g.ours && g.len > 0).collect();
    assert_eq!(requests.len(), EXCHANGES, "requests:\n{wire}");
    assert_eq!(echoes.len(), EXCHANGES, "echoes:\n{wire}");
    let pure: Vec<&Seg> = segs.iter().filter(|g| g.ours && g.is_pure_ack()).collect();

    // The first request: a quick ACK at most (ato is 0 before any data).
    let first_end = requests[0].seq + requests[0].len;
    assert!(
        pure.iter().filter(|g| g.ack == first_end).count() <= 1,
        "more than one pure ACK of the first request:\n{wire}"
    );
    // Every later request: ACKed by its echo, no pure ACK before it.
    for (i, (req, echo)) in requests.iter().zip(&echoes).enumerate().skip(1) {
        let end = req.seq + req.len;
        let late_ms = (echo.t - req.t) * 1e3;
        assert!(
            !pure.iter().any(|g| g.ack == end),
            "request {} got a pure ACK (not ping-pong mode; echo {late_ms:.1} ms after it):\n{wire}",
            i + 1
        );
        assert_eq!(
            echo.ack,
            end,
            "echo {} does not ACK its request:\n{wire}",
            i + 1
        );
    }
    // The kernel's FIN: its ACK rides on our FIN.
    let kfin = segs
        .iter()
        .find(|g| !g.ours && g.is(FIN))
        .unwrap_or_else(|| panic!("no FIN from the kernel:\n{wire}"));
    let ofin = segs
        .iter()
        .find(|g| g.ours && g.is(FIN))
        .unwrap_or_else(|| panic!("no FIN from sockstack:\n{wire}"));
    assert!(
        !pure.iter().any(|g| g.ack == kfin.seq + 1),
        "the kernel's FIN got a pure ACK instead of riding on ours:\n{wire}"
    );
    assert_eq!(
        ofin.ack,
        kfin.seq + 1,
        "our FIN does not ACK the kernel's:\n{wire}"
    );
    // Nothing else: no other pure ACK from sockstack at all.
    assert!(
        pure.iter().all(|g| g.ack == first_end),
        "a pure ACK of something other than the first request:\n{wire}"
    );
}

/// 22 one-byte messages 60 ms apart to the discard service, which reads
/// each at once and never replies: every one is ACKed within 20 ms of its
/// arrival, not by the 40 ms delayed-ACK timer, also messages 17-22 that
/// come after the quick ACKs are used up (the read ACKs pushed data, as
/// Linux `tcp_cleanup_rbuf` outside ping-pong mode).
#[test]
fn a_read_trickle_is_acked_at_once_past_the_quick_acks() {
    let test = "a_read_trickle_is_acked_at_once_past_the_quick_acks";
    if let Some(why) = unavailable(&["python3", "tshark"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let mut s = Served::start(&ns, test, &["--discard", DISCARD_PORT]);
    let n = MESSAGES.to_string();
    let args = [OURS, DISCARD_PORT, &n, TRICKLE_GAP_MS];
    let out = kernel(&ns, "trickle", &args, RUN_LIMIT);
    s.stop();
    assert_eq!(field(&out, "sent"), Some(n.clone()), "{out}");
    assert_eq!(field(&out, "eof").as_deref(), Some("true"), "{out}");

    let segs = segments(&s.pcap);
    let wire: String = segs.iter().map(|g| format!("  {g}\n")).collect();
    eprintln!("{test}: the capture (sockstack's side):\n{wire}");
    // Each message's first arrival (a retransmission is not a message).
    let mut messages: Vec<&Seg> = Vec::new();
    for g in segs.iter().filter(|g| !g.ours && g.len > 0) {
        if !messages.iter().any(|m| m.seq == g.seq) {
            messages.push(g);
        }
    }
    assert_eq!(messages.len(), MESSAGES, "messages:\n{wire}");
    assert!(
        messages.iter().all(|m| m.len == 1),
        "a message of more than one byte:\n{wire}"
    );
    let mut late = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let end = m.seq + m.len;
        let acked = segs.iter().find(|g| g.ours && g.t >= m.t && g.ack >= end);
        let ms = acked.map(|a| (a.t - m.t) * 1e3);
        if !ms.is_some_and(|ms| ms <= PROMPT_ACK_MS) {
            late.push(match ms {
                Some(ms) => format!("message {} ACKed after {ms:.1} ms", i + 1),
                None => format!("message {} never ACKed", i + 1),
            });
        }
    }
    assert!(
        late.is_empty(),
        "not ACKed within {PROMPT_ACK_MS} ms: {}\n{wire}",
        late.join(", ")
    );
}

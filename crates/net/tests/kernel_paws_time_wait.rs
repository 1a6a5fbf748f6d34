//! The Linux kernel's TIME_WAIT and PAWS against hand-built segments over a
//! TAP, in a throw-away network namespace (root only; skipped visibly
//! otherwise; addresses from 198.18.0.0/15).
//!
//! TIME_WAIT: the kernel closes first and sits in TIME_WAIT; the test then
//! sends it resets and reads `ss`. It shows the rules sockstack copies
//! (proto tests `reset_at_rcv_nxt_only_ends_time_wait` and
//! `reset_in_time_wait_follows_tcp_rfc1337` replay the same segments): a
//! reset elsewhere than `rcv_nxt` is dropped; one at `rcv_nxt` ends
//! TIME_WAIT with `tcp_rfc1337` = 0 (the default) and is ignored with 1;
//! and which segments restart the 60 s timer (read from `ss -o`).
//!
//! PAWS: on an established connection with timestamps, an old pure ACK
//! gets no duplicate ACK while an old ACK at `rcv_nxt` does (the kernel's
//! `PAWSOldAck` / `PAWSEstab` counters; proto test
//! `paws_drops_an_old_pure_ack_silently` replays it).
//!
//! SYN_RECV (session 7): a request sock (`tcp_check_req`) judges a reset by
//! PAWS (dropped, `PAWSEstab` + 1, while the SYN-ACK timeout is under 60 s),
//! resets a wrong ACK before PAWS, challenges a reset in the window but not
//! at `rcv_nxt`, ends on a SYN anywhere in the window and rate-limits the
//! SYN-ACK for a retransmitted SYN (proto tests
//! in `tcp/tests/syn_recv.rs`). TIME_WAIT's out-of-window ACK limiter
//! starts afresh (`time_wait_oow_limiter_starts_afresh`).

mod link_common;

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use link_common::netns::Netns;
use link_common::*;
use sockstack::link::tap::TapLink;
use sockstack::link::Link;
use sockstack::proto::Instant;

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const PORT: u16 = 5001;

/// The kernel's listener: accepts `n` connections and closes each at once
/// (so the kernel closes first) or holds them open unread, bounded by a
/// 20 s timeout.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What we send: sequence numbers, flags, an optional timestamp option
/// (TSval, TSecr) and payload.
struct Out<'a> {
    seq: u32,
    ack: u32,
    flags: u8,
    ts: Option<(u32, u32)>,
    data: &'a [u8],
}

/// An IPv4 + TCP segment in an Ethernet frame.
fn tcp_frame(dst_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, sport: u16, o: &Out<'_>) -> Vec<u8> {
    let hl: u8 = if o.ts.is_some() { 32 } else { 20 };
    let mut tcp = Vec::with_capacity(usize::from(hl) + o.data.len());
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&PORT.to_be_bytes());
    tcp.extend_from_slice(&o.seq.to_be_bytes());
    tcp.extend_from_slice(&o.ack.to_be_bytes());
    tcp.extend_from_slice(&[(hl / 4) << 4, o.flags, 0xff, 0xff, 0, 0, 0, 0]);
    if let Some((val, ecr)) = o.ts {
        // NOP, NOP, Timestamps (RFC 7323 3.2).
        tcp.extend_from_slice(&[1, 1, 8, 10]);
        tcp.extend_from_slice(&val.to_be_bytes());
        tcp.extend_from_slice(&ecr.to_be_bytes());
    }
    tcp.extend_from_slice(o.data);
    let tcp_len = u16::try_from(tcp.len()).unwrap();
    let mut pseudo = Vec::with_capacity(12 + tcp.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&tcp_len.to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let sum = checksum(&pseudo).to_be_bytes();
    tcp[16] = sum[0];
    tcp[17] = sum[1];
    let total = (20 + tcp_len).to_be_bytes();
    let mut ip = vec![0x45, 0, total[0], total[1], 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = checksum(&ip).to_be_bytes();
    ip[10] = sum[0];
    ip[11] = sum[1];
    ip.extend_from_slice(&tcp);
    ethernet(dst_mac, MAC_A, 0x0800, &ip)
}

/// (seq, ack, flags) of the next kernel segment to `sport`, within 3 s.
fn recv_tcp(tap: &mut TapLink, sport: u16) -> Option<(u32, u32, u8)> {
    recv_seg(tap, sport, StdDuration::from_secs(3)).map(|s| (s.0, s.1, s.2))
}

/// (seq, ack, flags, TSval) of the next kernel segment to `sport` within
/// `wait`; TSval 0 when the segment carries no timestamp.
fn recv_seg(tap: &mut TapLink, sport: u16, wait: StdDuration) -> Option<(u32, u32, u8, u32)> {
    let mut buf = vec![0u8; tap.frame_capacity()];
    let start = StdInstant::now();
    while start.elapsed() < wait {
        match tap.recv(Instant::ZERO, &mut buf).ok()? {
            Some(n) => {
                let f = &buf[..n];
                let tcp = f.len() >= 54 && f[12..14] == [8, 0] && f[14] == 0x45 && f[23] == 6;
                if tcp && f[36..38] == sport.to_be_bytes() {
                    let word = |i: usize| u32::from_be_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
                    return Some((word(38), word(42), f[47], tsval_of(f)));
                }
            }
            None => std::thread::sleep(StdDuration::from_millis(5)),
        }
    }
    None
}

/// The TSval of the TCP segment in Ethernet frame `f` (0 if none).
fn tsval_of(f: &[u8]) -> u32 {
    let end = (34 + usize::from(f[46] >> 4) * 4).min(f.len());
    let mut i = 54;
    while i < end {
        match f[i] {
            0 => break,
            1 => i += 1,
            8 if i + 10 <= end => {
                return u32::from_be_bytes([f[i + 2], f[i + 3], f[i + 4], f[i + 5]]);
            }
            _ => i += usize::from(f.get(i + 1).copied().unwrap_or(0)).max(2),
        }
    }
    0
}

/// The lab: a namespace with the kernel at .1 on a TAP and a listener that
/// closes `n` connections at once; we are .2 (`MAC_A`).
struct Lab {
    // Field order is drop order: the listener, the TAP, then the namespace.
    _server: Server,
    tap: TapLink,
    kernel_mac: [u8; 6],
    kernel: Ipv4Addr,
    ours: Ipv4Addr,
    our_ip: String,
    ns: Netns,
}

impl Lab {
    /// `None` (after a SKIP line) without root, `ss` or `python3`.
    fn new(test: &str, n: u32, hold: bool) -> Option<Lab> {
        if !root_or_skip() {
            return None;
        }
        for tool in ["ss", "python3"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                eprintln!("SKIP: {test}: no {tool}");
                return None;
            }
        }
        let ns = Netns::new();
        let mut tap = TapLink::open_in_netns(&ns.name, "sstw0").expect("tap");
        let (kernel_ip, our_ip) = (ns.addr(1), ns.addr(2));
        let kernel: Ipv4Addr = kernel_ip.parse().unwrap();
        let ours: Ipv4Addr = our_ip.parse().unwrap();
        ns.run(&[
            "ip",
            "addr",
            "add",
            &format!("{kernel_ip}/24"),
            "dev",
            "sstw0",
        ]);
        ns.run(&["ip", "link", "set", "sstw0", "up"]);
        let script = format!(
            "import socket\ns=socket.socket()\ns.settimeout(20)\n\
             s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('{kernel_ip}',{PORT}))\ns.listen(4)\nprint('READY',flush=True)\n\
             held=[]\nfor _ in range({n}):\n    c,_=s.accept()\n    \
             held.append(c) if {hold} else c.close()\n\
             import time\ntime.sleep(20 if {hold} else 0)\n",
            hold = if hold { "True" } else { "False" }
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn python3");
        let mut server = Server(child);
        {
            use std::io::BufRead;
            let out = server.0.stdout.take().expect("stdout");
            let mut line = String::new();
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .expect("READY");
            assert_eq!(line.trim(), "READY");
        }
        tap.send(Instant::ZERO, &arp_request(MAC_A, ours, kernel))
            .unwrap();
        let mut buf = vec![0u8; tap.frame_capacity()];
        let start = StdInstant::now();
        let kernel_mac = loop {
            assert!(start.elapsed() < StdDuration::from_secs(3), "no ARP reply");
            if let Some(n) = tap.recv(Instant::ZERO, &mut buf).unwrap() {
                let f = &buf[..n];
                if f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 2] {
                    break <[u8; 6]>::try_from(&f[22..28]).unwrap();
                }
            } else {
                std::thread::sleep(StdDuration::from_millis(5));
            }
        };
        Some(Lab {
            _server: server,
            tap,
            kernel_mac,
            kernel,
            ours,
            our_ip,
            ns,
        })
    }

    fn send(&mut self, sport: u16, seq: u32, ack: u32, flags: u8) {
        let o = Out {
            seq,
            ack,
            flags,
            ts: None,
            data: &[],
        };
        self.send_out(sport, &o);
    }

    fn send_out(&mut self, sport: u16, o: &Out<'_>) {
        let f = tcp_frame(self.kernel_mac, self.ours, self.kernel, sport, o);
        self.tap.send(Instant::ZERO, &f).unwrap();
    }

    /// A `TcpExt` counter of the namespace (`/proc/net/netstat`), `None`
    /// when this kernel has no such counter.
    fn tcp_ext(&self, name: &str) -> Option<u64> {
        let out = self.ns.run(&["cat", "/proc/net/netstat"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (names, values) = (lines.next()?, lines.next()?);
        let at = names.split_whitespace().position(|n| n == name)?;
        values.split_whitespace().nth(at)?.parse().ok()
    }

    /// Connect from `sport` (ISS 999), let the kernel close first, close:
    /// the kernel is in TIME_WAIT with `rcv_nxt` 1002. Returns the
    /// sequence number after its FIN (our ACK number).
    fn put_in_time_wait(&mut self, sport: u16) -> u32 {
        self.send(sport, 1000, 0, SYN);
        let (k, a, fl) = recv_tcp(&mut self.tap, sport).expect("SYN-ACK");
        assert_eq!((a, fl & (SYN | ACK)), (1001, SYN | ACK));
        self.send(sport, 1001, k.wrapping_add(1), ACK);
        let (kf, _, fl) = recv_tcp(&mut self.tap, sport).expect("kernel FIN");
        assert!(fl & FIN != 0, "flags {fl:#x}");
        let ack = kf.wrapping_add(1);
        self.send(sport, 1001, ack, FIN | ACK);
        let (_, a, fl) = recv_tcp(&mut self.tap, sport).expect("ACK of our FIN");
        assert_eq!((a, fl & (FIN | ACK)), (1002, ACK));
        assert_eq!(self.time_wait(sport).len(), 1, "kernel in TIME_WAIT");
        ack
    }

    /// Lines of `ss -tano state time-wait` for our address and `sport`.
    fn time_wait(&self, sport: u16) -> Vec<String> {
        self.in_state("time-wait", sport)
    }

    /// Lines of `ss -tano state <state>` for our address and `sport`.
    fn in_state(&self, state: &str, sport: u16) -> Vec<String> {
        let out = self.ns.run(&["ss", "-tano", "state", state]);
        let needle = format!("{}:{sport}", self.our_ip);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Seconds left on the kernel's TIME_WAIT timer (`timer:(timewait,Nsec,0)`).
    fn seconds_left(&self, sport: u16) -> u32 {
        let lines = self.time_wait(sport);
        let line = lines.first().expect("in TIME_WAIT");
        let rest = line.split("timer:(timewait,").nth(1).expect("timer");
        rest.split("sec")
            .next()
            .and_then(|n| n.parse().ok())
            .expect("seconds")
    }
}

#[test]
fn kernel_time_wait_and_resets_follow_tcp_rfc1337() {
    let Some(mut lab) = Lab::new("kernel_time_wait_and_resets_follow_tcp_rfc1337", 2, false) else {
        return;
    };
    for (sport, rfc1337) in [(40_001u16, 0), (40_002u16, 1)] {
        let cmd = format!("echo {rfc1337} > /proc/sys/net/ipv4/tcp_rfc1337");
        lab.ns.run(&["sh", "-c", &cmd]);
        lab.put_in_time_wait(sport);
        // rcv_nxt is 1002: resets at 1003 (in window) and 1001 are dropped.
        lab.send(sport, 1003, 0, RST);
        lab.send(sport, 1001, 0, RST);
        std::thread::sleep(StdDuration::from_millis(100));
        assert_eq!(lab.time_wait(sport).len(), 1, "rfc1337={rfc1337}");
        // At rcv_nxt: gone with tcp_rfc1337 = 0, kept with 1.
        lab.send(sport, 1002, 0, RST);
        std::thread::sleep(StdDuration::from_millis(100));
        let left = lab.time_wait(sport).len();
        assert_eq!(left, rfc1337, "rfc1337={rfc1337}");
    }
}

/// `inet_twsk_reschedule`: after 2.5 s in TIME_WAIT, an ACK-less SYN below
/// `rcv_nxt` and a reset leave the kernel's timer running down; an ACK out
/// of window, and a bare ACK at `rcv_nxt`, restart it at 60 s (proto test
/// `time_wait_timer_restarts_like_linux` has sockstack do the same).
#[test]
fn kernel_time_wait_timer_restarts() {
    let Some(mut lab) = Lab::new("kernel_time_wait_timer_restarts", 1, false) else {
        return;
    };
    let sport = 40_003;
    let ack = lab.put_in_time_wait(sport);
    let pause = || std::thread::sleep(StdDuration::from_millis(2_500));
    pause();
    assert!(lab.seconds_left(sport) <= 58, "{:?}", lab.time_wait(sport));
    lab.send(sport, 500, 0, SYN);
    lab.send(sport, 1003, 0, RST);
    std::thread::sleep(StdDuration::from_millis(100));
    assert!(lab.seconds_left(sport) <= 58, "{:?}", lab.time_wait(sport));
    lab.send(sport, 500, ack, ACK);
    std::thread::sleep(StdDuration::from_millis(100));
    assert!(lab.seconds_left(sport) >= 59, "{:?}", lab.time_wait(sport));
    pause();
    assert!(lab.seconds_left(sport) <= 58, "{:?}", lab.time_wait(sport));
    lab.send(sport, 1002, ack, ACK);
    std::thread::sleep(StdDuration::from_millis(100));
    assert!(lab.seconds_left(sport) >= 59, "{:?}", lab.time_wait(sport));
}

/// Linux 6.14+ `tcp_disordered_ack_check`: after data with TSval 5000 moved
/// `rcv_nxt` to 1004, a pure ACK from 1001 with TSval 1000 (sent before
/// that data, arriving after it) fails PAWS and is dropped without a
/// duplicate ACK (`PAWSOldAck`); the same ACK at `rcv_nxt` gets a duplicate
/// ACK (`PAWSEstab`). Proto test `paws_drops_an_old_pure_ack_silently`
/// has sockstack do the same.
#[test]
fn kernel_paws_old_ack() {
    let test = "kernel_paws_old_ack";
    let Some(mut lab) = Lab::new(test, 1, true) else {
        return;
    };
    if lab.tcp_ext("PAWSOldAck").is_none() {
        eprintln!("SKIP: {test}: kernel without TcpExt PAWSOldAck (before 6.14)");
        return;
    }
    let sport = 40_004;
    let out = |seq, ack, flags, ts, data| Out {
        seq,
        ack,
        flags,
        ts: Some(ts),
        data,
    };
    lab.send_out(sport, &out(1000, 0, SYN, (100, 0), &[]));
    let (k, a, fl, kts) =
        recv_seg(&mut lab.tap, sport, StdDuration::from_secs(3)).expect("SYN-ACK");
    assert_eq!((a, fl & (SYN | ACK)), (1001, SYN | ACK));
    assert_ne!(kts, 0, "the kernel answers with timestamps");
    let una = k.wrapping_add(1);
    lab.send_out(sport, &out(1001, una, ACK, (101, kts), &[]));
    lab.send_out(sport, &out(1001, una, ACK | PSH, (5000, kts), b"new"));
    let start = StdInstant::now();
    loop {
        assert!(
            start.elapsed() < StdDuration::from_secs(3),
            "no ACK of the data"
        );
        if let Some((_, 1004, _, _)) = recv_seg(&mut lab.tap, sport, StdDuration::from_millis(500))
        {
            break;
        }
    }
    let (estab0, old0) = (lab.tcp_ext("PAWSEstab"), lab.tcp_ext("PAWSOldAck"));
    // The old pure ACK from 1001: dropped, no answer.
    lab.send_out(sport, &out(1001, una, ACK, (1000, kts), &[]));
    let answer = recv_seg(&mut lab.tap, sport, StdDuration::from_millis(400));
    assert_eq!(answer, None, "no duplicate ACK for an old pure ACK");
    assert_eq!(lab.tcp_ext("PAWSOldAck"), old0.map(|v| v + 1));
    assert_eq!(lab.tcp_ext("PAWSEstab"), estab0);
    // The same TSval at rcv_nxt: PAWS, and a duplicate ACK.
    lab.send_out(sport, &out(1004, una, ACK, (1000, kts), &[]));
    let (_, a, fl, _) =
        recv_seg(&mut lab.tap, sport, StdDuration::from_secs(2)).expect("duplicate ACK");
    assert_eq!((a, fl & (SYN | FIN | ACK)), (1004, ACK));
    assert_eq!(lab.tcp_ext("PAWSEstab"), estab0.map(|v| v + 1));
}

/// Send a SYN from `sport` (ISS 1000, TSval 1000) and return the kernel's
/// ISS and TSval from its SYN-ACK.
fn syn_ts(lab: &mut Lab, sport: u16) -> (u32, u32) {
    lab.send_out(sport, &ts_out(1000, 0, SYN, (1000, 0)));
    let (k, a, fl, kts) =
        recv_seg(&mut lab.tap, sport, StdDuration::from_secs(3)).expect("SYN-ACK");
    assert_eq!((a, fl & (SYN | ACK | RST)), (1001, SYN | ACK));
    assert_ne!(kts, 0, "the kernel answers with timestamps");
    (k, kts)
}

/// A segment without payload carrying a timestamp.
fn ts_out(seq: u32, ack: u32, flags: u8, ts: (u32, u32)) -> Out<'static> {
    Out {
        seq,
        ack,
        flags,
        ts: Some(ts),
        data: &[],
    }
}

/// The kernel's answer to `sport` within 200 ms, as (seq, ack, flags).
fn answer(lab: &mut Lab, sport: u16) -> Option<(u32, u32, u8)> {
    recv_seg(&mut lab.tap, sport, StdDuration::from_millis(200)).map(|s| (s.0, s.1, s.2))
}

/// Like `answer`, skipping the kernel's retransmissions of its FIN.
fn answer_not_fin(lab: &mut Lab, sport: u16) -> Option<(u32, u32, u8)> {
    let start = StdInstant::now();
    while let Some(left) = StdDuration::from_millis(200).checked_sub(start.elapsed()) {
        let (seq, ack, fl, _) = recv_seg(&mut lab.tap, sport, left)?;
        if fl & FIN == 0 {
            return Some((seq, ack, fl));
        }
    }
    None
}

/// Linux `tcp_check_req` with `tcp_paws_reject(&tmp_opt, th->rst)`: a
/// reset one tick older than the SYN's TSval fails PAWS (the estimated
/// TS.Recent age, the 1 s SYN-ACK timeout, is under `TCP_PAWS_MSL`): no
/// answer, `PAWSEstab` + 1, and the final ACK still completes the
/// handshake. A reset with the SYN's TSval ends the request: the final ACK
/// then gets a reset from the listener. A reset in the window but not at
/// `rcv_nxt` gets a challenge ACK (`TCPChallengeACK`) and the request
/// lives on; a wrong ACK number is reset before PAWS is looked at. Proto
/// tests `syn_recv_old_reset_fails_paws`,
/// `syn_recv_syn_in_window_ends_the_child_a_reset_is_challenged`,
/// `syn_recv_wrong_ack_is_reset_before_paws_and_window`.
#[test]
fn kernel_syn_recv_paws_and_resets() {
    let test = "kernel_syn_recv_paws_and_resets";
    let Some(mut lab) = Lab::new(test, 2, true) else {
        return;
    };
    // An old reset: dropped, counted, the handshake completes.
    let sport = 40_010;
    let (k, kts) = syn_ts(&mut lab, sport);
    let estab0 = lab.tcp_ext("PAWSEstab").expect("PAWSEstab");
    lab.send_out(sport, &ts_out(1001, 0, RST, (999, 0)));
    assert_eq!(answer(&mut lab, sport), None, "no answer to an old reset");
    assert_eq!(lab.tcp_ext("PAWSEstab"), Some(estab0 + 1));
    let una = k.wrapping_add(1);
    lab.send_out(sport, &ts_out(1001, una, ACK, (1001, kts)));
    std::thread::sleep(StdDuration::from_millis(100));
    assert_eq!(lab.in_state("established", sport).len(), 1, "completed");
    // A current reset at rcv_nxt: the request is gone; its ACK gets a reset.
    let sport = 40_011;
    let (k, kts) = syn_ts(&mut lab, sport);
    lab.send_out(sport, &ts_out(1001, 0, RST, (1000, 0)));
    assert_eq!(answer(&mut lab, sport), None);
    let una = k.wrapping_add(1);
    lab.send_out(sport, &ts_out(1001, una, ACK, (1001, kts)));
    let (seq, _, fl) = answer(&mut lab, sport).expect("a reset");
    assert_eq!((seq, fl & RST), (una, RST));
    // A reset in the window, not at rcv_nxt: a challenge ACK (RFC 5961
    // 3.2), rate-limited per request; the request lives on.
    let sport = 40_012;
    let (k, kts) = syn_ts(&mut lab, sport);
    let (ch0, skip0) = (
        lab.tcp_ext("TCPChallengeACK"),
        lab.tcp_ext("TCPACKSkippedChallenge"),
    );
    let una = k.wrapping_add(1);
    lab.send_out(sport, &ts_out(1500, 0, RST, (1000, 0)));
    let (seq, a, fl) = answer(&mut lab, sport).expect("a challenge ACK");
    assert_eq!((seq, a, fl & (RST | SYN | ACK)), (una, 1001, ACK));
    assert_eq!(lab.tcp_ext("TCPChallengeACK"), ch0.map(|v| v + 1));
    lab.send_out(sport, &ts_out(1500, 0, RST, (1000, 0)));
    assert_eq!(answer(&mut lab, sport), None, "rate-limited");
    assert_eq!(lab.tcp_ext("TCPACKSkippedChallenge"), skip0.map(|v| v + 1));
    lab.send_out(sport, &ts_out(1001, una, ACK, (1001, kts)));
    std::thread::sleep(StdDuration::from_millis(100));
    assert_eq!(lab.in_state("established", sport).len(), 1, "completed");
    // A wrong ACK with an old TSval: reset (seq = its ACK), no PAWS count.
    let sport = 40_013;
    let (k, kts) = syn_ts(&mut lab, sport);
    let estab0 = lab.tcp_ext("PAWSEstab");
    let bad = k.wrapping_add(5);
    lab.send_out(sport, &ts_out(1001, bad, ACK, (999, kts)));
    let (seq, _, fl) = answer(&mut lab, sport).expect("a reset");
    assert_eq!((seq, fl & (RST | ACK)), (bad, RST));
    assert_eq!(lab.tcp_ext("PAWSEstab"), estab0);
    // The request lives on: the right ACK completes it.
    lab.send_out(sport, &ts_out(1001, k.wrapping_add(1), ACK, (1001, kts)));
    std::thread::sleep(StdDuration::from_millis(100));
    assert_eq!(lab.in_state("established", sport).len(), 1, "completed");
}

/// A SYN in the window other than the first ends the request with a reset
/// (`embryonic_reset`); the first SYN again gets the SYN-ACK again, at most
/// one per 500 ms (`tcp_oow_rate_limited`, `TCPACKSkippedSynRecv`). Proto
/// tests `syn_recv_syn_in_window_ends_the_child_a_reset_is_challenged`,
/// `syn_recv_retransmitted_syn_is_rate_limited`.
#[test]
fn kernel_syn_recv_syns() {
    let test = "kernel_syn_recv_syns";
    let Some(mut lab) = Lab::new(test, 1, true) else {
        return;
    };
    let sport = 40_014;
    let (k, _) = syn_ts(&mut lab, sport);
    let skipped0 = lab.tcp_ext("TCPACKSkippedSynRecv").expect("counter");
    lab.send_out(sport, &ts_out(1000, 0, SYN, (1000, 0)));
    let (seq, a, fl) = answer(&mut lab, sport).expect("the SYN-ACK again");
    assert_eq!((seq, a, fl & (SYN | ACK)), (k, 1001, SYN | ACK));
    lab.send_out(sport, &ts_out(1000, 0, SYN, (1000, 0)));
    assert_eq!(answer(&mut lab, sport), None, "rate-limited");
    assert_eq!(lab.tcp_ext("TCPACKSkippedSynRecv"), Some(skipped0 + 1));
    // Another SYN in the window: RST|ACK acknowledging it; the request is gone.
    lab.send_out(sport, &ts_out(1003, 0, SYN, (1000, 0)));
    let (seq, a, fl) = answer(&mut lab, sport).expect("a reset");
    assert_eq!((seq, a, fl & (RST | ACK)), (0, 1004, RST | ACK));
    lab.send_out(sport, &ts_out(1001, k.wrapping_add(1), ACK, (1001, 0)));
    let (_, _, fl) = answer(&mut lab, sport).expect("a reset");
    assert_eq!(fl & RST, RST);
}

/// Linux 6.15+ `tcp_check_req` `tsecr_reject`: a final ACK whose non-zero
/// TSecr is outside the request's SYN-ACK TSvals (`snt_tsval_first` ..
/// `snt_tsval_last`) gets a plain ACK (seq ISS + 1, rate-limited by
/// `tcp_oow_rate_limited`) and is dropped, counted as `TSEcrRejected`,
/// not `PAWSEstab`; a reset with one is dropped unanswered. After the
/// SYN-ACK went again (for a retransmitted SYN), an echo of the first or
/// of the latest TSval completes the handshake. Proto tests
/// `syn_recv_tsecr_outside_the_synack_range_is_rejected`,
/// `syn_recv_tsecr_of_the_first_synack_completes`,
/// `syn_recv_tsecr_of_a_retransmitted_synack_completes`.
#[test]
fn kernel_syn_recv_tsecr() {
    let test = "kernel_syn_recv_tsecr";
    let Some(mut lab) = Lab::new(test, 3, true) else {
        return;
    };
    let Some(rej0) = lab.tcp_ext("TSEcrRejected") else {
        eprintln!("SKIP: {test}: kernel without TcpExt TSEcrRejected (before 6.15)");
        return;
    };
    let sport = 40_015;
    let (k, kts) = syn_ts(&mut lab, sport);
    let una = k.wrapping_add(1);
    let estab0 = lab.tcp_ext("PAWSEstab");
    // A TSecr the kernel never sent (far after its SYN-ACK's TSval).
    lab.send_out(
        sport,
        &ts_out(1001, una, ACK, (1001, kts.wrapping_add(100_000))),
    );
    let (seq, a, fl) = answer(&mut lab, sport).expect("an ACK");
    assert_eq!((seq, a, fl & (RST | SYN | ACK)), (una, 1001, ACK));
    assert_eq!(lab.tcp_ext("TSEcrRejected"), Some(rej0 + 1));
    assert_eq!(lab.tcp_ext("PAWSEstab"), estab0);
    assert!(lab.in_state("established", sport).is_empty());
    // Before its TSval, within 500 ms: rate-limited, still counted.
    lab.send_out(sport, &ts_out(1001, una, ACK, (1001, kts.wrapping_sub(1))));
    assert_eq!(answer(&mut lab, sport), None, "rate-limited");
    assert_eq!(lab.tcp_ext("TSEcrRejected"), Some(rej0 + 2));
    // A reset with a wrong TSecr: no answer, the request lives on.
    lab.send_out(sport, &ts_out(1001, una, RST | ACK, (1001, 7)));
    assert_eq!(answer(&mut lab, sport), None);
    assert_eq!(lab.tcp_ext("TSEcrRejected"), Some(rej0 + 3));
    lab.send_out(sport, &ts_out(1001, una, ACK, (1001, kts)));
    std::thread::sleep(StdDuration::from_millis(100));
    assert_eq!(lab.in_state("established", sport).len(), 1, "completed");
    // After a second SYN-ACK: the first TSval and the latest both complete.
    for (sport, latest) in [(40_016, false), (40_017, true)] {
        let (k, first) = syn_ts(&mut lab, sport);
        std::thread::sleep(StdDuration::from_millis(30));
        lab.send_out(sport, &ts_out(1000, 0, SYN, (1000, 0)));
        let (_, _, _, last) =
            recv_seg(&mut lab.tap, sport, StdDuration::from_secs(1)).expect("the SYN-ACK again");
        assert!(
            last.wrapping_sub(first) >= 20,
            "a later TSval: {first} {last}"
        );
        let echo = if latest { last } else { first };
        lab.send_out(sport, &ts_out(1001, k.wrapping_add(1), ACK, (1001, echo)));
        std::thread::sleep(StdDuration::from_millis(100));
        assert_eq!(lab.in_state("established", sport).len(), 1, "completed");
    }
    assert_eq!(lab.tcp_ext("TSEcrRejected"), Some(rej0 + 3));
}

/// Linux `tcp_time_wait` sets `tw_last_oow_ack_time = 0`: the connection
/// answers an old segment in FIN_WAIT_1 and limits the next one; right
/// after it enters TIME_WAIT an old segment is answered again (a fresh
/// limiter), the next one is not (`TCPACKSkippedTimeWait`). Proto test
/// `time_wait_oow_limiter_starts_afresh`.
#[test]
fn kernel_time_wait_oow_limiter_starts_afresh() {
    let test = "kernel_time_wait_oow_limiter_starts_afresh";
    let Some(mut lab) = Lab::new(test, 1, false) else {
        return;
    };
    let sport = 40_015;
    lab.send(sport, 1000, 0, SYN);
    let (k, a, fl) = recv_tcp(&mut lab.tap, sport).expect("SYN-ACK");
    assert_eq!((a, fl & (SYN | ACK)), (1001, SYN | ACK));
    lab.send(sport, 1001, k.wrapping_add(1), ACK);
    let (kf, _, fl) = recv_tcp(&mut lab.tap, sport).expect("kernel FIN");
    assert!(fl & FIN != 0, "flags {fl:#x}");
    // FIN_WAIT_1 (its FIN unacknowledged): an old segment gets a duplicate
    // ACK, the next one within 500 ms nothing.
    lab.send(sport, 900, kf, ACK);
    let (_, a, fl) = answer_not_fin(&mut lab, sport).expect("duplicate ACK");
    assert_eq!((a, fl & (ACK | FIN)), (1001, ACK));
    lab.send(sport, 900, kf, ACK);
    assert_eq!(
        answer_not_fin(&mut lab, sport),
        None,
        "rate-limited in FIN_WAIT_1"
    );
    let skipped0 = lab.tcp_ext("TCPACKSkippedTimeWait").expect("counter");
    // Our FIN with the ACK of its FIN: TIME_WAIT.
    lab.send(sport, 1001, kf.wrapping_add(1), FIN | ACK);
    let (_, a, fl) = answer_not_fin(&mut lab, sport).expect("ACK of our FIN");
    assert_eq!((a, fl & (FIN | ACK)), (1002, ACK));
    // About 200 ms after the duplicate ACK, well within 500 ms.
    lab.send(sport, 900, kf, ACK);
    let (_, a, fl) = answer_not_fin(&mut lab, sport).expect("answered: a fresh limiter");
    assert_eq!((a, fl & (ACK | FIN)), (1002, ACK));
    assert_eq!(lab.time_wait(sport).len(), 1, "kernel in TIME_WAIT");
    lab.send(sport, 900, kf, ACK);
    assert_eq!(
        answer_not_fin(&mut lab, sport),
        None,
        "rate-limited in TIME_WAIT"
    );
    assert_eq!(lab.tcp_ext("TCPACKSkippedTimeWait"), Some(skipped0 + 1));
}

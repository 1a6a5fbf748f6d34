//! The ping loop, independent of where packets go: a real TAP device with
//! the wall clock, or in-memory hosts in virtual time. A transport sends
//! echo requests and reports ICMP messages addressed to our identifier.
//!
//! Bounds: at most `count` requests; after the last one we wait until every
//! request is answered or `timeout` has passed since it was sent; each wait
//! on the transport is at most `MAX_WAIT_SLICE` so a shutdown request is
//! seen promptly.

use std::collections::HashSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::error::CliError;
use crate::ping_report::{self, PingStats};

/// Longest single wait on the transport before re-checking for shutdown.
pub const MAX_WAIT_SLICE: Duration = Duration::from_millis(100);

/// What a transport hands back for our identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An echo reply: `icmp_len` counts the ICMP header and payload.
    Reply {
        from: Ipv4Addr,
        seq: u16,
        ttl: u8,
        icmp_len: usize,
        payload_ok: bool,
    },
    /// An ICMP error quoting one of our requests (unreachable, time exceeded).
    Error {
        from: Ipv4Addr,
        seq: u16,
        what: String,
    },
}

/// Where echo requests go and replies come from.
pub trait EchoTransport {
    /// Time since the transport started (wall clock or virtual).
    fn elapsed(&mut self) -> Duration;
    /// Send one echo request with our identifier, `seq` and `payload`.
    fn send_echo(&mut self, dst: Ipv4Addr, seq: u16, payload: &[u8]) -> Result<(), CliError>;
    /// Wait until `until` (time since start) for the next message; `None`
    /// when the time came first.
    fn recv(&mut self, until: Duration) -> Result<Option<Incoming>, CliError>;
}

/// Parameters of one run.
#[derive(Debug, Clone)]
pub struct PingPlan {
    pub dest: Ipv4Addr,
    pub count: u32,
    pub interval: Duration,
    pub size: usize,
    pub timeout: Duration,
}

/// The payload we send and expect back: byte i holds i mod 256 (iputils
/// fills its pattern the same way after its timestamp).
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| i as u8).collect()
}

/// Run the plan, printing iputils-shaped lines to `out`; return the stats.
/// `stop` is polled between waits (SIGINT/SIGTERM end the run early, with
/// the summary still printed, as in iputils).
pub fn run<T: EchoTransport, W: Write>(
    t: &mut T,
    plan: &PingPlan,
    out: &mut W,
    stop: &dyn Fn() -> bool,
) -> Result<PingStats, CliError> {
    let io_err = |e: std::io::Error| CliError::Runtime(format!("writing output: {e}"));
    let data = payload(plan.size);
    let mut stats = PingStats::default();
    let mut sent_at: Vec<Duration> = Vec::new();
    let mut answered: HashSet<u16> = HashSet::new();
    let start = t.elapsed();
    let mut next_send = start;
    writeln!(out, "{}", ping_report::header(plan.dest, plan.size)).map_err(io_err)?;

    loop {
        if stop() {
            break;
        }
        let now = t.elapsed();
        let all_sent = sent_at.len() >= plan.count as usize;
        if !all_sent && now >= next_send {
            // icmp_seq counts from 1 and wraps like iputils' 16-bit field.
            let seq = (sent_at.len() as u64 + 1) as u16;
            t.send_echo(plan.dest, seq, &data)?;
            sent_at.push(now);
            stats.transmitted += 1;
            next_send = next_send.saturating_add(plan.interval).max(now);
            continue;
        }
        let until = if !all_sent {
            next_send
        } else {
            let last = sent_at.last().copied().unwrap_or(start);
            let done = last.saturating_add(plan.timeout);
            if answered.len() as u64 >= stats.transmitted || now >= done {
                break;
            }
            done
        };
        let until = until.min(now.saturating_add(MAX_WAIT_SLICE));
        let Some(msg) = t.recv(until)? else {
            continue;
        };
        let arrived = t.elapsed();
        match msg {
            Incoming::Reply {
                from,
                seq,
                ttl,
                icmp_len,
                payload_ok,
            } => {
                let Some(sent) = seq_index(seq, sent_at.len()).and_then(|i| sent_at.get(i)) else {
                    continue; // not a request of this run
                };
                let rtt = arrived.saturating_sub(*sent).as_micros() as u64;
                let dup = !answered.insert(seq);
                if dup {
                    stats.duplicates += 1;
                } else {
                    stats.record_reply(rtt);
                }
                let mut line = ping_report::reply_line(icmp_len, from, seq, ttl, rtt, dup);
                if !payload_ok {
                    line.push_str(" (wrong data)");
                }
                writeln!(out, "{line}").map_err(io_err)?;
            }
            Incoming::Error { from, seq, what } => {
                stats.errors += 1;
                writeln!(out, "{}", ping_report::error_line(from, seq, &what)).map_err(io_err)?;
            }
        }
    }
    let elapsed = t.elapsed().saturating_sub(start).as_millis() as u64;
    writeln!(out, "{}", stats.summary(plan.dest, elapsed)).map_err(io_err)?;
    out.flush().map_err(io_err)?;
    Ok(stats)
}

/// The index into `sent_at` of the request with this 16-bit sequence
/// number: the most recent one that carries it.
fn seq_index(seq: u16, sent: usize) -> Option<usize> {
    if sent == 0 || seq == 0 && sent < 65536 {
        return None;
    }
    let last = sent - 1; // index of the newest request; its seq is (last+1) mod 2^16
    let newest_seq = ((last + 1) % 65536) as u16;
    let back = usize::from(newest_seq.wrapping_sub(seq));
    last.checked_sub(back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted peer in virtual time: replies to each request after a
    /// fixed delay unless its sequence number is in `drop`.
    struct Scripted {
        now: Duration,
        rtt: Duration,
        drop: Vec<u16>,
        dup: Vec<u16>,
        pending: VecDeque<(Duration, Incoming)>,
    }

    impl EchoTransport for Scripted {
        fn elapsed(&mut self) -> Duration {
            self.now
        }
        fn send_echo(&mut self, dst: Ipv4Addr, seq: u16, payload: &[u8]) -> Result<(), CliError> {
            if self.drop.contains(&seq) {
                return Ok(());
            }
            let reply = Incoming::Reply {
                from: dst,
                seq,
                ttl: 64,
                icmp_len: payload.len() + 8,
                payload_ok: true,
            };
            let at = self.now + self.rtt;
            if self.dup.contains(&seq) {
                self.pending.push_back((at, reply.clone()));
            }
            self.pending.push_back((at, reply));
            Ok(())
        }
        fn recv(&mut self, until: Duration) -> Result<Option<Incoming>, CliError> {
            match self.pending.front() {
                Some((at, _)) if *at <= until => {
                    let (at, msg) = self.pending.pop_front().expect("front exists");
                    self.now = self.now.max(at);
                    Ok(Some(msg))
                }
                _ => {
                    self.now = self.now.max(until);
                    Ok(None)
                }
            }
        }
    }

    fn scripted(drop: Vec<u16>, dup: Vec<u16>) -> Scripted {
        Scripted {
            now: Duration::ZERO,
            rtt: Duration::from_micros(250),
            drop,
            dup,
            pending: VecDeque::new(),
        }
    }

    fn plan(count: u32) -> PingPlan {
        PingPlan {
            dest: Ipv4Addr::new(198, 18, 0, 1),
            count,
            interval: Duration::from_secs(1),
            size: 56,
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn all_replies() {
        let mut t = scripted(vec![], vec![]);
        let mut out = Vec::new();
        let st = run(&mut t, &plan(3), &mut out, &|| false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "PING 198.18.0.1 (198.18.0.1) 56(84) bytes of data.\n\
             64 bytes from 198.18.0.1: icmp_seq=1 ttl=64 time=0.250 ms\n\
             64 bytes from 198.18.0.1: icmp_seq=2 ttl=64 time=0.250 ms\n\
             64 bytes from 198.18.0.1: icmp_seq=3 ttl=64 time=0.250 ms\n\
             \n--- 198.18.0.1 ping statistics ---\n\
             3 packets transmitted, 3 received, 0% packet loss, time 2000ms\n\
             rtt min/avg/max/mdev = 0.250/0.250/0.250/0.000 ms\n"
        );
        assert_eq!((st.transmitted, st.received), (3, 3));
    }

    #[test]
    fn loss_and_duplicates() {
        let mut t = scripted(vec![2], vec![3]);
        let mut out = Vec::new();
        let st = run(&mut t, &plan(4), &mut out, &|| false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("icmp_seq=3 ttl=64 time=0.250 ms (DUP!)"),
            "{text}"
        );
        assert!(!text.contains("icmp_seq=2 "), "{text}");
        assert!(
            text.contains("4 packets transmitted, 3 received, +1 duplicates, 25% packet loss"),
            "{text}"
        );
        assert_eq!((st.received, st.duplicates), (3, 1));
    }

    #[test]
    fn last_loss_waits_for_timeout_then_stops() {
        let mut t = scripted(vec![2], vec![]);
        let mut out = Vec::new();
        run(&mut t, &plan(2), &mut out, &|| false).unwrap();
        let text = String::from_utf8(out).unwrap();
        // Request 2 goes at 1 s; we give it 2 s (-W) and stop at 3 s.
        assert!(
            text.contains("2 packets transmitted, 1 received, 50% packet loss, time 3000ms"),
            "{text}"
        );
    }

    #[test]
    fn stop_prints_summary() {
        let mut t = scripted(vec![], vec![]);
        let mut out = Vec::new();
        let st = run(&mut t, &plan(100), &mut out, &|| true).unwrap();
        assert_eq!(st.transmitted, 0);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("0 packets transmitted, 0 received, 0% packet loss"),
            "{text}"
        );
    }

    #[test]
    fn sequence_numbers_map_back_after_wrap() {
        assert_eq!(seq_index(1, 1), Some(0));
        assert_eq!(seq_index(2, 1), None);
        assert_eq!(seq_index(0, 0), None);
        assert_eq!(seq_index(0, 65536), Some(65535));
        assert_eq!(seq_index(1, 65537), Some(65536));
        assert_eq!(seq_index(65535, 65537), Some(65534));
    }
}

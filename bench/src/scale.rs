//! `scale`: with N idle connections open, the CPU cost of one idle step
//! (both stacks polled, nothing to do) and of a 1-byte round trip on one
//! of them. A stack whose setup passes the time bound stops and says so.
//!
//! sockstack's round trip: 5 rounds of 1001 pings, each ping on a different
//! connection (cold at large N), timed one by one with the wall clock and
//! followed by an untimed settle; the figure is the lowest round median.
//! Every connection has exchanged one byte each way before (untimed), so a
//! timed ping is a repeat exchange at every N.
//! The idle step is the median of 21 batches of 2000 steps (CPU time).

use std::time::{Duration, Instant as Wall};

use smoltcp::socket::tcp as stcp;
use sockstack_proto::{RecvError, SocketHandle};

use crate::link::Cpu;
use crate::many;
use crate::report::{median, Row};
use crate::smol::SmolPair;
use crate::ss::SsPair;
use crate::Opts;

const BUF: usize = 4096;
/// Round trips per round (at most one per connection per round), and
/// rounds: the figure is the lowest of the rounds' medians. A single
/// median of 21 pings timed with the CPU-time clock gave 3.1-6.4 µs at 1k
/// from run to run.
const PINGS: usize = 1001;
const ROUNDS: usize = 5;
/// Smoltcp's step is linear in N: fewer pings there.
const SMOL_PINGS: usize = 21;
/// Prime, so `k * STRIDE % N` visits distinct connections for N = 10^k.
const STRIDE: usize = 7919;
const IDLE_BATCHES: usize = 21;
const IDLE_STEPS: usize = 2000;

/// (µs per idle step, µs per round trip, steps per round trip)
type Figures = (f64, f64, f64);

pub fn run(o: &Opts) -> Vec<Row> {
    let one = env_usize("SOCKSTACK_SCALE_N");
    let sizes: &[usize] = if let Some(n) = one.as_ref() {
        std::slice::from_ref(n)
    } else if o.quick {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    let bound = Duration::from_secs(if o.quick { 5 } else { 60 });
    let mut rows = Vec::new();
    let mut smol_stopped: Option<String> = None;
    for &n in sizes {
        let label = if n >= 1_000_000 {
            format!("{}M", n / 1_000_000)
        } else {
            format!("{}k", n / 1000)
        };
        let mut idle = Row::new(
            format!("scale idle step {label}"),
            "us/step",
            false,
            "smoltcp",
        );
        let mut rtt = Row::new(format!("scale 1-byte rtt {label}"), "us", false, "smoltcp");
        let mut notes = Vec::new();
        if o.ss() {
            match ss_scale(n, Wall::now() + bound * 3, bound * 3) {
                Ok((i, r, s)) => {
                    eprintln!("  scale {label} sockstack: idle {i:.2} us/step, rtt {r:.1} us in {s} steps");
                    idle.sockstack = Some(i);
                    rtt.sockstack = Some(r);
                }
                Err(e) => notes.push(format!("sockstack {e}")),
            }
        }
        if o.smol() {
            if let Some(e) = &smol_stopped {
                notes.push(format!("smoltcp not run ({e} at a smaller N)"));
            } else {
                match smol_scale(n, Wall::now() + bound, bound) {
                    Ok((i, r, s)) => {
                        eprintln!("  scale {label} smoltcp: idle {i:.2} us/step, rtt {r:.1} us in {s} steps");
                        idle.peer_value = Some(i);
                        rtt.peer_value = Some(r);
                    }
                    Err(e) => {
                        eprintln!("  scale {label} smoltcp: {e}");
                        notes.push(format!("smoltcp {e}"));
                        smol_stopped = Some("stopped".into());
                    }
                }
            }
        }
        idle.note = notes.join("; ");
        rtt.note = idle.note.clone();
        rows.push(idle);
        rows.push(rtt);
    }
    rows
}

/// Connections per batch of the first exchange.
const EXCHANGE_BATCH: usize = 2000;

/// One byte each way on every connection before anything is timed, the
/// reply sent as soon as the request is read (as `ss_ping` does), so that
/// every timed ping is a repeat exchange at every N. At 1k the rounds come
/// back to the same connections and at 1M they never do; without this the
/// two would time different exchanges: a connection's first request gets a
/// quick ACK of its own, a later one (ping-pong mode, as in Linux) rides
/// on the reply.
fn ss_first_exchange(
    p: &mut SsPair,
    conns: &[(SocketHandle, SocketHandle)],
    deadline: Wall,
) -> Result<(), String> {
    let mut b = [0u8; 8];
    for chunk in conns.chunks(EXCHANGE_BATCH) {
        for &(c, _) in chunk {
            p.a.sockets_mut()
                .send(c, b"p")
                .map_err(|e| format!("first send: {e:?}"))?;
        }
        // 0: request in flight, 1: replied, 2: reply read.
        let mut stage = vec![0u8; chunk.len()];
        let mut left = chunk.len();
        let mut steps = 0u32;
        while left > 0 {
            p.step();
            for (st, &(c, s)) in stage.iter_mut().zip(chunk) {
                if *st == 0 && p.b.sockets_mut().recv(s, &mut b).is_ok() {
                    p.b.sockets_mut()
                        .send(s, b"q")
                        .map_err(|e| format!("first reply: {e:?}"))?;
                    *st = 1;
                } else if *st == 1 && p.a.sockets_mut().recv(c, &mut b).is_ok() {
                    *st = 2;
                    left -= 1;
                }
            }
            steps += 1;
            exchange_bound(steps, left, conns.len(), deadline)?;
        }
        many::ss_settle(p, 1_000_000);
    }
    Ok(())
}

/// The first exchange's bounds: wall time (the stack is too slow at this
/// N, said like a setup that stops) and steps (a batch that cannot finish).
fn exchange_bound(steps: u32, left: usize, n: usize, deadline: Wall) -> Result<(), String> {
    if Wall::now() > deadline {
        return Err(format!(
            "stopped: the first exchange on {n} connections exceeded the time bound"
        ));
    }
    if steps > 100_000 {
        return Err(format!("first exchange: {left} of a batch unanswered"));
    }
    Ok(())
}

/// `ss_first_exchange` for smoltcp, so both stacks time the same pings.
fn smol_first_exchange(
    p: &mut SmolPair,
    conns: &[(smoltcp::iface::SocketHandle, smoltcp::iface::SocketHandle)],
    deadline: Wall,
) -> Result<(), String> {
    let mut b = [0u8; 8];
    for chunk in conns.chunks(EXCHANGE_BATCH) {
        for &(c, _) in chunk {
            p.sa.get_mut::<stcp::Socket>(c)
                .send_slice(b"p")
                .map_err(|e| format!("first send: {e:?}"))?;
        }
        let mut stage = vec![0u8; chunk.len()];
        let mut left = chunk.len();
        let mut steps = 0u32;
        while left > 0 {
            p.step();
            for (st, &(c, s)) in stage.iter_mut().zip(chunk) {
                if *st == 0 && p.sb.get::<stcp::Socket>(s).can_recv() {
                    let sock = p.sb.get_mut::<stcp::Socket>(s);
                    let _ = sock.recv_slice(&mut b);
                    sock.send_slice(b"q")
                        .map_err(|e| format!("first reply: {e:?}"))?;
                    *st = 1;
                } else if *st == 1 && p.sa.get::<stcp::Socket>(c).can_recv() {
                    let _ = p.sa.get_mut::<stcp::Socket>(c).recv_slice(&mut b);
                    *st = 2;
                    left -= 1;
                }
            }
            steps += 1;
            exchange_bound(steps, left, conns.len(), deadline)?;
        }
        many::smol_settle(p, 1_000_000);
    }
    Ok(())
}

/// Profiling aids: `SOCKSTACK_SCALE_N` measures that one N,
/// `SOCKSTACK_SCALE_PINGS` overrides the sockstack ping count.
fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

fn ss_scale(n: usize, deadline: Wall, bound: Duration) -> Result<Figures, String> {
    let mut p = SsPair::new(0, 11);
    let conns = many::ss_many(&mut p, n, BUF, deadline)?;
    ss_first_exchange(&mut p, &conns, Wall::now() + bound)?;
    many::ss_settle(&mut p, 2_000_000);
    // Idle steps: the median of IDLE_BATCHES batches, so that a preemption
    // or a burst of load on the shared machine spoils one batch, not the figure.
    let mut idle = Vec::with_capacity(IDLE_BATCHES);
    for _ in 0..IDLE_BATCHES {
        let t = Cpu::start();
        for _ in 0..IDLE_STEPS {
            p.step();
        }
        idle.push(t.secs() * 1e6 / IDLE_STEPS as f64);
    }
    let idle = median(idle).unwrap_or(f64::NAN);
    let pings = env_usize("SOCKSTACK_SCALE_PINGS")
        .unwrap_or(PINGS)
        .min(conns.len());
    let mut rounds = Vec::with_capacity(ROUNDS);
    let mut step_counts = Vec::with_capacity(pings * ROUNDS);
    for r in 0..ROUNDS {
        let mut rtts = Vec::with_capacity(pings);
        for k in r * pings..(r + 1) * pings {
            // A different connection each time: the stride is prime to every
            // N measured, so the first N pings are distinct (at 1k every
            // round visits each connection once, 999 pings after the last).
            let Some(&(c, s)) = conns.get((k * STRIDE) % conns.len()) else {
                break;
            };
            let (us, st) = ss_ping(&mut p, c, s)?;
            rtts.push(us);
            step_counts.push(f64::from(st));
            // Delayed ACKs go out before the next ping (not timed).
            many::ss_settle(&mut p, 1_000_000);
        }
        rounds.push(median(rtts).unwrap_or(f64::NAN));
    }
    let shown: Vec<String> = rounds.iter().map(|r| format!("{r:.2}")).collect();
    eprintln!("  scale {n}: rtt round medians {} us", shown.join(" "));
    // The quietest round: load from other processes only ever adds time.
    let rtt = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((idle, rtt, median(step_counts).unwrap_or(f64::NAN)))
}

/// One timed round trip: "p" from `c` to `s`, "q" back. Returns the wall
/// time in µs and the steps taken. Wall time read through the vDSO costs
/// ~30 ns; the thread CPU-time clock is a system call here (~0.4 µs per
/// read on this VM), a tenth of a round trip. A preempted sample is an
/// outlier that the median of many pings ignores.
#[inline(never)]
fn ss_ping(p: &mut SsPair, c: SocketHandle, s: SocketHandle) -> Result<(f64, u32), String> {
    let t = Wall::now();
    let mut st = 0u32;
    p.a.sockets_mut()
        .send(c, b"p")
        .map_err(|e| format!("ping send: {e:?}"))?;
    ss_step_until_recv(p, true, s, &mut st, 10_000, "ping")?;
    p.b.sockets_mut()
        .send(s, b"q")
        .map_err(|e| format!("pong send: {e:?}"))?;
    ss_step_until_recv(p, false, c, &mut st, 20_000, "pong")?;
    Ok((t.elapsed().as_secs_f64() * 1e6, st))
}

/// Steps the pair until `h` (on side b when `at_b`, else a) has received
/// its byte; `st` counts the steps, bounded by `limit`.
#[inline(always)]
fn ss_step_until_recv(
    p: &mut SsPair,
    at_b: bool,
    h: SocketHandle,
    st: &mut u32,
    limit: u32,
    what: &str,
) -> Result<(), String> {
    let mut b = [0u8; 8];
    loop {
        p.step();
        *st += 1;
        let side = if at_b { &mut p.b } else { &mut p.a };
        match side.sockets_mut().recv(h, &mut b) {
            Ok(_) => return Ok(()),
            Err(RecvError::WouldBlock) if *st < limit => {}
            Err(e) => return Err(format!("{what} recv: {e:?}")),
        }
    }
}

fn smol_scale(n: usize, deadline: Wall, bound: Duration) -> Result<Figures, String> {
    let mut p = SmolPair::new(0, 11);
    let conns = many::smol_many(&mut p, n, BUF, deadline)?;
    smol_first_exchange(&mut p, &conns, Wall::now() + bound)?;
    many::smol_settle(&mut p, 2_000_000);
    // Enough idle steps to measure, bounded in time.
    let t = Cpu::start();
    let mut steps = 0u32;
    while steps < 2000 && (steps < 10 || t.secs() < 2.0) {
        p.step();
        steps += 1;
    }
    let idle = t.secs() * 1e6 / f64::from(steps);
    let mut rtts = Vec::new();
    let mut step_counts = Vec::new();
    let mut b = [0u8; 8];
    let pings = if idle > 10_000.0 { 5 } else { SMOL_PINGS };
    for k in 0..pings {
        let Some(&(c, s)) = conns.get((k * STRIDE) % conns.len()) else {
            break;
        };
        let t = Wall::now();
        let mut st = 0u32;
        p.sa.get_mut::<stcp::Socket>(c)
            .send_slice(b"p")
            .map_err(|e| format!("ping send: {e:?}"))?;
        loop {
            p.step();
            st += 1;
            let sock = p.sb.get_mut::<stcp::Socket>(s);
            if sock.can_recv() {
                let _ = sock.recv_slice(&mut b);
                break;
            }
            if st > 10_000 {
                return Err("ping lost".into());
            }
        }
        p.sb.get_mut::<stcp::Socket>(s)
            .send_slice(b"q")
            .map_err(|e| format!("pong send: {e:?}"))?;
        loop {
            p.step();
            st += 1;
            let sock = p.sa.get_mut::<stcp::Socket>(c);
            if sock.can_recv() {
                let _ = sock.recv_slice(&mut b);
                break;
            }
            if st > 20_000 {
                return Err("pong lost".into());
            }
        }
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
        step_counts.push(f64::from(st));
        many::smol_settle(&mut p, 1_000_000);
    }
    Ok((
        idle,
        median(rtts).unwrap_or(f64::NAN),
        median(step_counts).unwrap_or(f64::NAN),
    ))
}

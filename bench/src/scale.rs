//! `scale`: with N idle connections open, the CPU cost of one idle step
//! (both stacks polled, nothing to do) and of a 1-byte round trip on one
//! of them. A stack whose setup passes the time bound stops and says so.

use std::time::{Duration, Instant as Wall};

use smoltcp::socket::tcp as stcp;
use sockstack_proto::RecvError;

use crate::link::Cpu;
use crate::many;
use crate::report::{median, Row};
use crate::smol::SmolPair;
use crate::ss::SsPair;
use crate::Opts;

const BUF: usize = 4096;
const PINGS: usize = 21;

/// (µs per idle step, µs per round trip, steps per round trip)
type Figures = (f64, f64, f64);

pub fn run(o: &Opts) -> Vec<Row> {
    let sizes: &[usize] = if o.quick {
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
            match ss_scale(n, Wall::now() + bound * 3) {
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
                match smol_scale(n, Wall::now() + bound) {
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

fn ss_scale(n: usize, deadline: Wall) -> Result<Figures, String> {
    let mut p = SsPair::new(0, 11);
    let conns = many::ss_many(&mut p, n, BUF, deadline)?;
    many::ss_settle(&mut p, 2_000_000);
    // Idle steps.
    let steps = 2000;
    let t = Cpu::start();
    for _ in 0..steps {
        p.step();
    }
    let idle = t.secs() * 1e6 / steps as f64;
    let mut rtts = Vec::new();
    let mut step_counts = Vec::new();
    let mut b = [0u8; 8];
    for k in 0..PINGS {
        let Some(&(c, s)) = conns.get((k * 7919) % conns.len()) else {
            break;
        };
        let t = Cpu::start();
        let mut st = 0u32;
        p.a.sockets_mut()
            .send(c, b"p")
            .map_err(|e| format!("ping send: {e:?}"))?;
        loop {
            p.step();
            st += 1;
            match p.b.sockets_mut().recv(s, &mut b) {
                Ok(_) => break,
                Err(RecvError::WouldBlock) if st < 10_000 => {}
                Err(e) => return Err(format!("ping recv: {e:?}")),
            }
        }
        p.b.sockets_mut()
            .send(s, b"q")
            .map_err(|e| format!("pong send: {e:?}"))?;
        loop {
            p.step();
            st += 1;
            match p.a.sockets_mut().recv(c, &mut b) {
                Ok(_) => break,
                Err(RecvError::WouldBlock) if st < 20_000 => {}
                Err(e) => return Err(format!("pong recv: {e:?}")),
            }
        }
        rtts.push(t.secs() * 1e6);
        step_counts.push(f64::from(st));
        many::ss_settle(&mut p, 1_000_000);
    }
    Ok((
        idle,
        median(rtts).unwrap_or(f64::NAN),
        median(step_counts).unwrap_or(f64::NAN),
    ))
}

fn smol_scale(n: usize, deadline: Wall) -> Result<Figures, String> {
    let mut p = SmolPair::new(0, 11);
    let conns = many::smol_many(&mut p, n, BUF, deadline)?;
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
    let pings = if idle > 10_000.0 { 5 } else { PINGS };
    for k in 0..pings {
        let Some(&(c, s)) = conns.get((k * 7919) % conns.len()) else {
            break;
        };
        let t = Cpu::start();
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
        rtts.push(t.secs() * 1e6);
        step_counts.push(f64::from(st));
        many::smol_settle(&mut p, 1_000_000);
    }
    Ok((
        idle,
        median(rtts).unwrap_or(f64::NAN),
        median(step_counts).unwrap_or(f64::NAN),
    ))
}

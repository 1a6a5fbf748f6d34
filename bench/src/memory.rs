//! `memory`: heap bytes per idle connection pair (both ends, one in each
//! stack) at equal buffer settings (4 KiB receive and send buffers), after
//! the handshake and one byte each way, measured by the counting global
//! allocator. Everything the pair holds is charged, divided by N.
//!
//! The figure depends on N through the capacity of the stacks' tables: a
//! socket slot is ~1.2 KiB (the connection lives inline), so slot-arena
//! capacity left empty shows up per pair. While the arena doubled, 10k pairs
//! (10001 sockets on the server) sat in 16384 slots per stack and read 4413
//! B/pair against 2904 at the `--quick` 2k (2048 slots); the arena now grows
//! by a quarter, and the figure reads ~2.9-3.1 KB at any N. The row's note
//! gives the ring bytes still held, 0 once the idle release has run.

use std::time::{Duration, Instant as Wall};

use smoltcp::socket::tcp as stcp;
use sockstack_proto::RecvError;

use crate::alloc;
use crate::many;
use crate::report::Row;
use crate::smol::SmolPair;
use crate::ss::SsPair;
use crate::Opts;

const BUF: usize = 4096;

pub fn run(o: &Opts) -> Vec<Row> {
    let n = if o.quick { 2_000 } else { 10_000 };
    let deadline = Wall::now() + Duration::from_secs(120);
    let mut row = Row::new(
        format!("memory {}k idle, 4KiB bufs", n / 1000),
        "B/conn pair",
        false,
        "smoltcp",
    );
    let mut notes = Vec::new();
    if o.ss() {
        match ss_mem(n, deadline) {
            Ok((v, note)) => {
                row.sockstack = Some(v);
                notes.push(note);
            }
            Err(e) => notes.push(format!("sockstack: {e}")),
        }
    }
    if o.smol() {
        match smol_mem(n, deadline) {
            Ok(v) => row.peer_value = Some(v),
            Err(e) => notes.push(format!("smoltcp: {e}")),
        }
    }
    row.note = notes.join("; ");
    let mut rows = vec![row];
    if o.ss() {
        rows.extend(ss_after_traffic(n / 4, deadline));
    }
    rows
}

/// sockstack only (issue 7, shrink when idle): pairs with default
/// (autotuned) buffers each move 64 KiB one way; bytes per pair right
/// after the reads, and again after 3 s of virtual idle time, when the
/// idle release has given the ring memory back.
fn ss_after_traffic(n: usize, deadline: Wall) -> Vec<Row> {
    let label = |what: &str| {
        let mut r = Row::new(
            format!("memory {n} {what} after 64KiB moved, default bufs"),
            "B/conn pair",
            false,
            "smoltcp",
        );
        r.note = "sockstack only".into();
        r
    };
    let (mut busy, mut idle) = (label("busy"), label("idle"));
    match ss_traffic_mem(n, deadline) {
        Ok((b, i)) => {
            busy.sockstack = Some(b);
            idle.sockstack = Some(i);
        }
        Err(e) => {
            busy.note = format!("sockstack: {e}");
            idle.note = busy.note.clone();
        }
    }
    vec![busy, idle]
}

fn ss_traffic_mem(n: usize, deadline: Wall) -> Result<(f64, f64), String> {
    const MOVE: usize = 64 * 1024;
    let before = alloc::live_bytes();
    let mut p = SsPair::new(0, 4);
    let conns = many::ss_many(&mut p, n, 0, deadline)?;
    let held = conns.capacity() * std::mem::size_of_val(conns.first().ok_or("none")?);
    let chunk = vec![0x5au8; MOVE];
    let mut sent = vec![0usize; conns.len()];
    let mut got = vec![0usize; conns.len()];
    let mut b = vec![0u8; MOVE];
    let mut steps = 0u32;
    while got.iter().any(|&g| g < MOVE) {
        for (k, &(c, s)) in conns.iter().enumerate() {
            if let Ok(m) = p.a.sockets_mut().send(c, &chunk[sent[k]..]) {
                sent[k] += m;
            }
            while let Ok(m) = p.b.sockets_mut().recv(s, &mut b) {
                got[k] += m;
            }
        }
        p.step_or_skip();
        steps += 1;
        if steps > 1_000_000 || Wall::now() > deadline {
            return Err("64 KiB transfers did not finish".into());
        }
    }
    // The harness's own scratch is not the stack's.
    let held = held + chunk.capacity() + b.capacity() + 8 * (sent.capacity() + got.capacity());
    p.ab.drop_spares();
    p.ba.drop_spares();
    let busy = alloc::live_bytes()
        .saturating_sub(before)
        .saturating_sub(held);
    many::ss_settle(&mut p, 3_000_000);
    p.ab.drop_spares();
    p.ba.drop_spares();
    let idle = alloc::live_bytes()
        .saturating_sub(before)
        .saturating_sub(held);
    drop(p);
    drop(b);
    Ok((busy as f64 / n as f64, idle as f64 / n as f64))
}

fn ss_mem(n: usize, deadline: Wall) -> Result<(f64, String), String> {
    let before = alloc::live_bytes();
    let mut p = SsPair::new(0, 3);
    let conns = many::ss_many(&mut p, n, BUF, deadline)?;
    for &(c, _) in &conns {
        p.a.sockets_mut()
            .send(c, b"x")
            .map_err(|e| format!("send: {e:?}"))?;
    }
    many::ss_settle(&mut p, 1_000_000);
    let mut b = [0u8; 8];
    for &(_, s) in &conns {
        match p.b.sockets_mut().recv(s, &mut b) {
            Ok(_) => {
                let _ = p.b.sockets_mut().send(s, b"y");
            }
            Err(RecvError::WouldBlock) => return Err("byte not delivered".into()),
            Err(e) => return Err(format!("recv: {e:?}")),
        }
    }
    many::ss_settle(&mut p, 1_000_000);
    for &(c, _) in &conns {
        let _ = p.a.sockets_mut().recv(c, &mut b);
    }
    many::ss_settle(&mut p, 1_000_000);
    let held = conns.capacity() * std::mem::size_of_val(conns.first().ok_or("none")?);
    p.ab.drop_spares();
    p.ba.drop_spares();
    let after = alloc::live_bytes();
    let (ta, tb) = (p.a.sockets().mem_totals(), p.b.sockets().mem_totals());
    let rings = ta.rcv_alloc + ta.snd_alloc + tb.rcv_alloc + tb.snd_alloc;
    let note = format!(
        "sockstack rings {} B/pair, {} idle releases",
        rings / n,
        ta.idle_releases + tb.idle_releases
    );
    drop(p);
    let v = after.saturating_sub(before).saturating_sub(held) as f64 / n as f64;
    Ok((v, note))
}

fn smol_mem(n: usize, deadline: Wall) -> Result<f64, String> {
    let before = alloc::live_bytes();
    let mut p = SmolPair::new(0, 3);
    let conns = many::smol_many(&mut p, n, BUF, deadline)?;
    for &(c, _) in &conns {
        p.sa.get_mut::<stcp::Socket>(c)
            .send_slice(b"x")
            .map_err(|e| format!("send: {e:?}"))?;
    }
    many::smol_settle(&mut p, 1_000_000);
    let mut b = [0u8; 8];
    for &(_, s) in &conns {
        let sock = p.sb.get_mut::<stcp::Socket>(s);
        if !sock.can_recv() {
            return Err("byte not delivered".into());
        }
        let _ = sock.recv_slice(&mut b);
        let _ = sock.send_slice(b"y");
    }
    many::smol_settle(&mut p, 1_000_000);
    for &(c, _) in &conns {
        let _ = p.sa.get_mut::<stcp::Socket>(c).recv_slice(&mut b);
    }
    many::smol_settle(&mut p, 1_000_000);
    let held = conns.capacity() * std::mem::size_of_val(conns.first().ok_or("none")?);
    p.ab.drop_spares();
    p.ba.drop_spares();
    let after = alloc::live_bytes();
    drop(p);
    Ok(after.saturating_sub(before).saturating_sub(held) as f64 / n as f64)
}

//! `conn-rate`: open, 1 byte each way, close; N connections with K in
//! flight at once. The client closes first (it holds TIME_WAIT).
//!
//! smoltcp has no accept queue: the server keeps K sockets listening and
//! replaces each one that takes a connection; a client socket is removed
//! once it reaches TIME_WAIT (smoltcp would otherwise hold it 10 s), so
//! smoltcp does not pay for TIME_WAIT state while sockstack keeps it.

use smoltcp::socket::tcp::{self as stcp, State as SState};
use sockstack_proto::{RecvError, SocketHandle};

use crate::link::Cpu;
use crate::report::{set_runs, Row};
use crate::smol::{self, SmolPair};
use crate::ss::{self, SsPair};
use crate::Opts;

/// Connections in flight.
const K: usize = 100;
/// Server ports (sockstack: TIME_WAIT holds tuples, 8 x 28k > 100k).
const PORTS: u16 = 8;
const BASE: u16 = 6000;
const BUF: usize = 4096;

pub fn run(o: &Opts) -> Vec<Row> {
    let n = if o.quick { 20_000 } else { 100_000 };
    let mut row = Row::new(
        format!("conn-rate {}k", n / 1000),
        "conn/s",
        true,
        "smoltcp",
    );
    let (mut a, mut b, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    // Frames on the wire per connection, from the last run of each.
    let (mut fa, mut fb) = (None, None);
    for _ in 0..o.runs {
        if o.ss() {
            match ss_rate(n) {
                Ok((v, f)) => {
                    a.push(v);
                    fa = Some(f);
                }
                Err(e) => notes.push(format!("sockstack: {e}")),
            }
        }
        if o.smol() {
            match smol_rate(n) {
                Ok((v, f)) => {
                    b.push(v);
                    fb = Some(f);
                }
                Err(e) => notes.push(format!("smoltcp: {e}")),
            }
        }
    }
    if let (Some(fa), Some(fb)) = (fa, fb) {
        notes.push(format!("frames per connection: {fa:.2} vs {fb:.2}"));
    }
    eprintln!("  conn-rate sockstack {a:.0?} smoltcp {b:.0?}");
    set_runs(&mut row, a, b);
    notes.dedup();
    row.note = notes.join("; ");
    vec![row]
}

/// Connections per CPU second, and frames per connection.
#[inline(never)]
fn ss_rate(n: usize) -> Result<(f64, f64), String> {
    let mut p = SsPair::new(0, 7);
    let mut listeners = Vec::new();
    for i in 0..PORTS {
        let sb = p.b.sockets_mut();
        let l = sb.tcp_socket().ok_or("socket")?;
        sb.set_recv_buffer_size(l, BUF).map_err(|_| "rcvbuf")?;
        sb.set_send_buffer_size(l, BUF).map_err(|_| "sndbuf")?;
        sb.bind(l, ss::ADDR_B, BASE + i)
            .map_err(|e| format!("bind: {e:?}"))?;
        sb.listen(l, 4096).map_err(|e| format!("listen: {e:?}"))?;
        listeners.push(l);
    }
    // Client slots: (handle, sent its byte).
    let mut clients: Vec<(SocketHandle, bool)> = Vec::with_capacity(K);
    // Server children: (handle, replied).
    let mut servers: Vec<(SocketHandle, bool)> = Vec::with_capacity(K * 2);
    let (mut started, mut done) = (0usize, 0usize);
    let mut b1 = [0u8; 16];
    let mut stuck = 0u32;
    let t = Cpu::start();
    while done < n {
        // Open new connections up to K in flight.
        while clients.len() < K && started < n {
            let now = p.now();
            let sa = p.a.sockets_mut();
            let c = sa.tcp_socket().ok_or("socket table full")?;
            let _ = sa.set_recv_buffer_size(c, BUF);
            let _ = sa.set_send_buffer_size(c, BUF);
            let port = BASE + (started % PORTS as usize) as u16;
            sa.connect(now, c, ss::ADDR_B, port)
                .map_err(|e| format!("connect #{started}: {e:?}"))?;
            clients.push((c, false));
            started += 1;
        }
        let moved = p.step_or_skip();
        let before = done;
        let sb = p.b.sockets_mut();
        for &l in &listeners {
            while let Ok(ch) = sb.accept(l) {
                servers.push((ch, false));
            }
        }
        servers.retain_mut(|(h, replied)| {
            if !*replied {
                match sb.recv(*h, &mut b1) {
                    Ok(_) => {
                        let _ = sb.send(*h, b"y");
                        *replied = true;
                    }
                    Err(RecvError::WouldBlock) => return true,
                    Err(_) => {
                        let _ = sb.close(*h);
                        return false;
                    }
                }
            }
            match sb.recv(*h, &mut b1) {
                Err(RecvError::WouldBlock) => true,
                _ => {
                    let _ = sb.close(*h);
                    false
                }
            }
        });
        let sa = p.a.sockets_mut();
        clients.retain_mut(|(h, sent)| {
            if !*sent {
                if sa.writable(*h) && sa.send(*h, b"x").is_ok() {
                    *sent = true;
                }
                return true;
            }
            match sa.recv(*h, &mut b1) {
                Err(RecvError::WouldBlock) => true,
                _ => {
                    let _ = sa.close(*h);
                    done += 1;
                    false
                }
            }
        });
        stuck = if done == before && moved == 0 {
            stuck + 1
        } else {
            0
        };
        if stuck > 100_000 {
            return Err(format!("stalled after {done} connections"));
        }
    }
    let secs = t.secs();
    let frames = p.ab.delivered + p.ba.delivered + p.ab.dropped + p.ba.dropped;
    Ok((n as f64 / secs, frames as f64 / n as f64))
}

/// `ss_rate` for smoltcp.
#[inline(never)]
fn smol_rate(n: usize) -> Result<(f64, f64), String> {
    let mut p = SmolPair::new(0, 7);
    let listen = |p: &mut SmolPair| -> Result<smoltcp::iface::SocketHandle, String> {
        let mut s = smol::socket(BUF, BUF);
        s.listen(BASE).map_err(|e| format!("listen: {e:?}"))?;
        Ok(p.sb.add(s))
    };
    let mut listening = Vec::with_capacity(K);
    for _ in 0..K {
        listening.push(listen(&mut p)?);
    }
    let mut clients: Vec<(smoltcp::iface::SocketHandle, bool)> = Vec::with_capacity(K);
    let mut servers: Vec<(smoltcp::iface::SocketHandle, bool)> = Vec::with_capacity(K * 2);
    let (mut started, mut done) = (0usize, 0usize);
    let mut b1 = [0u8; 16];
    let mut stuck = 0u32;
    let t = Cpu::start();
    while done < n {
        while clients.len() < K && started < n {
            let c = p.sa.add(smol::socket(BUF, BUF));
            let lport = 1024 + (started % 64_000) as u16;
            let cx = p.ia.context();
            p.sa.get_mut::<stcp::Socket>(c)
                .connect(cx, (smol::ADDR_B, BASE), lport)
                .map_err(|e| format!("connect: {e:?}"))?;
            clients.push((c, false));
            started += 1;
        }
        let moved = p.step_or_skip();
        let before = done;
        // "accept": listening sockets that left LISTEN become children.
        let mut taken = 0;
        listening.retain(|&h| {
            if p.sb.get::<stcp::Socket>(h).state() == SState::Listen {
                true
            } else {
                servers.push((h, false));
                taken += 1;
                false
            }
        });
        for _ in 0..taken {
            listening.push(listen(&mut p)?);
        }
        let sb = &mut p.sb;
        servers.retain_mut(|(h, replied)| {
            let s = sb.get_mut::<stcp::Socket>(*h);
            if !*replied && s.can_recv() {
                let _ = s.recv_slice(&mut b1);
                let _ = s.send_slice(b"y");
                *replied = true;
            }
            if *replied && !s.may_recv() && s.state() == SState::CloseWait {
                s.close();
            }
            if s.state() == SState::Closed {
                sb.remove(*h);
                return false;
            }
            true
        });
        let sa = &mut p.sa;
        clients.retain_mut(|(h, sent)| {
            let s = sa.get_mut::<stcp::Socket>(*h);
            if !*sent {
                if s.may_send() && s.send_slice(b"x").is_ok() {
                    *sent = true;
                }
                return true;
            }
            if s.can_recv() {
                let _ = s.recv_slice(&mut b1);
                s.close();
            }
            match s.state() {
                SState::TimeWait | SState::Closed => {
                    sa.remove(*h);
                    done += 1;
                    false
                }
                _ => true,
            }
        });
        stuck = if done == before && moved == 0 {
            stuck + 1
        } else {
            0
        };
        if stuck > 100_000 {
            return Err(format!("stalled after {done} connections"));
        }
    }
    let secs = t.secs();
    let frames = p.ab.delivered + p.ba.delivered + p.ab.dropped + p.ba.dropped;
    Ok((n as f64 / secs, frames as f64 / n as f64))
}

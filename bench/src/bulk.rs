//! `bulk` and `bulk-impaired`: one connection moves N bytes one way with
//! 64 KiB application writes and reads. Throughput is bytes received per
//! wall-clock second from the first write to the last byte read.

use sockstack_proto::{RecvError, SocketHandle};

use crate::alloc;
use crate::link::Cpu;
use crate::report::{median, set_runs, Row};
use crate::smol::{self, SmolPair};
use crate::ss::{self, SsPair};
use crate::Opts;

const APP_IO: usize = 64 * 1024;
const PORT: u16 = 5001;
/// Steps without a received byte before a run counts as stalled.
const STALL_STEPS: u64 = 2_000_000;

/// What a run measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub secs: f64,
    pub bytes: usize,
    pub frames: u64,
    pub dropped: u64,
    /// Virtual seconds the transfer took on the fake clock.
    pub vsecs: f64,
    /// Heap allocations per frame (the link model recycles its buffers, so
    /// all of them are the stack's or the application loop's).
    pub allocs_per_frame: f64,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.secs
    }
}

pub fn run(o: &Opts, impaired: bool) -> Vec<Row> {
    let (loss, name) = if impaired {
        (10_000, "bulk-impaired")
    } else {
        (0, "bulk")
    };
    let size = o.size.unwrap_or(match (o.quick, impaired) {
        (true, false) => 128 << 20,
        (true, true) => 16 << 20,
        (false, false) => 1 << 30,
        (false, true) => 128 << 20,
    });
    let mut rows = Vec::new();
    for buf in [64 * 1024, 1 << 20] {
        let label = format!("{name} {}", if buf == 65536 { "64KiB" } else { "1MiB" });
        let mut row = Row::new(label.clone(), "MB/s", true, "smoltcp");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        let mut notes = Vec::new();
        for i in 0..o.runs {
            let seed = 1 + i as u64;
            if o.ss() {
                match ss_bulk(size, buf, loss, seed) {
                    Ok(r) => {
                        eprintln!(
                            "  {label} sockstack run {i}: {:.0} MB/s ({} frames, {} lost, {:.2} allocs/frame)",
                            r.rate() / 1e6,
                            r.frames,
                            r.dropped,
                            r.allocs_per_frame
                        );
                        a.push(r.rate() / 1e6);
                        va.push(r.bytes as f64 / r.vsecs / 1e6);
                    }
                    Err(e) => notes.push(format!("sockstack: {e}")),
                }
            }
            if o.smol() {
                match smol_bulk(size, buf, loss, seed) {
                    Ok(r) => {
                        eprintln!(
                            "  {label} smoltcp run {i}: {:.0} MB/s ({} frames, {} lost, {:.2} allocs/frame)",
                            r.rate() / 1e6,
                            r.frames,
                            r.dropped,
                            r.allocs_per_frame
                        );
                        b.push(r.rate() / 1e6);
                        vb.push(r.bytes as f64 / r.vsecs / 1e6);
                    }
                    Err(e) => notes.push(format!("smoltcp: {e}")),
                }
            }
        }
        if !impaired {
            let mut fl = Vec::new();
            for _ in 0..o.runs {
                let (secs, _) = crate::floor::floor_bulk(size, buf);
                fl.push(size as f64 / secs / 1e6);
            }
            eprintln!("  {label} floor {fl:.0?}");
            if let (Some(f), Some(p)) = (median(fl), median(b.clone())) {
                notes.push(format!(
                    "copies and checksums alone: {f:.0} MB/s ({:.2}x smoltcp)",
                    f / p
                ));
            }
        }
        set_runs(&mut row, a, b);
        notes.dedup();
        row.note = notes.join("; ");
        if impaired {
            let mut v = Row::new(format!("{label} virtual-time"), "MB/s", true, "smoltcp");
            v.sockstack = median(va);
            v.peer_value = median(vb);
            v.note = "goodput on the fake clock: loss recovery, not CPU".into();
            rows.push(row);
            rows.push(v);
        } else {
            rows.push(row);
        }
    }
    rows
}

/// Connect `a` to a listener on `b` with `buf`-byte socket buffers; returns
/// (client, server child).
pub fn ss_connect(p: &mut SsPair, buf: usize) -> Result<(SocketHandle, SocketHandle), String> {
    let sb = p.b.sockets_mut();
    let l = sb.tcp_socket().ok_or("socket")?;
    sb.set_recv_buffer_size(l, buf).map_err(|_| "rcvbuf")?;
    sb.set_send_buffer_size(l, buf).map_err(|_| "sndbuf")?;
    sb.bind(l, ss::ADDR_B, PORT)
        .map_err(|e| format!("bind: {e:?}"))?;
    sb.listen(l, 16).map_err(|e| format!("listen: {e:?}"))?;
    let now = p.now();
    let sa = p.a.sockets_mut();
    let c = sa.tcp_socket().ok_or("socket")?;
    sa.set_recv_buffer_size(c, buf).map_err(|_| "rcvbuf")?;
    sa.set_send_buffer_size(c, buf).map_err(|_| "sndbuf")?;
    sa.connect(now, c, ss::ADDR_B, PORT)
        .map_err(|e| format!("connect: {e:?}"))?;
    for _ in 0..100_000 {
        p.step_or_skip();
        if let Ok(child) = p.b.sockets_mut().accept(l) {
            if p.a.sockets().writable(c) {
                let _ = p.b.sockets_mut().close(l);
                return Ok((c, child));
            }
        }
    }
    Err("handshake did not finish".into())
}

#[inline(never)]
pub fn ss_bulk(total: usize, buf: usize, loss: u64, seed: u64) -> Result<Outcome, String> {
    let mut p = SsPair::new(loss, seed);
    let (c, s) = ss_connect(&mut p, buf)?;
    let data = vec![0x5au8; APP_IO];
    let mut rbuf = vec![0u8; APP_IO];
    let (mut sent, mut got) = (0usize, 0usize);
    let mut idle = 0u64;
    let t = Cpu::start();
    let v0 = p.now_us;
    let (calls0, frames0) = (
        alloc::calls(),
        p.ab.delivered + p.ba.delivered + p.ab.dropped + p.ba.dropped,
    );
    while got < total {
        while sent < total {
            let n = (total - sent).min(APP_IO);
            match p.a.sockets_mut().send(c, data.get(..n).unwrap_or(&data)) {
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        p.step_or_skip();
        let before = got;
        loop {
            match p.b.sockets_mut().recv(s, &mut rbuf) {
                Ok(k) => got += k,
                Err(RecvError::WouldBlock) => break,
                Err(e) => return Err(format!("recv: {e:?} after {got} bytes")),
            }
        }
        idle = if got == before { idle + 1 } else { 0 };
        if idle > STALL_STEPS {
            return Err(format!("stalled after {got} of {total} bytes"));
        }
    }
    let secs = t.secs();
    if loss > 0 {
        let st = p.a.sockets().tcp_stats();
        eprintln!(
            "    sockstack sender: {} segments out, {} retransmitted, {} RTOs, {} undos",
            st.out_segs, st.retrans_segs, st.rto_fired, st.spurious_rto_undos
        );
    }
    Ok(Outcome {
        secs,
        bytes: got,
        frames: p.ab.delivered + p.ba.delivered,
        dropped: p.ab.dropped + p.ba.dropped,
        vsecs: (p.now_us - v0) as f64 * 1e-6,
        allocs_per_frame: {
            let frames =
                (p.ab.delivered + p.ba.delivered + p.ab.dropped + p.ba.dropped - frames0).max(1);
            (alloc::calls() - calls0) as f64 / frames as f64
        },
    })
}

/// smoltcp: a listening socket on `b`, a connecting one on `a`.
pub fn smol_connect(
    p: &mut SmolPair,
    buf: usize,
) -> Result<(smoltcp::iface::SocketHandle, smoltcp::iface::SocketHandle), String> {
    let mut l = smol::socket(buf, buf);
    l.listen(PORT).map_err(|e| format!("listen: {e:?}"))?;
    let s = p.sb.add(l);
    let c = p.sa.add(smol::socket(buf, buf));
    let cx = p.ia.context();
    p.sa.get_mut::<smoltcp::socket::tcp::Socket>(c)
        .connect(cx, (smol::ADDR_B, PORT), 40000)
        .map_err(|e| format!("connect: {e:?}"))?;
    for _ in 0..100_000 {
        p.step_or_skip();
        if p.tcp_a(c).may_send() && p.tcp_b(s).may_recv() {
            return Ok((c, s));
        }
    }
    Err("handshake did not finish".into())
}

#[inline(never)]
pub fn smol_bulk(total: usize, buf: usize, loss: u64, seed: u64) -> Result<Outcome, String> {
    let mut p = SmolPair::new(loss, seed);
    let (c, s) = smol_connect(&mut p, buf)?;
    let data = vec![0x5au8; APP_IO];
    let mut rbuf = vec![0u8; APP_IO];
    let (mut sent, mut got) = (0usize, 0usize);
    let mut idle = 0u64;
    let t = Cpu::start();
    let v0 = p.now_us;
    let (calls0, frames0) = (
        alloc::calls(),
        p.ab.delivered + p.ba.delivered + p.ab.dropped + p.ba.dropped,
    );
    while got < total {
        while sent < total {
            let n = (total - sent).min(APP_IO);
            match p.tcp_a(c).send_slice(data.get(..n).unwrap_or(&data)) {
                Ok(0) | Err(_) => break,
                Ok(k) => sent += k,
            }
        }
        p.step_or_skip();
        let before = got;
        loop {
            match p.tcp_b(s).recv_slice(&mut rbuf) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) => return Err(format!("recv: {e:?} after {got} bytes")),
            }
        }
        idle = if got == before { idle + 1 } else { 0 };
        if idle > STALL_STEPS {
            return Err(format!("stalled after {got} of {total} bytes"));
        }
    }
    let secs = t.secs();
    Ok(Outcome {
        secs,
        bytes: got,
        frames: p.ab.delivered + p.ba.delivered,
        dropped: p.ab.dropped + p.ba.dropped,
        vsecs: (p.now_us - v0) as f64 * 1e-6,
        allocs_per_frame: {
            let frames =
                (p.ab.delivered + p.ba.delivered + p.ab.dropped + p.ba.dropped - frames0).max(1);
            (alloc::calls() - calls0) as f64 / frames as f64
        },
    })
}

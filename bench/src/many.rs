//! Many idle connections between the two stacks of a pair, for `scale`
//! and `memory`. Connections are opened in batches; each batch is stepped
//! until every connection in it is established on both sides.

use std::time::Instant as Wall;

use smoltcp::iface::SocketHandle as SmolHandle;
use smoltcp::socket::tcp as stcp;
use sockstack_proto::SocketHandle;

use crate::smol::{self, SmolPair};
use crate::ss::{self, SsPair};

const BATCH: usize = 2000;
const SERVER_PORT0: u16 = 100;
/// Connections per server port (client ports 1024-65535 are shared).
const PER_PORT: usize = 32_000;

/// Open `n` connections with `buf`-byte buffers; `deadline` bounds the wall time.
pub fn ss_many(
    p: &mut SsPair,
    n: usize,
    buf: usize,
    deadline: Wall,
) -> Result<Vec<(SocketHandle, SocketHandle)>, String> {
    let mut prof = p.a.sockets().profile().clone();
    prof.ephemeral_ports = (1024, 65535);
    p.a.sockets_mut().set_profile(prof);
    let ports = n.div_ceil(PER_PORT).max(1);
    let mut listeners = Vec::new();
    for i in 0..ports {
        let sb = p.b.sockets_mut();
        let l = sb.tcp_socket().ok_or("socket")?;
        if buf > 0 {
            // 0: leave the buffers unset (autotuned).
            let _ = sb.set_recv_buffer_size(l, buf);
            let _ = sb.set_send_buffer_size(l, buf);
        }
        sb.bind(l, ss::ADDR_B, SERVER_PORT0 + i as u16)
            .map_err(|e| format!("bind: {e:?}"))?;
        sb.listen(l, 4096).map_err(|e| format!("listen: {e:?}"))?;
        listeners.push(l);
    }
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    while clients.len() < n {
        let batch = (n - clients.len()).min(BATCH);
        let first = clients.len();
        for i in first..first + batch {
            let now = p.now();
            let sa = p.a.sockets_mut();
            let c = sa.tcp_socket().ok_or("client socket table full")?;
            if buf > 0 {
                let _ = sa.set_recv_buffer_size(c, buf);
                let _ = sa.set_send_buffer_size(c, buf);
            }
            let port = SERVER_PORT0 + (i % ports) as u16;
            sa.connect(now, c, ss::ADDR_B, port)
                .map_err(|e| format!("connect #{i}: {e:?}"))?;
            clients.push(c);
        }
        let mut steps = 0u32;
        loop {
            p.step_or_skip();
            let sb = p.b.sockets_mut();
            for &l in &listeners {
                while let Ok(ch) = sb.accept(l) {
                    servers.push(ch);
                }
            }
            let sa = p.a.sockets();
            if servers.len() >= clients.len() && clients.iter().skip(first).all(|&c| sa.writable(c))
            {
                break;
            }
            steps += 1;
            if steps > 100_000 {
                return Err(format!("batch at {first} did not connect"));
            }
            if Wall::now() > deadline {
                return Err(format!(
                    "stopped: setting up {n} connections exceeded the time bound (at {first})"
                ));
            }
        }
    }
    // Accept order differs from connect order across listeners: pair the
    // ends by their ports.
    let mut by_ports = std::collections::HashMap::with_capacity(n);
    for s in servers {
        let sb = p.b.sockets();
        if let (Some(l), Some(r)) = (sb.local_addr(s), sb.peer_addr(s)) {
            by_ports.insert((r.port(), l.port()), s);
        }
    }
    let sa = p.a.sockets();
    clients
        .into_iter()
        .map(|c| {
            let key = (
                sa.local_addr(c).map_or(0, |a| a.port()),
                sa.peer_addr(c).map_or(0, |a| a.port()),
            );
            by_ports
                .remove(&key)
                .map(|s| (c, s))
                .ok_or_else(|| "unpaired connection".to_string())
        })
        .collect()
}

/// smoltcp: one listening socket per connection (smoltcp has no backlog).
pub fn smol_many(
    p: &mut SmolPair,
    n: usize,
    buf: usize,
    deadline: Wall,
) -> Result<Vec<(SmolHandle, SmolHandle)>, String> {
    let ports = n.div_ceil(PER_PORT).max(1);
    let mut pairs = Vec::with_capacity(n);
    while pairs.len() < n {
        let batch = (n - pairs.len()).min(BATCH);
        let first = pairs.len();
        for i in first..first + batch {
            let sport = SERVER_PORT0 + (i % ports) as u16;
            let lport = 1024 + (i / ports) as u16;
            let mut l = smol::socket(buf, buf);
            l.listen(sport).map_err(|e| format!("listen: {e:?}"))?;
            let s = p.sb.add(l);
            let c = p.sa.add(smol::socket(buf, buf));
            let cx = p.ia.context();
            p.sa.get_mut::<stcp::Socket>(c)
                .connect(cx, (smol::ADDR_B, sport), lport)
                .map_err(|e| format!("connect: {e:?}"))?;
            pairs.push((c, s));
        }
        let mut steps = 0u32;
        loop {
            p.step_or_skip();
            let done = pairs.iter().skip(first).all(|&(c, s)| {
                p.sa.get::<stcp::Socket>(c).may_send() && p.sb.get::<stcp::Socket>(s).may_recv()
            });
            if done {
                break;
            }
            steps += 1;
            if steps > 100_000 {
                return Err(format!("batch at {first} did not connect"));
            }
            if Wall::now() > deadline {
                return Err(format!(
                    "stopped: setting up {n} connections exceeded the time bound (at {first})"
                ));
            }
        }
    }
    Ok(pairs)
}

/// Step until neither stack has anything to do before `horizon_us` of
/// virtual time from now (delayed ACKs and the like have gone out).
pub fn ss_settle(p: &mut SsPair, horizon_us: u64) {
    let end = p.now_us + horizon_us;
    while p.now_us < end {
        p.step_or_skip();
        let next = [p.a.poll_at(), p.b.poll_at()].into_iter().flatten().min();
        if next.is_none_or(|t| t.total_micros() > end) && p.ab.is_empty() && p.ba.is_empty() {
            break;
        }
    }
}

pub fn smol_settle(p: &mut SmolPair, horizon_us: u64) {
    let end = p.now_us + horizon_us;
    while p.now_us < end {
        p.step_or_skip();
        let now = p.now();
        let next = [p.ia.poll_at(now, &p.sa), p.ib.poll_at(now, &p.sb)]
            .into_iter()
            .flatten()
            .min();
        if next.is_none_or(|t| t.total_micros() as u64 > end) && p.ab.is_empty() && p.ba.is_empty()
        {
            break;
        }
    }
}

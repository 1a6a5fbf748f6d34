//! sockstack as the TCP client of the Linux kernel, in this test process:
//! a [`Host`] attached (from outside) to the TAP device of a test namespace
//! with `TapLink::open_in_netns`, driven through the BSD socket facade, and
//! a kernel echo server (`common/kernel_peer.py`) inside the namespace.
//! 200 sequential and 50 concurrent connections, every byte checked.
//! Without root the tests print `SKIP: <test>: <reason>` and pass.

#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use common::netns::{unavailable, NetNs};
use common::skip;
use common::tcp::{field, finish_kernel, kernel_server, lab, wait_carrier, Gen, KERNEL, TAP};
use sockstack::bsd::consts::{AF_INET, SHUT_WR, SOCK_STREAM};
use sockstack::bsd::{Bsd, SockOpt};
use sockstack::link::tap::TapLink;
use sockstack::proto::wire::MacAddr;
use sockstack::proto::{Stack, StackConfig};
use sockstack::Host;

const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Every blocking call of the client gives up after this.
const CALL_LIMIT: Duration = Duration::from_secs(20);

type Facade = Bsd<Arc<Host>>;

fn client(ns: &NetNs) -> Arc<Facade> {
    let link = TapLink::open_in_netns(ns.name(), TAP).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = StackConfig::ethernet(
        MacAddr([0x02, 0, 0x5e, 0, 0, 0x02]),
        Ipv4Addr::new(198, 18, 0, 2),
        24,
    );
    cfg.seed = 42;
    let host = Host::spawn("client", Stack::new(cfg), link).unwrap_or_else(|e| panic!("{e}"));
    wait_carrier(ns, TAP, RUN_LIMIT);
    Arc::new(Bsd::new(Arc::new(host)))
}

/// One connection: send `size` seeded bytes, half-close, read the echo to
/// EOF, close; true when the echo is exactly what was sent.
fn echo_once(bsd: &Facade, port: u16, size: usize, seed: u64) -> Result<bool, String> {
    let fd = bsd
        .socket(AF_INET, SOCK_STREAM, 0)
        .map_err(|e| format!("socket: {e}"))?;
    let r = (|| {
        bsd.setsockopt(fd, SockOpt::RcvTimeo(Some(CALL_LIMIT)))
            .and_then(|()| bsd.setsockopt(fd, SockOpt::SndTimeo(Some(CALL_LIMIT))))
            .map_err(|e| format!("setsockopt: {e}"))?;
        bsd.connect(fd, SocketAddrV4::new(KERNEL.parse().expect("ip"), port))
            .map_err(|e| format!("connect: {e}"))?;
        let mut data = vec![0u8; size];
        Gen::new(seed).fill(&mut data);
        let mut sent = 0;
        while sent < size {
            sent += bsd
                .send(fd, &data[sent..], 0)
                .map_err(|e| format!("send: {e}"))?;
        }
        bsd.shutdown(fd, SHUT_WR)
            .map_err(|e| format!("shutdown: {e}"))?;
        let mut back = Vec::with_capacity(size);
        let mut buf = vec![0u8; 65536];
        loop {
            match bsd.recv(fd, &mut buf, 0) {
                Ok(0) => break,
                Ok(n) => back.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("recv after {} bytes: {e}", back.len())),
            }
        }
        Ok(back == data)
    })();
    let _ = bsd.close(fd);
    r
}

#[test]
fn sockstack_client_200_sequential_connections() {
    let test = "sockstack_client_200_sequential_connections";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-echo", 6000, &["200"]);
    let bsd = client(&ns);
    for i in 0..200u64 {
        assert_eq!(echo_once(&bsd, 6000, 4096, i), Ok(true), "connection {i}");
    }
    let out = finish_kernel(server, RUN_LIMIT);
    assert_eq!(field(&out, "served").as_deref(), Some("200"), "{out}");
    assert_eq!(
        field(&out, "echoed"),
        Some((200 * 4096).to_string()),
        "{out}"
    );
}

#[test]
fn sockstack_client_50_concurrent_connections() {
    let test = "sockstack_client_50_concurrent_connections";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let server = kernel_server(&ns, "serve-echo", 6001, &["50"]);
    let bsd = client(&ns);
    let threads: Vec<_> = (0..50u64)
        .map(|i| {
            let bsd = Arc::clone(&bsd);
            std::thread::spawn(move || echo_once(&bsd, 6001, 64 * 1024, i))
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let r = t.join().expect("client thread");
        assert_eq!(r, Ok(true), "connection {i}");
    }
    let out = finish_kernel(server, RUN_LIMIT);
    assert_eq!(field(&out, "served").as_deref(), Some("50"), "{out}");
}

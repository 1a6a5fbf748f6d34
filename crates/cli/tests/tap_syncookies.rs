//! SYN cookies with the Linux kernel as the client, over a TAP device in a
//! test namespace (issue 5): sockstack's listener (in this process, a
//! [`Host`] attached from outside with `TapLink::open_in_netns`) has a SYN
//! queue of one, held by a half-open connection from a spoofed on-link
//! address (198.18.0.77, which nobody answers), so every SYN the kernel
//! sends is answered with a cookie SYN-ACK. The kernel's final ACK (with
//! its timestamps echoing our TSval) must validate, and each connection
//! echo 64 KiB both ways. Without root the test prints `SKIP` and passes.

#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use common::netns::unavailable;
use common::skip;
use common::tcp::{field, kernel, lab, wait_carrier, OURS, TAP};
use sockstack::bsd::consts::{AF_INET, SOCK_STREAM};
use sockstack::bsd::{Bsd, SockOpt, SockOptName, TcpInfo};
use sockstack::link::tap::TapLink;
use sockstack::proto::tcp::SeqNum;
use sockstack::proto::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Repr, MacAddr, TcpFlags, TcpRepr,
};
use sockstack::proto::{Profile, Stack, StackConfig};
use sockstack::Host;

const RUN_LIMIT: Duration = Duration::from_secs(60);
const PORT: u16 = 7;
const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0x5e, 0, 0, 0x02]);
const CONNS: usize = 10;

/// A SYN from 198.18.0.77 (on the test's own subnet, never answered).
fn spoofed_syn() -> Vec<u8> {
    let src = Ipv4Addr::new(198, 18, 0, 77);
    let dst: Ipv4Addr = OURS.parse().expect("ip");
    let mut tcp = TcpRepr::new(
        40000,
        PORT,
        SeqNum(1),
        SeqNum(0),
        TcpFlags(TcpFlags::SYN),
        64240,
    );
    tcp.mss = Some(1460);
    let ip = Ipv4Repr::new(src, dst, IpProtocol::Tcp, tcp.buffer_len());
    let eth = EthernetRepr {
        src: MacAddr([0x02, 0, 0, 0, 0, 0x77]),
        dst: OUR_MAC,
        ethertype: EtherType::Ipv4,
    };
    let (el, il) = (eth.buffer_len(), ip.header_len());
    let mut out = vec![0u8; el + il + tcp.buffer_len()];
    eth.emit(&mut out[..el]).expect("ethernet");
    ip.emit(&mut out[el..el + il]).expect("ipv4");
    tcp.emit(&mut out[el + il..], src, dst).expect("tcp");
    out
}

#[test]
fn kernel_clients_connect_through_syn_cookies() {
    let test = "kernel_clients_connect_through_syn_cookies";
    if let Some(why) = unavailable(&["python3"]) {
        return skip(test, &why);
    }
    let ns = lab();
    let link = TapLink::open_in_netns(ns.name(), TAP).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = StackConfig::ethernet(OUR_MAC, OURS.parse().expect("ip"), 24);
    cfg.seed = 5;
    let mut stack = Stack::new(cfg);
    let mut profile = Profile::linux();
    profile.max_syn_backlog = 1;
    stack.sockets_mut().set_profile(profile);
    let host = Arc::new(Host::spawn("server", stack, link).unwrap_or_else(|e| panic!("{e}")));
    wait_carrier(&ns, TAP, RUN_LIMIT);
    let bsd = Arc::new(Bsd::new(Arc::clone(&host)));
    let l = bsd.socket(AF_INET, SOCK_STREAM, 0).expect("socket");
    bsd.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .expect("bind");
    bsd.listen(l, 64).expect("listen");
    // Fill the one-entry SYN queue.
    let frame = spoofed_syn();
    let now = host.now();
    host.with_stack(|s| s.handle_frame(now, &frame));
    let server = {
        let bsd = Arc::clone(&bsd);
        std::thread::spawn(move || {
            let mut workers = Vec::new();
            for _ in 0..CONNS {
                let (fd, _) = bsd.accept(l).expect("accept");
                let bsd = Arc::clone(&bsd);
                workers.push(std::thread::spawn(move || {
                    let info = match bsd.getsockopt(fd, SockOptName::Info) {
                        Ok(SockOpt::Info(i)) => Some(i),
                        _ => None,
                    };
                    let _ = bsd.setsockopt(fd, SockOpt::RcvTimeo(Some(RUN_LIMIT)));
                    let mut buf = vec![0u8; 65536];
                    let mut echoed = 0usize;
                    while let Ok(n) = bsd.recv(fd, &mut buf, 0) {
                        if n == 0 {
                            break;
                        }
                        let mut off = 0;
                        while off < n {
                            match bsd.send(fd, &buf[off..n], 0) {
                                Ok(k) => off += k,
                                Err(_) => return (echoed, info),
                            }
                        }
                        echoed += n;
                    }
                    let _ = bsd.close(fd);
                    (echoed, info)
                }));
            }
            workers
                .into_iter()
                .map(|w| w.join().expect("echo thread"))
                .collect::<Vec<(usize, Option<TcpInfo>)>>()
        })
    };
    let out = kernel(
        &ns,
        "concurrent",
        &[OURS, &PORT.to_string(), &CONNS.to_string(), "65536"],
        RUN_LIMIT,
    );
    let results = server.join().expect("server thread");
    let echoed: usize = results.iter().map(|r| r.0).sum();
    let st = host.with_stack(|s| *s.sockets().tcp_stats());
    println!("kernel {out}; echoed {echoed}; server {st:?}");
    assert_eq!(field(&out, "ok"), Some(CONNS.to_string()), "{out}");
    assert_eq!(echoed, CONNS * 65536);
    assert!(st.syncookies_sent >= CONNS as u64, "{st:?}");
    assert_eq!(st.syncookies_recv, CONNS as u64, "{st:?}");
    assert_eq!(st.syncookies_failed, 0, "{st:?}");
    // The options came back through the cookie and the kernel's TSecr:
    // MSS 1460 (less 12 for timestamps), SACK, the kernel's window scale.
    for (_, info) in &results {
        let i = info.expect("TCP_INFO");
        assert!(i.timestamps && i.sack, "{i:?}");
        assert_eq!(i.snd_mss, 1460 - 12, "{i:?}");
        assert!(i.snd_wscale > 0 && i.rcv_wscale == 10, "{i:?}");
    }
    println!("first connection: {:?}", results.first().and_then(|r| r.1));
}

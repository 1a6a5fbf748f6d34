//! `sockstack demo`: the socket textbook, live. Two in-memory hosts, a
//! client and a server, in virtual time: socket/bind/listen, the three-way
//! handshake, accept, "sticky packets" and length-prefix framing, the
//! four-way close with a lost final ACK answered from TIME_WAIT, TIME_WAIT
//! expiring after 60 s, and one UDP socket serving two clients.
//!
//! Every frame on the wire is printed tcpdump-style when it is sent, every
//! TCP state change when it happens, and every netstat table is the real
//! snapshot rendered by the code of `sockstack netstat`. Nothing reads a
//! clock or an unseeded RNG: one seed, one transcript (a checked-in file
//! under `tests/` holds the one for the default seed).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sockstack::control::Snapshot;
use sockstack::link::memory::{self, WireConfig};
use sockstack::link::pcap::{Captured, LinkType, PcapWriter};
use sockstack::link::{Link, LinkStats, Waker};
use sockstack::runtime::{HostId, VirtualNet};
use sockstack_proto::wire::{
    ArpPacket, ArpRepr, EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr,
    TcpPacket, TcpRepr, UdpPacket,
};
use sockstack_proto::{
    Duration, Instant, Medium, SocketHandle, Stack, StackConfig, TcpState, UdpHandle,
};

use super::netstat::{render_table, Filter};
use crate::args::DemoArgs;
use crate::device;
use crate::error::CliError;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 8080;
const ECHO_PORT: u16 = 7;
const DELAY: Duration = Duration::from_millis(5);
/// No scene may take longer than this much virtual time.
const SCENE_LIMIT: Duration = Duration::from_secs(120);

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    story(args.seed, args.pcap.as_deref(), &mut out)
}

fn io_err(e: io::Error) -> CliError {
    CliError::Runtime(format!("writing output: {e}"))
}

fn step_err(what: &str) -> CliError {
    CliError::Runtime(format!("demo: {what} did not happen in virtual time"))
}

/// The whole demo, written to `out`.
pub fn story(seed: u64, pcap: Option<&Path>, out: &mut impl Write) -> Result<(), CliError> {
    let mut d = Demo::new(seed, pcap, out)?;
    d.scenes()?;
    Ok(())
}

type DropRule = Box<dyn Fn(&[u8]) -> bool + Send>;

/// What the wire taps share: printed lines and a one-shot drop rule.
#[derive(Clone, Default)]
struct WireLog {
    lines: Arc<Mutex<Vec<String>>>,
    drop_next: Arc<Mutex<Option<DropRule>>>,
}

impl WireLog {
    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn drop_next(&self, rule: DropRule) {
        *self.drop_next.lock().unwrap_or_else(|e| e.into_inner()) = Some(rule);
    }
    /// True (and the rule is spent) when `frame` is to be lost.
    fn should_drop(&self, frame: &[u8]) -> bool {
        let mut rule = self.drop_next.lock().unwrap_or_else(|e| e.into_inner());
        if rule.as_ref().is_some_and(|r| r(frame)) {
            *rule = None;
            return true;
        }
        false
    }
}

fn clock(now: Instant) -> String {
    let us = now.total_micros();
    format!("{:>3}.{:03}", us / 1_000_000, (us / 1000) % 1000)
}

/// tcpdump's one-line summary of an Ethernet frame.
fn describe(frame: &[u8]) -> String {
    let Ok(eth) = EthernetFrame::parse(frame) else {
        return "malformed frame".into();
    };
    match eth.ethertype() {
        EtherType::Arp => match ArpPacket::parse(eth.payload()) {
            Ok(p) => {
                let arp = ArpRepr::parse(&p);
                let note = if arp.sender_ip == arp.target_ip {
                    " (gratuitous)"
                } else {
                    ""
                };
                format!("{arp}{note}")
            }
            Err(_) => "ARP, malformed".into(),
        },
        EtherType::Ipv4 => {
            let Ok(ip) = Ipv4Packet::parse(eth.payload()) else {
                return "IP, malformed".into();
            };
            let repr = Ipv4Repr::parse(&ip);
            match repr.protocol {
                IpProtocol::Tcp => match TcpPacket::parse(ip.payload()) {
                    Ok(t) => TcpRepr::parse(&t)
                        .display_with(repr.src, repr.dst)
                        .to_string(),
                    Err(_) => "IP, TCP malformed".into(),
                },
                IpProtocol::Udp => match UdpPacket::parse(ip.payload()) {
                    Ok(u) => format!(
                        "IP {}.{} > {}.{}: UDP, length {}",
                        repr.src,
                        u.src_port(),
                        repr.dst,
                        u.dst_port(),
                        u.payload().len()
                    ),
                    Err(_) => "IP, UDP malformed".into(),
                },
                other => format!("IP {} > {}: {other}", repr.src, repr.dst),
            }
        }
        other => format!("ethertype {other:?}"),
    }
}

/// A link wrapper that prints every frame its host sends and loses the
/// one the drop rule picks.
struct Tap<L: Link> {
    inner: L,
    log: WireLog,
}

impl<L: Link> Link for Tap<L> {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        let lost = self.log.should_drop(frame);
        let note = if lost { "   <-- lost on the wire" } else { "" };
        self.log
            .push(format!("{}  {}{note}", clock(now), describe(frame)));
        if lost {
            return Ok(());
        }
        self.inner.send(now, frame)
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.inner.recv(now, buf)
    }
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush(now)
    }
    fn next_event(&self) -> Option<Instant> {
        self.inner.next_event()
    }
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.raw_fd()
    }
    fn set_waker(&mut self, waker: Waker) {
        self.inner.set_waker(waker);
    }
    fn stats(&self) -> LinkStats {
        self.inner.stats()
    }
}

/// What we last saw of one TCP socket.
struct Seen {
    state: TcpState,
    what: String,
}

struct Demo<'o, W: Write> {
    net: VirtualNet,
    client: HostId,
    server: HostId,
    wire: WireLog,
    seen: HashMap<(HostId, SocketHandle), Seen>,
    out: &'o mut W,
}

impl<'o, W: Write> Demo<'o, W> {
    fn new(seed: u64, pcap: Option<&Path>, out: &'o mut W) -> Result<Self, CliError> {
        let (lc, ls) = memory::pair(WireConfig::ethernet().with_delay(DELAY));
        let wire = WireLog::default();
        // The capture sits below the client's tap: it records the wire as
        // the client's side of it sees it, after the deliberate loss.
        let mut client_link: Box<dyn Link> = Box::new(lc);
        if let Some(path) = pcap {
            let writer =
                PcapWriter::create(path, LinkType::Ethernet).map_err(|e| device::open_error(&e))?;
            client_link = Box::new(Captured::new(client_link, writer));
        }
        let client_link = Tap {
            inner: client_link,
            log: wire.clone(),
        };
        let server_link = Tap {
            inner: ls,
            log: wire.clone(),
        };
        let host = |last: u8, ip, salt: u64| {
            let mut cfg = StackConfig::ethernet(MacAddr([0x02, 0, 0x5e, 0, 0, last]), ip, 24);
            cfg.seed = device::splitmix64(seed ^ salt);
            Stack::new(cfg)
        };
        let mut net = VirtualNet::new();
        let client = net.add_host("client", host(1, CLIENT, 10), client_link);
        let server = net.add_host("server", host(2, SERVER, 20), server_link);
        writeln!(
            out,
            "sockstack demo (seed {seed}): the socket textbook on two in-memory hosts, in virtual time\n\
             client {CLIENT} and server {SERVER} on one wire ({} ms each way); times in seconds",
            DELAY.total_millis()
        )
        .map_err(io_err)?;
        Ok(Demo {
            net,
            client,
            server,
            wire,
            seen: HashMap::new(),
            out,
        })
    }

    fn say(&mut self, text: &str) -> Result<(), CliError> {
        writeln!(self.out, "{text}").map_err(io_err)
    }

    fn scene(&mut self, title: &str) -> Result<(), CliError> {
        writeln!(self.out, "\n== {title}").map_err(io_err)
    }

    /// An application call, shown as `host$ call` with its result.
    fn call(&mut self, host: HostId, call: &str) -> Result<(), CliError> {
        let who = self.net.name(host).to_string();
        writeln!(self.out, "{}  {who}$ {call}", clock(self.net.now())).map_err(io_err)
    }

    fn stack(&mut self, h: HostId) -> &mut Stack {
        self.net.stack_mut(h)
    }

    /// Print state changes since the last report, then the frames sent.
    fn report(&mut self) -> Result<(), CliError> {
        let now = self.net.now();
        let mut lines = Vec::new();
        for host in [self.client, self.server] {
            let name = self.net.name(host).to_string();
            let rows = self.net.stack(host).sockets().snapshot();
            let mut alive = Vec::new();
            for r in rows {
                let key = (host, r.handle);
                alive.push(key);
                let what = if r.state == TcpState::Listen || r.remote.port() == 0 {
                    format!("tcp {}", r.local)
                } else {
                    format!("tcp {} <-> {}", r.local, r.remote)
                };
                match self.seen.get_mut(&key) {
                    Some(s) if s.state == r.state => s.what = what,
                    Some(s) => {
                        lines.push(format!(
                            "{}  [{name}] {what}: {} -> {}",
                            clock(now),
                            s.state,
                            r.state
                        ));
                        s.state = r.state;
                        s.what = what;
                    }
                    None => {
                        lines.push(format!(
                            "{}  [{name}] {what}: new socket, {}",
                            clock(now),
                            r.state
                        ));
                        self.seen.insert(
                            key,
                            Seen {
                                state: r.state,
                                what,
                            },
                        );
                    }
                }
            }
            let mut gone: Vec<_> = self
                .seen
                .keys()
                .filter(|k| k.0 == host && !alive.contains(k))
                .copied()
                .collect();
            gone.sort();
            for k in gone {
                if let Some(s) = self.seen.remove(&k) {
                    lines.push(format!(
                        "{}  [{name}] {}: {} -> CLOSED (socket freed)",
                        clock(now),
                        s.what,
                        s.state
                    ));
                }
            }
        }
        lines.extend(self.wire.take());
        for l in lines {
            writeln!(self.out, "{l}").map_err(io_err)?;
        }
        Ok(())
    }

    /// Run the wire event by event, reporting after each, until `done`.
    fn run_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut VirtualNet) -> bool,
    ) -> Result<(), CliError> {
        let limit = self.net.now() + SCENE_LIMIT;
        self.net.poll();
        self.report()?;
        loop {
            if done(&mut self.net) {
                return Ok(());
            }
            let Some(next) = self.net.next_event().filter(|&n| n <= limit) else {
                return Err(step_err(what));
            };
            self.net.run_until(next);
            self.report()?;
        }
    }

    /// Run until nothing happens for a while (timers far away excepted).
    fn settle(&mut self, d: Duration) -> Result<(), CliError> {
        let until = self.net.now() + d;
        self.run_until("settling", move |net| {
            net.next_event().is_none_or(|n| n > until)
        })
    }

    fn netstat(&mut self) -> Result<(), CliError> {
        let mut rows = Vec::new();
        // Timers count down from the demo's virtual clock, not from the
        // last time each stack was driven (`Snapshot::of` lags when idle).
        let now = self.net.now();
        for host in [self.client, self.server] {
            let name = self.net.name(host).to_string();
            rows.extend(Snapshot::at(self.net.stack(host), now, None, &name).sockets);
        }
        let table = render_table(&rows, Filter::default());
        writeln!(self.out, "\n$ sockstack netstat -tuna").map_err(io_err)?;
        for l in table.lines() {
            writeln!(self.out, "  {l}").map_err(io_err)?;
        }
        Ok(())
    }

    fn scenes(&mut self) -> Result<(), CliError> {
        let (c, s) = (self.client, self.server);

        self.scene("1. socket(), bind(), listen(): the server waits for connections")?;
        let lfd = self
            .stack(s)
            .sockets_mut()
            .tcp_socket()
            .ok_or_else(|| CliError::Runtime("no socket slots".into()))?;
        self.call(s, "lfd = socket(AF_INET, SOCK_STREAM, 0)")?;
        self.report()?;
        self.stack(s)
            .sockets_mut()
            .bind(lfd, Ipv4Addr::UNSPECIFIED, PORT)
            .map_err(|e| CliError::Runtime(format!("bind: {e:?}")))?;
        self.call(s, &format!("bind(lfd, 0.0.0.0:{PORT})"))?;
        self.stack(s)
            .sockets_mut()
            .listen(lfd, 128)
            .map_err(|e| CliError::Runtime(format!("listen: {e:?}")))?;
        self.call(s, "listen(lfd, 128)")?;
        self.settle(Duration::from_millis(50))?;
        self.netstat()?;

        self.scene("2. connect(): the three-way handshake (SYN, SYN-ACK, ACK)")?;
        let cfd = self
            .stack(c)
            .sockets_mut()
            .tcp_socket()
            .ok_or_else(|| CliError::Runtime("no socket slots".into()))?;
        self.call(c, "cfd = socket(AF_INET, SOCK_STREAM, 0)")?;
        let now = self.net.now();
        self.stack(c)
            .sockets_mut()
            .connect(now, cfd, SERVER, PORT)
            .map_err(|e| CliError::Runtime(format!("connect: {e:?}")))?;
        self.call(c, &format!("connect(cfd, {SERVER}:{PORT})"))?;
        self.run_until("the handshake", move |net| {
            net.stack(s).sockets().readable(lfd)
                && net.stack(c).sockets().state(cfd) == Some(TcpState::Established)
        })?;
        self.say("(ARP found the server's MAC first; connect() returns once the SYN-ACK is in)")?;

        self.scene("3. accept(): a new socket on the same port")?;
        let afd = self
            .stack(s)
            .sockets_mut()
            .accept(lfd)
            .map_err(|e| CliError::Runtime(format!("accept: {e:?}")))?;
        let peer = self
            .net
            .stack(s)
            .sockets()
            .peer_addr(afd)
            .map_or("?".to_string(), |a| a.to_string());
        self.call(
            s,
            &format!("afd = accept(lfd)  -> a new socket, peer {peer}, local port {PORT} too"),
        )?;
        self.say("Both server rows share local port 8080: the listener keeps listening, the\naccepted socket is told apart by the whole 4-tuple (local and foreign address).")?;
        self.netstat()?;

        self.scene("4. \"sticky packets\": TCP is a byte stream, not a message queue")?;
        for msg in ["hello", "world"] {
            self.stack(c)
                .sockets_mut()
                .send(cfd, msg.as_bytes())
                .map_err(|e| CliError::Runtime(format!("send: {e:?}")))?;
            self.call(c, &format!("send(cfd, \"{msg}\")"))?;
        }
        self.run_until("both sends arriving", move |net| {
            net.stack(s)
                .sockets()
                .info(afd)
                .is_some_and(|i| i.recv_queue >= 10)
                && net
                    .stack(c)
                    .sockets()
                    .info(cfd)
                    .is_some_and(|i| i.send_queue == 0)
        })?;
        self.netstat()?;
        let mut buf = [0u8; 100];
        let n = self
            .stack(s)
            .sockets_mut()
            .recv(afd, &mut buf)
            .map_err(|e| CliError::Runtime(format!("recv: {e:?}")))?;
        let got = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        self.call(s, &format!("recv(afd, buf, 100) = {n}: \"{got}\""))?;
        self.say("Two sends, one recv: the boundaries are gone. The fix is framing: each\nmessage goes out as a 4-byte big-endian length, then the bytes.")?;
        for msg in ["hello", "world"] {
            let mut frame = (msg.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(msg.as_bytes());
            self.stack(c)
                .sockets_mut()
                .send(cfd, &frame)
                .map_err(|e| CliError::Runtime(format!("send: {e:?}")))?;
            self.call(c, &format!("send(cfd, \"\\0\\0\\0\\x05{msg}\")"))?;
        }
        self.run_until("the framed messages arriving", move |net| {
            net.stack(s)
                .sockets()
                .info(afd)
                .is_some_and(|i| i.recv_queue >= 18)
        })?;
        for _ in 0..2 {
            let msg = self.read_frame(afd)?;
            self.call(s, &format!("read_frame(afd) = \"{msg}\""))?;
        }

        self.scene("5. close(): FIN, ACK, FIN, ACK; the last ACK is lost")?;
        self.stack(c)
            .sockets_mut()
            .close(cfd)
            .map_err(|e| CliError::Runtime(format!("close: {e:?}")))?;
        self.call(c, "close(cfd)")?;
        self.run_until("the first FIN being acknowledged", move |net| {
            net.stack(s).sockets().state(afd) == Some(TcpState::CloseWait)
                && net.stack(c).sockets().snapshot().iter().any(|r| {
                    r.local.port() != 0 && r.remote.port() == PORT && r.state == TcpState::FinWait2
                })
        })?;
        self.say("The server held its ACK of the FIN for the 40 ms delayed-ACK time, as")?;
        self.say("Linux does: it usually rides on the application's own FIN.")?;
        let eof = self.stack(s).sockets_mut().recv(afd, &mut buf);
        let shown = match eof {
            Err(sockstack_proto::RecvError::Eof) => "0 (end of stream: the client closed)".into(),
            other => format!("{other:?}"),
        };
        self.call(s, &format!("recv(afd, buf, 100) = {shown}"))?;
        self.netstat()?;
        let client_port = self
            .net
            .stack(c)
            .sockets()
            .snapshot()
            .iter()
            .find(|r| r.remote.port() == PORT)
            .map_or(0, |r| r.local.port());
        self.wire
            .drop_next(Box::new(move |frame| is_pure_ack(frame, client_port, PORT)));
        self.say("(the wire will now lose the client's final ACK)")?;
        self.stack(s)
            .sockets_mut()
            .close(afd)
            .map_err(|e| CliError::Runtime(format!("close: {e:?}")))?;
        self.call(s, "close(afd)")?;
        self.run_until("the server's close finishing", move |net| {
            net.stack(s)
                .sockets()
                .snapshot()
                .iter()
                .all(|r| r.state == TcpState::Listen)
        })?;
        self.say("The server heard no ACK for its FIN and sent it again; the client, in\nTIME_WAIT for exactly this, answered with a new ACK and restarted its 60 s.")?;
        self.netstat()?;

        self.scene("6. TIME_WAIT ends after 60 seconds (of virtual time)")?;
        // The server freed its socket when the client's last ACK arrived,
        // one wire delay after the client sent it and restarted TIME_WAIT.
        let last_ack = self.net.now() - DELAY;
        self.run_until("TIME_WAIT ending", move |net| {
            net.stack(c).sockets().snapshot().is_empty()
        })?;
        let waited = self.net.now() - last_ack;
        self.say(&format!(
            "TIME_WAIT ended {}.{:03} s after the client's last ACK (sent at {} s)",
            waited.total_millis() / 1000,
            waited.total_millis() % 1000,
            clock(last_ack).trim()
        ))?;

        self.scene("7. UDP: one socket serves two clients")?;
        let srv = self.udp_bind(s, ECHO_PORT)?;
        self.call(
            s,
            &format!("u = socket(AF_INET, SOCK_DGRAM, 0); bind(u, 0.0.0.0:{ECHO_PORT})"),
        )?;
        let mut clients = Vec::new();
        for i in 1..=2 {
            let h = self.udp_bind(c, 0)?;
            let msg = format!("hi from client {i}");
            self.stack(c)
                .udp_send_to(h, SocketAddrV4::new(SERVER, ECHO_PORT), msg.as_bytes())
                .map_err(|e| CliError::Runtime(format!("sendto: {e:?}")))?;
            self.call(
                c,
                &format!(
                    "c{i} = socket(AF_INET, SOCK_DGRAM, 0); sendto(c{i}, \"{msg}\", {SERVER}:{ECHO_PORT})"
                ),
            )?;
            clients.push(h);
        }
        self.run_until("the datagrams arriving", move |net| {
            net.stack(s).udp_queued(srv) == Some(2)
        })?;
        self.netstat()?;
        for _ in 0..2 {
            let (n, from) = self
                .stack(s)
                .udp_recv_from(srv, &mut buf)
                .map_err(|e| CliError::Runtime(format!("recvfrom: {e:?}")))?;
            let msg = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            self.call(s, &format!("recvfrom(u) = \"{msg}\" from {from}"))?;
            let reply = msg.to_uppercase();
            self.stack(s)
                .udp_send_to(srv, from, reply.as_bytes())
                .map_err(|e| CliError::Runtime(format!("sendto: {e:?}")))?;
            self.call(s, &format!("sendto(u, \"{reply}\", {from})"))?;
        }
        let cl = clients.clone();
        self.run_until("the replies arriving", move |net| {
            cl.iter().all(|&h| net.stack(c).udp_queued(h) == Some(1))
        })?;
        for (i, &h) in clients.iter().enumerate() {
            let (n, from) = self
                .stack(c)
                .udp_recv_from(h, &mut buf)
                .map_err(|e| CliError::Runtime(format!("recvfrom: {e:?}")))?;
            let msg = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            self.call(c, &format!("recvfrom(c{}) = \"{msg}\" from {from}", i + 1))?;
        }
        self.say("Datagrams keep their boundaries, and recvfrom names each sender, so one\nunconnected socket can answer any number of peers.")?;

        self.scene("8. the end")?;
        for h in clients {
            self.stack(c).udp_close(h);
        }
        self.stack(s).udp_close(srv);
        let _ = self.stack(s).sockets_mut().close(lfd);
        self.call(s, "close(u); close(lfd)")?;
        self.settle(Duration::from_millis(10))?;
        let tcp = |net: &VirtualNet, h: HostId, name: &str| {
            let st = net.stack(h).stats_rows();
            let get = |n: &str| {
                st.iter()
                    .find(|r| r.layer == "tcp" && r.name == n)
                    .map_or(0, |r| r.value)
            };
            format!(
                "{name}: {} active opens, {} passive opens, {} segments out, {} retransmitted",
                get("active_opens"),
                get("passive_opens"),
                get("out_segs"),
                get("retrans_segs")
            )
        };
        let summary = [tcp(&self.net, c, "client"), tcp(&self.net, s, "server")];
        for l in summary {
            self.say(&l)?;
        }
        self.say(&format!(
            "virtual time {} s; real time well under a second",
            clock(self.net.now()).trim()
        ))?;
        Ok(())
    }

    fn udp_bind(&mut self, host: HostId, port: u16) -> Result<UdpHandle, CliError> {
        self.stack(host)
            .udp_bind(Ipv4Addr::UNSPECIFIED, port)
            .map_err(|e| CliError::Runtime(format!("bind: {e:?}")))
    }

    /// Read one length-prefixed message (the data is already queued).
    fn read_frame(&mut self, h: SocketHandle) -> Result<String, CliError> {
        let mut len = [0u8; 4];
        self.read_exact(h, &mut len)?;
        let n = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n.min(1 << 16)];
        self.read_exact(h, &mut body)?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn read_exact(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<(), CliError> {
        let mut got = 0;
        while got < buf.len() {
            let rest = buf.get_mut(got..).unwrap_or_default();
            let n = self
                .stack(self.server)
                .sockets_mut()
                .recv(h, rest)
                .map_err(|e| CliError::Runtime(format!("recv: {e:?}")))?;
            got += n;
        }
        Ok(())
    }
}

/// A TCP segment with only ACK set and no data, between these ports.
fn is_pure_ack(frame: &[u8], src_port: u16, dst_port: u16) -> bool {
    let Ok(eth) = EthernetFrame::parse(frame) else {
        return false;
    };
    if eth.ethertype() != EtherType::Ipv4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::parse(eth.payload()) else {
        return false;
    };
    if Ipv4Repr::parse(&ip).protocol != IpProtocol::Tcp {
        return false;
    }
    let Ok(t) = TcpPacket::parse(ip.payload()) else {
        return false;
    };
    let r = TcpRepr::parse(&t);
    r.src_port == src_port
        && r.dst_port == dst_port
        && r.flags.ack()
        && !r.flags.syn()
        && !r.flags.fin()
        && !r.flags.rst()
        && r.payload.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(seed: u64) -> String {
        let mut out = Vec::new();
        story(seed, None, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_seed_same_story() {
        let one = text(7);
        assert_eq!(one, text(7));
        for needle in [
            "LISTEN",
            "SYN_SENT",
            "SYN_RECV",
            "FIN_WAIT1",
            "FIN_WAIT2",
            "CLOSE_WAIT",
            "LAST_ACK",
            "TIME_WAIT",
            "lost on the wire",
            "\"helloworld\"",
            "UDP, length",
        ] {
            assert!(one.contains(needle), "{needle} missing:\n{one}");
        }
    }
}

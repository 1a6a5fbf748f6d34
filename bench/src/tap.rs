//! `tap`: sockstack over a TAP device to the Linux kernel in a throw-away
//! network namespace, against kernel-to-kernel over a veth pair in two more
//! namespaces; both directions, same run. Root only. sockstack runs with
//! offloads (IFF_VNET_HDR, TSO4 and checksum: 64 KiB segments each way) and
//! with plain frames; veth with offloads off (the target) and on.
//!
//! Safety: addresses only from 198.18.0.0/15, nothing routed outside the
//! namespaces, every namespace deleted by a guard (also on failure), every
//! child process killed by its own guard, every wait bounded. The kernel
//! side runs this binary's `--helper sink|source` (plain std::net) under
//! `ip netns exec`. Rates are receiver-side wall-clock MB/s from accept to
//! the last byte (real devices: CPU time would hide the kernel's share).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant as Wall};

use sockstack::link::tap::{Offload, TapLink};
use sockstack::link::Link;
use sockstack::Host;
use sockstack_proto::wire::{Ipv4Addr, MacAddr};
use sockstack_proto::{RecvError, SendError, Stack, StackConfig};

use crate::report::{median, Row};
use crate::Opts;

const TAP_KERNEL: &str = "198.18.0.1";
const TAP_OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VETH_A: &str = "198.18.1.1";
const VETH_B: &str = "198.18.1.2";
const APP_IO: usize = 64 * 1024;
const LIMIT: Duration = Duration::from_secs(60);

/// One transfer setting: (sockstack send MB/s, sockstack receive MB/s).
type Pair = (Vec<f64>, Vec<f64>);

fn push(into: &mut Pair, r: Result<(f64, f64), String>, who: &str, notes: &mut Vec<String>) {
    match r {
        Ok((a, b)) => {
            into.0.push(a);
            into.1.push(b);
        }
        Err(e) => notes.push(format!("{who}: {e}")),
    }
}

pub fn run(o: &Opts) -> Vec<Row> {
    // Rows: sockstack with offloads (TSO/GRO over IFF_VNET_HDR, the default)
    // and with plain frames, each against veth with offloads off; then
    // sockstack with offloads against veth with offloads on.
    let names = [
        (
            "tap sockstack->kernel vs veth",
            "tap kernel->sockstack vs veth",
        ),
        (
            "tap plain frames sockstack->kernel vs veth",
            "tap plain frames kernel->sockstack vs veth",
        ),
        (
            "tap sockstack->kernel vs veth+offloads",
            "tap kernel->sockstack vs veth+offloads",
        ),
    ];
    let mut rows: Vec<Row> = names
        .iter()
        .flat_map(|(a, b)| {
            [
                Row::new(*a, "MB/s", true, "linux"),
                Row::new(*b, "MB/s", true, "linux"),
            ]
        })
        .collect();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("tap: skipped: needs root");
        for r in &mut rows {
            r.note = "skipped: needs root".into();
        }
        return rows;
    }
    let bytes = o.size.unwrap_or(if o.quick { 64 << 20 } else { 256 << 20 });
    let runs = if o.quick { 1 } else { o.runs.min(3) };
    let (mut tso, mut plain, mut veth, mut veth_tso): (Pair, Pair, Pair, Pair) = Default::default();
    let mut notes = vec![];
    let mut offload_note = String::new();
    for _ in 0..runs {
        match tap_runs(bytes, Offload::Tso) {
            Ok((r, refused)) => {
                push(&mut tso, Ok(r), "sockstack", &mut notes);
                if let Some(why) = refused {
                    offload_note = format!("offloads refused: {why}");
                }
            }
            Err(e) => push(&mut tso, Err(e), "sockstack", &mut notes),
        }
        push(
            &mut plain,
            tap_runs(bytes, Offload::Off).map(|x| x.0),
            "sockstack plain",
            &mut notes,
        );
        push(&mut veth, veth_runs(bytes, false), "linux", &mut notes);
        push(
            &mut veth_tso,
            veth_runs(bytes, true),
            "linux offloads",
            &mut notes,
        );
    }
    eprintln!(
        "  tap: sockstack offloads send {:.0?} recv {:.0?}; plain send {:.0?} recv {:.0?}; veth a->b {:.0?} b->a {:.0?}; veth+offloads a->b {:.0?} b->a {:.0?}",
        tso.0, tso.1, plain.0, plain.1, veth.0, veth.1, veth_tso.0, veth_tso.1
    );
    if !offload_note.is_empty() {
        notes.push(offload_note);
    }
    notes.dedup();
    let note = notes.join("; ");
    let sets = [(&tso, &veth), (&plain, &veth), (&tso, &veth_tso)];
    for (k, (ours, peer)) in sets.into_iter().enumerate() {
        for d in 0..2 {
            let Some(row) = rows.get_mut(2 * k + d) else {
                continue;
            };
            let (o, p) = if d == 0 {
                (&ours.0, &peer.0)
            } else {
                (&ours.1, &peer.1)
            };
            row.sockstack = median(o.clone());
            row.peer_value = median(p.clone());
            row.note = note.clone();
        }
    }
    rows
}

/// Namespaces deleted on drop.
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, tag: &str) -> Result<String, String> {
        let name = format!("ssb{}{tag}", std::process::id());
        sh(&["ip", "netns", "add", &name])?;
        self.0.push(name.clone());
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// A child process killed (by its PID) on drop.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(args: &[&str]) -> Result<(), String> {
    let (cmd, rest) = args.split_first().ok_or("empty command")?;
    let out = Command::new(cmd)
        .args(rest)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Start `--helper ARGS` inside `ns`; returns the child and a channel of its stdout lines.
fn helper(ns: &str, args: &[&str]) -> Result<(Kid, mpsc::Receiver<String>), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let exe = exe.to_string_lossy().to_string();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, &exe, "--helper"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn helper: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((Kid(child), rx))
}

/// Wait for a line starting with `prefix`; returns the rest.
fn expect(rx: &mpsc::Receiver<String>, prefix: &str, within: Duration) -> Result<String, String> {
    let end = Wall::now() + within;
    loop {
        let left = end.saturating_duration_since(Wall::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| format!("helper: no {prefix:?} line in time"))?;
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.trim().to_string());
        }
    }
}

fn rate_line(rx: &mpsc::Receiver<String>) -> Result<f64, String> {
    expect(rx, "MBps", LIMIT)?
        .parse::<f64>()
        .map_err(|e| e.to_string())
}

/// sockstack over TAP: ((sockstack -> kernel, kernel -> sockstack) MB/s,
/// why offloads were refused if they were).
type TapResult = ((f64, f64), Option<String>);

fn tap_runs(bytes: usize, offload: Offload) -> Result<TapResult, String> {
    let mut nss = Namespaces(Vec::new());
    let ns = nss.add("t")?;
    let dev = format!("sst{}", std::process::id() % 100_000);
    let link = TapLink::open_with(&dev, Some(&ns), offload).map_err(|e| e.to_string())?;
    let refused = link.offload_refused().map(str::to_string);
    let caps = link.capabilities();
    sh(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{TAP_KERNEL}/24"),
        "dev",
        &dev,
    ])?;
    sh(&["ip", "-n", &ns, "link", "set", &dev, "up"])?;
    let mut cfg = StackConfig::ethernet(MacAddr([2, 0, 0, 0, 0, 0x22]), TAP_OURS, 24);
    cfg.tso_max = caps.tso_max;
    cfg.tx_checksum_offload = caps.tx_checksum;
    let host = Host::spawn("bench-tap", Stack::new(cfg), link).map_err(|e| e.to_string())?;
    let r = tap_transfers(&host, &ns, bytes);
    let _ = host.shutdown();
    r.map(|x| (x, refused))
}

fn tap_transfers(host: &Host, ns: &str, bytes: usize) -> Result<(f64, f64), String> {
    let deadline = Some(std::time::Instant::now() + LIMIT);
    let n = bytes.to_string();
    // 1. sockstack sends, the kernel receives.
    let (_sink, rx) = helper(ns, &["sink", TAP_KERNEL, "5201", &n])?;
    expect(&rx, "ready", Duration::from_secs(10))?;
    let now = host.now();
    let h = host.with_stack(|s| {
        let so = s.sockets_mut();
        let h = so.tcp_socket().ok_or("socket")?;
        so.connect(now, h, TAP_KERNEL.parse().map_err(|_| "addr")?, 5201)
            .map_err(|e| format!("connect: {e:?}"))?;
        Ok::<_, String>(h)
    })?;
    host.wait_until(deadline, |s| s.sockets().writable(h).then_some(()))
        .ok_or("connect to the kernel timed out")?;
    let data = vec![0xa5u8; APP_IO];
    let mut sent = 0;
    while sent < bytes {
        let want = (bytes - sent).min(APP_IO);
        let k = host
            .wait_until(deadline, |s| {
                match s.sockets_mut().send(h, data.get(..want).unwrap_or(&data)) {
                    Ok(k) => Some(Ok(k)),
                    Err(SendError::WouldBlock) => None,
                    Err(e) => Some(Err(format!("send: {e:?}"))),
                }
            })
            .ok_or("send timed out")??;
        sent += k;
    }
    host.with_stack(|s| {
        let _ = s.sockets_mut().close(h);
    });
    let up = rate_line(&rx)?;
    // 2. The kernel sends, sockstack receives.
    let l = host.with_stack(|s| {
        let so = s.sockets_mut();
        let l = so.tcp_socket().ok_or("socket")?;
        so.bind(l, TAP_OURS, 5202)
            .map_err(|e| format!("bind: {e:?}"))?;
        so.listen(l, 4).map_err(|e| format!("listen: {e:?}"))?;
        Ok::<_, String>(l)
    })?;
    let ours = TAP_OURS.to_string();
    let (_src, _rx2) = helper(ns, &["source", &ours, "5202", &n])?;
    let c = host
        .wait_until(deadline, |s| s.sockets_mut().accept(l).ok())
        .ok_or("accept timed out")?;
    let t = Wall::now();
    let mut buf = vec![0u8; APP_IO];
    let mut got = 0;
    while got < bytes {
        let k = host
            .wait_until(deadline, |s| match s.sockets_mut().recv(c, &mut buf) {
                Ok(k) => Some(Ok(k)),
                Err(RecvError::WouldBlock) => None,
                Err(RecvError::Eof) => Some(Err("early EOF".to_string())),
                Err(e) => Some(Err(format!("recv: {e:?}"))),
            })
            .ok_or("receive timed out")??;
        got += k;
    }
    let down = got as f64 / t.elapsed().as_secs_f64() / 1e6;
    host.with_stack(|s| {
        let so = s.sockets_mut();
        let _ = so.close(c);
        let _ = so.close(l);
    });
    Ok((up, down))
}

/// Kernel to kernel over veth, offloads off or on: (a -> b, b -> a) MB/s.
fn veth_runs(bytes: usize, offloads: bool) -> Result<(f64, f64), String> {
    let mut nss = Namespaces(Vec::new());
    let a = nss.add("a")?;
    let b = nss.add("b")?;
    sh(&[
        "ip", "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b,
    ])?;
    sh(&[
        "ip",
        "-n",
        &a,
        "addr",
        "add",
        &format!("{VETH_A}/24"),
        "dev",
        "va",
    ])?;
    sh(&[
        "ip",
        "-n",
        &b,
        "addr",
        "add",
        &format!("{VETH_B}/24"),
        "dev",
        "vb",
    ])?;
    for (ns, dev) in [(&a, "va"), (&b, "vb")] {
        sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        if offloads {
            // veth's defaults: checksum, TSO, GSO on.
            continue;
        }
        // Offloads off, like the plain TAP path (best effort: ethtool may be missing).
        let _ = sh(&[
            "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
            "off", "tx", "off", "rx", "off",
        ]);
    }
    let n = bytes.to_string();
    let one = |from: &str, to: &str, to_addr: &str| -> Result<f64, String> {
        let (_sink, rx) = helper(to, &["sink", to_addr, "5201", &n])?;
        expect(&rx, "ready", Duration::from_secs(10))?;
        let (_src, _rx2) = helper(from, &["source", to_addr, "5201", &n])?;
        rate_line(&rx)
    };
    let ab = one(&a, &b, VETH_B)?;
    let ba = one(&b, &a, VETH_A)?;
    Ok((ab, ba))
}

/// `--helper sink ADDR PORT BYTES` / `--helper source ADDR PORT BYTES`:
/// the kernel side, plain std::net, bounded in time.
pub fn helper_main(args: &[String]) -> i32 {
    let r = match args {
        [mode, addr, port, bytes] => {
            let addr: Result<SocketAddr, _> = format!("{addr}:{port}").parse();
            match (addr, bytes.parse::<usize>()) {
                (Ok(a), Ok(n)) if mode == "sink" => sink(a, n),
                (Ok(a), Ok(n)) if mode == "source" => source(a, n),
                _ => Err("usage: --helper sink|source ADDR PORT BYTES".into()),
            }
        }
        _ => Err("usage: --helper sink|source ADDR PORT BYTES".into()),
    };
    match r {
        Ok(rate) => {
            println!("MBps {rate}");
            0
        }
        Err(e) => {
            eprintln!("helper: {e}");
            1
        }
    }
}

fn sink(addr: SocketAddr, bytes: usize) -> Result<f64, String> {
    let l = TcpListener::bind(addr).map_err(|e| e.to_string())?;
    println!("ready");
    let _ = std::io::stdout().flush();
    let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(LIMIT)).map_err(|e| e.to_string())?;
    let t = Wall::now();
    let mut buf = vec![0u8; APP_IO];
    let mut got = 0;
    while got < bytes {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(got as f64 / t.elapsed().as_secs_f64() / 1e6)
}

fn source(addr: SocketAddr, bytes: usize) -> Result<f64, String> {
    let end = Wall::now() + Duration::from_secs(10);
    let mut s = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if Wall::now() > end => return Err(e.to_string()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    s.set_write_timeout(Some(LIMIT))
        .map_err(|e| e.to_string())?;
    let data = vec![0x5au8; APP_IO];
    let t = Wall::now();
    let mut sent = 0;
    while sent < bytes {
        let k = (bytes - sent).min(APP_IO);
        s.write_all(data.get(..k).unwrap_or(&data))
            .map_err(|e| e.to_string())?;
        sent += k;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut b = [0u8; 16];
    let _ = s.read(&mut b);
    Ok(sent as f64 / t.elapsed().as_secs_f64() / 1e6)
}

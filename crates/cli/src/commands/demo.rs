//! `sockstack demo`: two in-memory hosts on a lossy link in virtual time.
//! Prints the ARP exchange on the wire and iputils-shaped ping lines; the
//! whole run depends only on `--seed`.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sockstack::link::impair::{Direction, ImpairConfig, Impaired};
use sockstack::link::memory::{self, WireConfig};
use sockstack::link::pcap::{Captured, LinkType, PcapWriter};
use sockstack::link::{Link, LinkStats, Waker};
use sockstack::runtime::VirtualNet;
use sockstack_proto::wire::{ArpPacket, ArpRepr, EtherType, EthernetFrame, MacAddr};
use sockstack_proto::{Duration, Instant, Medium, Stack, StackConfig};

use super::pinger::{self, PingPlan};
use super::transport::VirtualTransport;
use crate::args::DemoArgs;
use crate::device;
use crate::error::CliError;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const LOSS: f64 = 0.10;
const DELAY: Duration = Duration::from_millis(5);
const PINGS: u32 = 10;

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    story(args.seed, args.pcap.as_deref(), &mut out)
}

/// The whole demo, written to `out`.
pub fn story(seed: u64, pcap: Option<&Path>, out: &mut impl Write) -> Result<(), CliError> {
    let io_err = |e: io::Error| CliError::Runtime(format!("writing output: {e}"));
    let (la, lb) = memory::pair(WireConfig::ethernet().with_delay(DELAY));
    let lossy = |link: Box<dyn Link>, salt: u64| {
        let cfg = ImpairConfig {
            direction: Direction::Tx,
            ..ImpairConfig::loss(LOSS, device::splitmix64(seed ^ salt))
        };
        Impaired::new(link, cfg)
    };
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    // Host a sees the whole wire: its sends after loss, and b's that survived.
    let mut a_link: Box<dyn Link> = Box::new(ArpLog {
        inner: la,
        log: Arc::clone(&log),
    });
    if let Some(path) = pcap {
        let writer = PcapWriter::create(path, LinkType::Ethernet)
            .map_err(|e| crate::device::open_error(&e))?;
        a_link = Box::new(Captured::new(a_link, writer));
    }
    let a_link = lossy(a_link, 1);
    let b_link = lossy(Box::new(lb), 2);

    let mac = |last| MacAddr([0x02, 0, 0x5e, 0, 0, last]);
    let host = |last: u8, ip, salt: u64| {
        let mut cfg = StackConfig::ethernet(mac(last), ip, 24);
        cfg.seed = device::splitmix64(seed ^ salt);
        Stack::new(cfg)
    };
    let mut net = VirtualNet::new();
    let a = net.add_host("a", host(1, A, 10), a_link);
    let b = net.add_host("b", host(2, B, 20), b_link);

    writeln!(
        out,
        "sockstack demo (seed {seed}): host a {A} ({}) and host b {B} ({}) on an in-memory wire",
        mac(1),
        mac(2)
    )
    .map_err(io_err)?;
    writeln!(
        out,
        "{}% loss each way, {} ms one-way delay, virtual time; a pings b {PINGS} times\n",
        LOSS * 100.0,
        DELAY.total_millis()
    )
    .map_err(io_err)?;

    let plan = PingPlan {
        dest: B,
        count: PINGS,
        interval: std::time::Duration::from_secs(1),
        size: 56,
        timeout: std::time::Duration::from_secs(2),
    };
    let mut transcript = Interleave {
        log: Arc::clone(&log),
        out,
    };
    let ident = (device::splitmix64(seed) & 0xffff) as u16;
    let stats = {
        let mut t = VirtualTransport::new(&mut net, a, ident, pinger::payload(plan.size))?;
        pinger::run(&mut t, &plan, &mut transcript, &|| false)?
    };
    transcript.drain().map_err(io_err)?;
    let lost = |id| {
        net.link_as::<Impaired<Box<dyn Link>>>(id)
            .map(|l| l.tx_stats())
            .map_or((0, 0), |s| (s.frames, s.lost))
    };
    let ((a_sent, a_lost), (b_sent, b_lost)) = (lost(a), lost(b));
    let st = net.stack(a).stats();
    writeln!(
        out,
        "\nwire: frames sent by a {a_sent} (lost {a_lost}), by b {b_sent} (lost {b_lost})\n\
         host a: ARP requests sent {}, ARP replies received {}; echo requests answered {} of {}",
        st.arp.tx_requests, st.arp.rx_replies, stats.received, stats.transmitted
    )
    .map_err(io_err)?;
    if let Some(path) = pcap {
        writeln!(out, "wire capture (as host a sees it): {}", path.display()).map_err(io_err)?;
    }
    Ok(())
}

/// Writes the ping loop's lines, first emptying the ARP log so wire events
/// appear before the ping line they led to.
struct Interleave<'o, W: Write> {
    log: Arc<Mutex<Vec<String>>>,
    out: &'o mut W,
}

impl<W: Write> Interleave<'_, W> {
    fn drain(&mut self) -> io::Result<()> {
        let lines: Vec<String> =
            std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()));
        for l in lines {
            writeln!(self.out, "{l}")?;
        }
        Ok(())
    }
}

impl<W: Write> Write for Interleave<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.drain()?;
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

/// A link wrapper that notes every ARP frame passing through host a.
struct ArpLog<L: Link> {
    inner: L,
    log: Arc<Mutex<Vec<String>>>,
}

impl<L: Link> ArpLog<L> {
    fn note(&self, now: Instant, dir: &str, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::parse(frame) else {
            return;
        };
        if eth.ethertype() != EtherType::Arp {
            return;
        }
        let Ok(packet) = ArpPacket::parse(eth.payload()) else {
            return;
        };
        let arp = ArpRepr::parse(&packet);
        let note = if arp.sender_ip == arp.target_ip {
            " (gratuitous)"
        } else {
            ""
        };
        let line = format!(
            "{:>4}.{:03} s  a {dir} {arp}{note}",
            now.total_millis() / 1000,
            now.total_millis() % 1000
        );
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
}

impl<L: Link> Link for ArpLog<L> {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn send(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        self.note(now, "->", frame);
        self.inner.send(now, frame)
    }
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let got = self.inner.recv(now, buf)?;
        if let Some(n) = got {
            self.note(now, "<-", buf.get(..n).unwrap_or_default());
        }
        Ok(got)
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
        assert!(
            one.contains("ARP, Request who-has 198.18.0.2 tell 198.18.0.1"),
            "{one}"
        );
        assert!(one.contains("--- 198.18.0.2 ping statistics ---"), "{one}");
        assert!(one.contains("10 packets transmitted"), "{one}");
    }
}

//! The two places `sockstack ping` and `sockstack demo` send echo requests
//! from: a real-clock [`Host`] (TAP device) and a host inside a
//! [`VirtualNet`] (memory links, virtual time). Both use one raw ICMP
//! socket of the host's stack and keep only messages for our identifier.

use std::net::Ipv4Addr;
use std::time::Duration;

use sockstack::runtime::{Host, HostId, VirtualNet};
use sockstack_proto::{Instant, RawHandle};

use super::echo;
use super::pinger::{EchoTransport, Incoming};
use crate::error::CliError;

fn open_error(e: impl std::fmt::Debug) -> CliError {
    CliError::Runtime(format!("cannot open a raw ICMP socket: {e:?}"))
}

fn to_std(d: sockstack_proto::Duration) -> Duration {
    Duration::from(d)
}

/// A host driven by a [`VirtualNet`]; waiting advances virtual time.
pub struct VirtualTransport<'n> {
    net: &'n mut VirtualNet,
    host: HostId,
    sock: RawHandle,
    ident: u16,
    expected: Vec<u8>,
    buf: Vec<u8>,
}

impl<'n> VirtualTransport<'n> {
    pub fn new(
        net: &'n mut VirtualNet,
        host: HostId,
        ident: u16,
        expected: Vec<u8>,
    ) -> Result<Self, CliError> {
        let sock = net.stack_mut(host).raw_icmp_open().map_err(open_error)?;
        Ok(VirtualTransport {
            net,
            host,
            sock,
            ident,
            expected,
            buf: vec![0u8; 65_536],
        })
    }

    /// The next queued message for us, skipping others.
    fn take_queued(&mut self) -> Option<Incoming> {
        let stack = self.net.stack_mut(self.host);
        while let Ok(n) = stack.raw_icmp_recv(self.sock, &mut self.buf) {
            let pkt = self.buf.get(..n).unwrap_or_default();
            if let Some(msg) = echo::parse(pkt, self.ident, &self.expected) {
                return Some(msg);
            }
        }
        None
    }
}

impl EchoTransport for VirtualTransport<'_> {
    fn elapsed(&mut self) -> Duration {
        Duration::from_micros(self.net.now().total_micros())
    }

    fn send_echo(&mut self, dst: Ipv4Addr, seq: u16, payload: &[u8]) -> Result<(), CliError> {
        let msg = echo::request(self.ident, seq, payload);
        self.net
            .stack_mut(self.host)
            .raw_icmp_send(self.sock, dst, &msg)
            .map_err(|e| echo::send_error(e, dst))?;
        Ok(())
    }

    fn recv(&mut self, until: Duration) -> Result<Option<Incoming>, CliError> {
        let limit = Instant::from_micros(u64::try_from(until.as_micros()).unwrap_or(u64::MAX));
        loop {
            if let Some(msg) = self.take_queued() {
                return Ok(Some(msg));
            }
            if self.net.now() >= limit {
                return Ok(None);
            }
            let (host, sock) = (self.host, self.sock);
            // Stop stepping as soon as anything reaches the raw socket.
            let mut got = None;
            let buf = &mut self.buf;
            let arrived = self.net.run_until_cond(limit, |net| {
                match net.stack_mut(host).raw_icmp_recv(sock, buf) {
                    Ok(n) => {
                        got = Some(n);
                        true
                    }
                    Err(_) => false,
                }
            });
            if let Some(n) = got {
                let pkt = self.buf.get(..n).unwrap_or_default();
                if let Some(msg) = echo::parse(pkt, self.ident, &self.expected) {
                    return Ok(Some(msg));
                }
            } else if !arrived {
                self.net.run_until(limit);
            }
        }
    }
}

/// A real-clock host on its runtime thread; waiting sleeps until a message
/// arrives or the deadline passes.
pub struct HostTransport<'h> {
    host: &'h Host,
    sock: RawHandle,
    ident: u16,
    expected: Vec<u8>,
    start: Instant,
    buf: Vec<u8>,
}

impl<'h> HostTransport<'h> {
    pub fn new(host: &'h Host, ident: u16, expected: Vec<u8>) -> Result<Self, CliError> {
        let sock = host.with_stack(|s| s.raw_icmp_open()).map_err(open_error)?;
        Ok(HostTransport {
            host,
            sock,
            ident,
            expected,
            start: host.now(),
            buf: vec![0u8; 65_536],
        })
    }

    fn check_running(&self) -> Result<(), CliError> {
        if self.host.is_running() {
            Ok(())
        } else {
            Err(CliError::Runtime(
                "the host's runtime stopped (link failure)".into(),
            ))
        }
    }
}

impl EchoTransport for HostTransport<'_> {
    fn elapsed(&mut self) -> Duration {
        to_std(self.host.now() - self.start)
    }

    fn send_echo(&mut self, dst: Ipv4Addr, seq: u16, payload: &[u8]) -> Result<(), CliError> {
        self.check_running()?;
        let msg = echo::request(self.ident, seq, payload);
        let sock = self.sock;
        self.host
            .with_stack(|s| s.raw_icmp_send(sock, dst, &msg))
            .map_err(|e| echo::send_error(e, dst))?;
        Ok(())
    }

    fn recv(&mut self, until: Duration) -> Result<Option<Incoming>, CliError> {
        self.check_running()?;
        let clock = self.host.clock();
        let deadline = clock.to_std(self.start + sockstack_proto::Duration::from(until));
        let (sock, ident) = (self.sock, self.ident);
        let (buf, expected) = (&mut self.buf, &self.expected);
        let got = self.host.wait_until(Some(deadline), |stack| {
            while let Ok(n) = stack.raw_icmp_recv(sock, buf) {
                let pkt = buf.get(..n).unwrap_or_default();
                if let Some(msg) = echo::parse(pkt, ident, expected) {
                    return Some(msg);
                }
            }
            None
        });
        Ok(got)
    }
}

impl Drop for HostTransport<'_> {
    fn drop(&mut self) {
        let sock = self.sock;
        self.host.with_stack(|s| s.raw_icmp_close(sock));
    }
}

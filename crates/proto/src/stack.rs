//! The stack: one interface plus its sockets, driven by the caller.
//!
//! CONTRACT: `handle_frame` takes one received frame (Ethernet or raw IPv4,
//! per `Medium`); `poll_transmit` writes the next outgoing frame into `buf`
//! and returns its length, `None` when nothing is ready; `handle_timeout`
//! runs expired timers; `poll_at` gives the earliest deadline (`None`: idle
//! until input arrives). None of them panic on any input.

use crate::sockets::SocketSet;
use crate::time::Instant;
use crate::wire::{Ipv4Addr, MacAddr};

/// What the link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// Ethernet II frames (TAP, memory links); ARP resolves neighbours.
    Ethernet,
    /// Bare IPv4 packets (TUN); no ARP.
    Ip,
}

/// Interface configuration.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub medium: Medium,
    pub mac: MacAddr,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// IP MTU (bytes of IPv4 header + payload per frame).
    pub mtu: usize,
    /// Seed for every random choice the stack makes (ISNs, ports, ident...).
    pub seed: u64,
}

impl StackConfig {
    pub fn ethernet(mac: MacAddr, addr: Ipv4Addr, prefix_len: u8) -> Self {
        StackConfig {
            medium: Medium::Ethernet,
            mac,
            addr,
            prefix_len,
            gateway: None,
            mtu: 1500,
            seed: 0,
        }
    }
}

/// A TCP/IP host: interface, neighbour cache, sockets.
pub struct Stack {
    config: StackConfig,
    sockets: SocketSet,
}

impl Stack {
    pub fn new(config: StackConfig) -> Self {
        let sockets = SocketSet::new(config.addr, config.seed);
        Stack { config, sockets }
    }
    pub fn config(&self) -> &StackConfig {
        &self.config
    }
    /// The sockets of this stack (the socket API lives on `SocketSet`).
    pub fn sockets(&self) -> &SocketSet {
        &self.sockets
    }
    pub fn sockets_mut(&mut self) -> &mut SocketSet {
        &mut self.sockets
    }
    pub fn handle_frame(&mut self, _now: Instant, _frame: &[u8]) {}
    pub fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sockets.handle_timeout(now);
    }
    pub fn poll_at(&self) -> Option<Instant> {
        self.sockets.poll_at()
    }
}

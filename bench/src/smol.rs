//! smoltcp 0.14 on the same link model: two `Interface`s in one thread,
//! each polled with a device made of the shared queues.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::link::{Frame, Queue, FRAME, STEP_US};

pub const ADDR_A: Ipv4Address = Ipv4Address::new(198, 18, 0, 1);
pub const ADDR_B: Ipv4Address = Ipv4Address::new(198, 18, 0, 2);

struct QDev<'a> {
    rx: &'a mut Queue,
    /// Frames smoltcp has read this poll, given back to `rx` after it
    /// (`Queue::done_batch`), as sockstack's pump gives back its batch.
    ret: &'a mut Vec<Frame>,
    tx: &'a mut Queue,
    sent: &'a mut usize,
}

struct Rx<'a> {
    f: Frame,
    q: &'a mut Vec<Frame>,
}
struct Tx<'a> {
    q: &'a mut Queue,
    sent: &'a mut usize,
}

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.f.bytes());
        self.q.push(self.f);
        r
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut v = self.q.buffer();
        if v.len() < len {
            v.resize(len, 0);
        }
        let r = f(v.get_mut(..len).unwrap_or(&mut []));
        self.q.push(v, len);
        *self.sent += 1;
        r
    }
}

impl Device for QDev<'_> {
    type RxToken<'b>
        = Rx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b>
    where
        Self: 'b;
    fn receive(&mut self, _t: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let f = self.rx.pop()?;
        Some((
            Rx { f, q: self.ret },
            Tx {
                q: self.tx,
                sent: self.sent,
            },
        ))
    }
    fn transmit(&mut self, _t: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            q: self.tx,
            sent: self.sent,
        })
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = FRAME;
        c
    }
}

/// Client `a` and server `b` joined by two queues.
pub struct SmolPair {
    pub ia: Interface,
    pub ib: Interface,
    pub sa: SocketSet<'static>,
    pub sb: SocketSet<'static>,
    pub ab: Queue,
    pub ba: Queue,
    pub now_us: u64,
    /// The frames read in one poll, reused.
    ret: Vec<Frame>,
}

fn iface(mac: [u8; 6], addr: Ipv4Address, seed: u64, q1: &mut Queue, q2: &mut Queue) -> Interface {
    let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    cfg.random_seed = seed;
    let mut sent = 0;
    let mut ret = Vec::new();
    let mut dev = QDev {
        rx: q1,
        ret: &mut ret,
        tx: q2,
        sent: &mut sent,
    };
    let mut i = Interface::new(cfg, &mut dev, Instant::from_micros(0));
    i.update_ip_addrs(|a| {
        // Capacity is at least one address.
        let _ = a.push(IpCidr::new(IpAddress::Ipv4(addr), 24));
    });
    i
}

impl SmolPair {
    pub fn new(loss_ppm: u64, seed: u64) -> Self {
        let mut ab = Queue::new(loss_ppm, seed ^ 0xab);
        let mut ba = Queue::new(loss_ppm, seed ^ 0xba);
        let ia = iface([2, 0, 0, 0, 0, 1], ADDR_A, seed, &mut ba, &mut ab);
        let ib = iface([2, 0, 0, 0, 0, 2], ADDR_B, seed ^ 0x5555, &mut ab, &mut ba);
        SmolPair {
            ia,
            ib,
            sa: SocketSet::new(vec![]),
            sb: SocketSet::new(vec![]),
            ab,
            ba,
            now_us: 0,
            ret: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.now_us as i64)
    }

    /// One step (as `SsPair::step`): advance the clock, poll each interface.
    pub fn step(&mut self) -> usize {
        self.now_us += STEP_US;
        let now = self.now();
        let mut sent = 0;
        let mut da = QDev {
            rx: &mut self.ba,
            ret: &mut self.ret,
            tx: &mut self.ab,
            sent: &mut sent,
        };
        self.ia.poll(now, &mut da, &mut self.sa);
        self.ba.done_batch(&mut self.ret);
        let mut db = QDev {
            rx: &mut self.ab,
            ret: &mut self.ret,
            tx: &mut self.ba,
            sent: &mut sent,
        };
        self.ib.poll(now, &mut db, &mut self.sb);
        self.ab.done_batch(&mut self.ret);
        sent
    }

    pub fn step_or_skip(&mut self) -> usize {
        let n = self.step();
        if n == 0 && self.ab.is_empty() && self.ba.is_empty() {
            let now = self.now();
            let next = [
                self.ia.poll_at(now, &self.sa),
                self.ib.poll_at(now, &self.sb),
            ]
            .into_iter()
            .flatten()
            .min();
            if let Some(t) = next {
                let t = t.total_micros().max(0) as u64;
                if t > self.now_us + STEP_US {
                    self.now_us = t - STEP_US;
                }
            }
        }
        n
    }

    pub fn tcp_a(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sa.get_mut::<tcp::Socket>(h)
    }
    pub fn tcp_b(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sb.get_mut::<tcp::Socket>(h)
    }
}

/// A TCP socket with `rx` and `tx` buffer bytes.
pub fn socket(rx: usize, tx: usize) -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; rx]),
        tcp::SocketBuffer::new(vec![0u8; tx]),
    )
}

//! The link layer: Ethernet II demux (RFC 894) and ARP (RFC 826, RFC 5227).
//!
//! CONTRACT: frames not addressed to our MAC or broadcast are dropped and
//! counted. ARP learns the sender of every packet for which it already has
//! an entry (RFC 826 "merge"), creates an entry only for a request that
//! targets our address (Linux, `arp_accept` = 0), answers requests for our
//! address, and reports a sender claiming our address as a conflict. The
//! first `poll_transmit` on Ethernet sends one gratuitous ARP announcement
//! (RFC 5227, 2.3).

use crate::iface::arp_cache::Learned;
use crate::stack::{Medium, Stack};
use crate::time::Instant;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Ipv4Addr, MacAddr,
};

impl Stack {
    /// The body of `handle_frame`; `l4_verified`: the link verified the
    /// frame's TCP/UDP checksum (`handle_frame_verified`).
    pub(crate) fn ingress(&mut self, now: Instant, frame: &[u8], l4_verified: bool) {
        self.stats.ethernet.rx_frames += 1;
        if self.config.medium == Medium::Ip {
            self.handle_ipv4(now, frame, false, l4_verified);
            return;
        }
        let f = match EthernetFrame::parse(frame) {
            Ok(f) => f,
            Err(e) => {
                self.stats.ethernet.malformed.count(e);
                return;
            }
        };
        let eth = EthernetRepr::parse(&f);
        let link_broadcast = eth.dst.is_broadcast();
        if eth.dst != self.config.mac && !link_broadcast {
            self.stats.ethernet.rx_not_ours += 1;
            return;
        }
        match eth.ethertype {
            EtherType::Arp => self.handle_arp(now, f.payload()),
            EtherType::Ipv4 => self.handle_ipv4(now, f.payload(), link_broadcast, l4_verified),
            EtherType::Other(_) => self.stats.ethernet.rx_unknown_ethertype += 1,
        }
    }

    fn handle_arp(&mut self, now: Instant, payload: &[u8]) {
        self.stats.arp.rx_packets += 1;
        let p = match ArpPacket::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                self.stats.arp.malformed.count(e);
                return;
            }
        };
        let arp = ArpRepr::parse(&p);
        match arp.operation {
            ArpOperation::Request => self.stats.arp.rx_requests += 1,
            ArpOperation::Reply => self.stats.arp.rx_replies += 1,
        }
        let us = self.config.addr;
        if arp.sender_mac == self.config.mac {
            // Our own frame looped back (a hub, a bridge); nothing to learn.
            self.stats.arp.rx_looped += 1;
            return;
        }
        if arp.sender_ip == us {
            // RFC 5227, 2.4: another host uses our address.
            self.stats.arp.rx_address_conflict += 1;
            return;
        }
        let targets_us = arp.target_ip == us;
        if !arp.sender_ip.is_unspecified() {
            if !self.valid_neighbour(arp.sender_ip, arp.sender_mac) {
                self.stats.arp.rx_bad_sender += 1;
                return;
            }
            // RFC 826 creates an entry whenever the target is us; Linux does
            // so only for requests (an unsolicited reply is not trusted,
            // arp_accept = 0), and so do we.
            let create = targets_us && arp.operation == ArpOperation::Request;
            match self.arp.learn(now, arp.sender_ip, arp.sender_mac, create) {
                Learned::Created => self.stats.arp.learned += 1,
                Learned::Updated => self.stats.arp.updated += 1,
                Learned::Resolved(pending) => {
                    self.stats.arp.learned += 1;
                    self.release_pending(arp.sender_ip, pending);
                }
                Learned::Ignored => {}
                Learned::CacheFull => self.stats.arp.cache_full += 1,
            }
        }
        if arp.operation != ArpOperation::Request {
            return;
        }
        if !targets_us {
            self.stats.arp.rx_not_for_us += 1;
            return;
        }
        if self.arp_replies.len() >= self.config.limits.arp_reply_queue {
            self.stats.arp.reply_queue_full += 1;
            return;
        }
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: self.config.mac,
            sender_ip: us,
            target_mac: arp.sender_mac,
            target_ip: arp.sender_ip,
        };
        self.arp_replies.push_back((arp.sender_mac, reply));
    }

    /// A sender we may cache: a unicast MAC and an on-link unicast address.
    fn valid_neighbour(&self, ip: Ipv4Addr, mac: MacAddr) -> bool {
        mac.is_unicast()
            && mac != MacAddr::default()
            && !ip.is_broadcast()
            && !ip.is_multicast()
            && !ip.is_loopback()
            && ip != self.config.subnet_broadcast()
    }

    /// The next ARP frame to send, if any: announcement, reply, request.
    pub(crate) fn poll_arp_frame(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.config.medium != Medium::Ethernet {
            return None;
        }
        let us = self.config.addr;
        let mac = self.config.mac;
        if !self.announced {
            self.announced = true;
            // RFC 5227, 2.3: an announcement is a request with sender and
            // target both set to our address.
            let arp = ArpRepr {
                operation: ArpOperation::Request,
                sender_mac: mac,
                sender_ip: us,
                target_mac: MacAddr::default(),
                target_ip: us,
            };
            if let Some(n) = self.emit_arp(buf, MacAddr::BROADCAST, &arp) {
                self.stats.arp.tx_gratuitous += 1;
                return Some(n);
            }
        }
        while let Some((dst, arp)) = self.arp_replies.pop_front() {
            if let Some(n) = self.emit_arp(buf, dst, &arp) {
                self.stats.arp.tx_replies += 1;
                return Some(n);
            }
        }
        while let Some((ip, known)) = self.arp.poll_request(now) {
            let arp = ArpRepr {
                operation: ArpOperation::Request,
                sender_mac: mac,
                sender_ip: us,
                target_mac: MacAddr::default(),
                target_ip: ip,
            };
            // Linux probes a stale neighbour by unicast first.
            let dst = known.unwrap_or(MacAddr::BROADCAST);
            if let Some(n) = self.emit_arp(buf, dst, &arp) {
                self.stats.arp.tx_requests += 1;
                return Some(n);
            }
        }
        None
    }

    fn emit_arp(&mut self, buf: &mut [u8], dst: MacAddr, arp: &ArpRepr) -> Option<usize> {
        let eth = EthernetRepr {
            src: self.config.mac,
            dst,
            ethertype: EtherType::Arp,
        };
        let l2 = eth.buffer_len();
        let len = l2 + arp.buffer_len();
        let emitted =
            buf.get_mut(l2..len).is_some_and(|b| arp.emit(b).is_ok()) && eth.emit(buf).is_ok();
        if !emitted {
            self.stats.ethernet.tx_buffer_too_small += 1;
            return None;
        }
        self.stats.ethernet.tx_frames += 1;
        Some(len)
    }
}

//! ICMPv4 (RFC 792): echo responder, errors we send, errors we receive.
//!
//! CONTRACT: echo requests to our unicast address are answered (requests to
//! a broadcast are ignored, Linux's `icmp_echo_ignore_broadcasts` = 1).
//! Echo replies draw from a token bucket (`icmp_rate` per second,
//! `icmp_burst` deep); errors from a per-destination bucket (1/s, burst 6)
//! and then a global one like echo (RFC 1812 4.3.2.8; Linux's numbers). Errors are never sent in
//! reply to an ICMP error, a broadcast, a fragment other than the first, or a
//! source that is not one host (RFC 1122 3.2.2). Received errors whose quote
//! names one of our datagrams go to the socket layer (TCP) or the UDP table.
//! Every valid ICMP message is copied to the raw sockets first.

use crate::sockets::IcmpError;
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::{
    DstUnreachable, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr,
    TimeExceeded,
};

/// RFC 1812 4.3.2.3: an error quotes as much as fits in 576 bytes.
const MAX_ERROR_LEN: usize = 576;

/// A token bucket: `rate` tokens per second, at most `burst` stored.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u32,
    burst: u32,
    tokens: u32,
    last: Option<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Take one token if there is one.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let last = *self.last.get_or_insert(now);
        if self.rate > 0 {
            let elapsed = now.saturating_duration_since(last).total_micros();
            let add = elapsed.saturating_mul(u64::from(self.rate)) / 1_000_000;
            if add > 0 {
                let room = u64::from(self.burst.saturating_sub(self.tokens));
                self.tokens = self.tokens.saturating_add(add.min(room) as u32);
                // Keep the fraction of a token already earned.
                let used = add.saturating_mul(1_000_000) / u64::from(self.rate);
                self.last = Some(last + crate::time::Duration::from_micros(used));
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// Per-destination buckets for ICMP errors (Linux `icmpv4_xrlim_allow`).
#[derive(Debug, Clone)]
pub(crate) struct PeerLimiter {
    buckets: std::collections::BTreeMap<Ipv4Addr, TokenBucket>,
    rate: u32,
    burst: u32,
    max: usize,
}

impl PeerLimiter {
    pub(crate) fn new(rate: u32, burst: u32, max: usize) -> Self {
        PeerLimiter {
            buckets: std::collections::BTreeMap::new(),
            rate,
            burst,
            max,
        }
    }

    /// Take a token from `peer`'s bucket (created full on first use).
    pub(crate) fn allow(&mut self, now: Instant, peer: Ipv4Addr) -> bool {
        if !self.buckets.contains_key(&peer) {
            if self.max == 0 {
                return false;
            }
            while self.buckets.len() >= self.max {
                self.buckets.pop_first();
            }
            self.buckets
                .insert(peer, TokenBucket::new(self.rate, self.burst));
        }
        self.buckets.get_mut(&peer).is_some_and(|b| b.allow(now))
    }
}

/// The quoted IPv4 header of an ICMP error and the transport bytes after
/// it. The quote is truncated by design; `payload_len` keeps the original
/// datagram's length.
pub(crate) fn parse_quoted(q: &[u8]) -> Option<(Ipv4Repr, &[u8])> {
    let p = Ipv4Packet::parse_quoted(q).ok()?;
    let hl = p.header_len();
    let mut ip = Ipv4Repr::parse(&p);
    ip.payload_len = p.total_len().saturating_sub(hl);
    let end = p.total_len().min(q.len());
    Some((ip, q.get(hl..end)?))
}

/// The header bytes of `ip` (for quotes and raw sockets).
pub(crate) fn header_bytes(ip: &Ipv4Repr) -> Option<([u8; 60], usize)> {
    let mut b = [0u8; 60];
    let hl = ip.header_len();
    ip.emit(b.get_mut(..hl)?).ok()?;
    Some((b, hl))
}

/// True for ICMP types that are errors (RFC 1122 3.2.2: never answered with an error).
fn is_icmp_error(msg_type: u8) -> bool {
    matches!(msg_type, 3 | 4 | 5 | 11 | 12)
}

impl Stack {
    pub(crate) fn handle_icmp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        broadcast: bool,
    ) {
        self.stats.icmp.rx_messages += 1;
        let p = match Icmpv4Packet::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                self.stats.icmp.malformed.count(e);
                return;
            }
        };
        if !p.verify_checksum() {
            self.stats.icmp.rx_bad_checksum += 1;
            return;
        }
        self.deliver_raw(ip, payload);
        let code = p.code();
        let repr = match Icmpv4Repr::parse(&p) {
            Ok(r) => r,
            Err(e) => {
                self.stats.icmp.malformed.count(e);
                return;
            }
        };
        match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                self.stats.icmp.rx_echo_requests += 1;
                if broadcast {
                    self.stats.icmp.rx_echo_broadcast_ignored += 1;
                    return;
                }
                if !self.echo_bucket.allow(now) {
                    self.stats.icmp.ratelimited_echo += 1;
                    return;
                }
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.send_icmp(ip.dst, ip.src, &reply, ip.tos) {
                    self.stats.icmp.tx_echo_replies += 1;
                }
            }
            Icmpv4Repr::EchoReply { .. } => self.stats.icmp.rx_echo_replies += 1,
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                quoted,
            } => {
                self.stats.icmp.rx_dest_unreachable += 1;
                let err = match reason {
                    DstUnreachable::FragRequired => IcmpError::FragNeeded { mtu: next_hop_mtu },
                    _ => IcmpError::Unreachable { code },
                };
                self.icmp_error_to_socket(now, err, quoted);
            }
            Icmpv4Repr::TimeExceeded { quoted, .. } => {
                self.stats.icmp.rx_time_exceeded += 1;
                self.icmp_error_to_socket(now, IcmpError::TimeExceeded, quoted);
            }
        }
    }

    /// Report an error about one of our own datagrams (`packet`, whole) to
    /// its socket, as if an ICMP error had quoted it.
    pub(crate) fn local_error(&mut self, now: Instant, err: IcmpError, packet: &[u8]) {
        self.icmp_error_to_socket(now, err, packet);
    }

    /// Hand an ICMP error to whoever sent the quoted datagram.
    fn icmp_error_to_socket(&mut self, now: Instant, err: IcmpError, quoted: &[u8]) {
        let Some((qip, qpayload)) = parse_quoted(quoted) else {
            self.stats.icmp.rx_bad_quote += 1;
            return;
        };
        // RFC 792: the quote holds at least 64 bits of the original payload.
        if !self.is_local_addr(qip.src) || qpayload.len() < 8 {
            self.stats.icmp.rx_bad_quote += 1;
            return;
        }
        match qip.protocol {
            IpProtocol::Tcp => {
                self.stats.tcp.rx_icmp_errors += 1;
                self.sockets.handle_icmp_error(now, err, &qip, qpayload);
            }
            IpProtocol::Udp => {
                let (port, dport) = match qpayload.get(..4) {
                    Some(&[a, b, c, d]) => (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])),
                    _ => return,
                };
                let dst = std::net::SocketAddrV4::new(qip.dst, dport);
                if self.udp.set_error(port, dst, err) {
                    self.stats.udp.rx_icmp_errors += 1;
                } else {
                    self.stats.icmp.rx_errors_no_socket += 1;
                }
            }
            // ICMP and others: the raw sockets already have their copy.
            _ => {}
        }
    }

    /// Build and queue one ICMP message to `dst` about a datagram that was
    /// sent to `about`: like Linux `icmp_reply` / `icmp_send`, the source
    /// is that address when it is one of ours (127.0.0.1 answers as
    /// 127.0.0.1), else our interface address. False if it was dropped.
    fn send_icmp(&mut self, about: Ipv4Addr, dst: Ipv4Addr, msg: &Icmpv4Repr<'_>, tos: u8) -> bool {
        let mut bytes = vec![0u8; msg.buffer_len()];
        if msg.emit(&mut bytes).is_err() {
            return false;
        }
        let mut ip = self.ip_header(dst, IpProtocol::Icmp, bytes.len());
        if self.is_local_addr(about) {
            ip.src = about;
        }
        // RFC 1122 3.2.1.3 (g): a 127/8 source never leaves the host (Linux
        // refuses the route, EINVAL). Only a looped datagram with a forged
        // IP_HDRINCL source gets here.
        if ip.src.is_loopback() && !self.is_local_addr(dst) {
            return false;
        }
        // Linux's ICMP socket uses IP_PMTUDISC_DONT: DF clear, so large
        // echo replies are fragmented.
        ip.dont_frag = false;
        ip.tos = tos;
        if self.send_datagram(ip, &bytes).is_err() {
            return false;
        }
        self.stats.icmp.tx_messages += 1;
        true
    }

    /// RFC 1812 4.3.2.8, as Linux: a per-destination bucket (1/s, burst 6),
    /// then the global one (1000/s, burst 50).
    fn error_rate_allows(&mut self, now: Instant, dst: Ipv4Addr) -> bool {
        if !self.peer_limiter.allow(now, dst) || !self.error_bucket.allow(now) {
            self.stats.icmp.ratelimited_errors += 1;
            return false;
        }
        true
    }

    /// May we send an ICMP error about this datagram? (RFC 1122 3.2.2)
    fn error_allowed(&self, orig: &Ipv4Repr, payload: &[u8]) -> bool {
        if orig.frag_offset != 0 {
            return false;
        }
        if orig.protocol == IpProtocol::Icmp {
            match payload.first() {
                Some(t) if !is_icmp_error(*t) => {}
                _ => return false,
            }
        }
        // Loopback sources only arrive through our own loopback queue
        // (ingress rejects them from the link), and Linux answers those.
        // Looped datagrams skip the source check of ingress (an IP_HDRINCL
        // header may claim any source): the subnet broadcast is refused
        // here too.
        let s = orig.src;
        !(s.is_unspecified() || s.is_multicast() || self.is_broadcast_addr(s))
    }

    /// The quote of an error: the original header and as much payload as
    /// fits in 576 bytes (RFC 1812 4.3.2.3).
    fn quote(orig: &Ipv4Repr, payload: &[u8]) -> Option<Vec<u8>> {
        let (h, hl) = header_bytes(orig)?;
        let room = MAX_ERROR_LEN.saturating_sub(20 + 8 + hl);
        let body = payload.get(..room.min(payload.len()))?;
        let mut q = Vec::with_capacity(hl + body.len());
        q.extend_from_slice(h.get(..hl)?);
        q.extend_from_slice(body);
        Some(q)
    }

    /// Destination unreachable about `orig` (rate-limited).
    pub(crate) fn send_unreachable(
        &mut self,
        now: Instant,
        reason: DstUnreachable,
        orig: &Ipv4Repr,
        payload: &[u8],
    ) {
        if !self.error_allowed(orig, payload) {
            self.stats.icmp.tx_errors_suppressed += 1;
            return;
        }
        if !self.error_rate_allows(now, orig.src) {
            return;
        }
        let Some(quoted) = Self::quote(orig, payload) else {
            return;
        };
        let msg = Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu: 0,
            quoted: &quoted,
        };
        if self.send_icmp(orig.dst, orig.src, &msg, 0) {
            self.stats.icmp.tx_dest_unreachable += 1;
        }
    }

    /// Time exceeded, code 1, after a reassembly timeout (RFC 792), quoting
    /// the first fragment's header and first 8 bytes.
    pub(crate) fn send_reasm_time_exceeded(&mut self, now: Instant, first: &Ipv4Repr, data: &[u8]) {
        if !self.error_allowed(first, data) {
            self.stats.icmp.tx_errors_suppressed += 1;
            return;
        }
        if !self.error_rate_allows(now, first.src) {
            return;
        }
        let Some(quoted) = Self::quote(first, data) else {
            return;
        };
        let msg = Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::FragReassembly,
            quoted: &quoted,
        };
        if self.send_icmp(first.dst, first.src, &msg, 0) {
            self.stats.icmp.tx_time_exceeded += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn bucket_burst_then_rate() {
        let mut b = TokenBucket::new(1000, 50);
        let t0 = Instant::from_secs(1);
        assert_eq!((0..60).filter(|_| b.allow(t0)).count(), 50);
        // 1000/s: one token per millisecond, fractions kept.
        let t1 = t0 + Duration::from_micros(500);
        assert!(!b.allow(t1));
        let t2 = t0 + Duration::from_micros(1000);
        assert!(b.allow(t2));
        assert!(!b.allow(t2));
        let t3 = t2 + Duration::from_secs(10);
        assert_eq!((0..60).filter(|_| b.allow(t3)).count(), 50);
    }

    #[test]
    fn quoted_header_ignores_truncation() {
        let mut q = vec![0x45, 0, 0x05, 0xdc, 0, 7, 0x40, 0, 64, 17, 0, 0];
        q.extend_from_slice(&[198, 18, 0, 2, 198, 18, 0, 1]);
        q.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        let (ip, rest) = parse_quoted(&q).unwrap();
        assert_eq!(ip.src, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(ip.protocol, IpProtocol::Udp);
        assert_eq!(ip.payload_len, 1480);
        assert!(ip.dont_frag);
        assert_eq!(rest.len(), 8);
        for n in 0..q.len() {
            let _ = parse_quoted(&q[..n]);
        }
        assert!(parse_quoted(&[0x46, 0, 0]).is_none());
    }
}

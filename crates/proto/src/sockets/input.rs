//! Segment arrival: the per-packet demux (4-tuple, then listener by
//! address, then wildcard listener), LISTEN processing (RFC 9293 3.10.7.2)
//! with SYN cookies when the SYN queue is full (RFC 4987 3.6, Linux
//! `tcp_syncookies` = 1), resets for segments to no socket (3.10.7.1) and
//! ICMP errors (RFC 5927).

use super::{slot_sock, FourTuple, IcmpError, SocketHandle, SocketSet};
use crate::tcp::connection::{ConnParams, Connection, RstReply, TcpError};
use crate::tcp::input::Note;
use crate::tcp::syncookie;
use crate::tcp::{Profile, SeqNum, State};
use crate::time::Instant;
use crate::wire::ipv4::Ipv4Addrs;
use crate::wire::{Ipv4Addr, Ipv4Repr, TcpRepr};

impl SocketSet {
    // ----- input ----------------------------------------------------------

    /// A TCP segment addressed to us with a verified checksum.
    #[cfg(test)]
    pub(crate) fn handle_tcp(&mut self, now: Instant, ip: &Ipv4Repr, seg: &TcpRepr<'_>) {
        self.handle_tcp_at(now, ip.into(), seg, None);
    }

    /// `handle_tcp` with only the addresses of the IPv4 header (the
    /// receive path builds no `Ipv4Repr` for TCP).
    pub(crate) fn handle_tcp_from(&mut self, now: Instant, ip: Ipv4Addrs, seg: &TcpRepr<'_>) {
        self.handle_tcp_at(now, ip, seg, None);
    }

    /// A TCP segment whose checksum is still to be verified; `header_sum` is
    /// the one's-complement sum of its pseudo-header and TCP header
    /// (`checksum::sum`, not folded). Returns false, having changed nothing
    /// a reader or the peer can see, when the checksum is wrong.
    ///
    /// Issue 7: an in-order data segment for a connection that can take it
    /// (`Connection::fold_receive`) has its payload copied into the receive
    /// ring and summed in the same pass, the sum checked, and only then the
    /// segment processed; every other segment (listeners, TIME_WAIT, SYN,
    /// RST, out of order, no socket) is verified first, as before.
    #[cfg(test)]
    pub(crate) fn handle_tcp_unverified(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        seg: &TcpRepr<'_>,
        header_sum: u64,
    ) -> bool {
        self.handle_tcp_unverified_from(now, ip.into(), seg, header_sum)
    }

    /// `handle_tcp_unverified` with only the addresses of the IPv4 header.
    pub(crate) fn handle_tcp_unverified_from(
        &mut self,
        now: Instant,
        ip: Ipv4Addrs,
        seg: &TcpRepr<'_>,
        header_sum: u64,
    ) -> bool {
        use crate::wire::checksum;
        let tuple = FourTuple {
            local: (ip.dst, seg.dst_port),
            remote: (ip.src, seg.src_port),
        };
        let folded = self.demux(&tuple).and_then(|h| {
            let (sock, pool) = self.sock_and_pool(h)?;
            Some((h, sock.conn.as_mut()?.fold_receive(seg, pool)?))
        });
        let total = match folded {
            // The TCP header is a whole number of 32-bit words, so the
            // payload starts at an even offset and its sum adds as is.
            Some((_, payload_sum)) => checksum::add(header_sum, payload_sum),
            None => checksum::sum(seg.payload, header_sum),
        };
        if !checksum::verifies(total) {
            if let Some((sock, pool)) = folded.and_then(|(h, _)| self.sock_and_pool(h)) {
                // A pooled first buffer the bad segment was written into
                // goes back (its bytes were never made readable).
                if let Some(c) = sock.conn.as_mut() {
                    pool.reclaim(&mut c.rcv_buf);
                }
            }
            return false;
        }
        self.handle_tcp_at(now, ip, seg, folded.map(|(h, _)| h));
        true
    }

    /// `handle_tcp`; `folded`: the connection (found by its 4-tuple) whose
    /// ring already holds the segment's payload (`fold_receive`).
    fn handle_tcp_at(
        &mut self,
        now: Instant,
        ip: Ipv4Addrs,
        seg: &TcpRepr<'_>,
        folded: Option<SocketHandle>,
    ) {
        self.stats.in_segs += 1;
        self.now = self.now.max(now);
        let f = seg.flags;
        if (f.syn() && (f.fin() || f.rst())) || !(f.syn() || f.ack() || f.rst()) {
            // Illegal flags: counted here, handled below per RFC 9293.
            self.stats.bad_flags += 1;
        }
        // RFC 1122 4.2.3.10: no connections with broadcast or multicast
        // addresses; never answer them either.
        // (broadcast, 224.0.0.0/4, 0.0.0.0 on the address's bits: per segment)
        let bad = |a: Ipv4Addr| {
            let x = a.to_bits();
            x == u32::MAX || x >> 28 == 0xe || x == 0
        };
        if bad(ip.src) || bad(ip.dst) {
            self.stats.dropped += 1;
            return;
        }
        let tuple = FourTuple {
            local: (ip.dst, seg.dst_port),
            remote: (ip.src, seg.src_port),
        };
        if let Some(h) = folded {
            // Found by the same 4-tuple a moment ago; not TIME_WAIT.
            self.segment_to_conn(now, h, seg, seg.payload.len());
            return;
        }
        if let Some(h) = self.demux(&tuple) {
            if !self.time_wait_yields(now, h, seg) {
                self.segment_to_conn(now, h, seg, 0);
                return;
            }
            // Linux `tcp_timewait_state_process` (TCP_TW_SYN): a new SYN
            // beyond the old connection's sequence space ends TIME_WAIT and
            // goes to the listener, so a peer may reuse the 4-tuple at once.
            self.free(h);
            self.segment_without_conn(now, ip, &tuple, seg, false);
            return;
        }
        self.segment_without_conn(now, ip, &tuple, seg, true);
    }

    /// The rest of `handle_tcp_at`, for a segment no connection took:
    /// TIME_WAIT records, listeners, resets. Kept out of line so the
    /// per-segment path stays small.
    #[inline(never)]
    fn segment_without_conn(
        &mut self,
        now: Instant,
        ip: Ipv4Addrs,
        tuple: &FourTuple,
        seg: &TcpRepr<'_>,
        time_wait: bool,
    ) {
        // `time_wait`: no socket had the 4-tuple, so a compact TIME_WAIT
        // record may (a socket leaving TIME_WAIT for a new SYN skips this).
        if time_wait && self.time_wait_input(now, tuple, seg) {
            // A compact TIME_WAIT record answered it.
            return;
        }
        let listener = self
            .listeners
            .get(&(ip.dst, seg.dst_port))
            .or_else(|| self.listeners.get(&(Ipv4Addr::UNSPECIFIED, seg.dst_port)))
            .copied();
        if let Some(lh) = listener {
            self.segment_to_listener(now, lh, ip, seg);
            return;
        }
        // RFC 9293 3.10.7.1: no socket. Never answer a reset; answer the rest.
        self.stats.no_socket += 1;
        if seg.flags.rst() || seg.src_port == 0 || seg.dst_port == 0 {
            return;
        }
        if seg.flags.syn() && !seg.flags.ack() {
            self.stats.closed_port_syns += 1;
        }
        let rst = RstReply::for_segment(seg);
        self.queue_reset(ip.dst, ip.src, seg.dst_port, seg.src_port, rst);
    }

    /// `conn_handle(tuple)`, trying the socket of the previous segment, or
    /// the one the application last wrote to, first (a bulk receiver sees
    /// long runs for one connection, and a request's reply comes back on
    /// the connection that sent it; Linux keeps the socket on the skb for
    /// the same reason, early demux). At a million connections the hint
    /// saves the table's cold line on a reply (PERF_NOTES 17). The hint is
    /// used only when that socket is live, in the demux and has this exact
    /// 4-tuple: `conns` maps the 4-tuple of every such socket to it (an
    /// invariant `check_invariants` asserts), so the answer is the map's.
    #[inline(always)]
    pub(super) fn demux(&mut self, tuple: &FourTuple) -> Option<SocketHandle> {
        if let Some(h) = self.demux_hint {
            if self.demuxed_at(h.index, tuple) == Some(h) {
                debug_assert_eq!(self.conn_handle(tuple), Some(h), "demux hint");
                return Some(h);
            }
        }
        let h = self.conn_handle(tuple);
        if h.is_some() {
            self.demux_hint = h;
        }
        h
    }

    /// A SYN (no ACK) for a TIME_WAIT connection with a sequence number past
    /// the old `rcv_nxt` (RFC 9293 3.10.7.4 lets TIME_WAIT accept a new SYN;
    /// RFC 6191 when timestamps say it is newer).
    fn time_wait_yields(&self, now: Instant, h: SocketHandle, seg: &TcpRepr<'_>) -> bool {
        // Only a SYN can (`TwKeys::syn_ends`): no lookup for the rest.
        seg.flags.syn()
            && self
                .sock(h)
                .and_then(|s| s.conn.as_ref())
                .is_some_and(|c| c.time_wait_yields(now, seg))
    }

    /// `prewritten`: payload bytes already in the connection's receive ring
    /// (`Connection::fold_receive`).
    fn segment_to_conn(
        &mut self,
        now: Instant,
        h: SocketHandle,
        seg: &TcpRepr<'_>,
        prewritten: usize,
    ) {
        let parent = self.sock(h).and_then(|s| s.parent);
        let room = match parent
            .and_then(|p| self.sock(p))
            .and_then(|p| p.listener.as_ref())
        {
            Some(l) => !l.accept_full(),
            None => true,
        };
        let profile = &self.profile;
        let Some(sock) = self
            .slots
            .get_mut(h.index as usize)
            .and_then(|s| s.sock.as_mut())
        else {
            return;
        };
        let Some(conn) = sock.conn.as_mut() else {
            return;
        };
        if !seg.payload.is_empty()
            && conn.ack_urgent
            && self.acks.len() < profile.max_pending_resets
        {
            // RFC 5681 4.2: an ACK owed at once to an earlier segment of
            // this batch goes out on its own, not merged into this one's.
            // (`take_urgent_ack` needs `ack_urgent`: checked first, so the
            // loss counters' line is read only when an ACK may go.)
            let dsack_before = conn.loss.dsack_tx;
            if let Some(ack) = conn.take_urgent_ack(now) {
                self.stats.dsack_tx += conn.loss.dsack_tx - dsack_before;
                self.acks.push_back((conn.local.0, conn.remote.0, ack));
            }
        }
        let before = conn.state;
        let had_ack = conn.ack_now;
        if !seg.payload.is_empty() && prewritten == 0 {
            self.ring_pool
                .provision(&mut conn.rcv_buf, seg.payload.len());
        }
        let res = conn.process(now, profile, seg, room, prewritten);
        // Everything sent is acknowledged: a first-size send ring goes back
        // to the pool, as Linux frees an skb once it is acknowledged, so an
        // idle connection holds no send memory and the next small write
        // anywhere in the stack takes a buffer that is still in cache.
        self.ring_pool.reclaim(&mut conn.snd_buf);
        debug_assert_eq!(res.is_quiet(), res == Default::default());
        if res.is_quiet() && conn.state == before {
            // Nothing to count or act on (every fast-path segment): only
            // the readiness and timer bookkeeping.
            if sock.refresh_only() {
                // `touch`'s common case, without its second slot lookup.
                let (changed, queue, timer) = sock.refresh();
                self.note_refresh(h, changed, queue, timer);
                return;
            }
            self.touch(h);
            return;
        }
        if res.has(Note::ChallengeAck) {
            // RFC 5961 7: the stack-wide budget on top of the per-socket one.
            let limit = profile.challenge_ack_limit;
            let bucket = match &mut self.challenge {
                Some((l, b)) if *l == limit => b,
                slot => {
                    let b = crate::tcp::rfc5961::TokenBucket::per_second(limit);
                    &mut slot.insert((limit, b)).1
                }
            };
            if bucket.take(now) {
                self.stats.challenge_acks += 1;
            } else {
                self.stats.challenge_acks_limited += 1;
                conn.ack_now = had_ack;
            }
        }
        let after = conn.state;
        let (local, remote) = (conn.local, conn.remote);
        let failed = conn.error;
        self.stats.sack_blocks_rx += u64::from(res.sack_blocks);
        self.stats.sack_blocks_invalid += u64::from(res.sack_invalid);
        self.stats.dsack_rx += u64::from(res.dsack);
        if res.has(Note::SpuriousRto) {
            self.stats.spurious_rto_undos += 1;
        }
        if res.has(Note::PawsRejected) {
            if before == State::TimeWait {
                self.stats.paws_tw_rejected += 1;
            } else {
                self.stats.paws_rejected += 1;
            }
        }
        if res.has(Note::PawsOldAck) {
            self.stats.paws_old_ack += 1;
        }
        if res.has(Note::TsecrRejected) {
            self.stats.tsecr_rejected += 1;
        }
        if res.has(Note::Dropped) {
            self.stats.dropped += 1;
        }
        if res.has(Note::Overflow) {
            self.stats.listen_overflows += 1;
        }
        if after == State::Closed && before != State::Closed {
            match failed {
                Some(TcpError::Refused) => self.stats.attempt_fails += 1,
                Some(TcpError::Reset) => self.stats.estab_resets += 1,
                _ => {}
            }
        }
        if let Some(rst) = res.reset {
            self.queue_reset(local.0, remote.0, local.1, remote.1, rst);
        }
        if res.has(Note::Established) {
            if let Some(p) = parent {
                // The listener's readiness (a child waits) changes only
                // when its accept queue stops being empty.
                let mut first = true;
                if let Some(l) = self.sock_mut(p).and_then(|s| s.listener.as_mut()) {
                    first = l.accept_queue.is_empty();
                    l.promote(h);
                }
                if first {
                    self.touch(p);
                }
            }
        }
        self.touch(h);
    }

    /// RFC 9293 3.10.7.2: LISTEN, with SYN cookies (RFC 4987 3.6) in
    /// Linux's order (`tcp_v4_do_rcv`, `tcp_conn_request`).
    fn segment_to_listener(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        ip: Ipv4Addrs,
        seg: &TcpRepr<'_>,
    ) {
        let f = seg.flags;
        let Some(ls) = self.sock(lh) else {
            return;
        };
        let Some(l) = ls.listener.as_ref() else {
            return;
        };
        let (recent_overflow, syn_full, accept_full) =
            (l.recent_overflow(now), l.syn_full(), l.accept_full());
        let local = (ip.dst, seg.dst_port);
        let remote = (ip.src, seg.src_port);
        // One hash gives both; the ISN is used only if a child is made.
        let (iss, ts_offset) = self.isn.isn_ts(now, local, remote);
        let params = ConnParams {
            local,
            remote,
            iss: SeqNum(0),
            ts_offset,
            mtu: self.mtu,
            user_mss: ls.user_mss,
            rcvbuf: ls.rcvbuf,
            sndbuf: ls.sndbuf,
            nodelay: ls.nodelay,
            keepalive: ls.keepalive,
        };
        // Linux `cookie_v4_check`: an ACK (no SYN, no RST) with no half-open
        // child is a cookie candidate while the SYN queue overflowed lately.
        if f.ack() && !f.syn() && !f.rst() && self.profile.syncookies && recent_overflow {
            let jar = self.isn.cookies();
            match syncookie::check_cookie_ack(jar, now, &self.profile, &params, seg) {
                Some(d) => {
                    self.stats.syncookies_recv += 1;
                    self.cookie_child(now, lh, params, seg, &d);
                    return;
                }
                // Not a cookie of ours: on to RFC 9293 3.10.7.2 (a reset).
                None => self.stats.syncookies_failed += 1,
            }
        }
        // First: a reset to a listener is ignored.
        if f.rst() {
            return;
        }
        // Second: an ACK here acknowledges nothing we sent: reset.
        if f.ack() {
            let rst = RstReply::for_segment(seg);
            self.queue_reset(ip.dst, ip.src, seg.dst_port, seg.src_port, rst);
            return;
        }
        // Third and fourth: only a SYN opens a connection. RFC 9293 leaves
        // SYN+FIN open; Linux `tcp_rcv_state_process` drops it (TCP_FLAGS),
        // and drops a segment with neither SYN, ACK nor RST ("you are
        // unlikely to get here, but if you do, drop the segment").
        if !f.syn() || f.fin() {
            self.stats.dropped += 1;
            return;
        }
        let want_cookie = syn_full;
        if want_cookie && !self.profile.syncookies {
            self.stats.listen_drops += 1;
            return;
        }
        if accept_full {
            // Linux tcp_conn_request: a full accept queue drops new SYNs,
            // cookies or not.
            self.stats.listen_overflows += 1;
            self.stats.listen_drops += 1;
            return;
        }
        if want_cookie {
            self.send_cookie(now, lh, params, seg);
            return;
        }
        let params = ConnParams { iss, ..params };
        let place = |slot: &mut Option<Connection>, p: &Profile| {
            Connection::accept_syn_in(slot, now, p, &params, seg);
        };
        let Some(ch) = self.spawn_child(lh, (local, remote), place) else {
            self.stats.listen_drops += 1;
            return;
        };
        if let Some(l) = self.sock_mut(lh).and_then(|s| s.listener.as_mut()) {
            l.syn_queue.insert(ch);
        }
        self.stats.passive_opens += 1;
        self.touch(ch);
    }

    /// The SYN queue is full: answer with a cookie SYN-ACK and keep nothing
    /// (Linux `tcp_conn_request` with `want_cookie`).
    fn send_cookie(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        params: ConnParams,
        syn: &TcpRepr<'_>,
    ) {
        if self.cookies.len() >= self.profile.max_pending_cookies {
            // The cookie reply queue is full (the runtime has not polled for
            // a whole burst): drop as Linux drops a SYN it cannot answer.
            self.stats.cookie_queue_full += 1;
            self.stats.listen_drops += 1;
            return;
        }
        let jar = self.isn.cookies();
        let Some(repr) = syncookie::cookie_synack(jar, now, &self.profile, &params, syn) else {
            self.stats.listen_drops += 1;
            return;
        };
        if let Some(l) = self.sock_mut(lh).and_then(|s| s.listener.as_mut()) {
            l.note_overflow(now);
        }
        self.stats.syncookies_sent += 1;
        self.cookies
            .push_back((params.local.0, params.remote.0, repr));
    }

    /// A valid cookie ACK: create the connection and let it process the ACK
    /// (and any data on it), which moves it to the accept queue.
    fn cookie_child(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        params: ConnParams,
        seg: &TcpRepr<'_>,
        d: &syncookie::DecodedCookie,
    ) {
        let full = self
            .sock(lh)
            .and_then(|s| s.listener.as_ref())
            .is_none_or(|l| l.accept_full());
        if full {
            // Linux `tcp_v4_syn_recv_sock`: the accept queue is full; drop
            // the ACK, the client retransmits (or its data does).
            self.stats.listen_overflows += 1;
            self.stats.listen_drops += 1;
            return;
        }
        let params = ConnParams {
            iss: seg.ack - 1,
            ..params
        };
        let conn = syncookie::accept_cookie(now, &self.profile, &params, seg, d);
        let place = |slot: &mut Option<Connection>, _: &Profile| *slot = Some(conn);
        let Some(ch) = self.spawn_child(lh, (params.local, params.remote), place) else {
            self.stats.listen_drops += 1;
            return;
        };
        self.stats.passive_opens += 1;
        // Its TSecr holds cookie bits under a rounded-down TSval, not a
        // time: take no RTT sample from it (Linux samples nothing for a
        // cookie SYN-ACK either, `snt_synack` is 0).
        let mut first = *seg;
        if let Some(ts) = first.timestamp.as_mut() {
            ts.tsecr = 0;
        }
        self.segment_to_conn(now, ch, &first, 0);
        // The ACK always completes the handshake (its numbers were just
        // checked); should it not, no half-open child may linger outside
        // the SYN queue's cap.
        let half_open = self
            .sock(ch)
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| c.state == State::SynReceived);
        if half_open {
            self.stats.dropped += 1;
            self.free(ch);
        }
    }

    /// The stack's cookie generator (tests decode SYN-ACKs with it).
    #[cfg(test)]
    pub(crate) fn cookie_jar(&self) -> &syncookie::SynCookies {
        self.isn.cookies()
    }

    /// Register a listener's new child: socket options inherited from the
    /// listener, in the demux and port table. Not yet in either queue.
    /// `place` puts the connection for (`local`, `remote`) into the new
    /// socket's place.
    fn spawn_child(
        &mut self,
        lh: SocketHandle,
        (local, remote): ((Ipv4Addr, u16), (Ipv4Addr, u16)),
        place: impl FnOnce(&mut Option<Connection>, &Profile),
    ) -> Option<SocketHandle> {
        let ls = self.sock(lh)?;
        let (reuse, rcvbuf, sndbuf) = (ls.reuse_addr, ls.rcvbuf, ls.sndbuf);
        let (rcvbuf_locked, sndbuf_locked) = (ls.rcvbuf_locked, ls.sndbuf_locked);
        let (nodelay, keepalive) = (ls.nodelay, ls.keepalive);
        let (user_mss, congestion) = (ls.user_mss, ls.congestion);
        // Built in its slot (`alloc`), then the connection moved in once.
        let ch = self.alloc()?;
        let child = slot_sock(&mut self.slots, ch)?;
        place(&mut child.conn, &self.profile);
        debug_assert!(child
            .conn
            .as_ref()
            .is_some_and(|c| c.local == local && c.remote == remote));
        child.bound = Some(local);
        child.reuse_addr = reuse;
        child.parent = Some(lh);
        child.in_demux = true;
        child.rcvbuf = rcvbuf;
        child.sndbuf = sndbuf;
        child.rcvbuf_locked = rcvbuf_locked;
        child.sndbuf_locked = sndbuf_locked;
        child.nodelay = nodelay;
        child.keepalive = keepalive;
        child.user_mss = user_mss;
        child.congestion = congestion;
        if let Some(c) = child.conn.as_mut() {
            c.cc.set_algorithm(congestion);
            c.tune.rcv_locked = rcvbuf_locked;
            c.tune.snd_locked = sndbuf_locked;
        }
        // Absent: only a segment no connection took reaches a listener.
        self.conns.insert_new(FourTuple { local, remote }, ch.index);
        self.ports.insert_new(local.1, ch, local.0, reuse);
        Some(ch)
    }

    /// An ICMP error quoting one of our packets: `quoted_ip` is the quoted
    /// header, `quoted_payload` the (at least 8) quoted transport bytes.
    pub(crate) fn handle_icmp_error(
        &mut self,
        _now: Instant,
        err: IcmpError,
        quoted_ip: &Ipv4Repr,
        quoted_payload: &[u8],
    ) {
        // RFC 792: the quote holds at least the first 8 bytes of our TCP header.
        if quoted_payload.len() < 8 {
            return;
        }
        let sport = crate::wire::be16(quoted_payload, 0);
        let dport = crate::wire::be16(quoted_payload, 2);
        let seq = SeqNum(crate::wire::be32(quoted_payload, 4));
        let tuple = FourTuple {
            local: (quoted_ip.src, sport),
            remote: (quoted_ip.dst, dport),
        };
        let Some(h) = self.conn_handle(&tuple) else {
            if self.time_wait_holds(&tuple) {
                // Counted like the full TIME_WAIT connection counted it;
                // nothing is in flight to fail.
                self.stats.icmp_errors += 1;
            }
            return;
        };
        self.stats.icmp_errors += 1;
        let Some(c) = self.sock_mut(h).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        // RFC 5927 4.1: the quoted sequence number must be in flight.
        if !(c.snd_una.le(seq) && seq.lt(c.snd_max.max(c.snd_una + 1))) {
            return;
        }
        // Linux icmp_err_convert.
        let e = match err {
            IcmpError::Unreachable { code: 0 | 6 } => TcpError::NetUnreachable,
            IcmpError::Unreachable { code: 2 | 3 } => TcpError::Refused,
            IcmpError::Unreachable { code: 4 } => return,
            IcmpError::Unreachable { code } if code <= 15 => TcpError::HostUnreachable,
            IcmpError::Unreachable { .. } => return,
            IcmpError::TimeExceeded => TcpError::HostUnreachable,
            IcmpError::FragNeeded { mtu } => {
                // RFC 1191: lower the segment size (never below 68-byte MTU).
                let mss = usize::from(mtu.max(68)).saturating_sub(40);
                let overhead = if c.ts_ok { 12 } else { 0 };
                let new_mss = mss.saturating_sub(overhead).max(8);
                if new_mss < c.snd_mss {
                    c.snd_mss = new_mss;
                    // Linux `tcp_simple_retransmit`: resend what was in flight
                    // in smaller segments, without a congestion response.
                    if c.state.is_synchronized() && c.snd_max.gt(c.snd_una) {
                        c.snd_nxt = c.snd_una;
                        c.rtt_seq = None;
                    }
                }
                self.touch(h);
                return;
            }
        };
        let hard = matches!(c.state, State::SynSent | State::SynReceived);
        if hard {
            // Linux tcp_v4_err: any error during the handshake ends it.
            c.fail(e);
        } else {
            c.soft_error = Some(e);
        }
        if hard {
            self.stats.attempt_fails += 1;
        }
        self.touch(h);
    }
}

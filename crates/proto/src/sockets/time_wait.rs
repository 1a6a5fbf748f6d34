//! The TIME_WAIT table: compact records (`tcp::time_wait::TimeWait`) of
//! connections the application closed, keyed by 4-tuple, with their own
//! cap (`Profile::max_tw_buckets`, Linux `tcp_max_tw_buckets`), an expiry
//! queue and a queue of owed ACKs.
//!
//! Contract: a closed connection that reaches TIME_WAIT gives its socket
//! slot, buffers, demux entry and timer back and lives on here (like
//! Linux's `inet_timewait_sock`). The record keeps the socket's handle
//! (netstat rows stay the same socket) and its port-table entry (a holder
//! without a socket is a TIME_WAIT record), so bind conflicts and ephemeral
//! port choice see it as before.
//! Expiry is a FIFO: every record is queued once, at the deadline it had
//! when queued; a record whose deadline moved later (a retransmitted FIN)
//! is queued again when its old deadline comes. `now` only grows and the
//! TIME_WAIT length is the profile's, so the queue stays in deadline order
//! (a shorter `time_wait` set at run time ends records no later than the
//! old length allowed). Nothing here scans the table per packet.
//!
//! An orphan in FIN_WAIT_2 becomes a record too, in the FIN_WAIT_2
//! substate (`TimeWait::fin_wait2`; Linux `tcp_time_wait(sk,
//! TCP_FIN_WAIT2, tmo)`). Its lifetime (`tcp_fin_timeout`, at least 3.5 RTO)
//! differs from record to record, so those wait in a min-heap by deadline
//! (`fw2_expiry`); the peer's FIN moves a record to TIME_WAIT and into the
//! FIFO. Records of both substates share the `max_tw_buckets` cap, as Linux
//! tw socks do; an orphan reaching FIN_WAIT_2 with the table full is simply
//! closed (Linux `tcp_time_wait` without a tw sock: `tcp_done`,
//! TCPTimeWaitOverflow), so a later segment of the peer meets no socket
//! and is reset.

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::Entry as Entry_;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use super::{FourTuple, SocketHandle, SocketSet, TcpRow};
use crate::storage::HashKey;
use crate::tcp::time_wait::TimeWait;
use crate::tcp::State;
use crate::time::Instant;
use crate::wire::{Ipv4Addr, TcpRepr};

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The socket this was (netstat identity and port-table holder).
    handle: SocketHandle,
    rec: TimeWait,
}

/// A FIN_WAIT_2 record's deadline in `fw2_expiry`, ordered by (deadline,
/// insertion number) only: deterministic, and no order needed on tuples.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Instant,
    n: u64,
    t: FourTuple,
    h: SocketHandle,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.n).cmp(&(o.at, o.n))
    }
}

#[derive(Debug)]
pub(crate) struct TimeWaitTable {
    /// Tuple -> index into `recs`: 16-byte buckets, so a probe, an insert
    /// and a rehash move a quarter of what whole records in the map did.
    map: HashMap<FourTuple, u32, HashKey>,
    /// The records, reused through `free` (at most `max_tw_buckets` live).
    recs: Vec<Entry>,
    free: Vec<u32>,
    /// (deadline when queued, tuple, handle): a record is live for an
    /// entry only when its handle matches (a tuple may come back).
    expiry: VecDeque<(Instant, FourTuple, SocketHandle)>,
    /// Deadlines of FIN_WAIT_2-substate records, earliest first; an entry
    /// is live only while its record (same handle) is still in FIN_WAIT_2.
    fw2_expiry: BinaryHeap<Reverse<Due>>,
    /// Insertion counter for `Due::n`.
    fw2_n: u64,
    /// Live records in the FIN_WAIT_2 substate.
    fw2: usize,
    /// Records owing an ACK (each once: `TimeWait::ack_now` dedups), by
    /// place in `recs` and handle: the ACK is sent without a second probe
    /// of `map`. An entry is live only while its place still holds that
    /// handle (a replaced record has another) and owes an ACK (`remove`
    /// clears `ack_now`, since a freed place keeps its old contents).
    acks: VecDeque<(FourTuple, u32, SocketHandle)>,
    /// Final ACKs of connections that skipped TIME_WAIT (table full):
    /// (source, destination, header), capped by `max_pending_resets`.
    last_acks: VecDeque<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)>,
}

impl TimeWaitTable {
    pub(crate) fn new(key: HashKey) -> Self {
        TimeWaitTable {
            map: HashMap::with_hasher(key),
            recs: Vec::new(),
            free: Vec::new(),
            expiry: VecDeque::new(),
            fw2_expiry: BinaryHeap::new(),
            fw2_n: 0,
            fw2: 0,
            acks: VecDeque::new(),
            last_acks: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn contains(&self, t: &FourTuple) -> bool {
        !self.map.is_empty() && self.map.contains_key(t)
    }

    /// Whether an ACK may be owed (`take_time_wait_ack` has one to find).
    #[inline(always)]
    pub(super) fn acks_queued(&self) -> bool {
        !self.acks.is_empty() || !self.last_acks.is_empty()
    }

    /// The earliest expiry to wake up for, or `ZERO` when an ACK is owed.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        if self.acks_queued() {
            return Some(Instant::ZERO);
        }
        let tw = self.expiry.front().map(|e| e.0);
        match self.fw2_expiry.peek() {
            Some(Reverse(d)) => Some(tw.map_or(d.at, |a| a.min(d.at))),
            None => tw,
        }
    }

    fn get(&self, t: &FourTuple) -> Option<&Entry> {
        let &i = self.map.get(t)?;
        self.recs.get(i as usize)
    }

    /// Every (tuple, record).
    fn iter(&self) -> impl Iterator<Item = (&FourTuple, &Entry)> {
        self.map
            .iter()
            .filter_map(|(t, &i)| Some((t, self.recs.get(i as usize)?)))
    }

    fn insert(&mut self, t: FourTuple, handle: SocketHandle, rec: TimeWait) {
        // Stale queue entries (records that ended early) are dropped when
        // they outnumber the live ones, so the queues stay O(table).
        if self.expiry.len() >= 2 * self.map.len() + 16 {
            let (map, recs) = (&self.map, &self.recs);
            self.expiry.retain(|(_, t, h)| {
                map.get(t)
                    .and_then(|&i| recs.get(i as usize))
                    .is_some_and(|e| e.handle == *h)
            });
        }
        if self.fw2_expiry.len() >= 2 * self.fw2 + 16 {
            let (map, recs) = (&self.map, &self.recs);
            self.fw2_expiry.retain(|Reverse(d)| {
                map.get(&d.t)
                    .and_then(|&i| recs.get(i as usize))
                    .is_some_and(|e| e.handle == d.h && e.rec.fin_wait2)
            });
        }
        if rec.fin_wait2 {
            self.fw2_n += 1;
            self.fw2 += 1;
            self.fw2_expiry.push(Reverse(Due {
                at: rec.expires,
                n: self.fw2_n,
                t,
                h: handle,
            }));
        } else {
            self.expiry.push_back((rec.expires, t, handle));
        }
        let ack_now = rec.ack_now;
        let entry = Entry { handle, rec };
        // One probe of the map: the tuple's record is replaced, or a new
        // one takes a free slot.
        let (recs, free) = (&mut self.recs, &mut self.free);
        let i = match self.map.entry(t) {
            Entry_::Occupied(o) => {
                if let Some(e) = recs.get_mut(*o.get() as usize) {
                    *e = entry;
                }
                *o.get()
            }
            Entry_::Vacant(v) => {
                let i = match free.pop() {
                    Some(i) => {
                        if let Some(slot) = recs.get_mut(i as usize) {
                            *slot = entry;
                        }
                        i
                    }
                    None => {
                        // Bounded by `max_tw_buckets` (the caller checks),
                        // far below u32::MAX.
                        let Ok(i) = u32::try_from(recs.len()) else {
                            return;
                        };
                        recs.push(entry);
                        i
                    }
                };
                v.insert(i);
                i
            }
        };
        if ack_now {
            self.acks.push_back((t, i, handle));
        }
    }

    fn remove(&mut self, t: &FourTuple) -> Option<SocketHandle> {
        let i = self.map.remove(t)?;
        self.free.push(i);
        let e = self.recs.get_mut(i as usize)?;
        // An entry of `acks` may still name this place (see there).
        e.rec.ack_now = false;
        if e.rec.fin_wait2 {
            self.fw2 -= 1;
        }
        Some(e.handle)
    }
}

impl SocketSet {
    /// Swap a closed TIME_WAIT socket for a compact record when nothing
    /// else is owed (`Connection::time_wait_record`), or an orphan in
    /// FIN_WAIT_2 for a FIN_WAIT_2 record (`Connection::fin_wait2_record`;
    /// with the table at `max_tw_buckets` the orphan is closed instead,
    /// Linux `tcp_time_wait` -> `tcp_done`). Returns whether the socket is
    /// gone.
    pub(crate) fn compact_time_wait(&mut self, h: SocketHandle) -> bool {
        let expiry = self.now + self.profile.time_wait;
        let now = self.now;
        let full = self.time_wait_count() >= self.profile.max_tw_buckets;
        let Some(slot) = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.gen == h.gen)
        else {
            return false;
        };
        let Some(sock) = slot.sock.as_mut() else {
            return false;
        };
        if !sock.closed || sock.parent.is_some() {
            return false;
        }
        let Some(c) = sock.conn.as_mut() else {
            return false;
        };
        let rec = if c.state == State::FinWait2 {
            if full {
                // Linux `tcp_time_wait` with no tw sock (TCPTimeWaitOverflow):
                // `tcp_done`, nothing sent.
                c.enter_closed();
                self.stats.tw_overflow += 1;
                self.free(h);
                return true;
            }
            c.fin_wait2_record(now)
        } else {
            c.time_wait_record(expiry)
        };
        let Some(rec) = rec else {
            return false;
        };
        let tuple = FourTuple {
            local: c.local,
            remote: c.remote,
        };
        // The record holds the port from now on: its port-table entry
        // stays, with the socket's SO_REUSEADDR (`ports::PortUse::reuse`),
        // and `free` below leaves the port table alone.
        sock.bound = None;
        if sock.in_tw {
            sock.in_tw = false;
            self.time_wait -= 1;
        }
        self.free(h);
        self.tw.insert(tuple, h, rec);
        true
    }

    /// A segment for a tuple in the TIME_WAIT table. Returns false when
    /// there is no record, or when a new SYN ended it (the caller then
    /// hands the SYN to a listener).
    pub(crate) fn time_wait_input(
        &mut self,
        now: Instant,
        t: &FourTuple,
        seg: &TcpRepr<'_>,
    ) -> bool {
        if self.tw.map.is_empty() {
            return false;
        }
        let Some(&i) = self.tw.map.get(t) else {
            return false;
        };
        let Some(e) = self.tw.recs.get_mut(i as usize) else {
            return false;
        };
        if e.rec.yields_to(now, seg) {
            // Linux `tcp_timewait_state_process` (TCP_TW_SYN): the tuple
            // may be reused at once.
            self.end_time_wait(t);
            return false;
        }
        let h = e.handle;
        let out = e.rec.process(now, &self.profile, seg);
        if out.paws_rejected {
            self.stats.paws_tw_rejected += 1;
        }
        if out.dropped {
            self.stats.dropped += 1;
        }
        if out.time_wait {
            // FIN_WAIT_2 -> TIME_WAIT: the 2 MSL deadline joins the FIFO (it
            // is the latest deadline queued, as for any new record).
            let at = e.rec.expires;
            self.tw.fw2 -= 1;
            self.tw.expiry.push_back((at, *t, h));
        }
        if out.reset {
            // Linux TCP_TW_RST (FIN_WAIT_2 substate): `tcp_v4_send_reset`.
            let rst = crate::tcp::connection::RstReply::for_segment(seg);
            self.queue_reset(t.local.0, t.remote.0, t.local.1, t.remote.1, rst);
        }
        if out.killed {
            // A reset at rcv_nxt (Linux `tcp_rfc1337` = 0), or FIN_WAIT_2
            // ended by a reset, a SYN or new data: the tuple is free.
            self.end_time_wait(t);
        } else if out.ack {
            self.tw.acks.push_back((*t, i, h));
        }
        true
    }

    /// Remove a record and give its port back.
    fn end_time_wait(&mut self, t: &FourTuple) {
        if let Some(h) = self.tw.remove(t) {
            self.ports.remove(t.local.1, h);
            self.events += 1;
        }
    }

    /// End the records whose TIME_WAIT is over.
    pub(crate) fn expire_time_wait(&mut self, now: Instant) {
        while let Some(&(at, t, h)) = self.tw.expiry.front() {
            if at > now {
                break;
            }
            self.tw.expiry.pop_front();
            let Some(e) = self.tw.get(&t).filter(|e| e.handle == h) else {
                continue; // ended early; a stale entry
            };
            if e.rec.expires > now {
                // Restarted (a retransmitted FIN, an ACK): wait for the new deadline.
                let again = (e.rec.expires, t, h);
                self.tw.expiry.push_back(again);
                continue;
            }
            self.end_time_wait(&t);
        }
        // FIN_WAIT_2 records: their own deadlines, earliest first. A record
        // gone to TIME_WAIT (or ended) leaves a stale entry.
        while let Some(Reverse(d)) = self.tw.fw2_expiry.peek().copied() {
            if d.at > now {
                break;
            }
            self.tw.fw2_expiry.pop();
            let live = self
                .tw
                .get(&d.t)
                .is_some_and(|e| e.handle == d.h && e.rec.fin_wait2 && e.rec.expires <= now);
            if live {
                // `tcp_fin_timeout` is over: the record goes, silently.
                self.end_time_wait(&d.t);
            }
        }
    }

    /// The ACK a connection skipping TIME_WAIT still owes for the peer's
    /// FIN (Linux `tcp_fin` sends it before `tcp_time_wait` finds no room).
    pub(crate) fn queue_last_ack(&mut self, src: Ipv4Addr, dst: Ipv4Addr, repr: TcpRepr<'static>) {
        if self.tw.last_acks.len() < self.profile.max_pending_resets {
            self.tw.last_acks.push_back((src, dst, repr));
        }
    }

    /// The next owed TIME_WAIT ACK, as a stateless reply. The common case
    /// (both queues empty) is inlined into the output loop; taking one is
    /// not. Asking the queues, not `poll_at`, skips its expiry peeks.
    #[inline(always)]
    pub(super) fn next_time_wait_ack(
        &mut self,
        now: Instant,
    ) -> Option<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)> {
        if !self.tw.acks_queued() {
            return None;
        }
        self.take_time_wait_ack(now)
    }

    #[inline(never)]
    fn take_time_wait_ack(
        &mut self,
        now: Instant,
    ) -> Option<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>)> {
        if let Some(r) = self.tw.last_acks.pop_front() {
            return Some(r);
        }
        while let Some((t, i, h)) = self.tw.acks.pop_front() {
            let Some(e) = self.tw.recs.get_mut(i as usize).filter(|e| e.handle == h) else {
                continue;
            };
            if !e.rec.ack_now {
                continue;
            }
            let repr = e.rec.take_ack(now, t.local.1, t.remote.1);
            return Some((t.local.0, t.remote.0, repr));
        }
        None
    }

    /// Netstat rows for the records (state TIME_WAIT or FIN_WAIT2, as `ss`
    /// shows a tw sock's substate; orphaned), with the time left until each
    /// ends.
    pub(crate) fn time_wait_rows(&self, now: Instant, rows: &mut Vec<TcpRow>) {
        for (t, e) in self.tw.iter() {
            rows.push(TcpRow {
                handle: e.handle,
                proto: "tcp",
                local: std::net::SocketAddrV4::new(t.local.0, t.local.1),
                remote: std::net::SocketAddrV4::new(t.remote.0, t.remote.1),
                state: if e.rec.fin_wait2 {
                    State::FinWait2
                } else {
                    State::TimeWait
                },
                recv_q: 0,
                send_q: 0,
                syn_queue: 0,
                orphan: true,
                rcvbuf: 0,
                sndbuf: 0,
                timer: Some(crate::snapshot::TcpTimer {
                    kind: crate::snapshot::TimerKind::TimeWait,
                    remaining: e.rec.remaining(now),
                    count: 0,
                }),
            });
        }
    }

    /// ICMP errors for a TIME_WAIT tuple are counted and ignored (a
    /// TIME_WAIT connection has nothing in flight to fail).
    pub(crate) fn time_wait_holds(&self, t: &FourTuple) -> bool {
        self.tw.contains(t)
    }

    /// Every TIME_WAIT connection, compact or not, and every FIN_WAIT_2
    /// record (Linux counts all tw socks against `tcp_max_tw_buckets`).
    pub(crate) fn time_wait_count(&self) -> usize {
        self.time_wait + self.tw.len()
    }

    /// Compact records in the FIN_WAIT_2 substate.
    #[cfg(test)]
    pub(crate) fn fin_wait2_records(&self) -> usize {
        self.tw.fw2
    }

    #[cfg(test)]
    pub(crate) fn time_wait_record(&self, t: &FourTuple) -> Option<TimeWait> {
        self.tw.get(t).map(|e| e.rec)
    }

    #[cfg(any(test, fuzzing))]
    pub(crate) fn check_time_wait_invariants(&self) {
        assert!(self.tw.len() <= self.profile.max_tw_buckets);
        assert_eq!(
            self.tw.map.len() + self.tw.free.len(),
            self.tw.recs.len(),
            "every record slot is live or free"
        );
        for (t, e) in self.tw.iter() {
            assert!(
                !self.conns.contains_key(t),
                "TIME_WAIT record beside a live tuple"
            );
            assert!(self.sock(e.handle).is_none(), "record handle is retired");
            assert!(self.ports.held(t.local.1), "a record holds its port");
            let queued = if e.rec.fin_wait2 {
                self.tw
                    .fw2_expiry
                    .iter()
                    .any(|Reverse(d)| d.t == *t && d.h == e.handle && d.at <= e.rec.expires)
            } else {
                self.tw
                    .expiry
                    .iter()
                    .any(|(at, q, h)| q == t && *h == e.handle && *at <= e.rec.expires)
            };
            assert!(queued, "every record waits in the expiry queue");
        }
        let fw2 = self.tw.iter().filter(|(_, e)| e.rec.fin_wait2).count();
        assert_eq!(fw2, self.tw.fw2, "FIN_WAIT_2 records counted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::SeqNum;

    fn rec(n: u32) -> TimeWait {
        TimeWait {
            snd_nxt: SeqNum(n),
            rcv_nxt: SeqNum(n + 1),
            window: 64,
            ts_ok: false,
            ack_now: false,
            ts_recent: 0,
            ts_recent_stamp: 0,
            ts_offset: 0,
            last_oow_ack: Instant::ZERO,
            expires: Instant::from_micros(u64::from(n)),
            rcv_wnd: 0,
            fin_wait2: false,
        }
    }

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: (Ipv4Addr::new(198, 18, 0, 1), port),
            remote: (Ipv4Addr::new(198, 18, 0, 2), 80),
        }
    }

    /// Records come and go through the index map: lookups find the record
    /// of their own tuple, a re-insert replaces it, freed slots are reused
    /// (the record store never outgrows the peak number of records).
    #[test]
    fn records_are_found_replaced_and_their_slots_reused() {
        let mut tw = TimeWaitTable::new(HashKey::from_seed(1, 2));
        let h = |i: u32| SocketHandle { index: i, gen: 1 };
        for p in 0..100u16 {
            tw.insert(tuple(p), h(u32::from(p)), rec(u32::from(p)));
        }
        assert_eq!((tw.len(), tw.recs.len()), (100, 100));
        tw.insert(tuple(7), h(1000), rec(5000));
        assert_eq!(tw.len(), 100);
        assert_eq!(
            tw.get(&tuple(7)).map(|e| (e.handle, e.rec)),
            Some((h(1000), rec(5000)))
        );
        for p in (0..100u16).step_by(2) {
            assert_eq!(tw.remove(&tuple(p)), Some(h(u32::from(p))));
            assert!(!tw.contains(&tuple(p)));
        }
        assert_eq!(tw.remove(&tuple(0)), None);
        for p in 100..150u16 {
            tw.insert(tuple(p), h(u32::from(p)), rec(u32::from(p)));
        }
        assert_eq!((tw.len(), tw.recs.len()), (100, 100));
        for p in 0..150u16 {
            let want =
                (p % 2 == 1 || p >= 100)
                    .then(|| if p == 7 { rec(5000) } else { rec(u32::from(p)) });
            assert_eq!(tw.get(&tuple(p)).map(|e| e.rec), want, "port {p}");
        }
        assert_eq!(tw.iter().count(), 100);
    }

    /// An owed ACK goes once, from the record that owes it: not for a
    /// record ended since (its place free, or taken by another record), and
    /// once for a tuple whose record was replaced (the new record's ACK).
    /// The queue names places, not tuples (`TimeWaitTable::acks`).
    #[test]
    fn owed_acks_follow_their_records() {
        let mut set = SocketSet::new(Ipv4Addr::new(198, 18, 0, 1), 3);
        let h = |i: u32| SocketHandle { index: i, gen: 1 };
        let owing = |n: u32| TimeWait {
            ack_now: true,
            ..rec(n)
        };
        for p in 0..4u16 {
            set.tw
                .insert(tuple(p), h(u32::from(p)), owing(u32::from(p)));
        }
        // 0 ends before its ACK goes, and its place goes to a record that
        // owes nothing; 1 ends and its place stays free.
        assert_eq!(set.tw.remove(&tuple(0)), Some(h(0)));
        set.tw.insert(tuple(10), h(10), rec(10));
        assert_eq!(set.tw.remove(&tuple(1)), Some(h(1)));
        // 2's record is replaced by one that owes an ACK as well.
        set.tw.insert(tuple(2), h(20), owing(200));
        let mut sent = Vec::new();
        while let Some((_, _, ack)) = set.take_time_wait_ack(Instant::from_micros(1)) {
            sent.push((ack.src_port, ack.seq));
        }
        assert_eq!(sent, [(3, SeqNum(3)), (2, SeqNum(200))]);
        assert!(set.next_time_wait_ack(Instant::from_micros(2)).is_none());
    }
}

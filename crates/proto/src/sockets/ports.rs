//! Port bookkeeping: which sockets hold which local port, bind conflicts
//! (Linux `inet_csk_bind_conflict` rules for SO_REUSEADDR) and ephemeral
//! port selection (RFC 6056 algorithm 4, "double-hash", like Linux
//! `__inet_hash_connect`). Binding scans one port's bucket or the ephemeral
//! range; neither happens per packet.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use super::{FourTuple, SocketHandle, SocketSet};
use crate::storage::HashKey;
use crate::wire::Ipv4Addr;

/// Size of RFC 6056's perturbation table.
const TABLE_SIZE: usize = 256;

/// One holder of a port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortUse {
    pub addr: Ipv4Addr,
    /// bind() by the user (versus autobind by connect or an accepted child).
    pub explicit: bool,
    /// The holder's SO_REUSEADDR, kept current by `set_reuse_addr`. A
    /// holder whose socket is gone is a TIME_WAIT record with this flag
    /// (Linux keeps `inet_timewait_sock`s in the bind bucket): nothing has
    /// to find the bucket again when a connection becomes one.
    pub reuse: bool,
}

/// Holders a bucket keeps inline, in the port table's own entry. A
/// connect's ephemeral port is shared by the TIME_WAIT records of earlier
/// connections to other destinations (Linux keeps `inet_timewait_sock`s
/// in the bind bucket too): at 100k connections over 28k ports about 3.5
/// a port. Inline, the holder a connect adds sits on the line its port
/// choice just read; the rest go to `Ports::spill`, whose entries sit by
/// port too. Two make a 40-byte entry (the memory scenario +17 B per idle
/// pair); three (56 bytes, +43 B) measured no faster.
const INLINE: usize = 2;

/// One holder of a port.
#[derive(Debug, Clone, Copy)]
struct Holder {
    h: SocketHandle,
    u: PortUse,
}

/// The holders of one port: up to `INLINE` in the entry (`inline[..n]`),
/// the rest in `Ports::spill` under the same port (`spilled`: a listener's
/// children, a much shared port). No holder is in both places.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    n: u8,
    spilled: bool,
    inline: [Holder; INLINE],
}

/// An unused inline place (`n` says which are in use).
const NO_HOLDER: Holder = Holder {
    h: SocketHandle { index: 0, gen: 0 },
    u: PortUse {
        addr: Ipv4Addr::UNSPECIFIED,
        explicit: false,
        reuse: false,
    },
};

impl Bucket {
    const EMPTY: Bucket = Bucket {
        n: 0,
        spilled: false,
        inline: [NO_HOLDER; INLINE],
    };

    fn inline(&self) -> &[Holder] {
        self.inline.get(..usize::from(self.n)).unwrap_or(&[])
    }

    fn inline_mut(&mut self) -> &mut [Holder] {
        self.inline
            .get_mut(..usize::from(self.n))
            .unwrap_or(&mut [])
    }

    fn is_empty(&self) -> bool {
        self.n == 0 && !self.spilled
    }
}

/// The port table's hash, after Linux `inet_bhashfn` (`(lport +
/// net_hash_mix(net)) & (bhash_size - 1)`), which puts neighbouring ports
/// in neighbouring buckets. RFC 6056's ephemeral choice walks each
/// destination's sequence a port or two at a time, so a connect then finds
/// its candidate next to the previous one (cached) instead of at a random
/// place in a table of up to 64k entries. Here runs of 16 ports (one
/// hashbrown group) keep their order and sit together, and the runs are
/// scattered by a multiply: a plain `port & mask` would pile the ports of
/// a range wider than a small table onto the same buckets (hashbrown
/// probes openly; Linux chains). hashbrown's control tag (the top 7 bits)
/// is drawn from the whole port, so a group's tags still differ. No
/// secret is needed: the keys are our own ports (at most 65,536), so no
/// peer can aim keys at one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PortHash;

/// State of one `PortHash` computation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PortHasher(u64);

impl BuildHasher for PortHash {
    type Hasher = PortHasher;
    #[inline]
    fn build_hasher(&self) -> PortHasher {
        PortHasher(0)
    }
}

impl Hasher for PortHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `u16` keys; any fold will do.
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).rotate_left(5);
        }
    }
    #[inline]
    fn write_u16(&mut self, v: u16) {
        const TAG: u64 = 0xfe00_0000_0000_0000;
        let v = u64::from(v);
        // A multiply alone keeps low bits from low bits (runs r and
        // r + 2^k would share a table of 2^k places); fold the high half in.
        let m = u128::from(v >> 4) * 0x9e37_79b9_7f4a_7c15;
        let run = ((m as u64) ^ ((m >> 64) as u64) ^ ((m as u64) >> 32)) << 4;
        let tag = v.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        self.0 = (run & !TAG) | (v & 0xf) | (tag & TAG);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug)]
pub(crate) struct Ports {
    map: HashMap<u16, Bucket, PortHash>,
    /// Holders beyond a bucket's inline places, by port (`Bucket::spilled`
    /// says whether a port has an entry here; entries are never empty).
    spill: HashMap<u16, HashMap<SocketHandle, PortUse, HashKey>, PortHash>,
    /// Ports with holders bound explicitly, and how many (Linux keeps
    /// `fastreuse` in the bind bucket for the same purpose): ephemeral
    /// port choice asks this small map, usually empty, instead of walking
    /// each candidate's holders (cold, boxed once a port is shared).
    explicit: HashMap<u16, u32, HashKey>,
    table: Vec<u32>,
    key: HashKey,
}

impl Ports {
    pub(crate) fn new(key: HashKey) -> Self {
        Ports {
            map: HashMap::with_hasher(PortHash),
            spill: HashMap::with_hasher(PortHash),
            explicit: HashMap::with_hasher(key),
            table: vec![0; TABLE_SIZE],
            key,
        }
    }

    pub(crate) fn insert(
        &mut self,
        port: u16,
        h: SocketHandle,
        addr: Ipv4Addr,
        explicit: bool,
        reuse: bool,
    ) {
        let key = self.key;
        let u = PortUse {
            addr,
            explicit,
            reuse,
        };
        let b = self.map.entry(port).or_insert(Bucket::EMPTY);
        let old = if let Some(x) = b.inline_mut().iter_mut().find(|x| x.h == h) {
            Some(core::mem::replace(&mut x.u, u))
        } else if let Some(x) = b
            .spilled
            .then(|| self.spill.get_mut(&port))
            .flatten()
            .and_then(|m| m.get_mut(&h))
        {
            Some(core::mem::replace(x, u))
        } else if let Some(slot) = b.inline.get_mut(usize::from(b.n)) {
            *slot = Holder { h, u };
            b.n += 1;
            None
        } else {
            b.spilled = true;
            self.spill
                .entry(port)
                .or_insert_with(|| HashMap::with_hasher(key))
                .insert(h, u)
        };
        if old.is_some_and(|o| o.explicit) {
            self.explicit_sub(port);
        }
        if explicit {
            *self.explicit.entry(port).or_insert(0) += 1;
        }
    }

    /// `insert` of an implicit holder (a connect's autobind, an accepted
    /// child) for a socket that holds no port yet: no search for an
    /// earlier place of it (per connection: the spill map's two extra
    /// lookups for a listener's children).
    pub(crate) fn insert_new(&mut self, port: u16, h: SocketHandle, addr: Ipv4Addr, reuse: bool) {
        debug_assert!(
            self.holders(port)
                .into_iter()
                .flatten()
                .all(|(x, _)| x != h),
            "{h:?} holds port {port} already"
        );
        let u = PortUse {
            addr,
            explicit: false,
            reuse,
        };
        let b = self.map.entry(port).or_insert(Bucket::EMPTY);
        if let Some(slot) = b.inline.get_mut(usize::from(b.n)) {
            *slot = Holder { h, u };
            b.n += 1;
            return;
        }
        b.spilled = true;
        let key = self.key;
        self.spill
            .entry(port)
            .or_insert_with(|| HashMap::with_hasher(key))
            .insert(h, u);
    }

    pub(crate) fn remove(&mut self, port: u16, h: SocketHandle) {
        let Some(b) = self.map.get_mut(&port) else {
            return;
        };
        let old = if let Some(i) = b.inline().iter().position(|x| x.h == h) {
            // Order among holders means nothing: the last takes the place.
            let last = usize::from(b.n) - 1;
            b.inline.swap(i, last);
            b.n -= 1;
            b.inline.get(last).map(|x| x.u)
        } else if b.spilled {
            let m = self.spill.get_mut(&port);
            let old = m.and_then(|m| {
                let old = m.remove(&h);
                if m.is_empty() {
                    b.spilled = false;
                }
                old
            });
            if !b.spilled {
                self.spill.remove(&port);
            }
            old
        } else {
            None
        };
        if b.is_empty() {
            self.map.remove(&port);
        }
        if old.is_some_and(|o| o.explicit) {
            self.explicit_sub(port);
        }
    }

    /// One explicit holder of `port` fewer.
    fn explicit_sub(&mut self, port: u16) {
        if let Some(n) = self.explicit.get_mut(&port) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.explicit.remove(&port);
            }
        }
    }

    /// Whether a holder of `port` was bound explicitly (by the user).
    fn has_explicit(&self, port: u16) -> bool {
        !self.explicit.is_empty() && self.explicit.contains_key(&port)
    }

    /// SO_REUSEADDR changed on `h`, a holder of `port`.
    pub(crate) fn set_reuse(&mut self, port: u16, h: SocketHandle, reuse: bool) {
        let Some(b) = self.map.get_mut(&port) else {
            return;
        };
        let spilled = b.spilled;
        let u = match b.inline_mut().iter_mut().find(|x| x.h == h) {
            Some(x) => Some(&mut x.u),
            None if spilled => self.spill.get_mut(&port).and_then(|m| m.get_mut(&h)),
            None => None,
        };
        if let Some(u) = u {
            u.reuse = reuse;
        }
    }

    /// Every holder of `port`; `None` when nobody holds it.
    pub(crate) fn holders(
        &self,
        port: u16,
    ) -> Option<impl Iterator<Item = (SocketHandle, PortUse)> + '_> {
        let b = self.map.get(&port)?;
        let spill = b.spilled.then(|| self.spill.get(&port)).flatten();
        Some(
            b.inline()
                .iter()
                .map(|x| (x.h, x.u))
                .chain(spill.into_iter().flatten().map(|(h, u)| (*h, *u))),
        )
    }

    /// Whether anybody holds `port`.
    #[inline]
    fn is_held(&self, port: u16) -> bool {
        self.map.contains_key(&port)
    }

    /// Whether anything holds `port`.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn held(&self, port: u16) -> bool {
        self.is_held(port)
    }

    /// The explicit-holder counts match the buckets; no bucket is empty;
    /// a bucket's inline holders and its spill entry (present exactly when
    /// `spilled`, never empty) hold no handle twice.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn check_invariants(&self) {
        for (port, b) in &self.map {
            assert!(!b.is_empty(), "empty bucket for port {port}");
            assert!(usize::from(b.n) <= INLINE);
            assert_eq!(b.spilled, self.spill.contains_key(port), "spill of {port}");
            let mut seen = std::collections::HashSet::new();
            let mut n = 0;
            for (h, u) in self.holders(*port).into_iter().flatten() {
                assert!(seen.insert(h), "{h:?} holds port {port} twice");
                n += usize::from(u.explicit);
            }
            let counted = self.explicit.get(port).copied().unwrap_or(0);
            assert_eq!(n, counted as usize, "explicit holders of port {port}");
        }
        for (port, m) in &self.spill {
            assert!(!m.is_empty(), "empty spill entry for port {port}");
            assert!(self.map.get(port).is_some_and(|b| b.spilled));
        }
        for port in self.explicit.keys() {
            assert!(self.map.contains_key(port), "explicit count of a free port");
        }
    }
}

fn overlap(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.is_unspecified() || b.is_unspecified() || a == b
}

impl SocketSet {
    /// Would `h` (with its SO_REUSEADDR flag) conflict on (addr, port)?
    /// Linux: no conflict only when both sockets set SO_REUSEADDR and the
    /// other one is not listening.
    pub(crate) fn bind_conflict(&self, h: SocketHandle, addr: Ipv4Addr, port: u16) -> bool {
        let reuse = self.sock(h).is_some_and(|s| s.reuse_addr);
        let Some(mut holders) = self.ports.holders(port) else {
            return false;
        };
        holders.any(|(other, u)| {
            if other == h || !overlap(addr, u.addr) {
                return false;
            }
            match self.sock(other) {
                Some(o) => !(reuse && o.reuse_addr && o.listener.is_none()),
                // No socket: a TIME_WAIT record (a freed socket leaves the
                // bucket otherwise); it never listens.
                None => !(reuse && u.reuse),
            }
        })
    }

    /// A free port for bind(port 0): random start, then sequential (Linux
    /// `inet_csk_find_open_port`). `None` when every port is taken.
    pub(crate) fn pick_bind_port(&mut self, h: SocketHandle, addr: Ipv4Addr) -> Option<u16> {
        let (lo, hi) = self.profile.ephemeral_ports;
        let n = u32::from(hi.checked_sub(lo)?) + 1;
        let start = self.random_u32() % n;
        (0..n)
            .map(|i| lo + ((start + i) % n) as u16)
            .find(|&port| !self.ports.is_held(port) || !self.bind_conflict(h, addr, port))
    }

    /// RFC 6056 3.3.4 (algorithm 4): an ephemeral port for connect.
    pub(crate) fn pick_connect_port(
        &mut self,
        local: Ipv4Addr,
        remote: (Ipv4Addr, u16),
    ) -> Option<u16> {
        let (lo, hi) = self.profile.ephemeral_ports;
        let n = u32::from(hi.checked_sub(lo)?) + 1;
        let (offset, g) = self.isn.port_hint_cached(local, remote);
        let index = g as usize % TABLE_SIZE;
        let next = self.ports.table.get(index).copied().unwrap_or(0);
        for i in 0..n {
            let port = lo + (offset.wrapping_add(next).wrapping_add(i) % n) as u16;
            // A port bound explicitly is never shared; one used by other
            // connections is, as long as the 4-tuple differs (Linux).
            // Every connection and every TIME_WAIT record holds its local
            // port in the port table (`check_invariants`), so a port
            // without holders is free without asking either table.
            let free = !self.ports.has_explicit(port)
                && (!self.ports.is_held(port) || {
                    let tuple = FourTuple {
                        local: (local, port),
                        remote,
                    };
                    !self.conns.contains_key(&tuple) && !self.tw.contains(&tuple)
                });
            if free {
                let bump = i + 1 + self.rng_small();
                if let Some(t) = self.ports.table.get_mut(index) {
                    // RFC 6056: advance by more than one to spread sequences.
                    *t = t.wrapping_add(bump);
                }
                return Some(port);
            }
        }
        None
    }

    fn rng_small(&mut self) -> u32 {
        self.random_u32() % 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);

    /// Ephemeral choice skips a port with an explicit holder wherever the
    /// holder sits in the bucket (first or the shared map), and takes it
    /// again once the last explicit holder is gone; the explicit counts
    /// follow binds, re-inserts and frees (`check_invariants`).
    #[test]
    fn connect_skips_explicitly_bound_ports_until_freed() {
        let mut set = SocketSet::new(A, 3);
        let mut p = crate::tcp::Profile::linux();
        p.ephemeral_ports = (40000, 40003);
        set.set_profile(p);
        let now = Instant::from_micros(1000);
        // Two explicit SO_REUSEADDR holders of 40001 and one of 40002.
        let mut bound = Vec::new();
        for port in [40001, 40001, 40002] {
            let s = set.tcp_socket().expect("socket");
            set.set_reuse_addr(s, true).expect("reuse");
            set.bind(s, A, port).expect("bind");
            bound.push(s);
        }
        set.check_invariants();
        let mut taken = Vec::new();
        for _ in 0..2 {
            let c = set.tcp_socket().expect("socket");
            set.connect(now, c, B, 80).expect("connect");
            taken.push(set.local_addr(c).expect("bound").port());
        }
        taken.sort_unstable();
        assert_eq!(taken, [40000, 40003]);
        let c = set.tcp_socket().expect("socket");
        assert_eq!(
            set.connect(now, c, B, 80),
            Err(super::super::ConnectError::AddrNotAvail)
        );
        set.check_invariants();
        // One explicit holder of 40001 left: still skipped.
        set.close(bound[0]).expect("close");
        set.check_invariants();
        assert_eq!(
            set.connect(now, c, B, 80),
            Err(super::super::ConnectError::AddrNotAvail)
        );
        // The last one gone: 40001 is free for connections.
        set.close(bound[1]).expect("close");
        set.check_invariants();
        set.connect(now, c, B, 80).expect("connect");
        assert_eq!(set.local_addr(c).map(|a| a.port()), Some(40001));
        set.check_invariants();
    }

    /// The inline/spill holder layout against a plain model: random
    /// inserts (new holders and re-inserts), removes and SO_REUSEADDR
    /// changes on a few ports, some shared by many holders; after each
    /// step the holders, flags and explicit counts match and
    /// `check_invariants` holds.
    #[test]
    fn holders_match_a_plain_model() {
        use std::collections::BTreeMap;
        let mut ports = Ports::new(HashKey::default());
        let mut model: BTreeMap<u16, BTreeMap<SocketHandle, (bool, bool)>> = BTreeMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut spilled_steps = 0;
        for step in 0..20_000 {
            let port = 1000 + rnd(4) as u16;
            let h = SocketHandle {
                index: rnd(12) as u32,
                gen: 0,
            };
            let (explicit, reuse) = (rnd(3) == 0, rnd(2) == 0);
            match rnd(5) {
                0 | 1 => {
                    ports.insert(port, h, A, explicit, reuse);
                    model.entry(port).or_default().insert(h, (explicit, reuse));
                }
                2 | 3 => {
                    ports.remove(port, h);
                    if let Some(m) = model.get_mut(&port) {
                        m.remove(&h);
                        if m.is_empty() {
                            model.remove(&port);
                        }
                    }
                }
                _ => {
                    ports.set_reuse(port, h, reuse);
                    if let Some(u) = model.get_mut(&port).and_then(|m| m.get_mut(&h)) {
                        u.1 = reuse;
                    }
                }
            }
            ports.check_invariants();
            spilled_steps += usize::from(!ports.spill.is_empty());
            for p in 1000..1004u16 {
                let mut got: Vec<_> = ports
                    .holders(p)
                    .into_iter()
                    .flatten()
                    .map(|(h, u)| (h, (u.explicit, u.reuse)))
                    .collect();
                got.sort_by_key(|(h, _)| *h);
                let want: Vec<_> = model
                    .get(&p)
                    .into_iter()
                    .flatten()
                    .map(|(h, u)| (*h, *u))
                    .collect();
                assert_eq!(got, want, "port {p} at step {step}");
                assert_eq!(ports.is_held(p), !want.is_empty());
                let n = want.iter().filter(|(_, u)| u.0).count();
                assert_eq!(ports.has_explicit(p), n > 0);
            }
        }
        assert!(
            spilled_steps > 1000,
            "ports spilled ({spilled_steps} steps)"
        );
        // The entry stays small (memory per idle connection).
        assert!(core::mem::size_of::<(u16, Bucket)>() <= 40);
    }

    /// `PortHash`: the 16 ports of a run have consecutive home buckets
    /// (so the neighbours RFC 6056's walk visits one after another share
    /// cache lines), runs spread over the table, and the control tags (top
    /// 7 bits) still differ within a group.
    #[test]
    fn port_hash_keeps_neighbours_together() {
        let hash = |p: u16| PortHash.hash_one(p);
        let pos = |p: u16| hash(p) & ((1 << 57) - 1);
        let mut tags = std::collections::HashSet::new();
        for p in 32768..=32768 + 15u16 {
            assert_eq!(pos(p), pos(32768) + u64::from(p - 32768));
            tags.insert(hash(p) >> 57);
        }
        assert!(tags.len() >= 12, "tags of a group differ: {}", tags.len());
        // Runs of a range wider than a 16k-bucket table do not pile up.
        let mut homes = std::collections::HashSet::new();
        for run in (32768..61000u16).step_by(16) {
            homes.insert((pos(run) & (16384 - 1)) >> 4);
        }
        assert!(
            homes.len() > 600,
            "runs spread: {} of 1024 places",
            homes.len()
        );
        // The map keeps working with the identity-like hash at full size.
        let mut m: HashMap<u16, u16, PortHash> = HashMap::with_hasher(PortHash);
        for p in 0..=u16::MAX {
            m.insert(p, p.wrapping_mul(3));
        }
        assert_eq!(m.len(), 65536);
        assert!((0..=u16::MAX).all(|p| m.get(&p) == Some(&p.wrapping_mul(3))));
    }

    /// The port choice as it was before the explicit-holder counts: walk
    /// the candidate's holders, ask the demux and TIME_WAIT tables always.
    fn reference_port(set: &SocketSet, local: Ipv4Addr, remote: (Ipv4Addr, u16)) -> Option<u16> {
        let (lo, hi) = set.profile.ephemeral_ports;
        let n = u32::from(hi - lo) + 1;
        let (offset, g) = set.isn.port_hint(local, remote);
        let next = set.ports.table[g as usize % TABLE_SIZE];
        (0..n)
            .map(|i| lo + (offset.wrapping_add(next).wrapping_add(i) % n) as u16)
            .find(|&port| {
                let explicit = set
                    .ports
                    .holders(port)
                    .is_some_and(|mut hs| hs.any(|(_, u)| u.explicit));
                let tuple = FourTuple {
                    local: (local, port),
                    remote,
                };
                !explicit && !set.conns.contains_key(&tuple) && !set.tw.contains(&tuple)
            })
    }

    /// Differential: with shared ports, explicit binds and compact
    /// TIME_WAIT records in play, every connect takes the port the old
    /// walk would have taken (RFC 6056 3.3.4 unchanged).
    #[test]
    fn port_choice_matches_the_full_walk() {
        let (mut a, mut b) = (SocketSet::new(A, 5), SocketSet::new(B, 6));
        let mut p = crate::tcp::Profile::linux();
        p.ephemeral_ports = (41000, 41015);
        a.set_profile(p);
        let now = Instant::from_micros(1000);
        let mut ls = Vec::new();
        for port in 80..84 {
            let l = b.tcp_socket().expect("socket");
            b.bind(l, B, port).expect("bind");
            b.listen(l, 64).expect("listen");
            ls.push(l);
        }
        let x = a.tcp_socket().expect("socket");
        a.set_reuse_addr(x, true).expect("reuse");
        a.bind(x, A, 41003).expect("bind");
        use crate::sockets::tests::one_way;
        let pump = |a: &mut SocketSet, b: &mut SocketSet| {
            for _ in 0..50 {
                if !one_way(a, b, now) & !one_way(b, a, now) {
                    break;
                }
            }
        };
        let mut made = 0;
        for k in 0..60u16 {
            let remote = (B, 80 + k % 4);
            let want = reference_port(&a, A, remote);
            let c = a.tcp_socket().expect("socket");
            let got = a
                .connect(now, c, remote.0, remote.1)
                .ok()
                .map(|()| a.local_addr(c).map(|s| s.port()).expect("bound"));
            assert_eq!(got, want, "connect #{k}");
            a.check_invariants();
            if got.is_none() {
                a.close(c).expect("close");
                continue;
            }
            made += 1;
            pump(&mut a, &mut b);
            // The client closes first and keeps a compact TIME_WAIT record.
            a.close(c).expect("close");
            for &l in &ls {
                while let Ok(s) = b.accept(l) {
                    b.close(s).expect("close");
                }
            }
            pump(&mut a, &mut b);
            a.check_invariants();
        }
        assert!(made > 16, "ports were shared across remotes ({made})");
        assert!(a.time_wait_count() > 16, "TIME_WAIT records held ports");
    }
}

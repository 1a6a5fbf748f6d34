//! The neighbour cache: IPv4 address to MAC, with resolution state.
//!
//! CONTRACT: at most `arp_cache_size` entries and `arp_pending_per_neighbour`
//! queued packets per entry. At most one request per address is outstanding
//! at a time: a new request is due only `arp_retry_interval` after the last
//! one, and after `arp_max_tries` unanswered requests the address is given up
//! and its queued packets are returned for counting. A confirmed entry is
//! reachable for `arp_reachable`; after that it is still used but re-probed
//! (Linux's STALE -> PROBE), and removed if the probes go unanswered.
//! Iteration order never depends on hashing, so runs are reproducible.

use std::collections::{HashMap, VecDeque};

use crate::storage::HashKey;

use super::config::Limits;
use crate::time::Instant;
use crate::wire::{Ipv4Addr, MacAddr};

#[derive(Debug)]
enum State {
    /// No MAC yet; packets wait here.
    Incomplete {
        tries: u32,
        next_at: Instant,
        pending: VecDeque<Vec<u8>>,
    },
    Reachable {
        mac: MacAddr,
        expires: Instant,
    },
    /// Reachability expired: still used, being re-confirmed.
    Probe {
        mac: MacAddr,
        tries: u32,
        next_at: Instant,
    },
}

/// Why a packet could not be queued for resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueError {
    CacheFull,
    PendingFull,
}

/// What `learn` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Learned {
    /// A new entry.
    Created,
    /// An existing confirmed entry refreshed.
    Updated,
    /// A pending resolution completed; these packets were waiting.
    Resolved(VecDeque<Vec<u8>>),
    /// No entry and none wanted.
    Ignored,
    /// A new entry was wanted but every slot holds an unresolved one.
    CacheFull,
}

/// An address whose resolution was abandoned, with its dropped packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GiveUp {
    pub dropped: VecDeque<Vec<u8>>,
}

#[derive(Debug)]
pub(crate) struct ArpCache {
    /// Keyed by a per-stack secret: a neighbour chooses the addresses.
    entries: HashMap<Ipv4Addr, State, HashKey>,
    /// Addresses in Incomplete or Probe, in the order they started.
    resolving: Vec<Ipv4Addr>,
    limits: Limits,
    /// The last reachable entry looked up: (address, MAC, expiry), an exact
    /// copy of its `State::Reachable` (every frame of a bulk flow goes to
    /// the same neighbour; this skips the hash). Cleared whenever an entry
    /// is replaced or removed.
    hot: Option<(Ipv4Addr, MacAddr, Instant)>,
}

impl ArpCache {
    pub(crate) fn new(limits: &Limits, key: HashKey) -> Self {
        ArpCache {
            entries: HashMap::with_hasher(key),
            resolving: Vec::new(),
            limits: limits.clone(),
            hot: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True while some address is being resolved or probed: only then can
    /// `poll_request` return a request (due now or later).
    #[inline]
    pub(crate) fn resolving(&self) -> bool {
        !self.resolving.is_empty()
    }

    /// The MAC to use for `ip`, if known. An expired entry turns into a probe
    /// (returned `true` in the second field) and stays usable.
    /// The hot entry's hit is inlined into the caller; the map lookup is not.
    #[inline]
    pub(crate) fn lookup(&mut self, now: Instant, ip: Ipv4Addr) -> Option<(MacAddr, bool)> {
        if let Some((hot_ip, mac, expires)) = self.hot {
            if hot_ip == ip && now < expires {
                return Some((mac, false));
            }
        }
        self.lookup_map(now, ip)
    }

    /// `lookup` past the hot entry.
    #[inline(never)]
    fn lookup_map(&mut self, now: Instant, ip: Ipv4Addr) -> Option<(MacAddr, bool)> {
        let state = self.entries.get_mut(&ip)?;
        match *state {
            State::Incomplete { .. } => None,
            State::Probe { mac, .. } => Some((mac, false)),
            State::Reachable { mac, expires } => {
                if now < expires {
                    self.hot = Some((ip, mac, expires));
                    return Some((mac, false));
                }
                self.hot = None;
                *state = State::Probe {
                    mac,
                    tries: 0,
                    next_at: now,
                };
                self.resolving.push(ip);
                Some((mac, true))
            }
        }
    }

    /// Queue `packet` (a whole IPv4 datagram) until `ip` resolves, starting
    /// resolution if needed (the first request is due at once).
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        packet: Vec<u8>,
    ) -> Result<(), QueueError> {
        if let Some(state) = self.entries.get_mut(&ip) {
            if let State::Incomplete { pending, .. } = state {
                if pending.len() >= self.limits.arp_pending_per_neighbour {
                    return Err(QueueError::PendingFull);
                }
                pending.push_back(packet);
            }
            // A resolved entry: callers look up first, so this cannot happen
            // within one call; the packet is dropped as if the queue were full.
            return match state {
                State::Incomplete { .. } => Ok(()),
                _ => Err(QueueError::PendingFull),
            };
        }
        if self.limits.arp_pending_per_neighbour == 0 {
            return Err(QueueError::PendingFull);
        }
        if !self.make_room() {
            return Err(QueueError::CacheFull);
        }
        let mut pending = VecDeque::with_capacity(1);
        pending.push_back(packet);
        self.entries.insert(
            ip,
            State::Incomplete {
                tries: 0,
                next_at: now,
                pending,
            },
        );
        self.resolving.push(ip);
        Ok(())
    }

    /// Free a slot if the cache is full by evicting the confirmed entry that
    /// expires first (ties broken by address). False if every entry is resolving.
    fn make_room(&mut self) -> bool {
        if self.entries.len() < self.limits.arp_cache_size {
            return true;
        }
        let victim = self
            .entries
            .iter()
            .filter_map(|(ip, s)| match s {
                State::Reachable { expires, .. } => Some((*expires, *ip)),
                _ => None,
            })
            .min();
        match victim {
            Some((_, ip)) => {
                self.hot = None;
                self.entries.remove(&ip);
                true
            }
            None => false,
        }
    }

    /// Record that `ip` is at `mac`. An existing entry is always updated
    /// (RFC 826 "merge"); a new one is created only if `create`.
    pub(crate) fn learn(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: MacAddr,
        create: bool,
    ) -> Learned {
        let expires = now + self.limits.arp_reachable;
        self.hot = None;
        if let Some(state) = self.entries.get_mut(&ip) {
            let old = core::mem::replace(state, State::Reachable { mac, expires });
            self.resolving.retain(|a| *a != ip);
            return match old {
                State::Incomplete { pending, .. } => Learned::Resolved(pending),
                _ => Learned::Updated,
            };
        }
        if !create {
            return Learned::Ignored;
        }
        if !self.make_room() {
            return Learned::CacheFull;
        }
        self.entries.insert(ip, State::Reachable { mac, expires });
        Learned::Created
    }

    /// The next request due at `now`: the address and, for a probe of a
    /// known neighbour, its MAC (unicast probe). Marks it sent.
    pub(crate) fn poll_request(&mut self, now: Instant) -> Option<(Ipv4Addr, Option<MacAddr>)> {
        let max = self.limits.arp_max_tries;
        let interval = self.limits.arp_retry_interval;
        for ip in &self.resolving {
            let Some(state) = self.entries.get_mut(ip) else {
                continue;
            };
            match state {
                State::Incomplete { tries, next_at, .. } if *tries < max && *next_at <= now => {
                    *tries += 1;
                    *next_at = now + interval;
                    return Some((*ip, None));
                }
                State::Probe {
                    mac,
                    tries,
                    next_at,
                    ..
                } if *tries < max && *next_at <= now => {
                    *tries += 1;
                    *next_at = now + interval;
                    return Some((*ip, Some(*mac)));
                }
                _ => {}
            }
        }
        None
    }

    /// Give up on addresses whose last request went unanswered for a full
    /// interval. Returns one `GiveUp` per abandoned address.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<GiveUp> {
        let max = self.limits.arp_max_tries;
        let mut out = Vec::new();
        let entries = &mut self.entries;
        // Only resolving entries are removed here, never the reachable
        // `hot` one; the check below keeps it that way if that changes.
        if self
            .hot
            .is_some_and(|(ip, ..)| self.resolving.contains(&ip))
        {
            self.hot = None;
        }
        self.resolving.retain(|ip| {
            let dead = match entries.get(ip) {
                Some(State::Incomplete { tries, next_at, .. })
                | Some(State::Probe { tries, next_at, .. }) => *tries >= max && *next_at <= now,
                Some(State::Reachable { .. }) | None => return false,
            };
            if !dead {
                return true;
            }
            let dropped = match entries.remove(ip) {
                Some(State::Incomplete { pending, .. }) => pending,
                _ => VecDeque::new(),
            };
            out.push(GiveUp { dropped });
            false
        });
        out
    }

    /// The next retry or give-up deadline.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        self.resolving
            .iter()
            .filter_map(|ip| match self.entries.get(ip) {
                Some(State::Incomplete { next_at, .. }) | Some(State::Probe { next_at, .. }) => {
                    Some(*next_at)
                }
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn resolve_retry_give_up() {
        let limits = Limits {
            arp_pending_per_neighbour: 3,
            ..Limits::default()
        };
        let mut c = ArpCache::new(&limits, HashKey::default());
        assert_eq!(c.lookup(t(0), IP), None);
        c.enqueue(t(0), IP, vec![1]).unwrap();
        c.enqueue(t(0), IP, vec![2]).unwrap();
        c.enqueue(t(0), IP, vec![3]).unwrap();
        assert_eq!(c.enqueue(t(0), IP, vec![4]), Err(QueueError::PendingFull));
        assert_eq!(c.poll_request(t(0)), Some((IP, None)));
        assert_eq!(c.poll_request(t(0)), None, "one outstanding request");
        assert_eq!(c.poll_at(), Some(t(1000)));
        assert_eq!(c.poll_request(t(1000)), Some((IP, None)));
        assert_eq!(c.poll_request(t(2000)), Some((IP, None)));
        assert_eq!(c.poll_request(t(3000)), None);
        assert!(c.expire(t(2999)).is_empty());
        let g = c.expire(t(3000));
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].dropped, [vec![1], vec![2], vec![3]]);
        assert_eq!(c.len(), 0);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn learn_releases_pending_and_expires_to_probe() {
        let mut c = ArpCache::new(&Limits::default(), HashKey::default());
        c.enqueue(t(0), IP, vec![1]).unwrap();
        match c.learn(t(5), IP, MAC, false) {
            Learned::Resolved(p) => assert_eq!(p.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.lookup(t(10), IP), Some((MAC, false)));
        let later = t(5) + Duration::from_secs(30);
        assert_eq!(c.lookup(later, IP), Some((MAC, true)));
        assert_eq!(c.poll_request(later), Some((IP, Some(MAC))));
        assert_eq!(c.lookup(later, IP), Some((MAC, false)));
        assert_eq!(c.learn(later, IP, MAC, false), Learned::Updated);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn cap_evicts_confirmed_never_resolving() {
        let limits = Limits {
            arp_cache_size: 2,
            ..Limits::default()
        };
        let mut c = ArpCache::new(&limits, HashKey::default());
        let a = Ipv4Addr::new(198, 18, 0, 1);
        let b = Ipv4Addr::new(198, 18, 0, 2);
        let d = Ipv4Addr::new(198, 18, 0, 3);
        assert_eq!(c.learn(t(0), a, MAC, true), Learned::Created);
        c.enqueue(t(0), b, vec![]).unwrap();
        c.enqueue(t(0), d, vec![]).unwrap(); // evicts a
        assert_eq!(c.lookup(t(1), a), None);
        assert_eq!(
            c.enqueue(t(0), a, vec![]),
            Err(QueueError::CacheFull),
            "all resolving"
        );
        assert_eq!(c.learn(t(0), a, MAC, true), Learned::CacheFull);
    }

    proptest::proptest! {
        /// The one-entry `hot` copy never changes an answer: a cache that
        /// uses it and one that never does (cleared before every lookup)
        /// agree on every operation, and `hot` always equals its entry.
        #[test]
        fn hot_entry_matches_the_map(
            ops in proptest::collection::vec((0u8..5, 0u8..4, 0u64..40), 1..200),
        ) {
            let limits = Limits {
                arp_cache_size: 3,
                arp_pending_per_neighbour: 2,
                arp_max_tries: 2,
                arp_retry_interval: Duration::from_secs(1),
                arp_reachable: Duration::from_secs(5),
                ..Limits::default()
            };
            let mut fast = ArpCache::new(&limits, HashKey::default());
            let mut slow = ArpCache::new(&limits, HashKey::default());
            let mut now = t(0);
            for (op, who, dt) in ops {
                now += Duration::from_millis(dt * 250);
                let ip = Ipv4Addr::new(198, 18, 0, who);
                let mac = MacAddr([2, 0, 0, 0, who, (dt % 3) as u8]);
                match op {
                    0 => {
                        slow.hot = None;
                        proptest::prop_assert_eq!(fast.lookup(now, ip), slow.lookup(now, ip));
                    }
                    1 => proptest::prop_assert_eq!(
                        fast.learn(now, ip, mac, dt % 2 == 0),
                        slow.learn(now, ip, mac, dt % 2 == 0)
                    ),
                    2 => proptest::prop_assert_eq!(
                        fast.enqueue(now, ip, vec![who]),
                        slow.enqueue(now, ip, vec![who])
                    ),
                    3 => proptest::prop_assert_eq!(fast.expire(now), slow.expire(now)),
                    _ => proptest::prop_assert_eq!(fast.poll_request(now), slow.poll_request(now)),
                }
                if let Some((ip, mac, expires)) = fast.hot {
                    let held = matches!(
                        fast.entries.get(&ip),
                        Some(State::Reachable { mac: m, expires: e }) if *m == mac && *e == expires
                    );
                    proptest::prop_assert!(held, "hot entry out of step");
                }
            }
        }
    }
}

//! Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, key), where M
//! is a clock ticking every 4 microseconds and F a keyed SipHash. The key
//! comes from the stack's seeded RNG, so one seed replays one run.
//!
//! One keyed hash per purpose and connection: the 4-tuple's 64-bit SipHash
//! gives F (low half) and the timestamp offset (high half); the ephemeral
//! port's hash of (local address, remote address, remote port) gives RFC
//! 6056's offset and table index from disjoint bits, as Linux's
//! `__inet_hash_connect` does with one `secure_ipv4_port_ephemeral`. Halves
//! of one PRF output are independent, so neither value reveals the other.
//!
//! The same key material also keys the SYN-cookie generator (RFC 4987 3.6):
//! its secret is derived from the ISN key by the hash (salts 3 and 4), so it
//! is as secret and as replayable as the ISNs without drawing from the RNG
//! stream (which would change every other random choice of a seeded run).

use core::hash::Hasher;
use siphasher::sip::SipHasher24;

use super::syncookie::SynCookies;
use super::SeqNum;
use crate::time::Instant;
use crate::wire::Ipv4Addr;

#[derive(Debug, Clone)]
pub(crate) struct IsnGenerator {
    k0: u64,
    k1: u64,
    cookies: SynCookies,
    /// `port_hint` of recent destinations (`port_hint_cached`).
    hints: [Option<PortHint>; HINTS],
}

/// Destinations whose ephemeral-port hash `IsnGenerator` keeps: one place
/// each, chosen by a few bits of the remote address and port.
const HINTS: usize = 16;

/// One kept `port_hint`: its arguments and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortHint {
    local: Ipv4Addr,
    remote: (Ipv4Addr, u16),
    value: (u32, u32),
}

impl IsnGenerator {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        let mut g = IsnGenerator {
            k0,
            k1,
            cookies: SynCookies::new((0, 0)),
            hints: [None; HINTS],
        };
        let none = (Ipv4Addr::UNSPECIFIED, 0);
        g.cookies = SynCookies::new((g.hash(3, none, none), g.hash(4, none, none)));
        g
    }

    /// The SYN-cookie generator keyed from this generator's secret.
    pub(crate) fn cookies(&self) -> &SynCookies {
        &self.cookies
    }

    /// The SYN-cookie key derivation (kept byte-for-byte, so cookie secrets
    /// stay what they were).
    fn hash(&self, salt: u8, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write_u8(salt);
        h.write(&local.0.octets());
        h.write_u16(local.1);
        h.write(&remote.0.octets());
        h.write_u16(remote.1);
        h.finish()
    }

    /// SipHash-2-4 of the tuple as one 16-byte message (the one-shot path
    /// hashes whole words: no byte-wise buffering).
    fn tuple_hash(&self, salt: u8, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> u64 {
        let (la, ra) = (local.0.octets(), remote.0.octets());
        let (lp, rp) = (local.1.to_be_bytes(), remote.1.to_be_bytes());
        let msg = [
            la[0], la[1], la[2], la[3], ra[0], ra[1], ra[2], ra[3], lp[0], lp[1], rp[0], rp[1],
            salt, 0, 0, 0,
        ];
        SipHasher24::new_with_keys(self.k0, self.k1).hash(&msg)
    }

    /// RFC 6528 3: the ISN for this 4-tuple at `now`, and the connection's
    /// timestamp clock offset (Linux randomises TSval per connection with a
    /// keyed hash, RFC 7323 5.4), from one hash of the 4-tuple.
    pub(crate) fn isn_ts(
        &self,
        now: Instant,
        local: (Ipv4Addr, u16),
        remote: (Ipv4Addr, u16),
    ) -> (SeqNum, u32) {
        let h = self.tuple_hash(SALT_CONN, local, remote);
        // M: a 4 microsecond timer (RFC 6528 3, as RFC 793 suggested).
        let m = (now.total_micros() / 4) as u32;
        // F: the low 32 bits of the keyed hash; truncation is the intent.
        let f = h as u32;
        (SeqNum(m.wrapping_add(f)), (h >> 32) as u32)
    }

    /// RFC 6056 3.3.4 (algorithm 4) for an ephemeral port: (offset F, table
    /// index source G) from one keyed hash of (local address, remote address,
    /// remote port); the caller reduces G modulo its table size. The two
    /// come from disjoint bits, like Linux since 5.18 (`port_offset` low
    /// bits index `table_perturb`, high bits offset).
    pub(crate) fn port_hint(&self, local: Ipv4Addr, remote: (Ipv4Addr, u16)) -> (u32, u32) {
        let h = self.tuple_hash(SALT_PORT, (local, 0), remote);
        ((h >> 32) as u32, h as u32)
    }

    /// `port_hint`, kept for the last destination in each of `HINTS`
    /// places: a pure function of the key and its arguments, so a client
    /// opening connection after connection to the same few servers pays
    /// the SipHash once per server rather than once per connect.
    pub(crate) fn port_hint_cached(
        &mut self,
        local: Ipv4Addr,
        remote: (Ipv4Addr, u16),
    ) -> (u32, u32) {
        let i = (u32::from(remote.0) ^ u32::from(remote.1)) as usize % HINTS;
        let kept = self.hints.get(i).copied().flatten();
        if let Some(k) = kept.filter(|k| k.local == local && k.remote == remote) {
            return k.value;
        }
        let value = self.port_hint(local, remote);
        if let Some(place) = self.hints.get_mut(i) {
            *place = Some(PortHint {
                local,
                remote,
                value,
            });
        }
        value
    }
}

/// Domain separation of the tuple hashes.
const SALT_CONN: u8 = 1;
const SALT_PORT: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn a(x: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, x)
    }

    #[test]
    fn isn_is_clock_plus_a_keyed_function_of_the_tuple() {
        let g = IsnGenerator::new(1, 2);
        let (l, r) = ((a(1), 40000), (a(2), 80));
        let t0 = Instant::ZERO;
        let t1 = Instant::from_micros(400);
        let (i0, ts0) = g.isn_ts(t0, l, r);
        let (i1, ts1) = g.isn_ts(t1, l, r);
        // RFC 6528: M advances every 4 us; F is fixed per tuple.
        assert_eq!(i1.0.wrapping_sub(i0.0), 100);
        assert_eq!(ts0, ts1);
        // Any tuple element changes both F and the TS offset.
        for (l2, r2) in [
            ((a(3), 40000), r),
            ((a(1), 40001), r),
            (l, (a(4), 80)),
            (l, (a(2), 81)),
        ] {
            let (i2, ts2) = g.isn_ts(t0, l2, r2);
            assert_ne!(i2, i0);
            assert_ne!(ts2, ts0);
        }
        // Another key, other values.
        let other = IsnGenerator::new(1, 3);
        assert_ne!(other.isn_ts(t0, l, r), (i0, ts0));
        // The ISN and the TS offset are different halves, not copies.
        assert_ne!(i0.0, ts0);
    }

    #[test]
    fn port_hint_ignores_nothing_but_the_local_port() {
        let g = IsnGenerator::new(5, 6);
        let (off, idx) = g.port_hint(a(1), (a(2), 80));
        assert_ne!(off, idx);
        assert_ne!(g.port_hint(a(1), (a(2), 81)), (off, idx));
        assert_ne!(g.port_hint(a(1), (a(3), 80)), (off, idx));
        assert_ne!(g.port_hint(a(9), (a(2), 80)), (off, idx));
        assert_eq!(g.port_hint(a(1), (a(2), 80)), (off, idx));
    }

    /// The kept hints answer what `port_hint` computes, for destinations
    /// that share a place and for ones that evict each other.
    #[test]
    fn cached_port_hint_matches_the_hash() {
        let mut g = IsnGenerator::new(7, 8);
        for round in 0..3u16 {
            for (l, r, p) in [(1, 2, 80), (1, 2, 81), (1, 3, 80), (9, 2, 80), (1, 2, 96)] {
                let (l, r, p) = (a(l), a(r), p + round * 16);
                assert_eq!(g.port_hint_cached(l, (r, p)), g.port_hint(l, (r, p)));
                assert_eq!(g.port_hint_cached(l, (r, p)), g.port_hint(l, (r, p)));
            }
        }
    }
}

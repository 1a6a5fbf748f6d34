//! Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, key), where M
//! is a clock ticking every 4 microseconds and F a keyed SipHash. The key
//! comes from the stack's seeded RNG, so one seed replays one run.
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
}

impl IsnGenerator {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        let mut g = IsnGenerator {
            k0,
            k1,
            cookies: SynCookies::new((0, 0)),
        };
        let none = (Ipv4Addr::UNSPECIFIED, 0);
        g.cookies = SynCookies::new((g.hash(3, none, none), g.hash(4, none, none)));
        g
    }

    /// The SYN-cookie generator keyed from this generator's secret.
    pub(crate) fn cookies(&self) -> &SynCookies {
        &self.cookies
    }

    fn hash(&self, salt: u8, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write_u8(salt);
        h.write(&local.0.octets());
        h.write_u16(local.1);
        h.write(&remote.0.octets());
        h.write_u16(remote.1);
        h.finish()
    }

    /// RFC 6528 3: the ISN for this 4-tuple at `now`.
    pub(crate) fn isn(
        &self,
        now: Instant,
        local: (Ipv4Addr, u16),
        remote: (Ipv4Addr, u16),
    ) -> SeqNum {
        // M: a 4 microsecond timer (RFC 6528 3, as RFC 793 suggested).
        let m = (now.total_micros() / 4) as u32;
        // F: the low 32 bits of the keyed hash; truncation is the intent.
        let f = self.hash(0, local, remote) as u32;
        SeqNum(m.wrapping_add(f))
    }

    /// A per-connection offset for the timestamp clock (Linux randomises
    /// TSval per connection the same way, RFC 7323 5.4).
    pub(crate) fn ts_offset(&self, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> u32 {
        self.hash(1, local, remote) as u32
    }

    /// RFC 6056 algorithm 4: the starting offset F(local, remote, key).
    pub(crate) fn port_offset(&self, local: Ipv4Addr, remote: (Ipv4Addr, u16)) -> u32 {
        self.hash(2, (local, 0), remote) as u32
    }
}

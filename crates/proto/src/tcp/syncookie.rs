//! SYN cookies (RFC 4987 3.6), in Linux's format (`net/ipv4/syncookies.c`).
//!
//! When the SYN queue is full a listener answers a SYN without keeping any
//! state: the SYN-ACK's ISN is a cookie that a later ACK (`ack_seq - 1`)
//! hands back. The cookie is
//!
//! ```text
//! isn = H1(tuple) + client_isn + (count << 24) + ((H2(tuple, count) + mss_index) & 0xffffff)
//! ```
//!
//! where `count` is a coarse clock (64 s slots of `now`), H1/H2 are keyed
//! SipHash-2-4 and `mss_index` picks from Linux's table (536, 1300, 1440,
//! 1460). One deliberate difference from Linux: the index is stored times
//! `MSS_SPACING` = 2^22 - 1, an odd number near a quarter of the 24-bit
//! field, so the four valid values differ by S, 2S or 3S:
//! - no single-bit flip (plus or minus a power of two) turns one valid
//!   cookie into another;
//! - no ACK whose sequence number is past the client's ISN + 1 decodes.
//!   The client ISN enters the cookie by addition, so an ACK `delta` bytes
//!   further on looks like the same cookie with `delta` less data. With
//!   Linux's spacing of 1 (and our earlier 3), a data segment 1-3 (or 3, 6,
//!   9) bytes into the stream decoded as a valid cookie with a smaller MSS.
//!   A connection was then made with its receive sequence starting at that
//!   segment, the earlier bytes acknowledged but never delivered (found by
//!   the `tcp_session` fuzz target, session 10: the client's first ACK and a
//!   3-byte segment were dropped while the accept queue was full, and the
//!   next segment opened the connection 3 bytes in). Now an offset aliases
//!   only from about 4 MiB on, which no client reaches before its handshake
//!   completes (its window stays closed until then).
//!
//! A cookie is accepted in its own slot and the one after
//! (`MAX_SYNCOOKIE_AGE` = 2), so it lives 64 to 128 s.
//!
//! The cookie has no room for the other SYN options. When the client sent
//! timestamps, Linux hides them in the low 6 bits of the SYN-ACK's TSval,
//! which the client echoes in TSecr (`cookie_init_timestamp`): bits 0-3 the
//! client's window scale (15 = none), bit 4 SACK-permitted, bit 5 ECN. The
//! TSval is then rounded down so it never runs ahead of the clock.
//!
//! Without timestamps in the SYN there is nowhere to keep window scale and
//! SACK-permitted, so the cookie SYN-ACK offers only the MSS (Linux
//! `tcp_conn_request` clears the other options when `want_cookie`).
//!
//! `cookie_synack` builds the SYN-ACK for a SYN the listener keeps no state
//! for; `accept_cookie` builds the connection for a valid cookie ACK, in
//! SYN_RECEIVED with the SYN-ACK already sent, so that processing the ACK
//! itself (with any data or FIN on it) makes it ESTABLISHED.
//!
//! Contract: pure (the caller passes `now` and the TS clock), never panics
//! on any input; `decode` returns `None` for anything not minted by this key
//! for this 4-tuple within the last two slots.

use core::hash::Hasher;
use siphasher::sip::SipHasher24;

use super::connection::{ConnParams, Connection};
use super::{Profile, SeqNum};
use crate::time::Instant;
use crate::wire::{Ipv4Addr, TcpFlags, TcpRepr, TcpTimestamp};

/// Linux `msstab`: the MSS values a cookie can carry (2 bits).
pub(crate) const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];
/// Bits of the cookie holding the hashed data; the top 8 hold the count.
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// The MSS index is stored times this (see the module doc): odd, and three
/// times it still fits the 24-bit field.
const MSS_SPACING: u32 = (1 << 22) - 1;
/// Linux `MAX_SYNCOOKIE_AGE`: accept cookies from this many slots.
const MAX_AGE: u32 = 2;
/// Length of one time slot, in microseconds (Linux counts 64 s slots of
/// `tcp_clock_ms() >> 16`; we use 64 s of `now`).
const SLOT_MICROS: u64 = 64_000_000;
/// Low TSval bits that carry options (Linux `TSBITS`).
const TS_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_BITS) - 1;
const TS_WSCALE_MASK: u32 = 0x0f;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
/// RFC 7323 2.3: the largest window scale shift.
const MAX_WSCALE: u8 = 14;

/// The connection a cookie belongs to, from the listener's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CookieTuple {
    pub local: (Ipv4Addr, u16),
    pub remote: (Ipv4Addr, u16),
}

/// What the client's SYN offered, beyond the MSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CookieOpts {
    /// The client's window scale shift, when it sent the option.
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    pub ecn: bool,
    /// Our TS clock for this connection when the SYN carried timestamps
    /// (`None`: no timestamps, so only the MSS survives).
    pub ts_now: Option<u32>,
}

/// The options recovered from a valid cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodedCookie {
    /// One of `MSS_TABLE`: the largest entry not above the client's MSS.
    pub mss: u16,
    /// The client's window scale shift (None: window scaling off).
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    pub ecn: bool,
    /// Timestamps were negotiated (the ACK carried TSecr with our options).
    pub ts_ok: bool,
}

/// Keyed cookie generator; the key comes from the stack's seeded RNG.
#[derive(Debug, Clone)]
pub(crate) struct SynCookies {
    k0: u64,
    k1: u64,
}

impl SynCookies {
    pub(crate) fn new(key: (u64, u64)) -> Self {
        SynCookies {
            k0: key.0,
            k1: key.1,
        }
    }

    fn hash(&self, salt: u8, t: &CookieTuple, count: u32) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write_u8(salt);
        h.write(&t.local.0.octets());
        h.write_u16(t.local.1);
        h.write(&t.remote.0.octets());
        h.write_u16(t.remote.1);
        h.write_u32(count);
        // The low 32 bits of the hash; truncation is the intent.
        h.finish() as u32
    }

    /// The coarse clock (Linux `tcp_cookie_time`), 8 bits used.
    fn count(now: Instant) -> u32 {
        // Truncation to u32 is harmless: only the low 8 bits matter.
        (now.total_micros() / SLOT_MICROS) as u32
    }

    /// Index of the largest table MSS not above `mss` (Linux
    /// `__cookie_v4_init_sequence`); below 536 we still say 536, as Linux does.
    fn mss_index(mss: u16) -> u32 {
        let mut idx = 0;
        for (i, &m) in MSS_TABLE.iter().enumerate() {
            if mss >= m {
                idx = i as u32;
            }
        }
        idx
    }

    /// Mint the ISN for our SYN-ACK and, with timestamps, the TSval that
    /// carries the other options.
    pub(crate) fn encode(
        &self,
        now: Instant,
        tuple: &CookieTuple,
        client_isn: SeqNum,
        mss: u16,
        opts: CookieOpts,
    ) -> (SeqNum, Option<u32>) {
        let count = Self::count(now);
        let data = Self::mss_index(mss) * MSS_SPACING;
        let isn = self
            .hash(0, tuple, 0)
            .wrapping_add(client_isn.0)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(self.hash(1, tuple, count).wrapping_add(data) & COOKIE_MASK);
        let tsval = opts.ts_now.map(|ts| {
            // Linux cookie_init_timestamp: options in the low bits, and never
            // ahead of the real clock.
            let mut bits = match opts.wscale {
                Some(w) if w <= MAX_WSCALE => u32::from(w),
                _ => TS_WSCALE_MASK,
            };
            if opts.sack_ok {
                bits |= TS_SACK;
            }
            if opts.ecn {
                bits |= TS_ECN;
            }
            let v = (ts & !TS_MASK) | bits;
            if v > ts {
                v.wrapping_sub(1 << TS_BITS)
            } else {
                v
            }
        });
        (SeqNum(isn), tsval)
    }

    /// Check the ACK that completes a cookie handshake: `seg_seq` and
    /// `ack_seq` as they appear in it (client ISN + 1, our ISN + 1), and its
    /// TSecr if it carried timestamps.
    pub(crate) fn decode(
        &self,
        now: Instant,
        tuple: &CookieTuple,
        seg_seq: SeqNum,
        ack_seq: SeqNum,
        tsecr: Option<u32>,
    ) -> Option<DecodedCookie> {
        let cookie = ack_seq.0.wrapping_sub(1);
        let client_isn = seg_seq.0.wrapping_sub(1);
        let count = Self::count(now);
        // Linux check_tcp_syn_cookie.
        let c = cookie
            .wrapping_sub(self.hash(0, tuple, 0))
            .wrapping_sub(client_isn);
        let diff = count.wrapping_sub(c >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if diff >= MAX_AGE {
            return None;
        }
        let minted = count.wrapping_sub(diff);
        let data = c.wrapping_sub(self.hash(1, tuple, minted)) & COOKIE_MASK;
        if data % MSS_SPACING != 0 {
            return None;
        }
        let mss = *MSS_TABLE.get(usize::try_from(data / MSS_SPACING).ok()?)?;
        let mut out = DecodedCookie {
            mss,
            wscale: None,
            sack_ok: false,
            ecn: false,
            ts_ok: false,
        };
        if let Some(ecr) = tsecr {
            // Linux cookie_timestamp_decode.
            let bits = ecr & TS_MASK;
            let ws = (bits & TS_WSCALE_MASK) as u8;
            if ws != TS_WSCALE_MASK as u8 {
                if ws > MAX_WSCALE {
                    return None;
                }
                out.wscale = Some(ws);
            }
            out.sack_ok = bits & TS_SACK != 0;
            out.ecn = bits & TS_ECN != 0;
            out.ts_ok = true;
        }
        Some(out)
    }
}

/// The SYN-ACK answering `syn` with a cookie: the options a connection
/// created from this SYN would send (same MSS, window and option order), the
/// cookie as ISN and, with timestamps, the options hidden in TSval. `c.iss`
/// is ignored. `None` only if the connection logic has nothing to send.
pub(crate) fn cookie_synack(
    jar: &SynCookies,
    now: Instant,
    p: &Profile,
    c: &ConnParams,
    syn: &TcpRepr<'_>,
) -> Option<TcpRepr<'static>> {
    let mut kept = *syn;
    kept.payload = &[];
    let ts = p.timestamps && syn.timestamp.is_some();
    if !ts {
        kept.window_scale = None;
        kept.sack_permitted = false;
    }
    // The MSS to remember: the peer's (536 when absent, RFC 9293 3.7.1),
    // clamped by our TCP_MAXSEG like Linux `mss_clamp`.
    let mut mss = syn.mss.unwrap_or(p.default_mss);
    if let Some(user) = c.user_mss {
        mss = mss.min(user);
    }
    let tuple = CookieTuple {
        local: c.local,
        remote: c.remote,
    };
    let mut probe = Connection::accept_syn(
        now,
        p,
        &ConnParams {
            iss: SeqNum(0),
            ..*c
        },
        &kept,
    );
    let opts = CookieOpts {
        wscale: kept.window_scale.filter(|_| p.window_scaling),
        sack_ok: p.sack && kept.sack_permitted,
        ecn: false,
        ts_now: ts.then(|| probe.tsval(now)),
    };
    let (isn, tsval) = jar.encode(now, &tuple, syn.seq, mss, opts);
    probe.iss = isn;
    probe.snd_una = isn;
    probe.snd_nxt = isn;
    probe.snd_max = isn;
    let mut repr = probe.poll_output(now, p, 0)?.repr;
    if !(repr.flags.syn() && repr.flags.ack()) {
        return None;
    }
    if let (Some(t), Some(v)) = (repr.timestamp.as_mut(), tsval) {
        t.tsval = v;
    }
    Some(repr)
}

/// Check `ack` (an ACK without SYN or RST that reached a listener) as a
/// cookie ACK; a TSecr is used only when timestamps are enabled.
pub(crate) fn check_cookie_ack(
    jar: &SynCookies,
    now: Instant,
    p: &Profile,
    c: &ConnParams,
    ack: &TcpRepr<'_>,
) -> Option<DecodedCookie> {
    let tuple = CookieTuple {
        local: c.local,
        remote: c.remote,
    };
    let tsecr = ack.timestamp.filter(|_| p.timestamps).map(|t| t.tsecr);
    jar.decode(now, &tuple, ack.seq, ack.ack, tsecr)
}

/// The connection a valid cookie ACK creates (Linux `cookie_v4_check`):
/// SYN_RECEIVED as if the SYN had been queued and the SYN-ACK sent, with
/// the options from the cookie. `c.iss` must be the cookie (`ack - 1`).
/// Hand it `ack` next to make it ESTABLISHED.
pub(crate) fn accept_cookie(
    now: Instant,
    p: &Profile,
    c: &ConnParams,
    ack: &TcpRepr<'_>,
    d: &DecodedCookie,
) -> Connection {
    // The client's SYN as far as the cookie remembers it.
    let mut syn = TcpRepr::new(
        ack.src_port,
        ack.dst_port,
        ack.seq - 1,
        SeqNum(0),
        TcpFlags(TcpFlags::SYN),
        ack.window,
    );
    syn.mss = Some(d.mss);
    syn.window_scale = d.wscale;
    syn.sack_permitted = d.sack_ok;
    syn.timestamp = ack.timestamp.filter(|_| d.ts_ok).map(|t| TcpTimestamp {
        tsval: t.tsval,
        tsecr: 0,
    });
    let mut conn = Connection::accept_syn(now, p, c, &syn);
    // Our SYN-ACK went out (statelessly): ISS is in flight.
    conn.snd_nxt = c.iss + 1;
    conn.snd_max = conn.snd_nxt;
    conn
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tuple() -> CookieTuple {
        CookieTuple {
            local: (Ipv4Addr::new(198, 18, 0, 2), 80),
            remote: (Ipv4Addr::new(198, 18, 0, 1), 40000),
        }
    }

    fn jar() -> SynCookies {
        SynCookies::new((0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210))
    }

    fn secs(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn round_trip_every_mss_and_option_combination() {
        let j = jar();
        let t = tuple();
        let client = SeqNum(0xffff_fff0);
        for (i, &mss) in [536u16, 1300, 1440, 1460].iter().enumerate() {
            for ws in [None, Some(0u8), Some(7), Some(14)] {
                for sack in [false, true] {
                    for ecn in [false, true] {
                        for ts in [None, Some(123_456_789u32)] {
                            let opts = CookieOpts {
                                wscale: ws,
                                sack_ok: sack,
                                ecn,
                                ts_now: ts,
                            };
                            let (isn, tsval) = j.encode(secs(1000), &t, client, mss, opts);
                            assert_eq!(tsval.is_some(), ts.is_some());
                            if let (Some(v), Some(now)) = (tsval, ts) {
                                assert!(v <= now && now - v < 64, "TSval {v} vs clock {now}");
                            }
                            let d = j
                                .decode(secs(1010), &t, client + 1, isn + 1, tsval)
                                .expect("valid cookie");
                            assert_eq!(d.mss, MSS_TABLE[i]);
                            assert_eq!(d.ts_ok, ts.is_some());
                            if ts.is_some() {
                                assert_eq!(d.wscale, ws);
                                assert_eq!(d.sack_ok, sack);
                                assert_eq!(d.ecn, ecn);
                            } else {
                                assert_eq!(d.wscale, None);
                                assert!(!d.sack_ok);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mss_rounds_down_to_the_table() {
        let (j, t) = (jar(), tuple());
        for (mss, want) in [
            (100, 536),
            (1299, 536),
            (1300, 1300),
            (1439, 1300),
            (9000, 1460),
        ] {
            let (isn, _) = j.encode(secs(5), &t, SeqNum(7), mss, CookieOpts::default());
            let d = j.decode(secs(5), &t, SeqNum(8), isn + 1, None);
            assert_eq!(d.map(|d| d.mss), Some(want), "mss {mss}");
        }
    }

    #[test]
    fn expires_after_two_slots() {
        let (j, t) = (jar(), tuple());
        // Minted at the very end of slot 10.
        let minted = Instant::from_micros(11 * SLOT_MICROS - 1);
        let (isn, _) = j.encode(minted, &t, SeqNum(1), 1460, CookieOpts::default());
        let ok = |now| j.decode(now, &t, SeqNum(2), isn + 1, None).is_some();
        assert!(ok(minted));
        assert!(ok(Instant::from_micros(12 * SLOT_MICROS - 1)));
        assert!(!ok(Instant::from_micros(12 * SLOT_MICROS)));
        assert!(!ok(Instant::from_micros(100 * SLOT_MICROS)));
        // From the future (clock went back a slot): rejected too.
        assert!(!ok(Instant::from_micros(9 * SLOT_MICROS)));
    }

    #[test]
    fn rejects_wrong_tuple_key_or_client_isn() {
        let (j, t) = (jar(), tuple());
        let (isn, _) = j.encode(secs(70), &t, SeqNum(500), 1460, CookieOpts::default());
        assert!(j.decode(secs(70), &t, SeqNum(501), isn + 1, None).is_some());
        let mut other = t;
        other.remote.1 += 1;
        assert!(j
            .decode(secs(70), &other, SeqNum(501), isn + 1, None)
            .is_none());
        let mut other = t;
        other.remote.0 = Ipv4Addr::new(198, 18, 0, 9);
        assert!(j
            .decode(secs(70), &other, SeqNum(501), isn + 1, None)
            .is_none());
        assert!(j.decode(secs(70), &t, SeqNum(502), isn + 1, None).is_none());
        let k2 = SynCookies::new((1, 2));
        assert!(k2
            .decode(secs(70), &t, SeqNum(501), isn + 1, None)
            .is_none());
    }

    #[test]
    fn rejects_every_single_bit_flip() {
        let (j, t) = (jar(), tuple());
        let (isn, _) = j.encode(secs(300), &t, SeqNum(42), 1440, CookieOpts::default());
        for bit in 0..32 {
            let bad = SeqNum((isn.0 + 1) ^ (1 << bit));
            assert!(
                j.decode(secs(300), &t, SeqNum(43), bad, None).is_none(),
                "bit {bit} flipped still accepted"
            );
        }
    }

    /// An ACK further into the client's stream than ISN + 1 (its first
    /// segments lost or dropped) must not decode as some other valid cookie:
    /// the connection would start its receive sequence there and lose the
    /// bytes before it (fuzz finding, session 10).
    #[test]
    fn rejects_acks_past_the_first_byte() {
        let (j, t) = (jar(), tuple());
        for mss in MSS_TABLE {
            let (isn, _) = j.encode(secs(300), &t, SeqNum(42), mss, CookieOpts::default());
            assert!(j.decode(secs(300), &t, SeqNum(43), isn + 1, None).is_some());
            for delta in 1..=70_000u32 {
                assert!(
                    j.decode(secs(300), &t, SeqNum(43 + delta), isn + 1, None)
                        .is_none(),
                    "mss {mss}: an ACK {delta} bytes in was accepted"
                );
            }
        }
    }

    #[test]
    fn tsecr_low_bits_decode_like_linux() {
        let (j, t) = (jar(), tuple());
        let (isn, _) = j.encode(secs(3), &t, SeqNum(9), 1460, CookieOpts::default());
        let d = |ecr| j.decode(secs(3), &t, SeqNum(10), isn + 1, Some(ecr));
        // 15 means "no window scaling"; 14 is the largest shift.
        let none = d(0x40 | 0x0f).expect("valid");
        assert_eq!(
            (none.wscale, none.sack_ok, none.ecn, none.ts_ok),
            (None, false, false, true)
        );
        let all = d(0x3e).expect("valid");
        assert_eq!((all.wscale, all.sack_ok, all.ecn), (Some(14), true, true));
        // No TSecr in the ACK: timestamps, SACK and scaling are all off.
        let bare = j
            .decode(secs(3), &t, SeqNum(10), isn + 1, None)
            .expect("valid");
        assert_eq!(
            (bare.wscale, bare.sack_ok, bare.ts_ok),
            (None, false, false)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_acks_never_panic(
            now in any::<u64>(), seq in any::<u32>(), ack in any::<u32>(),
            tsecr in any::<Option<u32>>(), lp in any::<u16>(), rp in any::<u16>(),
        ) {
            let (j, mut t) = (jar(), tuple());
            t.local.1 = lp;
            t.remote.1 = rp;
            let _ = j.decode(Instant::from_micros(now), &t, SeqNum(seq), SeqNum(ack), tsecr);
        }

        #[test]
        fn round_trip_any_tuple_and_time(
            now in 0u64..(1 << 50), isn in any::<u32>(), lp in any::<u16>(), rp in any::<u16>(),
            a in any::<u32>(), mss in any::<u16>(), later in 0u64..SLOT_MICROS,
        ) {
            let j = jar();
            let t = CookieTuple {
                local: (Ipv4Addr::from(a), lp),
                remote: (Ipv4Addr::from(a.rotate_left(7)), rp),
            };
            let now = Instant::from_micros(now);
            let (c, _) = j.encode(now, &t, SeqNum(isn), mss, CookieOpts::default());
            let back = Instant::from_micros(now.total_micros() + later);
            let d = j.decode(back, &t, SeqNum(isn.wrapping_add(1)), c + 1, None);
            prop_assert!(d.is_some());
        }
    }
}

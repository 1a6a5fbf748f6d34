//! Parsers for the values the command line takes: `A/P` addresses, MAC
//! addresses, MTUs and durations in seconds. (`--impair` specs are parsed
//! by `sockstack::link::impair::ImpairConfig` itself.)
//!
//! Each returns a short message on error; clap places it after
//! "invalid value 'X' for '--flag'", so together they name the problem on one
//! line. Only 198.18.0.0/15 is used by our tests, but any unicast IPv4
//! address is accepted here: the operator chooses the network.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use sockstack_proto::wire::MacAddr;

/// An interface address with its prefix length, as in `198.18.0.2/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrPrefix {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl AddrPrefix {
    pub fn netmask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n)),
        }
    }

    /// True when `other` is on this interface's subnet.
    pub fn contains(&self, other: Ipv4Addr) -> bool {
        let m = self.netmask();
        u32::from(self.addr) & m == u32::from(other) & m
    }
}

impl fmt::Display for AddrPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for AddrPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((a, p)) = s.split_once('/') else {
            return Err("expected IPv4ADDR/PREFIX, e.g. 198.18.0.2/24".into());
        };
        let addr = parse_unicast(a)?;
        let prefix_len: u8 = p
            .parse()
            .ok()
            .filter(|n| (1..=32).contains(n))
            .ok_or_else(|| format!("bad prefix length '{p}' (expected 1..=32)"))?;
        let ap = AddrPrefix { addr, prefix_len };
        // RFC 1122, 3.2.1.3: the all-zeros and all-ones host parts are not
        // host addresses (RFC 3021 exempts /31 and /32 has no host part).
        if prefix_len <= 30 {
            let host = u32::from(addr) & !ap.netmask();
            if host == 0 || host == !ap.netmask() {
                return Err(format!(
                    "{addr} is the network or broadcast address of /{prefix_len}"
                ));
            }
        }
        Ok(ap)
    }
}

/// A unicast IPv4 address (a ping destination, a gateway).
pub fn parse_unicast(s: &str) -> Result<Ipv4Addr, String> {
    let addr: Ipv4Addr = s
        .parse()
        .map_err(|_| format!("'{s}' is not an IPv4 address"))?;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(format!("{addr} is not a unicast address"));
    }
    Ok(addr)
}

/// A unicast MAC address written as six hex pairs separated by ':' or '-'.
pub fn parse_mac(s: &str) -> Result<MacAddr, String> {
    let bad = || format!("'{s}' is not a MAC address (expected e.g. 02:00:00:12:34:56)");
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for byte in &mut out {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if out[0] & 0x01 != 0 {
        return Err(format!(
            "{s} is a multicast MAC address; a host needs a unicast one"
        ));
    }
    if out == [0; 6] {
        return Err("00:00:00:00:00:00 is not a usable MAC address".into());
    }
    Ok(MacAddr(out))
}

/// Smallest MTU every IPv4 host must accept (RFC 791: 68 octets).
pub const MTU_MIN: usize = 68;
pub const MTU_MAX: usize = 65535;

pub fn parse_mtu(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (MTU_MIN..=MTU_MAX).contains(n))
        .ok_or_else(|| format!("MTU must be a number in {MTU_MIN}..={MTU_MAX}"))
}

/// A positive number of seconds (fractions allowed), at most a day.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err("expected a number of seconds in (0, 86400]".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The largest ICMP echo payload that fits in one IPv4 datagram
/// (65535 - 20 bytes IPv4 header - 8 bytes ICMP header), as iputils.
pub const PING_SIZE_MAX: usize = 65507;

pub fn parse_ping_size(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n <= PING_SIZE_MAX)
        .ok_or_else(|| format!("packet size must be a number in 0..={PING_SIZE_MAX}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_prefix_accepts_and_rejects() {
        let a: AddrPrefix = "198.18.0.2/24".parse().unwrap();
        assert_eq!(a.addr, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(a.prefix_len, 24);
        assert!(a.contains(Ipv4Addr::new(198, 18, 0, 200)));
        assert!(!a.contains(Ipv4Addr::new(198, 18, 1, 1)));
        assert_eq!(a.to_string(), "198.18.0.2/24");
        assert!("198.18.0.2/32".parse::<AddrPrefix>().is_ok());
        assert!("198.18.0.0/31".parse::<AddrPrefix>().is_ok());
        for bad in [
            "198.18.0.2",
            "198.18.0.2/",
            "198.18.0.2/33",
            "198.18.0.2/0",
            "198.18.0.256/24",
            "fe80::1/64",
            "198.18.0.0/24",
            "198.18.0.255/24",
            "0.0.0.0/8",
            "224.0.0.1/24",
        ] {
            let err = bad.parse::<AddrPrefix>().unwrap_err();
            assert!(!err.contains('\n'), "{bad}: {err}");
        }
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("02:00:5e:10:00:01").unwrap(),
            MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01])
        );
        assert_eq!(parse_mac("02-AA-bb-00-00-01").unwrap().0[1], 0xaa);
        for bad in [
            "",
            "02:00:5e:10:00",
            "02:00:5e:10:00:01:02",
            "0g:00:00:00:00:01",
            "2:00:00:00:00:01",
            "01:00:5e:00:00:01",
            "ff:ff:ff:ff:ff:ff",
            "00:00:00:00:00:00",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mtu_bounds() {
        assert_eq!(parse_mtu("68"), Ok(68));
        assert_eq!(parse_mtu("65535"), Ok(65535));
        assert!(parse_mtu("67").is_err());
        assert!(parse_mtu("65536").is_err());
        assert!(parse_mtu("-1").is_err());
        assert!(parse_mtu("x").is_err());
    }

    #[test]
    fn seconds_and_sizes() {
        assert_eq!(parse_seconds("0.05").unwrap(), Duration::from_millis(50));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("-1").is_err());
        assert_eq!(parse_ping_size("65507"), Ok(65507));
        assert!(parse_ping_size("65508").is_err());
    }
}

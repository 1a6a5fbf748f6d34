//! Rendering for `sockstack ping`, shaped like iputils ping(8) so that
//! scripts and eyes used to Linux read it without surprises.
//!
//! Times are kept in microseconds and printed the way iputils prints them:
//! per reply with 3, 2, 1 or 0 decimals depending on size, the summary with
//! three decimals, and the loss percentage as C's `%g`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// IPv4 header (20) plus ICMP header (8): what iputils adds to `-s` for
/// "56(84) bytes of data".
pub const IP_ICMP_OVERHEAD: usize = 28;

/// `PING 198.18.0.1 (198.18.0.1) 56(84) bytes of data.`
pub fn header(dest: Ipv4Addr, size: usize) -> String {
    format!(
        "PING {dest} ({dest}) {size}({}) bytes of data.",
        size + IP_ICMP_OVERHEAD
    )
}

/// `64 bytes from 198.18.0.1: icmp_seq=1 ttl=64 time=0.123 ms`
pub fn reply_line(
    icmp_len: usize,
    from: Ipv4Addr,
    seq: u16,
    ttl: u8,
    rtt_us: u64,
    dup: bool,
) -> String {
    let mut s = format!(
        "{icmp_len} bytes from {from}: icmp_seq={seq} ttl={ttl} time={} ms",
        reply_time(rtt_us)
    );
    if dup {
        s.push_str(" (DUP!)");
    }
    s
}

/// `From 198.18.0.2 icmp_seq=3 Destination Host Unreachable`
pub fn error_line(from: Ipv4Addr, seq: u16, what: &str) -> String {
    format!("From {from} icmp_seq={seq} {what}")
}

/// iputils' per-reply precision: fewer decimals as the time grows.
fn reply_time(us: u64) -> String {
    if us >= 100_000 - 50 {
        format!("{}", (us + 500) / 1000)
    } else if us >= 10_000 - 5 {
        let t = us + 50;
        format!("{}.{:01}", t / 1000, (t % 1000) / 100)
    } else if us >= 1000 {
        let t = us + 5;
        format!("{}.{:02}", t / 1000, (t % 1000) / 10)
    } else {
        format!("{}.{:03}", us / 1000, us % 1000)
    }
}

/// Counters and round-trip times of one ping run.
#[derive(Debug, Default, Clone)]
pub struct PingStats {
    pub transmitted: u64,
    pub received: u64,
    pub duplicates: u64,
    pub errors: u64,
    rtt_sum: u128,
    rtt_sum_sq: u128,
    rtt_min: u64,
    rtt_max: u64,
}

impl PingStats {
    /// Count a first (non-duplicate) reply with its round-trip time.
    pub fn record_reply(&mut self, rtt_us: u64) {
        if self.received == 0 || rtt_us < self.rtt_min {
            self.rtt_min = rtt_us;
        }
        self.rtt_max = self.rtt_max.max(rtt_us);
        self.received += 1;
        self.rtt_sum += u128::from(rtt_us);
        self.rtt_sum_sq += u128::from(rtt_us) * u128::from(rtt_us);
    }

    /// Percentage of requests without a reply, as iputils computes it.
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        let lost = self.transmitted.saturating_sub(self.received);
        (lost as f64 * 100.0) / self.transmitted as f64
    }

    /// The closing block: blank line, title, counts, and rtt when any reply came.
    pub fn summary(&self, dest: Ipv4Addr, elapsed_ms: u64) -> String {
        let mut s = format!("\n--- {dest} ping statistics ---\n");
        let _ = write!(
            s,
            "{} packets transmitted, {} received",
            self.transmitted, self.received
        );
        if self.duplicates > 0 {
            let _ = write!(s, ", +{} duplicates", self.duplicates);
        }
        if self.errors > 0 {
            let _ = write!(s, ", +{} errors", self.errors);
        }
        let _ = write!(
            s,
            ", {}% packet loss, time {elapsed_ms}ms",
            format_g(self.loss_percent())
        );
        if self.received > 0 {
            let n = u128::from(self.received);
            let avg = self.rtt_sum / n;
            // mdev = sqrt(E[x^2] - E[x]^2), in microseconds (iputils).
            let var = (self.rtt_sum_sq / n).saturating_sub(avg * avg);
            let mdev = (var as f64).sqrt() as u64;
            let _ = write!(
                s,
                "\nrtt min/avg/max/mdev = {}/{}/{}/{} ms",
                ms3(self.rtt_min),
                ms3(avg as u64),
                ms3(self.rtt_max),
                ms3(mdev)
            );
        }
        s
    }
}

fn ms3(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// C's `%g` for a percentage in 0..=100: six significant digits, no
/// trailing zeros, no trailing point.
pub fn format_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    let digits_before = x.abs().log10().floor() as i32 + 1;
    let decimals = (6 - digits_before).max(0) as usize;
    let mut s = format!("{x:.decimals$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    #[test]
    fn header_and_reply_lines() {
        assert_eq!(
            header(DEST, 56),
            "PING 198.18.0.1 (198.18.0.1) 56(84) bytes of data."
        );
        assert_eq!(
            reply_line(64, DEST, 1, 64, 123, false),
            "64 bytes from 198.18.0.1: icmp_seq=1 ttl=64 time=0.123 ms"
        );
        assert_eq!(
            reply_line(64, DEST, 2, 64, 123, true),
            "64 bytes from 198.18.0.1: icmp_seq=2 ttl=64 time=0.123 ms (DUP!)"
        );
        assert_eq!(
            error_line(DEST, 3, "Destination Host Unreachable"),
            "From 198.18.0.1 icmp_seq=3 Destination Host Unreachable"
        );
    }

    #[test]
    fn reply_time_precision_follows_iputils() {
        assert_eq!(reply_time(0), "0.000");
        assert_eq!(reply_time(999), "0.999");
        assert_eq!(reply_time(1234), "1.23");
        assert_eq!(reply_time(9994), "9.99");
        assert_eq!(reply_time(12_345), "12.3");
        assert_eq!(reply_time(99_949), "99.9");
        assert_eq!(reply_time(123_456), "123");
    }

    #[test]
    fn summary_matches_iputils_shape() {
        let mut st = PingStats {
            transmitted: 3,
            ..PingStats::default()
        };
        for us in [100, 200, 300] {
            st.record_reply(us);
        }
        assert_eq!(
            st.summary(DEST, 2003),
            "\n--- 198.18.0.1 ping statistics ---\n\
             3 packets transmitted, 3 received, 0% packet loss, time 2003ms\n\
             rtt min/avg/max/mdev = 0.100/0.200/0.300/0.081 ms"
        );
    }

    #[test]
    fn summary_with_loss_dups_and_no_replies() {
        let mut st = PingStats {
            transmitted: 3,
            duplicates: 1,
            ..PingStats::default()
        };
        st.record_reply(1500);
        assert_eq!(
            st.summary(DEST, 10),
            "\n--- 198.18.0.1 ping statistics ---\n\
             3 packets transmitted, 1 received, +1 duplicates, 66.6667% packet loss, time 10ms\n\
             rtt min/avg/max/mdev = 1.500/1.500/1.500/0.000 ms"
        );
        let none = PingStats {
            transmitted: 4,
            ..PingStats::default()
        };
        assert_eq!(
            none.summary(DEST, 3000),
            "\n--- 198.18.0.1 ping statistics ---\n\
             4 packets transmitted, 0 received, 100% packet loss, time 3000ms"
        );
    }

    #[test]
    fn percent_g() {
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(5.0), "5");
        assert_eq!(format_g(10.0), "10");
        assert_eq!(format_g(100.0), "100");
        assert_eq!(format_g(100.0 / 3.0), "33.3333");
        assert_eq!(format_g(12.5), "12.5");
        assert_eq!(format_g(0.1), "0.1");
    }
}

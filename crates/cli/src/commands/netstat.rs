//! `sockstack netstat`: the sockets of every running stack, like
//! `netstat -tunap`, read from their control sockets
//! (`sockstack::control`). The table renderer is shared with `sockstack
//! demo`, so the demo's tables are exactly what this command prints.
//! `-o` and `-m` add what `ss -o` and `ss -m` add at the end of a row:
//! the pending timer (`timer:(on,200ms,0)`, `timer:(timewait,55sec,0)`)
//! and the buffers (`skmem:(r0,rb131072,t0,tb16384)`: bytes queued to
//! read, receive buffer, bytes queued to send, send buffer).

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use sockstack::control::{self, Snapshot, SocketRow};

use crate::error::CliError;
use crate::signals::Shutdown;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sockstack netstat              every socket of every running stack\n  \
    sockstack netstat -lt          TCP listeners (Recv-Q: accept queue, Send-Q: backlog)\n  \
    sockstack netstat -tom         TCP sockets with timers and buffer memory, like ss -tom\n  \
    sockstack netstat -s           counters per layer\n  \
    sockstack netstat -c -p 4242   refresh every second, one process only")]
pub struct NetstatArgs {
    /// Listening sockets only
    #[arg(short = 'l', long)]
    pub listening: bool,
    /// TCP sockets (with -u: both)
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// UDP sockets (with -t: both)
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Show each TCP socket's pending timer, like ss -o (timer:(on,200ms,0))
    #[arg(short = 'o', long)]
    pub timers: bool,
    /// Show each TCP connection's buffers, like ss -m (skmem:(r,rb,t,tb))
    #[arg(short = 'm', long)]
    pub memory: bool,
    /// Counters per layer, like netstat -s
    #[arg(short = 's', long)]
    pub statistics: bool,
    /// Print the snapshots as JSON
    #[arg(long)]
    pub json: bool,
    /// Refresh every second until Ctrl-C
    #[arg(short = 'c', long)]
    pub continuous: bool,
    /// Only the stack(s) of this process
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,
    /// Only the stack behind this control socket
    #[arg(long, value_name = "PATH", conflicts_with = "pid")]
    pub control: Option<PathBuf>,
}

/// Which rows to keep, and what to add to them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub listening: bool,
    pub tcp: bool,
    pub udp: bool,
    /// Append the pending timer (`ss -o`).
    pub timers: bool,
    /// Append the buffer memory (`ss -m`).
    pub memory: bool,
}

impl Filter {
    fn keeps(&self, r: &SocketRow) -> bool {
        let proto_ok = (!self.tcp && !self.udp)
            || (self.tcp && r.proto == "tcp")
            || (self.udp && r.proto == "udp");
        // netstat -l lists TCP listeners and every unconnected UDP socket.
        let listening = r.state == "LISTEN" || (r.proto == "udp" && r.foreign.port() == 0);
        proto_ok && (!self.listening || listening)
    }
}

pub fn run(args: NetstatArgs, shutdown: &Shutdown) -> Result<(), CliError> {
    let filter = Filter {
        listening: args.listening,
        tcp: args.tcp,
        udp: args.udp,
        timers: args.timers,
        memory: args.memory,
    };
    let stdout = std::io::stdout();
    loop {
        let snaps = collect(&args)?;
        let text = if args.json {
            let mut s = serde_json::to_string_pretty(&snaps)
                .map_err(|e| CliError::Runtime(format!("encoding JSON: {e}")))?;
            s.push('\n');
            s
        } else if args.statistics {
            render_stats(&snaps)
        } else {
            let rows: Vec<SocketRow> = snaps.into_iter().flat_map(|s| s.sockets).collect();
            render_table(&rows, filter)
        };
        let mut out = stdout.lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| CliError::Runtime(format!("writing output: {e}")))?;
        drop(out);
        if !args.continuous || shutdown.wait_timeout(Duration::from_secs(1)).is_some() {
            return Ok(());
        }
        println!();
    }
}

/// The snapshots the arguments ask for.
fn collect(args: &NetstatArgs) -> Result<Vec<Snapshot>, CliError> {
    if let Some(path) = &args.control {
        let snap = control::query(path)
            .map_err(|e| CliError::Runtime(format!("control socket {}: {e}", path.display())))?;
        return Ok(vec![snap]);
    }
    let dir = control::runtime_dir();
    let paths = control::discover(&dir)
        .map_err(|e| CliError::Runtime(format!("reading {}: {e}", dir.display())))?;
    let mut snaps = Vec::new();
    for path in paths {
        if args.pid.is_some_and(|p| control::pid_of(&path) != Some(p)) {
            continue;
        }
        // A stack that exits between discovery and query is simply gone.
        if let Ok(s) = control::query(&path) {
            snaps.push(s);
        }
    }
    if let (Some(pid), true) = (args.pid, snaps.is_empty()) {
        return Err(CliError::Runtime(format!(
            "no running sockstack stack with PID {pid} (looked in {})",
            dir.display()
        )));
    }
    Ok(snaps)
}

fn addr(a: &SocketAddrV4) -> String {
    if a.port() == 0 {
        format!("{}:*", a.ip())
    } else {
        a.to_string()
    }
}

/// The table of `netstat -tunap` for `rows` (in their order).
pub fn render_table(rows: &[SocketRow], filter: Filter) -> String {
    let mut s = String::new();
    let what = if filter.listening {
        "only servers"
    } else {
        "servers and established"
    };
    let _ = writeln!(s, "Active Internet connections ({what})");
    let _ = writeln!(
        s,
        "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name"
    );
    for r in rows.iter().filter(|r| filter.keeps(r)) {
        let who = match r.pid {
            Some(p) => format!("{p}/{}", r.program),
            None => format!("-/{}", r.program),
        };
        let mut line = format!(
            "{:<5} {:>6} {:>6} {:<23} {:<23} {:<11} {}",
            r.proto,
            r.recv_q,
            r.send_q,
            addr(&r.local),
            addr(&r.foreign),
            r.state,
            who
        );
        if let (true, Some(t)) = (filter.timers, &r.timer) {
            let _ = write!(
                line,
                " timer:({},{},{})",
                t.kind,
                ms_timer(t.remaining_ms),
                t.count
            );
        }
        // Listeners have no buffers of their own (Recv-Q counts
        // connections), so like UDP they show none.
        if filter.memory && r.proto == "tcp" && r.state != "LISTEN" {
            let _ = write!(
                line,
                " skmem:(r{},rb{},t{},tb{})",
                r.recv_q, r.rcvbuf, r.send_q, r.sndbuf
            );
        }
        let _ = writeln!(s, "{}", line.trim_end());
    }
    s
}

/// A timer's time left as `ss` prints it (`print_ms_timer`): "200ms",
/// "5.120ms" (5.12 s), "55sec", "1min5sec", "119min"; "0ms" when due.
pub fn ms_timer(ms: u64) -> String {
    let minutes = ms / 60_000;
    let mut secs = (ms / 1000) % 60;
    let mut msecs = ms % 1000;
    let mut s = String::new();
    if minutes > 0 {
        msecs = 0;
        let _ = write!(s, "{minutes}min");
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs > 0 {
        if secs > 9 {
            msecs = 0;
        }
        let _ = write!(s, "{secs}{}", if msecs > 0 { "." } else { "sec" });
    }
    if msecs > 0 {
        let _ = write!(s, "{msecs:03}ms");
    }
    if s.is_empty() {
        s.push_str("0ms");
    }
    s
}

/// Counters per stack and layer, like `netstat -s` (zero counters left out).
pub fn render_stats(snaps: &[Snapshot]) -> String {
    let mut s = String::new();
    for snap in snaps {
        let pid = snap.pid.map_or("-".to_string(), |p| p.to_string());
        let _ = writeln!(s, "Stack {pid}/{}:", snap.name);
        let mut layer = "";
        for c in &snap.counters {
            if c.layer != layer {
                layer = &c.layer;
                let _ = writeln!(s, "{}:", layer_title(layer));
            }
            if c.value != 0 {
                let _ = writeln!(s, "    {} {}", c.value, c.name.replace('_', " "));
            }
        }
    }
    s
}

fn layer_title(layer: &str) -> String {
    match layer {
        "ipv4" => "Ip".into(),
        "icmp" => "Icmp".into(),
        "tcp" => "Tcp".into(),
        "udp" => "Udp".into(),
        "arp" => "Arp".into(),
        "ethernet" => "Ethernet".into(),
        "raw" => "Raw".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(proto: &str, rq: usize, sq: usize, l: &str, f: &str, st: &str) -> SocketRow {
        SocketRow {
            proto: proto.into(),
            recv_q: rq,
            send_q: sq,
            local: l.parse().unwrap(),
            foreign: f.parse().unwrap(),
            state: st.into(),
            pid: Some(4242),
            program: "serve".into(),
            rcvbuf: 0,
            sndbuf: 0,
            timer: None,
        }
    }

    fn timer(kind: &str, remaining_ms: u64, count: u32) -> Option<control::TimerRow> {
        Some(control::TimerRow {
            kind: kind.into(),
            remaining_ms,
            count,
        })
    }

    /// `-o` and `-m` append what `ss -o` and `ss -m` print; without them
    /// the table is the plain one.
    #[test]
    fn timers_and_memory_layout_snapshot() {
        let mut est = row(
            "tcp",
            3,
            1448,
            "198.18.0.2:80",
            "198.18.0.1:40000",
            "ESTABLISHED",
        );
        est.rcvbuf = 131_072;
        est.sndbuf = 16_384;
        est.timer = timer("on", 200, 1);
        let mut tw = row(
            "tcp",
            0,
            0,
            "198.18.0.2:80",
            "198.18.0.1:40001",
            "TIME_WAIT",
        );
        tw.timer = timer("timewait", 55_120, 0);
        let mut ka = row(
            "tcp",
            0,
            0,
            "198.18.0.2:80",
            "198.18.0.1:40002",
            "ESTABLISHED",
        );
        ka.rcvbuf = 4096;
        ka.sndbuf = 4096;
        ka.timer = timer("keepalive", 7_199_000, 0);
        let rows = vec![
            row("tcp", 2, 128, "0.0.0.0:80", "0.0.0.0:0", "LISTEN"),
            est,
            tw,
            ka,
            row("udp", 0, 0, "0.0.0.0:7", "0.0.0.0:0", ""),
        ];
        let f = Filter {
            timers: true,
            memory: true,
            ..Filter::default()
        };
        let expected = "\
Active Internet connections (servers and established)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        2    128 0.0.0.0:80              0.0.0.0:*               LISTEN      4242/serve
tcp        3   1448 198.18.0.2:80           198.18.0.1:40000        ESTABLISHED 4242/serve timer:(on,200ms,1) skmem:(r3,rb131072,t1448,tb16384)
tcp        0      0 198.18.0.2:80           198.18.0.1:40001        TIME_WAIT   4242/serve timer:(timewait,55sec,0) skmem:(r0,rb0,t0,tb0)
tcp        0      0 198.18.0.2:80           198.18.0.1:40002        ESTABLISHED 4242/serve timer:(keepalive,119min,0) skmem:(r0,rb4096,t0,tb4096)
udp        0      0 0.0.0.0:7               0.0.0.0:*                           4242/serve
";
        assert_eq!(render_table(&rows, f), expected);
        let only_o = Filter {
            timers: true,
            ..Filter::default()
        };
        let text = render_table(&rows, only_o);
        assert!(text.contains("TIME_WAIT   4242/serve timer:(timewait,55sec,0)\n"));
        assert!(!text.contains("skmem"));
        let plain = render_table(&rows, Filter::default());
        assert!(!plain.contains("timer:") && !plain.contains("skmem"));
    }

    /// `ss`'s `print_ms_timer` spelling.
    #[test]
    fn timer_times_as_ss_prints_them() {
        let cases = [
            (0, "0ms"),
            (7, "007ms"),
            (200, "200ms"),
            (1_000, "1sec"),
            (5_120, "5.120ms"),
            (55_120, "55sec"),
            (60_000, "1min"),
            (65_400, "1min5sec"),
            (599_000, "9min59sec"),
            (7_199_000, "119min"),
        ];
        for (ms, text) in cases {
            assert_eq!(ms_timer(ms), text, "{ms} ms");
        }
    }

    fn rows() -> Vec<SocketRow> {
        vec![
            row("tcp", 2, 128, "0.0.0.0:80", "0.0.0.0:0", "LISTEN"),
            row(
                "tcp",
                0,
                65536,
                "198.18.0.2:80",
                "198.18.0.1:40000",
                "ESTABLISHED",
            ),
            row("udp", 0, 0, "0.0.0.0:7", "0.0.0.0:0", ""),
        ]
    }

    /// The layout of `netstat -tunap`, column for column.
    #[test]
    fn table_layout_snapshot() {
        let expected = "\
Active Internet connections (servers and established)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        2    128 0.0.0.0:80              0.0.0.0:*               LISTEN      4242/serve
tcp        0  65536 198.18.0.2:80           198.18.0.1:40000        ESTABLISHED 4242/serve
udp        0      0 0.0.0.0:7               0.0.0.0:*                           4242/serve
";
        assert_eq!(render_table(&rows(), Filter::default()), expected);
    }

    #[test]
    fn filters() {
        let only = |f: Filter| {
            render_table(&rows(), f)
                .lines()
                .skip(2)
                .map(|l| l.split_whitespace().nth(3).unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let l = Filter {
            listening: true,
            ..Filter::default()
        };
        assert_eq!(only(l), ["0.0.0.0:80", "0.0.0.0:7"]);
        let lt = Filter {
            listening: true,
            tcp: true,
            ..Filter::default()
        };
        assert_eq!(only(lt), ["0.0.0.0:80"]);
        let u = Filter {
            udp: true,
            ..Filter::default()
        };
        assert_eq!(only(u), ["0.0.0.0:7"]);
        let tu = Filter {
            tcp: true,
            udp: true,
            ..Filter::default()
        };
        assert_eq!(only(tu).len(), 3);
    }

    #[test]
    fn stats_group_by_layer() {
        let snap = Snapshot {
            pid: Some(1),
            name: "x".into(),
            sockets: vec![],
            counters: vec![
                control::Counter {
                    layer: "ipv4".into(),
                    name: "rx_packets".into(),
                    value: 3,
                },
                control::Counter {
                    layer: "ipv4".into(),
                    name: "tx_no_route".into(),
                    value: 0,
                },
                control::Counter {
                    layer: "tcp".into(),
                    name: "active_opens".into(),
                    value: 1,
                },
            ],
        };
        assert_eq!(
            render_stats(&[snap]),
            "Stack 1/x:\nIp:\n    3 rx packets\nTcp:\n    1 active opens\n"
        );
    }
}

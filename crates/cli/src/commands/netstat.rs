//! `sockstack netstat`: the sockets of every running stack, like
//! `netstat -tunap`, read from their control sockets
//! (`sockstack::control`). The table renderer is shared with `sockstack
//! demo`, so the demo's tables are exactly what this command prints.

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

/// Which rows to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub listening: bool,
    pub tcp: bool,
    pub udp: bool,
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
        let line = format!(
            "{:<5} {:>6} {:>6} {:<23} {:<23} {:<11} {}",
            r.proto,
            r.recv_q,
            r.send_q,
            addr(&r.local),
            addr(&r.foreign),
            r.state,
            who
        );
        let _ = writeln!(s, "{}", line.trim_end());
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

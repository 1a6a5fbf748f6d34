//! sockstack-bench: sockstack side by side with smoltcp 0.14 (same process,
//! identical in-memory link model) and with the Linux kernel (TAP vs veth).
//!
//! `cargo run --release -p sockstack-bench -- [--quick] [--json] [SCENARIO...]`
//! prints a table and, with `--json`, one JSON object per result line.
//! Scenarios: bulk, bulk-impaired, conn-rate, scale, memory, tap (all when
//! none is named). `--only sockstack|smoltcp` runs one stack alone (for
//! callgrind), `--size MIB` overrides the bulk size.

mod alloc;
mod bulk;
mod conns;
mod floor;
mod link;
mod many;
mod memory;
mod report;
mod scale;
mod smol;
mod ss;
mod tap;

use report::Row;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Which stacks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Both,
    Sockstack,
    Smoltcp,
}

/// Run options shared by every scenario.
#[derive(Debug, Clone)]
pub struct Opts {
    pub quick: bool,
    pub only: Only,
    /// Bulk size override in bytes.
    pub size: Option<usize>,
    /// Runs per stack (median reported).
    pub runs: usize,
}

impl Opts {
    pub fn ss(&self) -> bool {
        self.only != Only::Smoltcp
    }
    pub fn smol(&self) -> bool {
        self.only != Only::Sockstack
    }
}

const SCENARIOS: [&str; 6] = [
    "bulk",
    "bulk-impaired",
    "conn-rate",
    "scale",
    "memory",
    "tap",
];

fn usage() -> ! {
    eprintln!(
        "usage: sockstack-bench [--quick] [--json] [--only sockstack|smoltcp] [--size MIB] [--runs N] [SCENARIO...]\n\
         scenarios: {}",
        SCENARIOS.join(" ")
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--helper") {
        args.next();
        let rest: Vec<String> = args.collect();
        std::process::exit(tap::helper_main(&rest));
    }
    let mut opts = Opts {
        quick: false,
        only: Only::Both,
        size: None,
        runs: 0,
    };
    let mut json = false;
    let mut chosen: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--json" => json = true,
            "--only" => {
                opts.only = match args.next().as_deref() {
                    Some("sockstack") => Only::Sockstack,
                    Some("smoltcp") => Only::Smoltcp,
                    _ => usage(),
                }
            }
            "--size" => {
                let mib: usize = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage());
                opts.size = Some(mib << 20);
            }
            "--runs" => {
                opts.runs = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "-h" | "--help" => usage(),
            s if SCENARIOS.contains(&s) => chosen.push(s.to_string()),
            _ => usage(),
        }
    }
    if opts.runs == 0 {
        opts.runs = if opts.quick { 3 } else { 5 };
    }
    if chosen.is_empty() {
        chosen = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    let started = std::time::Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    for s in &chosen {
        let t = std::time::Instant::now();
        let new = match s.as_str() {
            "bulk" => bulk::run(&opts, false),
            "bulk-impaired" => bulk::run(&opts, true),
            "conn-rate" => conns::run(&opts),
            "scale" => scale::run(&opts),
            "memory" => memory::run(&opts),
            "tap" => tap::run(&opts),
            _ => Vec::new(),
        };
        for r in &new {
            if json {
                println!("{}", r.json());
            }
        }
        eprintln!("# {s}: {:.1} s", t.elapsed().as_secs_f64());
        rows.extend(new);
    }
    println!("{}", report::table(&rows));
    eprintln!("# total: {:.1} s", started.elapsed().as_secs_f64());
}

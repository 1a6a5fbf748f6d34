//! Bulk TCP between two whole stacks on an in-memory wire in virtual time:
//! both directions at once, clean and with seeded loss and reordering,
//! every byte checked by SHA-256 on both ends.

mod tcp_common;

use sockstack::sim::PairConfig;
use tcp_common::*;

fn run(cfg: PairConfig, up: u64, down: u64, limit: u64) -> BulkReport {
    let r = bulk(cfg, up, down, secs(limit));
    println!("{r}");
    assert_intact(&r, up, down);
    r
}

/// Smoke test: 64 MiB one way on a clean gigabit wire.
#[test]
fn clean_64mib_one_way() {
    let cfg = PairConfig::default().with_wire(wire()).with_seed(11);
    let r = run(cfg, 64 * MIB, 0, 120);
    assert_eq!(r.retrans, (0, 0), "no loss, no retransmission");
}

/// Both directions at once, 2 % loss and 10 % reordering each way.
#[test]
fn lossy_8mib_each_way() {
    let cfg = PairConfig::default()
        .with_wire(wire())
        .with_impair(lossy(0.02, 0.10))
        .with_seed(42);
    let r = run(cfg, 8 * MIB, 8 * MIB, 3600);
    assert!(
        r.retrans.0 > 0 && r.retrans.1 > 0,
        "loss means retransmission"
    );
}

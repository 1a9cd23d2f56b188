//! Replica repair under sleep, partition and churn: how long until the
//! replicas converge, on real loopback nodes with real SQLite files.
//!
//! `cargo bench -p pigeonhole-node --bench scenarios` prints one table.
//! Rows: the sleeping-phone trial (6 nodes; the replica closest to the
//! inbox sleeps through a write and comes back under its old id, knowing
//! one peer), the partition trial (two halves of 4 nodes, 50 contended
//! writes each, joined by one connection) and the churn run (20 nodes, 30%
//! stopped and restarted during the publishes). Time to converge is from
//! the restart / the join / the last restart to every replica (the
//! `factor` closest nodes) holding every record; every node then reads
//! every record (checked, not timed). The baseline row is, in the same sleeping-phone trials,
//! the restart to the woken node's first connection: the floor under its
//! time to converge (what repair itself adds is the difference).
//! Counts: `PIGEONHOLE_BENCH_SLEEPING` (100), `PIGEONHOLE_BENCH_PARTITIONS`
//! (10), `PIGEONHOLE_BENCH_CHURN_PUBLISHES` (500).

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../tests/scenarios/mod.rs"]
mod scenarios;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use scenarios::*;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(name: &str, mut times: Vec<Duration>, note: &str) {
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {note} |",
        times.len(),
        pct(50).as_secs_f64() * 1e3,
        pct(95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clock = common::clock();
    let sleeping = env_count("PIGEONHOLE_BENCH_SLEEPING", 100);
    let partitions = env_count("PIGEONHOLE_BENCH_PARTITIONS", 10);
    let churn_publishes = env_count("PIGEONHOLE_BENCH_CHURN_PUBLISHES", 500);

    println!("| scenario (time to converge) | trials | p50 ms | p95 ms | max ms | notes |");
    println!("|---|---|---|---|---|---|");
    let mut connect_times = Vec::with_capacity(sleeping);
    let mut sleeping_times = Vec::with_capacity(sleeping);
    for _ in 0..sleeping {
        let outcome = sleeping_phone_trial(&clock).await;
        connect_times.push(outcome.connected);
        sleeping_times.push(outcome.converge);
    }
    row(
        "baseline: sleeping phone, restart → first connection",
        connect_times,
        "floor: repair cannot start earlier",
    );
    row(
        "sleeping phone, 6 nodes",
        sleeping_times,
        "restart → woken replica holds the request; every node then reads it",
    );
    let mut partition_times = Vec::with_capacity(partitions);
    let mut partition_records = 0;
    for _ in 0..partitions {
        let outcome = partition_trial(&clock, 4, 50).await;
        partition_records = outcome.records;
        partition_times.push(outcome.converge);
    }
    row(
        "partition heal, 2 × 4 nodes",
        partition_times,
        &format!(
            "join → every replica holds the same {partition_records}; all 8 nodes then read them"
        ),
    );
    let churn = churn_run(&clock, 20, churn_publishes).await;
    row(
        "churn, 20 nodes, 30% restarting",
        vec![churn.converge],
        &format!(
            "{} publishes: {} acknowledged, {} failed, {} restarts; last restart → every replica holds all; \
             every node (restarted ones too, no routing warm-up) then reads all",
            churn_publishes, churn.acknowledged, churn.failed, churn.restarts,
        ),
    );
    println!("target: ≤ 2 s on loopback");
}

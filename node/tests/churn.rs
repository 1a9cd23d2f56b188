//! Churn: 20 nodes, 30% of them stopped and restarted at random while
//! records are published; afterwards every replica of each inbox holds
//! every acknowledged record of it, and every node reads them all right
//! away — restarted nodes included, with no routing warm-up (they look up
//! each inbox's replicas before listing).
//! `PIGEONHOLE_CHURN_PUBLISHES` sets the publish count (default 60; the
//! scenario bench runs 500).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod scenarios;
mod support;

use scenarios::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_record_survives_churn_on_every_node() {
    support::init_tracing();
    let publishes: usize = std::env::var("PIGEONHOLE_CHURN_PUBLISHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let clock = common::clock();
    let outcome = churn_run(&clock, 20, publishes).await;
    eprintln!("churn: {outcome:?}");
    assert!(outcome.restarts > 0, "no churn happened");
    assert!(
        outcome.acknowledged * 2 >= publishes,
        "most publishes should be acknowledged: {outcome:?}"
    );
}

//! Sleeping phone: a replica that was stopped while a request was written
//! comes back under its old peer id (still in everyone's routing table, so
//! nothing "new" joins) and must become a complete replica by itself, by
//! reconciliation on reconnect. Trials with random peer ids and inboxes;
//! `PIGEONHOLE_TRIALS` sets how many (default 20, 1-2 s each here; the
//! scenario bench runs 100).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod scenarios;
mod support;

use scenarios::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_replica_holds_what_was_written_while_it_slept() {
    support::init_tracing();
    let trials: usize = std::env::var("PIGEONHOLE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let clock = common::clock();
    let mut times = Vec::new();
    for trial in 0..trials {
        let outcome = sleeping_phone_trial(&clock).await;
        eprintln!("trial {trial}: converged in {:?}", outcome.converge);
        times.push(outcome.converge);
    }
    assert_eq!(times.len(), trials);
    assert!(times.iter().all(|t| *t < CONVERGE_BOUND));
}

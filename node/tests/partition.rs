//! Partition and heal: two halves of four nodes each write 50 records into
//! one mailbox, contending for the same slots; joined by one connection,
//! every replica of the mailbox ends up holding the same 100 records
//! (keep-both storage plus reconciliation) within a bounded time, and every
//! node reads all 100.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod scenarios;
mod support;

use scenarios::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healed_halves_converge_on_the_union_of_their_writes() {
    support::init_tracing();
    let clock = common::clock();
    let outcome = partition_trial(&clock, 4, 50).await;
    eprintln!("partition healed: {outcome:?}");
    assert_eq!(outcome.records, 100);
    assert!(outcome.converge < CONVERGE_BOUND);
}

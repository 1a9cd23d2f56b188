//! The foundation's mailbox cases, written once in
//! `core/tests/common/mailbox_cases.rs`, run on three real nodes over TCP:
//! each case gets one client per node. On nodes the mailbox takes the
//! listing path (protocol v2); cases that count probe gets or expect a
//! same-sender overwrite describe the single-value fallback and run on the
//! memory DHT only.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;

use common::mailbox_cases::{self, Client};
use common::*;
use pigeonhole::clock::ManualClock;
use pigeonhole_node::Node;
use support::*;

async fn nodes(clock: &Arc<ManualClock>) -> (Vec<Node>, Vec<Client>) {
    init_tracing();
    let nodes = cluster(3, clock).await;
    let clients = nodes
        .iter()
        .map(|n| Arc::new(n.clone()) as Client)
        .collect();
    (nodes, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_lose_and_duplicate_nothing() {
    let clock = clock();
    let (nodes, clients) = nodes(&clock).await;
    mailbox_cases::concurrent_publishers(&clients, &clock, 10, 100).await;
    stop_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_deleted_gaps_do_not_end_the_scan() {
    let clock = clock();
    let (nodes, clients) = nodes(&clock).await;
    mailbox_cases::gaps_do_not_end_the_scan(&clients, &clock).await;
    stop_all(&nodes).await;
}

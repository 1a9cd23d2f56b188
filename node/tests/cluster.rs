//! Real nodes over TCP on 127.0.0.1 in one process: a record published on
//! one node is fetched by every other one, on 2, 3, 5 and 20 nodes; and a
//! record of the largest size the validator allows crosses the wire.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use pigeonhole::record::{HEADER_LEN, MAX_RECORD_BYTES, SIGNATURE_LEN};
use support::*;

/// Publishes one record from node 0 and fetches it from every other node.
async fn publish_then_fetch_everywhere(n: usize) {
    init_tracing();
    let clock = clock();
    let nodes = cluster(n, &clock).await;
    let inbox = inbox_of(n as u8);
    let published = mailbox(&nodes[0], &clock)
        .publish(&identity(1), request_draft(inbox, DAY))
        .await
        .expect("publish");
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let fetched = mailbox(node, &clock)
            .fetch_within(inbox, DAY)
            .await
            .expect("fetch");
        let ids: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
        assert_eq!(ids, vec![published.id()], "node {i} of {n}");
    }
    stop_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes() {
    publish_then_fetch_everywhere(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes() {
    publish_then_fetch_everywhere(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes() {
    publish_then_fetch_everywhere(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes() {
    publish_then_fetch_everywhere(20).await;
}

/// The largest record the validator accepts passes Kademlia's message
/// limit in both directions (put and get).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn largest_valid_record_crosses_the_wire() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(3, &clock).await;
    let body_len = MAX_RECORD_BYTES - HEADER_LEN - SIGNATURE_LEN;
    // sealed_blob(c) is 57 + c bytes long.
    let draft = pigeonhole::mailbox::Draft {
        body: sealed_blob(body_len - 57),
        ..request_draft(inbox_of(9), DAY)
    };
    let record = mailbox(&nodes[0], &clock)
        .publish(&identity(9), draft)
        .await
        .expect("publish at the maximum size");
    assert_eq!(record.bytes().len(), MAX_RECORD_BYTES);
    for node in &nodes[1..] {
        assert_eq!(
            node.held(record.dht_key()).await.unwrap().as_deref(),
            Some(record.bytes()),
            "a replica did not store the maximum-size record"
        );
        let got = node.get(record.dht_key()).await.expect("get");
        assert_eq!(got.as_deref(), Some(record.bytes()));
    }
    stop_all(&nodes).await;
}

//! A wall clock that jumps forward by days and comes back loses nothing:
//! held records are hidden while the clock shows them expired, kept
//! through every sweep of the grace period, and served again afterwards.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use common::*;
use pigeonhole_node::{Node, NodeConfig};
use support::*;

const RECORDS: usize = 8;

/// Three holders on one clock with a 100 ms sweep hold 8 records; the clock
/// jumps 3 days ahead while many sweeps run (and explicit ones), then comes
/// back. Every holder still holds all 8, and a node started afterwards
/// reads all 8 from the two holders that are not the publisher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_day_jump_and_back_keeps_every_held_record() {
    init_tracing();
    let clock = clock();
    let fast_sweep = || NodeConfig {
        sweep_interval: Duration::from_millis(100),
        ..node_config(&clock)
    };
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(fast_sweep()).await.expect("start"));
    }
    connect_all(&nodes).await;
    let inbox = inbox_of(61);
    let mut published = Vec::new();
    for _ in 0..RECORDS {
        let record = mailbox(&nodes[0], &clock)
            .publish(&identity(7), request_draft(inbox, DAY))
            .await
            .expect("publish");
        published.push(record);
    }
    for node in &nodes {
        assert_eq!(
            node.held_totals().await.unwrap().records,
            RECORDS as u64,
            "every node of a 3-node LAN holds the mailbox"
        );
    }

    // Forward 3 days: every record looks expired. Sweeps run on the timer
    // (100 ms) for 2 s, plus explicit ones on every node.
    clock.advance(3 * DAY);
    for _ in 0..3 {
        for node in &nodes {
            node.maintain().await.expect("maintain");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for node in &nodes {
        node.maintain().await.expect("maintain");
        for record in &published {
            assert_eq!(
                node.held(record.dht_key()).await.unwrap(),
                None,
                "a record the clock shows expired is not served"
            );
        }
        assert_eq!(
            node.held_totals().await.unwrap().records,
            RECORDS as u64,
            "a sweep within the grace period deleted held records"
        );
    }

    // Back to the right time: more sweeps, then a new node reads.
    clock.set(NOW);
    for node in &nodes {
        node.maintain().await.expect("maintain");
    }
    nodes.remove(0).stop().await;
    let reader = Node::start(node_config(&clock)).await.expect("start R");
    let mut readable = nodes.clone();
    readable.push(reader.clone());
    connect_all(&readable).await;
    let fetched = mailbox(&reader, &clock)
        .fetch_all(inbox)
        .await
        .expect("fetch");
    let mut got: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    let mut want: Vec<_> = published.iter().map(|r| r.id()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "records lost to the clock jump");
    stop_all(&readable).await;
}

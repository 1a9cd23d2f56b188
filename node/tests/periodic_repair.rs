//! Periodic replica repair: replicas that stay connected but drift apart
//! are repaired without any reconnection.
//!
//! One replica refuses a put once (its clock lags, so the record looks
//! "from the future"); the publish is still acknowledged by the others.
//! Its clock then catches up. Nothing reconnects, nobody republishes (the
//! outbox interval is far away), so only the periodic reconciliation pass
//! (`ReplicationConfig::repair_interval`, short here) can bring the
//! record to it.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pigeonhole::clock::ManualClock;
use pigeonhole::record::MailboxId;
use pigeonhole_node::{Node, NodeConfig};
use support::*;

const LAG: u64 = 3_600;

fn config(clock: &Arc<ManualClock>) -> NodeConfig {
    let mut config = node_config(clock);
    config.replication.repair_interval = Duration::from_millis(500);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_refused_a_put_is_repaired_while_connected() {
    init_tracing();
    let clock = clock();
    let lagging = Arc::new(ManualClock::new(NOW - LAG));
    let writer = Node::start(config(&clock)).await.expect("start");
    let honest = Node::start(config(&clock)).await.expect("start");
    let refuser = Node::start(config(&lagging)).await.expect("start");
    let nodes = vec![writer.clone(), honest.clone(), refuser.clone()];
    connect_all(&nodes).await;
    let inbox = MailboxId([0x5a; 32]);
    let record = mailbox(&writer, &clock)
        .publish(&identity(7), request_draft(inbox, DAY))
        .await
        .expect("acknowledged by the replica whose clock agrees");
    assert!(
        honest.held_ids(inbox).await.unwrap().contains(&record.id()),
        "the honest replica stored it"
    );
    assert!(
        !refuser
            .held_ids(inbox)
            .await
            .unwrap()
            .contains(&record.id()),
        "the lagging replica refused it"
    );
    // Passes asked for by the connections made above may still be waiting
    // for their peer's budget (3 at once, then one per 2 s, see
    // `reconcile_driver::PASS_BURST`); let them run while the clock still
    // lags (the refuser refuses the record again), so that after the clock
    // catches up only a periodic pass is left to repair it.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        !refuser
            .held_ids(inbox)
            .await
            .unwrap()
            .contains(&record.id()),
        "still refused while the clock lags"
    );
    let connected = refuser.status().connected_peers;
    lagging.advance(LAG);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if refuser
            .held_ids(inbox)
            .await
            .unwrap()
            .contains(&record.id())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the drifted replica was not repaired within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refuser.status().connected_peers >= connected,
        "repaired over the connections it had"
    );
    stop_all(&nodes).await;
}

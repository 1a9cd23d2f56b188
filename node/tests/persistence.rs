//! Records outlive the nodes that published or held them: the offline
//! recipient, the publisher's outbox after a restart, and a holder
//! restarted from its SQLite file. (Replicas repairing each other when a
//! peer joins is set reconciliation's job, tested with it.)

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use common::*;
use pigeonhole_node::{Node, NodeConfig};
use support::*;

/// A publishes into B's inbox while B does not exist; A stops; B starts,
/// reaches the remaining peer C and fetches the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recipient_fetches_after_publisher_left() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(2, &clock).await;
    let (a, c) = (nodes[0].clone(), nodes[1].clone());
    let inbox_b = inbox_of(42);
    let published = mailbox(&a, &clock)
        .publish(&identity(1), request_draft(inbox_b, 3 * DAY))
        .await
        .expect("publish");
    a.stop().await;

    let b = Node::start(node_config(&clock)).await.expect("start B");
    b.add_peer(c.listen_addrs()[0].clone())
        .await
        .expect("add C");
    assert!(b.wait_for_peers(1, WAIT).await.routing_peers >= 1);
    let fetched = mailbox(&b, &clock).fetch_all(inbox_b).await.expect("fetch");
    let ids: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    assert_eq!(ids, vec![published.id()]);
    stop_all(&[b, c]).await;
}

/// The publisher's outbox survives its restart and is pushed to a peer
/// that was never reachable while it published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_is_republished_after_restart() {
    init_tracing();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let persistent = || NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..node_config(&clock)
    };
    // Alone: the put succeeds locally (no peers to ask) and waits in the outbox.
    let a = Node::start(persistent()).await.expect("start A");
    let published = mailbox(&a, &clock)
        .publish(&identity(3), request_draft(inbox_of(44), DAY))
        .await
        .expect("publish alone");
    a.stop().await;

    let a = Node::start(persistent()).await.expect("restart A");
    let c = Node::start(node_config(&clock)).await.expect("start C");
    c.add_peer(a.listen_addrs()[0].clone())
        .await
        .expect("add A");
    let status = c.wait_for_status(|s| s.records_accepted >= 1, WAIT).await;
    assert!(
        status.records_accepted >= 1,
        "A did not push its outbox: {status:?}"
    );
    a.stop().await;
    assert_eq!(
        c.held(published.dht_key()).await.unwrap().as_deref(),
        Some(published.bytes())
    );
    c.stop().await;
}

/// A holding node stopped and started again from its SQLite file still
/// serves what it held; once the record has expired, it is not served
/// after a restart, and a sweep past the expiry grace deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_holder_serves_until_expiry() {
    init_tracing();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let holder_config = || NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..node_config(&clock)
    };
    let publisher = Node::start(node_config(&clock)).await.expect("start P");
    let holder = Node::start(holder_config()).await.expect("start H");
    connect_all(&[holder.clone(), publisher.clone()]).await;
    let inbox = inbox_of(45);
    let record = mailbox(&publisher, &clock)
        .publish(&identity(4), request_draft(inbox, 3600))
        .await
        .expect("publish");
    assert_eq!(
        holder.held(record.dht_key()).await.unwrap().as_deref(),
        Some(record.bytes())
    );
    let holder_id = holder.peer_id();
    publisher.stop().await;
    holder.stop().await;

    // Restart from the file: same peer id, record still served.
    let holder = Node::start(holder_config()).await.expect("restart H");
    assert_eq!(holder.peer_id(), holder_id, "peer key not persisted");
    let reader = Node::start(node_config(&clock)).await.expect("start R");
    connect_all(&[holder.clone(), reader.clone()]).await;
    let fetched = mailbox(&reader, &clock)
        .fetch_within(inbox, DAY)
        .await
        .expect("fetch");
    let ids: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    assert_eq!(ids, vec![record.id()], "restarted holder lost the record");
    reader.stop().await;
    holder.stop().await;

    // Past its expiry, a restarted holder does not serve it; it keeps the
    // row for the expiry grace period (the clock may have jumped) and
    // deletes it once that is over (zero grace here).
    clock.advance(3600);
    let holder = Node::start(NodeConfig {
        expiry_grace: Duration::ZERO,
        ..holder_config()
    })
    .await
    .expect("restart H again");
    let reader = Node::start(node_config(&clock)).await.expect("start R2");
    connect_all(&[holder.clone(), reader.clone()]).await;
    assert_eq!(holder.held(record.dht_key()).await.unwrap(), None);
    assert_eq!(reader.get(record.dht_key()).await.unwrap(), None);
    assert_eq!(
        holder.held_totals().await.unwrap().records,
        1,
        "kept, not served, until a sweep"
    );
    holder.maintain().await.unwrap();
    assert_eq!(holder.held_totals().await.unwrap().records, 0);
    stop_all(&[reader, holder]).await;
}

/// `stop` returns only once the task has ended and the database is
/// closed: no file descriptor of this process points at the SQLite file
/// any more, the same file opens again at once, and every handle reports
/// `Stopped`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_everything() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(pigeonhole_node::node::DB_FILE);
    let open_fds_on_db = || {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter(|target| target.starts_with(&db))
            .count()
    };
    for _ in 0..3 {
        let node = Node::start(NodeConfig {
            data_dir: Some(dir.path().to_path_buf()),
            ..node_config(&clock)
        })
        .await
        .expect("start");
        assert!(
            open_fds_on_db() > 0,
            "the database should be open while running"
        );
        let clone = node.clone();
        node.stop().await;
        assert_eq!(open_fds_on_db(), 0, "database still open after stop");
        assert_eq!(
            clone.held_totals().await,
            Err(pigeonhole_node::NodeError::Stopped)
        );
        tokio::time::timeout(Duration::from_secs(1), clone.stop())
            .await
            .expect("second stop returns at once");
    }
}

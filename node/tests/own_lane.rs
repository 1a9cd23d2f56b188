//! The user's own store calls run on the own lane, never on the swarm task
//! (issue 11: a slow store must not freeze the node; issue 12: no SQLite
//! on async threads).
//!
//! Setup that can produce the failure: another connection holds the
//! victim's SQLite file write-locked for two seconds, so the victim's own
//! local copy of a publish waits in SQLite's busy handler. Done on the
//! swarm task (the old code), that wait froze the task: a command that
//! needs no SQLite (`has_standing`) waited the whole two seconds. On the
//! lane, the swarm task answers it at once, the publish still completes
//! (its replicas answered meanwhile) and the local copy is written once
//! the lock is gone.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::*;
use pigeonhole_node::node::DB_FILE;
use pigeonhole_node::{Node, NodeConfig};
use support::*;

/// How long the outside connection holds the write lock.
const LOCK_HELD: Duration = Duration::from_secs(2);
/// Longest a store-free command may take while the lock is held (the old
/// code took the whole `LOCK_HELD`).
const COMMAND_BOUND: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_does_not_freeze_the_swarm_task() {
    init_tracing();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let victim = Node::start(NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..node_config(&clock)
    })
    .await
    .expect("start victim");
    let others = [
        Node::start(node_config(&clock)).await.expect("start"),
        Node::start(node_config(&clock)).await.expect("start"),
    ];
    let all = [victim.clone(), others[0].clone(), others[1].clone()];
    connect_all(&all).await;
    let app = mailbox(&victim, &clock);
    // A first publish, so the mailbox is looked up and its replicas known.
    app.publish(&identity(1), request_draft(inbox_of(70), DAY))
        .await
        .expect("first publish");

    // Hold the write lock from outside for LOCK_HELD.
    let path = dir.path().join(DB_FILE);
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(path).expect("open the victim's database");
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        let _ = locked_tx.send(());
        std::thread::sleep(LOCK_HELD);
        connection.execute_batch("COMMIT").expect("release");
    });
    locked_rx.await.expect("lock taken");
    let locked_at = Instant::now();

    // The user's publish: its local copy now waits for the lock.
    let publishing = {
        let app = mailbox(&victim, &clock);
        tokio::spawn(async move {
            app.publish(&identity(2), request_draft(inbox_of(70), DAY))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let begun = Instant::now();
    victim
        .has_standing(others[0].peer_id())
        .await
        .expect("standing");
    let command_took = begun.elapsed();
    assert!(
        command_took < COMMAND_BOUND,
        "a store-free command took {command_took:?} while the database was locked: \
         the swarm task waited for SQLite"
    );
    assert!(
        locked_at.elapsed() < LOCK_HELD,
        "the check ended after the lock was released ({:?}): it proves nothing",
        locked_at.elapsed()
    );

    let record = tokio::time::timeout(Duration::from_secs(20), publishing)
        .await
        .expect("publish finished")
        .expect("task")
        .expect("publish");
    holder.join().expect("lock holder");
    // The local copy was written once the lock was gone.
    let mut held = None;
    for _ in 0..50 {
        held = victim.held(record.dht_key()).await.expect("held");
        if held.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held.as_deref(), Some(record.bytes()), "local copy written");
    stop_all(&all).await;
}

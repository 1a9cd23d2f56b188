//! The facade never runs SQLite on the caller's thread (issue 12).
//!
//! Another connection holds the node's database write-locked for about a
//! second (as a second process on the same file would), and a facade write
//! waiting for that lock holds the node's own connection meanwhile, so
//! every call of `Buddies`, `Feeds` and `Notices` — reads included — waits
//! about a second. While it waits, a ticker on the same single-threaded
//! runtime must keep ticking: a call that ran its SQLite inline would hold
//! the only runtime thread until it returned, and the ticker would not
//! tick at all.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pigeonhole::feed::FeedRef;
use pigeonhole::identity::Identity;
use pigeonhole::notice::DocRef;
use pigeonhole_sdk::{Config, Node, PeerConfig};

/// How long the other connection holds the database write-locked.
const LOCKED_FOR: Duration = Duration::from_millis(1000);
/// Time given to the facade write that takes the node's connection.
const SETTLE: Duration = Duration::from_millis(150);
/// The ticker's period.
const TICK: Duration = Duration::from_millis(50);
/// Ticks required while one call waits (it waits at least half of
/// `LOCKED_FOR`: room for 10).
const MIN_TICKS: u32 = 5;
/// Measurements of one call: another is taken only when the call did not
/// wait at all (the write meant to hold the connection had not taken it
/// yet on a loaded machine).
const ATTEMPTS: u32 = 3;

/// Holds the SQLite database at `db` write-locked (`BEGIN IMMEDIATE`) for
/// `LOCKED_FOR` from a thread of its own. Returns once the lock is held.
fn lock_database(db: &Path) -> JoinHandle<()> {
    let db = db.to_path_buf();
    let (held, is_held) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).expect("open the node's database");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        conn.execute_batch("BEGIN IMMEDIATE")
            .expect("lock the database");
        held.send(()).expect("tell the test");
        std::thread::sleep(LOCKED_FOR);
        conn.execute_batch("ROLLBACK").expect("unlock the database");
    });
    is_held.recv().expect("the lock holder started");
    holder
}

/// Runs the call `make` makes while the node's database is held as the
/// module doc says; panics unless the call waited and a ticker on this
/// runtime ticked `MIN_TICKS` times meanwhile.
async fn stays_responsive<T, F: Future<Output = T>>(
    name: &str,
    node: &Node,
    db: &Path,
    make: impl Fn() -> F,
) -> T {
    let blocked = Identity::from_secret_bytes([9; 32]).public_key();
    for attempt in 1..=ATTEMPTS {
        let ticks = Arc::new(AtomicU32::new(0));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(TICK);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                // Bounded: far more ticks than one locked call can take.
                for _ in 0..10_000 {
                    interval.tick().await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let holder = lock_database(db);
        // A write through the facade: on the blocking pool it takes the
        // node's connection and waits in SQLite's busy handler.
        let buddies = node.buddies().clone();
        let writer = tokio::spawn(async move { buddies.block(&blocked).await });
        tokio::time::sleep(SETTLE).await;

        let (started, before) = (Instant::now(), ticks.load(Ordering::Relaxed));
        let output = make().await;
        let (waited, during) = (started.elapsed(), ticks.load(Ordering::Relaxed) - before);
        ticker.abort();
        writer.await.expect("writer task").expect("the write");
        holder.join().expect("the lock holder");
        eprintln!(
            "{name} (attempt {attempt}): waited {waited:?}, the runtime ticked {during} times"
        );
        if waited < LOCKED_FOR / 2 && attempt < ATTEMPTS {
            continue;
        }
        assert!(
            waited >= LOCKED_FOR / 2,
            "{name}: returned after {waited:?}: it never waited for the locked database"
        );
        assert!(
            during >= MIN_TICKS,
            "{name}: the runtime ticked {during} times in {waited:?} (at least {MIN_TICKS} \
             expected): the call ran SQLite on the caller's thread"
        );
        return output;
    }
    unreachable!("the last attempt asserts or returns")
}

async fn start(dir: &Path) -> (Node, PathBuf) {
    let config = Config {
        peer: PeerConfig {
            data_dir: Some(dir.to_path_buf()),
            ..PeerConfig::loopback()
        },
        sync_interval: None,
        ..Config::in_dir(dir)
    };
    let node = Node::start(config).await.expect("start the node");
    (node, dir.join(pigeonhole_node::node::DB_FILE))
}

#[tokio::test(flavor = "current_thread")]
async fn facade_calls_leave_the_runtime_thread_free_while_sqlite_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (node, db) = start(dir.path()).await;
    let author = Identity::from_secret_bytes([7; 32]).public_key();
    let feed = FeedRef::new(author, "news").unwrap();
    let doc = DocRef::new(author, "plan").unwrap();

    let buddies = node.buddies();
    let pending = stays_responsive("pending_requests", &node, &db, || {
        buddies.pending_requests()
    });
    assert!(pending.await.unwrap().is_empty());
    let code = stays_responsive("contact_code", &node, &db, || buddies.contact_code()).await;
    assert_eq!(code.unwrap().public_key, buddies.public_key());
    let listed = stays_responsive("buddies", &node, &db, || buddies.buddies()).await;
    assert!(listed.unwrap().is_empty());

    let feeds = node.feeds();
    let follow = stays_responsive("follow", &node, &db, || feeds.follow(&feed)).await;
    follow.unwrap();
    let following = stays_responsive("following", &node, &db, || feeds.following()).await;
    assert_eq!(following.unwrap()[0].feed, feed);
    let posts = stays_responsive("posts", &node, &db, || feeds.posts(&feed, 10)).await;
    assert!(posts.unwrap().is_empty());
    let rss = stays_responsive("rss", &node, &db, || feeds.rss(&feed)).await;
    assert!(rss.unwrap().contains("<rss"));

    let notices = node.notices();
    let watch = stays_responsive("watch", &node, &db, || notices.watch(&doc)).await;
    watch.unwrap();
    let watching = stays_responsive("watching", &node, &db, || notices.watching()).await;
    assert_eq!(watching.unwrap(), vec![(doc.clone(), 0)]);
    node.stop().await;
}

//! The facade tells its peer which mailboxes fair storage must protect
//! (issue 11): the user's inbox at start, a followed feed after the next sync.

use pigeonhole::feed::FeedRef;
use pigeonhole::identity::Identity;
use pigeonhole_sdk::{Config, Node, PeerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_and_followed_feeds_are_protected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::in_dir(dir.path());
    config.peer = PeerConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..PeerConfig::loopback()
    };
    config.sync_interval = None;
    let node = Node::start(config).await.unwrap();
    let stats = node.peer().store_stats().await.unwrap();
    assert_eq!(stats.protected_mailboxes, 1, "the user's inbox");

    let author = Identity::from_secret_bytes([7; 32]).public_key();
    let feed = FeedRef::new(author, "news").unwrap();
    assert!(node.feeds().follow(&feed).await.unwrap());
    // Alone on the network the sync itself may fail; the set is refreshed
    // either way.
    let _ = node.sync_now().await;
    let stats = node.peer().store_stats().await.unwrap();
    assert_eq!(stats.protected_mailboxes, 2, "inbox and the followed feed");
    node.stop().await;
}

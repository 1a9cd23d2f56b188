//! Feed behaviour written once, run on any DHT: the in-memory one in
//! `core/tests/feeds.rs`, real libp2p nodes in the SDK's tests. The author
//! and each follower sit on different clients of the [`BuddyNet`].

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use pigeonhole::clock::Clock;

use pigeonhole::feed::{FeedBook, FeedConfig, FeedError, FeedEvent, FeedRef};
use pigeonhole::mailbox::Mailbox;
use pigeonhole::record::body::{BodyRules, feed_mailbox};
use pigeonhole::record::{Header, InstanceId, Kind};
use pigeonhole::store::Store;

use super::buddy_cases::{BuddyNet, Client};
use super::*;

/// A feed user on client `k` with `store` and `config`.
pub fn feed_user_at(
    net: &BuddyNet,
    store: Store,
    k: usize,
    config: FeedConfig,
) -> FeedBook<Client> {
    let client = net.clients[k % net.clients.len()].clone();
    let mailbox = Mailbox::new(client, validator(), net.clock.clone(), super::config());
    FeedBook::new(Arc::new(store), mailbox, net.clock.clone(), config).expect("feed book")
}

/// A feed user on client `k`, in-memory database.
pub fn feed_user(net: &BuddyNet, k: usize) -> FeedBook<Client> {
    let store = Store::open_in_memory(validator(), net.clock.clone()).unwrap();
    feed_user_at(net, store, k, FeedConfig::default())
}

/// A follower on client `k` whose database is the file `path`.
pub fn file_follower(net: &BuddyNet, path: &Path, k: usize) -> FeedBook<Client> {
    let store = Store::open(path, validator(), net.clock.clone()).unwrap();
    feed_user_at(net, store, k, FeedConfig::default())
}

fn titles(posts: &[pigeonhole::feed::Post]) -> Vec<&str> {
    posts.iter().map(|post| post.title.as_str()).collect()
}

/// Instantiates every generic feed case as a test; `$net` builds a fresh
/// [`BuddyNet`] per test.
#[macro_export]
macro_rules! feed_cases {
    ($net:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn posts_made_while_the_follower_is_offline_arrive_in_order_once() {
            let net = $net;
            common::feed_cases::posts_made_while_the_follower_is_offline_arrive_in_order_once(&net)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_expired_unread_post_is_reported_missed() {
            let net = $net;
            common::feed_cases::an_expired_unread_post_is_reported_missed(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn edits_and_deletes_reach_followers() {
            let net = $net;
            common::feed_cases::edits_and_deletes_reach_followers(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_post_signed_by_another_key_is_refused_by_storing_peers() {
            let net = $net;
            common::feed_cases::a_post_signed_by_another_key_is_refused_by_storing_peers(&net)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rss_of_a_twenty_post_feed_is_read_by_feedparser() {
            let net = $net;
            common::feed_cases::rss_of_a_twenty_post_feed_is_read_by_feedparser(&net).await;
        }
    };
}

/// 3 posts while the follower is away arrive in order; a second fetch and
/// a restart deliver nothing again; a 4th post arrives alone.
pub async fn posts_made_while_the_follower_is_offline_arrive_in_order_once(net: &BuddyNet) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("follower.db");
    let author = feed_user(net, 0);
    let feed = author.own_feed("news").unwrap();
    {
        let follower = file_follower(net, &db, 1);
        assert!(
            follower
                .follow(&FeedRef::parse(&feed.to_string()).unwrap())
                .unwrap()
        );
        assert!(!follower.follow(&feed).unwrap(), "second follow is a no-op");
    }
    for (i, title) in ["one", "two", "three"].iter().enumerate() {
        net.clock.advance(10);
        author
            .post(
                "news",
                title,
                Some(&format!("https://example.org/{i}")),
                "text",
                None,
            )
            .await
            .unwrap();
    }
    let follower = file_follower(net, &db, 1);
    let mut events = follower.subscribe();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert_eq!(titles(&update.posts), ["one", "two", "three"]);
    assert_eq!(
        update.posts.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!((update.missed, update.rejected), (0, 0));
    for title in ["one", "two", "three"] {
        match events.try_recv().unwrap() {
            FeedEvent::Posted(post) => assert_eq!(post.title, title),
            other => panic!("{other:?}"),
        }
    }
    assert!(follower.fetch_new(&feed).await.unwrap().posts.is_empty());
    drop(follower);

    let follower = file_follower(net, &db, 1);
    assert!(
        follower.fetch_new(&feed).await.unwrap().posts.is_empty(),
        "nothing twice after a restart"
    );
    net.clock.advance(10);
    author
        .post("news", "four", None, "text", None)
        .await
        .unwrap();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert_eq!(titles(&update.posts), ["four"]);
    assert_eq!(
        titles(&follower.posts(&feed, 10).unwrap()),
        ["four", "three", "two", "one"]
    );
    let following = follower.following().unwrap();
    assert_eq!(following.len(), 1);
    assert_eq!((following[0].last_number, following[0].missed), (4, 0));
    assert!(follower.unfollow(&feed).unwrap());
    assert!(matches!(
        follower.fetch_new(&feed).await,
        Err(FeedError::NotFollowed)
    ));
}

/// A short-lived post that expires unread is counted missed; a post the
/// author deleted before it was read is not.
pub async fn an_expired_unread_post_is_reported_missed(net: &BuddyNet) {
    let store = Store::open_in_memory(validator(), net.clock.clone()).unwrap();
    let short = feed_user_at(
        net,
        store,
        0,
        FeedConfig {
            post_lifetime_secs: 3_600,
        },
    );
    let feed = short.own_feed("news").unwrap();
    let follower = feed_user(net, 1);
    follower.follow(&feed).unwrap();
    let mut events = follower.subscribe();
    short
        .post("news", "gone", None, "expires unread", None)
        .await
        .unwrap();
    net.clock.advance(2 * 3_600);
    short
        .post("news", "kept", None, "read in time", None)
        .await
        .unwrap();
    let withdrawn = short
        .post("news", "withdrawn", None, "deleted", None)
        .await
        .unwrap();
    short.delete(&withdrawn.id).await.unwrap();
    net.clock.advance(10);
    short
        .post("news", "last", None, "read in time", None)
        .await
        .unwrap();

    let update = follower.fetch_new(&feed).await.unwrap();
    assert_eq!(titles(&update.posts), ["kept", "last"]);
    assert_eq!(update.missed, 1, "only the expired post is missed");
    assert!(
        std::iter::from_fn(|| events.try_recv().ok()).any(|event| event
            == FeedEvent::Missed {
                feed: feed.clone(),
                count: 1
            })
    );
    assert_eq!(follower.following().unwrap()[0].missed, 1);
}

/// An owner's edit and delete are seen by a follower as such.
pub async fn edits_and_deletes_reach_followers(net: &BuddyNet) {
    let author = feed_user(net, 0);
    let feed = author.own_feed("news").unwrap();
    let follower = feed_user(net, 1);
    follower.follow(&feed).unwrap();
    let first = author
        .post("news", "Draft", None, "typo", None)
        .await
        .unwrap();
    assert_eq!(follower.fetch_new(&feed).await.unwrap().posts.len(), 1);

    net.clock.advance(10);
    let edit = author
        .edit(
            &first.id,
            "Final",
            Some("https://example.org/final"),
            "fixed",
            None,
        )
        .await
        .unwrap();
    let mut events = follower.subscribe();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert_eq!(update.posts.len(), 1);
    let seen = &update.posts[0];
    assert_eq!(
        (seen.id, seen.replaces, seen.guid),
        (edit.id, Some(first.id), first.id)
    );
    assert!(matches!(events.try_recv().unwrap(), FeedEvent::Edited(post) if post.id == edit.id));
    let shown = follower.posts(&feed, 10).unwrap();
    assert_eq!(
        titles(&shown),
        ["Final"],
        "the edit replaces the post in place"
    );
    assert_eq!(shown[0].guid, first.id);

    let stranger = feed_user(net, 1);
    assert!(matches!(
        stranger.delete(&edit.id).await,
        Err(FeedError::UnknownPost)
    ));
    author.delete(&edit.id).await.unwrap();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert_eq!(update.deleted, vec![edit.id]);
    assert!(update.posts.is_empty());
    assert!(
        matches!(events.try_recv().unwrap(), FeedEvent::Deleted { post_id, .. } if post_id == edit.id)
    );
    assert!(follower.posts(&feed, 10).unwrap().is_empty());
    assert!(
        follower.fetch_new(&feed).await.unwrap().deleted.is_empty(),
        "reported once"
    );
}

/// Mallory signs a post for Bob's feed mailbox: storing peers refuse it and
/// Bob's followers never see it.
pub async fn a_post_signed_by_another_key_is_refused_by_storing_peers(net: &BuddyNet) {
    let bob = feed_user(net, 0);
    let feed = bob.own_feed("news").unwrap();
    let mallory = identity(66);
    let now = net.clock.now();
    let header = Header {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&feed.author, "news"),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(now + DAY),
            seq: 0,
        },
        sender: mallory.public_key(),
        created_at: now,
        expires_at: now + DAY,
    };
    let forged = header.sign(&mallory, &sample_post().encode());
    for client in &net.clients {
        assert!(client.put(header.dht_key(), forged.clone()).await.is_err());
    }
    let follower = feed_user(net, 1);
    follower.follow(&feed).unwrap();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert!(update.posts.is_empty());
    // And the author's own post still takes slot 0.
    let post = bob.post("news", "mine", None, "x", None).await.unwrap();
    assert_eq!(
        follower.fetch_new(&feed).await.unwrap().posts[0].id,
        post.id
    );
}

/// The RSS of a 20-post feed, parsed by Python's `feedparser` (installed
/// from PyPI when missing): titles, links, guids, dates and order.
pub async fn rss_of_a_twenty_post_feed_is_read_by_feedparser(net: &BuddyNet) {
    let author = feed_user(net, 0);
    let feed = author.own_feed("news").unwrap();
    let follower = feed_user(net, 1);
    follower.follow(&feed).unwrap();
    let mut expected = Vec::new();
    for i in 0..20u64 {
        net.clock.advance(60);
        let published = NOW - 86_400 + i * 3_600;
        let post = author
            .post(
                "news",
                &format!("Post <{i}> & more"),
                Some(&format!("https://example.org/posts/{i}?a=1&b=2")),
                &format!("Summary {i}"),
                Some(published),
            )
            .await
            .unwrap();
        expected.push((
            post.title,
            post.link.unwrap(),
            hex::encode(post.id),
            published,
        ));
    }
    assert_eq!(follower.fetch_new(&feed).await.unwrap().posts.len(), 20);
    expected.reverse(); // newest first
    let xml = follower.rss(&feed).unwrap();
    assert_eq!(xml, author.rss(&feed).unwrap(), "author and follower agree");
    let parsed = feedparser(&xml);
    assert_eq!(parsed.len(), 20, "{xml}");
    for (got, want) in parsed.iter().zip(&expected) {
        assert_eq!(got.0, want.0, "title");
        assert_eq!(got.1, want.1, "link");
        assert_eq!(got.2, want.2, "guid");
        assert_eq!(got.3, want.3, "date");
    }
}

/// `(title, link, guid, unix date)` of each item as `feedparser` reads them.
fn feedparser(xml: &str) -> Vec<(String, String, String, u64)> {
    ensure_feedparser();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, xml).unwrap();
    let script = r#"
import calendar, sys, feedparser
d = feedparser.parse(sys.argv[1])
assert not d.bozo, d.bozo_exception
assert d.version == "rss20", d.version
for e in d.entries:
    print("\t".join([e.title, e.link, e.id, str(calendar.timegm(e.published_parsed))]))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].parse().unwrap())
        })
        .collect()
}

/// Installs `feedparser` from PyPI when it is missing (once per process).
fn ensure_feedparser() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let have = |_: ()| {
            std::process::Command::new("python3")
                .args(["-c", "import feedparser"])
                .status()
                .is_ok_and(|status| status.success())
        };
        if !have(()) {
            let status = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "feedparser"])
                .status()
                .expect("pip runs");
            assert!(status.success() && have(()), "could not install feedparser");
        }
    });
}

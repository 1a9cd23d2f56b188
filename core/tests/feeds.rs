//! Feeds and document notices on the in-memory DHT. The generic cases are in
//! `common/feed_cases.rs` and `common/notice_cases.rs` and run on real
//! libp2p nodes too (the SDK's `feeds_on_nodes`); the cases here need a
//! storing peer that checks nothing, or no network at all.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use pigeonhole::clock::Clock;
use pigeonhole::feed::{FeedRef, FeedRefError};
use pigeonhole::mailbox::{Dht, DhtError};
use pigeonhole::record::body::{BodyRules, feed_mailbox};
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind};

use common::buddy_cases::{BuddyNet, Client};

async fn memory_net() -> BuddyNet {
    let clock = clock();
    BuddyNet {
        clients: vec![memory_dht(&clock) as Client],
        clock,
    }
}

feed_cases!(memory_net().await);
notice_cases!(memory_net().await);

/// A storing peer that keeps whatever it is given (first value per key).
#[derive(Default)]
struct RawDht(Mutex<HashMap<DhtKey, Vec<u8>>>);

#[async_trait]
impl Dht for RawDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        Ok(self.0.lock().unwrap().get(&key).cloned())
    }
    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        self.0.lock().unwrap().entry(key).or_insert(value);
        Ok(())
    }
}

/// Behind a peer that checks nothing, a post signed by another key sits in
/// the feed's first slot: the reader drops and counts it, and still
/// delivers the author's posts after it.
#[tokio::test]
async fn a_forged_post_is_rejected_by_the_reader() {
    let clock = clock();
    let net = BuddyNet {
        clients: vec![Arc::new(RawDht::default()) as Client],
        clock: clock.clone(),
    };
    let author = common::feed_cases::feed_user(&net, 0);
    let feed = author.own_feed("news").unwrap();
    let mallory = identity(66);
    let now = clock.now();
    let expires_at = now + 30 * DAY;
    let header = Header {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&feed.author, "news"),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(expires_at),
            seq: 0,
        },
        sender: mallory.public_key(),
        created_at: now,
        expires_at,
    };
    net.clients[0]
        .put(
            header.dht_key(),
            header.sign(&mallory, &sample_post().encode()),
        )
        .await
        .unwrap();
    let follower = common::feed_cases::feed_user(&net, 0);
    follower.follow(&feed).unwrap();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert!(update.posts.is_empty());
    assert_eq!(update.rejected, 1);
    // The forged value is not proof of occupancy: the author's post is
    // placed after it and delivered.
    author.post("news", "real", None, "x", None).await.unwrap();
    let update = follower.fetch_new(&feed).await.unwrap();
    assert_eq!(update.posts.len(), 1);
    assert_eq!(update.posts[0].title, "real");
}

#[test]
fn feed_references_round_trip_and_name_their_errors() {
    let feed = FeedRef::new(identity(2).public_key(), "news").unwrap();
    let text = feed.to_string();
    assert!(text.starts_with("PHF-"));
    assert_eq!(FeedRef::parse(&text).unwrap(), feed);
    assert_eq!(
        FeedRef::parse(&format!("  {}  ", text.to_lowercase())).unwrap(),
        feed
    );
    let unicode = FeedRef::new(identity(2).public_key(), "Nachrichten für alle").unwrap();
    assert_eq!(FeedRef::parse(&unicode.to_string()).unwrap(), unicode);

    assert_eq!(FeedRef::parse("PH-AAAA"), Err(FeedRefError::MissingPrefix));
    assert_eq!(
        FeedRef::parse("PHF-AB1C"),
        Err(FeedRefError::Alphabet {
            position: 2,
            character: '1'
        })
    );
    assert_eq!(
        FeedRef::parse(&text[..text.len() - 8]),
        Err(FeedRefError::Length)
    );
    let mut typo: Vec<char> = text.chars().collect();
    typo[20] = if typo[20] == 'A' { 'B' } else { 'A' };
    assert_eq!(
        FeedRef::parse(&typo.into_iter().collect::<String>()),
        Err(FeedRefError::Checksum)
    );
    let mut bytes = feed.to_bytes();
    bytes[0] = 2;
    let encoded = format!("PHF-{}", data_encoding_base32(&bytes));
    assert_eq!(FeedRef::parse(&encoded), Err(FeedRefError::Version(2)));
    assert_eq!(
        FeedRef::new(identity(2).public_key(), "bad\nname"),
        Err(FeedRefError::BadName)
    );
}

/// RFC 4648 base32 without padding (test-side, so the test does not reuse
/// the code under test).
fn data_encoding_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The editor rule and the inline-content rule, at the validator every
/// storing peer and reader runs.
#[test]
fn editor_grants_and_inline_content_are_checked_by_the_validator() {
    use pigeonhole::record::ErrorKind;
    use pigeonhole::record::body::{DocNotice, content_hash, doc_mailbox};

    let (owner, ann, mallory) = (identity(10), identity(12), identity(66));
    let mailbox = doc_mailbox(&owner.public_key(), "minutes");
    let header_for = |who: &pigeonhole::identity::Identity, kind, created_at: u64, seq| Header {
        kind,
        mailbox,
        instance: InstanceId {
            bucket: InstanceId::bucket_of(NOW + DAY),
            seq,
        },
        sender: who.public_key(),
        created_at,
        expires_at: NOW + DAY,
    };
    let list = |who: &pigeonhole::identity::Identity, created_at, expires_at| {
        let header = Header {
            mailbox: doc_mailbox(&who.public_key(), "minutes"),
            expires_at,
            ..header_for(who, Kind::EditorList, created_at, 0)
        };
        header.sign(who, &sample_editor_list(vec![ann.public_key()]).encode())
    };
    let check = |who: &pigeonhole::identity::Identity, notice: &DocNotice| {
        let header = header_for(who, Kind::DocNotice, NOW, 1);
        validator()
            .validate(&header.dht_key(), &header.sign(who, &notice.encode()), NOW)
            .map(drop)
            .map_err(|error| error.kind())
    };
    let with_grant = |grant: Vec<u8>| DocNotice {
        editor_grant: Some(grant),
        ..sample_notice(owner.public_key())
    };
    let good = list(&owner, NOW - 10, NOW + DAY);
    assert_eq!(check(&ann, &with_grant(good.clone())), Ok(()));
    assert_eq!(check(&owner, &sample_notice(owner.public_key())), Ok(()));
    // Not named, no grant, a grant of another "owner", a grant made after
    // the notice, an owner carrying a grant: all refused.
    assert_eq!(
        check(&mallory, &with_grant(good.clone())),
        Err(ErrorKind::Syntax)
    );
    assert_eq!(
        check(&ann, &sample_notice(owner.public_key())),
        Err(ErrorKind::Syntax)
    );
    assert_eq!(
        check(&ann, &with_grant(list(&mallory, NOW - 10, NOW + DAY))),
        Err(ErrorKind::Syntax)
    );
    assert_eq!(
        check(&ann, &with_grant(list(&owner, NOW + 5, NOW + DAY))),
        Err(ErrorKind::Syntax)
    );
    assert_eq!(
        check(&owner, &with_grant(good.clone())),
        Err(ErrorKind::Syntax)
    );
    let mut tampered = good;
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(check(&ann, &with_grant(tampered)), Err(ErrorKind::Syntax));
    // Inline content must match the announced size and hash.
    let inline = |data: &[u8], size| DocNotice {
        content_hash: content_hash(b"hello"),
        size,
        inline: Some(data.to_vec()),
        ..sample_notice(owner.public_key())
    };
    assert_eq!(check(&owner, &inline(b"hello", 5)), Ok(()));
    assert_eq!(check(&owner, &inline(b"hellO", 5)), Err(ErrorKind::Syntax));
    assert_eq!(check(&owner, &inline(b"hello", 6)), Err(ErrorKind::Syntax));
}

/// The watch cursor lives in SQLite: after a restart nothing is delivered
/// again; behind a peer that checks nothing, a non-editor's notice reaches
/// the reader, which rejects and counts it.
#[tokio::test]
async fn notice_cursor_survives_restart_and_readers_reject_non_editors() {
    use pigeonhole::mailbox::Mailbox;
    use pigeonhole::notice::{NoticeBoard, NoticeConfig, UpdateContent};
    use pigeonhole::record::body::DocNotice;
    use pigeonhole::store::Store;

    let clock = clock();
    let net = BuddyNet {
        clients: vec![Arc::new(RawDht::default()) as Client],
        clock: clock.clone(),
    };
    let owner = common::notice_cases::notice_user(&net, 0, 10);
    let doc = owner.own_doc("minutes").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("watcher.db");
    let watcher = || {
        let store = Store::open(&db, validator(), clock.clone()).unwrap();
        let mailbox = Mailbox::new(net.clients[0].clone(), validator(), clock.clone(), config());
        NoticeBoard::new(Arc::new(store), mailbox, NoticeConfig::default()).unwrap()
    };
    let announce = |n: u8| UpdateContent::Announce {
        content_hash: [n; 32],
        size: 1,
    };
    for version in 1..=2 {
        owner
            .notify_update(&doc, version, "", announce(1))
            .await
            .unwrap();
    }
    {
        let first = watcher();
        first.watch(&doc).unwrap();
        assert_eq!(first.fetch_updates(&doc).await.unwrap().notices.len(), 2);
    }
    // Mallory's notice, no grant, straight into a slot of the document.
    let mallory = identity(66);
    let now = clock.now();
    let header = Header {
        kind: Kind::DocNotice,
        mailbox: doc.mailbox(),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(now + DAY),
            seq: 5,
        },
        sender: mallory.public_key(),
        created_at: now,
        expires_at: now + DAY,
    };
    let forged = DocNotice {
        version: 3,
        ..sample_notice(doc.owner)
    };
    net.clients[0]
        .put(header.dht_key(), header.sign(&mallory, &forged.encode()))
        .await
        .unwrap();
    clock.advance(5);
    owner.notify_update(&doc, 3, "", announce(3)).await.unwrap();

    let again = watcher();
    let updates = again.fetch_updates(&doc).await.unwrap();
    assert_eq!(
        updates
            .notices
            .iter()
            .map(|n| n.body.version)
            .collect::<Vec<_>>(),
        [3],
        "nothing twice after a restart"
    );
    assert_eq!(updates.notices[0].sender, doc.owner);
    assert_eq!(
        updates.rejected, 1,
        "the reader's validator refused Mallory"
    );
    assert!(updates.conflicts.is_empty());
}

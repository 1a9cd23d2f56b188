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

//! A walk through the foundation: identities, a contact code, a shared
//! mailbox filled by several senders at once, a feed, a delete, and a
//! validating SQLite store. Runs on the in-memory DHT with the real
//! validator and slot rules.
//!
//! `cargo run -p pigeonhole --example mailbox_demo`

use std::sync::Arc;

use pigeonhole::clock::{Clock, SystemClock};
use pigeonhole::contact::ContactCode;
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Dht, Draft, Mailbox, MailboxConfig, MemoryDht};
use pigeonhole::record::body::{BodyRules, Content, FeedPost, SEALED_SCHEME_V1, feed_mailbox};
use pigeonhole::record::{Kind, Validator};
use pigeonhole::store::Store;

const DAY: u64 = 86_400;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let validator = Validator::default();
    let dir = tempfile_dir()?;
    let store = Store::open(dir.join("bob.db"), validator.clone(), clock.clone())?;
    let (bob, token) = store.load_or_create_identity()?;
    let bob_code = ContactCode::new(bob.public_key(), token);
    println!("Bob's contact code: {bob_code}");

    let dht = Arc::new(MemoryDht::new(validator.clone(), clock.clone()));
    let mailbox = Arc::new(Mailbox::new(
        dht.clone(),
        validator.clone(),
        clock.clone(),
        MailboxConfig::default(),
    ));

    // Five people send Bob a (sealed-shaped) request at the same time.
    let inbox = ContactCode::parse(&bob_code.to_string())?.inbox_id();
    let mut senders = Vec::new();
    for n in 1..=5u8 {
        let mailbox = mailbox.clone();
        senders.push(tokio::spawn(async move {
            let sender = Identity::generate();
            let mut body = vec![SEALED_SCHEME_V1];
            body.resize(120, n);
            let draft = Draft {
                kind: Kind::BuddyRequest,
                mailbox: inbox,
                body,
                lifetime_secs: 7 * DAY,
            };
            mailbox.publish(&sender, draft).await
        }));
    }
    for sender in senders {
        let record = sender.await??;
        println!(
            "request stored in slot {:?} by {}",
            record.header.instance,
            &record.header.sender.to_hex()[..12]
        );
    }
    let pending = mailbox.fetch_all(inbox).await?;
    println!(
        "Bob fetches his inbox: {} records, {} DHT requests in {} rounds",
        pending.records.len(),
        pending.stats.requests,
        pending.stats.rounds
    );

    // Peers that keep a mailbox together answer listing reads (protocol v2):
    // the same inbox costs one request there.
    let listing = Mailbox::new(
        Arc::new(MemoryDht::with_listing(validator.clone(), clock.clone())),
        validator.clone(),
        clock.clone(),
        MailboxConfig::default(),
    );
    for record in &pending.records {
        listing
            .dht()
            .put(record.dht_key(), record.bytes().to_vec())
            .await?;
    }
    let listed = listing.fetch_all(inbox).await?;
    println!(
        "the same inbox on a listing DHT: {} records, {} request(s)",
        listed.records.len(),
        listed.stats.requests
    );

    // Alice runs a feed; she deletes her second post.
    let alice = Identity::generate();
    let feed = feed_mailbox(&alice.public_key(), "meetup");
    let mut posts = Vec::new();
    for (title, summary) in [
        ("Doors open", "Room 2, 18:00"),
        ("Typo", "ignore me"),
        ("Slides", "On the shared drive"),
    ] {
        let body = FeedPost {
            feed_name: "meetup".into(),
            title: title.into(),
            link: None,
            summary: summary.into(),
            number: 1,
            published_at: None,
            replaces: None,
        }
        .encode();
        let draft = Draft {
            kind: Kind::FeedPost,
            mailbox: feed,
            body,
            lifetime_secs: 2 * DAY,
        };
        posts.push(mailbox.publish(&alice, draft).await?);
    }
    mailbox.delete(&alice, &posts[1]).await?;
    for record in mailbox.fetch_all(feed).await?.records {
        if let Content::FeedPost(post) = record.content {
            println!(
                "feed post {:?}: {} — {}",
                record.header.instance.seq, post.title, post.summary
            );
        }
    }

    // Bob's node holds one of the records for others, on disk.
    store.put(&pending.records[0])?;
    println!("Bob's store holds {:?}", store.totals()?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("pigeonhole-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

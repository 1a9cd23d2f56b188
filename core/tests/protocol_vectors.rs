//! The hex test vectors in `docs/PROTOCOL.md` are checked against the code:
//! the document cannot drift from what the SDK puts on the wire.
//!
//! Each vector is a line `vector NAME = VALUE` in the document.

mod common;

use std::collections::BTreeMap;

use common::*;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole::record::body::{
    BodyRules, DirectoryEntry, FeedPost, Tombstone, directory_mailbox, doc_mailbox, feed_mailbox,
};
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind};
use pigeonhole::seal::{SealContext, open, seal_with};

fn computed() -> Vec<(&'static str, String)> {
    let alice = Identity::from_secret_bytes([0x01; 32]);
    let code = ContactCode::new(alice.public_key(), InboxToken([1, 2, 3, 4]));
    let inbox = code.inbox_id();
    let instance = InstanceId {
        bucket: InstanceId::bucket_of(NOW + 7 * DAY),
        seq: 0,
    };

    let bob = Identity::from_secret_bytes([0x02; 32]);
    let post = FeedPost {
        feed_name: "news".into(),
        title: "Hello".into(),
        link: None,
        summary: "First post".into(),
    };
    let post_header = Header {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&bob.public_key(), "news"),
        instance,
        sender: bob.public_key(),
        created_at: NOW,
        expires_at: NOW + 7 * DAY,
    };
    let post_bytes = post_header.sign(&bob, &post.encode());
    let post_record = validator()
        .validate(&post_header.dht_key(), &post_bytes, NOW)
        .expect("vector record is valid");
    let tombstone_header = Header {
        kind: Kind::Tombstone,
        created_at: NOW + 60,
        ..post_header
    };
    let tombstone_bytes = tombstone_header.sign(
        &bob,
        &Tombstone {
            replaced: post_record.id(),
        }
        .encode(),
    );
    validator()
        .validate(&tombstone_header.dht_key(), &tombstone_bytes, NOW + 60)
        .expect("vector tombstone is valid");
    let entry = DirectoryEntry {
        name: "alice".into(),
        display_name: "Alice".into(),
    };

    let seal_context = SealContext {
        kind: Kind::BuddyRequest,
        mailbox: inbox,
        sender: bob.public_key(),
    };
    let sealed = seal_with(
        &alice.public_key(),
        &seal_context,
        &sample_request().encode(),
        [0x03; 32],
        [0x04; 24],
    )
    .expect("seal");
    assert_eq!(
        open(&alice, &seal_context, &sealed).expect("open"),
        sample_request().encode()
    );
    let request_header = Header {
        kind: Kind::BuddyRequest,
        mailbox: inbox,
        instance,
        sender: bob.public_key(),
        created_at: NOW,
        expires_at: NOW + 7 * DAY,
    };
    let request_bytes = request_header.sign(&bob, &sealed);

    vec![
        ("seal.buddy_request", hex::encode(&sealed)),
        ("buddy_request.record", hex::encode(&request_bytes)),
        ("alice.public_key", hex::encode(alice.public_key().0)),
        ("alice.contact_code", code.to_string()),
        ("alice.contact_code_bytes", hex::encode(code.to_bytes())),
        ("alice.inbox_id", hex::encode(inbox.0)),
        ("slot.instance", format!("{:016x}", instance.to_u64())),
        (
            "slot.key",
            hex::encode(DhtKey::for_slot(&inbox, instance).0),
        ),
        ("bob.public_key", hex::encode(bob.public_key().0)),
        ("bob.feed_mailbox", hex::encode(post_header.mailbox.0)),
        ("feed_post.body", hex::encode(post.encode())),
        ("feed_post.record", hex::encode(&post_bytes)),
        ("feed_post.key", hex::encode(post_header.dht_key().0)),
        ("feed_post.record_id", hex::encode(post_record.id())),
        ("tombstone.record", hex::encode(&tombstone_bytes)),
        (
            "directory.alice_mailbox",
            hex::encode(directory_mailbox("alice").0),
        ),
        ("directory.entry_body", hex::encode(entry.encode())),
        ("doc.mailbox_of_05", hex::encode(doc_mailbox(&[5; 32]).0)),
        (
            "buddy_request.plaintext",
            hex::encode(sample_request().encode()),
        ),
        (
            "buddy_response.plaintext",
            hex::encode(sample_response().encode()),
        ),
    ]
}

fn documented() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    let text = std::fs::read_to_string(path).expect("docs/PROTOCOL.md is readable");
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("vector "))
        .filter_map(|rest| rest.split_once(" = "))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect()
}

#[test]
fn protocol_document_vectors_match_the_code() {
    let documented = documented();
    let mut wrong = Vec::new();
    for (name, value) in computed() {
        if documented.get(name) != Some(&value) {
            wrong.push(format!("vector {name} = {value}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/PROTOCOL.md disagrees with the code; the code computes:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        documented.len(),
        computed().len(),
        "unknown vectors in the document"
    );
}

//! The hex test vectors in `docs/PROTOCOL.md` are checked against the code:
//! the document cannot drift from what the SDK puts on the wire.
//!
//! Each vector is a line `vector NAME = VALUE` in the document.

mod common;

use pigeonhole::stamp::STAMP_BITS;
use std::collections::BTreeMap;

use common::*;
use pigeonhole::contact::{ContactCode, ContactCodeError, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole::names;
use pigeonhole::record::body::{
    BodyRules, DirectoryEntry, DocNotice, FeedPost, Tombstone, content_hash, content_mailbox,
    directory_mailbox, doc_mailbox, feed_mailbox,
};
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind, MailboxId};
use pigeonhole::seal::{SealContext, open, seal_with};

fn computed() -> Vec<(&'static str, String)> {
    let alice = Identity::from_secret_bytes([0x01; 32]);
    let code = ContactCode::new(
        alice.public_key(),
        InboxToken(std::array::from_fn(|i| i as u8 + 1)),
    );
    let inbox = code.inbox_id();
    let instance = InstanceId {
        bucket: InstanceId::bucket_of(NOW + 7 * DAY),
        seq: 0,
    };

    let bob = Identity::from_secret_bytes([0x02; 32]);
    let docs = doc_vectors(&alice, &bob, instance);
    let post = FeedPost {
        feed_name: "news".into(),
        title: "Hello".into(),
        link: None,
        summary: "First post".into(),
        number: 1,
        published_at: None,
        replaces: None,
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

    let stamp = pigeonhole::stamp::mint_stamp(&inbox, &bob.public_key(), STAMP_BITS);
    assert!(pigeonhole::stamp::check_stamp(
        &inbox,
        &bob.public_key(),
        stamp,
        STAMP_BITS
    ));

    let mut vectors = vec![
        ("stamp.bits", STAMP_BITS.to_string()),
        ("stamp.bob_to_alice_nonce", format!("{stamp:016x}")),
        (
            "stamp.bob_to_alice_hash",
            hex::encode(pigeonhole::stamp::stamp_hash(
                &inbox,
                &bob.public_key(),
                stamp,
            )),
        ),
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
        (
            "feed_ref.bob_news",
            pigeonhole::feed::FeedRef::new(bob.public_key(), "news")
                .expect("valid name")
                .to_string(),
        ),
        ("doc.bob_minutes_mailbox", hex::encode(docs.mailbox.0)),
        ("editor_list.record", hex::encode(&docs.list_bytes)),
        ("doc_notice.body", hex::encode(&docs.notice_body)),
        ("doc_notice.record", hex::encode(&docs.notice_bytes)),
        ("content_chunk.body", hex::encode(sample_chunk().encode())),
        ("content_chunk.link", hex::encode(sample_chunk().link())),
        (
            "content_chunk.mailbox",
            hex::encode(content_mailbox(&sample_chunk().content_hash).0),
        ),
        (
            "buddy_request.plaintext",
            hex::encode(sample_request().encode()),
        ),
        (
            "buddy_response.plaintext",
            hex::encode(sample_response().encode()),
        ),
    ];
    vectors.extend(contact_v1_vectors(&alice));
    vectors.extend(name_vectors());
    vectors
}

/// Alice's version-1 code (token 01020304) and how a version-3 reader
/// answers it: refused as retired (PROTOCOL.md §1).
fn contact_v1_vectors(alice: &Identity) -> Vec<(&'static str, String)> {
    use sha2::{Digest, Sha256};
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&alice.public_key().0);
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let digest = Sha256::new()
        .chain_update(b"pigeonhole/contact/v1")
        .chain_update([0])
        .chain_update(&bytes)
        .finalize();
    bytes.extend_from_slice(&digest[..4]);
    let text = format!("PH-{}", data_encoding::BASE32_NOPAD.encode(&bytes));
    let answer = match ContactCode::parse(&text) {
        Err(ContactCodeError::Retired(version)) => format!("refused: retired version {version}"),
        other => format!("{other:?}"),
    };
    vec![
        ("alice.contact_code_v1", text),
        ("alice.contact_code_v1_answer", answer),
    ]
}

/// The single-line text rules (PROTOCOL.md §5) on fixed inputs.
fn name_vectors() -> Vec<(&'static str, String)> {
    let refused: Vec<String> = [
        '\u{202E}', '\u{2066}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200D}', '\u{2060}',
        '\u{FEFF}', '\u{2028}', '\u{2029}', '\u{0007}',
    ]
    .into_iter()
    .map(|c| match names::refused_class(c) {
        Some(class) => format!("U+{:04X} {}", c as u32, class.name()),
        None => format!("U+{:04X} allowed", c as u32),
    })
    .collect();
    let check = names::NameCheck::of("\u{410}lice");
    vec![
        (
            "names.nfc_of_4a6f7365cc81",
            hex::encode(names::nfc("Jose\u{301}")),
        ),
        ("names.refused", refused.join(", ")),
        (
            "names.check_of_d0906c696365",
            format!(
                "skeleton {} mixed_script {} looks_ascii {} suspicious {}",
                hex::encode(&check.skeleton),
                check.mixed_script,
                check.looks_ascii,
                check.suspicious()
            ),
        ),
    ]
}

/// Bob owns "minutes" and names Alice as editor; Alice publishes version 2
/// ("hello" inline) carrying Bob's list.
struct DocVectors {
    mailbox: MailboxId,
    list_bytes: Vec<u8>,
    notice_body: Vec<u8>,
    notice_bytes: Vec<u8>,
}

fn doc_vectors(alice: &Identity, bob: &Identity, instance: InstanceId) -> DocVectors {
    let mailbox = doc_mailbox(&bob.public_key(), "minutes");
    let list_header = Header {
        kind: Kind::EditorList,
        mailbox,
        instance,
        sender: bob.public_key(),
        created_at: NOW,
        expires_at: NOW + 7 * DAY,
    };
    let list_bytes = list_header.sign(bob, &sample_editor_list(vec![alice.public_key()]).encode());
    let notice = DocNotice {
        version: 2,
        content_hash: content_hash(b"hello"),
        size: 5,
        inline: Some(b"hello".to_vec()),
        editor_grant: Some(list_bytes.clone()),
        ..sample_notice(bob.public_key())
    };
    let notice_header = Header {
        kind: Kind::DocNotice,
        sender: alice.public_key(),
        created_at: NOW + 60,
        instance: InstanceId { seq: 1, ..instance },
        ..list_header
    };
    let notice_body = notice.encode();
    let notice_bytes = notice_header.sign(alice, &notice_body);
    for (header, bytes) in [(list_header, &list_bytes), (notice_header, &notice_bytes)] {
        validator()
            .validate(&header.dht_key(), bytes, NOW + 60)
            .expect("vector record is valid");
    }
    DocVectors {
        mailbox,
        list_bytes,
        notice_body,
        notice_bytes,
    }
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

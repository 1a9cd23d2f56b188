//! Fixtures shared by the integration tests: fixed identities, a fixed
//! clock, and builders for a valid record of every kind.

#![allow(dead_code)]

use std::sync::Arc;

use pigeonhole::clock::ManualClock;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::{Identity, PublicKey};
use pigeonhole::mailbox::{Draft, MailboxConfig, MemoryDht};
use pigeonhole::record::body::{
    BodyRules, BuddyRequest, BuddyResponse, ContactField, ContactFieldKind, ContentChunk, Decision,
    DirectoryEntry, DocNotice, EditorList, FeedPost, MIN_SEALED_BYTES, SEALED_SCHEME_V1, Tombstone,
    content_hash, content_mailbox, directory_mailbox, doc_mailbox, feed_mailbox,
};
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind, MailboxId, Policy, Validator};

/// 2027-01-15T08:00:00Z.
pub const NOW: u64 = 1_800_000_000;
pub const DAY: u64 = 86_400;

pub fn identity(seed: u8) -> Identity {
    Identity::from_secret_bytes([seed; 32])
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

pub fn validator() -> Validator {
    Validator::new(Policy::default())
}

/// The inbox of the identity with `seed`, token 01020304.
pub fn inbox_of(seed: u8) -> MailboxId {
    ContactCode::new(
        identity(seed).public_key(),
        InboxToken([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]),
    )
    .inbox_id()
}

/// Bytes shaped like a sealed body (scheme, ephemeral key, nonce, ciphertext).
pub fn sealed_blob(ciphertext_len: usize) -> Vec<u8> {
    let mut blob = vec![SEALED_SCHEME_V1];
    blob.resize(MIN_SEALED_BYTES - 16 + ciphertext_len.max(16), 0xA5);
    blob
}

pub fn sample_request() -> BuddyRequest {
    BuddyRequest {
        display_name: "Alice".into(),
        message: "Hi, we met at the meetup!\nAdd me?".into(),
        reply_token: InboxToken([9, 8, 7, 6, 9, 8, 7, 6, 9, 8, 7, 6, 9, 8, 7, 6]),
        sender_name: Some("alice".into()),
        contacts: vec![
            ContactField {
                kind: ContactFieldKind::Email,
                value: "alice@example.org".into(),
            },
            ContactField {
                kind: ContactFieldKind::Phone,
                value: "+4915112345678".into(),
            },
        ],
        stamp: Some(0x0102_0304_0506_0708),
    }
}

pub fn sample_response() -> BuddyResponse {
    BuddyResponse {
        request_id: [7; 32],
        decision: Decision::Accept,
        display_name: "Bob".into(),
    }
}

pub fn sample_post() -> FeedPost {
    FeedPost {
        feed_name: "news".into(),
        title: "Hello".into(),
        link: Some("https://example.org/1".into()),
        summary: "First post".into(),
        number: 1,
        published_at: None,
        replaces: None,
    }
}

/// A notice by the document's owner `owner` for "minutes", version 3,
/// announcing (not carrying) 1200 bytes of content.
pub fn sample_notice(owner: PublicKey) -> DocNotice {
    DocNotice {
        owner,
        doc_name: "minutes".into(),
        version: 3,
        content_hash: [9; 32],
        size: 1200,
        change_summary: "Added agenda item 4".into(),
        inline: None,
        chain_head: None,
        chunks: 0,
        editor_grant: None,
    }
}

/// An editor list of "minutes" naming `editors`.
pub fn sample_editor_list(editors: Vec<PublicKey>) -> EditorList {
    EditorList {
        doc_name: "minutes".into(),
        list_version: 1,
        editors,
    }
}

/// The only chunk of the 5-byte content "hello".
pub fn sample_chunk() -> ContentChunk {
    let data = b"hello".to_vec();
    ContentChunk {
        content_hash: content_hash(&data),
        index: 0,
        count: 1,
        data,
        next: [0; 32],
    }
}

pub fn sample_entry() -> DirectoryEntry {
    DirectoryEntry {
        name: "alice".into(),
        display_name: "Alice".into(),
    }
}

/// The plaintext body a sealed kind carries once decrypted.
pub fn plaintext_for(kind: Kind) -> Vec<u8> {
    match kind {
        Kind::BuddyRequest => sample_request().encode(),
        Kind::BuddyResponse => sample_response().encode(),
        other => panic!("{other} is not sealed"),
    }
}

/// A record under construction: header and body, signed on demand.
#[derive(Clone, Debug)]
pub struct Spec {
    pub identity: Identity,
    pub header: Header,
    pub body: Vec<u8>,
}

impl Spec {
    /// A valid record of `kind` from `identity`, created at `NOW`, living
    /// `lifetime` seconds, in slot `seq` of the mailbox its body requires.
    pub fn new(kind: Kind, identity: Identity, lifetime: u64, seq: u32) -> Self {
        let sender = identity.public_key();
        let (mailbox, body) = match kind {
            Kind::BuddyRequest | Kind::BuddyResponse => (inbox_of(200), sealed_blob(120)),
            Kind::FeedPost => (feed_mailbox(&sender, "news"), sample_post().encode()),
            Kind::DocNotice => (
                doc_mailbox(&sender, "minutes"),
                sample_notice(sender).encode(),
            ),
            Kind::EditorList => (
                doc_mailbox(&sender, "minutes"),
                sample_editor_list(vec![PublicKey([7; 32])]).encode(),
            ),
            Kind::ContentChunk => (
                content_mailbox(&sample_chunk().content_hash),
                sample_chunk().encode(),
            ),
            Kind::KeyDirectory => (directory_mailbox("alice"), sample_entry().encode()),
            Kind::Tombstone => (inbox_of(200), Tombstone { replaced: [3; 32] }.encode()),
        };
        let mut spec = Self {
            identity,
            header: Header {
                kind,
                mailbox,
                instance: InstanceId { bucket: 0, seq },
                sender,
                created_at: NOW,
                expires_at: NOW + lifetime,
            },
            body,
        };
        spec.set_times(NOW, NOW + lifetime);
        spec
    }

    /// Sets both times and moves the instance into the matching bucket.
    pub fn set_times(&mut self, created_at: u64, expires_at: u64) {
        self.header.created_at = created_at;
        self.header.expires_at = expires_at;
        self.header.instance.bucket = InstanceId::bucket_of(expires_at);
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.header.sign(&self.identity, &self.body)
    }

    pub fn key(&self) -> DhtKey {
        self.header.dht_key()
    }
}

/// A draft of a sealed-shaped buddy request into `mailbox`.
pub fn request_draft(mailbox: MailboxId, lifetime: u64) -> Draft {
    Draft {
        kind: Kind::BuddyRequest,
        mailbox,
        body: sealed_blob(64),
        lifetime_secs: lifetime,
    }
}

pub fn memory_dht(clock: &Arc<ManualClock>) -> Arc<MemoryDht> {
    Arc::new(MemoryDht::new(validator(), clock.clone()))
}

pub fn config() -> MailboxConfig {
    MailboxConfig::default()
}
pub mod admission_cases;
pub mod buddy_cases;
pub mod dht_wrappers;
pub mod feed_cases;
pub mod mailbox_cases;
pub mod notice_cases;
pub mod replay_cases;
pub mod withdraw_cases;

//! A database made before contact code version 2 (4-byte inbox tokens)
//! opens with 16-byte tokens: a fresh token for the user, version-1
//! stand-ins for requests sent before (their answers still arrive in the
//! old inbox), buddies' retired tokens forgotten.

mod common;

use common::*;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::record::MailboxId;
use pigeonhole::store::Store;
use rusqlite::params;

/// The inbox a version-1 code named: `SHA-256("pigeonhole/inbox/v1" ‖ 0 ‖
/// key ‖ 4-byte token)` (PROTOCOL.md §1).
fn v1_inbox(key: &pigeonhole::identity::PublicKey, token: [u8; 4]) -> MailboxId {
    let mut name = key.0.to_vec();
    name.extend_from_slice(&token);
    MailboxId::derive(b"pigeonhole/inbox/v1", &name)
}

#[test]
fn four_byte_tokens_are_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let me = identity(1);
    let peer = identity(2).public_key();
    {
        // A database as schema version 6 (before issue 11) left it.
        let mut raw = rusqlite::Connection::open(&path).unwrap();
        let tx = raw.transaction().unwrap();
        for step in &pigeonhole::store::schema::MIGRATIONS[..6] {
            tx.execute_batch(step).unwrap();
        }
        // Step 4's Rust part (the keep-both copy) drops the old table, and
        // its index with it, as a real version-6 database has.
        tx.execute_batch("DROP TABLE held_records;").unwrap();
        tx.pragma_update(None, "user_version", 6).unwrap();
        tx.execute(
            "INSERT INTO identity (id, secret, inbox_token, created_at) VALUES (1, ?1, ?2, ?3)",
            params![&me.secret_bytes()[..], &[1u8, 2, 3, 4][..], NOW as i64],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO sent_requests (request_id, recipient, recipient_token, reply_token,
                 record, status, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, x'00', 0, ?5, ?6)",
            params![
                &[7u8; 32][..],
                &peer.0[..],
                &[5u8, 6, 7, 8][..],
                &[1u8, 2, 3, 4][..],
                NOW as i64,
                (NOW + DAY) as i64
            ],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO buddies (public_key, display_name, inbox_token, added_at)
             VALUES (?1, 'Bob', ?2, ?3)",
            params![&peer.0[..], &[5u8, 6, 7, 8][..], NOW as i64],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO buddy_intents (what, state, mailbox, body, lifetime_secs, peer,
                 peer_token, reply_token, queued_at)
             VALUES (1, 0, ?1, x'00', 60, ?2, ?3, ?4, ?5)",
            params![
                &v1_inbox(&peer, [5, 6, 7, 8]).0[..],
                &peer.0[..],
                &[5u8, 6, 7, 8][..],
                &[1u8, 2, 3, 4][..],
                NOW as i64
            ],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let store = Store::open(&path, validator(), clock()).expect("open upgrades");

    let (identity, token) = store.identity().unwrap();
    assert_eq!(identity.public_key(), me.public_key(), "same key");
    assert_eq!(
        token.legacy(),
        None,
        "a fresh 16-byte token, not a stand-in"
    );
    assert_ne!(token.0, [0; 16]);
    let code = ContactCode::new(me.public_key(), token);
    assert_eq!(ContactCode::parse(&code.to_string()).unwrap(), code);
    assert_ne!(code.inbox_id(), v1_inbox(&me.public_key(), [1, 2, 3, 4]));

    // Answers to the request sent before still come to the old inbox.
    let sent = store.sent().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].reply_token, InboxToken::from_legacy([1, 2, 3, 4]));
    assert_eq!(
        ContactCode::new(me.public_key(), sent[0].reply_token).inbox_id(),
        v1_inbox(&me.public_key(), [1, 2, 3, 4])
    );
    assert_eq!(
        sent[0].recipient_token,
        InboxToken::from_legacy([5, 6, 7, 8])
    );

    // The buddy stays; their retired version-1 code is forgotten.
    let buddies = store.buddies().unwrap();
    assert_eq!(buddies.len(), 1);
    assert_eq!(buddies[0].inbox_token, None);

    // The unfinished intent keeps its target inbox.
    let intents = store.intents().unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].peer_token, InboxToken::from_legacy([5, 6, 7, 8]));
    assert_eq!(intents[0].mailbox, v1_inbox(&peer, [5, 6, 7, 8]));

    // New tokens of the full size are stored from now on.
    store.set_inbox_token(InboxToken([9; 16])).unwrap();
    drop(store);
    let again = Store::open(&path, validator(), clock()).unwrap();
    assert_eq!(again.identity().unwrap().1, InboxToken([9; 16]));
}

#[test]
fn a_fresh_database_stores_16_byte_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("node.db"), validator(), clock()).unwrap();
    let (_, token) = store.create_identity().unwrap();
    assert_eq!(token.legacy(), None);
    store.set_inbox_token(InboxToken::random()).unwrap();
}

//! Document-notice behaviour written once, run on any DHT: the in-memory
//! one in `core/tests/notices.rs`, real libp2p nodes in the SDK's tests.

#![allow(dead_code)]

use std::sync::Arc;

use pigeonhole::clock::Clock;

use pigeonhole::mailbox::{Draft, Mailbox};
use pigeonhole::notice::content::{ContentError, split};
use pigeonhole::notice::{
    DocRef, NoticeBoard, NoticeConfig, NoticeError, NoticeEvent, UpdateContent,
};
use pigeonhole::record::body::{BodyRules, DocNotice, content_hash, content_mailbox};
use pigeonhole::record::{Header, InstanceId, Kind};
use pigeonhole::store::Store;

use super::buddy_cases::{BuddyNet, Client};
use super::*;

/// A notice user on client `k` with identity seed `seed`.
pub fn notice_user(net: &BuddyNet, k: usize, seed: u8) -> NoticeBoard<Client> {
    let store = Store::open_in_memory(validator(), net.clock.clone()).unwrap();
    store
        .import_identity(&identity(seed), pigeonhole::contact::InboxToken([0; 16]))
        .unwrap();
    let client = net.clients[k % net.clients.len()].clone();
    let mailbox = Mailbox::new(client, validator(), net.clock.clone(), super::config());
    NoticeBoard::new(Arc::new(store), mailbox, NoticeConfig::default()).expect("notice board")
}

fn announce(version: u8) -> UpdateContent {
    UpdateContent::Announce {
        content_hash: [version; 32],
        size: 100,
    }
}

/// Instantiates every generic notice case as a test.
#[macro_export]
macro_rules! notice_cases {
    ($net:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn versions_arrive_in_order_and_a_missing_one_is_a_gap() {
            let net = $net;
            common::notice_cases::versions_arrive_in_order_and_a_missing_one_is_a_gap(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_editors_on_one_version_are_a_conflict() {
            let net = $net;
            common::notice_cases::two_editors_on_one_version_are_a_conflict(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn non_editors_are_rejected_by_peers_and_readers() {
            let net = $net;
            common::notice_cases::non_editors_are_rejected_by_peers_and_readers(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_large_change_travels_as_a_verified_chain() {
            let net = $net;
            common::notice_cases::a_large_change_travels_as_a_verified_chain(&net).await;
        }
    };
}

/// Versions 1, 2, 4, 5 then 3 late: delivered in version order, version 3
/// reported as a gap, then as a late notice (not a conflict).
pub async fn versions_arrive_in_order_and_a_missing_one_is_a_gap(net: &BuddyNet) {
    let owner = notice_user(net, 0, 10);
    let doc = owner.own_doc("minutes").unwrap();
    let watcher = notice_user(net, 1, 11);
    assert!(watcher.watch(&doc).unwrap());
    let mut events = watcher.subscribe();
    for version in [1u64, 2] {
        owner
            .notify_update(&doc, version, "edit", announce(version as u8))
            .await
            .unwrap();
    }
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert_eq!(versions(&updates.notices), [1, 2]);
    for version in [5u64, 4] {
        net.clock.advance(5);
        owner
            .notify_update(&doc, version, "edit", announce(version as u8))
            .await
            .unwrap();
    }
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert_eq!(
        versions(&updates.notices),
        [4, 5],
        "version order, not arrival order"
    );
    assert_eq!(updates.gaps, vec![(3, 3)]);
    assert!(updates.conflicts.is_empty());
    let seen: Vec<NoticeEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert!(
        seen.contains(&NoticeEvent::Gap {
            doc: doc.clone(),
            from: 3,
            to: 3
        }),
        "{seen:?}"
    );
    assert!(
        watcher
            .fetch_updates(&doc)
            .await
            .unwrap()
            .notices
            .is_empty(),
        "once"
    );

    owner
        .notify_update(&doc, 3, "late", announce(3))
        .await
        .unwrap();
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert_eq!(versions(&updates.notices), [3]);
    assert!(updates.notices[0].late && updates.conflicts.is_empty());
    assert_eq!(watcher.watching().unwrap(), vec![(doc.clone(), 5)]);
}

/// Two editors announce version 2: both are reported as a conflict and the
/// one with the lower id is delivered.
pub async fn two_editors_on_one_version_are_a_conflict(net: &BuddyNet) {
    let owner = notice_user(net, 0, 10);
    let ann = notice_user(net, 1, 12);
    let ben = notice_user(net, 2, 13);
    let doc = owner.own_doc("minutes").unwrap();
    owner
        .set_editors(
            "minutes",
            &[identity(12).public_key(), identity(13).public_key()],
        )
        .await
        .unwrap();
    owner
        .notify_update(&doc, 1, "start", announce(1))
        .await
        .unwrap();
    let watcher = notice_user(net, 1, 11);
    watcher.watch(&doc).unwrap();
    net.clock.advance(5);
    let a = ann
        .notify_update(&doc, 2, "Ann's edit", announce(2))
        .await
        .unwrap();
    let b = ben
        .notify_update(&doc, 2, "Ben's edit", announce(3))
        .await
        .unwrap();
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert_eq!(versions(&updates.notices), [1, 2]);
    assert_eq!(updates.conflicts.len(), 1);
    let conflict = &updates.conflicts[0];
    let mut ids = vec![a.id(), b.id()];
    ids.sort();
    assert_eq!((conflict.version, &conflict.notice_ids), (2, &ids));
    assert_eq!(updates.notices[1].id, ids[0]);
    assert!(updates.notices.iter().any(|n| n.sender == identity(12).public_key() || n.sender == identity(13).public_key()));

    // A third editor notice for an already delivered version: a conflict too.
    net.clock.advance(5);
    let c = ann
        .notify_update(&doc, 2, "again", announce(4))
        .await
        .unwrap();
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert!(updates.notices.is_empty());
    assert_eq!(updates.conflicts.len(), 1);
    assert_eq!(updates.conflicts[0].notice_ids, vec![c.id()]);
}

/// A key no list names cannot publish (its client refuses, storing peers
/// refuse a forged grant); an editor removed by a newer list is rejected
/// and counted by readers even though peers still hold its old grant.
pub async fn non_editors_are_rejected_by_peers_and_readers(net: &BuddyNet) {
    let owner = notice_user(net, 0, 10);
    let doc = owner.own_doc("minutes").unwrap();
    let old_list = owner
        .set_editors("minutes", &[identity(12).public_key()])
        .await
        .unwrap();
    let mallory = notice_user(net, 1, 66);
    assert!(matches!(
        mallory
            .notify_update(&doc, 1, "mine now", announce(1))
            .await,
        Err(NoticeError::NotEditor)
    ));
    // Mallory signs a notice carrying the owner's list (which names Ann).
    let now = net.clock.now();
    let header = Header {
        kind: Kind::DocNotice,
        mailbox: doc.mailbox(),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(now + DAY),
            seq: 7,
        },
        sender: identity(66).public_key(),
        created_at: now,
        expires_at: now + DAY,
    };
    let forged = DocNotice {
        editor_grant: Some(old_list.bytes().to_vec()),
        ..sample_notice(doc.owner)
    };
    let bytes = header.sign(&identity(66), &forged.encode());
    for client in &net.clients {
        assert!(
            client.put(header.dht_key(), bytes.clone()).await.is_err(),
            "peers refuse"
        );
    }

    // Ann is removed; she publishes anyway with her old (still valid) grant.
    net.clock.advance(5);
    owner.set_editors("minutes", &[]).await.unwrap();
    net.clock.advance(5);
    let ann_notice = DocNotice {
        version: 1,
        editor_grant: Some(old_list.bytes().to_vec()),
        ..sample_notice(doc.owner)
    };
    let mailbox = Mailbox::new(
        net.clients[1 % net.clients.len()].clone(),
        validator(),
        net.clock.clone(),
        config(),
    );
    mailbox
        .publish(
            &identity(12),
            Draft {
                kind: Kind::DocNotice,
                mailbox: doc.mailbox(),
                body: ann_notice.encode(),
                lifetime_secs: DAY,
            },
        )
        .await
        .expect("storing peers accept a grant in force");
    let watcher = notice_user(net, 2, 11);
    watcher.watch(&doc).unwrap();
    let mut events = watcher.subscribe();
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert!(updates.notices.is_empty());
    assert_eq!(updates.rejected, 1);
    assert!(
        std::iter::from_fn(|| events.try_recv().ok()).any(|event| event
            == NoticeEvent::Rejected {
                doc: doc.clone(),
                count: 1
            })
    );
    // The owner still publishes.
    owner
        .notify_update(&doc, 1, "owner", announce(1))
        .await
        .unwrap();
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert_eq!(versions(&updates.notices), [1]);
    assert_eq!(updates.rejected, 0, "counted once");
}

/// 100 KiB of content travels as a chain of chunks, reassembled and
/// verified; a corrupted chunk is detected; small content rides inline.
pub async fn a_large_change_travels_as_a_verified_chain(net: &BuddyNet) {
    let owner = notice_user(net, 0, 10);
    let doc = owner.own_doc("report.txt").unwrap();
    let watcher = notice_user(net, 1, 11);
    watcher.watch(&doc).unwrap();
    let content: Vec<u8> = (0..100 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    owner
        .notify_update(&doc, 1, "big", UpdateContent::Carry(content.clone()))
        .await
        .unwrap();
    owner
        .notify_update(&doc, 2, "small", UpdateContent::Carry(b"tiny".to_vec()))
        .await
        .unwrap();
    let updates = watcher.fetch_updates(&doc).await.unwrap();
    assert_eq!(versions(&updates.notices), [1, 2]);
    let big = &updates.notices[0].body;
    assert_eq!(
        (big.chunks, big.size, big.inline.is_none()),
        (14, 100 * 1024, true)
    );
    assert_eq!(watcher.content(big).await.unwrap(), content);
    assert_eq!(
        watcher.content(&updates.notices[1].body).await.unwrap(),
        b"tiny"
    );

    // A chain whose chunk 3 was altered (validly signed, wrong data).
    let other: Vec<u8> = (0..50 * 1024u32).map(|i| (i % 13) as u8).collect();
    let (mut chunks, head) = split(&other).unwrap();
    chunks[3].data[0] ^= 1;
    let mailbox = Mailbox::new(
        net.clients[0].clone(),
        validator(),
        net.clock.clone(),
        config(),
    );
    for chunk in &chunks {
        mailbox
            .publish(
                &identity(10),
                Draft {
                    kind: Kind::ContentChunk,
                    mailbox: content_mailbox(&content_hash(&other)),
                    body: chunk.encode(),
                    lifetime_secs: DAY,
                },
            )
            .await
            .unwrap();
    }
    let notice = DocNotice {
        owner: doc.owner,
        doc_name: doc.name.clone(),
        version: 3,
        content_hash: content_hash(&other),
        size: other.len() as u64,
        change_summary: String::new(),
        inline: None,
        chain_head: Some(head),
        chunks: chunks.len() as u16,
        editor_grant: None,
    };
    assert!(matches!(
        watcher.content(&notice).await,
        Err(NoticeError::Content(ContentError::Corrupt { index: 3 }))
    ));
    let _ = DocRef::new(doc.owner, "report.txt").unwrap();
}

fn versions(notices: &[pigeonhole::notice::Notice]) -> Vec<u64> {
    notices.iter().map(|notice| notice.body.version).collect()
}

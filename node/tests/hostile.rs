//! What a hostile peer can send with a plain Kademlia client (kad
//! acknowledges every put before our validator runs, so the only proof is
//! what the node stores and serves afterwards).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::HashMap;

use common::*;
use pigeonhole::identity::Identity;
use pigeonhole::record::{
    DhtKey, Header, InstanceId, Kind, MAX_RECORD_BYTES, MailboxId, Policy, Validator,
};
use pigeonhole::store::Store;
use pigeonhole_node::{Limits, Node, NodeConfig};
use support::*;

/// A signed buddy request from `identity` into `mailbox`, slot `seq`, with
/// a sealed body of `ciphertext` bytes.
fn signed(
    identity: &Identity,
    mailbox: MailboxId,
    seq: u32,
    ciphertext: usize,
) -> (DhtKey, Vec<u8>) {
    let header = Header {
        kind: Kind::BuddyRequest,
        mailbox,
        instance: InstanceId {
            bucket: InstanceId::bucket_of(NOW + DAY),
            seq,
        },
        sender: identity.public_key(),
        created_at: NOW,
        expires_at: NOW + DAY,
    };
    (
        header.dht_key(),
        header.sign(identity, &sealed_blob(ciphertext)),
    )
}

/// Forged, replayed-into-another-slot and oversized records are neither
/// stored nor served; the node stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_oversized_records_are_not_stored_or_served() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(2, &clock).await;
    let (target, reader) = (&nodes[0], &nodes[1]);
    let inbox = inbox_of(50);
    let attacker = identity(66);

    // Forged: a valid record with one signature byte flipped.
    let (forged_key, mut forged) = signed(&attacker, inbox, 0, 100);
    *forged.last_mut().unwrap() ^= 1;
    // Replayed: a valid record of slot 1 offered under the key of slot 2.
    let (_, valid_slot1) = signed(&attacker, inbox, 1, 100);
    let (replay_key, _) = signed(&attacker, inbox, 2, 100);
    // Oversized: a well-formed record over MAX_RECORD_BYTES, under kad's
    // message limit (the validator refuses it) …
    let mut oversized = signed(&attacker, inbox, 3, 100).1;
    oversized.resize(MAX_RECORD_BYTES + 500, 0);
    let oversized_key = signed(&attacker, inbox, 3, 100).0;
    // … and one far over kad's message limit (the codec refuses it).
    let huge_key = signed(&attacker, inbox, 4, 100).0;
    let huge = vec![7u8; 200 * 1024];
    let hostile = vec![
        (forged_key, forged),
        (replay_key, valid_slot1),
        (oversized_key, oversized),
        (huge_key, huge),
    ];
    let keys: Vec<DhtKey> = hostile.iter().map(|(k, _)| *k).collect();

    let mut raw = RawClient::new().await;
    let acked = raw
        .put_all(
            target.peer_id(),
            target.listen_addrs()[0].clone(),
            hostile,
            4,
        )
        .await;
    // kad acknowledges what it could decode before we judge it.
    assert!(
        acked >= 3,
        "kad should have acknowledged the decodable puts, got {acked}"
    );

    assert_eq!(
        target.held_totals().await.unwrap().records,
        0,
        "target stored a hostile record"
    );
    for key in &keys {
        assert_eq!(target.held(*key).await.unwrap(), None);
        assert_eq!(
            reader.get(*key).await.unwrap(),
            None,
            "a hostile record was served"
        );
    }

    // Still healthy: an honest record goes through and is read back.
    let honest = mailbox(reader, &clock)
        .publish(&identity(1), request_draft(inbox, DAY))
        .await
        .expect("honest publish");
    assert_eq!(
        target.get(honest.dht_key()).await.unwrap().as_deref(),
        Some(honest.bytes())
    );
    stop_all(&nodes).await;
}

/// The same hostile records through the mailbox protocol v2: each put is
/// answered with its refusal kind, nothing is stored or served, an
/// over-limit message is not answered, and an honest record sent the same
/// way is answered "stored" and served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_via_the_mailbox_protocol_are_refused_with_their_kind() {
    use pigeonhole_node::RefusalKind;
    use pigeonhole_node::mailbox_protocol::{MailboxRequest, MailboxResponse, PutAnswer};
    init_tracing();
    let clock = clock();
    let nodes = cluster(2, &clock).await;
    let (target, reader) = (&nodes[0], &nodes[1]);
    let addr: libp2p::Multiaddr = target.listen_addrs()[0]
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    let inbox = inbox_of(52);
    let attacker = identity(67);
    let (forged_key, mut forged) = signed(&attacker, inbox, 0, 100);
    *forged.last_mut().unwrap() ^= 1;
    let (oversized_key, mut oversized) = signed(&attacker, inbox, 3, 100);
    oversized.resize(MAX_RECORD_BYTES + 500, 0);
    // Created an hour ahead of every clock: refused for the clock.
    let future_key;
    let future = {
        let header = Header {
            kind: Kind::BuddyRequest,
            mailbox: inbox,
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + DAY),
                seq: 5,
            },
            sender: attacker.public_key(),
            created_at: NOW + 3600,
            expires_at: NOW + DAY,
        };
        future_key = header.dht_key();
        header.sign(&attacker, &sealed_blob(100))
    };

    let mut raw = RawMailboxClient::new().await;
    for (key, value, kind) in [
        (forged_key, forged, RefusalKind::Invalid),
        (oversized_key, oversized, RefusalKind::Invalid),
        (future_key, future, RefusalKind::Clock),
    ] {
        let answer = raw
            .request(target.peer_id(), addr.clone(), MailboxRequest::Put(value))
            .await;
        match answer {
            Some(MailboxResponse::Put(PutAnswer::Refused { kind: got, .. })) => {
                assert_eq!(got, kind)
            }
            other => panic!("expected a {kind:?} refusal, got {other:?}"),
        }
        assert_eq!(target.held(key).await.unwrap(), None);
        assert_eq!(reader.get(key).await.unwrap(), None);
    }
    // Far over the message limit: the stream is refused, nothing is held.
    let huge = raw
        .request(
            target.peer_id(),
            addr.clone(),
            MailboxRequest::Put(vec![1; 600 * 1024]),
        )
        .await;
    assert_eq!(huge, None, "an over-limit message was answered");
    assert_eq!(target.held_totals().await.unwrap().records, 0);

    // An honest record sent the same way is judged, stored and listed.
    let (key, honest) = signed(&identity(5), inbox, 4, 100);
    let answer = raw
        .request(
            target.peer_id(),
            addr.clone(),
            MailboxRequest::Put(honest.clone()),
        )
        .await;
    assert_eq!(answer, Some(MailboxResponse::Put(PutAnswer::Stored)));
    let again = raw
        .request(
            target.peer_id(),
            addr.clone(),
            MailboxRequest::Put(honest.clone()),
        )
        .await;
    assert_eq!(again, Some(MailboxResponse::Put(PutAnswer::AlreadyHeld)));
    assert_eq!(target.held(key).await.unwrap(), Some(honest.clone()));
    let listed = raw
        .request(
            target.peer_id(),
            addr,
            MailboxRequest::List {
                mailbox: inbox,
                after: None,
                limit: 10,
            },
        )
        .await;
    match listed {
        Some(MailboxResponse::List { records, more, .. }) => {
            assert_eq!((records, more), (vec![honest], false));
        }
        other => panic!("expected a page, got {other:?}"),
    }
    stop_all(&nodes).await;
}

/// One peer sends 10,000 records into one mailbox and more bytes than the
/// store may hold: every cap holds, and honest records already stored are
/// still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_stays_within_quotas_and_honest_records_survive() {
    init_tracing();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_records_per_sender_per_mailbox: 32,
        max_records_per_mailbox: 256,
        max_total_bytes: 512 * 1024,
        ..Limits::default()
    };
    let target = Node::start(NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        limits,
        ..node_config(&clock)
    })
    .await
    .expect("start target");
    let honest_node = Node::start(node_config(&clock))
        .await
        .expect("start honest");
    connect_all(&[target.clone(), honest_node.clone()]).await;

    let inbox = inbox_of(51);
    let mut honest = Vec::new();
    for seed in 1..=3 {
        honest.push(
            mailbox(&honest_node, &clock)
                .publish(&identity(seed), request_draft(inbox, DAY))
                .await
                .expect("honest publish"),
        );
    }
    let honest_slots = honest.len() as u32;

    // 10,000 records into the same mailbox from 100 sender keys, in the
    // slots after the honest ones, plus 600 records of ~4 KiB into other
    // mailboxes: ~2.4 MB against a 512 KiB cap.
    let senders: Vec<Identity> = (0..100u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            seed[31] = 0xEE;
            Identity::from_secret_bytes(seed)
        })
        .collect();
    let mut flood = Vec::with_capacity(10_600);
    for i in 0..10_000u32 {
        flood.push(signed(
            &senders[(i % 100) as usize],
            inbox,
            honest_slots + i,
            64,
        ));
    }
    for i in 0..600u32 {
        let other = MailboxId::derive(b"flood", &i.to_le_bytes());
        flood.push(signed(&senders[(i % 100) as usize], other, 0, 4000));
    }
    let mut raw = RawClient::new().await;
    let acked = raw
        .put_all(
            target.peer_id(),
            target.listen_addrs()[0].clone(),
            flood,
            24,
        )
        .await;
    assert!(
        acked > 10_000,
        "the flood did not get through kad ({acked} acked)"
    );

    let totals = target.held_totals().await.unwrap();
    assert!(
        totals.bytes <= limits.max_total_bytes,
        "byte cap broken: {totals:?}"
    );
    assert!(totals.records > 0);

    // Honest records are still served — by the target alone.
    honest_node.stop().await;
    let reader = Node::start(node_config(&clock))
        .await
        .expect("start reader");
    connect_all(&[target.clone(), reader.clone()]).await;
    let fetched = mailbox(&reader, &clock)
        .fetch_within(inbox, DAY)
        .await
        .expect("fetch");
    let found: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    for record in &honest {
        assert!(
            found.contains(&record.id()),
            "an honest record was pushed out"
        );
    }
    reader.stop().await;
    target.stop().await;

    // Per-mailbox and per-sender caps, read from the target's file.
    let store = Store::open(
        dir.path().join(pigeonhole_node::node::DB_FILE),
        Validator::new(Policy::default()),
        clock.clone(),
    )
    .unwrap();
    let in_inbox = store.mailbox_totals(&inbox).unwrap().records;
    assert!(
        in_inbox <= limits.max_records_per_mailbox,
        "mailbox cap broken: {in_inbox}"
    );
    let mut per_sender: HashMap<[u8; 32], u64> = HashMap::new();
    for sender in &senders {
        let n = store
            .sender_totals(&inbox, &sender.public_key())
            .unwrap()
            .records;
        assert!(
            n <= limits.max_records_per_sender_per_mailbox,
            "sender cap broken: {n}"
        );
        per_sender.insert(sender.public_key().0, n);
    }
    assert!(store.totals().unwrap().bytes <= limits.max_total_bytes);
}

//! Requests written by hand and put straight into the DHT (tampered,
//! replayed, copied into another inbox): what storing peers refuse and
//! what the recipient never shows. Run on every DHT through `buddy_cases!`.

use pigeonhole::buddy::BuddyBook;
use pigeonhole::mailbox::Dht;

use super::buddy_cases::{BuddyNet, Client, code};
use super::*;

/// A sealed request from a bare identity to `to`, for slot `seq` of its
/// inbox, created at `now`, living a day, with a valid stamp: signed but
/// not published.
pub fn handmade_request(
    from: &pigeonhole::identity::Identity,
    to: &BuddyBook<Client>,
    seq: u32,
    now: u64,
) -> (pigeonhole::record::DhtKey, Vec<u8>) {
    let stamp = Some(pigeonhole::stamp::STAMP_BITS);
    handmade_request_with(from, to, (seq, now, DAY), stamp, None)
}

/// As [`handmade_request`], in slot `seq`, created at `now`, living
/// `lifetime` seconds, with a stamp of `stamp` bits (none: no stamp)
/// minted for `stamp_inbox` (by default `to`'s inbox).
pub fn handmade_request_with(
    from: &pigeonhole::identity::Identity,
    to: &BuddyBook<Client>,
    (seq, now, lifetime): (u32, u64, u64),
    stamp: Option<u32>,
    stamp_inbox: Option<pigeonhole::record::MailboxId>,
) -> (pigeonhole::record::DhtKey, Vec<u8>) {
    use pigeonhole::record::body::BodyRules;
    use pigeonhole::record::{Header, InstanceId, Kind};
    use pigeonhole::seal::{SealContext, seal};
    let code = to.contact_code().unwrap();
    let inbox = code.inbox_id();
    let context = SealContext {
        kind: Kind::BuddyRequest,
        mailbox: inbox,
        sender: from.public_key(),
    };
    let mut body = sample_request();
    body.sender_name = None;
    let stamp_inbox = stamp_inbox.unwrap_or(inbox);
    body.stamp =
        stamp.map(|bits| pigeonhole::stamp::mint_stamp(&stamp_inbox, &from.public_key(), bits));
    let sealed = seal(&code.public_key, &context, &body.encode()).unwrap();
    let expires_at = now + lifetime;
    let header = Header {
        kind: Kind::BuddyRequest,
        mailbox: inbox,
        instance: InstanceId {
            bucket: InstanceId::bucket_of(expires_at),
            seq,
        },
        sender: from.public_key(),
        created_at: now,
        expires_at,
    };
    (header.dht_key(), header.sign(from, &sealed))
}

/// Every single-byte change of a request offered to the storing peers is
/// refused, and the recipient never shows it; the untouched request is.
pub async fn tampered_requests_are_never_shown(net: &BuddyNet) {
    use pigeonhole::clock::Clock;
    let bob = net.user("Bob", 1);
    let alice = identity(42);
    let (key, bytes) = handmade_request(&alice, &bob, 0, net.clock.now());
    for index in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[index] ^= 0x01;
        // Storing peers refuse it (a remote peer may still acknowledge;
        // what matters is what is served).
        let _ = net.clients[0].put(key, tampered).await;
    }
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 0);
    assert!(bob.pending_requests().unwrap().is_empty());
    net.clients[0].put(key, bytes).await.unwrap();
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 1);
    assert_eq!(bob.pending_requests().unwrap()[0].from, alice.public_key());
}

/// Bob (node 1) has accepted Alice's (node 0) request and Alice has seen
/// the answer; Carol (node 2) is a bystander. Returns Bob, Carol and the
/// request record as it was stored.
pub async fn answered_request(
    net: &BuddyNet,
) -> (
    BuddyBook<Client>,
    BuddyBook<Client>,
    pigeonhole::record::Record,
) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let carol = net.user("Carol", 2);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    let inbox = bob.contact_code().unwrap().inbox_id();
    let request = bob
        .mailbox()
        .fetch_all(inbox)
        .await
        .unwrap()
        .records
        .remove(0);
    assert_eq!(request.id(), sent.id);
    bob.sync_now().await.unwrap();
    bob.accept(&sent.id).await.unwrap();
    alice.sync_now().await.unwrap();
    (bob, carol, request)
}

/// After an answer, the request put back into its slot or copied into
/// another inbox is refused by the storing peers and never shown.
pub async fn replays_and_copies_are_refused(net: &BuddyNet) {
    let (bob, carol, request) = answered_request(net).await;

    let replay = net.clients[0]
        .put(request.dht_key(), request.bytes().to_vec())
        .await;
    let carol_inbox = carol.contact_code().unwrap().inbox_id();
    let copy_key = pigeonhole::record::DhtKey::for_slot(&carol_inbox, request.header.instance);
    let copy = net.clients[0].put(copy_key, request.bytes().to_vec()).await;
    // The memory DHT says no at once; remote peers may acknowledge and drop.
    let _ = (replay, copy);
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 0);
    assert!(bob.pending_requests().unwrap().is_empty());
    assert_eq!(carol.sync_now().await.unwrap().requests_received, 0);
    assert!(carol.pending_requests().unwrap().is_empty());
    let last = net.clients.last().unwrap();
    assert_eq!(last.get(copy_key).await.unwrap(), None);
}

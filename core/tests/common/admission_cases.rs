//! Inbox admission on any DHT (run through `buddy_cases!`): a sybil flood
//! does not crowd out senders the user knows and never comes back, the
//! proof-of-work stamp, the directory cache and contested names, and the
//! three cases of issue 11 item 7 (a blocked user's accept, crossing
//! requests, a buddy asking again).

use pigeonhole::buddy::{BuddyBook, BuddyConfig, BuddyEvent, DropReason};
use pigeonhole::identity::Identity;
use pigeonhole::record::MailboxId;
use pigeonhole::stamp::STAMP_BITS;
use pigeonhole::store::Store;
use pigeonhole::store::buddies::SentStatus;

use super::buddy_cases::{BuddyNet, Client, code};
use super::*;

/// A request from `from` to `to` in slot `seq`, living `lifetime`
/// seconds from now, with a stamp of `stamp` bits (none: no stamp) minted
/// for `stamp_inbox` (by default `to`'s inbox): signed, not published.
fn request_with(
    net: &BuddyNet,
    from: &Identity,
    to: &BuddyBook<Client>,
    (seq, lifetime): (u32, u64),
    stamp: Option<u32>,
    stamp_inbox: Option<MailboxId>,
) -> (pigeonhole::record::DhtKey, Vec<u8>) {
    use pigeonhole::clock::Clock;
    let slot = (seq, net.clock.now(), lifetime);
    super::replay_cases::handmade_request_with(from, to, slot, stamp, stamp_inbox)
}

fn stamped_request(
    net: &BuddyNet,
    from: &Identity,
    to: &BuddyBook<Client>,
    seq: u32,
    lifetime: u64,
    stamp: Option<u32>,
) -> (pigeonhole::record::DhtKey, Vec<u8>) {
    request_with(net, from, to, (seq, lifetime), stamp, None)
}

fn throwaway(n: u32) -> Identity {
    let mut secret = [0x5A; 32];
    secret[..4].copy_from_slice(&n.to_be_bytes());
    Identity::from_secret_bytes(secret)
}

/// Alice asks Bob and Bob accepts; both have synced.
async fn buddies(alice: &BuddyBook<Client>, bob: &BuddyBook<Client>) {
    let sent = alice.send_request(&code(bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    bob.accept(&sent.id).await.unwrap();
    alice.sync_now().await.unwrap();
    assert_eq!(alice.buddies().unwrap().len(), 1);
}

fn requested_again(events: &mut tokio::sync::broadcast::Receiver<BuddyEvent>) -> Vec<BuddyEvent> {
    let mut found = Vec::new();
    while let Ok(event) = events.try_recv() {
        if matches!(event, BuddyEvent::BuddyRequestedAgain { .. }) {
            found.push(event);
        }
    }
    found
}

/// 500 throwaway keys, each with a valid stamp, flood Bob's inbox. A
/// buddy's new request still reaches Bob (as an event) and a
/// directory-confirmed sender's request is still pending; the flood takes
/// only the unknown senders' share, and what was dropped never comes back:
/// not after the 24 h window, not when room frees up.
pub async fn sybil_keys_do_not_crowd_out_known_senders(net: &BuddyNet) {
    const SPAM: u32 = 500;
    let store = Store::open_in_memory(validator(), net.clock.clone()).unwrap();
    // Cheap stamps for the flood (the rule, not the price, is tested here).
    let config = BuddyConfig {
        stamp_bits: 6,
        ..BuddyConfig::default()
    };
    let bob = net.user_at(store, 1, config.clone());
    bob.set_profile("Bob", None).unwrap();
    let alice = net.user("Alice", 0);
    buddies(&alice, &bob).await;
    let carol = net.user("Carol", 2);
    carol.set_profile("Carol", Some("carol")).unwrap();
    carol.publish_directory_entry().await.unwrap();

    net.clock.advance(60);
    // The flood lives 6 days (an earlier bucket than the honest 7-day
    // requests, so a reader meets it first).
    for n in 0..SPAM {
        let (key, bytes) = stamped_request(net, &throwaway(n), &bob, n, 6 * DAY, Some(6));
        net.clients[n as usize % net.clients.len()]
            .put(key, bytes)
            .await
            .unwrap();
    }
    alice
        .send_request(&code(&bob), "it's me again", vec![])
        .await
        .unwrap();
    carol
        .send_request(&code(&bob), "hi from carol", vec![])
        .await
        .unwrap();

    let mut events = bob.subscribe();
    let report = bob.sync_now().await.unwrap();
    let unknown_share = config.max_pending_unknown;
    assert_eq!(
        report.dropped.get(&DropReason::OverCap).copied(),
        Some(SPAM - unknown_share as u32),
        "{report:?}"
    );
    let again = requested_again(&mut events);
    assert!(
        matches!(&again[..], [BuddyEvent::BuddyRequestedAgain { from, .. }] if *from == alice.public_key()),
        "the buddy's request reaches the app: {again:?}"
    );
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len() as u64, unknown_share + 1);
    let from_carol = pending
        .iter()
        .find(|request| request.from == carol.public_key())
        .expect("the directory-confirmed sender's request is pending");
    assert_eq!(from_carol.claims.len(), 1);
    assert!(!from_carol.contested);

    // After the 24 h window nothing dropped comes back...
    net.clock.advance(DAY + 3_600);
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 0, "{report:?}");
    assert_eq!(report.dropped_total(), 0, "decided once: {report:?}");
    assert_eq!(
        bob.pending_requests().unwrap().len() as u64,
        unknown_share + 1
    );
    // ...nor when room frees up.
    let spam: Vec<_> = bob
        .pending_requests()
        .unwrap()
        .into_iter()
        .filter(|request| request.from != carol.public_key())
        .take(10)
        .collect();
    for request in &spam {
        bob.block(&request.from).unwrap();
    }
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 0, "{report:?}");
    assert_eq!(
        bob.pending_requests().unwrap().len() as u64,
        unknown_share - 9
    );
}

/// A stranger's request without a stamp, or with a stamp made for another
/// inbox, is dropped with its own reason, once; a stamped one is shown.
pub async fn unstamped_requests_from_strangers_are_dropped(net: &BuddyNet) {
    let bob = net.user("Bob", 1);
    let carol = net.user("Carol", 2);
    let bare = stamped_request(net, &throwaway(1), &bob, 0, DAY, None);
    let carol_inbox = carol.contact_code().unwrap().inbox_id();
    let misdirected = request_with(
        net,
        &throwaway(2),
        &bob,
        (1, DAY),
        Some(STAMP_BITS),
        Some(carol_inbox),
    );
    let stamped = stamped_request(net, &throwaway(3), &bob, 2, DAY, Some(STAMP_BITS));
    for (key, bytes) in [bare, misdirected, stamped] {
        net.clients[0].put(key, bytes).await.unwrap();
    }
    let report = bob.sync_now().await.unwrap();
    assert_eq!(
        report.dropped.get(&DropReason::NoStamp),
        Some(&2),
        "{report:?}"
    );
    assert_eq!(report.requests_received, 1);
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.dropped_total(), 0, "remembered, not judged again");
    assert_eq!(bob.pending_requests().unwrap().len(), 1);
}

/// Alice blocks Bob after asking him; Bob's accept adds no buddy and is
/// counted as a blocked answer, once.
pub async fn a_blocked_users_accept_adds_no_buddy(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    alice.block(&bob.public_key()).unwrap();
    bob.accept(&sent.id).await.unwrap();
    let report = alice.sync_now().await.unwrap();
    assert_eq!(
        report.dropped.get(&DropReason::BlockedAnswer),
        Some(&1),
        "{report:?}"
    );
    assert_eq!(report.answers_received, 0);
    assert!(alice.buddies().unwrap().is_empty());
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Pending
    );
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.dropped_total(), 0, "{report:?}");
    assert!(alice.buddies().unwrap().is_empty());
}

/// Alice and Bob ask each other; Alice accepts Bob's. Alice's own request
/// is answered by that (accepted, withdrawn); Bob's sync adds Alice and
/// leaves nothing pending; nobody is told the other "asked again".
pub async fn crossing_requests_are_both_answered(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let to_bob = alice
        .send_request(&code(&bob), "add me", vec![])
        .await
        .unwrap();
    let from_bob = bob
        .send_request(&code(&alice), "add me too", vec![])
        .await
        .unwrap();
    alice.sync_now().await.unwrap();
    bob.sync_now().await.unwrap();
    let mut alice_events = alice.subscribe();
    let mut bob_events = bob.subscribe();
    alice.accept(&from_bob.id).await.unwrap();
    let mine = alice.sent_requests().unwrap();
    assert_eq!(mine[0].id, to_bob.id);
    assert_eq!(
        mine[0].status,
        SentStatus::Accepted,
        "the accepter's own request is answered by the accept"
    );
    bob.sync_now().await.unwrap();
    assert_eq!(bob.buddies().unwrap()[0].public_key, alice.public_key());
    assert!(bob.pending_requests().unwrap().is_empty());
    assert_eq!(bob.sent_requests().unwrap()[0].status, SentStatus::Accepted);
    alice.sync_now().await.unwrap();
    bob.sync_now().await.unwrap();
    assert!(alice.pending_requests().unwrap().is_empty());
    assert!(requested_again(&mut alice_events).is_empty());
    assert!(requested_again(&mut bob_events).is_empty());
}

/// A buddy's new request is not pending but reaches the app once, as an
/// event.
pub async fn a_buddy_asking_again_is_an_event(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    buddies(&alice, &bob).await;
    net.clock.advance(60);
    let again = alice
        .send_request(&code(&bob), "lost you, add me?", vec![])
        .await
        .unwrap();
    let mut events = bob.subscribe();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.dropped.get(&DropReason::AlreadyBuddy), Some(&1));
    assert_eq!(
        requested_again(&mut events),
        vec![BuddyEvent::BuddyRequestedAgain {
            request_id: again.id,
            from: alice.public_key(),
            display_name: "Alice".into(),
        }]
    );
    assert!(bob.pending_requests().unwrap().is_empty());
    bob.sync_now().await.unwrap();
    assert!(requested_again(&mut events).is_empty(), "told once");
}

/// A name claimed by two keys is flagged contested on the pending request,
/// with both claims; a name found unclaimed stays so (cached) until the
/// cache lifetime passes.
pub async fn directory_claims_are_cached_and_conflicts_flagged(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let mallory = net.user("Mallory", 2);
    let bob = net.user("Bob", 1);
    alice.set_profile("Alice", Some("alice")).unwrap();
    alice.publish_directory_entry().await.unwrap();
    mallory.set_profile("Alice", Some("alice")).unwrap();
    mallory.publish_directory_entry().await.unwrap();
    alice
        .send_request(&code(&bob), "it's me", vec![])
        .await
        .unwrap();
    bob.sync_now().await.unwrap();
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].contested);
    let keys: Vec<_> = pending[0].claims.iter().map(|c| c.public_key).collect();
    assert!(keys.contains(&alice.public_key()) && keys.contains(&mallory.public_key()));

    // Carol names "carol" before claiming it: a negative result, cached.
    let carol = net.user("Carol", 0);
    carol.set_profile("Carol", Some("carol")).unwrap();
    carol.send_request(&code(&bob), "1", vec![]).await.unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.dropped.get(&DropReason::DirectoryMismatch), Some(&1));
    carol.publish_directory_entry().await.unwrap();
    net.clock.advance(60);
    carol.send_request(&code(&bob), "2", vec![]).await.unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(
        report.dropped.get(&DropReason::DirectoryMismatch),
        Some(&1),
        "the negative result is cached across syncs"
    );
    net.clock
        .advance(BuddyConfig::default().directory_cache_secs + 1);
    carol.send_request(&code(&bob), "3", vec![]).await.unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 1, "{report:?}");
}

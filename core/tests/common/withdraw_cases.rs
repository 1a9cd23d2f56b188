//! Withdrawing a sent buddy request, written once and run on any DHT (the
//! in-memory one and real nodes, through `buddy_cases!`): the tombstone
//! must hide the request from a recipient who has not synced yet, remove
//! it from one who already saw it, and a late answer must add no buddy.

#![allow(dead_code)]

use pigeonhole::buddy::{BuddyError, BuddyEvent};
use pigeonhole::store::buddies::SentStatus;

use super::buddy_cases::{BuddyNet, code, email};

pub async fn withdrawn_before_the_recipient_syncs_is_never_seen(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let mut alice_events = alice.subscribe();
    let sent = alice
        .send_request(&code(&bob), "hello", email())
        .await
        .unwrap();
    alice.withdraw(&sent.id).await.unwrap();
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Withdrawn
    );
    assert!(matches!(
        alice_events.try_recv(),
        Ok(BuddyEvent::RequestWithdrawn { request_id }) if request_id == sent.id
    ));

    net.clock.advance(60);
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 0);
    assert!(bob.pending_requests().unwrap().is_empty());
    // The inbox holds Alice's tombstone in place of the request.
    let inbox = bob.contact_code().unwrap().inbox_id();
    let fetched = bob.mailbox().fetch_all(inbox).await.unwrap();
    assert!(fetched.records.iter().all(|r| r.id() != sent.id));
    assert!(
        fetched
            .tombstones
            .iter()
            .any(|t| t.header.sender == alice.public_key())
    );
}

pub async fn withdrawn_after_the_recipient_saw_it_leaves_pending_on_next_sync(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 1);
    assert_eq!(bob.pending_requests().unwrap().len(), 1);

    alice.withdraw(&sent.id).await.unwrap();
    net.clock.advance(60);
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.withdrawn, 1);
    assert!(bob.pending_requests().unwrap().is_empty());
    assert!(matches!(
        bob.accept(&sent.id).await,
        Err(BuddyError::UnknownRequest)
    ));
    assert!(alice.buddies().unwrap().is_empty());
}

pub async fn a_late_answer_to_a_withdrawn_request_adds_no_buddy(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    // Bob accepts before he could see the withdrawal.
    alice.withdraw(&sent.id).await.unwrap();
    bob.accept(&sent.id).await.unwrap();

    net.clock.advance(60);
    alice.sync_now().await.unwrap();
    assert!(alice.buddies().unwrap().is_empty());
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Withdrawn
    );
}

pub async fn withdrawing_twice_or_an_unknown_id_fails(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    assert!(matches!(
        alice.withdraw(&[7; 32]).await,
        Err(BuddyError::UnknownRequest)
    ));
    // Bob cannot withdraw a request he received but did not send.
    bob.sync_now().await.unwrap();
    assert!(matches!(
        bob.withdraw(&sent.id).await,
        Err(BuddyError::UnknownRequest)
    ));
    alice.withdraw(&sent.id).await.unwrap();
    assert!(matches!(
        alice.withdraw(&sent.id).await,
        Err(BuddyError::NotPending)
    ));

    // An answered request cannot be withdrawn either.
    let carol = net.user("Carol", 2);
    let to_carol = alice
        .send_request(&code(&carol), "hi", vec![])
        .await
        .unwrap();
    carol.sync_now().await.unwrap();
    carol.decline(&to_carol.id).await.unwrap();
    net.clock.advance(60);
    alice.sync_now().await.unwrap();
    assert!(matches!(
        alice.withdraw(&to_carol.id).await,
        Err(BuddyError::NotPending)
    ));
    assert_eq!(
        alice
            .sent_requests()
            .unwrap()
            .iter()
            .find(|s| s.id == to_carol.id)
            .unwrap()
            .status,
        SentStatus::Declined
    );
}

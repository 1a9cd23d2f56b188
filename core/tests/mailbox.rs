//! The sequenced mailbox on the in-memory DHT (the same cases run on real
//! libp2p nodes in the DHT tests).

mod common;

use std::sync::Arc;

use common::mailbox_cases::{self, Client};
use common::*;

fn single(clock: &Arc<pigeonhole::clock::ManualClock>) -> Vec<Client> {
    vec![memory_dht(clock) as Client]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_publishers_lose_and_duplicate_nothing() {
    let clock = clock();
    mailbox_cases::concurrent_publishers(&single(&clock), &clock, 10, 100).await;
}

#[tokio::test]
async fn expired_and_deleted_gaps_do_not_end_the_scan() {
    let clock = clock();
    mailbox_cases::gaps_do_not_end_the_scan(&single(&clock), &clock).await;
}

#[tokio::test]
async fn empty_mailbox_costs_one_window_per_bucket() {
    let clock = clock();
    mailbox_cases::empty_mailbox_costs_one_window_per_bucket(&single(&clock), &clock).await;
}

#[tokio::test]
async fn slot_search_is_logarithmic() {
    let clock = clock();
    mailbox_cases::slot_search_is_logarithmic(&single(&clock), &clock).await;
}

#[tokio::test]
async fn only_the_sender_writes_its_slot() {
    let clock = clock();
    mailbox_cases::only_the_sender_writes_its_slot(&single(&clock), &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_sender_publishing_concurrently_loses_nothing() {
    let clock = clock();
    mailbox_cases::one_sender_publishing_concurrently_loses_nothing(&single(&clock), &clock).await;
}

/// An update that would expire before the record it replaces is refused:
/// otherwise the old version could be replayed once the update expired.
#[tokio::test]
async fn updates_cannot_shorten_a_slot() {
    use pigeonhole::mailbox::Dht;
    let clock = clock();
    let dht = memory_dht(&clock);
    let mut first = Spec::new(
        pigeonhole::record::Kind::FeedPost,
        identity(1),
        10 * 3600,
        0,
    );
    dht.put(first.key(), first.bytes()).await.unwrap();
    first.set_times(NOW + 1, NOW + 3600);
    let refused = dht.put(first.key(), first.bytes()).await;
    assert!(
        matches!(&refused, Err(pigeonhole::mailbox::DhtError::Rejected(reason)) if reason.contains("expires before")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn invalid_drafts_fail_with_their_reason() {
    let clock = clock();
    let dht = memory_dht(&clock);
    let mailbox =
        pigeonhole::mailbox::Mailbox::new(dht.clone(), validator(), clock.clone(), config());
    let too_long = request_draft(inbox_of(1), 31 * DAY);
    let error = mailbox.publish(&identity(1), too_long).await.unwrap_err();
    assert!(
        matches!(
            error,
            pigeonhole::mailbox::MailboxError::Invalid(
                pigeonhole::record::RecordError::LifetimeTooLong { .. }
            )
        ),
        "{error:?}"
    );
    let oversized = pigeonhole::mailbox::Draft {
        body: vec![1; pigeonhole::record::MAX_BODY_BYTES + 1],
        ..request_draft(inbox_of(1), DAY)
    };
    let error = mailbox.publish(&identity(1), oversized).await.unwrap_err();
    assert!(
        matches!(
            error,
            pigeonhole::mailbox::MailboxError::Invalid(
                pigeonhole::record::RecordError::TooLarge { .. }
            )
        ),
        "{error:?}"
    );
    assert_eq!(dht.puts(), 0, "an invalid draft reached the DHT");
}

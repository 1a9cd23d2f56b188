//! The sequenced mailbox on the in-memory DHT (the same cases run on real
//! libp2p nodes in the DHT tests).

mod common;

use std::sync::Arc;

use common::mailbox_cases::{self, Client};
use common::*;
use pigeonhole::mailbox::MemoryDht;
use pigeonhole::record::Kind;

fn single(clock: &Arc<pigeonhole::clock::ManualClock>) -> Vec<Client> {
    vec![memory_dht(clock) as Client]
}

fn listing(clock: &Arc<pigeonhole::clock::ManualClock>) -> Vec<Client> {
    vec![Arc::new(MemoryDht::with_listing(validator(), clock.clone())) as Client]
}

/// Runs a shared case on the plain single-value MemoryDht (probe scan) and
/// on the listing MemoryDht (listing reads, next_seq).
macro_rules! on_both {
    ($($([$($flavor:tt)*])? $name:ident => |$clients:ident, $clock:ident| $body:expr;)*) => {
        mod probe_path {
            use super::*;
            $(
                #[tokio::test$(($($flavor)*))?]
                async fn $name() {
                    let $clock = clock();
                    let $clients = single(&$clock);
                    $body.await;
                }
            )*
        }
        mod listing_path {
            use super::*;
            $(
                #[tokio::test$(($($flavor)*))?]
                async fn $name() {
                    let $clock = clock();
                    let $clients = listing(&$clock);
                    $body.await;
                }
            )*
        }
    };
}

on_both! {
    [flavor = "multi_thread", worker_threads = 4]
    ten_concurrent_publishers_lose_and_duplicate_nothing => |c, k|
        mailbox_cases::concurrent_publishers(&c, &k, 10, 100);
    expired_and_deleted_gaps_do_not_end_the_scan => |c, k|
        mailbox_cases::gaps_do_not_end_the_scan(&c, &k);
    an_idle_sync_is_one_request_or_one_window_per_bucket => |c, k|
        mailbox_cases::an_idle_sync_is_one_request_or_one_window_per_bucket(&c, &k);
    a_fresh_publisher_takes_the_first_free_slot => |c, k|
        mailbox_cases::a_fresh_publisher_takes_the_first_free_slot(&c, &k);
    only_the_sender_writes_its_slot => |c, k|
        mailbox_cases::only_the_sender_writes_its_slot(&c, &k);
    [flavor = "multi_thread", worker_threads = 4]
    one_sender_publishing_concurrently_loses_nothing => |c, k|
        mailbox_cases::one_sender_publishing_concurrently_loses_nothing(&c, &k);
    perforation_does_not_hide_honest_records => |c, k|
        mailbox_cases::perforation_does_not_hide_honest_records(&c, &k);
    an_expired_prefix_does_not_hide_live_records => |c, k|
        mailbox_cases::an_expired_prefix_does_not_hide_live_records(&c, &k);
    refusals_end_the_publish_with_their_error => |c, k|
        mailbox_cases::refusals_end_the_publish_with_their_error(&c, &k);
    a_restarted_sender_keeps_its_earlier_record => |c, k|
        mailbox_cases::a_restarted_sender_keeps_its_earlier_record(&c, &k);
    fetch_since_returns_each_record_once_in_order => |c, k|
        mailbox_cases::fetch_since_returns_each_record_once_in_order(&c, &k);
}

/// A tombstone that would expire before the record it deletes is refused:
/// otherwise the record could be replayed once the tombstone expired. A
/// same-sender record that is not a tombstone naming it is refused as taken.
#[tokio::test]
async fn only_a_tombstone_that_lives_as_long_replaces_a_record() {
    use pigeonhole::mailbox::{Dht, DhtError};
    use pigeonhole::record::body::{BodyRules, Tombstone};
    let clock = clock();
    let dht = memory_dht(&clock);
    let first = Spec::new(Kind::FeedPost, identity(1), 10 * 3600, 0);
    dht.put(first.key(), first.bytes()).await.unwrap();
    let mut update = first.clone();
    update.set_times(NOW + 1, NOW + 10 * 3600);
    assert_eq!(
        dht.put(update.key(), update.bytes()).await,
        Err(DhtError::Taken)
    );
    let mut tombstone = first.clone();
    tombstone.header.kind = Kind::Tombstone;
    tombstone.body = Tombstone {
        replaced: pigeonhole::record::record_id(&first.bytes()),
    }
    .encode();
    tombstone.set_times(NOW + 1, NOW + 3600);
    let refused = dht.put(tombstone.key(), tombstone.bytes()).await;
    assert!(
        matches!(&refused, Err(DhtError::Rejected(reason)) if reason.contains("expires before")),
        "{refused:?}"
    );
    tombstone.set_times(NOW + 1, NOW + 10 * 3600);
    dht.put(tombstone.key(), tombstone.bytes()).await.unwrap();
    assert_eq!(dht.get(first.key()).await.unwrap(), Some(tombstone.bytes()));
}

/// An expired record stays served, as an occupancy marker, until its
/// bucket's day is over plus the clock skew; then it is forgotten.
#[tokio::test]
async fn expired_records_mark_their_slot_until_the_day_is_over() {
    use pigeonhole::clock::Clock;
    use pigeonhole::mailbox::Dht;
    let clock = clock();
    let dht = memory_dht(&clock);
    let spec = Spec::new(Kind::FeedPost, identity(1), 3600, 0);
    dht.put(spec.key(), spec.bytes()).await.unwrap();
    clock.advance(2 * 3600);
    assert_eq!(dht.get(spec.key()).await.unwrap(), Some(spec.bytes()));
    let day_end = (u64::from(spec.header.instance.bucket) + 1) * DAY;
    let skew = validator().policy().clock_skew_secs;
    clock.set(day_end + skew - 1);
    assert_eq!(dht.get(spec.key()).await.unwrap(), Some(spec.bytes()));
    clock.set(day_end + skew);
    assert_eq!(dht.get(spec.key()).await.unwrap(), None);
    assert!(dht.is_empty());
    assert!(clock.now() > NOW);
}

/// The listing MemoryDht pages a mailbox in (instance, record id) order and
/// names the bucket's next free seq; the plain one answers neither.
#[tokio::test]
async fn listing_memory_dht_pages_in_order() {
    use pigeonhole::mailbox::{Dht, ListCursor};
    let clock = clock();
    let plain = memory_dht(&clock);
    let dht = MemoryDht::with_listing(validator(), clock.clone());
    let mut specs = Vec::new();
    for seq in [4u32, 0, 2] {
        let spec = Spec::new(Kind::FeedPost, identity(1), DAY, seq);
        dht.put(spec.key(), spec.bytes()).await.unwrap();
        specs.push(spec);
    }
    let mailbox = specs[0].header.mailbox;
    let bucket = specs[0].header.instance.bucket;
    assert_eq!(plain.list(mailbox, None, 10).await.unwrap(), None);
    assert_eq!(plain.next_seq(mailbox, bucket).await.unwrap(), None);
    assert_eq!(dht.next_seq(mailbox, bucket).await.unwrap(), Some(5));
    assert_eq!(dht.next_seq(mailbox, bucket + 1).await.unwrap(), Some(0));
    let first = dht.list(mailbox, None, 2).await.unwrap().unwrap();
    assert!(first.more);
    assert_eq!(first.records, vec![specs[1].bytes(), specs[2].bytes()]);
    let after = ListCursor {
        instance: specs[2].header.instance,
        record_id: pigeonhole::record::record_id(&specs[2].bytes()),
    };
    let rest = dht.list(mailbox, Some(after), 2).await.unwrap().unwrap();
    assert!(!rest.more);
    assert_eq!(rest.records, vec![specs[0].bytes()]);
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

/// A listing peer that answers garbage, a record of another mailbox, the
/// same record over and over and "more" forever: the reader keeps the one
/// valid record once, drops the rest, and stops when no page makes progress.
#[tokio::test]
async fn a_confused_listing_peer_cannot_loop_or_inject() {
    use async_trait::async_trait;
    use pigeonhole::mailbox::{Dht, DhtError, ListCursor, ListPage, Mailbox};
    use pigeonhole::record::{DhtKey, MailboxId};

    struct Confused {
        page: Vec<Vec<u8>>,
    }

    #[async_trait]
    impl Dht for Confused {
        async fn get(&self, _key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
            Ok(None)
        }
        async fn put(&self, _key: DhtKey, _value: Vec<u8>) -> Result<(), DhtError> {
            Ok(())
        }
        async fn list(
            &self,
            _mailbox: MailboxId,
            _after: Option<ListCursor>,
            _limit: u32,
        ) -> Result<Option<ListPage>, DhtError> {
            Ok(Some(ListPage {
                records: self.page.clone(),
                more: true,
            }))
        }
    }

    let clock = clock();
    let ours = Spec::new(Kind::FeedPost, identity(1), DAY, 0);
    let mut foreign = Spec::new(Kind::FeedPost, identity(2), DAY, 1);
    foreign.header.mailbox = inbox_of(9);
    let dht = Arc::new(Confused {
        page: vec![vec![1, 2, 3], foreign.bytes(), ours.bytes(), ours.bytes()],
    });
    let mailbox = Mailbox::new(dht, validator(), clock.clone(), config());
    let fetched = mailbox.fetch_all(ours.header.mailbox).await.unwrap();
    let ids: Vec<_> = fetched.records.iter().map(|r| r.bytes().to_vec()).collect();
    assert_eq!(ids, vec![ours.bytes()]);
    assert!(fetched.stats.rejected >= 2, "{:?}", fetched.stats);
    assert!(fetched.stats.lists <= 2, "{:?}", fetched.stats);
    assert!(!fetched.stats.truncated);
}

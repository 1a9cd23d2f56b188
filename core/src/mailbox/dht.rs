//! The small DHT interface the mailbox needs, and its errors.
//!
//! Two calls are enough for the seed's method on a plain single-value DHT:
//! [`Dht::get`] and [`Dht::put`] of one slot. Peers that keep every slot of
//! a mailbox together (placement by mailbox, protocol v2) also answer
//! *listing* reads — "the records of mailbox M after cursor C" — and tell a
//! writer where a bucket's next free slot is, so a read or a publish costs
//! one or two round trips instead of a probe scan. A DHT that cannot answer
//! them keeps the defaults (`Ok(None)`) and the mailbox falls back to the
//! probe scan. The in-memory implementation ([`crate::mailbox::MemoryDht`])
//! is a single-value DHT running the fallback, or, built with
//! [`crate::mailbox::MemoryDht::with_listing`], a listing one; the libp2p
//! node implements both, so the same test cases run on both paths.

use std::sync::Arc;

use async_trait::async_trait;

use crate::record::{DhtKey, InstanceId, MailboxId};

/// Why a DHT operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhtError {
    /// The slot already holds another record (single-value storage): another
    /// slot may succeed. Only this refusal moves a publish to the next slot.
    #[error("the slot holds another record")]
    Taken,
    /// Storing peers refused the record for a reason another slot would not
    /// fix: invalid, over quota, clock skew, deleted, store failure.
    #[error("storing peers refused the record: {0}")]
    Rejected(String),
    /// No peer could be reached, or the operation timed out.
    #[error("the DHT is unreachable: {0}")]
    Unavailable(String),
}

/// Where a listing read resumes: strictly after this (instance, record id).
///
/// Listing order is by instance id, then by record id, so two records that
/// landed in one slot (a healed partition) both have a place in the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListCursor {
    /// Instance id of the last record seen.
    pub instance: InstanceId,
    /// Record id of the last record seen.
    pub record_id: [u8; 32],
}

/// One page of a listing read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Encoded records, unvalidated (the caller validates every one), in
    /// listing order, all after the cursor asked for. Tombstones included.
    pub records: Vec<Vec<u8>>,
    /// Whether more records follow the last one returned.
    pub more: bool,
}

/// A key-value DHT holding values per key, optionally with listing reads.
#[async_trait]
pub trait Dht: Send + Sync {
    /// A value under `key`, or `None` when no peer holds one.
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError>;

    /// Offers `value` under `key` to the storing peers. [`DhtError::Taken`]
    /// means another slot may succeed; any other error ends a publish.
    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError>;

    /// Records of `mailbox` after `after` (from the start with `None`), at
    /// most `limit` of them. `Ok(None)`: this DHT has no listing reads, use
    /// the probe scan.
    async fn list(
        &self,
        _mailbox: MailboxId,
        _after: Option<ListCursor>,
        _limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        Ok(None)
    }

    /// The first sequence number after every slot used in `bucket` of
    /// `mailbox`, as the mailbox's replicas know it. `Ok(None)`: not known
    /// here, find a free slot by probing.
    async fn next_seq(&self, _mailbox: MailboxId, _bucket: u32) -> Result<Option<u32>, DhtError> {
        Ok(None)
    }
}

#[async_trait]
impl<T: Dht + ?Sized> Dht for Arc<T> {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        (**self).get(key).await
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        (**self).put(key, value).await
    }

    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        (**self).list(mailbox, after, limit).await
    }

    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        (**self).next_seq(mailbox, bucket).await
    }
}

//! The small DHT interface the mailbox needs, and its errors.
//!
//! The mailbox algorithm only ever reads or writes one key at a time, so the
//! interface is two calls. The in-memory implementation
//! ([`crate::mailbox::MemoryDht`]) runs the unit tests; the libp2p node
//! implements the same trait so that the same tests run on real peers.

use std::sync::Arc;

use async_trait::async_trait;

use crate::record::DhtKey;

/// Why a DHT operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhtError {
    /// Storing peers refused the value (invalid, slot taken, over quota).
    #[error("storing peers refused the record: {0}")]
    Rejected(String),
    /// No peer could be reached, or the operation timed out.
    #[error("the DHT is unreachable: {0}")]
    Unavailable(String),
}

/// A key-value DHT holding one value per key.
#[async_trait]
pub trait Dht: Send + Sync {
    /// The value under `key`, or `None` when no peer holds one.
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError>;
    /// Offers `value` under `key` to the storing peers. `Ok` does not prove
    /// the value won the slot: callers read back.
    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError>;
}

#[async_trait]
impl<T: Dht + ?Sized> Dht for Arc<T> {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        (**self).get(key).await
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        (**self).put(key, value).await
    }
}

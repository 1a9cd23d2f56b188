//! DHTs that wrap another and distort it the way a case needs: one that
//! counts the gets passing through ([`CountingDht`]), one whose puts are
//! all refused ([`RefusingDht`]), one that answers like a replica that
//! slept through writes ([`StaleDht`]).
//!
//! Why a module of its own: they are test instruments, not cases; the
//! mailbox cases and the buddy tests both use them, on any DHT.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use pigeonhole::mailbox::{Dht, DhtError, ListCursor, ListPage};
use pigeonhole::record::{DhtKey, MailboxId};

/// Counts the gets that pass through it; listing questions pass through
/// uncounted, so a listing DHT stays a listing DHT behind it.
pub struct CountingDht {
    pub inner: Arc<dyn Dht>,
    pub gets: AtomicU64,
}

#[async_trait]
impl Dht for CountingDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        self.inner.put(key, value).await
    }

    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        self.inner.list(mailbox, after, limit).await
    }

    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        self.inner.next_seq(mailbox, bucket).await
    }
}

/// A DHT whose puts all fail with one error; reads pass through.
pub struct RefusingDht {
    pub inner: Arc<dyn Dht>,
    pub refusal: DhtError,
}

#[async_trait]
impl Dht for RefusingDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        self.inner.get(key).await
    }

    async fn put(&self, _key: DhtKey, _value: Vec<u8>) -> Result<(), DhtError> {
        Err(self.refusal.clone())
    }

    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        self.inner.list(mailbox, after, limit).await
    }

    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        self.inner.next_seq(mailbox, bucket).await
    }
}

/// A replica that slept through writes: its gets answer nothing at first
/// and its next-seq answers the bucket's start.
pub struct StaleDht {
    pub inner: Arc<dyn Dht>,
    pub hidden_gets: AtomicU64,
}

#[async_trait]
impl Dht for StaleDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        let hide = self
            .hidden_gets
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if hide {
            Ok(None)
        } else {
            self.inner.get(key).await
        }
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        self.inner.put(key, value).await
    }

    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        self.inner.list(mailbox, after, limit).await
    }

    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        Ok(self.inner.next_seq(mailbox, bucket).await?.map(|_| 0))
    }
}

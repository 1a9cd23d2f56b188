//! An in-memory DHT for fast, deterministic tests of the mailbox logic.
//!
//! It is one storing peer in a hash map, but it applies exactly the rules a
//! real storing peer applies: every put passes the [`Validator`], the
//! [`crate::slot_rule`] decides who may write an occupied slot, and expired
//! records are not served. It counts gets and puts so that benchmarks can
//! show how lookups grow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::clock::Clock;
use crate::mailbox::dht::{Dht, DhtError};
use crate::record::{DhtKey, Record, Validator};
use crate::slot_rule;

/// One storing peer held in memory.
#[derive(Debug)]
pub struct MemoryDht {
    validator: Validator,
    clock: Arc<dyn Clock>,
    records: Mutex<HashMap<DhtKey, Record>>,
    gets: AtomicU64,
    puts: AtomicU64,
}

impl MemoryDht {
    /// An empty DHT validating with `validator` at `clock`'s time.
    pub fn new(validator: Validator, clock: Arc<dyn Clock>) -> Self {
        Self {
            validator,
            clock,
            records: Mutex::new(HashMap::new()),
            gets: AtomicU64::new(0),
            puts: AtomicU64::new(0),
        }
    }

    /// Gets served so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// Puts received so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::Relaxed)
    }

    /// Number of records held, expired ones included until read.
    pub fn len(&self) -> usize {
        self.records.lock().expect("poisoned").len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Dht for MemoryDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        // Yield so concurrent publishers really interleave, as on a network.
        tokio::task::yield_now().await;
        self.gets.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let mut records = self.records.lock().expect("poisoned");
        match records.get(&key) {
            Some(record) if record.header.expires_at <= now => {
                records.remove(&key);
                Ok(None)
            }
            Some(record) => Ok(Some(record.bytes().to_vec())),
            None => Ok(None),
        }
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        tokio::task::yield_now().await;
        self.puts.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let incoming = self
            .validator
            .validate(&key, &value, now)
            .map_err(|error| DhtError::Rejected(error.to_string()))?;
        let mut records = self.records.lock().expect("poisoned");
        let existing = records
            .get(&key)
            .filter(|record| record.header.expires_at > now);
        match slot_rule::decide(existing, &incoming) {
            Ok(slot_rule::SlotWrite::Store) => {
                records.insert(key, incoming);
                Ok(())
            }
            Ok(slot_rule::SlotWrite::Unchanged) => Ok(()),
            Err(slot_rule::SlotRejection::TakenByOtherSender) => Err(DhtError::Taken),
            Err(rejection) => Err(DhtError::Rejected(rejection.to_string())),
        }
    }
}

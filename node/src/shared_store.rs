//! The record store shared by the swarm task and the inbound worker pool.
//!
//! Why: Kademlia owns its record store (`kad::Behaviour<TStore>`), but the
//! SQLite work of answering other peers runs on the worker threads of
//! [`crate::inbound`], off the swarm task. Both reach the one
//! [`SqliteRecordStore`] through this handle: a mutex around it, held for
//! one store call at a time (a short transaction), never across a
//! signature check (workers validate before they lock). The quota state
//! (`total_bytes`) stays consistent because every write path takes the
//! same lock. The swarm task (the user's own calls) has priority: a worker
//! about to lock first lets a waiting swarm task go ahead (for at most
//! [`WORKER_YIELD`]), so the user's publish waits for at most the one
//! worker transaction in progress, never for a queue of them.
//!
//! Kademlia's synchronous [`RecordStore::get`] is the one store read the
//! swarm task still makes for other peers (an inbound GET_VALUE; the
//! node's own protocol never sends one, other implementations may). It is
//! bounded by a node-wide token bucket ([`KAD_READS_PER_SECOND`]): over
//! budget the record is reported as not held here, so a GET_VALUE flood
//! cannot turn the swarm task into a SQLite reader.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::kad::store::{self, RecordStore};
use libp2p::kad::{ProviderRecord, Record as KadRecord, RecordKey};

use crate::budget::TokenBucket;
use crate::load::LoadCounters;
use crate::record_store::SqliteRecordStore;

/// Inbound Kademlia GET_VALUE lookups answered from the store per second
/// (node-wide; the burst is the same number).
pub const KAD_READS_PER_SECOND: u32 = 200;

/// Longest a worker stands aside for the swarm task before it takes the
/// store lock anyway (so a busy user cannot starve other peers forever).
pub const WORKER_YIELD: Duration = Duration::from_millis(20);

/// A cloneable handle on the node's one [`SqliteRecordStore`].
#[derive(Clone)]
pub struct SharedStore {
    inner: Arc<Mutex<SqliteRecordStore>>,
    /// Swarm-task callers waiting for (or holding) the lock.
    priority: Arc<AtomicUsize>,
    kad_reads: Arc<Mutex<TokenBucket>>,
    counters: Arc<LoadCounters>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore").finish_non_exhaustive()
    }
}

impl SharedStore {
    /// Shares `store`; `counters` counts kad reads refused over budget.
    pub fn new(store: SqliteRecordStore, counters: Arc<LoadCounters>) -> Self {
        let rate = f64::from(KAD_READS_PER_SECOND);
        Self {
            inner: Arc::new(Mutex::new(store)),
            priority: Arc::new(AtomicUsize::new(0)),
            kad_reads: Arc::new(Mutex::new(TokenBucket::new(rate, rate, Instant::now()))),
            counters,
        }
    }

    /// The counters shared with the node's handle.
    pub(crate) fn counters(&self) -> Arc<LoadCounters> {
        self.counters.clone()
    }

    /// The store, locked for one call. A panic while it was held (a bug)
    /// does not take the node down with it: the state under the lock is a
    /// handle on SQLite, whose transactions roll back on their own.
    /// This is the swarm task's (priority) way in.
    pub fn lock(&self) -> MutexGuard<'_, SqliteRecordStore> {
        self.priority.fetch_add(1, Ordering::SeqCst);
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        self.priority.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// The store, locked for one call of a worker: first lets a waiting
    /// swarm task go ahead (for at most [`WORKER_YIELD`]).
    pub(crate) fn lock_for_worker(&self) -> MutexGuard<'_, SqliteRecordStore> {
        let start = Instant::now();
        while self.priority.load(Ordering::SeqCst) > 0 && start.elapsed() < WORKER_YIELD {
            std::thread::sleep(Duration::from_micros(200));
        }
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RecordStore for SharedStore {
    type RecordsIter<'a> = std::vec::IntoIter<Cow<'a, KadRecord>>;
    type ProvidedIter<'a> = std::vec::IntoIter<Cow<'a, ProviderRecord>>;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, KadRecord>> {
        let allowed = self
            .kad_reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(Instant::now());
        if !allowed {
            self.counters.note_kad_read_refused();
            return None;
        }
        let store = self.lock();
        RecordStore::get(&*store, k).map(|record| Cow::Owned(record.into_owned()))
    }

    fn put(&mut self, r: KadRecord) -> store::Result<()> {
        RecordStore::put(&mut *self.lock(), r)
    }

    fn remove(&mut self, k: &RecordKey) {
        RecordStore::remove(&mut *self.lock(), k)
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        let store = self.lock();
        RecordStore::records(&*store)
            .map(|record| Cow::Owned(record.into_owned()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> store::Result<()> {
        RecordStore::add_provider(&mut *self.lock(), record)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        RecordStore::providers(&*self.lock(), key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        Vec::new().into_iter()
    }

    fn remove_provider(&mut self, k: &RecordKey, p: &PeerId) {
        RecordStore::remove_provider(&mut *self.lock(), k, p)
    }
}

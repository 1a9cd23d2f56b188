//! libp2p's Kademlia record store, kept in the core's SQLite [`Store`].
//!
//! Why: the built-in `MemoryStore` forgets everything on restart, and a
//! phone restarts often. Records live in SQLite; every read re-validates
//! (the core's store does it, deleting rows that fail), so a restarted node
//! serves only records that are still valid, and an expired one is never
//! served.
//!
//! Every write — the node's own publish (kad's `put_record` writes locally
//! first) and every inbound put (the swarm task calls [`RecordStore::put`]
//! for each `InboundRequest::PutRecord` under `StoreInserts::FilterBoth`) —
//! goes through one path: the core's [`Validator`], then the [`Limits`],
//! then the core's slot rule inside [`Store::put`]. Nothing else decides.
//!
//! Kademlia's own expiry (`Record::expires`) is not used: records carry a
//! signed absolute expiry that the validator checks with the node's clock.
//! An expired record is never served, but it is deleted only once the
//! clock has shown it expired for the configured grace period of elapsed
//! time (`NodeConfig::expiry_grace`, see `pigeonhole::store::expiry`): a
//! clock that jumps forward and comes back loses nothing.
//! Provider records are not part of the protocol and are refused.

use std::borrow::Cow;
use std::sync::Arc;

use libp2p::PeerId;
use libp2p::kad::store::{self, RecordStore};
use libp2p::kad::{ProviderRecord, Record as KadRecord, RecordKey};
use pigeonhole::clock::Clock;
use pigeonhole::record::{DhtKey, Record, Validator};
use pigeonhole::set_rule::SetWrite;
use pigeonhole::store::expiry::SweepTimer;
use pigeonhole::store::{PutOutcome, Store, StoreError, Totals};
use tracing::{debug, warn};

use crate::error::RefusalKind;
use crate::keys::{dht_key, record_key};
use crate::quota::{AdmitError, Limits};

/// Why the store refused a record (the detail kad's `store::Error` cannot carry).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The key is not a 32-byte slot key.
    #[error("key is not a slot key")]
    BadKey,
    /// The store could not be used, or the record was invalid or refused
    /// by the keep-both rule.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A quota would be exceeded.
    #[error(transparent)]
    Admit(#[from] AdmitError),
}

impl Refusal {
    /// The stable kind of this refusal (sent to writers in put answers).
    pub fn kind(&self) -> RefusalKind {
        use pigeonhole::record::ErrorKind;
        use pigeonhole::set_rule::SetRejection;
        match self {
            Refusal::BadKey => RefusalKind::Invalid,
            Refusal::Admit(AdmitError::Quota(_)) => RefusalKind::Quota,
            Refusal::Admit(AdmitError::Store(_)) => RefusalKind::Store,
            Refusal::Store(StoreError::Invalid(error)) => match error.kind() {
                ErrorKind::CreatedInFuture | ErrorKind::Expired => RefusalKind::Clock,
                _ => RefusalKind::Invalid,
            },
            Refusal::Store(StoreError::Refused(SetRejection::Deleted)) => RefusalKind::Deleted,
            Refusal::Store(StoreError::Refused(_)) => RefusalKind::Conflict,
            Refusal::Store(_) => RefusalKind::Store,
        }
    }

    /// The error a writer sees: every refusal ends a publish with its kind
    /// and reason (keep-both storage never answers "slot taken").
    pub fn into_node_error(self) -> crate::error::NodeError {
        crate::error::NodeError::Rejected {
            kind: self.kind(),
            reason: self.to_string(),
        }
    }
}

/// A Kademlia record store on SQLite, validating every write and read.
#[derive(Debug)]
pub struct SqliteRecordStore {
    store: Store,
    validator: Validator,
    clock: Arc<dyn Clock>,
    limits: Limits,
    /// Total bytes held, kept in memory so the quota check does not sum the
    /// table on every put; recomputed on every sweep.
    total_bytes: u64,
    last_refusal: Option<Refusal>,
    /// How long a row must have been seen expired before a sweep deletes it.
    expiry_grace: std::time::Duration,
    /// Monotonic time between sweeps.
    sweep_timer: SweepTimer,
}

impl SqliteRecordStore {
    /// Wraps `store` (already opened). Expired rows are deleted by
    /// [`SqliteRecordStore::sweep`] once seen expired for `expiry_grace`.
    pub fn new(
        store: Store,
        validator: Validator,
        clock: Arc<dyn Clock>,
        limits: Limits,
        expiry_grace: std::time::Duration,
    ) -> Result<Self, StoreError> {
        let total_bytes = store.totals()?.bytes;
        Ok(Self {
            store,
            validator,
            clock,
            limits,
            total_bytes,
            last_refusal: None,
            expiry_grace,
            sweep_timer: SweepTimer::new(),
        })
    }

    /// The SQLite store underneath (outbox, totals).
    pub fn inner(&self) -> &Store {
        &self.store
    }

    /// Validates `bytes` under `key`, checks the quotas and stores them if
    /// the keep-both rule allows. This is the one write path.
    pub fn put_checked(
        &mut self,
        key: &DhtKey,
        bytes: &[u8],
    ) -> Result<(Record, PutOutcome), Refusal> {
        let record = self
            .validator
            .validate(key, bytes, self.clock.now())
            .map_err(StoreError::from)?;
        let write = self.put_validated(&record)?;
        Ok((record, write))
    }

    /// [`SqliteRecordStore::put_checked`] for a record this node has just
    /// validated itself (its own publish): quotas and keep-both rule only.
    pub fn put_validated(&mut self, record: &Record) -> Result<PutOutcome, Refusal> {
        let replaced = match self.store.judge(record)? {
            SetWrite::Unchanged => return Ok(PutOutcome::Unchanged),
            SetWrite::Store => None,
            SetWrite::Replace(id) => Some(
                self.store
                    .held_size(&record.header.mailbox, &id)?
                    .unwrap_or(0),
            ),
        };
        self.limits
            .admit(&self.store, record, replaced, self.total_bytes)?;
        let outcome = self.store.put(record)?;
        if outcome != PutOutcome::Unchanged {
            self.total_bytes = self.total_bytes - replaced.unwrap_or(0).min(self.total_bytes)
                + record.bytes().len() as u64;
        }
        Ok(outcome)
    }

    /// Why the last refused `put` was refused, taken (for error messages).
    pub fn take_refusal(&mut self) -> Option<Refusal> {
        self.last_refusal.take()
    }

    /// The valid record held under `key`, if any.
    pub fn get_valid(&self, key: &DhtKey) -> Result<Option<Record>, StoreError> {
        self.store.get(key)
    }

    /// Every valid record held.
    pub fn list(&self) -> Result<Vec<Record>, StoreError> {
        self.store.list()
    }

    /// One expiry sweep (held records and outbox): rows seen expired age
    /// by the monotonic time since the last sweep, and those expired for
    /// the grace period are deleted; how many held records were. Also
    /// resynchronises the byte count.
    pub fn sweep(&mut self) -> Result<usize, StoreError> {
        let elapsed = self.sweep_timer.lap();
        let swept = self.store.sweep_expired(elapsed, self.expiry_grace)?;
        self.total_bytes = self.store.totals()?.bytes;
        Ok(swept)
    }

    /// Count and bytes held.
    pub fn totals(&self) -> Result<Totals, StoreError> {
        self.store.totals()
    }
}

/// The kad view of a held record.
pub fn to_kad(record: &Record) -> KadRecord {
    KadRecord {
        key: record_key(&record.dht_key()),
        value: record.bytes().to_vec(),
        publisher: None,
        expires: None,
    }
}

impl RecordStore for SqliteRecordStore {
    type RecordsIter<'a> = std::vec::IntoIter<Cow<'a, KadRecord>>;
    type ProvidedIter<'a> = std::vec::IntoIter<Cow<'a, ProviderRecord>>;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, KadRecord>> {
        let key = dht_key(k)?;
        match self.get_valid(&key) {
            Ok(record) => record.map(|record| Cow::Owned(to_kad(&record))),
            Err(error) => {
                warn!(%error, "store read failed");
                None
            }
        }
    }

    fn put(&mut self, r: KadRecord) -> store::Result<()> {
        let result = match dht_key(&r.key) {
            Some(key) => self.put_checked(&key, &r.value).map(|_| ()),
            None => Err(Refusal::BadKey),
        };
        result.map_err(|refusal| {
            debug!(%refusal, publisher = ?r.publisher, "record refused");
            let error = match &refusal {
                Refusal::Admit(AdmitError::Quota(_)) => store::Error::MaxRecords,
                _ => store::Error::ValueTooLarge,
            };
            self.last_refusal = Some(refusal);
            error
        })
    }

    fn remove(&mut self, k: &RecordKey) {
        if let Some(key) = dht_key(k)
            && let Err(error) = self.store.remove(&key)
        {
            warn!(%error, "store delete failed");
        }
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        // Only kad's periodic replication job calls this, and the node turns
        // that job off (it replicates on its own terms), so cost is no issue.
        let records = self.store.list().unwrap_or_else(|error| {
            warn!(%error, "store list failed");
            Vec::new()
        });
        records
            .iter()
            .map(|record| Cow::Owned(to_kad(record)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn add_provider(&mut self, _record: ProviderRecord) -> store::Result<()> {
        Err(store::Error::MaxProvidedKeys)
    }

    fn providers(&self, _key: &RecordKey) -> Vec<ProviderRecord> {
        Vec::new()
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        Vec::new().into_iter()
    }

    fn remove_provider(&mut self, _k: &RecordKey, _p: &PeerId) {}
}

#[cfg(test)]
mod tests {
    use pigeonhole::clock::ManualClock;
    use pigeonhole::identity::Identity;
    use pigeonhole::record::body::SEALED_SCHEME_V1;
    use pigeonhole::record::{Header, InstanceId, Kind, MailboxId, Policy};

    use std::time::Duration;

    use super::*;
    use crate::quota::QuotaExceeded;

    const NOW: u64 = 1_800_000_000;

    fn signed(
        sender: u8,
        mailbox: u8,
        seq: u32,
        created: u64,
        body_len: usize,
    ) -> (DhtKey, Vec<u8>) {
        let identity = Identity::from_secret_bytes([sender; 32]);
        let header = Header {
            kind: Kind::BuddyRequest,
            mailbox: MailboxId([mailbox; 32]),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + 3600),
                seq,
            },
            sender: identity.public_key(),
            created_at: created,
            expires_at: NOW + 3600,
        };
        let mut body = vec![SEALED_SCHEME_V1];
        body.resize(body_len, 0xA5);
        (header.dht_key(), header.sign(&identity, &body))
    }

    /// `sender`'s tombstone for its record `bytes` (slot 0 of mailbox 1).
    fn tombstone_of(sender: u8, bytes: &[u8]) -> (DhtKey, Vec<u8>) {
        use pigeonhole::record::body::{BodyRules, Tombstone};
        let identity = Identity::from_secret_bytes([sender; 32]);
        let header = Header {
            kind: Kind::Tombstone,
            mailbox: MailboxId([1; 32]),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + 3600),
                seq: 0,
            },
            sender: identity.public_key(),
            created_at: NOW + 1,
            expires_at: NOW + 3600,
        };
        let body = Tombstone {
            replaced: pigeonhole::record::record_id(bytes),
        }
        .encode();
        (header.dht_key(), header.sign(&identity, &body))
    }

    fn store(limits: Limits) -> (SqliteRecordStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(NOW));
        let validator = Validator::new(Policy::default());
        let inner = Store::open_in_memory(validator.clone(), clock.clone()).unwrap();
        (
            SqliteRecordStore::new(inner, validator, clock.clone(), limits, Duration::ZERO)
                .unwrap(),
            clock,
        )
    }

    #[test]
    fn every_limit_holds_and_replacements_count_their_growth_only() {
        let limits = Limits {
            max_records_per_sender_per_mailbox: 2,
            max_records_per_mailbox: 3,
            max_total_bytes: 2_000,
            ..Limits::default()
        };
        let (mut store, clock) = store(limits);
        let put = |store: &mut SqliteRecordStore, (key, bytes): (DhtKey, Vec<u8>)| {
            store.put_checked(&key, &bytes)
        };

        assert!(put(&mut store, signed(1, 1, 0, NOW, 100)).is_ok());
        assert!(put(&mut store, signed(1, 1, 1, NOW, 100)).is_ok());
        let third = put(&mut store, signed(1, 1, 2, NOW, 100));
        assert!(
            matches!(
                third,
                Err(Refusal::Admit(AdmitError::Quota(
                    QuotaExceeded::SenderFull(2)
                )))
            ),
            "{third:?}"
        );
        assert!(put(&mut store, signed(2, 1, 2, NOW, 100)).is_ok());
        let fourth = put(&mut store, signed(3, 1, 3, NOW, 100));
        assert!(
            matches!(
                fourth,
                Err(Refusal::Admit(AdmitError::Quota(
                    QuotaExceeded::MailboxFull(3)
                )))
            ),
            "{fourth:?}"
        );

        // A second record of the sender in its own slot is another record
        // (keep both), so its cap applies …
        let second = put(&mut store, signed(1, 1, 0, NOW + 1, 300));
        assert!(
            matches!(
                second,
                Err(Refusal::Admit(AdmitError::Quota(
                    QuotaExceeded::SenderFull(2)
                )))
            ),
            "{second:?}"
        );
        // … while its tombstone replaces the record it names: no new
        // record, only the change in bytes.
        let before = store.totals().unwrap();
        let (key, first) = signed(1, 1, 0, NOW, 100);
        let (_, tombstone) = tombstone_of(1, &first);
        assert!(matches!(
            store.put_checked(&key, &tombstone),
            Ok((_, PutOutcome::Replaced(_)))
        ));
        let after = store.totals().unwrap();
        assert_eq!(after.records, before.records);
        assert_eq!(
            after.bytes,
            before.bytes - first.len() as u64 + tombstone.len() as u64
        );

        // The byte cap: other mailboxes fill up to it and no further.
        let mut refused = 0;
        for mailbox in 10..40 {
            if put(&mut store, signed(4, mailbox, 0, NOW, 200)).is_err() {
                refused += 1;
            }
        }
        assert!(refused > 0);
        assert!(store.totals().unwrap().bytes <= 2_000);
        assert_eq!(store.total_bytes, store.totals().unwrap().bytes);

        // Invalid bytes never pass; expired records are swept (no grace
        // here: the grace is the store's own test).
        let (key, mut bytes) = signed(5, 2, 0, NOW, 100);
        *bytes.last_mut().unwrap() ^= 1;
        assert!(matches!(
            store.put_checked(&key, &bytes),
            Err(Refusal::Store(_))
        ));
        clock.advance(3600);
        assert!(store.sweep().unwrap() > 0);
        assert_eq!(store.totals().unwrap().records, 0);
        assert_eq!(store.total_bytes, 0);
    }
}

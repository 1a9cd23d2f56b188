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
//! goes through one path: the core's [`Validator`], then the core's slot
//! rule and the [`Limits`] in one transaction ([`Store::put_with`]), where
//! fair storage may displace the largest holder's records to make room
//! (see [`crate::quota`]; displacements are logged and counted in
//! [`StoreStats`]). Nothing else decides.
//!
//! Kademlia's own expiry (`Record::expires`) is not used: records carry a
//! signed absolute expiry that the validator checks with the node's clock.
//! An expired record is never served, but it is deleted only once the
//! clock has shown it expired for the configured grace period of elapsed
//! time (`NodeConfig::expiry_grace`, see `pigeonhole::store::expiry`): a
//! clock that jumps forward and comes back loses nothing.
//! Provider records are not part of the protocol and are refused.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use libp2p::PeerId;
use libp2p::kad::store::{self, RecordStore};
use libp2p::kad::{ProviderRecord, Record as KadRecord, RecordKey};
use pigeonhole::clock::Clock;
use pigeonhole::record::{DhtKey, MailboxId, Record, Validator};
use pigeonhole::store::expiry::SweepTimer;
use pigeonhole::store::{PutOutcome, Store, StoreError, Totals};
use tracing::{debug, info, warn};

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

/// What the store holds and what its quotas did, for apps and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records held.
    pub records: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Mailboxes the app protects ([`crate::Node::protect_mailboxes`]).
    pub protected_mailboxes: usize,
    /// Records displaced by fair storage since the node started.
    pub displaced_records: u64,
    /// Bytes of those records.
    pub displaced_bytes: u64,
    /// Records refused by a quota since the node started.
    pub refused_quota: u64,
}

/// A Kademlia record store on SQLite, validating every write and read.
#[derive(Debug)]
pub struct SqliteRecordStore {
    store: Store,
    validator: Validator,
    clock: Arc<dyn Clock>,
    limits: Limits,
    /// Mailboxes whose records only their own mailbox's newcomers displace
    /// (see [`crate::quota`]).
    protected: HashSet<MailboxId>,
    displaced_records: u64,
    displaced_bytes: u64,
    /// Displaced since the last sweep (logged there as one line).
    displaced_since_sweep: u64,
    refused_quota: u64,
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
        Ok(Self {
            store,
            validator,
            clock,
            limits,
            protected: HashSet::new(),
            displaced_records: 0,
            displaced_bytes: 0,
            displaced_since_sweep: 0,
            refused_quota: 0,
            last_refusal: None,
            expiry_grace,
            sweep_timer: SweepTimer::new(),
        })
    }

    /// The SQLite store underneath (outbox, totals).
    pub fn inner(&self) -> &Store {
        &self.store
    }

    /// Replaces the set of protected mailboxes (the app's own user's
    /// inbox, the feeds and documents it follows, its buddies' inboxes).
    pub fn set_protected(&mut self, mailboxes: impl IntoIterator<Item = MailboxId>) {
        self.protected = mailboxes.into_iter().collect();
        debug!(protected = self.protected.len(), "protected mailboxes set");
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
    /// Records displaced to make room are logged and counted.
    pub fn put_validated(&mut self, record: &Record) -> Result<PutOutcome, Refusal> {
        let limits = self.limits;
        let protected = &self.protected;
        let admitted = self.store.put_with(record, |shares, replaced| {
            limits
                .admit(shares, record, replaced, protected)
                .map_err(Refusal::Admit)
        });
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(refusal) => {
                if matches!(refusal, Refusal::Admit(AdmitError::Quota(_))) {
                    self.refused_quota += 1;
                }
                return Err(refusal);
            }
        };
        for victim in &admitted.evicted {
            debug!(
                sender = %victim.sender,
                mailbox = %hex::encode(&victim.mailbox.0[..8]),
                size = victim.size,
                expires_at = victim.expires_at,
                newcomer = %record.header.sender,
                "record displaced to make room (fair storage)"
            );
            self.displaced_records += 1;
            self.displaced_since_sweep += 1;
            self.displaced_bytes += victim.size;
        }
        Ok(admitted.outcome)
    }

    /// What the store holds and what its quotas did.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let totals = self.store.totals()?;
        Ok(StoreStats {
            records: totals.records,
            bytes: totals.bytes,
            protected_mailboxes: self.protected.len(),
            displaced_records: self.displaced_records,
            displaced_bytes: self.displaced_bytes,
            refused_quota: self.refused_quota,
        })
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
    /// the grace period are deleted; how many held records were. Also logs
    /// what fair storage displaced since the last sweep (one line).
    pub fn sweep(&mut self) -> Result<usize, StoreError> {
        let elapsed = self.sweep_timer.lap();
        let swept = self.store.sweep_expired(elapsed, self.expiry_grace)?;
        if self.displaced_since_sweep > 0 {
            info!(
                displaced = self.displaced_since_sweep,
                total = self.displaced_records,
                "records displaced by fair storage since the last sweep"
            );
            self.displaced_since_sweep = 0;
        }
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
        // (A full mailbox and a full store displace by share: see the
        // tests of `crate::quota`.)

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
        assert_eq!(store.totals().unwrap(), Totals::default());
    }
}

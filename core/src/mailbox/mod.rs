//! The sequenced mailbox: many records per recipient on a DHT that keeps one
//! value per key (the seed's central idea).
//!
//! A mailbox is a primary id; each record sits in a slot named by an
//! instance id `(bucket, seq)`, where `bucket` is the UTC day in which the
//! record expires. Grouping by *expiry* day rather than creation day means
//! every record in a bucket disappears on the same day, so gaps left by
//! expired records can only appear in the bucket of the current day, and a
//! reader only has to scan the buckets from today to today plus the longest
//! lifetime: cost grows with live records, not with history.
//!
//! * [`Mailbox::publish`] finds a free slot of the record's bucket by
//!   galloping (1, 2, 4, … slots ahead of a remembered hint) and binary
//!   search, puts, reads back, and on a lost race searches again further on.
//! * [`Mailbox::fetch_all`] probes every bucket concurrently, each in
//!   windows of parallel gets that grow while they are full, and stops a
//!   bucket after a run of misses as long as the first window. Deleted
//!   records leave tombstones, which count as occupied; a slot whose record
//!   is served but expired counts as occupied too.
//! * [`Mailbox::delete`] writes a tombstone into the record's own slot; the
//!   [`crate::slot_rule`] ensures nobody else can overwrite it.

mod dht;
mod memory;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use tracing::{debug, warn};

pub use dht::{Dht, DhtError, ListCursor, ListPage};
pub use memory::MemoryDht;

use crate::clock::Clock;
use crate::identity::Identity;
use crate::record::body::{BodyRules, Tombstone};
use crate::record::{
    DhtKey, ErrorKind, HEADER_LEN, Header, InstanceId, Kind, MAX_BODY_BYTES, MailboxId, Record,
    RecordError, SIGNATURE_LEN, Validator,
};

/// Tuning of the slot search and the scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxConfig {
    /// Gets in a bucket's first probe window; also the run of misses that
    /// ends a bucket's scan. A gap of expired slots shorter than this never
    /// ends a scan early.
    pub window: u32,
    /// Largest probe window, reached by doubling while windows are full.
    pub max_window: u32,
    /// Slots a publish may try before giving up with
    /// [`MailboxError::Contention`].
    pub max_attempts: u32,
    /// Highest sequence number in a bucket.
    pub max_seq: u32,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        Self {
            window: 8,
            max_window: 128,
            max_attempts: 64,
            max_seq: 1 << 20,
        }
    }
}

/// What to publish: everything of a record except its slot and signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The record kind.
    pub kind: Kind,
    /// The mailbox to publish into.
    pub mailbox: MailboxId,
    /// The encoded body (ciphertext for sealed kinds).
    pub body: Vec<u8>,
    /// Seconds from now until the record expires.
    pub lifetime_secs: u64,
}

/// Why a mailbox operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// The DHT could not be used.
    #[error(transparent)]
    Dht(#[from] DhtError),
    /// The record would not pass validation (a bad draft).
    #[error("the record would be invalid: {0}")]
    Invalid(#[from] RecordError),
    /// Every slot tried was won by another writer.
    #[error("gave up after {attempts} slots were taken by concurrent writers")]
    Contention {
        /// Slots tried.
        attempts: u32,
    },
    /// The bucket has no free slot below the configured maximum.
    #[error("bucket {bucket} of the mailbox is full")]
    BucketFull {
        /// The full bucket.
        bucket: u32,
    },
    /// Only a record's sender can delete it.
    #[error("only the sender of a record can delete it")]
    NotSender,
}

/// Counts from one [`Mailbox::fetch_all`], for logs and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Buckets scanned.
    pub buckets: u32,
    /// DHT gets issued.
    pub gets: u64,
    /// Sequential rounds of parallel gets (the longest bucket's count).
    pub rounds: u32,
    /// Values that failed validation and were dropped.
    pub rejected: u32,
    /// Tombstones passed over.
    pub tombstones: u32,
    /// Slots whose record was served but expired.
    pub expired: u32,
}

/// The live records of a mailbox, ordered by instance id.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// Valid, unexpired, undeleted records.
    pub records: Vec<Record>,
    /// Tombstones found in the scanned slots, so readers can forget what
    /// they kept of the records deleted (a withdrawn request, say).
    pub tombstones: Vec<Record>,
    /// What it cost.
    pub stats: FetchStats,
}

/// What one probe of a slot found.
enum Probe {
    Empty,
    /// Taken by a record that is not shown (tombstone, or served expired).
    Occupied(Skipped),
    Live(Box<Record>),
    /// Served bytes that are not a valid record: not proof of occupancy.
    Invalid,
}

enum Skipped {
    Tombstone(Box<Record>),
    Expired,
}

/// Publishes into and reads from sequenced mailboxes on a [`Dht`].
pub struct Mailbox<D> {
    dht: D,
    validator: Validator,
    clock: Arc<dyn Clock>,
    config: MailboxConfig,
    /// Next slot to try per (mailbox, bucket), learned from earlier publishes.
    hints: Mutex<HashMap<(MailboxId, u32), u32>>,
    /// Slots a publish of this process is trying right now.
    claimed: Mutex<HashSet<Slot>>,
}

type Slot = (MailboxId, u32, u32);

/// A slot reserved for one publish of this process; released on drop.
struct SlotClaim<'a> {
    claimed: &'a Mutex<HashSet<Slot>>,
    slot: Slot,
    seq: u32,
}

impl Drop for SlotClaim<'_> {
    fn drop(&mut self) {
        if let Ok(mut claimed) = self.claimed.lock() {
            claimed.remove(&self.slot);
        }
    }
}

impl<D: Dht> Mailbox<D> {
    /// A mailbox client over `dht`.
    pub fn new(dht: D, validator: Validator, clock: Arc<dyn Clock>, config: MailboxConfig) -> Self {
        Self {
            dht,
            validator,
            clock,
            config,
            hints: Mutex::new(HashMap::new()),
            claimed: Mutex::new(HashSet::new()),
        }
    }

    /// The DHT underneath.
    pub fn dht(&self) -> &D {
        &self.dht
    }

    /// The validator in use.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Signs `draft` as `identity` into a free slot and confirms it by
    /// reading it back. Returns the stored record.
    pub async fn publish(&self, identity: &Identity, draft: Draft) -> Result<Record, MailboxError> {
        if draft.body.len() > MAX_BODY_BYTES {
            return Err(MailboxError::Invalid(RecordError::TooLarge {
                size: HEADER_LEN + draft.body.len() + SIGNATURE_LEN,
                max: self.validator.policy().max_record_bytes,
            }));
        }
        let now = self.clock.now();
        let expires_at = now.saturating_add(draft.lifetime_secs);
        let bucket = InstanceId::bucket_of(expires_at);
        let header_at = |seq| Header {
            kind: draft.kind,
            mailbox: draft.mailbox,
            instance: InstanceId { bucket, seq },
            sender: identity.public_key(),
            created_at: now,
            expires_at,
        };
        // Check the draft once, locally, so a bad one fails with its reason
        // instead of as a refused put.
        let probe_header = header_at(0);
        self.validator
            .validate(
                &probe_header.dht_key(),
                &probe_header.sign(identity, &draft.body),
                now,
            )
            .map_err(MailboxError::Invalid)?;

        let mut start = self.hint(draft.mailbox, bucket);
        for attempt in 1..=self.config.max_attempts {
            let claim = self.claim_free(draft.mailbox, bucket, start).await?;
            let seq = claim.seq;
            let header = header_at(seq);
            let key = header.dht_key();
            let bytes = header.sign(identity, &draft.body);
            let put = self.dht.put(key, bytes.clone()).await;
            let won = match put {
                Ok(()) => self.dht.get(key).await?.as_deref() == Some(&bytes[..]),
                Err(DhtError::Taken) => {
                    debug!(seq, "slot taken");
                    false
                }
                Err(error) => return Err(error.into()),
            };
            if won {
                self.set_hint(draft.mailbox, bucket, seq + 1);
                debug!(kind = %draft.kind, bucket, seq, attempt, "published");
                return Ok(self.validator.validate(&key, &bytes, now)?);
            }
            start = seq.saturating_add(1);
        }
        warn!(bucket, "publish gave up: slots kept being taken");
        Err(MailboxError::Contention {
            attempts: self.config.max_attempts,
        })
    }

    /// A free slot at or after `start` that no other publish of this
    /// process is trying: concurrent publishes here never race each other
    /// for one slot (the slot rule would let a same-sender newer record
    /// overwrite the one just read back).
    async fn claim_free(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        mut start: u32,
    ) -> Result<SlotClaim<'_>, MailboxError> {
        loop {
            let seq = self.find_free(mailbox, bucket, start).await?;
            let mut claimed = self.claimed.lock().expect("poisoned");
            if claimed.insert((mailbox, bucket, seq)) {
                return Ok(SlotClaim {
                    claimed: &self.claimed,
                    slot: (mailbox, bucket, seq),
                    seq,
                });
            }
            start = seq
                .checked_add(1)
                .ok_or(MailboxError::BucketFull { bucket })?;
        }
    }

    /// Every live record of `mailbox` whose lifetime is within the policy's
    /// longest, ordered by instance id.
    pub async fn fetch_all(&self, mailbox: MailboxId) -> Result<Fetched, MailboxError> {
        self.fetch_within(mailbox, self.validator.policy().longest_lifetime())
            .await
    }

    /// Like [`Mailbox::fetch_all`], scanning only buckets a record of at
    /// most `max_lifetime` seconds can be in (fewer gets for short-lived
    /// kinds).
    pub async fn fetch_within(
        &self,
        mailbox: MailboxId,
        max_lifetime: u64,
    ) -> Result<Fetched, MailboxError> {
        let now = self.clock.now();
        let skew = self.validator.policy().clock_skew_secs;
        let first = InstanceId::bucket_of(now);
        let last = InstanceId::bucket_of(now.saturating_add(skew).saturating_add(max_lifetime));
        let scans = (first..=last).map(|bucket| self.scan_bucket(mailbox, bucket, now));
        let mut fetched = Fetched::default();
        for scan in join_all(scans).await {
            let Fetched {
                records,
                tombstones,
                stats,
            } = scan?;
            fetched.records.extend(records);
            fetched.tombstones.extend(tombstones);
            let total = &mut fetched.stats;
            total.buckets += 1;
            total.gets += stats.gets;
            total.rounds = total.rounds.max(stats.rounds);
            total.rejected += stats.rejected;
            total.tombstones += stats.tombstones;
            total.expired += stats.expired;
        }
        fetched.records.sort_by_key(|record| record.header.instance);
        debug!(
            live = fetched.records.len(),
            gets = fetched.stats.gets,
            rounds = fetched.stats.rounds,
            rejected = fetched.stats.rejected,
            "mailbox fetched"
        );
        Ok(fetched)
    }

    /// Deletes `record` (which `identity` sent) by writing a tombstone into
    /// its slot. Returns the tombstone.
    pub async fn delete(
        &self,
        identity: &Identity,
        record: &Record,
    ) -> Result<Record, MailboxError> {
        if record.header.sender != identity.public_key() {
            return Err(MailboxError::NotSender);
        }
        let now = self.clock.now();
        let header = Header {
            kind: Kind::Tombstone,
            created_at: now.max(record.header.created_at + 1),
            ..record.header
        };
        let body = Tombstone {
            replaced: record.id(),
        }
        .encode();
        let bytes = header.sign(identity, &body);
        let key = header.dht_key();
        let tombstone = self.validator.validate(&key, &bytes, now)?;
        self.dht.put(key, bytes.clone()).await?;
        if self.dht.get(key).await?.as_deref() != Some(&bytes[..]) {
            return Err(DhtError::Rejected("tombstone did not replace the record".into()).into());
        }
        Ok(tombstone)
    }

    async fn probe(&self, key: DhtKey, now: u64) -> Result<Probe, MailboxError> {
        let Some(bytes) = self.dht.get(key).await? else {
            return Ok(Probe::Empty);
        };
        Ok(match self.validator.validate(&key, &bytes, now) {
            Ok(record) if record.header.kind == Kind::Tombstone => {
                Probe::Occupied(Skipped::Tombstone(Box::new(record)))
            }
            Ok(record) => Probe::Live(Box::new(record)),
            Err(error) if error.kind() == ErrorKind::Expired => Probe::Occupied(Skipped::Expired),
            Err(error) => {
                debug!(%error, "dropped an invalid value from the DHT");
                Probe::Invalid
            }
        })
    }

    async fn occupied(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        seq: u32,
    ) -> Result<bool, MailboxError> {
        let key = DhtKey::for_slot(&mailbox, InstanceId { bucket, seq });
        let probe = self.probe(key, self.clock.now()).await?;
        Ok(matches!(probe, Probe::Live(_) | Probe::Occupied(_)))
    }

    /// The first free slot at or after `start` found by galloping then
    /// binary search: O(log n) gets when n slots past `start` are taken.
    async fn find_free(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        start: u32,
    ) -> Result<u32, MailboxError> {
        let max = self.config.max_seq;
        let full = MailboxError::BucketFull { bucket };
        if start > max {
            return Err(full);
        }
        if !self.occupied(mailbox, bucket, start).await? {
            return Ok(start);
        }
        let (mut taken, mut step) = (start, 1u32);
        let mut free = loop {
            let next = taken.saturating_add(step).min(max);
            if next == taken {
                return Err(full);
            }
            if !self.occupied(mailbox, bucket, next).await? {
                break next;
            }
            taken = next;
            step = step.saturating_mul(2);
        };
        while free - taken > 1 {
            let mid = taken + (free - taken) / 2;
            if self.occupied(mailbox, bucket, mid).await? {
                taken = mid;
            } else {
                free = mid;
            }
        }
        Ok(free)
    }

    async fn scan_bucket(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        now: u64,
    ) -> Result<Fetched, MailboxError> {
        let mut stats = FetchStats::default();
        let mut records = Vec::new();
        let mut tombstones = Vec::new();
        let (mut seq, mut window, mut misses) = (0u32, self.config.window.max(1), 0u32);
        while seq <= self.config.max_seq {
            let end = seq
                .saturating_add(window)
                .min(self.config.max_seq.saturating_add(1));
            if end <= seq {
                break;
            }
            let probes = (seq..end).map(|s| {
                self.probe(
                    DhtKey::for_slot(&mailbox, InstanceId { bucket, seq: s }),
                    now,
                )
            });
            let results = join_all(probes).await;
            stats.rounds += 1;
            stats.gets += u64::from(end - seq);
            let mut all_hits = true;
            for result in results {
                match result? {
                    Probe::Live(record) => {
                        misses = 0;
                        records.push(*record);
                    }
                    Probe::Occupied(skipped) => {
                        misses = 0;
                        match skipped {
                            Skipped::Tombstone(record) => {
                                stats.tombstones += 1;
                                tombstones.push(*record);
                            }
                            Skipped::Expired => stats.expired += 1,
                        }
                    }
                    probe @ (Probe::Empty | Probe::Invalid) => {
                        if matches!(probe, Probe::Invalid) {
                            stats.rejected += 1;
                        }
                        misses += 1;
                        all_hits = false;
                    }
                }
            }
            if misses >= self.config.window.max(1) {
                break;
            }
            if all_hits {
                window = window.saturating_mul(2).min(self.config.max_window.max(1));
            }
            seq = end;
        }
        Ok(Fetched {
            records,
            tombstones,
            stats,
        })
    }

    fn hint(&self, mailbox: MailboxId, bucket: u32) -> u32 {
        let hints = self.hints.lock().expect("poisoned");
        hints.get(&(mailbox, bucket)).copied().unwrap_or(0)
    }

    fn set_hint(&self, mailbox: MailboxId, bucket: u32, next: u32) {
        let mut hints = self.hints.lock().expect("poisoned");
        let entry = hints.entry((mailbox, bucket)).or_insert(0);
        *entry = (*entry).max(next);
    }
}

//! The sequenced mailbox: many records per recipient on a DHT (the seed's
//! central idea), with listing reads where the DHT offers them.
//!
//! A mailbox is a primary id; each record sits in a slot named by an
//! instance id `(bucket, seq)`, where `bucket` is the UTC day in which the
//! record expires. Grouping by *expiry* day rather than creation day means
//! every record in a bucket disappears on the same day, so a reader only
//! looks at the buckets from today to today plus the longest lifetime: cost
//! grows with live records, not with history.
//!
//! Two paths, chosen per call by what the [`Dht`] answers (protocol v2,
//! `docs/PROTOCOL.md` §8):
//!
//! * **Listing** (peers that keep a mailbox together): [`Mailbox::publish`]
//!   asks the replicas for the bucket's next sequence number and puts there,
//!   asking again when the slot turns out taken; reads page through "records
//!   of M after cursor C". An idle sync costs one request.
//! * **Probe scan** (a plain single-value DHT, [`MemoryDht::new`]): a writer
//!   takes the *first* free slot at or after its hint, found by windows of
//!   parallel gets exactly like a reader scans, so every record it places is
//!   reachable by a reader that stops after `window` misses — whatever
//!   pattern a hostile sender occupied before. Expired records stay served
//!   as occupancy markers until their bucket's day is over, so an expired
//!   prefix does not end a scan either.
//!
//! Both paths validate every record with the one [`Validator`], drop
//! invalid and expired ones, and report tombstones. Only
//! [`DhtError::Taken`] moves a publish to another slot; every other refusal
//! ends it with that error, so no record is left where no reader looks.

mod dht;
mod listing;
mod memory;
mod probe;
mod publish;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tracing::debug;

pub use dht::{Dht, DhtError, ListCursor, ListPage};
pub use memory::MemoryDht;

use crate::clock::Clock;
use crate::identity::Identity;
use crate::record::body::{BodyRules, Content, Tombstone};
use crate::record::{InstanceId, Kind, MailboxId, Record, RecordError, Validator};

/// Tuning of the slot search, the scan and listing reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxConfig {
    /// Gets in a bucket's first probe window; also the run of misses that
    /// ends a bucket's scan, and the window a writer scans for a free slot.
    pub window: u32,
    /// Largest probe window, reached by doubling while windows are full.
    pub max_window: u32,
    /// Slots a publish may find taken before giving up with
    /// [`MailboxError::Contention`].
    pub max_attempts: u32,
    /// Highest sequence number in a bucket.
    pub max_seq: u32,
    /// Records asked for per listing page.
    pub list_page: u32,
    /// Listing pages one fetch reads at most (then it reports
    /// [`FetchStats::truncated`] and a cursor to continue from).
    pub max_list_pages: u32,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        Self {
            window: 8,
            max_window: 128,
            max_attempts: 64,
            max_seq: 1 << 20,
            list_page: 256,
            max_list_pages: 64,
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
    /// The DHT could not be used, or refused the record for a reason another
    /// slot would not fix.
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

/// Counts from one fetch, for logs and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Buckets read.
    pub buckets: u32,
    /// DHT gets issued (probe scan).
    pub gets: u64,
    /// Listing pages asked for.
    pub lists: u64,
    /// Network requests in all: gets, listing pages and next-seq questions.
    pub requests: u64,
    /// Sequential rounds of requests (the longest bucket's count).
    pub rounds: u32,
    /// Values that failed validation and were dropped.
    pub rejected: u32,
    /// Tombstones passed over.
    pub tombstones: u32,
    /// Records served but expired (occupancy markers), dropped.
    pub expired: u32,
    /// Records dropped because a tombstone of their sender names them.
    pub deleted: u32,
    /// Whether the listing stopped at [`MailboxConfig::max_list_pages`]
    /// before the end; continue with [`Mailbox::fetch_since`] and the cursor.
    pub truncated: bool,
}

/// The live records of a mailbox, ordered by instance id.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// Valid, unexpired, undeleted records.
    pub records: Vec<Record>,
    /// Tombstones found, so readers can forget what they kept of the records
    /// deleted (a withdrawn request, say).
    pub tombstones: Vec<Record>,
    /// The last record or tombstone seen in listing order: pass it to
    /// [`Mailbox::fetch_since`] to get only what comes after. The cursor
    /// passed in when nothing new was seen.
    pub cursor: Option<ListCursor>,
    /// What it cost.
    pub stats: FetchStats,
}

impl Fetched {
    /// Sorts into listing order, drops records a tombstone of the same sender
    /// in the same slot names (on storage that keeps both), and sets the
    /// cursor to the last item seen, or `after` when nothing was.
    fn finish(mut self, after: Option<ListCursor>) -> Self {
        let named: HashSet<_> = self
            .tombstones
            .iter()
            .filter_map(|tombstone| match &tombstone.content {
                Content::Tombstone(body) => Some((
                    tombstone.header.sender,
                    tombstone.header.instance,
                    body.replaced,
                )),
                _ => None,
            })
            .collect();
        let before = self.records.len();
        self.records.retain(|record| {
            !named.contains(&(record.header.sender, record.header.instance, record.id()))
        });
        self.stats.deleted += (before - self.records.len()) as u32;
        self.records.sort_by_key(cursor_of);
        self.tombstones.sort_by_key(cursor_of);
        let last_seen = self
            .records
            .last()
            .into_iter()
            .chain(self.tombstones.last())
            .map(cursor_of)
            .max();
        self.cursor = last_seen.max(after);
        self.stats.requests = self.stats.gets + self.stats.lists;
        self
    }
}

/// A record's place in listing order.
pub fn cursor_of(record: &Record) -> ListCursor {
    ListCursor {
        instance: record.header.instance,
        record_id: record.id(),
    }
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

    /// Every live record of `mailbox` whose lifetime is within the policy's
    /// longest, ordered by instance id.
    pub async fn fetch_all(&self, mailbox: MailboxId) -> Result<Fetched, MailboxError> {
        self.fetch_within(mailbox, self.validator.policy().longest_lifetime())
            .await
    }

    /// Like [`Mailbox::fetch_all`], reading only buckets a record of at most
    /// `max_lifetime` seconds can be in (fewer gets for short-lived kinds).
    pub async fn fetch_within(
        &self,
        mailbox: MailboxId,
        max_lifetime: u64,
    ) -> Result<Fetched, MailboxError> {
        self.fetch(mailbox, None, max_lifetime).await
    }

    /// The live records (and tombstones) of `mailbox` after `after` in
    /// listing order (all of them with `None`), with the cursor to pass next
    /// time. A record that lands before the cursor later (a shorter-lived
    /// record in an earlier bucket, a filled hole on the probe path) is not
    /// returned here; [`Mailbox::fetch_all`] finds it.
    pub async fn fetch_since(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
    ) -> Result<Fetched, MailboxError> {
        self.fetch(mailbox, after, self.validator.policy().longest_lifetime())
            .await
    }

    async fn fetch(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        max_lifetime: u64,
    ) -> Result<Fetched, MailboxError> {
        let now = self.clock.now();
        let skew = self.validator.policy().clock_skew_secs;
        let first = InstanceId::bucket_of(now);
        let last = InstanceId::bucket_of(now.saturating_add(skew).saturating_add(max_lifetime));
        let fetched = match self.list_buckets(mailbox, after, first..=last, now).await? {
            Some(listed) => listed,
            None => self.scan_buckets(mailbox, after, first..=last, now).await?,
        };
        let fetched = fetched.finish(after);
        debug!(
            live = fetched.records.len(),
            requests = fetched.stats.requests,
            rounds = fetched.stats.rounds,
            rejected = fetched.stats.rejected,
            "mailbox fetched"
        );
        Ok(fetched)
    }

    /// Deletes `record` (which `identity` sent) by writing a tombstone that
    /// names it into its slot. Returns the tombstone. The put's answer is
    /// the storing peers' judgement: the slot rule lets only this tombstone
    /// replace the record, so there is nothing to read back.
    pub async fn delete(
        &self,
        identity: &Identity,
        record: &Record,
    ) -> Result<Record, MailboxError> {
        if record.header.sender != identity.public_key() {
            return Err(MailboxError::NotSender);
        }
        let now = self.clock.now();
        let header = crate::record::Header {
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
        self.dht.put(key, bytes).await?;
        Ok(tombstone)
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

//! Storage limits of a storing node, and how an inbound record is checked
//! against them.
//!
//! A phone holds records for strangers, so nothing a peer sends may grow its
//! file without bound or push out what it already holds. The rules are
//! applied *after* the validator and *before* the keep-both rule writes: a
//! record that would exceed a limit is refused, and records already held are
//! never evicted to make room (first come, first kept). Counts are per
//! record held (two records of one slot count twice). A tombstone replacing
//! the record it deletes adds no record and only counts the change in size.

use pigeonhole::record::{MAX_RECORD_BYTES, Record};
use pigeonhole::store::{Store, StoreError};

/// Storage quotas. Defaults suit a phone: a few tens of MiB at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded record held (capped at the protocol's
    /// [`MAX_RECORD_BYTES`] by the validator anyway).
    pub max_record_bytes: usize,
    /// Records one sender may have in one mailbox.
    pub max_records_per_sender_per_mailbox: u64,
    /// Records held for one mailbox, all senders together.
    pub max_records_per_mailbox: u64,
    /// Bytes of records held in total.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_record_bytes: MAX_RECORD_BYTES,
            max_records_per_sender_per_mailbox: 256,
            max_records_per_mailbox: 4096,
            max_total_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Which limit a record would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    /// The record is larger than allowed.
    #[error("record of {size} bytes is over the {max}-byte limit")]
    RecordTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Its sender already has the maximum in this mailbox.
    #[error("sender already has {0} records in this mailbox")]
    SenderFull(u64),
    /// The mailbox already has the maximum.
    #[error("mailbox already holds {0} records")]
    MailboxFull(u64),
    /// The store is full.
    #[error("store is full ({0} bytes)")]
    StoreFull(u64),
}

/// Why a record was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// A limit would be broken.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Limits {
    /// Checks whether `record` may be written into `store`, which holds
    /// `total_bytes` in all; `replaces` is the size of the record it would
    /// remove (a tombstone deleting a held record), if any.
    pub fn admit(
        &self,
        store: &Store,
        record: &Record,
        replaces: Option<u64>,
        total_bytes: u64,
    ) -> Result<(), AdmitError> {
        let size = record.bytes().len();
        if size > self.max_record_bytes {
            return Err(QuotaExceeded::RecordTooLarge {
                size,
                max: self.max_record_bytes,
            }
            .into());
        }
        let grows_by = (size as u64).saturating_sub(replaces.unwrap_or(0));
        if total_bytes.saturating_add(grows_by) > self.max_total_bytes {
            return Err(QuotaExceeded::StoreFull(total_bytes).into());
        }
        if replaces.is_some() {
            // A tombstone taking its record's place adds no record.
            return Ok(());
        }
        let header = &record.header;
        let sender = store
            .sender_totals(&header.mailbox, &header.sender)?
            .records;
        if sender >= self.max_records_per_sender_per_mailbox {
            return Err(QuotaExceeded::SenderFull(sender).into());
        }
        let mailbox = store.mailbox_totals(&header.mailbox)?.records;
        if mailbox >= self.max_records_per_mailbox {
            return Err(QuotaExceeded::MailboxFull(mailbox).into());
        }
        Ok(())
    }
}

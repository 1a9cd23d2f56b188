//! Storage limits of a storing node, and how an inbound record is checked
//! against them: fair storage (issue 11).
//!
//! A phone holds records for strangers, so nothing a peer sends may grow
//! its file without bound. Until issue 11 the rule was "first come, first
//! kept": keys and feed mailboxes cost nothing, so one attacker filled
//! every node of a LAN and every later record — buddy requests included —
//! was refused for 30 days. Now a full store or mailbox makes room for a
//! newcomer that holds *less* than the largest holder by displacing that
//! holder's records:
//!
//! * **Hard shares.** A sender holds at most
//!   [`Limits::max_records_per_sender_per_mailbox`] records in a mailbox and
//!   [`Limits::max_bytes_per_sender`] bytes in the whole store; a mailbox
//!   holds at most [`Limits::max_records_per_mailbox`] records and
//!   [`Limits::max_bytes_per_mailbox`] bytes. A sender at its own share is
//!   refused (it never displaces itself).
//! * **Full mailbox.** A newcomer sender holding fewer records in the
//!   mailbox than the mailbox's largest sender (most records, then most
//!   bytes, then the larger key) displaces that sender's records there
//!   until there is room; otherwise it is refused.
//! * **Full store.** A newcomer sender holding fewer bytes in the store
//!   than the store's largest sender displaces that sender's records until
//!   there is room; otherwise it is refused. So a sender holding nothing is
//!   always admitted while anyone else holds an unprotected record, and a
//!   sender is displaced only while it holds the most. Two senders of
//!   equal size may displace each other back and forth; each step costs
//!   one of their own writes, so it is bounded by what they send. Why by
//!   sender and not by mailbox: a busy honest inbox legitimately holds many
//!   senders' records, while every honest *sender* holds little; mailbox
//!   ids are as free to mint as keys, so neither dimension is sybil-proof,
//!   but by sender an attacker must spread its flood over more keys than
//!   the honest sender's holdings divide into the store before it can push
//!   out a single honest record.
//! * **Protected mailboxes.** Records in the mailboxes the node's own app
//!   protects (its user's inbox, followed feeds, buddies' inboxes:
//!   `Node::protect_mailboxes`) are never displaced by records of other
//!   mailboxes, and a record *into* one of them displaces the largest
//!   holder unconditionally while protected records stay within
//!   [`Limits::reserved_bytes`]. Spam *inside* a protected mailbox is still
//!   displaced by newcomers to that mailbox (the full-mailbox rule).
//!
//! Which of the largest holder's records goes first: tombstones last (a
//! deleted record must stay deleted), then the **latest-expiring**, then
//! the highest record id. Why: every one of these is signed, so every
//! replica holding the same set displaces the same records and replica
//! repair does not pull them back (it would offer them to a holder that is
//! already the largest, and be refused); the latest-expiring record frees
//! its space for the longest time, and a flooder's 30-day junk goes before
//! anyone's short-lived request. Arrival order ("newest") would differ
//! between replicas.
//!
//! A displaced record was acknowledged to its writer. It is not an
//! acknowledged loss in the sense of the delivery guarantee: a sender is
//! only displaced while it holds more than the newcomer — more than its
//! fair share of a full node — and only down to that share; every record
//! of a sender that stays within its share is kept. Evictions are logged
//! and counted ([`crate::record_store::StoreStats`]).
//!
//! The rules apply *after* the validator and inside the keep-both rule's
//! write transaction: a put that is refused half-way evicts nothing.
//! Counts are per record held (two records of one slot count twice). A
//! tombstone replacing the record it deletes adds no record and only counts
//! the change in size.

use std::collections::HashSet;

use pigeonhole::record::{MAX_RECORD_BYTES, MailboxId, Record};
use pigeonhole::store::{Shares, StoreError};

/// Most records one put may displace (a large record among tiny ones).
const MAX_EVICTIONS_PER_PUT: usize = 128;
/// Largest holders looked at for one eviction; holders whose every record
/// is protected are skipped.
const CANDIDATES: u32 = 8;

/// Storage quotas. Defaults suit a phone: a few tens of MiB at most. When
/// shrinking [`Limits::max_total_bytes`], shrink the shares with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded record held (capped at the protocol's
    /// [`MAX_RECORD_BYTES`] by the validator anyway).
    pub max_record_bytes: usize,
    /// Records one sender may have in one mailbox.
    pub max_records_per_sender_per_mailbox: u64,
    /// Records held for one mailbox, all senders together.
    pub max_records_per_mailbox: u64,
    /// Bytes held for one mailbox, all senders together (default: a
    /// quarter of the store).
    pub max_bytes_per_mailbox: u64,
    /// Bytes one sender may hold in all mailboxes together (default: an
    /// eighth of the store).
    pub max_bytes_per_sender: u64,
    /// Bytes of records held in total.
    pub max_total_bytes: u64,
    /// Bytes of records in protected mailboxes that may displace any
    /// unprotected record to get in (default: a quarter of the store).
    /// Nothing is kept empty for them: the reserve is a right to displace.
    pub reserved_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let total = 32 * 1024 * 1024;
        Self {
            max_record_bytes: MAX_RECORD_BYTES,
            max_records_per_sender_per_mailbox: 256,
            max_records_per_mailbox: 4096,
            max_bytes_per_mailbox: total / 4,
            max_bytes_per_sender: total / 8,
            max_total_bytes: total,
            reserved_bytes: total / 4,
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
    /// Its sender already holds its share of the whole store (bytes).
    #[error("sender already holds {0} bytes, its share of this store")]
    SenderShareFull(u64),
    /// The mailbox is full and its sender holds no less than the
    /// mailbox's largest sender.
    #[error("mailbox already holds {0} records")]
    MailboxFull(u64),
    /// The store is full and its sender holds no less than the store's
    /// largest sender.
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
    /// Checks whether `record` may be written, making room by displacement
    /// where the rules above allow (evictions go through `shares`, inside
    /// the put's transaction); `replaces` is the size of the record it
    /// removes (a tombstone deleting a held record), if any; `protected`
    /// are the mailboxes the node's own app protects.
    pub fn admit(
        &self,
        shares: &mut Shares<'_>,
        record: &Record,
        replaces: Option<u64>,
        protected: &HashSet<MailboxId>,
    ) -> Result<(), AdmitError> {
        let size = record.bytes().len();
        if size > self.max_record_bytes {
            return Err(QuotaExceeded::RecordTooLarge {
                size,
                max: self.max_record_bytes,
            }
            .into());
        }
        let size = size as u64;
        if let Some(replaced) = replaces {
            // A tombstone taking its record's place adds no record.
            return self.make_room_in_store(
                shares,
                record,
                size.saturating_sub(replaced),
                protected,
            );
        }
        let header = &record.header;
        let mine = shares.sender_in(&header.mailbox, &header.sender)?.records;
        if mine >= self.max_records_per_sender_per_mailbox {
            return Err(QuotaExceeded::SenderFull(mine).into());
        }
        let held = shares.sender(&header.sender)?.bytes;
        if held + size > self.max_bytes_per_sender {
            return Err(QuotaExceeded::SenderShareFull(held).into());
        }
        self.make_room_in_mailbox(shares, record, size)?;
        self.make_room_in_store(shares, record, size, protected)
    }

    /// Displaces the mailbox's largest sender until `record` fits in its
    /// mailbox, if its sender holds fewer records there.
    fn make_room_in_mailbox(
        &self,
        shares: &mut Shares<'_>,
        record: &Record,
        size: u64,
    ) -> Result<(), AdmitError> {
        let header = &record.header;
        let mine = shares.sender_in(&header.mailbox, &header.sender)?.records;
        for _ in 0..MAX_EVICTIONS_PER_PUT {
            let held = shares.mailbox(&header.mailbox)?;
            if held.records < self.max_records_per_mailbox
                && held.bytes + size <= self.max_bytes_per_mailbox
            {
                return Ok(());
            }
            let full = QuotaExceeded::MailboxFull(held.records);
            let Some((largest, theirs)) = shares.largest_in(&header.mailbox)? else {
                return Err(full.into());
            };
            if largest == header.sender || mine >= theirs.records {
                return Err(full.into());
            }
            let Some(victim) = shares.victim_of(&largest, Some(&header.mailbox), &|_| false)?
            else {
                return Err(full.into());
            };
            shares.evict(victim)?;
        }
        Err(QuotaExceeded::MailboxFull(shares.mailbox(&header.mailbox)?.records).into())
    }

    /// Displaces the store's largest senders until `grows` more bytes fit,
    /// if `record`'s sender holds less than them (or `record` is protected
    /// and within the reserve). Protected records are never displaced.
    fn make_room_in_store(
        &self,
        shares: &mut Shares<'_>,
        record: &Record,
        grows: u64,
        protected: &HashSet<MailboxId>,
    ) -> Result<(), AdmitError> {
        let header = &record.header;
        let spare = |mailbox: &MailboxId| protected.contains(mailbox);
        let mut reserved: Option<bool> = None;
        for _ in 0..MAX_EVICTIONS_PER_PUT {
            let total = shares.totals()?.bytes;
            if total + grows <= self.max_total_bytes {
                return Ok(());
            }
            let full = QuotaExceeded::StoreFull(total);
            // Within the reserve, a protected record displaces whoever holds
            // the most; protected records themselves do not change here.
            let within_reserve = match reserved {
                Some(within) => within,
                None => {
                    let within = protected.contains(&header.mailbox) && {
                        let mut held = 0;
                        for mailbox in protected {
                            held += shares.mailbox(mailbox)?.bytes;
                        }
                        held + grows <= self.reserved_bytes
                    };
                    reserved = Some(within);
                    within
                }
            };
            let mine = shares.sender(&header.sender)?.bytes;
            let mut chosen = None;
            for (sender, theirs) in shares.largest_senders(CANDIDATES)? {
                if !within_reserve && (sender == header.sender || mine >= theirs.bytes) {
                    // Holders come largest first: nobody further down holds more.
                    break;
                }
                if let Some(victim) = shares.victim_of(&sender, None, &spare)? {
                    chosen = Some(victim);
                    break;
                }
            }
            let Some(victim) = chosen else {
                return Err(full.into());
            };
            shares.evict(victim)?;
        }
        Err(QuotaExceeded::StoreFull(shares.totals()?.bytes).into())
    }
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;

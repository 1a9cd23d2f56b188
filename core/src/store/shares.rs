//! What each sender and each mailbox holds, and the write transaction a
//! storing peer's quota policy runs in: the mechanism of fair storage
//! (issue 11). The policy — who may displace whom — is the node's
//! (`pigeonhole_node::quota`); this module only answers its questions and
//! carries out its evictions.
//!
//! Why in the write transaction: a put that must push records out to make
//! room either does all of it (evictions and the insert commit together)
//! or none of it (the policy refuses half-way and everything rolls back),
//! so no record is ever evicted for a newcomer that is then refused.
//!
//! Why trigger-kept tables (`held_total`, `held_by_sender`,
//! `held_by_mailbox`, `held_by_mailbox_sender`, schema step 9): a full
//! store is asked "who holds the most?" on every put during a flood; an
//! index on the kept sums answers that in a lookup, and the triggers keep
//! the sums exact on every path that deletes a row (sweep, a row failing
//! re-validation, a tombstone, a displacement).

use rusqlite::{OptionalExtension, Transaction, params};

use crate::identity::PublicKey;
use crate::record::{InstanceId, Kind, MailboxId, Record};
use crate::set_rule::{self, SetWrite};
use crate::store::held::{PutOutcome, Totals};
use crate::store::{Store, StoreError};

/// One held record a quota policy may evict (indexed columns only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Victim {
    /// Its mailbox.
    pub mailbox: MailboxId,
    /// Its instance (slot) in the mailbox.
    pub instance: InstanceId,
    /// Its record id.
    pub record_id: [u8; 32],
    /// Its signer.
    pub sender: PublicKey,
    /// Its signed expiry.
    pub expires_at: u64,
    /// Its encoded size in bytes.
    pub size: u64,
}

/// The held records as a quota policy sees them, inside the write
/// transaction of one put. Evictions made through it commit with the put,
/// or roll back with it.
pub struct Shares<'a> {
    tx: &'a Transaction<'a>,
    evicted: Vec<Victim>,
}

impl Shares<'_> {
    /// Count and bytes of everything held.
    pub fn totals(&self) -> Result<Totals, StoreError> {
        self.one(
            "SELECT records, bytes FROM held_total WHERE id = 0",
            params![],
        )
    }

    /// Count and bytes `sender` holds, all mailboxes together.
    pub fn sender(&self, sender: &PublicKey) -> Result<Totals, StoreError> {
        self.one(
            "SELECT records, bytes FROM held_by_sender WHERE sender = ?1",
            params![sender.0],
        )
    }

    /// Count and bytes held for `mailbox`, all senders together.
    pub fn mailbox(&self, mailbox: &MailboxId) -> Result<Totals, StoreError> {
        self.one(
            "SELECT records, bytes FROM held_by_mailbox WHERE mailbox = ?1",
            params![mailbox.0],
        )
    }

    /// Count and bytes `sender` holds in `mailbox`.
    pub fn sender_in(&self, mailbox: &MailboxId, sender: &PublicKey) -> Result<Totals, StoreError> {
        self.one(
            "SELECT records, bytes FROM held_by_mailbox_sender WHERE mailbox = ?1 AND sender = ?2",
            params![mailbox.0, sender.0],
        )
    }

    /// Up to `limit` senders holding the most bytes in the whole store,
    /// largest first (ties: the larger key first, so every replica picks
    /// the same one).
    pub fn largest_senders(&self, limit: u32) -> Result<Vec<(PublicKey, Totals)>, StoreError> {
        let mut statement = self.tx.prepare_cached(
            "SELECT sender, records, bytes FROM held_by_sender
             ORDER BY bytes DESC, sender DESC LIMIT ?1",
        )?;
        let rows = statement
            .query_map(params![limit], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(sender, records, bytes)| {
                Some((
                    PublicKey(sender.try_into().ok()?),
                    Totals {
                        records: records.max(0) as u64,
                        bytes: bytes.max(0) as u64,
                    },
                ))
            })
            .collect())
    }

    /// The sender holding the most records in `mailbox` (ties: the most
    /// bytes, then the larger key), with what it holds there.
    pub fn largest_in(
        &self,
        mailbox: &MailboxId,
    ) -> Result<Option<(PublicKey, Totals)>, StoreError> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT sender, records, bytes FROM held_by_mailbox_sender WHERE mailbox = ?1
                 ORDER BY records DESC, bytes DESC, sender DESC LIMIT 1",
            )?
            .query_row(params![mailbox.0], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        Ok(row.and_then(|(sender, records, bytes)| {
            Some((
                PublicKey(sender.try_into().ok()?),
                Totals {
                    records: records.max(0) as u64,
                    bytes: bytes.max(0) as u64,
                },
            ))
        }))
    }

    /// The record of `sender` that displacement takes first — in `mailbox`
    /// if given, else in any mailbox `spare` does not exclude: tombstones
    /// last (a deleted record must stay deleted), then the latest expiry,
    /// then the highest record id. Every field is signed, so every replica
    /// holding the same set picks the same record.
    pub fn victim_of(
        &self,
        sender: &PublicKey,
        mailbox: Option<&MailboxId>,
        spare: &dyn Fn(&MailboxId) -> bool,
    ) -> Result<Option<Victim>, StoreError> {
        // `kind = 6` (tombstone) is written out, not bound, so that the
        // query over all mailboxes matches the expression index
        // `held_set_by_eviction` and walks a sender's rows in order instead
        // of sorting them all; in one mailbox a sender holds at most a few
        // hundred rows, found by (mailbox, sender) and sorted.
        const _: () = assert!(Kind::Tombstone as u8 == 6);
        let mut statement;
        let mut rows = match mailbox {
            Some(mailbox) => {
                statement = self.tx.prepare_cached(
                    "SELECT mailbox, instance, record_id, expires_at, size
                     FROM held_set INDEXED BY held_set_by_sender
                     WHERE sender = ?1 AND mailbox = ?2
                     ORDER BY kind = 6, expires_at DESC, record_id DESC",
                )?;
                statement.query(params![sender.0, mailbox.0])?
            }
            None => {
                statement = self.tx.prepare_cached(
                    "SELECT mailbox, instance, record_id, expires_at, size FROM held_set
                     WHERE sender = ?1 ORDER BY kind = 6, expires_at DESC, record_id DESC",
                )?;
                statement.query(params![sender.0])?
            }
        };
        while let Some(row) = rows.next()? {
            let Ok(id) = <[u8; 32]>::try_from(row.get::<_, Vec<u8>>(0)?) else {
                continue;
            };
            let held = MailboxId(id);
            if spare(&held) {
                continue;
            }
            let Ok(record_id) = <[u8; 32]>::try_from(row.get::<_, Vec<u8>>(2)?) else {
                continue;
            };
            return Ok(Some(Victim {
                mailbox: held,
                instance: InstanceId::from_u64(row.get::<_, i64>(1)? as u64),
                record_id,
                sender: *sender,
                expires_at: row.get::<_, i64>(3)?.max(0) as u64,
                size: row.get::<_, i64>(4)?.max(0) as u64,
            }));
        }
        Ok(None)
    }

    /// Deletes `victim` in this transaction (it commits with the put).
    pub fn evict(&mut self, victim: Victim) -> Result<(), StoreError> {
        self.tx.execute(
            "DELETE FROM held_set WHERE mailbox = ?1 AND instance = ?2 AND record_id = ?3",
            params![
                victim.mailbox.0,
                victim.instance.to_u64() as i64,
                victim.record_id
            ],
        )?;
        self.evicted.push(victim);
        Ok(())
    }

    /// The records evicted so far in this transaction.
    pub fn evicted(&self) -> &[Victim] {
        &self.evicted
    }

    fn one(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Totals, StoreError> {
        let found: Option<(i64, i64)> = self
            .tx
            .prepare_cached(sql)?
            .query_row(args, |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let (records, bytes) = found.unwrap_or((0, 0));
        Ok(Totals {
            records: records.max(0) as u64,
            bytes: bytes.max(0) as u64,
        })
    }
}

/// What [`Store::put_with`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// What the put did.
    pub outcome: PutOutcome,
    /// Records evicted to make room for it (committed with it).
    pub evicted: Vec<Victim>,
}

impl Store {
    /// Stores an already validated record if the keep-both rule allows and
    /// `admit` agrees, in one write transaction. `admit` sees the store
    /// through [`Shares`] and the size of the record the put replaces (a
    /// tombstone taking its record's place), and may evict records to make
    /// room; if it fails, nothing is written and nothing evicted. It is not
    /// asked when the record is already held.
    pub fn put_with<E: From<StoreError>>(
        &self,
        record: &Record,
        admit: impl FnOnce(&mut Shares<'_>, Option<u64>) -> Result<(), E>,
    ) -> Result<Admitted, E> {
        let now = self.clock.now();
        let key = record.dht_key();
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let held = self.slot_records(&tx, &key)?;
        let write = set_rule::decide(&held, record).map_err(StoreError::from)?;
        let replaced = match write {
            SetWrite::Unchanged => {
                return Ok(Admitted {
                    outcome: PutOutcome::Unchanged,
                    evicted: Vec::new(),
                });
            }
            SetWrite::Store => None,
            SetWrite::Replace(named) => Some(named),
        };
        let replaced_size = match replaced {
            Some(named) => Some(
                tx.query_row(
                    "SELECT size FROM held_set WHERE key = ?1 AND record_id = ?2",
                    params![key.0, named],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map_err(StoreError::from)?
                .unwrap_or(0)
                .max(0) as u64,
            ),
            None => None,
        };
        if let Some(named) = replaced {
            tx.execute(
                "DELETE FROM held_set WHERE key = ?1 AND record_id = ?2",
                params![key.0, named],
            )
            .map_err(StoreError::from)?;
        }
        let mut shares = Shares {
            tx: &tx,
            evicted: Vec::new(),
        };
        admit(&mut shares, replaced_size)?;
        let evicted = shares.evicted;
        self.insert_held(&tx, record, now)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Admitted {
            outcome: match replaced {
                Some(named) => PutOutcome::Replaced(named),
                None => PutOutcome::Stored,
            },
            evicted,
        })
    }
}

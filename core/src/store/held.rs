//! The records this node holds for others: a set per mailbox, keyed by
//! (mailbox, instance, record id), under the keep-both rule.
//!
//! Why a set: see [`crate::set_rule`] — two valid records of one slot are
//! both kept, so replicas converge by union and nothing acknowledged is lost
//! to a slot conflict. The slot key stays indexed, for Kademlia's one-value
//! GET (answered with the slot's lowest record id) and for the old slot
//! reads. Listing reads walk a mailbox in (instance, record id) order.
//!
//! Every read that serves a record validates it again; a row that fails for
//! good (tampered) is deleted, a row the clock shows expired or "created in
//! the future" is skipped and kept: a clock that jumped may come back, and
//! only the sweep deletes expired rows, after a grace period of elapsed
//! time ([`crate::store::expiry`]). Cheap reads used for
//! bookkeeping (reconciliation items, quotas, next seq) read indexed columns
//! only; whatever they lead to is validated where it is served.

use rusqlite::{Connection, OptionalExtension, params};
use tracing::warn;

use crate::identity::PublicKey;
use crate::mailbox::ListCursor;
use crate::record::{DhtKey, InstanceId, MailboxId, Record, RecordError};
use crate::set_rule::{self, SetWrite};
use crate::store::{Store, StoreError, is_clock_dependent};

/// Count and size of the held records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Number of records.
    pub records: u64,
    /// Sum of their encoded sizes, in bytes.
    pub bytes: u64,
}

/// What a put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record is new here and was stored (beside any others of its slot).
    Stored,
    /// The same record was already held; nothing changed.
    Unchanged,
    /// A tombstone was stored and the record it names (this id) removed.
    Replaced([u8; 32]),
}

/// One held row before validation: slot key, record id, bytes.
type RawRow = (Vec<u8>, Vec<u8>, Vec<u8>);

const ROW_COLUMNS: &str = "key, record_id, bytes";

impl Store {
    /// Validates `bytes` under `key` and stores them if the keep-both rule
    /// allows. An error means nothing was written.
    pub fn put_bytes(&self, key: &DhtKey, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
        let record = self.validator.validate(key, bytes, self.clock.now())?;
        self.put(&record)
    }

    /// What the keep-both rule would do with `record` now, without writing
    /// (for quota checks that must know whether a put adds a record).
    pub fn judge(&self, record: &Record) -> Result<SetWrite, StoreError> {
        let conn = self.conn();
        let held = self.slot_records(&conn, &record.dht_key())?;
        Ok(set_rule::decide(&held, record)?)
    }

    /// Stores an already validated record if the keep-both rule allows
    /// (no quota: a storing peer's quotas go through [`Store::put_with`]).
    pub fn put(&self, record: &Record) -> Result<PutOutcome, StoreError> {
        Ok(self
            .put_with(record, |_, _| Ok::<(), StoreError>(()))?
            .outcome)
    }

    /// Inserts the row of `record` (already judged) in `tx`. A row with the
    /// same primary key (one skipped by the keep-both check because it was
    /// "created in the future") is deleted first, so the sums kept by the
    /// schema's triggers never count a row twice.
    pub(super) fn insert_held(
        &self,
        tx: &Connection,
        record: &Record,
        now: u64,
    ) -> Result<(), StoreError> {
        let header = &record.header;
        let instance = header.instance.to_u64() as i64;
        tx.execute(
            "DELETE FROM held_set WHERE mailbox = ?1 AND instance = ?2 AND record_id = ?3",
            params![header.mailbox.0, instance, record.id()],
        )?;
        tx.execute(
            "INSERT INTO held_set
             (mailbox, instance, record_id, key, sender, kind, expires_at, size, bytes, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                header.mailbox.0,
                instance,
                record.id(),
                record.dht_key().0,
                header.sender.0,
                header.kind as u8,
                header.expires_at as i64,
                record.bytes().len() as i64,
                record.bytes(),
                now as i64
            ],
        )?;
        Ok(())
    }

    /// The valid records held under slot `key`, lowest record id first.
    pub(super) fn slot_records(
        &self,
        conn: &Connection,
        key: &DhtKey,
    ) -> Result<Vec<Record>, StoreError> {
        let rows = query_rows(
            conn,
            &format!("SELECT {ROW_COLUMNS} FROM held_set WHERE key = ?1 ORDER BY record_id"),
            params![key.0],
        )?;
        self.validate_rows(conn, rows)
    }

    /// The record held under slot `key` with the lowest record id (a slot
    /// may hold several: the one answer a one-value read gets), validated
    /// again; expired rows are skipped, tampered ones deleted.
    pub fn get(&self, key: &DhtKey) -> Result<Option<Record>, StoreError> {
        let conn = self.conn();
        Ok(self.slot_records(&conn, key)?.into_iter().next())
    }

    /// Every valid record held under slot `key`, lowest record id first.
    pub fn get_slot(&self, key: &DhtKey) -> Result<Vec<Record>, StoreError> {
        let conn = self.conn();
        self.slot_records(&conn, key)
    }

    /// Deletes every record held under slot `key`; whether there was one.
    pub fn remove(&self, key: &DhtKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM held_set WHERE key = ?1", params![key.0])?
            > 0)
    }

    /// Every held record that still validates, in (mailbox, instance,
    /// record id) order; expired rows are skipped, tampered ones deleted.
    pub fn list(&self) -> Result<Vec<Record>, StoreError> {
        let conn = self.conn();
        let rows = query_rows(
            &conn,
            &format!("SELECT {ROW_COLUMNS} FROM held_set ORDER BY mailbox, instance, record_id"),
            [],
        )?;
        self.validate_rows(&conn, rows)
    }

    /// Up to `limit` valid records of `mailbox` strictly after `after`, in
    /// (instance, record id) order, and whether more rows follow. Rows that
    /// fail validation are skipped (tampered ones deleted), so a page may be
    /// short while `more` is still true.
    pub fn list_mailbox(
        &self,
        mailbox: &MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<(Vec<Record>, bool), StoreError> {
        let (instance, record_id) = match after {
            Some(cursor) => (cursor.instance.to_u64() as i64, cursor.record_id.to_vec()),
            None => (i64::MIN, Vec::new()),
        };
        let conn = self.conn();
        let fetch = i64::from(limit) + 1;
        let mut rows = query_rows(
            &conn,
            &format!(
                "SELECT {ROW_COLUMNS} FROM held_set
                 WHERE mailbox = ?1 AND (instance > ?2 OR (instance = ?2 AND record_id > ?3))
                 ORDER BY instance, record_id LIMIT ?4"
            ),
            params![mailbox.0, instance, record_id, fetch],
        )?;
        let more = rows.len() as i64 == fetch;
        rows.truncate(limit as usize);
        Ok((self.validate_rows(&conn, rows)?, more))
    }

    /// [`Store::list_mailbox`] without the signature checks, for answering
    /// another peer's listing: unexpired rows' bytes in the same order, and
    /// whether more rows follow. Why unvalidated: the asking peer validates
    /// every record it receives (it trusts no peer), so checking each
    /// signature here too would double the cost of every remote read. Rows
    /// are still validated on every read that serves this node's own user.
    pub fn list_mailbox_raw(
        &self,
        mailbox: &MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<(Vec<Vec<u8>>, bool), StoreError> {
        let (instance, record_id) = match after {
            Some(cursor) => (cursor.instance.to_u64() as i64, cursor.record_id.to_vec()),
            None => (i64::MIN, Vec::new()),
        };
        let conn = self.conn();
        let fetch = i64::from(limit) + 1;
        let mut statement = conn.prepare(
            "SELECT bytes FROM held_set
             WHERE mailbox = ?1 AND (instance > ?2 OR (instance = ?2 AND record_id > ?3))
               AND expires_at > ?4
             ORDER BY instance, record_id LIMIT ?5",
        )?;
        let mut rows = statement
            .query_map(
                params![
                    mailbox.0,
                    instance,
                    record_id,
                    self.clock.now() as i64,
                    fetch
                ],
                |row| row.get::<_, Vec<u8>>(0),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() as i64 == fetch;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// The first sequence number after every slot held in `bucket` of
    /// `mailbox` (0 when none is held). Counts every row, expired or not
    /// yet swept, so a slot is not handed out twice while its record lingers.
    pub fn next_seq(&self, mailbox: &MailboxId, bucket: u32) -> Result<u32, StoreError> {
        let low = InstanceId { bucket, seq: 0 }.to_u64() as i64;
        let high = InstanceId {
            bucket,
            seq: u32::MAX,
        }
        .to_u64() as i64;
        let max: Option<i64> = self.conn().query_row(
            "SELECT max(instance) FROM held_set WHERE mailbox = ?1 AND instance BETWEEN ?2 AND ?3",
            params![mailbox.0, low, high],
            |row| row.get(0),
        )?;
        Ok(max.map_or(0, |max| {
            InstanceId::from_u64(max as u64).seq.saturating_add(1)
        }))
    }

    /// The unexpired items of `mailbox` as (instance id, record id), in
    /// that order: what set reconciliation compares. Not validated (cheap);
    /// records pulled because of them are validated where they are served.
    pub fn items(&self, mailbox: &MailboxId) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT instance, record_id FROM held_set
             WHERE mailbox = ?1 AND expires_at > ?2 ORDER BY instance, record_id",
        )?;
        let rows = statement
            .query_map(params![mailbox.0, self.clock.now() as i64], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(instance, id)| Some((instance as u64, id.try_into().ok()?)))
            .collect())
    }

    /// The valid records of `mailbox` with these record ids (unknown ids
    /// are skipped), in (instance, record id) order.
    pub fn get_by_ids(
        &self,
        mailbox: &MailboxId,
        ids: &[[u8; 32]],
    ) -> Result<Vec<Record>, StoreError> {
        let conn = self.conn();
        let mut rows = Vec::with_capacity(ids.len());
        {
            let mut statement = conn.prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM held_set WHERE mailbox = ?1 AND record_id = ?2"
            ))?;
            for id in ids {
                let row = statement
                    .query_row(params![mailbox.0, id], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()?;
                rows.extend(row);
            }
        }
        let mut records = self.validate_rows(&conn, rows)?;
        records.sort_by_key(|record| (record.header.instance, record.id()));
        Ok(records)
    }

    /// Whether a record with this id is held in `mailbox` (not validated).
    pub fn holds(&self, mailbox: &MailboxId, id: &[u8; 32]) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM held_set WHERE mailbox = ?1 AND record_id = ?2",
                params![mailbox.0, id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Every mailbox with at least one unexpired record held, in id order.
    pub fn mailboxes(&self) -> Result<Vec<MailboxId>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT DISTINCT mailbox FROM held_set WHERE expires_at > ?1 ORDER BY mailbox",
        )?;
        let rows = statement
            .query_map(params![self.clock.now() as i64], |row| {
                row.get::<_, Vec<u8>>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|id| Some(MailboxId(id.try_into().ok()?)))
            .collect())
    }

    /// The encoded size of the held record with this id in `mailbox`.
    pub fn held_size(&self, mailbox: &MailboxId, id: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        let size: Option<i64> = self
            .conn()
            .query_row(
                "SELECT size FROM held_set WHERE mailbox = ?1 AND record_id = ?2",
                params![mailbox.0, id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(size.map(|size| size as u64))
    }

    /// Count and bytes of everything held, expired rows awaiting their
    /// grace period included (they take space until the sweep deletes them).
    pub fn totals(&self) -> Result<Totals, StoreError> {
        self.kept(
            "SELECT records, bytes FROM held_total WHERE id = 0",
            params![],
        )
    }

    /// Count and bytes of the unexpired records held for `mailbox` (what
    /// its quota counts: an expired row awaiting its grace period is not
    /// served, so it does not hold a place).
    pub fn mailbox_totals(&self, mailbox: &MailboxId) -> Result<Totals, StoreError> {
        self.kept(
            "SELECT records, bytes FROM held_by_mailbox WHERE mailbox = ?1",
            params![mailbox.0],
        )
    }

    /// Count and bytes of the unexpired records held for `mailbox` from
    /// `sender`.
    pub fn sender_totals(
        &self,
        mailbox: &MailboxId,
        sender: &PublicKey,
    ) -> Result<Totals, StoreError> {
        self.kept(
            "SELECT records, bytes FROM held_by_mailbox_sender WHERE mailbox = ?1 AND sender = ?2",
            params![mailbox.0, sender.0],
        )
    }

    /// Count and bytes `sender` holds in all mailboxes together.
    pub fn sender_totals_all(&self, sender: &PublicKey) -> Result<Totals, StoreError> {
        self.kept(
            "SELECT records, bytes FROM held_by_sender WHERE sender = ?1",
            params![sender.0],
        )
    }

    fn kept(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Totals, StoreError> {
        let found: Option<(i64, i64)> = self
            .conn()
            .query_row(sql, args, |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let (records, bytes) = found.unwrap_or((0, 0));
        Ok(Totals {
            records: records.max(0) as u64,
            bytes: bytes.max(0) as u64,
        })
    }

    /// Validates raw held rows, keeping their order; rows that fail for
    /// good are deleted, rows expired or created in the future skipped.
    fn validate_rows(
        &self,
        conn: &Connection,
        rows: Vec<RawRow>,
    ) -> Result<Vec<Record>, StoreError> {
        let now = self.clock.now();
        let mut records = Vec::with_capacity(rows.len());
        for (raw_key, record_id, bytes) in rows {
            let checked = match <[u8; 32]>::try_from(raw_key.as_slice()) {
                Ok(key) => self.validator.validate(&DhtKey(key), &bytes, now),
                Err(_) => Err(RecordError::KeyMismatch),
            };
            match checked {
                Ok(record) => records.push(record),
                Err(error) if is_clock_dependent(&error) => {}
                Err(error) => {
                    warn!(%error, "dropping a held record that no longer validates");
                    conn.execute(
                        "DELETE FROM held_set WHERE key = ?1 AND record_id = ?2",
                        params![raw_key, record_id],
                    )?;
                }
            }
        }
        Ok(records)
    }
}

fn query_rows(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<RawRow>, rusqlite::Error> {
    let mut statement = conn.prepare(sql)?;
    statement
        .query_map(args, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect()
}

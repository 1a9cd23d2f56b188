//! Tables of the buddy layer: requests received (pending), requests seen
//! (for the per-sender cap), requests answered (so a replay is never shown
//! again), requests sent (to match answers and withdraw), the buddy list
//! and blocked senders.
//!
//! Pending rows hold the request record rather than parsed fields, so that
//! the buddy layer validates and decrypts it again when it reads it back:
//! nothing on disk is trusted.

use rusqlite::{OptionalExtension, Row, params};

use crate::contact::InboxToken;
use crate::identity::PublicKey;
use crate::record::MailboxId;
use crate::store::{Store, StoreError};

/// A received request waiting for an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRow {
    /// The request record's id.
    pub request_id: [u8; 32],
    /// Who sent it.
    pub sender: PublicKey,
    /// The inbox it arrived in.
    pub inbox: MailboxId,
    /// The record's creation time.
    pub created_at: u64,
    /// The record's expiry.
    pub expires_at: u64,
    /// The record bytes (decrypted and checked again whenever read).
    pub record: Vec<u8>,
}

/// What [`Store::upsert_pending`] did: a sender has at most one pending
/// request, the newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingUpsert {
    /// First request from this sender.
    Inserted,
    /// Replaced an older request from the same sender.
    Replaced,
    /// A newer (or the same) request from this sender is already pending.
    KeptExisting,
}

/// Where a request this user sent stands. Values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentStatus {
    /// No answer yet.
    Pending = 0,
    /// The recipient accepted.
    Accepted = 1,
    /// The recipient declined.
    Declined = 2,
    /// This user withdrew it before an answer came (tombstoned it); a
    /// later answer is ignored.
    Withdrawn = 3,
}

/// A request this user sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentRow {
    /// The request record's id.
    pub request_id: [u8; 32],
    /// Who it went to.
    pub recipient: PublicKey,
    /// The recipient's inbox token it went to.
    pub recipient_token: InboxToken,
    /// The inbox token answers come back to.
    pub reply_token: InboxToken,
    /// The request record bytes (to withdraw it).
    pub record: Vec<u8>,
    /// Where it stands.
    pub status: SentStatus,
    /// When it was made.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
}

/// One buddy: a key allowed to contact this user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuddyRow {
    /// The buddy's key.
    pub public_key: PublicKey,
    /// The name the buddy gave.
    pub display_name: String,
    /// The buddy's inbox token, when known.
    pub inbox_token: Option<InboxToken>,
    /// When the buddy was added.
    pub added_at: u64,
}

fn key32(row: &Row<'_>, index: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(index)?;
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            "not 32 bytes".into(),
        )
    })
}

fn token(row: &Row<'_>, index: usize) -> rusqlite::Result<InboxToken> {
    let bytes: Vec<u8> = row.get(index)?;
    bytes.try_into().map(InboxToken).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            "not 4 bytes".into(),
        )
    })
}

fn pending_row(row: &Row<'_>) -> rusqlite::Result<PendingRow> {
    Ok(PendingRow {
        request_id: key32(row, 0)?,
        sender: PublicKey(key32(row, 1)?),
        inbox: MailboxId(key32(row, 2)?),
        created_at: row.get::<_, i64>(3)? as u64,
        expires_at: row.get::<_, i64>(4)? as u64,
        record: row.get(5)?,
    })
}

fn sent_row(row: &Row<'_>) -> rusqlite::Result<SentRow> {
    let status = match row.get::<_, i64>(5)? {
        0 => SentStatus::Pending,
        1 => SentStatus::Accepted,
        2 => SentStatus::Declined,
        3 => SentStatus::Withdrawn,
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Integer,
                format!("unknown sent status {other}").into(),
            ));
        }
    };
    Ok(SentRow {
        request_id: key32(row, 0)?,
        recipient: PublicKey(key32(row, 1)?),
        recipient_token: token(row, 2)?,
        reply_token: token(row, 3)?,
        record: row.get(4)?,
        status,
        created_at: row.get::<_, i64>(6)? as u64,
        expires_at: row.get::<_, i64>(7)? as u64,
    })
}

fn insert_buddy(conn: &rusqlite::Connection, row: &BuddyRow) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT OR REPLACE INTO buddies (public_key, display_name, inbox_token, added_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            row.public_key.0,
            row.display_name,
            row.inbox_token.map(|t| t.0.to_vec()),
            row.added_at as i64
        ],
    )
}

/// An answer this user gave, as written by [`write_answered`].
pub(crate) struct Answered<'a> {
    pub(crate) request_id: &'a [u8; 32],
    pub(crate) sender: &'a PublicKey,
    pub(crate) decision: u8,
    pub(crate) expires_at: u64,
    pub(crate) buddy: Option<&'a BuddyRow>,
}

/// Writes an answer inside the caller's transaction: the answered row, the
/// pending row removed, the buddy added on accept.
pub(crate) fn write_answered(
    tx: &rusqlite::Connection,
    answer: &Answered<'_>,
    now: u64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO answered_requests (request_id, sender, decision, answered_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            answer.request_id,
            answer.sender.0,
            answer.decision,
            now as i64,
            answer.expires_at as i64
        ],
    )?;
    tx.execute(
        "DELETE FROM pending_requests WHERE request_id = ?1",
        params![answer.request_id],
    )?;
    if let Some(buddy) = answer.buddy {
        insert_buddy(tx, buddy)?;
    }
    Ok(())
}

/// Writes a sent row inside the caller's transaction.
pub(crate) fn write_sent(conn: &rusqlite::Connection, row: &SentRow) -> rusqlite::Result<()> {
    conn.execute(
        &format!("INSERT OR REPLACE INTO sent_requests ({SENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            row.request_id,
            row.recipient.0,
            row.recipient_token.0,
            row.reply_token.0,
            row.record,
            row.status as i64,
            row.created_at as i64,
            row.expires_at as i64
        ],
    )?;
    Ok(())
}

const PENDING_COLUMNS: &str = "request_id, sender, inbox, created_at, expires_at, record";
const SENT_COLUMNS: &str =
    "request_id, recipient, recipient_token, reply_token, record, status, created_at, expires_at";

impl Store {
    /// The user's display name and directory name, if set.
    pub fn profile(&self) -> Result<Option<(String, Option<String>)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT display_name, directory_name FROM profile WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// Sets the user's display name and directory name.
    pub fn set_profile(
        &self,
        display_name: &str,
        directory_name: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO profile (id, display_name, directory_name) VALUES (1, ?1, ?2)",
            params![display_name, directory_name],
        )?;
        Ok(())
    }

    /// When this user's published directory entry expires, if one was
    /// published since the profile was last set.
    pub fn directory_expiry(&self) -> Result<Option<u64>, StoreError> {
        let expiry: Option<Option<i64>> = self
            .conn()
            .query_row(
                "SELECT directory_expires_at FROM profile WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        Ok(expiry.flatten().map(|at| at as u64))
    }

    /// Records when the directory entry just published expires.
    pub fn set_directory_expiry(&self, expires_at: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE profile SET directory_expires_at = ?1 WHERE id = 1",
            params![expires_at as i64],
        )?;
        Ok(())
    }

    /// Keeps `row` as its sender's pending request unless a newer one is
    /// already kept.
    pub fn upsert_pending(&self, row: &PendingRow) -> Result<PendingUpsert, StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let blocked = tx
            .query_row(
                "SELECT 1 FROM blocked WHERE public_key = ?1",
                params![row.sender.0],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if blocked {
            // Blocked while the sync was deciding: keep nothing.
            return Ok(PendingUpsert::KeptExisting);
        }
        let existing: Option<(Vec<u8>, i64, i64)> = tx
            .query_row(
                "SELECT request_id, created_at, expires_at FROM pending_requests WHERE sender = ?1",
                params![row.sender.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let outcome = match &existing {
            Some((id, created, _))
                if *id == row.request_id || *created as u64 >= row.created_at =>
            {
                PendingUpsert::KeptExisting
            }
            Some(_) => PendingUpsert::Replaced,
            None => PendingUpsert::Inserted,
        };
        // The losing request is superseded: it must never come back, even
        // after the winner is answered (it is still live in the DHT).
        let superseded = match (&existing, outcome) {
            (Some((id, _, expires)), PendingUpsert::Replaced) => Some((id.clone(), *expires)),
            (Some((id, _, _)), PendingUpsert::KeptExisting) if *id != row.request_id => {
                Some((row.request_id.to_vec(), row.expires_at as i64))
            }
            _ => None,
        };
        if let Some((id, expires)) = superseded {
            tx.execute(
                "INSERT OR IGNORE INTO answered_requests (request_id, sender, decision, answered_at, expires_at)
                 VALUES (?1, ?2, 0, ?3, ?4)",
                params![id, row.sender.0, self.clock.now() as i64, expires],
            )?;
        }
        if outcome != PendingUpsert::KeptExisting {
            tx.execute(
                "DELETE FROM pending_requests WHERE sender = ?1",
                params![row.sender.0],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO pending_requests ({PENDING_COLUMNS}, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    row.request_id,
                    row.sender.0,
                    row.inbox.0,
                    row.created_at as i64,
                    row.expires_at as i64,
                    row.record,
                    self.clock.now() as i64
                ],
            )?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Unexpired pending requests, oldest first.
    pub fn pending(&self) -> Result<Vec<PendingRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {PENDING_COLUMNS} FROM pending_requests WHERE expires_at > ?1 ORDER BY created_at, request_id"
        ))?;
        let rows = statement
            .query_map(params![self.clock.now() as i64], pending_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The pending request with id `request_id`, expired or not.
    pub fn pending_by_id(&self, request_id: &[u8; 32]) -> Result<Option<PendingRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {PENDING_COLUMNS} FROM pending_requests WHERE request_id = ?1"),
                params![request_id],
                pending_row,
            )
            .optional()?)
    }

    /// Deletes the pending request `request_id`; whether it was there.
    pub fn remove_pending(&self, request_id: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM pending_requests WHERE request_id = ?1",
            params![request_id],
        )? > 0)
    }

    /// Deletes pending requests from `sender`; how many.
    pub fn remove_pending_from(&self, sender: &PublicKey) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM pending_requests WHERE sender = ?1",
            params![sender.0],
        )?)
    }

    /// Deletes pending requests that arrived in any inbox but `inbox` (after
    /// a token rotation); how many.
    pub fn remove_pending_outside(&self, inbox: &MailboxId) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM pending_requests WHERE inbox != ?1",
            params![inbox.0],
        )?)
    }

    /// Remembers that request `request_id` from `sender` was seen; whether
    /// it is new.
    pub fn mark_seen(
        &self,
        request_id: &[u8; 32],
        sender: &PublicKey,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO seen_requests (request_id, sender, seen_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![request_id, sender.0, self.clock.now() as i64, expires_at as i64],
        )? > 0)
    }

    /// Distinct requests seen from `sender` since `since` (unix seconds).
    pub fn seen_from_since(&self, sender: &PublicKey, since: u64) -> Result<u64, StoreError> {
        let count: i64 = self.conn().query_row(
            "SELECT count(*) FROM seen_requests WHERE sender = ?1 AND seen_at >= ?2",
            params![sender.0, since as i64],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// Records that request `request_id` from `sender` was answered with
    /// `decision` (1 accept, 2 decline), removes it from pending and, on
    /// accept, adds `buddy` — one transaction, so a crash never leaves an
    /// answered request without its buddy.
    pub fn mark_answered(
        &self,
        request_id: &[u8; 32],
        sender: &PublicKey,
        decision: u8,
        expires_at: u64,
        buddy: Option<&BuddyRow>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let answer = Answered {
            request_id,
            sender,
            decision,
            expires_at,
            buddy,
        };
        write_answered(&tx, &answer, self.clock.now())?;
        tx.commit()?;
        Ok(())
    }

    /// Records the answer to a request this user sent: its new status and,
    /// on accept, the new buddy (whose own pending request, if any, is
    /// dropped) — one transaction.
    pub fn record_answer(
        &self,
        request_id: &[u8; 32],
        status: SentStatus,
        buddy: Option<&BuddyRow>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        tx.execute(
            "UPDATE sent_requests SET status = ?2, answered_at = ?3 WHERE request_id = ?1",
            params![request_id, status as i64, self.clock.now() as i64],
        )?;
        if let Some(buddy) = buddy {
            insert_buddy(&tx, buddy)?;
            tx.execute(
                "DELETE FROM pending_requests WHERE sender = ?1",
                params![buddy.public_key.0],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks sent request `request_id` withdrawn if it is still pending;
    /// whether it was (an answer recorded meanwhile wins).
    pub fn mark_withdrawn(&self, request_id: &[u8; 32]) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE sent_requests SET status = ?2, answered_at = ?3 \
             WHERE request_id = ?1 AND status = ?4",
            params![
                request_id,
                SentStatus::Withdrawn as i64,
                self.clock.now() as i64,
                SentStatus::Pending as i64
            ],
        )?;
        Ok(changed == 1)
    }

    /// Whether request `request_id` was already answered.
    pub fn is_answered(&self, request_id: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM answered_requests WHERE request_id = ?1",
                params![request_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Saves a request this user sent.
    pub fn insert_sent(&self, row: &SentRow) -> Result<(), StoreError> {
        write_sent(&self.conn(), row)?;
        Ok(())
    }

    /// Every request this user sent, newest first.
    pub fn sent(&self) -> Result<Vec<SentRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {SENT_COLUMNS} FROM sent_requests ORDER BY created_at DESC, request_id"
        ))?;
        let rows = statement
            .query_map([], sent_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The sent request `request_id`.
    pub fn sent_by_id(&self, request_id: &[u8; 32]) -> Result<Option<SentRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {SENT_COLUMNS} FROM sent_requests WHERE request_id = ?1"),
                params![request_id],
                sent_row,
            )
            .optional()?)
    }

    /// Adds or updates a buddy.
    pub fn add_buddy(&self, row: &BuddyRow) -> Result<(), StoreError> {
        insert_buddy(&self.conn(), row)?;
        Ok(())
    }

    /// Removes a buddy; whether it was one.
    pub fn remove_buddy(&self, key: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM buddies WHERE public_key = ?1", params![key.0])?
            > 0)
    }

    /// The buddy list, by display name.
    pub fn buddies(&self) -> Result<Vec<BuddyRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT public_key, display_name, inbox_token, added_at FROM buddies ORDER BY display_name, public_key",
        )?;
        let rows = statement
            .query_map([], |row| {
                let token: Option<Vec<u8>> = row.get(2)?;
                Ok(BuddyRow {
                    public_key: PublicKey(key32(row, 0)?),
                    display_name: row.get(1)?,
                    inbox_token: token.and_then(|t| t.try_into().ok()).map(InboxToken),
                    added_at: row.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Blocks `key`: its requests are dropped unread; pending ones removed.
    pub fn block(&self, key: &PublicKey) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        tx.execute(
            "INSERT OR REPLACE INTO blocked (public_key, blocked_at) VALUES (?1, ?2)",
            params![key.0, self.clock.now() as i64],
        )?;
        tx.execute(
            "DELETE FROM pending_requests WHERE sender = ?1",
            params![key.0],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Unblocks `key`; whether it was blocked.
    pub fn unblock(&self, key: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM blocked WHERE public_key = ?1", params![key.0])?
            > 0)
    }

    /// Whether `key` is blocked.
    pub fn is_blocked(&self, key: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM blocked WHERE public_key = ?1",
                params![key.0],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

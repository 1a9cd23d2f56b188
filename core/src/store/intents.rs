//! The buddy intent log: what this user is about to put, committed first.
//!
//! A request or an answer changes two places: the DHT (the record others
//! read) and this database (the sent row that lets the sender recognise the
//! answer; the answered row and the buddy). No transaction spans both, so
//! the order decides what a crash can leave behind. Putting first and
//! writing after loses the local half when the app dies in between: the
//! answer to a live request is then dropped as unsolicited and the
//! relationship stays one-sided for good. So the intent — the sealed body,
//! where it goes and what to record once it is out — is committed here
//! *before* the put, and removed in the same transaction that records the
//! outcome. Whatever is still here at the next sync was interrupted, and
//! the sync finishes it (see `buddy::intents`).
//!
//! The sealed body identifies the record: it starts with a fresh ephemeral
//! key, so no two seals are equal, and finding a record of ours with these
//! exact body bytes in the target mailbox proves the put happened.

use rusqlite::{Row, params};

use crate::contact::InboxToken;
use crate::identity::PublicKey;
use crate::record::MailboxId;
use crate::store::buddies::{Answered, BuddyRow, SentRow, write_answered, write_sent};
use crate::store::{Store, StoreError, write_tx};

/// What an intent will do once its record is out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntentAction {
    /// A buddy request to `IntentRow::peer`: record a sent row.
    Request {
        /// The inbox token answers come back to.
        reply_token: InboxToken,
    },
    /// An answer to the pending request `request_id` from `IntentRow::peer`.
    Answer {
        /// The request answered.
        request_id: [u8; 32],
        /// The request's expiry (how long its answered row is kept).
        request_expires_at: u64,
        /// `Some(display name)` on accept (the buddy added), `None` on decline.
        accepted_name: Option<String>,
    },
}

/// Where an intent stands. Values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentState {
    /// Its call has not returned: running now, or the app died during it.
    /// The sync finishes it (puts again if the record is not out).
    InFlight = 0,
    /// Its call reported an error, but the put may have happened (a timeout
    /// after the write): the sync records it if the record is out, else
    /// forgets it. It is never put again: the user was told it failed.
    Uncertain = 1,
}

/// One interrupted or running request or answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRow {
    /// Local id.
    pub id: i64,
    /// What it does once out.
    pub action: IntentAction,
    /// Where it stands.
    pub state: IntentState,
    /// The mailbox the record goes to.
    pub mailbox: MailboxId,
    /// The sealed body.
    pub body: Vec<u8>,
    /// The record's lifetime.
    pub lifetime_secs: u64,
    /// The other user: the request's recipient or the answered requester.
    pub peer: PublicKey,
    /// Their inbox token: where the request went, or where the answer goes.
    pub peer_token: InboxToken,
    /// When it was logged.
    pub queued_at: u64,
}

const REQUEST: i64 = 1;
const ACCEPT: i64 = 2;
const DECLINE: i64 = 3;
const COLUMNS: &str = "id, what, state, mailbox, body, lifetime_secs, peer, peer_token, \
                       reply_token, request_id, request_expires_at, peer_name, queued_at";

fn fixed<const N: usize>(row: &Row<'_>, index: usize) -> rusqlite::Result<[u8; N]> {
    let bytes: Vec<u8> = row.get(index)?;
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            format!("not {N} bytes").into(),
        )
    })
}

fn bad(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Integer,
        what.to_owned().into(),
    )
}

fn intent_row(row: &Row<'_>) -> rusqlite::Result<IntentRow> {
    let action = match row.get::<_, i64>(1)? {
        REQUEST => IntentAction::Request {
            reply_token: InboxToken(fixed(row, 8)?),
        },
        what @ (ACCEPT | DECLINE) => IntentAction::Answer {
            request_id: fixed(row, 9)?,
            request_expires_at: row.get::<_, i64>(10)? as u64,
            accepted_name: if what == ACCEPT {
                Some(row.get(11)?)
            } else {
                None
            },
        },
        _ => return Err(bad(1, "unknown intent kind")),
    };
    let state = match row.get::<_, i64>(2)? {
        0 => IntentState::InFlight,
        1 => IntentState::Uncertain,
        _ => return Err(bad(2, "unknown intent state")),
    };
    Ok(IntentRow {
        id: row.get(0)?,
        action,
        state,
        mailbox: MailboxId(fixed(row, 3)?),
        body: row.get(4)?,
        lifetime_secs: row.get::<_, i64>(5)? as u64,
        peer: PublicKey(fixed(row, 6)?),
        peer_token: InboxToken(fixed(row, 7)?),
        queued_at: row.get::<_, i64>(12)? as u64,
    })
}

impl Store {
    /// Logs an intent (its `id` and `queued_at` are assigned here) and
    /// commits it; returns its id. Call before the put.
    pub fn log_intent(&self, intent: &IntentRow) -> Result<i64, StoreError> {
        let (what, reply_token, request_id, request_expires_at, peer_name) = match &intent.action {
            IntentAction::Request { reply_token } => {
                (REQUEST, Some(reply_token.0.to_vec()), None, None, None)
            }
            IntentAction::Answer {
                request_id,
                request_expires_at,
                accepted_name,
            } => (
                if accepted_name.is_some() {
                    ACCEPT
                } else {
                    DECLINE
                },
                None,
                Some(request_id.to_vec()),
                Some(*request_expires_at as i64),
                accepted_name.clone(),
            ),
        };
        let conn = self.conn();
        conn.execute(
            "INSERT INTO buddy_intents (what, state, mailbox, body, lifetime_secs, peer, peer_token,
                 reply_token, request_id, request_expires_at, peer_name, queued_at)
             VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                what,
                intent.mailbox.0,
                intent.body,
                intent.lifetime_secs as i64,
                intent.peer.0,
                intent.peer_token.0,
                reply_token,
                request_id,
                request_expires_at,
                peer_name,
                self.clock.now() as i64
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Every logged intent, oldest first.
    pub fn intents(&self) -> Result<Vec<IntentRow>, StoreError> {
        let conn = self.conn();
        let mut statement =
            conn.prepare(&format!("SELECT {COLUMNS} FROM buddy_intents ORDER BY id"))?;
        let rows = statement
            .query_map([], intent_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Ids of the requests with an answer intent in flight (being put, or
    /// cut by a crash and waiting for the sync).
    pub fn answers_in_flight(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT request_id FROM buddy_intents WHERE state = 0 AND request_id IS NOT NULL",
        )?;
        let ids = statement
            .query_map([], |row| row.get::<_, Vec<u8>>(0))?
            .filter_map(|id| id.ok()?.try_into().ok())
            .collect();
        Ok(ids)
    }

    /// Marks intent `id` as [`IntentState::Uncertain`] (its call failed).
    pub fn mark_intent_uncertain(&self, id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE buddy_intents SET state = 1 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// Forgets intent `id` (its record is certainly not out, or it expired).
    pub fn drop_intent(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM buddy_intents WHERE id = ?1", params![id])?
            > 0)
    }

    /// Records that request intent `id` is out as `sent`, and forgets the
    /// intent — one transaction. False if the intent was already finished
    /// (by a concurrent sync); then nothing is written.
    pub fn finish_request_intent(&self, id: i64, sent: &SentRow) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        if tx.execute("DELETE FROM buddy_intents WHERE id = ?1", params![id])? == 0 {
            return Ok(false);
        }
        write_sent(&tx, sent)?;
        tx.commit()?;
        Ok(true)
    }

    /// Records that answer intent `id` is out: the answered row, the
    /// pending row removed, `buddy` added on accept, and the intent
    /// forgotten — one transaction. False if it was already finished.
    pub fn finish_answer_intent(
        &self,
        id: i64,
        intent: &IntentRow,
        buddy: Option<&BuddyRow>,
    ) -> Result<bool, StoreError> {
        let IntentAction::Answer {
            request_id,
            request_expires_at,
            accepted_name,
        } = &intent.action
        else {
            return Err(StoreError::Sqlite(bad(1, "not an answer intent")));
        };
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        if tx.execute("DELETE FROM buddy_intents WHERE id = ?1", params![id])? == 0 {
            return Ok(false);
        }
        let answer = Answered {
            request_id,
            sender: &intent.peer,
            decision: if accepted_name.is_some() { 1 } else { 2 },
            expires_at: *request_expires_at,
            buddy,
        };
        write_answered(&tx, &answer, self.clock.now())?;
        tx.commit()?;
        Ok(true)
    }
}

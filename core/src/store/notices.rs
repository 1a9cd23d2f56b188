//! Tables of the document-notice layer: documents this user owns (version
//! and editor-list counters), documents watched (the cursor is the highest
//! version delivered, plus the rejected count and the newest editor list
//! seen) and the notices delivered (rejected ones under version 0, so they
//! are counted once).

use rusqlite::{OptionalExtension, Row, params};

use crate::identity::PublicKey;
use crate::record::MailboxId;
use crate::store::feeds::id32;
use crate::store::{Store, StoreError};

/// A watched document and where reading it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRow {
    /// The document's mailbox.
    pub mailbox: MailboxId,
    /// The owner.
    pub owner: PublicKey,
    /// The document name.
    pub name: String,
    /// The highest version delivered (0: none yet).
    pub last_version: u64,
    /// Notices of removed editors rejected so far (values failing
    /// validation are reported per fetch, not added up).
    pub rejected: u64,
    /// The newest editor-list record seen, as signed.
    pub editor_list: Option<Vec<u8>>,
}

fn watch_row(row: &Row<'_>) -> rusqlite::Result<WatchRow> {
    Ok(WatchRow {
        mailbox: MailboxId(id32(row.get(0)?)?),
        owner: PublicKey(id32(row.get(1)?)?),
        name: row.get(2)?,
        last_version: row.get::<_, i64>(3)? as u64,
        rejected: row.get::<_, i64>(4)? as u64,
        editor_list: row.get(5)?,
    })
}

const WATCH_COLUMNS: &str = "mailbox, owner, name, last_version, rejected, editor_list";

impl Store {
    /// Takes the next editor-list version of own document `name`.
    pub fn next_list_version(&self, name: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        tx.execute(
            "INSERT INTO doc_own (name, last_version, list_version) VALUES (?1, 0, 1)
             ON CONFLICT (name) DO UPDATE SET list_version = list_version + 1",
            params![name],
        )?;
        let version: i64 = tx.query_row(
            "SELECT list_version FROM doc_own WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )?;
        tx.commit()?;
        Ok(version as u64)
    }

    /// Starts watching a document; false if already watched.
    pub fn add_watch(
        &self,
        mailbox: &MailboxId,
        owner: &PublicKey,
        name: &str,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now() as i64;
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO doc_watches (mailbox, owner, name, watched_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![mailbox.0, owner.0, name, now],
        )? == 1)
    }

    /// Stops watching; false if it was not watched.
    pub fn remove_watch(&self, mailbox: &MailboxId) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM doc_watches WHERE mailbox = ?1",
            params![mailbox.0],
        )? == 1)
    }

    /// One watched document.
    pub fn watch(&self, mailbox: &MailboxId) -> Result<Option<WatchRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {WATCH_COLUMNS} FROM doc_watches WHERE mailbox = ?1"),
                params![mailbox.0],
                watch_row,
            )
            .optional()?)
    }

    /// Every watched document.
    pub fn watches(&self) -> Result<Vec<WatchRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {WATCH_COLUMNS} FROM doc_watches ORDER BY name, owner"
        ))?;
        let rows = statement
            .query_map([], watch_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Whether a notice with this id was delivered.
    pub fn has_notice(&self, record_id: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM doc_notices WHERE record_id = ?1",
                params![record_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// How many notices of `version` were delivered for the document.
    pub fn delivered_at_version(
        &self,
        mailbox: &MailboxId,
        version: u64,
    ) -> Result<u64, StoreError> {
        let count: i64 = self.conn().query_row(
            "SELECT count(*) FROM doc_notices WHERE mailbox = ?1 AND version = ?2",
            params![mailbox.0, version as i64],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// Saves delivered notices and moves the watch forward, atomically.
    pub fn record_delivery(
        &self,
        watch: &WatchRow,
        notices: &[([u8; 32], u64, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let now = self.clock.now() as i64;
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        for (record_id, version, record) in notices {
            tx.execute(
                "INSERT OR IGNORE INTO doc_notices (record_id, mailbox, version, record, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![record_id, watch.mailbox.0, *version as i64, record, now],
            )?;
        }
        tx.execute(
            "UPDATE doc_watches SET last_version = ?2, rejected = ?3, editor_list = ?4
             WHERE mailbox = ?1",
            params![
                watch.mailbox.0,
                watch.last_version as i64,
                watch.rejected as i64,
                watch.editor_list
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

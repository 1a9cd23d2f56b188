//! Persistence on SQLite: the user's identity and the records this node
//! holds for other peers.
//!
//! One file per node, in WAL mode, schema versioned by [`schema`]. Every
//! write runs in a transaction and a call returns success only after COMMIT,
//! so a crash of the app never leaves a half-written row or reports a record
//! stored that is not.
//!
//! Durability: `synchronous = FULL` on every connection (the setting is per
//! connection; the SDK opens more than one). In WAL mode NORMAL skips the
//! fsync of the WAL at each commit, so a power cut could roll back commits
//! whose call had already returned Ok. These tables hold acknowledgements
//! that must survive that: `identity` (a lost row means a new key and a
//! silently changed contact code), `sent_requests` and `buddy_intents`
//! ("request sent" / an answer the user gave; without them an answer is
//! dropped as unsolicited or a send is lost), `answered_requests` and
//! `buddies` (an accept the user made), `outbox` (a publish reported
//! done) and `held_set` (a replica acknowledged to its writer). FULL
//! costs one fsync of the WAL per commit (`benches/buddy_durability.rs`
//! prints what that means for publishes and requests; `tests/power_loss.rs`
//! copies the files mid-write and tears the WAL tail). The remaining
//! tables (pending, seen, blocked, profile) are cheap to lose or rebuilt
//! by the next sync, but one setting per connection covers them too.
//!
//! Concurrency: every transaction that reads and then writes starts
//! IMMEDIATE ([`write_tx`]): it takes the write lock before its first read,
//! so a second connection can never make it fail with `SQLITE_BUSY_SNAPSHOT`
//! at the upgrade (which the busy handler does not retry). Waiting for the
//! lock is covered by the busy handler ([`wait_for_lock`], up to ~30 s).
//!
//! Rows are not trusted when read back: each held record passes the
//! [`Validator`] again on every read, and rows that fail for good
//! (tampered) are deleted instead of served. Rows the clock shows expired
//! (or created in the future) are skipped, never deleted by a read: only
//! the periodic sweep deletes expired rows, after a grace period of
//! elapsed time, so a clock jump loses nothing ([`expiry`]). Held records are a set per
//! mailbox under the keep-both rule ([`crate::set_rule`]); their API is in
//! [`held`], shaped for the libp2p peer's record store and its listing
//! protocol to sit on; what each sender and mailbox holds, and the put
//! transaction a storing peer's fair-storage policy runs in, are in
//! [`shares`].

pub mod admission;
pub mod buddies;
pub mod expiry;
pub mod feeds;
pub mod held;
pub mod intents;
pub mod notices;
pub mod outbox;
pub mod schema;
pub mod shares;
pub mod token_upgrade;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use tracing::{info, warn};

use crate::clock::Clock;
use crate::contact::InboxToken;
use crate::identity::Identity;
use crate::record::{DhtKey, Record, RecordError, Validator};
use crate::set_rule::SetRejection;

pub use held::{PutOutcome, Totals};
pub use shares::{Admitted, Shares, Victim};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error (I/O, corruption, locked file…).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer build with a schema this one does not know.
    #[error("database schema version {found} is newer than this build's {supported}")]
    SchemaTooNew {
        /// Version in the file.
        found: usize,
        /// Newest version this build knows.
        supported: usize,
    },
    /// The record did not pass the validator.
    #[error("record refused: {0}")]
    Invalid(#[from] RecordError),
    /// The keep-both rule refused the record.
    #[error("record refused: {0}")]
    Refused(#[from] SetRejection),
    /// The stored identity row is damaged.
    #[error("the stored identity is damaged")]
    CorruptIdentity,
    /// No identity is stored: it was never created, or this database lost
    /// it. A new key is never made behind the user's back.
    #[error("no identity is stored in this database")]
    IdentityMissing,
    /// [`Store::create_identity`] on a database that already has one.
    #[error("an identity is already stored in this database")]
    IdentityExists,
}

/// A node's SQLite database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    validator: Validator,
    clock: Arc<dyn Clock>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    /// Nothing is deleted at open: a row that looks expired may only be
    /// looking so to a clock that jumped ([`expiry`]).
    pub fn open(
        path: impl AsRef<Path>,
        validator: Validator,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path.as_ref())?;
        let store = Self::init(conn, validator, clock)?;
        info!(path = %path.as_ref().display(), "store opened");
        Ok(store)
    }

    /// A private in-memory database (tests, ephemeral nodes).
    pub fn open_in_memory(validator: Validator, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, validator, clock)
    }

    fn init(
        mut conn: Connection,
        validator: Validator,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: see the module doc for the tables that depend on it.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_handler(Some(wait_for_lock))?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            validator,
            clock,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back on drop), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stored identity and inbox token; [`StoreError::IdentityMissing`]
    /// when there is none. Never creates one.
    pub fn identity(&self) -> Result<(Identity, InboxToken), StoreError> {
        read_identity(&self.conn())?.ok_or(StoreError::IdentityMissing)
    }

    /// Creates and saves a new identity and inbox token;
    /// [`StoreError::IdentityExists`] if the database already has one.
    pub fn create_identity(&self) -> Result<(Identity, InboxToken), StoreError> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        if read_identity(&tx)?.is_some() {
            return Err(StoreError::IdentityExists);
        }
        let created = self.insert_new_identity(&tx)?;
        tx.commit()?;
        Ok(created)
    }

    /// The identity at start-up: the stored one, or a new one when the
    /// database is fresh. A database that holds user state (a profile,
    /// buddies, sent or answered requests, an outbox) but no identity lost
    /// it: that is [`StoreError::IdentityMissing`], never a new key.
    pub fn load_or_create_identity(&self) -> Result<(Identity, InboxToken), StoreError> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        if let Some(found) = read_identity(&tx)? {
            return Ok(found);
        }
        let has_state: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM profile) OR EXISTS (SELECT 1 FROM buddies)
                 OR EXISTS (SELECT 1 FROM sent_requests) OR EXISTS (SELECT 1 FROM answered_requests)
                 OR EXISTS (SELECT 1 FROM outbox)",
            [],
            |row| row.get(0),
        )?;
        if has_state {
            warn!("the database holds user state but no identity: refusing to make a new key");
            return Err(StoreError::IdentityMissing);
        }
        let created = self.insert_new_identity(&tx)?;
        tx.commit()?;
        Ok(created)
    }

    fn insert_new_identity(&self, tx: &Connection) -> Result<(Identity, InboxToken), StoreError> {
        let identity = Identity::generate();
        let token = InboxToken::random();
        tx.execute(
            "INSERT INTO identity (id, secret, inbox_token, created_at) VALUES (1, ?1, ?2, ?3)",
            params![
                &identity.secret_bytes()[..],
                token.0,
                self.clock.now() as i64
            ],
        )?;
        info!(key = %identity.public_key(), "created a new identity");
        Ok((identity, token))
    }

    /// Replaces the stored identity and inbox token (restoring a backup, or
    /// moving a user to a new device).
    pub fn import_identity(
        &self,
        identity: &Identity,
        token: InboxToken,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO identity (id, secret, inbox_token, created_at) VALUES (1, ?1, ?2, ?3)",
            params![&identity.secret_bytes()[..], token.0, self.clock.now() as i64],
        )?;
        info!(key = %identity.public_key(), "identity imported");
        Ok(())
    }

    /// Replaces the inbox token (the identity must exist).
    pub fn set_inbox_token(&self, token: InboxToken) -> Result<(), StoreError> {
        let changed = self.conn().execute(
            "UPDATE identity SET inbox_token = ?1 WHERE id = 1",
            params![token.0],
        )?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::CorruptIdentity)
        }
    }

    /// Every row of `table` (columns `key`, `bytes`) that still validates,
    /// ordered by key. Rows that fail for good (tampered, a malformed key)
    /// are deleted; rows the clock shows expired or "created in the
    /// future" are skipped and kept (the sweep deletes expired ones after
    /// the grace period, see [`expiry`]).
    pub(crate) fn validated_rows(&self, table: &'static str) -> Result<Vec<Record>, StoreError> {
        let now = self.clock.now();
        let conn = self.conn();
        let mut statement =
            conn.prepare(&format!("SELECT key, bytes FROM {table} ORDER BY key"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut records = Vec::with_capacity(rows.len());
        for (raw_key, bytes) in rows {
            let checked = match <[u8; 32]>::try_from(raw_key.as_slice()) {
                Ok(key) => self.validator.validate(&DhtKey(key), &bytes, now),
                Err(_) => Err(RecordError::KeyMismatch),
            };
            match checked {
                Ok(record) => records.push(record),
                Err(error) if is_clock_dependent(&error) => {}
                Err(error) => {
                    warn!(table, %error, "dropping a stored record that no longer validates");
                    conn.execute(
                        &format!("DELETE FROM {table} WHERE key = ?1"),
                        params![raw_key],
                    )?;
                }
            }
        }
        Ok(records)
    }
}

/// Most attempts [`wait_for_lock`] makes: with its sleeps (1, 2, … 20 ms,
/// then 20 ms each) about 30 s of waiting.
const MAX_LOCK_ATTEMPTS: i32 = 1_510;

/// SQLite's busy handler for every connection: waits for another
/// connection's write lock in short sleeps, up to about 30 s, before the
/// statement fails with "database is locked".
///
/// Why not `busy_timeout(5 s)`: SQLite's lock is not fair. Under sustained
/// writes from several connections (the SDK opens more than one, each
/// commit an fsync) a waiter that sleeps up to 100 ms between tries can
/// lose the lock to the others for more than 5 s on a loaded machine, and
/// the write then fails — a lost outbox row or intent
/// (`core/tests/store_durability.rs` failed that way beside a build).
/// Short sleeps retry more often, and a longer bound turns starvation into
/// latency instead of a lost write.
fn wait_for_lock(attempt: i32) -> bool {
    let sleep_ms = (attempt.max(0) as u64 + 1).min(20);
    std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
    attempt < MAX_LOCK_ATTEMPTS
}

/// A transaction that takes the write lock before its first statement
/// (`BEGIN IMMEDIATE`). Every transaction that reads and then writes uses
/// it: a DEFERRED one would start as a reader and could fail its upgrade
/// with `SQLITE_BUSY_SNAPSHOT` when another connection wrote in between,
/// an error the busy handler does not retry.
pub(crate) fn write_tx(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    Ok(conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}

/// The identity row, if any; secret bytes are wiped once copied into the key.
fn read_identity(conn: &Connection) -> Result<Option<(Identity, InboxToken)>, StoreError> {
    let row: Option<(zeroize::Zeroizing<Vec<u8>>, Vec<u8>)> = conn
        .query_row(
            "SELECT secret, inbox_token FROM identity WHERE id = 1",
            [],
            |row| Ok((zeroize::Zeroizing::new(row.get(0)?), row.get(1)?)),
        )
        .optional()?;
    let Some((secret, token)) = row else {
        return Ok(None);
    };
    let secret: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        secret
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::CorruptIdentity)?,
    );
    let token: [u8; 16] = token.try_into().map_err(|_| StoreError::CorruptIdentity)?;
    Ok(Some((
        Identity::from_secret_bytes(*secret),
        InboxToken(token),
    )))
}

/// A record "created in the future" or expired is only so for the clock
/// as it reads now (it may have jumped): not served now, but not deleted
/// on a read. Expired rows are deleted by the sweep ([`expiry`]).
pub(crate) fn is_clock_dependent(error: &RecordError) -> bool {
    use crate::record::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::CreatedInFuture | ErrorKind::Expired
    )
}

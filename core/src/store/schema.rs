//! The SQLite schema and its migrations.
//!
//! Each entry of [`MIGRATIONS`] moves the schema up one version; the version
//! reached is kept in `PRAGMA user_version`. Migrations only ever append, so
//! a database made by any earlier build opens in a later one, and a database
//! from a *newer* build is refused rather than misread.

use rusqlite::Connection;

use crate::store::StoreError;

/// Schema steps, in order. Never edit a shipped step; add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: identity and the records this node holds for others.
    "CREATE TABLE identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        secret BLOB NOT NULL CHECK (length(secret) = 32),
        inbox_token BLOB NOT NULL CHECK (length(inbox_token) = 4),
        created_at INTEGER NOT NULL
    );
    CREATE TABLE held_records (
        key BLOB PRIMARY KEY CHECK (length(key) = 32),
        mailbox BLOB NOT NULL,
        sender BLOB NOT NULL,
        kind INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        size INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        stored_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX held_by_expiry ON held_records (expires_at);
    CREATE INDEX held_by_mailbox ON held_records (mailbox, sender);",
    // 2: the node's own published records, republished until they expire
    // or are replaced (pigeonhole-node's outbox).
    "CREATE TABLE outbox (
        key BLOB PRIMARY KEY CHECK (length(key) = 32),
        expires_at INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        queued_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX outbox_by_expiry ON outbox (expires_at);",
    // 3: the buddy layer: requests received, answered and sent, the buddy
    // list (the access-control list), blocked senders and the profile.
    "CREATE TABLE profile (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        display_name TEXT NOT NULL,
        directory_name TEXT,
        directory_expires_at INTEGER
    );
    CREATE TABLE pending_requests (
        request_id BLOB PRIMARY KEY CHECK (length(request_id) = 32),
        sender BLOB NOT NULL UNIQUE,
        inbox BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        record BLOB NOT NULL,
        received_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE seen_requests (
        request_id BLOB PRIMARY KEY,
        sender BLOB NOT NULL,
        seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX seen_by_sender ON seen_requests (sender, seen_at);
    CREATE TABLE answered_requests (
        request_id BLOB PRIMARY KEY,
        sender BLOB NOT NULL,
        decision INTEGER NOT NULL,
        answered_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE sent_requests (
        request_id BLOB PRIMARY KEY,
        recipient BLOB NOT NULL,
        recipient_token BLOB NOT NULL,
        reply_token BLOB NOT NULL,
        record BLOB NOT NULL,
        status INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        answered_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX sent_by_recipient ON sent_requests (recipient);
    CREATE TABLE buddies (
        public_key BLOB PRIMARY KEY,
        display_name TEXT NOT NULL,
        inbox_token BLOB,
        added_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE blocked (
        public_key BLOB PRIMARY KEY,
        blocked_at INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 4 (dur12): the buddy intent log: a request or answer is written here,
    // committed, and only then put; the row is removed in the transaction
    // that records the outcome (sent row / answered row). See store::intents.
    "CREATE TABLE buddy_intents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        what INTEGER NOT NULL,
        state INTEGER NOT NULL,
        mailbox BLOB NOT NULL CHECK (length(mailbox) = 32),
        body BLOB NOT NULL,
        lifetime_secs INTEGER NOT NULL,
        peer BLOB NOT NULL CHECK (length(peer) = 32),
        peer_token BLOB NOT NULL CHECK (length(peer_token) = 4),
        reply_token BLOB,
        request_id BLOB,
        request_expires_at INTEGER,
        peer_name TEXT,
        queued_at INTEGER NOT NULL
    );",
];

/// Brings `conn` up to the newest schema, one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    if found > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: MIGRATIONS.len(),
        });
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(found) {
        // IMMEDIATE, and the version read again under the lock: another
        // connection opening the same file may have just run this step.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if now > index as i64 {
            continue;
        }
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "store schema migrated");
    }
    Ok(())
}

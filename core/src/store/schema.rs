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
    // 4: keep both — held records become a set per mailbox, keyed by
    // (mailbox, instance, record id), so two records of one slot are both
    // kept. `instance` is the 8-byte instance id (bucket << 32 | seq), which
    // sorts like the instance id for every real bucket (< 2^31). The rows of
    // `held_records` are copied by `copy_held_records` (the record id is a
    // hash SQL cannot compute), then that table is dropped.
    "CREATE TABLE held_set (
        mailbox BLOB NOT NULL CHECK (length(mailbox) = 32),
        instance INTEGER NOT NULL,
        record_id BLOB NOT NULL CHECK (length(record_id) = 32),
        key BLOB NOT NULL CHECK (length(key) = 32),
        sender BLOB NOT NULL,
        kind INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        size INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        stored_at INTEGER NOT NULL,
        PRIMARY KEY (mailbox, instance, record_id)
    ) WITHOUT ROWID;
    CREATE INDEX held_set_by_key ON held_set (key, record_id);
    CREATE INDEX held_set_by_expiry ON held_set (expires_at);
    CREATE INDEX held_set_by_sender ON held_set (mailbox, sender);",
    // 5: feeds and document notices (issue 9): feeds this user posts to,
    // feeds followed with their read cursor, the local copy of posts;
    // documents owned, watched (cursor, newest editor list) and notices.
    "CREATE TABLE feed_own (
        name TEXT PRIMARY KEY,
        last_number INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE feed_follows (
        mailbox BLOB PRIMARY KEY CHECK (length(mailbox) = 32),
        author BLOB NOT NULL,
        name TEXT NOT NULL,
        cursor_instance INTEGER,
        cursor_record BLOB,
        last_number INTEGER NOT NULL DEFAULT 0,
        missed INTEGER NOT NULL DEFAULT 0,
        followed_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE feed_posts (
        record_id BLOB PRIMARY KEY CHECK (length(record_id) = 32),
        mailbox BLOB NOT NULL,
        instance INTEGER NOT NULL,
        number INTEGER NOT NULL,
        root_id BLOB NOT NULL,
        replaced INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        title TEXT NOT NULL,
        link TEXT,
        summary TEXT NOT NULL,
        published_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX feed_posts_by_mailbox ON feed_posts (mailbox, instance, record_id);
    CREATE TABLE doc_own (
        name TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL,
        list_version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE doc_watches (
        mailbox BLOB PRIMARY KEY CHECK (length(mailbox) = 32),
        owner BLOB NOT NULL,
        name TEXT NOT NULL,
        last_version INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0,
        editor_list BLOB,
        watched_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE doc_notices (
        record_id BLOB PRIMARY KEY CHECK (length(record_id) = 32),
        mailbox BLOB NOT NULL,
        version INTEGER NOT NULL,
        record BLOB NOT NULL,
        received_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX doc_notices_by_version ON doc_notices (mailbox, version);",
    // 6: the buddy intent log: a request or answer is written here,
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
    // 7 (names-tokens, issue 11): inbox tokens grow to 16 bytes; the rest
    // of the step is `token_upgrade::widen_inbox_tokens`.
    super::token_upgrade::INBOX_TOKENS_V2,
    // 8 (inbox admission, issue 11): inbox
    // records whose fate was decided (dropped) are remembered by record id
    // and never judged again; directory lookups are cached across syncs,
    // negative ones too, with the claims found (see store::admission).
    "CREATE TABLE dropped_requests (
        record_id BLOB PRIMARY KEY CHECK (length(record_id) = 32),
        sender BLOB NOT NULL,
        reason INTEGER NOT NULL,
        dropped_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dropped_by_expiry ON dropped_requests (expires_at);
    ALTER TABLE pending_requests ADD COLUMN tier INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE directory_lookups (
        name TEXT PRIMARY KEY,
        looked_up_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE directory_claims (
        name TEXT NOT NULL,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        display_name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (name, public_key)
    ) WITHOUT ROWID;",
    // 9: fair storage (issue 11): what each sender, each mailbox and each
    // (mailbox, sender) pair holds, and the total, kept by triggers on
    // `held_set` so that every path that deletes a row (sweep, failed
    // re-validation, tombstone, displacement) keeps them exact, and a full
    // store finds its largest holder through an index instead of a scan.
    // The expression index orders a sender's records the way displacement
    // picks them (tombstones last, then latest expiry, then record id).
    "CREATE TABLE held_total (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    );
    INSERT INTO held_total (id, records, bytes)
        SELECT 0, count(*), coalesce(sum(size), 0) FROM held_set;
    CREATE TABLE held_by_sender (
        sender BLOB PRIMARY KEY,
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX held_by_sender_bytes ON held_by_sender (bytes);
    INSERT INTO held_by_sender (sender, records, bytes)
        SELECT sender, count(*), sum(size) FROM held_set GROUP BY sender;
    CREATE TABLE held_by_mailbox (
        mailbox BLOB PRIMARY KEY,
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO held_by_mailbox (mailbox, records, bytes)
        SELECT mailbox, count(*), sum(size) FROM held_set GROUP BY mailbox;
    CREATE TABLE held_by_mailbox_sender (
        mailbox BLOB NOT NULL,
        sender BLOB NOT NULL,
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (mailbox, sender)
    ) WITHOUT ROWID;
    CREATE INDEX held_by_mailbox_sender_records
        ON held_by_mailbox_sender (mailbox, records, bytes);
    INSERT INTO held_by_mailbox_sender (mailbox, sender, records, bytes)
        SELECT mailbox, sender, count(*), sum(size) FROM held_set GROUP BY mailbox, sender;
    CREATE INDEX held_set_by_eviction
        ON held_set (sender, kind = 6, expires_at DESC, record_id DESC);
    CREATE TRIGGER held_set_counted AFTER INSERT ON held_set BEGIN
        UPDATE held_total SET records = records + 1, bytes = bytes + NEW.size;
        INSERT OR IGNORE INTO held_by_sender VALUES (NEW.sender, 0, 0);
        UPDATE held_by_sender SET records = records + 1, bytes = bytes + NEW.size
            WHERE sender = NEW.sender;
        INSERT OR IGNORE INTO held_by_mailbox VALUES (NEW.mailbox, 0, 0);
        UPDATE held_by_mailbox SET records = records + 1, bytes = bytes + NEW.size
            WHERE mailbox = NEW.mailbox;
        INSERT OR IGNORE INTO held_by_mailbox_sender VALUES (NEW.mailbox, NEW.sender, 0, 0);
        UPDATE held_by_mailbox_sender SET records = records + 1, bytes = bytes + NEW.size
            WHERE mailbox = NEW.mailbox AND sender = NEW.sender;
    END;
    CREATE TRIGGER held_set_uncounted AFTER DELETE ON held_set BEGIN
        UPDATE held_total SET records = records - 1, bytes = bytes - OLD.size;
        UPDATE held_by_sender SET records = records - 1, bytes = bytes - OLD.size
            WHERE sender = OLD.sender;
        DELETE FROM held_by_sender WHERE sender = OLD.sender AND records <= 0;
        UPDATE held_by_mailbox SET records = records - 1, bytes = bytes - OLD.size
            WHERE mailbox = OLD.mailbox;
        DELETE FROM held_by_mailbox WHERE mailbox = OLD.mailbox AND records <= 0;
        UPDATE held_by_mailbox_sender SET records = records - 1, bytes = bytes - OLD.size
            WHERE mailbox = OLD.mailbox AND sender = OLD.sender;
        DELETE FROM held_by_mailbox_sender
            WHERE mailbox = OLD.mailbox AND sender = OLD.sender AND records <= 0;
    END;",
    // 10: expiry that survives clock jumps (see store::expiry): how long, in
    // milliseconds of monotonic time, the local clock has shown a row
    // expired; NULL while it shows it live. Rows are deleted only once
    // this reaches the grace period, never on the wall clock alone.
    "ALTER TABLE held_set ADD COLUMN expired_ms INTEGER;
    ALTER TABLE outbox ADD COLUMN expired_ms INTEGER;
    ALTER TABLE pending_requests ADD COLUMN expired_ms INTEGER;
    ALTER TABLE seen_requests ADD COLUMN expired_ms INTEGER;
    ALTER TABLE answered_requests ADD COLUMN expired_ms INTEGER;
    CREATE INDEX held_set_by_expired ON held_set (expired_ms) WHERE expired_ms IS NOT NULL;",
];

/// The version whose step creates `held_set` and copies `held_records` into it.
const KEEP_BOTH_VERSION: usize = 4;

/// Copies every row of the old one-per-slot table into `held_set` and drops
/// the old table. Rows too short to carry an instance id are dropped (they
/// would fail validation on every read anyway); everything else is
/// re-validated on read as always.
fn copy_held_records(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    const INSTANCE_AT: usize = 1 + 1 + 32;
    let rows = {
        let mut statement = tx.prepare(
            "SELECT key, mailbox, sender, kind, expires_at, size, bytes, stored_at
             FROM held_records",
        )?;
        statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, Vec<u8>>(6)?,
                    row.get::<_, i64>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut copied = 0usize;
    for (key, mailbox, sender, kind, expires_at, size, bytes, stored_at) in rows {
        let Some(instance) = bytes
            .get(INSTANCE_AT..INSTANCE_AT + 8)
            .and_then(|raw| <[u8; 8]>::try_from(raw).ok())
        else {
            continue;
        };
        if mailbox.len() != 32 {
            continue;
        }
        tx.execute(
            "INSERT OR IGNORE INTO held_set
             (mailbox, instance, record_id, key, sender, kind, expires_at, size, bytes, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            rusqlite::params![
                mailbox,
                i64::from_be_bytes(instance),
                crate::record::record_id(&bytes),
                key,
                sender,
                kind,
                expires_at,
                size,
                bytes,
                stored_at
            ],
        )?;
        copied += 1;
    }
    tx.execute_batch("DROP TABLE held_records;")?;
    tracing::info!(copied, "held records moved to the keep-both table");
    Ok(())
}

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
        if index + 1 == KEEP_BOTH_VERSION {
            copy_held_records(&tx)?;
        }
        // Matched by content, not number: steps may be renumbered on merge.
        if *step == super::token_upgrade::INBOX_TOKENS_V2 {
            super::token_upgrade::widen_inbox_tokens(&tx)?;
        }
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "store schema migrated");
    }
    Ok(())
}

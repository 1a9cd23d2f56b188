//! The schema step that grows inbox tokens from 4 to 16 bytes (contact code
//! version 2, protocol version 3; issue 11).
//!
//! What happens to each table's tokens, and why:
//! * `identity`: a fresh random 16-byte token, so the user's inbox (and
//!   contact code) changes once. The old 4-byte token is not kept: new
//!   senders refuse version-1 codes, and requests already waiting in the
//!   old inbox use the version-1 body (a 4-byte reply token) that a
//!   version-3 reader cannot decode; the pending list drops requests that
//!   arrived in another inbox, as after a rotation.
//! * `sent_requests`: 4-byte tokens become version-1 stand-ins
//!   ([`InboxToken::from_legacy`]), which name the very inbox they named
//!   before. The sync reads the inbox of each pending request's reply
//!   token until it can no longer be answered, so answers to requests sent
//!   before the upgrade still arrive in the old inbox, and only until those
//!   requests expire (plus a response lifetime).
//! * `buddy_intents`: the same stand-ins, so an intent cut by a crash
//!   before the upgrade finishes as it started.
//! * `buddies`: a buddy's 4-byte token is a version-1 code, refused by now:
//!   it is forgotten (the buddy stays a buddy; their code shows again once
//!   they share a new one).
//!
//! SQLite cannot change a CHECK constraint in place, so the two tables with
//! a 4-byte CHECK are rebuilt from their own stored `CREATE` statements
//! (whatever columns and indexes later steps added survive).

use rusqlite::{Transaction, params};

use crate::contact::InboxToken;

/// The schema step (appended to [`super::schema::MIGRATIONS`]); the rest is
/// done by [`widen_inbox_tokens`] in the same transaction.
pub const INBOX_TOKENS_V2: &str = "
    UPDATE buddies SET inbox_token = NULL WHERE length(inbox_token) = 4;
    UPDATE sent_requests
        SET reply_token = unhex('000000000000000000000000' || hex(reply_token))
        WHERE length(reply_token) = 4;
    UPDATE sent_requests
        SET recipient_token = unhex('000000000000000000000000' || hex(recipient_token))
        WHERE length(recipient_token) = 4;";

/// Rebuilds `identity` and `buddy_intents` with 16-byte token checks and
/// converts their rows (see the module docs).
pub fn widen_inbox_tokens(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    rebuild_with_check(
        tx,
        "identity",
        "CHECK (length(inbox_token) = 4)",
        "CHECK (length(inbox_token) = 16)",
        &[],
    )?;
    let token = InboxToken::random();
    let upgraded = tx.execute(
        "UPDATE identity SET inbox_token = ?1",
        params![&token.0[..]],
    )?;
    rebuild_with_check(
        tx,
        "buddy_intents",
        "CHECK (length(peer_token) = 4)",
        "CHECK (length(peer_token) = 16)",
        &["peer_token", "reply_token"],
    )?;
    tracing::info!(
        identities = upgraded,
        "inbox tokens grown to 16 bytes: this user's contact code changed"
    );
    Ok(())
}

/// Copies `table` aside, recreates it from its stored `CREATE` with `old`
/// check text replaced by `new`, turns 4-byte `stand_ins` columns into
/// version-1 stand-ins and copies the rows back, then recreates indexes.
/// Rows of `table` must fit the new check after that (identity's token is
/// set by the caller: it is copied through a check-free temporary table).
fn rebuild_with_check(
    tx: &Transaction<'_>,
    table: &str,
    old: &str,
    new: &str,
    stand_ins: &[&str],
) -> rusqlite::Result<()> {
    let create: String = tx.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![table],
        |row| row.get(0),
    )?;
    if !create.contains(old) {
        // Already widened, or never narrow: nothing to rebuild.
        return Ok(());
    }
    let indexes: Vec<String> = tx
        .prepare(
            "SELECT sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
        )?
        .query_map(params![table], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let aside = format!("{table}_token_upgrade");
    tx.execute_batch(&format!(
        "CREATE TEMP TABLE {aside} AS SELECT * FROM {table}; DROP TABLE {table};"
    ))?;
    for column in stand_ins {
        tx.execute_batch(&format!(
            "UPDATE {aside}
             SET {column} = unhex('000000000000000000000000' || hex({column}))
             WHERE length({column}) = 4;"
        ))?;
    }
    // Identity's token is replaced after the copy; a 16-byte placeholder
    // keeps the new check satisfied until then.
    if table == "identity" {
        tx.execute_batch(&format!(
            "UPDATE {aside} SET inbox_token = zeroblob(16) WHERE length(inbox_token) = 4;"
        ))?;
    }
    tx.execute_batch(&create.replace(old, new))?;
    tx.execute_batch(&format!(
        "INSERT INTO {table} SELECT * FROM {aside}; DROP TABLE {aside};"
    ))?;
    for index in indexes {
        tx.execute_batch(&index)?;
    }
    Ok(())
}

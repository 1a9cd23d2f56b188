//! Tables of inbox admission: inbox records whose fate was decided
//! (dropped, and why), and the directory lookups cached across syncs.
//!
//! A drop is remembered by record id until the record expires, so a
//! decision is never taken again: a request dropped over a cap does not
//! come back a day later or when room frees up, and a record that failed
//! to open is not decrypted on every sync. The directory cache keeps the
//! claims found for a name (none, for a negative result) with the time of
//! the lookup, so a name is looked up at most once per cache lifetime
//! whatever the number of requests naming it, and pending requests can
//! show their claims without the network.

use rusqlite::{OptionalExtension, params};

use crate::identity::PublicKey;
use crate::store::{Store, StoreError};

/// Who a pending request's sender is to this user, as admission saw it.
/// Values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SenderTier {
    /// A key this user knows nothing about (the small unknown cap).
    Unknown = 0,
    /// A sender whose directory name has a claim by its key.
    Named = 1,
    /// A key this user sent a request to, or a buddy asking again.
    Known = 2,
}

/// A sent request resolved as accepted: its id, its recipient (now a
/// buddy) and its record bytes (to withdraw it).
pub type ResolvedSent = ([u8; 32], PublicKey, Vec<u8>);

/// One cached directory claim (see [`Store::cache_directory`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedClaim {
    /// The key that signed the claim.
    pub public_key: PublicKey,
    /// The display name it gave.
    pub display_name: String,
    /// When the claim was made.
    pub created_at: u64,
    /// When the claim expires.
    pub expires_at: u64,
}

impl Store {
    /// Remembers that inbox record `record_id` from `sender` was dropped
    /// for `reason` (a stored code), until `expires_at`. The first
    /// decision stays.
    pub fn remember_drop(
        &self,
        record_id: &[u8; 32],
        sender: &PublicKey,
        reason: u8,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO dropped_requests (record_id, sender, reason, dropped_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record_id,
                sender.0,
                reason,
                self.clock.now() as i64,
                expires_at as i64
            ],
        )?;
        Ok(())
    }

    /// The stored reason code inbox record `record_id` was dropped for, if
    /// it was.
    pub fn dropped_reason(&self, record_id: &[u8; 32]) -> Result<Option<u8>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT reason FROM dropped_requests WHERE record_id = ?1",
                params![record_id],
                |row| row.get::<_, i64>(0),
            )
            .optional()?
            .map(|reason| reason as u8))
    }

    /// Unexpired pending requests of `tier`, and in total.
    pub fn pending_counts(&self, tier: SenderTier) -> Result<(u64, u64), StoreError> {
        let (of_tier, total): (i64, i64) = self.conn().query_row(
            "SELECT coalesce(sum(tier = ?1), 0), count(*) FROM pending_requests WHERE expires_at > ?2",
            params![tier as i64, self.clock.now() as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((of_tier as u64, total as u64))
    }

    /// Whether `sender` has an unexpired pending request.
    pub fn has_pending_from(&self, sender: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM pending_requests WHERE sender = ?1 AND expires_at > ?2",
                params![sender.0, self.clock.now() as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Sets the tier of the pending request `request_id`.
    pub fn set_pending_tier(
        &self,
        request_id: &[u8; 32],
        tier: SenderTier,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE pending_requests SET tier = ?2 WHERE request_id = ?1",
            params![request_id, tier as i64],
        )?;
        Ok(())
    }

    /// Whether this user has a request to `peer` still waiting for an
    /// answer (so a request from `peer` crosses it).
    pub fn has_sent_pending_to(&self, peer: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM sent_requests WHERE recipient = ?1 AND status = 0 LIMIT 1",
                params![peer.0],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Marks every request this user sent to a current buddy and still
    /// waiting as accepted (the two asked each other and one accepted);
    /// returns each one's id, recipient and record bytes (to withdraw).
    pub fn resolve_sent_to_buddies(&self) -> Result<Vec<ResolvedSent>, StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let rows = {
            let mut statement = tx.prepare(
                "SELECT request_id, recipient, record FROM sent_requests
                 WHERE status = 0 AND recipient IN (SELECT public_key FROM buddies)",
            )?;
            statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut resolved = Vec::new();
        for (id, recipient, record) in rows {
            let (Ok(id), Ok(recipient)) =
                (<[u8; 32]>::try_from(id), <[u8; 32]>::try_from(recipient))
            else {
                continue;
            };
            tx.execute(
                "UPDATE sent_requests SET status = 1, answered_at = ?2 WHERE request_id = ?1",
                params![id, self.clock.now() as i64],
            )?;
            resolved.push((id, PublicKey(recipient), record));
        }
        tx.commit()?;
        Ok(resolved)
    }

    /// When buddy `key` was added, if it is one.
    pub fn buddy_added_at(&self, key: &PublicKey) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT added_at FROM buddies WHERE public_key = ?1",
                params![key.0],
                |row| row.get::<_, i64>(0),
            )
            .optional()?
            .map(|at| at as u64))
    }

    /// The claims cached for directory name `name` and when they were
    /// looked up, or `None` if the name was never looked up. An empty list
    /// is a cached negative result.
    pub fn cached_directory(
        &self,
        name: &str,
    ) -> Result<Option<(u64, Vec<CachedClaim>)>, StoreError> {
        let conn = self.conn();
        let looked_up_at: Option<i64> = conn
            .query_row(
                "SELECT looked_up_at FROM directory_lookups WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()?;
        let Some(looked_up_at) = looked_up_at else {
            return Ok(None);
        };
        let mut statement = conn.prepare(
            "SELECT public_key, display_name, created_at, expires_at FROM directory_claims
             WHERE name = ?1 ORDER BY created_at, public_key",
        )?;
        let claims = statement
            .query_map(params![name], |row| {
                let key: Vec<u8> = row.get(0)?;
                Ok((
                    key,
                    row.get(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter_map(|(key, display_name, created_at, expires_at)| {
                Some(CachedClaim {
                    public_key: PublicKey(key.try_into().ok()?),
                    display_name,
                    created_at: created_at as u64,
                    expires_at: expires_at as u64,
                })
            })
            .collect();
        Ok(Some((looked_up_at as u64, claims)))
    }

    /// Replaces the cached lookup of `name` with `claims` (none: a
    /// negative result), looked up now.
    pub fn cache_directory(&self, name: &str, claims: &[CachedClaim]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        tx.execute(
            "DELETE FROM directory_claims WHERE name = ?1",
            params![name],
        )?;
        for claim in claims {
            tx.execute(
                "INSERT OR REPLACE INTO directory_claims (name, public_key, display_name, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    name,
                    claim.public_key.0,
                    claim.display_name,
                    claim.created_at as i64,
                    claim.expires_at as i64
                ],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO directory_lookups (name, looked_up_at) VALUES (?1, ?2)",
            params![name, self.clock.now() as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Drops expired remembered drops, and cached lookups older than
    /// `keep_secs` (the longest a request that names them can be pending,
    /// so a pending request keeps its claims); how many rows.
    pub fn sweep_admission_tables(&self, keep_secs: u64) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let conn = self.conn();
        let mut removed = conn.execute(
            "DELETE FROM dropped_requests WHERE expires_at <= ?1",
            params![now as i64],
        )?;
        let stale = now.saturating_sub(keep_secs) as i64;
        removed += conn.execute(
            "DELETE FROM directory_claims WHERE name IN
             (SELECT name FROM directory_lookups WHERE looked_up_at < ?1)",
            params![stale],
        )?;
        removed += conn.execute(
            "DELETE FROM directory_lookups WHERE looked_up_at < ?1",
            params![stale],
        )?;
        Ok(removed)
    }
}

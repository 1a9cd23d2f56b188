//! Cheap size questions about held records, for storage quotas.
//!
//! A storing node checks its quotas on every inbound record, so these
//! queries read only the indexed size column and never decode or verify a
//! record (that is the validator's job, on the paths that serve records).

use rusqlite::{OptionalExtension, params};

use crate::record::DhtKey;
use crate::store::{Store, StoreError};

impl Store {
    /// The encoded size of the record held under `key`, if any.
    pub fn held_size(&self, key: &DhtKey) -> Result<Option<u64>, StoreError> {
        let size: Option<i64> = self
            .conn()
            .query_row(
                "SELECT size FROM held_records WHERE key = ?1",
                params![key.0],
                |row| row.get(0),
            )
            .optional()?;
        Ok(size.map(|size| size as u64))
    }
}

impl Store {
    /// Keys and bytes of every held record that has not expired, without
    /// decoding or verifying them. For re-replication: the receiving peers
    /// validate what they are sent, so the sender need not verify tens of
    /// thousands of signatures first.
    pub fn held_unexpired_raw(&self) -> Result<Vec<(DhtKey, Vec<u8>)>, StoreError> {
        let conn = self.conn();
        let mut statement =
            conn.prepare("SELECT key, bytes FROM held_records WHERE expires_at > ?1 ORDER BY key")?;
        let rows = statement
            .query_map(params![self.clock.now() as i64], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, bytes)| Some((DhtKey(key.try_into().ok()?), bytes)))
            .collect())
    }
}

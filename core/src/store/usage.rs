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

//! The outbox: records this node published itself, kept so that it can
//! publish them again until they expire or are replaced.
//!
//! A DHT forgets: the peers that held a record leave, new peers arrive that
//! never saw it. The publisher is the one party that certainly wants its
//! record to survive, so it keeps a copy and republishes it on a timer and
//! whenever new peers appear. The outbox is persisted so that this goes on
//! after an app restart. Entries are validated again when they are read
//! (the same [`crate::record::Validator`] as everything else); an entry
//! damaged on disk is deleted, an expired one skipped (the sweep deletes it
//! after the grace period of [`crate::store::expiry`]).
//! Replacing an entry (an update or a tombstone in the same slot) is an
//! upsert on the slot's key, so a deleted record stops being republished.

use rusqlite::params;

use crate::record::{DhtKey, Record};
use crate::store::{Store, StoreError};

impl Store {
    /// Queues `record` for republishing, replacing whatever this node had
    /// queued for the same slot.
    pub fn outbox_put(&self, record: &Record) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO outbox (key, expires_at, bytes, queued_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                record.dht_key().0,
                record.header.expires_at as i64,
                record.bytes(),
                self.clock.now() as i64
            ],
        )?;
        Ok(())
    }

    /// Stops republishing the record queued under `key`; whether there was one.
    pub fn outbox_remove(&self, key: &DhtKey) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM outbox WHERE key = ?1", params![key.0])?
            > 0)
    }

    /// The bytes queued under `key`, if any (not validated: callers compare).
    pub fn outbox_get(&self, key: &DhtKey) -> Result<Option<Vec<u8>>, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT bytes FROM outbox WHERE key = ?1",
                params![key.0],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Every queued record that still validates, ordered by key; expired
    /// entries are skipped, damaged ones deleted, by the same rule as
    /// [`Store::list`].
    pub fn outbox_list(&self) -> Result<Vec<Record>, StoreError> {
        self.validated_rows("outbox")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::identity::Identity;
    use crate::record::{Header, InstanceId, Kind, Policy, Validator};
    use crate::store::Store;

    const NOW: u64 = 1_800_000_000;

    fn record(seq: u32, lifetime: u64, validator: &Validator) -> crate::record::Record {
        let identity = Identity::from_secret_bytes([3; 32]);
        let header = Header {
            kind: Kind::FeedPost,
            mailbox: crate::record::body::feed_mailbox(&identity.public_key(), "news"),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + lifetime),
                seq,
            },
            sender: identity.public_key(),
            created_at: NOW,
            expires_at: NOW + lifetime,
        };
        let body = {
            use crate::record::body::{BodyRules, FeedPost};
            FeedPost {
                feed_name: "news".into(),
                title: "t".into(),
                link: None,
                summary: "s".into(),
                number: 1,
                published_at: None,
                replaces: None,
            }
            .encode()
        };
        let bytes = header.sign(&identity, &body);
        validator.validate(&header.dht_key(), &bytes, NOW).unwrap()
    }

    #[test]
    fn queued_records_survive_until_expiry_or_removal() {
        let validator = Validator::new(Policy::default());
        let clock = Arc::new(ManualClock::new(NOW));
        let store = Store::open_in_memory(validator.clone(), clock.clone()).unwrap();
        let short = record(0, 3600, &validator);
        let long = record(1, 7200, &validator);
        store.outbox_put(&short).unwrap();
        store.outbox_put(&long).unwrap();
        assert_eq!(store.outbox_list().unwrap().len(), 2);
        assert_eq!(
            store.outbox_get(&short.dht_key()).unwrap().as_deref(),
            Some(short.bytes())
        );
        clock.advance(3600);
        assert_eq!(store.outbox_list().unwrap(), vec![long.clone()]);
        assert!(store.outbox_remove(&long.dht_key()).unwrap());
        assert!(store.outbox_list().unwrap().is_empty());
    }
}

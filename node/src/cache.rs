//! A bounded in-memory copy of the records this node has just validated
//! and stored, so that reading them back does not cost a database read and
//! a second signature check.
//!
//! Why it is safe: an entry is added only after the record passed the one
//! validator on its way into the store, and is replaced or dropped whenever
//! the store's row changes. Expiry is checked against the node's clock on
//! every read, exactly as the validator would. Rows loaded from disk (after
//! a restart) are not cached: they go through the store's re-validating
//! read. The cache is bounded in bytes and evicts oldest-first.

use std::collections::{HashMap, VecDeque};

use pigeonhole::record::{DhtKey, Record};

/// Bytes of record data kept in memory at most.
pub const CACHE_BYTES: usize = 2 * 1024 * 1024;

/// Recently stored, validated records by slot.
#[derive(Debug, Default)]
pub struct VerifiedCache {
    records: HashMap<DhtKey, Record>,
    order: VecDeque<DhtKey>,
    bytes: usize,
}

impl VerifiedCache {
    /// The cached record of `key` if it has not expired at `now`.
    pub fn get(&self, key: &DhtKey, now: u64) -> Option<&Record> {
        self.records
            .get(key)
            .filter(|record| record.header.expires_at > now)
    }

    /// Remembers `record`, which has just been validated and stored.
    pub fn insert(&mut self, record: Record) {
        let key = record.dht_key();
        self.remove(&key);
        self.bytes += record.bytes().len();
        self.records.insert(key, record);
        self.order.push_back(key);
        while self.bytes > CACHE_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(evicted) = self.records.remove(&oldest) {
                self.bytes -= evicted.bytes().len();
            }
        }
    }

    /// Forgets `key` (its row changed or was deleted).
    pub fn remove(&mut self, key: &DhtKey) {
        if let Some(old) = self.records.remove(key) {
            self.bytes -= old.bytes().len();
            if let Some(position) = self.order.iter().position(|k| k == key) {
                self.order.remove(position);
            }
        }
    }

    /// Forgets everything (after a sweep).
    pub fn clear(&mut self) {
        self.records.clear();
        self.order.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use pigeonhole::identity::Identity;
    use pigeonhole::record::body::SEALED_SCHEME_V1;
    use pigeonhole::record::{Header, InstanceId, Kind, MailboxId, Policy, Validator};

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn record(seq: u32, lifetime: u64) -> Record {
        let identity = Identity::from_secret_bytes([1; 32]);
        let header = Header {
            kind: Kind::BuddyRequest,
            mailbox: MailboxId([2; 32]),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + lifetime),
                seq,
            },
            sender: identity.public_key(),
            created_at: NOW,
            expires_at: NOW + lifetime,
        };
        let mut body = vec![SEALED_SCHEME_V1];
        body.resize(8000, 0);
        let bytes = header.sign(&identity, &body);
        Validator::new(Policy::default())
            .validate(&header.dht_key(), &bytes, NOW)
            .unwrap()
    }

    #[test]
    fn expired_entries_are_not_served_and_the_byte_bound_holds() {
        let mut cache = VerifiedCache::default();
        let short = record(0, 60);
        cache.insert(short.clone());
        assert_eq!(cache.get(&short.dht_key(), NOW), Some(&short));
        assert_eq!(cache.get(&short.dht_key(), NOW + 60), None);
        for seq in 1..1000 {
            cache.insert(record(seq, 3600));
            assert!(cache.bytes <= CACHE_BYTES);
        }
        assert_eq!(cache.get(&short.dht_key(), NOW), None, "oldest not evicted");
        let last = record(999, 3600);
        assert!(cache.get(&last.dht_key(), NOW).is_some());
        cache.remove(&last.dht_key());
        assert!(cache.get(&last.dht_key(), NOW).is_none());
        assert_eq!(cache.records.len(), cache.order.len());
    }
}

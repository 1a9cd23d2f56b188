//! Listing reads: a mailbox read as pages of "records of M after cursor C"
//! from peers that keep a mailbox together (protocol v2).
//!
//! The pages carry raw bytes from peers we do not trust, so every record is
//! validated under the slot key of the mailbox asked for (a record of
//! another mailbox fails the key check), expired and invalid ones are
//! dropped and counted, duplicates are dropped by record id, and the page
//! loop is bounded by [`super::MailboxConfig::max_list_pages`] and stops
//! when a peer makes no progress. Listing order is bucket-major, so a read
//! starts just before today's bucket and stops past the last bucket asked.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use tracing::{debug, warn};

use super::{Dht, Fetched, ListCursor, Mailbox, MailboxError};
use crate::record::{DhtKey, ErrorKind, InstanceId, Kind, MailboxId, decode, record_id};

impl<D: Dht> Mailbox<D> {
    /// Reads `buckets` of `mailbox` after `after` by listing pages, or
    /// `None` when the DHT has no listing reads (use the probe scan).
    pub(super) async fn list_buckets(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        buckets: RangeInclusive<u32>,
        now: u64,
    ) -> Result<Option<Fetched>, MailboxError> {
        let (first, last) = (*buckets.start(), *buckets.end());
        // Strictly before every record of `first`: skip expired buckets.
        let before_first = first.checked_sub(1).map(|bucket| ListCursor {
            instance: InstanceId {
                bucket,
                seq: u32::MAX,
            },
            record_id: [0xff; 32],
        });
        let mut cursor = after.max(before_first);
        let limit = self.config.list_page.max(1);
        let mut fetched = Fetched::default();
        let mut seen = HashSet::new();
        let mut pages = 0u32;
        loop {
            let Some(page) = self.dht.list(mailbox, cursor, limit).await? else {
                return Ok(None);
            };
            pages += 1;
            fetched.stats.lists += 1;
            let mut page_end = cursor;
            let mut past_last = false;
            for bytes in &page.records {
                let Ok(decoded) = decode(bytes) else {
                    fetched.stats.rejected += 1;
                    continue;
                };
                let position = ListCursor {
                    instance: decoded.header.instance,
                    record_id: record_id(bytes),
                };
                if Some(position) <= cursor {
                    // Not after the cursor asked for: a confused peer.
                    fetched.stats.rejected += 1;
                    continue;
                }
                page_end = page_end.max(Some(position));
                if position.instance.bucket > last {
                    past_last = true;
                    continue;
                }
                if !seen.insert(position.record_id) {
                    continue;
                }
                let key = DhtKey::for_slot(&mailbox, position.instance);
                match self.validator.validate(&key, bytes, now) {
                    Ok(record) if record.header.kind == Kind::Tombstone => {
                        fetched.stats.tombstones += 1;
                        fetched.tombstones.push(record);
                    }
                    Ok(record) => fetched.records.push(record),
                    Err(error) if error.kind() == ErrorKind::Expired => {
                        fetched.stats.expired += 1;
                    }
                    Err(error) => {
                        debug!(%error, "dropped an invalid listed record");
                        fetched.stats.rejected += 1;
                    }
                }
            }
            if !page.more || past_last {
                break;
            }
            if page_end <= cursor {
                warn!("a listing page made no progress; stopping the read");
                break;
            }
            if pages >= self.config.max_list_pages {
                warn!(pages, "listing read hit its page limit");
                fetched.stats.truncated = true;
                break;
            }
            cursor = page_end;
        }
        fetched.stats.rounds = pages;
        fetched.stats.buckets = last - first + 1;
        Ok(Some(fetched))
    }
}

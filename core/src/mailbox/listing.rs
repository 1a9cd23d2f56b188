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
//!
//! Speed: signature checks are most of a read's time, so a page's records
//! are validated together ([`crate::record::Validator::validate_many`]:
//! spread over the cores) while the request for the next page is already
//! out (it only needs the page's last position, known from the cheap
//! checks). The validation itself is unchanged: every record, the one
//! validator.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::task::Poll;

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
        let mut next = Some(self.dht.list(mailbox, cursor, limit));
        let mut ready = None;
        while let Some(request) = next.take() {
            let answer = match ready.take() {
                Some(answer) => answer,
                None => request.await,
            };
            let Some(page) = answer? else {
                return Ok(None);
            };
            pages += 1;
            fetched.stats.lists += 1;
            // Cheap checks first (layout, order, range, duplicates); the
            // signatures of what is left are checked below, while the next
            // page is already on its way.
            let mut page_end = cursor;
            let mut past_last = false;
            let mut todo = Vec::with_capacity(page.records.len());
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
                todo.push((DhtKey::for_slot(&mailbox, position.instance), &bytes[..]));
            }
            if !page.more || past_last {
                // The last page.
            } else if page_end <= cursor {
                warn!("a listing page made no progress; stopping the read");
            } else if pages >= self.config.max_list_pages {
                warn!(pages, "listing read hit its page limit");
                fetched.stats.truncated = true;
            } else {
                cursor = page_end;
                let mut request = self.dht.list(mailbox, cursor, limit);
                // Poll once so the request is sent before validation
                // blocks this task (the DHT answers it meanwhile).
                if let Poll::Ready(answer) = futures::poll!(request.as_mut()) {
                    ready = Some(answer);
                }
                next = Some(request);
            }
            for result in self.validator.validate_many(&todo, now) {
                match result {
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
        }
        fetched.stats.rounds = pages;
        fetched.stats.buckets = last - first + 1;
        Ok(Some(fetched))
    }
}

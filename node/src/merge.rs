//! Checking and merging the pages replicas answer to a listing read.
//!
//! Pure functions, apart from the validator: a replica's page is checked
//! (cheaply for every record, in full for a sample — the mailbox validates
//! every record it is given anyway), and the pages of two or more replicas
//! are merged into one page that skips nothing any of them holds.

use std::collections::HashSet;

use pigeonhole::mailbox::ListCursor;
use pigeonhole::record::{DhtKey, InstanceId, MailboxId, Record, Validator};

use crate::mailbox_protocol::slot_of;
use crate::queries::ReadAnswer;

/// A record's place in listing order.
pub fn cursor_of(record: &Record) -> ListCursor {
    ListCursor {
        instance: record.header.instance,
        record_id: record.id(),
    }
}

/// The cursor just before every record of slot `instance`.
pub fn before(instance: InstanceId) -> Option<ListCursor> {
    let previous = instance.to_u64().checked_sub(1)?;
    Some(ListCursor {
        instance: InstanceId::from_u64(previous),
        record_id: [0xff; 32],
    })
}

/// A validated record with its place in listing order.
pub fn positioned(record: &Record) -> (ListCursor, Vec<u8>) {
    (cursor_of(record), record.bytes().to_vec())
}

/// Checks a replica's page: every record must be of `mailbox`, after
/// `after`, and unexpired (cheap checks on the header bytes); up to
/// `sample` of them, spread over the page, pass the full validator.
///
/// Why a sample: the caller (the mailbox) validates every record with the
/// one validator anyway, so a forged record never reaches a user; checking
/// all of them here too would double the signature checks of a read. The
/// sample is what a replica's standing is judged on: a replica that serves
/// forged records is caught and loses its standing. Returns the answer and
/// how many records were found invalid.
pub fn check_page(
    validator: &Validator,
    now: u64,
    mailbox: &MailboxId,
    after: Option<ListCursor>,
    records: Vec<Vec<u8>>,
    more: bool,
    sample: usize,
) -> (ReadAnswer, usize) {
    let stride = records.len().div_ceil(sample.max(1)).max(1);
    let mut kept = Vec::with_capacity(records.len());
    let mut invalid = 0;
    let mut last = None;
    for (index, bytes) in records.into_iter().enumerate() {
        let Some((of, instance)) = slot_of(&bytes) else {
            invalid += 1;
            continue;
        };
        let position = ListCursor {
            instance,
            record_id: pigeonhole::record::record_id(&bytes),
        };
        if of != *mailbox || Some(position) <= after {
            invalid += 1;
            continue;
        }
        last = last.max(Some(position));
        if expires_at_of(&bytes).is_none_or(|expires| expires <= now) {
            continue;
        }
        if index % stride == 0 {
            match validator.validate(&DhtKey::for_slot(mailbox, instance), &bytes, now) {
                Ok(_) => {}
                Err(error) if error.kind() == pigeonhole::record::ErrorKind::Expired => continue,
                Err(_) => {
                    invalid += 1;
                    continue;
                }
            }
        }
        kept.push((position, bytes));
    }
    (
        ReadAnswer::Page {
            records: kept,
            more,
            last,
        },
        invalid,
    )
}

/// The signed `expires_at` of a record's bytes (header offset 82), unchecked.
fn expires_at_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(82..90)?.try_into().ok()?))
}

/// Merges replicas' pages: the union by record id, in listing order, cut at
/// the earliest point a replica with more to say stopped (so nothing it
/// holds between there and another replica's end is skipped), then at
/// `limit`. Returns (more, records).
pub fn merge_pages(answers: Vec<ReadAnswer>, limit: usize) -> (bool, Vec<(ListCursor, Vec<u8>)>) {
    let mut bound: Option<ListCursor> = None;
    let mut more = false;
    let mut seen = HashSet::new();
    let mut merged = Vec::new();
    for answer in answers {
        let ReadAnswer::Page {
            records,
            more: has_more,
            last,
        } = answer
        else {
            continue;
        };
        if has_more {
            more = true;
            if let Some(last) = last {
                bound = Some(bound.map_or(last, |b| b.min(last)));
            }
        }
        for (position, bytes) in records {
            if seen.insert(position.record_id) {
                merged.push((position, bytes));
            }
        }
    }
    merged.sort_by_key(|(position, _)| *position);
    if let Some(bound) = bound {
        merged.retain(|(position, _)| *position <= bound);
    }
    if merged.len() > limit {
        merged.truncate(limit);
        more = true;
    }
    (more, merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u32) -> ListCursor {
        ListCursor {
            instance: InstanceId { bucket: 1, seq },
            record_id: [seq as u8; 32],
        }
    }

    fn page(seqs: &[u32], more: bool) -> ReadAnswer {
        ReadAnswer::Page {
            records: seqs.iter().map(|&s| (at(s), vec![s as u8])).collect(),
            more,
            last: seqs.last().map(|&s| at(s)),
        }
    }

    #[test]
    fn merged_pages_skip_nothing_either_replica_holds() {
        // A has 1..=3 and more; B has 2, 5, 9 and nothing more. Records
        // after 3 may exist on A, so the merged page stops at 3 and says more.
        let (more, merged) = merge_pages(vec![page(&[1, 2, 3], true), page(&[2, 5, 9], false)], 10);
        assert!(more);
        let seqs: Vec<u32> = merged.iter().map(|(p, _)| p.instance.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3], "a duplicate kept or a cut missed");
        // Neither has more: the union, in order, cut at the limit.
        let (more, merged) = merge_pages(vec![page(&[4, 1], false), page(&[3, 2], false)], 3);
        assert!(more, "cut at the limit means more");
        let seqs: Vec<u32> = merged.iter().map(|(p, _)| p.instance.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        let (more, merged) = merge_pages(vec![page(&[], false), page(&[7], false)], 3);
        assert!(!more);
        assert_eq!(merged.len(), 1, "an empty answer hides nothing");
    }
}

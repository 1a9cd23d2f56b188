//! Checking and merging the pages replicas answer to a listing read.
//!
//! Pure functions, apart from the validator: a replica's page is checked
//! (cheaply for every record, in full for a sample — the mailbox validates
//! every record it is given anyway), and the pages of two or more replicas
//! are merged into one page that skips nothing any of them holds.
//!
//! The answers of one read are mostly the same records: replicas of one
//! mailbox hold the same pages, so the sample of each answer falls on the
//! same records. A read therefore remembers which record ids passed the
//! full validator ([`Verified`]); a sampled record whose id is already
//! there counts as checked without a second signature check. That keeps
//! what the sample is for: the id is the SHA-256 of the record's exact
//! bytes, so a replica whose sampled record matches a verified id served
//! a valid record, and one that serves anything else (a forgery, another
//! record's bytes altered) has a new id and is checked in full.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Ids of the records that passed the full validator during one read,
/// shared by the checks of its answers: this node's own (on the own lane)
/// and the replicas' (on the swarm task). Cloning shares the set.
#[derive(Clone, Debug, Default)]
pub struct Verified(Arc<Mutex<HashSet<[u8; 32]>>>);

impl Verified {
    fn contains(&self, id: &[u8; 32]) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    fn insert(&self, id: [u8; 32]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }
}

/// What [`check_page`] found in a replica's page.
pub struct PageCheck {
    /// The records kept, for merging.
    pub answer: ReadAnswer,
    /// Records found invalid (the replica's standing pays for them).
    pub invalid: usize,
    /// Full validations run (sampled records not already in [`Verified`]).
    pub full_checks: usize,
}

/// Checks a replica's page: every record must be of `mailbox`, after
/// `after`, and unexpired (cheap checks on the header bytes); up to
/// `sample` of them, spread over the page, pass the full validator — or
/// are already in `verified` (the same bytes passed it earlier in this
/// read), which those that pass are added to.
///
/// Why a sample: the caller (the mailbox) validates every record with the
/// one validator anyway, so a forged record never reaches a user; checking
/// all of them here too would double the signature checks of a read. The
/// sample is what a replica's standing is judged on: a replica that serves
/// forged records is caught and loses its standing.
#[allow(clippy::too_many_arguments)]
pub fn check_page(
    validator: &Validator,
    now: u64,
    mailbox: &MailboxId,
    after: Option<ListCursor>,
    records: Vec<Vec<u8>>,
    more: bool,
    sample: usize,
    verified: &Verified,
) -> PageCheck {
    let stride = records.len().div_ceil(sample.max(1)).max(1);
    let mut kept = Vec::with_capacity(records.len());
    let mut invalid = 0;
    let mut full_checks = 0;
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
        if index % stride == 0 && !verified.contains(&position.record_id) {
            full_checks += 1;
            match validator.validate(&DhtKey::for_slot(mailbox, instance), &bytes, now) {
                Ok(_) => verified.insert(position.record_id),
                Err(error) if error.kind() == pigeonhole::record::ErrorKind::Expired => continue,
                Err(_) => {
                    invalid += 1;
                    continue;
                }
            }
        }
        kept.push((position, bytes));
    }
    PageCheck {
        answer: ReadAnswer::Page {
            records: kept,
            more,
            last,
        },
        invalid,
        full_checks,
    }
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
    use pigeonhole::identity::Identity;
    use pigeonhole::record::body::SEALED_SCHEME_V1;
    use pigeonhole::record::{Header, Kind, Policy};

    const NOW: u64 = 1_800_000_000;

    /// `n` signed records of one mailbox, in listing order.
    fn signed_page(n: u32) -> (MailboxId, Vec<Vec<u8>>) {
        let mailbox = MailboxId::derive(b"test", b"merge");
        let sender = Identity::from_secret_bytes([9; 32]);
        let expires_at = NOW + 3_600;
        let mut records: Vec<Vec<u8>> = (0..n)
            .map(|seq| {
                let header = Header {
                    kind: Kind::BuddyRequest,
                    mailbox,
                    instance: InstanceId {
                        bucket: InstanceId::bucket_of(expires_at),
                        seq,
                    },
                    sender: sender.public_key(),
                    created_at: NOW - 10,
                    expires_at,
                };
                let mut body = vec![SEALED_SCHEME_V1];
                body.resize(200, 7);
                header.sign(&sender, &body)
            })
            .collect();
        records.sort_by_key(|bytes| {
            let (_, instance) = slot_of(bytes).unwrap();
            (instance, pigeonhole::record::record_id(bytes))
        });
        (mailbox, records)
    }

    /// Two replicas serving the same page: the second one's sample is the
    /// records already verified for the first, so it costs no signature
    /// check; a replica serving a forgery in a sampled place is still
    /// caught (its bytes, so its id, differ from the verified record's).
    #[test]
    fn a_record_verified_for_one_answer_is_not_checked_again_for_another() {
        let validator = Validator::new(Policy::default());
        let (mailbox, records) = signed_page(16);
        let verified = Verified::default();
        let check = |records: &Vec<Vec<u8>>| {
            check_page(
                &validator,
                NOW,
                &mailbox,
                None,
                records.clone(),
                false,
                8,
                &verified,
            )
        };
        let first = check(&records);
        assert_eq!((first.full_checks, first.invalid), (8, 0));
        let second = check(&records);
        assert_eq!(
            (second.full_checks, second.invalid),
            (0, 0),
            "the same bytes were verified for the first answer"
        );
        let mut forged = records.clone();
        *forged[2].last_mut().unwrap() ^= 1; // a sampled place (stride 2)
        let third = check(&forged);
        assert_eq!((third.full_checks, third.invalid), (1, 1));
        let ReadAnswer::Page { records: kept, .. } = third.answer else {
            panic!("a page")
        };
        assert_eq!(kept.len(), 15, "the forgery is dropped, the rest kept");
    }

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

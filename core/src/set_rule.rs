//! The keep-both rule: what a storing peer does with a record arriving for a
//! slot that may already hold records.
//!
//! Why not one value per slot: two valid records for one slot happen in
//! ordinary use (a healed partition, two writers racing across different
//! replicas). With one value per slot one of them is lost, silently, after it
//! was acknowledged. A storing peer therefore keeps a *set* per mailbox,
//! keyed by (mailbox, instance, record id): different records of one slot
//! are all kept, so the union of two replicas' sets is the converged state
//! and nothing acknowledged is lost to a slot conflict.
//!
//! Deletion is the one way a record leaves the set before it expires: a
//! tombstone by the *same sender*, in the *same slot*, naming the record's
//! id, living at least as long as it (or the record could be replayed once
//! the tombstone expired). The tombstone stays in the set, so the record it
//! names is refused ([`SetRejection::Deleted`]) when it arrives later — a
//! tombstone may well arrive before its record. A sender never overwrites its
//! own record: a different record of the same sender in the same slot is
//! just another record (edits are body-level "replaces", read by readers).
//!
//! The single-value rule for plain DHTs is [`crate::slot_rule`]; this one is
//! used by [`crate::store::Store`] and so by every libp2p peer.

use crate::record::{Content, Kind, Record};

/// What a storing peer should do with an incoming valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetWrite {
    /// The same record (same id) is already held: nothing to do, success.
    Unchanged,
    /// Store it beside whatever the slot holds.
    Store,
    /// Store the tombstone and remove the record it names (this id).
    Replace([u8; 32]),
}

/// Why an incoming valid record is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetRejection {
    /// A tombstone names a record of another sender.
    #[error("tombstone names another sender's record")]
    OtherSender,
    /// A held tombstone of the same sender names this record: it was deleted.
    #[error("record was deleted by its sender")]
    Deleted,
    /// A tombstone expires before the record it deletes.
    #[error("tombstone expires before the record it deletes")]
    ShortensLifetime,
}

/// The id a tombstone deletes, if `record` is one.
pub fn deletes(record: &Record) -> Option<[u8; 32]> {
    match (&record.header.kind, &record.content) {
        (Kind::Tombstone, Content::Tombstone(tombstone)) => Some(tombstone.replaced),
        _ => None,
    }
}

/// Decides what to do with `incoming` given `held`, the valid records held
/// now under the same slot key. All must have passed the validator.
pub fn decide(held: &[Record], incoming: &Record) -> Result<SetWrite, SetRejection> {
    let id = incoming.id();
    if held.iter().any(|record| record.id() == id) {
        return Ok(SetWrite::Unchanged);
    }
    if let Some(named) = deletes(incoming) {
        return match held.iter().find(|record| record.id() == named) {
            None => Ok(SetWrite::Store),
            Some(target) if target.header.sender != incoming.header.sender => {
                Err(SetRejection::OtherSender)
            }
            Some(target) if incoming.header.expires_at < target.header.expires_at => {
                Err(SetRejection::ShortensLifetime)
            }
            Some(_) => Ok(SetWrite::Replace(named)),
        };
    }
    let deleted = held.iter().any(|tombstone| {
        deletes(tombstone) == Some(id)
            && tombstone.header.sender == incoming.header.sender
            && tombstone.header.expires_at >= incoming.header.expires_at
    });
    if deleted {
        return Err(SetRejection::Deleted);
    }
    Ok(SetWrite::Store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::record::body::{BodyRules, SEALED_SCHEME_V1, Tombstone};
    use crate::record::{Header, InstanceId, MailboxId, Policy, Validator};

    const NOW: u64 = 1_800_000_000;

    fn header(kind: Kind, sender: &Identity, expires_at: u64) -> Header {
        Header {
            kind,
            mailbox: MailboxId([7; 32]),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + 3600),
                seq: 0,
            },
            sender: sender.public_key(),
            created_at: NOW,
            expires_at,
        }
    }

    fn validated(header: Header, sender: &Identity, body: &[u8]) -> Record {
        let bytes = header.sign(sender, body);
        Validator::new(Policy::default())
            .validate(&header.dht_key(), &bytes, NOW)
            .expect("valid")
    }

    fn request(sender: u8, fill: u8) -> Record {
        let identity = Identity::from_secret_bytes([sender; 32]);
        let mut body = vec![SEALED_SCHEME_V1];
        body.resize(120, fill);
        validated(
            header(Kind::BuddyRequest, &identity, NOW + 3600),
            &identity,
            &body,
        )
    }

    fn tombstone(sender: u8, names: &Record, expires_at: u64) -> Record {
        let identity = Identity::from_secret_bytes([sender; 32]);
        let body = Tombstone {
            replaced: names.id(),
        }
        .encode();
        validated(
            header(Kind::Tombstone, &identity, expires_at),
            &identity,
            &body,
        )
    }

    #[test]
    fn different_records_of_one_slot_are_kept_side_by_side() {
        let first = request(1, 1);
        let other_sender = request(2, 2);
        let same_sender = request(1, 3);
        assert_eq!(decide(&[], &first), Ok(SetWrite::Store));
        assert_eq!(
            decide(std::slice::from_ref(&first), &first),
            Ok(SetWrite::Unchanged)
        );
        assert_eq!(
            decide(std::slice::from_ref(&first), &other_sender),
            Ok(SetWrite::Store)
        );
        assert_eq!(
            decide(std::slice::from_ref(&first), &same_sender),
            Ok(SetWrite::Store),
            "a sender's second record never overwrites its first"
        );
    }

    #[test]
    fn tombstones_delete_only_their_senders_record_and_stay() {
        let record = request(1, 1);
        let held = std::slice::from_ref(&record);
        let delete = tombstone(1, &record, NOW + 3600);
        assert_eq!(decide(held, &delete), Ok(SetWrite::Replace(record.id())));
        assert_eq!(
            decide(held, &tombstone(2, &record, NOW + 3600)),
            Err(SetRejection::OtherSender)
        );
        assert_eq!(
            decide(held, &tombstone(1, &record, NOW + 60)),
            Err(SetRejection::ShortensLifetime)
        );
        // Arriving before its record, the tombstone is kept and refuses it.
        assert_eq!(decide(&[], &delete), Ok(SetWrite::Store));
        assert_eq!(
            decide(std::slice::from_ref(&delete), &record),
            Err(SetRejection::Deleted)
        );
        // Another sender's tombstone does not delete it; a short one neither.
        let foreign = tombstone(2, &record, NOW + 3600);
        assert_eq!(
            decide(std::slice::from_ref(&foreign), &record),
            Ok(SetWrite::Store)
        );
        let short = tombstone(1, &record, NOW + 60);
        assert_eq!(
            decide(std::slice::from_ref(&short), &record),
            Ok(SetWrite::Store)
        );
    }
}

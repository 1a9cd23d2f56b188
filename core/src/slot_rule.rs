//! Who may write a slot that is already taken, on single-value storage.
//!
//! A plain DHT keeps one value per key, so storing peers must agree on what
//! happens when a second record arrives for an occupied slot. The rule: the
//! first valid record wins the slot for good. Its sender may replace it only
//! with a tombstone that names it (by record id) and lives at least as long;
//! a tombstone is final. Nobody, not even the sender, overwrites a record
//! with another record: a sender that lost track of its own slots (a
//! restart, a stale read) would otherwise silently replace its earlier
//! record, so that write is refused as "taken" and the publish moves on to
//! another slot. The in-memory DHT, the SQLite store and the libp2p record
//! store all ask [`decide`]; none has its own copy of the rule.

use crate::record::body::Content;
use crate::record::{Kind, Record};

/// What a storing peer should do with an incoming valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotWrite {
    /// Store it (the slot was free, or its sender deletes its record).
    Store,
    /// The same bytes are already stored: nothing to do, report success.
    Unchanged,
}

/// Why an incoming valid record may not take the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotRejection {
    /// Another sender's record holds the slot.
    #[error("slot is held by another sender's record")]
    TakenByOtherSender,
    /// The sender's own earlier record holds the slot, and the incoming
    /// record is not a tombstone naming it: records are never overwritten.
    #[error("slot is held by the sender's own earlier record")]
    TakenBySender,
    /// The slot holds a tombstone, which is final.
    #[error("slot holds a tombstone")]
    Deleted,
    /// A tombstone must live at least as long as the record it deletes, or
    /// that record could be replayed into the slot once the tombstone expired.
    #[error("tombstone expires before the record it deletes")]
    ShortensLifetime,
}

impl SlotRejection {
    /// Whether the slot simply holds another record, so another slot may
    /// succeed (a publish moves on); every other rejection is final.
    pub fn is_taken(self) -> bool {
        matches!(self, Self::TakenByOtherSender | Self::TakenBySender)
    }
}

/// Decides whether `incoming` may be stored over `existing` (the record held
/// now, or `None` when the slot is free or its record expired). Both must
/// already have passed the validator under the same key.
pub fn decide(existing: Option<&Record>, incoming: &Record) -> Result<SlotWrite, SlotRejection> {
    let Some(existing) = existing else {
        return Ok(SlotWrite::Store);
    };
    if existing.bytes() == incoming.bytes() {
        return Ok(SlotWrite::Unchanged);
    }
    let (old, new) = (&existing.header, &incoming.header);
    if old.sender != new.sender {
        return Err(SlotRejection::TakenByOtherSender);
    }
    if old.kind == Kind::Tombstone {
        return Err(SlotRejection::Deleted);
    }
    let names_existing = matches!(
        &incoming.content,
        Content::Tombstone(tombstone) if tombstone.replaced == existing.id()
    );
    if !names_existing {
        return Err(SlotRejection::TakenBySender);
    }
    if new.expires_at < old.expires_at {
        return Err(SlotRejection::ShortensLifetime);
    }
    Ok(SlotWrite::Store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::record::body::{BodyRules, SEALED_SCHEME_V1, Tombstone};
    use crate::record::{Header, InstanceId, MailboxId, Validator};

    const NOW: u64 = 1_800_000_000;

    fn signed(identity: &Identity, kind: Kind, body: &[u8], expires_at: u64) -> Record {
        let header = Header {
            kind,
            mailbox: MailboxId([7; 32]),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(NOW + 86_400),
                seq: 3,
            },
            sender: identity.public_key(),
            created_at: NOW,
            expires_at,
        };
        let bytes = header.sign(identity, body);
        Validator::default()
            .validate(&header.dht_key(), &bytes, NOW)
            .expect("valid")
    }

    fn sealed(fill: u8) -> Vec<u8> {
        let mut body = vec![SEALED_SCHEME_V1];
        body.resize(120, fill);
        body
    }

    fn tombstone_for(identity: &Identity, record: &Record, expires_at: u64) -> Record {
        let body = Tombstone {
            replaced: record.id(),
        }
        .encode();
        signed(identity, Kind::Tombstone, &body, expires_at)
    }

    #[test]
    fn the_first_record_wins_and_its_sender_cannot_overwrite_it() {
        let (alice, mallory) = (
            Identity::from_secret_bytes([1; 32]),
            Identity::from_secret_bytes([2; 32]),
        );
        let end = NOW + 86_400;
        let first = signed(&alice, Kind::BuddyRequest, &sealed(1), end);
        assert_eq!(decide(None, &first), Ok(SlotWrite::Store));
        assert_eq!(decide(Some(&first), &first), Ok(SlotWrite::Unchanged));
        let own_second = signed(&alice, Kind::BuddyRequest, &sealed(2), end);
        assert_eq!(
            decide(Some(&first), &own_second),
            Err(SlotRejection::TakenBySender)
        );
        let other = signed(&mallory, Kind::BuddyRequest, &sealed(3), end);
        assert_eq!(
            decide(Some(&first), &other),
            Err(SlotRejection::TakenByOtherSender)
        );
        assert!(SlotRejection::TakenBySender.is_taken());
        assert!(!SlotRejection::Deleted.is_taken());
    }

    #[test]
    fn only_a_tombstone_naming_the_record_and_living_as_long_replaces_it() {
        let alice = Identity::from_secret_bytes([1; 32]);
        let end = NOW + 86_400;
        let first = signed(&alice, Kind::BuddyRequest, &sealed(1), end);
        let unrelated = signed(&alice, Kind::BuddyRequest, &sealed(9), end);
        let wrong_name = tombstone_for(&alice, &unrelated, end);
        assert_eq!(
            decide(Some(&first), &wrong_name),
            Err(SlotRejection::TakenBySender)
        );
        let short = tombstone_for(&alice, &first, end - 1);
        assert_eq!(
            decide(Some(&first), &short),
            Err(SlotRejection::ShortensLifetime)
        );
        let tombstone = tombstone_for(&alice, &first, end);
        assert_eq!(decide(Some(&first), &tombstone), Ok(SlotWrite::Store));
        // Final: neither the record nor another tombstone replaces it.
        assert_eq!(
            decide(Some(&tombstone), &first),
            Err(SlotRejection::Deleted)
        );
        let later = tombstone_for(&alice, &first, end + 10);
        assert_eq!(
            decide(Some(&tombstone), &later),
            Err(SlotRejection::Deleted)
        );
    }
}

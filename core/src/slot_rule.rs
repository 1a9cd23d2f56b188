//! Who may write a slot that is already taken.
//!
//! A DHT keeps one value per key, so storing peers must agree on what happens
//! when a second record arrives for an occupied slot. The rule: the first
//! valid record wins the slot; only its sender may replace it, with a newer
//! record (an update) or a tombstone (a delete), and a tombstone is final.
//! The in-memory DHT, the SQLite store and the libp2p record store all ask
//! [`decide`]; none has its own copy of the rule.

use crate::record::{Kind, Record};

/// What a storing peer should do with an incoming valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotWrite {
    /// Store it (the slot was free, or the sender updates its own record).
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
    /// Not newer than the record it would replace (a replay of an old version).
    #[error("record is not newer than the one in the slot")]
    NotNewer,
    /// The slot holds a tombstone, which is final.
    #[error("slot holds a tombstone")]
    Deleted,
    /// A replacement (update or tombstone) must live at least as long as
    /// the record it replaces, or that record could be replayed into the
    /// slot once the replacement expired.
    #[error("replacement expires before the record it replaces")]
    ShortensLifetime,
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
    if new.created_at <= old.created_at {
        return Err(SlotRejection::NotNewer);
    }
    if new.expires_at < old.expires_at {
        return Err(SlotRejection::ShortensLifetime);
    }
    Ok(SlotWrite::Store)
}

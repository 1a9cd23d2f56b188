//! The buddy layer's values as an app sees them: events ([`BuddyEvent`]),
//! sent requests ([`SentRequest`]) and buddies ([`Buddy`]).
//!
//! Why a module of its own: these are plain data, built from store rows,
//! shared by the book's operations and its sync, and carried unchanged by
//! the SDK and the bindings.

use crate::contact::ContactCode;
use crate::identity::PublicKey;
use crate::store::buddies::{BuddyRow, SentRow, SentStatus};

/// Something apps show or react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuddyEvent {
    /// A new request is pending.
    RequestReceived {
        /// The request's id.
        request_id: [u8; 32],
        /// Who sent it.
        from: PublicKey,
        /// The name they gave.
        display_name: String,
    },
    /// Someone already on the buddy list sent a new request (they may
    /// have lost this user from their list, or reinstalled). It is not
    /// pending: they are a buddy already; the app may tell the user.
    BuddyRequestedAgain {
        /// The new request's id.
        request_id: [u8; 32],
        /// The buddy.
        from: PublicKey,
        /// The name they gave.
        display_name: String,
    },
    /// A request this user sent was answered.
    RequestAnswered {
        /// The request's id.
        request_id: [u8; 32],
        /// Who answered.
        by: PublicKey,
        /// Accepted or declined.
        accepted: bool,
    },
    /// This user withdrew a request it sent.
    RequestWithdrawn {
        /// The request's id.
        request_id: [u8; 32],
    },
    /// Someone joined the buddy list.
    BuddyAdded {
        /// Their key.
        public_key: PublicKey,
        /// Their display name.
        display_name: String,
    },
    /// Someone left the buddy list.
    BuddyRemoved {
        /// Their key.
        public_key: PublicKey,
    },
    /// A sync could not complete.
    SyncFailed {
        /// Why, in words.
        reason: String,
    },
}

/// A request this user sent and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentRequest {
    /// Its id.
    pub id: [u8; 32],
    /// Who it went to.
    pub to: PublicKey,
    /// Where it stands.
    pub status: SentStatus,
    /// When it was sent.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
}

impl From<&SentRow> for SentRequest {
    fn from(row: &SentRow) -> Self {
        Self {
            id: row.request_id,
            to: row.recipient,
            status: row.status,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// A buddy: a key allowed to contact this user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buddy {
    /// Their key.
    pub public_key: PublicKey,
    /// Their display name.
    pub display_name: String,
    /// Their contact code, when their inbox token is known.
    pub contact_code: Option<ContactCode>,
    /// When they were added.
    pub added_at: u64,
}

pub(super) fn buddy_from_row(row: BuddyRow) -> Buddy {
    Buddy {
        public_key: row.public_key,
        display_name: row.display_name,
        contact_code: row
            .inbox_token
            .map(|token| ContactCode::new(row.public_key, token)),
        added_at: row.added_at,
    }
}

//! The node's typed errors.
//!
//! One enum, so that bindings can map each variant to a stable error kind;
//! [`NodeError::into_dht_error`] maps it onto the core's
//! [`pigeonhole::mailbox::DhtError`] for the mailbox.

use pigeonhole::mailbox::DhtError;
use pigeonhole::store::StoreError;

/// Why a node operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The database could not be opened or used.
    #[error("store: {0}")]
    Store(String),
    /// The transport or behaviour could not be built.
    #[error("could not build the network stack: {0}")]
    Setup(String),
    /// A listen address could not be bound.
    #[error("could not listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// What the OS said.
        reason: String,
    },
    /// A peer address could not be used.
    #[error("bad peer address {addr}: {reason}")]
    BadAddress {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The record was refused, by this node (a bad record, alone) or by
    /// every replica that answered.
    #[error("record refused ({}): {reason}", kind.name())]
    Rejected {
        /// Why, as a stable kind.
        kind: RefusalKind,
        /// Why, for people.
        reason: String,
    },
    /// No peer could be reached or the operation timed out.
    #[error("network unavailable: {0}")]
    Unavailable(String),
    /// The node was stopped.
    #[error("the node is stopped")]
    Stopped,
}

impl From<StoreError> for NodeError {
    fn from(error: StoreError) -> Self {
        Self::Store(error.to_string())
    }
}

impl NodeError {
    /// The mailbox's view of this error.
    pub fn into_dht_error(self) -> DhtError {
        match self {
            NodeError::Rejected { kind, reason } => {
                DhtError::Rejected(format!("{}: {reason}", kind.name()))
            }
            other => DhtError::Unavailable(other.to_string()),
        }
    }
}

/// Why a replica refused a put: a stable code, so that the writer can map
/// it to an error kind without parsing the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RefusalKind {
    /// The record failed the validator (signature, format, key binding).
    Invalid = 1,
    /// Created too far in the future or expired for the replica's clock.
    Clock = 2,
    /// A storage quota of the replica.
    Quota = 3,
    /// The record's own sender deleted it (a tombstone is held).
    Deleted = 4,
    /// A tombstone naming another sender's record, or one expiring before it.
    Conflict = 5,
    /// The replica's store failed.
    Store = 6,
}

impl RefusalKind {
    /// The kind of a wire code (unknown codes read as [`RefusalKind::Store`]).
    pub fn from_u8(code: u8) -> Self {
        match code {
            1 => Self::Invalid,
            2 => Self::Clock,
            3 => Self::Quota,
            4 => Self::Deleted,
            5 => Self::Conflict,
            _ => Self::Store,
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Clock => "clock",
            Self::Quota => "quota",
            Self::Deleted => "deleted",
            Self::Conflict => "conflict",
            Self::Store => "store",
        }
    }
}

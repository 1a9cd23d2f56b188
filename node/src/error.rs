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
    /// The record was refused (invalid, slot taken, over quota).
    #[error("record refused: {0}")]
    Rejected(String),
    /// The slot holds another sender's record; another slot may succeed.
    #[error("the slot holds another record")]
    SlotTaken,
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
            NodeError::Rejected(reason) => DhtError::Rejected(reason),
            NodeError::SlotTaken => DhtError::Taken,
            other => DhtError::Unavailable(other.to_string()),
        }
    }
}

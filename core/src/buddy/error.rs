//! Why a buddy operation failed ([`BuddyError`]).
//!
//! Why a module of its own: every part of the layer (sending, answering,
//! sync, intents, the directory) returns this one error type.

use crate::contact::ContactCodeError;
use crate::mailbox::MailboxError;
use crate::record::RecordError;
use crate::record::body::FormatError;
use crate::seal::SealError;
use crate::store::StoreError;

/// Why a buddy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BuddyError {
    /// The contact code could not be read.
    #[error("bad contact code: {0}")]
    ContactCode(#[from] ContactCodeError),
    /// The DHT or mailbox failed.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Encryption failed (a bad recipient key).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// An input does not have the shape the protocol requires (a message
    /// too long, a display name with control characters…).
    #[error("invalid input: {0}")]
    InvalidInput(#[from] RecordError),
    /// No display name set yet: call `set_profile` first.
    #[error("set a display name before sending or accepting requests")]
    ProfileMissing,
    /// No pending request has this id.
    #[error("no pending request with this id")]
    UnknownRequest,
    /// The sent request was already answered or withdrawn: there is
    /// nothing left to withdraw.
    #[error("that request is no longer pending (answered or withdrawn)")]
    NotPending,
    /// The contact code is this user's own.
    #[error("that is your own contact code")]
    OwnCode,
    /// The database now holds a different identity than the one this book
    /// was opened with (replaced underneath a running app).
    #[error("the stored identity changed while the app was running")]
    IdentityChanged,
}

impl From<FormatError> for BuddyError {
    fn from(error: FormatError) -> Self {
        BuddyError::InvalidInput(RecordError::Format(error))
    }
}

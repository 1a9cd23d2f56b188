//! The two ways a command fails, which decide its exit code: bad input
//! (exit 2, and nothing was written) or a failed operation (exit 1).
//!
//! Library errors are sorted into one or the other here, in one place, so
//! that every subcommand reports the same failure the same way.

use pigeonhole::buddy::BuddyError;
use pigeonhole::feed::FeedError;
use pigeonhole::notice::{ContentError, NoticeError};
use pigeonhole_sdk::{PeerError, SdkError};

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user gave something unusable; nothing was written. Exit 2.
    #[error("{0}")]
    BadInput(String),
    /// The operation was attempted and failed. Exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<BuddyError> for CliError {
    fn from(error: BuddyError) -> Self {
        match error {
            BuddyError::ContactCode(_)
            | BuddyError::InvalidInput(_)
            | BuddyError::ProfileMissing
            | BuddyError::UnknownRequest
            | BuddyError::NotPending
            | BuddyError::OwnCode => CliError::BadInput(error.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<FeedError> for CliError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::Reference(_)
            | FeedError::InvalidInput(_)
            | FeedError::NotFollowed
            | FeedError::UnknownPost
            | FeedError::NotAuthor => CliError::BadInput(error.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<NoticeError> for CliError {
    fn from(error: NoticeError) -> Self {
        match error {
            NoticeError::InvalidInput(_)
            | NoticeError::NotOwner
            | NoticeError::NotWatched
            | NoticeError::Content(ContentError::TooLarge { .. }) => {
                CliError::BadInput(error.to_string())
            }
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<PeerError> for CliError {
    fn from(error: PeerError) -> Self {
        match error {
            PeerError::Listen { .. } | PeerError::BadAddress { .. } => {
                CliError::BadInput(error.to_string())
            }
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<SdkError> for CliError {
    fn from(error: SdkError) -> Self {
        match error {
            SdkError::Peer(error) => error.into(),
            SdkError::Buddy(error) => error.into(),
            SdkError::Store(error) => CliError::Failed(error.to_string()),
            SdkError::Feed(error) => error.into(),
            SdkError::Notice(error) => error.into(),
        }
    }
}

impl From<pigeonhole::store::StoreError> for CliError {
    fn from(error: pigeonhole::store::StoreError) -> Self {
        CliError::Failed(error.to_string())
    }
}

//! One error enum for every binding, one stable kind per failure.
//!
//! Foreign code matches on the kind (a Kotlin `PigeonholeException.BadContactCode`,
//! a Swift `PigeonholeError.BadContactCode`, a Python
//! `PigeonholeError.BadContactCode`), so kinds are never renamed or reused:
//! a new failure gets a new kind. The kinds follow the SDK's own errors;
//! `reason` is a human-readable message for logs, not for matching.

use pigeonhole::buddy::BuddyError;
use pigeonhole::contact::ContactCodeError;
use pigeonhole::feed::FeedError;
use pigeonhole::mailbox::{DhtError, MailboxError};
use pigeonhole::notice::NoticeError;
use pigeonhole::store::StoreError;
use pigeonhole_node::NodeError;
use pigeonhole_sdk::SdkError;

/// Why a Pigeonhole call failed. Each variant is a stable kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PigeonholeError {
    /// A contact code could not be read: wrong prefix, a character outside
    /// A–Z and 2–7, wrong length, unknown version, or a checksum mismatch
    /// (a typo or a damaged scan).
    #[error("bad contact code: {reason}")]
    BadContactCode {
        /// What is wrong with it.
        reason: String,
    },
    /// A well-formed contact code of a retired version (1): its inbox token
    /// is too short to keep spam out, so no request is sent with it. Tell
    /// the user to ask its owner for a new code.
    #[error("old contact code: {reason}")]
    RetiredContactCode {
        /// The message to show.
        reason: String,
    },
    /// An argument does not have the required shape: a hex id or key of
    /// the wrong length, a display name with control characters, a message
    /// too long, an empty data directory…
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Which input and why.
        reason: String,
    },
    /// No display name set yet: call `setProfile` first.
    #[error("set a display name before sending or accepting requests")]
    ProfileMissing,
    /// No pending request has this id (answered, expired or never seen).
    #[error("no pending request with this id")]
    UnknownRequest,
    /// The sent request was already answered or withdrawn: there is
    /// nothing left to withdraw.
    #[error("that request is no longer pending (answered or withdrawn)")]
    NotPending,
    /// The contact code is this user's own.
    #[error("that is your own contact code")]
    OwnCode,
    /// A peer or listen address could not be parsed or used.
    #[error("bad address: {reason}")]
    BadAddress {
        /// The address and why.
        reason: String,
    },
    /// A listen address could not be bound (port in use, no such interface).
    #[error("could not listen: {reason}")]
    Listen {
        /// What the OS said.
        reason: String,
    },
    /// No peer could be reached, or the operation timed out. Retrying later
    /// (with peers around) may succeed.
    #[error("network unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Storing peers refused a record (invalid, over quota, every slot
    /// taken, the bucket full).
    #[error("record refused: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
    /// The local database failed (I/O, a file from a newer version, damage).
    #[error("storage: {reason}")]
    Storage {
        /// What SQLite or the file system said.
        reason: String,
    },
    /// Encryption failed (a recipient key that is not a valid key).
    #[error("crypto: {reason}")]
    Crypto {
        /// Why.
        reason: String,
    },
    /// The node was stopped; start a new one.
    #[error("the node is stopped")]
    Stopped,
    /// A bug: a panic or an unexpected state inside the library. Logged
    /// with details; please report it.
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
    /// A feed reference (`PHF-…`) could not be read: wrong prefix, a
    /// character outside A–Z and 2–7, wrong length, unknown version, a bad
    /// key or name, or a checksum mismatch.
    #[error("bad feed reference: {reason}")]
    BadFeedReference {
        /// What is wrong with it.
        reason: String,
    },
    /// No live post of this user has this id (never posted, deleted, or
    /// expired).
    #[error("no live post with this id")]
    UnknownPost,
    /// The feed is not followed: call `followFeed` first.
    #[error("this feed is not followed")]
    NotFollowed,
    /// The document is not watched: call `watchDocument` first.
    #[error("this document is not watched")]
    NotWatched,
    /// This user may not do that: edit or delete another author's post,
    /// name the editors of another owner's document, or notify an update
    /// of a document whose owner has not named them an editor.
    #[error("not permitted: {reason}")]
    NotPermitted {
        /// What was refused.
        reason: String,
    },
}

impl PigeonholeError {
    /// An [`PigeonholeError::InvalidInput`] with `reason`.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: reason.into(),
        }
    }
}

impl From<SdkError> for PigeonholeError {
    fn from(error: SdkError) -> Self {
        match error {
            SdkError::Peer(error) => error.into(),
            SdkError::Store(error) => error.into(),
            SdkError::Buddy(error) => error.into(),
            SdkError::Feed(error) => error.into(),
            SdkError::Notice(error) => error.into(),
        }
    }
}

impl From<NodeError> for PigeonholeError {
    fn from(error: NodeError) -> Self {
        let reason = error.to_string();
        match error {
            NodeError::Store(_) => Self::Storage { reason },
            NodeError::Setup(_) => Self::Internal { reason },
            NodeError::Listen { .. } => Self::Listen { reason },
            NodeError::BadAddress { .. } => Self::BadAddress { reason },
            NodeError::Rejected { .. } => Self::Rejected { reason },
            NodeError::Unavailable(_) => Self::Unavailable { reason },
            NodeError::Stopped => Self::Stopped,
        }
    }
}

impl From<StoreError> for PigeonholeError {
    fn from(error: StoreError) -> Self {
        let reason = error.to_string();
        match error {
            StoreError::Invalid(_) | StoreError::Refused(_) => Self::Rejected { reason },
            _ => Self::Storage { reason },
        }
    }
}

impl From<MailboxError> for PigeonholeError {
    fn from(error: MailboxError) -> Self {
        let reason = error.to_string();
        match error {
            MailboxError::Dht(DhtError::Unavailable(_)) => Self::Unavailable { reason },
            MailboxError::Invalid(_) => Self::InvalidInput { reason },
            _ => Self::Rejected { reason },
        }
    }
}

impl From<ContactCodeError> for PigeonholeError {
    fn from(error: ContactCodeError) -> Self {
        let reason = error.to_string();
        match error {
            ContactCodeError::Retired(_) => Self::RetiredContactCode { reason },
            _ => Self::BadContactCode { reason },
        }
    }
}

impl From<BuddyError> for PigeonholeError {
    fn from(error: BuddyError) -> Self {
        let reason = error.to_string();
        match error {
            BuddyError::ContactCode(error) => error.into(),
            BuddyError::Mailbox(error) => error.into(),
            BuddyError::Store(error) => error.into(),
            BuddyError::Seal(_) => Self::Crypto { reason },
            BuddyError::InvalidInput(_) => Self::InvalidInput { reason },
            BuddyError::ProfileMissing => Self::ProfileMissing,
            BuddyError::UnknownRequest => Self::UnknownRequest,
            BuddyError::NotPending => Self::NotPending,
            BuddyError::OwnCode => Self::OwnCode,
            BuddyError::IdentityChanged => Self::Storage { reason },
        }
    }
}

impl From<FeedError> for PigeonholeError {
    fn from(error: FeedError) -> Self {
        let reason = error.to_string();
        match error {
            FeedError::Mailbox(error) => error.into(),
            FeedError::Store(error) => error.into(),
            // The SDK builds references only from this user's own feed
            // names (`post`, `ownFeed`): a bad one is a bad argument. A
            // reference the app passes in is read by `feeds::parse_feed_ref`,
            // which reports `BadFeedReference`.
            FeedError::Reference(_) => Self::InvalidInput { reason },
            FeedError::UnknownPost => Self::UnknownPost,
            FeedError::NotFollowed => Self::NotFollowed,
            FeedError::NotAuthor => Self::NotPermitted { reason },
            FeedError::InvalidInput(_) => Self::InvalidInput { reason },
        }
    }
}

impl From<NoticeError> for PigeonholeError {
    fn from(error: NoticeError) -> Self {
        let reason = error.to_string();
        match error {
            NoticeError::Mailbox(error) => error.into(),
            NoticeError::Store(error) => error.into(),
            NoticeError::Content(_) => Self::Rejected { reason },
            NoticeError::NotWatched => Self::NotWatched,
            NoticeError::NotOwner | NoticeError::NotEditor => Self::NotPermitted { reason },
            NoticeError::InvalidInput(_) => Self::InvalidInput { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_core_failure_has_its_kind() {
        assert!(matches!(
            PigeonholeError::from(BuddyError::ContactCode(ContactCodeError::Retired(1))),
            PigeonholeError::RetiredContactCode { reason } if reason.contains("new code")
        ));
        let bad_code = BuddyError::ContactCode(ContactCodeError::Checksum);
        assert!(matches!(
            PigeonholeError::from(bad_code),
            PigeonholeError::BadContactCode { reason } if reason.contains("checksum")
        ));
        assert_eq!(
            PigeonholeError::from(NodeError::Stopped),
            PigeonholeError::Stopped
        );
        let unreachable = MailboxError::Dht(DhtError::Unavailable("no peers".into()));
        assert!(matches!(
            PigeonholeError::from(BuddyError::Mailbox(unreachable)),
            PigeonholeError::Unavailable { .. }
        ));
        assert!(matches!(
            PigeonholeError::from(MailboxError::BucketFull { bucket: 3 }),
            PigeonholeError::Rejected { .. }
        ));
        assert_eq!(
            PigeonholeError::from(BuddyError::ProfileMissing),
            PigeonholeError::ProfileMissing
        );
    }

    #[test]
    fn feed_and_notice_failures_have_their_kinds() {
        use pigeonhole::feed::FeedRefError;
        assert!(matches!(
            PigeonholeError::from(SdkError::Feed(FeedError::Reference(FeedRefError::BadName))),
            PigeonholeError::InvalidInput { .. }
        ));
        assert_eq!(
            PigeonholeError::from(FeedError::UnknownPost),
            PigeonholeError::UnknownPost
        );
        assert_eq!(
            PigeonholeError::from(FeedError::NotFollowed),
            PigeonholeError::NotFollowed
        );
        assert!(matches!(
            PigeonholeError::from(FeedError::NotAuthor),
            PigeonholeError::NotPermitted { .. }
        ));
        assert_eq!(
            PigeonholeError::from(SdkError::Notice(NoticeError::NotWatched)),
            PigeonholeError::NotWatched
        );
        for refused in [NoticeError::NotOwner, NoticeError::NotEditor] {
            assert!(matches!(
                PigeonholeError::from(refused),
                PigeonholeError::NotPermitted { .. }
            ));
        }
        let unreachable = MailboxError::Dht(DhtError::Unavailable("no peers".into()));
        assert!(matches!(
            PigeonholeError::from(NoticeError::Mailbox(unreachable)),
            PigeonholeError::Unavailable { .. }
        ));
    }
}

//! The values the notice layer hands to apps: documents, what an update
//! carries, delivered notices, conflicts, fetch results and events.

use crate::identity::PublicKey;
use crate::notice::NoticeError;
use crate::record::MailboxId;
use crate::record::body::{DocNotice, check_doc_name, doc_mailbox};

/// A document: its owner and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocRef {
    /// The owner's key.
    pub owner: PublicKey,
    /// The document's name (1–64 characters, one line).
    pub name: String,
}

impl DocRef {
    /// Document `name` of `owner`, normalised to NFC; the name must be valid.
    pub fn new(owner: PublicKey, name: &str) -> Result<Self, NoticeError> {
        let name = &crate::names::nfc(name);
        check_doc_name(name)?;
        Ok(Self {
            owner,
            name: name.to_owned(),
        })
    }

    /// The document's mailbox.
    pub fn mailbox(&self) -> MailboxId {
        doc_mailbox(&self.owner, &self.name)
    }
}

/// What a notice says about the new version's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateContent {
    /// Announce only: the content is fetched some other way.
    Announce {
        /// SHA-256 of the content.
        content_hash: [u8; 32],
        /// Its size in bytes.
        size: u64,
    },
    /// Carry the content: inline up to 4 KiB, else as a chain (≤ 256 KiB).
    Carry(Vec<u8>),
}

/// A delivered notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The record id.
    pub id: [u8; 32],
    /// The document.
    pub doc: DocRef,
    /// Who published it (the owner or an editor).
    pub sender: PublicKey,
    /// When it was signed.
    pub created_at: u64,
    /// The checked body.
    pub body: DocNotice,
    /// Arrived after later versions were delivered (not a conflict: no
    /// other notice of its version was delivered).
    pub late: bool,
}

/// Two or more different notices for one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The version.
    pub version: u64,
    /// The notice ids, lowest first; the first is the one delivered.
    pub notice_ids: Vec<[u8; 32]>,
    /// Who sent them, in the same order.
    pub senders: Vec<PublicKey>,
}

/// What one [`NoticeBoard::fetch_updates`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocUpdates {
    /// New notices, in version order.
    pub notices: Vec<Notice>,
    /// Versions skipped: each `(first, last)` missing range.
    pub gaps: Vec<(u64, u64)>,
    /// Versions with more than one notice.
    pub conflicts: Vec<Conflict>,
    /// Notices rejected as from non-editors in this fetch: notices of
    /// removed editors (each counted once) plus values in the document's
    /// slots that failed validation (met again by every fetch while the
    /// peers serve them).
    pub rejected: u64,
}

/// Something apps show or react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeEvent {
    /// A new version of a watched document.
    Updated(Box<Notice>),
    /// Versions `from..=to` were never seen.
    Gap {
        /// The document.
        doc: DocRef,
        /// First missing version.
        from: u64,
        /// Last missing version.
        to: u64,
    },
    /// Two or more notices for one version.
    Conflict {
        /// The document.
        doc: DocRef,
        /// What conflicts.
        conflict: Conflict,
    },
    /// Notices from non-editors were rejected.
    Rejected {
        /// The document.
        doc: DocRef,
        /// How many.
        count: u64,
    },
}

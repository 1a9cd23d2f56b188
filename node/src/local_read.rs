//! This node's own answer to one of its reads, computed on the own lane.
//!
//! Why a separate description: a read's [`ReadKind`] carries the reply of
//! whoever waits, which stays with the operation on the swarm task; the own
//! lane ([`crate::own_lane`]) only needs what to read. [`LocalRead`] is that
//! copy, and [`LocalRead::answer`] reads it from the store the way a
//! replica would answer it (a listing is checked like a replica's page,
//! sampled: the mailbox validates every record it is given, so a full check
//! here would only double the cost).

use pigeonhole::mailbox::ListCursor;
use pigeonhole::record::{DhtKey, MailboxId, Validator};
use pigeonhole::store::Store;
use tracing::warn;

use crate::error::NodeError;
use crate::merge::{Verified, check_page, positioned};
use crate::queries::{ReadAnswer, ReadKind};

/// Records of each listing page that this node validates in full (see
/// [`crate::merge::check_page`]).
pub const SAMPLE_PER_PAGE: usize = 8;

/// What a read asks of this node's own store.
pub(crate) enum LocalRead {
    /// A listing page.
    List {
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u16,
    },
    /// The next free seq of a bucket.
    NextSeq { mailbox: MailboxId, bucket: u32 },
    /// One slot.
    Slot { key: DhtKey },
}

impl LocalRead {
    /// What `kind` asks.
    pub(crate) fn of(kind: &ReadKind) -> Self {
        match kind {
            ReadKind::List {
                mailbox,
                after,
                limit,
                ..
            } => LocalRead::List {
                mailbox: *mailbox,
                after: *after,
                limit: *limit,
            },
            ReadKind::NextSeq {
                mailbox, bucket, ..
            } => LocalRead::NextSeq {
                mailbox: *mailbox,
                bucket: *bucket,
            },
            ReadKind::Slot { key, .. } => LocalRead::Slot { key: *key },
        }
    }

    /// This node's answer, from `store`, at time `now` (sampled records
    /// already in `verified` are not checked again; see
    /// [`crate::merge::check_page`]).
    pub(crate) fn answer(
        self,
        store: &Store,
        validator: &Validator,
        now: u64,
        verified: &Verified,
    ) -> Result<ReadAnswer, NodeError> {
        Ok(match self {
            LocalRead::List {
                mailbox,
                after,
                limit,
            } => {
                let (rows, more) = store.list_mailbox_raw(&mailbox, after, u32::from(limit))?;
                let checked = check_page(
                    validator,
                    now,
                    &mailbox,
                    after,
                    rows,
                    more,
                    SAMPLE_PER_PAGE,
                    verified,
                );
                if checked.invalid > 0 {
                    warn!(invalid = checked.invalid, "held rows failed their checks");
                }
                checked.answer
            }
            LocalRead::NextSeq { mailbox, bucket } => {
                ReadAnswer::Seq(store.next_seq(&mailbox, bucket)?)
            }
            LocalRead::Slot { key } => ReadAnswer::Page {
                records: store.get_slot(&key)?.iter().map(positioned).collect(),
                more: false,
                last: None,
            },
        })
    }
}

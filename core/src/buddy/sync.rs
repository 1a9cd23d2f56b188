//! What a sync does with each record found in this user's inboxes.
//!
//! Every record has already passed the validator (the mailbox validates what
//! it fetches). Here the sealed body is opened, checked with the kind's
//! format and syntax, and then judged against this user's state: blocked
//! senders, answered requests, caps, the directory (requests: see
//! `admission`). Anything that fails is dropped and counted by reason,
//! never shown, and its fate is remembered by record id.

use std::collections::HashMap;

use tracing::{debug, warn};

use crate::buddy::{BuddyBook, BuddyError, BuddyEvent, IntentsResumed};
use crate::contact::ContactCode;
use crate::mailbox::Fetched;
use crate::mailbox::{Dht, MailboxError};
use crate::record::body::{BuddyResponse, Content, Decision};
use crate::record::{Kind, MailboxId, Record};
use crate::seal::{self, SealContext};
use crate::store::buddies::{BuddyRow, SentStatus};

/// Why a record found in an inbox was not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The sender is blocked.
    Blocked,
    /// The sealed body did not open (not for us, altered, or moved).
    Undecryptable,
    /// The decrypted body broke its kind's format or syntax.
    Invalid,
    /// The request names a directory entry whose key is not the signer's.
    DirectoryMismatch,
    /// The request was already answered (a replay).
    AlreadyAnswered,
    /// The sender is already a buddy.
    AlreadyBuddy,
    /// Over the per-sender cap, the pending cap, or the share of it that
    /// unknown senders may take.
    OverCap,
    /// A response to no request of ours, or from someone we did not ask.
    Unsolicited,
    /// A kind that does not belong in an inbox.
    WrongKind,
    /// A request from a sender this user does not know without a valid
    /// proof-of-work stamp ([`crate::stamp`]).
    NoStamp,
    /// An answer signed by a blocked key: ignored (a blocked user's accept
    /// adds no buddy).
    BlockedAnswer,
}

impl DropReason {
    /// The code stored with a remembered drop. Values are stored.
    pub fn code(self) -> u8 {
        match self {
            DropReason::Blocked => 1,
            DropReason::Undecryptable => 2,
            DropReason::Invalid => 3,
            DropReason::DirectoryMismatch => 4,
            DropReason::AlreadyAnswered => 5,
            DropReason::AlreadyBuddy => 6,
            DropReason::OverCap => 7,
            DropReason::Unsolicited => 8,
            DropReason::WrongKind => 9,
            DropReason::NoStamp => 10,
            DropReason::BlockedAnswer => 11,
        }
    }

    /// Whether a drop for this reason is remembered by record id and never
    /// judged again. Not a block (unblocking brings live requests back),
    /// not a replay (the answered table remembers it), not an unsolicited
    /// answer (its request may be one a crash kept from being recorded).
    pub fn is_remembered(self) -> bool {
        !matches!(
            self,
            DropReason::Blocked | DropReason::AlreadyAnswered | DropReason::Unsolicited
        )
    }
}

/// What one sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// New pending requests (including newer ones replacing older).
    pub requests_received: u32,
    /// Answers to this user's requests processed.
    pub answers_received: u32,
    /// Requests that were withdrawn by their senders.
    pub withdrawn: u32,
    /// Records dropped, by reason.
    pub dropped: HashMap<DropReason, u32>,
    /// Whether this user's directory entry was published again.
    pub directory_republished: bool,
    /// Requests and answers a crash interrupted, finished first.
    pub intents: IntentsResumed,
}

impl SyncReport {
    pub(super) fn drop(&mut self, reason: DropReason) {
        debug!(?reason, "inbox record dropped");
        *self.dropped.entry(reason).or_default() += 1;
    }

    fn dropped(&mut self, reason: DropReason) -> Result<(), BuddyError> {
        self.drop(reason);
        Ok(())
    }

    /// Total records dropped.
    pub fn dropped_total(&self) -> u32 {
        self.dropped.values().sum()
    }
}

impl<D: Dht> BuddyBook<D> {
    /// Fetches this user's inbox (and the inboxes answers to its pending
    /// requests go to), checks everything found, stores new pending
    /// requests, processes answers, and emits events. One sync runs at a
    /// time; a failure is also reported as [`BuddyEvent::SyncFailed`].
    pub async fn sync_now(&self) -> Result<SyncReport, BuddyError> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let result = self.sync_inner().await;
        if let Err(error) = &result {
            warn!(%error, "buddy sync failed");
            self.emit(BuddyEvent::SyncFailed {
                reason: error.to_string(),
            });
        }
        result
    }

    async fn sync_inner(&self) -> Result<SyncReport, BuddyError> {
        let mut report = SyncReport::default();
        let code = self.contact_code()?;
        // First, so that an answer to a request whose sent row a crash
        // kept from being written is recognised below.
        report.intents = self.resume_intents().await?;
        let inbox = code.inbox_id();
        let fetched = self.fetch_inbox(inbox).await?;
        for record in &fetched.records {
            match record.header.kind {
                Kind::BuddyRequest => self.receive_request(record, &mut report).await?,
                Kind::BuddyResponse => self.receive_response(record, &mut report).await?,
                _ => report.drop(DropReason::WrongKind),
            }
        }
        for tombstone in &fetched.tombstones {
            if let Content::Tombstone(stone) = &tombstone.content
                && let Some(row) = self.store.pending_by_id(&stone.replaced)?
                && row.sender == tombstone.header.sender
            {
                self.store.remove_pending(&stone.replaced)?;
                report.withdrawn += 1;
            }
        }
        // Answers to requests sent before a token rotation arrive in the
        // inbox of the token they carried.
        let mut other_inboxes: Vec<_> = self
            .store
            .sent()?
            .into_iter()
            .filter(|row| {
                // An answer can come until the request expires, and lives
                // at most a response lifetime after that.
                let answerable_until = row
                    .expires_at
                    .saturating_add(self.config.response_lifetime_secs);
                row.status == SentStatus::Pending
                    && row.reply_token != code.inbox_token
                    && answerable_until > self.clock.now()
            })
            .map(|row| ContactCode::new(self.identity.public_key(), row.reply_token).inbox_id())
            .collect();
        other_inboxes.sort();
        other_inboxes.dedup();
        for other in other_inboxes {
            for record in self.fetch_inbox(other).await?.records {
                if record.header.kind == Kind::BuddyResponse {
                    self.receive_response(&record, &mut report).await?;
                }
            }
        }
        self.resolve_crossing().await?;
        let elapsed = self
            .sweep_timer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .lap();
        self.store
            .sweep_buddy_tables(elapsed, self.config.expiry_grace)?;
        let longest = self.validator.policy().max_lifetime(Kind::BuddyRequest);
        self.store.sweep_admission_tables(longest)?;
        report.directory_republished = self.refresh_directory_entry().await?;
        debug!(?report, "buddy sync done");
        Ok(report)
    }

    /// Fetches an inbox, scanning only the buckets that buddy requests and
    /// responses can be in under the policy.
    pub(super) async fn fetch_inbox(&self, inbox: MailboxId) -> Result<Fetched, BuddyError> {
        let policy = self.validator.policy();
        let longest = policy
            .max_lifetime(Kind::BuddyRequest)
            .max(policy.max_lifetime(Kind::BuddyResponse));
        Ok(self.mailbox.fetch_within(inbox, longest).await?)
    }

    pub(crate) fn open_body(&self, record: &Record) -> Result<Content, DropReason> {
        let context = SealContext {
            kind: record.header.kind,
            mailbox: record.header.mailbox,
            sender: record.header.sender,
        };
        let plaintext = seal::open(&self.identity, &context, &record.body)
            .map_err(|_| DropReason::Undecryptable)?;
        self.validator
            .open_sealed(record, &plaintext)
            .map_err(|_| DropReason::Invalid)
    }

    async fn receive_response(
        &self,
        record: &Record,
        report: &mut SyncReport,
    ) -> Result<(), BuddyError> {
        if self.already_decided(record)? {
            return Ok(());
        }
        // A blocked key's answer is ignored before it is even opened.
        if self.store.is_blocked(&record.header.sender)? {
            return self.decide(record, DropReason::BlockedAnswer, report);
        }
        let response: BuddyResponse = match self.open_body(record) {
            Ok(Content::BuddyResponse(response)) => response,
            Ok(_) => return self.decide(record, DropReason::Invalid, report),
            Err(reason) => return self.decide(record, reason, report),
        };
        let Some(sent) = self.store.sent_by_id(&response.request_id)? else {
            return report.dropped(DropReason::Unsolicited);
        };
        let by = record.header.sender;
        if sent.recipient != by {
            return report.dropped(DropReason::Unsolicited);
        }
        if sent.status != SentStatus::Pending {
            return Ok(()); // processed in an earlier sync
        }
        let accepted = response.decision == Decision::Accept;
        let buddy = accepted.then(|| BuddyRow {
            public_key: by,
            display_name: response.display_name.clone(),
            inbox_token: Some(sent.recipient_token),
            added_at: self.clock.now(),
        });
        let status = if accepted {
            SentStatus::Accepted
        } else {
            SentStatus::Declined
        };
        self.store
            .record_answer(&sent.request_id, status, buddy.as_ref())?;
        report.answers_received += 1;
        self.emit(BuddyEvent::RequestAnswered {
            request_id: sent.request_id,
            by,
            accepted,
        });
        if accepted {
            self.emit(BuddyEvent::BuddyAdded {
                public_key: by,
                display_name: response.display_name,
            });
        }
        self.withdraw_answered(&sent.record).await;
        Ok(())
    }

    /// Tombstones a request this user sent once it is answered. A failure
    /// is logged, not fatal: the request expires anyway, and the recipient
    /// already remembers that it answered it.
    pub(super) async fn withdraw_answered(&self, request_bytes: &[u8]) {
        if let Err(error) = self.tombstone_sent(request_bytes).await {
            warn!(%error, "could not withdraw an answered request");
        }
    }

    /// Puts the tombstone of a request this user sent (stored bytes
    /// `request_bytes`) into its slot; nothing to do once it expired.
    pub(super) async fn tombstone_sent(&self, request_bytes: &[u8]) -> Result<(), MailboxError> {
        let Some(request) =
            super::validate_stored(&self.validator, request_bytes, self.clock.now())
        else {
            return Ok(()); // expired already: gone from the DHT anyway
        };
        self.mailbox
            .delete(&self.identity, &request)
            .await
            .map(|_| ())
    }
}

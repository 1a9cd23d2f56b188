//! Which buddy requests found in the inbox are kept — admission that costs
//! the spammer, not the user.
//!
//! Keys are free, so one peer can send requests from as many keys as it
//! likes. Three rules keep that from silencing the user:
//!
//! * **Decisions are remembered.** A request dropped for any reason but a
//!   block is remembered by record id until it expires and never judged
//!   again: over-cap requests do not come back a day later or when room
//!   frees up, and nothing is decrypted or looked up twice. (A blocked
//!   sender's requests are not remembered: unblocking brings back those
//!   still live.)
//! * **Cheap checks first.** Blocked, replayed, per-sender and pending
//!   caps are checked before the body is opened or any directory name is
//!   looked up; lookups go through a cache (negative results too).
//! * **Known senders first.** Pending requests are capped by tier: keys
//!   this user sent a request to are always admitted; senders confirmed by
//!   a directory claim share `max_pending`; unknown keys get only
//!   `max_pending_unknown` of it, so 200 throwaway keys cannot take the
//!   places of senders the user knows. Unknown and named senders must also
//!   carry a proof-of-work stamp ([`crate::stamp`]): a flooder pays for
//!   every request, an honest sender once per person asked.
//!
//! A request from someone already on the buddy list is not pending (they
//! are a buddy); it reaches the app as [`BuddyEvent::BuddyRequestedAgain`]
//! when it was made after they became a buddy, and is dropped silently
//! when it is older (a crossing request answered meanwhile).

use tracing::debug;

use crate::buddy::sync::{DropReason, SyncReport};
use crate::buddy::{BuddyBook, BuddyError, BuddyEvent};
use crate::mailbox::Dht;
use crate::record::Record;
use crate::record::body::{BuddyRequest, Content};
use crate::stamp::check_stamp;
use crate::store::admission::SenderTier;
use crate::store::buddies::{PendingRow, PendingUpsert};

impl<D: Dht> BuddyBook<D> {
    /// Counts `reason` and remembers the record's fate by id (see the
    /// module docs for what is not remembered).
    pub(super) fn decide(
        &self,
        record: &Record,
        reason: DropReason,
        report: &mut SyncReport,
    ) -> Result<(), BuddyError> {
        report.drop(reason);
        if reason.is_remembered() {
            self.store.remember_drop(
                &record.id(),
                &record.header.sender,
                reason.code(),
                record.header.expires_at,
            )?;
        }
        Ok(())
    }

    /// Whether this inbox record's fate was decided by an earlier sync.
    pub(super) fn already_decided(&self, record: &Record) -> Result<bool, BuddyError> {
        let decided = self.store.dropped_reason(&record.id())?;
        if let Some(code) = decided {
            debug!(code, "inbox record dropped before: not judged again");
        }
        Ok(decided.is_some())
    }

    pub(super) async fn receive_request(
        &self,
        record: &Record,
        report: &mut SyncReport,
    ) -> Result<(), BuddyError> {
        let sender = record.header.sender;
        let id = record.id();
        if sender == self.identity.public_key() || self.already_decided(record)? {
            return Ok(());
        }
        if self.store.is_blocked(&sender)? {
            return self.decide(record, DropReason::Blocked, report);
        }
        if self.store.is_answered(&id)? {
            report.drop(DropReason::AlreadyAnswered);
            return Ok(());
        }
        if self.store.pending_by_id(&id)?.is_some() {
            return Ok(()); // already pending: nothing new
        }
        // Per-sender cap, before any decryption.
        let now = self.clock.now();
        self.store
            .mark_seen(&id, &sender, record.header.expires_at)?;
        let window_start = now.saturating_sub(self.config.repeat_window_secs);
        if self.store.seen_from_since(&sender, window_start)? > self.config.max_requests_per_sender
        {
            return self.decide(record, DropReason::OverCap, report);
        }
        let request: BuddyRequest = match self.open_body(record) {
            Ok(Content::BuddyRequest(request)) => request,
            Ok(_) => return self.decide(record, DropReason::Invalid, report),
            Err(reason) => return self.decide(record, reason, report),
        };
        if let Some(added_at) = self.store.buddy_added_at(&sender)? {
            if record.header.created_at > added_at {
                self.emit(BuddyEvent::BuddyRequestedAgain {
                    request_id: id,
                    from: sender,
                    display_name: request.display_name,
                });
            }
            return self.decide(record, DropReason::AlreadyBuddy, report);
        }
        let tier = if self.store.has_sent_pending_to(&sender)? {
            SenderTier::Known
        } else if request.sender_name.is_some() {
            SenderTier::Named
        } else {
            SenderTier::Unknown
        };
        if tier != SenderTier::Known {
            let stamped = request.stamp.is_some_and(|nonce| {
                check_stamp(
                    &record.header.mailbox,
                    &sender,
                    nonce,
                    self.config.stamp_bits,
                )
            });
            if !stamped {
                return self.decide(record, DropReason::NoStamp, report);
            }
            if !self.store.has_pending_from(&sender)? {
                let (unknown, total) = self.store.pending_counts(SenderTier::Unknown)?;
                let full = total >= self.config.max_pending
                    || (tier == SenderTier::Unknown && unknown >= self.config.max_pending_unknown);
                if full {
                    return self.decide(record, DropReason::OverCap, report);
                }
            }
        }
        // The directory last: only requests that passed every cap cost a
        // lookup, and lookups are cached.
        if let Some(name) = &request.sender_name {
            let claims = self.cached_claims(name).await?;
            if !claims.iter().any(|claim| claim.public_key == sender) {
                return self.decide(record, DropReason::DirectoryMismatch, report);
            }
        }
        let row = PendingRow {
            request_id: id,
            sender,
            inbox: record.header.mailbox,
            created_at: record.header.created_at,
            expires_at: record.header.expires_at,
            record: record.bytes().to_vec(),
        };
        if self.store.upsert_pending(&row)? != PendingUpsert::KeptExisting {
            self.store.set_pending_tier(&id, tier)?;
            report.requests_received += 1;
            self.emit(BuddyEvent::RequestReceived {
                request_id: id,
                from: sender,
                display_name: request.display_name,
            });
        }
        Ok(())
    }

    /// Resolves requests this user sent to people who are now buddies
    /// (the two asked each other and this user, or they, accepted): marks
    /// them accepted, tells the app, and withdraws them from the buddy's
    /// inbox. Called after an accept and by every sync (so a crash in
    /// between converges).
    pub(super) async fn resolve_crossing(&self) -> Result<u32, BuddyError> {
        let resolved = self.store.resolve_sent_to_buddies()?;
        for (request_id, by, record) in &resolved {
            debug!(%by, "crossing request resolved as accepted");
            self.emit(BuddyEvent::RequestAnswered {
                request_id: *request_id,
                by: *by,
                accepted: true,
            });
            self.withdraw_answered(record).await;
        }
        Ok(resolved.len() as u32)
    }
}

//! Requests and answers are logged before they are put, and finished after.
//!
//! `put_intent` is the only way a request or an answer leaves: it commits
//! the intent (store::intents), publishes, and records the outcome in one
//! transaction that also removes the intent. A crash can only stop it
//! between two of those steps, and every such state converges at the next
//! sync (`resume_intents`, run first, before any answer is matched):
//!
//! * logged, not put: the record is not in the target mailbox, so it is
//!   published now and finished — the call never returned, so the user was
//!   never told anything else than "sending";
//! * put, not recorded: the record with this exact sealed body is found in
//!   the target mailbox and recorded as sent (or answered) under its id, so
//!   an answer naming that id is recognised in the same sync;
//! * a call that returned an error whose put may still have happened (a
//!   timeout after the write) is [`IntentState::Uncertain`]: recorded if
//!   found, otherwise forgotten, never put again behind the user's back.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use tracing::{info, warn};

use crate::buddy::{BuddyBook, BuddyError, BuddyEvent};
use crate::mailbox::{Dht, Draft, MailboxError};
use crate::record::{Kind, MailboxId, Record};
use crate::store::buddies::{BuddyRow, SentRow, SentStatus};
use crate::store::intents::{IntentAction, IntentRow, IntentState};

/// What one resume of the intent log did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntentsResumed {
    /// Interrupted after the put: found out there and recorded.
    pub found: u32,
    /// Interrupted before the put: published now and recorded.
    pub republished: u32,
    /// Failed calls whose record is not out, or expired intents: forgotten.
    pub dropped: u32,
}

/// Removes an intent id from the in-flight set when its call ends in any
/// way (returns, fails, or its future is dropped).
struct InFlight<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<i64>>,
    id: i64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.id);
    }
}

fn kind_of(intent: &IntentRow) -> Kind {
    match intent.action {
        IntentAction::Request { .. } => Kind::BuddyRequest,
        IntentAction::Answer { .. } => Kind::BuddyResponse,
    }
}

fn draft_of(intent: &IntentRow) -> Draft {
    Draft {
        kind: kind_of(intent),
        mailbox: intent.mailbox,
        body: intent.body.clone(),
        lifetime_secs: intent.lifetime_secs,
    }
}

/// The sent row a request intent becomes once `record` is out.
pub(super) fn sent_row(intent: &IntentRow, record: &Record) -> SentRow {
    let reply_token = match intent.action {
        IntentAction::Request { reply_token } => reply_token,
        IntentAction::Answer { .. } => intent.peer_token,
    };
    SentRow {
        request_id: record.id(),
        recipient: intent.peer,
        recipient_token: intent.peer_token,
        reply_token,
        record: record.bytes().to_vec(),
        status: SentStatus::Pending,
        created_at: record.header.created_at,
        expires_at: record.header.expires_at,
    }
}

/// Errors after which the record is certainly not out: nothing was put,
/// or every put was refused.
fn certainly_not_out(error: &MailboxError) -> bool {
    matches!(
        error,
        MailboxError::Invalid(_)
            | MailboxError::Contention { .. }
            | MailboxError::BucketFull { .. }
            | MailboxError::NotSender
    )
}

impl<D: Dht> BuddyBook<D> {
    /// The buddy an answer intent adds (accepts only).
    pub(super) fn answer_buddy(&self, intent: &IntentRow) -> Option<BuddyRow> {
        match &intent.action {
            IntentAction::Answer {
                accepted_name: Some(name),
                ..
            } => Some(BuddyRow {
                public_key: intent.peer,
                display_name: name.clone(),
                inbox_token: Some(intent.peer_token),
                added_at: self.clock.now(),
            }),
            _ => None,
        }
    }

    /// Logs `intent`, publishes it, records the outcome. Returns the record.
    pub(super) async fn put_intent(&self, intent: &IntentRow) -> Result<Record, BuddyError> {
        let id = {
            // Logged and marked in flight under one lock, so a concurrent
            // sync never takes a running call's intent for an interrupted one.
            let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let id = self.store.log_intent(intent)?;
            set.insert(id);
            id
        };
        let _running = InFlight {
            set: &self.in_flight,
            id,
        };
        match self.mailbox.publish(&self.identity, draft_of(intent)).await {
            Ok(record) => {
                self.finish_intent(id, intent, &record)?;
                Ok(record)
            }
            Err(error) => {
                if certainly_not_out(&error) {
                    self.store.drop_intent(id)?;
                } else {
                    self.store.mark_intent_uncertain(id)?;
                }
                Err(error.into())
            }
        }
    }

    /// Records that intent `id` is out as `record`; whether this call did.
    fn finish_intent(
        &self,
        id: i64,
        intent: &IntentRow,
        record: &Record,
    ) -> Result<bool, BuddyError> {
        Ok(match intent.action {
            IntentAction::Request { .. } => self
                .store
                .finish_request_intent(id, &sent_row(intent, record))?,
            IntentAction::Answer { .. } => {
                let buddy = self.answer_buddy(intent);
                self.store
                    .finish_answer_intent(id, intent, buddy.as_ref())?
            }
        })
    }

    /// Finishes every intent a crash (or a dropped call) interrupted; the
    /// sync runs this first. Intents of calls still running are left alone.
    pub async fn resume_intents(&self) -> Result<IntentsResumed, BuddyError> {
        let interrupted: Vec<(IntentRow, InFlight<'_>)> = {
            let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let mut claimed = Vec::new();
            for intent in self.store.intents()? {
                if set.insert(intent.id) {
                    let id = intent.id;
                    claimed.push((
                        intent,
                        InFlight {
                            set: &self.in_flight,
                            id,
                        },
                    ));
                }
            }
            claimed
        };
        let mut done = IntentsResumed::default();
        let mut fetched: HashMap<MailboxId, Vec<Record>> = HashMap::new();
        let me = self.identity.public_key();
        for (intent, _claim) in &interrupted {
            let records = match fetched.entry(intent.mailbox) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    entry.insert(self.fetch_inbox(intent.mailbox).await?.records)
                }
            };
            let out = records.iter().find(|record| {
                record.header.sender == me
                    && record.header.kind == kind_of(intent)
                    && record.body == intent.body
            });
            if let Some(record) = out {
                if self.finish_intent(intent.id, intent, record)? {
                    info!(id = intent.id, "an interrupted put was out: recorded");
                    done.found += 1;
                    self.announce_recovered(intent);
                }
                continue;
            }
            let expired = intent.queued_at.saturating_add(intent.lifetime_secs) <= self.clock.now();
            if intent.state == IntentState::Uncertain || expired {
                self.store.drop_intent(intent.id)?;
                done.dropped += 1;
                continue;
            }
            match self.mailbox.publish(&self.identity, draft_of(intent)).await {
                Ok(record) => {
                    if self.finish_intent(intent.id, intent, &record)? {
                        info!(id = intent.id, "an interrupted put was done again");
                        done.republished += 1;
                        self.announce_recovered(intent);
                    }
                }
                Err(error) if certainly_not_out(&error) => {
                    warn!(%error, "an interrupted put cannot be done: dropped");
                    self.store.drop_intent(intent.id)?;
                    done.dropped += 1;
                }
                // Unavailable: kept for the next sync.
                Err(error) => return Err(error.into()),
            }
        }
        Ok(done)
    }

    /// An accept finished after its call was lost still adds a buddy.
    fn announce_recovered(&self, intent: &IntentRow) {
        if let Some(buddy) = self.answer_buddy(intent) {
            self.emit(BuddyEvent::BuddyAdded {
                public_key: buddy.public_key,
                display_name: buddy.display_name,
            });
        }
    }
}

//! Buddy requests end to end — the feature the product exists for.
//!
//! An instant-messaging user asks someone who may be offline to become a
//! buddy. The request is a sealed record in the recipient's inbox mailbox;
//! the recipient's sync finds it, checks it (validator, decryption, the
//! kind's format and syntax, the directory when the request names its
//! sender), and keeps it as *pending* in SQLite. Accepting or declining
//! publishes a sealed response into the requester's inbox; the requester's
//! own sync sees it, updates its buddy list, and withdraws (tombstones) the
//! request. Everything here runs over the core [`Dht`] trait, so it is
//! tested on the in-memory DHT and on real libp2p nodes alike.
//!
//! * [`BuddyBook`] — the operations an app calls;
//! * `sync` — what happens to each record found in an inbox;
//! * `intents` — requests and answers are logged before they are put, so
//!   a crash at any point converges to "sent and known as sent";
//! * `admission` — which requests found in the inbox are kept: remembered
//!   drops, caps by sender tier, the proof-of-work stamp;
//! * `pending` — pending requests read back and checked again;
//! * `directory` — the public-key directory (display name → key);
//! * `config`, `error`, `model` — the layer's settings, its error, and the
//!   values it hands out (events, sent requests, buddies).

mod admission;
mod config;
mod directory;
mod error;
mod intents;
mod model;
mod name_flags;
mod pending;
mod sync;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tracing::info;

use crate::clock::Clock;
use crate::contact::{ContactCode, InboxToken};
use crate::identity::{Identity, PublicKey};
use crate::mailbox::{Dht, Mailbox};
use crate::record::body::{
    self, BodyRules, BuddyRequest, BuddyResponse, ContactField, Decision, FormatError,
};
use crate::record::{Header, InstanceId, Kind, MailboxId, Record, Validator};
use crate::seal::{self, SealContext};
use crate::store::Store;
use crate::store::buddies::{BuddyRow, SentStatus};
use crate::store::intents::{IntentAction, IntentRow, IntentState};

pub use config::BuddyConfig;
pub use directory::DirectoryClaim;
pub use error::BuddyError;
pub use intents::IntentsResumed;
pub use model::{Buddy, BuddyEvent, SentRequest};
pub use pending::PendingRequest;
pub use sync::{DropReason, SyncReport};

use model::buddy_from_row;

/// The buddy layer of one user over one DHT and one store.
pub struct BuddyBook<D> {
    identity: Identity,
    store: Arc<Store>,
    mailbox: Mailbox<D>,
    validator: Validator,
    clock: Arc<dyn Clock>,
    config: BuddyConfig,
    events: broadcast::Sender<BuddyEvent>,
    sync_lock: tokio::sync::Mutex<()>,
    /// Intents whose call is running in this process: the sync leaves them
    /// alone (everything else in the log was interrupted).
    in_flight: Mutex<HashSet<i64>>,
    /// Monotonic time between the syncs' expiry sweeps.
    sweep_timer: Mutex<crate::store::expiry::SweepTimer>,
}

impl<D: Dht> BuddyBook<D> {
    /// The buddy layer for the identity kept in `store`, publishing and
    /// fetching through `mailbox`. A fresh database gets a new identity
    /// here, once; a database that lost its identity is an error
    /// ([`crate::store::StoreError::IdentityMissing`]), never a new key.
    /// Requests and answers interrupted by a crash are finished by the
    /// next [`BuddyBook::sync_now`].
    pub fn new(
        store: Arc<Store>,
        mailbox: Mailbox<D>,
        clock: Arc<dyn Clock>,
        config: BuddyConfig,
    ) -> Result<Self, BuddyError> {
        let (identity, _) = store.load_or_create_identity()?;
        let validator = mailbox.validator().clone();
        let (events, _) = broadcast::channel(256);
        Ok(Self {
            identity,
            store,
            mailbox,
            validator,
            clock,
            config,
            events,
            sync_lock: tokio::sync::Mutex::new(()),
            in_flight: Mutex::new(HashSet::new()),
            sweep_timer: Mutex::new(crate::store::expiry::SweepTimer::new()),
        })
    }

    /// This user's key.
    pub fn public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// The mailbox client underneath (feeds and notices use it too).
    pub fn mailbox(&self) -> &Mailbox<D> {
        &self.mailbox
    }

    /// Events from now on. A receiver that falls more than 256 events
    /// behind loses the oldest (it is told so by `RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<BuddyEvent> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, event: BuddyEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// This user's current contact code. Never creates a key: a missing
    /// identity row is [`crate::store::StoreError::IdentityMissing`], a
    /// different one [`BuddyError::IdentityChanged`].
    pub fn contact_code(&self) -> Result<ContactCode, BuddyError> {
        let (stored, token) = self.store.identity()?;
        if stored.public_key() != self.identity.public_key() {
            return Err(BuddyError::IdentityChanged);
        }
        Ok(ContactCode::new(self.identity.public_key(), token))
    }

    /// Sets the display name shown with requests and answers, and the
    /// directory name requests are verified under (if any).
    pub fn set_profile(
        &self,
        display_name: &str,
        directory_name: Option<&str>,
    ) -> Result<(), BuddyError> {
        let display_name = &crate::names::nfc(display_name);
        body::check_display_name(display_name)?;
        if let Some(name) = directory_name {
            body::check_directory_name(name)?;
        }
        self.store.set_profile(display_name, directory_name)?;
        Ok(())
    }

    fn profile(&self) -> Result<(String, Option<String>), BuddyError> {
        self.store.profile()?.ok_or(BuddyError::ProfileMissing)
    }

    /// Sends a buddy request to the owner of `contact_code` (its text form),
    /// with `message` and the contact details to share. The body is sealed
    /// to the recipient; the request waits in its inbox until answered,
    /// withdrawn or expired.
    pub async fn send_request(
        &self,
        contact_code: &str,
        message: &str,
        contacts: Vec<ContactField>,
    ) -> Result<SentRequest, BuddyError> {
        let to = ContactCode::parse(contact_code)?;
        if to.public_key == self.identity.public_key() {
            return Err(BuddyError::OwnCode);
        }
        let (display_name, directory_name) = self.profile()?;
        // Check what the caller gave before encoding (the encoding itself
        // cannot hold over-long fields), in NFC as it goes on the wire.
        let message = &crate::names::nfc(message);
        body::check_message(message)?;
        if contacts.len() > body::MAX_CONTACT_FIELDS {
            return Err(FormatError {
                field: "contacts",
                problem: format!(
                    "{} fields, at most {}",
                    contacts.len(),
                    body::MAX_CONTACT_FIELDS
                ),
            }
            .into());
        }
        for contact in &contacts {
            ContactField::check(contact.kind as u8, &contact.value)?;
        }
        let my_code = self.contact_code()?;
        let inbox = to.inbox_id();
        let request = BuddyRequest {
            display_name,
            message: message.to_owned(),
            reply_token: my_code.inbox_token,
            sender_name: directory_name,
            contacts,
            stamp: Some(mint_stamp_off_thread(inbox, self.identity.public_key()).await),
        };
        let sealed =
            self.seal_checked(Kind::BuddyRequest, inbox, &to.public_key, &request.encode())?;
        let intent = IntentRow {
            id: 0,
            action: IntentAction::Request {
                reply_token: my_code.inbox_token,
            },
            state: IntentState::InFlight,
            mailbox: inbox,
            body: sealed,
            lifetime_secs: self.config.request_lifetime_secs,
            peer: to.public_key,
            peer_token: to.inbox_token,
            queued_at: 0,
        };
        let record = self.put_intent(&intent).await?;
        info!(to = %to.public_key, "buddy request sent");
        Ok(SentRequest::from(&intents::sent_row(&intent, &record)))
    }

    /// Checks `plaintext` with the kind's rules as the reader will, then
    /// seals it: a bad input fails here with its reason, not at the reader.
    fn seal_checked(
        &self,
        kind: Kind,
        mailbox: MailboxId,
        recipient: &PublicKey,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, BuddyError> {
        let now = self.clock.now();
        let header = Header {
            kind,
            mailbox,
            instance: InstanceId { bucket: 0, seq: 0 },
            sender: self.identity.public_key(),
            created_at: now,
            expires_at: now + 1,
        };
        body::check_plaintext(&header, plaintext)?;
        let context = SealContext {
            kind,
            mailbox,
            sender: self.identity.public_key(),
        };
        Ok(seal::seal(recipient, &context, plaintext)?)
    }

    /// Accepts pending request `request_id`: answers the requester and adds
    /// them to the buddy list.
    pub async fn accept(&self, request_id: &[u8; 32]) -> Result<Buddy, BuddyError> {
        let (display_name, _) = self.profile()?;
        let buddy = self
            .answer(request_id, Decision::Accept, display_name)
            .await?;
        let buddy = buddy.expect("an accept makes a buddy");
        self.emit(BuddyEvent::BuddyAdded {
            public_key: buddy.public_key,
            display_name: buddy.display_name.clone(),
        });
        // If this user had asked them too, that request is answered now.
        self.resolve_crossing().await?;
        Ok(buddy_from_row(buddy))
    }

    /// Declines pending request `request_id`; the decline reveals no name.
    pub async fn decline(&self, request_id: &[u8; 32]) -> Result<(), BuddyError> {
        self.answer(request_id, Decision::Decline, String::new())
            .await?;
        Ok(())
    }

    /// Logs the answer, puts it, then records it (and the buddy, on accept)
    /// in one transaction. Returns the new buddy on accept.
    async fn answer(
        &self,
        request_id: &[u8; 32],
        decision: Decision,
        display_name: String,
    ) -> Result<Option<BuddyRow>, BuddyError> {
        // One answer per request: not while another is on its way.
        if self.store.answers_in_flight()?.contains(request_id) {
            return Err(BuddyError::UnknownRequest);
        }
        let row = self
            .store
            .pending_by_id(request_id)?
            .ok_or(BuddyError::UnknownRequest)?;
        let Some(request) = self.recheck_pending(&row) else {
            self.store.remove_pending(request_id)?;
            return Err(BuddyError::UnknownRequest);
        };
        let response = BuddyResponse {
            request_id: *request_id,
            decision,
            display_name,
        };
        let inbox = ContactCode::new(request.from, request.body.reply_token).inbox_id();
        let sealed = self.seal_checked(
            Kind::BuddyResponse,
            inbox,
            &request.from,
            &response.encode(),
        )?;
        let intent = IntentRow {
            id: 0,
            action: IntentAction::Answer {
                request_id: *request_id,
                request_expires_at: request.expires_at,
                accepted_name: (decision == Decision::Accept)
                    .then(|| request.body.display_name.clone()),
            },
            state: IntentState::InFlight,
            mailbox: inbox,
            body: sealed,
            lifetime_secs: self.config.response_lifetime_secs,
            peer: request.from,
            peer_token: request.body.reply_token,
            queued_at: 0,
        };
        self.put_intent(&intent).await?;
        info!(from = %request.from, ?decision, "buddy request answered");
        Ok(self.answer_buddy(&intent))
    }

    /// The buddy list (the access-control list), by display name.
    pub fn buddies(&self) -> Result<Vec<Buddy>, BuddyError> {
        Ok(self
            .store
            .buddies()?
            .into_iter()
            .map(buddy_from_row)
            .collect())
    }

    /// Removes `key` from the buddy list; whether it was there.
    pub fn remove_buddy(&self, key: &PublicKey) -> Result<bool, BuddyError> {
        let removed = self.store.remove_buddy(key)?;
        if removed {
            self.emit(BuddyEvent::BuddyRemoved { public_key: *key });
        }
        Ok(removed)
    }

    /// Withdraws request `request_id` that this user sent and that is still
    /// unanswered: tombstones it in the recipient's inbox (so their next
    /// sync forgets it) and marks it [`SentStatus::Withdrawn`], so that an
    /// answer arriving later adds no buddy. [`BuddyError::UnknownRequest`]
    /// if this user sent no such request, [`BuddyError::NotPending`] if it
    /// was already answered or withdrawn. Nothing is marked when the
    /// tombstone cannot be put.
    pub async fn withdraw(&self, request_id: &[u8; 32]) -> Result<(), BuddyError> {
        let sent = self
            .store
            .sent_by_id(request_id)?
            .ok_or(BuddyError::UnknownRequest)?;
        if sent.status != SentStatus::Pending {
            return Err(BuddyError::NotPending);
        }
        self.tombstone_sent(&sent.record).await?;
        if !self.store.mark_withdrawn(request_id)? {
            return Err(BuddyError::NotPending); // answered meanwhile
        }
        info!(to = %sent.recipient, "buddy request withdrawn");
        self.emit(BuddyEvent::RequestWithdrawn {
            request_id: *request_id,
        });
        Ok(())
    }

    /// Requests this user sent, newest first.
    pub fn sent_requests(&self) -> Result<Vec<SentRequest>, BuddyError> {
        Ok(self.store.sent()?.iter().map(SentRequest::from).collect())
    }

    /// Blocks `key`: its requests are dropped unread and not stored.
    pub fn block(&self, key: &PublicKey) -> Result<(), BuddyError> {
        self.store.block(key)?;
        Ok(())
    }

    /// Unblocks `key`; whether it was blocked.
    pub fn unblock(&self, key: &PublicKey) -> Result<bool, BuddyError> {
        Ok(self.store.unblock(key)?)
    }

    /// Makes a new inbox token and returns the new contact code. Requests
    /// sent to the old code are no longer fetched or shown.
    pub fn rotate_inbox_token(&self) -> Result<ContactCode, BuddyError> {
        self.store.set_inbox_token(InboxToken::random())?;
        let code = self.contact_code()?;
        let dropped = self.store.remove_pending_outside(&code.inbox_id())?;
        info!(dropped, "inbox token rotated");
        Ok(code)
    }
}

/// Mints the stamp of a request from `sender` into `inbox` on a blocking
/// thread (tens of milliseconds of hashing; never on the async executor).
async fn mint_stamp_off_thread(inbox: MailboxId, sender: PublicKey) -> u64 {
    let bits = crate::stamp::STAMP_BITS;
    match tokio::task::spawn_blocking(move || crate::stamp::mint_stamp(&inbox, &sender, bits)).await
    {
        Ok(nonce) => nonce,
        // The pool is shutting down or the task panicked: mint here.
        Err(_) => crate::stamp::mint_stamp(&inbox, &sender, bits),
    }
}

/// Validates record bytes kept on disk under the key their own header
/// names (the validator still checks every rule, the binding included).
pub(crate) fn validate_stored(validator: &Validator, bytes: &[u8], now: u64) -> Option<Record> {
    let key = crate::record::decode(bytes).ok()?.header.dht_key();
    validator.validate(&key, bytes, now).ok()
}

//! Pending requests as the app sees them: read back from the database,
//! validated and decrypted again (nothing on disk is trusted), with the
//! directory claims of the name they give, from the cache the sync keeps,
//! so the list works without the network.

use crate::buddy::{BuddyBook, BuddyError, DirectoryClaim, validate_stored};
use crate::identity::PublicKey;
use crate::mailbox::Dht;
use crate::record::body::{self, BuddyRequest};
use crate::store::buddies::PendingRow;

/// A checked request waiting for an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    /// Its id: pass it to [`BuddyBook::accept`] or [`BuddyBook::decline`].
    pub id: [u8; 32],
    /// The requester's key.
    pub from: PublicKey,
    /// The checked body.
    pub body: BuddyRequest,
    /// When it was sent.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
    /// Every claim to the directory name the request gives
    /// (`body.sender_name`), as last looked up: one of them is the
    /// requester's key. Empty when the request names no directory name.
    pub claims: Vec<DirectoryClaim>,
    /// Whether more than one key claims that name: anyone can claim any
    /// name, so the app should show the conflict rather than trust the
    /// name.
    pub contested: bool,
}

impl<D: Dht> BuddyBook<D> {
    /// Pending requests, checked again from the database, oldest first:
    /// each record is validated and decrypted again, and requests that no
    /// longer belong (expired, blocked sender, sender now a buddy, sent to
    /// an inbox token that was rotated away) are dropped. Works without the
    /// network; [`BuddyBook::sync_now`] refreshes it (and the claims).
    pub fn pending_requests(&self) -> Result<Vec<PendingRequest>, BuddyError> {
        let inbox = self.contact_code()?.inbox_id();
        let buddies: Vec<PublicKey> = self
            .store
            .buddies()?
            .into_iter()
            .map(|b| b.public_key)
            .collect();
        // An answer already on its way (running, or cut by a crash and
        // finished by the next sync) is not offered for answering again.
        let being_answered = self.store.answers_in_flight()?;
        let mut pending = Vec::new();
        for row in self.store.pending()? {
            if being_answered.contains(&row.request_id) {
                continue;
            }
            let belongs = row.inbox == inbox
                && !buddies.contains(&row.sender)
                && !self.store.is_blocked(&row.sender)?;
            match self.recheck_pending(&row).filter(|_| belongs) {
                Some(mut request) => {
                    if let Some(name) = &request.body.sender_name
                        && let Some((_, claims)) = self.store.cached_directory(name)?
                    {
                        request.claims = claims.into_iter().map(DirectoryClaim::from).collect();
                        request.contested = request.claims.len() > 1;
                    }
                    pending.push(request);
                }
                None => {
                    tracing::debug!("dropping a stored pending request that no longer belongs");
                    self.store.remove_pending(&row.request_id)?;
                }
            }
        }
        Ok(pending)
    }

    pub(super) fn recheck_pending(&self, row: &PendingRow) -> Option<PendingRequest> {
        let now = self.clock.now();
        let record = validate_stored(&self.validator, &row.record, now)?;
        if record.id() != row.request_id
            || record.header.sender != row.sender
            || record.header.mailbox != row.inbox
        {
            return None;
        }
        match self.open_body(&record).ok()? {
            body::Content::BuddyRequest(body) => Some(PendingRequest {
                id: row.request_id,
                from: row.sender,
                body,
                created_at: record.header.created_at,
                expires_at: record.header.expires_at,
                claims: Vec::new(),
                contested: false,
            }),
            _ => None,
        }
    }
}

//! Publishing: where a new record goes, and what a refusal means.
//!
//! Listing DHTs tell the writer the bucket's next sequence number; the
//! writer signs there and puts, and a [`DhtError::Taken`] (a lost race) makes
//! it ask again and move past the slot it lost. Without `next_seq` the writer
//! takes the first free slot at or after its hint ([`super::probe`]) and
//! reads its put back, because a plain DHT may acknowledge a put it did not
//! judge. Either way, only `Taken` moves a publish on; any other refusal
//! (quota, clock skew, invalid, unreachable) ends it with that error, so a
//! publish never leaves its record in a slot no reader reaches.

use std::collections::HashSet;
use std::sync::Mutex;

use tracing::{debug, warn};

use super::{Dht, DhtError, Draft, Mailbox, MailboxError, Slot};
use crate::identity::Identity;
use crate::record::{
    DhtKey, HEADER_LEN, Header, InstanceId, MAX_BODY_BYTES, MailboxId, Record, RecordError,
    SIGNATURE_LEN,
};

/// A slot reserved for one publish of this process; released on drop.
/// Concurrent publishes of one process never race each other for a slot.
pub(super) struct SlotClaim<'a> {
    claimed: &'a Mutex<HashSet<Slot>>,
    slot: Slot,
}

impl SlotClaim<'_> {
    fn seq(&self) -> u32 {
        self.slot.2
    }
}

impl Drop for SlotClaim<'_> {
    fn drop(&mut self) {
        if let Ok(mut claimed) = self.claimed.lock() {
            claimed.remove(&self.slot);
        }
    }
}

/// What one put of a signed record came to.
enum Outcome {
    Stored,
    Taken,
}

impl<D: Dht> Mailbox<D> {
    /// Signs `draft` as `identity` into a free slot of its bucket and stores
    /// it. Returns the stored record.
    ///
    /// Errors: [`MailboxError::Invalid`] for a bad draft (nothing sent);
    /// [`MailboxError::Dht`] with the storing peers' own refusal (quota,
    /// clock, …) or unreachability; [`MailboxError::Contention`] only after
    /// `max_attempts` slots in a row were taken by other writers.
    pub async fn publish(&self, identity: &Identity, draft: Draft) -> Result<Record, MailboxError> {
        if draft.body.len() > MAX_BODY_BYTES {
            return Err(MailboxError::Invalid(RecordError::TooLarge {
                size: HEADER_LEN + draft.body.len() + SIGNATURE_LEN,
                max: self.validator.policy().max_record_bytes,
            }));
        }
        let now = self.clock.now();
        let expires_at = now.saturating_add(draft.lifetime_secs);
        let bucket = InstanceId::bucket_of(expires_at);
        let signed = |seq| {
            let header = Header {
                kind: draft.kind,
                mailbox: draft.mailbox,
                instance: InstanceId { bucket, seq },
                sender: identity.public_key(),
                created_at: now,
                expires_at,
            };
            (header.dht_key(), header.sign(identity, &draft.body))
        };
        // Check the draft once, locally, so a bad one fails with its reason
        // instead of as a refused put.
        let (key, bytes) = signed(0);
        self.validator
            .validate(&key, &bytes, now)
            .map_err(MailboxError::Invalid)?;

        let mailbox = draft.mailbox;
        let mut lost: Option<u32> = None;
        for attempt in 1..=self.config.max_attempts {
            let next = self.dht.next_seq(mailbox, bucket).await?;
            let claim = match next {
                Some(next) => {
                    // Past the replicas' head, our own hint and any slot we
                    // just lost.
                    let start = next
                        .max(self.hint(mailbox, bucket))
                        .max(lost.map_or(0, |seq| seq.saturating_add(1)));
                    self.claim_at_or_after(mailbox, bucket, start)?
                }
                None => {
                    let start = self
                        .hint(mailbox, bucket)
                        .max(lost.map_or(0, |seq| seq.saturating_add(1)));
                    self.claim_first_free(mailbox, bucket, start).await?.0
                }
            };
            let seq = claim.seq();
            let (key, bytes) = signed(seq);
            match self.store(key, &bytes, next.is_none()).await? {
                Outcome::Stored => {
                    self.set_hint(mailbox, bucket, seq.saturating_add(1));
                    debug!(kind = %draft.kind, bucket, seq, attempt, "published");
                    return Ok(self.validator.validate(&key, &bytes, now)?);
                }
                Outcome::Taken => {
                    debug!(bucket, seq, attempt, "slot taken, trying further on");
                    lost = Some(seq);
                }
            }
        }
        warn!(bucket, "publish gave up: slots kept being taken");
        Err(MailboxError::Contention {
            attempts: self.config.max_attempts,
        })
    }

    /// Puts `bytes` under `key`. `Taken` is the only refusal that lets the
    /// caller try another slot. With `read_back` (a DHT without listing,
    /// whose acknowledgement may not mean the record was judged and kept) a
    /// stored record is confirmed by a get; another value there is a lost
    /// race, and so is nothing (the put did not stick).
    async fn store(&self, key: DhtKey, bytes: &[u8], read_back: bool) -> Result<Outcome, DhtError> {
        match self.dht.put(key, bytes.to_vec()).await {
            Ok(()) if !read_back => Ok(Outcome::Stored),
            Ok(()) => {
                let held = self.dht.get(key).await?;
                if held.as_deref() == Some(bytes) {
                    Ok(Outcome::Stored)
                } else {
                    debug!("read-back shows another value: lost the slot");
                    Ok(Outcome::Taken)
                }
            }
            Err(DhtError::Taken) => Ok(Outcome::Taken),
            Err(error) => {
                warn!(%error, "put refused; publish ends");
                Err(error)
            }
        }
    }

    /// Reserves the first slot at or after `start` no other publish of this
    /// process is trying (no network: the replicas named the head).
    fn claim_at_or_after(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        start: u32,
    ) -> Result<SlotClaim<'_>, MailboxError> {
        let mut seq = start;
        while seq <= self.config.max_seq {
            if let Some(claim) = self.try_claim((mailbox, bucket, seq)) {
                return Ok(claim);
            }
            seq = seq
                .checked_add(1)
                .ok_or(MailboxError::BucketFull { bucket })?;
        }
        Err(MailboxError::BucketFull { bucket })
    }

    /// Reserves `slot` unless another publish of this process holds it.
    pub(super) fn try_claim(&self, slot: Slot) -> Option<SlotClaim<'_>> {
        let mut claimed = self.claimed.lock().expect("poisoned");
        claimed.insert(slot).then_some(SlotClaim {
            claimed: &self.claimed,
            slot,
        })
    }
}

//! What the inbound workers do: judge records and read the store for
//! other peers, on a worker thread (see [`crate::inbound`]).
//!
//! Every record is validated (signature, format, key binding) *before* the
//! store lock is taken, then written by the store's own path
//! ([`crate::record_store::SqliteRecordStore::put_validated`]: quotas, keep-both rule), so the
//! lock is held for SQLite only. Listing answers carry the held rows'
//! bytes without a second signature check (`Store::list_mailbox_raw`): the
//! asking peer validates everything it receives, and expired rows are
//! never served.

use std::collections::HashSet;
use std::sync::Arc;

use libp2p::PeerId;
use pigeonhole::clock::Clock;
use pigeonhole::mailbox::ListCursor;
use pigeonhole::record::{InstanceId, MailboxId, Record, Validator, record_id};
use pigeonhole::store::{PutOutcome, StoreError};
use tracing::{debug, trace, warn};

use crate::mailbox_protocol::{
    MAX_PAGE_BYTES, MAX_PAGE_RECORDS, MailboxResponse, PutAnswer, slot_key_of, slot_of,
};
use crate::reconcile::{ReconcileError, ReplicaStore};
use crate::reconcile_codec::ReconcileResponse;
use crate::record_store::Refusal;
use crate::shared_store::SharedStore;

/// One inbound request's work.
pub(crate) enum Job {
    /// A v2 put: judge and store the record, answer the judgement.
    Put(Vec<u8>),
    /// A Kademlia PUT_VALUE (already acknowledged by libp2p): judge and
    /// store, answer nobody.
    KadPut(Vec<u8>),
    /// A v2 listing page.
    List {
        /// The mailbox.
        mailbox: MailboxId,
        /// Where to resume.
        after: Option<ListCursor>,
        /// Most records wanted.
        limit: u16,
    },
    /// A v2 next-seq question.
    NextSeq {
        /// The mailbox.
        mailbox: MailboxId,
        /// The bucket.
        bucket: u32,
    },
    /// A reconcile sync round.
    Sync(MailboxId, Vec<u8>),
    /// A reconcile fetch.
    Fetch(MailboxId, Vec<[u8; 32]>),
    /// A reconcile offer (from a peer this node should pull from): which
    /// of the ids this node lacks.
    Offer(MailboxId, Vec<[u8; 32]>),
    /// Records this node fetched from a replica: store the ones it asked for.
    Pull {
        /// The mailbox.
        mailbox: MailboxId,
        /// The ids asked for (a peer cannot slip in others).
        ids: HashSet<[u8; 32]>,
        /// What the peer sent.
        records: Vec<(InstanceId, Vec<u8>)>,
    },
}

/// What a job found, for the swarm task to finish.
pub(crate) enum Answer {
    /// A mailbox answer (`None`: the store failed; the stream is dropped),
    /// with the slot of a judged record to remember and whether it was
    /// newly stored.
    Mailbox {
        /// The answer.
        response: Option<MailboxResponse>,
        /// The judged record's mailbox and instance, if it was valid.
        slot: Option<(MailboxId, InstanceId)>,
        /// Whether a record was newly stored.
        stored: bool,
        /// The judged record's id, if it was valid (a newcomer's newly
        /// stored record is relayed to the replicas of standing).
        record_id: Option<[u8; 32]>,
        /// The mailbox a read asked about: its answer gets this node's
        /// referrals on the swarm task (the routing table lives there).
        about: Option<MailboxId>,
    },
    /// A reconcile answer.
    Reconcile(ReconcileResponse),
    /// An offer's ids this node lacks (to fetch), answered `Noted`.
    Offered(MailboxId, Vec<[u8; 32]>),
    /// Records pulled into `mailbox`: how many were new.
    Pulled(MailboxId, u64),
}

/// What a worker needs: the store and its own copies of the validator and
/// clock (both cheap to share).
#[derive(Clone)]
pub(crate) struct JobContext {
    pub(crate) store: SharedStore,
    pub(crate) validator: Validator,
    pub(crate) clock: Arc<dyn Clock>,
}

/// How a put ended.
struct Judged {
    answer: PutAnswer,
    slot: Option<(MailboxId, InstanceId)>,
    stored: bool,
    record_id: Option<[u8; 32]>,
}

fn refused(refusal: &Refusal) -> PutAnswer {
    PutAnswer::Refused {
        kind: refusal.kind(),
        reason: refusal.to_string(),
    }
}

impl JobContext {
    /// Runs `job` for `peer`.
    pub(crate) fn run(&self, peer: PeerId, job: Job) -> Answer {
        match job {
            Job::Put(bytes) | Job::KadPut(bytes) => {
                let judged = self.judge(peer, &bytes);
                Answer::Mailbox {
                    response: Some(MailboxResponse::Put(judged.answer)),
                    slot: judged.slot,
                    stored: judged.stored,
                    record_id: judged.record_id,
                    about: None,
                }
            }
            Job::List {
                mailbox,
                after,
                limit,
            } => Answer::Mailbox {
                response: self.list(&mailbox, after, limit),
                slot: None,
                stored: false,
                record_id: None,
                about: Some(mailbox),
            },
            Job::NextSeq { mailbox, bucket } => {
                let seq = self
                    .store
                    .lock_for_worker()
                    .inner()
                    .next_seq(&mailbox, bucket);
                Answer::Mailbox {
                    response: seq
                        .inspect_err(|error| warn!(%error, "store read failed; answering nothing"))
                        .ok()
                        .map(|seq| MailboxResponse::NextSeq {
                            seq,
                            closer: Vec::new(),
                        }),
                    slot: None,
                    stored: false,
                    record_id: None,
                    about: Some(mailbox),
                }
            }
            Job::Sync(mailbox, message) => Answer::Reconcile(self.reconcile(peer, || {
                let items = self.store.lock_for_worker().items(&mailbox)?;
                Ok(ReconcileResponse::Sync(crate::reconcile::respond(
                    &items, &message,
                )?))
            })),
            Job::Fetch(mailbox, ids) => Answer::Reconcile(self.reconcile(peer, || {
                Ok(ReconcileResponse::Records(
                    self.store.lock_for_worker().records(&mailbox, &ids)?,
                ))
            })),
            Job::Offer(mailbox, ids) => {
                let held = self.store.lock_for_worker().items(&mailbox);
                match held {
                    Ok(held) => {
                        let held: HashSet<[u8; 32]> =
                            held.into_iter().map(|item| item.record_id).collect();
                        let wanted = ids.into_iter().filter(|id| !held.contains(id)).collect();
                        Answer::Offered(mailbox, wanted)
                    }
                    Err(error) => {
                        debug!(%peer, %error, "reconcile offer not checked");
                        Answer::Offered(mailbox, Vec::new())
                    }
                }
            }
            Job::Pull {
                mailbox,
                ids,
                records,
            } => {
                let mut stored = 0;
                for (instance, bytes) in records {
                    if !ids.contains(&record_id(&bytes))
                        || slot_of(&bytes) != Some((mailbox, instance))
                    {
                        continue;
                    }
                    if self.judge(peer, &bytes).stored {
                        stored += 1;
                    }
                }
                Answer::Pulled(mailbox, stored)
            }
        }
    }

    fn reconcile(
        &self,
        peer: PeerId,
        answer: impl FnOnce() -> Result<ReconcileResponse, ReconcileError>,
    ) -> ReconcileResponse {
        answer().unwrap_or_else(|error| {
            debug!(%peer, %error, "reconcile request refused");
            ReconcileResponse::Refused
        })
    }

    /// Judges a record: validated without the lock, stored under it.
    fn judge(&self, peer: PeerId, bytes: &[u8]) -> Judged {
        let Some(key) = slot_key_of(bytes) else {
            return Judged {
                answer: refused(&Refusal::BadKey),
                slot: None,
                stored: false,
                record_id: None,
            };
        };
        let record: Record = match self.validator.validate(&key, bytes, self.clock.now()) {
            Ok(record) => record,
            Err(error) => {
                let refusal = Refusal::Store(StoreError::from(error));
                debug!(%peer, %refusal, "inbound record refused");
                return Judged {
                    answer: refused(&refusal),
                    slot: None,
                    stored: false,
                    record_id: None,
                };
            }
        };
        let slot = Some((record.header.mailbox, record.header.instance));
        let outcome = self.store.lock_for_worker().put_validated(&record);
        let (answer, stored) = match outcome {
            Ok(PutOutcome::Unchanged) => (PutAnswer::AlreadyHeld, false),
            Ok(PutOutcome::Stored | PutOutcome::Replaced(_)) => {
                trace!(%peer, "inbound record stored");
                (PutAnswer::Stored, true)
            }
            Err(refusal) => {
                debug!(%peer, %refusal, "inbound record refused");
                (refused(&refusal), false)
            }
        };
        Judged {
            answer,
            slot,
            stored,
            record_id: Some(record.id()),
        }
    }

    /// A listing page, cut at [`MAX_PAGE_BYTES`].
    fn list(
        &self,
        mailbox: &MailboxId,
        after: Option<ListCursor>,
        limit: u16,
    ) -> Option<MailboxResponse> {
        let limit = limit.clamp(1, MAX_PAGE_RECORDS);
        let listed =
            self.store
                .lock_for_worker()
                .inner()
                .list_mailbox_raw(mailbox, after, u32::from(limit));
        let (records, more) = listed
            .inspect_err(|error| warn!(%error, "store read failed; answering nothing"))
            .ok()?;
        let mut page = Vec::with_capacity(records.len());
        let mut bytes = 0;
        let mut cut = false;
        for record in records {
            if !page.is_empty() && bytes + record.len() > MAX_PAGE_BYTES {
                cut = true;
                break;
            }
            bytes += record.len();
            page.push(record);
        }
        Some(MailboxResponse::List {
            records: page,
            more: more || cut,
            closer: Vec::new(),
        })
    }
}

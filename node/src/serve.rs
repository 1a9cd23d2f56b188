//! Routing other peers' requests to the inbound worker pool, and sending
//! the workers' answers back.
//!
//! Every inbound record — a v2 put, a Kademlia PUT_VALUE (still accepted,
//! for other implementations) or a record pulled by replica repair — is
//! judged on a worker by the one write path (validator, then
//! [`crate::record_store::SqliteRecordStore::put_validated`]: quotas,
//! keep-both rule); see [`crate::inbound_jobs`]. A v2 put is answered with
//! that judgement. A Kademlia PUT has already been acknowledged by libp2p
//! before it is judged (`FilterBoth` acknowledges by echoing the record
//! back), which is why our own writers never count a Kademlia
//! acknowledgement as stored; over its sender's budget, or with the queue
//! full, it is dropped unjudged (counted in `LoadStats::kad_puts_dropped`).
//!
//! A request over its peer's budget, or finding the queue full, is answered
//! [`MailboxResponse::Busy`] (reconcile: `ReconcileResponse::Busy`) at
//! once: the writer asks another replica, the reader the next one.

use std::collections::HashSet;

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use pigeonhole::record::{InstanceId, MailboxId};
use tracing::debug;

use crate::budget::Class;
use crate::inbound::{Done, Reply, Task};
use crate::inbound_jobs::{Answer, Job};
use crate::mailbox_protocol::{MailboxRequest, MailboxResponse};
use crate::reconcile_codec::ReconcileResponse;
use crate::runner::Runner;

impl Runner {
    /// A peer's v2 request: queued for the workers, or answered busy.
    pub(crate) fn on_mailbox_request(
        &mut self,
        peer: PeerId,
        request: MailboxRequest,
        channel: ResponseChannel<MailboxResponse>,
    ) {
        let (class, job) = match request {
            MailboxRequest::Put(bytes) => (Class::Put, Job::Put(bytes)),
            MailboxRequest::List {
                mailbox,
                after,
                limit,
            } => (
                Class::Read,
                Job::List {
                    mailbox,
                    after,
                    limit,
                },
            ),
            MailboxRequest::NextSeq { mailbox, bucket } => {
                (Class::Read, Job::NextSeq { mailbox, bucket })
            }
        };
        let task = Task {
            peer,
            job,
            reply: Reply::Mailbox(channel),
        };
        let known = self.in_routing_table(&peer);
        if let Err((why, task)) = self.inbound.submit(class, known, task) {
            debug!(%peer, ?why, "mailbox request answered busy");
            self.finish(task.reply, BusyOr::Busy);
        }
    }

    /// An inbound Kademlia PUT_VALUE whose key is its record's slot key.
    pub(crate) fn submit_kad_put(&mut self, peer: PeerId, bytes: Vec<u8>) {
        let task = Task {
            peer,
            job: Job::KadPut(bytes),
            reply: Reply::Nobody,
        };
        let known = self.in_routing_table(&peer);
        if let Err((why, _)) = self.inbound.submit(Class::Put, known, task) {
            debug!(%peer, ?why, "inbound kad record dropped unjudged");
            self.inbound.counters().note_kad_put_dropped();
        }
    }

    /// A reconcile request that passed the reconciler's own rate limit.
    pub(crate) fn submit_reconcile(
        &mut self,
        peer: PeerId,
        job: Job,
        channel: ResponseChannel<ReconcileResponse>,
    ) {
        let task = Task {
            peer,
            job,
            reply: Reply::Reconcile(channel),
        };
        // The reconciler's limiter is this class's budget; the queue
        // limits still apply.
        let known = self.in_routing_table(&peer);
        if let Err((why, task)) = self.inbound.submit(Class::Uncharged, known, task) {
            debug!(%peer, ?why, "reconcile request answered busy");
            self.finish(task.reply, BusyOr::Busy);
        }
    }

    /// Records fetched from `peer` by replica repair: judged on a worker.
    pub(crate) fn submit_pull(
        &mut self,
        peer: PeerId,
        mailbox: MailboxId,
        ids: HashSet<[u8; 32]>,
        records: Vec<(InstanceId, Vec<u8>)>,
    ) {
        let task = Task {
            peer,
            job: Job::Pull {
                mailbox,
                ids,
                records,
            },
            reply: Reply::Nobody,
        };
        let known = self.in_routing_table(&peer);
        if let Err((why, _)) = self.inbound.submit(Class::Uncharged, known, task) {
            // Nothing lost: the next repair pass finds the difference again.
            debug!(%peer, ?why, "pulled records not judged now; the next pass retries");
        }
    }

    /// Whether `peer` is in the Kademlia routing table (the inbound
    /// queue's preferred lane).
    fn in_routing_table(&mut self, peer: &PeerId) -> bool {
        self.kad()
            .kbucket(*peer)
            .is_some_and(|bucket| bucket.iter().any(|entry| entry.node.key.preimage() == peer))
    }

    /// A worker finished a job: bookkeeping here, then the answer.
    pub(crate) fn on_inbound_done(&mut self, done: Done) {
        let Done {
            peer,
            reply,
            answer,
        } = done;
        match answer {
            Answer::Mailbox {
                mut response,
                slot,
                stored,
                record_id,
                about,
            } => {
                if let Some((mailbox, instance)) = slot {
                    self.slots.remember(mailbox, instance);
                }
                if stored {
                    self.note_accepted();
                    // A newcomer's record reaches the replicas of standing
                    // (see placement.rs).
                    if let (Some((mailbox, _)), Some(id)) = (slot, record_id) {
                        self.relay_from_newcomer(peer, mailbox, id);
                    }
                }
                if let (Some(mailbox), Some(response)) = (about, response.as_mut()) {
                    self.add_referrals(mailbox, peer, response);
                }
                match response {
                    Some(response) => self.finish(reply, BusyOr::Mailbox(response)),
                    None => debug!(%peer, "store failed; request left unanswered"),
                }
            }
            Answer::Reconcile(response) => self.finish(reply, BusyOr::Reconcile(response)),
            Answer::Offered(mailbox, wanted) => {
                self.finish(reply, BusyOr::Reconcile(ReconcileResponse::Noted));
                self.on_offer_checked(peer, mailbox, wanted);
            }
            Answer::Pulled(mailbox, stored) => self.on_pulled(peer, mailbox, stored),
        }
    }

    /// Sends an answer (or "busy") on the request's stream.
    fn finish(&mut self, reply: Reply, answer: BusyOr) {
        match (reply, answer) {
            (Reply::Mailbox(channel), BusyOr::Mailbox(response)) => {
                if self.mailbox().send_response(channel, response).is_err() {
                    debug!("requester gone before the answer");
                }
            }
            (Reply::Mailbox(channel), BusyOr::Busy) => {
                let _ = self.mailbox().send_response(channel, MailboxResponse::Busy);
            }
            (Reply::Reconcile(channel), BusyOr::Reconcile(response)) => {
                self.answer_reconcile(channel, response);
            }
            (Reply::Reconcile(channel), BusyOr::Busy) => {
                self.answer_reconcile(channel, ReconcileResponse::Busy);
            }
            (Reply::Nobody, _) => {}
            (Reply::Mailbox(_), BusyOr::Reconcile(_))
            | (Reply::Reconcile(_), BusyOr::Mailbox(_)) => {
                debug!("answer of the wrong protocol dropped");
            }
        }
    }
}

/// An answer for [`Runner::finish`].
enum BusyOr {
    Mailbox(MailboxResponse),
    Reconcile(ReconcileResponse),
    Busy,
}

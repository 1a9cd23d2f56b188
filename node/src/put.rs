//! The put half of the mailbox protocol v2: a record to its replica set.
//!
//! Why its own module: the put's acknowledgement rule is the product's
//! promise ("no acknowledged record is lost"), and it reads best apart from
//! the read path ([`crate::protocol`], whose module docs describe both).
//! The record goes to every target of its placement at once while this
//! node's own copy is written on the own lane ([`crate::own_lane`]); the
//! caller is answered once every replica answered (silent ones stood in
//! for), `Stored` only after the outbox row is written, when a peer of
//! standing (or, for a node without any, a stand-in) stored it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;
use pigeonhole::record::{DhtKey, Record};
use tracing::{debug, info, warn};

use crate::command::Reply;
use crate::mailbox_protocol::{MailboxRequest, PutAnswer};
use crate::node::Published;
use crate::queries::{Op, PutOp};
use crate::runner::Runner;

impl Runner {
    /// Checks the user's record (on the own lane: a signature check), then
    /// puts it.
    pub(crate) fn start_put(&mut self, key: DhtKey, value: Vec<u8>, reply: Reply<Published>) {
        let validator = self.validator.clone();
        let clock = self.config.clock.clone();
        self.own.run_then(
            move |_| match validator.validate(&key, &value, clock.now()) {
                Ok(record) => Some(Box::new(move |runner: &mut Runner| {
                    runner.put_record(record, Some(reply))
                })),
                Err(error) => {
                    let refusal = crate::record_store::Refusal::Store(error.into());
                    let _ = reply.send(Err(refusal.into_node_error()));
                    None
                }
            },
        );
    }

    /// Sends a validated record to its replica set; `reply` is `None` for a
    /// republish (the outcome is only logged). This node's own copy (when
    /// it is a replica) is written on the own lane meanwhile.
    pub(crate) fn put_record(&mut self, record: Record, reply: Option<Reply<Published>>) {
        let mailbox = record.header.mailbox;
        self.slots.remember(mailbox, record.header.instance);
        let placement = self.placement(&mailbox);
        let remote = placement.targets();
        if remote.is_empty() {
            // Alone: the local copy and the outbox row, then the answer.
            self.own.spawn(move |store| {
                let mut store = store.lock();
                if let Err(refusal) = store.put_validated(&record) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(refusal.into_node_error()));
                    }
                    return;
                }
                info!(key = ?record.dht_key(), "no peers: the record waits in the outbox");
                if let Err(error) = store.inner().outbox_put(&record) {
                    warn!(%error, "could not queue the record for republishing");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(Published::Alone));
                }
            });
            return;
        }
        if placement.is_replica {
            let copy = record.clone();
            self.own.spawn(move |store| {
                if let Err(refusal) = store.lock().put_validated(&copy) {
                    debug!(%refusal, "no local copy of a published record");
                }
            });
        }
        // A replica that is also a spare peer of standing (for a node with
        // no standing yet: one of its longest-connected peers, a stand-in)
        // counts as one: its acknowledgement is the one a publish needs.
        let mut standing = placement.standing;
        for peer in &remote {
            if placement.standing_spares.contains(peer) && !standing.contains(peer) {
                standing.push(*peer);
            }
        }
        let bytes = record.bytes().to_vec();
        let op = self.new_op(Op::Put(Box::new(PutOp {
            record,
            reply,
            waiting: remote.len(),
            acks: 0,
            refusals: Vec::new(),
            silent: 0,
            standing,
            standing_acks: 0,
            standing_spares: unasked(placement.standing_spares, &remote),
            spares: unasked(placement.other_spares, &remote),
            busy_retries: 0,
        })));
        for peer in remote {
            self.send(op, peer, MailboxRequest::Put(bytes.clone()));
        }
    }

    pub(crate) fn on_put_answer(&mut self, id: u64, peer: PeerId, answer: Option<PutAnswer>) {
        let Some(Op::Put(op)) = self.ops.get_mut(&id) else {
            return;
        };
        op.waiting -= 1;
        let of_standing = op.standing.contains(&peer);
        match answer {
            Some(PutAnswer::Stored | PutAnswer::AlreadyHeld) => {
                op.acks += 1;
                op.standing_acks += usize::from(of_standing);
            }
            Some(PutAnswer::Refused { kind, reason }) => {
                debug!(%peer, kind = kind.name(), %reason, "replica refused a put");
                op.refusals.push((peer, kind, reason));
            }
            None => {
                self.found_peers.forget(&peer);
                // A silent peer of standing is stood in for by the next
                // peer of standing, any other by the next-closest peer.
                let spare = if of_standing {
                    op.standing_spares.pop_front()
                } else {
                    op.spares.pop_front()
                };
                match spare {
                    Some(spare) => {
                        debug!(%peer, %spare, "replica did not answer a put; asking the next");
                        if of_standing {
                            op.standing.push(spare);
                        }
                        op.waiting += 1;
                        let bytes = op.record.bytes().to_vec();
                        self.send(id, spare, MailboxRequest::Put(bytes));
                        return;
                    }
                    None => op.silent += 1,
                }
            }
        }
        if op.waiting > 0 {
            return;
        }
        if !op.standing.is_empty() && op.standing_acks == 0 && !op.standing_spares.is_empty() {
            // Only peers without standing acknowledged (sybils can mint
            // ids next to any mailbox): keep going to the next peers of
            // standing.
            let factor = self.config.replication.factor.get();
            let next: Vec<PeerId> = (0..factor)
                .map_while(|_| op.standing_spares.pop_front())
                .collect();
            debug!(
                acks = op.acks,
                next = next.len(),
                "no peer of standing stored the record yet; asking the next ones"
            );
            op.standing.extend(&next);
            op.waiting += next.len();
            let bytes = op.record.bytes().to_vec();
            for spare in next {
                self.send(id, spare, MailboxRequest::Put(bytes.clone()));
            }
            return;
        }
        let Some(Op::Put(mut op)) = self.ops.remove(&id) else {
            return;
        };
        debug!(
            acks = op.acks,
            standing_acks = op.standing_acks,
            refused = op.refusals.len(),
            silent = op.silent,
            "put answered by every replica"
        );
        let Some(reply) = op.reply.take() else {
            return;
        };
        let stored = if op.standing.is_empty() {
            op.acks
        } else {
            op.standing_acks
        };
        if stored > 0 {
            // Acknowledged once the outbox row (republishing) is written.
            let (record, replicas) = (op.record, op.acks);
            self.own.spawn(move |store| {
                if let Err(error) = store.lock().inner().outbox_put(&record) {
                    warn!(%error, "could not queue the record for republishing");
                }
                let _ = reply.send(Ok(Published::Stored { replicas }));
            });
        } else {
            let _ = reply.send(Err(crate::placement::put_failure(&op)));
        }
    }
}

/// `peers` without those in `asked`.
fn unasked(peers: Vec<PeerId>, asked: &[PeerId]) -> VecDeque<PeerId> {
    peers.into_iter().filter(|p| !asked.contains(p)).collect()
}

/// Most puts of one publish sent again after "busy" answers.
pub const MAX_BUSY_RETRIES: u32 = 8;
/// How long a put waits before it is sent again to a replica that answered
/// "busy" (over our budget there, or its queue full: it asks us to come
/// back, not to go away).
pub const BUSY_BACKOFF: Duration = Duration::from_millis(200);

/// Puts answered "busy", waiting to be sent again to the same replica.
///
/// Why: a busy answer is back-pressure from an honest replica (a writer
/// publishing faster than the replica's budget for it), so giving up on
/// that replica — or failing the publish when it was the only one — would
/// turn a slow-down into a refusal. The put is sent again after
/// [`BUSY_BACKOFF`], at most [`MAX_BUSY_RETRIES`] times per publish;
/// after that a busy answer counts as silence (the next peer is asked).
#[derive(Default)]
pub(crate) struct BusyRetries {
    /// (due, operation, replica), in due order (one fixed delay).
    queue: VecDeque<(Instant, u64, PeerId)>,
}

impl BusyRetries {
    /// When the next retry is due, if any.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _, _)| *due)
    }
}

impl Runner {
    /// A put of operation `id` was answered busy by `peer`: schedules it
    /// again if the publish has retries left. Returns whether it did.
    pub(crate) fn retry_busy_put(&mut self, id: u64, peer: PeerId) -> bool {
        let Some(Op::Put(op)) = self.ops.get_mut(&id) else {
            return false;
        };
        if op.busy_retries >= MAX_BUSY_RETRIES {
            return false;
        }
        op.busy_retries += 1;
        self.busy_retries
            .queue
            .push_back((Instant::now() + BUSY_BACKOFF, id, peer));
        true
    }

    /// Sends the puts whose retry is due.
    pub(crate) fn resend_busy_puts(&mut self) {
        let now = Instant::now();
        while let Some(&(due, id, peer)) = self.busy_retries.queue.front() {
            if due > now {
                break;
            }
            self.busy_retries.queue.pop_front();
            if let Some(Op::Put(op)) = self.ops.get(&id) {
                let bytes = op.record.bytes().to_vec();
                self.send(id, peer, MailboxRequest::Put(bytes));
            }
        }
    }
}

//! The read and write protocol of a slot.
//!
//! Why it is not plain Kademlia `put_record` / `get_record`: storing peers
//! keep the first valid record they see, so two writers racing for a slot
//! by sending to all replicas at once could leave replicas disagreeing, and
//! readers would then disagree about who won (see [`crate::queries`]). So:
//!
//! * **write** — offer the record to the slot's primary (the closest node
//!   to the key, maybe this one) with a [`SlotRequest::Put`], whose answer
//!   is what the primary holds after judging it: the read-back (with
//!   Kademlia's filtering on, an acknowledgement would prove nothing). If
//!   the primary holds our record, keep a local copy and fan it out with
//!   Kademlia to the other closest peers, waiting for all of them; else
//!   `Rejected`, and the mailbox tries the next slot. A primary that does
//!   not answer is skipped for the next closest. Acknowledgements needed:
//!   `min(min_acks, peers known)`, so two- and three-node LANs work and a
//!   lone node publishes into its outbox.
//! * **read** — a local copy is the answer; otherwise ask the closest
//!   known peer with a [`SlotRequest::Get`] (its answer validated here:
//!   nothing a peer serves is trusted), the next one if it does not
//!   answer, and a full Kademlia lookup as the last resort.

use libp2p::PeerId;
use libp2p::kad::{self, QueryId, Quorum};
use libp2p::request_response::{self, OutboundRequestId};
use pigeonhole::record::DhtKey;
use tracing::{debug, warn};

use crate::command::Reply;
use crate::error::NodeError;
use crate::keys::record_key;
use crate::queries::{Pending, PendingGet, PutState, SlotPending, primary};
use crate::record_store::to_kad;
use crate::runner::Runner;
use crate::slot_protocol::{SlotCodec, SlotRequest, SlotResponse};

/// Primaries a put tries before it gives up (a primary may have left
/// without the routing table knowing yet).
const MAX_PRIMARY_ATTEMPTS: u32 = 3;
/// Peers a read asks directly before it falls back to a Kademlia lookup.
const MAX_DIRECT_READS: usize = 3;

impl Runner {
    // ---- reads ----------------------------------------------------------

    pub(crate) fn start_get(&mut self, key: DhtKey, reply: Reply<Option<Vec<u8>>>) {
        let local = match self.kad().store_mut().get_valid(&key) {
            Ok(record) => record.map(|r| r.bytes().to_vec()),
            Err(error) => {
                let _ = reply.send(Err(error.into()));
                return;
            }
        };
        // Replicas only hold what the slot's primary accepted, so a local
        // copy is the answer; so is being alone.
        let mut peers = self.closest_known(&key);
        if local.is_some() || peers.is_empty() {
            self.finish_get(PendingGet { key, reply }, local);
            return;
        }
        peers.truncate(MAX_DIRECT_READS);
        self.ask(PendingGet { key, reply }, peers);
    }

    /// Asks `peers[0]` for the slot; falls back to a lookup when none is left.
    fn ask(&mut self, get: PendingGet, peers: Vec<PeerId>) {
        let Some(peer) = peers.first().copied() else {
            let id = self.kad().get_record(record_key(&get.key));
            self.pending.insert(id, Pending::Get(get));
            return;
        };
        let id = self.slot().send_request(&peer, SlotRequest::Get(get.key));
        self.slot_pending.insert(id, SlotPending::Get(get, peers));
    }

    /// A value found by a Kademlia lookup (the fallback read).
    pub(crate) fn on_found(&mut self, id: QueryId, peer: PeerId, value: Vec<u8>) {
        let now = self.config.clock.now();
        match self.pending.remove(&id) {
            Some(Pending::Get(get)) => match self.validator.validate(&get.key, &value, now) {
                Ok(_) => {
                    if let Some(mut query) = self.kad().query_mut(&id) {
                        query.finish();
                    }
                    self.finish_get(get, Some(value));
                }
                Err(error) => {
                    debug!(%peer, %error, "peer served an invalid record");
                    self.pending.insert(id, Pending::Get(get));
                }
            },
            Some(other) => {
                self.pending.insert(id, other);
            }
            None => {}
        }
    }

    /// A Kademlia lookup ended without a valid record.
    pub(crate) fn on_get_finished(&mut self, id: QueryId) {
        match self.pending.remove(&id) {
            Some(Pending::Get(get)) => self.finish_get(get, None),
            Some(other) => {
                self.pending.insert(id, other);
            }
            None => {}
        }
    }

    fn finish_get(&mut self, get: PendingGet, value: Option<Vec<u8>>) {
        // A slot we published into that now shows another record was lost
        // (or replaced): stop republishing it.
        if let Some(value) = &value {
            let store = self.kad().store_mut().inner();
            if let Ok(Some(queued)) = store.outbox_get(&get.key)
                && &queued != value
            {
                let _ = store.outbox_remove(&get.key);
            }
        }
        let _ = get.reply.send(Ok(value));
    }

    // ---- writes ---------------------------------------------------------

    pub(crate) fn start_put(&mut self, key: DhtKey, value: Vec<u8>, reply: Reply<()>) {
        let record = match self
            .validator
            .validate(&key, &value, self.config.clock.now())
        {
            Ok(record) => record,
            Err(error) => {
                let _ = reply.send(Err(NodeError::Rejected(error.to_string())));
                return;
            }
        };
        let peers = self.closest_known(&key);
        self.put_to_primary(Box::new(PutState {
            record,
            reply,
            peers,
            attempts: 0,
        }));
    }

    /// Offers the record to the slot's primary (maybe ourselves).
    fn put_to_primary(&mut self, mut state: Box<PutState>) {
        let key = state.record.dht_key();
        let primary = primary(&key, self.local, state.peers.first().copied());
        state.attempts += 1;
        if primary == self.local {
            match self.kad().store_mut().put_validated(&state.record) {
                Ok(_) => self.fan_out(state, None),
                Err(refusal) => {
                    let _ = state.reply.send(Err(refusal.into_node_error()));
                }
            }
            return;
        }
        let request = SlotRequest::Put(key, state.record.bytes().to_vec());
        let id = self.slot().send_request(&primary, request);
        self.slot_pending
            .insert(id, SlotPending::Put(state, primary));
    }

    /// Keeps a local copy and sends the won record to the other closest
    /// peers, waiting for all of them.
    fn fan_out(&mut self, state: Box<PutState>, primary: Option<PeerId>) {
        if primary.is_some()
            && let Err(refusal) = self.kad().store_mut().put_validated(&state.record)
        {
            debug!(%refusal, "no local copy of a published record");
        }
        let targets: Vec<PeerId> = state
            .peers
            .iter()
            .copied()
            .filter(|p| Some(*p) != primary)
            .collect();
        let acked = usize::from(primary.is_some());
        if targets.is_empty() {
            self.finish_put(state, acked);
            return;
        }
        let sent = targets.len();
        let id = self
            .kad()
            .put_record_to(to_kad(&state.record), targets.into_iter(), Quorum::All);
        self.pending
            .insert(id, Pending::FanOut { state, acked, sent });
    }

    fn finish_put(&mut self, state: Box<PutState>, acked: usize) {
        let required = self.config.replication.min_acks.min(state.peers.len());
        let outcome = if acked >= required {
            if let Err(error) = self.kad().store_mut().inner().outbox_put(&state.record) {
                warn!(%error, "could not queue the record for republishing");
            }
            Ok(())
        } else {
            Err(NodeError::Unavailable(format!(
                "{acked} of {required} peers acknowledged"
            )))
        };
        let _ = state.reply.send(outcome);
    }

    /// The outcome of a Kademlia put (fan-out; republish and re-replication
    /// have nobody waiting).
    pub(crate) fn on_put_result(&mut self, id: QueryId, result: kad::PutRecordResult) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        match pending {
            Pending::FanOut { state, acked, sent } => {
                let fanned = match &result {
                    Ok(_) => sent,
                    Err(kad::PutRecordError::QuorumFailed { success, .. })
                    | Err(kad::PutRecordError::Timeout { success, .. }) => success.len(),
                };
                self.finish_put(state, acked + fanned);
            }
            other => {
                self.pending.insert(id, other);
            }
        }
    }

    // ---- slot protocol --------------------------------------------------

    fn slot(&mut self) -> &mut request_response::Behaviour<SlotCodec> {
        &mut self.swarm.behaviour_mut().slot
    }

    /// A peer asks about a slot: answer from the store; a put goes through
    /// the one write path first.
    pub(crate) fn on_slot_request(
        &mut self,
        peer: PeerId,
        request: SlotRequest,
        channel: request_response::ResponseChannel<SlotResponse>,
    ) {
        let key = match &request {
            SlotRequest::Get(key) | SlotRequest::Put(key, _) => *key,
        };
        if let SlotRequest::Put(_, value) = &request {
            match self.kad().store_mut().put_checked(&key, value) {
                Ok(_) => {
                    // Stored (or already held byte for byte): that is the answer.
                    self.note_accepted();
                    let _ = self
                        .slot()
                        .send_response(channel, SlotResponse(Some(value.clone())));
                    return;
                }
                Err(refusal) => debug!(%peer, %refusal, "slot put refused"),
            }
        }
        let held = match self.kad().store_mut().get_valid(&key) {
            Ok(record) => record.map(|r| r.bytes().to_vec()),
            Err(error) => {
                warn!(%error, "store read failed");
                None
            }
        };
        let _ = self.slot().send_response(channel, SlotResponse(held));
    }

    /// A peer answered one of our slot requests.
    pub(crate) fn on_slot_response(
        &mut self,
        id: OutboundRequestId,
        peer: PeerId,
        response: SlotResponse,
    ) {
        let now = self.config.clock.now();
        match self.slot_pending.remove(&id) {
            Some(SlotPending::Get(get, mut peers)) => match response.0 {
                None => self.finish_get(get, None),
                Some(value) => match self.validator.validate(&get.key, &value, now) {
                    Ok(_) => self.finish_get(get, Some(value)),
                    Err(error) => {
                        debug!(%peer, %error, "peer served an invalid record; asking the next");
                        peers.retain(|p| *p != peer);
                        self.ask(get, peers);
                    }
                },
            },
            Some(SlotPending::Put(state, primary)) => match response.0 {
                Some(held) if held == state.record.bytes() => self.fan_out(state, Some(primary)),
                Some(_) => {
                    let _ = state.reply.send(Err(NodeError::SlotTaken));
                }
                None => {
                    let _ = state.reply.send(Err(NodeError::Rejected(
                        "the slot's primary refused the record".into(),
                    )));
                }
            },
            None => {}
        }
    }

    /// One of our slot requests failed (peer gone, timeout).
    pub(crate) fn on_slot_failure(&mut self, id: OutboundRequestId, peer: PeerId, error: String) {
        match self.slot_pending.remove(&id) {
            Some(SlotPending::Get(get, mut peers)) => {
                debug!(%peer, %error, "slot read failed; asking the next peer");
                peers.retain(|p| *p != peer);
                self.ask(get, peers);
            }
            Some(SlotPending::Put(mut state, primary)) => {
                if state.attempts < MAX_PRIMARY_ATTEMPTS {
                    debug!(%primary, %error, "primary did not answer; trying the next closest");
                    state.peers.retain(|p| *p != primary);
                    self.put_to_primary(state);
                } else {
                    let _ = state.reply.send(Err(NodeError::Unavailable(format!(
                        "no primary answered: {error}"
                    ))));
                }
            }
            None => {}
        }
    }
}

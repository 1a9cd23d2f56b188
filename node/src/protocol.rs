//! Publishing to and reading from a mailbox's replica set (protocol v2).
//!
//! * **put** ([`crate::put`]) — the record goes to every replica of its mailbox (the
//!   `factor` peers closest to the mailbox id; this node keeps a copy too
//!   when it is one of them). Each answers with its *judged* outcome. The
//!   publish waits for every replica's answer (or its request timeout), so
//!   that a reader asking any two replicas afterwards finds the record
//!   (read-after-write), and is `Ok` when at least one peer other than the
//!   writer stored or already held it; if none did, it fails with the
//!   replicas' refusal (kind and reason) or as unavailable. A writer with no peers at all
//!   stores locally, queues the record in its outbox and says so
//!   ([`Published::Alone`]): it is sent when peers appear (republish).
//! * **list / next seq** — ask two replicas of good standing at once (the
//!   next one when one fails; the closer ones when an answer's referrals
//!   name them, see [`crate::lookup`]), merge the answers (union by record
//!   id, every record validated here), and answer. One replica's silence or
//!   empty answer never hides what another replica holds.
//! * **get** (a slot, for the probe fallback) — a one-slot listing of the
//!   record's mailbox when the slot's mailbox is known (from earlier puts or
//!   listings), else a Kademlia lookup of the slot key (what a plain
//!   Kademlia writer, such as another implementation, would have used).

use libp2p::PeerId;
use libp2p::kad::QueryId;
use libp2p::request_response::{self, OutboundRequestId};
use pigeonhole::mailbox::{ListCursor, ListPage};
use pigeonhole::record::{DhtKey, MailboxId, Record};
use tracing::{debug, trace, warn};

use crate::command::Reply;
use crate::error::NodeError;
use crate::keys::record_key;
use crate::local_read::{LocalRead, SAMPLE_PER_PAGE};
use crate::lookup::MAX_REFERRAL_ROUNDS;
use crate::mailbox_protocol::{
    MAX_PAGE_RECORDS, MailboxCodec, MailboxRequest, MailboxResponse, slot_key_of, slot_of,
};
use crate::merge::{PageCheck, Verified, before, check_page, merge_pages};
use crate::queries::{Op, Pending, PendingGet, ReadAnswer, ReadKind, ReadOp};
use crate::runner::Runner;

/// Replicas a read asks (more when some fail).
pub const READ_REPLICAS: usize = 2;

impl Runner {
    pub(crate) fn mailbox(&mut self) -> &mut request_response::Behaviour<MailboxCodec> {
        &mut self.swarm.behaviour_mut().mailbox
    }

    pub(crate) fn new_op(&mut self, op: Op) -> u64 {
        self.next_op += 1;
        self.ops.insert(self.next_op, op);
        self.next_op
    }

    pub(crate) fn send(&mut self, op: u64, peer: PeerId, request: MailboxRequest) {
        let id = self.mailbox().send_request(&peer, request);
        self.requests.insert(id, (op, peer));
        self.requests_sent += 1;
        self.publish_status();
    }

    // ---- reads ----------------------------------------------------------

    pub(crate) fn start_list(
        &mut self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
        reply: Reply<ListPage>,
    ) {
        let limit = limit.clamp(1, u32::from(MAX_PAGE_RECORDS)) as u16;
        self.start_read(
            mailbox,
            ReadKind::List {
                mailbox,
                after,
                limit,
                reply,
            },
        );
    }

    pub(crate) fn start_next_seq(&mut self, mailbox: MailboxId, bucket: u32, reply: Reply<u32>) {
        self.start_read(
            mailbox,
            ReadKind::NextSeq {
                mailbox,
                bucket,
                reply,
            },
        );
    }

    pub(crate) fn start_get(&mut self, key: DhtKey, reply: Reply<Option<Vec<u8>>>) {
        self.own.run(
            move |store| store.get_valid(&key),
            move |runner, held| runner.get_after_local(key, held, reply),
        );
    }

    /// A slot read once this node's own store has answered.
    fn get_after_local(
        &mut self,
        key: DhtKey,
        held: Result<Option<Record>, pigeonhole::store::StoreError>,
        reply: Reply<Option<Vec<u8>>>,
    ) {
        match held {
            Ok(Some(record)) => {
                let _ = reply.send(Ok(Some(record.bytes().to_vec())));
            }
            Ok(None) => match self.slots.lookup(&key) {
                Some((mailbox, instance)) => self.start_read(
                    mailbox,
                    ReadKind::Slot {
                        key,
                        mailbox,
                        instance,
                        reply,
                    },
                ),
                None if self.routing_size() == 0 => {
                    let _ = reply.send(Ok(None));
                }
                None => {
                    let id = self.kad().get_record(record_key(&key));
                    self.pending
                        .insert(id, Pending::Get(PendingGet { key, reply }));
                }
            },
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
    }

    /// Starts a read of `mailbox` at once, from the replicas this node
    /// believes closest; answers name closer peers when there are any
    /// (see [`crate::lookup`]).
    pub(crate) fn start_read(&mut self, mailbox: MailboxId, kind: ReadKind) {
        let placement = self.placement(&mailbox);
        let order = self.read_order(&placement);
        let local = (placement.is_replica || order.is_empty()).then(|| LocalRead::of(&kind));
        let op = ReadOp {
            kind,
            mailbox,
            order,
            asked: Vec::new(),
            failed: Vec::new(),
            referral_rounds: 0,
            waiting: 0,
            answers: Vec::new(),
            answered_by: Vec::new(),
            local_pending: local.is_some(),
            verified: Verified::default(),
        };
        let verified = op.verified.clone();
        let id = self.new_op(Op::Read(Box::new(op)));
        if let Some(local) = local {
            // This node's own answer comes from the own lane, while the
            // replicas are asked.
            let validator = self.validator.clone();
            let now = self.config.clock.now();
            self.own.run(
                move |store| local.answer(store.inner(), &validator, now, &verified),
                move |runner, answer| runner.on_local_answer(id, answer),
            );
        }
        self.ask_more(id);
    }

    /// The order in which a read asks the replica set of `placement`:
    /// replicas of standing first (so a read does not stop at silent
    /// sybils while replicas of standing remain) — those also among the
    /// closest overall before the others, as every writer sends to those
    /// whatever its own view of standing — then the other closest peers;
    /// then, for replicas that do not answer (departed, still routed), the
    /// next peers of standing, then the next-closest.
    fn read_order(&mut self, placement: &crate::placement::Placement) -> Vec<PeerId> {
        let mut groups: [Vec<PeerId>; 3] = Default::default();
        if placement.blind {
            groups[0] = placement.closest.clone();
        } else {
            for peer in &placement.standing {
                let group = usize::from(!placement.closest.contains(peer));
                groups[group].push(*peer);
            }
            groups[2] = placement
                .closest
                .iter()
                .filter(|peer| !placement.standing.contains(peer))
                .copied()
                .collect();
        }
        let mut order = Vec::new();
        for mut group in groups {
            self.standing.rank(&mut group);
            order.extend(group);
        }
        if !placement.blind {
            order.extend(&placement.standing_spares);
        }
        order.extend(&placement.other_spares);
        order
    }

    /// This node's own answer to read `id`, back from the own lane.
    fn on_local_answer(&mut self, id: u64, answer: Result<ReadAnswer, NodeError>) {
        let Some(Op::Read(op)) = self.ops.get_mut(&id) else {
            return;
        };
        op.local_pending = false;
        match answer {
            Ok(answer) => {
                op.answers.push(answer);
                op.answered_by.push(None);
            }
            Err(error) => warn!(%error, "local read failed"),
        }
        self.ask_more(id);
    }

    /// Asks the first [`READ_REPLICAS`] peers of the read's order that have
    /// not failed, where not asked yet; finishes when nothing is in flight.
    fn ask_more(&mut self, id: u64) {
        let Some(Op::Read(op)) = self.ops.get_mut(&id) else {
            return;
        };
        let to_ask: Vec<PeerId> = op
            .order
            .iter()
            .filter(|peer| !op.failed.contains(peer))
            .take(READ_REPLICAS)
            .filter(|peer| !op.asked.contains(peer))
            .copied()
            .collect();
        op.asked.extend(&to_ask);
        op.waiting += to_ask.len();
        let request = match &op.kind {
            ReadKind::List {
                mailbox,
                after,
                limit,
                ..
            } => MailboxRequest::List {
                mailbox: *mailbox,
                after: *after,
                limit: *limit,
            },
            ReadKind::NextSeq {
                mailbox, bucket, ..
            } => MailboxRequest::NextSeq {
                mailbox: *mailbox,
                bucket: *bucket,
            },
            ReadKind::Slot {
                mailbox, instance, ..
            } => MailboxRequest::List {
                mailbox: *mailbox,
                after: before(*instance),
                limit: 8,
            },
        };
        let done = op.waiting == 0 && !op.local_pending;
        for peer in to_ask {
            self.send(id, peer, request.clone());
        }
        if done && let Some(Op::Read(op)) = self.ops.remove(&id) {
            self.finish_read(*op);
        }
    }

    fn on_read_answer(&mut self, id: u64, peer: PeerId, response: Option<MailboxResponse>) {
        let now = self.config.clock.now();
        let Some(Op::Read(op)) = self.ops.get_mut(&id) else {
            return;
        };
        op.waiting -= 1;
        let mailbox = op.mailbox;
        let mut closer = Vec::new();
        let answer = match (response, &op.kind) {
            (Some(MailboxResponse::NextSeq { seq, closer: named }), ReadKind::NextSeq { .. }) => {
                closer = named;
                Some(PageCheck {
                    answer: ReadAnswer::Seq(seq),
                    invalid: 0,
                    full_checks: 0,
                })
            }
            (
                Some(MailboxResponse::List {
                    records,
                    more,
                    closer: named,
                }),
                ReadKind::List { .. } | ReadKind::Slot { .. },
            ) => {
                closer = named;
                // A listing page is sampled; a one-slot read (a handful of
                // records, the probe fallback) is checked in full.
                let (after, more, sample) = match &op.kind {
                    ReadKind::Slot { instance, .. } => (before(*instance), false, usize::MAX),
                    ReadKind::List { after, .. } => (*after, more, SAMPLE_PER_PAGE),
                    ReadKind::NextSeq { .. } => unreachable!("matched as a listing above"),
                };
                Some(check_page(
                    &self.validator,
                    now,
                    &mailbox,
                    after,
                    records,
                    more,
                    sample,
                    &op.verified,
                ))
            }
            _ => None,
        };
        match answer {
            Some(PageCheck {
                answer,
                invalid,
                full_checks,
            }) => {
                trace!(%peer, full_checks, "checked a replica's answer");
                if invalid > 0 {
                    debug!(%peer, invalid, "replica served invalid records");
                    self.standing.served_invalid(&peer);
                }
                op.answers.push(answer);
                op.answered_by.push(Some(peer));
            }
            None => {
                debug!(%peer, "replica did not answer a read; asking the next");
                op.failed.push(peer);
                self.found_peers.forget(&peer);
            }
        }
        if !closer.is_empty() && self.learn_referrals(&mailbox, closer) {
            self.follow_referrals(id);
        }
        self.ask_more(id);
    }

    /// Answers of read `id` named peers new to this node: recompute the
    /// read's order (placement now counts them), so that closer replicas
    /// are asked too (at most [`MAX_REFERRAL_ROUNDS`] times per read).
    fn follow_referrals(&mut self, id: u64) {
        let Some(Op::Read(op)) = self.ops.get(&id) else {
            return;
        };
        if op.referral_rounds >= MAX_REFERRAL_ROUNDS {
            return;
        }
        let mailbox = op.mailbox;
        let placement = self.placement(&mailbox);
        let order = self.read_order(&placement);
        let Some(Op::Read(op)) = self.ops.get_mut(&id) else {
            return;
        };
        let before = op
            .order
            .iter()
            .filter(|p| !op.failed.contains(p))
            .take(READ_REPLICAS);
        let after = order
            .iter()
            .filter(|p| !op.failed.contains(p))
            .take(READ_REPLICAS);
        if before.eq(after) {
            return;
        }
        op.referral_rounds += 1;
        op.order = order;
        self.found_peers.followed += 1;
    }

    fn finish_read(&mut self, op: ReadOp) {
        crate::placement::credit_served(&mut self.standing, &op);
        let answered = !op.answers.is_empty();
        match op.kind {
            ReadKind::NextSeq { reply, .. } => {
                let best = op.answers.iter().fold(None, |best, answer| match answer {
                    ReadAnswer::Seq(seq) => Some(best.map_or(*seq, |b: u32| b.max(*seq))),
                    ReadAnswer::Page { .. } => best,
                });
                let _ = reply
                    .send(best.ok_or_else(|| NodeError::Unavailable("no replica answered".into())));
            }
            ReadKind::List { limit, reply, .. } => {
                if !answered {
                    let _ = reply.send(Err(NodeError::Unavailable("no replica answered".into())));
                    return;
                }
                let (more, records) = merge_pages(op.answers, usize::from(limit));
                for (position, bytes) in &records {
                    if let Some((mailbox, _)) = slot_of(bytes) {
                        self.slots.remember(mailbox, position.instance);
                    }
                }
                let _ = reply.send(Ok(ListPage {
                    records: records.into_iter().map(|(_, bytes)| bytes).collect(),
                    more,
                }));
            }
            ReadKind::Slot { key, reply, .. } => {
                let (_, records) = merge_pages(op.answers, usize::MAX);
                let found = records
                    .into_iter()
                    .filter(|(_, bytes)| slot_key_of(bytes) == Some(key))
                    .min_by_key(|(position, _)| position.record_id)
                    .map(|(_, bytes)| bytes);
                let _ = reply.send(Ok(found));
            }
        }
    }

    /// A request of ours was answered or failed (`None`).
    pub(crate) fn on_mailbox_response(
        &mut self,
        request: OutboundRequestId,
        response: Option<MailboxResponse>,
    ) {
        let Some((id, peer)) = self.requests.remove(&request) else {
            return;
        };
        if response == Some(MailboxResponse::Busy) {
            // Over our budget there, or its queue is full: a put is sent
            // again a little later (see `put::BusyRetries`); otherwise like
            // no answer, so the next closest peer (or replica) is asked.
            if self.retry_busy_put(id, peer) {
                debug!(%peer, "replica busy; sending the put again shortly");
                return;
            }
            debug!(%peer, "replica busy; asking another");
        }
        match self.ops.get(&id) {
            Some(Op::Put(_)) => {
                let answer = match response {
                    Some(MailboxResponse::Put(answer)) => Some(answer),
                    _ => None,
                };
                self.on_put_answer(id, peer, answer);
            }
            Some(Op::Read(_)) => self.on_read_answer(id, peer, response),
            None => {}
        }
    }

    // ---- kad fallback reads ---------------------------------------------

    /// A value found by a Kademlia lookup (the fallback read).
    pub(crate) fn on_found(&mut self, id: QueryId, peer: PeerId, value: Vec<u8>) {
        let now = self.config.clock.now();
        match self.pending.remove(&id) {
            Some(Pending::Get(get)) => match self.validator.validate(&get.key, &value, now) {
                Ok(_) => {
                    if let Some(mut query) = self.kad().query_mut(&id) {
                        query.finish();
                    }
                    let _ = get.reply.send(Ok(Some(value)));
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
            Some(Pending::Get(get)) => {
                let _ = get.reply.send(Ok(None));
            }
            Some(other) => {
                self.pending.insert(id, other);
            }
            None => {}
        }
    }
}
